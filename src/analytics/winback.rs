//! The win-back report, pure: how the at-risk episodes opened in a period
//! ended, for the customers who got the offer against the holdout that got
//! none, so the merchant sees whether offers bring customers back.
//!
//! Rates are fractions with their percent as a decimal string
//! ([`Rate`]); the lift is the offered win-back rate minus the holdout's,
//! in percentage points (one decimal), and is absent until both arms have
//! an episode. Money is integer minor units; per-episode revenue is
//! rounded down. Open episodes count in the denominators: they have not
//! come back yet, in either arm alike.

use serde::Serialize;

use super::metrics::{decimal, rfc3339, Rate, Window};
use crate::store::winback::ArmTotals;

/// One arm of the comparison.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Arm {
    pub episodes: i64,
    /// Still inside their attribution window.
    pub open: i64,
    pub returned: i64,
    pub win_back_rate: Rate,
    /// The return orders' totals net of refunds, as of now.
    pub recovered_revenue_minor: i64,
    pub revenue_per_episode_minor: Option<i64>,
}

impl Arm {
    fn new(t: &ArmTotals) -> Self {
        Self {
            episodes: t.episodes,
            open: t.open,
            returned: t.returned,
            win_back_rate: Rate::new(t.returned, t.episodes),
            recovered_revenue_minor: t.recovered_minor,
            revenue_per_episode_minor: (t.episodes > 0)
                .then(|| t.recovered_minor.div_euclid(t.episodes)),
        }
    }
}

/// What the offers cost: points credited and codes issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Cost {
    pub points_issued: i64,
    pub codes_issued: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WinbackReport {
    pub period: &'static str,
    pub from: String,
    pub to: String,
    pub currency: String,
    /// Whether offers are on now (episodes keep what they were given).
    pub enabled: bool,
    pub holdout_percent: u32,
    pub offered: Arm,
    pub holdout: Arm,
    /// Episodes opened while offers were off (and not held out).
    pub no_offer: Arm,
    /// Offered rate minus holdout rate, percentage points, one decimal.
    pub lift_points: Option<String>,
    pub cost: Cost,
}

/// Settings the report shows beside the numbers.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    pub currency: &'a str,
    pub enabled: bool,
    pub holdout_percent: u32,
}

/// `offered` − `holdout` win-back rates in percentage points.
pub fn lift(offered: &ArmTotals, holdout: &ArmTotals) -> Option<String> {
    if offered.episodes <= 0 || holdout.episodes <= 0 {
        return None;
    }
    let (ro, do_) = (i128::from(offered.returned), i128::from(offered.episodes));
    let (rh, dh) = (i128::from(holdout.returned), i128::from(holdout.episodes));
    Some(decimal((ro * dh - rh * do_) * 100, do_ * dh, 1))
}

pub fn build(
    window: &Window,
    context: &Context<'_>,
    offered: &ArmTotals,
    holdout: &ArmTotals,
    no_offer: &ArmTotals,
) -> WinbackReport {
    WinbackReport {
        period: window.key.as_str(),
        from: rfc3339(window.from),
        to: rfc3339(window.to),
        currency: context.currency.to_owned(),
        enabled: context.enabled,
        holdout_percent: context.holdout_percent,
        offered: Arm::new(offered),
        holdout: Arm::new(holdout),
        no_offer: Arm::new(no_offer),
        lift_points: lift(offered, holdout),
        cost: Cost {
            points_issued: offered.points_issued,
            codes_issued: offered.codes_issued,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::metrics::PeriodKey;

    fn arm(episodes: i64, returned: i64, recovered_minor: i64) -> ArmTotals {
        ArmTotals {
            episodes,
            returned,
            recovered_minor,
            ..ArmTotals::default()
        }
    }

    #[test]
    fn the_lift_is_the_difference_of_the_rates_in_points() {
        // 3 of 8 (37.5 %) against 1 of 6 (16.67 %): 20.83 -> 20.8.
        assert_eq!(lift(&arm(8, 3, 0), &arm(6, 1, 0)).as_deref(), Some("20.8"));
        // Worse than doing nothing: negative.
        assert_eq!(lift(&arm(4, 1, 0), &arm(2, 1, 0)).as_deref(), Some("-25.0"));
        assert_eq!(lift(&arm(4, 1, 0), &arm(0, 0, 0)), None, "no holdout yet");
        assert_eq!(lift(&arm(0, 0, 0), &arm(3, 1, 0)), None);
    }

    #[test]
    fn arms_show_rate_and_revenue_per_episode_rounded_down() {
        let window = Window::ending_at(PeriodKey::Days30, 30 * 86_400_000);
        let context = Context {
            currency: "USD",
            enabled: true,
            holdout_percent: 10,
        };
        let offered = ArmTotals {
            points_issued: 750,
            codes_issued: 2,
            ..arm(3, 2, 10_001)
        };
        let report = build(&window, &context, &offered, &arm(1, 0, 0), &arm(0, 0, 0));
        assert_eq!(
            report.offered.win_back_rate.percent.as_deref(),
            Some("66.7")
        );
        assert_eq!(report.offered.revenue_per_episode_minor, Some(3_333));
        assert_eq!(report.holdout.win_back_rate.percent.as_deref(), Some("0.0"));
        assert_eq!(report.no_offer.win_back_rate.percent, None);
        assert_eq!(report.no_offer.revenue_per_episode_minor, None);
        assert_eq!(report.lift_points.as_deref(), Some("66.7"));
        assert_eq!(
            report.cost,
            Cost {
                points_issued: 750,
                codes_issued: 2
            }
        );
        assert_eq!(report.from, "1970-01-01T00:00:00.000Z");
    }
}
