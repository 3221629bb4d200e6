//! Program settings: the current version on the shop row, every version in
//! `program_versions`. A save names the version it edited; if another save
//! came first it is refused, so two admins cannot silently overwrite each
//! other.

use sqlx::{AnyConnection, Row};

use crate::loyalty::settings::ProgramSettings;

/// A shop's program as stored.
#[derive(Debug, Clone)]
pub struct Program {
    pub settings: ProgramSettings,
    pub version: i64,
    /// The shop's currency, once an order has told us; amounts in the
    /// settings are in it.
    pub currency: String,
}

impl Program {
    pub fn exponent(&self) -> u32 {
        crate::loyalty::money::exponent(&self.currency)
    }
}

/// The currency assumed until the shop's first order says otherwise.
pub const DEFAULT_CURRENCY: &str = "USD";

pub async fn get_program(conn: &mut AnyConnection, shop_id: i64) -> Result<Program, sqlx::Error> {
    let row = sqlx::query("SELECT settings, settings_version, currency FROM shops WHERE id = $1")
        .bind(shop_id)
        .fetch_one(conn)
        .await?;
    let raw: String = row.try_get("settings")?;
    // Stored settings were validated when saved; '{}' (a new shop) is the
    // defaults.
    let settings = serde_json::from_str(&raw).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    Ok(Program {
        settings,
        version: row.try_get("settings_version")?,
        currency: row
            .try_get::<Option<String>, _>("currency")?
            .unwrap_or_else(|| DEFAULT_CURRENCY.to_owned()),
    })
}

/// Stores `settings` as the version after `expected_version`. Returns the
/// new version, or None when the current version is no longer
/// `expected_version`.
pub async fn save_program(
    conn: &mut AnyConnection,
    shop_id: i64,
    expected_version: i64,
    settings: &ProgramSettings,
    actor: &str,
    now: i64,
) -> Result<Option<i64>, sqlx::Error> {
    let json = serde_json::to_string(settings).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let version = expected_version + 1;
    let updated = sqlx::query(
        "UPDATE shops SET settings = $1, settings_version = $2, updated_at = $3 \
         WHERE id = $4 AND settings_version = $5",
    )
    .bind(&json)
    .bind(version)
    .bind(now)
    .bind(shop_id)
    .bind(expected_version)
    .execute(&mut *conn)
    .await?;
    if updated.rows_affected() != 1 {
        return Ok(None);
    }
    sqlx::query(
        "INSERT INTO program_versions (shop_id, version, settings, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(shop_id)
    .bind(version)
    .bind(&json)
    .bind(actor)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(Some(version))
}

/// Records the shop's currency the first time an order reveals it.
pub async fn learn_currency(
    conn: &mut AnyConnection,
    shop_id: i64,
    currency: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE shops SET currency = $1 WHERE id = $2 AND currency IS NULL")
        .bind(currency)
        .bind(shop_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Shops whose tiers need re-evaluating: settings changed since the last
/// run, or (`rolling`) all installed shops.
pub async fn shops_for_tier_evaluation(
    conn: &mut AnyConnection,
) -> Result<Vec<(i64, i64, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, settings_version, tiers_evaluated_version FROM shops WHERE status = 'installed'",
    )
    .fetch_all(conn)
    .await
}

pub async fn mark_tiers_evaluated(
    conn: &mut AnyConnection,
    shop_id: i64,
    version: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE shops SET tiers_evaluated_version = $1 WHERE id = $2")
        .bind(version)
        .bind(shop_id)
        .execute(conn)
        .await?;
    Ok(())
}
