//! Merchant API keys: one row per key, found by its public prefix; only
//! the key's SHA-256 is stored (see `migrations/*/0025_api_keys.sql`).

use sqlx::AnyConnection;

/// A key as the merchant sees it listed (never its secret or hash).
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct ApiKeyRow {
    pub id: i64,
    pub name: String,
    pub prefix: String,
    /// Comma-separated.
    pub scopes: String,
    pub created_at: i64,
    pub created_by: String,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// What authenticating a key reads.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KeyForCheck {
    pub id: i64,
    pub shop_id: i64,
    pub secret_hash: String,
    pub scopes: String,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

pub struct NewKey<'a> {
    pub shop_id: i64,
    pub name: &'a str,
    pub prefix: &'a str,
    pub secret_hash: &'a str,
    pub scopes: &'a str,
    pub created_by: &'a str,
}

const COLUMNS: &str = "id, name, prefix, scopes, created_at, created_by, last_used_at, revoked_at";

pub async fn insert(
    conn: &mut AnyConnection,
    key: &NewKey<'_>,
    now: i64,
) -> Result<ApiKeyRow, sqlx::Error> {
    sqlx::query_as(&format!(
        "INSERT INTO api_keys (shop_id, name, prefix, secret_hash, scopes, created_at, created_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}"
    ))
    .bind(key.shop_id)
    .bind(key.name)
    .bind(key.prefix)
    .bind(key.secret_hash)
    .bind(key.scopes)
    .bind(now)
    .bind(key.created_by)
    .fetch_one(conn)
    .await
}

/// The shop's keys, newest first.
pub async fn list(conn: &mut AnyConnection, shop_id: i64) -> Result<Vec<ApiKeyRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM api_keys WHERE shop_id = $1 ORDER BY id DESC"
    ))
    .bind(shop_id)
    .fetch_all(conn)
    .await
}

/// Revokes one of the shop's keys; false when the shop has no such key.
/// Revoking twice keeps the first time.
pub async fn revoke(
    conn: &mut AnyConnection,
    shop_id: i64,
    key_id: i64,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE shop_id = $2 AND id = $3",
    )
    .bind(now)
    .bind(shop_id)
    .bind(key_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The key with this prefix, if its shop has the app installed (an
/// uninstalled or redacted shop's keys open nothing).
pub async fn find_by_prefix(
    conn: &mut AnyConnection,
    prefix: &str,
) -> Result<Option<KeyForCheck>, sqlx::Error> {
    sqlx::query_as(
        "SELECT k.id, k.shop_id, k.secret_hash, k.scopes, k.last_used_at, k.revoked_at \
         FROM api_keys k JOIN shops s ON s.id = k.shop_id \
         WHERE k.prefix = $1 AND s.status = $2",
    )
    .bind(prefix)
    .bind(super::shops::status::INSTALLED)
    .fetch_optional(conn)
    .await
}

/// Records that the key was used now.
pub async fn touch(conn: &mut AnyConnection, key_id: i64, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
        .bind(now)
        .bind(key_id)
        .execute(conn)
        .await?;
    Ok(())
}
