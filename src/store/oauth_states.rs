//! OAuth `state` nonces: created by `/auth`, consumed once by
//! `/auth/callback` for the same shop before they expire.

use sqlx::AnyConnection;

pub async fn insert_state(
    conn: &mut AnyConnection,
    state: &str,
    shop_domain: &str,
    expires_at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO oauth_states (state, shop_domain, expires_at) VALUES ($1, $2, $3)")
        .bind(state)
        .bind(shop_domain)
        .bind(expires_at)
        .execute(&mut *conn)
        .await?;
    // Forget abandoned flows as we go.
    sqlx::query("DELETE FROM oauth_states WHERE expires_at < $1")
        .bind(super::now_ms())
        .execute(conn)
        .await?;
    Ok(())
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
