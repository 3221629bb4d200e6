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

/// The Admin API version Advocate is written against. `shopify.app.toml`
/// names the same version for webhook payloads.
pub const API_VERSION: &str = "2026-07";
