//! The shop's behaviour segments as the admin page shows them: the report
//! (sizes, revenue in the period, movements between segments and weekly
//! entries, with the thresholds in use), served from its snapshot (see
//! [`crate::analytics::segments`]); and the merchant's "recompute now".
//! The segments are computed by [`crate::engine::segments`].

use serde::Serialize;

pub use crate::analytics::segments::SegmentsReport;
use crate::{
    analytics::{metrics::PeriodKey, segments as report},
    engine::{
        segments::{self as engine, Recomputed},
        EngineError,
    },
    store::{now_ms, Store},
};

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

/// `GET /api/admin/segments`: a report as stored, the JSON of a
/// [`SegmentsReport`], sent as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentsJson(pub String);

/// `POST /api/admin/segments/recompute`: the fresh report and what the
/// computation changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecomputedReport {
    #[serde(flatten)]
    pub report: SegmentsReport,
    pub recomputed: Recomputed,
}

/// The report for the period `key`, as of its snapshot (computed now when
/// there is none, or the segments or the settings changed since).
pub async fn report(
    store: &Store,
    shop_id: i64,
    key: PeriodKey,
) -> Result<SegmentsJson, sqlx::Error> {
    report::report(store, shop_id, key).await.map(SegmentsJson)
}

/// Recomputes the shop's segments now and reports the period `key` as of
/// the same moment (which becomes the period's snapshot).
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
        report: report::compute(store, shop_id, key, now).await?,
        recomputed,
    })
}
