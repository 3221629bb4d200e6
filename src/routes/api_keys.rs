//! The merchant's API keys, managed from the admin page: list, create (the
//! key shown once), revoke.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::{guards::AdminSession, input::parse_json};
use crate::{error::ApiError, routes::AppState, service::api_keys};

/// `GET /api/admin/api-keys`: every key of the shop (never a secret).
pub async fn list(
    session: AdminSession,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let keys = api_keys::list(&state.store, session.shop_id).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "keys": keys, "scopes": api_keys::SCOPES })))
}

#[derive(Deserialize)]
struct NewKeyIn {
    name: String,
    scopes: Vec<String>,
}

/// `POST /api/admin/api-keys` `{"name", "scopes": [...]}`: 201 with the
/// key's `secret`, shown this once.
pub async fn create(
    session: AdminSession,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let input: NewKeyIn = parse_json(&body)?;
    let by = format!("staff:{}", session.user.as_deref().unwrap_or("unknown"));
    let created = api_keys::create(
        &state.store,
        session.shop_id,
        &input.name,
        &input.scopes,
        &by,
    )
    .await?;
    tracing::info!(shop = %session.shop, key = created.key.id, "API key created");
    Ok(HttpResponse::Created()
        .insert_header(("Cache-Control", "no-store"))
        .json(created))
}

/// `POST /api/admin/api-keys/{key_id}/revoke`: refused from the next
/// request on; 404 for a key the shop does not have.
pub async fn revoke(
    session: AdminSession,
    path: web::Path<i64>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let key_id = path.into_inner();
    api_keys::revoke(&state.store, session.shop_id, key_id).await?;
    tracing::info!(shop = %session.shop, key = key_id, "API key revoked");
    Ok(HttpResponse::NoContent().finish())
}
