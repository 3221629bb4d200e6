//! Liveness (`/healthz`: the process answers) and readiness (`/readyz`: the
//! database answers too).

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::routes::AppState;

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    if state.store.ping().await {
        HttpResponse::Ok().json(json!({ "status": "ready" }))
    } else {
        HttpResponse::ServiceUnavailable()
            .json(json!({ "status": "unavailable", "message": "database unreachable" }))
    }
}
