//! Win-back episodes and each shop's holdout key.
//!
//! Invariants: a customer has at most one open episode (a partial unique
//! index, so a concurrent second opening inserts nothing); an episode is
//! closed once, as `returned` or `expired`, and never reopened; `seq`
//! numbers a customer's episodes from 1. A shop's holdout key is made once
//! and never changes.

use rand::RngCore;
use sqlx::AnyConnection;

/// Episode outcomes.
pub mod outcome {
    pub const RETURNED: &str = "returned";
    pub const EXPIRED: &str = "expired";
}

/// Offer kinds as stored.
pub mod offer_kind {
    pub const NONE: &str = "none";
    pub const POINTS: &str = "points";
    pub const DISCOUNT_CODE: &str = "discount_code";
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
pub struct Episode {
    pub id: i64,
    pub customer_id: i64,
    pub seq: i64,
    pub opened_at: i64,
    pub attribution_ends_at: i64,
    pub held_out: i64,
    pub offer_kind: String,
    pub offer_points: Option<i64>,
    pub offer_code: Option<String>,
    pub offer_expires_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub outcome: Option<String>,
    pub return_order_id: Option<i64>,
}

const COLUMNS: &str = "id, customer_id, seq, opened_at, attribution_ends_at, held_out, \
     offer_kind, offer_points, offer_code, offer_expires_at, closed_at, outcome, return_order_id";

/// An episode to open.
#[derive(Debug, Clone)]
pub struct NewEpisode<'a> {
    pub shop_id: i64,
    pub customer_id: i64,
    pub seq: i64,
    pub opened_at: i64,
    pub attribution_ends_at: i64,
    pub held_out: bool,
    pub offer_kind: &'a str,
    pub offer_points: Option<i64>,
    pub offer_code: Option<&'a str>,
    pub offer_expires_at: Option<i64>,
}

/// The shop's holdout key, made on first use. Two processes making it at
/// once both read the one that was stored.
pub async fn holdout_key(
    conn: &mut AnyConnection,
    shop_id: i64,
    now: i64,
) -> Result<Vec<u8>, sqlx::Error> {
    let stored = match find_holdout_key(conn, shop_id).await? {
        Some(stored) => stored,
        None => {
            let mut fresh = [0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut fresh);
            sqlx::query(
                "INSERT INTO winback_keys (shop_id, holdout_key, created_at) \
                 VALUES ($1, $2, $3) ON CONFLICT (shop_id) DO NOTHING",
            )
            .bind(shop_id)
            .bind(hex::encode(fresh))
            .bind(now)
            .execute(&mut *conn)
            .await?;
            find_holdout_key(conn, shop_id)
                .await?
                .ok_or(sqlx::Error::RowNotFound)?
        }
    };
    hex::decode(stored).map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

async fn find_holdout_key(
    conn: &mut AnyConnection,
    shop_id: i64,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT holdout_key FROM winback_keys WHERE shop_id = $1")
        .bind(shop_id)
        .fetch_optional(conn)
        .await
}

/// The customer's open episode, if any.
pub async fn find_open(
    conn: &mut AnyConnection,
    shop_id: i64,
    customer_id: i64,
) -> Result<Option<Episode>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM winback_episodes \
         WHERE shop_id = $1 AND customer_id = $2 AND closed_at IS NULL"
    ))
    .bind(shop_id)
    .bind(customer_id)
    .fetch_optional(conn)
    .await
}

/// The customer's episodes, oldest first.
pub async fn list_for_customer(
    conn: &mut AnyConnection,
    shop_id: i64,
    customer_id: i64,
) -> Result<Vec<Episode>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM winback_episodes \
         WHERE shop_id = $1 AND customer_id = $2 ORDER BY seq"
    ))
    .bind(shop_id)
    .bind(customer_id)
    .fetch_all(conn)
    .await
}

/// The number the customer's next episode gets.
pub async fn next_seq(
    conn: &mut AnyConnection,
    shop_id: i64,
    customer_id: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT CAST(COALESCE(MAX(seq), 0) + 1 AS BIGINT) FROM winback_episodes \
         WHERE shop_id = $1 AND customer_id = $2",
    )
    .bind(shop_id)
    .bind(customer_id)
    .fetch_one(conn)
    .await
}

/// Opens an episode; `None` when the customer already has an open one (or
/// a concurrent opening took this `seq`).
pub async fn insert(
    conn: &mut AnyConnection,
    new: &NewEpisode<'_>,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO winback_episodes (shop_id, customer_id, seq, opened_at, \
         attribution_ends_at, held_out, offer_kind, offer_points, offer_code, offer_expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(new.shop_id)
    .bind(new.customer_id)
    .bind(new.seq)
    .bind(new.opened_at)
    .bind(new.attribution_ends_at)
    .bind(i64::from(new.held_out))
    .bind(new.offer_kind)
    .bind(new.offer_points)
    .bind(new.offer_code)
    .bind(new.offer_expires_at)
    .fetch_optional(conn)
    .await
}

/// Closes the customer's open episode as returned with `order_id`, when the
/// order was paid at `paid_at` inside the episode's attribution window.
/// False when there was none to close.
pub async fn close_returned(
    conn: &mut AnyConnection,
    shop_id: i64,
    customer_id: i64,
    order_id: i64,
    paid_at: i64,
    now: i64,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE winback_episodes SET closed_at = $1, outcome = $2, return_order_id = $3 \
         WHERE shop_id = $4 AND customer_id = $5 AND closed_at IS NULL \
         AND opened_at <= $6 AND attribution_ends_at > $6",
    )
    .bind(now)
    .bind(outcome::RETURNED)
    .bind(order_id)
    .bind(shop_id)
    .bind(customer_id)
    .bind(paid_at)
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

/// Closes every open episode whose attribution window ended by `now` as
/// expired; returns how many.
pub async fn close_expired(conn: &mut AnyConnection, now: i64) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE winback_episodes SET closed_at = $1, outcome = $2 \
         WHERE closed_at IS NULL AND attribution_ends_at <= $1",
    )
    .bind(now)
    .bind(outcome::EXPIRED)
    .execute(conn)
    .await?
    .rows_affected())
}

/// customers/redact: the customer's codes go; the episodes stay (ids,
/// times and amounts) so the shop's win-back totals still add up.
pub async fn redact_for_customer(
    conn: &mut AnyConnection,
    shop_id: i64,
    customer_id: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE winback_episodes SET offer_code = NULL WHERE shop_id = $1 AND customer_id = $2",
    )
    .bind(shop_id)
    .bind(customer_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// One arm of the report: the episodes opened in the period that were
/// offered something, held out, or opened while offers were off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ArmTotals {
    pub episodes: i64,
    pub open: i64,
    pub returned: i64,
    /// The return orders' totals net of refunds (cancelled: 0), now.
    pub recovered_minor: i64,
    pub points_issued: i64,
    pub codes_issued: i64,
}

/// The report's arms for episodes opened in `[from, to)`: (offered,
/// holdout, no offer).
pub async fn report(
    conn: &mut AnyConnection,
    shop_id: i64,
    from: i64,
    to: i64,
) -> Result<(ArmTotals, ArmTotals, ArmTotals), sqlx::Error> {
    let rows: Vec<(String, i64, i64, i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT CASE WHEN e.held_out = 1 THEN 'holdout' \
                     WHEN e.offer_kind = 'none' THEN 'none' ELSE 'offered' END AS arm, \
         CAST(COUNT(*) AS BIGINT), \
         CAST(COALESCE(SUM(CASE WHEN e.closed_at IS NULL THEN 1 ELSE 0 END), 0) AS BIGINT), \
         CAST(COALESCE(SUM(CASE WHEN e.outcome = 'returned' THEN 1 ELSE 0 END), 0) AS BIGINT), \
         CAST(COALESCE(SUM(CASE WHEN e.outcome = 'returned' AND o.cancelled_at IS NULL \
              THEN o.total_minor - o.refunded_minor ELSE 0 END), 0) AS BIGINT), \
         CAST(COALESCE(SUM(CASE WHEN e.offer_kind = 'points' THEN e.offer_points ELSE 0 END), 0) \
              AS BIGINT), \
         CAST(COALESCE(SUM(CASE WHEN e.offer_kind = 'discount_code' THEN 1 ELSE 0 END), 0) \
              AS BIGINT) \
         FROM winback_episodes e \
         LEFT JOIN orders o ON o.shop_id = e.shop_id AND o.order_id = e.return_order_id \
         WHERE e.shop_id = $1 AND e.opened_at >= $2 AND e.opened_at < $3 \
         GROUP BY 1",
    )
    .bind(shop_id)
    .bind(from)
    .bind(to)
    .fetch_all(conn)
    .await?;
    let (mut offered, mut holdout, mut none) = (
        ArmTotals::default(),
        ArmTotals::default(),
        ArmTotals::default(),
    );
    for (arm, episodes, open, returned, recovered_minor, points_issued, codes_issued) in rows {
        let totals = ArmTotals {
            episodes,
            open,
            returned,
            recovered_minor,
            points_issued,
            codes_issued,
        };
        match arm.as_str() {
            "holdout" => holdout = totals,
            "none" => none = totals,
            _ => offered = totals,
        }
    }
    Ok((offered, holdout, none))
}

/// Which of `customer_ids` have an open win-back episode.
pub async fn customers_in_episode(
    conn: &mut AnyConnection,
    shop_id: i64,
    customer_ids: &[i64],
) -> Result<std::collections::HashSet<i64>, sqlx::Error> {
    super::ids_among(
        conn,
        "winback_episodes",
        "customer_id",
        "AND closed_at IS NULL",
        shop_id,
        customer_ids,
    )
    .await
}
