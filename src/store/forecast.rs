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
    let sql = "SELECT customer_id, order_id, COALESCE(paid_at, fulfilled_at) AS at, \
                subtotal_minor AS subtotal, tax_minor AS tax, shipping_minor AS shipping, \
                discounts_minor AS discounts, \
                known + 2 * taxes_included + 4 * is_test \
                + CASE WHEN paid_at IS NULL THEN 0 ELSE 8 END \
                + CASE WHEN fulfilled_at IS NULL THEN 0 ELSE 16 END \
                + CASE WHEN cancelled_at IS NULL THEN 0 ELSE 32 END AS flags, \
                CASE channel WHEN 'pos' THEN 1 WHEN 'draft_order' THEN 2 ELSE 0 END AS channel \
         FROM orders \
         WHERE shop_id = $1 AND customer_id IS NOT NULL \
           AND COALESCE(paid_at, fulfilled_at) < $2 \
         ORDER BY customer_id";
    let mut rows = sqlx::query_as::<_, FactRow>(sql)
        .bind(shop_id)
        .bind(to)
        .fetch(&mut *conn);
    let mut current: Option<(i64, CustomerFacts)> = None;
    let mut read = 0_u32;
    while let Some(row) = rows.try_next().await? {
        // Rows already fetched keep the stream ready: give the requests
        // sharing this worker thread (webhooks among them) their turn.
        read = read.wrapping_add(1);
        if read % YIELD_EVERY == 0 {
            tokio::task::yield_now().await;
        }
        if current
            .as_ref()
            .is_none_or(|(id, _)| *id != row.customer_id)
        {
            if let Some((_, facts)) = current.take() {
                each(facts);
            }
            let facts = CustomerFacts {
                tier_floor: floors.get(&row.customer_id).cloned(),
                orders: Vec::new(),
            };
            current = Some((row.customer_id, facts));
        }
        if let Some((_, facts)) = &mut current {
            let refund = refunds.get(&row.order_id).copied();
            facts.orders.push(order_fact(row, refund));
        }
    }
    if let Some((_, facts)) = current {
        each(facts);
    }
    Ok(())
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
