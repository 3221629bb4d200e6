//! What the merchant REST API (`/api/v1`) reads: a customer with points,
//! tier and segment, a customer's ledger a page at a time, and the
//! program's rewards and tiers. Writes (adjustments, redemptions) are the
//! admin's use cases ([`super::points`], [`super::redemptions`]). Points
//! are integers, money decimal strings with a currency, times RFC 3339.

use serde::Serialize;

use super::{
    customers::CustomerError,
    loyalty::{self, TierView},
};
use crate::{
    engine::rfc3339,
    loyalty::{settings::Tiers, EpochMs},
    store::{customers, ledger, program, Store},
};

/// `GET /api/v1/customers/{id}`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CustomerOut {
    pub id: i64,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub points_balance: i64,
    pub points_pending: i64,
    pub tier: Option<TierView>,
    /// The behaviour segment's slug.
    pub segment: Option<String>,
    pub referral_code: Option<String>,
    /// "MM-DD".
    pub birthday: Option<String>,
    /// RFC 3339.
    pub last_activity_at: Option<String>,
}

/// A customer the shop knows; 404 otherwise (erased ones included).
pub async fn customer(
    store: &Store,
    shop_id: i64,
    customer_id: i64,
) -> Result<CustomerOut, CustomerError> {
    let mut conn = store.reader().acquire().await?;
    let c = customers::find_customer(&mut conn, shop_id, customer_id)
        .await?
        .filter(|c| c.redacted_at.is_none())
        .ok_or(CustomerError::UnknownCustomer)?;
    let view = loyalty::view_on(&mut conn, shop_id, customer_id).await?;
    Ok(CustomerOut {
        id: c.customer_id,
        email: c.email,
        first_name: c.first_name,
        last_name: c.last_name,
        points_balance: c.points_balance,
        points_pending: c.points_pending,
        tier: view.tier,
        segment: c.segment,
        referral_code: view.referral_code,
        birthday: c.birthday,
        last_activity_at: c.last_activity_at.map(rfc3339),
    })
}

/// `GET /api/v1/customers/{id}/ledger`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LedgerPage {
    pub entries: Vec<LedgerLine>,
    /// Pass as `cursor` for the next (older) page; null on the last.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LedgerLine {
    pub id: i64,
    /// Signed.
    pub points: i64,
    pub kind: String,
    pub reason: String,
    pub order_id: Option<i64>,
    /// `staff:{id}`, `api-key:{id}`, `shopper`… when a person or system acted.
    pub actor: Option<String>,
    /// When the fact happened (RFC 3339).
    pub occurred_at: String,
    /// Until when the points are pending, while they are.
    pub pending_until: Option<String>,
}

/// `GET /api/v1/ledger`: the shop's entries in a period, in the order they
/// happened.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ShopLedgerPage {
    pub entries: Vec<ShopLedgerLine>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ShopLedgerLine {
    pub customer_id: i64,
    #[serde(flatten)]
    pub line: LedgerLine,
}

/// A cursor of the shop's ledger: where the previous page ended.
pub fn shop_cursor(raw: &str) -> Option<(i64, i64)> {
    let (at, id) = raw.split_once('-').filter(|(at, _)| !at.is_empty())?;
    Some((at.parse().ok()?, id.parse().ok()?))
}

/// A page of the shop's ledger for `[from, to)` (epoch ms).
pub async fn shop_ledger(
    store: &Store,
    shop_id: i64,
    period: (i64, i64),
    after: Option<(i64, i64)>,
    limit: i64,
) -> Result<ShopLedgerPage, sqlx::Error> {
    let mut conn = store.reader().acquire().await?;
    let rows = ledger::page_for_shop(&mut conn, shop_id, period, after, limit).await?;
    let next_cursor = (rows.len() as i64 == limit)
        .then(|| {
            rows.last()
                .map(|(_, e)| format!("{}-{}", e.occurred_at, e.id))
        })
        .flatten();
    let now = EpochMs::now().0;
    let entries = rows
        .into_iter()
        .map(|(customer_id, e)| ShopLedgerLine {
            customer_id,
            line: line(e, now),
        })
        .collect();
    Ok(ShopLedgerPage {
        entries,
        next_cursor,
    })
}

fn line(e: ledger::LedgerEntry, now: i64) -> LedgerLine {
    LedgerLine {
        id: e.id,
        points: e.points,
        kind: e.kind,
        reason: e.reason,
        order_id: e.order_id,
        actor: e.actor,
        occurred_at: rfc3339(e.occurred_at),
        pending_until: e.spendable_at.filter(|at| *at > now).map(rfc3339),
    }
}

/// A page of the customer's ledger, newest first; `cursor` from the
/// previous page. 404 for a customer the shop does not know.
pub async fn customer_ledger(
    store: &Store,
    shop_id: i64,
    customer_id: i64,
    cursor: Option<i64>,
    limit: i64,
) -> Result<LedgerPage, CustomerError> {
    let mut conn = store.reader().acquire().await?;
    customers::find_customer(&mut conn, shop_id, customer_id)
        .await?
        .ok_or(CustomerError::UnknownCustomer)?;
    let rows = ledger::page_for_customer(&mut conn, shop_id, customer_id, cursor, limit).await?;
    let next_cursor = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|e| e.id.to_string()))
        .flatten();
    let now = EpochMs::now().0;
    let entries = rows.into_iter().map(|e| line(e, now)).collect();
    Ok(LedgerPage {
        entries,
        next_cursor,
    })
}

/// `GET /api/v1/program`: what the program offers.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProgramOut {
    /// The shop's currency (ISO 4217): every amount below is in it.
    pub currency: String,
    /// Each reward: `id`, `name`, `kind`, `value`, `points_cost` (for
    /// points as cash also `points_step`, `min_points`, `max_points`),
    /// `minimum_order`, `valid_days`, `currency`.
    #[schema(value_type = Vec<Object>)]
    pub rewards: Vec<serde_json::Value>,
    /// The tier settings: `basis`, `window`, `levels` (see the program
    /// settings).
    #[schema(value_type = Object)]
    pub tiers: Tiers,
    /// The program settings' version.
    pub version: i64,
}

pub async fn program_view(store: &Store, shop_id: i64) -> Result<ProgramOut, sqlx::Error> {
    let mut conn = store.reader().acquire().await?;
    let program = program::get_program(&mut conn, shop_id).await?;
    let rewards = loyalty::reward_views(&program, 0)
        .into_iter()
        .filter_map(|r| {
            let mut value = serde_json::to_value(r).ok()?;
            // Whether a balance covers it means nothing without a customer.
            value.as_object_mut()?.remove("affordable");
            Some(value)
        })
        .collect();
    Ok(ProgramOut {
        currency: program.currency.clone(),
        rewards,
        tiers: program.settings.tiers.clone(),
        version: program.version,
    })
}
