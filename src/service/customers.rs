//! The merchant's customer pages (list and detail) and birthdays, set by
//! the shopper once or by the merchant's staff at any time.

use serde::Serialize;

use super::loyalty::{self, NextTier, TierView};
use crate::{
    loyalty::calendar,
    store::{
        customers::{self, BirthdayOnce, Customer, CustomerSummary, TierChange},
        ledger::{self, LedgerEntry},
        now_ms,
        orders::{self, OrderFacts},
        redemptions::{self, Redemption},
        segments, Store,
    },
};

/// A page of the customer list: who matches `text`, by id after `after`.
#[derive(Debug, Clone, Copy)]
pub struct CustomerQuery<'a> {
    pub text: &'a str,
    pub after: i64,
    /// 1-200.
    pub limit: i64,
}

/// `GET /api/admin/customers`.
#[derive(Debug, Clone, Serialize)]
pub struct CustomerPage {
    pub customers: Vec<CustomerSummary>,
    /// The `after` of the next page; null on the last page.
    pub next_after: Option<i64>,
}

/// The customer list, a page at a time.
pub async fn list_customers(
    store: &Store,
    shop_id: i64,
    query: CustomerQuery<'_>,
) -> Result<CustomerPage, sqlx::Error> {
    let mut conn = store.reader().acquire().await?;
    let found = customers::search(&mut conn, shop_id, query.text, query.after, query.limit).await?;
    let next_after = if found.len() as i64 == query.limit {
        found.last().map(|c| c.customer_id)
    } else {
        None
    };
    Ok(CustomerPage {
        customers: found,
        next_after,
    })
}

/// `GET /api/admin/customers/{id}`: profile, points, tier, referral code,
/// ledger, redemptions, tier and segment history, and orders.
#[derive(Debug, Clone, Serialize)]
pub struct CustomerDetail {
    pub customer: Customer,
    pub ledger: Vec<LedgerEntry>,
    pub redemptions: Vec<Redemption>,
    pub tier_history: Vec<TierChange>,
    pub segment_history: Vec<SegmentChange>,
    pub orders: Vec<OrderFacts>,
    pub tier: Option<TierView>,
    pub next_tier: Option<NextTier>,
    pub referral_code: Option<String>,
    pub points_balance: i64,
    pub points_pending: i64,
}

/// A move from one behaviour segment to another.
#[derive(Debug, Clone, Serialize)]
pub struct SegmentChange {
    pub from: Option<String>,
    pub to: Option<String>,
    pub at: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum CustomerError {
    #[error("no such customer")]
    UnknownCustomer,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// A customer's page; unknown customers are refused.
pub async fn customer_detail(
    store: &Store,
    shop_id: i64,
    customer_id: i64,
) -> Result<CustomerDetail, CustomerError> {
    let mut conn = store.reader().acquire().await?;
    let customer = customers::find_customer(&mut conn, shop_id, customer_id)
        .await?
        .ok_or(CustomerError::UnknownCustomer)?;
    let ledger = ledger::list_for_customer(&mut conn, shop_id, customer_id).await?;
    let redemptions = redemptions::list_for_customer(&mut conn, shop_id, customer_id).await?;
    let tier_history = customers::tier_history(&mut conn, shop_id, customer_id).await?;
    let segment_history = segments::history_for_customer(&mut conn, shop_id, customer_id)
        .await?
        .into_iter()
        .map(|(from, to, at)| SegmentChange { from, to, at })
        .collect();
    let orders = orders::list_for_customer(&mut conn, shop_id, customer_id).await?;
    let view = loyalty::view_on(&mut conn, shop_id, customer_id).await?;
    Ok(CustomerDetail {
        customer,
        ledger,
        redemptions,
        tier_history,
        segment_history,
        orders,
        tier: view.tier,
        next_tier: view.next_tier,
        referral_code: view.referral_code,
        points_balance: view.points_balance,
        points_pending: view.points_pending,
    })
}

#[derive(Debug, thiserror::Error)]
pub enum BirthdayError {
    #[error("birthday must be a date as MM-DD")]
    Invalid,
    /// Unknown to the shop, or erased.
    #[error("no such customer")]
    UnknownCustomer,
    /// The shopper's birthday is set; only the merchant changes it.
    #[error("your birthday is already set; the shop can change it")]
    AlreadySet,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// The answer to a birthday write: the birthday as stored ("MM-DD"), or
/// null when cleared.
#[derive(Debug, Clone, Serialize)]
pub struct SavedBirthday {
    pub birthday: Option<String>,
}

/// A birthday as given ("MM-DD"), normalised; None clears it.
fn valid_birthday(raw: Option<&str>) -> Result<Option<String>, BirthdayError> {
    raw.map(|raw| {
        let (m, d) = calendar::parse_birthday(raw).ok_or(BirthdayError::Invalid)?;
        Ok(format!("{m:02}-{d:02}"))
    })
    .transpose()
}

/// The merchant's staff set (or clear) a customer's birthday. Refused for
/// a customer the shop has never seen: only Shopify's own data (webhooks,
/// imports) creates customers.
pub async fn set_birthday_by_staff(
    store: &Store,
    shop_id: i64,
    customer_id: i64,
    birthday: Option<&str>,
) -> Result<SavedBirthday, BirthdayError> {
    {
        let mut conn = store.reader().acquire().await?;
        customers::find_customer(&mut conn, shop_id, customer_id)
            .await?
            .ok_or(BirthdayError::UnknownCustomer)?;
    }
    let birthday = valid_birthday(birthday)?;
    let mut conn = store.writer().acquire().await?;
    if !customers::set_birthday(
        &mut conn,
        shop_id,
        customer_id,
        birthday.as_deref(),
        now_ms(),
    )
    .await?
    {
        return Err(BirthdayError::UnknownCustomer);
    }
    Ok(SavedBirthday { birthday })
}

/// The shopper sets their birthday, once: moving it around to collect the
/// bonus again is for the merchant to allow. One conditional write, so
/// racing requests cannot each set another date.
pub async fn set_own_birthday(
    store: &Store,
    shop_id: i64,
    customer_id: i64,
    birthday: Option<&str>,
) -> Result<SavedBirthday, BirthdayError> {
    let birthday = valid_birthday(birthday)?;
    let mut conn = store.writer().acquire().await?;
    match customers::set_birthday_once(
        &mut conn,
        shop_id,
        customer_id,
        birthday.as_deref(),
        now_ms(),
    )
    .await?
    {
        BirthdayOnce::Set => Ok(SavedBirthday { birthday }),
        BirthdayOnce::AlreadySet => Err(BirthdayError::AlreadySet),
        BirthdayOnce::Erased => Err(BirthdayError::UnknownCustomer),
    }
}
