//! What the route handlers share to read a request (the JSON body, the
//! client's idempotency key) and to answer an idempotent one.

use actix_web::{HttpRequest, HttpResponse};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::error::ApiError;

/// Parses a JSON body with a clear 400 when it does not fit.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))
}

/// The client's `Idempotency-Key` header: 1-200 visible characters.
pub fn idempotency_key(req: &HttpRequest) -> Result<String, ApiError> {
    idempotency_key_or(req, None)
}

/// The `Idempotency-Key` header, or else `from_body` (the app proxy may not
/// pass custom headers through, so storefront calls also send the key in
/// the JSON body).
pub fn idempotency_key_or(req: &HttpRequest, from_body: Option<&str>) -> Result<String, ApiError> {
    req.headers()
        .get("Idempotency-Key")
        .and_then(|v| v.to_str().ok())
        .or(from_body)
        .map(str::trim)
        .filter(|k| (1..=200).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .ok_or(ApiError::BadRequest(
            "an idempotency key (Idempotency-Key header or \"idempotency_key\", 1-200 visible characters) is required".into(),
        ))
}

/// A shopper's or the till's redemption: `{"reward_id", "points"?,
/// "idempotency_key"?}`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct RedeemIn {
    pub reward_id: String,
    /// Points to turn into store credit (a points-as-cash reward).
    #[serde(default)]
    pub points: Option<i64>,
    /// When the `Idempotency-Key` header cannot be sent.
    #[serde(default)]
    pub idempotency_key: Option<String>,
}

/// The answer to a request made with an idempotency key: 201 when it was
/// made now, 200 for a replay of the same key.
pub fn made_or_replayed<T: Serialize>(replayed: bool, body: &T) -> HttpResponse {
    if replayed {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::Created().json(body)
    }
}

/// A points adjustment: `{"points", "reason"}`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct AdjustmentIn {
    /// A whole number of points, non-zero, within ±10,000,000 (else 422).
    /// Any JSON number is read, so that a fraction or a figure beyond 64
    /// bits is answered as an out-of-range field (422), like every other
    /// bad value.
    #[schema(value_type = i64, example = 50, minimum = -10_000_000, maximum = 10_000_000)]
    pub points: serde_json::Number,
    /// 1-500 characters, kept in the ledger.
    #[schema(example = "Photo review", min_length = 1, max_length = 500)]
    pub reason: String,
}

/// A webhook endpoint to register (admin page and `/api/v1`).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEndpointIn {
    /// An `https://` URL on the public internet.
    #[schema(example = "https://hooks.example.com/advocate", max_length = 2000)]
    pub url: String,
    /// Any of `points.changed`, `tier.changed`, `reward.redeemed`,
    /// `referral.completed`, `activity.recorded`, `customer.redacted`.
    #[schema(example = json!(["points.changed", "activity.recorded"]))]
    pub topics: Vec<String>,
}

/// An activity to record (`POST /api/v1/activities`).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivityIn {
    /// The Shopify customer id.
    #[schema(example = 7_400_000_000_000_i64)]
    pub customer_id: i64,
    /// `review`, `social_follow`, `social_share` or `custom` (newsletter
    /// signups come from Shopify's customer consent).
    #[schema(
        example = "review",
        pattern = "^(review|social_follow|social_share|custom)$"
    )]
    pub action: String,
    /// The custom action's name (custom only).
    #[schema(example = json!(null), max_length = 40)]
    pub name: Option<String>,
    /// The product reviewed (its id, or gid), or the network.
    #[schema(example = "8123456", max_length = 100)]
    pub subject: Option<String>,
}
