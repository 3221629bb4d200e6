//! Redeeming a reward: one transaction records the redemption, takes the
//! points (only if the balance covers them: the check and the take are one
//! statement, so no concurrency can take it below zero) and enqueues the
//! customer-specific, single-use discount code, or, for a store credit
//! reward, the credit to the customer's store credit account. A client
//! idempotency key makes a retried request return the same redemption. If
//! Shopify refuses the code or the credit for good, the outbox gives the
//! points back with a ledger entry.

use sqlx::AnyConnection;

use super::{enqueue, rfc3339, DAY_MS};
use crate::{
    engine::effects::{store_credit_ordering, DiscountValue, Effect, FlowTrigger, Refund},
    loyalty::{
        codes, money,
        points::Points,
        settings::{Reward, RewardValue},
        CustomerId, EpochMs, ShopId,
    },
    store::{
        customers,
        ledger::{self, NewEntry},
        outbound, program,
        redemptions::{self, NewRedemption, Redemption},
    },
};

/// The idempotency key of a redemption's Flow trigger is its code's (or
/// credit's) followed by this.
pub const FLOW_SUFFIX: &str = ":flow";

#[derive(Debug, thiserror::Error)]
pub enum RedeemError {
    #[error("no reward {0:?} in this shop's program")]
    UnknownReward(String),
    #[error("not enough points: the reward costs {cost}, the balance is {balance}")]
    NotEnoughPoints { cost: i64, balance: i64 },
    #[error("this idempotency key was used for a different reward")]
    KeyReused,
    /// The points asked for do not fit the reward.
    #[error("{0}")]
    Points(String),
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
    /// Points to spend: chosen for a points-as-cash reward (its minimum
    /// when None); otherwise None or the reward's cost.
    pub points: Option<i64>,
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
        RewardValue::FreeProduct { variant_id } => DiscountValue::FreeProduct {
            variant_gid: format!("gid://shopify/ProductVariant/{variant_id}"),
        },
        // Settings refuse store credit wherever a code must be made (a
        // referral's or a win-back's reward); a redemption credits it
        // instead (`Draft::enqueue_credit`). Were one ever asked for as a
        // code, the same amount off is the closest.
        RewardValue::StoreCredit { amount } | RewardValue::PointsAsCash { amount, .. } => {
            DiscountValue::Amount {
                amount: amount.clone(),
            }
        }
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
    let RedeemRequest {
        reward_id,
        points,
        idempotency_key,
        who,
    } = *request;
    if let Some(done) = redemptions::find_by_key(conn, shop, customer, idempotency_key).await? {
        return replay(done, reward_id, points);
    }
    let program = program::get_program(conn, shop.get()).await?;
    let reward: Reward = program
        .settings
        .reward(reward_id)
        .cloned()
        .ok_or_else(|| RedeemError::UnknownReward(reward_id.to_owned()))?;
    let credit = reward.value.is_store_credit();
    let (cost, credit_minor) = price(&reward, points, money::exponent(&program.currency))?;
    let draft = Draft {
        shop,
        customer,
        who,
        // A store credit has no code: the redemption keeps a reference of
        // the same shape, unique like a code.
        code: codes::discount_code(if credit { "CREDIT" } else { "ADV" }),
        expires_at: now.get() + i64::from(draft_days(&program, &reward)) * DAY_MS,
        program,
        reward,
        cost,
        credit_minor,
    };
    let Some(id) = draft.insert(conn, idempotency_key, now).await? else {
        // A concurrent request with the same key won; its row is committed
        // (PostgreSQL waited for it) and is the answer.
        let done = redemptions::find_by_key(conn, shop, customer, idempotency_key)
            .await?
            .ok_or(sqlx::Error::RowNotFound)?;
        return replay(done, reward_id, points);
    };
    let source_key = format!("redemption:{id}");
    draft.take_points(conn, &source_key, now).await?;
    if credit {
        draft.enqueue_credit(conn, &source_key).await?;
    } else {
        draft.enqueue_code(conn, &source_key).await?;
    }
    draft.enqueue_flow(conn, &source_key).await?;
    draft.publish(conn, id, now).await?;
    Ok(draft.redeemed(id, now))
}

/// What a redemption of `reward` spends, and the store credit it gives in
/// minor units (None for a code): the reward's cost, or for points as cash
/// the points chosen (`points`, its minimum when None), checked against its
/// steps and range.
fn price(
    reward: &Reward,
    points: Option<i64>,
    exponent: u32,
) -> Result<(i64, Option<i64>), RedeemError> {
    let step = reward.points_cost;
    match &reward.value {
        RewardValue::PointsAsCash {
            amount,
            min_points,
            max_points,
        } => {
            let chosen = points.unwrap_or(*min_points);
            if step <= 0 || chosen % step != 0 || !(*min_points..=*max_points).contains(&chosen) {
                return Err(RedeemError::Points(format!(
                    "points must be a multiple of {step} from {min_points} to {max_points}"
                )));
            }
            // Settings keep max_points / step × amount within an amount.
            let credit = money::parse_minor(amount, exponent)
                .and_then(|a| a.checked_mul(chosen / step))
                .ok_or_else(|| RedeemError::Points("the credit is out of range".into()))?;
            Ok((chosen, Some(credit)))
        }
        value => {
            if points.is_some_and(|p| p != step) {
                return Err(RedeemError::Points(format!(
                    "this reward costs {step} points"
                )));
            }
            let credit = match value {
                RewardValue::StoreCredit { amount } => money::parse_minor(amount, exponent),
                _ => None,
            };
            Ok((step, credit))
        }
    }
}

/// Days a redemption runs: a code's validity, or a store credit's expiry
/// (ten years when it does not expire, the longest any validity runs).
fn draft_days(program: &program::Program, reward: &Reward) -> u32 {
    match reward.value {
        RewardValue::StoreCredit { .. } | RewardValue::PointsAsCash { .. } => {
            match program.settings.store_credit.expires_days {
                0 => 3650,
                days => days,
            }
        }
        _ => reward.valid_days,
    }
}

/// A redemption being made: the reward asked for, its new code and when
/// the code ends. The steps of [`redeem`] share it.
struct Draft<'a> {
    shop: ShopId,
    customer: CustomerId,
    who: Requester<'a>,
    program: program::Program,
    reward: Reward,
    /// Points it spends.
    cost: i64,
    /// The store credit it gives, in minor units; None for a code.
    credit_minor: Option<i64>,
    code: String,
    /// Epoch milliseconds.
    expires_at: i64,
}

impl Draft<'_> {
    /// The `reward.redeemed` event for the merchant's endpoints (the code
    /// itself is not in it: it is the shopper's to spend).
    async fn publish(
        &self,
        conn: &mut AnyConnection,
        id: i64,
        now: EpochMs,
    ) -> Result<(), sqlx::Error> {
        let customer_id = self.customer.get();
        let ordering = outbound::customer_ordering(customer_id);
        let data = serde_json::json!({
            "customer_id": customer_id,
            "redemption_id": id,
            "reward_id": self.reward.id,
            "reward_name": self.reward.name,
            "points": self.cost,
            "channel": self.who.channel,
        });
        outbound::emit(
            conn,
            self.shop.get(),
            &outbound::Event {
                topic: outbound::topic::REWARD_REDEEMED,
                ordering_key: Some(&ordering),
                data: &data,
            },
            now.get(),
        )
        .await?;
        Ok(())
    }

    /// Inserts the redemption row under the idempotency key: its id, or
    /// `None` when a row with that key already exists.
    async fn insert(
        &self,
        conn: &mut AnyConnection,
        idempotency_key: &str,
        now: EpochMs,
    ) -> Result<Option<i64>, sqlx::Error> {
        let new = NewRedemption {
            shop_id: self.shop,
            customer_id: self.customer,
            idempotency_key,
            reward_id: &self.reward.id,
            reward_name: &self.reward.name,
            points: self.cost,
            code: &self.code,
            channel: self.who.channel,
            actor: self.who.actor,
            expires_at: EpochMs(self.expires_at),
        };
        redemptions::insert(conn, &new, now).await
    }

    /// Takes the reward's cost from the balance, or refuses with
    /// [`RedeemError::NotEnoughPoints`] when the balance does not cover it.
    async fn take_points(
        &self,
        conn: &mut AnyConnection,
        source_key: &str,
        now: EpochMs,
    ) -> Result<(), RedeemError> {
        let (shop_id, customer_id) = (self.shop.get(), self.customer.get());
        let reward = &self.reward;
        // Settings keep costs within `MAX_SETTING`; a cost beyond the stored
        // range is refused, never negated into a wrapped figure.
        let cost = Points::new(self.cost)
            .map_err(|e| RedeemError::Db(sqlx::Error::Encode(Box::new(e))))?;
        let reason = format!("Redeemed {} for {} points", reward.name, self.cost);
        let entry = NewEntry {
            actor: self.who.actor,
            settings_version: Some(self.program.version),
            ..NewEntry::new(
                shop_id,
                customer_id,
                cost.negated().get(),
                ledger::kind::REDEEM,
                &reason,
                source_key,
            )
        };
        // The source key is new (this redemption's id): a spend either takes
        // the points or finds too few.
        if ledger::spend(conn, &entry, now.get()).await? != ledger::Spent::Taken {
            return Err(RedeemError::NotEnoughPoints {
                cost: self.cost,
                balance: customers::balance(conn, shop_id, customer_id).await?,
            });
        }
        Ok(())
    }

    /// The ordering key of the code (or credit) and the Flow trigger that
    /// may email it: the code first. A customer's store credits share one
    /// key, so they are sent one at a time in order.
    fn ordering(&self, source_key: &str) -> String {
        if self.reward.value.is_store_credit() {
            store_credit_ordering(&self.customer.gid())
        } else {
            format!("{source_key}:code")
        }
    }

    /// Enqueues the credit to the customer's store credit account, with the
    /// refund the outbox makes if Shopify refuses it for good.
    async fn enqueue_credit(
        &self,
        conn: &mut AnyConnection,
        source_key: &str,
    ) -> Result<(), sqlx::Error> {
        let Some(minor) = self.credit_minor else {
            return Ok(());
        };
        // Written with the currency's own digits ("5" -> "5.00").
        let amount = money::format_minor(minor, money::exponent(&self.program.currency));
        let settings = &self.program.settings.store_credit;
        let effect = Effect::CreditStoreCredit {
            customer_gid: self.customer.gid(),
            amount,
            currency: self.program.currency.clone(),
            expires_at: (settings.expires_days > 0).then(|| rfc3339(self.expires_at)),
            notify: settings.notify,
            refund: Some(Refund {
                customer_id: self.customer.get(),
                points: self.cost,
                source_key: format!("{source_key}:refund"),
            }),
        };
        let ordering = self.ordering(source_key);
        enqueue(conn, self.shop.get(), &effect, source_key, Some(&ordering)).await?;
        Ok(())
    }

    /// Enqueues the customer's single-use discount code, with the refund
    /// the outbox makes if Shopify refuses it for good.
    async fn enqueue_code(
        &self,
        conn: &mut AnyConnection,
        source_key: &str,
    ) -> Result<(), sqlx::Error> {
        let (reward, customer_id) = (&self.reward, self.customer.get());
        let effect = Effect::CreateDiscountCode {
            code: self.code.clone(),
            title: format!("{} (loyalty reward)", reward.name),
            customer_gid: Some(CustomerId(customer_id).gid()),
            value: discount_value(&reward.value),
            minimum_subtotal: reward.minimum_order.as_deref().and_then(|m| {
                let exp = money::exponent(&self.program.currency);
                money::parse_minor(m, exp)
                    .filter(|v| *v > 0)
                    .map(|v| money::format_minor(v, exp))
            }),
            ends_at: Some(rfc3339(self.expires_at)),
            refund: Some(Refund {
                customer_id,
                points: self.cost,
                source_key: format!("{source_key}:refund"),
            }),
        };
        let ordering = self.ordering(source_key);
        enqueue(conn, self.shop.get(), &effect, source_key, Some(&ordering)).await?;
        Ok(())
    }

    /// Enqueues the reward-redeemed Flow trigger, after the code.
    async fn enqueue_flow(
        &self,
        conn: &mut AnyConnection,
        source_key: &str,
    ) -> Result<(), sqlx::Error> {
        let reward = &self.reward;
        let trigger = FlowTrigger::RewardRedeemed.effect(
            self.customer.get(),
            serde_json::Map::from_iter([
                ("Reward".to_owned(), serde_json::json!(reward.name)),
                ("Points spent".to_owned(), serde_json::json!(self.cost)),
                (
                    "Discount code".to_owned(),
                    // A store credit has no code to send.
                    serde_json::json!(if self.reward.value.is_store_credit() {
                        ""
                    } else {
                        self.code.as_str()
                    }),
                ),
                (
                    "Expires at".to_owned(),
                    serde_json::json!(rfc3339(self.expires_at)),
                ),
            ]),
        );
        enqueue(
            conn,
            self.shop.get(),
            &trigger,
            &format!("{source_key}{FLOW_SUFFIX}"),
            Some(&self.ordering(source_key)),
        )
        .await?;
        Ok(())
    }

    /// The answer for the redemption made under `id`.
    fn redeemed(self, id: i64, now: EpochMs) -> Redeemed {
        Redeemed {
            redemption: Redemption {
                id,
                customer_id: self.customer.get(),
                reward_id: self.reward.id,
                reward_name: self.reward.name,
                points: self.cost,
                code: self.code,
                channel: self.who.channel.to_owned(),
                created_at: now.get(),
                expires_at: self.expires_at,
            },
            replayed: false,
        }
    }
}

/// The answer for an earlier redemption under the same key: refused when
/// it was for another reward.
fn replay(done: Redemption, reward_id: &str, points: Option<i64>) -> Result<Redeemed, RedeemError> {
    if done.reward_id != reward_id || points.is_some_and(|p| p != done.points) {
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
