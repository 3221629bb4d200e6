//! What shoppers reach: checkout extensions (`/api/checkout/*`, session
//! tokens, CORS) and the storefront through the app proxy (`/proxy/*`).
//! A logged-out shopper gets an answer that says so, not an error.

use actix_web::{web, HttpResponse};
use serde_json::json;

use super::guards::{CheckoutSession, ProxyRequest};
use crate::{app::AppState, error::ApiError, store::customers};

async fn balance(
    state: &AppState,
    shop_id: i64,
    customer_id: Option<i64>,
) -> Result<HttpResponse, ApiError> {
    let Some(customer_id) = customer_id else {
        return Ok(HttpResponse::Ok().json(json!({ "logged_in": false })));
    };
    let mut conn = state.store.reader().acquire().await?;
    let customer = customers::find_customer(&mut conn, shop_id, customer_id).await?;
    let (balance, pending) = customer.map_or((0, 0), |c| (c.points_balance, c.points_pending));
    Ok(HttpResponse::Ok().json(json!({
        "logged_in": true,
        "points_balance": balance,
        "points_pending": pending,
    })))
}

pub async fn checkout_balance(
    session: CheckoutSession,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    balance(&state, session.shop_id, session.customer_id).await
}

pub async fn proxy_balance(
    request: ProxyRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    balance(&state, request.shop_id, request.customer_id).await
}

/// CORS preflight for checkout extensions, which call from Shopify's
/// extension sandbox origin with a bearer token (no cookies).
pub async fn checkout_preflight() -> HttpResponse {
    HttpResponse::NoContent()
        .insert_header(("Access-Control-Allow-Methods", "GET, POST, OPTIONS"))
        .insert_header((
            "Access-Control-Allow-Headers",
            "Authorization, Content-Type, Idempotency-Key",
        ))
        .insert_header(("Access-Control-Max-Age", "7200"))
        .finish()
}
