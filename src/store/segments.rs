//! Behaviour segments: each buying customer's order history as the RFM
//! rules read it, the shop's segment state (the thresholds and median
//! interval of its last computation, so one customer can be re-scored
//! after an order without a scan), customers' segment writes, and the log
//! of segment changes the admin page charts.
//!
//! An order counts as in the dashboard: paid, not cancelled, not a test
//! order, known from an order webhook ([`COUNTED`]); it counts at `paid_at`
//! with `total_minor - refunded_minor`. Redacted and deleted customers are
//! not segmented (nor counted in the report).
//!
//! A customer's segment changes only by [`change_segments`], which names
//! the segment it replaces: of two writers racing on one customer (the
//! daily run and an order), the second changes nothing.

use sqlx::{AnyConnection, Row};

use super::{analytics::COUNTED, placeholder, values_placeholders, Dialect};
use crate::loyalty::segments::Thresholds;

/// One customer's counted orders, and the segment stored for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerHistory {
    pub customer_id: i64,
    pub orders: i64,
    /// `paid_at` of the first and the last counted order (ms).
    pub first_at: i64,
    pub last_at: i64,
    /// Net spend, minor units.
    pub spend_minor: i64,
    /// The segment slug stored now; None when never computed.
    pub segment: Option<String>,
}

/// The histories of every buying customer of the shop, and (with no
/// orders) every customer who still has a segment from before, by id.
/// The second part is a `NOT IN` over one uncorrelated subquery, which both
/// databases build once: a correlated `NOT EXISTS` per customer made SQLite
/// walk the counted-orders index once per segmented customer (ten minutes
/// for 94,000 customers and a million orders, found by `advocate-bench
/// analytics`).
pub async fn histories(
    conn: &mut AnyConnection,
    shop_id: i64,
) -> Result<Vec<CustomerHistory>, sqlx::Error> {
    let sql = format!(
        "SELECT h.customer_id, h.orders, h.first_at, h.last_at, h.spend, c.segment \
         FROM (SELECT o.customer_id, CAST(COUNT(*) AS BIGINT) AS orders, \
                 CAST(MIN(o.paid_at) AS BIGINT) AS first_at, CAST(MAX(o.paid_at) AS BIGINT) AS last_at, \
                 CAST(SUM(o.total_minor - o.refunded_minor) AS BIGINT) AS spend \
               FROM orders o WHERE o.shop_id = $1 AND {COUNTED} AND o.customer_id IS NOT NULL \
               GROUP BY o.customer_id) h \
         LEFT JOIN customers c ON c.shop_id = $1 AND c.customer_id = h.customer_id \
         WHERE c.customer_id IS NULL OR (c.redacted_at IS NULL AND c.deleted_at IS NULL) \
         UNION ALL \
         SELECT c.customer_id, 0, 0, 0, 0, c.segment FROM customers c \
         WHERE c.shop_id = $1 AND c.segment IS NOT NULL AND c.customer_id NOT IN \
           (SELECT o.customer_id FROM orders o \
            WHERE o.shop_id = $1 AND {COUNTED} AND o.customer_id IS NOT NULL) \
         ORDER BY 1"
    );
    let rows = sqlx::query(&sql).bind(shop_id).fetch_all(conn).await?;
    rows.iter()
        .map(|r| {
            Ok(CustomerHistory {
                customer_id: r.try_get(0)?,
                orders: r.try_get(1)?,
                first_at: r.try_get(2)?,
                last_at: r.try_get(3)?,
                spend_minor: r.try_get(4)?,
                segment: r.try_get(5)?,
            })
        })
        .collect()
}

/// The counted orders of each of `customer_ids` and the segment stored for
/// them, in ascending customer order (the order their rows are then
/// changed in); redacted and deleted customers are left out.
pub async fn history_of_many(
    conn: &mut AnyConnection,
    shop_id: i64,
    customer_ids: &[i64],
) -> Result<Vec<CustomerHistory>, sqlx::Error> {
    let dialect = Dialect::of(conn);
    let mut ids = customer_ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let mut histories = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let list = super::placeholders(dialect, 2, chunk.len());
        let customers_sql = format!(
            "SELECT customer_id, segment, redacted_at, deleted_at FROM customers \
             WHERE shop_id = {} AND customer_id IN ({list})",
            placeholder(dialect, 1)
        );
        let mut stored: std::collections::HashMap<i64, (Option<String>, bool)> =
            std::collections::HashMap::new();
        for row in bind_ids(&customers_sql, shop_id, chunk)
            .fetch_all(&mut *conn)
            .await?
        {
            let erased = row.try_get::<Option<i64>, _>("redacted_at")?.is_some()
                || row.try_get::<Option<i64>, _>("deleted_at")?.is_some();
            stored.insert(
                row.try_get("customer_id")?,
                (row.try_get("segment")?, erased),
            );
        }
        let orders_sql = format!(
            "SELECT o.customer_id, CAST(COUNT(*) AS BIGINT) AS orders, \
             CAST(COALESCE(MIN(o.paid_at), 0) AS BIGINT) AS first_at, \
             CAST(COALESCE(MAX(o.paid_at), 0) AS BIGINT) AS last_at, \
             CAST(COALESCE(SUM(o.total_minor - o.refunded_minor), 0) AS BIGINT) AS spend \
             FROM orders o WHERE o.shop_id = {} AND o.customer_id IN ({list}) AND {COUNTED} \
             GROUP BY o.customer_id",
            placeholder(dialect, 1)
        );
        let mut counted: std::collections::HashMap<i64, (i64, i64, i64, i64)> =
            std::collections::HashMap::new();
        for row in bind_ids(&orders_sql, shop_id, chunk)
            .fetch_all(&mut *conn)
            .await?
        {
            counted.insert(
                row.try_get("customer_id")?,
                (
                    row.try_get("orders")?,
                    row.try_get("first_at")?,
                    row.try_get("last_at")?,
                    row.try_get("spend")?,
                ),
            );
        }
        for customer_id in chunk {
            let segment = match stored.remove(customer_id) {
                Some((_, true)) => continue,
                Some((segment, false)) => segment,
                None => None,
            };
            let (orders, first_at, last_at, spend_minor) =
                counted.remove(customer_id).unwrap_or_default();
            histories.push(CustomerHistory {
                customer_id: *customer_id,
                orders,
                first_at,
                last_at,
                spend_minor,
                segment,
            });
        }
    }
    Ok(histories)
}

/// A statement on the shop (`$1`) and a list of ids after it.
fn bind_ids<'q>(
    sql: &'q str,
    shop_id: i64,
    ids: &'q [i64],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    let mut query = sqlx::query(sql).bind(shop_id);
    for id in ids {
        query = query.bind(*id);
    }
    query
}

/// The histories of `customers` as [`histories`] reads them (buyers who
/// are not redacted or deleted, and customers without a counted order who
/// still have a segment), by id: one batch of a computation, read inside
/// the transaction that writes it. Each customer is looked up by key (the
/// orders through `orders_spend_by_customer`), so a batch costs its own
/// customers' rows only.
pub async fn histories_of(
    conn: &mut AnyConnection,
    shop_id: i64,
    customers: &[i64],
) -> Result<Vec<CustomerHistory>, sqlx::Error> {
    // (customer, segment, redacted_at, deleted_at)
    type Person = (i64, Option<String>, Option<i64>, Option<i64>);
    let dialect = Dialect::of(conn);
    let mut bought: Vec<(i64, i64, i64, i64, i64)> = Vec::with_capacity(customers.len());
    let mut people: Vec<Person> = Vec::with_capacity(customers.len());
    for chunk in customers.chunks(MOVES_PER_STATEMENT) {
        let ids: Vec<String> = (0..chunk.len())
            .map(|i| placeholder(dialect, i + 2))
            .collect();
        let ids = ids.join(", ");
        let shop = placeholder(dialect, 1);
        let sql = format!(
            "SELECT o.customer_id, CAST(COUNT(*) AS BIGINT), CAST(MIN(o.paid_at) AS BIGINT), \
             CAST(MAX(o.paid_at) AS BIGINT), \
             CAST(SUM(o.total_minor - o.refunded_minor) AS BIGINT) \
             FROM orders o WHERE o.shop_id = {shop} AND o.customer_id IN ({ids}) AND {COUNTED} \
             GROUP BY o.customer_id"
        );
        let mut query = sqlx::query_as::<_, (i64, i64, i64, i64, i64)>(&sql).bind(shop_id);
        for id in chunk {
            query = query.bind(*id);
        }
        bought.extend(query.fetch_all(&mut *conn).await?);
        let sql = format!(
            "SELECT customer_id, segment, redacted_at, deleted_at FROM customers \
             WHERE shop_id = {shop} AND customer_id IN ({ids})"
        );
        let mut query = sqlx::query_as::<_, Person>(&sql).bind(shop_id);
        for id in chunk {
            query = query.bind(*id);
        }
        people.extend(query.fetch_all(&mut *conn).await?);
    }
    let people: std::collections::HashMap<i64, (Option<String>, bool)> = people
        .into_iter()
        .map(|(id, segment, redacted, deleted)| {
            (id, (segment, redacted.is_some() || deleted.is_some()))
        })
        .collect();
    let mut out: Vec<CustomerHistory> = Vec::with_capacity(bought.len());
    for (customer_id, orders, first_at, last_at, spend_minor) in bought {
        let segment = match people.get(&customer_id) {
            Some((_, true)) => continue,
            Some((segment, false)) => segment.clone(),
            None => None,
        };
        out.push(CustomerHistory {
            customer_id,
            orders,
            first_at,
            last_at,
            spend_minor,
            segment,
        });
    }
    let buyers: std::collections::HashSet<i64> = out.iter().map(|h| h.customer_id).collect();
    for (customer_id, (segment, _)) in &people {
        if segment.is_some() && !buyers.contains(customer_id) {
            out.push(CustomerHistory {
                customer_id: *customer_id,
                orders: 0,
                first_at: 0,
                last_at: 0,
                spend_minor: 0,
                segment: segment.clone(),
            });
        }
    }
    out.sort_by_key(|h| h.customer_id);
    Ok(out)
}

/// What the shop's last computation used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentState {
    pub thresholds: Thresholds,
    /// Derived from the shop's orders (quintiles), or set by the merchant.
    pub derived: bool,
    pub median_interval_ms: Option<i64>,
    /// The prefix of the tags written to Shopify.
    pub tag_prefix: String,
    pub settings_version: i64,
    /// Computations that changed something (names their grouped effects).
    pub run: i64,
    pub computed_at: i64,
}

pub async fn find_state(
    conn: &mut AnyConnection,
    shop_id: i64,
) -> Result<Option<SegmentState>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT thresholds, derived, median_interval_ms, tag_prefix, settings_version, run, \
         computed_at FROM segment_state WHERE shop_id = $1",
    )
    .bind(shop_id)
    .fetch_optional(conn)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let thresholds: String = row.try_get("thresholds")?;
    Ok(Some(SegmentState {
        thresholds: serde_json::from_str(&thresholds)
            .map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        derived: row.try_get::<i64, _>("derived")? == 1,
        median_interval_ms: row.try_get("median_interval_ms")?,
        tag_prefix: row.try_get("tag_prefix")?,
        settings_version: row.try_get("settings_version")?,
        run: row.try_get("run")?,
        computed_at: row.try_get("computed_at")?,
    }))
}

pub async fn save_state(
    conn: &mut AnyConnection,
    shop_id: i64,
    state: &SegmentState,
) -> Result<(), sqlx::Error> {
    let thresholds =
        serde_json::to_string(&state.thresholds).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    sqlx::query(
        "INSERT INTO segment_state (shop_id, thresholds, derived, median_interval_ms, tag_prefix, \
         settings_version, run, computed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (shop_id) DO UPDATE SET thresholds = $2, derived = $3, \
         median_interval_ms = $4, tag_prefix = $5, settings_version = $6, run = $7, computed_at = $8",
    )
    .bind(shop_id)
    .bind(thresholds)
    .bind(i64::from(state.derived))
    .bind(state.median_interval_ms)
    .bind(&state.tag_prefix)
    .bind(state.settings_version)
    .bind(state.run)
    .bind(state.computed_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// A computation of the shop's segments being written in batches (one
/// transaction each): what every batch uses, and how far it got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentRun {
    /// The run number: it keys the computation's grouped effects.
    pub run: i64,
    /// The computation's time: every batch places customers as of it.
    pub started_at: i64,
    pub settings_version: i64,
    /// None when nobody had a counted order (the last ones are kept).
    pub thresholds: Option<Thresholds>,
    pub derived: bool,
    pub median_interval_ms: Option<i64>,
    pub tag_prefix: String,
    /// The prefix of the tags in Shopify before the computation.
    pub old_prefix: String,
    /// The shop's first computation.
    pub baseline: bool,
    /// Effects go grouped by tag (a re-sync), not per customer.
    pub grouped: bool,
    /// The last customer id written; None before the first batch.
    pub placed_through: Option<i64>,
    /// Batches written.
    pub batches: i64,
    /// Customers with a segment, and customers moved, in the batches written.
    pub customers: i64,
    pub changed: i64,
}

pub async fn find_run(
    conn: &mut AnyConnection,
    shop_id: i64,
) -> Result<Option<SegmentRun>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT run, started_at, settings_version, thresholds, derived, median_interval_ms, \
         tag_prefix, old_prefix, baseline, grouped, placed_through, batches, customers, changed \
         FROM segment_runs WHERE shop_id = $1",
    )
    .bind(shop_id)
    .fetch_optional(conn)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let thresholds: Option<String> = row.try_get("thresholds")?;
    Ok(Some(SegmentRun {
        run: row.try_get("run")?,
        started_at: row.try_get("started_at")?,
        settings_version: row.try_get("settings_version")?,
        thresholds: thresholds
            .map(|t| serde_json::from_str(&t))
            .transpose()
            .map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        derived: row.try_get::<i64, _>("derived")? == 1,
        median_interval_ms: row.try_get("median_interval_ms")?,
        tag_prefix: row.try_get("tag_prefix")?,
        old_prefix: row.try_get("old_prefix")?,
        baseline: row.try_get::<i64, _>("baseline")? == 1,
        grouped: row.try_get::<i64, _>("grouped")? == 1,
        placed_through: row.try_get("placed_through")?,
        batches: row.try_get("batches")?,
        customers: row.try_get("customers")?,
        changed: row.try_get("changed")?,
    }))
}

/// Records a computation about to be written; false when the shop already
/// has one.
pub async fn start_run(
    conn: &mut AnyConnection,
    shop_id: i64,
    run: &SegmentRun,
) -> Result<bool, sqlx::Error> {
    let thresholds = run
        .thresholds
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let done = sqlx::query(
        "INSERT INTO segment_runs (shop_id, run, started_at, settings_version, thresholds, \
         derived, median_interval_ms, tag_prefix, old_prefix, baseline, grouped, placed_through, \
         batches, customers, changed) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
         ON CONFLICT (shop_id) DO NOTHING",
    )
    .bind(shop_id)
    .bind(run.run)
    .bind(run.started_at)
    .bind(run.settings_version)
    .bind(thresholds)
    .bind(i64::from(run.derived))
    .bind(run.median_interval_ms)
    .bind(&run.tag_prefix)
    .bind(&run.old_prefix)
    .bind(i64::from(run.baseline))
    .bind(i64::from(run.grouped))
    .bind(run.placed_through)
    .bind(run.batches)
    .bind(run.customers)
    .bind(run.changed)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Takes the next batch of run `run`, of which `batches` were written:
/// false when another process wrote it first (or finished the run). The
/// row stays locked by the caller's transaction until it ends.
pub async fn claim_batch(
    conn: &mut AnyConnection,
    shop_id: i64,
    run: i64,
    batches: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE segment_runs SET batches = batches + 1 \
         WHERE shop_id = $1 AND run = $2 AND batches = $3",
    )
    .bind(shop_id)
    .bind(run)
    .bind(batches)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records a written batch: the last customer id it covered and what it
/// counted.
pub async fn batch_written(
    conn: &mut AnyConnection,
    shop_id: i64,
    placed_through: i64,
    customers: i64,
    changed: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE segment_runs SET placed_through = $2, customers = customers + $3, \
         changed = changed + $4 WHERE shop_id = $1",
    )
    .bind(shop_id)
    .bind(placed_through)
    .bind(customers)
    .bind(changed)
    .execute(conn)
    .await?;
    Ok(())
}

/// Ends run `run` after its `batches` batches; false when another process
/// ended it first.
pub async fn finish_run(
    conn: &mut AnyConnection,
    shop_id: i64,
    run: i64,
    batches: i64,
) -> Result<bool, sqlx::Error> {
    let done =
        sqlx::query("DELETE FROM segment_runs WHERE shop_id = $1 AND run = $2 AND batches = $3")
            .bind(shop_id)
            .bind(run)
            .bind(batches)
            .execute(conn)
            .await?;
    Ok(done.rows_affected() == 1)
}

/// Moves the customer from segment `from` to `to` (slugs; None for none)
/// and logs the change. Returns the change's id, or None when the stored
/// segment is no longer `from` (another writer moved them first) or the
/// customer was redacted or deleted.
pub async fn change_segment(
    conn: &mut AnyConnection,
    shop_id: i64,
    customer_id: i64,
    from: Option<&str>,
    to: Option<&str>,
    baseline: bool,
    now: i64,
) -> Result<Option<i64>, sqlx::Error> {
    let moved = SegmentMove {
        customer_id,
        from,
        to,
    };
    let changed = change_segments(conn, shop_id, &[moved], baseline, now).await?;
    Ok(changed.first().map(|(_, id)| *id))
}

/// One customer's planned move, for [`change_segments`].
#[derive(Debug, Clone, Copy)]
pub struct SegmentMove<'a> {
    pub customer_id: i64,
    /// The stored segment the move replaces (None: none).
    pub from: Option<&'a str>,
    pub to: Option<&'a str>,
}

/// Customers per statement in [`change_segments`]: 5 parameters each,
/// well inside both databases' limits.
const MOVES_PER_STATEMENT: usize = 500;

/// Moves customers between segments, three statements per 500 of them: a
/// shop's first computation moves every buyer at once, and three statements
/// per customer kept the database's write lock for seconds. Returns
/// (customer, change id) for each customer moved, in the order given; those
/// whose stored segment is no longer `from`, and redacted or deleted ones,
/// are left out. [`change_segment`] is the same for one customer.
pub async fn change_segments(
    conn: &mut AnyConnection,
    shop_id: i64,
    moves: &[SegmentMove<'_>],
    baseline: bool,
    now: i64,
) -> Result<Vec<(i64, i64)>, sqlx::Error> {
    let dialect = Dialect::of(conn);
    let mut changed = std::collections::HashMap::with_capacity(moves.len());
    for chunk in moves.chunks(MOVES_PER_STATEMENT) {
        // Buyers whose profile never arrived get a row without personal data.
        let ids: Vec<i64> = chunk.iter().map(|m| m.customer_id).collect();
        super::customers::ensure_many(conn, shop_id, &ids, now).await?;

        // VALUES columns are column1.. on both databases. The customers
        // are found through their key (`IN`), one lookup each: as a join
        // (`UPDATE … FROM`) SQLite scanned every customer of the table
        // once per statement.
        let sql = format!(
            "WITH v AS (VALUES {}) \
             UPDATE customers SET \
               segment = (SELECT v.column3 FROM v WHERE v.column1 = customers.customer_id), \
               segment_since = (SELECT v.column4 FROM v WHERE v.column1 = customers.customer_id) \
             WHERE customers.shop_id = {} AND customers.customer_id IN (SELECT v.column1 FROM v) \
               AND COALESCE(customers.segment, '') = \
                   (SELECT v.column2 FROM v WHERE v.column1 = customers.customer_id) \
               AND customers.redacted_at IS NULL AND customers.deleted_at IS NULL \
             RETURNING customers.customer_id",
            values_placeholders(dialect, chunk.len(), 4),
            placeholder(dialect, chunk.len() * 4 + 1),
        );
        let mut query = sqlx::query_scalar::<_, i64>(&sql);
        for m in chunk {
            query = query
                .bind(m.customer_id)
                .bind(m.from.unwrap_or(""))
                .bind(m.to)
                .bind(m.to.map(|_| now));
        }
        let moved: std::collections::HashSet<i64> = query
            .bind(shop_id)
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .collect();
        let logged: Vec<&SegmentMove> = chunk
            .iter()
            .filter(|m| moved.contains(&m.customer_id))
            .collect();
        if logged.is_empty() {
            continue;
        }
        let sql = format!(
            "INSERT INTO segment_changes (shop_id, customer_id, from_segment, to_segment, \
             baseline, created_at) VALUES {} RETURNING customer_id, id",
            values_placeholders(dialect, logged.len(), 6)
        );
        let mut query = sqlx::query_as::<_, (i64, i64)>(&sql);
        for m in &logged {
            query = query
                .bind(shop_id)
                .bind(m.customer_id)
                .bind(m.from)
                .bind(m.to)
                .bind(i64::from(baseline))
                .bind(now);
        }
        changed.extend(query.fetch_all(&mut *conn).await?);
    }
    Ok(moves
        .iter()
        .filter_map(|m| changed.get(&m.customer_id).map(|id| (m.customer_id, *id)))
        .collect())
}

/// Per segment slug: customers now in it (a customer deleted in Shopify
/// keeps the segment they had, but is no longer counted).
pub async fn sizes(
    conn: &mut AnyConnection,
    shop_id: i64,
) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT segment, CAST(COUNT(*) AS BIGINT) FROM customers \
         WHERE shop_id = $1 AND segment IS NOT NULL AND deleted_at IS NULL \
           AND redacted_at IS NULL GROUP BY segment",
    )
    .bind(shop_id)
    .fetch_all(conn)
    .await
}

/// Per segment slug: (counted orders, revenue in minor units) paid in
/// `[from, to)` by customers now in the segment.
pub async fn revenue(
    conn: &mut AnyConnection,
    shop_id: i64,
    from: i64,
    to: i64,
) -> Result<Vec<(String, i64, i64)>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT c.segment, CAST(COUNT(*) AS BIGINT), \
         CAST(SUM(o.total_minor - o.refunded_minor) AS BIGINT) \
         FROM orders o JOIN customers c ON c.shop_id = o.shop_id AND c.customer_id = o.customer_id \
         WHERE o.shop_id = $1 AND {COUNTED} AND o.paid_at >= $2 AND o.paid_at < $3 \
           AND c.segment IS NOT NULL AND c.deleted_at IS NULL AND c.redacted_at IS NULL \
         GROUP BY c.segment"
    ))
    .bind(shop_id)
    .bind(from)
    .bind(to)
    .fetch_all(conn)
    .await
}

/// Moves between two segments in `[from, to)`: (from, to, customers). The
/// baseline and customers gaining or losing their first segment are not
/// moves.
pub async fn movements(
    conn: &mut AnyConnection,
    shop_id: i64,
    from: i64,
    to: i64,
) -> Result<Vec<(String, String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT from_segment, to_segment, CAST(COUNT(*) AS BIGINT) FROM segment_changes \
         WHERE shop_id = $1 AND created_at >= $2 AND created_at < $3 AND baseline = 0 \
           AND from_segment IS NOT NULL AND to_segment IS NOT NULL \
         GROUP BY from_segment, to_segment ORDER BY 3 DESC, 1, 2",
    )
    .bind(shop_id)
    .bind(from)
    .bind(to)
    .fetch_all(conn)
    .await
}

/// Entries into each segment per week of `[from, to)`, week 0 starting at
/// `from`: (week, segment, customers). The baseline is not an entry.
pub async fn weekly_entries(
    conn: &mut AnyConnection,
    shop_id: i64,
    from: i64,
    to: i64,
) -> Result<Vec<(i64, String, i64)>, sqlx::Error> {
    const WEEK_MS: i64 = 7 * 86_400_000;
    sqlx::query_as(&format!(
        "SELECT (created_at - $2) / {WEEK_MS} AS week, to_segment, CAST(COUNT(*) AS BIGINT) \
         FROM segment_changes \
         WHERE shop_id = $1 AND created_at >= $2 AND created_at < $3 AND baseline = 0 \
           AND to_segment IS NOT NULL \
         GROUP BY 1, 2 ORDER BY 1, 2"
    ))
    .bind(shop_id)
    .bind(from)
    .bind(to)
    .fetch_all(conn)
    .await
}

/// A customer's segment changes, newest first (the customer page).
pub async fn history_for_customer(
    conn: &mut AnyConnection,
    shop_id: i64,
    customer_id: i64,
) -> Result<Vec<(Option<String>, Option<String>, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT from_segment, to_segment, created_at FROM segment_changes \
         WHERE shop_id = $1 AND customer_id = $2 ORDER BY id DESC LIMIT 100",
    )
    .bind(shop_id)
    .bind(customer_id)
    .fetch_all(conn)
    .await
}

/// What a stored segments report was computed from: the program version
/// and `segment_state.computed_at` (0 before the first computation), read
/// on every request; the latest `paid_at` of a counted order and
/// `segment_changes.created_at` (0 when none), each the end of an index,
/// read by the background refresh. (A refund changes neither: the hourly
/// refresh catches it.)
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReportMarks {
    pub settings_version: i64,
    pub state_mark: i64,
    pub orders_mark: i64,
    pub changes_mark: i64,
}

/// A stored segments report of one period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredReport {
    pub shop_id: i64,
    pub period: String,
    pub computed_at: i64,
    pub marks: ReportMarks,
    /// The report's JSON, sent as it is.
    pub body: String,
}

const REPORT_COLUMNS: &str =
    "shop_id, period, computed_at, settings_version, state_mark, orders_mark, changes_mark";

type ReportRow = (i64, String, i64, i64, i64, i64, i64);

fn stored_report(row: ReportRow, body: String) -> StoredReport {
    let (shop_id, period, computed_at, settings_version, state_mark, orders_mark, changes_mark) =
        row;
    StoredReport {
        shop_id,
        period,
        computed_at,
        marks: ReportMarks {
            settings_version,
            state_mark,
            orders_mark,
            changes_mark,
        },
        body,
    }
}

pub async fn find_report(
    conn: &mut AnyConnection,
    shop_id: i64,
    period: &str,
) -> Result<Option<StoredReport>, sqlx::Error> {
    let row = sqlx::query(&format!(
        "SELECT {REPORT_COLUMNS}, body FROM segment_reports WHERE shop_id = $1 AND period = $2"
    ))
    .bind(shop_id)
    .bind(period)
    .fetch_optional(conn)
    .await?;
    row.map(|r| {
        Ok(stored_report(
            (
                r.try_get(0)?,
                r.try_get(1)?,
                r.try_get(2)?,
                r.try_get(3)?,
                r.try_get(4)?,
                r.try_get(5)?,
                r.try_get(6)?,
            ),
            r.try_get(7)?,
        ))
    })
    .transpose()
}

/// The stored reports of installed shops, without their bodies.
pub async fn stored_reports(conn: &mut AnyConnection) -> Result<Vec<StoredReport>, sqlx::Error> {
    let rows: Vec<ReportRow> = sqlx::query_as(&format!(
        "SELECT r.{} FROM segment_reports r JOIN shops s ON s.id = r.shop_id \
         WHERE s.status = 'installed' ORDER BY r.shop_id, r.period",
        REPORT_COLUMNS.replace(", ", ", r.")
    ))
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| stored_report(row, String::new()))
        .collect())
}

/// The marks a request reads: the program version and when the segments
/// were last computed (0: never). The other two are left 0.
pub async fn request_marks(
    conn: &mut AnyConnection,
    shop_id: i64,
) -> Result<ReportMarks, sqlx::Error> {
    let (settings_version, state_mark): (Option<i64>, Option<i64>) = sqlx::query_as(
        "SELECT (SELECT settings_version FROM shops WHERE id = $1), \
         (SELECT computed_at FROM segment_state WHERE shop_id = $1)",
    )
    .bind(shop_id)
    .fetch_one(conn)
    .await?;
    Ok(ReportMarks {
        settings_version: settings_version.unwrap_or(0),
        state_mark: state_mark.unwrap_or(0),
        ..ReportMarks::default()
    })
}

/// Every mark of the shop, as a report computed now would store them.
pub async fn report_marks(
    conn: &mut AnyConnection,
    shop_id: i64,
) -> Result<ReportMarks, sqlx::Error> {
    let marks = request_marks(&mut *conn, shop_id).await?;
    let (orders_mark, changes_mark): (i64, i64) = sqlx::query_as(&format!(
        "SELECT (SELECT CAST(COALESCE(MAX(o.paid_at), 0) AS BIGINT) FROM orders o \
                 WHERE o.shop_id = $1 AND {COUNTED}), \
         (SELECT CAST(COALESCE(MAX(created_at), 0) AS BIGINT) FROM segment_changes \
                 WHERE shop_id = $1)",
    ))
    .bind(shop_id)
    .fetch_one(conn)
    .await?;
    Ok(ReportMarks {
        orders_mark,
        changes_mark,
        ..marks
    })
}

/// Stores a report computed at `computed_at` from data up to `marks`; one
/// computed later is never replaced by an earlier one.
pub async fn save_report(
    conn: &mut AnyConnection,
    shop_id: i64,
    period: &str,
    computed_at: i64,
    marks: ReportMarks,
    body: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "INSERT INTO segment_reports ({REPORT_COLUMNS}, body) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (shop_id, period) DO UPDATE SET computed_at = excluded.computed_at, \
         settings_version = excluded.settings_version, state_mark = excluded.state_mark, \
         orders_mark = excluded.orders_mark, changes_mark = excluded.changes_mark, \
         body = excluded.body WHERE segment_reports.computed_at <= excluded.computed_at"
    ))
    .bind(shop_id)
    .bind(period)
    .bind(computed_at)
    .bind(marks.settings_version)
    .bind(marks.state_mark)
    .bind(marks.orders_mark)
    .bind(marks.changes_mark)
    .bind(body)
    .execute(conn)
    .await?;
    Ok(())
}

/// customers/redact: the customer's segment and its history go (their
/// orders' facts may stay for the merchant's books; how they behaved as a
/// person does not). The daily run skips redacted customers, so it is not
/// computed again.
pub async fn redact_customer(
    conn: &mut AnyConnection,
    shop_id: i64,
    customer_id: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM segment_changes WHERE shop_id = $1 AND customer_id = $2")
        .bind(shop_id)
        .bind(customer_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "UPDATE customers SET segment = NULL, segment_since = NULL \
         WHERE shop_id = $1 AND customer_id = $2",
    )
    .bind(shop_id)
    .bind(customer_id)
    .execute(conn)
    .await?;
    Ok(())
}
