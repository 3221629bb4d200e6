//! The loyalty engine: applies the pure rules of [`crate::loyalty`] to the
//! facts in the store, inside the caller's transaction, so points, their
//! ledger entries and the Shopify effects they cause (outbox) commit
//! together or not at all.
//!
//! | module | applies |
//! |---|---|
//! | [`orders`] | order and refund webhooks: earning, clawback, cancellation, guest orders |
//! | [`customers`] | customer accounts: the profile, the signup bonus, guest orders attached |
//! | [`tiers`] | VIP tier changes with their tags, metafield and entry reward |
//! | [`activities`] | earning actions: newsletter, reviews, social, custom; their reversal |
//! | [`adjustments`] | the merchant's manual point adjustments |
//! | [`redeem`] | rewards redeemed for a single-use discount code |
//! | [`referrals`] | referral codes, friend discounts, fraud rules, advocate rewards |
//! | [`nps`] | post-purchase survey answers, their Flow trigger and bonus points |
//! | [`program`] | saving settings, and what a change implies |
//! | [`scheduled`] | pending points maturing, expiry, rolling tiers, birthdays, segments |
//! | [`segments`] | behaviour segments with their tags, metafield and Flow trigger |
//! | [`offers`] | order products, co-purchase pair counts, the shopper's personal offers |
//! | [`winback`] | at-risk episodes, their offer and holdout, return purchases |
//! | [`effects`] | the Shopify changes the engine asks for, as the outbox stores them |
//!
//! Concurrency: rows that several events may change at once (an order, a
//! customer's tier) carry a version; a write that lost the race returns
//! [`EngineError::Conflict`] and the whole step is retried with fresh facts.

pub mod activities;
pub(crate) mod adjustments;
pub(crate) mod batch;
pub(crate) mod customers;
pub mod effects;
pub mod nps;
pub(crate) mod offers;
pub(crate) mod orders;
pub(crate) mod program;
pub(crate) mod redeem;
pub(crate) mod referrals;
pub mod reorder;
pub mod scheduled;
pub mod segments;
pub mod tiers;
pub mod winback;

use serde_json::json;
use sqlx::AnyConnection;

use crate::store::outbox;
use effects::Effect;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Another writer changed the same row first; try again.
    #[error("concurrent update of {0}; retrying")]
    Conflict(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

pub use crate::loyalty::time::DAY_MS;

/// Enqueues a Shopify effect in the caller's transaction.
pub(crate) async fn enqueue(
    conn: &mut AnyConnection,
    shop_id: i64,
    effect: &Effect,
    idempotency_key: &str,
    ordering_key: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let payload = payload(effect);
    outbox::enqueue(
        conn,
        shop_id,
        effect.kind(),
        &payload,
        idempotency_key,
        ordering_key,
    )
    .await
}

/// An effect's outbox payload.
pub(crate) fn payload(effect: &Effect) -> String {
    serde_json::to_string(effect).unwrap_or_else(|_| json!(null).to_string())
}

/// The time as RFC 3339, for Shopify.
pub use crate::loyalty::time::rfc3339;
