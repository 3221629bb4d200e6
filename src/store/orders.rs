//! Orders: the facts of each order that loyalty needs (amounts in the shop's
//! currency, minor units), the award frozen when it first qualified, and
//! its refunds. Rows are updated with optimistic concurrency: a save names
//! the version it read, and loses (changing nothing) if another writer
//! saved first. Redaction removes the email and the hashed identifiers,
//! and marks the order in `redacted_orders` (kept even for an order not
//! stored yet): whatever arrives about it later writes no identifiers again.

use serde::Serialize;
use sqlx::AnyConnection;

use std::collections::HashMap;

use super::{placeholder, placeholders, values_placeholders, Dialect};
use crate::loyalty::earning::RefundAmounts;

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct OrderFacts {
    pub order_id: i64,
    pub name: Option<String>,
    pub currency: String,
    pub subtotal_minor: i64,
    pub total_minor: i64,
    pub refunded_minor: i64,
    pub financial_status: Option<String>,
    pub processed_at: Option<i64>,
    pub cancelled_at: Option<i64>,
    pub award_state: String,
    pub award_note: Option<String>,
    pub points_net: i64,
    pub points_state: Option<String>,
    pub spendable_at: Option<i64>,
}

pub async fn list_for_customer(
    conn: &mut AnyConnection,
    shop_id: i64,
    customer_id: i64,
) -> Result<Vec<OrderFacts>, sqlx::Error> {
    sqlx::query_as(
        "SELECT order_id, name, currency, subtotal_minor, total_minor, refunded_minor, \
         financial_status, processed_at, cancelled_at, award_state, award_note, points_net, \
         points_state, spendable_at FROM orders WHERE shop_id = $1 AND customer_id = $2 \
         ORDER BY order_id",
    )
    .bind(shop_id)
    .bind(customer_id)
    .fetch_all(conn)
    .await
}

/// An order row, every column the engine reads and writes.
#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct OrderRow {
    pub order_id: i64,
    pub customer_id: Option<i64>,
    pub name: Option<String>,
    pub known: i64,
    pub currency: String,
    pub subtotal_minor: i64,
    pub total_minor: i64,
    pub tax_minor: i64,
    pub shipping_minor: i64,
    pub discounts_minor: i64,
    pub refunded_minor: i64,
    pub taxes_included: i64,
    pub financial_status: Option<String>,
    pub source_name: Option<String>,
    pub channel: Option<String>,
    pub is_test: i64,
    pub paid_at: Option<i64>,
    pub fulfilled_at: Option<i64>,
    pub cancelled_at: Option<i64>,
    pub processed_at: Option<i64>,
    pub email_hash: Option<String>,
    pub phone_hash: Option<String>,
    pub address_hash: Option<String>,
    /// JSON array of the discount codes the order used.
    pub discount_codes: Option<String>,
    pub award_state: String,
    pub award_note: Option<String>,
    pub award_points: Option<i64>,
    pub award_paid_minor: Option<i64>,
    pub award_counting: Option<i64>,
    pub award_multiplier: Option<i64>,
    pub award_settings_version: Option<i64>,
    pub awarded_at: Option<i64>,
    pub spend_minor: i64,
    pub points_net: i64,
    pub points_state: Option<String>,
    pub spendable_at: Option<i64>,
    /// 0 for a row not yet stored.
    pub version: i64,
}

const ORDER_COLUMNS: [&str; 36] = [
    "order_id",
    "customer_id",
    "name",
    "known",
    "currency",
    "subtotal_minor",
    "total_minor",
    "tax_minor",
    "shipping_minor",
    "discounts_minor",
    "refunded_minor",
    "taxes_included",
    "financial_status",
    "source_name",
    "channel",
    "is_test",
    "paid_at",
    "fulfilled_at",
    "cancelled_at",
    "processed_at",
    "email_hash",
    "phone_hash",
    "address_hash",
    "discount_codes",
    "award_state",
    "award_note",
    "award_points",
    "award_paid_minor",
    "award_counting",
    "award_multiplier",
    "award_settings_version",
    "awarded_at",
    "spend_minor",
    "points_net",
    "points_state",
    "spendable_at",
];

pub async fn find_order(
    conn: &mut AnyConnection,
    shop_id: i64,
    order_id: i64,
) -> Result<Option<OrderRow>, sqlx::Error> {
    Ok(find_orders(conn, shop_id, &[order_id]).await?.pop())
}

/// Holds the order until the caller's transaction ends, whether or not it
/// is stored yet. Everything that changes what is known of an order takes
/// it first: the events of one order (workers applying them take turns
/// instead of each reading the same version and all but one failing to
/// save it) and a survey answer about it (so whichever of the answer and
/// the order's webhook commits second sees the first). SQLite has one
/// writer, which serialises them already; PostgreSQL takes a
/// transaction-scoped advisory lock on the (shop, order) pair.
pub async fn lock(
    conn: &mut AnyConnection,
    shop_id: i64,
    order_id: i64,
) -> Result<(), sqlx::Error> {
    if Dialect::of(conn) != Dialect::Postgres {
        return Ok(());
    }
    sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
        .bind(shop_id as i32)
        .bind(fold(order_id))
        .execute(conn)
        .await?;
    Ok(())
}

/// An order's lock key: two int4 keys, the shop and the order folded to 32
/// bits (a rare collision only makes two orders wait for each other).
fn fold(order_id: i64) -> i32 {
    ((order_id as u64) ^ ((order_id as u64) >> 32)) as u32 as i32
}

/// [`lock`] for many orders in one statement. The keys are taken in
/// ascending order, so two batches that share orders cannot deadlock on
/// them.
pub async fn lock_many(
    conn: &mut AnyConnection,
    shop_id: i64,
    order_ids: &[i64],
) -> Result<(), sqlx::Error> {
    if Dialect::of(conn) != Dialect::Postgres || order_ids.is_empty() {
        return Ok(());
    }
    let mut keys: Vec<i32> = order_ids.iter().map(|id| fold(*id)).collect();
    keys.sort_unstable();
    keys.dedup();
    for chunk in keys.chunks(IN_CHUNK) {
        let values = (0..chunk.len())
            .map(|i| format!("(${}::int4)", i + 2))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!("SELECT pg_advisory_xact_lock($1, v.k) FROM (VALUES {values}) AS v(k)");
        let mut query = sqlx::query(&sql).bind(shop_id as i32);
        for key in chunk {
            query = query.bind(*key);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Ids per `IN (...)` list of the statements that read or lock many
/// orders at once.
const IN_CHUNK: usize = 500;

/// The stored rows of `order_ids` (those stored).
pub async fn find_orders(
    conn: &mut AnyConnection,
    shop_id: i64,
    order_ids: &[i64],
) -> Result<Vec<OrderRow>, sqlx::Error> {
    let dialect = Dialect::of(conn);
    let mut rows = Vec::with_capacity(order_ids.len());
    for chunk in order_ids.chunks(IN_CHUNK) {
        let sql = format!(
            "SELECT {}, version FROM orders WHERE shop_id = {} AND order_id IN ({})",
            ORDER_COLUMNS.join(", "),
            placeholder(dialect, 1),
            placeholders(dialect, 2, chunk.len())
        );
        let mut query = sqlx::query_as(&sql).bind(shop_id);
        for id in chunk {
            query = query.bind(*id);
        }
        rows.extend(query.fetch_all(&mut *conn).await?);
    }
    Ok(rows)
}

/// The stored refunds of `order_ids`, by order.
pub async fn list_refunds_of(
    conn: &mut AnyConnection,
    shop_id: i64,
    order_ids: &[i64],
) -> Result<HashMap<i64, Vec<(i64, RefundAmounts)>>, sqlx::Error> {
    let dialect = Dialect::of(conn);
    let mut refunds: HashMap<i64, Vec<(i64, RefundAmounts)>> = HashMap::new();
    for chunk in order_ids.chunks(IN_CHUNK) {
        let sql = format!(
            "SELECT order_id, refund_id, lines_minor, tax_minor, shipping_minor FROM order_refunds \
             WHERE shop_id = {} AND order_id IN ({})",
            placeholder(dialect, 1),
            placeholders(dialect, 2, chunk.len())
        );
        let mut query = sqlx::query_as::<_, (i64, i64, i64, i64, i64)>(&sql).bind(shop_id);
        for id in chunk {
            query = query.bind(*id);
        }
        for (order_id, refund_id, lines, tax, shipping) in query.fetch_all(&mut *conn).await? {
            refunds.entry(order_id).or_default().push((
                refund_id,
                RefundAmounts {
                    lines,
                    tax,
                    shipping,
                },
            ));
        }
    }
    Ok(refunds)
}

/// A refund to record: (order, refund, amounts).
pub type NewRefund = (i64, i64, RefundAmounts);

/// [`insert_refund`] for many refunds in one statement; those already
/// recorded are left as they are.
pub async fn insert_refunds(
    conn: &mut AnyConnection,
    shop_id: i64,
    refunds: &[NewRefund],
    now: i64,
) -> Result<(), sqlx::Error> {
    let dialect = Dialect::of(conn);
    for chunk in refunds.chunks(IN_CHUNK) {
        let sql = format!(
            "INSERT INTO order_refunds (shop_id, refund_id, order_id, lines_minor, tax_minor, \
             shipping_minor, created_at) VALUES {} ON CONFLICT (shop_id, refund_id) DO NOTHING",
            values_placeholders(dialect, chunk.len(), 7)
        );
        let mut query = sqlx::query(&sql);
        for (order_id, refund_id, r) in chunk {
            query = query
                .bind(shop_id)
                .bind(*refund_id)
                .bind(*order_id)
                .bind(r.lines)
                .bind(r.tax)
                .bind(r.shipping)
                .bind(now);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// [`save_order`] for many rows: each row is written if the stored version
/// is still `expected` (0: not stored yet); `row.version` is the version
/// it is saved as. Returns false when any row lost to another writer; the
/// caller then rolls back everything it wrote with them.
pub async fn save_orders(
    conn: &mut AnyConnection,
    shop_id: i64,
    rows: &[(OrderRow, i64)],
    now: i64,
) -> Result<bool, sqlx::Error> {
    let dialect = Dialect::of(conn);
    // One statement per version step: the condition names the step.
    let mut steps: Vec<i64> = rows
        .iter()
        .map(|(r, expected)| r.version - expected)
        .collect();
    steps.sort_unstable();
    steps.dedup();
    let columns = ORDER_COLUMNS.len() + 4;
    let updates: Vec<String> = ORDER_COLUMNS[1..]
        .iter()
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    let mut saved = 0;
    for step in steps {
        let group: Vec<&OrderRow> = rows
            .iter()
            .filter(|(r, expected)| r.version - expected == step)
            .map(|(r, _)| r)
            .collect();
        for chunk in group.chunks(SAVE_CHUNK) {
            let sql = format!(
                "INSERT INTO orders (shop_id, {cols}, version, created_at, updated_at) \
                 VALUES {values} \
                 ON CONFLICT (shop_id, order_id) DO UPDATE SET {updates}, \
                 version = excluded.version, updated_at = excluded.updated_at \
                 WHERE orders.version = excluded.version - {step}",
                cols = ORDER_COLUMNS.join(", "),
                values = values_placeholders(dialect, chunk.len(), columns),
                updates = updates.join(", "),
            );
            let mut query = sqlx::query(&sql);
            for row in chunk {
                query = bind_order(query.bind(shop_id), row)
                    .bind(row.version)
                    .bind(now)
                    .bind(now);
            }
            saved += query.execute(&mut *conn).await?.rows_affected();
        }
    }
    Ok(saved == rows.len() as u64)
}

/// Order rows per multi-row save (40 parameters each).
const SAVE_CHUNK: usize = 200;

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// Binds the row's [`ORDER_COLUMNS`], in that order.
fn bind_order<'q>(query: AnyQuery<'q>, row: &'q OrderRow) -> AnyQuery<'q> {
    query
        .bind(row.order_id)
        .bind(row.customer_id)
        .bind(row.name.as_deref())
        .bind(row.known)
        .bind(row.currency.as_str())
        .bind(row.subtotal_minor)
        .bind(row.total_minor)
        .bind(row.tax_minor)
        .bind(row.shipping_minor)
        .bind(row.discounts_minor)
        .bind(row.refunded_minor)
        .bind(row.taxes_included)
        .bind(row.financial_status.as_deref())
        .bind(row.source_name.as_deref())
        .bind(row.channel.as_deref())
        .bind(row.is_test)
        .bind(row.paid_at)
        .bind(row.fulfilled_at)
        .bind(row.cancelled_at)
        .bind(row.processed_at)
        .bind(row.email_hash.as_deref())
        .bind(row.phone_hash.as_deref())
        .bind(row.address_hash.as_deref())
        .bind(row.discount_codes.as_deref())
        .bind(row.award_state.as_str())
        .bind(row.award_note.as_deref())
        .bind(row.award_points)
        .bind(row.award_paid_minor)
        .bind(row.award_counting)
        .bind(row.award_multiplier)
        .bind(row.award_settings_version)
        .bind(row.awarded_at)
        .bind(row.spend_minor)
        .bind(row.points_net)
        .bind(row.points_state.as_deref())
        .bind(row.spendable_at)
}

/// Net spend (minor units) per customer on orders paid since `since`.
pub async fn spend_since_of(
    conn: &mut AnyConnection,
    shop_id: i64,
    customer_ids: &[i64],
    since: Option<i64>,
) -> Result<HashMap<i64, i64>, sqlx::Error> {
    let dialect = Dialect::of(conn);
    let mut spend = HashMap::new();
    for chunk in customer_ids.chunks(IN_CHUNK) {
        let sql = format!(
            "SELECT customer_id, CAST(COALESCE(SUM(spend_minor), 0) AS BIGINT) FROM orders \
             WHERE shop_id = {} AND paid_at IS NOT NULL AND paid_at >= {} \
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
        spend.extend(query.fetch_all(&mut *conn).await?);
    }
    Ok(spend)
}

/// Writes `row` if the stored version is still `row.version` (0: not
/// stored yet). Returns false, changing nothing, when another writer saved
/// first; the caller retries with fresh facts.
pub async fn save_order(
    conn: &mut AnyConnection,
    shop_id: i64,
    row: &OrderRow,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let n = ORDER_COLUMNS.len();
    let placeholders: Vec<String> = (0..n).map(|i| format!("${}", i + 2)).collect();
    let updates: Vec<String> = ORDER_COLUMNS[1..]
        .iter()
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    let sql = format!(
        "INSERT INTO orders (shop_id, {cols}, version, created_at, updated_at) \
         VALUES ($1, {vals}, ${v}, ${t}, ${t}) \
         ON CONFLICT (shop_id, order_id) DO UPDATE SET {updates}, \
         version = excluded.version, updated_at = excluded.updated_at \
         WHERE orders.version = ${prev}",
        cols = ORDER_COLUMNS.join(", "),
        vals = placeholders.join(", "),
        v = n + 2,
        t = n + 3,
        prev = n + 4,
        updates = updates.join(", "),
    );
    let done = bind_order(sqlx::query(&sql).bind(shop_id), row)
        .bind(row.version + 1)
        .bind(now)
        .bind(row.version)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Records a refund once; returns false when it was already recorded.
pub async fn insert_refund(
    conn: &mut AnyConnection,
    shop_id: i64,
    order_id: i64,
    refund_id: i64,
    refund: &RefundAmounts,
    now: i64,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query(
        "INSERT INTO order_refunds (shop_id, refund_id, order_id, lines_minor, tax_minor, \
         shipping_minor, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (shop_id, refund_id) DO NOTHING",
    )
    .bind(shop_id)
    .bind(refund_id)
    .bind(order_id)
    .bind(refund.lines)
    .bind(refund.tax)
    .bind(refund.shipping)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

pub async fn list_refunds(
    conn: &mut AnyConnection,
    shop_id: i64,
    order_id: i64,
) -> Result<Vec<(i64, RefundAmounts)>, sqlx::Error> {
    Ok(list_refunds_of(conn, shop_id, &[order_id])
        .await?
        .remove(&order_id)
        .unwrap_or_default())
}

/// Guest orders placed with this (hashed) email, waiting for an account.
pub async fn guest_orders_for_email(
    conn: &mut AnyConnection,
    shop_id: i64,
    email_hash: &str,
) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT order_id FROM orders WHERE shop_id = $1 AND customer_id IS NULL \
         AND email_hash = $2 ORDER BY order_id LIMIT 1000",
    )
    .bind(shop_id)
    .bind(email_hash)
    .fetch_all(conn)
    .await
}

/// Orders of a customer, or placed with an email, other than `order_id`,
/// processed before `before`: is the buyer new?
pub async fn count_earlier_orders(
    conn: &mut AnyConnection,
    shop_id: i64,
    customer_id: Option<i64>,
    email_hash: Option<&str>,
    order_id: i64,
    before: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM orders WHERE shop_id = $1 AND order_id <> $2 AND known = 1 \
         AND COALESCE(processed_at, created_at) < $3 \
         AND ((customer_id IS NOT NULL AND customer_id = $4) OR (email_hash IS NOT NULL AND email_hash = $5))",
    )
    .bind(shop_id)
    .bind(order_id)
    .bind(before)
    .bind(customer_id)
    .bind(email_hash)
    .fetch_one(conn)
    .await
}

/// Any order placed with this email hash (a friend who already bought).
pub async fn email_has_orders(
    conn: &mut AnyConnection,
    shop_id: i64,
    email_hash: &str,
) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM orders WHERE shop_id = $1 AND email_hash = $2 AND known = 1",
    )
    .bind(shop_id)
    .bind(email_hash)
    .fetch_one(conn)
    .await?;
    Ok(n > 0)
}

/// Orders whose pending period is over: (shop, order, customer, points, version).
pub async fn maturing(
    conn: &mut AnyConnection,
    now: i64,
    limit: i64,
) -> Result<Vec<(i64, i64, Option<i64>, i64, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT shop_id, order_id, customer_id, points_net, version FROM orders \
         WHERE points_state = 'pending' AND spendable_at <= $1 ORDER BY spendable_at LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Marks an order's points spendable if it is still at `version`.
pub async fn settle_points(
    conn: &mut AnyConnection,
    shop_id: i64,
    order_id: i64,
    version: i64,
    now: i64,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE orders SET points_state = 'settled', version = version + 1, updated_at = $1 \
         WHERE shop_id = $2 AND order_id = $3 AND version = $4 AND points_state = 'pending'",
    )
    .bind(now)
    .bind(shop_id)
    .bind(order_id)
    .bind(version)
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

/// Removes personal data from the customer's orders and from `order_ids`,
/// and marks them all redacted.
pub async fn redact_orders(
    conn: &mut AnyConnection,
    shop_id: i64,
    customer_id: i64,
    order_ids: &[i64],
    now: i64,
) -> Result<(), sqlx::Error> {
    // The version moves, so an event of the order read before this commits
    // cannot save the identifiers it read back (its save conflicts and it
    // reads again, marker included).
    const ERASE: &str = "email = NULL, email_hash = NULL, phone_hash = NULL, address_hash = NULL, \
                         version = version + 1";
    sqlx::query(&format!(
        "UPDATE orders SET {ERASE} WHERE shop_id = $1 AND customer_id = $2"
    ))
    .bind(shop_id)
    .bind(customer_id)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO redacted_orders (shop_id, order_id, redacted_at) \
         SELECT shop_id, order_id, $3 FROM orders WHERE shop_id = $1 AND customer_id = $2 \
         ON CONFLICT (shop_id, order_id) DO NOTHING",
    )
    .bind(shop_id)
    .bind(customer_id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    for order_id in order_ids {
        sqlx::query(&format!(
            "UPDATE orders SET {ERASE} WHERE shop_id = $1 AND order_id = $2"
        ))
        .bind(shop_id)
        .bind(order_id)
        .execute(&mut *conn)
        .await?;
        sqlx::query(
            "INSERT INTO redacted_orders (shop_id, order_id, redacted_at) VALUES ($1, $2, $3) \
             ON CONFLICT (shop_id, order_id) DO NOTHING",
        )
        .bind(shop_id)
        .bind(order_id)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Whether what is known of an order must stay without personal data: the
/// order was redacted, or `customer_id` (its customer) was.
pub async fn is_erased(
    conn: &mut AnyConnection,
    shop_id: i64,
    order_id: i64,
    customer_id: Option<i64>,
) -> Result<bool, sqlx::Error> {
    let marks: i64 = sqlx::query_scalar(
        "SELECT CAST((SELECT COUNT(*) FROM redacted_orders WHERE shop_id = $1 AND order_id = $2) \
         + (SELECT COUNT(*) FROM customers WHERE shop_id = $1 AND customer_id = $3 \
            AND redacted_at IS NOT NULL) AS BIGINT)",
    )
    .bind(shop_id)
    .bind(order_id)
    .bind(customer_id)
    .fetch_one(conn)
    .await?;
    Ok(marks > 0)
}

/// Which of `order_ids` were redacted.
pub async fn redacted_among(
    conn: &mut AnyConnection,
    shop_id: i64,
    order_ids: &[i64],
) -> Result<Vec<i64>, sqlx::Error> {
    let mut redacted = Vec::new();
    for chunk in order_ids.chunks(500) {
        let list = (0..chunk.len())
            .map(|i| format!("${}", i + 2))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT order_id FROM redacted_orders WHERE shop_id = $1 AND order_id IN ({list})"
        );
        let mut query = sqlx::query_scalar::<_, i64>(&sql).bind(shop_id);
        for id in chunk {
            query = query.bind(*id);
        }
        redacted.extend(query.fetch_all(&mut *conn).await?);
    }
    Ok(redacted)
}
