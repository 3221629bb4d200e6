//! The merchant REST API, version 1 (`/api/v1/*`): the shop's customers,
//! ledger, points adjustments, redemptions and program, for the merchant's
//! own systems, with an API key (`Authorization: Bearer adv_…`) whose
//! scopes each route checks. Errors are the one JSON shape of every route
//! (`{"error": code, "message"}`); writes take an `Idempotency-Key` with the
//! admin routes' semantics.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;

use super::{
    guards::ApiKeySession,
    input::{
        idempotency_key, made_or_replayed, parse_json, ActivityIn, AdjustmentIn, NewEndpointIn,
        RedeemIn,
    },
};
use crate::{
    engine::activities::Report,
    engine::redeem::Requester,
    error::ApiError,
    routes::AppState,
    service::{
        activities::{self, ActivityOut, RecordedOut},
        customers::{self, CustomerQuery},
        exports, open_api,
        points::{self, AdjustRequest},
        redemptions::{self, RedeemRequest},
        webhook_endpoints::{self, CreatedEndpoint, EndpointOut},
    },
    shopify::query,
    store::customers::CustomerSummary,
};

/// The error body of every route: a machine-readable `error` code, a
/// sentence, and for a 422 the fields at fault.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// `bad_request`, `unauthorized`, `forbidden`, `not_found`, `conflict`,
    /// `unprocessable`, `too_many_requests`, `internal`…
    #[schema(example = "forbidden")]
    pub error: String,
    #[schema(example = "this API key lacks the read_ledger scope")]
    pub message: String,
    /// For a 422: `[{"field", "message"}]`.
    #[schema(value_type = Option<Vec<Object>>)]
    pub errors: Option<serde_json::Value>,
}

/// A page of customers.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CustomersPage {
    pub customers: Vec<CustomerSummary>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// The description of this API, served at `/api/v1/openapi.json`: made
/// from the handlers' and types' annotations, so it follows the code.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Advocate merchant API",
        version = "1",
        description = "A shop's loyalty data for the merchant's own systems. Authenticate with an API key made on the admin page: `Authorization: Bearer adv_…`. Points are integers, money decimal strings in the program's currency, times RFC 3339."
    ),
    paths(
        list_customers,
        get_customer,
        customer_ledger,
        shop_ledger,
        adjust_points,
        redeem,
        get_program,
        record_activity,
        reverse_activity,
        customer_activities,
        list_endpoints,
        create_endpoint,
        disable_endpoint
    ),
    components(schemas(ErrorBody, CustomersPage, AdjustmentIn, RedeemIn, ActivityIn, NewEndpointIn)),
    modifiers(&BearerKey),
    security(("api_key" = []))
)]
pub struct ApiDoc;

struct BearerKey;

impl utoipa::Modify for BearerKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API key made on the admin page (adv_…)"))
                    .build(),
            ),
        );
    }
}

/// `GET /api/v1/openapi.json`: this API's OpenAPI 3.1 description.
pub async fn openapi() -> HttpResponse {
    use utoipa::OpenApi;
    HttpResponse::Ok().json(ApiDoc::openapi())
}

/// `limit` of a page: 1-200, 50 by default; 400 for anything else.
fn limit(pairs: &[(String, String)]) -> Result<i64, ApiError> {
    match query::get(pairs, "limit") {
        None => Ok(50),
        Some(raw) => raw
            .parse::<i64>()
            .ok()
            .filter(|l| (1..=200).contains(l))
            .ok_or(ApiError::BadRequest(
                "limit must be a whole number from 1 to 200".into(),
            )),
    }
}

/// `cursor` from the previous page (None on the first); 400 when it is not one.
fn cursor(pairs: &[(String, String)]) -> Result<Option<i64>, ApiError> {
    query::get(pairs, "cursor")
        .map(|raw| {
            raw.parse::<i64>()
                .ok()
                .filter(|c| *c > 0)
                .ok_or(ApiError::BadRequest(
                    "cursor is not one this API gave".into(),
                ))
        })
        .transpose()
}

/// `GET /api/v1/customers?query=&cursor=&limit=` (`read_customers`): the
/// shop's customers whose e-mail or name starts with `query` (all without),
/// by id; `next_cursor` for the next page. `?email=` finds the customers
/// with exactly that address instead.
#[utoipa::path(get, path = "/api/v1/customers", tag = "customers",
    params(
        ("query" = Option<String>, Query, description = "The start of an e-mail or name"),
        ("email" = Option<String>, Query, description = "Exactly this e-mail address (instead of query)"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page", pattern = "^[1-9][0-9]*$"),
        ("limit" = Option<i64>, Query, description = "1-200, 50 by default", minimum = 1, maximum = 200),
    ),
    responses(
        (status = 200, description = "A page of customers", body = CustomersPage),
        (status = 400, description = "A malformed request", body = ErrorBody),
        (status = 401, description = "No key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "The key lacks the route's scope", body = ErrorBody),
        (status = 429, description = "Over the key's rate limit", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
pub async fn list_customers(
    key: ApiKeySession,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    key.require("read_customers")?;
    let pairs = query::parse_pairs(req.query_string());
    if let Some(email) = query::get(&pairs, "email").map(str::trim) {
        // One e-mail: the customers whose address is exactly it.
        let page = CustomerQuery {
            text: email,
            after: 0,
            limit: 200,
        };
        let found = customers::list_customers(&state.store, key.shop_id, page).await?;
        let exact: Vec<_> = found
            .customers
            .into_iter()
            .filter(|c| {
                c.email
                    .as_deref()
                    .is_some_and(|e| e.eq_ignore_ascii_case(email))
            })
            .collect();
        return Ok(HttpResponse::Ok().json(CustomersPage {
            customers: exact,
            next_cursor: None,
        }));
    }
    let page = CustomerQuery {
        text: query::get(&pairs, "query").unwrap_or(""),
        after: cursor(&pairs)?.unwrap_or(0),
        limit: limit(&pairs)?,
    };
    let found = customers::list_customers(&state.store, key.shop_id, page).await?;
    Ok(HttpResponse::Ok().json(CustomersPage {
        customers: found.customers,
        next_cursor: found.next_after.map(|a| a.to_string()),
    }))
}

/// `GET /api/v1/customers/{customer_id}` (`read_customers`).
#[utoipa::path(get, path = "/api/v1/customers/{customer_id}", tag = "customers",
    params(("customer_id" = i64, Path, description = "The Shopify customer id")),
    responses(
        (status = 200, description = "The customer", body = open_api::CustomerOut),
        (status = 404, description = "A customer the shop does not know", body = ErrorBody),
        (status = 400, description = "A malformed request", body = ErrorBody),
        (status = 401, description = "No key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "The key lacks the route's scope", body = ErrorBody),
        (status = 429, description = "Over the key's rate limit", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
pub async fn get_customer(
    key: ApiKeySession,
    path: web::Path<i64>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    key.require("read_customers")?;
    let found = open_api::customer(&state.store, key.shop_id, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(found))
}

/// `GET /api/v1/customers/{customer_id}/ledger?cursor=&limit=`
/// (`read_ledger`): newest first.
#[utoipa::path(get, path = "/api/v1/customers/{customer_id}/ledger", tag = "ledger",
    params(
        ("customer_id" = i64, Path, description = "The Shopify customer id"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page", pattern = "^[1-9][0-9]*$"),
        ("limit" = Option<i64>, Query, description = "1-200, 50 by default", minimum = 1, maximum = 200),
    ),
    responses(
        (status = 200, description = "A page of the customer's ledger, newest first", body = open_api::LedgerPage),
        (status = 404, description = "A customer the shop does not know", body = ErrorBody),
        (status = 400, description = "A malformed request", body = ErrorBody),
        (status = 401, description = "No key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "The key lacks the route's scope", body = ErrorBody),
        (status = 429, description = "Over the key's rate limit", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
pub async fn customer_ledger(
    key: ApiKeySession,
    req: HttpRequest,
    path: web::Path<i64>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    key.require("read_ledger")?;
    let pairs = query::parse_pairs(req.query_string());
    let page = open_api::customer_ledger(
        &state.store,
        key.shop_id,
        path.into_inner(),
        cursor(&pairs)?,
        limit(&pairs)?,
    )
    .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// `GET /api/v1/ledger?from=&to=&cursor=&limit=` (`read_ledger`): the
/// shop's entries that happened in the period (dates or RFC 3339 times, as
/// the ledger export takes them; the last 30 days without), in the order
/// they happened, each with its customer.
#[utoipa::path(get, path = "/api/v1/ledger", tag = "ledger",
    params(
        ("from" = Option<String>, Query, description = "A date (2026-11-01) or an RFC 3339 time; 30 days before `to` by default"),
        ("to" = Option<String>, Query, description = "A date (included) or an RFC 3339 time (excluded); now by default"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page", pattern = "^[0-9]+-[0-9]+$"),
        ("limit" = Option<i64>, Query, description = "1-200, 50 by default", minimum = 1, maximum = 200),
    ),
    responses(
        (status = 200, description = "A page of the shop's ledger in the period, in the order things happened", body = open_api::ShopLedgerPage),
        (status = 400, description = "A malformed request", body = ErrorBody),
        (status = 401, description = "No key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "The key lacks the route's scope", body = ErrorBody),
        (status = 429, description = "Over the key's rate limit", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
pub async fn shop_ledger(
    key: ApiKeySession,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    key.require("read_ledger")?;
    let pairs = query::parse_pairs(req.query_string());
    let period = exports::period(
        query::get(&pairs, "from"),
        query::get(&pairs, "to"),
        crate::store::now_ms(),
    )
    .map_err(|e| ApiError::BadRequest(e.0))?;
    let after = query::get(&pairs, "cursor")
        .map(|raw| {
            open_api::shop_cursor(raw).ok_or(ApiError::BadRequest(
                "cursor is not one this API gave".into(),
            ))
        })
        .transpose()?;
    let page =
        open_api::shop_ledger(&state.store, key.shop_id, period, after, limit(&pairs)?).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// `POST /api/v1/customers/{customer_id}/adjustments` `{"points",
/// "reason"}` with an `Idempotency-Key` (`write_points`): 201 when applied,
/// 200 for a retry.
#[utoipa::path(post, path = "/api/v1/customers/{customer_id}/adjustments", tag = "points",
    params(("customer_id" = i64, Path, description = "The Shopify customer id"), ("Idempotency-Key" = String, Header, description = "1-200 visible characters; the same key answers the same result", min_length = 1, max_length = 200, pattern = "^[!-~]+$")),
    request_body = AdjustmentIn,
    responses(
        (status = 201, description = "Applied now", body = crate::service::points::Adjusted),
        (status = 200, description = "A retry of an adjustment applied before", body = crate::service::points::Adjusted),
        (status = 404, description = "A customer the shop does not know", body = ErrorBody),
        (status = 409, description = "The balance cannot take it", body = ErrorBody),
        (status = 422, description = "Points or reason out of range, or the key used for another adjustment", body = ErrorBody),
        (status = 400, description = "A malformed request", body = ErrorBody),
        (status = 401, description = "No key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "The key lacks the route's scope", body = ErrorBody),
        (status = 429, description = "Over the key's rate limit", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
pub async fn adjust_points(
    key: ApiKeySession,
    req: HttpRequest,
    path: web::Path<i64>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    key.require("write_points")?;
    let idempotency = idempotency_key(&req)?;
    let input: AdjustmentIn = parse_json(&body)?;
    let actor = key.actor();
    let request = AdjustRequest {
        shop_id: key.shop_id,
        customer_id: path.into_inner(),
        points: input.points.as_i64(),
        reason: &input.reason,
        key: &idempotency,
        actor: &actor,
    };
    let adjusted = points::adjust_points(&state.store, request).await?;
    Ok(made_or_replayed(!adjusted.applied, &adjusted))
}

/// `POST /api/v1/customers/{customer_id}/redemptions` `{"reward_id",
/// "points"?}` with an `Idempotency-Key` (`write_redemptions`): the
/// reward's code or store credit; 201 when made, 200 for a retry.
#[utoipa::path(post, path = "/api/v1/customers/{customer_id}/redemptions", tag = "redemptions",
    params(("customer_id" = i64, Path, description = "The Shopify customer id"), ("Idempotency-Key" = String, Header, description = "1-200 visible characters; the same key answers the same result", min_length = 1, max_length = 200, pattern = "^[!-~]+$")),
    request_body = RedeemIn,
    responses(
        (status = 201, description = "Redeemed now: the code, or the store credit", body = crate::service::redemptions::RedeemedCode),
        (status = 200, description = "A retry of a redemption made before", body = crate::service::redemptions::RedeemedCode),
        (status = 404, description = "A customer or reward the shop does not have", body = ErrorBody),
        (status = 409, description = "The balance does not cover it", body = ErrorBody),
        (status = 422, description = "Points outside the reward's range, or the key used for another reward", body = ErrorBody),
        (status = 400, description = "A malformed request", body = ErrorBody),
        (status = 401, description = "No key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "The key lacks the route's scope", body = ErrorBody),
        (status = 429, description = "Over the key's rate limit", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
pub async fn redeem(
    key: ApiKeySession,
    req: HttpRequest,
    path: web::Path<i64>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    key.require("write_redemptions")?;
    let idempotency = idempotency_key(&req)?;
    let input: RedeemIn = parse_json(&body)?;
    let actor = key.actor();
    let request = RedeemRequest {
        shop_id: key.shop_id,
        customer_id: path.into_inner(),
        reward_id: &input.reward_id,
        points: input.points,
        key: &idempotency,
        who: Requester {
            channel: "api",
            actor: &actor,
        },
    };
    let redeemed = redemptions::redeem_for_customer(&state.store, &state.outbox, request).await?;
    Ok(made_or_replayed(redeemed.replayed, &redeemed))
}

/// `GET /api/v1/program` (`read_program`): currency, rewards, tiers.
#[utoipa::path(get, path = "/api/v1/program", tag = "program",
    responses(
        (status = 200, description = "The program's currency, rewards and tiers", body = open_api::ProgramOut),
        (status = 400, description = "A malformed request", body = ErrorBody),
        (status = 401, description = "No key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "The key lacks the route's scope", body = ErrorBody),
        (status = 429, description = "Over the key's rate limit", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
pub async fn get_program(
    key: ApiKeySession,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    key.require("read_program")?;
    let program = open_api::program_view(&state.store, key.shop_id).await?;
    Ok(HttpResponse::Ok().json(program))
}

/// The customer's activities.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ActivitiesOut {
    pub activities: Vec<ActivityOut>,
}

/// One activity.
#[derive(Serialize, utoipa::ToSchema)]
pub struct OneActivity {
    pub activity: ActivityOut,
}

/// The shop's webhook endpoints, and the topics there are.
#[derive(Serialize, utoipa::ToSchema)]
pub struct EndpointsOut {
    pub endpoints: Vec<EndpointOut>,
    #[schema(example = json!(["points.changed", "tier.changed", "reward.redeemed", "referral.completed", "activity.recorded", "customer.redacted"]))]
    pub topics: Vec<String>,
}

/// One endpoint.
#[derive(Serialize, utoipa::ToSchema)]
pub struct OneEndpoint {
    pub endpoint: EndpointOut,
}

/// `POST /api/v1/activities` `{"customer_id", "action", "name"?,
/// "subject"?}` with an `Idempotency-Key` (`write_activities`): the
/// activity and its points, within the program's limits; 201 when
/// recorded, 200 for a retry, 409 over a limit.
#[utoipa::path(post, path = "/api/v1/activities", tag = "activities",
    params(("Idempotency-Key" = String, Header, description = "1-200 visible characters, e.g. the review's id; the same key answers the same result", min_length = 1, max_length = 200, pattern = "^[!-~]+$")),
    request_body = ActivityIn,
    responses(
        (status = 201, description = "Recorded now, with its points", body = RecordedOut),
        (status = 200, description = "A retry of an activity recorded before", body = RecordedOut),
        (status = 404, description = "A customer the shop does not know", body = ErrorBody),
        (status = 409, description = "The customer has reached the action's limit (a product reviewed before, a network done, N per day or month)", body = ErrorBody),
        (status = 422, description = "An unknown action or subject, an action that is off, or the key used for another activity", body = ErrorBody),
        (status = 400, description = "A malformed request", body = ErrorBody),
        (status = 401, description = "No key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "The key lacks the route's scope", body = ErrorBody),
        (status = 429, description = "Over the key's rate limit", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
pub async fn record_activity(
    key: ApiKeySession,
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    key.require("write_activities")?;
    let idempotency = idempotency_key(&req)?;
    let input: ActivityIn = parse_json(&body)?;
    if input.action == crate::engine::activities::action::NEWSLETTER {
        return Err(ApiError::Unprocessable {
            message: "newsletter signups are recorded from the customer's email marketing \
                      consent in Shopify, not through the API"
                .into(),
            errors: None,
        });
    }
    let actor = key.actor();
    let report = Report {
        shop_id: key.shop_id,
        customer_id: input.customer_id,
        action: &input.action,
        name: input.name.as_deref(),
        subject: input.subject.as_deref(),
        key: &idempotency,
        actor: &actor,
    };
    let recorded = activities::record(&state.store, &report).await?;
    Ok(made_or_replayed(!recorded.created, &recorded))
}

/// `POST /api/v1/activities/{activity_id}/reversal` (`write_activities`):
/// the activity's points clawed back as far as the balance allows (what
/// could not be is `unrecovered`); a reversed activity answers as it is.
#[utoipa::path(post, path = "/api/v1/activities/{activity_id}/reversal", tag = "activities",
    params(("activity_id" = i64, Path, description = "The activity's id")),
    responses(
        (status = 200, description = "The activity, reversed", body = OneActivity),
        (status = 404, description = "An activity the shop does not have", body = ErrorBody),
        (status = 400, description = "A malformed request", body = ErrorBody),
        (status = 401, description = "No key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "The key lacks the route's scope", body = ErrorBody),
        (status = 429, description = "Over the key's rate limit", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
pub async fn reverse_activity(
    key: ApiKeySession,
    path: web::Path<i64>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    key.require("write_activities")?;
    let actor = key.actor();
    let activity =
        activities::reverse(&state.store, key.shop_id, path.into_inner(), &actor).await?;
    Ok(HttpResponse::Ok().json(OneActivity { activity }))
}

/// `GET /api/v1/customers/{customer_id}/activities` (`read_customers`):
/// the latest 100, newest first.
#[utoipa::path(get, path = "/api/v1/customers/{customer_id}/activities", tag = "activities",
    params(("customer_id" = i64, Path, description = "The Shopify customer id")),
    responses(
        (status = 200, description = "The customer's activities, newest first", body = ActivitiesOut),
        (status = 400, description = "A malformed request", body = ErrorBody),
        (status = 401, description = "No key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "The key lacks the route's scope", body = ErrorBody),
        (status = 429, description = "Over the key's rate limit", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
pub async fn customer_activities(
    key: ApiKeySession,
    path: web::Path<i64>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    key.require("read_customers")?;
    let activities = activities::list(&state.store, key.shop_id, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(ActivitiesOut { activities }))
}

/// `GET /api/v1/webhook-endpoints` (`manage_webhooks`).
#[utoipa::path(get, path = "/api/v1/webhook-endpoints", tag = "webhooks",
    responses(
        (status = 200, description = "The shop's endpoints, newest first", body = EndpointsOut),
        (status = 400, description = "A malformed request", body = ErrorBody),
        (status = 401, description = "No key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "The key lacks the route's scope", body = ErrorBody),
        (status = 429, description = "Over the key's rate limit", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
pub async fn list_endpoints(
    key: ApiKeySession,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    key.require("manage_webhooks")?;
    let endpoints = webhook_endpoints::list(&state.store, key.shop_id).await?;
    Ok(HttpResponse::Ok().json(EndpointsOut {
        endpoints,
        topics: crate::store::outbound::topic::ALL
            .iter()
            .map(|t| (*t).to_owned())
            .collect(),
    }))
}

/// `POST /api/v1/webhook-endpoints` `{"url", "topics"}`
/// (`manage_webhooks`): 201 with the signing `secret`, shown this once.
#[utoipa::path(post, path = "/api/v1/webhook-endpoints", tag = "webhooks",
    request_body = NewEndpointIn,
    responses(
        (status = 201, description = "Registered; the secret is shown this once", body = CreatedEndpoint),
        (status = 409, description = "The shop has the most endpoints allowed", body = ErrorBody),
        (status = 422, description = "Not an https URL to a public address, or no known topic", body = ErrorBody),
        (status = 400, description = "A malformed request", body = ErrorBody),
        (status = 401, description = "No key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "The key lacks the route's scope", body = ErrorBody),
        (status = 429, description = "Over the key's rate limit", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
pub async fn create_endpoint(
    key: ApiKeySession,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    key.require("manage_webhooks")?;
    let input: NewEndpointIn = parse_json(&body)?;
    let created = webhook_endpoints::create(
        &state.store,
        state.tokens.cipher(),
        state.egress_policy(),
        key.shop_id,
        &input.url,
        &input.topics,
        &key.actor(),
    )
    .await?;
    Ok(HttpResponse::Created()
        .insert_header(("Cache-Control", "no-store"))
        .json(created))
}

/// `DELETE /api/v1/webhook-endpoints/{endpoint_id}` (`manage_webhooks`):
/// disabled; what was queued for it is given up.
#[utoipa::path(delete, path = "/api/v1/webhook-endpoints/{endpoint_id}", tag = "webhooks",
    params(("endpoint_id" = i64, Path, description = "The endpoint's id")),
    responses(
        (status = 200, description = "The endpoint, disabled", body = OneEndpoint),
        (status = 404, description = "An endpoint the shop does not have", body = ErrorBody),
        (status = 400, description = "A malformed request", body = ErrorBody),
        (status = 401, description = "No key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "The key lacks the route's scope", body = ErrorBody),
        (status = 429, description = "Over the key's rate limit", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
pub async fn disable_endpoint(
    key: ApiKeySession,
    path: web::Path<i64>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    key.require("manage_webhooks")?;
    let endpoint = webhook_endpoints::disable(&state.store, key.shop_id, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(OneEndpoint { endpoint }))
}
