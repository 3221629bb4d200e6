//! The merchant's reports over a period: the dashboard (served from the
//! shop's snapshot, see [`crate::analytics::refresh`]) and the win-back
//! report (computed on request, see [`crate::analytics::winback`]).

use crate::{
    analytics::{
        metrics::{PeriodKey, Window},
        refresh,
        winback::{self, WinbackReport},
    },
    store::{now_ms, program, winback as episodes, Store},
};

/// `GET /api/admin/analytics`: a dashboard as stored, the JSON of an
/// [`crate::analytics::metrics::Dashboard`]. Snapshots are kept serialized,
/// so the answer is their text, sent as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DashboardJson(pub String);

/// The dashboard of `key` as of its snapshot (computed now when the shop
/// has none yet).
pub async fn dashboard(
    store: &Store,
    shop_id: i64,
    key: PeriodKey,
) -> anyhow::Result<DashboardJson> {
    refresh::dashboard(store, shop_id, key)
        .await
        .map(DashboardJson)
}

/// Recomputes the shop's snapshots now; the fresh dashboard of `key`.
pub async fn refresh(store: &Store, shop_id: i64, key: PeriodKey) -> anyhow::Result<DashboardJson> {
    refresh::recompute(store, shop_id, key)
        .await
        .map(DashboardJson)
}

/// `GET /api/admin/winback`: the at-risk episodes opened in the period
/// ending now, offered against held out.
pub async fn winback_report(
    store: &Store,
    shop_id: i64,
    key: PeriodKey,
) -> Result<WinbackReport, sqlx::Error> {
    let window = Window::ending_at(key, now_ms());
    let mut conn = store.reader().acquire().await?;
    let program = program::get_program(&mut conn, shop_id).await?;
    let (offered, holdout, no_offer) =
        episodes::report(&mut conn, shop_id, window.from, window.to).await?;
    let context = winback::Context {
        currency: &program.currency,
        enabled: program.settings.winback.enabled,
        holdout_percent: program.settings.winback.holdout_percent,
    };
    Ok(winback::build(
        &window, &context, &offered, &holdout, &no_offer,
    ))
}
