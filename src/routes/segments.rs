//! `/api/admin/segments`: the shop's behaviour segments as the admin page
//! shows them: sizes, revenue in the period, movements between segments
//! and weekly entries, with the thresholds in use. Computed by the engine
//! ([`crate::engine::segments`]); this module only reads and reports.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::{analytics::period, guards::AdminSession};
use crate::{
    analytics::metrics::{PeriodKey, Rate},
    engine::{segments as segment_engine, DAY_MS},
    error::ApiError,
    loyalty::segments::Segment,
    routes::AppState,
    store::{now_ms, program, segments},
};

const WEEK_MS: i64 = 7 * DAY_MS;

/// The label of a stored slug (the slug itself if unknown).
fn label(slug: &str) -> &str {
    Segment::ALL
        .iter()
        .find(|s| s.slug() == slug)
        .map_or(slug, |s| s.label())
}

/// The report for the period ending `now`.
async fn report(
    state: &AppState,
    shop_id: i64,
    key: PeriodKey,
    now: i64,
) -> Result<Value, ApiError> {
    let mut conn = state.store.reader().acquire().await?;
    let program = program::get_program(&mut conn, shop_id).await?;
    let seg_state = segments::find_state(&mut conn, shop_id).await?;
    let from = now - key.days() * DAY_MS;
    let sizes = segments::sizes(&mut conn, shop_id).await?;
    let revenue = segments::revenue(&mut conn, shop_id, from, now).await?;
    let moves = segments::movements(&mut conn, shop_id, from, now).await?;
    let entries = segments::weekly_entries(&mut conn, shop_id, from, now).await?;
    let total: i64 = sizes.iter().map(|(_, n)| n).sum();
    let weeks = (key.days() * DAY_MS + WEEK_MS - 1) / WEEK_MS;
    let rows: Vec<Value> = Segment::ALL
        .iter()
        .map(|s| {
            let customers = sizes
                .iter()
                .find(|(slug, _)| slug == s.slug())
                .map_or(0, |(_, n)| *n);
            let (orders, revenue_minor) = revenue
                .iter()
                .find(|(slug, _, _)| slug == s.slug())
                .map_or((0, 0), |(_, o, r)| (*o, *r));
            let mut weekly = vec![0i64; weeks as usize];
            for (week, slug, n) in &entries {
                if slug == s.slug() {
                    if let Some(w) = weekly.get_mut(*week as usize) {
                        *w += n;
                    }
                }
            }
            json!({
                "slug": s.slug(),
                "label": s.label(),
                "customers": customers,
                "share": Rate::new(customers, total),
                "orders": orders,
                "revenue_minor": revenue_minor,
                "average_order_minor": (orders > 0).then(|| revenue_minor / orders),
                "weekly_entries": weekly,
            })
        })
        .collect();
    let movements: Vec<Value> = moves
        .iter()
        .map(|(f, t, n)| {
            json!({
                "from": f, "from_label": label(f),
                "to": t, "to_label": label(t),
                "customers": n,
            })
        })
        .collect();
    let settings = &program.settings.segments;
    Ok(json!({
        "enabled": settings.enabled,
        "tag_prefix": settings.tag_prefix,
        "period": key.as_str(),
        "from": from,
        "to": now,
        "currency": program.currency,
        "computed_at": seg_state.as_ref().map(|s| s.computed_at),
        "thresholds": seg_state.as_ref().map(|s| &s.thresholds),
        "thresholds_source": seg_state.as_ref().map(|s| if s.derived { "derived" } else { "merchant" }),
        "median_interval_days": seg_state.as_ref().and_then(|s| s.median_interval_ms).map(|ms| ms / DAY_MS),
        "customers": total,
        "segments": rows,
        "movements": movements,
        "weeks": weeks,
    }))
}

/// `GET /api/admin/segments?period=30d|90d|365d` (90d when absent).
pub async fn get_segments(
    session: AdminSession,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let key = period(&req)?;
    Ok(HttpResponse::Ok().json(report(&state, session.shop_id, key, now_ms()).await?))
}

/// `POST /api/admin/segments/recompute?period=`: recomputes the shop's
/// segments now; answers what changed and the fresh report.
pub async fn recompute_segments(
    session: AdminSession,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let key = period(&req)?;
    let now = now_ms();
    let done = segment_engine::recompute_shop(&state.store, session.shop_id, now)
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    if done.is_none() {
        return Err(ApiError::Conflict(
            "segments are turned off in the program settings".into(),
        ));
    }
    let mut body = report(&state, session.shop_id, key, now).await?;
    body["recomputed"] = json!(done);
    Ok(HttpResponse::Ok().json(body))
}
