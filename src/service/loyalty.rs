//! The shopper's loyalty view: balance, tier, next tier, rewards, personal
//! offers and referral code, as checkout, the storefront and the admin
//! customer page show it.

use serde::Serialize;
use sqlx::AnyConnection;

use crate::{
    engine,
    loyalty::{
        money,
        settings::{Reward, RewardValue, TierBasis},
        tiers, CustomerId, EpochMs, ShopId,
    },
    store::{customers, ledger, program, program::Program, referrals, Store},
};

/// The balance answer: the loyalty view of a logged-in shopper, or a
/// logged-out answer that says so.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Balance {
    LoggedOut(LoggedOut),
    Member(Box<LoyaltyView>),
}

/// `{"logged_in": false}`.
#[derive(Debug, Clone, Serialize)]
pub struct LoggedOut {
    pub logged_in: bool,
}

/// The logged-in shopper's loyalty view.
#[derive(Debug, Clone, Serialize)]
pub struct LoyaltyView {
    /// Always true.
    pub logged_in: bool,
    pub points_balance: i64,
    pub points_pending: i64,
    /// The current tier; null without one.
    pub tier: Option<TierView>,
    /// The next tier and what is missing to reach it; null at the top.
    pub next_tier: Option<NextTier>,
    pub rewards: Vec<RewardView>,
    /// Null until the shopper has asked for a code.
    pub referral_code: Option<String>,
    /// "MM-DD", or null.
    pub birthday: Option<String>,
    pub offers: engine::offers::Offers,
    /// "Time to restock?": products the shopper was reminded to buy again
    /// in the last 30 days and has not bought since, soonest due first
    /// (`product_id`, `title`, `due_on` as the shop's date); at most 5.
    pub restock: Vec<serde_json::Value>,
}

/// A tier as shoppers see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TierView {
    pub id: String,
    pub name: String,
    pub perk_percent: u32,
    pub shipping_perk_percent: u32,
    pub multiplier_percent: u32,
}

/// The next tier: its id, name and what the shopper still needs.
#[derive(Debug, Clone, Serialize)]
pub struct NextTier {
    pub id: String,
    pub name: String,
    pub missing: Missing,
}

/// What is missing to reach a tier: spend (a decimal amount and its
/// currency) or points earned, by the program's tier basis.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Missing {
    Spend { amount: String, currency: String },
    Points { points: i64 },
}

/// A reward as shoppers see it.
#[derive(Debug, Clone, Serialize)]
pub struct RewardView {
    pub id: String,
    pub name: String,
    /// `amount_off`, `percentage_off`, `free_shipping`, `free_product`,
    /// `store_credit` or `points_as_cash`.
    pub kind: &'static str,
    /// The decimal amount off, the percentage off, the variant id (free
    /// product), or null (free shipping).
    pub value: Option<RewardAmount>,
    /// What a redemption spends (for points as cash, its minimum).
    pub points_cost: i64,
    /// Points as cash: the step the shopper chooses in (each worth
    /// `value`), and the range; absent for other kinds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub points_step: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_points: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_points: Option<i64>,
    pub minimum_order: Option<String>,
    pub valid_days: u32,
    /// Whether the balance covers the cost.
    pub affordable: bool,
    pub currency: String,
}

/// A reward's value: a decimal amount (string) or a percentage (number).
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum RewardAmount {
    Amount(String),
    Percent(u32),
    /// A free product's variant id.
    Variant(i64),
}

impl RewardView {
    fn new(program: &Program, r: &Reward, balance: i64) -> Self {
        let (kind, value) = match &r.value {
            RewardValue::AmountOff { amount } => {
                ("amount_off", Some(RewardAmount::Amount(amount.clone())))
            }
            RewardValue::PercentageOff { percent } => {
                ("percentage_off", Some(RewardAmount::Percent(*percent)))
            }
            RewardValue::FreeShipping => ("free_shipping", None),
            RewardValue::FreeProduct { variant_id } => {
                ("free_product", Some(RewardAmount::Variant(*variant_id)))
            }
            RewardValue::StoreCredit { amount } => {
                ("store_credit", Some(RewardAmount::Amount(amount.clone())))
            }
            RewardValue::PointsAsCash { amount, .. } => {
                ("points_as_cash", Some(RewardAmount::Amount(amount.clone())))
            }
        };
        let range = match &r.value {
            RewardValue::PointsAsCash {
                min_points,
                max_points,
                ..
            } => Some((*min_points, *max_points)),
            _ => None,
        };
        let points_cost = range.map_or(r.points_cost, |(min, _)| min);
        Self {
            id: r.id.clone(),
            name: r.name.clone(),
            kind,
            value,
            points_cost,
            points_step: range.map(|_| r.points_cost),
            min_points: range.map(|(min, _)| min),
            max_points: range.map(|(_, max)| max),
            minimum_order: r.minimum_order.clone(),
            valid_days: r.valid_days,
            affordable: balance >= points_cost,
            currency: program.currency.clone(),
        }
    }
}

/// The program's rewards as shoppers see them, affordable or not with
/// `balance`.
pub(crate) fn reward_views(program: &Program, balance: i64) -> Vec<RewardView> {
    program
        .settings
        .rewards
        .iter()
        .map(|r| RewardView::new(program, r, balance))
        .collect()
}

/// `GET /api/checkout/balance`, `GET /proxy/balance`: the view of the
/// logged-in shopper, or the logged-out answer.
pub async fn balance(
    store: &Store,
    shop_id: i64,
    customer_id: Option<i64>,
) -> Result<Balance, sqlx::Error> {
    let Some(customer_id) = customer_id else {
        return Ok(Balance::LoggedOut(LoggedOut { logged_in: false }));
    };
    let mut conn = store.reader().acquire().await?;
    let view = view_on(&mut conn, shop_id, customer_id).await?;
    Ok(Balance::Member(Box::new(view)))
}

/// The customer's loyalty view, read on `conn` (a customer the shop has
/// not seen has no points, no tier and no birthday).
pub(crate) async fn view_on(
    conn: &mut AnyConnection,
    shop_id: i64,
    customer_id: i64,
) -> Result<LoyaltyView, sqlx::Error> {
    let program = program::get_program(conn, shop_id).await?;
    let customer = customers::find_customer(conn, shop_id, customer_id).await?;
    let (balance, pending, tier_id, birthday) = customer.map_or((0, 0, None, None), |c| {
        (c.points_balance, c.points_pending, c.tier_id, c.birthday)
    });
    let standing = engine::tiers::standing(
        conn,
        ShopId(shop_id),
        &program,
        CustomerId(customer_id),
        EpochMs::now(),
    )
    .await?;
    let exp = program.exponent();
    let tier = tiers::level(&program.settings.tiers, tier_id.as_deref()).map(|l| TierView {
        id: l.id.clone(),
        name: l.name.clone(),
        perk_percent: l.perk_percent,
        shipping_perk_percent: l.shipping_perk_percent,
        multiplier_percent: l.multiplier_percent,
    });
    let next_tier = tiers::next_tier(&program.settings.tiers, exp, standing).map(|(l, missing)| {
        let missing = match program.settings.tiers.basis {
            TierBasis::Spend => Missing::Spend {
                amount: money::format_minor(missing, exp),
                currency: program.currency.clone(),
            },
            TierBasis::PointsEarned => Missing::Points { points: missing },
        };
        NextTier {
            id: l.id.clone(),
            name: l.name.clone(),
            missing,
        }
    });
    let rewards = reward_views(&program, balance);
    let referral_code = referrals::find_code(conn, shop_id, customer_id).await?;
    let offers = engine::offers::offers_for(
        conn,
        ShopId(shop_id),
        &program.settings,
        CustomerId(customer_id),
        balance,
    )
    .await?;
    let restock =
        engine::reorder::restock_for(conn, shop_id, customer_id, EpochMs::now().get()).await?;
    Ok(LoyaltyView {
        logged_in: true,
        points_balance: balance,
        points_pending: pending,
        tier,
        next_tier,
        rewards,
        referral_code,
        birthday,
        offers,
        restock,
    })
}

/// How many entries the shopper's history shows.
pub const HISTORY_LINES: i64 = 20;

/// `GET /api/account/history`: the shopper's latest points movements.
#[derive(Debug, Clone, Serialize)]
pub struct History {
    pub entries: Vec<HistoryLine>,
}

/// One movement as the shopper sees it: what kind, how many points (signed),
/// when it happened, and until when earned points are pending. The
/// merchant's reasons and notes stay in the admin.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryLine {
    pub kind: String,
    pub points: i64,
    /// RFC 3339.
    pub occurred_at: String,
    /// RFC 3339, while the points cannot be spent yet.
    pub pending_until: Option<String>,
}

/// The shopper's latest [`HISTORY_LINES`] ledger entries, newest first.
pub async fn history(
    store: &Store,
    shop_id: i64,
    customer_id: i64,
) -> Result<History, sqlx::Error> {
    let mut conn = store.reader().acquire().await?;
    let now = EpochMs::now().0;
    let entries = ledger::recent_for_customer(&mut conn, shop_id, customer_id, HISTORY_LINES)
        .await?
        .into_iter()
        .map(|e| HistoryLine {
            pending_until: e.spendable_at.filter(|at| *at > now).map(engine::rfc3339),
            kind: e.kind,
            points: e.points,
            occurred_at: engine::rfc3339(e.occurred_at),
        })
        .collect();
    Ok(History { entries })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{Balance, LoggedOut, Missing, RewardAmount};

    #[test]
    fn a_logged_out_shopper_is_told_so() {
        let answer = Balance::LoggedOut(LoggedOut { logged_in: false });
        assert_eq!(
            serde_json::to_value(answer).unwrap(),
            json!({ "logged_in": false })
        );
    }

    #[test]
    fn amounts_are_text_percentages_numbers_and_missing_says_which() {
        let amount = RewardAmount::Amount("5.00".into());
        assert_eq!(serde_json::to_value(amount).unwrap(), json!("5.00"));
        let percent = RewardAmount::Percent(15);
        assert_eq!(serde_json::to_value(percent).unwrap(), json!(15));
        let spend = Missing::Spend {
            amount: "12.50".into(),
            currency: "EUR".into(),
        };
        assert_eq!(
            serde_json::to_value(spend).unwrap(),
            json!({ "amount": "12.50", "currency": "EUR" })
        );
        let points = Missing::Points { points: 40 };
        assert_eq!(
            serde_json::to_value(points).unwrap(),
            json!({ "points": 40 })
        );
    }
}
