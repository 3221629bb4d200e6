//! `advocate simulate`: a year of a believable store, sent to a running
//! sandbox through the same doors Shopify and shoppers use. Customers sign
//! up and buy as signed `customers/create`, `orders/paid`, `refunds/create`
//! and `orders/cancelled` webhooks; shoppers ask for referral codes, claim
//! friends' discounts and redeem points through signed app proxy requests.
//!
//! The store has one-time buyers, occasional and loyal repeat buyers at
//! their own rhythm, and buyers who lapsed; guest checkouts; refunds and
//! cancellations; advocates whose friends order with their codes (one of
//! them so many in a day that the fraud rules hold some for review); and
//! redemptions by customers whose points cover a reward; a third of the
//! customers answer the post-purchase survey about their latest order,
//! through the checkout extension's API with a shopper's session token.
//! The same seed makes the same store.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use futures_util::StreamExt;
use rand::{rngs::StdRng, Rng, SeedableRng};
use secrecy::SecretString;
use serde_json::{json, Value};

use crate::{
    engine::DAY_MS,
    shopify::{hmac::Signer, query::proxy_message},
    store::{customers, now_ms, Store},
};

use super::DEMO_SHOP;

/// What to simulate.
#[derive(Debug, Clone)]
pub struct Options {
    /// The running sandbox, e.g. `http://127.0.0.1:8080`.
    pub url: String,
    pub customers: usize,
    pub months: u32,
    pub seed: u64,
    /// Requests in flight at once.
    pub concurrency: usize,
}

/// What was sent.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub customers: u64,
    pub orders: u64,
    pub guest_orders: u64,
    pub refunds: u64,
    pub cancellations: u64,
    pub referred_orders: u64,
    pub redemptions: u64,
    /// Post-purchase survey answers.
    pub nps_answers: u64,
    pub webhooks: u64,
}

/// Customer ids start here (Shopify's are 64-bit; these stay exact).
const FIRST_CUSTOMER_ID: i64 = 7_400_000_000_000;
const FIRST_ORDER_ID: i64 = 5_600_000_000_000;
const FIRST_REFUND_ID: i64 = 9_100_000_000_000;

const FIRST_NAMES: &[&str] = &[
    "Ada", "Ben", "Chloe", "Dev", "Emma", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kemi",
    "Liam", "Maya", "Noah", "Olga", "Priya", "Quinn", "Rosa", "Sam", "Tariq", "Uma", "Victor",
    "Wen", "Yara", "Zoe",
];
const LAST_NAMES: &[&str] = &[
    "Adams", "Baker", "Costa", "Diaz", "Evans", "Fischer", "Garcia", "Haddad", "Ito", "Jensen",
    "Kowalski", "Lopez", "Moreau", "Nakamura", "Okafor", "Patel", "Rossi", "Silva", "Tanaka",
    "Novak",
];

/// How a customer buys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Habit {
    /// One order, never again.
    Once,
    /// A few orders, months apart.
    Occasional,
    /// Orders every few weeks.
    Loyal,
    /// Bought a few times early on, then stopped.
    Lapsed,
}

/// One shopper of the simulated store.
#[derive(Debug, Clone)]
struct Shopper {
    id: i64,
    first: &'static str,
    last: &'static str,
    email: String,
    phone: String,
    street: String,
    zip: String,
    signed_up: i64,
}

/// One webhook to send.
#[derive(Debug, Clone)]
struct Event {
    topic: &'static str,
    body: Value,
}

/// Runs the simulation against the sandbox at `options.url`, whose database
/// `store` is (read only: for its secret, to wait until every delivery is
/// applied, and to find customers who can afford a reward).
pub async fn run(store: &Store, options: &Options) -> anyhow::Result<Report> {
    let client = Client::connect(store, &options.url).await?;
    client.demo_program().await?;
    let mut story = Story::new(options);

    // Customers and their orders: one stream of events per customer, in
    // order; customers in parallel.
    let streams = story.customers_and_orders(options.customers);
    story.report.webhooks += client
        .send_streams(streams, options.concurrency)
        .await
        .context("sending the store's webhooks")?;
    wait_until_applied(store).await?;

    let streams = story.referred_friends(&client, options.customers).await?;
    story.report.webhooks += client
        .send_streams(streams, options.concurrency)
        .await
        .context("sending the referred orders")?;
    wait_until_applied(store).await?;

    story.report.redemptions = redeem_some(store, &client, options).await?;
    story.report.nps_answers = story.answer_surveys(&client, options.concurrency).await?;
    Ok(story.report)
}

/// The simulated store's history as it is made up: one random stream (so a
/// seed always tells the same story), the ids handed out so far, and what
/// was sent.
struct Story {
    rng: StdRng,
    report: Report,
    now: i64,
    /// The history starts this long before now.
    span: i64,
    next_order: i64,
    next_refund: i64,
    /// Customers with the habits they were given.
    shoppers: Vec<(Shopper, Habit)>,
    /// (customer, their latest order): who can answer the survey.
    latest_orders: Vec<(i64, i64)>,
}

impl Story {
    fn new(options: &Options) -> Self {
        Self {
            rng: StdRng::seed_from_u64(options.seed),
            report: Report::default(),
            now: now_ms(),
            span: i64::from(options.months.max(1)) * 30 * DAY_MS,
            next_order: FIRST_ORDER_ID,
            next_refund: FIRST_REFUND_ID,
            shoppers: Vec::with_capacity(options.customers),
            latest_orders: Vec::new(),
        }
    }

    fn order_id(&mut self) -> i64 {
        let id = self.next_order;
        self.next_order += 1;
        id
    }

    /// Every customer's signup and orders (with the refunds and
    /// cancellations some get), then guest checkouts: a tenth of the
    /// customers' order count.
    fn customers_and_orders(&mut self, customers: usize) -> Vec<Vec<Event>> {
        let start = self.now - self.span;
        let mut streams: Vec<Vec<Event>> = Vec::with_capacity(customers);
        for i in 0..customers {
            let signed_up = start + self.rng.gen_range(0..self.span - 7 * DAY_MS);
            let shopper = shopper(&mut self.rng, i as i64, signed_up);
            let habit = match self.rng.gen_range(0..100) {
                0..=44 => Habit::Once,
                45..=69 => Habit::Occasional,
                70..=84 => Habit::Loyal,
                _ => Habit::Lapsed,
            };
            streams.push(self.customer_history(&shopper, habit));
            self.report.customers += 1;
            self.shoppers.push((shopper, habit));
        }
        let guests = (self.report.orders / 10) as usize;
        for g in 0..guests {
            let at = start + self.rng.gen_range(0..self.span);
            let order_id = self.order_id();
            let mut body = order_body(order_id, None, basket(&mut self.rng, Habit::Once), at, None);
            body["email"] = json!(format!("guest{g}@example.com"));
            streams.push(vec![Event {
                topic: "orders/paid",
                body,
            }]);
            self.report.guest_orders += 1;
        }
        streams
    }

    /// One customer's events in order: the signup, then each order with
    /// the refund or cancellation that may follow it.
    fn customer_history(&mut self, shopper: &Shopper, habit: Habit) -> Vec<Event> {
        let now = self.now;
        let mut events = vec![Event {
            topic: "customers/create",
            body: customer_body(shopper),
        }];
        let mut latest = None;
        for at in order_times(&mut self.rng, habit, shopper.signed_up, now) {
            let order_id = self.order_id();
            latest = Some(order_id);
            let subtotal = basket(&mut self.rng, habit);
            events.push(Event {
                topic: "orders/paid",
                body: order_body(order_id, Some(shopper), subtotal, at, None),
            });
            self.report.orders += 1;
            let roll = self.rng.gen_range(0..100);
            if roll < 6 && at + 3 * DAY_MS < now {
                // Part or all of the order comes back.
                let refunded = if self.rng.gen_bool(0.5) {
                    subtotal
                } else {
                    subtotal / 2
                };
                events.push(Event {
                    topic: "refunds/create",
                    body: refund_body(self.next_refund, order_id, refunded, at + 3 * DAY_MS),
                });
                self.next_refund += 1;
                self.report.refunds += 1;
            } else if roll < 8 && at + DAY_MS < now {
                let mut cancelled = order_body(order_id, Some(shopper), subtotal, at, None);
                cancelled["cancelled_at"] = json!(rfc3339(at + DAY_MS));
                cancelled["financial_status"] = json!("refunded");
                events.push(Event {
                    topic: "orders/cancelled",
                    body: cancelled,
                });
                self.report.cancellations += 1;
            }
        }
        if let Some(order_id) = latest {
            self.latest_orders.push((shopper.id, order_id));
        }
        events
    }

    /// Advocates (every twelfth loyal or occasional customer) share their
    /// link; their friends claim a discount, sign up and order. The first
    /// advocate's friends all order within hours: more than the fraud rules
    /// allow in a day, so some wait for review.
    async fn referred_friends(
        &mut self,
        client: &Client,
        customers: usize,
    ) -> anyhow::Result<Vec<Vec<Event>>> {
        let advocates: Vec<i64> = self
            .shoppers
            .iter()
            .filter(|(_, habit)| matches!(habit, Habit::Loyal | Habit::Occasional))
            .map(|(s, _)| s.id)
            .step_by(12)
            .collect();
        let mut friend_index = 0i64;
        let mut streams = Vec::new();
        for (n, advocate) in advocates.into_iter().enumerate() {
            let code = client.referral_code(advocate).await?;
            let (friends, spread) = if n == 0 {
                (5, DAY_MS / 4)
            } else {
                (self.rng.gen_range(1..=2), 60 * DAY_MS)
            };
            for _ in 0..friends {
                let signed_up = self.now - self.rng.gen_range(DAY_MS / 24..spread);
                let friend = shopper(&mut self.rng, customers as i64 + friend_index, signed_up);
                friend_index += 1;
                let Some(discount) = client.claim(&code, &friend).await? else {
                    continue;
                };
                let subtotal = basket(&mut self.rng, Habit::Occasional).max(6_000);
                let order_id = self.order_id();
                streams.push(vec![
                    Event {
                        topic: "customers/create",
                        body: customer_body(&friend),
                    },
                    Event {
                        topic: "orders/paid",
                        body: order_body(
                            order_id,
                            Some(&friend),
                            subtotal,
                            friend.signed_up,
                            Some(&discount),
                        ),
                    },
                ]);
                self.report.customers += 1;
                self.report.orders += 1;
                self.report.referred_orders += 1;
            }
        }
        Ok(streams)
    }

    /// A third of the customers answer the survey about their latest
    /// order; returns how many answers were taken.
    async fn answer_surveys(&mut self, client: &Client, concurrency: usize) -> anyhow::Result<u64> {
        let latest_orders = std::mem::take(&mut self.latest_orders);
        let answers: Vec<(i64, Value)> = latest_orders
            .iter()
            .step_by(3)
            .map(|(customer, order_id)| (*customer, nps_answer(&mut self.rng, *order_id)))
            .collect();
        let answered: Vec<anyhow::Result<bool>> = futures_util::stream::iter(answers)
            .map(|(customer, body)| async move { client.answer_survey(customer, &body).await })
            .buffer_unordered(concurrency.clamp(1, 8))
            .collect()
            .await;
        let mut taken = 0;
        for outcome in answered {
            if outcome? {
                taken += 1;
            }
        }
        Ok(taken)
    }
}

/// The demo program makes points spendable at once; two in five of the
/// customers able to spend 500 points redeem a reward. (Referrals settle
/// when the sandbox's scheduler next runs.) Returns how many redeemed.
async fn redeem_some(store: &Store, client: &Client, options: &Options) -> anyhow::Result<u64> {
    let spenders = {
        let shop_id = demo_shop_id(store).await?;
        let mut conn = store.reader().acquire().await?;
        customers::able_to_spend(&mut conn, shop_id, 500, options.customers as i64).await?
    };
    let rewards = ["5-off", "free-shipping", "10-percent-off"];
    let redeemed: Vec<anyhow::Result<bool>> = futures_util::stream::iter(
        spenders
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 5 < 2)
            .map(|(i, customer)| (rewards[i % rewards.len()], *customer)),
    )
    .map(|(reward, customer)| async move {
        let key = format!("simulate-{}-{customer}", options.seed);
        client.redeem(customer, reward, &key).await
    })
    .buffer_unordered(options.concurrency.clamp(1, 8))
    .collect()
    .await;
    let mut done = 0;
    for outcome in redeemed {
        if outcome? {
            done += 1;
        }
    }
    Ok(done)
}

/// A survey answer: mostly happy, some lukewarm, some not; a comment that
/// fits the score now and then.
fn nps_answer(rng: &mut StdRng, order_id: i64) -> Value {
    const HAPPY: [&str; 3] = [
        "Fast delivery, lovely packaging.",
        "Great customer service!",
        "Exactly as described.",
    ];
    const LUKEWARM: [&str; 2] = ["Good quality, a bit pricey.", "Sizes run small."];
    const UNHAPPY: [&str; 2] = ["The parcel arrived late.", "The colour was not as shown."];
    let (score, comments): (i64, &[&str]) = match rng.gen_range(0..100) {
        0..=49 => (rng.gen_range(9..=10), &HAPPY),
        50..=79 => (rng.gen_range(7..=8), &LUKEWARM),
        _ => (rng.gen_range(0..=6), &UNHAPPY),
    };
    let comment = rng
        .gen_bool(0.5)
        .then(|| comments[rng.gen_range(0..comments.len())]);
    json!({ "order_id": order_id, "score": score, "comment": comment })
}

async fn demo_shop_id(store: &Store) -> anyhow::Result<i64> {
    let mut conn = store.reader().acquire().await?;
    Ok(crate::store::shops::get_shop(&mut conn, DEMO_SHOP)
        .await
        .context("the demo shop is not installed: is the sandbox running?")?
        .id)
}

/// Waits until the sandbox has processed every delivery (it processes them
/// in the background; this is a command-line tool, so it polls).
async fn wait_until_applied(store: &Store) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut last_report = Instant::now();
    loop {
        let left = crate::store::inbox::unfinished(store, DEMO_SHOP).await?;
        if left == 0 {
            return Ok(());
        }
        if started.elapsed() > Duration::from_secs(1800) {
            bail!("{left} deliveries still unprocessed after 30 minutes: is the sandbox's inbox processor running?");
        }
        if last_report.elapsed() > Duration::from_secs(5) {
            eprintln!("  {left} deliveries waiting to be processed");
            last_report = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn shopper(rng: &mut StdRng, index: i64, signed_up: i64) -> Shopper {
    let first = FIRST_NAMES[rng.gen_range(0..FIRST_NAMES.len())];
    let last = LAST_NAMES[rng.gen_range(0..LAST_NAMES.len())];
    Shopper {
        id: FIRST_CUSTOMER_ID + index,
        first,
        last,
        email: format!(
            "{}.{}{index}@example.com",
            first.to_lowercase(),
            last.to_lowercase()
        ),
        phone: format!("+1 555 {:03} {:04}", index / 10_000 % 1000, index % 10_000),
        street: format!("{} {} Street", rng.gen_range(1..999), last),
        zip: format!("{:05}", 10_000 + index % 89_999),
        signed_up,
    }
}

/// When a customer with `habit` orders, from sign-up until `now`.
fn order_times(rng: &mut StdRng, habit: Habit, signed_up: i64, now: i64) -> Vec<i64> {
    let first = signed_up + rng.gen_range(0..3 * DAY_MS);
    let (count, gap_days) = match habit {
        Habit::Once => (1, 0),
        Habit::Occasional => (rng.gen_range(2..=4), rng.gen_range(45..120)),
        Habit::Loyal => (rng.gen_range(4..=14), rng.gen_range(14..40)),
        Habit::Lapsed => (rng.gen_range(2..=3), rng.gen_range(10..30)),
    };
    let mut times = Vec::new();
    let mut at = first;
    for _ in 0..count {
        if at >= now {
            break;
        }
        times.push(at);
        // A gap around the customer's rhythm: between half and one and a half.
        let gap = gap_days * DAY_MS;
        at += gap / 2 + rng.gen_range(0..=gap.max(1));
    }
    times
}

/// A basket in cents: loyal customers buy a little more.
fn basket(rng: &mut StdRng, habit: Habit) -> i64 {
    let base = rng.gen_range(1_800..12_000);
    let extra = if rng.gen_range(0..10) == 0 {
        rng.gen_range(5_000..25_000)
    } else {
        0
    };
    let loyal = if habit == Habit::Loyal { 1_500 } else { 0 };
    base + extra + loyal
}

fn rfc3339(ms: i64) -> String {
    let at: DateTime<Utc> = Utc
        .timestamp_millis_opt(ms)
        .single()
        .unwrap_or_else(Utc::now);
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `1234` cents as `"12.34"`.
fn amount(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

fn money(cents: i64) -> Value {
    json!({ "shop_money": { "amount": amount(cents), "currency_code": "USD" } })
}

fn customer_body(s: &Shopper) -> Value {
    json!({
        "id": s.id,
        "email": s.email,
        "first_name": s.first,
        "last_name": s.last,
        "phone": s.phone,
        "tags": "",
        "default_address": { "address1": s.street, "zip": s.zip, "country_code": "US" },
        "email_marketing_consent": { "state": "subscribed" },
        "created_at": rfc3339(s.signed_up),
        "updated_at": rfc3339(s.signed_up),
    })
}

fn order_body(
    order_id: i64,
    who: Option<&Shopper>,
    subtotal: i64,
    at: i64,
    code: Option<&str>,
) -> Value {
    let codes: Vec<Value> = code
        .map(|c| json!({ "code": c, "amount": "0.00", "type": "percentage" }))
        .into_iter()
        .collect();
    let tax = subtotal * 8 / 100;
    let shipping = if subtotal >= 7_500 { 0 } else { 800 };
    json!({
        "id": order_id,
        "name": format!("#{}", 1000 + (order_id - FIRST_ORDER_ID)),
        "customer": who.map(|s| json!({ "id": s.id })),
        "email": who.map(|s| s.email.clone()),
        "phone": who.map(|s| s.phone.clone()),
        "shipping_address": who.map(|s| json!({ "address1": s.street, "zip": s.zip, "country_code": "US" })),
        "currency": "USD",
        "subtotal_price_set": money(subtotal),
        "total_price_set": money(subtotal + tax + shipping),
        "total_tax_set": money(tax),
        "total_shipping_price_set": money(shipping),
        "total_discounts_set": money(0),
        "taxes_included": false,
        "financial_status": "paid",
        "source_name": "web",
        "test": false,
        "discount_codes": codes,
        "created_at": rfc3339(at),
        "processed_at": rfc3339(at),
        "refunds": [],
    })
}

fn refund_body(refund_id: i64, order_id: i64, lines: i64, at: i64) -> Value {
    json!({
        "id": refund_id,
        "order_id": order_id,
        "created_at": rfc3339(at),
        "refund_line_items": [{ "subtotal_set": money(lines), "total_tax_set": money(0) }],
    })
}

/// Talks to the sandbox as Shopify, its staff and shoppers' browsers do.
struct Client {
    http: reqwest::Client,
    url: String,
    signer: Signer,
    secret: String,
}

impl Client {
    /// A client for the sandbox at `url`, signing with the sandbox's
    /// secret; fails when no Advocate answers there.
    async fn connect(store: &Store, url: &str) -> anyhow::Result<Self> {
        let secret = super::stored_secret(store).await?;
        let client = Client {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()?,
            url: url.trim_end_matches('/').to_owned(),
            signer: Signer::new(&SecretString::from(secret.clone()), None),
            secret,
        };
        client
            .http
            .get(format!("{}/readyz", client.url))
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .with_context(|| format!("no Advocate answers at {}", client.url))?;
        Ok(client)
    }

    /// The demo program as a typical store runs it: 5 points per dollar,
    /// spendable at once (so a year of redemptions can happen now).
    async fn demo_program(&self) -> anyhow::Result<()> {
        let url = format!("{}/api/admin/program", self.url);
        let token = || super::demo_session_token(super::API_KEY, &self.secret);
        let mut program: Value = self
            .http
            .get(&url)
            .bearer_auth(token())
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        program["settings"]["earning"]["points"] = json!(5);
        program["settings"]["earning"]["pending_days"] = json!(0);
        let body = json!({ "settings": program["settings"], "version": program["version"] });
        let response = self
            .http
            .put(&url)
            .bearer_auth(token())
            .json(&body)
            .send()
            .await?;
        if !response.status().is_success() {
            bail!(
                "setting the demo program was answered {}: {}",
                response.status(),
                response.text().await.unwrap_or_default()
            );
        }
        Ok(())
    }

    /// Sends each stream's events in order, `concurrency` streams at once;
    /// returns how many webhooks were acknowledged.
    async fn send_streams(
        &self,
        streams: Vec<Vec<Event>>,
        concurrency: usize,
    ) -> anyhow::Result<u64> {
        let results: Vec<anyhow::Result<u64>> = futures_util::stream::iter(streams)
            .map(|events| async move {
                let mut sent = 0;
                for event in events {
                    self.webhook(&event).await?;
                    sent += 1;
                }
                Ok(sent)
            })
            .buffer_unordered(concurrency.max(1))
            .collect()
            .await;
        results.into_iter().sum()
    }

    async fn webhook(&self, event: &Event) -> anyhow::Result<()> {
        let body = serde_json::to_vec(&event.body)?;
        let id = format!("sim-{}", hex::encode(rand::random::<[u8; 12]>()));
        let mut attempt = 0;
        loop {
            attempt += 1;
            let answer = self
                .http
                .post(format!("{}/webhooks", self.url))
                .header("Content-Type", "application/json")
                .header("X-Shopify-Topic", event.topic)
                .header("X-Shopify-Shop-Domain", DEMO_SHOP)
                .header("X-Shopify-Webhook-Id", &id)
                .header("X-Shopify-Event-Id", &id)
                .header("X-Shopify-API-Version", "2026-07")
                .header("X-Shopify-Triggered-At", rfc3339(now_ms()))
                .header("X-Shopify-Hmac-Sha256", self.signer.sign_webhook(&body))
                .body(body.clone())
                .send()
                .await;
            match answer {
                Ok(r) if r.status().is_success() => return Ok(()),
                // Shopify retries what is not acknowledged; so does this.
                Ok(r) if attempt < 5 && r.status().is_server_error() => {}
                Err(_) if attempt < 5 => {}
                Ok(r) => bail!("{} was answered {}", event.topic, r.status()),
                Err(e) => return Err(e.into()),
            }
            tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
        }
    }

    /// The app proxy URL of `path`, signed, for `customer` (logged out: none).
    fn proxy_url(&self, path: &str, customer: Option<i64>) -> String {
        let mut pairs = vec![
            ("shop".to_owned(), DEMO_SHOP.to_owned()),
            (
                "logged_in_customer_id".to_owned(),
                customer.map(|c| c.to_string()).unwrap_or_default(),
            ),
            ("path_prefix".to_owned(), "/apps/loyalty".to_owned()),
            ("timestamp".to_owned(), (now_ms() / 1000).to_string()),
        ];
        let signature = self.signer.sign_hex(proxy_message(&pairs).as_bytes());
        pairs.push(("signature".to_owned(), signature));
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        format!("{}{path}?{query}", self.url)
    }

    /// A storefront request through the app proxy, signed afresh on each
    /// try, from `shopper`'s own address (the app proxy forwards it); waits
    /// out the storefront's rate limits as a browser would.
    async fn proxy(
        &self,
        method: reqwest::Method,
        path: &str,
        customer: Option<i64>,
        shopper: u64,
        body: Option<&Value>,
        key: Option<&str>,
    ) -> anyhow::Result<reqwest::Response> {
        // Documentation addresses (RFC 5737), one per shopper.
        let address = format!("198.51.{}.{}", shopper / 250 % 250, shopper % 250 + 1);
        self.paced(path, || {
            let mut request = self
                .http
                .request(method.clone(), self.proxy_url(path, customer))
                .header("X-Forwarded-For", &address);
            if let Some(body) = body {
                request = request.json(body);
            }
            if let Some(key) = key {
                request = request.header("Idempotency-Key", key);
            }
            request
        })
        .await
    }

    /// Sends the request `build` makes, again after the wait a 429 asks
    /// for: the storefront routes are rate limited per shop and shopper,
    /// and a year of a store comes faster than shoppers would.
    async fn paced(
        &self,
        what: &str,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> anyhow::Result<reqwest::Response> {
        for _ in 0..120 {
            let response = build().send().await?;
            if response.status() != reqwest::StatusCode::TOO_MANY_REQUESTS {
                return Ok(response);
            }
            let wait = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(1);
            tokio::time::sleep(Duration::from_secs(wait.clamp(1, 10))).await;
        }
        bail!("{what} stayed rate limited for minutes")
    }

    async fn referral_code(&self, customer: i64) -> anyhow::Result<String> {
        let body: Value = self
            .proxy(
                reqwest::Method::GET,
                "/proxy/referral",
                Some(customer),
                customer as u64,
                None,
                None,
            )
            .await?
            .error_for_status()?
            .json()
            .await?;
        body["code"]
            .as_str()
            .map(str::to_owned)
            .context("the referral answer has no code")
    }

    /// The friend's discount code, or `None` when the shop refuses it.
    async fn claim(&self, code: &str, friend: &Shopper) -> anyhow::Result<Option<String>> {
        let body = json!({ "code": code, "email": friend.email });
        let response = self
            .proxy(
                reqwest::Method::POST,
                "/proxy/referrals/claim",
                None,
                friend.id as u64,
                Some(&body),
                None,
            )
            .await?;
        if response.status().is_client_error() {
            return Ok(None);
        }
        let body: Value = response.error_for_status()?.json().await?;
        Ok(body["code"].as_str().map(str::to_owned))
    }

    /// Answers the post-purchase survey as `customer` would from the
    /// thank-you page; false when the order was answered before.
    async fn answer_survey(&self, customer: i64, body: &Value) -> anyhow::Result<bool> {
        let token = super::demo_shopper_token(super::API_KEY, &self.secret, customer);
        let response = self
            .paced("/api/checkout/nps", || {
                self.http
                    .post(format!("{}/api/checkout/nps", self.url))
                    .bearer_auth(&token)
                    .json(body)
            })
            .await
            .context("answering the survey")?;
        match response.status().as_u16() {
            201 => Ok(true),
            409 => Ok(false),
            status => bail!("the survey answer was answered {status}"),
        }
    }

    /// Redeems `reward` for `customer`; false when the balance falls short.
    async fn redeem(&self, customer: i64, reward: &str, key: &str) -> anyhow::Result<bool> {
        let body = json!({ "reward_id": reward });
        let response = self
            .proxy(
                reqwest::Method::POST,
                "/proxy/redeem",
                Some(customer),
                customer as u64,
                Some(&body),
                Some(key),
            )
            .await?;
        match response.status().as_u16() {
            200 | 201 => Ok(true),
            409 | 422 => Ok(false),
            status => bail!("redeeming {reward} was answered {status}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_makes_the_same_store() {
        let make = |seed| {
            let mut rng = StdRng::seed_from_u64(seed);
            (0..50)
                .map(|i| {
                    let s = shopper(&mut rng, i, 0);
                    (
                        s.email,
                        order_times(&mut rng, Habit::Loyal, 0, 400 * DAY_MS),
                    )
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(make(7), make(7));
        assert_ne!(make(7), make(8));
    }

    #[test]
    fn orders_stay_between_sign_up_and_now() {
        let mut rng = StdRng::seed_from_u64(1);
        for habit in [Habit::Once, Habit::Occasional, Habit::Loyal, Habit::Lapsed] {
            for _ in 0..200 {
                let times = order_times(&mut rng, habit, 1_000 * DAY_MS, 1_200 * DAY_MS);
                assert!(!times.is_empty());
                assert!(times.windows(2).all(|w| w[0] < w[1]));
                assert!(times
                    .iter()
                    .all(|t| (1_000 * DAY_MS..1_200 * DAY_MS).contains(t)));
                if habit == Habit::Once {
                    assert_eq!(times.len(), 1);
                }
            }
        }
    }

    #[test]
    fn amounts_are_exact_decimal_strings() {
        assert_eq!(amount(1234), "12.34");
        assert_eq!(amount(5), "0.05");
        assert_eq!(amount(100_000), "1000.00");
    }
}
