//! Post-purchase NPS answers. Invariants: one answer per (shop, order), the
//! first; the score is never changed; the comment is the shopper's free
//! text and is erased by customers/redact (the score stays, it is not
//! personal); `credit_state` moves from `waiting` to `credited` or `none`
//! once, when the order is confirmed to be the answering customer's; only
//! those confirmed answers are in the merchant's figures (a `waiting` one
//! may name someone else's order, and is deleted if it does).

use serde::Serialize;
use sqlx::AnyConnection;

/// Where the bonus of an answer stands.
pub mod credit {
    /// The order's webhook has not arrived (or named no customer yet): the
    /// answer is not known to be about the customer's own order.
    pub const WAITING: &str = "waiting";
    pub const CREDITED: &str = "credited";
    /// Confirmed, and the program offered no bonus when the answer came.
    pub const NONE: &str = "none";
    /// The states of an answer confirmed to be about the customer's own
    /// order: the only ones counted. (Rows from older versions may hold
    /// `refused`, an answer about another customer's order: never counted.)
    pub const COUNTED: [&str; 2] = [CREDITED, NONE];
}

/// A new answer.
#[derive(Debug, Clone)]
pub struct NewResponse<'a> {
    pub shop_id: i64,
    pub order_id: i64,
    pub customer_id: i64,
    pub score: i64,
    pub comment: Option<&'a str>,
    pub segment: Option<&'a str>,
    pub tier_id: Option<&'a str>,
    pub bonus_points: i64,
    pub credit_state: &'a str,
}

/// Stores the answer unless the order was answered before; returns its id,
/// or `None` when an answer was already there (which is kept).
pub async fn insert_response(
    conn: &mut AnyConnection,
    r: &NewResponse<'_>,
    now: i64,
) -> Result<Option<i64>, sqlx::Error> {
    let credited_at = (r.credit_state == credit::CREDITED).then_some(now);
    sqlx::query_scalar(
        "INSERT INTO nps_responses (shop_id, order_id, customer_id, score, comment, segment, \
         tier_id, bonus_points, credit_state, credited_at, answered_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT (shop_id, order_id) DO NOTHING RETURNING id",
    )
    .bind(r.shop_id)
    .bind(r.order_id)
    .bind(r.customer_id)
    .bind(r.score)
    .bind(r.comment)
    .bind(r.segment)
    .bind(r.tier_id)
    .bind(r.bonus_points)
    .bind(r.credit_state)
    .bind(credited_at)
    .bind(now)
    .fetch_optional(conn)
    .await
}

/// Deletes an answer to `order_id` left by anyone but `owner` (possible
/// only before the order's webhook named its customer); true when one was.
pub async fn delete_foreign_answer(
    conn: &mut AnyConnection,
    shop_id: i64,
    order_id: i64,
    owner: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM nps_responses WHERE shop_id = $1 AND order_id = $2 AND customer_id <> $3",
    )
    .bind(shop_id)
    .bind(order_id)
    .bind(owner)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// A stored answer.
#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct Response {
    pub id: i64,
    pub order_id: i64,
    pub customer_id: i64,
    pub score: i64,
    pub comment: Option<String>,
    pub bonus_points: i64,
    pub credit_state: String,
    pub answered_at: i64,
}

const RESPONSE_COLUMNS: &str =
    "id, order_id, customer_id, score, comment, bonus_points, credit_state, answered_at";

pub async fn find_for_order(
    conn: &mut AnyConnection,
    shop_id: i64,
    order_id: i64,
) -> Result<Option<Response>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {RESPONSE_COLUMNS} FROM nps_responses WHERE shop_id = $1 AND order_id = $2"
    ))
    .bind(shop_id)
    .bind(order_id)
    .fetch_optional(conn)
    .await
}

/// A customer's answers, oldest first (for a data request).
pub async fn list_for_customer(
    conn: &mut AnyConnection,
    shop_id: i64,
    customer_id: i64,
) -> Result<Vec<Response>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {RESPONSE_COLUMNS} FROM nps_responses \
         WHERE shop_id = $1 AND customer_id = $2 ORDER BY id"
    ))
    .bind(shop_id)
    .bind(customer_id)
    .fetch_all(conn)
    .await
}

/// Moves a waiting answer to `state` (`credited` or `none`); false when it
/// was not waiting any more. `credited_at` is set only when points moved.
pub async fn settle_credit(
    conn: &mut AnyConnection,
    shop_id: i64,
    id: i64,
    state: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE nps_responses SET credit_state = $1, credited_at = $2 \
         WHERE shop_id = $3 AND id = $4 AND credit_state = $5",
    )
    .bind(state)
    .bind((state == credit::CREDITED).then_some(now))
    .bind(shop_id)
    .bind(id)
    .bind(credit::WAITING)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// What the answer needs to know about its order, if Advocate has it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OrderOwner {
    pub customer_id: Option<i64>,
    pub name: Option<String>,
    /// 0 while only a refund (or nothing) told us of the order.
    pub known: i64,
}

pub async fn find_order_owner(
    conn: &mut AnyConnection,
    shop_id: i64,
    order_id: i64,
) -> Result<Option<OrderOwner>, sqlx::Error> {
    sqlx::query_as(
        "SELECT customer_id, name, known FROM orders WHERE shop_id = $1 AND order_id = $2",
    )
    .bind(shop_id)
    .bind(order_id)
    .fetch_optional(conn)
    .await
}

/// The customer's segment and tier now (both `None` for an unknown customer).
pub async fn customer_context(
    conn: &mut AnyConnection,
    shop_id: i64,
    customer_id: i64,
) -> Result<(Option<String>, Option<String>), sqlx::Error> {
    let row: Option<(Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT segment, tier_id FROM customers WHERE shop_id = $1 AND customer_id = $2",
    )
    .bind(shop_id)
    .bind(customer_id)
    .fetch_optional(conn)
    .await?;
    Ok(row.unwrap_or_default())
}

/// customers/redact: the comments go, the scores stay.
pub async fn erase_comments(
    conn: &mut AnyConnection,
    shop_id: i64,
    customer_id: i64,
    now: i64,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE nps_responses SET comment = NULL, comment_erased_at = $1 \
         WHERE shop_id = $2 AND customer_id = $3 AND comment_erased_at IS NULL",
    )
    .bind(now)
    .bind(shop_id)
    .bind(customer_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// Answers counted by UTC day, segment, tier and score.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Count {
    /// Days since the Unix epoch.
    pub day: i64,
    pub segment: Option<String>,
    pub tier_id: Option<String>,
    pub score: i64,
    pub answers: i64,
}

/// The counted answers of `[from, to)`: confirmed ones only.
pub async fn counts(
    conn: &mut AnyConnection,
    shop_id: i64,
    from: i64,
    to: i64,
) -> Result<Vec<Count>, sqlx::Error> {
    sqlx::query_as(
        "SELECT answered_at / 86400000 AS day, segment, tier_id, score, \
         CAST(COUNT(*) AS BIGINT) AS answers FROM nps_responses \
         WHERE shop_id = $1 AND answered_at >= $2 AND answered_at < $3 \
         AND credit_state IN ($4, $5) \
         GROUP BY answered_at / 86400000, segment, tier_id, score",
    )
    .bind(shop_id)
    .bind(from)
    .bind(to)
    .bind(credit::COUNTED[0])
    .bind(credit::COUNTED[1])
    .fetch_all(conn)
    .await
}

/// A comment as the admin page lists it.
#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct Comment {
    pub order_id: i64,
    pub order_name: Option<String>,
    pub customer_id: i64,
    /// `None` once the customer was redacted or deleted.
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub score: i64,
    pub comment: String,
    pub answered_at: i64,
}

/// The comments of confirmed answers of `[from, to)`, newest first.
pub async fn list_comments(
    conn: &mut AnyConnection,
    shop_id: i64,
    from: i64,
    to: i64,
    limit: i64,
    offset: i64,
) -> Result<Vec<Comment>, sqlx::Error> {
    // Erasure empties the customer's name columns, so no extra filter is
    // needed for redacted customers; the join must not add rows either:
    // customers and orders are unique per (shop, id).
    sqlx::query_as(
        "SELECT r.order_id, o.name AS order_name, r.customer_id, c.first_name, c.last_name, \
         r.score, r.comment, r.answered_at FROM nps_responses r \
         LEFT JOIN orders o ON o.shop_id = r.shop_id AND o.order_id = r.order_id \
         LEFT JOIN customers c ON c.shop_id = r.shop_id AND c.customer_id = r.customer_id \
         WHERE r.shop_id = $1 AND r.answered_at >= $2 AND r.answered_at < $3 \
         AND r.comment IS NOT NULL AND r.credit_state IN ($4, $5) \
         ORDER BY r.answered_at DESC, r.id DESC LIMIT $6 OFFSET $7",
    )
    .bind(shop_id)
    .bind(from)
    .bind(to)
    .bind(credit::COUNTED[0])
    .bind(credit::COUNTED[1])
    .bind(limit)
    .bind(offset)
    .fetch_all(conn)
    .await
}

/// Which of `order_ids` have a survey answer.
pub async fn orders_answered(
    conn: &mut AnyConnection,
    shop_id: i64,
    order_ids: &[i64],
) -> Result<std::collections::HashSet<i64>, sqlx::Error> {
    super::ids_among(conn, "nps_responses", "order_id", "", shop_id, order_ids).await
}
