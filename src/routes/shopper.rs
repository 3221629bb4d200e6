//! What checkout, the storefront and the admin page share: the shopper's
//! loyalty view (balance, tier, rewards, personal offers) and the
//! redemption flow.

use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse};
use serde::{de::DeserializeOwned, Deserialize};
use serde_json::{json, Value};

use crate::loyalty::{CustomerId, EpochMs, ShopId};
use crate::{
    engine::{
        self,
        redeem::{self, RedeemError, Requester},
    },
    error::ApiError,
    loyalty::{money, settings::RewardValue, tiers},
    routes::AppState,
    store::{
        customers, now_ms, outbox,
        program::{self, Program},
        referrals,
    },
};

/// How long a redemption waits for Shopify to create its code before
/// answering `pending` (the outbox keeps trying).
const CODE_WAIT: Duration = Duration::from_secs(8);

/// Parses a JSON body with a clear 400 when it does not fit.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))
}

/// The client's `Idempotency-Key` header: 1-200 visible characters.
pub fn idempotency_key(req: &HttpRequest) -> Result<String, ApiError> {
    idempotency_key_or(req, None)
}

/// The `Idempotency-Key` header, or else `from_body` (the app proxy may not
/// pass custom headers through, so storefront calls also send the key in
/// the JSON body).
pub fn idempotency_key_or(req: &HttpRequest, from_body: Option<&str>) -> Result<String, ApiError> {
    req.headers()
        .get("Idempotency-Key")
        .and_then(|v| v.to_str().ok())
        .or(from_body)
        .map(str::trim)
        .filter(|k| (1..=200).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .ok_or(ApiError::BadRequest(
            "an idempotency key (Idempotency-Key header or \"idempotency_key\", 1-200 visible characters) is required".into(),
        ))
}

/// A reward as shoppers see it.
pub fn reward_json(program: &Program, r: &crate::loyalty::settings::Reward, balance: i64) -> Value {
    let (kind, value) = match &r.value {
        RewardValue::AmountOff { amount } => ("amount_off", json!(amount)),
        RewardValue::PercentageOff { percent } => ("percentage_off", json!(percent)),
        RewardValue::FreeShipping => ("free_shipping", Value::Null),
    };
    json!({
        "id": r.id,
        "name": r.name,
        "kind": kind,
        "value": value,
        "points_cost": r.points_cost,
        "minimum_order": r.minimum_order,
        "valid_days": r.valid_days,
        "affordable": balance >= r.points_cost,
        "currency": program.currency,
    })
}

/// The logged-in shopper's loyalty view.
pub async fn loyalty_view(
    state: &AppState,
    shop_id: i64,
    customer_id: i64,
) -> Result<Value, ApiError> {
    let mut conn = state.store.reader().acquire().await?;
    let program = program::get_program(&mut conn, shop_id).await?;
    let customer = customers::find_customer(&mut conn, shop_id, customer_id).await?;
    let (balance, pending, tier_id, birthday) = customer.map_or((0, 0, None, None), |c| {
        (c.points_balance, c.points_pending, c.tier_id, c.birthday)
    });
    let now = now_ms();
    let standing = engine::tiers::standing(
        &mut conn,
        ShopId(shop_id),
        &program,
        CustomerId(customer_id),
        EpochMs(now),
    )
    .await?;
    let exp = program.exponent();
    let tier = tiers::level(&program.settings.tiers, tier_id.as_deref()).map(|l| {
        json!({ "id": l.id, "name": l.name, "perk_percent": l.perk_percent, "multiplier_percent": l.multiplier_percent })
    });
    let next = tiers::next_tier(&program.settings.tiers, exp, standing).map(|(l, missing)| {
        let missing = match program.settings.tiers.basis {
            crate::loyalty::settings::TierBasis::Spend => {
                json!({ "amount": money::format_minor(missing, exp), "currency": program.currency })
            }
            crate::loyalty::settings::TierBasis::PointsEarned => json!({ "points": missing }),
        };
        json!({ "id": l.id, "name": l.name, "missing": missing })
    });
    let rewards: Vec<Value> = program
        .settings
        .rewards
        .iter()
        .map(|r| reward_json(&program, r, balance))
        .collect();
    let referral_code = referrals::find_code(&mut conn, shop_id, customer_id).await?;
    let offers = engine::offers::offers_for(
        &mut conn,
        ShopId(shop_id),
        &program.settings,
        CustomerId(customer_id),
        balance,
    )
    .await?;
    Ok(json!({
        "logged_in": true,
        "points_balance": balance,
        "points_pending": pending,
        "tier": tier,
        "next_tier": next,
        "rewards": rewards,
        "referral_code": referral_code,
        "birthday": birthday,
        "offers": offers,
    }))
}

#[derive(Deserialize)]
pub struct RedeemIn {
    pub reward_id: String,
    /// When the `Idempotency-Key` header cannot be sent.
    #[serde(default)]
    pub idempotency_key: Option<String>,
}

/// Redeems for the customer and answers with the code; waits briefly for
/// Shopify to create it. Everything that can fail the answer (the
/// redemption, the balance it leaves) happens before the commit: an error
/// answer commits nothing and enqueues no effect, and once the commit is
/// made the answer is a success (a code still on its way is `pending`).
pub async fn redeem_for(
    state: &AppState,
    shop_id: i64,
    customer_id: i64,
    reward_id: &str,
    key: &str,
    who: Requester<'_>,
) -> Result<HttpResponse, ApiError> {
    let mut tx = state.store.begin().await?;
    let result = async {
        let request = redeem::RedeemRequest {
            reward_id,
            idempotency_key: key,
            who,
        };
        let redeemed = redeem::redeem(
            &mut tx,
            ShopId(shop_id),
            CustomerId(customer_id),
            &request,
            EpochMs(now_ms()),
        )
        .await?;
        let balance = customers::balance(&mut tx, shop_id, customer_id).await?;
        Ok::<_, RedeemError>((redeemed, balance))
    }
    .await;
    let (redeemed, balance) = match result {
        Ok(done) => {
            tx.commit().await?;
            done
        }
        Err(e) => {
            tx.rollback().await?;
            return Err(match e {
                RedeemError::UnknownReward(_) => ApiError::NotFound("no such reward"),
                RedeemError::NotEnoughPoints { .. } => ApiError::Conflict(e.to_string()),
                RedeemError::KeyReused => ApiError::Unprocessable {
                    message: e.to_string(),
                    errors: None,
                },
                RedeemError::Db(e) => e.into(),
            });
        }
    };
    let r = &redeemed.redemption;
    let effect_key = format!("redemption:{}", r.id);
    if !redeemed.replayed {
        let sent =
            tokio::time::timeout(CODE_WAIT, state.outbox.send_now(shop_id, &effect_key)).await;
        if let Ok(Err(e)) = sent {
            tracing::warn!(
                error = format!("{e:#}"),
                "sending a reward code at once failed; the outbox retries"
            );
        }
    }
    let status = match code_progress(state, shop_id, &effect_key).await {
        Ok(status) => status,
        Err(e) => {
            tracing::warn!(error = %e, "reading a reward code's progress failed; answering pending");
            None
        }
    };
    let code_status = match status.as_ref().map(|s| s.0.as_str()) {
        Some("done") => "active",
        Some("failed") => "failed",
        _ => "pending",
    };
    let body = json!({
        "code": r.code,
        "code_status": code_status,
        "reward_id": r.reward_id,
        "reward_name": r.reward_name,
        "points_spent": r.points,
        "expires_at": engine::rfc3339(r.expires_at),
        "points_balance": balance,
        "replayed": redeemed.replayed,
    });
    Ok(if redeemed.replayed {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::Created().json(body)
    })
}

/// Where the outbox is with a redemption's code (read after the commit).
async fn code_progress(
    state: &AppState,
    shop_id: i64,
    effect_key: &str,
) -> Result<Option<(String, Option<String>)>, sqlx::Error> {
    let mut conn = state.store.writer().acquire().await?;
    outbox::status_of(&mut conn, shop_id, effect_key).await
}
