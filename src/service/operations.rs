//! What the merchant sees of the app's own work: data requests, and the
//! webhooks and Shopify effects that failed for good, with their retry.

use crate::store::{
    data_requests::{self, DataRequest},
    inbox::{self, FailedDelivery},
    outbox::{self, FailedEffect},
    Store,
};

/// How many failed webhooks the merchant sees at once (newest first).
const FAILED_WEBHOOKS_SHOWN: i64 = 100;

#[derive(Debug, thiserror::Error)]
pub enum RetryError {
    #[error("no such failed webhook")]
    NoSuchFailedWebhook,
    #[error("no such failed effect")]
    NoSuchFailedEffect,
    /// A redemption's code or credit whose points were given back: sent
    /// now, it would give the reward for nothing.
    #[error("its points were given back to the customer: they can redeem again")]
    Refunded,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// The shop's GDPR data requests.
pub async fn list_data_requests(
    store: &Store,
    shop_id: i64,
) -> Result<Vec<DataRequest>, sqlx::Error> {
    let mut conn = store.reader().acquire().await?;
    data_requests::list_data_requests(&mut conn, shop_id).await
}

/// The shop's webhooks that failed for good.
pub async fn list_failed_webhooks(
    store: &Store,
    shop_domain: &str,
) -> Result<Vec<FailedDelivery>, sqlx::Error> {
    inbox::list_failed(store, shop_domain, FAILED_WEBHOOKS_SHOWN).await
}

/// Queues a failed webhook of the shop again.
pub async fn retry_failed_webhook(
    store: &Store,
    shop_domain: &str,
    inbox_id: i64,
) -> Result<(), RetryError> {
    if inbox::retry_failed(store, shop_domain, inbox_id).await? {
        Ok(())
    } else {
        Err(RetryError::NoSuchFailedWebhook)
    }
}

/// The shop's Shopify effects that failed for good.
pub async fn list_failed_effects(
    store: &Store,
    shop_id: i64,
) -> Result<Vec<FailedEffect>, sqlx::Error> {
    let mut conn = store.reader().acquire().await?;
    outbox::list_failed(&mut conn, shop_id).await
}

/// Whether effect `effect_id` is a redemption's code or credit whose points
/// were given back, or the Flow trigger announcing one.
async fn refunded(
    conn: &mut sqlx::AnyConnection,
    shop_id: i64,
    effect_id: i64,
) -> Result<bool, sqlx::Error> {
    let Some((key, payload)) = outbox::effect_by_id(conn, shop_id, effect_id).await? else {
        return Ok(false);
    };
    let leader = match key.strip_suffix(crate::engine::redeem::FLOW_SUFFIX) {
        Some(leader) => outbox::effect_payload(conn, shop_id, leader).await?,
        None => Some(payload),
    };
    let refund = leader
        .and_then(|p| serde_json::from_str::<crate::engine::effects::Effect>(&p).ok())
        .and_then(|e| e.refund().cloned());
    Ok(match refund {
        Some(refund) => crate::store::ledger::find_by_source_key(conn, shop_id, &refund.source_key)
            .await?
            .is_some(),
        None => false,
    })
}

/// Queues a failed Shopify effect of the shop again.
pub async fn retry_failed_effect(
    store: &Store,
    shop_id: i64,
    effect_id: i64,
) -> Result<(), RetryError> {
    let mut conn = store.writer().acquire().await?;
    if refunded(&mut conn, shop_id, effect_id).await? {
        return Err(RetryError::Refunded);
    }
    if outbox::retry_failed(&mut conn, shop_id, effect_id).await? {
        Ok(())
    } else {
        Err(RetryError::NoSuchFailedEffect)
    }
}
