//! `/api/admin/*`: what the embedded admin page reads and changes. Every
//! handler takes an [`AdminSession`] and scopes its calls by its shop.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

use super::{
    guards::AdminSession,
    input::{idempotency_key, made_or_replayed, parse_json, AdjustmentIn, RedeemIn},
};
use crate::{
    engine::redeem::Requester,
    error::ApiError,
    loyalty::{settings::ProgramSettings, EpochMs},
    routes::AppState,
    service::{
        customers::{self, CustomerQuery},
        operations,
        points::{self, AdjustRequest},
        program::{self, SaveProgram},
        redemptions::{self, RedeemRequest},
        referrals,
    },
    shopify::query,
    store::{
        data_requests::DataRequest, inbox::FailedDelivery, outbox::FailedEffect,
        referrals::Referral,
    },
};

/// Who acts, for the ledger and the audit trail: `staff:<id>`.
fn staff(session: &AdminSession) -> String {
    format!("staff:{}", session.user.as_deref().unwrap_or("unknown"))
}

/// `GET /api/admin/shop`.
#[derive(Serialize)]
struct ShopAnswer<'a> {
    shop: &'a str,
    /// Always true: the guard admits installed shops only.
    installed: bool,
}

pub async fn get_shop(session: AdminSession) -> HttpResponse {
    HttpResponse::Ok().json(ShopAnswer {
        shop: session.shop.as_str(),
        installed: true,
    })
}

/// `GET /api/admin/program`: the settings, their version and currency.
pub async fn get_program(
    session: AdminSession,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let view = program::get_program(&state.store, session.shop_id).await?;
    Ok(HttpResponse::Ok().json(view))
}

#[derive(Deserialize)]
struct ProgramIn {
    settings: ProgramSettings,
    /// The version these settings were edited from; a save over a newer
    /// version is refused (409).
    version: Option<i64>,
}

/// `PUT /api/admin/program` `{"settings", "version"}`.
pub async fn put_program(
    session: AdminSession,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let input: ProgramIn = parse_json(&body)?;
    let actor = staff(&session);
    let request = SaveProgram {
        shop_id: session.shop_id,
        settings: input.settings,
        version: input.version,
        actor: &actor,
    };
    let saved = program::save_program(&state.store, request).await?;
    Ok(HttpResponse::Ok().json(saved))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ForecastIn {
    settings: ProgramSettings,
    /// 90 or 365 (the default).
    #[serde(default = "a_year")]
    days: i64,
}

fn a_year() -> i64 {
    365
}

/// `POST /api/admin/program/forecast` `{"settings", "days"}`: what the
/// proposed settings would have done over the shop's recent orders, beside
/// the settings in force. Saves nothing.
pub async fn forecast_program(
    session: AdminSession,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let input: ForecastIn = parse_json(&body)?;
    let forecast = program::forecast(
        &state.store,
        session.shop_id,
        &input.settings,
        input.days,
        EpochMs::now(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(forecast))
}

/// `GET /api/admin/customers?query=&after=&limit=`.
pub async fn list_customers(
    session: AdminSession,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let pairs = query::parse_pairs(req.query_string());
    let page = CustomerQuery {
        text: query::get(&pairs, "query").unwrap_or(""),
        after: query::get(&pairs, "after")
            .and_then(|a| a.parse().ok())
            .unwrap_or(0),
        limit: query::get(&pairs, "limit")
            .and_then(|l| l.parse::<i64>().ok())
            .unwrap_or(50)
            .clamp(1, 200),
    };
    let found = customers::list_customers(&state.store, session.shop_id, page).await?;
    Ok(HttpResponse::Ok().json(found))
}

/// `GET /api/admin/customers/{id}`: profile, points, tier, referral code,
/// ledger, redemptions, tier history and orders.
pub async fn get_customer(
    session: AdminSession,
    path: web::Path<i64>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let detail =
        customers::customer_detail(&state.store, session.shop_id, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(detail))
}

/// `POST /api/admin/customers/{id}/adjustments` `{"points", "reason"}`,
/// with an `Idempotency-Key`: see [`points::adjust_points`]. 201 when
/// applied, 200 for a retry of an applied adjustment.
pub async fn adjust_points(
    session: AdminSession,
    req: HttpRequest,
    path: web::Path<i64>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let customer_id = path.into_inner();
    let key = idempotency_key(&req)?;
    let input: AdjustmentIn = parse_json(&body)?;
    let actor = staff(&session);
    let request = AdjustRequest {
        shop_id: session.shop_id,
        customer_id,
        points: input.points.as_i64(),
        reason: &input.reason,
        key: &key,
        actor: &actor,
    };
    let adjusted = points::adjust_points(&state.store, request).await?;
    tracing::info!(shop = %session.shop, actor = %actor, points = input.points.as_i64().unwrap_or_default(), "points adjusted");
    Ok(made_or_replayed(!adjusted.applied, &adjusted))
}

/// `POST /api/admin/customers/{id}/redemptions` `{"reward_id"}`: the
/// merchant redeems for the customer (a code to send them). 201 when made
/// now, 200 for a replay of the same key.
pub async fn redeem_for_customer(
    session: AdminSession,
    req: HttpRequest,
    path: web::Path<i64>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let key = idempotency_key(&req)?;
    let input: RedeemIn = parse_json(&body)?;
    let actor = staff(&session);
    let request = RedeemRequest {
        shop_id: session.shop_id,
        customer_id: path.into_inner(),
        reward_id: &input.reward_id,
        points: input.points,
        key: &key,
        who: Requester {
            channel: "admin",
            actor: &actor,
        },
    };
    let redeemed = redemptions::redeem_for_customer(&state.store, &state.outbox, request).await?;
    Ok(made_or_replayed(redeemed.replayed, &redeemed))
}

#[derive(Deserialize)]
struct BirthdayIn {
    /// "MM-DD", or null to clear.
    birthday: Option<String>,
}

/// `PUT /api/admin/customers/{id}/birthday` `{"birthday": "MM-DD"}`.
/// Answers 404 for a customer the shop has never seen: only Shopify's own
/// data (webhooks, imports) creates customers, so an id typed into the
/// admin API cannot conjure a member.
pub async fn put_birthday(
    session: AdminSession,
    path: web::Path<i64>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let input: BirthdayIn = parse_json(&body)?;
    let saved = customers::set_birthday_by_staff(
        &state.store,
        session.shop_id,
        path.into_inner(),
        input.birthday.as_deref(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(saved))
}

/// `GET /api/admin/referrals`.
#[derive(Serialize)]
struct ReferralList {
    referrals: Vec<Referral>,
}

/// `GET /api/admin/referrals?status=held&after=`.
pub async fn list_referrals(
    session: AdminSession,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let pairs = query::parse_pairs(req.query_string());
    let status = query::get(&pairs, "status").filter(|s| !s.is_empty());
    let after = query::get(&pairs, "after")
        .and_then(|a| a.parse().ok())
        .unwrap_or(0);
    let referrals = referrals::list_referrals(&state.store, session.shop_id, status, after).await?;
    Ok(HttpResponse::Ok().json(ReferralList { referrals }))
}

async fn decide_referral(
    session: AdminSession,
    id: i64,
    approve: bool,
    state: &AppState,
) -> Result<HttpResponse, ApiError> {
    let actor = staff(&session);
    let referral =
        referrals::decide_referral(&state.store, session.shop_id, id, approve, &actor).await?;
    Ok(HttpResponse::Ok().json(referral))
}

/// `POST /api/admin/referrals/{id}/approve`.
pub async fn approve_referral(
    session: AdminSession,
    path: web::Path<i64>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    decide_referral(session, path.into_inner(), true, &state).await
}

/// `POST /api/admin/referrals/{id}/reject`.
pub async fn reject_referral(
    session: AdminSession,
    path: web::Path<i64>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    decide_referral(session, path.into_inner(), false, &state).await
}

/// `GET /api/admin/data-requests`.
#[derive(Serialize)]
struct DataRequestList {
    data_requests: Vec<DataRequest>,
}

pub async fn list_data_requests(
    session: AdminSession,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let data_requests = operations::list_data_requests(&state.store, session.shop_id).await?;
    Ok(HttpResponse::Ok().json(DataRequestList { data_requests }))
}

/// `GET /api/admin/webhooks/failed`.
#[derive(Serialize)]
struct FailedWebhookList {
    failed_webhooks: Vec<FailedDelivery>,
}

pub async fn list_failed_webhooks(
    session: AdminSession,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let failed_webhooks =
        operations::list_failed_webhooks(&state.store, session.shop.as_str()).await?;
    Ok(HttpResponse::Ok().json(FailedWebhookList { failed_webhooks }))
}

/// The answer to a retry (202): `{"status": "queued"}`.
#[derive(Serialize)]
struct Queued {
    status: &'static str,
}

const QUEUED: Queued = Queued { status: "queued" };

pub async fn retry_failed_webhook(
    session: AdminSession,
    path: web::Path<i64>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    operations::retry_failed_webhook(&state.store, session.shop.as_str(), path.into_inner())
        .await?;
    Ok(HttpResponse::Accepted().json(QUEUED))
}

/// `GET /api/admin/effects/failed`.
#[derive(Serialize)]
struct FailedEffectList {
    failed_effects: Vec<FailedEffect>,
}

pub async fn list_failed_effects(
    session: AdminSession,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let failed_effects = operations::list_failed_effects(&state.store, session.shop_id).await?;
    Ok(HttpResponse::Ok().json(FailedEffectList { failed_effects }))
}

pub async fn retry_failed_effect(
    session: AdminSession,
    path: web::Path<i64>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    operations::retry_failed_effect(&state.store, session.shop_id, path.into_inner()).await?;
    Ok(HttpResponse::Accepted().json(QUEUED))
}
