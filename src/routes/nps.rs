//! The post-purchase survey: the checkout extension's
//! `GET/POST /api/checkout/nps` (session token, CORS like every
//! `/api/checkout/*` route) and the merchant's `GET /api/admin/nps`.
//! Answers are validated here (score a whole number 0–10, comment at most
//! 1,000 characters once trimmed); the use cases are in
//! [`crate::service::nps`], the rules in [`crate::engine::nps`].

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::Value;

use super::{
    guards::{AdminSession, CheckoutSession},
    input::parse_json,
    params,
};
use crate::{
    engine::nps::MAX_COMMENT_CHARS,
    error::ApiError,
    loyalty::{nps::MAX_SCORE, CustomerId, OrderId},
    routes::AppState,
    service::nps::{self as service, Answer, ReportQuery},
    shopify::query,
};

const LOGGED_OUT: &str = "log in to your account to answer the survey";

fn invalid(field: &str, message: &str) -> ApiError {
    ApiError::invalid_field(field, message)
}

/// An order id as the extension has it: the number, its decimal text, or
/// the GID of the order (`gid://shopify/Order/N`, order status page) or of
/// its confirmation (`gid://shopify/OrderIdentity/N`, thank-you page: the
/// same number once the order exists).
fn parse_order_id(value: &Value) -> Option<i64> {
    let id = match value {
        Value::Number(n) => n.as_i64()?,
        Value::String(s) => {
            let s = s.trim();
            let digits = s
                .strip_prefix("gid://shopify/OrderIdentity/")
                .or_else(|| s.strip_prefix("gid://shopify/Order/"))
                .unwrap_or(s);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            digits.parse().ok()?
        }
        _ => return None,
    };
    (id > 0).then_some(id)
}

const ORDER_ID_MESSAGE: &str = "must be the order's id (a number or its gid://shopify/Order/ id)";

/// `GET /api/checkout/nps?order_id=`: whether the survey is offered, with
/// which bonus, and (with an order) whether that order was answered.
pub async fn checkout_nps_status(
    session: CheckoutSession,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let pairs = query::parse_pairs(req.query_string());
    // Without an order (the thank-you page before the order exists) the
    // answer says only whether the survey is offered.
    let order_id = match query::get(&pairs, "order_id") {
        None => None,
        Some(raw) => Some(
            parse_order_id(&Value::String(raw.to_owned()))
                .ok_or_else(|| invalid("order_id", ORDER_ID_MESSAGE))?,
        ),
    };
    let status =
        service::checkout_status(&state.store, session.shop_id, session.customer_id, order_id)
            .await?;
    Ok(HttpResponse::Ok().json(status))
}

/// The answer in a POST body, validated.
fn parse_answer(body: &Value, customer_id: i64) -> Result<Answer, ApiError> {
    let order_id = body
        .get("order_id")
        .and_then(parse_order_id)
        .ok_or_else(|| invalid("order_id", ORDER_ID_MESSAGE))?;
    let score = body
        .get("score")
        .and_then(Value::as_i64)
        .filter(|s| (0..=MAX_SCORE).contains(s))
        .ok_or_else(|| invalid("score", "must be a whole number from 0 to 10"))?;
    let comment = match body.get("comment") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            let trimmed = s.trim();
            if trimmed.chars().count() > MAX_COMMENT_CHARS {
                return Err(invalid("comment", "must be at most 1000 characters"));
            }
            (!trimmed.is_empty()).then(|| trimmed.to_owned())
        }
        Some(_) => return Err(invalid("comment", "must be text")),
    };
    Ok(Answer {
        order_id: OrderId(order_id),
        customer_id: CustomerId(customer_id),
        score,
        comment,
    })
}

/// `POST /api/checkout/nps` `{"order_id", "score", "comment"?}`: 201 with
/// the bonus, 409 for an order answered before, 403 for someone else's
/// order or a guest order (nothing changes).
pub async fn checkout_answer_nps(
    session: CheckoutSession,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let customer_id = session
        .customer_id
        .ok_or(ApiError::Unauthorized(LOGGED_OUT))?;
    let raw: Value = parse_json(&body)?;
    if !raw.is_object() {
        return Err(ApiError::BadRequest(
            "the body must be a JSON object".into(),
        ));
    }
    let answer = parse_answer(&raw, customer_id)?;
    let answered = service::answer(&state.store, session.shop_id, &answer).await?;
    Ok(HttpResponse::Created().json(answered))
}

/// `page=` of the comments, from 1 (at most 10,000); 1 when absent.
fn page(pairs: &[(String, String)]) -> Result<i64, ApiError> {
    match query::get(pairs, "page") {
        None => Ok(1),
        Some(raw) => raw
            .parse::<i64>()
            .ok()
            .filter(|p| (1..=10_000).contains(p))
            .ok_or_else(|| ApiError::BadRequest("page must be a number from 1".into())),
    }
}

/// `GET /api/admin/nps?period=30d|90d|365d&page=`: the NPS of the period
/// overall, by month, by segment and by tier (at answer time), and a page
/// of comments, newest first.
pub async fn get_nps(
    session: AdminSession,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let period = params::period(&req)?;
    let page = page(&query::parse_pairs(req.query_string()))?;
    let report =
        service::report(&state.store, session.shop_id, ReportQuery { period, page }).await?;
    Ok(HttpResponse::Ok().json(report))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn order_ids_come_as_numbers_texts_or_gids() {
        let p = super::parse_order_id;
        assert_eq!(p(&json!(5_000_000_000_123_i64)), Some(5_000_000_000_123));
        assert_eq!(p(&json!("42")), Some(42));
        assert_eq!(p(&json!("gid://shopify/Order/42")), Some(42));
        assert_eq!(p(&json!("gid://shopify/OrderIdentity/42")), Some(42));
        assert_eq!(p(&json!("gid://shopify/Customer/42")), None);
        assert_eq!(p(&json!("4 2")), None);
        assert_eq!(p(&json!(-3)), None);
        assert_eq!(p(&json!(4.5)), None);
        assert_eq!(p(&json!(null)), None);
    }
}
