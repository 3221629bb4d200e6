//! `/api/admin/*`: what the embedded admin page reads and changes. Every
//! handler takes an [`AdminSession`] and scopes its queries by its shop.

use actix_web::{web, HttpResponse};
use serde_json::json;

use super::guards::AdminSession;
use crate::{
    app::AppState,
    error::ApiError,
    store::{customers, data_requests, inbox, outbox},
};

pub async fn get_shop(session: AdminSession) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "shop": session.shop.as_str(), "installed": true }))
}

pub async fn get_customer(
    session: AdminSession,
    path: web::Path<i64>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.store.reader().acquire().await?;
    let customer = customers::find_customer(&mut conn, session.shop_id, path.into_inner())
        .await?
        .ok_or(ApiError::NotFound("no such customer"))?;
    Ok(HttpResponse::Ok().json(customer))
}

pub async fn list_data_requests(
    session: AdminSession,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.store.reader().acquire().await?;
    let requests = data_requests::list_data_requests(&mut conn, session.shop_id).await?;
    Ok(HttpResponse::Ok().json(json!({ "data_requests": requests })))
}

pub async fn list_failed_webhooks(
    session: AdminSession,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let failed = inbox::list_failed(&state.store, session.shop.as_str(), 100).await?;
    Ok(HttpResponse::Ok().json(json!({ "failed_webhooks": failed })))
}

pub async fn retry_failed_webhook(
    session: AdminSession,
    path: web::Path<i64>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    if inbox::retry_failed(&state.store, session.shop.as_str(), path.into_inner()).await? {
        Ok(HttpResponse::Accepted().json(json!({ "status": "queued" })))
    } else {
        Err(ApiError::NotFound("no such failed webhook"))
    }
}

pub async fn list_failed_effects(
    session: AdminSession,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.store.reader().acquire().await?;
    let failed = outbox::list_failed(&mut conn, session.shop_id).await?;
    Ok(HttpResponse::Ok().json(json!({ "failed_effects": failed })))
}

pub async fn retry_failed_effect(
    session: AdminSession,
    path: web::Path<i64>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.store.writer().acquire().await?;
    if outbox::retry_failed(&mut conn, session.shop_id, path.into_inner()).await? {
        Ok(HttpResponse::Accepted().json(json!({ "status": "queued" })))
    } else {
        Err(ApiError::NotFound("no such failed effect"))
    }
}
