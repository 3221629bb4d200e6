//! Everything that speaks Shopify's protocols. Inputs from Shopify are parsed
//! and verified here, once, into typed values ([`ShopDomain`],
//! [`webhook::WebhookTopic`]); the rest of Advocate never sees raw headers.

pub mod admin;
pub mod domain;
pub mod hmac;
pub mod oauth;
pub mod payloads;
pub mod query;
pub mod session_token;
pub mod tokens;
pub mod webhook;

pub use domain::ShopDomain;

/// The Admin API version Advocate is written against. `shopify.app.toml`
/// names the same version for webhook payloads.
pub const API_VERSION: &str = "2026-07";

/// How a customer's Admin API id begins.
const CUSTOMER_GID_PREFIX: &str = "gid://shopify/Customer/";

/// A customer's Admin API id.
pub fn customer_gid(customer_id: i64) -> String {
    format!("{CUSTOMER_GID_PREFIX}{customer_id}")
}

/// The customer id of a customer's Admin API id, when it is written in
/// plain positive decimal digits (no sign, no spaces), as Shopify writes it.
pub fn customer_id_of_gid(gid: &str) -> Option<i64> {
    let raw = gid.strip_prefix(CUSTOMER_GID_PREFIX)?;
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    raw.parse::<i64>().ok().filter(|id| *id > 0)
}
