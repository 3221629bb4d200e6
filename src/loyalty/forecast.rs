//! The what-if forecast: what a program's settings would have done over a
//! stretch of the shop's real orders. The same rules that award points
//! ([`super::earning`]) and place customers in tiers ([`super::tiers`]) are
//! replayed, customer by customer in the order their orders were paid, once
//! with the settings in force and once with the proposed ones, so the two
//! columns a merchant compares differ only by the change.
//!
//! What the replay models, and what it leaves out:
//! - each order's award, with the multiplier of the tier the customer
//!   held when it was paid, less what its refunds take back (all of them,
//!   as they stand now) or all of it when it was cancelled;
//! - tiers by spend or by points earned, lifetime or over a rolling year,
//!   with carried-over tier floors, and the entry points of each tier a
//!   customer reaches for the first time in the period;
//! - redemptions at the shop's own redemption rate of the period (points
//!   redeemed per point issued), applied to what each column issues;
//! - not the signup, birthday, referral, survey or earning-action bonuses
//!   (the same under both settings unless those amounts change), the
//!   pending period, or expiry.

use std::collections::{BTreeMap, VecDeque};

use serde::Serialize;

use super::{
    earning::{AwardState, Counting, OrderState, Rate},
    settings::{ProgramSettings, TierBasis, TierLevel, TierWindow},
    tiers,
    time::DAY_MS,
};

/// The periods a forecast looks back over, in days.
pub const PERIODS: [i64; 2] = [90, 365];

/// One order as the replay needs it.
#[derive(Debug, Clone)]
pub struct OrderFact {
    /// When it was paid (or, for programs that award on fulfilment,
    /// fulfilled), epoch ms: orders are replayed in this order.
    pub at: i64,
    /// The order's facts, its award not yet decided.
    pub state: OrderState,
}

/// One customer's orders (any order), and a tier carried over from
/// another program.
#[derive(Debug, Clone, Default)]
pub struct CustomerFacts {
    pub tier_floor: Option<String>,
    pub orders: Vec<OrderFact>,
}

/// What one set of settings would have done in the period.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Scenario {
    /// Orders paid in the period that earned points.
    pub orders_earning: i64,
    /// Their points, less refunds and cancellations.
    pub order_points: i64,
    /// Entry points of tiers first reached in the period.
    pub entry_points: i64,
    /// `order_points + entry_points`.
    pub points_issued: i64,
    /// Store credit earned instead of points (cashback programs), minor units.
    pub cashback_minor: i64,
    /// The points a median earning order earned (0 without one).
    pub median_points_per_order: i64,
    /// Customers per tier at the end of the period, lowest tier first; the
    /// `id` of customers in no tier is `null`.
    pub tiers: Vec<TierCount>,
    /// Customers in a higher tier at the end of the period than at its
    /// start (among those who ordered in it).
    pub customers_moved_up: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TierCount {
    pub id: Option<String>,
    pub name: Option<String>,
    pub customers: i64,
}

/// What a replay has gathered so far.
#[derive(Debug, Default)]
struct Replay {
    scenario: Scenario,
    /// Each earning order's points, for the median.
    order_points: Vec<i64>,
    /// Customers per end rank.
    tier_counts: BTreeMap<usize, i64>,
    /// Each customer's tier at the period's end, as a rank (0: none), in
    /// replay order, so two replays can be compared customer by customer.
    end_ranks: Vec<usize>,
}

/// Replays settings over customers one at a time, from `from` to `to`
/// (epoch ms); memory is one customer's orders and the per-order points.
pub struct Replayer<'s> {
    settings: &'s ProgramSettings,
    exponent: u32,
    rate: Rate,
    /// Orders earn store credit instead of points.
    cashback: bool,
    counting: Counting,
    from: i64,
    to: i64,
    /// Tier levels ranked by threshold, lowest first.
    ranked: Vec<(i64, &'s TierLevel)>,
    replay: Replay,
}

impl<'s> Replayer<'s> {
    pub fn new(settings: &'s ProgramSettings, exponent: u32, from: i64, to: i64) -> Self {
        let rate = settings
            .store_credit
            .cashback_basis_points()
            .map_or(Rate::Points, |basis_points| Rate::Cashback { basis_points });
        Self {
            settings,
            exponent,
            rate,
            cashback: matches!(rate, Rate::Cashback { .. }),
            counting: Counting::from_settings(&settings.earning),
            from,
            to,
            ranked: tiers::ranked(&settings.tiers, exponent),
            replay: Replay::default(),
        }
    }

    /// The rank (1 = lowest level, 0 = none) of the level a standing
    /// reaches, or of the floor's level when that ranks higher (as
    /// [`tiers::reached`], on thresholds ranked once).
    fn rank(&self, standing: i64, floor_rank: usize) -> usize {
        let earned = self.ranked.partition_point(|(t, _)| *t <= standing);
        earned.max(floor_rank)
    }

    /// The rank of a carried-over tier (0 when the settings lack it).
    fn floor_rank(&self, floor: Option<&str>) -> usize {
        floor
            .and_then(|id| self.ranked.iter().position(|(_, l)| l.id == id))
            .map_or(0, |p| p + 1)
    }

    fn multiplier(&self, rank: usize) -> u32 {
        match rank {
            0 => 100,
            r => self.ranked[r - 1].1.multiplier_percent,
        }
    }

    /// Replays one customer's orders (any order; sorted here).
    pub fn customer(&mut self, mut facts: CustomerFacts) {
        facts.orders.sort_by_key(|o| o.at);
        let floor = self.floor_rank(facts.tier_floor.as_deref());
        let rolling = matches!(self.settings.tiers.window, TierWindow::Rolling12Months);
        // Contributions to the standing, by time (rolling window only).
        let mut window: VecDeque<(i64, i64)> = VecDeque::new();
        let mut standing: i64 = 0;
        let mut rank = 0;
        // The tier held when the period began (None until an order in it).
        let mut start_rank = None;
        // Tiers entered (by rank): each pays its entry points once.
        let mut entered = vec![false; self.ranked.len() + 1];
        for mut order in facts.orders.into_iter().filter(|o| o.at < self.to) {
            if start_rank.is_none() && order.at >= self.from {
                // The tier held when the period began, reached before it.
                standing = self.standing_at(&mut window, standing, self.from, rolling);
                rank = self.rank(standing, floor);
                entered[rank] = true;
                start_rank = Some(rank);
            }
            standing = self.standing_at(&mut window, standing, order.at, rolling);
            let multiplier = self.multiplier(self.rank(standing, floor));
            order.state.award = AwardState::Waiting;
            order.state.net = 0;
            // A fresh award under these settings: the points the order
            // holds afterwards, refunds and cancellation taken off.
            order
                .state
                .settle_at(&self.settings.earning, self.exponent, multiplier, self.rate);
            let net = order.state.net;
            let contribution = match self.settings.tiers.basis {
                TierBasis::Spend => order.state.tier_spend(self.counting),
                TierBasis::PointsEarned if self.cashback => 0,
                TierBasis::PointsEarned => net.max(0),
            };
            standing = standing.saturating_add(contribution);
            if rolling {
                window.push_back((order.at, contribution));
            }
            if order.at < self.from {
                continue;
            }
            if net > 0 {
                if self.cashback {
                    self.replay.scenario.cashback_minor =
                        self.replay.scenario.cashback_minor.saturating_add(net);
                } else {
                    self.replay.scenario.orders_earning += 1;
                    self.replay.scenario.order_points =
                        self.replay.scenario.order_points.saturating_add(net);
                    self.replay.order_points.push(net);
                }
            }
            let after = self.rank(standing, floor);
            if after > rank && !entered[after] {
                let entry = self.ranked[after - 1].1.entry_points.max(0);
                self.replay.scenario.entry_points =
                    self.replay.scenario.entry_points.saturating_add(entry);
                entered[after] = true;
            }
            rank = after;
        }
        if start_rank.is_none() || rolling {
            // Without orders in the period, or with a rolling standing
            // (which can fall by its end): the tier at the end.
            standing = self.standing_at(&mut window, standing, self.to, rolling);
            rank = self.rank(standing, floor);
        }
        if start_rank.is_some_and(|start| rank > start) {
            self.replay.scenario.customers_moved_up += 1;
        }
        *self.replay.tier_counts.entry(rank).or_default() += 1;
        self.replay.end_ranks.push(rank);
    }

    /// The standing at `at`: in a rolling window, what fell out of the
    /// year before `at` is taken off.
    fn standing_at(
        &self,
        window: &mut VecDeque<(i64, i64)>,
        mut standing: i64,
        at: i64,
        rolling: bool,
    ) -> i64 {
        if rolling {
            while let Some(&(t, v)) = window.front() {
                if t > at - 365 * DAY_MS {
                    break;
                }
                standing -= v;
                window.pop_front();
            }
        }
        standing
    }

    /// The scenario, and each customer's end rank in replay order.
    pub fn finish(mut self) -> (Scenario, Vec<usize>) {
        let mut points = std::mem::take(&mut self.replay.order_points);
        points.sort_unstable();
        let s = &mut self.replay.scenario;
        s.median_points_per_order = median(&points);
        s.points_issued = s.order_points.saturating_add(s.entry_points);
        let mut counts = vec![TierCount {
            id: None,
            name: None,
            customers: self.replay.tier_counts.get(&0).copied().unwrap_or(0),
        }];
        for (i, (_, level)) in self.ranked.iter().enumerate() {
            counts.push(TierCount {
                id: Some(level.id.clone()),
                name: Some(level.name.clone()),
                customers: self.replay.tier_counts.get(&(i + 1)).copied().unwrap_or(0),
            });
        }
        s.tiers = counts;
        (self.replay.scenario, self.replay.end_ranks)
    }
}

/// The middle value of sorted `values` (the lower of the two middle ones
/// for an even count), 0 for none.
fn median(sorted: &[i64]) -> i64 {
    match sorted.len() {
        0 => 0,
        n => sorted[(n - 1) / 2],
    }
}

/// How many customers end in a higher, and in a lower, tier under the
/// proposed settings than under the current ones. Ranks compare by
/// position, which is what a merchant reads ("one tier up").
pub fn moves(current: &[usize], proposed: &[usize]) -> (i64, i64) {
    current
        .iter()
        .zip(proposed)
        .fold((0, 0), |(up, down), (c, p)| match p.cmp(c) {
            std::cmp::Ordering::Greater => (up + 1, down),
            std::cmp::Ordering::Less => (up, down + 1),
            std::cmp::Ordering::Equal => (up, down),
        })
}

/// Points redeemed at the shop's observed rate: `issued × redeemed /
/// earned` of the period, never more than issued.
pub fn redeemed_at_rate(issued: i64, observed: (i64, i64)) -> i64 {
    let (redeemed, earned) = observed;
    if earned <= 0 || redeemed <= 0 || issued <= 0 {
        return 0;
    }
    let value = i128::from(issued) * i128::from(redeemed.min(earned)) / i128::from(earned);
    i64::try_from(value).unwrap_or(issued).min(issued)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loyalty::earning::{OrderAmounts, OrderState};

    const DAY: i64 = DAY_MS;

    fn order(at: i64, subtotal: i64) -> OrderFact {
        OrderFact {
            at,
            state: OrderState {
                known: true,
                customer_id: Some(1),
                amounts: OrderAmounts {
                    subtotal,
                    ..OrderAmounts::default()
                },
                paid: true,
                ..OrderState::default()
            },
        }
    }

    fn replay(settings: &ProgramSettings, customers: Vec<CustomerFacts>) -> (Scenario, Vec<usize>) {
        let mut r = Replayer::new(settings, 2, 100 * DAY, 500 * DAY);
        for c in customers {
            r.customer(c);
        }
        r.finish()
    }

    fn customer(orders: Vec<OrderFact>) -> CustomerFacts {
        CustomerFacts {
            tier_floor: None,
            orders,
        }
    }

    #[test]
    fn orders_earn_with_the_tier_held_when_paid_and_tiers_pay_their_entry_once() {
        // Default tiers: silver 250.00 (110 %, 100 entry), gold 500.00
        // (120 %, 250 entry), platinum 1000.00.
        let settings = ProgramSettings::default();
        let (s, ranks) = replay(
            &settings,
            vec![
                customer(vec![order(200 * DAY, 30_000), order(300 * DAY, 30_000)]),
                customer(vec![order(50 * DAY, 26_000), order(200 * DAY, 10_000)]),
            ],
        );
        // A: 300, then silver: 330 at 110 %; silver then gold entries.
        // B: silver before the period (no entry in it); 110 at 110 %.
        assert_eq!(s.order_points, 300 + 330 + 110);
        assert_eq!(s.entry_points, 100 + 250);
        assert_eq!(s.points_issued, 740 + 350);
        assert_eq!(s.orders_earning, 3);
        assert_eq!(s.median_points_per_order, 300);
        assert_eq!(ranks, vec![2, 1]);
        let counts: Vec<i64> = s.tiers.iter().map(|t| t.customers).collect();
        assert_eq!(counts, vec![0, 1, 1, 0]);
        assert_eq!(s.customers_moved_up, 1);
    }

    #[test]
    fn a_rolling_year_lets_a_standing_fall_out() {
        let mut settings = ProgramSettings::default();
        settings.tiers.window = TierWindow::Rolling12Months;
        // Silver reached 400 days before the period's end, nothing since.
        let (s, ranks) = replay(&settings, vec![customer(vec![order(99 * DAY, 30_000)])]);
        assert_eq!(ranks, vec![0]);
        assert_eq!(s.points_issued, 0);
    }

    #[test]
    fn redemptions_follow_the_observed_rate_and_moves_compare_ranks() {
        assert_eq!(redeemed_at_rate(1_000, (250, 1_000)), 250);
        assert_eq!(redeemed_at_rate(1_000, (0, 0)), 0);
        assert_eq!(redeemed_at_rate(1_000, (5_000, 1_000)), 1_000);
        assert_eq!(moves(&[0, 1, 2, 3], &[1, 1, 1, 3]), (1, 1));
    }
}
