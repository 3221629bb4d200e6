//! The webhook inbox: every verified delivery, stored before Shopify is
//! answered, then claimed and processed by [`crate::jobs::inbox`].
//!
//! Invariants: `(shop_domain, delivery_key)` is unique, so a redelivery is a
//! no-op; a row is claimed by setting `lease_owner`/`lease_until`, and only
//! its lease owner may finish it (`WHERE lease_owner = $n`), so a worker that
//! lost its lease cannot commit a second result. Bodies are cleared when a row
//! is done: its effect lives in the domain tables from then on.
//!
//! Bodies are stored LZ4-compressed ([`StoredBody`]): webhook JSON shrinks
//! three- to fivefold, and every byte not written is a byte the commit does
//! not have to make durable.

use sqlx::{AnyConnection, Row};

use super::{now_ms, values_placeholders, values_placeholders_from, Dialect, Store};

/// Queue states of a row.
pub mod status {
    /// Waiting for (or leased to) a worker.
    pub const QUEUED: &str = "queued";
    /// Handled; its effect is committed.
    pub const DONE: &str = "done";
    /// Nothing to do (unknown topic, uninstalled shop); kept for the record.
    pub const IGNORED: &str = "ignored";
    /// Kept for a handler that does not exist yet; requeued when it does.
    pub const HELD: &str = "held";
    /// Dead letter: could not be processed; visible and retryable.
    pub const FAILED: &str = "failed";
}

/// A body as stored: LZ4 block with its length in front; empty once cleared.
/// A body read back from a journal record that holds it as it arrived
/// ([`StoredBody::uncompressed`]; see [`super::landing`]) is compressed by
/// the journal's mover before it reaches the inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBody {
    bytes: Vec<u8>,
    compressed: bool,
}

impl StoredBody {
    pub fn compress(raw: &[u8]) -> Self {
        Self {
            bytes: lz4_flex::compress_prepend_size(raw),
            compressed: true,
        }
    }

    /// A body as it arrived, to be compressed before it is stored.
    pub fn uncompressed(raw: Vec<u8>) -> Self {
        Self {
            bytes: raw,
            compressed: false,
        }
    }

    /// The body as Shopify sent it.
    pub fn decompress(stored: &[u8]) -> Result<Vec<u8>, String> {
        if stored.is_empty() {
            return Ok(Vec::new());
        }
        lz4_flex::decompress_size_prepended(stored)
            .map_err(|e| format!("stored body is corrupt: {e}"))
    }

    /// A body as it was stored (already compressed).
    pub fn from_stored(stored: Vec<u8>) -> Self {
        Self {
            bytes: stored,
            compressed: true,
        }
    }

    /// The bytes as held: compressed, or as they arrived (see
    /// [`Self::is_compressed`]).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn is_compressed(&self) -> bool {
        self.compressed
    }

    /// The body compressed, as the inbox stores it.
    pub fn into_compressed(self) -> Self {
        if self.compressed {
            self
        } else {
            Self::compress(&self.bytes)
        }
    }

    /// The bytes the inbox stores: compressed, here if not before.
    fn stored(&self) -> std::borrow::Cow<'_, [u8]> {
        if self.compressed {
            std::borrow::Cow::Borrowed(&self.bytes)
        } else {
            std::borrow::Cow::Owned(lz4_flex::compress_prepend_size(&self.bytes))
        }
    }
}

/// A verified delivery on its way into the inbox.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub shop_domain: String,
    pub delivery_key: String,
    pub webhook_id: Option<String>,
    pub event_id: Option<String>,
    pub topic: String,
    pub api_version: Option<String>,
    pub triggered_at: Option<String>,
    pub body: StoredBody,
    pub received_at: i64,
    /// The HTTP request that carried it, for following it through the logs.
    pub request_id: Option<String>,
}

const INSERT_COLUMNS: usize = 12;
/// Rows per INSERT statement on SQLite, well inside its parameter limit.
const INSERT_CHUNK: usize = 256;

/// Inserts a batch; deliveries already present (same shop and key) are
/// skipped. Returns how many rows were new.
///
/// On PostgreSQL a batch is one statement with two parameters, whatever
/// its size ([`INSERT_FROM_JSON`]; more only past [`ONE_STATEMENT_BYTES`]
/// of bodies): the rows' fields travel as a small JSON array that
/// `json_to_recordset` expands on the server, the bodies as one `bytea`
/// the rows point into. The statement's text never changes, so each
/// connection prepares it once, and a batch is one round trip with no
/// per-row binding or parsing of bodies. On SQLite, multi-row `VALUES`,
/// with the bodies kept apart ([`insert_apart`]).
pub async fn insert_deliveries(
    conn: &mut AnyConnection,
    dialect: Dialect,
    batch: &[NewDelivery],
) -> Result<u64, sqlx::Error> {
    let mut inserted = 0;
    if dialect == Dialect::Postgres {
        for part in statements(batch) {
            let (rows, bodies) = deliveries_json(part);
            inserted += sqlx::query(INSERT_FROM_JSON)
                .bind(rows)
                .bind(bodies)
                .execute(&mut *conn)
                .await?
                .rows_affected();
        }
        return Ok(inserted);
    }
    for chunk in batch.chunks(INSERT_CHUNK) {
        inserted += insert_apart(conn, chunk).await?;
    }
    Ok(inserted)
}

/// SQLite: inserts `chunk` with empty bodies and keeps the new rows'
/// bodies apart, in `webhook_bodies` (migration 0032). A claim and a
/// finish each rewrite the inbox row whole; with its body elsewhere that
/// is a few dozen bytes, not the body's kilobytes written to the log and
/// checkpointed twice more. The body is written once, and deleted when
/// the row is done ([`delete_bodies_apart`]).
async fn insert_apart(conn: &mut AnyConnection, chunk: &[NewDelivery]) -> Result<u64, sqlx::Error> {
    use sqlx::Row;
    let sql = format!(
        "{} RETURNING id, shop_domain, delivery_key",
        insert_sql(Dialect::Sqlite, chunk.len())
    );
    let rows = bind_deliveries(sqlx::query(&sql), chunk)
        .fetch_all(&mut *conn)
        .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    // A row returned is the first of its shop and key in the chunk (a
    // later one was a conflict); RETURNING's order is not the chunk's.
    let mut first = std::collections::HashMap::with_capacity(chunk.len());
    for d in chunk {
        first
            .entry((d.shop_domain.as_str(), d.delivery_key.as_str()))
            .or_insert(d);
    }
    let mut kept = Vec::with_capacity(rows.len());
    for row in &rows {
        let id: i64 = row.try_get("id")?;
        let shop: &str = row.try_get("shop_domain")?;
        let key: &str = row.try_get("delivery_key")?;
        let Some(d) = first.get(&(shop, key)) else {
            return Err(sqlx::Error::Protocol(
                "the inbox returned a row it was not given".into(),
            ));
        };
        kept.push((id, d.body.stored()));
    }
    let sql = format!(
        "INSERT INTO webhook_bodies (id, body) VALUES {}",
        values_placeholders(Dialect::Sqlite, kept.len(), 2)
    );
    let mut query = sqlx::query(&sql);
    for (id, body) in &kept {
        query = query.bind(*id).bind(body.as_ref());
    }
    query.execute(&mut *conn).await?;
    Ok(rows.len() as u64)
}

/// PostgreSQL: most bytes of bodies sent in one statement, well under the
/// 1 GB a value may hold. Webhook bodies are kilobytes and a batch a few
/// hundred of them, so in practice every batch is one statement.
const ONE_STATEMENT_BYTES: usize = 256 * 1024 * 1024;

/// True when [`insert_deliveries`] stores `batch` in one statement, which
/// commits atomically on its own (PostgreSQL); otherwise the caller wraps
/// it in a transaction.
pub fn is_one_statement(dialect: Dialect, batch: &[NewDelivery]) -> bool {
    dialect == Dialect::Postgres && statements(batch).count() <= 1
}

/// The batch cut where its bodies pass [`ONE_STATEMENT_BYTES`].
fn statements(batch: &[NewDelivery]) -> impl Iterator<Item = &[NewDelivery]> {
    let mut rest = batch;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut bytes = 0;
        let take = rest
            .iter()
            .position(|d| {
                bytes += d.body.as_bytes().len();
                bytes > ONE_STATEMENT_BYTES
            })
            .unwrap_or(rest.len())
            .max(1);
        let (part, after) = rest.split_at(take);
        rest = after;
        Some(part)
    })
}

/// PostgreSQL: a batch of deliveries from one JSON array of their fields
/// and one `bytea` of their bodies end to end ([`deliveries_json`]). A
/// function scan yields the array in order, so ids follow it.
const INSERT_FROM_JSON: &str = "INSERT INTO webhook_inbox (shop_domain, delivery_key, \
     webhook_id, event_id, topic, api_version, triggered_at, body, received_at, status, \
     available_at, request_id) \
     SELECT d.s, d.k, d.w, d.e, d.t, d.v, d.g, substring($2 FROM d.o + 1 FOR d.l), d.r, \
         'queued', d.r, d.q \
     FROM json_to_recordset($1::json) \
         AS d(s text, k text, w text, e text, t text, v text, g text, o int, l int, r bigint, \
              q text) \
     ON CONFLICT (shop_domain, delivery_key) DO NOTHING";

/// One delivery as [`INSERT_FROM_JSON`] reads it: short keys, and where
/// its body is in the bodies (offset and length).
#[derive(serde::Serialize)]
struct JsonRow<'a> {
    s: &'a str,
    k: &'a str,
    w: Option<&'a str>,
    e: Option<&'a str>,
    t: &'a str,
    v: Option<&'a str>,
    g: Option<&'a str>,
    o: usize,
    l: usize,
    r: i64,
    q: Option<&'a str>,
}

/// The batch as [`INSERT_FROM_JSON`] reads it: the rows, and the bodies.
fn deliveries_json(batch: &[NewDelivery]) -> (String, Vec<u8>) {
    let mut bodies = Vec::with_capacity(batch.iter().map(|d| d.body.as_bytes().len()).sum());
    let rows: Vec<JsonRow<'_>> = batch
        .iter()
        .map(|d| {
            let o = bodies.len();
            bodies.extend_from_slice(&d.body.stored());
            JsonRow {
                s: &d.shop_domain,
                k: &d.delivery_key,
                w: d.webhook_id.as_deref(),
                e: d.event_id.as_deref(),
                t: &d.topic,
                v: d.api_version.as_deref(),
                g: d.triggered_at.as_deref(),
                o,
                l: bodies.len() - o,
                r: d.received_at,
                q: d.request_id.as_deref(),
            }
        })
        .collect();
    let rows = serde_json::to_string(&rows).expect("a list of strings and numbers serialises");
    (rows, bodies)
}

/// SQLite: a multi-row insert of deliveries into the inbox; a delivery
/// already there (same shop and key) is skipped.
fn insert_sql(dialect: Dialect, rows: usize) -> String {
    format!(
        "INSERT INTO webhook_inbox (shop_domain, delivery_key, webhook_id, event_id, topic, \
         api_version, triggered_at, body, received_at, status, available_at, request_id) \
         VALUES {} ON CONFLICT (shop_domain, delivery_key) DO NOTHING",
        values_placeholders(dialect, rows, INSERT_COLUMNS)
    )
}

/// Binds `deliveries` to [`insert_sql`]'s placeholders, each row's own
/// body empty: SQLite keeps it apart ([`insert_apart`]).
fn bind_deliveries<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    deliveries: &'q [NewDelivery],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for d in deliveries {
        query = query
            .bind(d.shop_domain.as_str())
            .bind(d.delivery_key.as_str())
            .bind(d.webhook_id.as_deref())
            .bind(d.event_id.as_deref())
            .bind(d.topic.as_str())
            .bind(d.api_version.as_deref())
            .bind(d.triggered_at.as_deref())
            .bind(&b""[..])
            .bind(d.received_at)
            .bind(status::QUEUED)
            .bind(d.received_at)
            .bind(d.request_id.as_deref());
    }
    query
}

/// A row claimed by a worker.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClaimedDelivery {
    pub id: i64,
    pub shop_domain: String,
    pub delivery_key: String,
    pub topic: String,
    pub triggered_at: Option<String>,
    /// As stored (compressed); see [`StoredBody::decompress`].
    pub body: Vec<u8>,
    /// Claims so far, this one included.
    pub attempts: i64,
    /// The HTTP request that stored it.
    pub request_id: Option<String>,
}

/// A row's body, as an expression over `webhook_inbox`: the one kept
/// apart in `webhook_bodies` when there is one, else the row's own (see
/// migration 0032). Every reader of bodies goes through it, and every
/// writer that clears or replaces a body also deletes the one kept apart
/// ([`delete_bodies_apart`]).
const BODY: &str = "COALESCE((SELECT b.body FROM webhook_bodies b WHERE b.id = webhook_inbox.id), \
     webhook_inbox.body)";

/// Deletes the bodies kept apart for rows `ids`, in the transaction that
/// clears or replaces those rows' own (the bench's processing floor too). The ids travel as one JSON array, so
/// the statement's text is the same whatever their number: prepared once
/// per connection, not once per length of an `IN` list, where it would
/// push the engine's own statements out of the connection's cache.
pub async fn delete_bodies_apart(conn: &mut AnyConnection, ids: &[i64]) -> Result<(), sqlx::Error> {
    if ids.is_empty() {
        return Ok(());
    }
    let sql = match Dialect::of(conn) {
        Dialect::Sqlite => {
            "DELETE FROM webhook_bodies WHERE id IN (SELECT value FROM json_each($1))"
        }
        Dialect::Postgres => {
            "DELETE FROM webhook_bodies WHERE id IN \
             (SELECT CAST(value AS BIGINT) FROM json_array_elements_text(CAST($1 AS json)))"
        }
    };
    let ids = serde_json::to_string(ids).expect("a list of numbers serialises");
    sqlx::query(sql).bind(ids).execute(conn).await?;
    Ok(())
}

/// Leases up to `limit` ready rows to `owner` until `lease_until`. Run it
/// in the transaction that processes the rows: on PostgreSQL the claimed
/// rows stay locked (other workers skip them) until it ends, and if the
/// process dies the claim rolls back with everything else.
pub async fn claim(
    conn: &mut AnyConnection,
    dialect: Dialect,
    owner: &str,
    lease_until: i64,
    limit: i64,
) -> Result<Vec<ClaimedDelivery>, sqlx::Error> {
    let sql = format!(
        "UPDATE webhook_inbox SET lease_owner = $1, lease_until = $2, attempts = attempts + 1 \
         WHERE id IN (SELECT id FROM webhook_inbox \
             WHERE status = 'queued' AND available_at <= $3 \
               AND (lease_until IS NULL OR lease_until < $3) \
             ORDER BY available_at, id LIMIT $4 {}) \
         RETURNING id, shop_domain, delivery_key, topic, triggered_at, {BODY} AS body, attempts, \
             request_id",
        dialect.skip_locked()
    );
    let mut rows: Vec<ClaimedDelivery> = sqlx::query_as(&sql)
        .bind(owner)
        .bind(lease_until)
        .bind(now_ms())
        .bind(limit)
        .fetch_all(conn)
        .await?;
    rows.sort_by_key(|r| r.id);
    Ok(rows)
}

/// [`claim`], without a sync of its own on SQLite. A claim rewrites each
/// row with its body, so its commit's sync is one of the largest a batch
/// makes, and it protects nothing: the lease is only a lease. What the
/// claimed rows become is committed later with a full sync, which also
/// makes this commit durable (the log is synced whole); a claim lost to a
/// power cut leaves its rows to be claimed again, one try uncounted.
/// The connection's `synchronous = FULL` is restored before it goes back to
/// the pool; when that fails, or the call is cut short, the connection is
/// closed, not reused.
pub async fn claim_unsynced(
    conn: &mut sqlx::pool::PoolConnection<sqlx::Any>,
    dialect: Dialect,
    owner: &str,
    lease_until: i64,
    limit: i64,
) -> Result<Vec<ClaimedDelivery>, sqlx::Error> {
    if dialect != Dialect::Sqlite {
        return claim(conn, dialect, owner, lease_until, limit).await;
    }
    let mut unsynced = Unsynced::start(conn).await?;
    let claimed = claim(unsynced.conn(), dialect, owner, lease_until, limit).await;
    unsynced.end().await?;
    claimed
}

/// A SQLite writer connection whose commits do not sync the log
/// (`synchronous = NORMAL`), for commits that a later synced one makes
/// durable (the log is synced whole). The connection is closed rather than
/// reused unless `synchronous = FULL` is back ([`Self::end`]), even when
/// the future using it is dropped halfway.
pub(crate) struct Unsynced<'c> {
    conn: &'c mut sqlx::pool::PoolConnection<sqlx::Any>,
    restored: bool,
}

impl<'c> Unsynced<'c> {
    pub(crate) async fn start(
        conn: &'c mut sqlx::pool::PoolConnection<sqlx::Any>,
    ) -> Result<Self, sqlx::Error> {
        let unsynced = Self {
            conn,
            restored: false,
        };
        sqlx::query("PRAGMA synchronous = NORMAL")
            .execute(&mut **unsynced.conn)
            .await?;
        Ok(unsynced)
    }

    pub(crate) fn conn(&mut self) -> &mut AnyConnection {
        self.conn
    }

    /// Restores `synchronous = FULL`.
    pub(crate) async fn end(mut self) -> Result<(), sqlx::Error> {
        sqlx::query("PRAGMA synchronous = FULL")
            .execute(&mut **self.conn)
            .await?;
        self.restored = true;
        Ok(())
    }
}

impl Drop for Unsynced<'_> {
    fn drop(&mut self) {
        if !self.restored {
            self.conn.close_on_drop();
        }
    }
}

/// What a finished row keeps.
#[derive(Debug, Clone)]
pub struct Finish<'a> {
    /// One of [`status`]'s final states.
    pub status: &'static str,
    /// Why it was ignored, held or failed.
    pub note: Option<&'a str>,
    /// What becomes of the body.
    pub body: KeepBody,
    /// The customer and order the delivery concerns, for redaction.
    pub customer_id: Option<i64>,
    pub order_id: Option<i64>,
}

/// The body of a finished row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeepBody {
    /// Cleared: the row's effect is committed elsewhere.
    Clear,
    /// Kept as received: the row may be processed again.
    Keep,
    /// Kept, but with personal data taken out (a redacted customer's row).
    Replace(StoredBody),
}

/// Finishes a claimed row inside the transaction that holds its effect.
/// Returns false when `owner` no longer holds the lease: the caller must then
/// roll back, since another worker owns the row.
pub async fn finish(
    conn: &mut AnyConnection,
    id: i64,
    owner: &str,
    finish: Finish<'_>,
) -> Result<bool, sqlx::Error> {
    let body_clause = if finish.body == KeepBody::Keep {
        ""
    } else {
        ", body = $8"
    };
    let sql = format!(
        "UPDATE webhook_inbox SET status = $1, last_error = $2, customer_id = $3, order_id = $4, \
         processed_by = lease_owner, processed_at = $5, lease_owner = NULL, lease_until = NULL{body_clause} \
         WHERE id = $6 AND lease_owner = $7"
    );
    let mut query = sqlx::query(&sql)
        .bind(finish.status)
        .bind(finish.note)
        .bind(finish.customer_id)
        .bind(finish.order_id)
        .bind(now_ms())
        .bind(id)
        .bind(owner);
    let keep = finish.body == KeepBody::Keep;
    match finish.body {
        KeepBody::Keep => {}
        KeepBody::Clear => query = query.bind(Vec::<u8>::new()),
        KeepBody::Replace(body) => query = query.bind(body.into_compressed().bytes),
    }
    if query.execute(&mut *conn).await?.rows_affected() != 1 {
        return Ok(false);
    }
    if !keep {
        delete_bodies_apart(conn, &[id]).await?;
    }
    Ok(true)
}

/// Rows per bulk finish statement.
const FINISH_CHUNK: usize = 128;

/// Finishes many claimed rows in one statement per chunk (rows whose
/// handling wrote nothing else, so there is nothing to undo if a lease was
/// lost). Returns how many rows this owner still held and finished.
pub async fn finish_many(
    conn: &mut AnyConnection,
    dialect: Dialect,
    owner: &str,
    rows: &[(i64, Finish<'_>)],
) -> Result<u64, sqlx::Error> {
    let now = now_ms();
    let mut finished = 0;
    for chunk in rows.chunks(FINISH_CHUNK) {
        // Parameters in text order: now, the values, the owner.
        let sql = format!(
            "UPDATE webhook_inbox SET status = v.column2, last_error = v.column3, \
             customer_id = v.column4, order_id = v.column5, \
             body = CASE WHEN v.column6 = 1 THEN webhook_inbox.body ELSE v.column7 END, \
             processed_by = webhook_inbox.lease_owner, processed_at = {now}, \
             lease_owner = NULL, lease_until = NULL \
             FROM (VALUES {values}) AS v \
             WHERE webhook_inbox.id = v.column1 AND webhook_inbox.lease_owner = {owner}",
            now = match dialect {
                Dialect::Sqlite => "?".to_owned(),
                Dialect::Postgres => "$1".to_owned(),
            },
            values = values_placeholders_from(dialect, chunk.len(), 7, 2),
            owner = match dialect {
                Dialect::Sqlite => "?".to_owned(),
                Dialect::Postgres => format!("${}", 2 + chunk.len() * 7),
            },
        );
        let mut query = sqlx::query(&sql).bind(now);
        for (id, finish) in chunk {
            let (keep, body) = match &finish.body {
                KeepBody::Keep => (1_i64, Vec::new()),
                KeepBody::Clear => (0, Vec::new()),
                KeepBody::Replace(body) => (0, body.stored().into_owned()),
            };
            query = query
                .bind(*id)
                .bind(finish.status)
                .bind(finish.note)
                .bind(finish.customer_id)
                .bind(finish.order_id)
                .bind(keep)
                .bind(body);
        }
        finished += query.bind(owner).execute(&mut *conn).await?.rows_affected();
    }
    let cleared: Vec<i64> = rows
        .iter()
        .filter(|(_, finish)| finish.body != KeepBody::Keep)
        .map(|(id, _)| *id)
        .collect();
    delete_bodies_apart(conn, &cleared).await?;
    Ok(finished)
}

/// Gives a row back after a transient failure, to be tried at `retry_at`.
pub async fn reschedule(
    conn: &mut AnyConnection,
    id: i64,
    owner: &str,
    retry_at: i64,
    error: &str,
) -> Result<bool, sqlx::Error> {
    super::reschedule_leased(conn, super::Queue::Inbox, id, owner, retry_at, error).await
}

/// Makes a row a dead letter, keeping its body for a later retry.
pub async fn fail(
    conn: &mut AnyConnection,
    id: i64,
    owner: &str,
    error: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE webhook_inbox SET status = 'failed', last_error = $1, processed_by = lease_owner, \
         processed_at = $2, lease_owner = NULL, lease_until = NULL WHERE id = $3 AND lease_owner = $4",
    )
    .bind(crate::error_text::sanitise(error))
    .bind(now_ms())
    .bind(id)
    .bind(owner)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Replaces a row's kept body (one about a redacted customer or order,
/// scrubbed), in the transaction that fails or reschedules the row.
pub async fn replace_body(
    conn: &mut AnyConnection,
    id: i64,
    body: &StoredBody,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE webhook_inbox SET body = $1 WHERE id = $2")
        .bind(body.as_bytes())
        .bind(id)
        .execute(&mut *conn)
        .await?;
    delete_bodies_apart(conn, &[id]).await
}

/// Gives an idle worker's leases back at once (on shutdown), instead of
/// letting them run out.
pub async fn release_leases(store: &Store, owner: &str) -> Result<u64, sqlx::Error> {
    super::release_queue_leases(store, "webhook_inbox", owner).await
}

/// Puts a dead letter of this shop back in the queue (the merchant's retry).
/// Returns false when there is no such failed row for the shop.
pub async fn retry_failed(store: &Store, shop_domain: &str, id: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE webhook_inbox SET status = 'queued', attempts = 0, available_at = $1, \
         last_error = NULL WHERE id = $2 AND shop_domain = $3 AND status = 'failed'",
    )
    .bind(now_ms())
    .bind(id)
    .bind(shop_domain)
    .execute(store.writer())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Requeues every held row of `topics` (when their handler arrives).
pub async fn release_held(store: &Store, topics: &[&str]) -> Result<u64, sqlx::Error> {
    let mut total = 0;
    for topic in topics {
        total += sqlx::query(
            "UPDATE webhook_inbox SET status = 'queued', available_at = $1 \
             WHERE status = 'held' AND topic = $2",
        )
        .bind(now_ms())
        .bind(*topic)
        .execute(store.writer())
        .await?
        .rows_affected();
    }
    Ok(total)
}

/// A dead letter as the merchant sees it.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct FailedDelivery {
    pub id: i64,
    pub topic: String,
    pub delivery_key: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub received_at: i64,
}

/// The shop's dead letters, newest first.
pub async fn list_failed(
    store: &Store,
    shop_domain: &str,
    limit: i64,
) -> Result<Vec<FailedDelivery>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, topic, delivery_key, attempts, last_error, received_at FROM webhook_inbox \
         WHERE shop_domain = $1 AND status = 'failed' ORDER BY id DESC LIMIT $2",
    )
    .bind(shop_domain)
    .bind(limit)
    .fetch_all(store.reader())
    .await
}

/// Kept bodies read at once while looking for a redacted customer's.
const REDACT_PAGE: i64 = 200;

/// customers/redact: runs `scrub` over every body this shop still keeps
/// (queued, held, failed; all but row `except_id`, the request itself),
/// whoever they were recorded for: `scrub(topic, body)` answers the body to
/// keep instead when the body concerns the customer. A stored body that
/// does not decompress cannot be sorted, so it becomes `unreadable`. Such a
/// row's `last_error` is sanitised again, in case it was written before
/// texts were. Returns how many rows changed.
pub async fn redact_bodies(
    conn: &mut AnyConnection,
    shop_domain: &str,
    except_id: i64,
    unreadable: &[u8],
    scrub: impl Fn(&str, &[u8]) -> Option<Vec<u8>>,
) -> Result<u64, sqlx::Error> {
    let mut changed = 0;
    let mut after = 0_i64;
    loop {
        let sql = format!(
            "SELECT id, topic, body, last_error FROM (SELECT id, topic, {BODY} AS body, \
             last_error FROM webhook_inbox WHERE shop_domain = $1 AND id > $2 AND id <> $3 \
             AND status <> 'done') AS kept WHERE LENGTH(body) > 0 ORDER BY id LIMIT $4"
        );
        let rows = sqlx::query(&sql)
            .bind(shop_domain)
            .bind(after)
            .bind(except_id)
            .bind(REDACT_PAGE)
            .fetch_all(&mut *conn)
            .await?;
        let Some(last) = rows.last() else {
            return Ok(changed);
        };
        after = last.try_get("id")?;
        let mut scrubbed_ids = Vec::new();
        for row in &rows {
            let topic: String = row.try_get("topic")?;
            let stored: Vec<u8> = row.try_get("body")?;
            let scrubbed = match StoredBody::decompress(&stored) {
                Ok(raw) => match scrub(&topic, &raw) {
                    Some(scrubbed) => scrubbed,
                    None => continue,
                },
                // Whom it concerns cannot be told, and its bytes may hold
                // the customer's data in any shape: nothing of it is kept.
                Err(_) => unreadable.to_vec(),
            };
            let last_error: Option<String> = row.try_get("last_error")?;
            let id: i64 = row.try_get("id")?;
            sqlx::query("UPDATE webhook_inbox SET body = $1, last_error = $2 WHERE id = $3")
                .bind(StoredBody::compress(&scrubbed).bytes)
                .bind(last_error.as_deref().map(crate::error_text::sanitise))
                .bind(id)
                .execute(&mut *conn)
                .await?;
            scrubbed_ids.push(id);
            changed += 1;
        }
        delete_bodies_apart(conn, &scrubbed_ids).await?;
    }
}

/// Deletes every inbox row of a shop but `keep_id` (shop/redact).
pub async fn delete_for_shop(
    conn: &mut AnyConnection,
    shop_domain: &str,
    keep_id: i64,
) -> Result<u64, sqlx::Error> {
    sqlx::query(
        "DELETE FROM webhook_bodies WHERE id IN \
         (SELECT id FROM webhook_inbox WHERE shop_domain = $1 AND id <> $2)",
    )
    .bind(shop_domain)
    .bind(keep_id)
    .execute(&mut *conn)
    .await?;
    Ok(
        sqlx::query("DELETE FROM webhook_inbox WHERE shop_domain = $1 AND id <> $2")
            .bind(shop_domain)
            .bind(keep_id)
            .execute(conn)
            .await?
            .rows_affected(),
    )
}

/// Deletes rows that are done or ignored and were finished before
/// `before` (epoch ms). Held, failed and queued rows are kept whatever their
/// age. Shopify redelivers within hours, so a retention of days keeps every
/// redelivery recognised.
pub async fn purge_finished(store: &Store, before: i64) -> Result<u64, sqlx::Error> {
    const FINISHED: &str = "status IN ('done', 'ignored') AND processed_at < $1";
    let mut tx = store.begin().await?;
    // Finishing deleted their bodies kept apart; any left go with them.
    sqlx::query(&format!(
        "DELETE FROM webhook_bodies WHERE id IN (SELECT id FROM webhook_inbox WHERE {FINISHED})"
    ))
    .bind(before)
    .execute(&mut *tx)
    .await?;
    let purged = sqlx::query(&format!("DELETE FROM webhook_inbox WHERE {FINISHED}"))
        .bind(before)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    tx.commit().await?;
    Ok(purged)
}

/// Deliveries of `shop_domain` still waiting to be processed (queued, or
/// claimed and not finished).
pub async fn unfinished(store: &Store, shop_domain: &str) -> anyhow::Result<i64> {
    // The mark in the same snapshot as the queued rows (see
    // [`super::landing::waiting_after`]).
    let sql = format!(
        "SELECT COUNT(*), {} FROM webhook_inbox WHERE shop_domain = $1 AND status = 'queued'",
        super::landing::MARK_COLUMNS
    );
    let (queued, segment, offset): (i64, i64, i64) = sqlx::query_as(&sql)
        .bind(shop_domain)
        .fetch_one(store.reader())
        .await?;
    let mark = super::landing::Position { segment, offset };
    let (landed, _) = super::landing::waiting_after(store, mark, Some(shop_domain)).await?;
    Ok(queued + landed)
}

/// A delivery for the store's tests: `orders/paid` to `shop` under `key`.
#[cfg(test)]
impl NewDelivery {
    pub(crate) fn for_test(shop: &str, key: &str, body: &[u8]) -> Self {
        Self {
            shop_domain: shop.into(),
            delivery_key: key.into(),
            webhook_id: Some(key.into()),
            event_id: None,
            topic: "orders/paid".into(),
            api_version: Some("2026-07".into()),
            triggered_at: None,
            body: StoredBody::compress(body),
            received_at: 1,
            request_id: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{claim_unsynced, insert_deliveries, NewDelivery, Unsynced};
    use crate::store::{DatabaseUrl, Dialect, Store};

    async fn open(dir: &tempfile::TempDir) -> Store {
        let url = DatabaseUrl::parse(format!(
            "sqlite://{}",
            dir.path().join("advocate.db").display()
        ))
        .unwrap();
        let store = Store::connect(&url, 2).await.unwrap();
        store.migrate().await.unwrap();
        store
    }

    fn delivery(key: &str) -> NewDelivery {
        let body = format!("{{\"id\":\"{key}\"}}");
        NewDelivery::for_test("inbox-test.myshopify.com", key, body.as_bytes())
    }

    /// The writer's `synchronous` setting (2: FULL).
    async fn synchronous(store: &Store) -> i64 {
        let mut conn = store.writer().acquire().await.unwrap();
        sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&mut *conn)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_claim_without_its_own_sync_leaves_the_writer_syncing_fully() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir).await;
        assert_eq!(synchronous(&store).await, 2);
        let mut conn = store.writer().acquire().await.unwrap();
        let batch = [delivery("a"), delivery("b")];
        insert_deliveries(&mut conn, Dialect::Sqlite, &batch)
            .await
            .unwrap();
        let claimed = claim_unsynced(&mut conn, Dialect::Sqlite, "me", i64::MAX, 10)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 2);
        drop(conn);
        assert_eq!(synchronous(&store).await, 2, "FULL again after a claim");

        // Cut short between the two settings (the claim's future dropped):
        // the connection is closed, and the next one syncs fully.
        let mut conn = store.writer().acquire().await.unwrap();
        sqlx::query("PRAGMA synchronous = NORMAL")
            .execute(&mut *conn)
            .await
            .unwrap();
        drop(Unsynced {
            conn: &mut conn,
            restored: false,
        });
        drop(conn);
        assert_eq!(synchronous(&store).await, 2, "not the NORMAL connection");
    }

    /// SQLite keeps each new row's body apart, the first of a shop and key
    /// in a batch; a duplicate, in the batch or later, stores nothing; a
    /// claim reads each row's own body back.
    #[tokio::test]
    async fn sqlite_keeps_each_new_body_apart_and_a_claim_reads_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir).await;
        let mut conn = store.writer().acquire().await.unwrap();
        let with_body = |key: &str, body: &str| {
            NewDelivery::for_test("inbox-test.myshopify.com", key, body.as_bytes())
        };
        // More than one statement's chunk, a duplicate inside the batch.
        let mut batch: Vec<NewDelivery> = (0..300)
            .map(|n| with_body(&format!("k{n}"), &format!("{{\"n\":{n}}}")))
            .collect();
        batch.insert(7, with_body("k3", "{\"n\":\"second k3\"}"));
        let new = insert_deliveries(&mut conn, Dialect::Sqlite, &batch)
            .await
            .unwrap();
        assert_eq!(new, 300);
        let again = [
            with_body("k5", "{\"n\":\"late k5\"}"),
            with_body("k300", "{}"),
        ];
        let new = insert_deliveries(&mut conn, Dialect::Sqlite, &again)
            .await
            .unwrap();
        assert_eq!(new, 1);
        let (rows, apart, empty): (i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM webhook_inbox), (SELECT COUNT(*) FROM webhook_bodies), \
             (SELECT COUNT(*) FROM webhook_inbox WHERE LENGTH(body) = 0)",
        )
        .fetch_one(&mut *conn)
        .await
        .unwrap();
        assert_eq!((rows, apart, empty), (301, 301, 301));
        let claimed = claim_unsynced(&mut conn, Dialect::Sqlite, "me", i64::MAX, 400)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 301);
        for row in claimed {
            let body = super::StoredBody::decompress(&row.body).unwrap();
            let n = row.delivery_key.trim_start_matches('k');
            let expected = if n == "300" {
                "{}".to_owned()
            } else {
                format!("{{\"n\":{n}}}")
            };
            assert_eq!(body, expected.as_bytes(), "{}", row.delivery_key);
        }
    }
}
