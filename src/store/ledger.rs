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
}

/// Appends an entry and moves the customer's balance with it, once per
/// source key. Returns false when the source key was already recorded.
/// Run inside the transaction of the change it belongs to.
pub async fn append(
    conn: &mut AnyConnection,
    entry: &NewEntry<'_>,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO points_ledger (shop_id, customer_id, points, kind, reason, source_key, \
         settings_version, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (shop_id, source_key) DO NOTHING",
    )
    .bind(entry.shop_id)
    .bind(entry.customer_id)
    .bind(entry.points)
    .bind(entry.kind)
    .bind(entry.reason)
    .bind(entry.source_key)
    .bind(entry.settings_version)
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if inserted {
        sqlx::query(
            "INSERT INTO customers (shop_id, customer_id, points_balance, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $4) ON CONFLICT (shop_id, customer_id) DO UPDATE SET \
             points_balance = customers.points_balance + excluded.points_balance, updated_at = excluded.updated_at",
        )
        .bind(entry.shop_id)
        .bind(entry.customer_id)
        .bind(entry.points)
        .bind(now)
        .execute(conn)
        .await?;
    }
    Ok(inserted)
}
