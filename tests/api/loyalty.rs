//! The loyalty engine end to end: orders earn, refunds and cancellations
//! take back, whatever order the webhooks arrive in; redemptions are
//! atomic; tiers reach Shopify.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::helpers::{extension_token, session_token, Backend, TestApp, SHOP};

crate::on_both_backends!(
    a_paid_order_earns_once_however_often_it_is_delivered,
    refunds_claw_back_in_proportion_and_cancellation_reverses_the_rest,
    a_refund_or_cancellation_before_the_order_ends_with_the_same_ledger,
    pending_points_become_spendable_after_the_return_window,
    each_entry_is_dated_when_it_happened_and_pending_starts_when_paid,
    a_guest_order_is_credited_when_an_account_with_its_email_appears,
    test_orders_and_switched_off_channels_earn_nothing,
    a_hundred_concurrent_redemptions_of_one_rewards_worth_give_exactly_one_code,
    a_retried_redemption_returns_the_same_code,
    order_paid_to_points_to_code_to_tier_reaches_shopify,
    any_interleaving_of_order_events_ends_with_the_same_ledger,
    workers_racing_on_one_order_move_its_points_once,
    the_vip_discount_is_created_once_and_follows_the_tier_perks,
    a_storefront_redemption_can_carry_its_key_in_the_body,
);

const CUSTOMER: i64 = 7_000_000_000_000_001;

/// An order paid in USD: `subtotal` after discounts, with tax and shipping.
pub(crate) fn order(id: i64, customer: Option<i64>, subtotal: &str) -> Value {
    let money = |a: &str| json!({ "shop_money": { "amount": a, "currency_code": "USD" } });
    json!({
        "id": id,
        "name": format!("#{}", id % 100_000),
        "customer": customer.map(|c| json!({ "id": c })),
        "email": "buyer@example.com",
        "currency": "USD",
        "subtotal_price_set": money(subtotal),
        "total_price_set": money(subtotal),
        "total_tax_set": money("8.00"),
        "total_shipping_price_set": money("10.00"),
        "total_discounts_set": money("0.00"),
        "taxes_included": false,
        "financial_status": "paid",
        "source_name": "web",
        "test": false,
        "processed_at": crate::helpers::ago(2 * 3_600_000),
        "discount_codes": [],
        "refunds": [],
    })
}

/// The same order, cancelled.
fn cancelled_order(id: i64, customer: Option<i64>, subtotal: &str) -> Value {
    let mut body = order(id, customer, subtotal);
    body["cancelled_at"] = json!(crate::helpers::ago(3_600_000));
    body
}

pub(crate) fn refund(id: i64, order_id: i64, lines: &str) -> Value {
    let money = |a: &str| json!({ "shop_money": { "amount": a, "currency_code": "USD" } });
    json!({
        "id": id,
        "order_id": order_id,
        "refund_line_items": [{ "subtotal_set": money(lines), "total_tax_set": money("0.00") }],
    })
}

pub(crate) async fn send_json(app: &TestApp, topic: &str, key: &str, body: &Value) {
    let response = app.send(topic, key, body.to_string().as_bytes()).await;
    assert_eq!(response.status(), 200, "{topic} {key}");
}

/// (spendable, pending) points of a customer, and checks the ledger adds up.
pub(crate) async fn points(app: &TestApp, customer: i64) -> (i64, i64) {
    let balance = app
        .count(&format!(
            "SELECT COALESCE(MAX(points_balance), 0) FROM customers WHERE customer_id = {customer}"
        ))
        .await;
    let pending = app
        .count(&format!(
            "SELECT COALESCE(MAX(points_pending), 0) FROM customers WHERE customer_id = {customer}"
        ))
        .await;
    let sum = app
        .count(&format!(
            "SELECT CAST(COALESCE(SUM(points), 0) AS BIGINT) FROM points_ledger WHERE customer_id = {customer}"
        ))
        .await;
    assert_eq!(
        balance + pending,
        sum,
        "the balance is the sum of the ledger"
    );
    (balance, pending)
}

pub(crate) async fn put_program(app: &TestApp, change: impl FnOnce(&mut Value)) {
    app.change_program(SHOP, change).await;
}

async fn a_paid_order_earns_once_however_often_it_is_delivered(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = order(1001, Some(CUSTOMER), "123.45");
    for attempt in 0..3 {
        send_json(&app, "orders/paid", &format!("paid-{attempt}"), &body).await;
    }
    send_json(&app, "orders/updated", "updated", &body).await;
    app.drain().await;
    // 123.45 at 1 point per 1.00, tax and shipping excluded: 123, pending
    // for the 14-day return window.
    assert_eq!(points(&app, CUSTOMER).await, (0, 123));
    assert_eq!(
        app.count("SELECT COUNT(*) FROM points_ledger WHERE kind = 'earn'")
            .await,
        1
    );
    let version = app
        .count("SELECT settings_version FROM points_ledger WHERE kind = 'earn'")
        .await;
    assert_eq!(version, 1, "the ledger records the settings version");
}

async fn refunds_claw_back_in_proportion_and_cancellation_reverses_the_rest(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    send_json(
        &app,
        "orders/paid",
        "paid",
        &order(2001, Some(CUSTOMER), "200.00"),
    )
    .await;
    app.drain().await;
    assert_eq!(points(&app, CUSTOMER).await.1, 200);
    // A quarter refunded, delivered twice: 50 points back, once.
    let r = refund(91, 2001, "50.00");
    send_json(&app, "refunds/create", "refund-a", &r).await;
    send_json(&app, "refunds/create", "refund-a-again", &r).await;
    app.drain().await;
    assert_eq!(points(&app, CUSTOMER).await.1, 150);
    // Refunds beyond the order never take more than it earned.
    send_json(
        &app,
        "refunds/create",
        "refund-b",
        &refund(92, 2001, "500.00"),
    )
    .await;
    app.drain().await;
    assert_eq!(points(&app, CUSTOMER).await.1, 0);
    let cancelled = cancelled_order(2001, Some(CUSTOMER), "200.00");
    send_json(&app, "orders/cancelled", "cancel", &cancelled).await;
    app.drain().await;
    assert_eq!(points(&app, CUSTOMER).await, (0, 0));

    send_json(
        &app,
        "orders/paid",
        "paid-2",
        &order(2002, Some(CUSTOMER), "80.00"),
    )
    .await;
    app.drain().await;
    let cancelled = cancelled_order(2002, Some(CUSTOMER), "80.00");
    send_json(&app, "orders/cancelled", "cancel-2", &cancelled).await;
    app.drain().await;
    assert_eq!(points(&app, CUSTOMER).await, (0, 0));
    assert_eq!(
        app.count("SELECT COUNT(*) FROM points_ledger WHERE kind = 'cancel'")
            .await,
        1,
        "only the order that still held points is reversed by cancellation"
    );
}

async fn a_refund_or_cancellation_before_the_order_ends_with_the_same_ledger(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // The refund arrives before its order.
    send_json(
        &app,
        "refunds/create",
        "early-refund",
        &refund(93, 3001, "40.00"),
    )
    .await;
    app.drain().await;
    send_json(
        &app,
        "orders/paid",
        "late-order",
        &order(3001, Some(CUSTOMER), "100.00"),
    )
    .await;
    app.drain().await;
    assert_eq!(points(&app, CUSTOMER).await.1, 60);
    // A cancellation before payment: the late payment earns nothing.
    let mut cancelled = cancelled_order(3002, Some(CUSTOMER), "100.00");
    cancelled["financial_status"] = json!("voided");
    send_json(&app, "orders/cancelled", "early-cancel", &cancelled).await;
    app.drain().await;
    send_json(
        &app,
        "orders/paid",
        "late-paid",
        &order(3002, Some(CUSTOMER), "100.00"),
    )
    .await;
    app.drain().await;
    assert_eq!(points(&app, CUSTOMER).await.1, 60);
    let note = app
        .count("SELECT COUNT(*) FROM orders WHERE order_id = 3002 AND award_state = 'ineligible'")
        .await;
    assert_eq!(note, 1);
}

async fn pending_points_become_spendable_after_the_return_window(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    send_json(
        &app,
        "orders/paid",
        "paid",
        &order(4001, Some(CUSTOMER), "100.00"),
    )
    .await;
    app.drain().await;
    assert_eq!(points(&app, CUSTOMER).await, (0, 100));
    let now = advocate::store::now_ms();
    app.run_jobs(now + 13 * 86_400_000).await;
    assert_eq!(
        points(&app, CUSTOMER).await,
        (0, 100),
        "still in the window"
    );
    let report = app.run_jobs(now + 15 * 86_400_000).await;
    assert_eq!(report.orders_matured, 1);
    assert_eq!(points(&app, CUSTOMER).await, (100, 0));
    app.run_jobs(now + 16 * 86_400_000).await;
    assert_eq!(points(&app, CUSTOMER).await, (100, 0), "released once");
    // A refund after the window takes from the spendable balance.
    send_json(&app, "refunds/create", "refund", &refund(94, 4001, "30.00")).await;
    app.drain().await;
    assert_eq!(points(&app, CUSTOMER).await, (70, 0));
}

/// Orders delivered days after they were placed (a late webhook, an
/// import): each ledger entry carries when its fact happened, the pending
/// period counts from the payment, and the customer's last activity is the
/// latest earning's day, not the day Advocate saw it.
async fn each_entry_is_dated_when_it_happened_and_pending_starts_when_paid(backend: Backend) {
    const DAY: i64 = 86_400_000;
    let app = TestApp::spawn(backend).await;
    let now = advocate::store::now_ms() / 1000 * 1000;
    let rfc3339 = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    let placed = |id: i64, subtotal: &str, at: i64| {
        let mut body = order(id, Some(CUSTOMER), subtotal);
        body["processed_at"] = json!(rfc3339(at));
        body
    };
    // Paid 10 days ago: 4 days of the 14-day window left.
    send_json(
        &app,
        "orders/paid",
        "a",
        &placed(4101, "100.00", now - 10 * DAY),
    )
    .await;
    // Paid 20 days ago: the window is over, spendable at once.
    send_json(
        &app,
        "orders/paid",
        "b",
        &placed(4102, "50.00", now - 20 * DAY),
    )
    .await;
    // Paid 8 days ago, cancelled yesterday.
    send_json(
        &app,
        "orders/paid",
        "c",
        &placed(4103, "40.00", now - 8 * DAY),
    )
    .await;
    app.drain().await;
    assert_eq!(points(&app, CUSTOMER).await, (50, 140));
    let mut refunded = refund(95, 4102, "20.00");
    refunded["created_at"] = json!(rfc3339(now - 5 * DAY));
    send_json(&app, "refunds/create", "refund", &refunded).await;
    let mut cancelled = placed(4103, "40.00", now - 8 * DAY);
    cancelled["cancelled_at"] = json!(rfc3339(now - DAY));
    send_json(&app, "orders/cancelled", "cancel", &cancelled).await;
    app.drain().await;
    assert_eq!(points(&app, CUSTOMER).await, (30, 100));

    let dated = |kind: &str, order: i64| {
        format!(
            "SELECT occurred_at FROM points_ledger WHERE kind = '{kind}' AND order_id = {order}"
        )
    };
    assert_eq!(app.count(&dated("earn", 4101)).await, now - 10 * DAY);
    assert_eq!(app.count(&dated("earn", 4102)).await, now - 20 * DAY);
    assert_eq!(app.count(&dated("clawback", 4102)).await, now - 5 * DAY);
    assert_eq!(app.count(&dated("cancel", 4103)).await, now - DAY);
    assert!(
        app.count("SELECT MIN(created_at) FROM points_ledger").await >= now,
        "each recorded now"
    );
    assert_eq!(
        app.count("SELECT spendable_at FROM orders WHERE order_id = 4101")
            .await,
        now + 4 * DAY,
        "the window counts from the payment"
    );
    assert_eq!(
        app.count(&format!(
            "SELECT last_activity_at FROM customers WHERE customer_id = {CUSTOMER}"
        ))
        .await,
        now - 8 * DAY,
        "the latest earning"
    );

    let report = app.run_jobs(now + 3 * DAY).await;
    assert_eq!(report.orders_matured, 0);
    let report = app.run_jobs(now + 4 * DAY + 1).await;
    assert_eq!(report.orders_matured, 1);
    assert_eq!(points(&app, CUSTOMER).await, (130, 0));
}

async fn a_guest_order_is_credited_when_an_account_with_its_email_appears(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    send_json(&app, "orders/paid", "guest", &order(5001, None, "75.00")).await;
    app.drain().await;
    assert_eq!(app.count("SELECT COUNT(*) FROM points_ledger").await, 0);
    let customer = json!({
        "id": CUSTOMER,
        "email": "Buyer@Example.com",
        "created_at": "2026-11-03T10:00:00Z",
        "updated_at": "2026-11-03T10:00:00Z",
    });
    send_json(&app, "customers/create", "account", &customer).await;
    app.drain().await;
    // 100 for creating the account, 75 from the guest order (pending).
    assert_eq!(points(&app, CUSTOMER).await, (100, 75));
    send_json(&app, "customers/update", "account-again", &customer).await;
    app.drain().await;
    assert_eq!(points(&app, CUSTOMER).await, (100, 75), "credited once");
}

async fn test_orders_and_switched_off_channels_earn_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.install(SHOP).await;
    let mut test = order(6001, Some(CUSTOMER), "50.00");
    test["test"] = json!(true);
    send_json(&app, "orders/paid", "test", &test).await;
    put_program(&app, |s| s["earning"]["channels"]["pos"] = json!(false)).await;
    let mut pos = order(6002, Some(CUSTOMER), "50.00");
    pos["source_name"] = json!("pos");
    send_json(&app, "orders/paid", "pos", &pos).await;
    let mut draft = order(6003, Some(CUSTOMER), "50.00");
    draft["source_name"] = json!("shopify_draft_order");
    send_json(&app, "orders/paid", "draft", &draft).await;
    app.drain().await;
    assert_eq!(
        points(&app, CUSTOMER).await.1,
        50,
        "only the draft order earns"
    );
    let notes: Vec<String> = sqlx::query_scalar(
        "SELECT award_note FROM orders WHERE award_state = 'ineligible' ORDER BY order_id",
    )
    .fetch_all(app.store.writer())
    .await
    .unwrap();
    assert_eq!(notes, ["test order", "pos orders do not earn points"]);
}

/// A known customer (an adjustment needs one).
async fn seed_customer(app: &TestApp) {
    let profile = json!({ "id": CUSTOMER, "email": "c@example.com" });
    send_json(app, "customers/update", "c", &profile).await;
    app.drain().await;
}

/// Gives the customer exactly `points` spendable points.
async fn grant(app: &TestApp, customer: i64, points: i64) {
    let response = app
        .http
        .post(format!(
            "{}/api/admin/customers/{customer}/adjustments",
            app.address
        ))
        .bearer_auth(session_token(SHOP, Some("1")))
        .header("Idempotency-Key", format!("grant-{points}"))
        .json(&json!({ "points": points, "reason": "welcome gift" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
}

async fn redeem(app: &TestApp, customer: i64, key: &str, reward: &str) -> reqwest::Response {
    app.http
        .post(format!("{}/api/checkout/redeem", app.address))
        .bearer_auth(extension_token(SHOP, Some(customer)))
        .header("Idempotency-Key", key)
        .json(&json!({ "reward_id": reward }))
        .send()
        .await
        .unwrap()
}

async fn a_hundred_concurrent_redemptions_of_one_rewards_worth_give_exactly_one_code(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    app.install(SHOP).await;
    seed_customer(&app).await;
    grant(&app, CUSTOMER, 500).await;
    // Through the merchant's route: the storefront routes would rightly
    // rate-limit one shopper sending a hundred requests at once. Both run
    // the same redemption step.
    let requests = (0..100).map(|i| {
        let app = &app;
        async move {
            app.http
                .post(format!(
                    "{}/api/admin/customers/{CUSTOMER}/redemptions",
                    app.address
                ))
                .bearer_auth(session_token(SHOP, Some("1")))
                .header("Idempotency-Key", format!("key-{i}"))
                .json(&json!({ "reward_id": "5-off" }))
                .send()
                .await
                .unwrap()
                .status()
        }
    });
    let statuses = futures_util::future::join_all(requests).await;
    let created = statuses.iter().filter(|s| s.as_u16() == 201).count();
    let refused = statuses.iter().filter(|s| s.as_u16() == 409).count();
    assert_eq!((created, refused), (1, 99), "{statuses:?}");
    assert_eq!(points(&app, CUSTOMER).await, (0, 0));
    assert_eq!(app.count("SELECT COUNT(*) FROM redemptions").await, 1);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM outbox WHERE kind = 'create_discount_code'")
            .await,
        1
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM customers WHERE points_balance < 0")
            .await,
        0
    );
}

async fn a_retried_redemption_returns_the_same_code(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.install(SHOP).await;
    seed_customer(&app).await;
    grant(&app, CUSTOMER, 1_200).await;
    let first = redeem(&app, CUSTOMER, "same", "5-off").await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let again = redeem(&app, CUSTOMER, "same", "5-off").await;
    assert_eq!(again.status(), 200);
    let again: Value = again.json().await.unwrap();
    assert_eq!(first["code"], again["code"]);
    assert_eq!(again["replayed"], true);
    assert_eq!(points(&app, CUSTOMER).await.0, 700, "points taken once");
    let other = redeem(&app, CUSTOMER, "same", "free-shipping").await;
    assert_eq!(other.status(), 422, "a key belongs to one reward");
    let poor = redeem(&app, CUSTOMER, "too-much", "10-percent-off").await;
    assert_eq!(poor.status(), 409);
    let unknown = redeem(&app, CUSTOMER, "nothing", "no-such-reward").await;
    assert_eq!(unknown.status(), 404);
}

async fn order_paid_to_points_to_code_to_tier_reaches_shopify(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.install(SHOP).await;
    put_program(&app, |s| s["earning"]["pending_days"] = json!(0)).await;
    send_json(
        &app,
        "orders/paid",
        "big",
        &order(7001, Some(CUSTOMER), "450.00"),
    )
    .await;
    app.drain().await;
    // 450 points at once (no return window); 450.00 spent reaches Silver
    // (from 250.00), whose entry reward is 100 points.
    assert_eq!(points(&app, CUSTOMER).await, (550, 0));

    let response = redeem(&app, CUSTOMER, "e2e", "5-off").await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code_status"], "active", "{body}");
    assert_eq!(body["points_balance"], 50);
    let code = body["code"].as_str().unwrap().to_owned();
    let gid = format!("gid://shopify/Customer/{CUSTOMER}");
    let discount = app
        .shopify
        .admin(|a| a.discounts.get(&(SHOP.to_owned(), code.clone())).cloned())
        .expect("the code exists in Shopify");
    assert_eq!(
        discount["customerGets"]["value"]["discountAmount"]["amount"],
        "5.00"
    );
    assert_eq!(discount["usageLimit"], 1);
    assert_eq!(discount["context"]["customers"]["add"], json!([gid]));

    app.send_effects().await;
    let tags = app
        .shopify
        .admin(|a| a.tags.get(&(SHOP.to_owned(), gid.clone())).cloned())
        .unwrap_or_default();
    assert_eq!(tags, BTreeSet::from(["advocate-tier:silver".to_owned()]));
    let tier = app.shopify.admin(|a| {
        a.metafields
            .get(&(
                SHOP.to_owned(),
                gid.clone(),
                advocate::engine::tiers::TIER_NAMESPACE.into(),
                "tier".into(),
            ))
            .cloned()
    });
    assert_eq!(tier.as_deref(), Some("silver"));

    // Gold (500.00) replaces Silver's tag; its entry reward comes once.
    send_json(
        &app,
        "orders/paid",
        "more",
        &order(7002, Some(CUSTOMER), "250.00"),
    )
    .await;
    app.drain().await;
    app.send_effects().await;
    let tags = app
        .shopify
        .admin(|a| a.tags.get(&(SHOP.to_owned(), gid.clone())).cloned())
        .unwrap_or_default();
    assert_eq!(tags, BTreeSet::from(["advocate-tier:gold".to_owned()]));
    assert_eq!(
        app.count("SELECT COUNT(*) FROM points_ledger WHERE kind = 'tier_entry'")
            .await,
        2
    );
    // Silver multiplies by 1.1 at the time of the award: 250 -> 275.
    assert_eq!(
        app.count("SELECT points FROM points_ledger WHERE order_id = 7002")
            .await,
        275
    );

    // Shopify Flow heard each step once: two tiers reached, one reward.
    let tiers = app.flow_triggers("advocate-tier-reached");
    assert_eq!(tiers.len(), 2, "{tiers:?}");
    assert_eq!(tiers[0]["customer_id"], CUSTOMER);
    assert_eq!(tiers[0]["Tier"], "Silver");
    assert_eq!(tiers[0]["Previous tier"], "");
    assert_eq!(tiers[1]["Tier"], "Gold");
    assert_eq!(tiers[1]["Previous tier"], "Silver");
    let rewards = app.flow_triggers("advocate-reward-redeemed");
    assert_eq!(rewards.len(), 1, "{rewards:?}");
    assert_eq!(rewards[0]["customer_id"], CUSTOMER);
    assert_eq!(rewards[0]["Discount code"], code.as_str());
    assert_eq!(rewards[0]["Points spent"], 500);
    // Redelivering the orders fires nothing again.
    send_json(
        &app,
        "orders/paid",
        "big-again",
        &order(7001, Some(CUSTOMER), "450.00"),
    )
    .await;
    app.drain().await;
    app.send_effects().await;
    assert_eq!(app.flow_triggers("advocate-tier-reached").len(), 2);
}

async fn any_interleaving_of_order_events_ends_with_the_same_ledger(backend: Backend) {
    use rand::{rngs::StdRng, seq::SliceRandom, Rng, SeedableRng};

    let app = TestApp::spawn(backend).await;
    let mut rng = StdRng::seed_from_u64(20261124);
    for round in 0..16_i64 {
        let order_id = 8_000 + round;
        let customer = 9_000 + round;
        let cancelled = round % 2 == 1;
        // 100.00 earns 100; refunds of 30.00 and 20.00 take back 50; a
        // cancellation reverses everything.
        let mut events = vec![
            ("orders/paid", order(order_id, Some(customer), "100.00")),
            (
                "refunds/create",
                refund(order_id * 10 + 1, order_id, "30.00"),
            ),
            (
                "refunds/create",
                refund(order_id * 10 + 2, order_id, "20.00"),
            ),
        ];
        if cancelled {
            let c = cancelled_order(order_id, Some(customer), "100.00");
            events.push(("orders/cancelled", c));
        }
        // Every event delivered one to three times, in a random order, with
        // the inbox drained at random points in between.
        let mut deliveries: Vec<(&str, Value)> = events
            .iter()
            .flat_map(|e| std::iter::repeat_n(e.clone(), rng.gen_range(1..=3)))
            .collect();
        deliveries.shuffle(&mut rng);
        for (i, (topic, body)) in deliveries.iter().enumerate() {
            send_json(&app, topic, &format!("r{round}-{i}"), body).await;
            if rng.gen_bool(0.4) {
                app.drain().await;
            }
        }
        app.drain().await;
        let expected = if cancelled { 0 } else { 50 };
        assert_eq!(
            points(&app, customer).await,
            (0, expected),
            "round {round}: {:?}",
            deliveries.iter().map(|d| d.0).collect::<Vec<_>>()
        );
        let earned = app
            .count(&format!(
                "SELECT COUNT(*) FROM points_ledger WHERE order_id = {order_id} AND points > 0"
            ))
            .await;
        // A cancellation delivered before the payment means it never earned.
        let bound = if cancelled { 0..=1 } else { 1..=1 };
        assert!(
            bound.contains(&earned),
            "round {round}: earned {earned} times"
        );
    }
}

async fn workers_racing_on_one_order_move_its_points_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    send_json(
        &app,
        "orders/paid",
        "paid",
        &order(8500, Some(CUSTOMER), "1000.00"),
    )
    .await;
    app.drain().await;
    // Forty refunds of 10.00 on one order, taken by four workers at once:
    // on PostgreSQL they collide on the order row and the losers retry.
    for i in 0..40 {
        let body = refund(85_000 + i, 8500, "10.00");
        send_json(&app, "refunds/create", &format!("refund-{i}"), &body).await;
    }
    app.drain_racing(4).await;
    assert_eq!(
        app.count("SELECT COUNT(*) FROM webhook_inbox WHERE status <> 'done'")
            .await,
        0
    );
    // 400.00 of 1000.00 refunded: 400 of 1000 points taken back, in 40
    // steps. Platinum's entry reward (500) stays; falling back to Gold
    // grants no entry reward.
    assert_eq!(points(&app, CUSTOMER).await, (500, 600));
    assert_eq!(
        app.count("SELECT COUNT(*) FROM points_ledger WHERE order_id = 8500 AND kind = 'clawback'")
            .await,
        40
    );
}

async fn the_vip_discount_is_created_once_and_follows_the_tier_perks(backend: Backend) {
    use advocate::shopify::admin::effects::{VIP_PERKS_KEY, VIP_PERKS_NAMESPACE};

    let app = TestApp::spawn(backend).await;
    app.install(SHOP).await;
    let now = advocate::store::now_ms();
    app.run_jobs(now).await;
    app.send_effects().await;
    let discounts = || {
        app.shopify.admin(|a| {
            a.automatic_discounts
                .iter()
                .filter(|((shop, _), _)| shop == SHOP)
                .map(|((_, id), input)| (id.clone(), input.clone()))
                .collect::<Vec<_>>()
        })
    };
    let created = discounts();
    assert_eq!(created.len(), 1, "the default tiers have perks");
    let (id, input) = &created[0];
    assert_eq!(input["functionHandle"], "vip-perks");
    let config = |id: &str| -> Value {
        let raw = app.shopify.admin(|a| {
            a.metafields
                .get(&(
                    SHOP.to_owned(),
                    id.to_owned(),
                    VIP_PERKS_NAMESPACE.to_owned(),
                    VIP_PERKS_KEY.to_owned(),
                ))
                .cloned()
        });
        serde_json::from_str(&raw.expect("the configuration metafield")).unwrap()
    };
    assert_eq!(config(id)["perks"]["gold"], 5);
    assert_eq!(config(id)["perks"]["platinum"], 10);
    assert_eq!(config(id)["names"]["gold"], "Gold");
    assert_eq!(config(id)["shipping"]["platinum"], 0);
    assert_eq!(
        input["discountClasses"],
        json!(["ORDER"]),
        "no shipping perk: the delivery target is not run"
    );
    let classes = |id: &str| {
        app.shopify.admin(|a| {
            a.automatic_discounts[&(SHOP.to_owned(), id.to_owned())]["discountClasses"].clone()
        })
    };

    put_program(&app, |s| {
        s["tiers"]["levels"][1]["perk_percent"] = json!(8);
        s["tiers"]["levels"][2]["shipping_perk_percent"] = json!(100);
    })
    .await;
    app.run_jobs(now + 60_000).await;
    app.send_effects().await;
    assert_eq!(discounts().len(), 1, "updated, not created again");
    assert_eq!(config(id)["perks"]["gold"], 8);
    assert_eq!(config(id)["shipping"]["platinum"], 100);
    assert_eq!(
        classes(id),
        json!(["ORDER", "SHIPPING"]),
        "a shipping perk adds the SHIPPING class"
    );
    app.run_jobs(now + 120_000).await;
    assert_eq!(
        app.count("SELECT COUNT(*) FROM outbox WHERE kind = 'sync_vip_perks'")
            .await,
        2,
        "one sync per settings version"
    );

    put_program(&app, |s| {
        s["tiers"]["levels"][2]["shipping_perk_percent"] = json!(0);
    })
    .await;
    app.run_jobs(now + 180_000).await;
    app.send_effects().await;
    assert_eq!(config(id)["shipping"]["platinum"], 0);
    assert_eq!(
        classes(id),
        json!(["ORDER"]),
        "the last shipping perk gone, the class goes too"
    );
}

async fn a_storefront_redemption_can_carry_its_key_in_the_body(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.install(SHOP).await;
    seed_customer(&app).await;
    grant(&app, CUSTOMER, 1_000).await;
    // The app proxy may drop custom headers: the key rides in the body.
    let redeem = |body: Value| {
        let url = format!(
            "{}/proxy/redeem?{}",
            app.address,
            crate::helpers::proxy_query(SHOP, Some(CUSTOMER))
        );
        let http = app.http.clone();
        async move { http.post(url).json(&body).send().await.unwrap() }
    };
    let first = redeem(json!({ "reward_id": "5-off", "idempotency_key": "widget-1" })).await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let again = redeem(json!({ "reward_id": "5-off", "idempotency_key": "widget-1" })).await;
    assert_eq!(again.status(), 200);
    let again: Value = again.json().await.unwrap();
    assert_eq!(first["code"], again["code"]);
    assert_eq!(points(&app, CUSTOMER).await.0, 500);
    let keyless = redeem(json!({ "reward_id": "5-off" })).await;
    assert_eq!(
        keyless.status(),
        400,
        "a redemption without a key is refused"
    );
}
