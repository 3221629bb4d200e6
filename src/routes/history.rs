//! `/api/admin/history*`: the import of the shop's history
//! ([`crate::service::history`]).

use actix_web::{web, HttpRequest, HttpResponse};

use super::{guards::AdminSession, input::parse_json};
use crate::{
    error::ApiError,
    routes::AppState,
    service::history::{self, StartIn},
    shopify::query,
    store::now_ms,
};

/// `GET /api/admin/history`: how the shop's import stands (`import`:
/// null before any).
pub async fn get_history(
    session: AdminSession,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let import = history::status(&state.store, session.shop_id, now_ms()).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "import": import })))
}

/// `POST /api/admin/history` `{"mode": "history" | "points",
/// "points_since": "YYYY-MM-DD"}`: queues an import (`202`); `409` while
/// one runs.
pub async fn start_history(
    session: AdminSession,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let input: StartIn = parse_json(&body)?;
    let import = history::start(&state.store, session.shop_id, &input, now_ms()).await?;
    Ok(HttpResponse::Accepted().json(serde_json::json!({ "import": import })))
}

/// `GET /api/admin/history/preview?points_since=YYYY-MM-DD`: what
/// retroactive points since that day would issue.
pub async fn preview_history(
    session: AdminSession,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let pairs = query::parse_pairs(req.query_string());
    let preview = history::preview(
        &state.store,
        session.shop_id,
        query::get(&pairs, "points_since"),
        now_ms(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(preview))
}
