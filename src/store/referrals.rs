//! Referral codes (one per advocate) and referrals (one per friend's
//! discount code) with their status: `issued` -> `pending` (a first order
//! used the code) -> `rewarded`; or `rejected`, `held` (for the merchant's
//! review) or `void` (the order was refunded or cancelled).

use serde::Serialize;
use sqlx::AnyConnection;

use crate::loyalty::{CustomerId, EpochMs, OrderId, ShopId};

pub mod status {
    pub const ISSUED: &str = "issued";
    pub const PENDING: &str = "pending";
    pub const HELD: &str = "held";
    pub const REWARDED: &str = "rewarded";
    pub const REJECTED: &str = "rejected";
    pub const VOID: &str = "void";
}

pub async fn find_code(
    conn: &mut AnyConnection,
    shop_id: i64,
    customer_id: i64,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT code FROM referral_codes WHERE shop_id = $1 AND customer_id = $2")
        .bind(shop_id)
        .bind(customer_id)
        .fetch_optional(conn)
        .await
}

/// Stores `code` for the customer unless they have one; false when the
/// customer already has a code or the code is taken.
pub async fn insert_code(
    conn: &mut AnyConnection,
    shop_id: i64,
    customer_id: i64,
    code: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query(
        "INSERT INTO referral_codes (shop_id, customer_id, code, created_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
    )
    .bind(shop_id)
    .bind(customer_id)
    .bind(code)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

/// The customer whose referral code is `code` (already upper-cased).
pub async fn advocate_for_code(
    conn: &mut AnyConnection,
    shop: ShopId,
    code: &str,
) -> Result<Option<CustomerId>, sqlx::Error> {
    sqlx::query_scalar("SELECT customer_id FROM referral_codes WHERE shop_id = $1 AND code = $2")
        .bind(shop)
        .bind(code)
        .fetch_optional(conn)
        .await
}

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct Referral {
    pub id: i64,
    pub advocate_id: CustomerId,
    pub friend_code: String,
    pub friend_customer_id: Option<CustomerId>,
    pub order_id: Option<OrderId>,
    pub order_minor: Option<i64>,
    pub status: String,
    pub note: Option<String>,
    pub approved: i64,
    pub decided_by: Option<String>,
    pub created_at: EpochMs,
    pub converted_at: Option<EpochMs>,
    pub matures_at: Option<EpochMs>,
}

const COLUMNS: &str = "id, advocate_id, friend_code, friend_customer_id, order_id, order_minor, \
    status, note, approved, decided_by, created_at, converted_at, matures_at";

/// An issued friend code for this advocate and friend email, if any: asking
/// twice gives the same code.
pub async fn find_issued(
    conn: &mut AnyConnection,
    shop: ShopId,
    advocate_id: CustomerId,
    friend_email_hash: &str,
) -> Result<Option<Referral>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM referrals WHERE shop_id = $1 AND advocate_id = $2 \
         AND friend_email_hash = $3 ORDER BY id LIMIT 1"
    ))
    .bind(shop)
    .bind(advocate_id)
    .bind(friend_email_hash)
    .fetch_optional(conn)
    .await
}

/// Keeps our advisory locks apart from anyone else's (see
/// [`super::shops::RefreshLock`] for another namespace).
const CLAIM_LOCK_NAMESPACE: i64 = 0x5246_0000_0000;

/// Serialises the shop's friend-code claims until the transaction ends, so
/// the claim caps and the one-code-per-friend rule hold under concurrent
/// claims. SQLite has one writer, which serialises them already;
/// PostgreSQL takes a transaction-scoped advisory lock on the shop.
pub async fn lock_claims(conn: &mut AnyConnection, shop: ShopId) -> Result<(), sqlx::Error> {
    super::lock_until_commit(conn, CLAIM_LOCK_NAMESPACE + shop.get()).await
}

/// Friend codes issued since `since` (epoch ms), for one advocate or (with
/// `None`) the whole shop, and when the oldest of them was issued.
pub async fn count_issued_since(
    conn: &mut AnyConnection,
    shop: ShopId,
    advocate_id: Option<CustomerId>,
    since: EpochMs,
) -> Result<(i64, Option<EpochMs>), sqlx::Error> {
    let counted = match advocate_id {
        Some(advocate_id) => sqlx::query_as(
            "SELECT COUNT(*), MIN(created_at) FROM referrals WHERE shop_id = $1 \
             AND advocate_id = $2 AND created_at >= $3",
        )
        .bind(shop)
        .bind(advocate_id)
        .bind(since),
        None => sqlx::query_as(
            "SELECT COUNT(*), MIN(created_at) FROM referrals WHERE shop_id = $1 \
             AND created_at >= $2",
        )
        .bind(shop)
        .bind(since),
    };
    counted.fetch_one(conn).await
}

/// A friend's discount code issued for an advocate.
#[derive(Debug, Clone, Copy)]
pub struct NewIssuedReferral<'a> {
    pub advocate_id: CustomerId,
    pub friend_code: &'a str,
    /// The friend's hashed e-mail (see `loyalty::identity`).
    pub friend_email_hash: Option<&'a str>,
}

/// Stores an issued referral; returns its id.
pub async fn insert_issued(
    conn: &mut AnyConnection,
    shop: ShopId,
    new: &NewIssuedReferral<'_>,
    now: EpochMs,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO referrals (shop_id, advocate_id, friend_code, friend_email_hash, status, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, 'issued', $5, $5) RETURNING id",
    )
    .bind(shop)
    .bind(new.advocate_id)
    .bind(new.friend_code)
    .bind(new.friend_email_hash)
    .bind(now)
    .fetch_one(conn)
    .await
}

/// The issued referral whose friend code is among `codes`.
pub async fn find_issued_by_codes(
    conn: &mut AnyConnection,
    shop: ShopId,
    codes: &[String],
) -> Result<Option<Referral>, sqlx::Error> {
    for code in codes {
        let found: Option<Referral> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM referrals WHERE shop_id = $1 AND UPPER(friend_code) = $2 \
             AND status = 'issued'"
        ))
        .bind(shop)
        .bind(code.to_uppercase())
        .fetch_optional(&mut *conn)
        .await?;
        if found.is_some() {
            return Ok(found);
        }
    }
    Ok(None)
}

pub async fn find_by_order(
    conn: &mut AnyConnection,
    shop: ShopId,
    order_id: OrderId,
) -> Result<Option<Referral>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM referrals WHERE shop_id = $1 AND order_id = $2"
    ))
    .bind(shop)
    .bind(order_id)
    .fetch_optional(conn)
    .await
}

pub async fn find(
    conn: &mut AnyConnection,
    shop: ShopId,
    id: i64,
) -> Result<Option<Referral>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM referrals WHERE shop_id = $1 AND id = $2"
    ))
    .bind(shop)
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// A friend's order linked to its issued referral, with the fraud rules'
/// verdict.
#[derive(Debug, Clone, Copy)]
pub struct Conversion<'a> {
    pub order_id: OrderId,
    /// The order's counted amount, in minor units.
    pub order_minor: i64,
    pub friend_customer_id: Option<CustomerId>,
    /// The status the referral moves to (see [`status`]).
    pub status: &'a str,
    pub note: Option<&'a str>,
    /// When a pending referral pays out.
    pub matures_at: EpochMs,
    /// When the order was placed (stored as `converted_at`).
    pub placed_at: EpochMs,
}

/// Records the friend's order against an issued referral, with the verdict.
pub async fn convert(
    conn: &mut AnyConnection,
    shop: ShopId,
    id: i64,
    c: &Conversion<'_>,
    now: EpochMs,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE referrals SET order_id = $1, order_minor = $2, friend_customer_id = $3, \
         status = $4, note = $5, matures_at = $6, converted_at = $7, updated_at = $10 \
         WHERE shop_id = $8 AND id = $9 AND status = 'issued'",
    )
    .bind(c.order_id)
    .bind(c.order_minor)
    .bind(c.friend_customer_id)
    .bind(c.status)
    .bind(c.note)
    .bind(c.matures_at)
    .bind(c.placed_at)
    .bind(shop)
    .bind(id)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

/// A status change: from any of `from` to `to`, with an optional note and
/// the staff member who decided it.
#[derive(Debug, Clone, Copy)]
pub struct Transition<'a> {
    pub from: &'a [&'a str],
    pub to: &'a str,
    /// Replaces the stored note when given.
    pub note: Option<&'a str>,
    /// The staff member; a decision into `pending` marks the referral approved.
    pub decided_by: Option<&'a str>,
}

/// Moves a referral from one status to another; false when it was not in
/// `from` any more.
pub async fn transition(
    conn: &mut AnyConnection,
    shop: ShopId,
    id: i64,
    t: &Transition<'_>,
    now: EpochMs,
) -> Result<bool, sqlx::Error> {
    let Transition {
        from,
        to,
        note,
        decided_by,
    } = *t;
    let list: Vec<String> = (0..from.len()).map(|i| format!("${}", i + 7)).collect();
    let sql = format!(
        "UPDATE referrals SET status = $1, note = COALESCE($2, note), \
         decided_by = COALESCE($3, decided_by), \
         approved = CASE WHEN $3 IS NOT NULL AND $1 = 'pending' THEN 1 ELSE approved END, \
         updated_at = $4 WHERE shop_id = $5 AND id = $6 AND status IN ({})",
        list.join(", ")
    );
    let mut q = sqlx::query(&sql)
        .bind(to)
        .bind(note)
        .bind(decided_by)
        .bind(now)
        .bind(shop)
        .bind(id);
    for f in from {
        q = q.bind(*f);
    }
    Ok(q.execute(conn).await?.rows_affected() == 1)
}

/// Counts for the fraud rules: referrals rewarded or on their way
/// (pending), and referred orders placed since `since`, for one advocate.
pub async fn advocate_counts(
    conn: &mut AnyConnection,
    shop: ShopId,
    advocate_id: CustomerId,
    since: EpochMs,
) -> Result<(i64, i64), sqlx::Error> {
    let shop_id = shop.get();
    let paid: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM referrals WHERE shop_id = $1 AND advocate_id = $2 \
         AND status IN ('pending', 'rewarded')",
    )
    .bind(shop_id)
    .bind(advocate_id)
    .fetch_one(&mut *conn)
    .await?;
    let recent: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM referrals WHERE shop_id = $1 AND advocate_id = $2 \
         AND converted_at IS NOT NULL AND converted_at >= $3",
    )
    .bind(shop_id)
    .bind(advocate_id)
    .bind(since)
    .fetch_one(conn)
    .await?;
    Ok((paid, recent))
}

/// Pending referrals whose friend's order has passed the pending period:
/// (shop, referral id).
pub async fn maturing(
    conn: &mut AnyConnection,
    now: i64,
    limit: i64,
) -> Result<Vec<(i64, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT shop_id, id FROM referrals WHERE status = 'pending' AND matures_at <= $1 \
         ORDER BY matures_at LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(conn)
    .await
}

pub async fn list(
    conn: &mut AnyConnection,
    shop_id: i64,
    status: Option<&str>,
    after_id: i64,
    limit: i64,
) -> Result<Vec<Referral>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM referrals WHERE shop_id = $1 AND ($2 = '' OR status = $2) \
         AND id > $3 ORDER BY id LIMIT $4"
    ))
    .bind(shop_id)
    .bind(status.unwrap_or(""))
    .bind(after_id)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Erases the friend's hashed email from referrals made for or by `customer_id`.
pub async fn redact_for_customer(
    conn: &mut AnyConnection,
    shop_id: i64,
    customer_id: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE referrals SET friend_email_hash = NULL WHERE shop_id = $1 \
         AND (friend_customer_id = $2 OR advocate_id = $2)",
    )
    .bind(shop_id)
    .bind(customer_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Which of `order_ids` a referral names (as the friend's order).
pub async fn orders_referred(
    conn: &mut AnyConnection,
    shop: ShopId,
    order_ids: &[i64],
) -> Result<std::collections::HashSet<i64>, sqlx::Error> {
    super::ids_among(conn, "referrals", "order_id", "", shop.get(), order_ids).await
}
