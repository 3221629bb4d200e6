//! The sandbox's credentials, and the checks that keep a sandbox database
//! and a real one apart.

use sqlx::AnyConnection;

/// What the sandbox made for itself on first start.
#[derive(Clone, sqlx::FromRow)]
pub struct SandboxCredentials {
    pub api_secret: String,
    /// base64 of 32 bytes.
    pub encryption_key: String,
}

/// The stored credentials, or `fresh` stored now if there are none (two
/// processes starting at once agree on the first one written).
pub async fn load_or_create(
    conn: &mut AnyConnection,
    fresh: SandboxCredentials,
    now: i64,
) -> Result<SandboxCredentials, sqlx::Error> {
    sqlx::query(
        "INSERT INTO sandbox (id, api_secret, encryption_key, created_at) \
         VALUES (1, $1, $2, $3) ON CONFLICT (id) DO NOTHING",
    )
    .bind(&fresh.api_secret)
    .bind(&fresh.encryption_key)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    find(conn).await?.ok_or(sqlx::Error::RowNotFound)
}

/// The credentials of a sandbox database; `None` for a real one.
pub async fn find(conn: &mut AnyConnection) -> Result<Option<SandboxCredentials>, sqlx::Error> {
    sqlx::query_as("SELECT api_secret, encryption_key FROM sandbox WHERE id = 1")
        .fetch_optional(conn)
        .await
}

/// Shops other than `demo`: a database that has any holds real merchants.
pub async fn other_shops(conn: &mut AnyConnection, demo: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM shops WHERE domain <> $1")
        .bind(demo)
        .fetch_one(conn)
        .await
}
