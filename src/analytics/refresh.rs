//! Dashboard snapshots: computed from the store's aggregates for every
//! period at once, stored per shop and period, served as they are.
//!
//! A shop's first dashboard request computes its snapshots on the spot;
//! after that, a background loop
//! ([`crate::jobs::scheduled::run_dashboard_refresh`]) calls
//! [`refresh_changed`] every `ADVOCATE_ANALYTICS_REFRESH_SECS`, which looks
//! at the installed shops that have snapshots and recomputes those whose
//! orders or ledger changed since (by the marks stored with the snapshot),
//! or whose snapshot is older than [`MAX_AGE`] (the window slides even when
//! nothing happens). Each recomputation holds the lease `analytics:<shop id>` in
//! `job_leases`, so several processes on one database do not repeat it.
//! The SQL is in [`crate::store::analytics`].

use std::time::Duration;

use anyhow::Context;

use super::metrics::{self, Inputs, PeriodKey, Window};
use crate::store::{analytics as snapshots, now_ms, program, schedule, Store};

/// A snapshot this old is recomputed even if nothing changed.
pub const MAX_AGE: Duration = Duration::from_secs(3600);
/// How long a recomputation may hold its lease.
const LEASE: Duration = Duration::from_secs(600);

/// Computes every period's dashboard of the shop as of `now`, stores them,
/// and returns them (JSON) by period.
pub async fn compute_shop(
    store: &Store,
    shop_id: i64,
    now: i64,
) -> anyhow::Result<Vec<(PeriodKey, String)>> {
    let mut conn = store.reader().acquire().await?;
    // Read before the aggregates: a change made while they run moves the
    // marks past these, and the next round computes again.
    let marks = snapshots::marks(&mut conn, shop_id).await?;
    let program = program::get_program(&mut conn, shop_id).await?;
    let longest = Window::ending_at(PeriodKey::LONGEST, now);
    let daily = snapshots::daily(&mut conn, shop_id, longest.from, now)
        .await
        .context("daily aggregates")?;
    let totals = snapshots::shop_totals(&mut conn, shop_id, now)
        .await
        .context("shop totals")?;
    let mut bodies = Vec::with_capacity(PeriodKey::ALL.len());
    for key in PeriodKey::ALL {
        let window = Window::ending_at(key, now);
        let customers = snapshots::customer_counts(
            &mut conn,
            shop_id,
            window.previous_from(),
            window.from,
            window.to,
        )
        .await
        .context("customer counts")?;
        let dashboard = metrics::build(&Inputs {
            window,
            daily: &daily,
            customers,
            totals: &totals,
            settings: &program.settings,
            currency: &program.currency,
        });
        bodies.push((key, serde_json::to_string(&dashboard)?));
    }
    drop(conn);
    let stored: Vec<(&str, String)> = bodies
        .iter()
        .map(|(key, body)| (key.as_str(), body.clone()))
        .collect();
    let mut tx = store.begin().await?;
    snapshots::save_snapshots(&mut tx, shop_id, now, marks, &stored).await?;
    tx.commit().await?;
    Ok(bodies)
}

/// The dashboard of `key` from its snapshot; computed first when the shop
/// has none yet.
pub async fn dashboard(store: &Store, shop_id: i64, key: PeriodKey) -> anyhow::Result<String> {
    let stored = {
        let mut conn = store.reader().acquire().await?;
        snapshots::find_snapshot(&mut conn, shop_id, key.as_str()).await?
    };
    if let Some(body) = stored {
        return Ok(body);
    }
    recompute(store, shop_id, key).await
}

/// Recomputes the shop's snapshots now and returns the dashboard of `key`.
pub async fn recompute(store: &Store, shop_id: i64, key: PeriodKey) -> anyhow::Result<String> {
    compute_shop(store, shop_id, now_ms())
        .await?
        .into_iter()
        .find(|(k, _)| *k == key)
        .map(|(_, body)| body)
        .context("every period is computed")
}

fn is_due(state: &snapshots::SnapshotState, current: snapshots::Marks, now: i64) -> bool {
    current.orders > state.marks.orders
        || current.ledger > state.marks.ledger
        || now - state.computed_at >= MAX_AGE.as_millis() as i64
}

/// Recomputes, as of `now`, the snapshots of every installed shop that has
/// them and whose orders or ledger changed since, or that are older than
/// [`MAX_AGE`]; one shop at a time, each under its lease. Returns how many
/// shops were recomputed.
pub async fn refresh_changed(store: &Store, owner: &str, now: i64) -> anyhow::Result<usize> {
    let states = snapshots::snapshot_states(&mut *store.reader().acquire().await?).await?;
    let mut refreshed = 0;
    for state in states {
        let current =
            snapshots::marks(&mut *store.reader().acquire().await?, state.shop_id).await?;
        if !is_due(&state, current, now) {
            continue;
        }
        let lease = format!("analytics:{}", state.shop_id);
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
        // It may have finished just before we took the lease.
        let fresh = snapshots::snapshot_state(&mut *store.reader().acquire().await?, state.shop_id)
            .await?
            .is_some_and(|s| !is_due(&s, current, now));
        let result = if fresh {
            Ok(false)
        } else {
            compute_shop(store, state.shop_id, now).await.map(|_| true)
        };
        schedule::finish(&mut *store.writer().acquire().await?, &lease, owner, now).await?;
        refreshed += usize::from(result?);
    }
    Ok(refreshed)
}
