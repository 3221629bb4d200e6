//! Reorder reminders: what was learned of each product, what the merchant
//! set, and one reminder per purchase cycle (see `crate::engine::reorder`).

use std::collections::HashMap;

use futures_util::TryStreamExt;
use sqlx::AnyConnection;

use super::{values_placeholders, Dialect};

/// A counted purchase of a product by a customer: (product, customer, paid
/// at, order, product title).
pub type Purchase = (i64, i64, i64, i64, String);

/// Calls `each` with every counted purchase of a product by a customer
/// (paid, not cancelled, not a test order), by product, then customer,
/// then time. Streamed: memory does not grow with the shop's orders.
pub async fn each_purchase(
    conn: &mut AnyConnection,
    shop_id: i64,
    mut each: impl FnMut(Purchase),
) -> Result<(), sqlx::Error> {
    let mut rows = sqlx::query_as::<_, Purchase>(
        "SELECT op.product_id, o.customer_id, o.paid_at, o.order_id, op.title \
         FROM order_products op JOIN orders o \
         ON o.shop_id = op.shop_id AND o.order_id = op.order_id \
         WHERE op.shop_id = $1 AND op.counted = 1 AND o.customer_id IS NOT NULL \
         AND o.paid_at IS NOT NULL \
         ORDER BY op.product_id, o.customer_id, o.paid_at, o.order_id",
    )
    .bind(shop_id)
    .fetch(conn);
    while let Some(row) = rows.try_next().await? {
        each(row);
    }
    Ok(())
}

/// What the merchant set for a product.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Setting {
    pub override_days: Option<i64>,
    pub disabled: bool,
}

/// The merchant's settings of the shop's products, by product.
pub async fn settings(
    conn: &mut AnyConnection,
    shop_id: i64,
) -> Result<HashMap<i64, Setting>, sqlx::Error> {
    let rows: Vec<(i64, Option<i64>, i64)> = sqlx::query_as(
        "SELECT product_id, override_days, disabled FROM reorder_products WHERE shop_id = $1",
    )
    .bind(shop_id)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(p, override_days, disabled)| {
            (
                p,
                Setting {
                    override_days,
                    disabled: disabled != 0,
                },
            )
        })
        .collect())
}

/// A product as learned: (product, title, learned days, repeat customers).
pub type LearnedRow = (i64, String, Option<i64>, i64);

/// Keeps what was learned of each product (the merchant's settings stay).
pub async fn save_learned(
    conn: &mut AnyConnection,
    shop_id: i64,
    rows: &[LearnedRow],
    now: i64,
) -> Result<(), sqlx::Error> {
    let dialect = Dialect::of(conn);
    for chunk in rows.chunks(400) {
        let sql = format!(
            "INSERT INTO reorder_products (shop_id, product_id, title, learned_days, \
             repeat_customers, learned_at) VALUES {} \
             ON CONFLICT (shop_id, product_id) DO UPDATE SET title = excluded.title, \
             learned_days = excluded.learned_days, \
             repeat_customers = excluded.repeat_customers, learned_at = excluded.learned_at",
            values_placeholders(dialect, chunk.len(), 6)
        );
        let mut query = sqlx::query(&sql);
        for (product, title, days, repeat) in chunk {
            query = query
                .bind(shop_id)
                .bind(*product)
                .bind(title.as_str())
                .bind(*days)
                .bind(*repeat)
                .bind(now);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// A product on the merchant's list.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Product {
    pub product_id: i64,
    pub title: String,
    pub learned_days: Option<i64>,
    pub repeat_customers: i64,
    pub override_days: Option<i64>,
    pub disabled: i64,
    pub learned_at: i64,
}

/// The shop's products bought again by someone (an interval learned or
/// not yet), or set by the merchant; most repeat customers first, at most
/// 1,000.
pub async fn products(conn: &mut AnyConnection, shop_id: i64) -> Result<Vec<Product>, sqlx::Error> {
    sqlx::query_as(
        "SELECT product_id, title, learned_days, repeat_customers, override_days, disabled, \
         learned_at FROM reorder_products WHERE shop_id = $1 \
         AND (repeat_customers > 0 OR override_days IS NOT NULL OR disabled = 1) \
         ORDER BY repeat_customers DESC, product_id LIMIT 1000",
    )
    .bind(shop_id)
    .fetch_all(conn)
    .await
}

/// Sets the merchant's interval and switch for a product Advocate has
/// seen bought; false for one it has not.
pub async fn set_product(
    conn: &mut AnyConnection,
    shop_id: i64,
    product_id: i64,
    setting: Setting,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE reorder_products SET override_days = $1, disabled = $2 \
         WHERE shop_id = $3 AND product_id = $4",
    )
    .bind(setting.override_days)
    .bind(i64::from(setting.disabled))
    .bind(shop_id)
    .bind(product_id)
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

/// A reminder to record.
#[derive(Debug, Clone)]
pub struct NewReminder {
    pub customer_id: i64,
    pub product_id: i64,
    pub cycle_order_id: i64,
    pub last_purchase_at: i64,
    pub interval_days: i64,
    pub due_at: i64,
    pub held_out: bool,
    pub code: Option<String>,
}

/// Records the reminder of a purchase cycle; its id, or None when the
/// cycle had its reminder already.
pub async fn insert_reminder(
    conn: &mut AnyConnection,
    shop_id: i64,
    r: &NewReminder,
    now: i64,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO reorder_reminders (shop_id, customer_id, product_id, cycle_order_id, \
         last_purchase_at, interval_days, due_at, held_out, code, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (shop_id, customer_id, product_id, cycle_order_id) DO NOTHING RETURNING id",
    )
    .bind(shop_id)
    .bind(r.customer_id)
    .bind(r.product_id)
    .bind(r.cycle_order_id)
    .bind(r.last_purchase_at)
    .bind(r.interval_days)
    .bind(r.due_at)
    .bind(i64::from(r.held_out))
    .bind(r.code.as_deref())
    .bind(now)
    .fetch_optional(conn)
    .await
}

/// A recorded reminder: (customer, product, sent at, held out).
pub type Sent = (i64, i64, i64, i64);

/// The reminders recorded in `[from, to)`.
pub async fn sent_between(
    conn: &mut AnyConnection,
    shop_id: i64,
    from: i64,
    to: i64,
) -> Result<Vec<Sent>, sqlx::Error> {
    sqlx::query_as(
        "SELECT customer_id, product_id, created_at, held_out FROM reorder_reminders \
         WHERE shop_id = $1 AND created_at >= $2 AND created_at < $3",
    )
    .bind(shop_id)
    .bind(from)
    .bind(to)
    .fetch_all(conn)
    .await
}

/// Counted purchases paid from `from` on by customers who had a reminder
/// since then: (customer, product, paid at, order, net revenue in minor
/// units), by time.
pub async fn purchases_since(
    conn: &mut AnyConnection,
    shop_id: i64,
    from: i64,
) -> Result<Vec<(i64, i64, i64, i64, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT o.customer_id, op.product_id, o.paid_at, o.order_id, \
         o.total_minor - o.refunded_minor \
         FROM order_products op JOIN orders o \
         ON o.shop_id = op.shop_id AND o.order_id = op.order_id \
         WHERE op.shop_id = $1 AND op.counted = 1 AND o.paid_at >= $2 \
         AND o.customer_id IN (SELECT customer_id FROM reorder_reminders \
         WHERE shop_id = $1 AND created_at >= $2) \
         ORDER BY o.paid_at, o.order_id",
    )
    .bind(shop_id)
    .bind(from)
    .fetch_all(conn)
    .await
}

/// The customer's reminders sent (not held out) since `since` whose cycle
/// is still open (no purchase of the product after it): (product, title,
/// due at), soonest due first.
pub async fn open_for_customer(
    conn: &mut AnyConnection,
    shop_id: i64,
    customer_id: i64,
    since: i64,
) -> Result<Vec<(i64, String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT r.product_id, p.title, r.due_at FROM reorder_reminders r \
         JOIN reorder_products p ON p.shop_id = r.shop_id AND p.product_id = r.product_id \
         WHERE r.shop_id = $1 AND r.customer_id = $2 AND r.held_out = 0 AND r.created_at >= $3 \
         AND NOT EXISTS (SELECT 1 FROM order_products op JOIN orders o \
         ON o.shop_id = op.shop_id AND o.order_id = op.order_id \
         WHERE op.shop_id = r.shop_id AND op.product_id = r.product_id AND op.counted = 1 \
         AND o.customer_id = r.customer_id AND o.paid_at > r.last_purchase_at) \
         ORDER BY r.due_at, r.product_id LIMIT 5",
    )
    .bind(shop_id)
    .bind(customer_id)
    .bind(since)
    .fetch_all(conn)
    .await
}

/// customers/redact: the customer's reminders go.
pub async fn redact_for_customer(
    conn: &mut AnyConnection,
    shop_id: i64,
    customer_id: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM reorder_reminders WHERE shop_id = $1 AND customer_id = $2")
        .bind(shop_id)
        .bind(customer_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// A customer's reminders, for their data request: (product, cycle order,
/// due at, held out, sent at).
pub async fn list_for_customer(
    conn: &mut AnyConnection,
    shop_id: i64,
    customer_id: i64,
) -> Result<Vec<serde_json::Value>, sqlx::Error> {
    let rows: Vec<(i64, i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT product_id, cycle_order_id, due_at, held_out, created_at FROM reorder_reminders \
         WHERE shop_id = $1 AND customer_id = $2 ORDER BY id",
    )
    .bind(shop_id)
    .bind(customer_id)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(product, order, due, held, at)| {
            serde_json::json!({
                "product_id": product, "order_id": order, "due_at": due,
                "held_out": held != 0, "created_at": at,
            })
        })
        .collect())
}
