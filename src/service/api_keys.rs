//! Merchant API keys: made on the admin page with a name and scopes, the
//! key shown once, only its SHA-256 kept; revocable; checked on every
//! `/api/v1` request in constant time.
//!
//! A key is `adv_{prefix}_{secret}`: 12 hex characters of public prefix
//! (finds the row) and 32 bytes of secret (hex). The key has 256 bits of
//! entropy, so a fast hash is the right one: nothing to brute-force.

use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::{
    loyalty::EpochMs,
    store::{
        api_keys::{self, ApiKeyRow, NewKey},
        Store,
    },
};

/// What a key may be allowed to do.
pub const SCOPES: &[&str] = &[
    "read_customers",
    "read_ledger",
    "write_points",
    "write_redemptions",
    "read_program",
    "write_activities",
    "manage_webhooks",
];

/// `last_used_at` is written at most this often per key.
const TOUCH_EVERY_MS: i64 = 60_000;

#[derive(Debug, thiserror::Error)]
pub enum ApiKeyError {
    #[error("a key needs a name of 1 to 80 characters")]
    BadName,
    #[error("a key needs at least one scope, each one of: {}", SCOPES.join(", "))]
    BadScopes,
    #[error("no such key")]
    UnknownKey,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// A key just made: its row, and the key itself (shown this once).
#[derive(Debug, Clone, Serialize)]
pub struct CreatedKey {
    #[serde(flatten)]
    pub key: KeyView,
    /// The key to send as `Authorization: Bearer …`; not stored, not shown
    /// again.
    pub secret: String,
}

/// A key as listed.
#[derive(Debug, Clone, Serialize)]
pub struct KeyView {
    pub id: i64,
    pub name: String,
    pub prefix: String,
    pub scopes: Vec<String>,
    /// RFC 3339.
    pub created_at: String,
    pub created_by: String,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
}

impl From<ApiKeyRow> for KeyView {
    fn from(r: ApiKeyRow) -> Self {
        Self {
            id: r.id,
            name: r.name,
            prefix: r.prefix,
            scopes: split_scopes(&r.scopes),
            created_at: crate::engine::rfc3339(r.created_at),
            created_by: r.created_by,
            last_used_at: r.last_used_at.map(crate::engine::rfc3339),
            revoked_at: r.revoked_at.map(crate::engine::rfc3339),
        }
    }
}

fn split_scopes(raw: &str) -> Vec<String> {
    raw.split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Makes a key for the shop with `name` and `scopes` (each known, at least
/// one; repeats collapse), by the staff member `created_by`.
pub async fn create(
    store: &Store,
    shop_id: i64,
    name: &str,
    scopes: &[String],
    created_by: &str,
) -> Result<CreatedKey, ApiKeyError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 80 || name.chars().any(char::is_control) {
        return Err(ApiKeyError::BadName);
    }
    let mut granted: Vec<&str> = SCOPES
        .iter()
        .copied()
        .filter(|s| scopes.iter().any(|asked| asked == s))
        .collect();
    granted.dedup();
    if granted.is_empty() || scopes.iter().any(|s| !SCOPES.contains(&s.as_str())) {
        return Err(ApiKeyError::BadScopes);
    }
    let prefix = hex::encode(rand::random::<[u8; 6]>());
    let secret = format!("adv_{prefix}_{}", hex::encode(rand::random::<[u8; 32]>()));
    let mut conn = store.writer().acquire().await?;
    let row = api_keys::insert(
        &mut conn,
        &NewKey {
            shop_id,
            name,
            prefix: &prefix,
            secret_hash: &hash(&secret),
            scopes: &granted.join(","),
            created_by,
        },
        EpochMs::now().0,
    )
    .await?;
    Ok(CreatedKey {
        key: row.into(),
        secret,
    })
}

/// The shop's keys, newest first.
pub async fn list(store: &Store, shop_id: i64) -> Result<Vec<KeyView>, sqlx::Error> {
    let mut conn = store.reader().acquire().await?;
    Ok(api_keys::list(&mut conn, shop_id)
        .await?
        .into_iter()
        .map(KeyView::from)
        .collect())
}

/// Revokes one of the shop's keys at once: its next request is refused.
pub async fn revoke(store: &Store, shop_id: i64, key_id: i64) -> Result<(), ApiKeyError> {
    let mut conn = store.writer().acquire().await?;
    if api_keys::revoke(&mut conn, shop_id, key_id, EpochMs::now().0).await? {
        Ok(())
    } else {
        Err(ApiKeyError::UnknownKey)
    }
}

/// A key that checked out: whose it is and what it may do.
#[derive(Debug, Clone)]
pub struct KeyGrant {
    pub key_id: i64,
    pub shop_id: i64,
    pub scopes: Vec<String>,
}

/// The grant of a presented key, or None for anything that is not a live
/// key (malformed, unknown, wrong secret, revoked). Records its use.
pub async fn authenticate(store: &Store, presented: &str) -> Result<Option<KeyGrant>, sqlx::Error> {
    let Some(prefix) = presented
        .strip_prefix("adv_")
        .and_then(|rest| rest.split_once('_'))
        .map(|(prefix, _)| prefix)
        .filter(|p| p.len() == 12 && p.bytes().all(|b| b.is_ascii_hexdigit()))
    else {
        return Ok(None);
    };
    let found = {
        let mut conn = store.reader().acquire().await?;
        api_keys::find_by_prefix(&mut conn, prefix).await?
    };
    let Some(row) = found else { return Ok(None) };
    let matches: bool = hash(presented)
        .as_bytes()
        .ct_eq(row.secret_hash.as_bytes())
        .into();
    if !matches || row.revoked_at.is_some() {
        return Ok(None);
    }
    let now = EpochMs::now().0;
    if row.last_used_at.is_none_or(|at| now - at >= TOUCH_EVERY_MS) {
        let mut conn = store.writer().acquire().await?;
        api_keys::touch(&mut conn, row.id, now).await?;
    }
    Ok(Some(KeyGrant {
        key_id: row.id,
        shop_id: row.shop_id,
        scopes: split_scopes(&row.scopes),
    }))
}
