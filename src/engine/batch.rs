//! Order events in batches. The events of one shop are applied together:
//! what they need is read in a few set-based queries (the orders and their
//! refunds, the customers' tiers and standing, redactions, the order
//! products), the pure rules run in memory in delivery order, and the
//! outcome is written with multi-row statements: the refunds, the orders,
//! the ledger with the balances, the order products and pair counts, then
//! the tier moves with their effects (a first order often moves its
//! customer into a tier) and the segment changes.
//!
//! The outcome is the one [`super::orders::apply`] gives event by event:
//! each event settles its order and moves its points under the order's next
//! version, the multiplier is the tier the customer holds at that event,
//! and a tier move happens at the event that crosses the threshold. Orders
//! whose follow-ups need more than that (a referral, a survey answer, a
//! win-back episode, a guest order being attached) are handed back, with
//! every other order of their customers, to be applied one by one.
//! Segments are re-scored once per customer, on the facts the batch left.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use sqlx::AnyConnection;

use super::{
    effects::{store_credit_ordering, Effect},
    orders::{self as one, Applied, MovementEntry, OrderEvent, PointsMove},
    segments,
    tiers::{self, TierChange, TierWrites},
    EngineError,
};
use crate::{
    loyalty::{
        earning::OrderState,
        offers::{self, OrderProduct},
        settings::TierBasis,
        CustomerId, EpochMs, ShopId,
    },
    store::{
        customers::{self, CustomerTier},
        ledger, nps,
        offers::{self as products, ProductsWrite},
        orders::{self, NewRefund, OrderRow},
        program::{self, Program},
        referrals, winback,
    },
};

/// What became of one event of a batch.
#[derive(Debug)]
pub enum Taken {
    /// Applied with the batch.
    Applied(Applied),
    /// Handed back, to be applied on its own with [`super::orders::apply`].
    Deferred(OrderEvent),
}

/// Applies a shop's order events in the caller's transaction, in their
/// order, and answers per event. On an error nothing of the batch must be
/// kept: the caller rolls back and applies the events one by one.
pub async fn apply(
    conn: &mut AnyConnection,
    shop_id: i64,
    events: Vec<OrderEvent>,
    now: i64,
) -> Result<Vec<Taken>, EngineError> {
    let mut order_ids: Vec<i64> = events.iter().map(OrderEvent::order_id).collect();
    order_ids.sort_unstable();
    order_ids.dedup();
    // First, before anything is read: events of one order take turns.
    orders::lock_many(conn, shop_id, &order_ids).await?;
    if let Some(currency) = events.iter().find_map(|e| match e {
        OrderEvent::Order(f) => Some(f.currency.as_str()),
        _ => None,
    }) {
        program::learn_currency(conn, shop_id, currency).await?;
    }
    let program = program::get_program(conn, shop_id).await?;
    let stored: HashMap<i64, OrderRow> = orders::find_orders(conn, shop_id, &order_ids)
        .await?
        .into_iter()
        .map(|row| (row.order_id, row))
        .collect();
    let deferred = Deferred::find(conn, shop_id, &program, &events, &stored).await?;
    let mut batch = Batch::load(conn, shop_id, &program, &events, stored, &deferred, now).await?;
    let mut taken = Vec::with_capacity(events.len());
    for event in events {
        if deferred.orders.contains(&event.order_id()) {
            taken.push(Taken::Deferred(event));
        } else {
            taken.push(Taken::Applied(batch.apply(event)));
        }
    }
    batch.write(conn).await?;
    Ok(taken)
}

/// The orders handed back to be applied one by one.
struct Deferred {
    orders: HashSet<i64>,
}

impl Deferred {
    /// Orders with a referral or a survey answer, orders that may complete
    /// a referral (a discount code while referrals are on), guest orders
    /// being attached, orders of customers in a win-back episode; then
    /// every order of the customers of those orders, so that one
    /// customer's events are never split between the two ways.
    async fn find(
        conn: &mut AnyConnection,
        shop_id: i64,
        program: &Program,
        events: &[OrderEvent],
        stored: &HashMap<i64, OrderRow>,
    ) -> Result<Self, EngineError> {
        let order_ids: Vec<i64> = stored
            .keys()
            .copied()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let all_orders: Vec<i64> = events
            .iter()
            .map(OrderEvent::order_id)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let customers_of = customers_of(events, stored);
        let customer_ids: Vec<i64> = customers_of
            .values()
            .flatten()
            .copied()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut orders = referrals::orders_referred(conn, ShopId(shop_id), &order_ids).await?;
        orders.extend(nps::orders_answered(conn, shop_id, &all_orders).await?);
        let in_episode = winback::customers_in_episode(conn, shop_id, &customer_ids).await?;
        let referrals_on = program.settings.referrals.enabled;
        for event in events {
            let order_id = event.order_id();
            let coded = match event {
                OrderEvent::Order(f) => !f.discount_codes.is_empty(),
                _ => false,
            } || stored
                .get(&order_id)
                .is_some_and(|r| r.discount_codes.is_some());
            if matches!(event, OrderEvent::Attach { .. }) || (referrals_on && coded) {
                orders.insert(order_id);
            }
        }
        let mut customers: HashSet<i64> = in_episode;
        for (order_id, of) in &customers_of {
            if orders.contains(order_id) {
                customers.extend(of.iter().copied());
            }
        }
        for (order_id, of) in &customers_of {
            if of.iter().any(|c| customers.contains(c)) {
                orders.insert(*order_id);
            }
        }
        Ok(Self { orders })
    }
}

/// Every customer each order names: the stored one and the events' ones.
fn customers_of(
    events: &[OrderEvent],
    stored: &HashMap<i64, OrderRow>,
) -> BTreeMap<i64, BTreeSet<i64>> {
    let mut of: BTreeMap<i64, BTreeSet<i64>> = BTreeMap::new();
    for event in events {
        let order_id = event.order_id();
        let customers = of.entry(order_id).or_default();
        customers.extend(event.customer_id());
        customers.extend(stored.get(&order_id).and_then(|r| r.customer_id));
    }
    of
}

/// One order as the batch moves it.
struct Work {
    row: OrderRow,
    state: OrderState,
    /// The version stored when the batch began (0: not stored).
    stored_version: i64,
    /// The order products stored when the batch began, and now.
    products_before: (BTreeSet<i64>, bool),
    products: Option<(BTreeSet<i64>, bool)>,
    products_write: Option<(Option<Vec<OrderProduct>>, bool)>,
}

/// What the batch read, and what it is to write.
struct Batch<'p> {
    shop_id: i64,
    program: &'p Program,
    now: i64,
    stored: HashMap<i64, OrderRow>,
    refunds_stored: HashMap<i64, Vec<(i64, crate::loyalty::earning::RefundAmounts)>>,
    products_stored: HashMap<i64, (BTreeSet<i64>, bool)>,
    redacted_orders: HashSet<i64>,
    redacted_customers: HashSet<i64>,
    tiers: HashMap<i64, CustomerTier>,
    /// The customers' standing toward tiers, as the batch moves it; None
    /// while the program has no tiers (nobody can hold one).
    standing: Option<HashMap<i64, i64>>,
    since: Option<i64>,
    work: BTreeMap<i64, Work>,
    refunds: Vec<NewRefund>,
    releases: Vec<ledger::Release>,
    entries: Vec<MovementEntry>,
    /// Cashback moves: (customer, their store credit effect and key).
    cashback: Vec<(i64, (Effect, String))>,
    moves: Vec<(i64, CustomerTier, Option<String>, String)>,
    customers: BTreeSet<i64>,
    /// Customers with an order in the batch that is not of the shop's
    /// history ([`one::HistoryRule::of_history`]). The tier moves of the
    /// others are quiet (no Flow trigger, no entry reward for standing
    /// reached in the past).
    loud: BTreeSet<i64>,
    /// When the shop's program started for orders.
    rule: Option<one::HistoryRule>,
    /// Whether the batch's ledger entries are announced, read with the
    /// batch's other reads.
    points_changed: ledger::PointsChanged,
}

impl<'p> Batch<'p> {
    async fn load(
        conn: &mut AnyConnection,
        shop_id: i64,
        program: &'p Program,
        events: &[OrderEvent],
        stored: HashMap<i64, OrderRow>,
        deferred: &Deferred,
        now: i64,
    ) -> Result<Batch<'p>, EngineError> {
        let applied: Vec<&OrderEvent> = events
            .iter()
            .filter(|e| !deferred.orders.contains(&e.order_id()))
            .collect();
        let order_ids: Vec<i64> = applied
            .iter()
            .map(|e| e.order_id())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let customer_ids: Vec<i64> = applied
            .iter()
            .filter_map(|e| e.customer_id())
            .chain(
                order_ids
                    .iter()
                    .filter_map(|id| stored.get(id).and_then(|r| r.customer_id)),
            )
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        // Then the customers: their tiers and standing are read as the
        // batches before this one left them.
        customers::lock_many(conn, shop_id, &customer_ids).await?;
        let since = tiers::window_start(program, EpochMs(now));
        let standing = if program.settings.tiers.levels.is_empty() {
            None
        } else {
            Some(
                tiers::standing_of(conn, ShopId(shop_id), program, &customer_ids, EpochMs(now))
                    .await?,
            )
        };
        let rule = one::shop_rule(conn, shop_id).await?;
        let loud = applied
            .iter()
            .filter_map(|e| match e {
                OrderEvent::Order(f) if !one::HistoryRule::of_history(f, rule) => f
                    .customer_id
                    .or_else(|| stored.get(&e.order_id()).and_then(|r| r.customer_id)),
                _ => None,
            })
            .collect();
        Ok(Batch {
            shop_id,
            program,
            now,
            refunds_stored: orders::list_refunds_of(conn, shop_id, &order_ids).await?,
            products_stored: products::find_products_of(conn, shop_id, &order_ids).await?,
            redacted_orders: orders::redacted_among(conn, shop_id, &order_ids)
                .await?
                .into_iter()
                .collect(),
            redacted_customers: customers::redacted_among(conn, shop_id, &customer_ids)
                .await?
                .into_iter()
                .collect(),
            tiers: customers::tiers_of(conn, shop_id, &customer_ids).await?,
            standing,
            since,
            stored,
            work: BTreeMap::new(),
            refunds: Vec::new(),
            releases: Vec::new(),
            entries: Vec::new(),
            cashback: Vec::new(),
            moves: Vec::new(),
            customers: BTreeSet::new(),
            loud,
            rule,
            points_changed: ledger::PointsChanged::read(conn, shop_id).await?,
        })
    }

    /// The order's work, started from what is stored the first time.
    fn work(&mut self, order_id: i64) -> &mut Work {
        if !self.work.contains_key(&order_id) {
            let mut row = self
                .stored
                .remove(&order_id)
                .unwrap_or_else(|| one::new_row(order_id, self.program));
            if let Some(release) = one::release_if_due(&mut row, self.now) {
                self.releases.push(release);
            }
            let refunds = self.refunds_stored.remove(&order_id).unwrap_or_default();
            let products_before = self.products_stored.remove(&order_id);
            self.work.insert(
                order_id,
                Work {
                    state: one::to_state(&row, refunds),
                    stored_version: row.version,
                    row,
                    products_before: products_before.clone().unwrap_or_default(),
                    products: products_before,
                    products_write: None,
                },
            );
        }
        self.work.get_mut(&order_id).expect("inserted above")
    }

    /// One event, as [`super::orders::apply`] applies it, in memory.
    fn apply(&mut self, event: OrderEvent) -> Applied {
        let (now, program, rule) = (self.now, self.program, self.rule);
        let order_id = event.order_id();
        let refunded_at = event.refunded_at();
        let history = matches!(&event, OrderEvent::Order(f) if f.history.is_some());
        let spend_before = self.spend_of(order_id);
        let mut refunds = Vec::new();
        let work = self.work(order_id);
        let lines = one::merge(
            event,
            &mut work.row,
            &mut work.state,
            now,
            &mut refunds,
            rule,
        );
        let customer = work.state.customer_id;
        let erased = customer.is_some_and(|c| self.redacted_customers.contains(&c))
            || self.redacted_orders.contains(&order_id);
        // An order of the shop's history earns at the base rate (see
        // `orders::settle`).
        let tier = customer
            .filter(|_| !history)
            .and_then(|c| self.tiers.get(&c).and_then(|t| t.tier_id.clone()));
        let work = self.work.get_mut(&order_id).expect("started above");
        if erased {
            one::forget_identifiers(&mut work.row);
        }
        let settlement = one::settle_state(
            &mut work.row,
            &mut work.state,
            program,
            tier.as_deref(),
            now,
        );
        let version = work.row.version + 1;
        let label = work
            .row
            .name
            .clone()
            .unwrap_or_else(|| format!("#{order_id}"));
        let mut applied = Applied {
            customer_id: customer,
            points: 0,
            note: one::note(&work.state),
        };
        let mut entry = None;
        if let (Some(s), Some(customer)) = (settlement, customer) {
            let movement = PointsMove {
                customer_id: customer,
                order_id,
                settlement: s,
                label: &label,
                version,
                refunded_at,
            };
            if s.cashback {
                self.cashback
                    .push((customer, one::cashback_effect(program, &movement)));
            } else {
                entry = Some(MovementEntry::of(&work.row, movement));
                applied.points = s.delta;
            }
        }
        work.row.version = version;
        if let Some(lines) = lines {
            let counted = offers::counted(work.row.cancelled_at.is_some(), work.row.is_test == 1);
            record_products(work, lines, counted);
        }
        self.refunds.extend(refunds);
        let spend_after = self.spend_of(order_id);
        self.move_standing(spend_before, spend_after, entry.as_ref());
        self.entries.extend(entry);
        if let Some(customer) = customer {
            self.customers.insert(customer);
            self.reevaluate_tier(customer, &format!("order {label}"));
        }
        applied
    }

    /// What the order adds to its customer's standing by spend: (customer,
    /// spend) when paid within the tier window.
    fn spend_of(&self, order_id: i64) -> Option<(i64, i64)> {
        let row = self
            .work
            .get(&order_id)
            .map(|w| &w.row)
            .or_else(|| self.stored.get(&order_id))?;
        let in_window = row
            .paid_at
            .is_some_and(|paid| self.since.is_none_or(|since| paid >= since));
        match (row.customer_id, in_window) {
            (Some(customer), true) => Some((customer, row.spend_minor)),
            _ => None,
        }
    }

    /// Moves the standing by what the event changed: the order's spend, or
    /// the points it earned or lost.
    fn move_standing(
        &mut self,
        before: Option<(i64, i64)>,
        after: Option<(i64, i64)>,
        entry: Option<&MovementEntry>,
    ) {
        let basis = self.program.settings.tiers.basis;
        let Some(standing) = self.standing.as_mut() else {
            return;
        };
        let mut add = |customer: i64, value: i64| {
            let s = standing.entry(customer).or_insert(0);
            *s = s.saturating_add(value);
        };
        match basis {
            TierBasis::Spend => {
                if let Some((customer, spend)) = before {
                    add(customer, spend.saturating_neg());
                }
                if let Some((customer, spend)) = after {
                    add(customer, spend);
                }
            }
            TierBasis::PointsEarned => {
                if let Some(e) = entry {
                    add(e.customer_id, e.points);
                }
            }
        }
    }

    /// The customer's tier for their standing now; a move is recorded to be
    /// written, and held from here on (its multiplier counts for the
    /// customer's next event).
    fn reevaluate_tier(&mut self, customer: i64, reason: &str) {
        let value = self
            .standing
            .as_ref()
            .map_or(0, |s| s.get(&customer).copied().unwrap_or(0));
        let current = self.tiers.get(&customer).cloned().unwrap_or_default();
        let target = crate::loyalty::tiers::reached(
            &self.program.settings.tiers,
            self.program.exponent(),
            value,
            current.tier_floor.as_deref(),
        );
        let change = TierChange {
            shop: ShopId(self.shop_id),
            customer: CustomerId(customer),
            program: self.program,
            now: EpochMs(self.now),
            current: &current,
            target,
            quiet: false,
        };
        if change.is_noop() {
            return;
        }
        let after = tiers::after(&change);
        let target_id = target.map(|l| l.id.clone());
        self.moves
            .push((customer, current, target_id, reason.to_owned()));
        self.tiers.insert(customer, after);
    }

    /// Writes what the batch did.
    async fn write(self, conn: &mut AnyConnection) -> Result<(), EngineError> {
        let (shop_id, now) = (self.shop_id, self.now);
        orders::insert_refunds(conn, shop_id, &self.refunds, now).await?;
        let mut rows = Vec::with_capacity(self.work.len());
        let mut writes = Vec::new();
        let mut pairs: BTreeMap<(i64, i64), i64> = BTreeMap::new();
        for (order_id, work) in &self.work {
            rows.push((work.row.clone(), work.stored_version));
            if let Some((products, counted)) = &work.products_write {
                writes.push((
                    *order_id,
                    match products {
                        Some(products) => ProductsWrite::Replace(products, *counted),
                        None => ProductsWrite::Counted(*counted),
                    },
                ));
            }
            let (before_ids, before_counted) = &work.products_before;
            let after = work.products.clone().unwrap_or_default();
            for (pair, delta) in offers::pair_changes(
                &offers::pairs(before_ids, *before_counted),
                &offers::pairs(&after.0, after.1),
            ) {
                *pairs.entry(pair).or_insert(0) += delta;
            }
        }
        if !orders::save_orders(conn, shop_id, &rows, now).await? {
            return Err(EngineError::Conflict("orders of a batch".into()));
        }
        let entries: Vec<_> = self.entries.iter().map(|e| e.entry(shop_id)).collect();
        ledger::append_many_as(
            conn,
            shop_id,
            &entries,
            &self.releases,
            now,
            self.points_changed,
        )
        .await?;
        for (customer, (effect, key)) in &self.cashback {
            let ordering = store_credit_ordering(&CustomerId(*customer).gid());
            super::enqueue(conn, shop_id, effect, key, Some(&ordering)).await?;
        }
        // Pair rows are shared by every order of the shop: written after the
        // customers' rows, in key order.
        products::write_products_of(conn, shop_id, &writes).await?;
        let pairs: Vec<_> = pairs.into_iter().filter(|(_, d)| *d != 0).collect();
        products::move_pairs_many(conn, shop_id, &pairs).await?;
        let mut moves = TierWrites::new(ShopId(shop_id), EpochMs(now));
        for (customer, current, target, reason) in &self.moves {
            let level =
                crate::loyalty::tiers::level(&self.program.settings.tiers, target.as_deref());
            let change = TierChange {
                shop: ShopId(shop_id),
                customer: CustomerId(*customer),
                program: self.program,
                now: EpochMs(now),
                current,
                target: level,
                quiet: !self.loud.contains(customer),
            };
            change.stage(reason, &mut moves);
        }
        moves.write(conn, self.points_changed).await?;
        let customers: Vec<i64> = self.customers.into_iter().collect();
        segments::on_orders(conn, shop_id, self.program, &customers, now).await?;
        Ok(())
    }
}

/// The order products after an order payload: replaced when it lists its
/// lines, re-marked when only whether the order counts changed.
fn record_products(work: &mut Work, lines: Option<Vec<offers::Line>>, counted: bool) {
    match lines {
        Some(lines) => {
            let listed = offers::distinct_products(&lines);
            let ids = listed.iter().map(|p| p.product_id).collect();
            work.products = Some((ids, counted));
            work.products_write = Some((Some(listed), counted));
        }
        None => {
            if let Some((_, was)) = work.products.as_mut().filter(|(_, was)| *was != counted) {
                *was = counted;
                work.products_write = Some(match work.products_write.take() {
                    Some((listed, _)) => (listed, counted),
                    None => (None, counted),
                });
            }
        }
    }
}
