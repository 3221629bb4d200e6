//! Figures about the whole database for `/metrics`: queue depths, the age of
//! the oldest queued delivery, totals. Each is one indexed query (partial
//! indexes on the queued and failed rows, primary keys for the totals), so a
//! scrape stays cheap however large the ledger grows.

use super::{now_ms, Store};

/// What [`snapshot`] reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Webhook deliveries waiting to be processed.
    pub inbox_queued: i64,
    /// How long the oldest of them has waited (ms); 0 when none waits.
    pub inbox_oldest_age_ms: i64,
    /// Deliveries kept as dead letters.
    pub inbox_failed: i64,
    /// Admin API effects waiting to be sent.
    pub outbox_queued: i64,
    /// Effects that gave up.
    pub outbox_failed: i64,
    /// Ledger entries ever written (the highest id: entries are never deleted).
    pub ledger_entries: i64,
    /// Redemptions ever made (the highest id).
    pub redemptions: i64,
    /// Shops with the app installed.
    pub active_shops: i64,
}

/// Deliveries intake has landed and the mover not yet copied into the inbox
/// ([`super::landing`]) count as queued.
pub async fn snapshot(store: &Store) -> anyhow::Result<StoreStats> {
    // The mark in the same snapshot as the queued rows: a delivery moved
    // between the two reads is counted once.
    let sql = format!(
        "SELECT CAST(COUNT(*) AS BIGINT), MIN(received_at), {} \
         FROM webhook_inbox WHERE status = 'queued'",
        super::landing::MARK_COLUMNS
    );
    let (queued, oldest, segment, offset): (i64, Option<i64>, i64, i64) =
        sqlx::query_as(&sql).fetch_one(store.reader()).await?;
    let mark = super::landing::Position { segment, offset };
    let (landed, oldest_landed) = super::landing::waiting_after(store, mark, None).await?;
    let inbox_queued = queued + landed;
    let oldest = match (oldest, oldest_landed) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let count = |sql: &'static str| async move {
        sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(store.reader())
            .await
    };
    Ok(StoreStats {
        inbox_queued,
        inbox_oldest_age_ms: oldest.map_or(0, |t| (now_ms() - t).max(0)),
        inbox_failed: count(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM webhook_inbox WHERE status = 'failed'",
        )
        .await?,
        outbox_queued: count("SELECT CAST(COUNT(*) AS BIGINT) FROM outbox WHERE status = 'queued'")
            .await?,
        outbox_failed: count("SELECT CAST(COUNT(*) AS BIGINT) FROM outbox WHERE status = 'failed'")
            .await?,
        ledger_entries: count("SELECT CAST(COALESCE(MAX(id), 0) AS BIGINT) FROM points_ledger")
            .await?,
        redemptions: count("SELECT CAST(COALESCE(MAX(id), 0) AS BIGINT) FROM redemptions").await?,
        active_shops: count(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM shops WHERE status = 'installed'",
        )
        .await?,
    })
}
