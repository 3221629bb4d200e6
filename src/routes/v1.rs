//! The merchant REST API, version 1 (`/api/v1/*`): the shop's customers,
//! ledger, points adjustments, redemptions and program, for the merchant's
//! own systems, with an API key (`Authorization: Bearer adv_…`) whose
//! scopes each route checks. Errors are the one JSON shape of every route
//! (`{"error": code, "message"}`); writes take an `Idempotency-Key` with the
//! admin routes' semantics.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::{
    guards::ApiKeySession,
    input::{idempotency_key, made_or_replayed, parse_json, RedeemIn},
};
use crate::{
    engine::redeem::Requester,
    error::ApiError,
    routes::AppState,
    service::{
        customers::{self, CustomerQuery},
        exports, open_api,
        points::{self, AdjustRequest},
        redemptions::{self, RedeemRequest},
    },
    shopify::query,
};

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
        return Ok(HttpResponse::Ok().json(serde_json::json!({
            "customers": exact,
            "next_cursor": null,
        })));
    }
    let page = CustomerQuery {
        text: query::get(&pairs, "query").unwrap_or(""),
        after: cursor(&pairs)?.unwrap_or(0),
        limit: limit(&pairs)?,
    };
    let found = customers::list_customers(&state.store, key.shop_id, page).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "customers": found.customers,
        "next_cursor": found.next_after.map(|a| a.to_string()),
    })))
}

/// `GET /api/v1/customers/{customer_id}` (`read_customers`).
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

#[derive(Deserialize)]
struct AdjustmentIn {
    /// Any JSON number: a fraction or a figure beyond 64 bits is a 422.
    points: serde_json::Number,
    reason: String,
}

/// `POST /api/v1/customers/{customer_id}/adjustments` `{"points",
/// "reason"}` with an `Idempotency-Key` (`write_points`): 201 when applied,
/// 200 for a retry.
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
pub async fn get_program(
    key: ApiKeySession,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    key.require("read_program")?;
    let program = open_api::program_view(&state.store, key.shop_id).await?;
    Ok(HttpResponse::Ok().json(program))
}
