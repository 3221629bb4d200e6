//! What the what-if forecast reads ([`crate::loyalty::forecast`]): every
//! identified customer's orders with their refunds, streamed customer by
//! customer so memory holds one customer at a time, and the points the
//! ledger recorded in a period by kind. Reads only.

use std::collections::HashMap;

use futures_util::TryStreamExt;
use sqlx::AnyConnection;

use crate::loyalty::{
    earning::{Channel, OrderAmounts, OrderState, RefundAmounts},
    forecast::{CustomerFacts, OrderFact},
};

/// One order of an identified customer, as read: amounts, and its
/// switches packed in one integer (see [`flag`]) so a million rows decode
/// quickly.
#[derive(sqlx::FromRow)]
struct FactRow {
    customer_id: i64,
    order_id: i64,
    at: i64,
    subtotal: i64,
    tax: i64,
    shipping: i64,
    discounts: i64,
    flags: i64,
    /// 0 online, 1 POS, 2 draft order.
    channel: i64,
}

/// Rows read between two turns given to the other tasks of the thread.
const YIELD_EVERY: u32 = 256;

mod flag {
    pub const KNOWN: i64 = 1;
    pub const TAXES_INCLUDED: i64 = 2;
    pub const TEST: i64 = 4;
    pub const PAID: i64 = 8;
    pub const FULFILLED: i64 = 16;
    pub const CANCELLED: i64 = 32;
}

/// Calls `each` with every identified customer's paid (or fulfilled)
/// orders before `to`, one customer at a time. Refunds are summed per
/// order.
pub async fn each_customer(
    conn: &mut AnyConnection,
    shop_id: i64,
    to: i64,
    mut each: impl FnMut(CustomerFacts),
) -> Result<(), sqlx::Error> {
    let refunds = refunds(conn, shop_id).await?;
    let floors: HashMap<i64, String> = sqlx::query_as(
        "SELECT customer_id, tier_floor FROM customers \
         WHERE shop_id = $1 AND tier_floor IS NOT NULL",
    )
    .bind(shop_id)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .collect();
    let mut emit = |customer_id: i64, orders: Vec<FactRow>| {
        let facts = CustomerFacts {
            tier_floor: floors.get(&customer_id).cloned(),
            orders: orders
                .into_iter()
                .map(|row| {
                    let refund = refunds.get(&row.order_id).copied();
                    order_fact(row, refund)
                })
                .collect(),
        };
        each(facts);
    };
    if super::Dialect::of(conn) == super::Dialect::Sqlite {
        return each_packed(conn, shop_id, to, &mut emit).await;
    }
    let sql = format!(
        "SELECT customer_id, order_id, {FACT_COLUMNS} FROM orders WHERE {FACT_FILTER} \
         ORDER BY customer_id"
    );
    let mut rows = sqlx::query_as::<_, FactRow>(&sql)
        .bind(shop_id)
        .bind(to)
        .fetch(&mut *conn);
    let mut current: Option<(i64, Vec<FactRow>)> = None;
    let mut read = 0_u32;
    while let Some(row) = rows.try_next().await? {
        // Rows already fetched keep the stream ready: give the requests
        // sharing this worker thread (webhooks among them) their turn.
        read = read.wrapping_add(1);
        if read.is_multiple_of(YIELD_EVERY) {
            tokio::task::yield_now().await;
        }
        match &mut current {
            Some((id, orders)) if *id == row.customer_id => orders.push(row),
            _ => {
                if let Some((id, orders)) = current.take() {
                    emit(id, orders);
                }
                current = Some((row.customer_id, vec![row]));
            }
        }
    }
    if let Some((id, orders)) = current {
        emit(id, orders);
    }
    Ok(())
}

/// An order's facts, after its customer and id: when it counts (paid, or
/// fulfilled), its amounts, its switches packed (see [`flag`]) and its
/// channel (0 online, 1 POS, 2 draft order).
const FACT_COLUMNS: &str = "COALESCE(paid_at, fulfilled_at) AS at, \
    subtotal_minor AS subtotal, tax_minor AS tax, shipping_minor AS shipping, \
    discounts_minor AS discounts, \
    known + 2 * taxes_included + 4 * is_test \
    + CASE WHEN paid_at IS NULL THEN 0 ELSE 8 END \
    + CASE WHEN fulfilled_at IS NULL THEN 0 ELSE 16 END \
    + CASE WHEN cancelled_at IS NULL THEN 0 ELSE 32 END AS flags, \
    CASE channel WHEN 'pos' THEN 1 WHEN 'draft_order' THEN 2 ELSE 0 END AS channel";

/// The identified customers' orders that count before `$2`.
const FACT_FILTER: &str = "shop_id = $1 AND customer_id IS NOT NULL \
    AND COALESCE(paid_at, fulfilled_at) < $2";

/// Orders packed per pass on SQLite: a pass holds about this many.
const ORDERS_PER_PASS: i64 = 400_000;

/// SQLite: the orders read by a scan of the table in its own order, a
/// share of the customers per pass (`customer_id` modulo the passes), each
/// pass's orders packed into one text by `group_concat`
/// (`customer,order,at,subtotal,tax,shipping,discounts,flags,channel;…`).
/// Walking the table through the customer index costs a random page read
/// per order, and the driver costs a few microseconds per row: this reads
/// each pass in one row and one sequential scan. A pass holds about
/// [`ORDERS_PER_PASS`] orders in memory; its customers are then replayed
/// in id order, each customer's orders in the order they count.
async fn each_packed(
    conn: &mut AnyConnection,
    shop_id: i64,
    to: i64,
    emit: &mut impl FnMut(i64, Vec<FactRow>),
) -> Result<(), sqlx::Error> {
    let total: i64 =
        sqlx::query_scalar(&format!("SELECT COUNT(*) FROM orders WHERE {FACT_FILTER}"))
            .bind(shop_id)
            .bind(to)
            .fetch_one(&mut *conn)
            .await?;
    // Each pass scans the whole table: as few as memory allows.
    let passes = ((total + ORDERS_PER_PASS - 1) / ORDERS_PER_PASS).max(1);
    let sql = format!(
        "SELECT group_concat(printf('%d,%d,%d,%d,%d,%d,%d,%d,%d', customer_id, order_id, at, \
         subtotal, tax, shipping, discounts, flags, channel), ';') \
         FROM (SELECT customer_id, order_id, {FACT_COLUMNS} FROM orders NOT INDEXED \
         WHERE {FACT_FILTER} AND ((customer_id % $3) + $3) % $3 = $4)"
    );
    for pass in 0..passes {
        let packed: Option<String> = sqlx::query_scalar(&sql)
            .bind(shop_id)
            .bind(to)
            .bind(passes)
            .bind(pass)
            .fetch_one(&mut *conn)
            .await?;
        let mut by_customer: HashMap<i64, Vec<FactRow>> = HashMap::new();
        for order in packed.as_deref().unwrap_or_default().split(';') {
            if order.is_empty() {
                continue;
            }
            let row = unpack(order)
                .ok_or_else(|| sqlx::Error::Decode("an order packed for the forecast".into()))?;
            by_customer.entry(row.customer_id).or_default().push(row);
        }
        drop(packed);
        let mut ids: Vec<i64> = by_customer.keys().copied().collect();
        ids.sort_unstable();
        for (n, id) in ids.into_iter().enumerate() {
            if n % YIELD_EVERY as usize == 0 {
                tokio::task::yield_now().await;
            }
            let mut orders = by_customer.remove(&id).unwrap_or_default();
            orders.sort_by_key(|r| (r.at, r.order_id));
            emit(id, orders);
        }
    }
    Ok(())
}

/// One order of [`each_packed`]'s text.
fn unpack(order: &str) -> Option<FactRow> {
    let mut fields = order.split(',').map(|f| f.parse::<i64>().ok());
    let mut next = || fields.next().flatten();
    let row = FactRow {
        customer_id: next()?,
        order_id: next()?,
        at: next()?,
        subtotal: next()?,
        tax: next()?,
        shipping: next()?,
        discounts: next()?,
        flags: next()?,
        channel: next()?,
    };
    fields.next().is_none().then_some(row)
}

/// Every refunded order's refunds, summed.
async fn refunds(
    conn: &mut AnyConnection,
    shop_id: i64,
) -> Result<HashMap<i64, RefundAmounts>, sqlx::Error> {
    let rows: Vec<(i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT order_id, CAST(SUM(lines_minor) AS BIGINT), CAST(SUM(tax_minor) AS BIGINT), \
                CAST(SUM(shipping_minor) AS BIGINT) \
         FROM order_refunds WHERE shop_id = $1 GROUP BY order_id",
    )
    .bind(shop_id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(order, lines, tax, shipping)| {
            let amounts = RefundAmounts {
                lines,
                tax,
                shipping,
            };
            (order, amounts)
        })
        .collect())
}

fn order_fact(row: FactRow, refund: Option<RefundAmounts>) -> OrderFact {
    let on = |bit: i64| row.flags & bit != 0;
    let mut state = OrderState {
        known: on(flag::KNOWN),
        customer_id: Some(row.customer_id),
        amounts: OrderAmounts {
            subtotal: row.subtotal,
            tax: row.tax,
            shipping: row.shipping,
            discounts: row.discounts,
            taxes_included: on(flag::TAXES_INCLUDED),
        },
        channel: match row.channel {
            1 => Channel::Pos,
            2 => Channel::DraftOrder,
            _ => Channel::Online,
        },
        test: on(flag::TEST),
        paid: on(flag::PAID),
        fulfilled: on(flag::FULFILLED),
        cancelled: on(flag::CANCELLED),
        ..OrderState::default()
    };
    if let Some(refund) = refund {
        state.refunds.insert(0, refund);
    }
    OrderFact { at: row.at, state }
}

/// The points the ledger recorded as happening in `[from, to)`, summed
/// by kind.
pub async fn points_by_kind(
    conn: &mut AnyConnection,
    shop_id: i64,
    from: i64,
    to: i64,
) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT kind, CAST(COALESCE(SUM(points), 0) AS BIGINT) FROM points_ledger \
         WHERE shop_id = $1 AND occurred_at >= $2 AND occurred_at < $3 GROUP BY kind",
    )
    .bind(shop_id)
    .bind(from)
    .bind(to)
    .fetch_all(&mut *conn)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_packed_order_reads_back_exactly_or_not_at_all() {
        let row = unpack("7,11,1700000000000,2500,0,-1,300,9,1").unwrap();
        assert_eq!(
            (row.customer_id, row.order_id, row.at, row.subtotal),
            (7, 11, 1_700_000_000_000, 2500)
        );
        assert_eq!((row.tax, row.shipping, row.discounts), (0, -1, 300));
        assert_eq!((row.flags, row.channel), (9, 1));
        assert!(
            unpack("7,11,1700000000000,2500,0,0,300,9").is_none(),
            "a field short"
        );
        assert!(
            unpack("7,11,1700000000000,2500,0,0,300,9,1,5").is_none(),
            "a field over"
        );
        assert!(unpack("7,11,x,2500,0,0,300,9,1").is_none(), "not a number");
    }
}
