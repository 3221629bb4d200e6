//! Reorder reminders, pure: learning how often customers buy a product
//! again, when a customer's next purchase is due, and who is held out.
//!
//! A product's repurchase interval is the median number of days between
//! two consecutive purchases of it by one customer, over every customer
//! who bought it more than once (purchases less than a day apart are one
//! purchase). It is learned only when at least the program's minimum of
//! customers show it: a product bought once, or again by too few
//! customers, has none.

use chrono::{Days, NaiveDate};

use super::{calendar::Zone, time::DAY_MS};

/// A reminder comes at most this many days after its due date: a cycle
/// found later (reminders just turned on, a product just learned) is
/// stale and gets none.
pub const LATE_DAYS: u64 = 7;

/// One customer's purchases of one product: (time paid, order id), in
/// time order.
pub type Purchases = [(i64, i64)];

/// What one product's purchases teach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Learned {
    /// The median interval in days; None when too few customers show one.
    pub days: Option<i64>,
    /// Customers who bought it again at least a day later.
    pub repeat_customers: i64,
}

/// Learns a product's interval from each customer's purchases of it.
pub fn learn<'a>(
    customers: impl IntoIterator<Item = &'a Purchases>,
    min_customers: u32,
) -> Learned {
    let mut gaps: Vec<i64> = Vec::new();
    let mut repeat_customers = 0;
    for purchases in customers {
        let before = gaps.len();
        let mut last: Option<i64> = None;
        for &(at, _) in purchases {
            match last {
                Some(prev) if at - prev < DAY_MS => {}
                Some(prev) => {
                    // Whole days, rounded to the nearest.
                    gaps.push((at - prev + DAY_MS / 2) / DAY_MS);
                    last = Some(at);
                }
                None => last = Some(at),
            }
        }
        if gaps.len() > before {
            repeat_customers += 1;
        }
    }
    let days = (repeat_customers >= i64::from(min_customers) && !gaps.is_empty()).then(|| {
        gaps.sort_unstable();
        // The lower median: an interval someone really showed.
        gaps[(gaps.len() - 1) / 2]
    });
    Learned {
        days,
        repeat_customers,
    }
}

/// The local date a purchase at `last_at` comes due again after
/// `interval_days`, in the shop's zone.
pub fn due_on(zone: Zone, last_at: i64, interval_days: i64) -> NaiveDate {
    let bought = zone.date_of(last_at);
    bought
        .checked_add_days(Days::new(interval_days.max(1) as u64))
        .unwrap_or(NaiveDate::MAX)
}

/// Whether a reminder for a cycle due on `due` is to be sent `today`: from
/// its due date to [`LATE_DAYS`] after.
pub fn remind_today(due: NaiveDate, today: NaiveDate) -> bool {
    due <= today
        && due
            .checked_add_days(Days::new(LATE_DAYS))
            .is_none_or(|last| today <= last)
}

/// Whether a reminder is held out (sent nothing, to compare against): the
/// win-back holdout's keyed draw, for this purchase cycle.
pub fn held_out(
    key: &[u8],
    shop_id: i64,
    customer_id: i64,
    product_id: i64,
    cycle_order_id: i64,
    percent: u32,
) -> bool {
    let cycle = format!("reorder:{shop_id}:{customer_id}:{product_id}:{cycle_order_id}");
    super::winback::keyed_draw(key, &cycle, percent)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every(days: i64, times: i64) -> Vec<(i64, i64)> {
        (0..times).map(|i| (i * days * DAY_MS, i)).collect()
    }

    #[test]
    fn the_interval_is_the_median_gap_once_enough_customers_show_it() {
        let a = every(30, 3);
        let b = every(28, 2);
        let c = every(35, 2);
        let learned = learn([a.as_slice(), b.as_slice(), c.as_slice()], 3);
        // Gaps 30, 30, 28, 35: lower median 30.
        assert_eq!(learned.days, Some(30));
        assert_eq!(learned.repeat_customers, 3);
        assert_eq!(learn([a.as_slice(), b.as_slice()], 3).days, None);
        // Bought once by many: nothing to learn.
        let once = every(30, 1);
        let learned = learn(vec![once.as_slice(); 10], 3);
        assert_eq!(
            learned,
            Learned {
                days: None,
                repeat_customers: 0
            }
        );
        // Two orders the same day are one purchase.
        let same_day = vec![(0, 1), (3_600_000, 2)];
        assert_eq!(learn(vec![same_day.as_slice(); 5], 3).repeat_customers, 0);
    }

    #[test]
    fn a_reminder_is_due_from_its_date_for_a_week_and_draws_stably() {
        let d = |y, m, dd| NaiveDate::from_ymd_opt(y, m, dd).unwrap();
        let zone = Zone::parse("Pacific/Auckland").unwrap();
        // 2026-03-10T11:30Z is 11 March in Auckland.
        let bought = 1_773_142_200_000;
        assert_eq!(due_on(zone, bought, 30), d(2026, 4, 10));
        assert_eq!(due_on(Zone::UTC, bought, 30), d(2026, 4, 9));
        assert!(!remind_today(d(2026, 4, 10), d(2026, 4, 9)));
        assert!(remind_today(d(2026, 4, 10), d(2026, 4, 10)));
        assert!(remind_today(d(2026, 4, 10), d(2026, 4, 17)));
        assert!(!remind_today(d(2026, 4, 10), d(2026, 4, 18)));
        let key = b"secret";
        let draws: Vec<bool> = (0..1000).map(|c| held_out(key, 1, c, 7, 9, 20)).collect();
        let held = draws.iter().filter(|h| **h).count();
        assert!((150..250).contains(&held), "{held}");
        assert_eq!(
            draws,
            (0..1000)
                .map(|c| held_out(key, 1, c, 7, 9, 20))
                .collect::<Vec<_>>()
        );
        assert!(!(0..100).any(|c| held_out(key, 1, c, 7, 9, 0)));
    }
}
