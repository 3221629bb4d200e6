//! `/api/admin/analytics`: the merchant's dashboard, served from the shop's
//! snapshot for the period; `/api/admin/winback`: the win-back report;
//! `/api/admin/reorder`: reorder reminders (their products and holdout
//! report). The use cases are in [`crate::service::analytics`] and
//! [`crate::service::reorder`].

use actix_web::{web, HttpRequest, HttpResponse};

use super::{guards::AdminSession, params::period};
use crate::{
    error::ApiError,
    routes::AppState,
    service::analytics::{self as service, DashboardJson},
};

/// A stored dashboard, sent as it is.
fn json(body: DashboardJson) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(body.0)
}

/// `GET /api/admin/analytics?period=`: the dashboard as of its snapshot's
/// `computed_at` (computed now when the shop has none yet).
pub async fn get_analytics(
    session: AdminSession,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let key = period(&req)?;
    Ok(json(
        service::dashboard(&state.store, session.shop_id, key).await?,
    ))
}

/// `POST /api/admin/analytics/refresh?period=`: recomputes the shop's
/// snapshots now and answers the fresh dashboard.
pub async fn refresh_analytics(
    session: AdminSession,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let key = period(&req)?;
    Ok(json(
        service::refresh(&state.store, session.shop_id, key).await?,
    ))
}

/// `GET /api/admin/winback?period=`: the at-risk episodes opened in the
/// period, offered against held out (see [`crate::analytics::winback`]).
pub async fn get_winback(
    session: AdminSession,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let key = period(&req)?;
    let report = service::winback_report(&state.store, session.shop_id, key).await?;
    Ok(HttpResponse::Ok().json(report))
}

/// `GET /api/admin/reorder?period=`: the products with a repurchase
/// interval and the reminders' holdout report for the period.
pub async fn get_reorder(
    session: AdminSession,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let key = period(&req)?;
    let view = crate::service::reorder::overview(&state.store, session.shop_id, key).await?;
    Ok(HttpResponse::Ok().json(view))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ReorderProductIn {
    /// Days, instead of the learned interval; null: the learned one.
    override_days: Option<i64>,
    enabled: bool,
}

/// `PUT /api/admin/reorder/products/{product_id}` `{"override_days",
/// "enabled"}`.
pub async fn put_reorder_product(
    session: AdminSession,
    path: web::Path<i64>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let input: ReorderProductIn = super::input::parse_json(&body)?;
    crate::service::reorder::set_product(
        &state.store,
        session.shop_id,
        path.into_inner(),
        input.override_days,
        input.enabled,
    )
    .await?;
    let view = crate::service::reorder::overview(
        &state.store,
        session.shop_id,
        crate::analytics::metrics::PeriodKey::DEFAULT,
    )
    .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// `POST /api/admin/reorder/learn`: the products learned from the shop's
/// orders now; nothing is sent.
pub async fn learn_reorder(
    session: AdminSession,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let view = crate::service::reorder::learn_now(&state.store, session.shop_id).await?;
    Ok(HttpResponse::Ok().json(view))
}
