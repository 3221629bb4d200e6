//! The shop's behaviour segments as the admin page shows them: sizes,
//! revenue in the period, movements between segments and weekly entries,
//! with the thresholds in use; and the merchant's "recompute now". The
//! segments are computed by [`crate::engine::segments`]; this module reads
//! and reports.

use serde::Serialize;

use crate::{
    analytics::metrics::{PeriodKey, Rate},
    engine::{
        segments::{self as engine, Recomputed},
        EngineError, DAY_MS,
    },
    loyalty::segments::{Segment, Thresholds},
    store::{now_ms, program, segments, Store},
};

const WEEK_MS: i64 = 7 * DAY_MS;

#[derive(Debug, thiserror::Error)]
pub enum SegmentsError {
    /// Segments are off in the program settings: nothing was computed.
    #[error("segments are turned off in the program settings")]
    Off,
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// `GET /api/admin/segments`: the report for a period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SegmentsReport {
    pub enabled: bool,
    pub tag_prefix: String,
    pub period: &'static str,
    /// The period, epoch milliseconds.
    pub from: i64,
    pub to: i64,
    pub currency: String,
    /// Null until the shop's first computation, like the three below.
    pub computed_at: Option<i64>,
    pub thresholds: Option<Thresholds>,
    /// `derived` (from the shop's orders) or `merchant`.
    pub thresholds_source: Option<&'static str>,
    pub median_interval_days: Option<i64>,
    /// Customers with a segment.
    pub customers: i64,
    /// Every segment, best to worst, those without customers included.
    pub segments: Vec<SegmentRow>,
    pub movements: Vec<Movement>,
    /// Weeks in the period (the length of each `weekly_entries`).
    pub weeks: i64,
}

/// One segment in the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SegmentRow {
    pub slug: &'static str,
    pub label: &'static str,
    pub customers: i64,
    pub share: Rate,
    pub orders: i64,
    pub revenue_minor: i64,
    /// Null without orders.
    pub average_order_minor: Option<i64>,
    /// Customers who entered the segment, week by week of the period.
    pub weekly_entries: Vec<i64>,
}

/// Customers who moved from one segment to another in the period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Movement {
    pub from: String,
    pub from_label: String,
    pub to: String,
    pub to_label: String,
    pub customers: i64,
}

/// `POST /api/admin/segments/recompute`: the fresh report and what the
/// computation changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecomputedReport {
    #[serde(flatten)]
    pub report: SegmentsReport,
    pub recomputed: Recomputed,
}

/// The label of a stored slug (the slug itself if unknown).
fn label(slug: &str) -> &str {
    Segment::ALL
        .iter()
        .find(|s| s.slug() == slug)
        .map_or(slug, |s| s.label())
}

/// What the store counted for the period, per segment slug.
struct Figures {
    sizes: Vec<(String, i64)>,
    /// (slug, orders, revenue in minor units).
    revenue: Vec<(String, i64, i64)>,
    /// (week of the period, slug, customers who entered).
    entries: Vec<(i64, String, i64)>,
}

impl Figures {
    fn row(&self, s: Segment, total: i64, weeks: i64) -> SegmentRow {
        let customers = self
            .sizes
            .iter()
            .find(|(slug, _)| slug == s.slug())
            .map_or(0, |(_, n)| *n);
        let (orders, revenue_minor) = self
            .revenue
            .iter()
            .find(|(slug, _, _)| slug == s.slug())
            .map_or((0, 0), |(_, o, r)| (*o, *r));
        let mut weekly = vec![0i64; weeks as usize];
        for (week, slug, n) in &self.entries {
            if slug == s.slug() {
                if let Some(w) = weekly.get_mut(*week as usize) {
                    *w += n;
                }
            }
        }
        SegmentRow {
            slug: s.slug(),
            label: s.label(),
            customers,
            share: Rate::new(customers, total),
            orders,
            revenue_minor,
            average_order_minor: (orders > 0).then(|| revenue_minor / orders),
            weekly_entries: weekly,
        }
    }
}

/// The report for the period `key` ending now.
pub async fn report(
    store: &Store,
    shop_id: i64,
    key: PeriodKey,
) -> Result<SegmentsReport, sqlx::Error> {
    report_at(store, shop_id, key, now_ms()).await
}

/// The report for the period ending `now`.
async fn report_at(
    store: &Store,
    shop_id: i64,
    key: PeriodKey,
    now: i64,
) -> Result<SegmentsReport, sqlx::Error> {
    let mut conn = store.reader().acquire().await?;
    let program = program::get_program(&mut conn, shop_id).await?;
    let seg_state = segments::find_state(&mut conn, shop_id).await?;
    let from = now - key.days() * DAY_MS;
    let figures = Figures {
        sizes: segments::sizes(&mut conn, shop_id).await?,
        revenue: segments::revenue(&mut conn, shop_id, from, now).await?,
        entries: segments::weekly_entries(&mut conn, shop_id, from, now).await?,
    };
    let moves = segments::movements(&mut conn, shop_id, from, now).await?;
    drop(conn);
    let total: i64 = figures.sizes.iter().map(|(_, n)| n).sum();
    let weeks = (key.days() * DAY_MS + WEEK_MS - 1) / WEEK_MS;
    let settings = program.settings.segments;
    Ok(SegmentsReport {
        enabled: settings.enabled,
        tag_prefix: settings.tag_prefix,
        period: key.as_str(),
        from,
        to: now,
        currency: program.currency,
        computed_at: seg_state.as_ref().map(|s| s.computed_at),
        thresholds_source: seg_state
            .as_ref()
            .map(|s| if s.derived { "derived" } else { "merchant" }),
        median_interval_days: seg_state
            .as_ref()
            .and_then(|s| s.median_interval_ms)
            .map(|ms| ms / DAY_MS),
        thresholds: seg_state.map(|s| s.thresholds),
        customers: total,
        segments: Segment::ALL
            .iter()
            .map(|s| figures.row(*s, total, weeks))
            .collect(),
        movements: moves
            .into_iter()
            .map(|(from, to, customers)| Movement {
                from_label: label(&from).to_owned(),
                to_label: label(&to).to_owned(),
                from,
                to,
                customers,
            })
            .collect(),
        weeks,
    })
}

/// Recomputes the shop's segments now (in the engine's own transaction)
/// and reports the period `key` as of the same moment.
pub async fn recompute(
    store: &Store,
    shop_id: i64,
    key: PeriodKey,
) -> Result<RecomputedReport, SegmentsError> {
    let now = now_ms();
    let recomputed = engine::recompute_shop(store, shop_id, now)
        .await?
        .ok_or(SegmentsError::Off)?;
    Ok(RecomputedReport {
        report: report_at(store, shop_id, key, now).await?,
        recomputed,
    })
}
