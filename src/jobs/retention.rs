//! Forgetting finished queue rows. Done and ignored inbox rows are kept for
//! a while so a redelivery is still recognised; done outbox rows so the
//! merchant can see what was sent. Both may name shoppers (an outbox
//! payload carries NPS comments, tags, codes), so neither is kept longer
//! than its retention. Queued, held and failed rows are kept whatever
//! their age: they are still to be processed, or for the merchant to retry.
//! Expired OAuth states (installs begun and abandoned) go too, and
//! outbound webhook deliveries delivered or given up on, with their tries,
//! after the inbox's retention.

use std::time::Duration;

use tokio::sync::watch;

use crate::store::{inbox, oauth_states, outbound, outbox, Store};

/// How long finished rows are kept.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// Done and ignored webhook deliveries.
    pub inbox: Duration,
    /// Done Shopify effects.
    pub outbox: Duration,
}

/// Rows removed by one purge.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    pub inbox: u64,
    pub outbox: u64,
    pub oauth_states: u64,
    pub webhook_deliveries: u64,
}

/// Deletes the rows finished longer than their retention before `now`
/// (epoch ms).
pub async fn purge(store: &Store, retention: Retention, now: i64) -> anyhow::Result<Purged> {
    let inbox = inbox::purge_finished(store, now - retention.inbox.as_millis() as i64).await?;
    let outbox = outbox::purge_done(store, now - retention.outbox.as_millis() as i64).await?;
    let oauth_states = oauth_states::purge_expired(store, now).await?;
    let webhook_deliveries =
        outbound::purge_delivered(store, now - retention.inbox.as_millis() as i64).await?;
    Ok(Purged {
        inbox,
        outbox,
        oauth_states,
        webhook_deliveries,
    })
}

/// Hourly, until `stopped` turns true.
pub async fn run(store: Store, retention: Retention, mut stopped: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    while !*stopped.borrow() {
        tokio::select! {
            _ = tick.tick() => {
                match purge(&store, retention, crate::store::now_ms()).await {
                    Ok(purged) if purged == Purged::default() => {}
                    Ok(purged) => tracing::info!(inbox = purged.inbox, outbox = purged.outbox, oauth_states = purged.oauth_states, webhook_deliveries = purged.webhook_deliveries, "finished queue rows past retention removed"),
                    Err(e) => tracing::warn!(error = %crate::error_text::sanitise(&format!("{e:#}")), "queue retention failed; will retry"),
                }
            }
            _ = stopped.changed() => {}
        }
    }
}
