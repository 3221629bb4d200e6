//! What every request handler can reach: the state the server shares
//! between its workers. [`crate::app`] builds it.

use std::sync::Arc;

use crate::{
    config::Config,
    jobs::outbox::OutboxSender,
    metrics::Metrics,
    ops::OpsSettings,
    routes::{body_budget::BodyBudget, limits::RateLimiter},
    shopify::{
        hmac::Signer,
        session_token::{AdminTokenVerifier, ExtensionTokenVerifier, PosTokenVerifier},
        tokens::ShopTokens,
    },
    store::{writer::IntakeWriter, Store},
};

/// What every request handler can reach.
pub struct AppState {
    pub config: Config,
    pub store: Store,
    /// Verifies Shopify's signatures with the current and previous secret.
    pub signer: Signer,
    /// App Bridge tokens: the admin guard's only verifier.
    pub admin_tokens: AdminTokenVerifier,
    /// Checkout / customer-account extension tokens: the extension guard's
    /// only verifier.
    pub extension_tokens: ExtensionTokenVerifier,
    /// POS UI extension tokens: the POS guard's only verifier.
    pub pos_tokens: PosTokenVerifier,
    /// Installs shops and keeps their tokens fresh.
    pub tokens: Arc<ShopTokens>,
    /// Abuse limits of the storefront-facing routes.
    pub limiter: RateLimiter,
    /// The access scopes declared in `shopify.app.toml`.
    pub scopes: String,
    /// Commits webhook deliveries in groups.
    pub intake: IntakeWriter,
    /// Bytes of webhook bodies held in memory, across every connection.
    pub webhook_bodies: BodyBudget,
    /// Sends a Shopify effect at once when a shopper waits for it (the
    /// code of a redeemed reward); the outbox workers send the rest.
    pub outbox: Arc<OutboxSender>,
    /// Counters and histograms served at `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Who may read `/metrics`; how long a stop may take.
    pub ops: OpsSettings,
}

impl AppState {
    /// Where outbound webhooks may point, as the operator set it.
    pub fn egress_policy(&self) -> crate::egress::Policy {
        crate::egress::Policy {
            allow_private: self.config.runtime.webhooks_allow_private,
        }
    }
}
