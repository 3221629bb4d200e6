//! The dashboard's definitions, pure: which window a period covers and how
//! it is bucketed for the trend, how rates, customer lifetime value and the
//! points liability are computed, and how the store's aggregates become the
//! dashboard. Integer arithmetic throughout (`i128` where products could
//! grow); decimal strings are rounded half away from zero, money is rounded
//! down.
//!
//! Every window ends at the moment of computation (`to`, exclusive) and
//! spans whole days back from it, so the store can aggregate the longest
//! period by day once and every shorter period is a suffix of those days.

use std::collections::BTreeMap;

use chrono::{DateTime, Months, SecondsFormat};
use serde::Serialize;

use crate::loyalty::{
    money,
    settings::{ProgramSettings, RewardValue},
    tiers,
};

// The aggregates the dashboard is built from, as the store returns them.
pub use crate::store::analytics::{
    CustomerCounts, Daily, OrderDay, ReferralDay, ShopTotals, DAY_MS,
};

/// The predicted customer lifespan never exceeds this many years: with no
/// churn observed the formula would give infinity.
pub const LIFESPAN_CAP_YEARS: i64 = 10;

/// A dashboard period: the last 30, 90 or 365 days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PeriodKey {
    Days30,
    Days90,
    Days365,
}

impl PeriodKey {
    pub const ALL: [PeriodKey; 3] = [PeriodKey::Days30, PeriodKey::Days90, PeriodKey::Days365];
    /// The period when the request names none.
    pub const DEFAULT: PeriodKey = PeriodKey::Days90;
    /// The longest period: the one whose days cover all the others.
    pub const LONGEST: PeriodKey = PeriodKey::Days365;

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == raw)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PeriodKey::Days30 => "30d",
            PeriodKey::Days90 => "90d",
            PeriodKey::Days365 => "365d",
        }
    }

    pub fn days(self) -> i64 {
        match self {
            PeriodKey::Days30 => 30,
            PeriodKey::Days90 => 90,
            PeriodKey::Days365 => 365,
        }
    }

    /// Trend buckets: daily for 30 days, weekly for 90, monthly for 365.
    pub fn bucket(self) -> Bucket {
        match self {
            PeriodKey::Days30 => Bucket::Day,
            PeriodKey::Days90 => Bucket::Week,
            PeriodKey::Days365 => Bucket::Month,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Bucket {
    Day,
    Week,
    Month,
}

/// The time a period covers: `[from, to)` in epoch milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub key: PeriodKey,
    pub from: i64,
    pub to: i64,
}

impl Window {
    /// The period `key` ending at `to`.
    pub fn ending_at(key: PeriodKey, to: i64) -> Self {
        Self {
            key,
            from: to - key.days() * DAY_MS,
            to,
        }
    }

    /// Start of the equal-length period just before this one (retention).
    pub fn previous_from(&self) -> i64 {
        self.from - (self.to - self.from)
    }

    /// Start of every trend bucket, first at `from`. Days and weeks are
    /// fixed lengths (the last week may be short); months are calendar
    /// months counted from `from` (a 31st falls back to the month's last
    /// day). Every start is a whole number of days after `from`.
    pub fn bucket_starts(&self) -> Vec<i64> {
        let step_days = match self.key.bucket() {
            Bucket::Day => 1,
            Bucket::Week => 7,
            Bucket::Month => {
                let Some(start) = DateTime::from_timestamp_millis(self.from) else {
                    return vec![self.from];
                };
                return (0..)
                    .map_while(|k| start.checked_add_months(Months::new(k)))
                    .map(|t| t.timestamp_millis())
                    .take_while(|t| *t < self.to)
                    .collect();
            }
        };
        (0..)
            .map(|i| self.from + i * step_days * DAY_MS)
            .take_while(|t| *t < self.to)
            .collect()
    }
}

/// Index of the bucket holding `at`, given the buckets' starts (ascending);
/// None before the first.
pub fn bucket_index(starts: &[i64], at: i64) -> Option<usize> {
    starts.partition_point(|s| *s <= at).checked_sub(1)
}

/// `numerator / denominator × 10^places` as a decimal string with `places`
/// digits, rounded half away from zero. `denominator` must be positive.
pub fn decimal(numerator: i128, denominator: i128, places: u32) -> String {
    debug_assert!(denominator > 0);
    let scale = 10i128.pow(places);
    let scaled = (numerator.abs() * scale * 2 + denominator) / (2 * denominator);
    let sign = if numerator < 0 && scaled != 0 {
        "-"
    } else {
        ""
    };
    if places == 0 {
        return format!("{sign}{scaled}");
    }
    format!(
        "{sign}{}.{:0width$}",
        scaled / scale,
        scaled % scale,
        width = places as usize
    )
}

/// A rate as the fraction it is, with its percent (one decimal) for
/// display; no percent when the denominator is not positive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rate {
    pub numerator: i64,
    pub denominator: i64,
    pub percent: Option<String>,
}

impl Rate {
    pub fn new(numerator: i64, denominator: i64) -> Self {
        Self {
            numerator,
            denominator,
            percent: (denominator > 0)
                .then(|| decimal(i128::from(numerator) * 100, i128::from(denominator), 1)),
        }
    }
}

/// `numerator / denominator` rounded down, None when nothing to divide by.
fn per(numerator: i64, denominator: i64) -> Option<i64> {
    (denominator > 0).then(|| numerator.div_euclid(denominator))
}

/// The fixed-amount reward that gives the most money per point, as
/// `(amount_minor, points_cost)`: the most a point can cost the merchant.
/// Percentage and free-shipping rewards have no fixed value and are not
/// considered; None when the program has no fixed-amount reward.
pub fn best_point_value(settings: &ProgramSettings, exponent: u32) -> Option<(i64, i64)> {
    settings
        .rewards
        .iter()
        .filter(|r| r.points_cost > 0)
        .filter_map(|r| match &r.value {
            RewardValue::AmountOff { amount }
            | RewardValue::StoreCredit { amount }
            | RewardValue::PointsAsCash { amount, .. } => {
                money::parse_minor(amount, exponent).map(|a| (a, r.points_cost))
            }
            _ => None,
        })
        .filter(|(amount, _)| *amount > 0)
        // a/b > c/d  <=>  a·d > c·b (costs are positive)
        .max_by(|(a, b), (c, d)| {
            (i128::from(*a) * i128::from(*d)).cmp(&(i128::from(*c) * i128::from(*b)))
        })
}

/// Outstanding points valued at `value` (amount per points), rounded down.
pub fn liability_minor(outstanding: i64, value: Option<(i64, i64)>) -> Option<i64> {
    let (amount, cost) = value?;
    let minor = i128::from(outstanding.max(0)) * i128::from(amount) / i128::from(cost);
    Some(i64::try_from(minor).unwrap_or(i64::MAX))
}

/// What customer lifetime value is computed from: identified customers'
/// orders in the period, the customers of the previous period and how many
/// of them came back, and every order ever.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClvInputs {
    pub period_days: i64,
    /// Counted orders of identified customers in the period.
    pub orders: i64,
    /// Their revenue, net of refunds.
    pub revenue_minor: i64,
    /// Customers with at least one of those orders.
    pub customers: i64,
    /// Customers who ordered in the previous period...
    pub previous_customers: i64,
    /// ...and of those, the ones who ordered again in this one.
    pub retained_customers: i64,
    /// Customers with at least one counted order, ever.
    pub lifetime_customers: i64,
    /// Revenue of every counted order of identified customers, ever.
    pub lifetime_revenue_minor: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Clv {
    pub average_order_value_minor: Option<i64>,
    /// Orders per customer per year.
    pub purchase_frequency: Option<String>,
    pub lifespan_years: Option<String>,
    /// Average order value × purchase frequency × lifespan.
    pub predicted_minor: Option<i64>,
    /// Lifetime revenue per customer who ever ordered.
    pub observed_per_customer_minor: Option<i64>,
}

/// The expected customer lifespan in years as a fraction: one period over
/// the period's churn (the share of the previous period's customers who did
/// not come back), at most [`LIFESPAN_CAP_YEARS`]. None without previous
/// customers.
pub fn lifespan_years(period_days: i64, previous: i64, retained: i64) -> Option<(i128, i128)> {
    if previous <= 0 || period_days <= 0 {
        return None;
    }
    let churned = i128::from(previous - retained.min(previous));
    let cap = (i128::from(LIFESPAN_CAP_YEARS), 1);
    if churned == 0 {
        return Some(cap);
    }
    // (days / 365) / (churned / previous)
    let numerator = i128::from(period_days) * i128::from(previous);
    let denominator = 365 * churned;
    if numerator > cap.0 * denominator {
        Some(cap)
    } else {
        Some((numerator, denominator))
    }
}

pub fn clv(input: &ClvInputs) -> Clv {
    let frequency = (input.customers > 0 && input.period_days > 0).then(|| {
        (
            i128::from(input.orders) * 365,
            i128::from(input.customers) * i128::from(input.period_days),
        )
    });
    let lifespan = lifespan_years(
        input.period_days,
        input.previous_customers,
        input.retained_customers,
    );
    // AOV × frequency × lifespan = revenue/orders × orders·365/(customers·days)
    // × lifespan: computed from the exact fractions, rounded down once.
    let predicted = match (frequency, lifespan) {
        (Some((_, fd)), Some((ln, ld))) if input.orders > 0 => {
            let value = i128::from(input.revenue_minor) * 365 * ln / (fd * ld);
            Some(i64::try_from(value).unwrap_or(i64::MAX))
        }
        _ => None,
    };
    Clv {
        average_order_value_minor: per(input.revenue_minor, input.orders),
        purchase_frequency: frequency.map(|(n, d)| decimal(n, d, 2)),
        lifespan_years: lifespan.map(|(n, d)| decimal(n, d, 2)),
        predicted_minor: predicted,
        observed_per_customer_minor: per(input.lifetime_revenue_minor, input.lifetime_customers),
    }
}

/// How ledger kinds count on the dashboard: redemptions (net of points
/// given back for a code Shopify refused), expiry, and everything else as
/// points issued (net of clawbacks, cancellations and deductions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PointsFlow {
    Issued,
    Redeemed,
    Expired,
}

pub fn points_flow(kind: &str) -> PointsFlow {
    use crate::store::ledger::kind;
    match kind {
        kind::REDEEM | kind::REFUND => PointsFlow::Redeemed,
        kind::EXPIRY => PointsFlow::Expired,
        _ => PointsFlow::Issued,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PeriodOut {
    pub key: &'static str,
    pub from: String,
    pub to: String,
    pub bucket: Bucket,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Members {
    pub total: i64,
    pub new_in_period: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Points {
    pub issued: i64,
    pub redeemed: i64,
    pub expired: i64,
    pub outstanding: i64,
    pub liability_minor: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Revenue {
    pub orders: i64,
    pub revenue_minor: i64,
    pub aov_minor: Option<i64>,
}

impl Revenue {
    fn new(orders: i64, revenue_minor: i64) -> Self {
        Self {
            orders,
            revenue_minor,
            aov_minor: per(revenue_minor, orders),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RevenueSplit {
    pub members: Revenue,
    pub non_members: Revenue,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TierCount {
    /// None for customers without a tier.
    pub id: Option<String>,
    /// None for customers without a tier and for a tier no longer in the
    /// settings.
    pub name: Option<String>,
    pub customers: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Referrals {
    pub completed: i64,
    pub revenue_minor: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct TrendPoint {
    pub start: String,
    pub orders: i64,
    pub revenue_minor: i64,
    pub member_revenue_minor: i64,
    pub points_issued: i64,
    pub points_redeemed: i64,
    pub new_members: i64,
}

/// The dashboard of one period, as the API answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dashboard {
    pub period: PeriodOut,
    pub currency: String,
    pub computed_at: String,
    pub members: Members,
    pub points: Points,
    pub redemption_rate: Rate,
    pub repeat_purchase_rate: Rate,
    pub retention_rate: Rate,
    pub clv: Clv,
    pub revenue: RevenueSplit,
    pub tiers: Vec<TierCount>,
    pub referrals: Referrals,
    pub trend: Vec<TrendPoint>,
}

/// RFC 3339 in UTC with milliseconds.
pub fn rfc3339(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// Everything the dashboard of `window` is built from.
pub struct Inputs<'a> {
    pub window: Window,
    pub daily: &'a Daily,
    pub customers: CustomerCounts,
    pub totals: &'a ShopTotals,
    pub settings: &'a ProgramSettings,
    pub currency: &'a str,
}

/// Assembles the dashboard. `daily` must start at or before the window and
/// a whole number of days before it.
pub fn build(input: &Inputs<'_>) -> Dashboard {
    let window = input.window;
    let days = WindowDays::new(window, input.daily.from);
    let mut trend = days.empty_trend();
    let orders = sum_orders(input.daily, &days, &mut trend);
    let points = sum_points(input.daily, &days, &mut trend);
    let members = count_members(input.daily, &days, &mut trend);
    let referrals = sum_referrals(input.daily, &days);
    let c = input.customers;
    let totals = input.totals;
    let exponent = money::exponent(input.currency);
    let point_value = best_point_value(input.settings, exponent);
    Dashboard {
        period: PeriodOut::of(window),
        currency: input.currency.to_owned(),
        computed_at: rfc3339(window.to),
        members,
        points: points.with_outstanding(totals.outstanding, point_value),
        redemption_rate: Rate::new(points.redeemed, points.issued),
        repeat_purchase_rate: Rate::new(c.repeat, c.ordered),
        retention_rate: Rate::new(c.retained, c.previous),
        clv: clv(&ClvInputs::of(window.key.days(), &c, totals)),
        revenue: orders.split(),
        tiers: tier_counts(input.settings, exponent, &totals.tiers),
        referrals,
        trend,
    }
}

/// Where the daily aggregates fall in a window: the window's day of an
/// aggregate's day, and the trend bucket holding it.
struct WindowDays {
    from: i64,
    /// Days from the start of the aggregates to the start of the window.
    offset: i64,
    days: i64,
    starts: Vec<i64>,
}

impl WindowDays {
    fn new(window: Window, daily_from: i64) -> Self {
        Self {
            from: window.from,
            offset: (window.from - daily_from).div_euclid(DAY_MS),
            days: window.key.days(),
            starts: window.bucket_starts(),
        }
    }

    /// The window's day of a daily aggregate, if inside the window.
    fn day_of(&self, d: i64) -> Option<i64> {
        Some(d - self.offset).filter(|d| (0..self.days).contains(d))
    }

    /// The trend bucket of the window's day `d`.
    fn bucket(&self, d: i64) -> Option<usize> {
        bucket_index(&self.starts, self.from + d * DAY_MS)
    }

    /// One zeroed trend point per bucket.
    fn empty_trend(&self) -> Vec<TrendPoint> {
        self.starts
            .iter()
            .map(|s| TrendPoint {
                start: rfc3339(*s),
                ..TrendPoint::default()
            })
            .collect()
    }
}

impl PeriodOut {
    fn of(window: Window) -> Self {
        Self {
            key: window.key.as_str(),
            from: rfc3339(window.from),
            to: rfc3339(window.to),
            bucket: window.key.bucket(),
        }
    }
}

/// Orders and revenue of the window, all and members'.
struct OrderSums {
    orders: i64,
    revenue: i64,
    member_orders: i64,
    member_revenue: i64,
}

impl OrderSums {
    fn split(&self) -> RevenueSplit {
        RevenueSplit {
            members: Revenue::new(self.member_orders, self.member_revenue),
            non_members: Revenue::new(
                self.orders - self.member_orders,
                self.revenue - self.member_revenue,
            ),
        }
    }
}

fn sum_orders(daily: &Daily, days: &WindowDays, trend: &mut [TrendPoint]) -> OrderSums {
    let (mut orders, mut revenue, mut member_orders, mut member_revenue) = (0, 0, 0, 0);
    for (d, day) in &daily.orders {
        let Some(d) = days.day_of(*d) else { continue };
        orders += day.orders;
        revenue += day.revenue_minor;
        member_orders += day.member_orders;
        member_revenue += day.member_revenue_minor;
        if let Some(point) = days.bucket(d).map(|i| &mut trend[i]) {
            point.orders += day.orders;
            point.revenue_minor += day.revenue_minor;
            point.member_revenue_minor += day.member_revenue_minor;
        }
    }
    OrderSums {
        orders,
        revenue,
        member_orders,
        member_revenue,
    }
}

/// Points moved in the window, each flow counted positive.
struct PointSums {
    issued: i64,
    redeemed: i64,
    expired: i64,
}

impl PointSums {
    fn with_outstanding(&self, outstanding: i64, point_value: Option<(i64, i64)>) -> Points {
        Points {
            issued: self.issued,
            redeemed: self.redeemed,
            expired: self.expired,
            outstanding,
            liability_minor: liability_minor(outstanding, point_value),
        }
    }
}

fn sum_points(daily: &Daily, days: &WindowDays, trend: &mut [TrendPoint]) -> PointSums {
    let (mut issued, mut redeemed, mut expired) = (0, 0, 0);
    for (d, kinds) in &daily.points {
        let Some(d) = days.day_of(*d) else { continue };
        for (kind, points) in kinds {
            let point = days.bucket(d).map(|i| &mut trend[i]);
            match points_flow(kind) {
                PointsFlow::Issued => {
                    issued += points;
                    if let Some(p) = point {
                        p.points_issued += points;
                    }
                }
                PointsFlow::Redeemed => {
                    redeemed -= points;
                    if let Some(p) = point {
                        p.points_redeemed -= points;
                    }
                }
                PointsFlow::Expired => expired -= points,
            }
        }
    }
    PointSums {
        issued,
        redeemed,
        expired,
    }
}

/// Members up to the end of the window, and those new in it.
fn count_members(daily: &Daily, days: &WindowDays, trend: &mut [TrendPoint]) -> Members {
    let mut total = daily.members_before;
    let mut new_in_period = 0;
    for (d, n) in &daily.new_members {
        total += n;
        if let Some(d) = days.day_of(*d) {
            new_in_period += n;
            if let Some(p) = days.bucket(d).map(|i| &mut trend[i]) {
                p.new_members += n;
            }
        }
    }
    Members {
        total,
        new_in_period,
    }
}

fn sum_referrals(daily: &Daily, days: &WindowDays) -> Referrals {
    let (mut completed, mut revenue_minor) = (0, 0);
    for (d, day) in &daily.referrals {
        if days.day_of(*d).is_some() {
            completed += day.completed;
            revenue_minor += day.revenue_minor;
        }
    }
    Referrals {
        completed,
        revenue_minor,
    }
}

impl ClvInputs {
    /// The inputs of a period of `period_days` from the store's counts.
    fn of(period_days: i64, c: &CustomerCounts, totals: &ShopTotals) -> Self {
        Self {
            period_days,
            orders: c.orders,
            revenue_minor: c.revenue_minor,
            customers: c.ordered,
            previous_customers: c.previous,
            retained_customers: c.retained,
            lifetime_customers: totals.lifetime_customers,
            lifetime_revenue_minor: totals.lifetime_revenue_minor,
        }
    }
}

/// Customers without a tier first, then the program's tiers from the
/// lowest threshold up (zero when empty), then tiers customers still hold
/// that the settings no longer have.
pub fn tier_counts(
    settings: &ProgramSettings,
    exponent: u32,
    counts: &[(Option<String>, i64)],
) -> Vec<TierCount> {
    let mut by_id: BTreeMap<Option<&str>, i64> = BTreeMap::new();
    for (id, n) in counts {
        *by_id.entry(id.as_deref()).or_default() += n;
    }
    let mut out = vec![TierCount {
        id: None,
        name: None,
        customers: by_id.remove(&None).unwrap_or(0),
    }];
    for (_, level) in tiers::ranked(&settings.tiers, exponent) {
        out.push(TierCount {
            id: Some(level.id.clone()),
            name: Some(level.name.clone()),
            customers: by_id.remove(&Some(level.id.as_str())).unwrap_or(0),
        });
    }
    for (id, customers) in by_id {
        out.push(TierCount {
            id: id.map(str::to_owned),
            name: None,
            customers,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_764_000_000_000; // 2025-11-24T16:00:00Z

    #[test]
    fn percents_have_one_decimal_rounded_half_up_and_none_without_a_denominator() {
        assert_eq!(Rate::new(1, 3).percent.as_deref(), Some("33.3"));
        assert_eq!(Rate::new(2, 3).percent.as_deref(), Some("66.7"));
        assert_eq!(Rate::new(3, 8).percent.as_deref(), Some("37.5"));
        assert_eq!(Rate::new(1, 2000).percent.as_deref(), Some("0.1")); // 0.05 rounds up
        assert_eq!(Rate::new(1, 2001).percent.as_deref(), Some("0.0"));
        assert_eq!(Rate::new(5, 5).percent.as_deref(), Some("100.0"));
        assert_eq!(Rate::new(0, 0).percent, None);
        assert_eq!(Rate::new(3, -4).percent, None);
        assert_eq!(Rate::new(-1, 3).percent.as_deref(), Some("-33.3"));
    }

    #[test]
    fn decimals_round_half_away_from_zero() {
        assert_eq!(decimal(1825, 360, 2), "5.07");
        assert_eq!(decimal(1, 8, 2), "0.13");
        assert_eq!(decimal(-1, 8, 2), "-0.13");
        assert_eq!(decimal(-1, 1000, 2), "0.00");
        assert_eq!(decimal(7, 2, 0), "4");
    }

    #[test]
    fn periods_parse_only_their_three_keys() {
        assert_eq!(PeriodKey::parse("30d"), Some(PeriodKey::Days30));
        assert_eq!(PeriodKey::parse("365d"), Some(PeriodKey::Days365));
        assert_eq!(PeriodKey::parse("7d"), None);
        assert_eq!(PeriodKey::parse("90"), None);
        assert_eq!(PeriodKey::parse(""), None);
    }

    #[test]
    fn buckets_are_days_weeks_and_calendar_months_from_the_start() {
        let w = Window::ending_at(PeriodKey::Days30, T);
        let starts = w.bucket_starts();
        assert_eq!(starts.len(), 30);
        assert_eq!(starts[0], w.from);
        assert_eq!(starts[29], T - DAY_MS);

        let w = Window::ending_at(PeriodKey::Days90, T);
        let starts = w.bucket_starts();
        assert_eq!(starts.len(), 13, "twelve weeks and a six-day tail");
        assert_eq!(starts[12], w.from + 84 * DAY_MS);
        assert_eq!(bucket_index(&starts, w.from + 83 * DAY_MS), Some(11));
        assert_eq!(bucket_index(&starts, T - 1), Some(12));
        assert_eq!(bucket_index(&starts, w.from - 1), None);

        let w = Window::ending_at(PeriodKey::Days365, T);
        let starts = w.bucket_starts();
        assert_eq!(starts.len(), 12);
        assert_eq!(rfc3339(starts[0]), "2024-11-24T16:00:00.000Z");
        assert_eq!(rfc3339(starts[3]), "2025-02-24T16:00:00.000Z");
        assert!(starts.iter().all(|s| (s - w.from) % DAY_MS == 0));
    }

    #[test]
    fn a_month_from_the_31st_falls_back_to_the_last_day() {
        let from = 1_706_659_200_000; // 2024-01-31T00:00:00Z
        let w = Window {
            key: PeriodKey::Days365,
            from,
            to: from + 365 * DAY_MS,
        };
        let starts = w.bucket_starts();
        assert_eq!(rfc3339(starts[1]), "2024-02-29T00:00:00.000Z");
        assert_eq!(rfc3339(starts[2]), "2024-03-31T00:00:00.000Z");
    }

    #[test]
    fn lifetime_value_is_aov_times_frequency_times_lifespan() {
        let input = ClvInputs {
            period_days: 90,
            orders: 6,
            revenue_minor: 51_000,
            customers: 4,
            previous_customers: 2,
            retained_customers: 1,
            lifetime_customers: 5,
            lifetime_revenue_minor: 69_000,
        };
        let clv = clv(&input);
        assert_eq!(clv.average_order_value_minor, Some(8_500));
        assert_eq!(clv.purchase_frequency.as_deref(), Some("6.08")); // 6·365/(4·90)
        assert_eq!(clv.lifespan_years.as_deref(), Some("0.49")); // 90/365 ÷ 1/2
        assert_eq!(clv.predicted_minor, Some(25_500)); // 12750 per customer per 90 d, ×2 periods
        assert_eq!(clv.observed_per_customer_minor, Some(13_800));
    }

    #[test]
    fn lifespan_is_capped_and_unknown_without_a_previous_period() {
        assert_eq!(lifespan_years(30, 1, 1), Some((10, 1)), "no churn");
        assert_eq!(
            lifespan_years(365, 100, 95),
            Some((10, 1)),
            "20 years capped"
        );
        assert_eq!(lifespan_years(365, 100, 80), Some((36500, 7300)));
        assert_eq!(lifespan_years(30, 0, 0), None);
        let clv = clv(&ClvInputs {
            period_days: 30,
            orders: 5,
            revenue_minor: 49_000,
            customers: 4,
            previous_customers: 1,
            retained_customers: 1,
            ..ClvInputs::default()
        });
        assert_eq!(clv.lifespan_years.as_deref(), Some("10.00"));
        // 49000/4 per customer per 30 days × 365/30 × 10 years
        assert_eq!(clv.predicted_minor, Some(1_490_416));
        assert_eq!(clv.observed_per_customer_minor, None);
        let none = super::clv(&ClvInputs {
            period_days: 30,
            ..ClvInputs::default()
        });
        assert_eq!(none.average_order_value_minor, None);
        assert_eq!(none.purchase_frequency, None);
        assert_eq!(none.predicted_minor, None);
    }

    #[test]
    fn liability_uses_the_fixed_amount_reward_worth_most_per_point() {
        let mut settings = ProgramSettings::default();
        // Defaults: 5.00 for 500 points is the only fixed amount.
        assert_eq!(best_point_value(&settings, 2), Some((500, 500)));
        assert_eq!(
            liability_minor(660, best_point_value(&settings, 2)),
            Some(660)
        );
        settings.rewards[0].value = RewardValue::AmountOff {
            amount: "3.00".into(),
        };
        settings.rewards[0].points_cost = 200;
        settings.rewards[1].value = RewardValue::AmountOff {
            amount: "1.00".into(),
        };
        settings.rewards[1].points_cost = 100;
        assert_eq!(best_point_value(&settings, 2), Some((300, 200)));
        assert_eq!(liability_minor(3, best_point_value(&settings, 2)), Some(4)); // 4.5 down
        assert_eq!(liability_minor(-10, Some((300, 200))), Some(0));
        settings
            .rewards
            .retain(|r| !matches!(r.value, RewardValue::AmountOff { .. }));
        assert_eq!(best_point_value(&settings, 2), None);
        assert_eq!(liability_minor(660, None), None);
    }

    #[test]
    fn tiers_list_no_tier_first_then_by_threshold_then_removed_ones() {
        let settings = ProgramSettings::default();
        let counts = vec![
            (Some("gold".to_owned()), 2),
            (None, 5),
            (Some("bronze-retired".to_owned()), 1),
        ];
        let out = tier_counts(&settings, 2, &counts);
        let ids: Vec<_> = out.iter().map(|t| (t.id.as_deref(), t.customers)).collect();
        assert_eq!(
            ids,
            vec![
                (None, 5),
                (Some("silver"), 0),
                (Some("gold"), 2),
                (Some("platinum"), 0),
                (Some("bronze-retired"), 1)
            ]
        );
        assert_eq!(out[2].name.as_deref(), Some("Gold"));
        assert_eq!(out[4].name, None);
    }

    #[test]
    fn shorter_periods_take_the_last_days_of_the_daily_aggregates() {
        let to = T;
        let long = Window::ending_at(PeriodKey::Days365, to);
        let mut daily = Daily {
            from: long.from,
            members_before: 2,
            ..Daily::default()
        };
        let day = |days_ago: i64| 365 - days_ago;
        daily.orders.insert(
            day(40),
            OrderDay {
                orders: 1,
                revenue_minor: 100,
                member_orders: 1,
                member_revenue_minor: 100,
            },
        );
        daily.orders.insert(
            day(1),
            OrderDay {
                orders: 2,
                revenue_minor: 300,
                member_orders: 1,
                member_revenue_minor: 200,
            },
        );
        daily.points.insert(
            day(1),
            vec![
                ("earn".into(), 50),
                ("clawback".into(), -5),
                ("redeem".into(), -20),
                ("refund".into(), 10),
                ("expiry".into(), -7),
            ],
        );
        daily.new_members.insert(day(40), 1);
        daily.new_members.insert(day(1), 3);
        daily.referrals.insert(
            day(1),
            ReferralDay {
                completed: 1,
                revenue_minor: 300,
            },
        );
        let totals = ShopTotals::default();
        let settings = ProgramSettings::default();
        let build_for = |key| {
            build(&Inputs {
                window: Window::ending_at(key, to),
                daily: &daily,
                customers: CustomerCounts::default(),
                totals: &totals,
                settings: &settings,
                currency: "USD",
            })
        };
        let d30 = build_for(PeriodKey::Days30);
        assert_eq!(d30.revenue.members, Revenue::new(1, 200));
        assert_eq!(d30.revenue.non_members, Revenue::new(1, 100));
        assert_eq!(d30.members.total, 6);
        assert_eq!(d30.members.new_in_period, 3);
        assert_eq!(
            (d30.points.issued, d30.points.redeemed, d30.points.expired),
            (45, 10, 7)
        );
        assert_eq!(d30.redemption_rate.percent.as_deref(), Some("22.2"));
        assert_eq!(d30.referrals.completed, 1);
        assert_eq!(d30.trend.len(), 30);
        assert_eq!(d30.trend[29].orders, 2);
        assert_eq!(d30.trend[29].points_issued, 45);
        assert_eq!(d30.trend[29].points_redeemed, 10);
        assert_eq!(d30.trend[29].new_members, 3);

        let d90 = build_for(PeriodKey::Days90);
        assert_eq!(d90.revenue.members, Revenue::new(2, 300));
        assert_eq!(d90.members.new_in_period, 4);
        assert_eq!(d90.trend[7].orders, 1, "day 50 of 90 is in week 7");
        assert_eq!(d90.trend[12].member_revenue_minor, 200);
        assert_eq!(d90.trend.iter().map(|p| p.orders).sum::<i64>(), 3);
        assert_eq!(d90.period.bucket, Bucket::Week);
        assert_eq!(d90.computed_at, d90.period.to);
    }
}
