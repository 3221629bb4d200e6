//! `/api/admin/analytics`: the merchant's dashboard, served from the shop's
//! snapshot for the period (see [`crate::analytics`]); `/api/admin/winback`:
//! the win-back report, computed on request (one grouped query over the
//! period's episodes).

use actix_web::{web, HttpRequest, HttpResponse};

use super::guards::AdminSession;
use crate::{
    analytics::{
        metrics::{PeriodKey, Window},
        refresh, winback,
    },
    error::ApiError,
    routes::AppState,
    shopify::query,
    store::{now_ms, program, winback as episodes},
};

/// `period=30d|90d|365d`, 90d when absent.
pub(crate) fn period(req: &HttpRequest) -> Result<PeriodKey, ApiError> {
    let pairs = query::parse_pairs(req.query_string());
    match query::get(&pairs, "period") {
        None => Ok(PeriodKey::DEFAULT),
        Some(raw) => PeriodKey::parse(raw)
            .ok_or_else(|| ApiError::BadRequest("period must be one of 30d, 90d, 365d".into())),
    }
}

fn json(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(body)
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
        refresh::dashboard(&state.store, session.shop_id, key).await?,
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
        refresh::recompute(&state.store, session.shop_id, key).await?,
    ))
}

/// `GET /api/admin/winback?period=`: the at-risk episodes opened in the
/// period, offered against held out (see [`crate::analytics::winback`]).
pub async fn get_winback(
    session: AdminSession,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let window = Window::ending_at(period(&req)?, now_ms());
    let mut conn = state.store.reader().acquire().await?;
    let program = program::get_program(&mut conn, session.shop_id).await?;
    let (offered, holdout, no_offer) =
        episodes::report(&mut conn, session.shop_id, window.from, window.to).await?;
    let context = winback::Context {
        currency: &program.currency,
        enabled: program.settings.winback.enabled,
        holdout_percent: program.settings.winback.holdout_percent,
    };
    Ok(HttpResponse::Ok().json(winback::build(
        &window, &context, &offered, &holdout, &no_offer,
    )))
}
