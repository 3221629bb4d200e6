//! Behaviour segments applied: every buying customer's segment
//! ([`crate::loyalty::segments`]) from the shop's own orders, written back to
//! Shopify as a customer tag `{prefix}{slug}` and the metafield
//! `$app:advocate.segment`, with the segment-entered Flow trigger.
//!
//! - A shop is recomputed daily (and after its settings change) by the
//!   scheduled jobs, and on demand from the admin page. The thresholds are
//!   the merchant's, or the quintiles of the shop's customers; "overdue" is
//!   judged against the median of the repeat buyers' intervals. Both are
//!   stored ([`crate::store::segments::SegmentState`]) so that after an
//!   order one customer is re-scored with one lookup ([`on_order`]).
//! - Only changes are written: a computation that finds every customer
//!   where they were writes no segment, no tag, no trigger. Each change
//!   removes the old tag before adding the new one, sets the metafield,
//!   then fires the trigger, on the customer's ordering key (the win-back
//!   code's: [`winback::ordering_key`]), so a workflow sees the tag and the
//!   code. A re-sync's grouped effects have their own key
//!   ([`RESYNC_ORDERING`]); its triggers follow the customer's code, and
//!   while it is still queued later moves join a re-sync or wait.
//! - The shop's first computation is a baseline: customers are placed, and
//!   tagged, but nobody "entered" a segment, so no Flow trigger fires and
//!   no win-back offer is made. Later entries into at-risk open a win-back
//!   episode ([`super::winback::entered_at_risk`]) whose offer the trigger
//!   carries.
//! - Large re-syncs (the baseline, a changed tag prefix, more changes than
//!   the bulk threshold, or an earlier re-sync still queued) go as one
//!   [`Effect::TagMany`] per tag and batch, which the sender runs as a bulk
//!   operation above the threshold. A changed prefix re-tags everyone: the
//!   old prefix's tags are removed.
//! - A computation is written in batches of customers
//!   ([`CUSTOMERS_PER_BATCH`]), each in its own short transaction, so
//!   webhook intake and order processing go on meanwhile; the shop's state
//!   is saved by the last one, so until then orders re-score with the
//!   previous state (or, before the baseline, not at all). One stopped
//!   between batches is completed by the next computation
//!   ([`recompute_shop_in`]).
//! - Segments disabled: nothing is computed or written; tags already in
//!   Shopify stay as they were.

use std::{
    collections::{BTreeMap, HashMap},
    time::{Duration, Instant},
};

use serde::Serialize;
use serde_json::json;
use sqlx::AnyConnection;

use super::{
    enqueue,
    winback::{self, Offer},
    EngineError, DAY_MS,
};
use crate::{
    engine::effects::{Effect, FlowTrigger, Metafield},
    loyalty::{
        segments::{segment_of, History, Segment, Thresholds},
        settings::ProgramSettings,
        winback::{at_risk, median_interval, personal_interval, Purchases},
        CustomerId, EpochMs, ShopId,
    },
    store::{
        outbox,
        program::{self, Program},
        segments::{self, CustomerHistory, SegmentRun, SegmentState},
        Store,
    },
};

/// The segment metafield on the customer, in the app-reserved namespace
/// (as the tier's: only Advocate can write it, so no edit elsewhere makes a
/// customer "champions").
pub const SEGMENT_NAMESPACE: &str = "$app:advocate";
pub const SEGMENT_KEY: &str = "segment";
/// The metafield value of a customer without a segment.
pub const NO_SEGMENT: &str = "none";
/// The ordering key of a re-sync's grouped effects: removals, then
/// additions, then metafields. While any is queued, later changes are
/// grouped behind them too (a daily run) or wait for the next run (an
/// order), so a bulk operation still running never overtakes a later move.
pub const RESYNC_ORDERING: &str = "segments";

/// What a computation did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Recomputed {
    /// Customers with a segment now.
    pub customers: u64,
    /// Customers whose segment changed.
    pub changed: u64,
    /// The shop's first computation.
    pub baseline: bool,
    /// Everyone was re-tagged (the tag prefix changed).
    pub retagged: bool,
    /// Write transactions the computation took, and how long the longest
    /// held the database (answered in milliseconds).
    pub transactions: u32,
    #[serde(rename = "longest_transaction_ms", serialize_with = "millis")]
    pub longest_transaction: Duration,
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The segment of a customer with history `h` at `now`; None without a
/// counted order.
pub fn assign(
    h: &CustomerHistory,
    thresholds: &Thresholds,
    median_interval_ms: Option<i64>,
    grace_percent: u32,
    now: i64,
) -> Option<Segment> {
    if h.orders <= 0 {
        return None;
    }
    let history = History {
        days_since_last: (now - h.last_at).max(0) / DAY_MS,
        orders: h.orders,
        spend_minor: h.spend_minor,
    };
    let purchases = Purchases {
        first_at: h.first_at,
        last_at: h.last_at,
        orders: h.orders,
    };
    let overdue = at_risk(&purchases, median_interval_ms, grace_percent, now);
    Some(segment_of(thresholds.score(&history), h.orders, overdue))
}

/// The thresholds in use (the merchant's, else the shop's quintiles, else
/// None: nobody bought) and the median interval of the repeat buyers.
pub fn shop_measures(
    histories: &[CustomerHistory],
    settings: &ProgramSettings,
    now: i64,
) -> (Option<(Thresholds, bool)>, Option<i64>) {
    let buyers: Vec<&CustomerHistory> = histories.iter().filter(|h| h.orders > 0).collect();
    let median = median_interval(
        buyers
            .iter()
            .filter_map(|h| {
                personal_interval(&Purchases {
                    first_at: h.first_at,
                    last_at: h.last_at,
                    orders: h.orders,
                })
            })
            .collect(),
    );
    let thresholds = match &settings.segments.thresholds {
        Some(t) => Some((t.clone(), false)),
        None => {
            let scored: Vec<History> = buyers
                .iter()
                .map(|h| History {
                    days_since_last: (now - h.last_at).max(0) / DAY_MS,
                    orders: h.orders,
                    spend_minor: h.spend_minor,
                })
                .collect();
            Thresholds::from_history(&scored).map(|t| (t, true))
        }
    };
    (thresholds, median)
}

/// Customers per write transaction of a computation: each batch's facts
/// are read and its segments, history and effects written in one short
/// transaction (see [`recompute_shop`]).
pub const CUSTOMERS_PER_BATCH: usize = 1_000;

/// How a computation is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Batches {
    /// Customers per write transaction.
    pub customers: usize,
    /// Stop after this many batches, leaving the rest to the next
    /// computation, as a process stopped between two batches does (for
    /// tests). None: write them all.
    pub stop_after: Option<usize>,
}

impl Default for Batches {
    fn default() -> Self {
        Batches {
            customers: CUSTOMERS_PER_BATCH,
            stop_after: None,
        }
    }
}

/// Recomputes the shop's segments. None when segments are disabled.
pub async fn recompute_shop(
    store: &Store,
    shop_id: i64,
    now: i64,
) -> Result<Option<Recomputed>, EngineError> {
    recompute_shop_in(store, shop_id, now, Batches::default()).await
}

/// [`recompute_shop`], written in `batches`.
///
/// The plan is made on a read connection: reading every buyer's history
/// is the long part, and on SQLite a write transaction would hold webhook
/// intake up for all of it. A short transaction then checks that the
/// program and the stored state are still those the plan was made from
/// (else it plans again) and either saves the measures (nobody moves, no
/// re-tag) or records the computation ([`segments::SegmentRun`]: its run
/// number, time, thresholds and prefixes). The customers are then written
/// in batches of ids, each in its own transaction, which reads the batch's
/// histories and stored segments afresh: a customer whose segment another
/// writer changed since the plan (an order) keeps it; one whose orders
/// changed is placed by them. Each batch writes its moves, their history
/// rows and their effects; the last transaction saves the shop's state and
/// ends the computation. Order processing goes on between batches.
///
/// A computation a stopped process left unfinished is completed first, as
/// it began (its time, thresholds and run number), then the shop is
/// computed afresh. Two processes on one shop share the batches: each
/// takes the next one by the batch count it last saw.
pub async fn recompute_shop_in(
    store: &Store,
    shop_id: i64,
    now: i64,
    batches: Batches,
) -> Result<Option<Recomputed>, EngineError> {
    let mut earlier: Option<Recomputed> = None;
    let mut attempts = 0;
    loop {
        let unfinished = {
            let mut conn = store.reader().acquire().await?;
            segments::find_run(&mut conn, shop_id).await?
        };
        if let Some(run) = unfinished {
            let standing = to_write(store, shop_id, &run).await?;
            let (done, finished) = write_run(store, shop_id, run, &standing, batches).await?;
            if !finished {
                return Ok(Some(done));
            }
            earlier = Some(then(earlier, done));
            continue;
        }
        attempts += 1;
        let early = {
            let mut conn = store.reader().acquire().await?;
            let program = program::get_program(&mut conn, shop_id).await?;
            plan(&mut conn, shop_id, &program, now).await?
        };
        // Segments off: no write transaction at all.
        let Some(early) = early else {
            return Ok(None);
        };
        let started = Instant::now();
        let mut tx = store.begin().await?;
        let program = program::get_program(&mut tx, shop_id).await?;
        let current = early.program_version == program.version
            && early.state == segments::find_state(&mut tx, shop_id).await?;
        let plan = if current {
            early
        } else if attempts < 3 {
            // Changed meanwhile: plan again, outside the transaction.
            tx.rollback().await?;
            continue;
        } else {
            match plan(&mut tx, shop_id, &program, now).await? {
                Some(plan) => plan,
                None => {
                    tx.commit().await?;
                    return Ok(None);
                }
            }
        };
        if segments::find_run(&mut tx, shop_id).await?.is_some() {
            // Another process began one: complete it first.
            tx.rollback().await?;
            continue;
        }
        let baseline = plan.state.is_none();
        let retag = plan.old_prefix != plan.prefix;
        let run = SegmentRun {
            run: plan.state.as_ref().map_or(0, |s| s.run)
                + i64::from(!plan.changes.is_empty() || retag),
            started_at: now,
            settings_version: program.version,
            thresholds: plan.measures.as_ref().map(|(t, _)| t.clone()),
            derived: plan.measures.as_ref().is_some_and(|(_, d)| *d),
            median_interval_ms: plan.median,
            tag_prefix: plan.prefix.clone(),
            old_prefix: plan.old_prefix.clone(),
            baseline,
            grouped: baseline
                || retag
                || plan.changes.len() > super::effects::DEFAULT_BULK_THRESHOLD
                || (!plan.changes.is_empty()
                    && outbox::has_queued(&mut tx, shop_id, RESYNC_ORDERING).await?),
            placed_through: None,
            batches: 0,
            customers: 0,
            changed: 0,
        };
        if plan.changes.is_empty() && !retag {
            // Nobody moves: the measures only, as one write.
            save_measures(&mut tx, shop_id, &run, plan.state.as_ref()).await?;
            tx.commit().await?;
            let done = Recomputed {
                customers: plan
                    .standing
                    .iter()
                    .filter(|(_, _, to)| to.is_some())
                    .count() as u64,
                baseline,
                transactions: 1,
                longest_transaction: started.elapsed(),
                ..Recomputed::default()
            };
            return Ok(Some(then(earlier, done)));
        }
        segments::start_run(&mut tx, shop_id, &run).await?;
        tx.commit().await?;
        let start = started.elapsed();
        let customers = plan
            .standing
            .iter()
            .filter(|(_, _, to)| to.is_some())
            .count() as u64;
        // Those who move; everyone when the tags are re-written.
        let standing: Vec<(i64, Option<String>)> = if retag {
            plan.standing
                .into_iter()
                .map(|(customer, was, _)| (customer, was))
                .collect()
        } else {
            plan.changes
                .into_iter()
                .map(|c| (c.customer_id, c.from))
                .collect()
        };
        let (mut done, finished) = write_run(store, shop_id, run, &standing, batches).await?;
        if finished {
            // Those the batches did not move are where the plan found them.
            done.customers = customers;
        }
        done.transactions += 1;
        done.longest_transaction = done.longest_transaction.max(start);
        if finished {
            tracing::info!(
                shop_id,
                changed = done.changed,
                baseline = done.baseline,
                retag = done.retagged,
                transactions = done.transactions,
                longest_transaction_ms = done.longest_transaction.as_millis() as u64,
                "segments recomputed"
            );
        }
        return Ok(Some(then(earlier, done)));
    }
}

/// What `earlier` (an unfinished computation, completed) and then `later`
/// (the shop computed afresh) did together.
fn then(earlier: Option<Recomputed>, later: Recomputed) -> Recomputed {
    let Some(earlier) = earlier else {
        return later;
    };
    Recomputed {
        customers: later.customers,
        changed: earlier.changed + later.changed,
        baseline: earlier.baseline || later.baseline,
        retagged: earlier.retagged || later.retagged,
        transactions: earlier.transactions + later.transactions,
        longest_transaction: earlier.longest_transaction.max(later.longest_transaction),
    }
}

/// The customers an unfinished computation still has to write, with the
/// segment stored now, by id: those it places elsewhere (as of its time,
/// with its thresholds), or everyone when it re-writes the tags.
async fn to_write(
    store: &Store,
    shop_id: i64,
    run: &SegmentRun,
) -> Result<Vec<(i64, Option<String>)>, EngineError> {
    let mut conn = store.reader().acquire().await?;
    let program = program::get_program(&mut conn, shop_id).await?;
    let grace = program.settings.winback.grace_percent;
    let retag = run.old_prefix != run.tag_prefix;
    Ok(segments::histories(&mut conn, shop_id)
        .await?
        .into_iter()
        .filter(|h| {
            let to = run
                .thresholds
                .as_ref()
                .and_then(|t| assign(h, t, run.median_interval_ms, grace, run.started_at));
            retag || h.segment.as_deref() != to.map(Segment::slug)
        })
        .map(|h| (h.customer_id, h.segment))
        .collect())
}

/// Writes the batches of `run` not yet written, over `standing` (customer,
/// segment when planned), then ends it with the shop's state. Answers what
/// it did (the customers moved by the batches written here) and whether
/// the computation is complete (false: stopped by `batches.stop_after`).
async fn write_run(
    store: &Store,
    shop_id: i64,
    mut run: SegmentRun,
    standing: &[(i64, Option<String>)],
    batches: Batches,
) -> Result<(Recomputed, bool), EngineError> {
    let mut report = Recomputed {
        baseline: run.baseline,
        retagged: run.old_prefix != run.tag_prefix,
        ..Recomputed::default()
    };
    let mut written = 0;
    loop {
        let from = run
            .placed_through
            .map_or(0, |last| standing.partition_point(|(id, _)| *id <= last));
        let finishing = from >= standing.len();
        if !finishing && batches.stop_after.is_some_and(|n| written >= n) {
            report.customers = run.customers as u64;
            return Ok((report, false));
        }
        let started = Instant::now();
        let mut tx = store.begin().await?;
        let ours = if finishing {
            segments::finish_run(&mut tx, shop_id, run.run, run.batches).await?
        } else {
            segments::claim_batch(&mut tx, shop_id, run.run, run.batches).await?
        };
        if !ours {
            // Another process wrote the batch (or ended the run): follow it.
            tx.rollback().await?;
            let now = segments::find_run(&mut *store.reader().acquire().await?, shop_id).await?;
            match now {
                Some(later) if later.run == run.run => {
                    run = later;
                    continue;
                }
                _ => {
                    report.customers = run.customers as u64;
                    return Ok((report, true));
                }
            }
        }
        if finishing {
            let state = segments::find_state(&mut tx, shop_id).await?;
            save_measures(&mut tx, shop_id, &run, state.as_ref()).await?;
        } else {
            let batch = &standing[from..(from + batches.customers.max(1)).min(standing.len())];
            let (customers, changed) = write_batch(&mut tx, shop_id, &run, batch).await?;
            let last = batch[batch.len() - 1].0;
            segments::batch_written(&mut tx, shop_id, last, customers, changed).await?;
            run.placed_through = Some(last);
            run.batches += 1;
            run.customers += customers;
            run.changed += changed;
            report.changed += changed as u64;
            written += 1;
        }
        tx.commit().await?;
        report.transactions += 1;
        report.longest_transaction = report.longest_transaction.max(started.elapsed());
        if finishing {
            report.customers = run.customers as u64;
            return Ok((report, true));
        }
    }
}

/// Writes one batch of a computation in the caller's transaction: reads
/// the batch's histories and stored segments, moves those whose segment
/// changes, and enqueues their effects. Answers (customers with a
/// segment, customers moved).
async fn write_batch(
    conn: &mut AnyConnection,
    shop_id: i64,
    run: &SegmentRun,
    batch: &[(i64, Option<String>)],
) -> Result<(i64, i64), EngineError> {
    if batch.is_empty() {
        return Ok((0, 0));
    }
    let program = program::get_program(&mut *conn, shop_id).await?;
    let ids: Vec<i64> = batch.iter().map(|(customer, _)| *customer).collect();
    let fresh: HashMap<i64, CustomerHistory> = segments::histories_of(&mut *conn, shop_id, &ids)
        .await?
        .into_iter()
        .map(|h| (h.customer_id, h))
        .collect();
    let grace = program.settings.winback.grace_percent;
    let mut customers = 0;
    let mut standing = Vec::with_capacity(batch.len());
    let mut changes = Vec::new();
    for (customer, was) in batch {
        // Redacted or deleted since, or nothing left to place.
        let Some(h) = fresh.get(customer) else {
            continue;
        };
        if h.segment != *was {
            // Another writer (an order) moved them since the plan: theirs
            // stands, as it would in one transaction.
            customers += i64::from(h.segment.is_some());
            continue;
        }
        let to = run
            .thresholds
            .as_ref()
            .and_then(|t| assign(h, t, run.median_interval_ms, grace, run.started_at));
        customers += i64::from(to.is_some());
        if h.segment.as_deref() != to.map(Segment::slug) {
            changes.push(Change {
                customer_id: h.customer_id,
                from: h.segment.clone(),
                to,
            });
        }
        standing.push((h.customer_id, h.segment.clone(), to));
    }
    if !run.grouped {
        let mut changed = 0;
        for change in &changes {
            if apply_one(
                conn,
                shop_id,
                &program.settings,
                &run.old_prefix,
                change,
                run.started_at,
            )
            .await?
            {
                changed += 1;
            }
        }
        return Ok((customers, changed));
    }
    // The first batch's effects are keyed as a computation in one
    // transaction keyed them; the later ones add their batch number.
    let key = match run.batches {
        0 => format!("segments:r{}", run.run),
        n => format!("segments:r{}.{n}", run.run),
    };
    let w = Writing {
        shop_id,
        program: &program,
        prefix: &run.tag_prefix,
        old_prefix: &run.old_prefix,
        key,
        baseline: run.baseline,
        retag: run.old_prefix != run.tag_prefix,
        now: run.started_at,
    };
    let changed = resync(conn, &w, &standing, changes).await?;
    Ok((customers, changed as i64))
}

/// A customer's move, as planned.
struct Change {
    customer_id: i64,
    from: Option<String>,
    to: Option<Segment>,
}

/// Where every customer of the shop should be, and who moves.
struct Plan {
    /// What it was made from.
    program_version: i64,
    state: Option<SegmentState>,
    prefix: String,
    old_prefix: String,
    measures: Option<(Thresholds, bool)>,
    median: Option<i64>,
    /// Every customer: (id, segment stored, segment now; None: none).
    standing: Vec<(i64, Option<String>, Option<Segment>)>,
    changes: Vec<Change>,
}

/// Reads the shop's state and histories and places every customer. None
/// when segments are disabled.
async fn plan(
    conn: &mut AnyConnection,
    shop_id: i64,
    program: &Program,
    now: i64,
) -> Result<Option<Plan>, EngineError> {
    let settings = &program.settings;
    if !settings.segments.enabled {
        return Ok(None);
    }
    let prefix = settings.segments.tag_prefix.trim().to_owned();
    let state = segments::find_state(conn, shop_id).await?;
    let histories = segments::histories(conn, shop_id).await?;
    let (measures, median) = shop_measures(&histories, settings, now);
    let old_prefix = state
        .as_ref()
        .map_or_else(|| prefix.clone(), |s| s.tag_prefix.clone());
    let grace = settings.winback.grace_percent;
    let mut standing = Vec::with_capacity(histories.len());
    let mut changes = Vec::new();
    for h in histories {
        let to = measures
            .as_ref()
            .and_then(|(t, _)| assign(&h, t, median, grace, now));
        if h.segment.as_deref() != to.map(Segment::slug) {
            changes.push(Change {
                customer_id: h.customer_id,
                from: h.segment.clone(),
                to,
            });
        }
        standing.push((h.customer_id, h.segment, to));
    }
    Ok(Some(Plan {
        program_version: program.version,
        state,
        prefix,
        old_prefix,
        measures,
        median,
        standing,
        changes,
    }))
}

/// What every step of writing one batch reads.
struct Writing<'a> {
    shop_id: i64,
    program: &'a Program,
    prefix: &'a str,
    /// The prefix of the tags in Shopify now.
    old_prefix: &'a str,
    /// What keys the batch's grouped effects (`segments:r{run}`, with the
    /// batch number after the first).
    key: String,
    /// The shop's first computation.
    baseline: bool,
    /// The tag prefix changed: everyone is re-tagged.
    retag: bool,
    now: i64,
}

/// Saves the shop's thresholds and median as `run` computed them; without
/// thresholds (nobody has a counted order any more) the last ones are
/// kept.
async fn save_measures(
    conn: &mut AnyConnection,
    shop_id: i64,
    run: &SegmentRun,
    state: Option<&SegmentState>,
) -> Result<(), EngineError> {
    let thresholds = match (&run.thresholds, state) {
        (Some(thresholds), _) => (thresholds.clone(), run.derived),
        // Nobody has a counted order any more: keep the last thresholds.
        (None, Some(state)) => (state.thresholds.clone(), state.derived),
        (None, None) => return Ok(()),
    };
    segments::save_state(
        conn,
        shop_id,
        &SegmentState {
            thresholds: thresholds.0,
            derived: thresholds.1,
            median_interval_ms: run.median_interval_ms,
            tag_prefix: run.tag_prefix.clone(),
            settings_version: run.settings_version,
            run: run.run,
            computed_at: run.started_at,
        },
    )
    .await?;
    Ok(())
}

/// A re-sync: the segments first, then the effects grouped by tag, the
/// metafields, and (but for the baseline) the entered triggers. Answers how
/// many customers moved.
async fn resync(
    conn: &mut AnyConnection,
    w: &Writing<'_>,
    standing: &[(i64, Option<String>, Option<Segment>)],
    changes: Vec<Change>,
) -> Result<u64, EngineError> {
    let moves: Vec<segments::SegmentMove> = changes
        .iter()
        .map(|c| segments::SegmentMove {
            customer_id: c.customer_id,
            from: c.from.as_deref(),
            to: c.to.map(Segment::slug),
        })
        .collect();
    let ids: HashMap<i64, i64> =
        segments::change_segments(conn, w.shop_id, &moves, w.baseline, w.now)
            .await?
            .into_iter()
            .collect();
    let applied: Vec<(i64, Change)> = changes
        .into_iter()
        .filter_map(|c| ids.get(&c.customer_id).map(|id| (*id, c)))
        .collect();
    // A changed prefix re-tags everyone; otherwise only those who moved.
    let groups = if w.retag {
        tag_groups(
            standing
                .iter()
                .map(|(customer, was, to)| (*customer, was.as_deref(), *to)),
            w.old_prefix,
            w.prefix,
        )
    } else {
        tag_groups(
            applied
                .iter()
                .map(|(_, c)| (c.customer_id, c.from.as_deref(), c.to)),
            w.old_prefix,
            w.prefix,
        )
    };
    enqueue_tag_groups(conn, w, groups).await?;
    let metafields: Vec<Metafield> = applied
        .iter()
        .map(|(_, c)| segment_metafield(c.customer_id, c.to))
        .collect();
    // One effect: the sender writes it 25 per call, or as one bulk
    // operation above the bulk threshold.
    if !metafields.is_empty() {
        enqueue(
            conn,
            w.shop_id,
            &Effect::SetMetafields { metafields },
            &format!("{}:metafields", w.key),
            Some(RESYNC_ORDERING),
        )
        .await?;
    }
    if !w.baseline {
        enqueue_entered(conn, w, &applied).await?;
    }
    Ok(applied.len() as u64)
}

/// One [`Effect::TagMany`] per tag: the removals, then the additions.
async fn enqueue_tag_groups(
    conn: &mut AnyConnection,
    w: &Writing<'_>,
    groups: [BTreeMap<String, Vec<String>>; 2],
) -> Result<(), EngineError> {
    for (remove, groups) in [true, false].into_iter().zip(groups) {
        for (tag, customer_gids) in groups {
            let effect = Effect::TagMany {
                customer_gids,
                tags: vec![tag.clone()],
                remove,
            };
            let verb = if remove { "remove" } else { "add" };
            enqueue(
                conn,
                w.shop_id,
                &effect,
                &format!("{}:{verb}:{tag}", w.key),
                Some(RESYNC_ORDERING),
            )
            .await?;
        }
    }
    Ok(())
}

/// The segment-entered trigger of each re-synced customer who entered a
/// segment (with the win-back offer entering at-risk makes); `applied` are
/// (segment change id, change).
async fn enqueue_entered(
    conn: &mut AnyConnection,
    w: &Writing<'_>,
    applied: &[(i64, Change)],
) -> Result<(), EngineError> {
    let settings = &w.program.settings;
    for (id, change) in applied {
        let Some(to) = change.to else { continue };
        let offer =
            offer_on_entry(conn, w.shop_id, settings, change.customer_id, to, w.now).await?;
        let trigger = entered_trigger(change.customer_id, to, change.from.as_deref(), &offer);
        // After the customer's win-back code, on their key.
        enqueue(
            conn,
            w.shop_id,
            &trigger,
            &format!("segment-change:{id}:flow"),
            Some(&winback::ordering_key(change.customer_id)),
        )
        .await?;
    }
    Ok(())
}

/// The tags a re-sync removes and adds, each with its customers' ids:
/// `[removals, additions]`. `moves` are (customer, segment slug before,
/// segment after); the old tags carry `old_prefix`, the new ones `prefix`.
fn tag_groups<'a>(
    moves: impl Iterator<Item = (i64, Option<&'a str>, Option<Segment>)>,
    old_prefix: &str,
    prefix: &str,
) -> [BTreeMap<String, Vec<String>>; 2] {
    let mut removals: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut additions: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (customer, was, to) in moves {
        if let Some(was) = was {
            removals
                .entry(format!("{old_prefix}{was}"))
                .or_default()
                .push(CustomerId(customer).gid());
        }
        if let Some(to) = to {
            additions
                .entry(format!("{prefix}{}", to.slug()))
                .or_default()
                .push(CustomerId(customer).gid());
        }
    }
    [removals, additions]
}

/// Re-scores one customer after an order (or refund) of theirs, with the
/// shop's stored thresholds and median. Does nothing before the shop's
/// first computation (the daily run makes the baseline), while a changed
/// tag prefix waits for its re-tag, or while a re-sync is still being sent
/// (the next run catches up).
pub async fn on_order(
    conn: &mut AnyConnection,
    shop_id: i64,
    program: &Program,
    customer_id: i64,
    now: i64,
) -> Result<bool, EngineError> {
    Ok(on_orders(conn, shop_id, program, &[customer_id], now).await? > 0)
}

/// [`on_order`] for the customers of a batch of orders, each once, on
/// their facts as the batch left them: the shop's state is read once and
/// the customers' histories in one query. Returns how many moved.
pub async fn on_orders(
    conn: &mut AnyConnection,
    shop_id: i64,
    program: &Program,
    customer_ids: &[i64],
    now: i64,
) -> Result<usize, EngineError> {
    let settings = &program.settings;
    if !settings.segments.enabled || customer_ids.is_empty() {
        return Ok(0);
    }
    let Some(state) = segments::find_state(conn, shop_id).await? else {
        return Ok(0);
    };
    let prefix = settings.segments.tag_prefix.trim();
    if state.tag_prefix != prefix || outbox::has_queued(conn, shop_id, RESYNC_ORDERING).await? {
        return Ok(0);
    }
    let thresholds = settings
        .segments
        .thresholds
        .as_ref()
        .unwrap_or(&state.thresholds);
    let mut moved = 0;
    for h in segments::history_of_many(conn, shop_id, customer_ids).await? {
        let to = assign(
            &h,
            thresholds,
            state.median_interval_ms,
            settings.winback.grace_percent,
            now,
        );
        if h.segment.as_deref() == to.map(Segment::slug) {
            continue;
        }
        let change = Change {
            customer_id: h.customer_id,
            from: h.segment,
            to,
        };
        if apply_one(conn, shop_id, settings, prefix, &change, now).await? {
            moved += 1;
        }
    }
    Ok(moved)
}

/// Writes one customer's change with its own effects: the old tag off, the
/// new one on, the metafield, then the trigger. False when another writer
/// moved the customer first.
async fn apply_one(
    conn: &mut AnyConnection,
    shop_id: i64,
    settings: &ProgramSettings,
    prefix: &str,
    change: &Change,
    now: i64,
) -> Result<bool, EngineError> {
    let customer = change.customer_id;
    let Some(id) = segments::change_segment(
        conn,
        shop_id,
        customer,
        change.from.as_deref(),
        change.to.map(Segment::slug),
        false,
        now,
    )
    .await?
    else {
        return Ok(false);
    };
    let gid = CustomerId(customer).gid();
    let ordering = winback::ordering_key(customer);
    let key = |what: &str| format!("segment-change:{id}:{what}");
    if let Some(was) = &change.from {
        let effect = Effect::RemoveTags {
            customer_gid: gid.clone(),
            tags: vec![format!("{prefix}{was}")],
        };
        enqueue(conn, shop_id, &effect, &key("untag"), Some(&ordering)).await?;
    }
    if let Some(to) = change.to {
        let effect = Effect::AddTags {
            customer_gid: gid.clone(),
            tags: vec![format!("{prefix}{}", to.slug())],
        };
        enqueue(conn, shop_id, &effect, &key("tag"), Some(&ordering)).await?;
    }
    let effect = Effect::SetMetafields {
        metafields: vec![segment_metafield(customer, change.to)],
    };
    enqueue(conn, shop_id, &effect, &key("metafield"), Some(&ordering)).await?;
    if let Some(to) = change.to {
        let offer = offer_on_entry(conn, shop_id, settings, customer, to, now).await?;
        let trigger = entered_trigger(customer, to, change.from.as_deref(), &offer);
        enqueue(conn, shop_id, &trigger, &key("flow"), Some(&ordering)).await?;
    }
    Ok(true)
}

/// The win-back offer of a customer entering `to` (only at-risk has one).
async fn offer_on_entry(
    conn: &mut AnyConnection,
    shop_id: i64,
    settings: &ProgramSettings,
    customer_id: i64,
    to: Segment,
    now: i64,
) -> Result<Offer, EngineError> {
    if to == Segment::AtRisk {
        winback::entered_at_risk(
            conn,
            ShopId(shop_id),
            settings,
            CustomerId(customer_id),
            EpochMs(now),
        )
        .await
    } else {
        Ok(Offer::None)
    }
}

fn segment_metafield(customer_id: i64, to: Option<Segment>) -> Metafield {
    Metafield {
        owner_id: CustomerId(customer_id).gid(),
        namespace: SEGMENT_NAMESPACE.into(),
        key: SEGMENT_KEY.into(),
        kind: "single_line_text_field".into(),
        value: to.map_or(NO_SEGMENT, Segment::slug).into(),
    }
}

/// The segment-entered trigger, with the offer's fields.
fn entered_trigger(customer_id: i64, to: Segment, from: Option<&str>, offer: &Offer) -> Effect {
    let mut fields = serde_json::Map::from_iter([
        ("Segment".to_owned(), json!(to.slug())),
        ("Segment name".to_owned(), json!(to.label())),
        ("Previous segment".to_owned(), json!(from.unwrap_or(""))),
    ]);
    fields.extend(offer.flow_fields());
    FlowTrigger::SegmentEntered.effect(customer_id, fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_000 * DAY_MS;

    /// `orders` orders, the first `first` days ago and the last `last`
    /// days ago, `spend` in total.
    fn h(id: i64, orders: i64, first: i64, last: i64, spend: i64) -> CustomerHistory {
        CustomerHistory {
            customer_id: id,
            orders,
            first_at: NOW - first * DAY_MS,
            last_at: NOW - last * DAY_MS,
            spend_minor: spend,
            segment: None,
        }
    }

    #[test]
    fn measures_come_from_the_buyers_or_the_merchant() {
        let shop = [
            h(1, 8, 140, 0, 80_000),
            h(2, 5, 100, 20, 40_000),
            h(3, 3, 120, 60, 20_000),
            h(4, 2, 160, 120, 9_000),
            h(5, 1, 300, 300, 3_000),
            // Lost every order: not a buyer.
            h(6, 0, 0, 0, 0),
        ];
        let settings = ProgramSettings::default();
        let (measures, median) = shop_measures(&shop, &settings, NOW);
        let (t, derived) = measures.unwrap();
        assert!(derived);
        assert_eq!(t.recency_days, [0, 20, 60, 120]);
        assert_eq!(t.frequency, [1, 2, 3, 5]);
        // Intervals: 20, 20, 30, 40 days: the lower median.
        assert_eq!(median, Some(20 * DAY_MS));
        let mut custom = settings.clone();
        let own = Thresholds {
            recency_days: [7, 30, 90, 180],
            frequency: [1, 2, 4, 8],
            monetary_minor: [1, 2, 3, 4],
        };
        custom.segments.thresholds = Some(own.clone());
        assert_eq!(shop_measures(&shop, &custom, NOW).0, Some((own, false)));
        assert_eq!(shop_measures(&[], &settings, NOW), (None, None));
    }

    #[test]
    fn customers_land_in_their_segment() {
        let t = Thresholds {
            recency_days: [7, 30, 90, 180],
            frequency: [1, 2, 4, 8],
            monetary_minor: [1, 2, 3, 4],
        };
        let seg = |c: &CustomerHistory| assign(c, &t, Some(30 * DAY_MS), 150, NOW);
        assert_eq!(seg(&h(1, 1, 3, 3, 10)), Some(Segment::New));
        assert_eq!(seg(&h(1, 9, 80, 2, 10)), Some(Segment::Champions));
        // Every 10 days, silent for 20: overdue by their own rhythm.
        assert_eq!(seg(&h(1, 9, 100, 20, 10)), Some(Segment::AtRisk));
        // One order 200 days ago.
        assert_eq!(seg(&h(1, 1, 200, 200, 10)), Some(Segment::Lost));
        assert_eq!(seg(&h(1, 0, 0, 0, 0)), None);
    }

    #[test]
    fn a_resync_groups_customers_by_tag() {
        let moves = [
            (1, Some("new"), Some(Segment::Loyal)),
            (2, Some("new"), Some(Segment::Loyal)),
            (3, None, Some(Segment::New)),
            (4, Some("lost"), None),
        ];
        let [removals, additions] = tag_groups(moves.into_iter(), "old:", "new:");
        let gids = |ids: &[i64]| ids.iter().map(|c| CustomerId(*c).gid()).collect::<Vec<_>>();
        assert_eq!(
            removals.into_iter().collect::<Vec<_>>(),
            [
                ("old:lost".to_owned(), gids(&[4])),
                ("old:new".to_owned(), gids(&[1, 2])),
            ]
        );
        assert_eq!(
            additions.into_iter().collect::<Vec<_>>(),
            [
                ("new:loyal".to_owned(), gids(&[1, 2])),
                ("new:new".to_owned(), gids(&[3])),
            ]
        );
    }

    #[test]
    fn the_trigger_carries_the_offer() {
        let fields = |offer: Offer| match entered_trigger(7, Segment::AtRisk, Some("loyal"), &offer)
        {
            Effect::FlowTrigger { payload, .. } => payload,
            other => panic!("{other:?}"),
        };
        let p = fields(Offer::DiscountCode {
            code: "WB-1".into(),
            expires_at: 0,
        });
        assert_eq!(p["Offer"], "discount_code");
        assert_eq!(p["Discount code"], "WB-1");
        assert_eq!(p["Expires at"], "1970-01-01T00:00:00Z");
        assert_eq!(p["Segment"], "at-risk");
        assert_eq!(p["Previous segment"], "loyal");
        assert_eq!(p["customer_id"], 7);
        let p = fields(Offer::Points { points: 250 });
        assert_eq!(
            (p["Offer"].as_str(), p["Offer points"].as_i64()),
            (Some("points"), Some(250))
        );
        assert_eq!(fields(Offer::Holdout)["Offer"], "holdout");
        assert_eq!(fields(Offer::None)["Expires at"], "");
    }
}
