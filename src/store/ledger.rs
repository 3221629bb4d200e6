//! The points ledger. Invariants: append-only; a source key is unique per
//! shop, so one business fact moves points at most once; a customer's
//! `points_balance + points_pending` equals the sum of their entries.

use serde::Serialize;
use sqlx::AnyConnection;

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct LedgerEntry {
    pub id: i64,
    pub points: i64,
    pub kind: String,
    pub reason: String,
    pub source_key: String,
    pub created_at: i64,
}

pub async fn list_for_customer(
    conn: &mut AnyConnection,
    shop_id: i64,
    customer_id: i64,
) -> Result<Vec<LedgerEntry>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, points, kind, reason, source_key, created_at FROM points_ledger \
         WHERE shop_id = $1 AND customer_id = $2 ORDER BY id",
    )
    .bind(shop_id)
    .bind(customer_id)
    .fetch_all(conn)
    .await
}
