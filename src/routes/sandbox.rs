//! `GET /sandbox/session-token`: the local App Bridge stand-in's session
//! tokens, for the demo shop, in sandbox mode only (404 otherwise).

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;

use crate::{error::ApiError, routes::AppState, sandbox, shopify::query};

/// A session token for the demo shop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionToken {
    pub token: String,
}

pub async fn session_token(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    if !state.config.sandbox {
        return Err(ApiError::NotFound(
            "no sandbox here: Advocate runs with real Shopify credentials",
        ));
    }
    let pairs = query::parse_pairs(req.query_string());
    let shop = super::shop_param(&pairs)?;
    if shop.as_str() != sandbox::DEMO_SHOP {
        return Err(ApiError::BadRequest(format!(
            "the sandbox serves only its demo shop, {}",
            sandbox::DEMO_SHOP
        )));
    }
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(SessionToken {
            token: sandbox::session_token(&state.config),
        }))
}
