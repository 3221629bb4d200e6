//! The segments report: per segment its size, the period's revenue,
//! movements between segments and weekly entries, with the thresholds in
//! use; kept per shop and period as a snapshot (at a million orders the
//! aggregates take too long for a page load) and served as stored.
//!
//! A request reads the snapshot with two marks that cost one lookup each:
//! the program version and when the segments were last computed
//! (`segment_state.computed_at`). When there is none yet, or either mark
//! moved (a recomputation, settings saved), the request computes it. The
//! background loop ([`crate::jobs::scheduled::run_dashboard_refresh`])
//! calls [`refresh_changed`], which recomputes the snapshots whose shop's
//! orders or segment changes moved on since (a move after an order), or
//! that are older than [`super::refresh::MAX_AGE`], each shop under the
//! lease `segments-report:<shop id>`. The SQL is in
//! [`crate::store::segments`].

use std::time::Duration;

use serde::Serialize;

use super::{
    metrics::{PeriodKey, Rate},
    refresh::MAX_AGE,
};
use crate::{
    loyalty::{
        segments::{Segment, Thresholds},
        time::DAY_MS,
    },
    store::{
        now_ms, program, schedule,
        segments::{self, ReportMarks, StoredReport},
        Store,
    },
};

const WEEK_MS: i64 = 7 * DAY_MS;
/// How long a recomputation may hold its lease.
const LEASE: Duration = Duration::from_secs(600);

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
    /// When this report was computed (epoch ms): it is served from a
    /// snapshot ("as of").
    pub snapshot_at: i64,
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

/// The report for the period `key` ending `now`, from the raw rows.
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
        snapshot_at: now,
    })
}

fn json(report: &SegmentsReport) -> Result<String, sqlx::Error> {
    serde_json::to_string(report).map_err(|e| sqlx::Error::Encode(Box::new(e)))
}

/// Computes the report of `key` as of `now`, stores it as the period's
/// snapshot and returns it.
pub async fn compute(
    store: &Store,
    shop_id: i64,
    key: PeriodKey,
    now: i64,
) -> Result<SegmentsReport, sqlx::Error> {
    // Read before the aggregates: a change made while they run moves the
    // marks past these, and the next round computes again.
    let marks = segments::report_marks(&mut *store.reader().acquire().await?, shop_id).await?;
    let report = report_at(store, shop_id, key, now).await?;
    let body = json(&report)?;
    let mut tx = store.begin().await?;
    segments::save_report(&mut tx, shop_id, key.as_str(), now, marks, &body).await?;
    tx.commit().await?;
    Ok(report)
}

/// Whether a request may answer `stored` given the marks read now: the
/// settings and the segments' computation are those it was made from.
fn answers(stored: &StoredReport, now: ReportMarks) -> bool {
    stored.marks.settings_version == now.settings_version
        && stored.marks.state_mark == now.state_mark
}

/// The report of `key` as JSON, from its snapshot; computed first when
/// there is none, or the segments were computed again or the settings
/// changed since.
pub async fn report(store: &Store, shop_id: i64, key: PeriodKey) -> Result<String, sqlx::Error> {
    let (stored, marks) = {
        let mut conn = store.reader().acquire().await?;
        (
            segments::find_report(&mut conn, shop_id, key.as_str()).await?,
            segments::request_marks(&mut conn, shop_id).await?,
        )
    };
    match stored {
        Some(stored) if answers(&stored, marks) => Ok(stored.body),
        _ => json(&compute(store, shop_id, key, now_ms()).await?),
    }
}

fn is_due(stored: &StoredReport, current: ReportMarks, now: i64) -> bool {
    stored.marks != current || now - stored.computed_at >= MAX_AGE.as_millis() as i64
}

/// Recomputes, as of `now`, the stored reports of installed shops whose
/// marks moved on, or that are older than [`MAX_AGE`]; one shop at a
/// time, each under its lease. Returns how many reports were recomputed.
pub async fn refresh_changed(store: &Store, owner: &str, now: i64) -> anyhow::Result<usize> {
    let stored = segments::stored_reports(&mut *store.reader().acquire().await?).await?;
    let mut refreshed = 0;
    let mut shops: Vec<i64> = stored.iter().map(|s| s.shop_id).collect();
    shops.dedup();
    for shop_id in shops {
        let current =
            segments::report_marks(&mut *store.reader().acquire().await?, shop_id).await?;
        let due: Vec<&StoredReport> = stored
            .iter()
            .filter(|s| s.shop_id == shop_id && is_due(s, current, now))
            .collect();
        if due.is_empty() {
            continue;
        }
        let lease = format!("segments-report:{shop_id}");
        let taken = schedule::take(
            &mut *store.writer().acquire().await?,
            &lease,
            owner,
            now,
            now + LEASE.as_millis() as i64,
            now,
        )
        .await?;
        if taken.is_none() {
            continue; // another process is on it
        }
        let mut result = Ok(());
        for s in due {
            let Some(key) = PeriodKey::parse(&s.period) else {
                continue;
            };
            // It may have been recomputed just before we took the lease.
            let fresh =
                segments::find_report(&mut *store.reader().acquire().await?, shop_id, key.as_str())
                    .await?
                    .is_some_and(|s| !is_due(&s, current, now));
            if fresh {
                continue;
            }
            match compute(store, shop_id, key, now).await {
                Ok(_) => refreshed += 1,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        schedule::finish(&mut *store.writer().acquire().await?, &lease, owner, now).await?;
        result?;
    }
    Ok(refreshed)
}
