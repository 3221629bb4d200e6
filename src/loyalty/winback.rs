//! At-risk detection and the win-back holdout, pure.
//!
//! A customer is at risk when their next purchase is overdue by the shop's
//! own measure: their personal purchase interval (the mean gap between their
//! first and last orders), or, for a one-time buyer, the shop's median
//! interval; scaled by a grace factor so that a day late is not "at risk".
//!
//! Whether an at-risk customer gets the win-back offer or is held out (to
//! measure whether offers work) is decided by a keyed hash of the shop,
//! the customer and the episode: stable across re-runs and processes, and
//! not guessable from the customer id.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::time::DAY_MS;

/// What the rule needs of a customer's purchases (counted orders only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Purchases {
    pub first_at: i64,
    pub last_at: i64,
    pub orders: i64,
}

/// The mean gap between a repeat buyer's orders; `None` for one order.
pub fn personal_interval(p: &Purchases) -> Option<i64> {
    (p.orders >= 2).then(|| (p.last_at - p.first_at) / (p.orders - 1))
}

/// The median of the repeat buyers' personal intervals (lower median for
/// an even count); `None` when the shop has no repeat buyer yet.
pub fn median_interval(mut intervals: Vec<i64>) -> Option<i64> {
    if intervals.is_empty() {
        return None;
    }
    intervals.sort_unstable();
    Some(intervals[(intervals.len() - 1) / 2])
}

/// When the customer's next purchase becomes overdue: the last order plus
/// the interval times `grace_percent` / 100, and never sooner than a day
/// after it. `None` when there is no interval to go by.
pub fn overdue_at(p: &Purchases, shop_median: Option<i64>, grace_percent: u32) -> Option<i64> {
    let interval = personal_interval(p).or(shop_median)?;
    let wait = (i128::from(interval) * i128::from(grace_percent) / 100) as i64;
    Some(p.last_at + wait.max(DAY_MS))
}

/// Is the customer at risk at `now`?
pub fn at_risk(p: &Purchases, shop_median: Option<i64>, grace_percent: u32, now: i64) -> bool {
    overdue_at(p, shop_median, grace_percent).is_some_and(|at| now > at)
}

/// Whether this at-risk episode is held out (no offer): `percent` of
/// episodes, by a keyed hash.
pub fn held_out(key: &[u8], shop_id: i64, customer_id: i64, episode: i64, percent: u32) -> bool {
    keyed_draw(
        key,
        &format!("winback:{shop_id}:{customer_id}:{episode}"),
        percent,
    )
}

/// A holdout draw: whether `subject` falls in `percent` of all subjects,
/// by the shop's secret key, so no one can predict or game it and the
/// same subject always draws the same.
pub fn keyed_draw(key: &[u8], subject: &str, percent: u32) -> bool {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(subject.as_bytes());
    let digest = mac.finalize().into_bytes();
    let draw = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes")) % 10_000;
    draw < u64::from(percent.min(100)) * 100
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(first_day: i64, last_day: i64, orders: i64) -> Purchases {
        Purchases {
            first_at: first_day * DAY_MS,
            last_at: last_day * DAY_MS,
            orders,
        }
    }

    #[test]
    fn a_repeat_buyer_is_judged_by_their_own_rhythm() {
        // Four orders over 90 days: every 30 days.
        let c = p(0, 90, 4);
        assert_eq!(personal_interval(&c), Some(30 * DAY_MS));
        // Grace 150 %: overdue 45 days after the last order.
        assert_eq!(overdue_at(&c, None, 150), Some(135 * DAY_MS));
        assert!(!at_risk(&c, Some(DAY_MS), 150, 135 * DAY_MS));
        assert!(at_risk(&c, Some(DAY_MS), 150, 135 * DAY_MS + 1));
    }

    #[test]
    fn a_one_time_buyer_is_judged_by_the_shop_median() {
        let once = p(10, 10, 1);
        assert_eq!(personal_interval(&once), None);
        let median = median_interval(vec![40 * DAY_MS, 20 * DAY_MS, 60 * DAY_MS, 90 * DAY_MS]);
        assert_eq!(median, Some(40 * DAY_MS));
        assert_eq!(overdue_at(&once, median, 100), Some(50 * DAY_MS));
        assert!(!at_risk(&once, None, 100, 1_000 * DAY_MS), "no measure yet");
        assert_eq!(median_interval(Vec::new()), None);
    }

    #[test]
    fn never_overdue_within_a_day() {
        // Two orders the same hour.
        let c = Purchases {
            first_at: 0,
            last_at: 3_600_000,
            orders: 2,
        };
        assert_eq!(overdue_at(&c, None, 100), Some(3_600_000 + DAY_MS));
    }

    #[test]
    fn the_holdout_is_stable_keyed_and_near_its_share() {
        let key = b"shop-secret";
        let held = (0..10_000).filter(|c| held_out(key, 1, *c, 1, 10)).count();
        assert!((800..1200).contains(&held), "{held} of 10000 held out");
        assert_eq!(held_out(key, 1, 42, 1, 10), held_out(key, 1, 42, 1, 10));
        assert!((0..1000).all(|c| !held_out(key, 1, c, 1, 0)));
        assert!((0..1000).all(|c| held_out(key, 1, c, 1, 100)));
        let other_key = (0..10_000)
            .filter(|c| held_out(key, 1, *c, 1, 10) != held_out(b"other", 1, *c, 1, 10))
            .count();
        assert!(other_key > 1000, "the draw depends on the key");
    }
}
