//! `GET /metrics`: the Prometheus text format. Off unless
//! `ADVOCATE_METRICS_TOKEN` is set (404), and then only for requests
//! carrying it as a bearer token (401 otherwise): the figures name no shop,
//! but queue depths and shop counts are not for the public.

use actix_web::{http::header::AUTHORIZATION, web, HttpRequest, HttpResponse};

use crate::{error::ApiError, metrics::CONTENT_TYPE, routes::AppState, store::stats};

pub async fn get_metrics(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    if state.ops.metrics_token.is_none() {
        return Err(ApiError::NotFound("no such route"));
    }
    let presented = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !state.ops.metrics_token_matches(presented) {
        return Err(ApiError::Unauthorized(
            "metrics need Authorization: Bearer <ADVOCATE_METRICS_TOKEN>",
        ));
    }
    let figures = stats::snapshot(&state.store)
        .await
        .map_err(|e| ApiError::Unavailable(format!("database figures: {e}")))?;
    state
        .metrics
        .webhook_body_bytes_reserved(state.webhook_bodies.reserved());
    let body = state
        .metrics
        .render(&figures, &state.outbox.admin_api().client.bucket_summary());
    Ok(HttpResponse::Ok().content_type(CONTENT_TYPE).body(body))
}
