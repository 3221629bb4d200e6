//! What the till reaches: Advocate's POS UI extension, a block on the
//! customer details screen (`/api/pos/*`, POS ID token, CORS). Staff see
//! the attached customer's points, tier and rewards and redeem one for
//! them; the reward is a code to add to the cart, or store credit that
//! POS offers as a payment method.

use actix_web::{web, HttpRequest, HttpResponse};

use super::{
    guards::PosSession,
    input::{idempotency_key_or, made_or_replayed, parse_json, RedeemIn},
};
use crate::{
    engine::redeem::Requester,
    error::ApiError,
    routes::AppState,
    service::{
        loyalty,
        redemptions::{self, RedeemRequest},
    },
};

/// `GET /api/pos/customers/{customer_id}`: the customer's loyalty view (a
/// customer Advocate has not seen yet has no points).
pub async fn customer(
    session: PosSession,
    path: web::Path<i64>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let customer_id = path.into_inner();
    let view = loyalty::balance(&state.store, session.shop_id, Some(customer_id)).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// `POST /api/pos/customers/{customer_id}/redemptions` `{"reward_id",
/// "points"?}` with an `Idempotency-Key`: staff redeem for the customer at
/// the till (channel `pos`, actor `pos:{user}`). 201 when made now, 200
/// for a replay of the same key; 404 for a customer Advocate does not know.
pub async fn redeem(
    session: PosSession,
    req: HttpRequest,
    path: web::Path<i64>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let input: RedeemIn = parse_json(&body)?;
    let key = idempotency_key_or(&req, input.idempotency_key.as_deref())?;
    let actor = format!("pos:{}", session.user_id);
    let request = RedeemRequest {
        shop_id: session.shop_id,
        customer_id: path.into_inner(),
        reward_id: &input.reward_id,
        points: input.points,
        key: &key,
        who: Requester {
            channel: "pos",
            actor: &actor,
        },
    };
    let redeemed = redemptions::redeem_for_customer(&state.store, &state.outbox, request).await?;
    Ok(made_or_replayed(redeemed.replayed, &redeemed))
}
