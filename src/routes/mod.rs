//! Thin HTTP adapters: each parses and verifies its input, calls into the
//! store or the domain, and maps the result to a status.

pub mod health;
pub mod webhooks;

use actix_web::web;

/// Every route Advocate serves.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/webhooks", web::post().to(webhooks::receive_webhook))
        .route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz));
}
