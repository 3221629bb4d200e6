//! `/api/admin/segments`: the shop's behaviour segments as the admin page
//! shows them, and the merchant's "recompute now". The use cases are in
//! [`crate::service::segments`].

use actix_web::{web, HttpRequest, HttpResponse};

use super::{guards::AdminSession, params::period};
use crate::{error::ApiError, routes::AppState, service::segments as service};

/// `GET /api/admin/segments?period=30d|90d|365d` (90d when absent): the
/// report as of its snapshot's `snapshot_at`.
pub async fn get_segments(
    session: AdminSession,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let key = period(&req)?;
    let report = service::report(&state.store, session.shop_id, key).await?;
    // Stored as JSON: sent as it is.
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(report.0))
}

/// `POST /api/admin/segments/recompute?period=`: recomputes the shop's
/// segments now; answers what changed and the fresh report (409 when
/// segments are off).
pub async fn recompute_segments(
    session: AdminSession,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let key = period(&req)?;
    let done = service::recompute(&state.store, session.shop_id, key).await?;
    Ok(HttpResponse::Ok().json(done))
}
