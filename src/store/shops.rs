//! Shops. A shop row is created the first time Shopify tells us about the
//! shop (install or a verified webhook) and is never deleted: shop/redact
//! empties it and leaves a tombstone with status `redacted`.

use sqlx::AnyConnection;

use crate::loyalty::calendar::Zone;

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

/// The shop's id, when it is known.
pub async fn find_shop_id(
    conn: &mut AnyConnection,
    domain: &str,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM shops WHERE domain = $1")
        .bind(domain)
        .fetch_optional(conn)
        .await
}

/// The shop with this id, when it is known.
pub async fn find_by_id(conn: &mut AnyConnection, id: i64) -> Result<Option<Shop>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {SHOP_COLUMNS} FROM shops WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

pub async fn get_shop(conn: &mut AnyConnection, domain: &str) -> Result<Shop, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {SHOP_COLUMNS} FROM shops WHERE domain = $1"
    ))
    .bind(domain)
    .fetch_one(conn)
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
        "DELETE FROM member_imports WHERE shop_id = $1",
        "DELETE FROM api_keys WHERE shop_id = $1",
        "DELETE FROM webhook_attempts WHERE delivery_id IN \
         (SELECT id FROM webhook_deliveries WHERE shop_id = $1)",
        "DELETE FROM webhook_deliveries WHERE shop_id = $1",
        "DELETE FROM webhook_endpoints WHERE shop_id = $1",
        "DELETE FROM activities WHERE shop_id = $1",
        "DELETE FROM history_imports WHERE shop_id = $1",
        "DELETE FROM orders WHERE shop_id = $1",
        "DELETE FROM customers WHERE shop_id = $1",
        "DELETE FROM data_requests WHERE shop_id = $1",
        "DELETE FROM outbox WHERE shop_id = $1",
        "DELETE FROM order_refunds WHERE shop_id = $1",
        "DELETE FROM tier_changes WHERE shop_id = $1",
        "DELETE FROM redemptions WHERE shop_id = $1",
        "DELETE FROM referral_codes WHERE shop_id = $1",
        "DELETE FROM referrals WHERE shop_id = $1",
        "DELETE FROM program_versions WHERE shop_id = $1",
        "DELETE FROM analytics_snapshots WHERE shop_id = $1",
        "DELETE FROM segment_changes WHERE shop_id = $1",
        "DELETE FROM segment_state WHERE shop_id = $1",
        "DELETE FROM segment_runs WHERE shop_id = $1",
        "DELETE FROM segment_reports WHERE shop_id = $1",
        "DELETE FROM nps_responses WHERE shop_id = $1",
        "DELETE FROM winback_episodes WHERE shop_id = $1",
        "DELETE FROM winback_keys WHERE shop_id = $1",
        "DELETE FROM order_products WHERE shop_id = $1",
        "DELETE FROM product_pairs WHERE shop_id = $1",
        "DELETE FROM redacted_orders WHERE shop_id = $1",
        "DELETE FROM shop_days WHERE shop_id = $1",
        "DELETE FROM reorder_reminders WHERE shop_id = $1",
        "DELETE FROM reorder_products WHERE shop_id = $1",
    ] {
        sqlx::query(table).bind(shop_id).execute(&mut *conn).await?;
    }
    sqlx::query(
        "UPDATE shops SET status = $1, access_token_enc = NULL, access_token_expires_at = NULL, \
         refresh_token_enc = NULL, refresh_token_expires_at = NULL, scopes = NULL, \
         settings = '{}', currency = NULL, iana_timezone = NULL, updated_at = $2 WHERE id = $3",
    )
    .bind(status::REDACTED)
    .bind(now)
    .bind(shop_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// A shop's tokens as stored: encrypted, with their expiry (epoch ms).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredTokens {
    pub access_token_enc: Vec<u8>,
    pub access_token_expires_at: Option<i64>,
    pub refresh_token_enc: Option<Vec<u8>>,
    pub refresh_token_expires_at: Option<i64>,
    pub scopes: Option<String>,
}

/// A shop with what its credentials look like.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ShopCredentials {
    pub id: i64,
    pub status: String,
    pub needs_reauth: i64,
    pub access_token_enc: Option<Vec<u8>>,
    pub access_token_expires_at: Option<i64>,
    pub refresh_token_enc: Option<Vec<u8>>,
}

impl ShopCredentials {
    /// Installed, with a token, and not waiting for the merchant to
    /// authenticate again.
    pub fn usable(&self) -> bool {
        self.status == status::INSTALLED
            && self.needs_reauth == 0
            && self.access_token_enc.is_some()
    }
}

pub async fn find_credentials(
    conn: &mut AnyConnection,
    domain: &str,
) -> Result<Option<ShopCredentials>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, status, needs_reauth, access_token_enc, access_token_expires_at, \
         refresh_token_enc FROM shops WHERE domain = $1",
    )
    .bind(domain)
    .fetch_optional(conn)
    .await
}

/// An install (first or again): new tokens, status installed. Loyalty data
/// kept from an earlier installation stays.
pub async fn save_install(
    conn: &mut AnyConnection,
    domain: &str,
    tokens: &StoredTokens,
    now: i64,
) -> Result<Shop, sqlx::Error> {
    sqlx::query(
        "INSERT INTO shops (domain, status, access_token_enc, access_token_expires_at, \
             refresh_token_enc, refresh_token_expires_at, scopes, needs_reauth, installed_at, \
             created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $8, $8) \
         ON CONFLICT (domain) DO UPDATE SET status = excluded.status, \
             access_token_enc = excluded.access_token_enc, \
             access_token_expires_at = excluded.access_token_expires_at, \
             refresh_token_enc = excluded.refresh_token_enc, \
             refresh_token_expires_at = excluded.refresh_token_expires_at, \
             scopes = excluded.scopes, needs_reauth = 0, installed_at = excluded.installed_at, \
             uninstalled_at = NULL, updated_at = excluded.updated_at",
    )
    .bind(domain)
    .bind(status::INSTALLED)
    .bind(tokens.access_token_enc.as_slice())
    .bind(tokens.access_token_expires_at)
    .bind(tokens.refresh_token_enc.as_deref())
    .bind(tokens.refresh_token_expires_at)
    .bind(tokens.scopes.as_deref())
    .bind(now)
    .execute(&mut *conn)
    .await?;
    get_shop(conn, domain).await
}

/// Replaces the token pair after a refresh (both at once: the old refresh
/// token is spent).
pub async fn update_tokens(
    conn: &mut AnyConnection,
    shop_id: i64,
    tokens: &StoredTokens,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE shops SET access_token_enc = $1, access_token_expires_at = $2, \
         refresh_token_enc = $3, refresh_token_expires_at = $4, updated_at = $5 WHERE id = $6",
    )
    .bind(tokens.access_token_enc.as_slice())
    .bind(tokens.access_token_expires_at)
    .bind(tokens.refresh_token_enc.as_deref())
    .bind(tokens.refresh_token_expires_at)
    .bind(now)
    .bind(shop_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Shopify refused our refresh token: the merchant must authenticate again.
pub async fn mark_needs_reauth(
    conn: &mut AnyConnection,
    shop_id: i64,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE shops SET needs_reauth = 1, updated_at = $1 WHERE id = $2")
        .bind(now)
        .bind(shop_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Every stored token, for re-encryption under a new key.
pub async fn list_encrypted_tokens(
    conn: &mut AnyConnection,
) -> Result<Vec<(i64, String, Option<Vec<u8>>, Option<Vec<u8>>)>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, domain, access_token_enc, refresh_token_enc FROM shops \
         WHERE access_token_enc IS NOT NULL OR refresh_token_enc IS NOT NULL",
    )
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            use sqlx::Row;
            Ok((
                r.try_get("id")?,
                r.try_get("domain")?,
                r.try_get("access_token_enc")?,
                r.try_get("refresh_token_enc")?,
            ))
        })
        .collect()
}

pub async fn set_encrypted_tokens(
    conn: &mut AnyConnection,
    shop_id: i64,
    access: Option<&[u8]>,
    refresh: Option<&[u8]>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE shops SET access_token_enc = $1, refresh_token_enc = $2 WHERE id = $3")
        .bind(access)
        .bind(refresh)
        .bind(shop_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Serialises token refreshes of one shop across processes. On PostgreSQL it
/// holds a transaction-scoped advisory lock until [`RefreshLock::finish`] (or
/// drop, which rolls back and releases it); SQLite serves one process, whose
/// in-process lock is enough.
pub struct RefreshLock {
    tx: Option<super::Tx>,
}

/// Keeps our advisory locks apart from anyone else's.
const REFRESH_LOCK_NAMESPACE: i64 = 0x4144_0000_0000;

impl RefreshLock {
    pub async fn acquire(store: &super::Store, shop_id: i64) -> Result<Self, sqlx::Error> {
        match store.dialect() {
            super::Dialect::Sqlite => Ok(Self { tx: None }),
            super::Dialect::Postgres => {
                let mut tx = store.begin().await?;
                super::lock_until_commit(&mut tx, REFRESH_LOCK_NAMESPACE + shop_id).await?;
                Ok(Self { tx: Some(tx) })
            }
        }
    }

    /// Stores the refreshed pair and releases the lock, atomically on
    /// PostgreSQL.
    pub async fn finish(
        self,
        store: &super::Store,
        shop_id: i64,
        tokens: &StoredTokens,
        now: i64,
    ) -> Result<(), sqlx::Error> {
        match self.tx {
            Some(mut tx) => {
                update_tokens(&mut tx, shop_id, tokens, now).await?;
                tx.commit().await
            }
            None => {
                let mut conn = store.writer().acquire().await?;
                update_tokens(&mut conn, shop_id, tokens, now).await
            }
        }
    }
}

/// The shop's VIP perks discount, once created.
pub async fn vip_discount_id(
    conn: &mut AnyConnection,
    shop_id: i64,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT vip_discount_id FROM shops WHERE id = $1")
        .bind(shop_id)
        .fetch_optional(conn)
        .await
        .map(Option::flatten)
}

/// Records the VIP perks discount Shopify created (the first one wins).
pub async fn set_vip_discount_id(
    conn: &mut AnyConnection,
    shop_id: i64,
    discount_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE shops SET vip_discount_id = $1 WHERE id = $2 AND vip_discount_id IS NULL")
        .bind(discount_id)
        .bind(shop_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Keeps the shop's time zone, as Shopify named it; a name the time zone
/// database does not know is not kept (the shop's days stay as they were).
/// Returns whether it was kept.
pub async fn set_time_zone(
    conn: &mut AnyConnection,
    shop_id: i64,
    name: &str,
) -> Result<bool, sqlx::Error> {
    let Some(zone) = Zone::parse(name) else {
        tracing::warn!(
            shop_id,
            "Shopify named a time zone Advocate does not know; not kept"
        );
        return Ok(false);
    };
    sqlx::query("UPDATE shops SET iana_timezone = $1 WHERE id = $2")
        .bind(zone.name())
        .bind(shop_id)
        .execute(conn)
        .await?;
    Ok(true)
}

/// The shop's time zone: UTC until Advocate has read it.
pub async fn time_zone(conn: &mut AnyConnection, shop_id: i64) -> Result<Zone, sqlx::Error> {
    let name: Option<Option<String>> =
        sqlx::query_scalar("SELECT iana_timezone FROM shops WHERE id = $1")
            .bind(shop_id)
            .fetch_optional(conn)
            .await?;
    Ok(Zone::of_shop(name.flatten().as_deref()))
}

/// Ids of the shops that have Advocate installed.
pub async fn installed_ids(conn: &mut AnyConnection) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM shops WHERE status = 'installed' ORDER BY id")
        .fetch_all(conn)
        .await
}
