//! The stand-in's control endpoint, for scripts and the benchmarks: set
//! faults, install a shop, read what was written, and send signed webhooks
//! to an app the way Shopify does.

use std::time::Duration;

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{admin::Faults, oauth::Shared};
use crate::platform;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/_sim/faults", web::post().to(set_faults))
        .route("/_sim/install", web::post().to(install))
        .route("/_sim/state", web::get().to(state))
        .route("/_sim/webhooks", web::post().to(send_webhook));
}

#[derive(Deserialize)]
struct FaultsIn {
    #[serde(default)]
    too_many_requests: f64,
    #[serde(default)]
    server_error: f64,
    #[serde(default)]
    slow: f64,
    #[serde(default)]
    dropped: f64,
    #[serde(default)]
    lost: f64,
    #[serde(default)]
    slow_ms: u64,
}

async fn set_faults(body: web::Json<FaultsIn>, shared: Shared) -> HttpResponse {
    shared.get_ref().1.lock().unwrap().admin.faults = Faults {
        too_many_requests: body.too_many_requests,
        server_error: body.server_error,
        slow: body.slow,
        dropped: body.dropped,
        lost: body.lost,
        slow_for: Duration::from_millis(body.slow_ms),
    };
    HttpResponse::NoContent().finish()
}

#[derive(Deserialize)]
struct ShopIn {
    shop: String,
}

async fn install(query: web::Query<ShopIn>, shared: Shared) -> HttpResponse {
    shared.get_ref().1.lock().unwrap().install(&query.shop);
    HttpResponse::NoContent().finish()
}

async fn state(query: web::Query<ShopIn>, shared: Shared) -> HttpResponse {
    let state = shared.get_ref().1.lock().unwrap();
    let admin = &state.admin;
    let tags: Value = admin
        .tags
        .iter()
        .filter(|((shop, _), _)| *shop == query.shop)
        .map(|((_, gid), tags)| (gid.clone(), json!(tags)))
        .collect::<serde_json::Map<_, _>>()
        .into();
    let discounts: Vec<&Value> = admin
        .discounts
        .iter()
        .filter(|((shop, _), _)| *shop == query.shop)
        .map(|(_, d)| d)
        .collect();
    HttpResponse::Ok().json(json!({
        "served": admin.served, "throttled": admin.throttled, "points": admin.points,
        "tags": tags, "discounts": discounts, "bulk_operations": admin.bulk_operations.len(),
    }))
}

#[derive(Deserialize)]
struct WebhookIn {
    /// Where the app receives webhooks (`https://app/webhooks`).
    url: String,
    topic: String,
    shop: String,
    body: Value,
}

/// Signs and delivers a webhook as Shopify does; answers with the app's
/// status.
async fn send_webhook(body: web::Json<WebhookIn>, shared: Shared) -> HttpResponse {
    let secret = shared.get_ref().0.api_secret.clone();
    let payload = body.body.to_string();
    let signature = platform::sign_base64(&secret, payload.as_bytes());
    let id = hex::encode(rand::random::<[u8; 16]>());
    let sent = reqwest::Client::new()
        .post(&body.url)
        .header("Content-Type", "application/json")
        .header("X-Shopify-Topic", &body.topic)
        .header("X-Shopify-Shop-Domain", &body.shop)
        .header("X-Shopify-Hmac-Sha256", signature)
        .header("X-Shopify-Webhook-Id", format!("sim-{id}"))
        .header("X-Shopify-Event-Id", format!("sim-event-{id}"))
        .header("X-Shopify-Triggered-At", chrono::Utc::now().to_rfc3339())
        .header("X-Shopify-API-Version", platform::API_VERSION)
        .body(payload)
        .send()
        .await;
    match sent {
        Ok(response) => HttpResponse::Ok().json(json!({ "status": response.status().as_u16() })),
        Err(e) => HttpResponse::BadGateway().json(json!({ "error": e.without_url().to_string() })),
    }
}
