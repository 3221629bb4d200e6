//! Orders: the facts of each order that loyalty needs (amounts in the shop's
//! currency, minor units). Written by the loyalty engine; redaction only
//! removes the email a guest order carries.

use serde::Serialize;
use sqlx::AnyConnection;

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct OrderFacts {
    pub order_id: i64,
    pub currency: String,
    pub subtotal_minor: i64,
    pub total_minor: i64,
    pub refunded_minor: i64,
    pub financial_status: Option<String>,
    pub processed_at: Option<i64>,
    pub cancelled_at: Option<i64>,
}

pub async fn list_for_customer(
    conn: &mut AnyConnection,
    shop_id: i64,
    customer_id: i64,
) -> Result<Vec<OrderFacts>, sqlx::Error> {
    sqlx::query_as(
        "SELECT order_id, currency, subtotal_minor, total_minor, refunded_minor, financial_status, \
         processed_at, cancelled_at FROM orders WHERE shop_id = $1 AND customer_id = $2 ORDER BY order_id",
    )
    .bind(shop_id)
    .bind(customer_id)
    .fetch_all(conn)
    .await
}

/// Removes personal data from the customer's orders and from `order_ids`.
pub async fn redact_orders(
    conn: &mut AnyConnection,
    shop_id: i64,
    customer_id: i64,
    order_ids: &[i64],
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE orders SET email = NULL WHERE shop_id = $1 AND customer_id = $2")
        .bind(shop_id)
        .bind(customer_id)
        .execute(&mut *conn)
        .await?;
    for order_id in order_ids {
        sqlx::query("UPDATE orders SET email = NULL WHERE shop_id = $1 AND order_id = $2")
            .bind(shop_id)
            .bind(order_id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
