//! Win-back episodes end to end: the offer an at-risk customer gets (once
//! per episode), the holdout that gets none, the return purchase that
//! closes an episode with its revenue, the expiry sweep, the report, and
//! what redaction leaves. `entered_at_risk` is called the way the segment
//! recompute calls it: inside a store transaction.

use advocate::{
    engine::effects::FlowTrigger,
    engine::{
        rfc3339,
        winback::{entered_at_risk, ordering_key, Offer},
        DAY_MS,
    },
    store::{now_ms, outbox, program},
};
use serde_json::{json, Value};

use crate::{
    helpers::{fixture, session_token, Backend, TestApp, SHOP},
    loyalty::{order, points, put_program, refund, send_json},
};
use advocate::loyalty::{CustomerId, EpochMs, ShopId};

crate::on_both_backends!(
    an_episode_credits_its_points_offer_once,
    a_discount_code_offer_reaches_shopify_once,
    the_holdout_gets_no_offer_and_switched_off_offers_none,
    a_shop_s_holdout_key_is_made_once_and_decides_the_draw,
    a_return_purchase_closes_the_episode_with_its_net_revenue,
    an_episode_without_a_return_expires_and_the_next_one_gets_a_new_offer,
    the_report_compares_offered_with_the_holdout,
    the_report_rejects_an_unknown_period,
    redaction_erases_the_code_and_shop_redact_the_episodes,
);

/// A fixed holdout key, so tests know who is held out.
const KEY: &[u8] = b"winback-test-key-0123456789abcdef";

async fn shop_id(app: &TestApp) -> i64 {
    crate::compliance::shop_id(app, SHOP).await
}

/// Installs the shop with win-back offers on as `offer`, `holdout` %.
async fn set_up_without_key(backend: Backend, holdout: u32, offer: Value) -> TestApp {
    let app = TestApp::spawn(backend).await;
    app.install(SHOP).await;
    put_program(&app, |s| {
        s["winback"]["enabled"] = json!(true);
        s["winback"]["holdout_percent"] = json!(holdout);
        s["winback"]["attribution_days"] = json!(30);
        s["winback"]["offer"] = offer;
    })
    .await;
    app
}

/// The same, with the holdout key [`KEY`].
async fn set_up(backend: Backend, holdout: u32, offer: Value) -> TestApp {
    let app = set_up_without_key(backend, holdout, offer).await;
    sqlx::query("INSERT INTO winback_keys (shop_id, holdout_key, created_at) VALUES ($1, $2, 0)")
        .bind(shop_id(&app).await)
        .bind(hex::encode(KEY))
        .execute(app.store.writer())
        .await
        .unwrap();
    app
}

/// The customer enters the at-risk segment at `now`, as the recompute
/// reports it: in a transaction of its own, with the shop's settings.
async fn enter(app: &TestApp, customer: i64, now: i64) -> Offer {
    let shop = shop_id(app).await;
    let mut tx = app.store.begin().await.unwrap();
    let settings = program::get_program(&mut tx, shop).await.unwrap().settings;
    let offer = entered_at_risk(
        &mut tx,
        ShopId(shop),
        &settings,
        CustomerId(customer),
        EpochMs(now),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    offer
}

/// Whether the first episode of `customer` is held out at `percent`.
async fn held(app: &TestApp, customer: i64, percent: u32) -> bool {
    advocate::loyalty::winback::held_out(KEY, shop_id(app).await, customer, 1, percent)
}

/// The first customers from 1 up who are (or are not) held out at `percent`.
async fn customers_where(app: &TestApp, held_out: bool, percent: u32, n: usize) -> Vec<i64> {
    let mut found = Vec::new();
    for customer in 1.. {
        if held(app, customer, percent).await == held_out {
            found.push(customer);
            if found.len() == n {
                return found;
            }
        }
    }
    unreachable!()
}

async fn winback_entries(app: &TestApp, customer: i64) -> i64 {
    app.count(&format!(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM points_ledger \
         WHERE kind = 'winback' AND customer_id = {customer}"
    ))
    .await
}

/// A paid order of `customer` for `amount`, placed at `at`.
async fn order_at(app: &TestApp, id: i64, customer: i64, amount: &str, at: i64) {
    let mut body = order(id, Some(customer), amount);
    body["processed_at"] = json!(rfc3339(at));
    send_json(app, "orders/paid", &format!("order-{id}"), &body).await;
    app.drain().await;
}

/// (outcome, return order) of the customer's latest episode.
async fn latest_episode(app: &TestApp, customer: i64) -> (Option<String>, Option<i64>) {
    sqlx::query_as(
        "SELECT outcome, return_order_id FROM winback_episodes WHERE customer_id = $1 \
         ORDER BY seq DESC LIMIT 1",
    )
    .bind(customer)
    .fetch_one(app.store.writer())
    .await
    .unwrap()
}

async fn report(app: &TestApp, period: &str) -> reqwest::Response {
    app.http
        .get(format!("{}/api/admin/winback?period={period}", app.address))
        .bearer_auth(session_token(SHOP, Some("1")))
        .send()
        .await
        .unwrap()
}

async fn an_episode_credits_its_points_offer_once(backend: Backend) {
    let app = set_up(backend, 0, json!({ "kind": "points", "points": 300 })).await;
    let now = now_ms();
    assert_eq!(enter(&app, 11, now).await, Offer::Points { points: 300 });
    // Still at risk on the next recompute: the same offer, nothing new.
    assert_eq!(
        enter(&app, 11, now + DAY_MS).await,
        Offer::Points { points: 300 }
    );
    assert_eq!(winback_entries(&app, 11).await, 1);
    assert_eq!(points(&app, 11).await, (300, 0));
    assert_eq!(
        app.count("SELECT CAST(COUNT(*) AS BIGINT) FROM winback_episodes")
            .await,
        1
    );
}

async fn a_discount_code_offer_reaches_shopify_once(backend: Backend) {
    let offer = json!({
        "kind": "discount",
        "value": { "kind": "amount_off", "amount": "10.00" },
        "valid_days": 14,
    });
    let app = set_up(backend, 0, offer).await;
    let now = now_ms();
    let first = enter(&app, 12, now).await;
    let Offer::DiscountCode { code, expires_at } = first.clone() else {
        panic!("a code, not {first:?}");
    };
    assert_eq!(expires_at, now + 14 * DAY_MS);
    assert!(code.starts_with("WIN-"), "{code}");
    assert_eq!(enter(&app, 12, now + DAY_MS).await, first, "the same code");
    assert_eq!(winback_entries(&app, 12).await, 0, "a code, no points");
    // The recompute's segment-entered trigger, enqueued after the code on
    // the customer's ordering key, carries the offer.
    let shop = shop_id(&app).await;
    let mut fields = first.flow_fields();
    fields.insert("Segment".into(), json!("at-risk"));
    let trigger = FlowTrigger::SegmentEntered.effect(12, fields);
    let mut tx = app.store.begin().await.unwrap();
    outbox::enqueue(
        &mut tx,
        shop,
        trigger.kind(),
        &serde_json::to_string(&trigger).unwrap(),
        "segment:12:at-risk",
        Some(&ordering_key(12)),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    app.send_effects().await;
    let triggers = app.flow_triggers(FlowTrigger::SegmentEntered.handle());
    assert_eq!(triggers.len(), 1);
    assert_eq!(triggers[0]["Offer"], "discount_code");
    assert_eq!(triggers[0]["Discount code"], json!(code));
    assert_eq!(triggers[0]["Expires at"], json!(rfc3339(expires_at)));
    let discounts = app.shopify.admin(|a| {
        a.discounts
            .iter()
            .filter(|((shop, _), _)| shop == SHOP)
            .map(|((_, code), d)| (code.clone(), d.clone()))
            .collect::<Vec<_>>()
    });
    assert_eq!(discounts.len(), 1, "one code reached Shopify");
    let (sent, discount) = &discounts[0];
    assert_eq!(sent, &code);
    assert_eq!(discount["usageLimit"], 1);
    assert_eq!(
        discount["context"]["customers"]["add"],
        json!(["gid://shopify/Customer/12"])
    );
    assert_eq!(
        discount["customerGets"]["value"]["discountAmount"]["amount"],
        "10.00"
    );
}

async fn the_holdout_gets_no_offer_and_switched_off_offers_none(backend: Backend) {
    let app = set_up(backend, 50, json!({ "kind": "points", "points": 100 })).await;
    let now = now_ms();
    let held_out = customers_where(&app, true, 50, 3).await;
    let offered = customers_where(&app, false, 50, 4).await;
    for customer in &held_out {
        assert_eq!(enter(&app, *customer, now).await, Offer::Holdout);
        assert_eq!(winback_entries(&app, *customer).await, 0);
    }
    for customer in &offered[..3] {
        assert_eq!(
            enter(&app, *customer, now).await,
            Offer::Points { points: 100 }
        );
        assert_eq!(winback_entries(&app, *customer).await, 1);
    }
    assert_eq!(
        app.count("SELECT CAST(COUNT(*) AS BIGINT) FROM winback_episodes WHERE held_out = 1")
            .await,
        3
    );
    // Offers off: the episode is recorded (the return is still measured),
    // and nothing is given.
    put_program(&app, |s| s["winback"]["enabled"] = json!(false)).await;
    assert_eq!(enter(&app, offered[3], now).await, Offer::None);
    assert_eq!(winback_entries(&app, offered[3]).await, 0);
    assert_eq!(
        app.count("SELECT CAST(COUNT(*) AS BIGINT) FROM winback_episodes")
            .await,
        7
    );
    assert_eq!(
        app.count(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM outbox WHERE kind = 'create_discount_code'"
        )
        .await,
        0
    );
}

async fn a_shop_s_holdout_key_is_made_once_and_decides_the_draw(backend: Backend) {
    let app = set_up_without_key(backend, 50, json!({ "kind": "points", "points": 100 })).await;
    let shop = shop_id(&app).await;
    let mut offers = Vec::new();
    for customer in 1..=24 {
        offers.push((customer, enter(&app, customer, now_ms()).await));
    }
    assert_eq!(
        app.count("SELECT CAST(COUNT(*) AS BIGINT) FROM winback_keys")
            .await,
        1
    );
    let key: String = sqlx::query_scalar("SELECT holdout_key FROM winback_keys")
        .fetch_one(app.store.writer())
        .await
        .unwrap();
    let key = hex::decode(key).unwrap();
    assert_eq!(key.len(), 32);
    for (customer, offer) in offers {
        let held = advocate::loyalty::winback::held_out(&key, shop, customer, 1, 50);
        assert_eq!(offer == Offer::Holdout, held, "customer {customer}");
    }
}

async fn a_return_purchase_closes_the_episode_with_its_net_revenue(backend: Backend) {
    let app = set_up(backend, 0, json!({ "kind": "points", "points": 100 })).await;
    let opened = now_ms() - 10 * DAY_MS;
    enter(&app, 21, opened).await;
    // An order placed before the episode opened (delivered late) is no return.
    order_at(&app, 9001, 21, "40.00", opened - DAY_MS).await;
    assert_eq!(latest_episode(&app, 21).await, (None, None));
    order_at(&app, 9002, 21, "50.00", opened + 5 * DAY_MS).await;
    assert_eq!(
        latest_episode(&app, 21).await,
        (Some("returned".into()), Some(9002))
    );
    // A later order of the same customer does not move the episode.
    order_at(&app, 9003, 21, "70.00", opened + 6 * DAY_MS).await;
    assert_eq!(latest_episode(&app, 21).await.1, Some(9002));
    let body: Value = report(&app, "30d").await.json().await.unwrap();
    assert_eq!(body["offered"]["returned"], 1);
    assert_eq!(body["offered"]["recovered_revenue_minor"], 5000);
    // A refund on the return order lowers what it recovered.
    send_json(
        &app,
        "refunds/create",
        "refund-1",
        &refund(77, 9002, "20.00"),
    )
    .await;
    app.drain().await;
    let body: Value = report(&app, "30d").await.json().await.unwrap();
    assert_eq!(body["offered"]["recovered_revenue_minor"], 3000);
    assert_eq!(body["offered"]["win_back_rate"]["percent"], "100.0");
}

async fn an_episode_without_a_return_expires_and_the_next_one_gets_a_new_offer(backend: Backend) {
    let app = set_up(backend, 0, json!({ "kind": "points", "points": 100 })).await;
    let opened = now_ms() - 40 * DAY_MS;
    enter(&app, 31, opened).await;
    // Attribution is 30 days: not yet expired a day before.
    assert_eq!(app.run_jobs(opened + 29 * DAY_MS).await.winback_expired, 0);
    assert_eq!(app.run_jobs(opened + 30 * DAY_MS).await.winback_expired, 1);
    assert_eq!(
        latest_episode(&app, 31).await,
        (Some("expired".into()), None)
    );
    // An order after the window does not bring the episode back.
    order_at(&app, 9101, 31, "25.00", opened + 31 * DAY_MS).await;
    assert_eq!(
        latest_episode(&app, 31).await,
        (Some("expired".into()), None)
    );
    // At risk again later: a new episode, with a new offer.
    enter(&app, 31, opened + 35 * DAY_MS).await;
    assert_eq!(winback_entries(&app, 31).await, 2);
    assert_eq!(points(&app, 31).await.0, 200);
}

async fn the_report_compares_offered_with_the_holdout(backend: Backend) {
    let app = set_up(backend, 50, json!({ "kind": "points", "points": 100 })).await;
    let opened = now_ms() - 10 * DAY_MS;
    let held_out = customers_where(&app, true, 50, 3).await;
    let offered = customers_where(&app, false, 50, 6).await;
    for customer in held_out.iter().chain(&offered[..4]) {
        enter(&app, *customer, opened).await;
    }
    // Opened 40 days ago: in the 90-day report, not the 30-day one.
    enter(&app, offered[4], opened - 30 * DAY_MS).await;
    put_program(&app, |s| s["winback"]["enabled"] = json!(false)).await;
    enter(&app, offered[5], opened).await;
    let back = opened + 2 * DAY_MS;
    // Offered: two of four come back, for 50.00 and 30.00 less 10.00.
    order_at(&app, 9201, offered[0], "50.00", back).await;
    order_at(&app, 9202, offered[1], "30.00", back).await;
    send_json(
        &app,
        "refunds/create",
        "refund-2",
        &refund(78, 9202, "10.00"),
    )
    .await;
    app.drain().await;
    // Holdout: one of three, for 20.00; offers off: the one comes back.
    order_at(&app, 9203, held_out[0], "20.00", back).await;
    order_at(&app, 9204, offered[5], "15.00", back).await;

    let response = report(&app, "30d").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["period"], "30d");
    assert_eq!(body["currency"], "USD");
    assert_eq!(body["enabled"], false);
    assert_eq!(body["holdout_percent"], 50);
    let offered_arm = &body["offered"];
    assert_eq!(offered_arm["episodes"], 4);
    assert_eq!(offered_arm["open"], 2);
    assert_eq!(offered_arm["returned"], 2);
    assert_eq!(
        offered_arm["win_back_rate"],
        json!({ "numerator": 2, "denominator": 4, "percent": "50.0" })
    );
    assert_eq!(offered_arm["recovered_revenue_minor"], 7000);
    assert_eq!(offered_arm["revenue_per_episode_minor"], 1750);
    let holdout = &body["holdout"];
    assert_eq!(holdout["episodes"], 3);
    assert_eq!(holdout["win_back_rate"]["percent"], "33.3");
    assert_eq!(holdout["recovered_revenue_minor"], 2000);
    assert_eq!(holdout["revenue_per_episode_minor"], 666);
    assert_eq!(body["no_offer"]["episodes"], 1);
    assert_eq!(body["no_offer"]["recovered_revenue_minor"], 1500);
    // 50 % - 33.33 % = 16.67 points.
    assert_eq!(body["lift_points"], "16.7");
    assert_eq!(
        body["cost"],
        json!({ "points_issued": 400, "codes_issued": 0 })
    );

    let quarter: Value = report(&app, "90d").await.json().await.unwrap();
    assert_eq!(quarter["offered"]["episodes"], 5);
    assert_eq!(quarter["cost"]["points_issued"], 500);
    // 2 of 5 against 1 of 3: 40 - 33.33.
    assert_eq!(quarter["lift_points"], "6.7");
}

async fn the_report_rejects_an_unknown_period(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.install(SHOP).await;
    let response = report(&app, "7d").await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap_or("").contains("30d"),
        "{body}"
    );
    let empty: Value = report(&app, "90d").await.json().await.unwrap();
    assert_eq!(empty["offered"]["episodes"], 0);
    assert_eq!(empty["offered"]["win_back_rate"]["percent"], Value::Null);
    assert_eq!(empty["lift_points"], Value::Null);
}

async fn redaction_erases_the_code_and_shop_redact_the_episodes(backend: Backend) {
    let offer = json!({
        "kind": "discount",
        "value": { "kind": "percentage_off", "percent": 15 },
        "valid_days": 30,
    });
    let app = set_up(backend, 0, offer).await;
    // The customer of the customers/redact fixture.
    let person = 191_167;
    assert!(matches!(
        enter(&app, person, now_ms()).await,
        Offer::DiscountCode { .. }
    ));
    enter(&app, 41, now_ms()).await;
    let codes =
        "SELECT CAST(COUNT(*) AS BIGINT) FROM winback_episodes WHERE offer_code IS NOT NULL";
    assert_eq!(app.count(codes).await, 2);
    app.send(
        "customers/redact",
        "redact",
        &fixture("customers_redact.json"),
    )
    .await;
    app.drain().await;
    assert_eq!(app.inbox_row("redact").await.0, "done");
    assert_eq!(app.count(codes).await, 1, "only the other customer's code");
    assert_eq!(
        app.count("SELECT CAST(COUNT(*) AS BIGINT) FROM winback_episodes")
            .await,
        2,
        "the episodes stay for the totals"
    );
    // Still open: at risk again, the redacted customer is not offered again.
    assert_eq!(enter(&app, person, now_ms()).await, Offer::None);

    app.send("shop/redact", "shop-redact", &fixture("shop_redact.json"))
        .await;
    app.drain().await;
    for table in ["winback_episodes", "winback_keys"] {
        assert_eq!(
            app.count(&format!("SELECT CAST(COUNT(*) AS BIGINT) FROM {table}"))
                .await,
            0,
            "{table}"
        );
    }
}
