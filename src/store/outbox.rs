//! The outbox: Shopify effects written in the same transaction as the change
//! that causes them, sent later by [`crate::jobs::outbox`].
//!
//! Invariants: `(shop_id, idempotency_key)` is unique, so enqueuing an
//! effect twice stores it once; a row is claimed with a lease and finished
//! only by its lease owner; of the queued rows sharing a shop and an
//! `ordering_key`, only the oldest can be claimed, so they apply in order.
//!
//! Personal data: a payload may name a customer (a Flow trigger carries an
//! NPS comment, tags and metafields a customer id). customers/redact rewrites
//! or erases the payloads that concern the customer ([`redact_effects`]);
//! done rows are deleted after a retention ([`purge_done`]); `last_error`
//! only ever holds sanitised text ([`crate::error_text`]).

use sqlx::AnyConnection;

use super::{now_ms, Dialect, Store};
use crate::error_text;

pub mod status {
    pub const QUEUED: &str = "queued";
    pub const DONE: &str = "done";
    pub const FAILED: &str = "failed";
}

/// Adds an effect inside the caller's transaction. Returns false when an
/// effect with this idempotency key was already there.
pub async fn enqueue(
    conn: &mut AnyConnection,
    shop_id: i64,
    kind: &str,
    payload: &str,
    idempotency_key: &str,
    ordering_key: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let effect = NewEffect {
        kind,
        payload,
        idempotency_key,
        ordering_key,
    };
    Ok(enqueue_many(conn, shop_id, std::slice::from_ref(&effect)).await? == 1)
}

/// An effect to enqueue: its kind, payload, idempotency key and ordering
/// key.
pub struct NewEffect<'a> {
    pub kind: &'a str,
    pub payload: &'a str,
    pub idempotency_key: &'a str,
    pub ordering_key: Option<&'a str>,
}

/// Effects per multi-row statement.
const ENQUEUE_CHUNK: usize = 200;

/// [`enqueue`] for many effects of one shop, in a few multi-row statements.
/// They are stored in their order, so effects sharing an ordering key are
/// sent in the order given. Returns how many were new.
pub async fn enqueue_many(
    conn: &mut AnyConnection,
    shop_id: i64,
    effects: &[NewEffect<'_>],
) -> Result<u64, sqlx::Error> {
    let now = now_ms();
    let dialect = Dialect::of(conn);
    let mut added = 0;
    for chunk in effects.chunks(ENQUEUE_CHUNK) {
        let sql = format!(
            "INSERT INTO outbox (shop_id, kind, idempotency_key, ordering_key, payload, status, \
             available_at, created_at) VALUES {} \
             ON CONFLICT (shop_id, idempotency_key) DO NOTHING",
            super::values_placeholders(dialect, chunk.len(), 8)
        );
        let mut query = sqlx::query(&sql);
        for e in chunk {
            query = query
                .bind(shop_id)
                .bind(e.kind)
                .bind(e.idempotency_key)
                .bind(e.ordering_key)
                .bind(e.payload)
                .bind(status::QUEUED)
                .bind(now)
                .bind(now);
        }
        added += query.execute(&mut *conn).await?.rows_affected();
    }
    Ok(added)
}

/// Whether the shop has an effect with `ordering_key` still to send.
pub async fn has_queued(
    conn: &mut AnyConnection,
    shop_id: i64,
    ordering_key: &str,
) -> Result<bool, sqlx::Error> {
    let found: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM outbox WHERE shop_id = $1 AND ordering_key = $2 AND status = 'queued' \
         LIMIT 1",
    )
    .bind(shop_id)
    .bind(ordering_key)
    .fetch_optional(conn)
    .await?;
    Ok(found.is_some())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClaimedEffect {
    pub id: i64,
    pub shop_id: i64,
    pub shop_domain: String,
    pub payload: String,
    /// This try included.
    pub attempts: i64,
    /// When the first try began (epoch milliseconds): this one's start on
    /// the first.
    pub first_attempt_at: i64,
}

/// Leases up to `limit` ready effects (the oldest of each ordering key).
pub async fn claim(
    store: &Store,
    owner: &str,
    lease_until: i64,
    limit: i64,
) -> Result<Vec<ClaimedEffect>, sqlx::Error> {
    let skip_locked = match store.dialect() {
        Dialect::Sqlite => "",
        Dialect::Postgres => "FOR UPDATE OF o SKIP LOCKED",
    };
    let sql = format!(
        "UPDATE outbox SET lease_owner = $1, lease_until = $2, attempts = attempts + 1, \
             first_attempt_at = COALESCE(first_attempt_at, $3) \
         WHERE id IN (SELECT o.id FROM outbox o \
             WHERE o.status = 'queued' AND o.available_at <= $3 \
               AND (o.lease_until IS NULL OR o.lease_until < $3) \
               AND (o.ordering_key IS NULL OR NOT EXISTS (SELECT 1 FROM outbox e \
                    WHERE e.shop_id = o.shop_id AND e.ordering_key = o.ordering_key \
                      AND e.status = 'queued' AND e.id < o.id)) \
             ORDER BY o.available_at, o.id LIMIT $4 {skip_locked}) \
         RETURNING id, shop_id, payload, attempts, first_attempt_at, \
             (SELECT domain FROM shops WHERE shops.id = outbox.shop_id) AS shop_domain"
    );
    let mut rows: Vec<ClaimedEffect> = sqlx::query_as(&sql)
        .bind(owner)
        .bind(lease_until)
        .bind(now_ms())
        .bind(limit)
        .fetch_all(store.writer())
        .await?;
    rows.sort_by_key(|r| r.id);
    Ok(rows)
}

/// Leases one effect by its idempotency key, if it is ready and free (for
/// sending it at once, e.g. the code a shopper is waiting for), and first
/// of its ordering key.
pub async fn claim_by_key(
    store: &Store,
    owner: &str,
    lease_until: i64,
    shop_id: i64,
    idempotency_key: &str,
) -> Result<Option<ClaimedEffect>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE outbox SET lease_owner = $1, lease_until = $2, attempts = attempts + 1, \
             first_attempt_at = COALESCE(first_attempt_at, $5) \
         WHERE shop_id = $3 AND idempotency_key = $4 AND status = 'queued' AND available_at <= $5 \
           AND (lease_until IS NULL OR lease_until < $5) \
           AND (ordering_key IS NULL OR NOT EXISTS (SELECT 1 FROM outbox e \
                WHERE e.shop_id = outbox.shop_id AND e.ordering_key = outbox.ordering_key \
                  AND e.status = 'queued' AND e.id < outbox.id)) \
         RETURNING id, shop_id, payload, attempts, first_attempt_at, \
             (SELECT domain FROM shops WHERE shops.id = outbox.shop_id) AS shop_domain",
    )
    .bind(owner)
    .bind(lease_until)
    .bind(shop_id)
    .bind(idempotency_key)
    .bind(now_ms())
    .fetch_optional(store.writer())
    .await
}

/// What earlier effects of `ordering_key` recorded under `field` in their
/// results, for those done since `since`: e.g. the store credit
/// transactions already accounted for.
pub async fn done_results(
    conn: &mut AnyConnection,
    shop_id: i64,
    ordering_key: &str,
    field: &str,
    since: i64,
) -> Result<Vec<String>, sqlx::Error> {
    let results: Vec<Option<String>> = sqlx::query_scalar(
        "SELECT result FROM outbox WHERE shop_id = $1 AND ordering_key = $2 \
         AND status = 'done' AND completed_at >= $3",
    )
    .bind(shop_id)
    .bind(ordering_key)
    .bind(since)
    .fetch_all(conn)
    .await?;
    Ok(results
        .into_iter()
        .flatten()
        .filter_map(|r| serde_json::from_str::<serde_json::Value>(&r).ok())
        .filter_map(|r| r.get(field).and_then(|v| v.as_str()).map(str::to_owned))
        .collect())
}

/// Where an effect is: waiting to be sent (or sent again), sent, or given
/// up on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EffectStatus {
    Queued,
    Done,
    Failed,
}

impl EffectStatus {
    /// The status stored in the `status` column; None for any other text.
    pub fn parse(stored: &str) -> Option<Self> {
        match stored {
            status::QUEUED => Some(Self::Queued),
            status::DONE => Some(Self::Done),
            status::FAILED => Some(Self::Failed),
            _ => None,
        }
    }
}

/// The status of the effect with `idempotency_key`; None when there is no
/// such effect (or its status is not one of [`status`]).
pub async fn effect_status(
    conn: &mut AnyConnection,
    shop_id: i64,
    idempotency_key: &str,
) -> Result<Option<EffectStatus>, sqlx::Error> {
    let stored: Option<String> =
        sqlx::query_scalar("SELECT status FROM outbox WHERE shop_id = $1 AND idempotency_key = $2")
            .bind(shop_id)
            .bind(idempotency_key)
            .fetch_optional(conn)
            .await?;
    Ok(stored.as_deref().and_then(EffectStatus::parse))
}

/// The effect stored under `idempotency_key`, if any (its JSON payload).
pub async fn effect_payload(
    conn: &mut AnyConnection,
    shop_id: i64,
    idempotency_key: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT payload FROM outbox WHERE shop_id = $1 AND idempotency_key = $2")
        .bind(shop_id)
        .bind(idempotency_key)
        .fetch_optional(conn)
        .await
}

/// The idempotency key and payload of the shop's effect `id`, if there is
/// one.
pub async fn effect_by_id(
    conn: &mut AnyConnection,
    shop_id: i64,
    id: i64,
) -> Result<Option<(String, String)>, sqlx::Error> {
    sqlx::query_as("SELECT idempotency_key, payload FROM outbox WHERE shop_id = $1 AND id = $2")
        .bind(shop_id)
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// Records success. False when the lease was lost.
pub async fn complete(
    conn: &mut AnyConnection,
    id: i64,
    owner: &str,
    result: &str,
) -> Result<bool, sqlx::Error> {
    end_leased(conn, id, owner, status::DONE, Some(result), None).await
}

/// Records a permanent failure, visible to the merchant and retryable.
pub async fn fail(
    conn: &mut AnyConnection,
    id: i64,
    owner: &str,
    error: &str,
) -> Result<bool, sqlx::Error> {
    end_leased(conn, id, owner, status::FAILED, None, Some(error)).await
}

/// Ends, as failed with `error`, the queued effect whose idempotency key is
/// effect `id`'s followed by `suffix` (e.g. the Flow trigger announcing a
/// redemption whose code was refused). True when there was one.
pub async fn fail_follower(
    conn: &mut AnyConnection,
    id: i64,
    suffix: &str,
    error: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE outbox SET status = $1, last_error = $2, completed_at = $3, \
         lease_owner = NULL, lease_until = NULL \
         WHERE status = $4 AND (shop_id, idempotency_key) IN \
             (SELECT shop_id, idempotency_key || $5 FROM outbox WHERE id = $6)",
    )
    .bind(status::FAILED)
    .bind(error)
    .bind(now)
    .bind(status::QUEUED)
    .bind(suffix)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Ends a leased effect as `status`, if `owner` still holds its lease.
async fn end_leased(
    conn: &mut AnyConnection,
    id: i64,
    owner: &str,
    status: &str,
    result: Option<&str>,
    error: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE outbox SET status = $1, result = COALESCE($2, result), last_error = $3, \
         completed_at = $4, lease_owner = NULL, lease_until = NULL \
         WHERE id = $5 AND lease_owner = $6",
    )
    .bind(status)
    .bind(result)
    .bind(error.map(error_text::sanitise))
    .bind(now_ms())
    .bind(id)
    .bind(owner)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Tries again at `retry_at` after a transient failure.
pub async fn reschedule(
    conn: &mut AnyConnection,
    id: i64,
    owner: &str,
    retry_at: i64,
    error: &str,
) -> Result<bool, sqlx::Error> {
    super::reschedule_leased(conn, super::Queue::Outbox, id, owner, retry_at, error).await
}

/// The merchant's retry of a failed effect of their shop.
pub async fn retry_failed(
    conn: &mut AnyConnection,
    shop_id: i64,
    id: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE outbox SET status = 'queued', attempts = 0, available_at = $1, last_error = NULL \
         WHERE id = $2 AND shop_id = $3 AND status = 'failed'",
    )
    .bind(now_ms())
    .bind(id)
    .bind(shop_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct FailedEffect {
    pub id: i64,
    pub kind: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
}

pub async fn list_failed(
    conn: &mut AnyConnection,
    shop_id: i64,
) -> Result<Vec<FailedEffect>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, kind, attempts, last_error, created_at FROM outbox \
         WHERE shop_id = $1 AND status = 'failed' ORDER BY id DESC LIMIT 100",
    )
    .bind(shop_id)
    .fetch_all(conn)
    .await
}

/// Hands back the leases `owner` holds on effects not yet ended (at
/// shutdown), so another sender takes them at once instead of after the
/// lease. The attempt did not happen, so it is not counted.
pub async fn release_leases(store: &Store, owner: &str) -> Result<u64, sqlx::Error> {
    super::release_queue_leases(store, "outbox", owner).await
}

/// What customers/redact does to one effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EffectRedaction {
    /// It does not concern the customer.
    Untouched,
    /// It concerns other customers too: this payload, without them.
    Rewrite(String),
    /// It concerns only them: the payload is erased and the effect is
    /// never sent (the row stays, done, so its idempotency key still holds).
    Erase,
}

/// Payload kept in place of an erased effect's.
const ERASED_PAYLOAD: &str = r#"{"erased":true}"#;

/// customers/redact: applies `redact` to every effect of the shop whose
/// payload carries `customer_id` (a gid or a field holds it as digits),
/// whatever its status. Returns how many rows changed.
pub async fn redact_effects(
    conn: &mut AnyConnection,
    shop_id: i64,
    customer_id: i64,
    now: i64,
    redact: impl Fn(&str) -> EffectRedaction,
) -> Result<u64, sqlx::Error> {
    let candidates: Vec<(i64, String)> =
        sqlx::query_as("SELECT id, payload FROM outbox WHERE shop_id = $1 AND payload LIKE $2")
            .bind(shop_id)
            .bind(format!("%{customer_id}%"))
            .fetch_all(&mut *conn)
            .await?;
    let mut changed = 0;
    for (id, payload) in candidates {
        let done = match redact(&payload) {
            EffectRedaction::Untouched => continue,
            EffectRedaction::Rewrite(payload) => {
                sqlx::query("UPDATE outbox SET payload = $1 WHERE id = $2")
                    .bind(payload)
                    .bind(id)
                    .execute(&mut *conn)
                    .await?
            }
            // A sender holding the lease loses it: its result is not
            // recorded over the erasure.
            EffectRedaction::Erase => {
                sqlx::query(
                    "UPDATE outbox SET payload = $1, status = 'done', result = $2, \
                     last_error = NULL, completed_at = COALESCE(completed_at, $3), \
                     ordering_key = NULL, lease_owner = NULL, lease_until = NULL WHERE id = $4",
                )
                .bind(ERASED_PAYLOAD)
                .bind(ERASED_PAYLOAD)
                .bind(now)
                .bind(id)
                .execute(&mut *conn)
                .await?
            }
        };
        changed += done.rows_affected();
    }
    Ok(changed)
}

/// Deletes effects done before `before` (epoch ms): their result is in
/// Shopify, and their payloads may name customers. Queued and failed
/// effects are kept whatever their age.
pub async fn purge_done(store: &Store, before: i64) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("DELETE FROM outbox WHERE status = 'done' AND completed_at < $1")
            .bind(before)
            .execute(store.writer())
            .await?
            .rows_affected(),
    )
}

#[cfg(test)]
mod tests {
    use super::{status, EffectStatus};

    #[test]
    fn stored_statuses_read_as_their_variant() {
        assert_eq!(
            EffectStatus::parse(status::QUEUED),
            Some(EffectStatus::Queued)
        );
        assert_eq!(EffectStatus::parse(status::DONE), Some(EffectStatus::Done));
        assert_eq!(
            EffectStatus::parse(status::FAILED),
            Some(EffectStatus::Failed)
        );
        assert_eq!(EffectStatus::parse("sending"), None);
    }
}
