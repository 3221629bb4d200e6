//! Redeeming a reward: one transaction records the redemption, takes the
//! points (only if the balance covers them: the check and the take are one
//! statement, so no concurrency can take it below zero) and enqueues the
//! customer-specific, single-use discount code. A client idempotency key
//! makes a retried request return the same code. If Shopify refuses the
//! code for good, the outbox gives the points back with a ledger entry.

use sqlx::AnyConnection;

use super::{customer_gid, enqueue, rfc3339, DAY_MS};
use crate::{
    engine::effects::{DiscountValue, Effect, FlowTrigger, Refund},
    loyalty::{
        codes, money,
        points::Points,
        settings::{Reward, RewardValue},
        CustomerId, EpochMs, ShopId,
    },
    store::{
        customers,
        ledger::{self, NewEntry},
        program,
        redemptions::{self, NewRedemption, Redemption},
    },
};

#[derive(Debug, thiserror::Error)]
pub enum RedeemError {
    #[error("no reward {0:?} in this shop's program")]
    UnknownReward(String),
    #[error("not enough points: the reward costs {cost}, the balance is {balance}")]
    NotEnoughPoints { cost: i64, balance: i64 },
    #[error("this idempotency key was used for a different reward")]
    KeyReused,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Who asks, for the redemption record and the ledger.
#[derive(Debug, Clone, Copy)]
pub struct Requester<'a> {
    /// `checkout`, `storefront` or `admin`.
    pub channel: &'a str,
    /// `shopper` or `staff:<id>`.
    pub actor: &'a str,
}

/// What is asked for: a reward, under the caller's idempotency key.
#[derive(Debug, Clone, Copy)]
pub struct RedeemRequest<'a> {
    pub reward_id: &'a str,
    /// A second request with the same key answers the first redemption.
    pub idempotency_key: &'a str,
    pub who: Requester<'a>,
}

/// The result: the redemption, and whether it was made by an earlier
/// request with the same key.
#[derive(Debug, Clone)]
pub struct Redeemed {
    pub redemption: Redemption,
    pub replayed: bool,
}

/// The discount a reward value becomes.
pub fn discount_value(value: &RewardValue) -> DiscountValue {
    match value {
        RewardValue::AmountOff { amount } => DiscountValue::Amount {
            amount: amount.clone(),
        },
        RewardValue::PercentageOff { percent } => DiscountValue::Percentage {
            fraction: format_fraction(*percent),
        },
        RewardValue::FreeShipping => DiscountValue::FreeShipping,
    }
}

/// 15 -> "0.15", 100 -> "1", 5 -> "0.05": exact in decimal text.
fn format_fraction(percent: u32) -> String {
    if percent >= 100 {
        "1".into()
    } else {
        format!("0.{percent:02}")
    }
}

/// Redeems `reward_id` for the customer in one transaction on `conn`.
pub async fn redeem(
    conn: &mut AnyConnection,
    shop: ShopId,
    customer: CustomerId,
    request: &RedeemRequest<'_>,
    now: EpochMs,
) -> Result<Redeemed, RedeemError> {
    let (shop_id, customer_id) = (shop.get(), customer.get());
    let RedeemRequest {
        reward_id,
        idempotency_key,
        who,
    } = *request;
    if let Some(done) = redemptions::find_by_key(conn, shop, customer, idempotency_key).await? {
        return replay(done, reward_id);
    }
    let program = program::get_program(conn, shop_id).await?;
    let reward: Reward = program
        .settings
        .reward(reward_id)
        .cloned()
        .ok_or_else(|| RedeemError::UnknownReward(reward_id.to_owned()))?;
    let code = codes::discount_code("ADV");
    let expires_at = now.get() + i64::from(reward.valid_days) * DAY_MS;
    let new = NewRedemption {
        shop_id: shop,
        customer_id: customer,
        idempotency_key,
        reward_id: &reward.id,
        reward_name: &reward.name,
        points: reward.points_cost,
        code: &code,
        channel: who.channel,
        actor: who.actor,
        expires_at: EpochMs(expires_at),
    };
    let Some(id) = redemptions::insert(conn, &new, now).await? else {
        // A concurrent request with the same key won; its row is committed
        // (PostgreSQL waited for it) and is the answer.
        let done = redemptions::find_by_key(conn, shop, customer, idempotency_key)
            .await?
            .ok_or(sqlx::Error::RowNotFound)?;
        return replay(done, reward_id);
    };
    // Settings keep costs within `MAX_SETTING`; a cost beyond the stored
    // range is refused, never negated into a wrapped figure.
    let cost = Points::new(reward.points_cost)
        .map_err(|e| RedeemError::Db(sqlx::Error::Encode(Box::new(e))))?;
    let source_key = format!("redemption:{id}");
    let reason = format!("Redeemed {} for {} points", reward.name, reward.points_cost);
    let entry = NewEntry {
        actor: who.actor,
        settings_version: Some(program.version),
        ..NewEntry::new(
            shop_id,
            customer_id,
            cost.negated().get(),
            ledger::kind::REDEEM,
            &reason,
            &source_key,
        )
    };
    // The source key is new (this redemption's id): a spend either takes
    // the points or finds too few.
    if ledger::spend(conn, &entry, now.get()).await? != ledger::Spent::Taken {
        return Err(RedeemError::NotEnoughPoints {
            cost: reward.points_cost,
            balance: customers::balance(conn, shop_id, customer_id).await?,
        });
    }
    let effect = Effect::CreateDiscountCode {
        code: code.clone(),
        title: format!("{} (loyalty reward)", reward.name),
        customer_gid: Some(customer_gid(customer_id)),
        value: discount_value(&reward.value),
        minimum_subtotal: reward.minimum_order.as_deref().and_then(|m| {
            let exp = money::exponent(&program.currency);
            money::parse_minor(m, exp)
                .filter(|v| *v > 0)
                .map(|v| money::format_minor(v, exp))
        }),
        ends_at: Some(rfc3339(expires_at)),
        refund: Some(Refund {
            customer_id,
            points: reward.points_cost,
            source_key: format!("{source_key}:refund"),
        }),
    };
    // The code first, then the Flow trigger that may email it.
    let ordering = format!("{source_key}:code");
    enqueue(conn, shop_id, &effect, &source_key, Some(&ordering)).await?;
    let trigger = FlowTrigger::RewardRedeemed.effect(
        customer_id,
        serde_json::Map::from_iter([
            ("Reward".to_owned(), serde_json::json!(reward.name)),
            (
                "Points spent".to_owned(),
                serde_json::json!(reward.points_cost),
            ),
            ("Discount code".to_owned(), serde_json::json!(code)),
            (
                "Expires at".to_owned(),
                serde_json::json!(rfc3339(expires_at)),
            ),
        ]),
    );
    enqueue(
        conn,
        shop_id,
        &trigger,
        &format!("{source_key}:flow"),
        Some(&ordering),
    )
    .await?;
    Ok(Redeemed {
        redemption: Redemption {
            id,
            customer_id,
            reward_id: reward.id,
            reward_name: reward.name,
            points: reward.points_cost,
            code,
            channel: who.channel.to_owned(),
            created_at: now.get(),
            expires_at,
        },
        replayed: false,
    })
}

fn replay(done: Redemption, reward_id: &str) -> Result<Redeemed, RedeemError> {
    if done.reward_id != reward_id {
        return Err(RedeemError::KeyReused);
    }
    Ok(Redeemed {
        redemption: done,
        replayed: true,
    })
}

/// Gives a redemption's points back when its code can never be created
/// (the outbox gave up on the effect), in the caller's transaction. The
/// refund's source key makes it happen once; false when it already did.
pub async fn give_back(
    conn: &mut AnyConnection,
    shop_id: i64,
    refund: &Refund,
    now: i64,
) -> Result<bool, sqlx::Error> {
    ledger::append(
        conn,
        &NewEntry::new(
            shop_id,
            refund.customer_id,
            refund.points,
            ledger::kind::REFUND,
            "reward code could not be created; points returned",
            &refund.source_key,
        ),
        now,
    )
    .await
}

#[cfg(test)]
mod tests {
    #[test]
    fn percentages_become_exact_fractions() {
        assert_eq!(super::format_fraction(10), "0.10");
        assert_eq!(super::format_fraction(5), "0.05");
        assert_eq!(super::format_fraction(100), "1");
    }
}
