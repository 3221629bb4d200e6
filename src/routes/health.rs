//! Liveness (`/healthz`: the process answers) and readiness (`/readyz`: the
//! database answers too).

use actix_web::{web, HttpResponse};
use serde::Serialize;

use crate::routes::AppState;

/// The answer of both probes: `{"status"}`, with a `message` when not ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Health {
    /// `ok`, `ready` or `unavailable`.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<&'static str>,
}

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "ok",
        message: None,
    })
}

pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    if state.store.ping().await {
        HttpResponse::Ok().json(Health {
            status: "ready",
            message: None,
        })
    } else {
        HttpResponse::ServiceUnavailable().json(Health {
            status: "unavailable",
            message: Some("database unreachable"),
        })
    }
}
