//! What shoppers reach: checkout extensions (`/api/checkout/*`) and the
//! customer account page (`/api/account/*`), both with extension session
//! tokens and CORS, and the storefront through the app proxy (`/proxy/*`).
//! A logged-out shopper gets an answer that says so, not an error; what
//! needs a customer answers 401 without one.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::{
    guards::{CheckoutSession, ProxyRequest},
    input::{idempotency_key_or, made_or_replayed, parse_json, RedeemIn},
};
use crate::{
    engine::{
        activities::{ActivityError, Report},
        redeem::Requester,
    },
    error::ApiError,
    routes::AppState,
    service::{
        activities, customers, loyalty,
        redemptions::{self, RedeemRequest},
        referrals,
    },
};

const LOGGED_OUT: &str = "log in to your account to use loyalty points";

fn customer(id: Option<i64>) -> Result<i64, ApiError> {
    id.ok_or(ApiError::Unauthorized(LOGGED_OUT))
}

/// `GET /api/checkout/balance`.
pub async fn checkout_balance(
    session: CheckoutSession,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let balance = loyalty::balance(&state.store, session.shop_id, session.customer_id).await?;
    Ok(HttpResponse::Ok().json(balance))
}

/// A shopper's redemption through `channel`: 201 when made now, 200 for a
/// replay of the same key.
async fn redeem(
    state: &AppState,
    req: &HttpRequest,
    body: &[u8],
    (shop_id, customer_id): (i64, Option<i64>),
    channel: &str,
) -> Result<HttpResponse, ApiError> {
    let customer_id = customer(customer_id)?;
    let input: RedeemIn = parse_json(body)?;
    let key = idempotency_key_or(req, input.idempotency_key.as_deref())?;
    let request = RedeemRequest {
        shop_id,
        customer_id,
        reward_id: &input.reward_id,
        points: input.points,
        key: &key,
        who: Requester {
            channel,
            actor: "shopper",
        },
    };
    let redeemed = redemptions::redeem_as_shopper(&state.store, &state.outbox, request).await?;
    Ok(made_or_replayed(redeemed.replayed, &redeemed))
}

/// `POST /api/checkout/redeem` `{"reward_id"}` with an `Idempotency-Key`.
pub async fn checkout_redeem(
    session: CheckoutSession,
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let who = (session.shop_id, session.customer_id);
    redeem(&state, &req, &body, who, "checkout").await
}

/// `GET /proxy/balance`.
pub async fn proxy_balance(
    request: ProxyRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let balance = loyalty::balance(&state.store, request.shop_id, request.customer_id).await?;
    if request.customer_id.is_none() {
        return Ok(HttpResponse::Ok().json(balance));
    }
    // A member also sees the social actions the widget offers.
    let social =
        activities::social_offer(&state.store, request.shop_id, request.customer_id).await?;
    let mut answer = serde_json::to_value(balance).map_err(anyhow::Error::from)?;
    answer["social"] = serde_json::to_value(social).map_err(anyhow::Error::from)?;
    Ok(HttpResponse::Ok().json(answer))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SocialIn {
    /// `social_follow` or `social_share`.
    action: String,
    network: String,
}

/// `POST /proxy/activities/social` `{"action", "network"}`: the shopper
/// followed or shared the shop (honour system), once per network: 201
/// with the points, or 200 with `awarded: false` when done before.
pub async fn proxy_social(
    request: ProxyRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let customer_id = customer(request.customer_id)?;
    let input: SocialIn = parse_json(&body)?;
    if input.action != "social_follow" && input.action != "social_share" {
        return Err(ApiError::Unprocessable {
            message: "action must be social_follow or social_share".into(),
            errors: None,
        });
    }
    let key = format!("{}:{}", input.action, input.network);
    let report = Report {
        shop_id: request.shop_id,
        customer_id,
        action: &input.action,
        name: None,
        subject: Some(&input.network),
        key: &key,
        actor: "shopper",
    };
    let (awarded, points, balance) = match activities::record(&state.store, &report).await {
        Ok(done) if done.created => (true, done.activity.points, done.points_balance),
        Ok(done) => (false, 0, done.points_balance),
        Err(ActivityError::LimitReached) => {
            let balance =
                match loyalty::balance(&state.store, request.shop_id, Some(customer_id)).await? {
                    loyalty::Balance::Member(view) => view.points_balance,
                    loyalty::Balance::LoggedOut(_) => 0,
                };
            (false, 0, balance)
        }
        Err(e) => return Err(e.into()),
    };
    let answer = serde_json::json!({
        "awarded": awarded,
        "points": points,
        "points_balance": balance,
    });
    Ok(if awarded {
        HttpResponse::Created().json(answer)
    } else {
        HttpResponse::Ok().json(answer)
    })
}

/// `POST /proxy/redeem` `{"reward_id"}` with an `Idempotency-Key`.
pub async fn proxy_redeem(
    request: ProxyRequest,
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let who = (request.shop_id, request.customer_id);
    redeem(&state, &req, &body, who, "storefront").await
}

#[derive(Deserialize)]
struct BirthdayIn {
    /// "MM-DD", or null to clear.
    birthday: Option<String>,
}

/// The shopper sets their own birthday, once; the shop can change it.
async fn own_birthday(
    state: &AppState,
    (shop_id, customer_id): (i64, Option<i64>),
    body: &[u8],
) -> Result<HttpResponse, ApiError> {
    let customer_id = customer(customer_id)?;
    let input: BirthdayIn = parse_json(body)?;
    let saved = customers::set_own_birthday(
        &state.store,
        shop_id,
        customer_id,
        input.birthday.as_deref(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(saved))
}

/// `POST /proxy/birthday` `{"birthday": "MM-DD"}`: set once by the
/// shopper; the shop can change it.
pub async fn proxy_birthday(
    request: ProxyRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    own_birthday(&state, (request.shop_id, request.customer_id), &body).await
}

/// The shopper's referral code (made on first use) and share link.
async fn own_referral(
    state: &AppState,
    (shop_id, customer_id): (i64, Option<i64>),
    shop: &str,
) -> Result<HttpResponse, ApiError> {
    let customer_id = customer(customer_id)?;
    let link = referrals::referral_link(&state.store, shop_id, shop, customer_id).await?;
    Ok(HttpResponse::Ok().json(link))
}

/// `GET /proxy/referral`: the shopper's referral code and share link.
pub async fn proxy_referral(
    request: ProxyRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let who = (request.shop_id, request.customer_id);
    own_referral(&state, who, request.shop.as_str()).await
}

/// `POST /api/account/redeem` `{"reward_id", "points"?}` with an
/// `Idempotency-Key`: a redemption on the customer account page.
pub async fn account_redeem(
    session: CheckoutSession,
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let who = (session.shop_id, session.customer_id);
    redeem(&state, &req, &body, who, "customer_account").await
}

/// `GET /api/account/history`: the shopper's latest points movements.
pub async fn account_history(
    session: CheckoutSession,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let customer_id = customer(session.customer_id)?;
    let history = loyalty::history(&state.store, session.shop_id, customer_id).await?;
    Ok(HttpResponse::Ok().json(history))
}

/// `GET /api/account/referral`: the shopper's referral code and share link.
pub async fn account_referral(
    session: CheckoutSession,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let who = (session.shop_id, session.customer_id);
    own_referral(&state, who, session.shop.as_str()).await
}

/// `POST /api/account/birthday` `{"birthday": "MM-DD"}`: as on the storefront.
pub async fn account_birthday(
    session: CheckoutSession,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    own_birthday(&state, (session.shop_id, session.customer_id), &body).await
}

#[derive(Deserialize)]
struct ClaimIn {
    /// The advocate's referral code (from the `?ref=` link).
    code: String,
    /// The friend's email: one discount per friend, and new customers only.
    email: String,
}

/// `POST /proxy/referrals/claim` `{"code", "email"}`: the friend's discount.
/// Logged-out shoppers may call it (friends usually have no account).
pub async fn proxy_claim_referral(
    request: ProxyRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let input: ClaimIn = parse_json(&body)?;
    let discount =
        referrals::claim_friend_discount(&state.store, request.shop_id, &input.code, &input.email)
            .await?;
    Ok(HttpResponse::Ok().json(discount))
}

/// CORS preflight for UI extensions (checkout, customer account, POS),
/// which call from Shopify's extension sandbox origin with a bearer token
/// (no cookies).
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
