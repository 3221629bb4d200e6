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
//!   [`Effect::TagMany`] per tag, which the sender runs as a bulk operation
//!   above the threshold. A changed prefix re-tags everyone: the old
//!   prefix's tags are removed.
//! - Segments disabled: nothing is computed or written; tags already in
//!   Shopify stay as they were.

use std::collections::{BTreeMap, HashMap};

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
        segments::{self, CustomerHistory, SegmentState},
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

/// Recomputes the shop's segments. None when segments are disabled.
///
/// The plan is made on a read connection: reading every buyer's history
/// is the long part, and on SQLite a write transaction would hold webhook
/// intake up for all of it. The writes go in one transaction, which first
/// checks that the program and the stored state are still those the plan
/// was made from (else it plans again, inside). A customer an order moved
/// in between keeps the order's segment: each move names the segment it
/// replaces.
pub async fn recompute_shop(
    store: &Store,
    shop_id: i64,
    now: i64,
) -> Result<Option<Recomputed>, EngineError> {
    let early = {
        let mut conn = store.reader().acquire().await?;
        let program = program::get_program(&mut conn, shop_id).await?;
        plan(&mut conn, shop_id, &program, now).await?
    };
    // Segments off: no write transaction at all.
    let Some(early) = early else {
        return Ok(None);
    };
    let mut tx = store.begin().await?;
    let program = program::get_program(&mut tx, shop_id).await?;
    let plan = if early.program_version == program.version
        && early.state == segments::find_state(&mut tx, shop_id).await?
    {
        Some(early)
    } else {
        plan(&mut tx, shop_id, &program, now).await?
    };
    let done = match plan {
        Some(plan) => Some(apply(&mut tx, shop_id, &program, plan, now).await?),
        None => None,
    };
    tx.commit().await?;
    Ok(done)
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

/// Writes a plan in the caller's transaction.
async fn apply(
    conn: &mut AnyConnection,
    shop_id: i64,
    program: &Program,
    plan: Plan,
    now: i64,
) -> Result<Recomputed, EngineError> {
    let Plan {
        state,
        prefix,
        old_prefix,
        measures,
        median,
        standing,
        changes,
        ..
    } = plan;
    let baseline = state.is_none();
    let retag = old_prefix != prefix;
    let mut report = Recomputed {
        customers: standing.iter().filter(|(_, _, to)| to.is_some()).count() as u64,
        baseline,
        retagged: retag,
        ..Recomputed::default()
    };
    let w = Writing {
        shop_id,
        program,
        prefix: &prefix,
        old_prefix: &old_prefix,
        run: state.as_ref().map_or(0, |s| s.run) + i64::from(!changes.is_empty() || retag),
        baseline,
        retag,
        now,
    };
    save_measures(conn, &w, state.as_ref(), measures.as_ref(), median).await?;
    let grouped = baseline
        || retag
        || changes.len() > super::effects::DEFAULT_BULK_THRESHOLD
        || (!changes.is_empty() && outbox::has_queued(conn, shop_id, RESYNC_ORDERING).await?);
    if !grouped {
        for change in &changes {
            if apply_one(conn, shop_id, &program.settings, &old_prefix, change, now).await? {
                report.changed += 1;
            }
        }
        return Ok(report);
    }
    report.changed = resync(conn, &w, &standing, changes).await?;
    tracing::info!(
        shop_id,
        changed = report.changed,
        baseline,
        retag,
        "segments re-synced"
    );
    Ok(report)
}

/// What every step of writing one plan reads.
struct Writing<'a> {
    shop_id: i64,
    program: &'a Program,
    prefix: &'a str,
    /// The prefix of the tags in Shopify now.
    old_prefix: &'a str,
    /// This computation's run number: it keys the re-sync's effects.
    run: i64,
    /// The shop's first computation.
    baseline: bool,
    /// The tag prefix changed: everyone is re-tagged.
    retag: bool,
    now: i64,
}

/// Saves the shop's thresholds and median; without thresholds (nobody has
/// a counted order any more) the last ones are kept.
async fn save_measures(
    conn: &mut AnyConnection,
    w: &Writing<'_>,
    state: Option<&SegmentState>,
    measures: Option<&(Thresholds, bool)>,
    median: Option<i64>,
) -> Result<(), EngineError> {
    if let Some((thresholds, derived)) = measures {
        segments::save_state(
            conn,
            w.shop_id,
            &SegmentState {
                thresholds: thresholds.clone(),
                derived: *derived,
                median_interval_ms: median,
                tag_prefix: w.prefix.to_owned(),
                settings_version: w.program.version,
                run: w.run,
                computed_at: w.now,
            },
        )
        .await?;
    } else if let Some(state) = state {
        // Nobody has a counted order any more: keep the last thresholds.
        segments::save_state(
            conn,
            w.shop_id,
            &SegmentState {
                median_interval_ms: median,
                tag_prefix: w.prefix.to_owned(),
                settings_version: w.program.version,
                run: w.run,
                computed_at: w.now,
                ..state.clone()
            },
        )
        .await?;
    }
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
            &format!("segments:r{}:metafields", w.run),
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
                &format!("segments:r{}:{verb}:{tag}", w.run),
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
