//! The points ledger. Invariants: append-only; a source key is unique per
//! shop, so one business fact moves points at most once; a customer's
//! `points_balance + points_pending` equals the sum of their entries, where
//! an entry still inside its pending period counts toward `points_pending`
//! until the period ends (see `engine::scheduled`). A clawback may take the
//! balance below zero (the points were already spent); a spend never can:
//! [`spend`] takes points only when the balance covers them. Every figure
//! lies within `loyalty::points::MAX_STORED` either way: an entry outside
//! it is refused here, and a balance the entry would take outside it is
//! refused by the database's CHECK constraints (migration 0014), so a
//! points figure can neither wrap nor turn into a REAL.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;
use sqlx::AnyConnection;

use super::{outbound, placeholder, placeholders, values_placeholders, Dialect};

use crate::loyalty::{
    points::{OutOfRange, Points},
    time::rfc3339,
};

/// An entry whose points lie outside the stored range: a deterministic
/// refusal (never retried), named without the figure.
fn out_of_range() -> sqlx::Error {
    sqlx::Error::Encode(Box::new(OutOfRange))
}

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct LedgerEntry {
    pub id: i64,
    pub points: i64,
    pub kind: String,
    pub reason: String,
    pub source_key: String,
    pub settings_version: Option<i64>,
    pub order_id: Option<i64>,
    pub actor: Option<String>,
    /// Until this time the points are pending (not spendable).
    pub spendable_at: Option<i64>,
    /// When the fact happened (an order's `processed_at`, a refund's
    /// `created_at`, a redemption's moment): what trends, periods, tier
    /// windows and expiry read.
    pub occurred_at: i64,
    /// When Advocate recorded the entry.
    pub created_at: i64,
}

pub async fn list_for_customer(
    conn: &mut AnyConnection,
    shop_id: i64,
    customer_id: i64,
) -> Result<Vec<LedgerEntry>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, points, kind, reason, source_key, settings_version, order_id, actor, \
         spendable_at, occurred_at, created_at FROM points_ledger \
         WHERE shop_id = $1 AND customer_id = $2 ORDER BY id",
    )
    .bind(shop_id)
    .bind(customer_id)
    .fetch_all(conn)
    .await
}

/// The customer's latest `limit` entries, newest first (by when they
/// happened).
pub async fn recent_for_customer(
    conn: &mut AnyConnection,
    shop_id: i64,
    customer_id: i64,
    limit: i64,
) -> Result<Vec<LedgerEntry>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, points, kind, reason, source_key, settings_version, order_id, actor, \
         spendable_at, occurred_at, created_at FROM points_ledger \
         WHERE shop_id = $1 AND customer_id = $2 ORDER BY occurred_at DESC, id DESC LIMIT $3",
    )
    .bind(shop_id)
    .bind(customer_id)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// A page of the customer's entries, newest first (by id), before the
/// entry `before` when given.
pub async fn page_for_customer(
    conn: &mut AnyConnection,
    shop_id: i64,
    customer_id: i64,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<LedgerEntry>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, points, kind, reason, source_key, settings_version, order_id, actor, \
         spendable_at, occurred_at, created_at FROM points_ledger \
         WHERE shop_id = $1 AND customer_id = $2 AND id < $3 ORDER BY id DESC LIMIT $4",
    )
    .bind(shop_id)
    .bind(customer_id)
    .bind(before.unwrap_or(i64::MAX))
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// A page of the shop's entries that happened in `[from, to)`, in the
/// order they happened (then by id), after the entry at `after`
/// (`(occurred_at, id)`) when given. Each with its customer.
pub async fn page_for_shop(
    conn: &mut AnyConnection,
    shop_id: i64,
    (from, to): (i64, i64),
    after: Option<(i64, i64)>,
    limit: i64,
) -> Result<Vec<(i64, LedgerEntry)>, sqlx::Error> {
    let (after_at, after_id) = after.unwrap_or((i64::MIN, i64::MIN));
    let rows: Vec<ShopEntry> = sqlx::query_as(
        "SELECT customer_id, id, points, kind, reason, source_key, settings_version, order_id, \
         actor, spendable_at, occurred_at, created_at FROM points_ledger \
         WHERE shop_id = $1 AND occurred_at >= $2 AND occurred_at < $3 \
         AND (occurred_at > $4 OR (occurred_at = $4 AND id > $5)) \
         ORDER BY occurred_at, id LIMIT $6",
    )
    .bind(shop_id)
    .bind(from)
    .bind(to)
    .bind(after_at)
    .bind(after_id)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.customer_id, r.entry)).collect())
}

#[derive(sqlx::FromRow)]
struct ShopEntry {
    customer_id: i64,
    #[sqlx(flatten)]
    entry: LedgerEntry,
}

/// The entry recorded for a source key, if any (to tell a retry from a
/// different request reusing its key).
pub async fn find_by_source_key(
    conn: &mut AnyConnection,
    shop_id: i64,
    source_key: &str,
) -> Result<Option<LedgerEntry>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, points, kind, reason, source_key, settings_version, order_id, actor, \
         spendable_at, occurred_at, created_at FROM points_ledger \
         WHERE shop_id = $1 AND source_key = $2",
    )
    .bind(shop_id)
    .bind(source_key)
    .fetch_optional(conn)
    .await
}

/// Entry kinds. Those marked activity reset the expiry clock.
pub mod kind {
    pub const EARN: &str = "earn";
    pub const CLAWBACK: &str = "clawback";
    pub const CANCEL: &str = "cancel";
    pub const REDEEM: &str = "redeem";
    pub const REFUND: &str = "refund";
    pub const ADJUSTMENT: &str = "adjustment";
    pub const SIGNUP: &str = "signup";
    pub const BIRTHDAY: &str = "birthday";
    /// The membership anniversary bonus, once a year.
    pub const ANNIVERSARY: &str = "anniversary";
    pub const TIER_ENTRY: &str = "tier_entry";
    pub const REFERRAL: &str = "referral";
    pub const EXPIRY: &str = "expiry";
    /// The bonus for answering the post-purchase survey (once per order).
    pub const NPS: &str = "nps";
    /// The win-back offer's bonus points (`engine::winback`). Activity: a
    /// bonus for a long-inactive customer must not expire at once.
    pub const WINBACK: &str = "winback";
    /// A balance carried over from another loyalty program (a members
    /// import). Activity: carried-over points must not expire at once.
    pub const IMPORT: &str = "import";
    /// An earning action (`engine::activities`): a review, a newsletter
    /// signup, a social follow or share, a custom action.
    pub const ACTIVITY: &str = "activity";
    /// An earning action reversed by the merchant: its points taken back.
    pub const ACTIVITY_REVERSAL: &str = "activity_reversal";

    /// Kinds that count as the customer's activity for expiry: earning or
    /// spending points, as loyalty programs commonly define it. Clawbacks,
    /// cancellations and expiry itself are not activity.
    pub fn is_activity(kind: &str) -> bool {
        matches!(
            kind,
            EARN | REDEEM
                | ADJUSTMENT
                | SIGNUP
                | BIRTHDAY
                | ANNIVERSARY
                | TIER_ENTRY
                | REFERRAL
                | REFUND
                | WINBACK
                | NPS
                | IMPORT
                | ACTIVITY
        )
    }
}

/// Actors: who moved points.
pub const SYSTEM: &str = "system";

/// A new ledger entry.
#[derive(Debug, Clone)]
pub struct NewEntry<'a> {
    pub shop_id: i64,
    pub customer_id: i64,
    pub points: i64,
    pub kind: &'a str,
    pub reason: &'a str,
    /// Unique per shop: the business fact this entry records.
    pub source_key: &'a str,
    pub settings_version: Option<i64>,
    pub order_id: Option<i64>,
    /// `system`, `shopper`, or `staff:<id>`.
    pub actor: &'a str,
    /// When set and in the future, the points are pending until then.
    pub spendable_at: Option<i64>,
    /// When the fact happened, if before it is recorded (None: now). A
    /// time after the recording is taken as the recording's.
    pub occurred_at: Option<i64>,
}

impl<'a> NewEntry<'a> {
    /// A spendable entry by the system, for no order.
    pub fn new(
        shop_id: i64,
        customer_id: i64,
        points: i64,
        kind: &'a str,
        reason: &'a str,
        source_key: &'a str,
    ) -> Self {
        Self {
            shop_id,
            customer_id,
            points,
            kind,
            reason,
            source_key,
            settings_version: None,
            order_id: None,
            actor: SYSTEM,
            spendable_at: None,
            occurred_at: None,
        }
    }

    /// When the entry's fact happened, recorded `now`: never after it.
    pub fn occurred(&self, now: i64) -> i64 {
        self.occurred_at.map_or(now, |at| at.min(now))
    }
}

async fn insert_entry(
    conn: &mut AnyConnection,
    entry: &NewEntry<'_>,
    now: i64,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query(
        "INSERT INTO points_ledger (shop_id, customer_id, points, kind, reason, source_key, \
         settings_version, order_id, actor, spendable_at, occurred_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
         ON CONFLICT (shop_id, source_key) DO NOTHING",
    )
    .bind(entry.shop_id)
    .bind(entry.customer_id)
    .bind(entry.points)
    .bind(entry.kind)
    .bind(entry.reason)
    .bind(entry.source_key)
    .bind(entry.settings_version)
    .bind(entry.order_id)
    .bind(entry.actor)
    .bind(entry.spendable_at)
    .bind(entry.occurred(now))
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

/// Appends an entry and moves the customer's balance (or pending points)
/// with it, once per source key. Returns false when the source key was
/// already recorded. Run inside the transaction of the change it belongs to.
pub async fn append(
    conn: &mut AnyConnection,
    entry: &NewEntry<'_>,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = append_many(conn, entry.shop_id, std::slice::from_ref(entry), &[], now).await?;
    Ok(done.first().copied().unwrap_or(false))
}

/// What became of a spend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spent {
    /// The points were taken and the entry recorded.
    Taken,
    /// An entry with this source key was recorded before (a retry).
    AlreadyRecorded,
    /// The spendable balance does not cover it; nothing changed.
    NotEnough,
}

/// Takes `-entry.points` spendable points if the balance covers them, and
/// records the entry, once per source key. The check and the take are one
/// statement, so concurrent spends can never take the balance below zero.
pub async fn spend(
    conn: &mut AnyConnection,
    entry: &NewEntry<'_>,
    now: i64,
) -> Result<Spent, sqlx::Error> {
    let cost = Points::new(entry.points)
        .map_err(|_| out_of_range())?
        .negated()
        .get();
    if cost <= 0 {
        return Err(sqlx::Error::Encode("a spend must take points".into()));
    }
    let recorded: Option<i64> =
        sqlx::query_scalar("SELECT id FROM points_ledger WHERE shop_id = $1 AND source_key = $2")
            .bind(entry.shop_id)
            .bind(entry.source_key)
            .fetch_optional(&mut *conn)
            .await?;
    if recorded.is_some() {
        return Ok(Spent::AlreadyRecorded);
    }
    let taken = sqlx::query(
        "UPDATE customers SET points_balance = points_balance - $1, last_activity_at = $2, \
         updated_at = $2 WHERE shop_id = $3 AND customer_id = $4 AND points_balance >= $1",
    )
    .bind(cost)
    .bind(now)
    .bind(entry.shop_id)
    .bind(entry.customer_id)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if !taken {
        return Ok(Spent::NotEnough);
    }
    if !insert_entry(conn, entry, now).await? {
        // A concurrent spend with the same key won; the transaction must
        // not commit a take without its entry.
        return Err(sqlx::Error::Protocol(format!(
            "ledger source key {} recorded concurrently",
            entry.source_key
        )));
    }
    announce(
        conn,
        entry.shop_id,
        &[entry],
        &[],
        now,
        PointsChanged::LookUp,
    )
    .await?;
    Ok(Spent::Taken)
}

/// The id of the customer's latest entry (0 without any).
pub async fn latest_entry_id(
    conn: &mut AnyConnection,
    shop_id: i64,
    customer_id: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT CAST(COALESCE(MAX(id), 0) AS BIGINT) FROM points_ledger \
         WHERE shop_id = $1 AND customer_id = $2",
    )
    .bind(shop_id)
    .bind(customer_id)
    .fetch_one(conn)
    .await
}

/// Points a customer earned from orders (after clawbacks) since `since`.
pub async fn order_points_since(
    conn: &mut AnyConnection,
    shop_id: i64,
    customer_id: i64,
    since: Option<i64>,
) -> Result<i64, sqlx::Error> {
    let points = order_points_since_of(conn, shop_id, &[customer_id], since).await?;
    Ok(points.get(&customer_id).copied().unwrap_or(0))
}

/// Moves points from pending to spendable when their pending period ends.
pub async fn release_pending(
    conn: &mut AnyConnection,
    shop_id: i64,
    customer_id: i64,
    points: i64,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE customers SET points_pending = points_pending - $1, \
         points_balance = points_balance + $1, updated_at = $2 \
         WHERE shop_id = $3 AND customer_id = $4",
    )
    .bind(points)
    .bind(now)
    .bind(shop_id)
    .bind(customer_id)
    .execute(&mut *conn)
    .await?;
    announce(
        conn,
        shop_id,
        &[],
        &[(customer_id, points)],
        now,
        PointsChanged::LookUp,
    )
    .await?;
    Ok(())
}

/// Pending points that become spendable: (customer, points).
pub type Release = (i64, i64);

/// [`append`] for many entries of one shop, and [`release_pending`] for
/// many customers, in a few multi-row statements: the entries are inserted
/// (each once per source key), then every customer's balance and pending
/// points move by the sum of their inserted entries and releases. Returns,
/// per entry, whether it was inserted (false: its source key was recorded
/// before).
pub async fn append_many(
    conn: &mut AnyConnection,
    shop_id: i64,
    entries: &[NewEntry<'_>],
    releases: &[Release],
    now: i64,
) -> Result<Vec<bool>, sqlx::Error> {
    append_many_as(conn, shop_id, entries, releases, now, PointsChanged::LookUp).await
}

/// Whether the `points.changed` events of a write go anywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PointsChanged {
    /// Not known yet: looked up once the write has changed something.
    LookUp,
    /// Read with the rest of a batch's reads ([`outbound::subscribed`]),
    /// in the same transaction.
    Known { subscribed: bool },
}

impl PointsChanged {
    /// Reads it for a batch of writes to come, in their transaction.
    pub async fn read(conn: &mut AnyConnection, shop_id: i64) -> Result<Self, sqlx::Error> {
        Ok(Self::Known {
            subscribed: outbound::subscribed(conn, shop_id, outbound::topic::POINTS_CHANGED)
                .await?,
        })
    }
}

/// [`append_many`], told whether `points.changed` goes anywhere.
pub async fn append_many_as(
    conn: &mut AnyConnection,
    shop_id: i64,
    entries: &[NewEntry<'_>],
    releases: &[Release],
    now: i64,
    points_changed: PointsChanged,
) -> Result<Vec<bool>, sqlx::Error> {
    for entry in entries {
        Points::new(entry.points).map_err(|_| out_of_range())?;
        debug_assert_eq!(entry.shop_id, shop_id);
    }
    let dialect = Dialect::of(conn);
    let mut inserted: HashSet<String> = HashSet::with_capacity(entries.len());
    for chunk in entries.chunks(APPEND_CHUNK) {
        let sql = format!(
            "INSERT INTO points_ledger (shop_id, customer_id, points, kind, reason, source_key, \
             settings_version, order_id, actor, spendable_at, occurred_at, created_at) \
             VALUES {} ON CONFLICT (shop_id, source_key) DO NOTHING RETURNING source_key",
            values_placeholders(dialect, chunk.len(), 12)
        );
        let mut query = sqlx::query_scalar::<_, String>(&sql);
        for e in chunk {
            query = query
                .bind(shop_id)
                .bind(e.customer_id)
                .bind(e.points)
                .bind(e.kind)
                .bind(e.reason)
                .bind(e.source_key)
                .bind(e.settings_version)
                .bind(e.order_id)
                .bind(e.actor)
                .bind(e.spendable_at)
                .bind(e.occurred(now))
                .bind(now);
        }
        inserted.extend(query.fetch_all(&mut *conn).await?);
    }
    // An entry whose source key came earlier in this same write was not
    // inserted: the first was (one statement inserts in order, and one
    // key is one business fact, with the same points).
    let mut first = HashSet::with_capacity(entries.len());
    let done: Vec<bool> = entries
        .iter()
        .map(|e| inserted.contains(e.source_key) && first.insert(e.source_key))
        .collect();
    // Sorted by customer: concurrent batches lock customer rows in one
    // order.
    let mut moves: BTreeMap<i64, CustomerMove> = BTreeMap::new();
    for (entry, _) in entries.iter().zip(&done).filter(|(_, d)| **d) {
        let m = moves.entry(entry.customer_id).or_default();
        let points = Points::new(entry.points).map_err(|_| out_of_range())?;
        if entry.spendable_at.is_some_and(|t| t > now) {
            m.pending = m.pending.checked_add(points).ok_or_else(out_of_range)?;
        } else {
            m.balance = m.balance.checked_add(points).ok_or_else(out_of_range)?;
        }
        let at = entry.occurred(now);
        if kind::is_activity(entry.kind) {
            m.active = Some(m.active.map_or(at, |a| a.max(at)));
        }
        m.joined = Some(m.joined.map_or(at, |j| j.min(at)));
    }
    for (customer, points) in releases {
        let m = moves.entry(*customer).or_default();
        let points = Points::new(*points).map_err(|_| out_of_range())?;
        m.released = m.released.checked_add(points).ok_or_else(out_of_range)?;
    }
    let moves: Vec<(i64, CustomerMove)> = moves.into_iter().collect();
    for chunk in moves.chunks(APPEND_CHUNK) {
        // A released customer has a row already (their points were
        // pending); an INSERT of one that has not is a new member.
        let sql = format!(
            "INSERT INTO customers (shop_id, customer_id, points_balance, points_pending, \
             last_activity_at, joined_at, created_at, updated_at) VALUES {} \
             ON CONFLICT (shop_id, customer_id) DO UPDATE SET \
             points_balance = customers.points_balance + excluded.points_balance, \
             points_pending = customers.points_pending + excluded.points_pending, \
             last_activity_at = CASE WHEN excluded.last_activity_at IS NOT NULL AND \
             (customers.last_activity_at IS NULL \
             OR excluded.last_activity_at > customers.last_activity_at) \
             THEN excluded.last_activity_at ELSE customers.last_activity_at END, \
             joined_at = CASE WHEN excluded.joined_at IS NOT NULL AND \
             (customers.joined_at IS NULL OR excluded.joined_at < customers.joined_at) \
             THEN excluded.joined_at ELSE customers.joined_at END, \
             updated_at = excluded.updated_at",
            values_placeholders(dialect, chunk.len(), 8)
        );
        let mut query = sqlx::query(&sql);
        for (customer, m) in chunk {
            let balance = m.balance.checked_add(m.released).ok_or_else(out_of_range)?;
            let pending = m.pending.checked_sub(m.released).ok_or_else(out_of_range)?;
            query = query
                .bind(shop_id)
                .bind(*customer)
                .bind(balance.get())
                .bind(pending.get())
                .bind(m.active)
                .bind(m.joined)
                .bind(now)
                .bind(now);
        }
        query.execute(&mut *conn).await?;
    }
    let written: Vec<&NewEntry<'_>> = entries
        .iter()
        .zip(&done)
        .filter(|(_, d)| **d)
        .map(|(e, _)| e)
        .collect();
    announce(conn, shop_id, &written, releases, now, points_changed).await?;
    Ok(done)
}

/// `points.changed` for every entry written and every release, when an
/// endpoint of the shop subscribes to it (see [`outbound`]); after the
/// balances moved, so each event carries the balances as that change left
/// them (releases first, then the entries in order).
async fn announce(
    conn: &mut AnyConnection,
    shop_id: i64,
    written: &[&NewEntry<'_>],
    releases: &[Release],
    now: i64,
    points_changed: PointsChanged,
) -> Result<(), sqlx::Error> {
    if written.is_empty() && releases.is_empty() {
        return Ok(());
    }
    let subscribed = match points_changed {
        PointsChanged::Known { subscribed } => subscribed,
        PointsChanged::LookUp => {
            outbound::subscribed(conn, shop_id, outbound::topic::POINTS_CHANGED).await?
        }
    };
    if !subscribed {
        return Ok(());
    }
    let mut ids: Vec<i64> = written.iter().map(|e| e.customer_id).collect();
    ids.extend(releases.iter().map(|(c, _)| *c));
    ids.sort_unstable();
    ids.dedup();
    let dialect = Dialect::of(conn);
    let sql = format!(
        "SELECT customer_id, points_balance, points_pending FROM customers \
         WHERE shop_id = {} AND customer_id IN ({})",
        placeholder(dialect, 1),
        placeholders(dialect, 2, ids.len())
    );
    let mut query = sqlx::query_as::<_, (i64, i64, i64)>(&sql).bind(shop_id);
    for id in &ids {
        query = query.bind(*id);
    }
    let mut after: HashMap<i64, (i64, i64)> = query
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(|(c, b, p)| (c, (b, p)))
        .collect();
    // Walked back from the final balances: what each change left.
    let pending = |e: &NewEntry<'_>| e.spendable_at.is_some_and(|t| t > now);
    let mut events = Vec::with_capacity(written.len() + releases.len());
    for e in written.iter().rev() {
        let (balance, held) = after.get(&e.customer_id).copied().unwrap_or((0, 0));
        events.push(serde_json::json!({
            "customer_id": e.customer_id,
            "change": e.points,
            "kind": e.kind,
            "reason": e.reason,
            "pending_until": e.spendable_at.filter(|_| pending(e)).map(rfc3339),
            "points_balance": balance,
            "points_pending": held,
            "occurred_at": rfc3339(e.occurred(now)),
        }));
        let state = after.entry(e.customer_id).or_default();
        if pending(e) {
            state.1 -= e.points;
        } else {
            state.0 -= e.points;
        }
    }
    for (customer, points) in releases.iter().rev() {
        let (balance, held) = after.get(customer).copied().unwrap_or((0, 0));
        events.push(serde_json::json!({
            "customer_id": customer,
            "change": points,
            "kind": "pending_released",
            "reason": "Pending points became spendable",
            "pending_until": null,
            "points_balance": balance,
            "points_pending": held,
            "occurred_at": rfc3339(now),
        }));
        let state = after.entry(*customer).or_default();
        state.0 -= points;
        state.1 += points;
    }
    events.reverse();
    let orderings: Vec<String> = events
        .iter()
        .map(|data| outbound::customer_ordering(data["customer_id"].as_i64().unwrap_or_default()))
        .collect();
    let events: Vec<outbound::Event<'_>> = events
        .iter()
        .zip(&orderings)
        .map(|(data, ordering)| outbound::Event {
            topic: outbound::topic::POINTS_CHANGED,
            ordering_key: Some(ordering),
            data,
        })
        .collect();
    outbound::emit_many(conn, shop_id, &events, now).await?;
    Ok(())
}

/// Entries (and customers) per multi-row statement.
const APPEND_CHUNK: usize = 400;

/// How one customer's balances move in [`append_many`].
#[derive(Default)]
struct CustomerMove {
    balance: Points,
    pending: Points,
    released: Points,
    /// The latest business time of an activity entry (see
    /// [`kind::is_activity`]): the customer's last activity moves to it
    /// unless it was later already.
    active: Option<i64>,
    /// The earliest business time of an entry: the customer joined the
    /// program then, unless they had joined before.
    joined: Option<i64>,
}

/// Points per customer earned from orders since `since`
/// ([`order_points_since`] for many).
pub async fn order_points_since_of(
    conn: &mut AnyConnection,
    shop_id: i64,
    customer_ids: &[i64],
    since: Option<i64>,
) -> Result<HashMap<i64, i64>, sqlx::Error> {
    let dialect = Dialect::of(conn);
    let mut points = HashMap::new();
    for chunk in customer_ids.chunks(APPEND_CHUNK) {
        let sql = format!(
            "SELECT customer_id, CAST(COALESCE(SUM(points), 0) AS BIGINT) FROM points_ledger \
             WHERE shop_id = {} AND kind IN ('earn', 'clawback', 'cancel') AND occurred_at >= {} \
             AND customer_id IN ({}) GROUP BY customer_id",
            placeholder(dialect, 1),
            placeholder(dialect, 2),
            placeholders(dialect, 3, chunk.len())
        );
        let mut query = sqlx::query_as::<_, (i64, i64)>(&sql)
            .bind(shop_id)
            .bind(since.unwrap_or(i64::MIN));
        for id in chunk {
            query = query.bind(*id);
        }
        points.extend(query.fetch_all(&mut *conn).await?);
    }
    Ok(points)
}
