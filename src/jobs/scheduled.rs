//! The periodic loops of a process: scheduled loyalty jobs (pending points,
//! expiry, tiers, birthdays) and refreshes of the dashboard snapshots and
//! segments reports. Each runs every so often until the process stops;
//! what each round does, and the leases that keep several processes from
//! doing it twice, are in
//! [`crate::engine::scheduled`], [`crate::analytics::refresh`] and
//! [`crate::analytics::segments`].

use std::time::Duration;

use tokio::sync::watch;

use crate::store::{lease, now_ms, Store};

/// Runs the scheduled loyalty jobs every `every` (each job decides
/// whether it is due; leases keep other processes from running it twice).
pub async fn run_loyalty_jobs(store: Store, every: Duration, mut stopped: watch::Receiver<bool>) {
    let owner = lease::scheduler();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !*stopped.borrow() {
        tokio::select! {
            _ = tick.tick() => {
                match crate::engine::scheduled::run_due(&store, &owner, crate::loyalty::EpochMs::now()).await {
                    Ok(report) if report != Default::default() => {
                        tracing::info!(?report, "scheduled loyalty jobs ran");
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = format!("{e:#}"), "scheduled jobs failed; will retry"),
                }
            }
            _ = stopped.changed() => {}
        }
    }
}

/// Refreshes changed dashboard snapshots and segments reports every
/// `every` until stopped.
pub async fn run_dashboard_refresh(
    store: Store,
    every: Duration,
    mut stopped: watch::Receiver<bool>,
) {
    let owner = lease::analytics();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !*stopped.borrow() {
        tokio::select! {
            _ = tick.tick() => {
                match crate::analytics::refresh::refresh_changed(&store, &owner, now_ms()).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(shops = n, "dashboard snapshots refreshed"),
                    Err(e) => tracing::warn!(error = format!("{e:#}"), "dashboard refresh failed; will retry"),
                }
                match crate::analytics::segments::refresh_changed(&store, &owner, now_ms()).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(reports = n, "segments reports refreshed"),
                    Err(e) => tracing::warn!(error = format!("{e:#}"), "segments report refresh failed; will retry"),
                }
            }
            _ = stopped.changed() => {}
        }
    }
}
