//! Everything that speaks Shopify's protocols. Inputs from Shopify are parsed
//! and verified here, once, into typed values ([`ShopDomain`],
//! [`webhook::WebhookTopic`]); the rest of Advocate never sees raw headers.

pub mod admin;
pub(crate) mod domain;
pub mod hmac;
pub mod oauth;
pub mod payloads;
pub mod query;
pub mod session_token;
pub mod tokens;
pub mod webhook;

pub use domain::ShopDomain;

use crate::loyalty::CustomerId;

/// The Admin API version Advocate is written against. `shopify.app.toml`
/// names the same version for webhook payloads.
pub const API_VERSION: &str = "2026-07";

/// A customer's Admin API id (`gid://shopify/Customer/<id>`).
pub fn customer_gid(customer_id: i64) -> String {
    CustomerId(customer_id).gid()
}

/// The customer id of a customer's Admin API id, when it is written in
/// plain positive decimal digits (no sign, no spaces), as Shopify writes it.
pub fn customer_id_of_gid(gid: &str) -> Option<i64> {
    CustomerId::of_gid(gid).map(CustomerId::get)
}
