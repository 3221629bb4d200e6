//! `/api/admin/*`: what the embedded admin page reads and changes. Every
//! handler takes an [`AdminSession`] and scopes its queries by its shop.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::{
    guards::AdminSession,
    shopper::{self, parse_json, RedeemIn},
    storefront::{save_birthday, BirthdayIn},
};
use crate::loyalty::{EpochMs, ShopId};
use crate::{
    engine::{
        program::{self as program_engine, SaveError},
        redeem::Requester,
        referrals as referral_engine,
    },
    error::ApiError,
    loyalty::{
        points::{Points, MAX_ADJUSTMENT},
        settings::ProgramSettings,
    },
    routes::AppState,
    shopify::query,
    store::{
        customers, data_requests, inbox,
        ledger::{self, NewEntry},
        now_ms, orders, outbox, program, redemptions, referrals, segments,
    },
};

/// Who acts, for the ledger and the audit trail: `staff:<id>`.
fn staff(session: &AdminSession) -> String {
    format!("staff:{}", session.user.as_deref().unwrap_or("unknown"))
}

pub async fn get_shop(session: AdminSession) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "shop": session.shop.as_str(), "installed": true }))
}

/// `GET /api/admin/program`: the settings, their version and currency.
pub async fn get_program(
    session: AdminSession,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.store.reader().acquire().await?;
    let p = program::get_program(&mut conn, session.shop_id).await?;
    Ok(HttpResponse::Ok().json(json!({
        "version": p.version,
        "currency": p.currency,
        "settings": p.settings,
    })))
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
    let mut tx = state.store.begin().await?;
    let saved = program_engine::save(
        &mut tx,
        ShopId(session.shop_id),
        input.version,
        &input.settings,
        &staff(&session),
        EpochMs(now_ms()),
    )
    .await;
    match saved {
        Ok(version) => {
            tx.commit().await?;
            Ok(HttpResponse::Ok().json(json!({ "version": version, "settings": input.settings })))
        }
        Err(e) => {
            tx.rollback().await?;
            Err(match e {
                SaveError::Invalid(errors) => ApiError::Unprocessable {
                    message: "the settings are not valid".into(),
                    errors: Some(json!(errors)),
                },
                SaveError::Stale { .. } => ApiError::Conflict(e.to_string()),
                SaveError::Engine(e) => ApiError::Internal(e.into()),
            })
        }
    }
}

/// `GET /api/admin/customers?query=&after=&limit=`.
pub async fn list_customers(
    session: AdminSession,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let pairs = query::parse_pairs(req.query_string());
    let text = query::get(&pairs, "query").unwrap_or("");
    let after = query::get(&pairs, "after")
        .and_then(|a| a.parse().ok())
        .unwrap_or(0);
    let limit = query::get(&pairs, "limit")
        .and_then(|l| l.parse::<i64>().ok())
        .unwrap_or(50)
        .clamp(1, 200);
    let mut conn = state.store.reader().acquire().await?;
    let found = customers::search(&mut conn, session.shop_id, text, after, limit).await?;
    let next = (found.len() as i64 == limit).then(|| found.last().map(|c| c.customer_id));
    Ok(HttpResponse::Ok().json(json!({ "customers": found, "next_after": next.flatten() })))
}

/// `GET /api/admin/customers/{id}`: profile, points, tier, referral code,
/// ledger, redemptions, tier history and orders.
pub async fn get_customer(
    session: AdminSession,
    path: web::Path<i64>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let customer_id = path.into_inner();
    let shop = session.shop_id;
    let mut view = {
        let mut conn = state.store.reader().acquire().await?;
        let customer = customers::find_customer(&mut conn, shop, customer_id)
            .await?
            .ok_or(ApiError::NotFound("no such customer"))?;
        json!({
            "customer": customer,
            "ledger": ledger::list_for_customer(&mut conn, shop, customer_id).await?,
            "redemptions": redemptions::list_for_customer(&mut conn, shop, customer_id).await?,
            "tier_history": customers::tier_history(&mut conn, shop, customer_id).await?,
            "segment_history": segments::history_for_customer(&mut conn, shop, customer_id)
                .await?
                .into_iter()
                .map(|(from, to, at)| json!({ "from": from, "to": to, "at": at }))
                .collect::<Vec<_>>(),
            "orders": orders::list_for_customer(&mut conn, shop, customer_id).await?,
        })
    };
    let loyalty = shopper::loyalty_view(&state, shop, customer_id).await?;
    for field in [
        "tier",
        "next_tier",
        "referral_code",
        "points_balance",
        "points_pending",
    ] {
        view[field] = loyalty[field].clone();
    }
    Ok(HttpResponse::Ok().json(view))
}

#[derive(Deserialize)]
struct AdjustmentIn {
    /// Any JSON number, so that a fraction or a figure beyond 64 bits is
    /// answered as an out-of-range field (422), like every other bad value.
    points: serde_json::Number,
    reason: String,
}

/// `POST /api/admin/customers/{id}/adjustments` `{"points", "reason"}`,
/// with an `Idempotency-Key`. `points` is non-zero and at most
/// `loyalty::points::MAX_ADJUSTMENT` either way. A deduction never takes
/// the balance below zero. Answers 404 for a customer the shop has never
/// seen: adjustments never create customers. The same key with the same
/// points and reason is a retry (200, `applied: false`); with other points
/// or another reason it is refused (422) rather than lost. The transaction
/// commits only when the answer is a success.
pub async fn adjust_points(
    session: AdminSession,
    req: HttpRequest,
    path: web::Path<i64>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let customer_id = path.into_inner();
    let key = shopper::idempotency_key(&req)?;
    let input: AdjustmentIn = parse_json(&body)?;
    let reason = input.reason.trim();
    let mut errors = Vec::new();
    let points = input.points.as_i64().and_then(Points::adjustment);
    if points.is_none() {
        errors.push(json!({
            "field": "points",
            "message": format!("must be a non-zero number of points between -{MAX_ADJUSTMENT} and {MAX_ADJUSTMENT}"),
        }));
    }
    if reason.is_empty() || reason.len() > 500 {
        errors.push(
            json!({ "field": "reason", "message": "a reason (1-500 characters) is required" }),
        );
    }
    let Some(points) = points.filter(|_| errors.is_empty()) else {
        return Err(ApiError::Unprocessable {
            message: "the adjustment is not valid".into(),
            errors: Some(json!(errors)),
        });
    };
    let actor = staff(&session);
    let source_key = format!("adjustment:{customer_id}:{key}");
    let typed_reason = reason;
    let reason = adjustment_reason(typed_reason, &actor);
    let entry = NewEntry {
        actor: &actor,
        ..NewEntry::new(
            session.shop_id,
            customer_id,
            points.get(),
            ledger::kind::ADJUSTMENT,
            &reason,
            &source_key,
        )
    };
    let mut tx = state.store.begin().await?;
    let adjusted = apply_adjustment(&mut tx, &entry, typed_reason, now_ms()).await;
    let (applied, customer) = match adjusted {
        Ok(done) => {
            tx.commit().await?;
            done
        }
        Err(e) => {
            tx.rollback().await?;
            return Err(e);
        }
    };
    tracing::info!(shop = %session.shop, actor = %actor, points = points.get(), "points adjusted");
    let body = json!({
        "applied": applied,
        "points_balance": customer.points_balance,
        "points_pending": customer.points_pending,
    });
    Ok(if applied {
        HttpResponse::Created().json(body)
    } else {
        HttpResponse::Ok().json(body)
    })
}

/// The reason as the ledger keeps it: the merchant's words and who acted.
fn adjustment_reason(typed: &str, actor: &str) -> String {
    format!("{typed} (by {actor})")
}

/// Whether the adjustment recorded under the key is the one asked for now
/// (a retry), whoever of the staff sends it again.
fn is_same_adjustment(recorded: &ledger::LedgerEntry, points: i64, typed_reason: &str) -> bool {
    let actor = recorded.actor.as_deref().unwrap_or(ledger::SYSTEM);
    recorded.kind == ledger::kind::ADJUSTMENT
        && recorded.points == points
        && recorded.reason == adjustment_reason(typed_reason, actor)
}

/// The adjustment's writes, and the customer as they leave it, read in the
/// same transaction so that nothing after the commit can fail the answer.
async fn apply_adjustment(
    tx: &mut sqlx::AnyConnection,
    entry: &NewEntry<'_>,
    typed_reason: &str,
    now: i64,
) -> Result<(bool, customers::Customer), ApiError> {
    let known = |c: Option<customers::Customer>| c.ok_or(ApiError::NotFound("no such customer"));
    known(customers::find_customer(tx, entry.shop_id, entry.customer_id).await?)?;
    let applied = if entry.points > 0 {
        ledger::append(tx, entry, now)
            .await
            .map_err(balance_out_of_range)?
    } else {
        match ledger::spend(tx, entry, now).await? {
            ledger::Spent::Taken => true,
            ledger::Spent::AlreadyRecorded => false,
            ledger::Spent::NotEnough => {
                return Err(ApiError::Conflict(
                    "the deduction is larger than the spendable balance".into(),
                ))
            }
        }
    };
    if !applied {
        // The key was used before (the write above was a no-op): a retry of
        // that adjustment answers as before, a different one must not be
        // swallowed. Read after the write attempt, so a concurrent first
        // use that committed in between is seen too.
        let recorded = ledger::find_by_source_key(tx, entry.shop_id, entry.source_key).await?;
        if !recorded.is_some_and(|r| is_same_adjustment(&r, entry.points, typed_reason)) {
            return Err(ApiError::Unprocessable {
                message: "this Idempotency-Key was used for a different adjustment \
                          (other points or reason); nothing was changed"
                    .into(),
                errors: Some(json!([{
                    "field": "Idempotency-Key",
                    "message": "was used for a different adjustment",
                }])),
            });
        }
    }
    let customer = known(customers::find_customer(tx, entry.shop_id, entry.customer_id).await?)?;
    Ok((applied, customer))
}

/// The database refuses a balance beyond `loyalty::points::MAX_STORED`
/// (CHECK constraint): for an adjustment that is the client's conflict with
/// the current balance, not a server fault.
fn balance_out_of_range(e: sqlx::Error) -> ApiError {
    match e.as_database_error().map(|db| db.kind()) {
        Some(sqlx::error::ErrorKind::CheckViolation) => ApiError::Conflict(
            "the adjustment would take the balance beyond the largest balance held".into(),
        ),
        _ => e.into(),
    }
}

/// `POST /api/admin/customers/{id}/redemptions` `{"reward_id"}`: the
/// merchant redeems for the customer (a code to send them).
pub async fn redeem_for_customer(
    session: AdminSession,
    req: HttpRequest,
    path: web::Path<i64>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let customer_id = path.into_inner();
    let key = shopper::idempotency_key(&req)?;
    let input: RedeemIn = parse_json(&body)?;
    require_known_customer(&state, session.shop_id, customer_id).await?;
    let actor = staff(&session);
    let who = Requester {
        channel: "admin",
        actor: &actor,
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
    let customer_id = path.into_inner();
    let input: BirthdayIn = parse_json(&body)?;
    require_known_customer(&state, session.shop_id, customer_id).await?;
    save_birthday(&state, session.shop_id, customer_id, input).await
}

/// 404 unless the shop has a row for the customer (per-customer admin
/// writes never create one).
async fn require_known_customer(
    state: &AppState,
    shop_id: i64,
    customer_id: i64,
) -> Result<(), ApiError> {
    let mut conn = state.store.reader().acquire().await?;
    customers::find_customer(&mut conn, shop_id, customer_id)
        .await?
        .map(|_| ())
        .ok_or(ApiError::NotFound("no such customer"))
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
    let mut conn = state.store.reader().acquire().await?;
    let list = referrals::list(&mut conn, session.shop_id, status, after, 100).await?;
    Ok(HttpResponse::Ok().json(json!({ "referrals": list })))
}

async fn decide_referral(
    session: AdminSession,
    id: i64,
    approve: bool,
    state: &AppState,
) -> Result<HttpResponse, ApiError> {
    let mut tx = state.store.begin().await?;
    let decided = referral_engine::decide(
        &mut tx,
        ShopId(session.shop_id),
        id,
        approve,
        &staff(&session),
        EpochMs(now_ms()),
    )
    .await?;
    // Commit only on the success path: a 404 leaves nothing behind.
    match decided {
        Some(referral) => {
            tx.commit().await?;
            Ok(HttpResponse::Ok().json(referral))
        }
        None => {
            tx.rollback().await?;
            Err(ApiError::NotFound("no such referral awaiting a decision"))
        }
    }
}

pub async fn approve_referral(
    session: AdminSession,
    path: web::Path<i64>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    decide_referral(session, path.into_inner(), true, &state).await
}

pub async fn reject_referral(
    session: AdminSession,
    path: web::Path<i64>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    decide_referral(session, path.into_inner(), false, &state).await
}

pub async fn list_data_requests(
    session: AdminSession,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.store.reader().acquire().await?;
    let requests = data_requests::list_data_requests(&mut conn, session.shop_id).await?;
    Ok(HttpResponse::Ok().json(json!({ "data_requests": requests })))
}

pub async fn list_failed_webhooks(
    session: AdminSession,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let failed = inbox::list_failed(&state.store, session.shop.as_str(), 100).await?;
    Ok(HttpResponse::Ok().json(json!({ "failed_webhooks": failed })))
}

pub async fn retry_failed_webhook(
    session: AdminSession,
    path: web::Path<i64>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    if inbox::retry_failed(&state.store, session.shop.as_str(), path.into_inner()).await? {
        Ok(HttpResponse::Accepted().json(json!({ "status": "queued" })))
    } else {
        Err(ApiError::NotFound("no such failed webhook"))
    }
}

pub async fn list_failed_effects(
    session: AdminSession,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.store.reader().acquire().await?;
    let failed = outbox::list_failed(&mut conn, session.shop_id).await?;
    Ok(HttpResponse::Ok().json(json!({ "failed_effects": failed })))
}

pub async fn retry_failed_effect(
    session: AdminSession,
    path: web::Path<i64>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.store.writer().acquire().await?;
    if outbox::retry_failed(&mut conn, session.shop_id, path.into_inner()).await? {
        Ok(HttpResponse::Accepted().json(json!({ "status": "queued" })))
    } else {
        Err(ApiError::NotFound("no such failed effect"))
    }
}

#[cfg(test)]
mod tests {
    use super::{adjustment_reason, is_same_adjustment};
    use crate::store::ledger::{kind, LedgerEntry};

    fn recorded(points: i64, typed: &str, actor: &str) -> LedgerEntry {
        LedgerEntry {
            id: 1,
            points,
            kind: kind::ADJUSTMENT.into(),
            reason: adjustment_reason(typed, actor),
            source_key: "adjustment:1:key".into(),
            settings_version: None,
            order_id: None,
            actor: Some(actor.into()),
            spendable_at: None,
            created_at: 0,
        }
    }

    #[test]
    fn a_retry_with_the_same_points_and_reason_is_the_same_adjustment() {
        let r = recorded(250, "Goodwill", "staff:1");
        assert!(is_same_adjustment(&r, 250, "Goodwill"));
    }

    #[test]
    fn other_points_or_another_reason_is_a_different_adjustment() {
        let r = recorded(250, "Goodwill", "staff:1");
        assert!(!is_same_adjustment(&r, 300, "Goodwill"));
        assert!(!is_same_adjustment(&r, -250, "Goodwill"));
        assert!(!is_same_adjustment(&r, 250, "Apology"));
        // A reason that merely ends like the stored one is not the same.
        assert!(!is_same_adjustment(&r, 250, "Goodwil"));
    }

    #[test]
    fn another_staff_member_retrying_the_same_adjustment_is_a_retry() {
        let r = recorded(250, "Goodwill", "staff:1");
        // The stored reason names staff:1; the comparison uses the actor
        // recorded, not the one retrying.
        assert!(is_same_adjustment(&r, 250, "Goodwill"));
        let mut other_kind = recorded(250, "Goodwill", "staff:1");
        other_kind.kind = kind::EARN.into();
        assert!(!is_same_adjustment(&other_kind, 250, "Goodwill"));
    }
}
