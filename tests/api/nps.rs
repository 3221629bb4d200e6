//! The post-purchase survey end to end: answers from the checkout
//! extension, the bonus once per order (also when the answer comes before
//! the order's webhook), the Flow trigger, the merchant's figures, redaction.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{extension_token, fixture, session_token, Backend, TestApp, SHOP};
use advocate::loyalty::{CustomerId, EpochMs, OrderId, ShopId};

crate::on_both_backends!(
    nps_is_computed_from_a_hand_computed_set_of_answers_by_segment_and_tier,
    a_second_answer_for_the_same_order_earns_nothing,
    an_answer_before_the_order_webhook_is_credited_once_when_the_order_arrives,
    answers_racing_their_orders_are_credited_exactly_once,
    an_order_applied_while_its_answer_is_uncommitted_waits_and_credits_it,
    someone_elses_order_is_refused,
    bad_answers_are_refused_with_clear_errors,
    a_shop_without_the_survey_refuses_answers,
    the_flow_trigger_is_received_once_per_answer,
    customers_redact_erases_comments_and_shop_redact_the_answers,
);

pub(crate) const ALICE: i64 = 7_000_000_000_000_101;
pub(crate) const BOB: i64 = 7_000_000_000_000_102;
pub(crate) const BONUS: i64 = 25;

/// A paid order of `customer`, named `#<id % 100000>`.
pub(crate) fn order(id: i64, customer: i64) -> Value {
    let money = |a: &str| json!({ "shop_money": { "amount": a, "currency_code": "USD" } });
    json!({
        "id": id,
        "name": format!("#{}", id % 100_000),
        "customer": { "id": customer },
        "currency": "USD",
        "subtotal_price_set": money("40.00"),
        "total_price_set": money("40.00"),
        "total_tax_set": money("0.00"),
        "total_shipping_price_set": money("0.00"),
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

pub(crate) async fn app(backend: Backend) -> TestApp {
    let app = TestApp::spawn(backend).await;
    app.install(SHOP).await;
    app
}

pub(crate) async fn deliver_order(app: &TestApp, key: &str, body: &Value) {
    let response = app
        .send("orders/paid", key, body.to_string().as_bytes())
        .await;
    assert_eq!(response.status(), 200);
    app.drain().await;
}

/// POST /api/checkout/nps as `customer` (None: logged out).
pub(crate) async fn answer(app: &TestApp, customer: Option<i64>, body: Value) -> (u16, Value) {
    let response = app
        .http
        .post(format!("{}/api/checkout/nps", app.address))
        .bearer_auth(extension_token(SHOP, customer))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub(crate) async fn status(app: &TestApp, customer: i64, order_id: &str) -> (u16, Value) {
    let response = app
        .http
        .get(format!("{}/api/checkout/nps", app.address))
        .query(&[("order_id", order_id)])
        .bearer_auth(extension_token(SHOP, Some(customer)))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn admin(app: &TestApp, method: Method, path: &str) -> reqwest::RequestBuilder {
    app.http
        .request(method, format!("{}{path}", app.address))
        .bearer_auth(session_token(SHOP, Some("1")))
}

pub(crate) async fn admin_nps(app: &TestApp, query: &str) -> Value {
    let response = admin(app, Method::GET, &format!("/api/admin/nps{query}"))
        .await
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

pub(crate) async fn set_nps(app: &TestApp, nps: Value) {
    app.change_program(SHOP, |settings| settings["nps"] = nps)
        .await;
}

pub(crate) async fn balance(app: &TestApp, customer: i64) -> i64 {
    app.count(&format!(
        "SELECT COALESCE(MAX(points_balance + points_pending), 0) FROM customers WHERE customer_id = {customer}"
    ))
    .await
}

pub(crate) async fn nps_entries(app: &TestApp, order_id: i64) -> i64 {
    app.count(&format!(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM points_ledger WHERE source_key = 'nps:{order_id}'"
    ))
    .await
}

/// A customer row with the segment and tier given, as the segment job and
/// the tier engine leave them.
async fn customer_in(app: &TestApp, customer: i64, segment: Option<&str>, tier: Option<&str>) {
    let shop: i64 = app.count("SELECT MIN(id) FROM shops").await;
    sqlx::query(
        "INSERT INTO customers (shop_id, customer_id, first_name, segment, tier_id, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, 0, 0)",
    )
    .bind(shop)
    .bind(customer)
    .bind(format!("Shopper{}", customer % 1000))
    .bind(segment)
    .bind(tier)
    .execute(app.store.writer())
    .await
    .unwrap();
}

fn summary(v: &Value) -> (i64, i64, i64, i64, String) {
    (
        v["responses"].as_i64().unwrap(),
        v["promoters"].as_i64().unwrap(),
        v["passives"].as_i64().unwrap(),
        v["detractors"].as_i64().unwrap(),
        v["nps"].as_str().unwrap_or("none").to_owned(),
    )
}

fn group<'a>(list: &'a Value, key: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|g| g["key"] == key)
        .unwrap_or_else(|| panic!("no group {key} in {list}"))
}

async fn nps_is_computed_from_a_hand_computed_set_of_answers_by_segment_and_tier(backend: Backend) {
    let app = app(backend).await;
    // score, segment, tier, comment
    let answers = [
        (10, Some("champions"), Some("gold"), Some("Love it")),
        (9, Some("champions"), None, None),
        (9, Some("champions"), None, Some("   ")),
        (8, Some("at-risk"), Some("gold"), Some("Fine")),
        (7, None, None, None),
        (6, Some("at-risk"), None, Some("Slow delivery")),
        (0, Some("at-risk"), Some("gold"), Some("Never again")),
    ];
    for (i, (score, segment, tier, comment)) in answers.iter().enumerate() {
        let customer = 8_000_000_000_000_000 + i as i64;
        customer_in(&app, customer, *segment, *tier).await;
        let order_id = 9_000_000_000_000_000 + i as i64;
        let (code, body) = answer(
            &app,
            Some(customer),
            json!({ "order_id": format!("gid://shopify/OrderIdentity/{order_id}"), "score": score, "comment": comment }),
        )
        .await;
        assert_eq!(code, 201, "{body}");
    }
    // The answers came before their orders: they count once the orders
    // confirm that each was its customer's.
    assert_eq!(
        admin_nps(&app, "?period=30d").await["overall"]["responses"],
        0
    );
    for i in 0..answers.len() as i64 {
        let (customer, order_id) = (8_000_000_000_000_000 + i, 9_000_000_000_000_000 + i);
        deliver_order(&app, &format!("order-{i}"), &order(order_id, customer)).await;
    }
    // A segment changed after answering does not move the answer.
    sqlx::query("UPDATE customers SET segment = 'lost'")
        .execute(app.store.writer())
        .await
        .unwrap();

    let nps = admin_nps(&app, "?period=30d").await;
    // 3 promoters, 2 passives, 2 detractors: (3 - 2) / 7 = 14.29 %.
    assert_eq!(summary(&nps["overall"]), (7, 3, 2, 2, "14.3".into()));
    assert_eq!(nps["overall"]["numerator"], 1);
    assert_eq!(nps["overall"]["denominator"], 7);
    let months = nps["months"].as_array().unwrap();
    assert_eq!(months.len(), 1, "{months:?}");
    assert_eq!(summary(&months[0]).4, "14.3");
    // Champions: 10, 9, 9 -> 100; at risk: 8, 6, 0 -> -66.7; none: 7 -> 0.
    let segments = &nps["by_segment"];
    assert_eq!(
        summary(group(segments, "champions")),
        (3, 3, 0, 0, "100.0".into())
    );
    assert_eq!(group(segments, "champions")["label"], "Champions");
    assert_eq!(
        summary(group(segments, "at-risk")),
        (3, 0, 1, 2, "-66.7".into())
    );
    assert_eq!(summary(group(segments, "none")), (1, 0, 1, 0, "0.0".into()));
    assert_eq!(segments.as_array().unwrap().len(), 3);
    // Gold: 10, 8, 0 -> 0; no tier: 9, 9, 7, 6 -> 25.
    let tiers = &nps["by_tier"];
    assert_eq!(summary(group(tiers, "gold")), (3, 1, 1, 1, "0.0".into()));
    assert_eq!(group(tiers, "gold")["label"], "Gold");
    assert_eq!(summary(group(tiers, "none")), (4, 2, 1, 1, "25.0".into()));
    // Comments: blank ones are none; newest first, with the shopper's name.
    let comments = nps["comments"]["items"].as_array().unwrap();
    let texts: Vec<&str> = comments
        .iter()
        .map(|c| c["comment"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["Never again", "Slow delivery", "Fine", "Love it"]);
    assert_eq!(comments[0]["score"], 0);
    assert_eq!(comments[0]["category"], "detractor");
    assert_eq!(comments[0]["customer_name"], "Shopper6");
    assert_eq!(nps["comments"]["has_more"], false);

    let (code, _) = {
        let r = admin(&app, Method::GET, "/api/admin/nps?period=7d")
            .await
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), ())
    };
    assert_eq!(code, 400, "an unknown period is refused");
}

async fn a_second_answer_for_the_same_order_earns_nothing(backend: Backend) {
    let app = app(backend).await;
    let order_id = 6_100_000_000_000_001;
    deliver_order(&app, "order-1", &order(order_id, ALICE)).await;
    let before = balance(&app, ALICE).await;
    assert!(before > 0, "the order earned points");

    let (code, first) = answer(
        &app,
        Some(ALICE),
        json!({ "order_id": order_id, "score": 9, "comment": "  Great  " }),
    )
    .await;
    assert_eq!(code, 201, "{first}");
    assert_eq!(first["category"], "promoter");
    assert_eq!(first["points_credited"], BONUS);
    assert_eq!(first["credit_state"], "credited");
    assert_eq!(balance(&app, ALICE).await, before + BONUS);

    let (code, second) = answer(
        &app,
        Some(ALICE),
        json!({ "order_id": format!("gid://shopify/Order/{order_id}"), "score": 2 }),
    )
    .await;
    assert_eq!(code, 409, "{second}");
    assert!(second["message"]
        .as_str()
        .unwrap()
        .contains("already answered"));
    assert_eq!(
        balance(&app, ALICE).await,
        before + BONUS,
        "nothing more earned"
    );
    assert_eq!(nps_entries(&app, order_id).await, 1);

    let (code, seen) = status(&app, ALICE, &order_id.to_string()).await;
    assert_eq!(code, 200);
    assert_eq!(seen["answered"], true);
    assert_eq!(seen["score"], 9, "the first answer is kept");
    assert_eq!(seen["points_credited"], BONUS);
    let stored = app
        .count("SELECT CAST(COUNT(*) AS BIGINT) FROM nps_responses WHERE comment = 'Great'")
        .await;
    assert_eq!(stored, 1, "the comment is stored trimmed");
}

async fn an_answer_before_the_order_webhook_is_credited_once_when_the_order_arrives(
    backend: Backend,
) {
    let app = app(backend).await;
    let order_id = 6_200_000_000_000_002;
    let (code, before) = status(
        &app,
        ALICE,
        &format!("gid://shopify/OrderIdentity/{order_id}"),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(before["answered"], false);
    assert_eq!(before["bonus_points"], BONUS);

    let (code, body) = answer(
        &app,
        Some(ALICE),
        json!({ "order_id": order_id, "score": 10 }),
    )
    .await;
    assert_eq!(code, 201, "{body}");
    assert_eq!(body["credit_state"], "waiting");
    assert_eq!(body["points_credited"], 0);
    assert_eq!(nps_entries(&app, order_id).await, 0);

    deliver_order(&app, "paid-1", &order(order_id, ALICE)).await;
    assert_eq!(
        nps_entries(&app, order_id).await,
        1,
        "credited with the order"
    );
    let after_order = balance(&app, ALICE).await;
    // Another delivery of the order (and an update) credit nothing more.
    let mut updated = order(order_id, ALICE);
    updated["note"] = json!("gift");
    deliver_order(&app, "paid-2", &updated).await;
    let response = app
        .send(
            "orders/updated",
            "updated-1",
            updated.to_string().as_bytes(),
        )
        .await;
    assert_eq!(response.status(), 200);
    app.drain().await;
    assert_eq!(nps_entries(&app, order_id).await, 1);
    assert_eq!(balance(&app, ALICE).await, after_order);
    let reason = app
        .count(&format!(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM points_ledger WHERE source_key = 'nps:{order_id}' \
             AND points = {BONUS} AND kind = 'nps' AND reason LIKE '%#2%'"
        ))
        .await;
    assert_eq!(reason, 1, "the entry names the order");
    let (_, seen) = status(&app, ALICE, &order_id.to_string()).await;
    assert_eq!(seen["credit_state"], "credited");
}

/// Answers sent while their orders' webhooks are being applied: however
/// the two interleave, every order earns its bonus exactly once.
async fn answers_racing_their_orders_are_credited_exactly_once(backend: Backend) {
    let app = app(backend).await;
    let orders: Vec<i64> = (0..12).map(|i| 6_250_000_000_000_000 + i).collect();
    for id in &orders {
        let response = app
            .send(
                "orders/paid",
                &format!("race-{id}"),
                order(*id, ALICE).to_string().as_bytes(),
            )
            .await;
        assert_eq!(response.status(), 200);
    }
    let answers = futures_util::future::join_all(
        orders
            .iter()
            .map(|id| answer(&app, Some(ALICE), json!({ "order_id": id, "score": 9 }))),
    );
    let (answered, _) = tokio::join!(answers, app.drain());
    assert!(
        answered.iter().all(|(code, _)| *code == 201),
        "{answered:?}"
    );
    for id in &orders {
        assert_eq!(nps_entries(&app, *id).await, 1, "order {id}");
    }
    assert_eq!(
        app.count(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM nps_responses WHERE credit_state = 'credited'"
        )
        .await,
        orders.len() as i64
    );
}

/// The answer's transaction has stored it but not committed when the
/// order's webhook is applied: the order's transaction cannot see the answer
/// yet, so it waits for it (PostgreSQL: the advisory lock on the order;
/// SQLite: the one writer) and credits it once it is committed.
async fn an_order_applied_while_its_answer_is_uncommitted_waits_and_credits_it(backend: Backend) {
    let app = app(backend).await;
    let order_id = 6_260_000_000_000_001;
    let shop: i64 = app.count("SELECT MIN(id) FROM shops").await;
    let response = app
        .send(
            "orders/paid",
            "held",
            order(order_id, ALICE).to_string().as_bytes(),
        )
        .await;
    assert_eq!(response.status(), 200);

    let mut tx = app.store.begin().await.unwrap();
    let held = advocate::engine::nps::Answer {
        order_id: OrderId(order_id),
        customer_id: CustomerId(ALICE),
        score: 10,
        comment: None,
    };
    let answered = advocate::engine::nps::answer(&mut tx, ShopId(shop), &held, EpochMs::now())
        .await
        .unwrap();
    assert_eq!(
        answered.credit_state, "waiting",
        "the order is not applied yet"
    );
    let commit_once_the_order_waits = async {
        if backend == Backend::Postgres {
            crate::helpers::eventually(
                std::time::Duration::from_secs(10),
                "the order's transaction waiting for the answer's lock",
                || async {
                    app.count(
                        "SELECT CAST(COUNT(*) AS BIGINT) FROM pg_locks WHERE locktype = 'advisory' \
                         AND NOT granted AND database = \
                         (SELECT oid FROM pg_database WHERE datname = current_database())",
                    )
                    .await
                        > 0
                },
            )
            .await;
        }
        tx.commit().await.unwrap();
    };
    tokio::join!(commit_once_the_order_waits, app.drain());
    assert_eq!(app.inbox_row("held").await.0, "done");
    assert_eq!(
        nps_entries(&app, order_id).await,
        1,
        "credited by the order"
    );
}

async fn someone_elses_order_is_refused(backend: Backend) {
    let app = app(backend).await;
    let alices = 6_300_000_000_000_003;
    deliver_order(&app, "alice-order", &order(alices, ALICE)).await;
    let (code, body) = answer(&app, Some(BOB), json!({ "order_id": alices, "score": 0 })).await;
    assert_eq!(code, 403, "{body}");
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("another customer"));
    assert_eq!(status(&app, BOB, &alices.to_string()).await.0, 403);
    assert_eq!(
        app.count("SELECT CAST(COUNT(*) AS BIGINT) FROM nps_responses")
            .await,
        0
    );

    // Bob answers first for an order that turns out to be Alice's: no
    // bonus for anyone, and the answer is not counted.
    let later = 6_300_000_000_000_004;
    let (code, _) = answer(&app, Some(BOB), json!({ "order_id": later, "score": 0 })).await;
    assert_eq!(code, 201);
    let alice_before = balance(&app, ALICE).await;
    deliver_order(&app, "alice-later", &order(later, ALICE)).await;
    assert_eq!(nps_entries(&app, later).await, 0);
    assert_eq!(balance(&app, BOB).await, 0);
    assert!(
        balance(&app, ALICE).await > alice_before,
        "the order itself earns"
    );
    let nps = admin_nps(&app, "").await;
    assert_eq!(
        nps["overall"]["responses"], 0,
        "a refused answer is not counted"
    );
    assert_eq!(nps["overall"]["nps"], Value::Null);

    // Bob's early answer does not stop Alice from answering about her own
    // order, and earning its bonus once.
    let (code, body) = answer(&app, Some(ALICE), json!({ "order_id": later, "score": 10 })).await;
    assert_eq!(code, 201, "{body}");
    assert_eq!(nps_entries(&app, later).await, 1);
    let nps = admin_nps(&app, "").await;
    assert_eq!(nps["overall"]["responses"], 1);
    assert_eq!(nps["overall"]["promoters"], 1);
    let (code, _) = answer(&app, Some(ALICE), json!({ "order_id": later, "score": 3 })).await;
    assert_eq!(code, 409, "a second answer of her own is refused");
}

async fn bad_answers_are_refused_with_clear_errors(backend: Backend) {
    let app = app(backend).await;
    let order_id = 6_400_000_000_000_005_i64;
    let long = "x".repeat(1001);
    let cases = [
        (json!({ "order_id": order_id, "score": 11 }), "score"),
        (json!({ "order_id": order_id, "score": -1 }), "score"),
        (json!({ "order_id": order_id, "score": 7.5 }), "score"),
        (json!({ "order_id": order_id, "score": "7" }), "score"),
        (json!({ "order_id": order_id }), "score"),
        (
            json!({ "order_id": order_id, "score": 7, "comment": long }),
            "comment",
        ),
        (
            json!({ "order_id": order_id, "score": 7, "comment": 5 }),
            "comment",
        ),
        (
            json!({ "order_id": "gid://shopify/Customer/1", "score": 7 }),
            "order_id",
        ),
        (json!({ "score": 7 }), "order_id"),
    ];
    for (body, field) in cases {
        let (code, answer) = answer(&app, Some(ALICE), body.clone()).await;
        assert_eq!(code, 422, "{body} -> {answer}");
        assert_eq!(answer["errors"][0]["field"], field, "{body}");
    }
    // 1,000 characters after trimming are fine.
    let exact = format!("  {}  ", "é".repeat(1000));
    let (code, _) = answer(
        &app,
        Some(ALICE),
        json!({ "order_id": order_id, "score": 7, "comment": exact }),
    )
    .await;
    assert_eq!(code, 201);

    let (code, body) = answer(&app, None, json!({ "order_id": 1, "score": 7 })).await;
    assert_eq!(code, 401, "{body}");
    let response = app
        .http
        .post(format!("{}/api/checkout/nps", app.address))
        .bearer_auth(extension_token(SHOP, Some(ALICE)))
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(status(&app, ALICE, "nope").await.0, 422);
    assert_eq!(
        app.count("SELECT CAST(COUNT(*) AS BIGINT) FROM nps_responses")
            .await,
        1,
        "only the valid answer was stored"
    );
}

async fn a_shop_without_the_survey_refuses_answers(backend: Backend) {
    let app = app(backend).await;
    set_nps(&app, json!({ "enabled": false, "bonus_points": 25 })).await;
    let (code, body) = status(&app, ALICE, "42").await;
    assert_eq!(code, 200);
    assert_eq!(body, json!({ "enabled": false }));
    let (code, body) = answer(&app, Some(ALICE), json!({ "order_id": 42, "score": 9 })).await;
    assert_eq!(code, 404, "{body}");
    assert!(body["message"].as_str().unwrap().contains("not offered"));

    // On again, without a bonus: the answer counts, no points move.
    set_nps(&app, json!({ "enabled": true, "bonus_points": 0 })).await;
    let order_id = 6_500_000_000_000_006;
    deliver_order(&app, "order", &order(order_id, ALICE)).await;
    let before = balance(&app, ALICE).await;
    let (code, body) = answer(
        &app,
        Some(ALICE),
        json!({ "order_id": order_id, "score": 9 }),
    )
    .await;
    assert_eq!(code, 201, "{body}");
    assert_eq!(body["credit_state"], "none");
    assert_eq!(body["points_credited"], 0);
    assert_eq!(balance(&app, ALICE).await, before);
    assert_eq!(nps_entries(&app, order_id).await, 0);
}

async fn the_flow_trigger_is_received_once_per_answer(backend: Backend) {
    let app = app(backend).await;
    let order_id = 6_600_000_000_000_007_i64;
    deliver_order(&app, "order", &order(order_id, ALICE)).await;
    let (code, _) = answer(
        &app,
        Some(ALICE),
        json!({ "order_id": order_id, "score": 6, "comment": "Box was damaged" }),
    )
    .await;
    assert_eq!(code, 201);
    let (code, _) = answer(
        &app,
        Some(ALICE),
        json!({ "order_id": order_id, "score": 10 }),
    )
    .await;
    assert_eq!(code, 409);
    // An answer before its order: its trigger waits for the order to
    // confirm that it is the customer's, and then names it.
    let early = 6_600_000_000_000_008_i64;
    let (code, _) = answer(&app, Some(BOB), json!({ "order_id": early, "score": 8 })).await;
    assert_eq!(code, 201);
    app.send_effects().await;
    assert_eq!(app.flow_triggers("advocate-nps-response").len(), 1);
    deliver_order(&app, "early", &order(early, BOB)).await;
    app.send_effects().await;
    app.send_effects().await;

    let triggers = app.flow_triggers("advocate-nps-response");
    assert_eq!(triggers.len(), 2, "{triggers:?}");
    let alice = triggers
        .iter()
        .find(|t| t["customer_id"] == ALICE)
        .expect("Alice's trigger");
    assert_eq!(alice["Score"], 6);
    assert_eq!(alice["Category"], "detractor");
    assert_eq!(alice["Comment"], "Box was damaged");
    assert_eq!(alice["Order name"], format!("#{}", order_id % 100_000));
    let bob = triggers
        .iter()
        .find(|t| t["customer_id"] == BOB)
        .expect("Bob's trigger");
    assert_eq!(bob["Category"], "passive");
    assert_eq!(bob["Comment"], "");
    assert_eq!(bob["Order name"], format!("#{}", early % 100_000));
}

async fn customers_redact_erases_comments_and_shop_redact_the_answers(backend: Backend) {
    let app = app(backend).await;
    // The fixture redacts customer 191167.
    let redacted = 191_167;
    customer_in(&app, redacted, Some("loyal"), None).await;
    let (code, _) = answer(
        &app,
        Some(redacted),
        json!({ "order_id": 299_938, "score": 3, "comment": "Call me at 555-625-1199" }),
    )
    .await;
    assert_eq!(code, 201);
    let (code, _) = answer(
        &app,
        Some(ALICE),
        json!({ "order_id": 777, "score": 10, "comment": "Lovely" }),
    )
    .await;
    assert_eq!(code, 201);
    // Counted once their orders confirm them.
    deliver_order(&app, "redacted-order", &order(299_938, redacted)).await;
    deliver_order(&app, "alice-order", &order(777, ALICE)).await;
    let before = admin_nps(&app, "?period=365d").await;
    assert_eq!(before["comments"]["items"].as_array().unwrap().len(), 2);

    app.send(
        "customers/redact",
        "redact",
        &fixture("customers_redact.json"),
    )
    .await;
    app.drain().await;
    assert_eq!(app.inbox_row("redact").await.0, "done");
    assert_eq!(
        app.count("SELECT CAST(COUNT(*) AS BIGINT) FROM nps_responses WHERE comment LIKE '%555%'")
            .await,
        0,
        "the comment text is gone"
    );
    let after = admin_nps(&app, "?period=365d").await;
    assert_eq!(after["overall"]["responses"], 2, "the scores stay");
    assert_eq!(after["overall"]["detractors"], 1);
    let comments = after["comments"]["items"].as_array().unwrap();
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0]["comment"], "Lovely");

    app.send("shop/redact", "shop-redact", &fixture("shop_redact.json"))
        .await;
    app.drain().await;
    assert_eq!(app.inbox_row("shop-redact").await.0, "done");
    assert_eq!(
        app.count("SELECT CAST(COUNT(*) AS BIGINT) FROM nps_responses")
            .await,
        0,
        "shop/redact deletes every answer"
    );
}
