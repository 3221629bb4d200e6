//! The history import against the Shopify stand-in's bulk queries: a shop
//! of 2,000 customers and 10,000 orders read once, beside webhooks for some
//! of the same orders; tiers and segments from the whole history, as the
//! rules give them applied directly to the stand-in's facts; no points for orders
//! from before the program, unless the merchant asks for them since a day,
//! when every customer gets exactly what the rule gives; a run again
//! changes nothing; an import paused half-way and taken up by another
//! process ends in the same state.

use std::{collections::HashMap, sync::Arc, time::Duration};

use advocate::{
    engine::segments as segment_rules,
    jobs::history::{HistoryImporter, Progress},
    loyalty::settings::ProgramSettings,
    store::{
        history::{self as imports, status, HistoryImport},
        segments::CustomerHistory,
        Store,
    },
};
use reqwest::Method;
use serde_json::{json, Value};
use shopify_sim::{
    history::{self, OrderFacts},
    ShopifySim, SimConfig,
};

use crate::{
    helpers::{eventually, session_token, Backend, TestApp, TestDb, SECRET, SHOP},
    loyalty::send_json,
    processes::{connect, Advocate},
    referrals::{admin, answer},
};

crate::on_both_backends!(
    the_history_is_imported_once_beside_webhooks_and_a_second_run_changes_nothing,
    retroactive_points_follow_the_rule_for_every_customer_even_across_a_restart,
    a_process_killed_halfway_through_an_import_ends_in_the_same_state,
    a_bulk_query_shopify_no_longer_has_is_started_again,
    a_result_that_can_no_longer_be_fetched_is_queried_again,
);

async fn importer(app: &TestApp, owner: &str) -> HistoryImporter {
    HistoryImporter::new(
        app.store.clone(),
        Arc::new(app.admin_api(Duration::from_secs(10)).await),
        owner.to_owned(),
    )
}

async fn shop_id(app: &TestApp) -> i64 {
    app.count(&format!("SELECT id FROM shops WHERE domain = '{SHOP}'"))
        .await
}

/// Works on the import until it ends (a bulk query that still runs is
/// polled again at once: the stand-in completes it on the next read).
async fn run_to_end(importer: &HistoryImporter, shop: i64) -> Progress {
    for _ in 0..100 {
        match importer.work(shop).await.expect("the import works") {
            Progress::Waiting | Progress::Paused => continue,
            other => return other,
        }
    }
    panic!("the import did not end");
}

async fn start(app: &TestApp, body: Value) -> Value {
    let (status, answer) = answer(admin(app, Method::POST, "/api/admin/history").json(&body)).await;
    assert_eq!(status, 202, "{answer}");
    answer
}

fn money(minor: i64) -> Value {
    json!({ "shop_money": { "amount": format!("{}.{:02}", minor / 100, minor % 100), "currency_code": "USD" } })
}

/// The orders/updated webhook Shopify sends for a history order.
fn webhook(o: &OrderFacts) -> Value {
    let rfc =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    json!({
        "id": o.id,
        "name": o.name,
        "customer": o.customer.map(|c| json!({ "id": history::FIRST_CUSTOMER + c as i64 })),
        "email": o.customer.map(history::email),
        "currency": "USD",
        "subtotal_price_set": money(o.subtotal_minor),
        "total_price_set": money(o.subtotal_minor + o.tax_minor + o.shipping_minor),
        "total_tax_set": money(o.tax_minor),
        "total_shipping_price_set": money(o.shipping_minor),
        "total_discounts_set": money(0),
        "taxes_included": false,
        "financial_status": if o.refund.is_some() { "partially_refunded" } else if o.cancelled_at.is_some() { "voided" } else { "paid" },
        "source_name": "web",
        "test": false,
        "processed_at": rfc(o.processed_at),
        "cancelled_at": o.cancelled_at.map(rfc),
        "discount_codes": [],
        "refunds": o.refund.map(|(id, minor, at)| vec![json!({
            "id": id, "order_id": o.id, "created_at": rfc(at),
            "refund_line_items": [{ "subtotal_set": money(minor), "total_tax_set": money(0) }],
        })]).unwrap_or_default(),
        "line_items": o.lines.iter().map(|(_, product, variant, quantity)| json!({
            "product_id": product, "variant_id": variant, "title": format!("Product {product}"),
            "quantity": quantity, "current_quantity": quantity,
        })).collect::<Vec<_>>(),
    })
}

/// The history as the stand-in holds it.
fn facts(app: &TestApp, customers: usize, orders: usize) -> Vec<OrderFacts> {
    let at = app.shopify.admin(|a| a.history[SHOP].now);
    (0..orders)
        .map(|j| history::order_facts(j, customers, at))
        .collect()
}

/// Each customer's net spend on the orders that count for tiers (not
/// cancelled): the subtotal less what was refunded.
fn spend_by_customer(orders: &[OrderFacts]) -> HashMap<i64, i64> {
    let mut spend: HashMap<i64, i64> = HashMap::new();
    for o in orders {
        if let (Some(c), None) = (o.customer, o.cancelled_at) {
            let refunded = o.refund.map_or(0, |(_, minor, _)| minor);
            *spend.entry(history::FIRST_CUSTOMER + c as i64).or_default() +=
                o.subtotal_minor - refunded;
        }
    }
    spend
}

/// Retroactive points for the orders processed since `since` (midnight
/// UTC): 1 point per 1.00 of the subtotal, less the refunded share rounded
/// down, no tier multiplier. Per customer, and how many orders earn.
fn points_by_rule(orders: &[OrderFacts], since: chrono::NaiveDate) -> (HashMap<i64, i64>, usize) {
    let from = since.and_hms_opt(0, 0, 0).unwrap().and_utc();
    let mut want: HashMap<i64, i64> = HashMap::new();
    let mut earning_orders = 0;
    for o in orders
        .iter()
        .filter(|o| o.processed_at >= from && o.cancelled_at.is_none())
    {
        let Some(c) = o.customer else { continue };
        let earned = o.subtotal_minor / 100;
        let back = o
            .refund
            .map_or(0, |(_, minor, _)| earned * minor / o.subtotal_minor);
        *want.entry(history::FIRST_CUSTOMER + c as i64).or_default() += earned - back;
        earning_orders += 1;
    }
    (want, earning_orders)
}

/// Each customer's balance in the ledger.
async fn balances(store: &Store) -> HashMap<i64, i64> {
    sqlx::query_as::<_, (i64, i64)>(
        "SELECT customer_id, CAST(SUM(points) AS BIGINT) FROM points_ledger GROUP BY customer_id",
    )
    .fetch_all(store.reader())
    .await
    .unwrap()
    .into_iter()
    .collect()
}

/// A customer's tier from their spend: the default thresholds, lifetime.
fn tier(spend_minor: i64) -> Option<&'static str> {
    match spend_minor {
        s if s >= 100_000 => Some("platinum"),
        s if s >= 50_000 => Some("gold"),
        s if s >= 25_000 => Some("silver"),
        _ => None,
    }
}

async fn segments(app: &TestApp) -> HashMap<i64, Option<String>> {
    sqlx::query_as::<_, (i64, Option<String>)>("SELECT customer_id, segment FROM customers")
        .fetch_all(app.store.reader())
        .await
        .unwrap()
        .into_iter()
        .collect()
}

async fn tiers(store: &Store) -> HashMap<i64, Option<String>> {
    sqlx::query_as::<_, (i64, Option<String>)>("SELECT customer_id, tier_id FROM customers")
        .fetch_all(store.reader())
        .await
        .unwrap()
        .into_iter()
        .collect()
}

async fn the_history_is_imported_once_beside_webhooks_and_a_second_run_changes_nothing(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    app.shopify.set_history(SHOP, 2_000, 10_000);
    app.install(SHOP).await;
    let shop = shop_id(&app).await;
    let orders = facts(&app, 2_000, 10_000);
    let queued = start(&app, json!({})).await;
    assert_eq!(queued["import"]["status"], "queued");
    assert_eq!(queued["import"]["mode"], "history");
    let (status, _) =
        answer(admin(&app, Method::POST, "/api/admin/history").json(&json!({}))).await;
    assert_eq!(status, 409, "one import at a time");

    // Before the import reads it, a webhook for each order of one customer
    // whose past orders reach a tier: the tier is reached in the past,
    // quietly, by webhooks as by the import.
    let spend = spend_by_customer(&orders);
    let (&early, _) = spend
        .iter()
        .filter(|(_, &s)| s >= 25_000)
        .min_by_key(|(&c, _)| c)
        .expect("a customer reaches a tier");
    for o in orders
        .iter()
        .filter(|o| o.customer.map(|c| history::FIRST_CUSTOMER + c as i64) == Some(early))
    {
        send_json(&app, "orders/updated", &format!("e-{}", o.id), &webhook(o)).await;
    }
    app.drain().await;
    assert_eq!(
        tiers(&app.store)
            .await
            .get(&early)
            .cloned()
            .flatten()
            .as_deref(),
        tier(spend[&early]),
        "customer {early}"
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM points_ledger").await, 0);
    assert_eq!(app.shopify.admin(|a| a.flow_triggers.len()), 0);

    // The import runs while webhooks for some of the same orders arrive
    // and are applied.
    let import = {
        let importer = importer(&app, "importer-a").await;
        tokio::spawn(async move { run_to_end(&importer, shop).await })
    };
    for o in orders.iter().step_by(97) {
        send_json(&app, "orders/updated", &format!("h-{}", o.id), &webhook(o)).await;
    }
    app.drain().await;
    assert_eq!(import.await.unwrap(), Progress::Done);
    app.drain().await;

    let (status, seen) = answer(admin(&app, Method::GET, "/api/admin/history")).await;
    assert_eq!(status, 200);
    assert_eq!(seen["import"]["status"], "done", "{seen}");
    assert_eq!(seen["import"]["customers"], 2_000);
    assert_eq!(seen["import"]["orders"], 10_000);
    assert_eq!(seen["import"]["percent"], 100);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM orders").await,
        10_000,
        "each order once"
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM customers").await, 2_000);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM points_ledger").await,
        0,
        "orders from before the program earn nothing, by import or by webhook"
    );

    // Tiers from the whole history, reached quietly.
    let held = tiers(&app.store).await;
    let mut in_tiers = 0;
    for (customer, tier_id) in &held {
        let want = tier(spend.get(customer).copied().unwrap_or(0));
        assert_eq!(tier_id.as_deref(), want, "customer {customer}");
        in_tiers += usize::from(want.is_some());
    }
    assert!(in_tiers > 100, "{in_tiers} customers in tiers");
    assert_eq!(
        app.shopify.admin(|a| a.flow_triggers.len()),
        0,
        "no Flow trigger for tiers reached in the past"
    );

    // Segments from the whole history: the shop's computation against the
    // segment rules applied directly to the stand-in's facts.
    let now = advocate::store::now_ms();
    app.run_jobs(now).await;
    let mut direct: HashMap<i64, CustomerHistory> = HashMap::new();
    for o in &orders {
        let (Some(c), None) = (o.customer, o.cancelled_at) else {
            continue;
        };
        let id = history::FIRST_CUSTOMER + c as i64;
        // Bulk results give times to the second.
        let at = o.processed_at.timestamp() * 1000;
        let net = o.subtotal_minor + o.tax_minor + o.shipping_minor
            - o.refund.map_or(0, |(_, minor, _)| minor);
        let h = direct.entry(id).or_insert(CustomerHistory {
            customer_id: id,
            orders: 0,
            first_at: at,
            last_at: at,
            spend_minor: 0,
            segment: None,
        });
        h.orders += 1;
        h.first_at = h.first_at.min(at);
        h.last_at = h.last_at.max(at);
        h.spend_minor += net;
    }
    let direct: Vec<CustomerHistory> = direct.into_values().collect();
    let settings = ProgramSettings::default();
    let (thresholds, median) = segment_rules::shop_measures(&direct, &settings, now);
    let (thresholds, _) = thresholds.expect("customers bought");
    let stored = segments(&app).await;
    let mut sizes: HashMap<&str, usize> = HashMap::new();
    for h in &direct {
        let want =
            segment_rules::assign(h, &thresholds, median, settings.winback.grace_percent, now)
                .map(|s| s.slug());
        assert_eq!(
            stored.get(&h.customer_id).cloned().flatten().as_deref(),
            want,
            "customer {}",
            h.customer_id
        );
        *sizes.entry(want.unwrap_or("none")).or_default() += 1;
    }
    let segmented = stored.values().filter(|s| s.is_some()).count();
    assert_eq!(
        segmented,
        direct.len(),
        "buyers, and only buyers, segmented"
    );
    assert!(sizes.len() >= 5, "segments of the history: {sizes:?}");

    // The dashboard's year: every counted order of the last 365 days once.
    let year_ago = chrono::Utc::now() - chrono::Duration::days(365);
    let (count, revenue) = orders
        .iter()
        .filter(|o| {
            o.cancelled_at.is_none() && o.processed_at >= year_ago + chrono::Duration::minutes(5)
        })
        .fold((0, 0), |(n, r), o| {
            let total = o.subtotal_minor + o.tax_minor + o.shipping_minor;
            (n + 1, r + total - o.refund.map_or(0, |(_, m, _)| m))
        });
    let (_, dashboard) = answer(admin(
        &app,
        Method::POST,
        "/api/admin/analytics/refresh?period=365d",
    ))
    .await;
    let got = &dashboard["revenue"];
    let orders_in_year =
        got["members"]["orders"].as_i64().unwrap() + got["non_members"]["orders"].as_i64().unwrap();
    let revenue_in_year = got["members"]["revenue_minor"].as_i64().unwrap()
        + got["non_members"]["revenue_minor"].as_i64().unwrap();
    // Orders within minutes of the year's start may fall either side.
    assert!(
        (orders_in_year - count).abs() <= 2,
        "{orders_in_year} vs {count}"
    );
    assert!(
        (revenue_in_year - revenue).abs() <= 2 * 21_000,
        "{revenue_in_year} vs {revenue}"
    );
    assert!(count > 4_000, "{count}");

    // Again: nothing changes.
    let before = snapshot(&app).await;
    start(&app, json!({ "mode": "history" })).await;
    assert_eq!(
        run_to_end(&importer(&app, "importer-b").await, shop).await,
        Progress::Done
    );
    assert_eq!(snapshot(&app).await, before, "a second run changes nothing");
    assert_eq!(tiers(&app.store).await, held);
    app.run_jobs(now).await;
    assert_eq!(segments(&app).await, stored);
}

async fn retroactive_points_follow_the_rule_for_every_customer_even_across_a_restart(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    app.shopify.set_history(SHOP, 300, 1_500);
    app.install(SHOP).await;
    let shop = shop_id(&app).await;
    let orders = facts(&app, 300, 1_500);
    start(&app, json!({ "mode": "history" })).await;
    assert_eq!(
        run_to_end(&importer(&app, "first").await, shop).await,
        Progress::Done
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM points_ledger").await, 0);

    let since = (chrono::Utc::now() - chrono::Duration::days(180)).date_naive();
    let from = since.and_hms_opt(0, 0, 0).unwrap().and_utc();
    let (want, earning_orders) = points_by_rule(&orders, since);
    let total: i64 = want.values().sum();
    assert!(total > 1_000, "{total}");

    let (status, preview) = answer(admin(
        &app,
        Method::GET,
        &format!("/api/admin/history/preview?points_since={since}"),
    ))
    .await;
    assert_eq!(status, 200, "{preview}");
    assert_eq!(preview["points"], total, "{preview}");
    assert_eq!(preview["orders"], earning_orders);
    assert_eq!(
        preview["worth_minor"], total,
        "5.00 for 500 points: a point is 0.01"
    );

    // The import with points, paused after two chunks; another process
    // takes it up.
    start(
        &app,
        json!({ "mode": "points", "points_since": since.to_string() }),
    )
    .await;
    let paused = importer(&app, "stopped").await.chunks_per_round(2);
    let mut progress = Progress::Waiting;
    while progress == Progress::Waiting {
        progress = paused.work(shop).await.unwrap();
    }
    assert_eq!(progress, Progress::Paused);
    let (_, midway) = answer(admin(&app, Method::GET, "/api/admin/history")).await;
    // The customers (one chunk) and two chunks of orders are in.
    assert_eq!(midway["import"]["status"], "orders", "{midway}");
    assert_eq!(midway["import"]["orders"], 400, "{midway}");
    let percent = midway["import"]["percent"].as_u64().unwrap();
    assert!(percent > 0 && percent < 100, "{midway}");
    assert!(midway["import"]["remaining_secs"].is_i64(), "{midway}");
    assert_eq!(
        run_to_end(&importer(&app, "restarted").await, shop).await,
        Progress::Done
    );

    assert_eq!(
        balances(&app.store).await,
        want,
        "every customer gets what the rule gives"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM points_ledger WHERE kind NOT IN ('earn', 'clawback')")
            .await,
        0,
        "no signup, tier entry or other bonus from the past"
    );
    // Each entry is dated when its order was placed or refunded.
    assert!(
        app.count(&format!(
            "SELECT COUNT(*) FROM points_ledger WHERE occurred_at < {}",
            from.timestamp_millis()
        ))
        .await
            == 0
    );

    // The same import again changes nothing.
    let entries = app.count("SELECT COUNT(*) FROM points_ledger").await;
    start(
        &app,
        json!({ "mode": "points", "points_since": since.to_string() }),
    )
    .await;
    assert_eq!(
        run_to_end(&importer(&app, "again").await, shop).await,
        Progress::Done
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM points_ledger").await,
        entries
    );
}

/// What a second run must not change.
async fn snapshot(app: &TestApp) -> (i64, i64, i64, i64, i64) {
    (
        app.count("SELECT COUNT(*) FROM orders").await,
        app.count("SELECT COUNT(*) FROM points_ledger").await,
        app.count("SELECT COUNT(*) FROM tier_changes").await,
        app.count("SELECT COUNT(*) FROM outbox").await,
        app.count("SELECT CAST(COALESCE(SUM(spend_minor), 0) AS BIGINT) FROM orders")
            .await,
    )
}

/// The real binary, killed (SIGKILL) half-way through an import with
/// points and started again: the import is taken up when its lease runs
/// out and ends with every order once, every customer's points as the
/// rule gives them and every tier as the history gives it, its counters
/// exact.
async fn a_process_killed_halfway_through_an_import_ends_in_the_same_state(backend: Backend) {
    let (customers, orders_made) = (1_000, 6_000);
    let db = TestDb::new(backend).await;
    let shopify = ShopifySim::start(SimConfig::new("test-client-id", SECRET)).unwrap();
    shopify.set_history(SHOP, customers, orders_made);
    shopify.install(SHOP);
    let at = shopify.admin(|a| a.history[SHOP].now);
    let orders: Vec<OrderFacts> = (0..orders_made)
        .map(|j| history::order_facts(j, customers, at))
        .collect();
    let env = [
        ("SHOPIFY_API_ORIGIN", shopify.origin()),
        ("ADVOCATE_HISTORY_SECS", "1"),
        ("ADVOCATE_HISTORY_LEASE_SECS", "2"),
        ("ADVOCATE_HISTORY_ON_INSTALL", "0"),
    ];
    let http = reqwest::Client::new();
    let token = session_token(SHOP, Some("1"));
    let status_of = |address: String| {
        let (http, token) = (http.clone(), token.clone());
        async move {
            let seen: Value = http
                .get(format!("{address}/api/admin/history"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            seen["import"].clone()
        }
    };

    let mut first = Advocate::start_with(&db.url, &env).await;
    let installed = http
        .get(format!("{}/api/admin/shop", first.address))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(installed.status(), 200);
    let since = (chrono::Utc::now() - chrono::Duration::days(180)).date_naive();
    let queued = http
        .post(format!("{}/api/admin/history", first.address))
        .bearer_auth(&token)
        .json(&json!({ "mode": "points", "points_since": since.to_string() }))
        .send()
        .await
        .unwrap();
    assert_eq!(queued.status(), 202);
    eventually(Duration::from_secs(120), "orders to be imported", || {
        let seen = status_of(first.address.clone());
        async move { seen.await["orders"].as_u64().unwrap_or(0) >= 600 }
    })
    .await;
    first.child.start_kill().expect("SIGKILL");
    first.child.wait().await.unwrap();

    let store = connect(&db.url).await;
    let applied = store_count(&store, "SELECT orders FROM history_imports").await;
    assert!(
        applied >= 600 && applied < orders_made as i64,
        "killed half-way: {applied} orders applied"
    );
    assert_eq!(
        store_count(&store, "SELECT COUNT(*) FROM orders").await,
        applied,
        "the orders applied are those counted, no more"
    );

    let second = Advocate::start_with(&db.url, &env).await;
    eventually(Duration::from_secs(300), "the import to end", || {
        let seen = status_of(second.address.clone());
        async move { seen.await["status"] == "done" }
    })
    .await;
    let done = status_of(second.address.clone()).await;
    assert_eq!(done["customers"], customers, "{done}");
    assert_eq!(done["orders"], orders_made, "{done}");
    assert_eq!(
        store_count(&store, "SELECT COUNT(*) FROM orders").await,
        orders_made as i64,
        "each order once"
    );
    assert_eq!(
        store_count(&store, "SELECT COUNT(*) FROM customers").await,
        customers as i64
    );
    let (want, _) = points_by_rule(&orders, since);
    assert_eq!(
        balances(&store).await,
        want,
        "every customer's points as the rule gives them"
    );
    let spend = spend_by_customer(&orders);
    for (customer, tier_id) in tiers(&store).await {
        assert_eq!(
            tier_id.as_deref(),
            tier(spend.get(&customer).copied().unwrap_or(0)),
            "customer {customer}"
        );
    }
}

/// The shop's history import, as stored.
async fn import_of(app: &TestApp, shop: i64) -> HistoryImport {
    let mut conn = app.store.reader().acquire().await.unwrap();
    imports::find(&mut conn, shop)
        .await
        .unwrap()
        .expect("an import")
}

/// Works on the import until it waits for a bulk query of `stage`; answers
/// the query's id.
async fn waiting_in(importer: &HistoryImporter, app: &TestApp, shop: i64, stage: &str) -> String {
    for _ in 0..100 {
        let progress = importer.work(shop).await.expect("the import works");
        let import = import_of(app, shop).await;
        if progress == Progress::Waiting && import.status == stage {
            return import.bulk_id.expect("a bulk query runs");
        }
    }
    panic!("the import never waited in {stage}");
}

/// Shopify answers a bulk query it does not know (or no longer keeps) with
/// no node, and one whose result is past its seven days with `EXPIRED`:
/// the stage's query starts again, and the import ends as it would have.
async fn a_bulk_query_shopify_no_longer_has_is_started_again(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.shopify.set_history(SHOP, 40, 200);
    app.install(SHOP).await;
    let shop = shop_id(&app).await;
    start(&app, json!({})).await;
    let importer = importer(&app, "importer").await;

    // The customers' query is forgotten (a restarted stand-in, or another
    // app's id): no node.
    let first = waiting_in(&importer, &app, shop, status::CUSTOMERS).await;
    let forgotten = app
        .shopify
        .admin(|a| a.bulk_queries.remove(&first).is_some());
    assert!(forgotten);
    // The orders' query has expired.
    let second = waiting_in(&importer, &app, shop, status::ORDERS).await;
    app.shopify.admin(|a| {
        a.bulk_queries.remove(&second).expect("the orders' query");
        a.bulk_operations
            .insert(second.clone(), ("EXPIRED".to_owned(), 0));
    });
    assert_eq!(run_to_end(&importer, shop).await, Progress::Done);

    let done = import_of(&app, shop).await;
    assert_eq!((done.customers, done.orders), (40, 200));
    assert_eq!(
        store_count(&app.store, "SELECT COUNT(*) FROM orders").await,
        200,
        "each order applied once"
    );
}

/// A result whose signed URL lapses halfway through its stage (Cloud
/// Storage answers 400 `ExpiredToken`): the stage's query starts again,
/// its new result is read from the start, and every order is applied and
/// counted once.
async fn a_result_that_can_no_longer_be_fetched_is_queried_again(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.shopify.set_history(SHOP, 40, 600);
    app.install(SHOP).await;
    let shop = shop_id(&app).await;
    let orders = facts(&app, 40, 600);
    let since = (chrono::Utc::now() - chrono::Duration::days(365)).date_naive();
    let (want, _) = points_by_rule(&orders, since);
    start(
        &app,
        json!({ "mode": "points", "points_since": since.to_string() }),
    )
    .await;

    // One chunk of orders (200 of 600; fewer while webhooks arrive) is in
    // when the URL lapses.
    let paused = importer(&app, "paused").await.chunks_per_round(1);
    let lapsed = loop {
        let progress = paused.work(shop).await.expect("the import works");
        let import = import_of(&app, shop).await;
        if import.status == status::ORDERS && import.lines_done > 0 {
            assert_eq!(progress, Progress::Paused);
            assert!(
                import.orders > 0 && import.orders < 600,
                "a part of the orders applied: {}",
                import.orders
            );
            break import.bulk_id.expect("the orders' query");
        }
        assert!(
            progress != Progress::Done,
            "the import ended before it paused"
        );
    };
    assert!(
        balances(&app.store).await.values().sum::<i64>() > 0,
        "the first chunk earned points"
    );
    assert!(app.shopify.admin(|a| a.expire_result(&lapsed)));

    assert_eq!(
        run_to_end(&importer(&app, "importer").await, shop).await,
        Progress::Done
    );
    let done = import_of(&app, shop).await;
    assert_ne!(
        done.bulk_id.as_deref(),
        Some(lapsed.as_str()),
        "a new query"
    );
    assert_eq!(
        (done.customers, done.orders),
        (40, 600),
        "each counted once"
    );
    assert_eq!(
        store_count(&app.store, "SELECT COUNT(*) FROM orders").await,
        600,
        "each order applied once"
    );
    assert_eq!(
        balances(&app.store).await,
        want,
        "every customer gets what the rule gives, once"
    );
}

async fn store_count(store: &Store, sql: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(store.reader())
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}
