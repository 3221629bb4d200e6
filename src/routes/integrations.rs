//! The admin page's side of the open API: outbound webhook endpoints and
//! their deliveries (the Activity screen, with a resend by hand), and the
//! customers' earning actions with their reversal.

use actix_web::{web, HttpResponse};

use super::{
    guards::AdminSession,
    input::{parse_json, NewEndpointIn},
};
use crate::{
    error::ApiError,
    routes::AppState,
    service::{activities, webhook_endpoints},
    store::outbound::topic,
};

/// `GET /api/admin/webhook-endpoints`: the shop's endpoints and the topics
/// there are.
pub async fn list_endpoints(
    session: AdminSession,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let endpoints = webhook_endpoints::list(&state.store, session.shop_id).await?;
    Ok(
        HttpResponse::Ok()
            .json(serde_json::json!({ "endpoints": endpoints, "topics": topic::ALL })),
    )
}

/// `POST /api/admin/webhook-endpoints` `{"url", "topics"}`: 201 with the
/// signing `secret`, shown this once.
pub async fn create_endpoint(
    session: AdminSession,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let input: NewEndpointIn = parse_json(&body)?;
    let by = format!("staff:{}", session.user.as_deref().unwrap_or("unknown"));
    let created = webhook_endpoints::create(
        &state.store,
        state.tokens.cipher(),
        state.egress_policy(),
        session.shop_id,
        &input.url,
        &input.topics,
        &by,
    )
    .await?;
    tracing::info!(shop = %session.shop, endpoint = created.endpoint.id, "webhook endpoint registered");
    Ok(HttpResponse::Created()
        .insert_header(("Cache-Control", "no-store"))
        .json(created))
}

/// `POST /api/admin/webhook-endpoints/{endpoint_id}/disable`.
pub async fn disable_endpoint(
    session: AdminSession,
    path: web::Path<i64>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let endpoint =
        webhook_endpoints::disable(&state.store, session.shop_id, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "endpoint": endpoint })))
}

/// `GET /api/admin/webhook-deliveries`: the latest 100, with their tries.
pub async fn list_deliveries(
    session: AdminSession,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let deliveries = webhook_endpoints::deliveries(&state.store, session.shop_id).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "deliveries": deliveries })))
}

/// `POST /api/admin/webhook-deliveries/{delivery_id}/resend`: queued again
/// at once; 409 when it is queued already or its endpoint is disabled.
pub async fn resend_delivery(
    session: AdminSession,
    path: web::Path<i64>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let delivery =
        webhook_endpoints::resend(&state.store, session.shop_id, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "delivery": delivery })))
}

/// `GET /api/admin/customers/{customer_id}/activities`: newest first.
pub async fn customer_activities(
    session: AdminSession,
    path: web::Path<i64>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let list = activities::list(&state.store, session.shop_id, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "activities": list })))
}

/// `POST /api/admin/activities/{activity_id}/reverse`: the points clawed
/// back as far as the balance allows; a reversed activity answers as it is.
pub async fn reverse_activity(
    session: AdminSession,
    path: web::Path<i64>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let by = format!("staff:{}", session.user.as_deref().unwrap_or("unknown"));
    let activity =
        activities::reverse(&state.store, session.shop_id, path.into_inner(), &by).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "activity": activity })))
}
