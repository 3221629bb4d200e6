//! Outbound webhooks: the merchant's endpoints, and the events for them
//! (see `migrations/*/0026_activities_and_outbound_webhooks.sql`).
//!
//! An event is written by [`emit`] in the transaction of the fact that
//! caused it, one delivery row per endpoint subscribed to its topic, so it
//! is sent if and only if the fact commits. [`crate::jobs::outbound`]
//! sends them: per endpoint, one at a time and, of one ordering key (a
//! customer), oldest first; every try is kept in `webhook_attempts`.
//!
//! Personal data: a delivery's data names a customer only by id; the
//! deliveries of a customer erased by customers/redact are deleted with
//! their tries ([`redact_customer`]), and delivered ones after a retention
//! ([`purge_delivered`]).

use sqlx::AnyConnection;

use super::{Dialect, Store};
use crate::error_text;

/// The topics an endpoint can subscribe to.
pub mod topic {
    pub const POINTS_CHANGED: &str = "points.changed";
    pub const TIER_CHANGED: &str = "tier.changed";
    pub const REWARD_REDEEMED: &str = "reward.redeemed";
    pub const REFERRAL_COMPLETED: &str = "referral.completed";
    pub const ACTIVITY_RECORDED: &str = "activity.recorded";
    pub const CUSTOMER_REDACTED: &str = "customer.redacted";

    pub const ALL: [&str; 6] = [
        POINTS_CHANGED,
        TIER_CHANGED,
        REWARD_REDEEMED,
        REFERRAL_COMPLETED,
        ACTIVITY_RECORDED,
        CUSTOMER_REDACTED,
    ];
}

pub mod status {
    pub const QUEUED: &str = "queued";
    pub const DELIVERED: &str = "delivered";
    pub const FAILED: &str = "failed";
}

/// How long a failed delivery keeps being tried after its event (or after
/// a resend): a day and an hour.
pub const RETRY_FOR_MS: i64 = 25 * 3_600_000;

/// The ordering key of a customer's events: delivered in order.
pub fn customer_ordering(customer_id: i64) -> String {
    format!("customer:{customer_id}")
}

/// An endpoint as the merchant sees it (never its secret).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EndpointRow {
    pub id: i64,
    pub url: String,
    /// As stored: `,a,b,`.
    pub topics: String,
    pub created_at: i64,
    pub created_by: String,
    pub disabled_at: Option<i64>,
}

impl EndpointRow {
    pub fn topic_list(&self) -> Vec<String> {
        self.topics
            .split(',')
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

/// Topics as stored: each between commas.
pub fn stored_topics(topics: &[&str]) -> String {
    format!(",{},", topics.join(","))
}

const ENDPOINT_COLUMNS: &str = "id, url, topics, created_at, created_by, disabled_at";

pub struct NewEndpoint<'a> {
    pub shop_id: i64,
    pub url: &'a str,
    pub topics: &'a [&'a str],
    pub secret_enc: &'a [u8],
    pub created_by: &'a str,
}

pub async fn insert_endpoint(
    conn: &mut AnyConnection,
    endpoint: &NewEndpoint<'_>,
    now: i64,
) -> Result<EndpointRow, sqlx::Error> {
    sqlx::query_as(&format!(
        "INSERT INTO webhook_endpoints (shop_id, url, topics, secret_enc, created_at, created_by) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {ENDPOINT_COLUMNS}"
    ))
    .bind(endpoint.shop_id)
    .bind(endpoint.url)
    .bind(stored_topics(endpoint.topics))
    .bind(endpoint.secret_enc)
    .bind(now)
    .bind(endpoint.created_by)
    .fetch_one(conn)
    .await
}

/// The shop's endpoints, newest first.
pub async fn list_endpoints(
    conn: &mut AnyConnection,
    shop_id: i64,
) -> Result<Vec<EndpointRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE shop_id = $1 ORDER BY id DESC"
    ))
    .bind(shop_id)
    .fetch_all(conn)
    .await
}

/// How many endpoints the shop has enabled.
pub async fn count_enabled(conn: &mut AnyConnection, shop_id: i64) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM webhook_endpoints \
         WHERE shop_id = $1 AND disabled_at IS NULL",
    )
    .bind(shop_id)
    .fetch_one(conn)
    .await
}

/// Disables the shop's endpoint `id` (once) and gives up its queued
/// deliveries. None when the shop has no such endpoint.
pub async fn disable_endpoint(
    conn: &mut AnyConnection,
    shop_id: i64,
    id: i64,
    now: i64,
) -> Result<Option<EndpointRow>, sqlx::Error> {
    sqlx::query(
        "UPDATE webhook_endpoints SET disabled_at = $1 \
         WHERE id = $2 AND shop_id = $3 AND disabled_at IS NULL",
    )
    .bind(now)
    .bind(id)
    .bind(shop_id)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE webhook_deliveries SET status = 'failed', last_error = 'endpoint disabled', \
         lease_owner = NULL, lease_until = NULL \
         WHERE endpoint_id = $1 AND shop_id = $2 AND status = 'queued'",
    )
    .bind(id)
    .bind(shop_id)
    .execute(&mut *conn)
    .await?;
    sqlx::query_as(&format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $1 AND shop_id = $2"
    ))
    .bind(id)
    .bind(shop_id)
    .fetch_optional(conn)
    .await
}

/// Whether an enabled endpoint of the shop subscribes to `topic`: lets a
/// caller skip building an event no one wants.
pub async fn subscribed(
    conn: &mut AnyConnection,
    shop_id: i64,
    topic: &str,
) -> Result<bool, sqlx::Error> {
    let found: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM webhook_endpoints \
         WHERE shop_id = $1 AND disabled_at IS NULL AND topics LIKE $2 LIMIT 1",
    )
    .bind(shop_id)
    .bind(format!("%,{topic},%"))
    .fetch_optional(conn)
    .await?;
    Ok(found.is_some())
}

/// An event to send.
#[derive(Debug, Clone)]
pub struct Event<'a> {
    pub topic: &'a str,
    /// Events of one key are delivered in the order they were emitted.
    pub ordering_key: Option<&'a str>,
    /// The event's data, JSON.
    pub data: &'a serde_json::Value,
}

/// Writes the event, in the caller's transaction, for every enabled
/// endpoint of the shop subscribed to its topic: one statement, which
/// writes nothing when there is none. Returns how many deliveries.
pub async fn emit(
    conn: &mut AnyConnection,
    shop_id: i64,
    event: &Event<'_>,
    now: i64,
) -> Result<u64, sqlx::Error> {
    emit_many(conn, shop_id, std::slice::from_ref(event), now).await
}

/// Events per multi-row statement.
const EMIT_CHUNK: usize = 200;

/// [`emit`] for many events, in a few statements: each event is written
/// for every enabled endpoint subscribed to its topic, in the order given,
/// so one ordering key's events are delivered in that order.
pub async fn emit_many(
    conn: &mut AnyConnection,
    shop_id: i64,
    events: &[Event<'_>],
    now: i64,
) -> Result<u64, sqlx::Error> {
    let dialect = super::Dialect::of(conn);
    let mut written = 0;
    for (c, chunk) in events.chunks(EMIT_CHUNK).enumerate() {
        // Parameters in text order: the times, the values, the shop.
        let sql = format!(
            "INSERT INTO webhook_deliveries (shop_id, endpoint_id, event_id, topic, \
                 ordering_key, data, status, attempts, next_attempt_at, retry_until, created_at) \
             SELECT e.shop_id, e.id, v.column2, v.column3, v.column4, v.column5, 'queued', 0, \
                 {now}, {until}, {now2} \
             FROM (VALUES {values}) AS v JOIN webhook_endpoints e \
                 ON e.shop_id = {shop} AND e.disabled_at IS NULL AND e.topics LIKE v.column6 \
             ORDER BY v.column1, e.id",
            now = super::placeholder(dialect, 1),
            until = super::placeholder(dialect, 2),
            now2 = super::placeholder(dialect, 3),
            values = super::values_placeholders_from(dialect, chunk.len(), 6, 4),
            shop = super::placeholder(dialect, 4 + chunk.len() * 6),
        );
        let mut query = sqlx::query(&sql)
            .bind(now)
            .bind(now + RETRY_FOR_MS)
            .bind(now);
        for (i, event) in chunk.iter().enumerate() {
            let event_id = format!("evt_{}", hex::encode(rand::random::<[u8; 16]>()));
            query = query
                .bind((c * EMIT_CHUNK + i) as i64)
                .bind(event_id)
                .bind(event.topic)
                .bind(event.ordering_key)
                .bind(event.data.to_string())
                .bind(format!("%,{},%", event.topic));
        }
        written += query
            .bind(shop_id)
            .execute(&mut *conn)
            .await?
            .rows_affected();
    }
    Ok(written)
}

/// A delivery `d` that no earlier queued delivery of its endpoint and
/// ordering key precedes: what may be sent now, and what keeps one
/// customer's events in order.
const FIRST_OF_ITS_KEY: &str = "(d.ordering_key IS NULL OR NOT EXISTS (SELECT 1 \
     FROM webhook_deliveries e WHERE e.endpoint_id = d.endpoint_id \
     AND e.ordering_key = d.ordering_key AND e.status = 'queued' AND e.id < d.id))";

/// Endpoints with a delivery ready to try (due, not leased, first of its
/// ordering key), but those in `busy` (being served already), at most
/// `limit`.
pub async fn ready_endpoints(
    store: &Store,
    busy: &[i64],
    now: i64,
    limit: i64,
) -> Result<Vec<i64>, sqlx::Error> {
    let dialect = store.dialect();
    let excluded = if busy.is_empty() {
        String::new()
    } else {
        format!(
            "AND d.endpoint_id NOT IN ({})",
            super::placeholders(dialect, 3, busy.len())
        )
    };
    // Numbered in order of appearance: SQLite's placeholders are `?`.
    let sql = format!(
        "SELECT DISTINCT d.endpoint_id FROM webhook_deliveries d WHERE d.status = 'queued' \
         AND d.next_attempt_at <= {now} \
         AND (d.lease_until IS NULL OR d.lease_until < {now2}) \
         AND {FIRST_OF_ITS_KEY} {excluded} ORDER BY d.endpoint_id LIMIT {limit}",
        now = super::placeholder(dialect, 1),
        now2 = super::placeholder(dialect, 2),
        limit = super::placeholder(dialect, 3 + busy.len()),
    );
    let mut query = sqlx::query_scalar(&sql).bind(now).bind(now);
    for id in busy {
        query = query.bind(*id);
    }
    query.bind(limit).fetch_all(store.writer()).await
}

/// A delivery leased for one try.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClaimedDelivery {
    pub id: i64,
    pub shop_id: i64,
    pub endpoint_id: i64,
    pub event_id: String,
    pub topic: String,
    pub data: String,
    /// This try included.
    pub attempts: i64,
    pub created_at: i64,
    pub retry_until: i64,
    pub shop_domain: Option<String>,
    pub url: Option<String>,
    pub secret_enc: Option<Vec<u8>>,
}

/// Leases the endpoint's next delivery: the oldest ready one that no
/// earlier queued delivery of its ordering key precedes.
pub async fn claim_next(
    store: &Store,
    endpoint_id: i64,
    owner: &str,
    lease_until: i64,
    now: i64,
) -> Result<Option<ClaimedDelivery>, sqlx::Error> {
    let skip_locked = match store.dialect() {
        Dialect::Sqlite => "",
        Dialect::Postgres => "FOR UPDATE OF d SKIP LOCKED",
    };
    let sql = format!(
        "UPDATE webhook_deliveries SET lease_owner = $1, lease_until = $2, \
             attempts = attempts + 1 \
         WHERE id IN (SELECT d.id FROM webhook_deliveries d \
             WHERE d.endpoint_id = $3 AND d.status = 'queued' AND d.next_attempt_at <= $4 \
               AND (d.lease_until IS NULL OR d.lease_until < $4) \
               AND {FIRST_OF_ITS_KEY} \
             ORDER BY d.next_attempt_at, d.id LIMIT 1 {skip_locked}) \
         RETURNING id, shop_id, endpoint_id, event_id, topic, data, attempts, created_at, \
             retry_until, \
             (SELECT domain FROM shops WHERE shops.id = webhook_deliveries.shop_id) \
                 AS shop_domain, \
             (SELECT url FROM webhook_endpoints w \
                 WHERE w.id = webhook_deliveries.endpoint_id) AS url, \
             (SELECT secret_enc FROM webhook_endpoints w \
                 WHERE w.id = webhook_deliveries.endpoint_id) AS secret_enc"
    );
    sqlx::query_as(&sql)
        .bind(owner)
        .bind(lease_until)
        .bind(endpoint_id)
        .bind(now)
        .fetch_optional(store.writer())
        .await
}

/// One try of a delivery.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub at: i64,
    pub duration_ms: i64,
    /// The answer's status, if there was one.
    pub status_code: Option<u16>,
    /// Why the try failed, if it did (sanitised before it is stored).
    pub error: Option<String>,
}

/// What becomes of a delivery after a try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    Delivered,
    RetryAt(i64),
    Failed,
}

/// Records the try and its consequence, if `owner` still holds the lease
/// (false otherwise, and nothing is written).
pub async fn record_attempt(
    store: &Store,
    delivery_id: i64,
    owner: &str,
    attempt: &Attempt,
    after: After,
) -> Result<bool, sqlx::Error> {
    let error = attempt.error.as_deref().map(error_text::sanitise);
    let (status, next, delivered_at) = match after {
        After::Delivered => (status::DELIVERED, attempt.at, Some(attempt.at)),
        After::RetryAt(at) => (status::QUEUED, at, None),
        After::Failed => (status::FAILED, attempt.at, None),
    };
    let mut tx = store.begin().await?;
    let kept = sqlx::query(
        "UPDATE webhook_deliveries SET status = $1, next_attempt_at = $2, last_status = $3, \
         last_error = $4, delivered_at = $5, lease_owner = NULL, lease_until = NULL \
         WHERE id = $6 AND lease_owner = $7 AND status = 'queued'",
    )
    .bind(status)
    .bind(next)
    .bind(attempt.status_code.map(i64::from))
    .bind(error.as_deref())
    .bind(delivered_at)
    .bind(delivery_id)
    .bind(owner)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if !kept {
        tx.rollback().await?;
        return Ok(false);
    }
    sqlx::query(
        "INSERT INTO webhook_attempts (delivery_id, attempted_at, duration_ms, status_code, \
         error) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(delivery_id)
    .bind(attempt.at)
    .bind(attempt.duration_ms)
    .bind(attempt.status_code.map(i64::from))
    .bind(error.as_deref())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// A delivery as the Activity screen lists it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeliveryRow {
    pub id: i64,
    pub endpoint_id: i64,
    pub url: String,
    pub event_id: String,
    pub topic: String,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub created_at: i64,
    pub delivered_at: Option<i64>,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AttemptRow {
    pub delivery_id: i64,
    pub attempted_at: i64,
    pub duration_ms: i64,
    pub status_code: Option<i64>,
    pub error: Option<String>,
}

const DELIVERY_COLUMNS: &str = "d.id, d.endpoint_id, w.url, d.event_id, d.topic, d.status, \
    d.attempts, d.next_attempt_at, d.created_at, d.delivered_at, d.last_status, d.last_error";

/// The shop's latest deliveries (newest first), with their tries.
pub async fn list_deliveries(
    conn: &mut AnyConnection,
    shop_id: i64,
    limit: i64,
) -> Result<Vec<(DeliveryRow, Vec<AttemptRow>)>, sqlx::Error> {
    let rows: Vec<DeliveryRow> = sqlx::query_as(&format!(
        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d \
         JOIN webhook_endpoints w ON w.id = d.endpoint_id \
         WHERE d.shop_id = $1 ORDER BY d.id DESC LIMIT $2"
    ))
    .bind(shop_id)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    let Some(oldest) = rows.last().map(|r| r.id) else {
        return Ok(Vec::new());
    };
    let attempts: Vec<AttemptRow> = sqlx::query_as(
        "SELECT a.delivery_id, a.attempted_at, a.duration_ms, a.status_code, a.error \
         FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id \
         WHERE d.shop_id = $1 AND d.id >= $2 ORDER BY a.id",
    )
    .bind(shop_id)
    .bind(oldest)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let tries = attempts
                .iter()
                .filter(|a| a.delivery_id == row.id)
                .cloned()
                .collect();
            (row, tries)
        })
        .collect())
}

/// The shop's delivery `id`, with its tries.
pub async fn find_delivery(
    conn: &mut AnyConnection,
    shop_id: i64,
    id: i64,
) -> Result<Option<(DeliveryRow, Vec<AttemptRow>)>, sqlx::Error> {
    let row: Option<DeliveryRow> = sqlx::query_as(&format!(
        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d \
         JOIN webhook_endpoints w ON w.id = d.endpoint_id \
         WHERE d.shop_id = $1 AND d.id = $2"
    ))
    .bind(shop_id)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let attempts = sqlx::query_as(
        "SELECT delivery_id, attempted_at, duration_ms, status_code, error \
         FROM webhook_attempts WHERE delivery_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(conn)
    .await?;
    Ok(Some((row, attempts)))
}

/// The merchant's resend: the delivery is queued again at once, and tried
/// for another [`RETRY_FOR_MS`]. False when the shop has no such delivery,
/// it is queued already, or its endpoint is disabled.
pub async fn resend(
    conn: &mut AnyConnection,
    shop_id: i64,
    id: i64,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE webhook_deliveries SET status = 'queued', next_attempt_at = $1, \
         retry_until = $2, delivered_at = NULL, lease_owner = NULL, lease_until = NULL \
         WHERE id = $3 AND shop_id = $4 AND status <> 'queued' AND endpoint_id IN \
             (SELECT id FROM webhook_endpoints WHERE shop_id = $4 AND disabled_at IS NULL)",
    )
    .bind(now)
    .bind(now + RETRY_FOR_MS)
    .bind(id)
    .bind(shop_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// customers/redact: the customer's deliveries and their tries are
/// deleted, whatever their status.
pub async fn redact_customer(
    conn: &mut AnyConnection,
    shop_id: i64,
    customer_id: i64,
) -> Result<u64, sqlx::Error> {
    let key = customer_ordering(customer_id);
    sqlx::query(
        "DELETE FROM webhook_attempts WHERE delivery_id IN \
         (SELECT id FROM webhook_deliveries WHERE shop_id = $1 AND ordering_key = $2)",
    )
    .bind(shop_id)
    .bind(&key)
    .execute(&mut *conn)
    .await?;
    Ok(
        sqlx::query("DELETE FROM webhook_deliveries WHERE shop_id = $1 AND ordering_key = $2")
            .bind(shop_id)
            .bind(&key)
            .execute(conn)
            .await?
            .rows_affected(),
    )
}

/// Deletes deliveries delivered, or given up on, before `before`, with
/// their tries.
pub async fn purge_delivered(store: &Store, before: i64) -> Result<u64, sqlx::Error> {
    let mut tx = store.begin().await?;
    sqlx::query(
        "DELETE FROM webhook_attempts WHERE delivery_id IN (SELECT id FROM webhook_deliveries \
         WHERE status <> 'queued' AND created_at < $1 AND next_attempt_at < $1)",
    )
    .bind(before)
    .execute(&mut *tx)
    .await?;
    let gone = sqlx::query(
        "DELETE FROM webhook_deliveries WHERE status <> 'queued' AND created_at < $1 \
         AND next_attempt_at < $1",
    )
    .bind(before)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(gone)
}

/// Every endpoint's sealed secret with its shop (for a key rotation).
pub async fn sealed_secrets(
    conn: &mut AnyConnection,
) -> Result<Vec<(i64, String, Vec<u8>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT w.id, s.domain, w.secret_enc FROM webhook_endpoints w \
         JOIN shops s ON s.id = w.shop_id ORDER BY w.id",
    )
    .fetch_all(conn)
    .await
}

/// Stores an endpoint's secret sealed anew.
pub async fn reseal_secret(
    conn: &mut AnyConnection,
    id: i64,
    sealed: &[u8],
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE webhook_endpoints SET secret_enc = $1 WHERE id = $2")
        .bind(sealed)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}
