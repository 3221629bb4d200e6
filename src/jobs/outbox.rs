//! The outbox sender: claims effects with a lease (safe with several
//! processes on one database), performs each through the Admin API with no
//! database transaction open, and records the outcome. Transient failures
//! are retried with backoff; permanent ones are kept, visible and
//! retryable, and an effect that carries a refund (a redemption whose code
//! can never be created) gives the points back in the same transaction
//! that marks it failed.

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use futures_util::StreamExt;
use serde_json::Value;

use crate::{
    engine::effects::{store_credit_ordering, Effect},
    error_text,
    shopify::{
        admin::{
            api::{AdminApi, AdminApiError},
            effects::{CreditLookup, CLOCK_SKEW_MS},
        },
        tokens::TokenError,
        ShopDomain,
    },
    store::{now_ms, outbox, shops, Store},
};

/// Effects claimed at once, and performed concurrently, by one sender.
const CLAIM_BATCH: i64 = 32;
const CONCURRENCY: usize = 8;
/// How often an idle sender looks for new effects.
const IDLE_POLL: Duration = Duration::from_millis(500);
/// A shop that must authenticate again is retried this much later.
const REAUTH_RETRY: Duration = Duration::from_secs(300);

pub struct OutboxSender {
    store: Store,
    api: Arc<AdminApi>,
    owner: String,
    lease: Duration,
    max_attempts: i64,
}

/// What became of one effect.
enum Outcome {
    Done(Value),
    Retry(String, Duration),
    Failed(String),
}

impl OutboxSender {
    pub fn new(
        store: Store,
        api: Arc<AdminApi>,
        owner: impl Into<String>,
        lease: Duration,
        max_attempts: i64,
    ) -> Self {
        Self {
            store,
            api,
            owner: owner.into(),
            lease,
            max_attempts,
        }
    }

    /// Claims and performs one batch; returns how many effects were claimed.
    pub async fn send_batch(&self) -> anyhow::Result<usize> {
        let lease_until = now_ms() + self.lease.as_millis() as i64;
        let claimed = outbox::claim(&self.store, &self.owner, lease_until, CLAIM_BATCH)
            .await
            .context("claiming outbox effects")?;
        let count = claimed.len();
        let results: Vec<anyhow::Result<()>> = futures_util::stream::iter(claimed)
            .map(|row| async move {
                let outcome = self.perform(&row).await;
                self.record(&row, outcome).await
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        results.into_iter().collect::<anyhow::Result<()>>()?;
        Ok(count)
    }

    /// Runs until `shutdown` turns true.
    pub async fn run(self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        while !*shutdown.borrow() {
            match self.send_batch().await {
                Ok(0) => {}
                Ok(_) => continue,
                Err(e) => tracing::error!(
                    error = error_text::sanitise(&format!("{e:#}")),
                    "outbox sending failed"
                ),
            }
            tokio::select! {
                _ = tokio::time::sleep(IDLE_POLL) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    /// The Admin API this sender calls (for its bucket figures).
    pub fn admin_api(&self) -> &AdminApi {
        &self.api
    }

    /// Sends one effect now if it is ready and no other sender has it.
    /// Returns whether it is done.
    pub async fn send_now(&self, shop_id: i64, idempotency_key: &str) -> anyhow::Result<bool> {
        let lease_until = now_ms() + self.lease.as_millis() as i64;
        let Some(row) = outbox::claim_by_key(
            &self.store,
            &self.owner,
            lease_until,
            shop_id,
            idempotency_key,
        )
        .await?
        else {
            return Ok(false);
        };
        let outcome = self.perform(&row).await;
        let done = matches!(outcome, Outcome::Done(_));
        self.record(&row, outcome).await?;
        Ok(done)
    }

    /// Sends until nothing is ready (effects waiting for a retry stay).
    pub async fn drain(&self) -> anyhow::Result<usize> {
        let mut total = 0;
        loop {
            match self.send_batch().await? {
                0 => return Ok(total),
                n => total += n,
            }
        }
    }

    async fn perform(&self, row: &outbox::ClaimedEffect) -> Outcome {
        let effect: Effect = match serde_json::from_str(&row.payload) {
            Ok(effect) => effect,
            Err(e) => return Outcome::Failed(format!("unreadable effect: {e}")),
        };
        let Ok(shop) = ShopDomain::parse(&row.shop_domain) else {
            return Outcome::Failed("shop domain is not valid".into());
        };
        // The VIP discount is created once: later syncs update the one made.
        let effect = match effect {
            Effect::SyncVipPerks { configuration, .. } => {
                let known = match self.store.writer().acquire().await {
                    Ok(mut conn) => shops::vip_discount_id(&mut conn, row.shop_id).await,
                    Err(e) => Err(e),
                };
                match known {
                    Ok(discount_id) => Effect::SyncVipPerks {
                        configuration,
                        discount_id,
                    },
                    Err(e) => return Outcome::Retry(e.to_string(), backoff(row.attempts)),
                }
            }
            other => other,
        };
        let performed = match &effect {
            Effect::CreditStoreCredit { customer_gid, .. }
            | Effect::DebitStoreCredit { customer_gid, .. } => {
                // From the second try on, an earlier try may have made the
                // credit (or debit) and lost its answer: look for it first.
                let lookup = if row.attempts > 1 {
                    match self.credit_lookup(row, customer_gid).await {
                        Ok(lookup) => Some(lookup),
                        Err(e) => return Outcome::Retry(e.to_string(), backoff(row.attempts)),
                    }
                } else {
                    None
                };
                if matches!(effect, Effect::DebitStoreCredit { .. }) {
                    effect
                        .debit_store_credit(&self.api, &shop, lookup.as_ref())
                        .await
                } else {
                    effect
                        .credit_store_credit(&self.api, &shop, lookup.as_ref())
                        .await
                }
            }
            _ => effect.perform(&self.api, &shop).await,
        };
        match performed {
            Ok(result) => Outcome::Done(result),
            Err(AdminApiError::Shopify(e)) if e.is_transient() => {
                Outcome::Retry(e.to_string(), backoff(row.attempts))
            }
            Err(AdminApiError::Token(TokenError::NeedsReauth | TokenError::NotInstalled)) => {
                Outcome::Retry("shop must authenticate again".into(), REAUTH_RETRY)
            }
            Err(AdminApiError::Token(e @ (TokenError::Shopify(_) | TokenError::Store(_)))) => {
                Outcome::Retry(e.to_string(), backoff(row.attempts))
            }
            Err(e) => Outcome::Failed(e.to_string()),
        }
    }

    /// Where a store credit's earlier tries would show: the customer's
    /// credits since this effect was first tried, less those the
    /// customer's credits done meanwhile (or shortly before) recorded as
    /// theirs.
    async fn credit_lookup(
        &self,
        row: &outbox::ClaimedEffect,
        customer_gid: &str,
    ) -> Result<CreditLookup, sqlx::Error> {
        let mut conn = self.store.writer().acquire().await?;
        let since = row.first_attempt_at;
        let known = outbox::done_results(
            &mut conn,
            row.shop_id,
            &store_credit_ordering(customer_gid),
            "transaction_id",
            since - CLOCK_SKEW_MS - 60_000,
        )
        .await?;
        Ok(CreditLookup { since, known })
    }

    async fn record(&self, row: &outbox::ClaimedEffect, outcome: Outcome) -> anyhow::Result<()> {
        let mut tx = self.store.begin().await?;
        let kept = match outcome {
            Outcome::Done(result) => {
                match serde_json::from_str::<Effect>(&row.payload) {
                    Ok(Effect::SyncVipPerks { .. }) => {
                        if let Some(id) = result["discount_id"].as_str() {
                            shops::set_vip_discount_id(&mut tx, row.shop_id, id).await?;
                        }
                    }
                    Ok(Effect::ReadShop) => {
                        if let Some(zone) = result["iana_timezone"].as_str() {
                            shops::set_time_zone(&mut tx, row.shop_id, zone).await?;
                        }
                    }
                    _ => {}
                }
                outbox::complete(&mut tx, row.id, &self.owner, &result.to_string()).await?
            }
            Outcome::Retry(error, _) if row.attempts >= self.max_attempts => {
                self.give_up(
                    &mut tx,
                    row,
                    &format!("gave up after {} attempts: {error}", row.attempts),
                )
                .await?
            }
            Outcome::Retry(error, wait) => {
                let retry_at = now_ms() + wait.as_millis() as i64;
                outbox::reschedule(&mut tx, row.id, &self.owner, retry_at, &error).await?
            }
            Outcome::Failed(error) => self.give_up(&mut tx, row, &error).await?,
        };
        if kept {
            tx.commit().await?;
        } else {
            tx.rollback().await?;
            tracing::warn!(
                outbox_id = row.id,
                "outbox lease lost; another sender has the effect"
            );
        }
        Ok(())
    }

    async fn give_up(
        &self,
        tx: &mut crate::store::Tx,
        row: &outbox::ClaimedEffect,
        error: &str,
    ) -> anyhow::Result<bool> {
        tracing::warn!(outbox_id = row.id, shop = %row.shop_domain, error = %error_text::sanitise(error), "Shopify effect failed for good");
        if !outbox::fail(tx, row.id, &self.owner, error).await? {
            return Ok(false);
        }
        let refund = serde_json::from_str::<Effect>(&row.payload)
            .ok()
            .and_then(|e| e.refund().cloned());
        if let Some(refund) = refund {
            // A redemption's code or credit: its points come back, and the
            // Flow trigger announcing it is not sent.
            crate::engine::redeem::give_back(tx, row.shop_id, &refund, now_ms()).await?;
            outbox::fail_follower(
                tx,
                row.id,
                crate::engine::redeem::FLOW_SUFFIX,
                "not sent: the reward it announces was refused and its points given back",
                now_ms(),
            )
            .await?;
        }
        Ok(true)
    }
}

/// About 1 s, 2 s, 4 s ... capped at 10 minutes, with jitter.
fn backoff(attempts: i64) -> Duration {
    super::inbox::backoff(attempts).min(Duration::from_secs(600))
}
