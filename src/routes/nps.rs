//! The post-purchase survey: the checkout extension's
//! `GET/POST /api/checkout/nps` (session token, CORS like every
//! `/api/checkout/*` route) and the merchant's `GET /api/admin/nps`.
//! Answers are validated here (score a whole number 0–10, comment at most
//! 1,000 characters once trimmed); the rules live in [`crate::engine::nps`].

use std::collections::BTreeMap;

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::{
    guards::{AdminSession, CheckoutSession},
    input::parse_json,
};
use crate::loyalty::{CustomerId, EpochMs, OrderId, ShopId};
use crate::{
    analytics::metrics::PeriodKey,
    engine::{
        nps::{self as engine, Answer, NpsError, MAX_COMMENT_CHARS},
        rfc3339, DAY_MS,
    },
    error::ApiError,
    loyalty::{
        nps::{Category, Summary, Tally, MAX_SCORE},
        segments::Segment,
    },
    routes::AppState,
    shopify::query,
    store::{
        now_ms,
        nps::{self, credit},
        program,
    },
};

const LOGGED_OUT: &str = "log in to your account to answer the survey";
const NOT_YOURS: &str = "this order belongs to another customer";
const GUEST_ORDER: &str =
    "this order was placed without a customer account: it cannot be answered from one";

/// Comments per page of the admin list.
const COMMENTS_PER_PAGE: i64 = 20;

fn invalid(field: &str, message: &str) -> ApiError {
    ApiError::Unprocessable {
        message: format!("{field} {message}"),
        errors: Some(json!([{ "field": field, "message": message }])),
    }
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
    let mut conn = state.store.reader().acquire().await?;
    let program = program::get_program(&mut conn, session.shop_id).await?;
    let settings = &program.settings.nps;
    if !settings.enabled {
        return Ok(HttpResponse::Ok().json(json!({ "enabled": false })));
    }
    let Some(customer_id) = session.customer_id else {
        return Ok(HttpResponse::Ok().json(json!({
            "enabled": true,
            "logged_in": false,
            "bonus_points": settings.bonus_points,
        })));
    };
    let Some(order_id) = order_id else {
        return Ok(HttpResponse::Ok().json(json!({
            "enabled": true,
            "logged_in": true,
            "bonus_points": settings.bonus_points,
        })));
    };
    let order = nps::find_order_owner(&mut conn, session.shop_id, order_id).await?;
    match order {
        Some(o) if o.customer_id.is_some_and(|c| c != customer_id) => {
            return Err(ApiError::Forbidden(NOT_YOURS))
        }
        Some(o) if o.known == 1 && o.customer_id.is_none() => {
            return Err(ApiError::Forbidden(GUEST_ORDER))
        }
        _ => {}
    }
    let answer = nps::find_for_order(&mut conn, session.shop_id, order_id)
        .await?
        .filter(|r| r.customer_id == customer_id);
    Ok(HttpResponse::Ok().json(match answer {
        None => json!({
            "enabled": true,
            "logged_in": true,
            "order_id": order_id,
            "answered": false,
            "bonus_points": settings.bonus_points,
        }),
        Some(r) => json!({
            "enabled": true,
            "logged_in": true,
            "order_id": order_id,
            "answered": true,
            "score": r.score,
            "bonus_points": r.bonus_points,
            "points_credited": if r.credit_state == credit::CREDITED { r.bonus_points } else { 0 },
            "credit_state": r.credit_state,
        }),
    }))
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
    let mut tx = state.store.begin().await?;
    let (shop, now) = (ShopId(session.shop_id), EpochMs(now_ms()));
    let answered = match engine::answer(&mut tx, shop, &answer, now).await {
        Ok(answered) => {
            tx.commit().await?;
            answered
        }
        Err(e) => {
            tx.rollback().await?;
            return Err(match e {
                NpsError::Disabled => ApiError::NotFound("the survey is not offered by this shop"),
                NpsError::AlreadyAnswered => ApiError::Conflict(
                    "this order was already answered; the first answer is kept".into(),
                ),
                NpsError::NotYours => ApiError::Forbidden(NOT_YOURS),
                NpsError::GuestOrder => ApiError::Forbidden(GUEST_ORDER),
                NpsError::InvalidScore => invalid("score", "must be a whole number from 0 to 10"),
                NpsError::Db(e) => e.into(),
            });
        }
    };
    Ok(HttpResponse::Created().json(json!({
        "order_id": answer.order_id,
        "answered": true,
        "score": answer.score,
        "category": answered.category,
        "bonus_points": answered.bonus_points,
        "points_credited": if answered.credit_state == credit::CREDITED { answered.bonus_points } else { 0 },
        "credit_state": answered.credit_state,
    })))
}

/// A tally with its label, for the admin answer.
fn labelled(key: &str, label: &str, tally: &Tally) -> Value {
    let mut value = json!({ "key": key, "label": label });
    if let (Some(map), Ok(Value::Object(summary))) = (
        value.as_object_mut(),
        serde_json::to_value(Summary::from(tally)),
    ) {
        map.extend(summary);
    }
    value
}

/// `GET /api/admin/nps?period=30d|90d|365d&page=`: the NPS of the period
/// overall, by month, by segment and by tier (at answer time), and a page
/// of comments, newest first.
pub async fn get_nps(
    session: AdminSession,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let pairs = query::parse_pairs(req.query_string());
    let period = match query::get(&pairs, "period") {
        None => PeriodKey::DEFAULT,
        Some(raw) => PeriodKey::parse(raw)
            .ok_or_else(|| ApiError::BadRequest("period must be one of 30d, 90d, 365d".into()))?,
    };
    let page = match query::get(&pairs, "page") {
        None => 1,
        Some(raw) => raw
            .parse::<i64>()
            .ok()
            .filter(|p| (1..=10_000).contains(p))
            .ok_or_else(|| ApiError::BadRequest("page must be a number from 1".into()))?,
    };
    let to = now_ms() + 1;
    let from = to - period.days() * DAY_MS;
    let shop = session.shop_id;
    let mut conn = state.store.reader().acquire().await?;
    let program = program::get_program(&mut conn, shop).await?;
    let counts = nps::counts(&mut conn, shop, from, to).await?;
    let mut comments = nps::list_comments(
        &mut conn,
        shop,
        from,
        to,
        COMMENTS_PER_PAGE + 1,
        (page - 1) * COMMENTS_PER_PAGE,
    )
    .await?;
    drop(conn);
    let has_more = comments.len() as i64 > COMMENTS_PER_PAGE;
    comments.truncate(COMMENTS_PER_PAGE as usize);

    let mut overall = Tally::default();
    let mut months: BTreeMap<String, Tally> = BTreeMap::new();
    let mut segments: BTreeMap<Option<String>, Tally> = BTreeMap::new();
    let mut tiers: BTreeMap<Option<String>, Tally> = BTreeMap::new();
    for c in &counts {
        let month = chrono::DateTime::from_timestamp_millis(c.day * DAY_MS)
            .unwrap_or_default()
            .format("%Y-%m")
            .to_string();
        overall.add(c.score, c.answers);
        months.entry(month).or_default().add(c.score, c.answers);
        segments
            .entry(c.segment.clone())
            .or_default()
            .add(c.score, c.answers);
        tiers
            .entry(c.tier_id.clone())
            .or_default()
            .add(c.score, c.answers);
    }
    // Segments in the order a merchant reads them (best to worst), then
    // any slug this build does not know, then customers without one.
    let mut by_segment: Vec<Value> = Segment::ALL
        .iter()
        .filter_map(|s| {
            let t = segments.remove(&Some(s.slug().to_owned()))?;
            Some(labelled(s.slug(), s.label(), &t))
        })
        .collect();
    let unsegmented = segments.remove(&None);
    by_segment.extend(
        segments
            .iter()
            .filter_map(|(k, t)| Some(labelled(k.as_deref()?, k.as_deref()?, t))),
    );
    if let Some(t) = unsegmented {
        by_segment.push(labelled("none", "No segment yet", &t));
    }
    // Tiers in the program's order; a tier removed since keeps its id.
    let levels = &program.settings.tiers.levels;
    let mut by_tier: Vec<Value> = levels
        .iter()
        .filter_map(|l| {
            let t = tiers.remove(&Some(l.id.clone()))?;
            Some(labelled(&l.id, &l.name, &t))
        })
        .collect();
    let untiered = tiers.remove(&None);
    by_tier.extend(
        tiers
            .iter()
            .filter_map(|(k, t)| Some(labelled(k.as_deref()?, k.as_deref()?, t))),
    );
    if let Some(t) = untiered {
        by_tier.push(labelled("none", "No tier", &t));
    }
    let items: Vec<Value> = comments
        .into_iter()
        .map(|c| {
            let name = [c.first_name.as_deref(), c.last_name.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            json!({
                "order_id": c.order_id,
                "order_name": c.order_name,
                "customer_id": c.customer_id,
                "customer_name": (!name.is_empty()).then_some(name),
                "score": c.score,
                "category": Category::of(c.score),
                "comment": c.comment,
                "answered_at": rfc3339(c.answered_at),
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "period": period.as_str(),
        "from": rfc3339(from),
        "to": rfc3339(to),
        "enabled": program.settings.nps.enabled,
        "bonus_points": program.settings.nps.bonus_points,
        "overall": Summary::from(&overall),
        "months": months
            .iter()
            .map(|(m, t)| labelled(m, m, t))
            .collect::<Vec<_>>(),
        "by_segment": by_segment,
        "by_tier": by_tier,
        "comments": {
            "page": page,
            "per_page": COMMENTS_PER_PAGE,
            "has_more": has_more,
            "items": items,
        },
    })))
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
