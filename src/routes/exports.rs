//! `/api/admin/exports/*`: the members and the ledger as CSV files,
//! streamed page by page ([`crate::service::exports`]).

use actix_web::{
    http::header::{self, ContentDisposition, DispositionParam, DispositionType},
    web, HttpRequest, HttpResponse,
};
use futures_util::StreamExt;

use super::guards::AdminSession;
use crate::{
    error::ApiError,
    error_text,
    routes::AppState,
    service::exports::{self, Chunks},
    shopify::query,
    store::now_ms,
};

/// `GET /api/admin/exports/members.csv`.
pub async fn members_csv(
    session: AdminSession,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let chunks = exports::members(&state.store, session.shop_id).await?;
    Ok(csv("advocate-members.csv", chunks))
}

/// `GET /api/admin/exports/ledger.csv?from=&to=`: the entries recorded in
/// the period (dates, `to` included, or RFC 3339 times, `to` excluded;
/// the last 30 days when neither is given).
pub async fn ledger_csv(
    session: AdminSession,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let pairs = query::parse_pairs(req.query_string());
    let period = exports::period(
        query::get(&pairs, "from"),
        query::get(&pairs, "to"),
        now_ms(),
    )
    .map_err(|e| ApiError::BadRequest(e.0))?;
    let chunks = exports::ledger(&state.store, session.shop_id, period);
    Ok(csv("advocate-ledger.csv", chunks))
}

/// A CSV attachment streamed from `chunks`. A read that fails once the
/// answer has started cuts it short (logged); a client sees an incomplete
/// file, never a wrong one.
fn csv(filename: &str, chunks: Chunks) -> HttpResponse {
    let body = chunks.map(|chunk| {
        chunk.map(web::Bytes::from).map_err(|e| {
            tracing::error!(error = %error_text::sanitise(&e.to_string()), "an export stopped");
            actix_web::error::ErrorInternalServerError("the export stopped")
        })
    });
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(ContentDisposition {
            disposition: DispositionType::Attachment,
            parameters: vec![DispositionParam::Filename(filename.to_owned())],
        })
        .streaming(body)
}
