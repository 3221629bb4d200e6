//! What shoppers reach: checkout extensions (`/api/checkout/*`, session
//! tokens, CORS) and the storefront through the app proxy (`/proxy/*`).
//! A logged-out shopper gets an answer that says so, not an error; what
//! needs a customer answers 401 without one.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::{
    guards::{CheckoutSession, ProxyRequest},
    shopper::{self, parse_json, RedeemIn},
};
use crate::loyalty::{CustomerId, EpochMs, ShopId};
use crate::{
    engine::{
        redeem::Requester,
        referrals::{self, ReferralError},
    },
    error::ApiError,
    loyalty::{calendar, referrals::FriendEmail},
    routes::AppState,
    store::{customers, now_ms},
};

const LOGGED_OUT: &str = "log in to your account to use loyalty points";

fn customer(id: Option<i64>) -> Result<i64, ApiError> {
    id.ok_or(ApiError::Unauthorized(LOGGED_OUT))
}

async fn balance(
    state: &AppState,
    shop_id: i64,
    customer_id: Option<i64>,
) -> Result<HttpResponse, ApiError> {
    let Some(customer_id) = customer_id else {
        return Ok(HttpResponse::Ok().json(json!({ "logged_in": false })));
    };
    Ok(HttpResponse::Ok().json(shopper::loyalty_view(state, shop_id, customer_id).await?))
}

pub async fn checkout_balance(
    session: CheckoutSession,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    balance(&state, session.shop_id, session.customer_id).await
}

/// `POST /api/checkout/redeem` `{"reward_id"}` with an `Idempotency-Key`.
pub async fn checkout_redeem(
    session: CheckoutSession,
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let customer_id = customer(session.customer_id)?;
    let input: RedeemIn = parse_json(&body)?;
    let key = shopper::idempotency_key_or(&req, input.idempotency_key.as_deref())?;
    let who = Requester {
        channel: "checkout",
        actor: "shopper",
    };
    shopper::redeem_for(
        &state,
        session.shop_id,
        customer_id,
        &input.reward_id,
        &key,
        who,
    )
    .await
}

pub async fn proxy_balance(
    request: ProxyRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    balance(&state, request.shop_id, request.customer_id).await
}

/// `POST /proxy/redeem` `{"reward_id"}` with an `Idempotency-Key`.
pub async fn proxy_redeem(
    request: ProxyRequest,
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let customer_id = customer(request.customer_id)?;
    let input: RedeemIn = parse_json(&body)?;
    let key = shopper::idempotency_key_or(&req, input.idempotency_key.as_deref())?;
    let who = Requester {
        channel: "storefront",
        actor: "shopper",
    };
    shopper::redeem_for(
        &state,
        request.shop_id,
        customer_id,
        &input.reward_id,
        &key,
        who,
    )
    .await
}

#[derive(Deserialize)]
pub struct BirthdayIn {
    /// "MM-DD", or null to clear.
    pub birthday: Option<String>,
}

/// A birthday as given ("MM-DD"), normalised; 422 when it is no date.
fn valid_birthday(input: &BirthdayIn) -> Result<Option<String>, ApiError> {
    match input.birthday.as_deref() {
        None => Ok(None),
        Some(raw) => {
            let (m, d) = calendar::parse_birthday(raw).ok_or_else(|| ApiError::Unprocessable {
                message: "birthday must be a date as MM-DD".into(),
                errors: Some(
                    json!([{ "field": "birthday", "message": "must be a date as MM-DD" }]),
                ),
            })?;
            Ok(Some(format!("{m:02}-{d:02}")))
        }
    }
}

/// Validates a birthday ("MM-DD") and stores it for the customer.
pub async fn save_birthday(
    state: &AppState,
    shop_id: i64,
    customer_id: i64,
    input: BirthdayIn,
) -> Result<HttpResponse, ApiError> {
    let birthday = valid_birthday(&input)?;
    let mut conn = state.store.writer().acquire().await?;
    if !customers::set_birthday(
        &mut conn,
        shop_id,
        customer_id,
        birthday.as_deref(),
        now_ms(),
    )
    .await?
    {
        return Err(ApiError::NotFound("no such customer"));
    }
    Ok(HttpResponse::Ok().json(json!({ "birthday": birthday })))
}

/// `POST /proxy/birthday` `{"birthday": "MM-DD"}`.
pub async fn proxy_birthday(
    request: ProxyRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let customer_id = customer(request.customer_id)?;
    let input: BirthdayIn = parse_json(&body)?;
    let birthday = valid_birthday(&input)?;
    // Shoppers set their birthday once; moving it around to collect the
    // bonus again is for the merchant to allow. One conditional write, so
    // racing requests cannot each set another date.
    let mut conn = state.store.writer().acquire().await?;
    match customers::set_birthday_once(
        &mut conn,
        request.shop_id,
        customer_id,
        birthday.as_deref(),
        now_ms(),
    )
    .await?
    {
        customers::BirthdayOnce::Set => {
            Ok(HttpResponse::Ok().json(json!({ "birthday": birthday })))
        }
        customers::BirthdayOnce::AlreadySet => Err(ApiError::Conflict(
            "your birthday is already set; the shop can change it".into(),
        )),
        customers::BirthdayOnce::Erased => Err(ApiError::NotFound("no such customer")),
    }
}

/// `GET /proxy/referral`: the shopper's referral code and share link.
pub async fn proxy_referral(
    request: ProxyRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let customer_id = customer(request.customer_id)?;
    let mut conn = state.store.writer().acquire().await?;
    let code = referrals::code_for(
        &mut conn,
        ShopId(request.shop_id),
        CustomerId(customer_id),
        EpochMs(now_ms()),
    )
    .await?;
    Ok(HttpResponse::Ok().json(json!({
        "code": code,
        "link": referrals::share_link(request.shop.as_str(), &code),
    })))
}

#[derive(Deserialize)]
pub struct ClaimIn {
    /// The advocate's referral code (from the `?ref=` link).
    pub code: String,
    /// The friend's email: one discount per friend, and new customers only.
    pub email: String,
}

/// `POST /proxy/referrals/claim` `{"code", "email"}`: the friend's discount.
/// Logged-out shoppers may call it (friends usually have no account).
pub async fn proxy_claim_referral(
    request: ProxyRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let input: ClaimIn = parse_json(&body)?;
    let Some(email) = FriendEmail::parse(&input.email) else {
        return Err(ApiError::Unprocessable {
            message: "a valid email is required".into(),
            errors: Some(json!([{ "field": "email", "message": "must be an email address" }])),
        });
    };
    let mut tx = state.store.begin().await?;
    let issued = referrals::issue_friend_code(
        &mut tx,
        ShopId(request.shop_id),
        input.code.trim(),
        &email,
        EpochMs(now_ms()),
    )
    .await;
    let issued = match issued {
        Ok(issued) => {
            tx.commit().await?;
            issued
        }
        Err(e) => {
            tx.rollback().await?;
            return Err(match e {
                ReferralError::UnknownCode => ApiError::NotFound("no such referral code"),
                ReferralError::Disabled => {
                    ApiError::NotFound("referrals are not offered by this shop")
                }
                // One answer for both, so the claim cannot be used to learn
                // whether an email has bought from the shop.
                ReferralError::SelfReferral | ReferralError::NotNew => ApiError::Unprocessable {
                    message: "this referral offer is for new customers only".into(),
                    errors: None,
                },
                ReferralError::TooManyClaims { retry_after_secs } => {
                    ApiError::TooManyRequests { retry_after_secs }
                }
                ReferralError::Db(e) => e.into(),
            });
        }
    };
    Ok(HttpResponse::Ok().json(json!({
        "code": issued.code,
        "expires_at": crate::engine::rfc3339(issued.expires_at),
    })))
}

/// CORS preflight for checkout extensions, which call from Shopify's
/// extension sandbox origin with a bearer token (no cookies).
pub async fn checkout_preflight() -> HttpResponse {
    HttpResponse::NoContent()
        .insert_header(("Access-Control-Allow-Methods", "GET, POST, OPTIONS"))
        .insert_header((
            "Access-Control-Allow-Headers",
            "Authorization, Content-Type, Idempotency-Key",
        ))
        .insert_header(("Access-Control-Max-Age", "7200"))
        .finish()
}
