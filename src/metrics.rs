//! Operational metrics in the Prometheus text format, served at
//! `GET /metrics` (see [`crate::routes::metrics`] for who may read them).
//!
//! Two kinds of figures:
//! - counted in this process as things happen (webhooks received, accepted
//!   and rejected, acknowledgement latency, Admin API calls, throttle waits,
//!   query cost): every counter a request touches is resolved once at
//!   start-up, so the webhook path pays one atomic add per counter and no
//!   lock or label lookup;
//! - read from the database when scraped (inbox and outbox depth, the age of
//!   the oldest queued delivery, failed effects, ledger entries,
//!   redemptions, active shops): a few indexed queries, the same answer from
//!   every instance sharing the database.
//!
//! Labels have bounded values only: a topic outside [`WebhookTopic::KNOWN`]
//! counts as `other`, a rejected delivery counts by reason alone (its topic
//! header is not authenticated), a shop appears only as its plan.

use prometheus::{
    core::Collector, Counter, CounterVec, Encoder, Gauge, GaugeVec, Histogram, HistogramOpts,
    IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

use crate::{
    shopify::{
        admin::client::{BucketSummary, CallObserver, CallOutcome},
        webhook::WebhookTopic,
    },
    store::stats::StoreStats,
};

/// Why a webhook request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// Larger than `ADVOCATE_WEBHOOK_MAX_BYTES` (413).
    TooLarge,
    /// No HMAC header (401).
    Unsigned,
    /// HMAC does not match (401).
    BadSignature,
    /// Missing or malformed identifying headers (400).
    BadHeaders,
    /// The inbox could not take it (503; Shopify delivers again).
    Unavailable,
    /// The bodies already in flight hold the whole
    /// `ADVOCATE_WEBHOOK_BODY_BUDGET_BYTES` (503 with Retry-After).
    OverBudget,
    /// The body did not arrive within `ADVOCATE_WEBHOOK_BODY_TIMEOUT_SECS` (408).
    SlowBody,
}

impl Rejection {
    const ALL: [Rejection; 7] = [
        Rejection::TooLarge,
        Rejection::Unsigned,
        Rejection::BadSignature,
        Rejection::BadHeaders,
        Rejection::Unavailable,
        Rejection::OverBudget,
        Rejection::SlowBody,
    ];

    fn label(self) -> &'static str {
        match self {
            Rejection::TooLarge => "too_large",
            Rejection::Unsigned => "unsigned",
            Rejection::BadSignature => "bad_signature",
            Rejection::BadHeaders => "bad_headers",
            Rejection::Unavailable => "unavailable",
            Rejection::OverBudget => "over_budget",
            Rejection::SlowBody => "slow_body",
        }
    }
}

/// Every metric family Advocate exports, in its own registry (no global).
pub struct Metrics {
    registry: Registry,
    intake: WebhookIntake,
    store: StoreGauges,
    admin: AdminApi,
}

/// Webhook intake, counted as requests arrive.
struct WebhookIntake {
    received: IntCounter,
    /// One counter per known topic, then `other`, in [`WebhookTopic::KNOWN`] order.
    accepted: Vec<IntCounter>,
    /// One counter per [`Rejection`], in [`Rejection::ALL`] order.
    rejected: Vec<IntCounter>,
    ack_seconds: Histogram,
    /// Read from the body budget when scraped.
    body_bytes: IntGauge,
}

/// Figures of the whole database, set from [`StoreStats`] when scraped.
struct StoreGauges {
    inbox_depth: IntGauge,
    inbox_oldest_age: Gauge,
    inbox_failed: IntGauge,
    outbox_depth: IntGauge,
    outbox_failed: IntGauge,
    ledger_entries: IntGauge,
    redemptions: IntGauge,
    active_shops: IntGauge,
}

/// Admin API calls, counted by the client; bucket gauges set when scraped.
struct AdminApi {
    /// One counter per [`CallOutcome`], in [`CallOutcome::ALL`] order.
    calls: Vec<IntCounter>,
    throttle_wait: Counter,
    points_used: CounterVec,
    points_available: GaugeVec,
    points_maximum: GaugeVec,
    shops_paced: GaugeVec,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Adds `c` to the registry. Registration fails only on a duplicate name or
/// an invalid definition, both fixed in this module.
fn register<T: Collector + Clone + 'static>(r: &Registry, c: T) -> T {
    r.register(Box::new(c.clone()))
        .expect("metric definitions are valid and unique");
    c
}

fn int_gauge(r: &Registry, name: &str, help: &str) -> IntGauge {
    register(r, IntGauge::new(name, help).unwrap())
}

fn plan_gauge(r: &Registry, name: &str, help: &str) -> GaugeVec {
    register(r, GaugeVec::new(Opts::new(name, help), &["plan"]).unwrap())
}

/// A counter family with one label, resolved once per value in `values`
/// (the returned counters follow their order).
fn labelled_counters<'a>(
    r: &Registry,
    opts: Opts,
    label: &str,
    values: impl IntoIterator<Item = &'a str>,
) -> Vec<IntCounter> {
    let family = register(r, IntCounterVec::new(opts, &[label]).unwrap());
    values
        .into_iter()
        .map(|value| family.with_label_values(&[value]))
        .collect()
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        // The labelled counters register first, then each subject's
        // remaining families.
        let accepted = accepted_counters(&registry);
        let rejected = rejected_counters(&registry);
        let calls = call_counters(&registry);
        let intake = WebhookIntake::register(&registry, accepted, rejected);
        let store = StoreGauges::register(&registry);
        let admin = AdminApi::register(&registry, calls);
        Self {
            registry,
            intake,
            store,
            admin,
        }
    }

    pub fn webhook_received(&self) {
        self.intake.received.inc();
    }

    pub fn webhook_accepted(&self, topic: &WebhookTopic, seconds: f64) {
        let index = WebhookTopic::KNOWN
            .iter()
            .position(|known| known == topic)
            .unwrap_or(WebhookTopic::KNOWN.len());
        self.intake.accepted[index].inc();
        self.intake.ack_seconds.observe(seconds);
    }

    pub fn webhook_rejected(&self, why: Rejection) {
        let index = Rejection::ALL.iter().position(|r| *r == why).unwrap_or(0);
        self.intake.rejected[index].inc();
    }

    /// The body budget's use at the moment of a scrape.
    pub fn webhook_body_bytes_reserved(&self, bytes: usize) {
        self.intake
            .body_bytes
            .set(i64::try_from(bytes).unwrap_or(i64::MAX));
    }

    /// Renders every family: `store` from the database, `buckets` (plan,
    /// available, maximum, shops) from the Admin API client.
    pub fn render(&self, store: &StoreStats, buckets: &[BucketSummary]) -> String {
        self.store.set(store);
        self.admin.set_buckets(buckets);
        let mut out = Vec::new();
        // Writing into a Vec cannot fail; an encoding error would be a bug
        // in a family definition above.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

fn accepted_counters(r: &Registry) -> Vec<IntCounter> {
    let topics = WebhookTopic::KNOWN.iter().map(|t| t.as_str());
    labelled_counters(
        r,
        Opts::new(
            "advocate_webhooks_accepted_total",
            "Webhook deliveries committed to the inbox and answered 200, by topic.",
        ),
        "topic",
        topics.chain(["other"]),
    )
}

fn rejected_counters(r: &Registry) -> Vec<IntCounter> {
    labelled_counters(
        r,
        Opts::new(
            "advocate_webhooks_rejected_total",
            "Webhook deliveries refused, by reason.",
        ),
        "reason",
        Rejection::ALL.iter().map(|reason| reason.label()),
    )
}

fn call_counters(r: &Registry) -> Vec<IntCounter> {
    labelled_counters(
        r,
        Opts::new(
            "advocate_admin_api_calls_total",
            "Admin GraphQL API requests sent, by outcome (each retry counts).",
        ),
        "outcome",
        CallOutcome::ALL.iter().map(|o| o.label()),
    )
}

impl WebhookIntake {
    /// Registers the unlabelled intake families; `accepted` and `rejected`
    /// come from [`accepted_counters`] and [`rejected_counters`].
    fn register(r: &Registry, accepted: Vec<IntCounter>, rejected: Vec<IntCounter>) -> Self {
        Self {
            received: register(
                r,
                IntCounter::new(
                    "advocate_webhooks_received_total",
                    "Webhook requests received (accepted or not).",
                )
                .unwrap(),
            ),
            accepted,
            rejected,
            ack_seconds: register(
                r,
                Histogram::with_opts(
                    HistogramOpts::new(
                        "advocate_webhook_ack_seconds",
                        "From a webhook request's arrival to its 200 (body read, HMAC checked, committed).",
                    )
                    .buckets(vec![
                        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                    ]),
                )
                .unwrap(),
            ),
            body_bytes: int_gauge(
                r,
                "advocate_webhook_body_bytes_reserved",
                "Bytes of webhook bodies this process holds in memory now, out of ADVOCATE_WEBHOOK_BODY_BUDGET_BYTES.",
            ),
        }
    }
}

impl StoreGauges {
    fn register(r: &Registry) -> Self {
        Self {
            inbox_depth: int_gauge(
                r,
                "advocate_inbox_depth",
                "Webhook deliveries queued for processing (whole database).",
            ),
            inbox_oldest_age: register(
                r,
                Gauge::new(
                    "advocate_inbox_oldest_age_seconds",
                    "Age of the oldest queued delivery; 0 when none is queued.",
                )
                .unwrap(),
            ),
            inbox_failed: int_gauge(
                r,
                "advocate_inbox_failed",
                "Webhook deliveries kept as dead letters (whole database).",
            ),
            outbox_depth: int_gauge(
                r,
                "advocate_outbox_depth",
                "Admin API effects queued to be sent (whole database).",
            ),
            outbox_failed: int_gauge(
                r,
                "advocate_outbox_failed",
                "Admin API effects that gave up and wait for a merchant's retry (whole database).",
            ),
            ledger_entries: int_gauge(
                r,
                "advocate_ledger_entries",
                "Points ledger entries ever written (whole database; grows like a counter).",
            ),
            redemptions: int_gauge(
                r,
                "advocate_redemptions",
                "Rewards ever redeemed (whole database; grows like a counter).",
            ),
            active_shops: int_gauge(r, "advocate_active_shops", "Shops with the app installed."),
        }
    }

    fn set(&self, store: &StoreStats) {
        self.inbox_depth.set(store.inbox_queued);
        self.inbox_oldest_age
            .set(store.inbox_oldest_age_ms as f64 / 1000.0);
        self.inbox_failed.set(store.inbox_failed);
        self.outbox_depth.set(store.outbox_queued);
        self.outbox_failed.set(store.outbox_failed);
        self.ledger_entries.set(store.ledger_entries);
        self.redemptions.set(store.redemptions);
        self.active_shops.set(store.active_shops);
    }
}

impl AdminApi {
    /// Registers the pacing and cost families; `calls` comes from
    /// [`call_counters`].
    fn register(r: &Registry, calls: Vec<IntCounter>) -> Self {
        Self {
            calls,
            throttle_wait: register(
                r,
                Counter::new(
                    "advocate_admin_api_throttle_wait_seconds_total",
                    "Time Admin API calls waited for the shop's leaky bucket (pacing and Throttled answers).",
                )
                .unwrap(),
            ),
            points_used: register(
                r,
                CounterVec::new(
                    Opts::new(
                        "advocate_admin_api_points_used_total",
                        "Query cost points charged by Shopify (actualQueryCost), by shop plan.",
                    ),
                    &["plan"],
                )
                .unwrap(),
            ),
            points_available: plan_gauge(
                r,
                "advocate_admin_api_points_available",
                "Points this process believes are left in the buckets of the shops it calls, summed by plan.",
            ),
            points_maximum: plan_gauge(
                r,
                "advocate_admin_api_points_maximum",
                "Bucket sizes of the shops this process calls, summed by plan.",
            ),
            shops_paced: plan_gauge(
                r,
                "advocate_admin_api_shops",
                "Shops whose bucket this process tracks, by plan.",
            ),
        }
    }

    /// Replaces the bucket gauges with the sums of `buckets`.
    fn set_buckets(&self, buckets: &[BucketSummary]) {
        self.points_available.reset();
        self.points_maximum.reset();
        self.shops_paced.reset();
        for b in buckets {
            self.points_available
                .with_label_values(&[b.plan])
                .add(b.available);
            self.points_maximum
                .with_label_values(&[b.plan])
                .add(b.maximum);
            self.shops_paced.with_label_values(&[b.plan]).inc();
        }
    }
}

/// The Admin API client reports its calls here (wired in `app.rs`).
impl CallObserver for Metrics {
    fn call_ended(&self, outcome: CallOutcome) {
        let index = CallOutcome::ALL
            .iter()
            .position(|o| *o == outcome)
            .unwrap_or(0);
        self.admin.calls[index].inc();
    }

    fn throttle_waited(&self, seconds: f64) {
        self.admin.throttle_wait.inc_by(seconds.max(0.0));
    }

    fn points_used(&self, plan: &str, points: f64) {
        self.admin
            .points_used
            .with_label_values(&[plan])
            .inc_by(points.max(0.0));
    }
}

pub const CONTENT_TYPE: &str = prometheus::TEXT_FORMAT;
