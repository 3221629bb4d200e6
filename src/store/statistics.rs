//! PostgreSQL: planner statistics for tables that grew faster than
//! autovacuum looks at them.
//!
//! Every statement is planned for its parameters ([`super::Store::connect`]),
//! and a plan is only as good as the statistics it is made from. A table
//! never analysed has none: the planner then guesses that `shop_id = $1`
//! picks a few rows, and looks a batch's orders up by reading every order
//! of the shop and filtering them (`order_id IN (...)` as a filter, not an
//! index condition). Measured on a table of 65,000 orders: 12 ms for 143
//! order ids, against 0.14 ms once analysed, which makes the same query an
//! index scan. Autovacuum analyses a table once it has changed by a tenth,
//! but looks at each database only once a minute (`autovacuum_naptime`),
//! and not at all where it is turned off: a new install, a history import
//! or the first minutes of a sale run that long on guesses.
//!
//! So a task looks at Advocate's tables every [`LOOK_EVERY`] and analyses
//! any that [`needs_analysis`] says has outgrown its statistics. Analysing
//! samples a fixed number of rows (30,000 by default), whatever the table's
//! size. Several processes on one database may decide at once; the second
//! to ask gives up after [`LOCK_TIMEOUT_MS`] instead of waiting its turn.

use std::time::Duration;

use sqlx::AnyPool;

/// How often the tables' counts are looked at.
pub(crate) const LOOK_EVERY: Duration = Duration::from_secs(10);

/// Fewer rows than this are cheap to read whatever the plan.
const MIN_ROWS: i64 = 1_000;

/// A table analysed this recently (seconds) is left to autovacuum.
const MIN_INTERVAL_SECS: f64 = 60.0;

/// Longest an analysis waits for another process analysing the same table.
const LOCK_TIMEOUT_MS: i64 = 100;

/// A table's counts, as `pg_stat_user_tables` has them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Counts {
    /// Live rows.
    pub rows: i64,
    /// Rows inserted, updated or deleted since the table was last analysed.
    pub changed: i64,
    /// Seconds since it was last analysed (by anyone); `None` if never.
    pub analysed_ago: Option<f64>,
}

/// True when a table has rows enough to matter and no statistics, or has
/// changed by as many rows as it holds since it was last analysed (its
/// statistics describe a table half its size, or one since replaced) and
/// was not analysed in the last minute.
pub(crate) fn needs_analysis(counts: Counts) -> bool {
    if counts.rows < MIN_ROWS {
        return false;
    }
    match counts.analysed_ago {
        None => true,
        Some(ago) => counts.changed >= counts.rows && ago >= MIN_INTERVAL_SECS,
    }
}

/// The current schema's tables and their counts.
const COUNTS: &str = "SELECT CAST(relname AS TEXT), n_live_tup, n_mod_since_analyze, \
     CAST(EXTRACT(EPOCH FROM now() - GREATEST(last_analyze, last_autoanalyze)) AS DOUBLE PRECISION) \
     FROM pg_stat_user_tables WHERE schemaname = current_schema() ORDER BY relname";

/// Looks at every table once and analyses those that need it; answers the
/// tables analysed.
pub async fn analyse_outgrown(pool: &AnyPool) -> Result<Vec<String>, sqlx::Error> {
    let tables: Vec<(String, i64, i64, Option<f64>)> =
        sqlx::query_as(COUNTS).fetch_all(pool).await?;
    let mut analysed = Vec::new();
    for (table, rows, changed, analysed_ago) in tables {
        let counts = Counts {
            rows,
            changed,
            analysed_ago,
        };
        if !needs_analysis(counts) {
            continue;
        }
        // The name comes from the catalogue; quoted all the same.
        let quoted = format!("\"{}\"", table.replace('"', "\"\""));
        let mut tx = pool.begin().await?;
        sqlx::query(&format!("SET LOCAL lock_timeout = {LOCK_TIMEOUT_MS}"))
            .execute(&mut *tx)
            .await?;
        match sqlx::query(&format!("ANALYZE {quoted}"))
            .execute(&mut *tx)
            .await
        {
            Ok(_) => {
                tx.commit().await?;
                tracing::info!(table = %table, rows, changed, "analysed a table that outgrew its planner statistics");
                analysed.push(table);
            }
            // Another process is analysing it (lock timeout): its
            // statistics will do.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("55P03") => {}
            Err(e) => return Err(e),
        }
    }
    Ok(analysed)
}

/// The task: [`analyse_outgrown`] every [`LOOK_EVERY`], until aborted.
pub(crate) async fn keep_statistics(pool: AnyPool) {
    let mut tick = tokio::time::interval(LOOK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = analyse_outgrown(&pool).await {
            tracing::warn!(error = %e, "looking at the tables' statistics failed; trying again later");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{needs_analysis, Counts};

    fn counts(rows: i64, changed: i64, analysed_ago: Option<f64>) -> Counts {
        Counts {
            rows,
            changed,
            analysed_ago,
        }
    }

    #[test]
    fn a_table_is_analysed_when_it_has_no_statistics_or_has_outgrown_them() {
        // Small tables never.
        assert!(!needs_analysis(counts(999, 999, None)));
        // Never analysed, with rows enough.
        assert!(needs_analysis(counts(1_000, 1_000, None)));
        // Changed by as many rows as it holds, not analysed in a minute.
        assert!(needs_analysis(counts(10_000, 10_000, Some(60.0))));
        assert!(!needs_analysis(counts(10_000, 9_999, Some(600.0))));
        // Analysed less than a minute ago: left alone.
        assert!(!needs_analysis(counts(10_000, 50_000, Some(59.0))));
    }
}
