//! Points from orders. An order's points follow from its facts alone:
//! what it cost, whether it is paid (or fulfilled), what was refunded and
//! whether it was cancelled. [`OrderState`] merges facts as they arrive, in
//! any order and any number of times (each fact only ever moves one way),
//! and [`OrderState::settle`] says how many points the order should hold
//! now and by how much the ledger must move to get there. Because the
//! target depends on the facts and not on the order of events, a refund
//! before its order, a cancellation before payment or a retry a day late
//! all end with the same ledger.
//!
//! The award itself (points, and the amount they were earned on) is frozen
//! the first time the order qualifies, with the tier multiplier and the
//! settings of that moment: later settings changes do not rewrite history.
//! Clawbacks are proportional to the refunded share of that amount and
//! never exceed the award.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{
    money,
    points::Points,
    settings::{AwardOn, Earning},
};

/// Where an order was placed, for the channel switches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    #[default]
    Online,
    Pos,
    DraftOrder,
}

impl Channel {
    /// From the order's `source_name`.
    pub fn from_source(source_name: Option<&str>) -> Self {
        match source_name {
            Some("pos") => Channel::Pos,
            Some("shopify_draft_order") => Channel::DraftOrder,
            _ => Channel::Online,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Online => "online",
            Channel::Pos => "pos",
            Channel::DraftOrder => "draft_order",
        }
    }

    pub fn parse(raw: &str) -> Self {
        match raw {
            "pos" => Channel::Pos,
            "draft_order" => Channel::DraftOrder,
            _ => Channel::Online,
        }
    }
}

/// An order's amounts in the shop's currency, minor units (`*_set.shop_money`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OrderAmounts {
    /// Line items after discounts, before shipping and (unless
    /// `taxes_included`) tax.
    pub subtotal: i64,
    pub tax: i64,
    pub shipping: i64,
    pub discounts: i64,
    /// Prices include tax (the subtotal contains it).
    pub taxes_included: bool,
}

/// What one refund gave back, in the shop's currency, minor units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RefundAmounts {
    /// Refunded line items' subtotals.
    pub lines: i64,
    /// Tax on those lines.
    pub tax: i64,
    /// Refunded shipping.
    pub shipping: i64,
}

/// Which parts of an order count, frozen with the award.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counting {
    pub include_tax: bool,
    pub include_shipping: bool,
    pub before_discounts: bool,
}

impl Counting {
    pub fn from_settings(e: &Earning) -> Self {
        Self {
            include_tax: e.include_tax,
            include_shipping: e.include_shipping,
            before_discounts: e.before_discounts,
        }
    }

    /// As a small integer for storage.
    pub fn bits(self) -> i64 {
        i64::from(self.include_tax)
            | i64::from(self.include_shipping) << 1
            | i64::from(self.before_discounts) << 2
    }

    pub fn from_bits(bits: i64) -> Self {
        Self {
            include_tax: bits & 1 != 0,
            include_shipping: bits & 2 != 0,
            before_discounts: bits & 4 != 0,
        }
    }

    /// The money the customer paid that counts: the denominator of a
    /// refund's share. Never negative.
    pub fn paid(self, a: &OrderAmounts) -> i64 {
        let goods = if a.taxes_included && !self.include_tax {
            a.subtotal - a.tax
        } else if !a.taxes_included && self.include_tax {
            a.subtotal + a.tax
        } else {
            a.subtotal
        };
        let shipping = if self.include_shipping { a.shipping } else { 0 };
        (goods + shipping).max(0)
    }

    /// The amount points are earned on.
    pub fn earning_base(self, a: &OrderAmounts) -> i64 {
        let discounts = if self.before_discounts {
            a.discounts.max(0)
        } else {
            0
        };
        self.paid(a) + discounts
    }

    /// The counted money one refund gave back.
    pub fn refunded(self, r: &RefundAmounts, taxes_included: bool) -> i64 {
        let goods = if taxes_included && !self.include_tax {
            r.lines - r.tax
        } else if !taxes_included && self.include_tax {
            r.lines + r.tax
        } else {
            r.lines
        };
        let shipping = if self.include_shipping { r.shipping } else { 0 };
        (goods + shipping).max(0)
    }
}

/// Points for `base` minor units: `points` per `per_amount`, times the
/// tier multiplier (percent), rounded down.
pub fn points_for(base: i64, e: &Earning, exponent: u32, multiplier_percent: u32) -> i64 {
    let Some(per) = money::parse_minor(&e.per_amount, exponent).filter(|p| *p > 0) else {
        return 0;
    };
    let value = i128::from(base.max(0)) * i128::from(e.points) * i128::from(multiplier_percent)
        / (i128::from(per) * 100);
    // An absurd order earns as many points as can be held, never a wrapped
    // figure; the ledger then refuses what the balance cannot take.
    Points::saturating_from_i128(value).get()
}

/// The points to take back when `refunded` of `paid` was refunded from an
/// order that earned `earned`: the same share, rounded down, never more
/// than earned.
pub fn clawback(earned: i64, paid: i64, refunded: i64) -> i64 {
    if earned <= 0 || refunded <= 0 {
        return 0;
    }
    if refunded >= paid {
        return earned;
    }
    let share = i128::from(earned) * i128::from(refunded.max(0)) / i128::from(paid);
    (share as i64).min(earned)
}

/// Whether and what an order earned.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AwardState {
    /// Not (yet) qualified: unpaid, unfulfilled, or a guest order waiting
    /// for an account.
    #[default]
    Waiting,
    /// Earned `points` on `paid` counted money, with `counting` frozen.
    /// A cashback award (`cashback`) earned store credit instead: `points`
    /// are then minor units of the shop's currency, and every movement is
    /// a credit or debit of the customer's store credit account.
    Awarded {
        points: i64,
        paid: i64,
        counting: Counting,
        multiplier_percent: u32,
        cashback: bool,
    },
    /// Will never earn, and why.
    Ineligible(String),
}

/// Everything known about one order, merged from any number of events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderState {
    /// The order itself has been seen (not only a refund of it).
    pub known: bool,
    pub customer_id: Option<i64>,
    pub amounts: OrderAmounts,
    pub channel: Channel,
    pub test: bool,
    pub paid: bool,
    pub fulfilled: bool,
    pub cancelled: bool,
    /// Refunds by Shopify's refund id: a refund counted twice is one refund.
    pub refunds: BTreeMap<i64, RefundAmounts>,
    pub award: AwardState,
    /// Points the ledger holds for this order now.
    pub net: i64,
}

/// What an order event says about the order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderSnapshot {
    pub customer_id: Option<i64>,
    pub amounts: OrderAmounts,
    pub channel: Channel,
    pub test: bool,
    pub paid: bool,
    pub fulfilled: bool,
    pub cancelled: bool,
    pub refunds: BTreeMap<i64, RefundAmounts>,
}

/// Why the ledger moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Movement {
    Earned,
    Refunded,
    Cancelled,
}

impl Movement {
    pub fn kind(self) -> &'static str {
        match self {
            Movement::Earned => "earn",
            Movement::Refunded => "clawback",
            Movement::Cancelled => "cancel",
        }
    }
}

/// The outcome of [`OrderState::settle`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settlement {
    /// Points to add to (or, negative, take from) the ledger; for a
    /// cashback award, minor units to credit (or debit).
    pub delta: i64,
    pub movement: Movement,
    /// True when this settlement made the award.
    pub awarded_now: bool,
    /// The award is cashback: the delta moves store credit, not points.
    pub cashback: bool,
}

/// What an order earns when it qualifies: points by the earning rule, or
/// cashback at a rate in basis points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rate {
    Points,
    Cashback { basis_points: u32 },
}

/// The cashback on `base` (minor units) at `basis_points`, times the tier
/// multiplier, rounded down; never negative, never wrapped.
pub fn cashback_for(base: i64, basis_points: u32, multiplier_percent: u32) -> i64 {
    let value = i128::from(base.max(0)) * i128::from(basis_points) * i128::from(multiplier_percent)
        / 1_000_000;
    i64::try_from(value).unwrap_or(i64::MAX)
}

impl OrderState {
    /// Merges an order event. Facts only move one way: paid, fulfilled and
    /// cancelled never turn back, refunds only add up; amounts are taken
    /// from the latest snapshot until the order has earned, then frozen.
    pub fn merge_order(&mut self, s: OrderSnapshot) {
        if self.customer_id.is_none() {
            self.customer_id = s.customer_id;
        }
        if !matches!(self.award, AwardState::Awarded { .. }) {
            self.amounts = s.amounts;
            self.channel = s.channel;
        }
        self.known = true;
        self.test |= s.test;
        self.paid |= s.paid;
        self.fulfilled |= s.fulfilled;
        self.cancelled |= s.cancelled;
        for (id, refund) in s.refunds {
            self.refunds.entry(id).or_insert(refund);
        }
    }

    /// Merges a refund event.
    pub fn merge_refund(&mut self, refund_id: i64, refund: RefundAmounts) {
        self.refunds.entry(refund_id).or_insert(refund);
    }

    /// The counted money refunded so far, under `counting`.
    pub fn refunded(&self, counting: Counting) -> i64 {
        self.refunds
            .values()
            .map(|r| counting.refunded(r, self.amounts.taxes_included))
            // Each refund is bounded; any number of them must not wrap.
            .fold(0, i64::saturating_add)
    }

    /// Net spend toward tiers under `counting`: what was paid less what was
    /// refunded, for a paid order that is not cancelled, not a test and
    /// seen itself; 0 otherwise.
    pub fn tier_spend(&self, counting: Counting) -> i64 {
        if self.paid && !self.cancelled && !self.test && self.known {
            (counting.paid(&self.amounts) - self.refunded(counting)).max(0)
        } else {
            0
        }
    }

    /// Decides the award if the order qualifies now, and the ledger
    /// movement that brings the order's points to their target. `None`
    /// when nothing moves. `multiplier_percent` is the customer's tier
    /// multiplier now, used only if the award is made now.
    pub fn settle(
        &mut self,
        e: &Earning,
        exponent: u32,
        multiplier_percent: u32,
    ) -> Option<Settlement> {
        self.settle_at(e, exponent, multiplier_percent, Rate::Points)
    }

    /// [`Self::settle`], with the award (if made now) at `rate`: points,
    /// or cashback. An award already made keeps its kind.
    pub fn settle_at(
        &mut self,
        e: &Earning,
        exponent: u32,
        multiplier_percent: u32,
        rate: Rate,
    ) -> Option<Settlement> {
        let mut awarded_now = false;
        if self.award == AwardState::Waiting && self.known {
            let triggered = match e.award_on {
                AwardOn::Paid => self.paid,
                AwardOn::Fulfilled => self.fulfilled,
            };
            if self.cancelled {
                self.award = AwardState::Ineligible("cancelled before it earned points".into());
            } else if triggered {
                if let Some(reason) = self.ineligibility(e) {
                    self.award = AwardState::Ineligible(reason);
                } else if self.customer_id.is_some() {
                    let counting = Counting::from_settings(e);
                    let base = counting.earning_base(&self.amounts);
                    let (points, cashback) = match rate {
                        Rate::Points => (points_for(base, e, exponent, multiplier_percent), false),
                        Rate::Cashback { basis_points } => {
                            (cashback_for(base, basis_points, multiplier_percent), true)
                        }
                    };
                    self.award = AwardState::Awarded {
                        points,
                        paid: counting.paid(&self.amounts),
                        counting,
                        multiplier_percent,
                        cashback,
                    };
                    awarded_now = true;
                }
            }
        }
        let target = self.target();
        let delta = target - self.net;
        if delta == 0 {
            return None;
        }
        self.net = target;
        let movement = if delta > 0 {
            Movement::Earned
        } else if self.cancelled {
            Movement::Cancelled
        } else {
            Movement::Refunded
        };
        Some(Settlement {
            delta,
            movement,
            awarded_now,
            cashback: matches!(self.award, AwardState::Awarded { cashback: true, .. }),
        })
    }

    /// The points this order should hold given everything known.
    pub fn target(&self) -> i64 {
        match &self.award {
            AwardState::Awarded {
                points,
                paid,
                counting,
                ..
            } if !self.cancelled => points - clawback(*points, *paid, self.refunded(*counting)),
            _ => 0,
        }
    }

    fn ineligibility(&self, e: &Earning) -> Option<String> {
        if self.test && !e.include_test_orders {
            return Some("test order".into());
        }
        let allowed = match self.channel {
            Channel::Online => e.channels.online,
            Channel::Pos => e.channels.pos,
            Channel::DraftOrder => e.channels.draft_orders,
        };
        (!allowed).then(|| format!("{} orders do not earn points", self.channel.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loyalty::settings::Earning;

    fn order(subtotal: i64) -> OrderSnapshot {
        OrderSnapshot {
            customer_id: Some(7),
            amounts: OrderAmounts {
                subtotal,
                tax: 800,
                shipping: 1000,
                discounts: 2000,
                taxes_included: false,
            },
            paid: true,
            ..Default::default()
        }
    }

    fn settle(state: &mut OrderState, e: &Earning) -> i64 {
        state.settle(e, 2, 100).map_or(0, |s| s.delta)
    }

    #[test]
    fn earning_follows_the_switches() {
        let a = OrderAmounts {
            subtotal: 10_000,
            tax: 800,
            shipping: 1000,
            discounts: 2000,
            taxes_included: false,
        };
        let e = Earning::default();
        let c = |tax, ship, before| Counting {
            include_tax: tax,
            include_shipping: ship,
            before_discounts: before,
        };
        let cases = [
            (c(false, false, false), 100),
            (c(true, false, false), 108),
            (c(false, true, false), 110),
            (c(false, false, true), 120),
            (c(true, true, true), 138),
        ];
        for (counting, points) in cases {
            assert_eq!(
                points_for(counting.earning_base(&a), &e, 2, 100),
                points,
                "{counting:?}"
            );
        }
        // Tax-inclusive prices: the tax is taken out unless it counts.
        let inclusive = OrderAmounts {
            taxes_included: true,
            ..a
        };
        assert_eq!(c(false, false, false).paid(&inclusive), 9_200);
        assert_eq!(c(true, false, false).paid(&inclusive), 10_000);
    }

    #[test]
    fn rates_and_multipliers_round_down() {
        let mut e = Earning {
            points: 3,
            per_amount: "2.00".into(),
            ..Default::default()
        };
        // 99.99 at 3 per 2.00 = 149.985 -> 149; at 125 % -> 187.48 -> 187.
        assert_eq!(points_for(9_999, &e, 2, 100), 149);
        assert_eq!(points_for(9_999, &e, 2, 125), 187);
        // In yen "1.00" is one yen.
        assert_eq!(points_for(1500, &Earning::default(), 0, 100), 1500);
        e.per_amount = "100".into();
        assert_eq!(points_for(1500, &e, 0, 100), 45);
    }

    #[test]
    fn clawbacks_are_proportional_and_capped() {
        assert_eq!(clawback(100, 10_000, 2_500), 25);
        assert_eq!(clawback(100, 10_000, 3_333), 33);
        assert_eq!(clawback(100, 10_000, 10_000), 100);
        assert_eq!(clawback(100, 10_000, 50_000), 100);
        assert_eq!(clawback(0, 10_000, 5_000), 0);
        // Nothing refunded takes nothing back, even from an order paid in full
        // by discounts (earning before discounts).
        assert_eq!(clawback(100, 0, 0), 0);
        assert_eq!(clawback(100, 0, 1), 100);
    }

    #[test]
    fn a_paid_order_earns_once() {
        let e = Earning::default();
        let mut s = OrderState::default();
        s.merge_order(order(10_000));
        assert_eq!(settle(&mut s, &e), 100);
        s.merge_order(order(10_000));
        assert_eq!(settle(&mut s, &e), 0);
        assert_eq!(s.net, 100);
    }

    #[test]
    fn a_refund_before_its_order_is_taken_into_account() {
        let e = Earning::default();
        let mut s = OrderState::default();
        s.merge_refund(
            1,
            RefundAmounts {
                lines: 4_000,
                tax: 320,
                shipping: 0,
            },
        );
        assert_eq!(settle(&mut s, &e), 0);
        s.merge_order(order(10_000));
        assert_eq!(settle(&mut s, &e), 60);
    }

    #[test]
    fn a_cancellation_reverses_what_remains_and_blocks_a_late_payment() {
        let e = Earning::default();
        let mut s = OrderState::default();
        s.merge_order(order(10_000));
        settle(&mut s, &e);
        s.merge_refund(
            1,
            RefundAmounts {
                lines: 2_500,
                ..Default::default()
            },
        );
        assert_eq!(settle(&mut s, &e), -25);
        s.merge_order(OrderSnapshot {
            cancelled: true,
            ..order(10_000)
        });
        let moved = s.settle(&e, 2, 100).unwrap();
        assert_eq!((moved.delta, moved.movement), (-75, Movement::Cancelled));

        let mut early = OrderState::default();
        early.merge_order(OrderSnapshot {
            cancelled: true,
            paid: false,
            ..order(10_000)
        });
        assert_eq!(settle(&mut early, &e), 0);
        early.merge_order(order(10_000));
        assert_eq!(settle(&mut early, &e), 0);
        assert!(matches!(early.award, AwardState::Ineligible(_)));
    }

    #[test]
    fn test_orders_and_switched_off_channels_do_not_earn() {
        let mut e = Earning::default();
        let mut s = OrderState::default();
        s.merge_order(OrderSnapshot {
            test: true,
            ..order(10_000)
        });
        assert_eq!(settle(&mut s, &e), 0);
        assert_eq!(s.award, AwardState::Ineligible("test order".into()));

        e.channels.pos = false;
        let mut pos = OrderState::default();
        pos.merge_order(OrderSnapshot {
            channel: Channel::Pos,
            ..order(10_000)
        });
        assert_eq!(settle(&mut pos, &e), 0);
    }

    #[test]
    fn a_guest_order_waits_for_its_customer() {
        let e = Earning::default();
        let mut s = OrderState::default();
        s.merge_order(OrderSnapshot {
            customer_id: None,
            ..order(10_000)
        });
        assert_eq!(settle(&mut s, &e), 0);
        assert_eq!(s.award, AwardState::Waiting);
        s.customer_id = Some(9);
        assert_eq!(settle(&mut s, &e), 100);
    }

    #[test]
    fn fulfilment_can_be_the_trigger() {
        let e = Earning {
            award_on: AwardOn::Fulfilled,
            ..Default::default()
        };
        let mut s = OrderState::default();
        s.merge_order(order(10_000));
        assert_eq!(settle(&mut s, &e), 0);
        s.merge_order(OrderSnapshot {
            fulfilled: true,
            ..order(10_000)
        });
        assert_eq!(settle(&mut s, &e), 100);
    }
}
