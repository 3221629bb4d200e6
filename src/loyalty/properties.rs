//! Property tests of the earning rules: whatever the interleaving,
//! duplication and settings, replaying an order's events through
//! [`OrderState`] keeps the ledger equal to the order's target, earns at
//! most once, never claws back more than was earned, and ends at the same
//! points as the de-duplicated events applied in a fixed order.

use std::{collections::BTreeMap, fmt};

use proptest::{collection::vec, prelude::*, sample};

use super::{
    earning::{
        clawback, points_for, AwardState, Channel, Counting, Movement, OrderAmounts, OrderSnapshot,
        OrderState, RefundAmounts,
    },
    settings::{AwardOn, Channels, Earning, MAX_POINTS},
};

/// Minor-unit digits of the shop's currency in every test.
const EXPONENT: u32 = 2;

/// What one delivery says about the order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    /// An order webhook: the flags of that moment and the refunds it lists.
    Order {
        paid: bool,
        fulfilled: bool,
        cancelled: bool,
        refunds: Vec<i64>,
    },
    /// A refund webhook, by Shopify's refund id.
    Refund(i64),
}

/// The facts that do not change between deliveries of one order.
#[derive(Debug, Clone)]
struct Order {
    customer_id: Option<i64>,
    amounts: OrderAmounts,
    channel: Channel,
    test: bool,
    /// Every refund of the order by id: a duplicate delivery repeats the id
    /// with the same amounts.
    refunds: BTreeMap<i64, RefundAmounts>,
}

impl Order {
    fn snapshot(&self, paid: bool, fulfilled: bool, cancelled: bool, ids: &[i64]) -> OrderSnapshot {
        OrderSnapshot {
            customer_id: self.customer_id,
            amounts: self.amounts,
            channel: self.channel,
            test: self.test,
            paid,
            fulfilled,
            cancelled,
            refunds: ids.iter().map(|id| (*id, self.refunds[id])).collect(),
        }
    }

    fn apply(&self, state: &mut OrderState, event: &Event) {
        match event {
            Event::Order {
                paid,
                fulfilled,
                cancelled,
                refunds,
            } => state.merge_order(self.snapshot(*paid, *fulfilled, *cancelled, refunds)),
            Event::Refund(id) => state.merge_refund(*id, self.refunds[id]),
        }
    }

    /// The points the order should end with after `events`, worked out from
    /// the facts alone.
    fn expected(&self, events: &[Event], e: &Earning, multiplier: u32) -> i64 {
        let flags = || {
            events.iter().filter_map(|event| match event {
                Event::Order {
                    paid,
                    fulfilled,
                    cancelled,
                    ..
                } => Some((*paid, *fulfilled, *cancelled)),
                Event::Refund(_) => None,
            })
        };
        let triggered = flags().any(|(paid, fulfilled, _)| match e.award_on {
            AwardOn::Paid => paid,
            AwardOn::Fulfilled => fulfilled,
        });
        let cancelled = flags().any(|(_, _, cancelled)| cancelled);
        let channel_on = match self.channel {
            Channel::Online => e.channels.online,
            Channel::Pos => e.channels.pos,
            Channel::DraftOrder => e.channels.draft_orders,
        };
        let eligible =
            self.customer_id.is_some() && channel_on && (!self.test || e.include_test_orders);
        if !triggered || cancelled || !eligible {
            return 0;
        }
        let counting = Counting::from_settings(e);
        let points = points_for(
            counting.earning_base(&self.amounts),
            e,
            EXPONENT,
            multiplier,
        );
        let paid = counting.paid(&self.amounts);
        let refunded: i64 = refund_ids(events)
            .iter()
            .map(|id| counting.refunded(&self.refunds[id], self.amounts.taxes_included))
            .sum();
        if refunded <= 0 {
            points
        } else if refunded >= paid {
            0
        } else {
            // The refunded share of the points, rounded down, taken back.
            let share = i128::from(points) * i128::from(refunded) / i128::from(paid);
            points - i64::try_from(share).expect("a share of the points")
        }
    }
}

/// Every refund id the events deliver, once each.
fn refund_ids(events: &[Event]) -> Vec<i64> {
    let mut ids: Vec<i64> = events
        .iter()
        .flat_map(|event| match event {
            Event::Order { refunds, .. } => refunds.clone(),
            Event::Refund(id) => vec![*id],
        })
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// The earning rules and tier multiplier `settle` is called with.
#[derive(Debug, Clone)]
struct Rules {
    earning: Earning,
    multiplier: u32,
}

/// What the simulated ledger saw for one order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Ledger {
    /// The sum of every delta: the order's points in the ledger.
    sum: i64,
    /// The sum of the positive deltas.
    earned: i64,
    /// Minus the sum of the negative deltas.
    clawed_back: i64,
    /// Settlements with `awarded_now`.
    awards: u32,
}

/// Applies `events` in turn, settling after each with `rules[i % len]`,
/// and checks the ledger against the state at every step.
fn replay(
    order: &Order,
    events: &[Event],
    rules: &[Rules],
) -> Result<(OrderState, Ledger), TestCaseError> {
    let mut state = OrderState::default();
    let mut ledger = Ledger::default();
    for (event, rules) in events.iter().zip(rules.iter().cycle()) {
        let before = state.award.clone();
        order.apply(&mut state, event);
        if let Some(moved) = state.settle(&rules.earning, EXPONENT, rules.multiplier) {
            prop_assert_ne!(moved.delta, 0, "a settlement that moves nothing");
            // Points only go up when the award is made, and only then.
            prop_assert_eq!(moved.delta > 0, moved.awarded_now, "{:?}", moved);
            let movement = match (moved.delta > 0, state.cancelled) {
                (true, _) => Movement::Earned,
                (false, true) => Movement::Cancelled,
                (false, false) => Movement::Refunded,
            };
            prop_assert_eq!(moved.movement, movement);
            ledger.sum += moved.delta;
            if moved.delta > 0 {
                ledger.earned += moved.delta;
            } else {
                ledger.clawed_back -= moved.delta;
            }
            ledger.awards += u32::from(moved.awarded_now);
        }
        prop_assert_eq!(ledger.sum, state.net, "after {:?}", event);
        prop_assert_eq!(ledger.sum, state.target(), "after {:?}", event);
        prop_assert!(ledger.awards <= 1, "awarded twice: {:?}", ledger);
        if before != AwardState::Waiting {
            prop_assert_eq!(&state.award, &before, "a decided award changed");
        }
        if let AwardState::Awarded {
            points,
            multiplier_percent,
            ..
        } = state.award
        {
            prop_assert!(ledger.earned <= points, "{:?} of {}", ledger, points);
            prop_assert!(ledger.clawed_back <= ledger.earned, "{:?}", ledger);
            prop_assert!(
                (0..=points).contains(&ledger.sum),
                "{:?} of {}",
                ledger,
                points
            );
            if before == AwardState::Waiting {
                prop_assert_eq!(multiplier_percent, rules.multiplier);
            }
        } else {
            prop_assert_eq!(ledger, Ledger::default(), "points without an award");
        }
    }
    Ok((state, ledger))
}

fn amounts() -> impl Strategy<Value = OrderAmounts> {
    (
        0i64..100_000,
        0i64..10_000,
        0i64..5_000,
        0i64..10_000,
        any::<bool>(),
    )
        .prop_map(
            |(subtotal, tax, shipping, discounts, taxes_included)| OrderAmounts {
                subtotal,
                tax,
                shipping,
                discounts,
                taxes_included,
            },
        )
}

fn refund() -> impl Strategy<Value = RefundAmounts> {
    (0i64..40_000, 0i64..5_000, 0i64..5_000).prop_map(|(lines, tax, shipping)| RefundAmounts {
        lines,
        tax,
        shipping,
    })
}

fn channel() -> impl Strategy<Value = Channel> {
    prop_oneof![
        Just(Channel::Online),
        Just(Channel::Pos),
        Just(Channel::DraftOrder)
    ]
}

/// The order's fixed facts and refunds with random ids.
fn order() -> impl Strategy<Value = Order> {
    (
        prop::option::weighted(0.9, 1i64..1_000),
        amounts(),
        channel(),
        prop::bool::weighted(0.15),
        prop::collection::btree_map(1i64..1_000_000_000, refund(), 0..=4),
    )
        .prop_map(|(customer_id, amounts, channel, test, refunds)| Order {
            customer_id,
            amounts,
            channel,
            test,
            refunds,
        })
}

/// One delivery: a snapshot (listing some of the refunds) or a refund.
fn event(ids: Vec<i64>) -> BoxedStrategy<Event> {
    let snapshot = (
        prop::bool::weighted(0.7),
        prop::bool::weighted(0.5),
        prop::bool::weighted(0.1),
        sample::subsequence(ids.clone(), 0..=ids.len()),
    )
        .prop_map(|(paid, fulfilled, cancelled, refunds)| Event::Order {
            paid,
            fulfilled,
            cancelled,
            refunds,
        });
    if ids.is_empty() {
        snapshot.boxed()
    } else {
        prop_oneof![snapshot, sample::select(ids).prop_map(Event::Refund)].boxed()
    }
}

/// An order and the distinct events that happen to it.
fn history() -> impl Strategy<Value = (Order, Vec<Event>)> {
    order().prop_flat_map(|order| {
        let events = vec(event(order.refunds.keys().copied().collect()), 1..=8);
        (Just(order), events)
    })
}

/// `events` each delivered one to three times, in any order.
fn deliveries(events: Vec<Event>) -> impl Strategy<Value = Vec<Event>> {
    let copies = vec(1usize..=3, events.len());
    (Just(events), copies)
        .prop_map(|(events, copies)| {
            events
                .into_iter()
                .zip(copies)
                .flat_map(|(event, n)| std::iter::repeat_n(event, n))
                .collect::<Vec<_>>()
        })
        .prop_shuffle()
}

/// An order, its events as delivered, and the same events de-duplicated in
/// a fixed order.
fn delivered_history() -> impl Strategy<Value = (Order, Vec<Event>, Vec<Event>)> {
    history().prop_flat_map(|(order, events)| {
        let mut canonical = events.clone();
        canonical.sort();
        canonical.dedup();
        (Just(order), deliveries(events), Just(canonical))
    })
}

fn per_amount() -> impl Strategy<Value = String> {
    sample::select(&["1.00", "0.50", "2.00", "10.00", "0.01"][..]).prop_map(String::from)
}

/// Earning settings with every switch random.
fn earning() -> impl Strategy<Value = Earning> {
    (
        1i64..=10,
        per_amount(),
        any::<(bool, bool, bool, bool)>(),
        prop_oneof![Just(AwardOn::Paid), Just(AwardOn::Fulfilled)],
        [
            prop::bool::weighted(0.9),
            prop::bool::weighted(0.9),
            prop::bool::weighted(0.9),
        ],
    )
        .prop_map(
            |(
                points,
                per_amount,
                (include_tax, include_shipping, before_discounts, include_test_orders),
                award_on,
                [online, pos, draft_orders],
            )| Earning {
                points,
                per_amount,
                include_tax,
                include_shipping,
                before_discounts,
                channels: Channels {
                    online,
                    pos,
                    draft_orders,
                },
                include_test_orders,
                award_on,
                ..Earning::default()
            },
        )
}

/// Two values of `values`, the smaller first.
fn ordered<T: Ord + fmt::Debug>(
    values: impl Strategy<Value = T> + Clone,
) -> impl Strategy<Value = (T, T)> {
    (values.clone(), values).prop_map(|(a, b)| if a <= b { (a, b) } else { (b, a) })
}

fn rules() -> impl Strategy<Value = Rules> {
    (earning(), 100u32..=1_000).prop_map(|(earning, multiplier)| Rules {
        earning,
        multiplier,
    })
}

proptest! {
    /// Any interleaving keeps the ledger on target at every step, earns
    /// once, claws back no more than it earned, and ends where the facts
    /// say: 0 when cancelled or fully refunded.
    #[test]
    fn every_interleaving_keeps_the_ledger_on_target(
        (order, events, _) in delivered_history(),
        rules in rules(),
    ) {
        let (state, ledger) = replay(&order, &events, std::slice::from_ref(&rules))?;
        prop_assert_eq!(
            ledger.sum,
            order.expected(&events, &rules.earning, rules.multiplier)
        );
        if state.cancelled {
            prop_assert_eq!(ledger.sum, 0, "a cancelled order keeps points");
        }
        if let AwardState::Awarded { paid, counting, .. } = state.award {
            let refunded = state.refunded(counting);
            if refunded > 0 && refunded >= paid {
                prop_assert_eq!(ledger.sum, 0, "a fully refunded order keeps points");
            }
        }
    }

    /// Duplicates and order of delivery do not change the outcome: the
    /// ledger ends as if each distinct event came once, in a fixed order.
    #[test]
    fn the_outcome_does_not_depend_on_delivery(
        (order, delivered, canonical) in delivered_history(),
        rules in rules(),
    ) {
        let rules = std::slice::from_ref(&rules);
        let (_, once) = replay(&order, &canonical, rules)?;
        let (state, ledger) = replay(&order, &delivered, rules)?;
        prop_assert_eq!(ledger.sum, once.sum);
        prop_assert_eq!(state.net, once.sum);
    }

    /// Settings and tier changes between events do not break the ledger:
    /// the award is frozen with the rules of its moment.
    #[test]
    fn changing_rules_keep_the_ledger_on_target(
        (order, events, _) in delivered_history(),
        rules in vec(rules(), 1..=4),
    ) {
        let (state, ledger) = replay(&order, &events, &rules)?;
        if state.cancelled {
            prop_assert_eq!(ledger.sum, 0);
        }
    }

    /// A bigger refund never takes back less, and never more than earned;
    /// a full refund takes back everything.
    #[test]
    fn clawback_grows_with_the_refund_and_stays_within_the_award(
        earned in prop_oneof![-100i64..=1_000, 0..=MAX_POINTS],
        paid in prop_oneof![-100i64..=1_000, 0i64..=1_000_000_000],
        (low, high) in ordered(prop_oneof![-100i64..=1_000, 0i64..=2_000_000_000]),
    ) {
        let (less, more) = (clawback(earned, paid, low), clawback(earned, paid, high));
        prop_assert!(less <= more, "{} > {}", less, more);
        prop_assert!((0..=earned.max(0)).contains(&less));
        prop_assert!((0..=earned.max(0)).contains(&more));
        if high > 0 && high >= paid {
            prop_assert_eq!(more, earned.max(0));
        }
    }

    /// More money or a bigger multiplier never earns fewer points, and
    /// nothing (or less) earns nothing.
    #[test]
    fn points_grow_with_the_amount_and_the_multiplier(
        earning in earning(),
        exponent in 0u32..=3,
        (low, high) in ordered(prop_oneof![-1_000i64..=1_000, 0i64..=1_000_000_000]),
        (slow, fast) in ordered(0u32..=1_000),
    ) {
        let points = |base, multiplier| points_for(base, &earning, exponent, multiplier);
        if low <= 0 {
            prop_assert_eq!(points(low, fast), 0);
        }
        prop_assert!(points(low, slow) >= 0);
        prop_assert!(points(low, slow) <= points(high, slow));
        prop_assert!(points(low, slow) <= points(low, fast));
        prop_assert!(points(high, slow) <= points(high, fast));
    }
}
