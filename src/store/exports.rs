//! Reads for the CSV exports, one page at a time in key order, so that an
//! export of any size holds one page in memory (see `service::exports`).
//! Each page is its own read: a long export is not one snapshot, but every
//! row is read once, and rows written meanwhile behind the page being read
//! are included.

use sqlx::AnyPool;

/// One member, as the members export writes it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MemberRow {
    pub customer_id: i64,
    pub points_balance: i64,
    pub points_pending: i64,
    pub tier_id: Option<String>,
    pub segment: Option<String>,
    pub referral_code: Option<String>,
}

/// The shop's members after `after` (a customer id), in customer id order.
/// Redacted and deleted customers are not members any more and are left
/// out.
pub async fn members_page(
    pool: &AnyPool,
    shop_id: i64,
    after: i64,
    limit: i64,
) -> Result<Vec<MemberRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT c.customer_id, c.points_balance, c.points_pending, c.tier_id, c.segment, \
         r.code AS referral_code FROM customers c \
         LEFT JOIN referral_codes r ON r.shop_id = c.shop_id AND r.customer_id = c.customer_id \
         WHERE c.shop_id = $1 AND c.customer_id > $2 \
           AND c.redacted_at IS NULL AND c.deleted_at IS NULL \
         ORDER BY c.customer_id LIMIT $3",
    )
    .bind(shop_id)
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// One ledger entry, as the ledger export writes it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LedgerRow {
    pub id: i64,
    pub customer_id: i64,
    pub points: i64,
    pub kind: String,
    pub reason: String,
    pub order_id: Option<i64>,
    /// When it happened.
    pub occurred_at: i64,
    /// When it was recorded.
    pub created_at: i64,
}

/// Where a ledger page starts: after this (occurred_at, id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LedgerCursor {
    pub occurred_at: i64,
    pub id: i64,
}

/// The shop's entries that happened in `[from, to)` (epoch ms) after
/// `after`, in time order.
pub async fn ledger_page(
    pool: &AnyPool,
    shop_id: i64,
    (from, to): (i64, i64),
    after: Option<LedgerCursor>,
    limit: i64,
) -> Result<Vec<LedgerRow>, sqlx::Error> {
    // The cursor is never before `from`: its time is the one lower bound,
    // so each page's index range starts at the cursor.
    let after = after.unwrap_or(LedgerCursor {
        occurred_at: from,
        id: i64::MIN,
    });
    sqlx::query_as(
        "SELECT id, customer_id, points, kind, reason, order_id, occurred_at, created_at \
         FROM points_ledger WHERE shop_id = $1 AND occurred_at >= $2 AND occurred_at < $3 \
           AND (occurred_at > $2 OR id > $4) \
         ORDER BY occurred_at, id LIMIT $5",
    )
    .bind(shop_id)
    .bind(after.occurred_at.max(from))
    .bind(to)
    .bind(after.id)
    .bind(limit)
    .fetch_all(pool)
    .await
}
