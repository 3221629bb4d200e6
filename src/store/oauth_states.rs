//! OAuth `state` nonces: created by `/auth`, consumed once by
//! `/auth/callback` for the same shop before they expire. Anyone may start
//! an install, so the table is bounded: at most a configured number of
//! unexpired states, and expired ones are removed a small batch per insert
//! and all at once by the hourly retention job (both through the index on
//! `expires_at`, never a scan of the table).

use sqlx::AnyConnection;

use super::Store;

/// Expired states removed by one insert: more than one insert creates, so
/// the table shrinks under steady use, and few enough that an insert stays
/// cheap whatever the backlog.
const PURGE_PER_INSERT: i64 = 32;

/// Stores a new state unless `max_live` unexpired states exist already;
/// false (nothing written) when the table is full. Concurrent inserts on
/// PostgreSQL may pass the count together: the cap is a bound on growth,
/// not an exact figure.
pub async fn insert_state(
    conn: &mut AnyConnection,
    state: &str,
    shop_domain: &str,
    expires_at: i64,
    now: i64,
    max_live: i64,
) -> Result<bool, sqlx::Error> {
    // Forget a few abandoned flows as we go.
    sqlx::query(
        "DELETE FROM oauth_states WHERE state IN (SELECT state FROM oauth_states \
         WHERE expires_at < $1 ORDER BY expires_at LIMIT $2)",
    )
    .bind(now)
    .bind(PURGE_PER_INSERT)
    .execute(&mut *conn)
    .await?;
    let live: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT 1 FROM oauth_states WHERE expires_at >= $1 LIMIT $2) live",
    )
    .bind(now)
    .bind(max_live)
    .fetch_one(&mut *conn)
    .await?;
    if live >= max_live {
        return Ok(false);
    }
    sqlx::query("INSERT INTO oauth_states (state, shop_domain, expires_at) VALUES ($1, $2, $3)")
        .bind(state)
        .bind(shop_domain)
        .bind(expires_at)
        .execute(conn)
        .await?;
    Ok(true)
}

/// Deletes every state expired before `now`; the number removed.
pub async fn purge_expired(store: &Store, now: i64) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("DELETE FROM oauth_states WHERE expires_at < $1")
            .bind(now)
            .execute(store.writer())
            .await?
            .rows_affected(),
    )
}

/// Deletes the state if it exists for this shop and has not expired; true
/// when it did (the only way a state is accepted, and only once).
pub async fn consume_state(
    conn: &mut AnyConnection,
    state: &str,
    shop_domain: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM oauth_states WHERE state = $1 AND shop_domain = $2 AND expires_at >= $3",
    )
    .bind(state)
    .bind(shop_domain)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
