//! A shop's program settings: what earns, what can be redeemed, the VIP
//! tiers, expiry and referrals. Stored as JSON and versioned: every change
//! is a new version, and the ledger records the version that earned each
//! entry. A new shop starts from [`ProgramSettings::default`], which works
//! as it is. [`ProgramSettings::validate`] lists every problem at once, by
//! field path, so the admin page can show them beside the fields.

use serde::{Deserialize, Serialize};

use super::money;
use super::segments::Thresholds;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProgramSettings {
    pub earning: Earning,
    pub rewards: Vec<Reward>,
    pub tiers: Tiers,
    pub expiry: Expiry,
    pub referrals: Referrals,
    pub segments: Segments,
    pub winback: Winback,
    pub nps: Nps,
    pub offers: Offers,
    pub store_credit: StoreCreditSettings,
    pub actions: Actions,
    pub reorder: Reorder,
}

/// Reorder (replenishment) reminders: from the shop's own orders, each
/// product's repurchase interval is learned; when a customer's next
/// purchase of it comes due, the "Reorder due" Flow trigger fires once per
/// purchase cycle (see `crate::engine::reorder`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Reorder {
    /// Send reminders (intervals are learned either way).
    pub enabled: bool,
    /// Customers who must have bought a product again before its interval
    /// is learned.
    pub min_customers: u32,
    /// Share of due reminders held out (sent nothing), to measure them.
    pub holdout_percent: u32,
    /// A reorder of the product this many days after its reminder counts
    /// for the reminder.
    pub attribution_days: u32,
    /// A single-use code sent with each reminder; None: none.
    pub code: Option<ReorderCode>,
}

/// The code a reorder reminder carries: `{"value": {"kind":
/// "percentage_off", "percent": 10}, "valid_days": 14}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReorderCode {
    pub value: RewardValue,
    pub valid_days: u32,
}

impl Default for Reorder {
    fn default() -> Self {
        Self {
            enabled: false,
            min_customers: 5,
            holdout_percent: 10,
            attribution_days: 14,
            code: None,
        }
    }
}

/// Points for more than orders: a newsletter signup, a product review, a
/// social follow or share, and the merchant's own actions. An action with
/// 0 points is off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Actions {
    /// Email marketing consent becoming `subscribed` (customers/update),
    /// once per customer; never for a consent Advocate found already given
    /// the first time it saw the customer.
    pub newsletter: NewsletterAction,
    /// A product review reported by a review app or the merchant: one per
    /// product per customer, and at most `limit`.
    pub review: LimitedAction,
    /// Following the shop on a network, from the storefront widget: once
    /// per network (honour system).
    pub social_follow: SocialFollow,
    /// Sharing the shop on a network, from the storefront widget: once per
    /// network (honour system).
    pub social_share: SocialShare,
    /// The merchant's own actions, awarded through the API.
    pub custom: Vec<CustomAction>,
}

impl Default for Actions {
    fn default() -> Self {
        Self {
            newsletter: NewsletterAction { points: 50 },
            review: LimitedAction {
                points: 100,
                limit: ActionLimit {
                    per: LimitPeriod::Month,
                    max: 5,
                },
            },
            social_follow: SocialFollow::default(),
            social_share: SocialShare::default(),
            custom: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewsletterAction {
    pub points: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitedAction {
    pub points: i64,
    pub limit: ActionLimit,
}

/// At most `max` times `per` period: ever, a calendar day or a calendar
/// month (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionLimit {
    pub per: LimitPeriod,
    pub max: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitPeriod {
    Ever,
    Day,
    Month,
}

/// The networks the storefront widget offers.
pub const SOCIAL_NETWORKS: [&str; 7] = [
    "facebook",
    "instagram",
    "tiktok",
    "x",
    "youtube",
    "pinterest",
    "linkedin",
];

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SocialFollow {
    pub points: i64,
    pub networks: Vec<FollowNetwork>,
}

/// The networks with a page to share a link on.
pub const SHARE_NETWORKS: [&str; 4] = ["facebook", "x", "linkedin", "pinterest"];

/// A network to follow the shop on, and the shop's profile there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FollowNetwork {
    pub network: String,
    pub url: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SocialShare {
    pub points: i64,
    pub networks: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomAction {
    /// Stable id, `[a-z0-9_]{1,40}`: the API names the action by it.
    pub name: String,
    /// What the shopper and the merchant read.
    pub label: String,
    pub points: i64,
    pub limit: ActionLimit,
}

/// Most points one action may give.
pub const MAX_ACTION_POINTS: i64 = 100_000;
/// Most times a limit may allow per period.
pub const MAX_ACTION_LIMIT: u32 = 100;

impl Actions {
    /// The custom action named `name`.
    pub fn custom(&self, name: &str) -> Option<&CustomAction> {
        self.custom.iter().find(|c| c.name == name)
    }

    fn check(&self, p: &mut Problems) {
        let points = |p: &mut Problems, field: &str, value: i64| {
            if !(0..=MAX_ACTION_POINTS).contains(&value) {
                p.add(
                    format!("actions.{field}.points"),
                    "must be between 0 (off) and 100000",
                );
            }
        };
        let limit = |p: &mut Problems, field: &str, limit: &ActionLimit| {
            if !(1..=MAX_ACTION_LIMIT).contains(&limit.max) {
                p.add(
                    format!("actions.{field}.limit.max"),
                    "must be between 1 and 100",
                );
            }
        };
        points(p, "newsletter", self.newsletter.points);
        points(p, "review", self.review.points);
        limit(p, "review", &self.review.limit);
        points(p, "social_follow", self.social_follow.points);
        let mut seen = std::collections::HashSet::new();
        for (i, n) in self.social_follow.networks.iter().enumerate() {
            if !SOCIAL_NETWORKS.contains(&n.network.as_str()) {
                p.add(
                    format!("actions.social_follow.networks[{i}].network"),
                    "must be one of facebook, instagram, tiktok, x, youtube, pinterest, linkedin",
                );
            } else if !seen.insert(n.network.as_str()) {
                p.add(
                    format!("actions.social_follow.networks[{i}].network"),
                    "is listed twice",
                );
            }
            let https = n
                .url
                .strip_prefix("https://")
                .is_some_and(|rest| !rest.is_empty() && !rest.contains(char::is_whitespace));
            if !https || n.url.len() > 500 {
                p.add(
                    format!("actions.social_follow.networks[{i}].url"),
                    "must be an https:// address of at most 500 characters",
                );
            }
        }
        points(p, "social_share", self.social_share.points);
        let mut seen = std::collections::HashSet::new();
        for (i, n) in self.social_share.networks.iter().enumerate() {
            if !SHARE_NETWORKS.contains(&n.as_str()) {
                p.add(
                    format!("actions.social_share.networks[{i}]"),
                    "must be one of facebook, x, linkedin, pinterest",
                );
            } else if !seen.insert(n.as_str()) {
                p.add(
                    format!("actions.social_share.networks[{i}]"),
                    "is listed twice",
                );
            }
        }
        let mut names = std::collections::HashSet::new();
        for (i, c) in self.custom.iter().enumerate() {
            let field = format!("custom[{i}]");
            let well_formed = (1..=40).contains(&c.name.len())
                && c.name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !well_formed {
                p.add(
                    format!("actions.{field}.name"),
                    "must be 1 to 40 of a-z, 0-9 and _",
                );
            } else if !names.insert(c.name.as_str()) {
                p.add(format!("actions.{field}.name"), "is used by another action");
            }
            let label = c.label.trim();
            if label.is_empty() || label.chars().count() > 80 {
                p.add(
                    format!("actions.{field}.label"),
                    "must be 1 to 80 characters",
                );
            }
            points(p, &field, c.points);
            limit(p, &field, &c.limit);
        }
        if self.custom.len() > 50 {
            p.add("actions.custom".into(), "must list at most 50 actions");
        }
    }
}

/// How store credit rewards are given (see [`RewardValue::StoreCredit`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreCreditSettings {
    /// Whether Shopify emails the customer when the credit is issued.
    pub notify: bool,
    /// Days until an issued credit expires; 0: it does not expire.
    pub expires_days: u32,
    /// Cashback: a decimal percentage of each order ("5", "2.5", at most
    /// two decimals, up to 100) credited to the customer's store credit
    /// account instead of points. Empty or "0": orders earn points.
    pub cashback_percent: String,
}

impl Default for StoreCreditSettings {
    fn default() -> Self {
        Self {
            notify: true,
            expires_days: 0,
            cashback_percent: String::new(),
        }
    }
}

impl StoreCreditSettings {
    /// The cashback rate in basis points (1/100 of a percent), when the
    /// program pays cashback; None when orders earn points (or the
    /// percentage is not one, which validation refuses).
    pub fn cashback_basis_points(&self) -> Option<u32> {
        let raw = self.cashback_percent.trim();
        if raw.is_empty() {
            return None;
        }
        // Two decimals of a percent are basis points: "2.5" -> 250.
        let bp = money::parse_minor(raw, 2)?;
        (1..=10_000).contains(&bp).then_some(bp as u32)
    }
}

impl Default for ProgramSettings {
    fn default() -> Self {
        Self {
            earning: Earning::default(),
            rewards: vec![
                Reward {
                    id: "5-off".into(),
                    name: "5.00 off".into(),
                    value: RewardValue::AmountOff {
                        amount: "5.00".into(),
                    },
                    points_cost: 500,
                    minimum_order: None,
                    valid_days: 90,
                },
                Reward {
                    id: "10-percent-off".into(),
                    name: "10% off".into(),
                    value: RewardValue::PercentageOff { percent: 10 },
                    points_cost: 1000,
                    minimum_order: Some("50.00".into()),
                    valid_days: 90,
                },
                Reward {
                    id: "free-shipping".into(),
                    name: "Free shipping".into(),
                    value: RewardValue::FreeShipping,
                    points_cost: 750,
                    minimum_order: None,
                    valid_days: 90,
                },
            ],
            tiers: Tiers::default(),
            expiry: Expiry::default(),
            referrals: Referrals::default(),
            segments: Segments::default(),
            winback: Winback::default(),
            nps: Nps::default(),
            offers: Offers::default(),
            store_credit: StoreCreditSettings::default(),
            actions: Actions::default(),
            reorder: Reorder::default(),
        }
    }
}

/// Behaviour segments (recency, frequency, monetary), written back to
/// Shopify as a customer tag `{tag_prefix}{slug}` and a metafield.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Segments {
    pub enabled: bool,
    /// Prefix of the segment tag: `advocate-segment:` gives
    /// `advocate-segment:at-risk`.
    pub tag_prefix: String,
    /// The merchant's own cut-offs; `None` derives them from the shop's
    /// order history (quintiles).
    pub thresholds: Option<Thresholds>,
}

impl Default for Segments {
    fn default() -> Self {
        Self {
            enabled: true,
            tag_prefix: "advocate-segment:".into(),
            thresholds: None,
        }
    }
}

/// At-risk detection and the win-back offer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Winback {
    /// Issue offers (detection and the at-risk segment work either way).
    pub enabled: bool,
    /// Overdue once the expected interval times `grace_percent` / 100 has
    /// passed since the last order.
    pub grace_percent: u32,
    /// Share of at-risk episodes that get no offer, to measure the effect.
    pub holdout_percent: u32,
    /// Bonus points, or a single-use discount code with an expiry.
    pub offer: AdvocateReward,
    /// Days an episode waits for a return purchase before it ends unrecovered.
    pub attribution_days: u32,
}

impl Default for Winback {
    fn default() -> Self {
        Self {
            enabled: false,
            grace_percent: 150,
            holdout_percent: 10,
            offer: AdvocateReward::Points { points: 250 },
            attribution_days: 60,
        }
    }
}

/// Post-purchase Net Promoter Score survey.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Nps {
    pub enabled: bool,
    /// Points for answering, once per order (0 for none).
    pub bonus_points: i64,
}

impl Default for Nps {
    fn default() -> Self {
        Self {
            enabled: true,
            bonus_points: 25,
        }
    }
}

/// Personal offers shown to the shopper on the storefront and at checkout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Offers {
    /// Show the reward the shopper is closest to.
    pub closest_reward: bool,
    /// Show products often bought with the shopper's past purchases.
    pub co_purchase: bool,
    /// How many such products at most.
    pub co_purchase_limit: u32,
}

impl Default for Offers {
    fn default() -> Self {
        Self {
            closest_reward: true,
            co_purchase: false,
            co_purchase_limit: 3,
        }
    }
}

/// How orders and events earn points.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Earning {
    /// `points` are earned for every `per_amount` of eligible spend.
    pub points: i64,
    /// A decimal amount in the shop's currency ("1.00").
    pub per_amount: String,
    /// Count tax toward points (default: no).
    pub include_tax: bool,
    /// Count shipping toward points (default: no).
    pub include_shipping: bool,
    /// Earn on the price before discounts (default: after discounts).
    pub before_discounts: bool,
    pub channels: Channels,
    /// Test orders earn (default: no).
    pub include_test_orders: bool,
    pub award_on: AwardOn,
    /// The return window: earned points become spendable this many days
    /// after the award. 0 makes them spendable at once.
    pub pending_days: u32,
    /// Points for creating an account.
    pub signup_points: i64,
    /// Points on the customer's birthday, once a year.
    pub birthday_points: i64,
    /// Points on each anniversary of the customer joining the program (in
    /// the shop's time zone), with the membership-anniversary Flow
    /// trigger; 0: none.
    pub anniversary_points: i64,
}

impl Default for Earning {
    fn default() -> Self {
        Self {
            points: 1,
            per_amount: "1.00".into(),
            include_tax: false,
            include_shipping: false,
            before_discounts: false,
            channels: Channels::default(),
            include_test_orders: false,
            award_on: AwardOn::Paid,
            pending_days: 14,
            signup_points: 100,
            birthday_points: 200,
            anniversary_points: 0,
        }
    }
}

/// Which sales channels earn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Channels {
    /// The online store and every other channel but POS and draft orders.
    pub online: bool,
    pub pos: bool,
    pub draft_orders: bool,
}

impl Default for Channels {
    fn default() -> Self {
        Self {
            online: true,
            pos: true,
            draft_orders: true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AwardOn {
    Paid,
    Fulfilled,
}

// No `deny_unknown_fields` where a value is flattened in: serde cannot
// combine the two.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reward {
    /// Stable id: redemptions refer to it.
    pub id: String,
    pub name: String,
    #[serde(flatten)]
    pub value: RewardValue,
    pub points_cost: i64,
    /// A decimal amount the order's subtotal must reach to use the code.
    #[serde(default)]
    pub minimum_order: Option<String>,
    /// Days the issued code stays valid.
    #[serde(default = "default_valid_days")]
    pub valid_days: u32,
}

fn default_valid_days() -> u32 {
    90
}

/// What a reward (or a referral discount) takes off an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RewardValue {
    AmountOff {
        amount: String,
    },
    PercentageOff {
        percent: u32,
    },
    FreeShipping,
    /// An amount of the shop's currency credited to the customer's Shopify
    /// store credit account: spent at checkout on every plan, no code to
    /// enter. A reward kind only (referral and win-back rewards are codes).
    StoreCredit {
        amount: String,
    },
    /// One unit of a chosen product variant free: a single-use code worth
    /// the variant's price, off that variant only.
    FreeProduct {
        /// The Shopify product variant id.
        variant_id: i64,
    },
    /// Points as cash: the shopper chooses how many points to turn into
    /// store credit, in steps of the reward's `points_cost`, each worth
    /// `amount`, from `min_points` to `max_points` (multiples of the step).
    PointsAsCash {
        amount: String,
        min_points: i64,
        max_points: i64,
    },
}

impl RewardValue {
    /// Whether the reward credits store credit rather than making a code.
    pub fn is_store_credit(&self) -> bool {
        matches!(self, Self::StoreCredit { .. } | Self::PointsAsCash { .. })
    }
}

/// VIP tiers. Levels are ordered by threshold, whatever order they are
/// listed in; a customer's tier is the highest level whose threshold they
/// reach. Levels have stable ids, so renaming, reordering or retagging one
/// keeps its members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Tiers {
    pub basis: TierBasis,
    pub window: TierWindow,
    pub levels: Vec<TierLevel>,
}

impl Default for Tiers {
    fn default() -> Self {
        let level = |id: &str, name: &str, threshold: &str, multiplier, entry, perk| TierLevel {
            id: id.into(),
            name: name.into(),
            threshold: threshold.into(),
            multiplier_percent: multiplier,
            entry_points: entry,
            tag: format!("advocate-tier:{id}"),
            perk_percent: perk,
            shipping_perk_percent: 0,
        };
        Self {
            basis: TierBasis::Spend,
            window: TierWindow::Lifetime,
            levels: vec![
                level("silver", "Silver", "250.00", 110, 100, 0),
                level("gold", "Gold", "500.00", 120, 250, 5),
                level("platinum", "Platinum", "1000.00", 150, 500, 10),
            ],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TierBasis {
    /// Net spend (after refunds) in the shop's currency.
    Spend,
    /// Points earned from orders (after clawbacks).
    PointsEarned,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TierWindow {
    Lifetime,
    #[serde(rename = "rolling_12_months", alias = "rolling12_months")]
    Rolling12Months,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierLevel {
    pub id: String,
    pub name: String,
    /// A decimal amount (basis `spend`) or a whole number of points.
    pub threshold: String,
    /// Earning multiplier in percent: 150 earns 1.5 times the points.
    #[serde(default = "default_multiplier")]
    pub multiplier_percent: u32,
    /// Points granted once, the first time a customer reaches the tier.
    #[serde(default)]
    pub entry_points: i64,
    /// The customer tag that marks members in Shopify.
    pub tag: String,
    /// The tier's discount at checkout, in percent (the VIP Function reads
    /// it); 0 for none.
    #[serde(default)]
    pub perk_percent: u32,
    /// The tier's discount on shipping at checkout, in percent (100 is free
    /// shipping; the VIP Function's delivery target reads it); 0 for none.
    #[serde(default)]
    pub shipping_perk_percent: u32,
}

fn default_multiplier() -> u32 {
    100
}

/// Points expire after a stretch without activity (earning, redeeming or
/// an adjustment), with a warning before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Expiry {
    pub enabled: bool,
    pub inactive_months: u32,
    pub warning_days: u32,
}

impl Default for Expiry {
    fn default() -> Self {
        Self {
            enabled: true,
            inactive_months: 12,
            warning_days: 30,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Referrals {
    pub enabled: bool,
    /// The friend's discount on their first order.
    pub friend_reward: RewardValue,
    /// Days the friend's code stays valid.
    pub friend_code_valid_days: u32,
    pub advocate_reward: AdvocateReward,
    /// The friend's order must reach this (eligible amount) to count.
    pub minimum_order: Option<String>,
    /// Most referrals one advocate is rewarded for.
    pub cap_per_advocate: u32,
    /// More than `burst_limit` referred orders for one advocate within
    /// `burst_window_hours` are held for the merchant's review.
    pub burst_limit: u32,
    pub burst_window_hours: u32,
    /// Most friend codes one advocate's code may issue in a rolling 24
    /// hours: the code is public (a share link), so a leaked one must not
    /// mint discounts without end.
    pub claims_per_code_per_day: u32,
    /// Most friend codes the shop issues in a rolling hour, all advocates
    /// together: the ceiling on what many leaked codes can mint.
    pub claims_per_shop_per_hour: u32,
}

impl Default for Referrals {
    fn default() -> Self {
        Self {
            enabled: true,
            friend_reward: RewardValue::AmountOff {
                amount: "10.00".into(),
            },
            friend_code_valid_days: 30,
            advocate_reward: AdvocateReward::Points { points: 500 },
            minimum_order: Some("20.00".into()),
            cap_per_advocate: 25,
            burst_limit: 3,
            burst_window_hours: 24,
            claims_per_code_per_day: 20,
            claims_per_shop_per_hour: 500,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AdvocateReward {
    Points {
        points: i64,
    },
    /// A single-use code for the advocate: `{"kind": "discount", "value":
    /// {"kind": "amount_off", "amount": "10.00"}, "valid_days": 90}`.
    Discount {
        value: RewardValue,
        valid_days: u32,
    },
}

/// One problem with submitted settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// Dotted path to the field: `tiers.levels[1].threshold`.
    pub field: String,
    pub message: String,
}

/// The problems found so far, in the order they were found.
#[derive(Default)]
struct Problems(Vec<FieldError>);

impl Problems {
    fn add(&mut self, field: String, message: &str) {
        self.0.push(FieldError {
            field,
            message: message.to_owned(),
        });
    }
}

/// Largest a points value in the settings may be: no program needs more,
/// and sums stay far from overflow (see [`super::points`]).
pub const MAX_POINTS: i64 = super::points::MAX_SETTING;

impl ProgramSettings {
    /// Every problem, or nothing. Amounts are checked against the shop's
    /// currency (its minor-unit digits). The sections are checked in the
    /// order of the document, so the problems come in that order.
    pub fn validate(&self, currency: &str) -> Result<(), Vec<FieldError>> {
        let exp = money::exponent(currency);
        let mut problems = Problems::default();
        self.check_earning(exp, &mut problems);
        self.check_rewards(exp, &mut problems);
        if self.store_credit.expires_days > 3650 {
            problems.add(
                "store_credit.expires_days".into(),
                "must be between 0 (never) and 3650",
            );
        }
        let cashback = self.store_credit.cashback_percent.trim();
        let off = cashback.is_empty() || money::parse_minor(cashback, 2) == Some(0);
        if !off && self.store_credit.cashback_basis_points().is_none() {
            problems.add(
                "store_credit.cashback_percent".into(),
                "must be a percentage above 0 and at most 100, with at most two decimals (\"5\", \"2.5\"), or empty for points",
            );
        }
        self.check_tiers(exp, &mut problems);
        self.check_expiry(&mut problems);
        self.check_referrals(exp, &mut problems);
        self.check_segments(&mut problems);
        self.check_winback(exp, &mut problems);
        self.check_reorder(exp, &mut problems);
        self.check_nps(&mut problems);
        self.check_offers(&mut problems);
        self.actions.check(&mut problems);
        if problems.0.is_empty() {
            Ok(())
        } else {
            Err(problems.0)
        }
    }

    /// `earning`: the rate, the pending days, the signup and birthday bonuses.
    fn check_earning(&self, exp: u32, p: &mut Problems) {
        let e = &self.earning;
        if !(1..=10_000).contains(&e.points) {
            p.add("earning.points".into(), "must be between 1 and 10000");
        }
        match money::parse_minor(&e.per_amount, exp) {
            Some(v) if v > 0 => {}
            _ => p.add(
                "earning.per_amount".into(),
                "must be a positive amount in the shop's currency",
            ),
        }
        if e.pending_days > 365 {
            p.add("earning.pending_days".into(), "must be at most 365");
        }
        for (field, value) in [
            ("earning.signup_points", e.signup_points),
            ("earning.birthday_points", e.birthday_points),
            ("earning.anniversary_points", e.anniversary_points),
        ] {
            if !(0..=MAX_POINTS).contains(&value) {
                p.add(field.into(), "must be between 0 and 100000000");
            }
        }
    }

    /// `rewards`: ids unique and well formed, names, costs, values.
    fn check_rewards(&self, exp: u32, p: &mut Problems) {
        let mut reward_ids = std::collections::HashSet::new();
        for (i, r) in self.rewards.iter().enumerate() {
            let at = |f: &str| format!("rewards[{i}].{f}");
            if !valid_id(&r.id) {
                p.add(at("id"), "must be 1-40 letters, digits, '-' or '_'");
            } else if !reward_ids.insert(r.id.as_str()) {
                p.add(at("id"), "is used by another reward");
            }
            if r.name.trim().is_empty() || r.name.len() > 100 {
                p.add(at("name"), "must be 1-100 characters");
            }
            if !(1..=MAX_POINTS).contains(&r.points_cost) {
                p.add(at("points_cost"), "must be between 1 and 100000000");
            }
            if !(1..=3650).contains(&r.valid_days) {
                p.add(at("valid_days"), "must be between 1 and 3650");
            }
            if let Some(m) = &r.minimum_order {
                if !matches!(money::parse_minor(m, exp), Some(v) if v >= 0) {
                    p.add(
                        at("minimum_order"),
                        "must be an amount in the shop's currency",
                    );
                }
            }
            if let Some(message) = value_problem(&r.value, exp) {
                p.add(at(value_field(&r.value)), message);
            }
            if let RewardValue::PointsAsCash {
                amount,
                min_points,
                max_points,
            } = &r.value
            {
                let step = r.points_cost.max(1);
                let in_steps = |v: i64| (1..=MAX_POINTS).contains(&v) && v % step == 0;
                if !in_steps(*min_points) {
                    p.add(
                        at("min_points"),
                        "must be a multiple of points_cost, at least points_cost",
                    );
                }
                if !in_steps(*max_points) || max_points < min_points {
                    p.add(
                        at("max_points"),
                        "must be a multiple of points_cost, from min_points to 100000000",
                    );
                } else if money::parse_minor(amount, exp)
                    .and_then(|a| a.checked_mul(max_points / step))
                    .is_none_or(|most| most > money::MAX_AMOUNT_MINOR)
                {
                    p.add(
                        at("max_points"),
                        "gives more store credit than an amount can hold",
                    );
                }
            }
        }
    }

    /// `tiers`: ids, names, thresholds, multipliers, tags, perks, and how many.
    fn check_tiers(&self, exp: u32, p: &mut Problems) {
        let t = &self.tiers;
        let mut tier_ids = std::collections::HashSet::new();
        let mut tags = std::collections::HashSet::new();
        let mut thresholds = std::collections::HashSet::new();
        for (i, level) in t.levels.iter().enumerate() {
            let at = |f: &str| format!("tiers.levels[{i}].{f}");
            if !valid_id(&level.id) {
                p.add(at("id"), "must be 1-40 letters, digits, '-' or '_'");
            } else if !tier_ids.insert(level.id.as_str()) {
                p.add(at("id"), "is used by another tier");
            }
            if level.name.trim().is_empty() || level.name.len() > 60 {
                p.add(at("name"), "must be 1-60 characters");
            }
            match tier_threshold(t.basis, &level.threshold, exp) {
                Some(v) if v >= 0 => {
                    if !thresholds.insert(v) {
                        p.add(at("threshold"), "is the same as another tier's");
                    }
                }
                _ => p.add(
                    at("threshold"),
                    match t.basis {
                        TierBasis::Spend => "must be an amount in the shop's currency",
                        TierBasis::PointsEarned => "must be a whole number of points",
                    },
                ),
            }
            if !(100..=1000).contains(&level.multiplier_percent) {
                p.add(at("multiplier_percent"), "must be between 100 and 1000");
            }
            if !(0..=MAX_POINTS).contains(&level.entry_points) {
                p.add(at("entry_points"), "must be between 0 and 100000000");
            }
            let tag = level.tag.trim();
            if tag.is_empty() || tag.len() > 255 || tag.contains(',') {
                p.add(at("tag"), "must be 1-255 characters without commas");
            } else if !tags.insert(tag.to_ascii_lowercase()) {
                p.add(at("tag"), "is used by another tier");
            }
            if level.perk_percent > 100 {
                p.add(at("perk_percent"), "must be between 0 and 100");
            }
            if level.shipping_perk_percent > 100 {
                p.add(at("shipping_perk_percent"), "must be between 0 and 100");
            }
        }
        if t.levels.len() > 20 {
            p.add("tiers.levels".into(), "at most 20 tiers");
        }
    }

    /// `expiry`, when on: the inactivity months and the warning days.
    fn check_expiry(&self, p: &mut Problems) {
        let x = &self.expiry;
        if x.enabled {
            if !(1..=120).contains(&x.inactive_months) {
                p.add("expiry.inactive_months".into(), "must be between 1 and 120");
            }
            if x.warning_days > 365 {
                p.add("expiry.warning_days".into(), "must be at most 365");
            }
        }
    }

    /// `referrals`: both rewards, the friend code, the minimum order and the limits.
    fn check_referrals(&self, exp: u32, p: &mut Problems) {
        let r = &self.referrals;
        if let Some(message) = code_value_problem(&r.friend_reward, exp) {
            p.add(
                format!("referrals.friend_reward.{}", value_field(&r.friend_reward)),
                message,
            );
        }
        if !(1..=3650).contains(&r.friend_code_valid_days) {
            p.add(
                "referrals.friend_code_valid_days".into(),
                "must be between 1 and 3650",
            );
        }
        if let Some((field, message)) = advocate_reward_problem(&r.advocate_reward, exp) {
            p.add(format!("referrals.advocate_reward.{field}"), message);
        }
        if let Some(m) = &r.minimum_order {
            if !matches!(money::parse_minor(m, exp), Some(v) if v >= 0) {
                p.add(
                    "referrals.minimum_order".into(),
                    "must be an amount in the shop's currency",
                );
            }
        }
        if r.burst_limit == 0 {
            p.add("referrals.burst_limit".into(), "must be at least 1");
        }
        if !(1..=720).contains(&r.burst_window_hours) {
            p.add(
                "referrals.burst_window_hours".into(),
                "must be between 1 and 720",
            );
        }
        if !(1..=10_000).contains(&r.claims_per_code_per_day) {
            p.add(
                "referrals.claims_per_code_per_day".into(),
                "must be between 1 and 10000",
            );
        }
        if !(1..=100_000).contains(&r.claims_per_shop_per_hour) {
            p.add(
                "referrals.claims_per_shop_per_hour".into(),
                "must be between 1 and 100000",
            );
        }
    }

    /// `segments`: the tag prefix and the merchant's thresholds.
    fn check_segments(&self, p: &mut Problems) {
        let sg = &self.segments;
        let prefix = sg.tag_prefix.trim();
        if prefix.is_empty() || prefix.len() > 200 || prefix.contains(',') {
            p.add(
                "segments.tag_prefix".into(),
                "must be 1-200 characters without commas",
            );
        }
        if let Some(t) = &sg.thresholds {
            if !t.is_valid() {
                p.add(
                    "segments.thresholds".into(),
                    "each list must be four ascending numbers, none negative",
                );
            }
        }
    }

    /// `winback`: grace, holdout, attribution and the offer.
    fn check_winback(&self, exp: u32, p: &mut Problems) {
        let w = &self.winback;
        if !(100..=1000).contains(&w.grace_percent) {
            p.add(
                "winback.grace_percent".into(),
                "must be between 100 and 1000",
            );
        }
        if w.holdout_percent > 50 {
            p.add("winback.holdout_percent".into(), "must be between 0 and 50");
        }
        if !(1..=365).contains(&w.attribution_days) {
            p.add(
                "winback.attribution_days".into(),
                "must be between 1 and 365",
            );
        }
        if let Some((field, message)) = advocate_reward_problem(&w.offer, exp) {
            p.add(format!("winback.offer.{field}"), message);
        }
    }

    /// `reorder`: the learning minimum, the holdout, the window, the code.
    fn check_reorder(&self, exp: u32, p: &mut Problems) {
        let r = &self.reorder;
        if !(2..=1000).contains(&r.min_customers) {
            p.add("reorder.min_customers".into(), "must be between 2 and 1000");
        }
        if r.holdout_percent > 50 {
            p.add("reorder.holdout_percent".into(), "must be between 0 and 50");
        }
        if !(1..=90).contains(&r.attribution_days) {
            p.add(
                "reorder.attribution_days".into(),
                "must be between 1 and 90",
            );
        }
        if let Some(code) = &r.code {
            let as_reward = AdvocateReward::Discount {
                value: code.value.clone(),
                valid_days: code.valid_days,
            };
            if let Some((field, message)) = advocate_reward_problem(&as_reward, exp) {
                p.add(format!("reorder.code.{field}"), message);
            }
        }
    }

    /// `nps`: the bonus.
    fn check_nps(&self, p: &mut Problems) {
        if !(0..=MAX_POINTS).contains(&self.nps.bonus_points) {
            p.add("nps.bonus_points".into(), "must be between 0 and 100000000");
        }
    }

    /// `offers`: the co-purchase limit.
    fn check_offers(&self, p: &mut Problems) {
        if !(1..=12).contains(&self.offers.co_purchase_limit) {
            p.add(
                "offers.co_purchase_limit".into(),
                "must be between 1 and 12",
            );
        }
    }

    pub fn reward(&self, id: &str) -> Option<&Reward> {
        self.rewards.iter().find(|r| r.id == id)
    }
}

/// What is wrong with a points-or-code reward, as (field below it, message).
fn advocate_reward_problem(reward: &AdvocateReward, exp: u32) -> Option<(String, &'static str)> {
    match reward {
        AdvocateReward::Points { points } => (!(1..=MAX_POINTS).contains(points))
            .then(|| ("points".to_owned(), "must be between 1 and 100000000")),
        AdvocateReward::Discount { value, valid_days } => {
            if let Some(message) = code_value_problem(value, exp) {
                Some((format!("value.{}", value_field(value)), message))
            } else {
                (!(1..=3650).contains(valid_days))
                    .then(|| ("valid_days".to_owned(), "must be between 1 and 3650"))
            }
        }
    }
}

/// A tier threshold in minor units (spend) or points; None when malformed.
pub fn tier_threshold(basis: TierBasis, raw: &str, exponent: u32) -> Option<i64> {
    match basis {
        TierBasis::Spend => money::parse_minor(raw, exponent),
        // Within the stored range, so "points missing" cannot overflow.
        TierBasis::PointsEarned => raw
            .trim()
            .parse()
            .ok()
            .filter(|v| super::points::Points::new(*v).is_ok()),
    }
}

fn valid_id(id: &str) -> bool {
    (1..=40).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn value_field(value: &RewardValue) -> &'static str {
    match value {
        RewardValue::AmountOff { .. }
        | RewardValue::StoreCredit { .. }
        | RewardValue::PointsAsCash { .. } => "amount",
        RewardValue::FreeProduct { .. } => "variant_id",
        RewardValue::PercentageOff { .. } => "percent",
        RewardValue::FreeShipping => "kind",
    }
}

/// As [`value_problem`], for a value that must become a discount code (a
/// referral's or a win-back's): store credit is refused.
fn code_value_problem(value: &RewardValue, exponent: u32) -> Option<&'static str> {
    match value {
        RewardValue::StoreCredit { .. } | RewardValue::PointsAsCash { .. } => {
            Some("store credit is a reward kind only: choose amount_off, percentage_off or free_shipping")
        }
        _ => value_problem(value, exponent),
    }
}

fn value_problem(value: &RewardValue, exponent: u32) -> Option<&'static str> {
    match value {
        RewardValue::AmountOff { amount }
        | RewardValue::StoreCredit { amount }
        | RewardValue::PointsAsCash { amount, .. } => match money::parse_minor(amount, exponent) {
            Some(v) if v > 0 => None,
            _ => Some("must be a positive amount in the shop's currency"),
        },
        RewardValue::PercentageOff { percent } if !(1..=100).contains(percent) => {
            Some("must be between 1 and 100")
        }
        RewardValue::FreeProduct { variant_id } if *variant_id <= 0 => {
            Some("must be a Shopify product variant id")
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid_and_round_trip_through_json() {
        let settings = ProgramSettings::default();
        assert_eq!(settings.validate("USD"), Ok(()));
        let json = serde_json::to_string(&settings).unwrap();
        let back: ProgramSettings = serde_json::from_str(&json).unwrap();
        assert_eq!(back, settings);
    }

    #[test]
    fn a_partial_document_takes_defaults_for_the_rest() {
        let s: ProgramSettings =
            serde_json::from_str(r#"{"earning": {"points": 2, "pending_days": 0}}"#).unwrap();
        assert_eq!(s.earning.points, 2);
        assert_eq!(s.earning.pending_days, 0);
        assert_eq!(s.earning.per_amount, "1.00");
        assert_eq!(s.tiers, Tiers::default());
    }

    #[test]
    fn retention_settings_are_checked_by_field() {
        let mut s = ProgramSettings::default();
        s.segments.tag_prefix = "a,b".into();
        s.segments.thresholds = Some(Thresholds {
            recency_days: [30, 20, 60, 90],
            frequency: [1, 1, 2, 3],
            monetary_minor: [0, 1, 2, 3],
        });
        s.winback.grace_percent = 50;
        s.winback.holdout_percent = 60;
        s.winback.offer = AdvocateReward::Discount {
            value: RewardValue::PercentageOff { percent: 0 },
            valid_days: 30,
        };
        s.nps.bonus_points = -1;
        s.offers.co_purchase_limit = 0;
        let fields: Vec<String> = s
            .validate("USD")
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            [
                "segments.tag_prefix",
                "segments.thresholds",
                "winback.grace_percent",
                "winback.holdout_percent",
                "winback.offer.value.percent",
                "nps.bonus_points",
                "offers.co_purchase_limit",
            ]
        );
    }

    #[test]
    fn points_as_cash_ranges_are_steps_of_the_cost_and_fit_an_amount() {
        let with = |amount: &str, min_points, max_points| {
            let mut s = ProgramSettings::default();
            s.rewards.push(Reward {
                id: "cash".into(),
                name: "Points as cash".into(),
                value: RewardValue::PointsAsCash {
                    amount: amount.into(),
                    min_points,
                    max_points,
                },
                points_cost: 100,
                minimum_order: None,
                valid_days: 90,
            });
            s.validate("USD")
                .err()
                .unwrap_or_default()
                .into_iter()
                .map(|e| e.field)
                .collect::<Vec<_>>()
        };
        assert!(with("1.00", 300, 2_000).is_empty());
        assert_eq!(
            with("1.00", 250, 200),
            ["rewards[3].min_points", "rewards[3].max_points"]
        );
        assert_eq!(with("0", 300, 2_000), ["rewards[3].amount"]);
        // 1,000,000 steps of 10^13: more than an amount holds.
        assert_eq!(
            with("10000000000000.00", 100, 100_000_000),
            ["rewards[3].max_points"]
        );
        // A referral cannot give store credit.
        let mut s = ProgramSettings::default();
        s.referrals.friend_reward = RewardValue::PointsAsCash {
            amount: "1.00".into(),
            min_points: 100,
            max_points: 100,
        };
        let fields: Vec<String> = s
            .validate("USD")
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, ["referrals.friend_reward.amount"]);
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(serde_json::from_str::<ProgramSettings>(r#"{"earnings": {}}"#).is_err());
    }

    #[test]
    fn every_problem_is_reported_by_field() {
        let mut s = ProgramSettings::default();
        s.earning.points = 0;
        s.earning.per_amount = "1.001".into();
        s.rewards[1].id = s.rewards[0].id.clone();
        s.rewards[2].value = RewardValue::PercentageOff { percent: 0 };
        s.tiers.levels[1].threshold = s.tiers.levels[0].threshold.clone();
        s.tiers.levels[2].tag = "a,b".into();
        s.referrals.advocate_reward = AdvocateReward::Points { points: 0 };
        let fields: Vec<String> = s
            .validate("USD")
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            [
                "earning.points",
                "earning.per_amount",
                "rewards[1].id",
                "rewards[2].percent",
                "tiers.levels[1].threshold",
                "tiers.levels[2].tag",
                "referrals.advocate_reward.points",
            ]
        );
    }

    #[test]
    fn amounts_are_checked_against_the_shops_currency() {
        let s = ProgramSettings::default();
        // "5.00" has two decimals: fine in yen only as 5 whole yen when the
        // extra digits are zeros.
        assert_eq!(s.validate("JPY"), Ok(()));
        let mut s = ProgramSettings::default();
        s.rewards[0].value = RewardValue::AmountOff {
            amount: "5.50".into(),
        };
        assert!(s.validate("JPY").is_err());
    }

    #[test]
    fn every_advocate_reward_survives_json() {
        let mut settings = ProgramSettings::default();
        for reward in [
            AdvocateReward::Points { points: 250 },
            AdvocateReward::Discount {
                value: RewardValue::AmountOff {
                    amount: "10.00".into(),
                },
                valid_days: 30,
            },
            AdvocateReward::Discount {
                value: RewardValue::FreeShipping,
                valid_days: 60,
            },
        ] {
            settings.referrals.advocate_reward = reward;
            let text = serde_json::to_string(&settings).unwrap();
            let back: ProgramSettings = serde_json::from_str(&text).unwrap();
            assert_eq!(back, settings, "{text}");
        }
    }
}
