//! Dashboard analytics: the set-based aggregates the dashboard is built
//! from, and its per-shop, per-period snapshots.
//!
//! An order counts when it is paid, not cancelled, not a test order and
//! known from an order webhook ([`COUNTED`]); it counts at `paid_at` and
//! its revenue is `total_minor - refunded_minor`. A member is a customer
//! with at least one ledger entry; they joined when their earliest entry
//! happened. Points count on the day they moved (`occurred_at`: an order's
//! earning on its processing day), not the day they were recorded. The
//! partial index `orders_counted_by_paid_at` covers every order aggregate
//! here, and `points_ledger_by_occurred` the ledger's; see migrations 0006
//! and 0020.
//!
//! Snapshots carry the marks of the data they were computed from (the
//! latest order update and ledger entry), so a refresher can tell whether
//! anything changed without recomputing.

use std::collections::BTreeMap;

use sqlx::{AnyConnection, Row};

pub use crate::loyalty::time::DAY_MS;

/// Counted orders of one day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OrderDay {
    pub orders: i64,
    pub revenue_minor: i64,
    pub member_orders: i64,
    pub member_revenue_minor: i64,
}

/// Completed referrals of one day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReferralDay {
    pub completed: i64,
    pub revenue_minor: i64,
}

/// Per-day aggregates over the longest period, day 0 starting at `from`.
#[derive(Debug, Clone, Default)]
pub struct Daily {
    pub from: i64,
    pub orders: BTreeMap<i64, OrderDay>,
    /// Points moved per day and ledger kind.
    pub points: BTreeMap<i64, Vec<(String, i64)>>,
    /// Members whose first ledger entry fell on each day.
    pub new_members: BTreeMap<i64, i64>,
    /// Members who joined before `from`.
    pub members_before: i64,
    pub referrals: BTreeMap<i64, ReferralDay>,
}

/// Identified customers' orders in a period and the one before it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CustomerCounts {
    /// Customers with at least one counted order in the period.
    pub ordered: i64,
    /// ...with at least two.
    pub repeat: i64,
    /// Customers with a counted order in the previous period.
    pub previous: i64,
    /// ...who also ordered in this one.
    pub retained: i64,
    /// Their counted orders in the period, and the revenue.
    pub orders: i64,
    pub revenue_minor: i64,
}

/// What does not depend on the period.
#[derive(Debug, Clone, Default)]
pub struct ShopTotals {
    /// Points customers hold (spendable and pending); a negative balance
    /// counts as none.
    pub outstanding: i64,
    /// Customers per tier id (None: no tier).
    pub tiers: Vec<(Option<String>, i64)>,
    pub lifetime_customers: i64,
    pub lifetime_revenue_minor: i64,
}

/// The orders the dashboard (and the behaviour segments) count (alias `o`).
/// Kept textually identical to the predicate of the partial index
/// `orders_counted_by_paid_at`.
pub(super) const COUNTED: &str =
    "o.paid_at IS NOT NULL AND o.cancelled_at IS NULL AND o.is_test = 0 AND o.known = 1";

/// What a snapshot was computed from: the latest `orders.updated_at` and
/// `points_ledger.occurred_at` of the shop (0 when none). An entry whose
/// business time is before its recording (an order's earning, clawback or
/// cancellation) does not move the ledger's mark, but it is always written
/// in the transaction that saves its order, which moves the orders' mark.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Marks {
    pub orders: i64,
    pub ledger: i64,
}

pub async fn marks(conn: &mut AnyConnection, shop_id: i64) -> Result<Marks, sqlx::Error> {
    let (orders, ledger): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT CAST(COALESCE(MAX(updated_at), 0) AS BIGINT) FROM orders WHERE shop_id = $1), \
         (SELECT CAST(COALESCE(MAX(occurred_at), 0) AS BIGINT) FROM points_ledger WHERE shop_id = $1)",
    )
    .bind(shop_id)
    .fetch_one(conn)
    .await?;
    Ok(Marks { orders, ledger })
}

/// Per-day aggregates of `[from, to)`, day 0 starting at `from`: orders,
/// points by kind, new members and completed referrals.
pub async fn daily(
    conn: &mut AnyConnection,
    shop_id: i64,
    from: i64,
    to: i64,
) -> Result<Daily, sqlx::Error> {
    let mut daily = Daily {
        from,
        ..Daily::default()
    };
    let range = DayRange { shop_id, from, to };
    order_days(conn, range, &mut daily).await?;
    point_days(conn, range, &mut daily).await?;
    member_days(conn, range, &mut daily).await?;
    referral_days(conn, range, &mut daily).await?;
    Ok(daily)
}

/// The shop and the window `[from, to)` of [`daily`].
#[derive(Debug, Clone, Copy)]
struct DayRange {
    shop_id: i64,
    from: i64,
    to: i64,
}

/// Counted orders and their revenue per day, and the members' share.
/// Member orders: the customer has a ledger entry. The members are listed
/// once (MATERIALIZED, on both backends) and joined by hash (PostgreSQL) or
/// through an automatic index (SQLite); a per-order IN or EXISTS probe is
/// many times slower at a million orders.
async fn order_days(
    conn: &mut AnyConnection,
    range: DayRange,
    daily: &mut Daily,
) -> Result<(), sqlx::Error> {
    let sql = format!(
        "WITH m AS MATERIALIZED \
         (SELECT customer_id FROM points_ledger WHERE shop_id = $1 GROUP BY customer_id) \
         SELECT (o.paid_at - $2) / {DAY_MS} AS day, CAST(COUNT(*) AS BIGINT), \
         CAST(SUM(o.total_minor - o.refunded_minor) AS BIGINT), \
         CAST(SUM(CASE WHEN m.customer_id IS NULL THEN 0 ELSE 1 END) AS BIGINT), \
         CAST(SUM(CASE WHEN m.customer_id IS NULL THEN 0 \
           ELSE o.total_minor - o.refunded_minor END) AS BIGINT) \
         FROM orders o LEFT JOIN m ON m.customer_id = o.customer_id \
         WHERE o.shop_id = $1 AND {COUNTED} AND o.paid_at >= $2 AND o.paid_at < $3 \
         GROUP BY 1"
    );
    let rows: Vec<(i64, i64, i64, i64, i64)> = sqlx::query_as(&sql)
        .bind(range.shop_id)
        .bind(range.from)
        .bind(range.to)
        .fetch_all(&mut *conn)
        .await?;
    for (day, orders, revenue_minor, member_orders, member_revenue_minor) in rows {
        daily.orders.insert(
            day,
            OrderDay {
                orders,
                revenue_minor,
                member_orders,
                member_revenue_minor,
            },
        );
    }
    Ok(())
}

/// Points moved per day, by ledger kind, on the day each movement happened.
async fn point_days(
    conn: &mut AnyConnection,
    range: DayRange,
    daily: &mut Daily,
) -> Result<(), sqlx::Error> {
    let rows: Vec<(i64, String, i64)> = sqlx::query_as(&format!(
        "SELECT (occurred_at - $2) / {DAY_MS} AS day, kind, CAST(SUM(points) AS BIGINT) \
         FROM points_ledger WHERE shop_id = $1 AND occurred_at >= $2 AND occurred_at < $3 \
         GROUP BY 1, 2"
    ))
    .bind(range.shop_id)
    .bind(range.from)
    .bind(range.to)
    .fetch_all(&mut *conn)
    .await?;
    for (day, kind, points) in rows {
        daily.points.entry(day).or_default().push((kind, points));
    }
    Ok(())
}

/// New members per day (the day of a member's earliest ledger entry), and
/// the members from before the window.
async fn member_days(
    conn: &mut AnyConnection,
    range: DayRange,
    daily: &mut Daily,
) -> Result<(), sqlx::Error> {
    let rows: Vec<(i64, i64)> = sqlx::query_as(&format!(
        "SELECT CASE WHEN m.first_at < $2 THEN -1 ELSE (m.first_at - $2) / {DAY_MS} END AS day, \
         CAST(COUNT(*) AS BIGINT) FROM \
         (SELECT MIN(occurred_at) AS first_at FROM points_ledger WHERE shop_id = $1 \
         GROUP BY customer_id) m \
         WHERE m.first_at < $3 GROUP BY 1"
    ))
    .bind(range.shop_id)
    .bind(range.from)
    .bind(range.to)
    .fetch_all(&mut *conn)
    .await?;
    for (day, members) in rows {
        if day < 0 {
            daily.members_before += members;
        } else {
            daily.new_members.insert(day, members);
        }
    }
    Ok(())
}

/// Completed referrals per day. A referral is completed when the friend's
/// first order qualified (pending its return window, or rewarded); it
/// counts on that order's date, with that order's revenue.
async fn referral_days(
    conn: &mut AnyConnection,
    range: DayRange,
    daily: &mut Daily,
) -> Result<(), sqlx::Error> {
    let rows: Vec<(i64, i64, i64)> = sqlx::query_as(&format!(
        "SELECT (r.converted_at - $2) / {DAY_MS} AS day, CAST(COUNT(*) AS BIGINT), \
         CAST(COALESCE(SUM(CASE WHEN {COUNTED} THEN o.total_minor - o.refunded_minor ELSE 0 END), 0) AS BIGINT) \
         FROM referrals r LEFT JOIN orders o ON o.shop_id = r.shop_id AND o.order_id = r.order_id \
         WHERE r.shop_id = $1 AND r.status IN ('pending', 'rewarded') \
         AND r.converted_at >= $2 AND r.converted_at < $3 GROUP BY 1"
    ))
    .bind(range.shop_id)
    .bind(range.from)
    .bind(range.to)
    .fetch_all(&mut *conn)
    .await?;
    for (day, completed, revenue_minor) in rows {
        daily.referrals.insert(
            day,
            ReferralDay {
                completed,
                revenue_minor,
            },
        );
    }
    Ok(())
}

/// Identified customers' counted orders in `[from, to)` and in the period
/// before it, `[previous_from, from)`: one pass, grouped by customer.
pub async fn customer_counts(
    conn: &mut AnyConnection,
    shop_id: i64,
    previous_from: i64,
    from: i64,
    to: i64,
) -> Result<CustomerCounts, sqlx::Error> {
    let sql = format!(
        "SELECT CAST(COALESCE(SUM(CASE WHEN cur > 0 THEN 1 ELSE 0 END), 0) AS BIGINT), \
         CAST(COALESCE(SUM(CASE WHEN cur > 1 THEN 1 ELSE 0 END), 0) AS BIGINT), \
         CAST(COALESCE(SUM(CASE WHEN prev > 0 THEN 1 ELSE 0 END), 0) AS BIGINT), \
         CAST(COALESCE(SUM(CASE WHEN prev > 0 AND cur > 0 THEN 1 ELSE 0 END), 0) AS BIGINT), \
         CAST(COALESCE(SUM(cur), 0) AS BIGINT), CAST(COALESCE(SUM(rev), 0) AS BIGINT) \
         FROM (SELECT o.customer_id, \
           SUM(CASE WHEN o.paid_at >= $3 THEN 1 ELSE 0 END) AS cur, \
           SUM(CASE WHEN o.paid_at >= $3 THEN o.total_minor - o.refunded_minor ELSE 0 END) AS rev, \
           SUM(CASE WHEN o.paid_at < $3 THEN 1 ELSE 0 END) AS prev \
           FROM orders o WHERE o.shop_id = $1 AND {COUNTED} AND o.customer_id IS NOT NULL \
           AND o.paid_at >= $2 AND o.paid_at < $4 GROUP BY o.customer_id) c"
    );
    let row = sqlx::query(&sql)
        .bind(shop_id)
        .bind(previous_from)
        .bind(from)
        .bind(to)
        .fetch_one(conn)
        .await?;
    Ok(CustomerCounts {
        ordered: row.try_get(0)?,
        repeat: row.try_get(1)?,
        previous: row.try_get(2)?,
        retained: row.try_get(3)?,
        orders: row.try_get(4)?,
        revenue_minor: row.try_get(5)?,
    })
}

/// Points held, customers per tier, and identified customers' counted
/// orders before `to`, ever.
pub async fn shop_totals(
    conn: &mut AnyConnection,
    shop_id: i64,
    to: i64,
) -> Result<ShopTotals, sqlx::Error> {
    let tiers: Vec<(Option<String>, i64, i64)> = sqlx::query_as(
        "SELECT tier_id, CAST(COUNT(*) AS BIGINT), \
         CAST(COALESCE(SUM(CASE WHEN points_balance + points_pending > 0 \
           THEN points_balance + points_pending ELSE 0 END), 0) AS BIGINT) \
         FROM customers WHERE shop_id = $1 GROUP BY tier_id",
    )
    .bind(shop_id)
    .fetch_all(&mut *conn)
    .await?;
    let (lifetime_customers, lifetime_revenue_minor): (i64, i64) = sqlx::query_as(&format!(
        "SELECT CAST(COUNT(DISTINCT o.customer_id) AS BIGINT), \
         CAST(COALESCE(SUM(o.total_minor - o.refunded_minor), 0) AS BIGINT) \
         FROM orders o WHERE o.shop_id = $1 AND {COUNTED} AND o.customer_id IS NOT NULL \
         AND o.paid_at < $2"
    ))
    .bind(shop_id)
    .bind(to)
    .fetch_one(conn)
    .await?;
    Ok(ShopTotals {
        // Each tier's sum is within i64 (SQL refuses one that is not); their
        // total saturates rather than wraps.
        outstanding: tiers
            .iter()
            .fold(0_i64, |total, (_, _, points)| total.saturating_add(*points)),
        tiers: tiers.into_iter().map(|(id, n, _)| (id, n)).collect(),
        lifetime_customers,
        lifetime_revenue_minor,
    })
}

/// The stored dashboard of one period, as JSON.
pub async fn find_snapshot(
    conn: &mut AnyConnection,
    shop_id: i64,
    period: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT body FROM analytics_snapshots WHERE shop_id = $1 AND period = $2")
        .bind(shop_id)
        .bind(period)
        .fetch_optional(conn)
        .await
}

/// A shop's snapshots: when they were computed and from what (the oldest
/// of its periods).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotState {
    pub shop_id: i64,
    pub computed_at: i64,
    pub marks: Marks,
}

/// Installed shops that have snapshots (someone looked at the dashboard).
pub async fn snapshot_states(conn: &mut AnyConnection) -> Result<Vec<SnapshotState>, sqlx::Error> {
    let rows: Vec<(i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT a.shop_id, CAST(MIN(a.computed_at) AS BIGINT), CAST(MIN(a.orders_mark) AS BIGINT), \
         CAST(MIN(a.ledger_mark) AS BIGINT) FROM analytics_snapshots a \
         JOIN shops s ON s.id = a.shop_id WHERE s.status = 'installed' \
         GROUP BY a.shop_id ORDER BY a.shop_id",
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(shop_id, computed_at, orders, ledger)| SnapshotState {
            shop_id,
            computed_at,
            marks: Marks { orders, ledger },
        })
        .collect())
}

/// The state of one shop's snapshots, if it has any.
pub async fn snapshot_state(
    conn: &mut AnyConnection,
    shop_id: i64,
) -> Result<Option<SnapshotState>, sqlx::Error> {
    let (computed_at, orders, ledger): (Option<i64>, Option<i64>, Option<i64>) = sqlx::query_as(
        "SELECT CAST(MIN(computed_at) AS BIGINT), CAST(MIN(orders_mark) AS BIGINT), \
         CAST(MIN(ledger_mark) AS BIGINT) FROM analytics_snapshots WHERE shop_id = $1",
    )
    .bind(shop_id)
    .fetch_one(conn)
    .await?;
    Ok(computed_at.map(|computed_at| SnapshotState {
        shop_id,
        computed_at,
        marks: Marks {
            orders: orders.unwrap_or(0),
            ledger: ledger.unwrap_or(0),
        },
    }))
}

/// Stores the dashboards computed at `computed_at` from data up to
/// `marks`. A snapshot computed later is never replaced by an earlier one
/// (two processes finishing out of order).
pub async fn save_snapshots(
    conn: &mut AnyConnection,
    shop_id: i64,
    computed_at: i64,
    marks: Marks,
    bodies: &[(&str, String)],
) -> Result<(), sqlx::Error> {
    for (period, body) in bodies {
        sqlx::query(
            "INSERT INTO analytics_snapshots (shop_id, period, computed_at, orders_mark, \
             ledger_mark, body) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (shop_id, period) DO UPDATE SET computed_at = excluded.computed_at, \
             orders_mark = excluded.orders_mark, ledger_mark = excluded.ledger_mark, \
             body = excluded.body WHERE analytics_snapshots.computed_at <= excluded.computed_at",
        )
        .bind(shop_id)
        .bind(*period)
        .bind(computed_at)
        .bind(marks.orders)
        .bind(marks.ledger)
        .bind(body)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Benchmark seeding: rows written as given, with none of the engine's
/// rules (the caller keeps balances equal to the ledger). Not for the
/// service's own use.
pub mod seed {
    use sqlx::AnyConnection;

    use crate::store::{values_placeholders, Dialect};

    /// A customer row: id, spendable and pending points, tier.
    pub struct Customer {
        pub customer_id: i64,
        pub points_balance: i64,
        pub points_pending: i64,
        pub tier_id: Option<String>,
        pub created_at: i64,
    }

    /// A paid order (cancelled or a test order when flagged).
    pub struct Order {
        pub order_id: i64,
        pub customer_id: Option<i64>,
        pub total_minor: i64,
        pub refunded_minor: i64,
        pub paid_at: i64,
        pub cancelled_at: Option<i64>,
        pub is_test: bool,
    }

    pub struct Entry {
        /// Unique per shop: becomes the entry's source key.
        pub key: i64,
        pub customer_id: i64,
        pub points: i64,
        pub kind: &'static str,
        pub order_id: Option<i64>,
        pub created_at: i64,
    }

    pub async fn insert_customers(
        conn: &mut AnyConnection,
        dialect: Dialect,
        shop_id: i64,
        rows: &[Customer],
    ) -> Result<(), sqlx::Error> {
        if rows.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "INSERT INTO customers (shop_id, customer_id, points_balance, points_pending, \
             tier_id, created_at, updated_at) VALUES {}",
            values_placeholders(dialect, rows.len(), 7)
        );
        let mut query = sqlx::query(&sql);
        for r in rows {
            query = query
                .bind(shop_id)
                .bind(r.customer_id)
                .bind(r.points_balance)
                .bind(r.points_pending)
                .bind(r.tier_id.clone())
                .bind(r.created_at)
                .bind(r.created_at);
        }
        query.execute(conn).await?;
        Ok(())
    }

    pub async fn insert_orders(
        conn: &mut AnyConnection,
        dialect: Dialect,
        shop_id: i64,
        currency: &str,
        rows: &[Order],
    ) -> Result<(), sqlx::Error> {
        if rows.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "INSERT INTO orders (shop_id, order_id, customer_id, currency, subtotal_minor, \
             total_minor, refunded_minor, financial_status, is_test, paid_at, cancelled_at, \
             processed_at, spend_minor, created_at, updated_at) VALUES {}",
            values_placeholders(dialect, rows.len(), 15)
        );
        let mut query = sqlx::query(&sql);
        for r in rows {
            let counted = r.cancelled_at.is_none() && !r.is_test;
            query = query
                .bind(shop_id)
                .bind(r.order_id)
                .bind(r.customer_id)
                .bind(currency)
                .bind(r.total_minor)
                .bind(r.total_minor)
                .bind(r.refunded_minor)
                .bind("paid")
                .bind(i64::from(r.is_test))
                .bind(r.paid_at)
                .bind(r.cancelled_at)
                .bind(r.paid_at)
                .bind(if counted {
                    r.total_minor - r.refunded_minor
                } else {
                    0
                })
                .bind(r.paid_at)
                .bind(r.paid_at);
        }
        query.execute(conn).await?;
        Ok(())
    }

    /// An order's product line: (order, product, counted).
    pub type Line = (i64, i64, bool);

    pub async fn insert_order_products(
        conn: &mut AnyConnection,
        dialect: Dialect,
        shop_id: i64,
        rows: &[Line],
    ) -> Result<(), sqlx::Error> {
        if rows.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "INSERT INTO order_products (shop_id, order_id, product_id, variant_id, title, \
             quantity, counted) VALUES {} ON CONFLICT DO NOTHING",
            values_placeholders(dialect, rows.len(), 7)
        );
        let mut query = sqlx::query(&sql);
        for (order, product, counted) in rows {
            query = query
                .bind(shop_id)
                .bind(*order)
                .bind(*product)
                .bind(product * 10)
                .bind(format!("Product {product}"))
                .bind(1_i64)
                .bind(i64::from(*counted));
        }
        query.execute(conn).await?;
        Ok(())
    }

    pub async fn insert_ledger(
        conn: &mut AnyConnection,
        dialect: Dialect,
        shop_id: i64,
        rows: &[Entry],
    ) -> Result<(), sqlx::Error> {
        if rows.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "INSERT INTO points_ledger (shop_id, customer_id, points, kind, reason, source_key, \
             order_id, actor, occurred_at, created_at) VALUES {}",
            values_placeholders(dialect, rows.len(), 10)
        );
        let mut query = sqlx::query(&sql);
        for r in rows {
            query = query
                .bind(shop_id)
                .bind(r.customer_id)
                .bind(r.points)
                .bind(r.kind)
                .bind("seeded")
                .bind(format!("seed:{}", r.key))
                .bind(r.order_id)
                .bind("system")
                .bind(r.created_at)
                .bind(r.created_at);
        }
        query.execute(conn).await?;
        Ok(())
    }
}
