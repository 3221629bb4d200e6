//! Redeemed rewards: one row per (customer, idempotency key), so a retried
//! request finds the redemption it already made.

use serde::Serialize;
use sqlx::AnyConnection;

use crate::loyalty::{CustomerId, EpochMs, ShopId};

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct Redemption {
    pub id: i64,
    pub customer_id: i64,
    pub reward_id: String,
    pub reward_name: String,
    pub points: i64,
    pub code: String,
    pub channel: String,
    pub created_at: i64,
    pub expires_at: i64,
}

const COLUMNS: &str =
    "id, customer_id, reward_id, reward_name, points, code, channel, created_at, expires_at";

/// The customer's redemption made under `idempotency_key`, if any.
pub async fn find_by_key(
    conn: &mut AnyConnection,
    shop: ShopId,
    customer: CustomerId,
    idempotency_key: &str,
) -> Result<Option<Redemption>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM redemptions WHERE shop_id = $1 AND customer_id = $2 \
         AND idempotency_key = $3"
    ))
    .bind(shop)
    .bind(customer)
    .bind(idempotency_key)
    .fetch_optional(conn)
    .await
}

pub struct NewRedemption<'a> {
    pub shop_id: ShopId,
    pub customer_id: CustomerId,
    pub idempotency_key: &'a str,
    pub reward_id: &'a str,
    pub reward_name: &'a str,
    pub points: i64,
    pub code: &'a str,
    pub channel: &'a str,
    pub actor: &'a str,
    pub expires_at: EpochMs,
}

/// Inserts the redemption; None when the idempotency key is already used
/// (by a concurrent request).
pub async fn insert(
    conn: &mut AnyConnection,
    r: &NewRedemption<'_>,
    now: EpochMs,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO redemptions (shop_id, customer_id, idempotency_key, reward_id, reward_name, \
         points, code, channel, actor, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT (shop_id, customer_id, idempotency_key) DO NOTHING RETURNING id",
    )
    .bind(r.shop_id)
    .bind(r.customer_id)
    .bind(r.idempotency_key)
    .bind(r.reward_id)
    .bind(r.reward_name)
    .bind(r.points)
    .bind(r.code)
    .bind(r.channel)
    .bind(r.actor)
    .bind(now)
    .bind(r.expires_at)
    .fetch_optional(conn)
    .await
}

pub async fn list_for_customer(
    conn: &mut AnyConnection,
    shop_id: i64,
    customer_id: i64,
) -> Result<Vec<Redemption>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM redemptions WHERE shop_id = $1 AND customer_id = $2 ORDER BY id DESC LIMIT 100"
    ))
    .bind(shop_id)
    .bind(customer_id)
    .fetch_all(conn)
    .await
}
