//! Earning actions customers did (see
//! `migrations/*/0026_activities_and_outbound_webhooks.sql`): one row per
//! idempotency key of a customer; its points are the ledger entry
//! `activity:{id}`.

use sqlx::AnyConnection;

use super::Dialect;

pub mod status {
    pub const AWARDED: &str = "awarded";
    pub const REVERSED: &str = "reversed";
    /// A newsletter consent found already given when Advocate first saw
    /// the customer: remembered, never earned.
    pub const PREEXISTING: &str = "preexisting";
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ActivityRow {
    pub id: i64,
    pub customer_id: i64,
    pub idempotency_key: String,
    pub action: String,
    pub name: Option<String>,
    pub subject: Option<String>,
    pub points: i64,
    pub status: String,
    pub clawed_back: i64,
    pub unrecovered: i64,
    pub actor: String,
    pub occurred_at: i64,
    pub created_at: i64,
    pub reversed_at: Option<i64>,
}

const COLUMNS: &str = "id, customer_id, idempotency_key, action, name, subject, points, status, \
    clawed_back, unrecovered, actor, occurred_at, created_at, reversed_at";

pub struct NewActivity<'a> {
    pub shop_id: i64,
    pub customer_id: i64,
    pub idempotency_key: &'a str,
    pub action: &'a str,
    pub name: Option<&'a str>,
    pub subject: Option<&'a str>,
    pub points: i64,
    pub actor: &'a str,
    pub occurred_at: i64,
    /// [`status::AWARDED`], or [`status::PREEXISTING`].
    pub status: &'a str,
}

/// Records the activity; None when the customer's key was used before.
pub async fn insert(
    conn: &mut AnyConnection,
    new: &NewActivity<'_>,
    now: i64,
) -> Result<Option<ActivityRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "INSERT INTO activities (shop_id, customer_id, idempotency_key, action, name, subject, \
             points, status, actor, occurred_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $11, $8, $9, $10) \
         ON CONFLICT (shop_id, customer_id, idempotency_key) DO NOTHING RETURNING {COLUMNS}"
    ))
    .bind(new.shop_id)
    .bind(new.customer_id)
    .bind(new.idempotency_key)
    .bind(new.action)
    .bind(new.name)
    .bind(new.subject)
    .bind(new.points)
    .bind(new.actor)
    .bind(new.occurred_at)
    .bind(now)
    .bind(new.status)
    .fetch_optional(conn)
    .await
}

pub async fn find_by_key(
    conn: &mut AnyConnection,
    shop_id: i64,
    customer_id: i64,
    key: &str,
) -> Result<Option<ActivityRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM activities \
         WHERE shop_id = $1 AND customer_id = $2 AND idempotency_key = $3"
    ))
    .bind(shop_id)
    .bind(customer_id)
    .bind(key)
    .fetch_optional(conn)
    .await
}

pub async fn find(
    conn: &mut AnyConnection,
    shop_id: i64,
    id: i64,
) -> Result<Option<ActivityRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM activities WHERE shop_id = $1 AND id = $2"
    ))
    .bind(shop_id)
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// The customer's activities, newest first.
pub async fn list_for_customer(
    conn: &mut AnyConnection,
    shop_id: i64,
    customer_id: i64,
    limit: i64,
) -> Result<Vec<ActivityRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM activities WHERE shop_id = $1 AND customer_id = $2 \
         ORDER BY id DESC LIMIT $3"
    ))
    .bind(shop_id)
    .bind(customer_id)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Which action an activity is: the action and, for a custom action, its
/// name.
#[derive(Debug, Clone, Copy)]
pub struct Kind<'a> {
    pub action: &'a str,
    pub name: Option<&'a str>,
}

/// How many of the customer's activities of this kind occurred at or after
/// `since`, reversed ones included (a reversal does not give the slot
/// back), and how many of them were about `subject` (ever), when given.
pub async fn counts(
    conn: &mut AnyConnection,
    shop_id: i64,
    customer_id: i64,
    kind: Kind<'_>,
    since: i64,
    subject: Option<&str>,
) -> Result<(i64, i64), sqlx::Error> {
    sqlx::query_as(
        "SELECT CAST(COALESCE(SUM(CASE WHEN occurred_at >= $4 THEN 1 ELSE 0 END), 0) AS BIGINT), \
             CAST(COALESCE(SUM(CASE WHEN subject = $5 THEN 1 ELSE 0 END), 0) AS BIGINT) \
         FROM activities WHERE shop_id = $1 AND customer_id = $2 AND action = $3 \
           AND COALESCE(name, '') = $6",
    )
    .bind(shop_id)
    .bind(customer_id)
    .bind(kind.action)
    .bind(since)
    .bind(subject)
    .bind(kind.name.unwrap_or(""))
    .fetch_one(conn)
    .await
}

/// Records the reversal of an awarded activity; false when it was not
/// awarded (reversed already).
pub async fn mark_reversed(
    conn: &mut AnyConnection,
    shop_id: i64,
    id: i64,
    clawed_back: i64,
    unrecovered: i64,
    now: i64,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE activities SET status = 'reversed', clawed_back = $1, unrecovered = $2, \
         reversed_at = $3 WHERE shop_id = $4 AND id = $5 AND status = 'awarded'",
    )
    .bind(clawed_back)
    .bind(unrecovered)
    .bind(now)
    .bind(shop_id)
    .bind(id)
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

/// Holds the customer's row until the transaction ends, so that the
/// limits of concurrent activities are counted one after another
/// (PostgreSQL; SQLite has one writer). False when there is no such
/// customer.
pub async fn lock_customer(
    conn: &mut AnyConnection,
    shop_id: i64,
    customer_id: i64,
) -> Result<bool, sqlx::Error> {
    let lock = match Dialect::of(conn) {
        Dialect::Postgres => " FOR UPDATE",
        Dialect::Sqlite => "",
    };
    let found: Option<i64> = sqlx::query_scalar(&format!(
        "SELECT customer_id FROM customers WHERE shop_id = $1 AND customer_id = $2{lock}"
    ))
    .bind(shop_id)
    .bind(customer_id)
    .fetch_optional(conn)
    .await?;
    Ok(found.is_some())
}
