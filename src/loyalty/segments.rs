//! Behaviour segments: recency, frequency and monetary (RFM) scores from a
//! shop's own order history, and the named segment a merchant acts on.
//!
//! Each score is 1 to 5. The cut-offs between scores are the shop's own
//! quintiles over its buying customers ([`Thresholds::from_history`]), so
//! "recent" at a shop that sells coffee is not "recent" at one that sells
//! sofas; a merchant may set them by hand instead. Ties are honest: when
//! half the customers bought once, the quintiles of frequency repeat and
//! every one-time buyer scores 1.
//!
//! The segment comes from recency, frequency and whether the customer's
//! next purchase is overdue by their own rhythm ([`super::winback`]), by
//! the first rule that matches ([`segment_of`]); monetary value is
//! reported beside it. "At risk" is the one segment both measures agree
//! on: overdue by the customer's own interval, or a frequent buyer whose
//! recency has fallen to the bottom two fifths.

use serde::{Deserialize, Serialize};

/// What one customer's history says, as of the time of scoring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct History {
    /// Whole days since the last counted order.
    pub days_since_last: i64,
    /// Counted orders (paid, not cancelled, not test).
    pub orders: i64,
    /// Net spend, minor units.
    pub spend_minor: i64,
}

/// Four ascending cut-offs per dimension: a value at or below the first
/// is in the lowest fifth, above the last in the highest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Thresholds {
    /// Days since the last order.
    pub recency_days: [i64; 4],
    /// Orders.
    pub frequency: [i64; 4],
    /// Net spend, minor units.
    pub monetary_minor: [i64; 4],
}

/// Scores 1 (worst) to 5 (best) on each dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scores {
    pub recency: u8,
    pub frequency: u8,
    pub monetary: u8,
}

/// The named segments, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Segment {
    Champions,
    Loyal,
    New,
    Promising,
    NeedsAttention,
    AtRisk,
    Hibernating,
    Lost,
}

impl Segment {
    pub const ALL: [Segment; 8] = [
        Segment::Champions,
        Segment::Loyal,
        Segment::New,
        Segment::Promising,
        Segment::NeedsAttention,
        Segment::AtRisk,
        Segment::Hibernating,
        Segment::Lost,
    ];

    /// The slug in tags (`advocate-segment:at-risk`) and metafields.
    pub fn slug(self) -> &'static str {
        match self {
            Segment::Champions => "champions",
            Segment::Loyal => "loyal",
            Segment::New => "new",
            Segment::Promising => "promising",
            Segment::NeedsAttention => "needs-attention",
            Segment::AtRisk => "at-risk",
            Segment::Hibernating => "hibernating",
            Segment::Lost => "lost",
        }
    }

    /// What the merchant reads.
    pub fn label(self) -> &'static str {
        match self {
            Segment::Champions => "Champions",
            Segment::Loyal => "Loyal",
            Segment::New => "New",
            Segment::Promising => "Promising",
            Segment::NeedsAttention => "Needs attention",
            Segment::AtRisk => "At risk",
            Segment::Hibernating => "Hibernating",
            Segment::Lost => "Lost",
        }
    }
}

impl Thresholds {
    /// The quintile cut-offs of the shop's buying customers; `None` when
    /// nobody has bought yet.
    pub fn from_history(histories: &[History]) -> Option<Self> {
        if histories.is_empty() {
            return None;
        }
        let cuts = |mut values: Vec<i64>| -> [i64; 4] {
            values.sort_unstable();
            [1, 2, 3, 4].map(|q| quantile(&values, q, 5))
        };
        Some(Self {
            recency_days: cuts(histories.iter().map(|h| h.days_since_last).collect()),
            frequency: cuts(histories.iter().map(|h| h.orders).collect()),
            monetary_minor: cuts(histories.iter().map(|h| h.spend_minor).collect()),
        })
    }

    /// Cut-offs must ascend (equal neighbours are allowed).
    pub fn is_valid(&self) -> bool {
        let ascending = |c: &[i64; 4]| c.windows(2).all(|w| w[0] <= w[1]) && c[0] >= 0;
        ascending(&self.recency_days)
            && ascending(&self.frequency)
            && ascending(&self.monetary_minor)
    }

    pub fn score(&self, h: &History) -> Scores {
        Scores {
            // Fewer days is better: at or below the first cut-off scores 5.
            recency: 5 - above(&self.recency_days, h.days_since_last),
            frequency: 1 + above(&self.frequency, h.orders),
            monetary: 1 + above(&self.monetary_minor, h.spend_minor),
        }
    }
}

/// How many cut-offs `value` is above.
fn above(cuts: &[i64; 4], value: i64) -> u8 {
    cuts.iter().filter(|&&c| value > c).count() as u8
}

/// The `q`-th of `n` quantiles of sorted `values` (nearest rank), exact in
/// integers.
fn quantile(sorted: &[i64], q: usize, n: usize) -> i64 {
    let rank = (sorted.len() * q).div_ceil(n).max(1);
    sorted[rank - 1]
}

/// The segment of a customer with `scores`, `orders` counted orders, and
/// `overdue` when their next purchase is overdue ([`super::winback::at_risk`]).
///
/// | rule, first match | segment |
/// |---|---|
/// | overdue, recency 2-5 | at risk |
/// | one order, recency 4-5 | new |
/// | recency 4-5, frequency 4-5 | champions |
/// | recency 3-5, frequency 3-5 | loyal |
/// | recency 3-5 | promising |
/// | recency 1-2, frequency 3-5 | at risk |
/// | recency 2 | needs attention |
/// | recency 1, frequency 2 | hibernating |
/// | recency 1, frequency 1 | lost |
pub fn segment_of(scores: Scores, orders: i64, overdue: bool) -> Segment {
    let (r, f) = (scores.recency, scores.frequency);
    if overdue && r >= 2 {
        Segment::AtRisk
    } else if orders <= 1 && r >= 4 {
        Segment::New
    } else if r >= 4 && f >= 4 {
        Segment::Champions
    } else if r >= 3 && f >= 3 {
        Segment::Loyal
    } else if r >= 3 {
        Segment::Promising
    } else if f >= 3 {
        Segment::AtRisk
    } else if r == 2 {
        Segment::NeedsAttention
    } else if f == 2 {
        Segment::Hibernating
    } else {
        Segment::Lost
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(days: i64, orders: i64, spend: i64) -> History {
        History {
            days_since_last: days,
            orders,
            spend_minor: spend,
        }
    }

    #[test]
    fn quintiles_by_nearest_rank() {
        // Ten customers: 1..=10 orders.
        let v: Vec<i64> = (1..=10).collect();
        assert_eq!([1, 2, 3, 4].map(|q| quantile(&v, q, 5)), [2, 4, 6, 8]);
        assert_eq!(quantile(&[7], 1, 5), 7);
    }

    #[test]
    fn thresholds_and_scores_from_a_hand_built_shop() {
        // Five customers, one per fifth on every dimension.
        let shop = [
            h(5, 8, 80_000),
            h(20, 5, 40_000),
            h(60, 3, 20_000),
            h(120, 2, 9_000),
            h(300, 1, 3_000),
        ];
        let t = Thresholds::from_history(&shop).unwrap();
        assert_eq!(t.recency_days, [5, 20, 60, 120]);
        assert_eq!(t.frequency, [1, 2, 3, 5]);
        assert_eq!(t.monetary_minor, [3_000, 9_000, 20_000, 40_000]);
        let scores: Vec<Scores> = shop.iter().map(|c| t.score(c)).collect();
        assert_eq!(
            scores.iter().map(|s| s.recency).collect::<Vec<_>>(),
            [5, 4, 3, 2, 1]
        );
        assert_eq!(
            scores.iter().map(|s| s.frequency).collect::<Vec<_>>(),
            [5, 4, 3, 2, 1]
        );
        assert_eq!(
            scores.iter().map(|s| s.monetary).collect::<Vec<_>>(),
            [5, 4, 3, 2, 1]
        );
        let segments: Vec<Segment> = shop
            .iter()
            .zip(&scores)
            .map(|(c, s)| segment_of(*s, c.orders, false))
            .collect();
        assert_eq!(
            segments,
            [
                Segment::Champions,
                Segment::Champions,
                Segment::Loyal,
                Segment::NeedsAttention,
                Segment::Lost
            ]
        );
    }

    #[test]
    fn one_time_buyers_tie_at_the_bottom_of_frequency() {
        // Six of ten bought once.
        let mut shop: Vec<History> = (0..6).map(|i| h(10 * i, 1, 5_000)).collect();
        shop.extend([
            h(15, 2, 9_000),
            h(30, 3, 12_000),
            h(45, 6, 30_000),
            h(90, 9, 50_000),
        ]);
        let t = Thresholds::from_history(&shop).unwrap();
        assert_eq!(t.frequency, [1, 1, 1, 3]);
        assert_eq!(t.score(&h(0, 1, 0)).frequency, 1);
        assert_eq!(t.score(&h(0, 2, 0)).frequency, 4);
        assert_eq!(t.score(&h(0, 9, 0)).frequency, 5);
    }

    #[test]
    fn the_segment_rules_in_order() {
        let s = |recency, frequency| Scores {
            recency,
            frequency,
            monetary: 3,
        };
        assert_eq!(segment_of(s(5, 1), 1, false), Segment::New);
        assert_eq!(segment_of(s(5, 1), 2, false), Segment::Promising);
        assert_eq!(segment_of(s(4, 5), 9, false), Segment::Champions);
        assert_eq!(segment_of(s(3, 5), 9, false), Segment::Loyal);
        assert_eq!(segment_of(s(3, 2), 2, false), Segment::Promising);
        assert_eq!(segment_of(s(2, 4), 6, false), Segment::AtRisk);
        assert_eq!(segment_of(s(1, 5), 9, false), Segment::AtRisk);
        assert_eq!(segment_of(s(2, 1), 1, false), Segment::NeedsAttention);
        assert_eq!(segment_of(s(1, 2), 2, false), Segment::Hibernating);
        assert_eq!(segment_of(s(1, 1), 1, false), Segment::Lost);
        // Overdue by their own rhythm: at risk before anything else, until
        // recency has fallen to the lowest fifth.
        assert_eq!(segment_of(s(5, 5), 9, true), Segment::AtRisk);
        assert_eq!(segment_of(s(4, 1), 1, true), Segment::AtRisk);
        assert_eq!(segment_of(s(2, 1), 1, true), Segment::AtRisk);
        assert_eq!(segment_of(s(1, 2), 2, true), Segment::Hibernating);
        assert_eq!(segment_of(s(1, 1), 1, true), Segment::Lost);
        // Every combination lands in exactly one named segment.
        for r in 1..=5 {
            for f in 1..=5 {
                let seg = segment_of(s(r, f), i64::from(f), false);
                assert!(Segment::ALL.contains(&seg));
            }
        }
    }

    #[test]
    fn hand_set_thresholds_must_ascend() {
        let mut t = Thresholds {
            recency_days: [7, 30, 90, 180],
            frequency: [1, 2, 4, 8],
            monetary_minor: [1_000, 5_000, 10_000, 50_000],
        };
        assert!(t.is_valid());
        t.frequency = [1, 4, 2, 8];
        assert!(!t.is_valid());
        assert!(Thresholds::from_history(&[]).is_none());
    }

    #[test]
    fn slugs_are_tag_safe_and_distinct() {
        let slugs: std::collections::HashSet<_> = Segment::ALL.iter().map(|s| s.slug()).collect();
        assert_eq!(slugs.len(), Segment::ALL.len());
        assert!(slugs
            .iter()
            .all(|s| s.chars().all(|c| c.is_ascii_lowercase() || c == '-')));
    }
}
