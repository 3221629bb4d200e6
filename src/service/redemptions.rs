//! Redeeming a reward for a discount code: by the shopper (checkout, the
//! storefront) or by the merchant's staff for a customer. The redemption
//! commits first; the code is then sent to Shopify at once and the answer
//! waits a little for it, so that the shopper usually gets a code that
//! already works.

use std::time::Duration;

use serde::Serialize;

use crate::{
    engine::{
        self,
        effects::Effect,
        redeem::{self, Redeemed, Requester},
    },
    jobs::outbox::OutboxSender,
    loyalty::{CustomerId, EpochMs, ShopId},
    store::{
        customers,
        outbox::{self, EffectStatus},
        Store,
    },
};

/// How long a redemption waits for Shopify to create its code before
/// answering `pending` (the outbox keeps trying).
const CODE_WAIT: Duration = Duration::from_secs(8);

/// Why a redemption was refused: the engine's reasons, or a staff
/// redemption for a customer the shop has never seen.
#[derive(Debug, thiserror::Error)]
pub enum RedeemError {
    #[error("no such customer")]
    UnknownCustomer,
    #[error(transparent)]
    Refused(#[from] redeem::RedeemError),
}

impl From<sqlx::Error> for RedeemError {
    fn from(e: sqlx::Error) -> Self {
        Self::Refused(redeem::RedeemError::Db(e))
    }
}

/// What is asked: a reward for a customer, under the client's
/// idempotency key, by whom and through which channel.
#[derive(Debug, Clone, Copy)]
pub struct RedeemRequest<'a> {
    pub shop_id: i64,
    pub customer_id: i64,
    pub reward_id: &'a str,
    /// Points chosen for a points-as-cash reward (see
    /// [`redeem::RedeemRequest::points`]).
    pub points: Option<i64>,
    /// The client's idempotency key: the same key returns the same code.
    pub key: &'a str,
    pub who: Requester<'a>,
}

/// Where the discount code is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CodeStatus {
    /// Shopify created it: it works at checkout.
    Active,
    /// Shopify refused it for good; the points are given back.
    Failed,
    /// Still on its way (the outbox keeps trying).
    Pending,
}

impl CodeStatus {
    fn of(status: Option<EffectStatus>) -> Self {
        match status {
            Some(EffectStatus::Done) => Self::Active,
            Some(EffectStatus::Failed) => Self::Failed,
            Some(EffectStatus::Queued) | None => Self::Pending,
        }
    }
}

/// The answer to a redemption (201 when made now, 200 for a replay).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RedeemedCode {
    /// `discount_code`, or `store_credit` (credited to the customer's
    /// Shopify store credit account: nothing to enter at checkout).
    #[schema(value_type = String)]
    pub kind: &'static str,
    /// The discount code; null for store credit.
    pub code: Option<String>,
    /// Where the code (or the credit) is: `active` once Shopify has it.
    pub code_status: CodeStatus,
    /// The credit's amount and currency; null for a code.
    pub store_credit: Option<StoreCreditView>,
    pub reward_id: String,
    pub reward_name: String,
    pub points_spent: i64,
    /// RFC 3339: when the code ends, or the store credit expires; null
    /// for store credit that does not expire.
    pub expires_at: Option<String>,
    /// The balance the redemption leaves.
    pub points_balance: i64,
    /// True when an earlier request with the same key made it.
    pub replayed: bool,
}

/// A store credit a redemption gives.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct StoreCreditView {
    /// A decimal amount ("5.00").
    pub amount: String,
    /// ISO 4217.
    pub currency: String,
    /// RFC 3339; null when the credit does not expire.
    pub expires_at: Option<String>,
}

/// The shopper redeems for themselves (checkout or storefront).
pub async fn redeem_as_shopper(
    store: &Store,
    sender: &OutboxSender,
    request: RedeemRequest<'_>,
) -> Result<RedeemedCode, RedeemError> {
    redeem(store, sender, request, Existing::MayBeNew).await
}

/// The merchant's staff redeem for a customer (a code to send them).
/// Refused for a customer the shop has never seen.
pub async fn redeem_for_customer(
    store: &Store,
    sender: &OutboxSender,
    request: RedeemRequest<'_>,
) -> Result<RedeemedCode, RedeemError> {
    redeem(store, sender, request, Existing::Required).await
}

/// Whether the customer must already be known to the shop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Existing {
    Required,
    MayBeNew,
}

/// Everything that can fail the answer (the redemption, the balance it
/// leaves) happens before the commit: an error commits nothing and
/// enqueues no effect, and once the commit is made the answer is a success
/// (a code still on its way is `pending`).
async fn redeem(
    store: &Store,
    sender: &OutboxSender,
    request: RedeemRequest<'_>,
    existing: Existing,
) -> Result<RedeemedCode, RedeemError> {
    let RedeemRequest {
        shop_id,
        customer_id,
        ..
    } = request;
    let mut tx = store.begin().await?;
    let result = async {
        if existing == Existing::Required
            && customers::find_customer(&mut tx, shop_id, customer_id)
                .await?
                .is_none()
        {
            return Err(RedeemError::UnknownCustomer);
        }
        let asked = redeem::RedeemRequest {
            reward_id: request.reward_id,
            points: request.points,
            idempotency_key: request.key,
            who: request.who,
        };
        let redeemed = redeem::redeem(
            &mut tx,
            ShopId(shop_id),
            CustomerId(customer_id),
            &asked,
            EpochMs::now(),
        )
        .await?;
        let balance = customers::balance(&mut tx, shop_id, customer_id).await?;
        Ok((redeemed, balance))
    }
    .await;
    let (redeemed, balance) = match result {
        Ok(done) => {
            tx.commit().await?;
            done
        }
        Err(e) => {
            tx.rollback().await?;
            return Err(e);
        }
    };
    let (code_status, store_credit) = send_code(store, sender, shop_id, &redeemed).await;
    let r = redeemed.redemption;
    let expires_at = match &store_credit {
        Some(credit) => credit.expires_at.clone(),
        None => Some(engine::rfc3339(r.expires_at)),
    };
    Ok(RedeemedCode {
        kind: if store_credit.is_some() {
            "store_credit"
        } else {
            "discount_code"
        },
        code: store_credit.is_none().then_some(r.code),
        code_status,
        store_credit,
        reward_id: r.reward_id,
        reward_name: r.reward_name,
        points_spent: r.points,
        expires_at,
        points_balance: balance,
        replayed: redeemed.replayed,
    })
}

/// After the commit: sends a new redemption's code (or store credit) at
/// once (waiting up to [`CODE_WAIT`]) and reports where it is, with the
/// credit's amount for a store credit. A failure here never fails the
/// answer: the code is then `pending` and the outbox keeps trying.
async fn send_code(
    store: &Store,
    sender: &OutboxSender,
    shop_id: i64,
    redeemed: &Redeemed,
) -> (CodeStatus, Option<StoreCreditView>) {
    let effect_key = format!("redemption:{}", redeemed.redemption.id);
    if !redeemed.replayed {
        let sent = tokio::time::timeout(CODE_WAIT, sender.send_now(shop_id, &effect_key)).await;
        if let Ok(Err(e)) = sent {
            tracing::warn!(
                error = format!("{e:#}"),
                "sending a reward code at once failed; the outbox retries"
            );
        }
    }
    let status = async {
        let mut conn = store.writer().acquire().await?;
        let status = outbox::effect_status(&mut conn, shop_id, &effect_key).await?;
        let payload = outbox::effect_payload(&mut conn, shop_id, &effect_key).await?;
        Ok::<_, sqlx::Error>((status, payload))
    }
    .await;
    match status {
        Ok((status, payload)) => {
            let credit = payload
                .and_then(|p| serde_json::from_str::<Effect>(&p).ok())
                .and_then(|effect| match effect {
                    Effect::CreditStoreCredit {
                        amount,
                        currency,
                        expires_at,
                        ..
                    } => Some(StoreCreditView {
                        amount,
                        currency,
                        expires_at,
                    }),
                    _ => None,
                });
            (CodeStatus::of(status), credit)
        }
        Err(e) => {
            tracing::warn!(error = %e, "reading a reward code's progress failed; answering pending");
            (CodeStatus::Pending, None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::CodeStatus;
    use crate::store::outbox::EffectStatus;

    #[test]
    fn a_sent_code_is_active_a_refused_one_failed_and_the_rest_pending() {
        assert_eq!(CodeStatus::of(Some(EffectStatus::Done)), CodeStatus::Active);
        assert_eq!(
            CodeStatus::of(Some(EffectStatus::Failed)),
            CodeStatus::Failed
        );
        assert_eq!(
            CodeStatus::of(Some(EffectStatus::Queued)),
            CodeStatus::Pending
        );
        assert_eq!(CodeStatus::of(None), CodeStatus::Pending);
        let names: Vec<String> = [CodeStatus::Active, CodeStatus::Failed, CodeStatus::Pending]
            .iter()
            .map(|s| {
                serde_json::to_value(s)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(names, ["active", "failed", "pending"]);
    }
}
