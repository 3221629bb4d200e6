//! Shops. A shop row is created the first time Shopify tells us about the
//! shop (install or a verified webhook) and is never deleted: shop/redact
//! empties it and leaves a tombstone with status `redacted`.

use sqlx::AnyConnection;

/// Lifecycle states of a shop.
pub mod status {
    pub const INSTALLED: &str = "installed";
    pub const UNINSTALLED: &str = "uninstalled";
    pub const REDACTED: &str = "redacted";
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Shop {
    pub id: i64,
    pub domain: String,
    pub status: String,
    pub installed_at: Option<i64>,
    pub uninstalled_at: Option<i64>,
}

const SHOP_COLUMNS: &str = "id, domain, status, installed_at, uninstalled_at";

/// The shop, created as installed if this is the first we hear of it (a
/// verified webhook proves Shopify has the app installed there). Its install
/// time stays unknown until it installs through us.
pub async fn ensure_shop(
    conn: &mut AnyConnection,
    domain: &str,
    now: i64,
) -> Result<Shop, sqlx::Error> {
    sqlx::query(
        "INSERT INTO shops (domain, status, created_at, updated_at) \
         VALUES ($1, $2, $3, $3) ON CONFLICT (domain) DO NOTHING",
    )
    .bind(domain)
    .bind(status::INSTALLED)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    get_shop(conn, domain).await
}

pub async fn get_shop(conn: &mut AnyConnection, domain: &str) -> Result<Shop, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {SHOP_COLUMNS} FROM shops WHERE domain = $1"
    ))
    .bind(domain)
    .fetch_one(conn)
    .await
}

pub async fn find_shop(
    conn: &mut AnyConnection,
    domain: &str,
) -> Result<Option<Shop>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {SHOP_COLUMNS} FROM shops WHERE domain = $1"
    ))
    .bind(domain)
    .fetch_optional(conn)
    .await
}

/// app/uninstalled: the tokens are gone and the shop is inactive until it
/// installs again. Loyalty data stays until shop/redact.
pub async fn mark_uninstalled(
    conn: &mut AnyConnection,
    shop_id: i64,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE shops SET status = $1, access_token_enc = NULL, access_token_expires_at = NULL, \
         refresh_token_enc = NULL, refresh_token_expires_at = NULL, needs_reauth = 0, \
         uninstalled_at = $2, updated_at = $2 WHERE id = $3",
    )
    .bind(status::UNINSTALLED)
    .bind(now)
    .bind(shop_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// shop/redact: everything held for the shop goes; the row stays as a
/// tombstone without tokens or settings.
pub async fn redact_shop(
    conn: &mut AnyConnection,
    shop_id: i64,
    now: i64,
) -> Result<(), sqlx::Error> {
    for table in [
        "DELETE FROM points_ledger WHERE shop_id = $1",
        "DELETE FROM orders WHERE shop_id = $1",
        "DELETE FROM customers WHERE shop_id = $1",
        "DELETE FROM data_requests WHERE shop_id = $1",
        "DELETE FROM outbox WHERE shop_id = $1",
    ] {
        sqlx::query(table).bind(shop_id).execute(&mut *conn).await?;
    }
    sqlx::query(
        "UPDATE shops SET status = $1, access_token_enc = NULL, access_token_expires_at = NULL, \
         refresh_token_enc = NULL, refresh_token_expires_at = NULL, scopes = NULL, \
         settings = '{}', updated_at = $2 WHERE id = $3",
    )
    .bind(status::REDACTED)
    .bind(now)
    .bind(shop_id)
    .execute(conn)
    .await?;
    Ok(())
}
