//! Referrals: codes and share links, the friend's discount, the fraud
//! rules, the pending period, voids and the merchant's decisions. Also the
//! helpers the program tests share (people, orders, admin calls).

use std::{sync::Arc, time::Duration};

use advocate::{
    engine::{scheduled, DAY_MS},
    jobs::outbox::OutboxSender,
    store::now_ms,
};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{proxy_query, session_token, Backend, TestApp, SHOP};
use advocate::loyalty::EpochMs;

crate::on_both_backends!(
    a_shopper_gets_one_referral_code_and_a_share_link,
    a_friend_claims_one_discount_per_email_and_it_reaches_shopify,
    a_friends_first_paid_order_pays_the_advocate_once_after_the_pending_period,
    a_friend_order_by_the_advocates_own_customer_account_is_rejected,
    the_advocates_own_email_is_refused_at_claim_and_at_order_time,
    a_friend_order_with_the_advocates_phone_is_rejected,
    a_friend_order_shipped_to_the_advocates_address_is_rejected,
    a_friend_who_ordered_before_is_not_new_and_pays_nothing,
    a_friend_order_below_the_minimum_pays_nothing,
    referrals_beyond_the_cap_per_advocate_are_rejected,
    the_fourth_referred_order_within_a_day_is_held,
    a_friend_order_refunded_before_maturity_voids_the_referral,
    a_cancelled_friend_order_voids_the_referral,
    a_held_referral_approved_by_the_merchant_is_paid_once_matured,
    a_held_referral_rejected_by_the_merchant_never_pays,
);

/// The advocate's customer id in these tests.
pub(crate) const ADVOCATE: i64 = 1001;

/// Someone who shops: what orders and customer profiles say about them.
#[derive(Debug, Clone)]
pub(crate) struct Person {
    pub id: Option<i64>,
    pub email: String,
    pub phone: String,
    pub address1: String,
    pub zip: String,
}

pub(crate) fn advocate() -> Person {
    Person {
        id: Some(ADVOCATE),
        email: "ada@example.com".into(),
        phone: "+1 555 010 0001".into(),
        address1: "1 Advocate Way".into(),
        zip: "10001".into(),
    }
}

/// The `i`-th friend: nothing in common with the advocate or other friends.
pub(crate) fn friend(i: i64) -> Person {
    Person {
        id: Some(2000 + i),
        email: format!("friend{i}@example.com"),
        phone: format!("+1 555 020 {i:04}"),
        address1: format!("{i} Friend Street"),
        zip: format!("2{i:04}"),
    }
}

fn money(amount: &str) -> Value {
    json!({ "shop_money": { "amount": amount, "currency_code": "USD" } })
}

/// A paid web order by `who` of `subtotal`, using `code` if given, placed now.
pub(crate) fn order_body(order_id: i64, who: &Person, subtotal: &str, code: Option<&str>) -> Value {
    let codes: Vec<Value> = code.map(|c| json!({ "code": c })).into_iter().collect();
    json!({
        "id": order_id,
        "name": format!("#{order_id}"),
        "customer": who.id.map(|id| json!({ "id": id })),
        "email": who.email,
        "phone": who.phone,
        "shipping_address": {
            "address1": who.address1,
            "zip": who.zip,
            "country_code": "US",
        },
        "currency": "USD",
        "subtotal_price_set": money(subtotal),
        "total_price_set": money(subtotal),
        "total_tax_set": money("0.00"),
        "total_shipping_price_set": money("0.00"),
        "total_discounts_set": money("0.00"),
        "financial_status": "paid",
        "source_name": "web",
        "test": false,
        "discount_codes": codes,
        "processed_at": chrono::Utc::now().to_rfc3339(),
    })
}

/// A `customers/create` body for `who`.
pub(crate) fn customer_body(who: &Person) -> Value {
    json!({
        "id": who.id.expect("a customer has an id"),
        "email": who.email,
        "phone": who.phone,
        "default_address": {
            "address1": who.address1,
            "zip": who.zip,
            "country_code": "US",
        },
        "created_at": crate::helpers::ago(86_400_000),
        "updated_at": "2026-01-01T00:00:00Z",
    })
}

/// Sends a webhook, processes the inbox, and checks it was applied.
pub(crate) async fn deliver(app: &TestApp, topic: &str, body: &Value) {
    let id = format!("{:016x}", rand::random::<u64>());
    let response = app
        .send(topic, &id, &serde_json::to_vec(body).unwrap())
        .await;
    assert_eq!(response.status(), 200, "{topic} accepted");
    app.drain().await;
    let (status, error) = app.inbox_row(&id).await;
    assert_eq!(status, "done", "{topic} applied: {error:?}");
}

/// An installed shop with the advocate's account.
pub(crate) async fn shop_with_advocate(backend: Backend) -> TestApp {
    let app = TestApp::spawn(backend).await;
    app.install(SHOP).await;
    deliver(&app, "customers/create", &customer_body(&advocate())).await;
    app
}

/// An admin API request by staff member 1.
pub(crate) fn admin(app: &TestApp, method: Method, path: &str) -> reqwest::RequestBuilder {
    app.http
        .request(method, format!("{}{path}", app.address))
        .bearer_auth(session_token(SHOP, Some("1")))
}

/// Status and JSON body of a response.
pub(crate) async fn answer(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.expect("request");
    let status = response.status();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

/// A storefront request through the app proxy.
pub(crate) fn proxy(
    app: &TestApp,
    method: Method,
    path: &str,
    customer: Option<i64>,
) -> reqwest::RequestBuilder {
    app.http.request(
        method,
        format!("{}{path}?{}", app.address, proxy_query(SHOP, customer)),
    )
}

/// Changes the program settings through the admin API; returns the new version.
pub(crate) async fn update_settings(app: &TestApp, change: impl FnOnce(&mut Value)) -> i64 {
    let (status, mut program) = answer(admin(app, Method::GET, "/api/admin/program")).await;
    assert_eq!(status, 200);
    change(&mut program["settings"]);
    let body = json!({ "settings": program["settings"], "version": program["version"] });
    let (status, saved) = answer(admin(app, Method::PUT, "/api/admin/program").json(&body)).await;
    assert_eq!(status, 200, "{saved}");
    saved["version"].as_i64().unwrap()
}

/// Runs the scheduled jobs `days` from now.
pub(crate) async fn run_jobs_in(app: &TestApp, days: i64) -> scheduled::Report {
    scheduled::run_due(&app.store, "owner", EpochMs(now_ms() + days * DAY_MS))
        .await
        .expect("scheduled jobs")
}

async fn referral_code(app: &TestApp, customer: i64) -> String {
    let (status, body) = answer(proxy(app, Method::GET, "/proxy/referral", Some(customer))).await;
    assert_eq!(status, 200, "{body}");
    body["code"].as_str().unwrap().to_owned()
}

/// The friend's discount for `email`, asked for while logged out.
async fn claim(app: &TestApp, code: &str, email: &str) -> (StatusCode, Value) {
    answer(
        proxy(app, Method::POST, "/proxy/referrals/claim", None)
            .json(&json!({ "code": code, "email": email })),
    )
    .await
}

async fn claimed_code(app: &TestApp, code: &str, email: &str) -> String {
    let (status, body) = claim(app, code, email).await;
    assert_eq!(status, 200, "{body}");
    body["code"].as_str().unwrap().to_owned()
}

/// The referrals the merchant sees, optionally by status.
async fn referrals(app: &TestApp, status: Option<&str>) -> Vec<Value> {
    let path = match status {
        Some(s) => format!("/api/admin/referrals?status={s}"),
        None => "/api/admin/referrals".to_owned(),
    };
    let (code, body) = answer(admin(app, Method::GET, &path)).await;
    assert_eq!(code, 200, "{body}");
    body["referrals"].as_array().unwrap().clone()
}

async fn referral_for(app: &TestApp, friend_code: &str) -> Value {
    referrals(app, None)
        .await
        .into_iter()
        .find(|r| r["friend_code"] == friend_code)
        .unwrap_or_else(|| panic!("no referral for {friend_code}"))
}

/// Claims a discount for `who` with the advocate's code and places an order
/// with it; returns the referral as the merchant sees it.
async fn referred_order(app: &TestApp, order_id: i64, who: &Person, subtotal: &str) -> Value {
    let code = referral_code(app, ADVOCATE).await;
    let friend_code = claimed_code(app, &code, &who.email).await;
    deliver(
        app,
        "orders/paid",
        &order_body(order_id, who, subtotal, Some(&friend_code)),
    )
    .await;
    referral_for(app, &friend_code).await
}

/// Points the advocate received for referrals, and in how many entries.
async fn referral_points(app: &TestApp) -> (i64, i64) {
    let sql = |what: &str| {
        format!(
            "SELECT CAST({what} AS BIGINT) FROM points_ledger \
             WHERE customer_id = {ADVOCATE} AND kind = 'referral'"
        )
    };
    (
        app.count(&sql("COALESCE(SUM(points), 0)")).await,
        app.count(&sql("COUNT(*)")).await,
    )
}

/// Asserts a referral was rejected for `why`, and that it never pays.
async fn assert_rejected(app: &TestApp, referral: &Value, why: &str) {
    assert_eq!(referral["status"], "rejected", "{referral}");
    let note = referral["note"].as_str().unwrap_or_default();
    assert!(note.contains(why), "note {note:?} should say {why:?}");
    run_jobs_in(app, 30).await;
    assert_eq!(referral_points(app).await, (0, 0), "nothing paid");
    assert_eq!(
        referral_for(app, referral["friend_code"].as_str().unwrap()).await["status"],
        "rejected"
    );
}

async fn a_shopper_gets_one_referral_code_and_a_share_link(backend: Backend) {
    let app = shop_with_advocate(backend).await;
    let (status, first) = answer(proxy(&app, Method::GET, "/proxy/referral", Some(ADVOCATE))).await;
    assert_eq!(status, 200, "{first}");
    let code = first["code"].as_str().unwrap();
    assert!(code.len() >= 6, "a code hard to guess: {code}");
    assert_eq!(
        first["link"],
        format!("https://test-shop.myshopify.com/?ref={code}")
    );
    let (_, again) = answer(proxy(&app, Method::GET, "/proxy/referral", Some(ADVOCATE))).await;
    assert_eq!(again, first, "the same code and link twice");

    let other = referral_code(&app, 1002).await;
    assert_ne!(other, code, "each shopper has a code of their own");
    let (status, _) = answer(proxy(&app, Method::GET, "/proxy/referral", None)).await;
    assert_eq!(status, 401, "a logged-out shopper has no code");
    let (_, balance) = answer(proxy(&app, Method::GET, "/proxy/balance", Some(ADVOCATE))).await;
    assert_eq!(balance["referral_code"], code);
}

async fn a_friend_claims_one_discount_per_email_and_it_reaches_shopify(backend: Backend) {
    let app = shop_with_advocate(backend).await;
    let code = referral_code(&app, ADVOCATE).await;

    let (status, first) = claim(&app, &code, "friend1@example.com").await;
    assert_eq!(status, 200, "{first}");
    let friend_code = first["code"].as_str().unwrap().to_owned();
    assert!(first["expires_at"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));
    let (status, again) = claim(&app, &code.to_lowercase(), " Friend1@Example.com ").await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(
        again["code"], friend_code,
        "the same email gets the same code"
    );
    let other = claimed_code(&app, &code, "friend2@example.com").await;
    assert_ne!(other, friend_code, "another friend gets another code");

    let (status, _) = claim(&app, "NOSUCHCODE", "friend3@example.com").await;
    assert_eq!(status, 404);
    let (status, _) = claim(&app, &code, "not-an-email").await;
    assert_eq!(status, 422);

    assert_eq!(
        app.count(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM outbox WHERE kind = 'create_discount_code' \
             AND status = 'queued' AND idempotency_key LIKE 'referral:%:friend'"
        )
        .await,
        2,
        "one discount effect per friend, queued with the claim"
    );
    assert_eq!(referrals(&app, Some("issued")).await.len(), 2);

    let sender = OutboxSender::new(
        app.store.clone(),
        Arc::new(app.admin_api(Duration::from_secs(5)).await),
        "sender",
        Duration::from_secs(30),
        50,
    );
    sender.drain().await.unwrap();
    let stored = app.shopify.admin(|a| {
        a.discounts
            .get(&(SHOP.to_owned(), friend_code.to_uppercase()))
            .cloned()
    });
    let stored = stored.expect("the friend's code exists in Shopify");
    assert_eq!(stored["usageLimit"], 1, "single use: {stored}");
    assert_eq!(
        app.count(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM outbox \
             WHERE status = 'done' AND kind <> 'read_shop'"
        )
        .await,
        2
    );
}

async fn a_friends_first_paid_order_pays_the_advocate_once_after_the_pending_period(
    backend: Backend,
) {
    let app = shop_with_advocate(backend).await;
    let referral = referred_order(&app, 5001, &friend(1), "100.00").await;
    assert_eq!(referral["status"], "pending", "{referral}");
    assert_eq!(referral["order_id"], 5001);
    assert_eq!(referral["friend_customer_id"], 2001);
    assert_eq!(referral["order_minor"], 10_000);

    run_jobs_in(&app, 13).await;
    assert_eq!(
        referral_points(&app).await,
        (0, 0),
        "still pending at 13 days"
    );

    let report = run_jobs_in(&app, 15).await;
    assert_eq!(report.referrals_settled, 1);
    assert_eq!(referral_points(&app).await, (500, 1));
    let report = run_jobs_in(&app, 16).await;
    assert_eq!(report.referrals_settled, 0);
    assert_eq!(referral_points(&app).await, (500, 1), "paid exactly once");

    let referral = referral_for(&app, referral["friend_code"].as_str().unwrap()).await;
    assert_eq!(referral["status"], "rewarded");
    assert_eq!(
        app.count(&format!(
            "SELECT points_balance FROM customers WHERE customer_id = {ADVOCATE}"
        ))
        .await,
        100 + 500,
        "the signup bonus and the referral"
    );
    assert_eq!(
        app.count(&format!(
            "SELECT settings_version FROM points_ledger \
             WHERE customer_id = {ADVOCATE} AND kind = 'referral'"
        ))
        .await,
        1
    );
    app.send_effects().await;
    let flows = app.flow_triggers("advocate-referral-completed");
    assert_eq!(flows.len(), 1, "{flows:?}");
    assert_eq!(flows[0]["customer_id"], ADVOCATE);
    assert_eq!(flows[0]["Advocate reward"], "500 points");
}

async fn a_friend_order_by_the_advocates_own_customer_account_is_rejected(backend: Backend) {
    let app = shop_with_advocate(backend).await;
    let me = Person {
        id: Some(ADVOCATE),
        ..friend(1)
    };
    let referral = referred_order(&app, 5001, &me, "100.00").await;
    assert_rejected(&app, &referral, "self-referral: same customer").await;
}

async fn the_advocates_own_email_is_refused_at_claim_and_at_order_time(backend: Backend) {
    let app = shop_with_advocate(backend).await;
    let code = referral_code(&app, ADVOCATE).await;
    let (status, body) = claim(&app, &code, "ADA@example.com").await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(referrals(&app, None).await.len(), 0, "no code issued");

    // A code claimed with another email, used on an order with the advocate's.
    let guest = Person {
        id: None,
        email: advocate().email,
        ..friend(1)
    };
    let friend_code = claimed_code(&app, &code, &friend(1).email).await;
    deliver(
        &app,
        "orders/paid",
        &order_body(5001, &guest, "100.00", Some(&friend_code)),
    )
    .await;
    let referral = referral_for(&app, &friend_code).await;
    assert_rejected(&app, &referral, "self-referral: same email").await;
}

async fn a_friend_order_with_the_advocates_phone_is_rejected(backend: Backend) {
    let app = shop_with_advocate(backend).await;
    let friend = Person {
        phone: "(555) 010-0001".into(),
        ..friend(1)
    };
    let referral = referred_order(&app, 5001, &friend, "100.00").await;
    assert_rejected(&app, &referral, "self-referral: same phone").await;
}

async fn a_friend_order_shipped_to_the_advocates_address_is_rejected(backend: Backend) {
    let app = shop_with_advocate(backend).await;
    let friend = Person {
        address1: "1 advocate way".into(),
        zip: "10001".into(),
        ..friend(1)
    };
    let referral = referred_order(&app, 5001, &friend, "100.00").await;
    assert_rejected(&app, &referral, "self-referral: same shipping address").await;
}

async fn a_friend_who_ordered_before_is_not_new_and_pays_nothing(backend: Backend) {
    let app = shop_with_advocate(backend).await;
    let code = referral_code(&app, ADVOCATE).await;
    let friend_code = claimed_code(&app, &code, &friend(1).email).await;
    // An earlier order with the same email, as a guest.
    let guest = Person {
        id: None,
        ..friend(1)
    };
    let mut earlier = order_body(5000, &guest, "40.00", None);
    earlier["processed_at"] = json!((chrono::Utc::now() - chrono::Duration::days(30)).to_rfc3339());
    deliver(&app, "orders/paid", &earlier).await;
    deliver(
        &app,
        "orders/paid",
        &order_body(5001, &friend(1), "100.00", Some(&friend_code)),
    )
    .await;
    let referral = referral_for(&app, &friend_code).await;
    assert_rejected(&app, &referral, "not a new customer").await;

    // Someone who already ordered gets no friend discount at all.
    let (status, body) = claim(&app, &code, &friend(1).email.to_uppercase()).await;
    assert_eq!(
        status, 200,
        "the code already issued is given again: {body}"
    );
    let mut other = order_body(5002, &friend(2), "30.00", None);
    other["customer"] = Value::Null;
    deliver(&app, "orders/paid", &other).await;
    let (status, body) = claim(&app, &code, &friend(2).email).await;
    assert_eq!(status, 422, "{body}");
}

async fn a_friend_order_below_the_minimum_pays_nothing(backend: Backend) {
    let app = shop_with_advocate(backend).await;
    let referral = referred_order(&app, 5001, &friend(1), "19.99").await;
    assert_rejected(&app, &referral, "below the referral minimum").await;
}

async fn referrals_beyond_the_cap_per_advocate_are_rejected(backend: Backend) {
    let app = shop_with_advocate(backend).await;
    update_settings(&app, |s| s["referrals"]["cap_per_advocate"] = json!(1)).await;
    let first = referred_order(&app, 5001, &friend(1), "100.00").await;
    assert_eq!(first["status"], "pending", "{first}");
    let second = referred_order(&app, 5002, &friend(2), "100.00").await;
    assert_eq!(second["status"], "rejected", "{second}");
    assert!(second["note"].as_str().unwrap().contains("referral cap"));
    run_jobs_in(&app, 15).await;
    assert_eq!(referral_points(&app).await, (500, 1), "only the first pays");
}

async fn the_fourth_referred_order_within_a_day_is_held(backend: Backend) {
    let app = shop_with_advocate(backend).await;
    let mut statuses = Vec::new();
    for i in 1..=4 {
        let referral = referred_order(&app, 5000 + i, &friend(i), "100.00").await;
        statuses.push(referral["status"].as_str().unwrap().to_owned());
    }
    assert_eq!(statuses, ["pending", "pending", "pending", "held"]);
    let held = referrals(&app, Some("held")).await;
    assert_eq!(held.len(), 1);
    assert_eq!(held[0]["order_id"], 5004);
    assert!(held[0]["note"]
        .as_str()
        .unwrap()
        .contains("within 24 hours"));
    run_jobs_in(&app, 15).await;
    assert_eq!(
        referral_points(&app).await,
        (1500, 3),
        "the held one waits for the merchant"
    );
    assert_eq!(referrals(&app, Some("held")).await.len(), 1);
}

async fn a_friend_order_refunded_before_maturity_voids_the_referral(backend: Backend) {
    let app = shop_with_advocate(backend).await;
    let referral = referred_order(&app, 5001, &friend(1), "100.00").await;
    assert_eq!(referral["status"], "pending");
    let refund = json!({
        "id": 9001,
        "order_id": 5001,
        "refund_line_items": [{ "subtotal_set": money("30.00"), "total_tax_set": money("0.00") }],
    });
    deliver(&app, "refunds/create", &refund).await;
    let friend_code = referral["friend_code"].as_str().unwrap();
    assert_eq!(referral_for(&app, friend_code).await["status"], "void");
    run_jobs_in(&app, 15).await;
    assert_eq!(referral_points(&app).await, (0, 0));
    assert_eq!(referral_for(&app, friend_code).await["status"], "void");
}

async fn a_cancelled_friend_order_voids_the_referral(backend: Backend) {
    let app = shop_with_advocate(backend).await;
    let referral = referred_order(&app, 5001, &friend(1), "100.00").await;
    assert_eq!(referral["status"], "pending");
    let friend_code = referral["friend_code"].as_str().unwrap();
    let mut cancelled = order_body(5001, &friend(1), "100.00", Some(friend_code));
    cancelled["cancelled_at"] = json!(chrono::Utc::now().to_rfc3339());
    cancelled["financial_status"] = json!("refunded");
    deliver(&app, "orders/cancelled", &cancelled).await;
    assert_eq!(referral_for(&app, friend_code).await["status"], "void");
    run_jobs_in(&app, 15).await;
    assert_eq!(referral_points(&app).await, (0, 0));
    assert_eq!(referral_for(&app, friend_code).await["status"], "void");
}

/// Four referred orders at once: the fourth is held. Returns it.
async fn held_referral(app: &TestApp) -> Value {
    for i in 1..=4 {
        referred_order(app, 5000 + i, &friend(i), "100.00").await;
    }
    let held = referrals(app, Some("held")).await;
    assert_eq!(held.len(), 1, "{held:?}");
    held[0].clone()
}

async fn a_held_referral_approved_by_the_merchant_is_paid_once_matured(backend: Backend) {
    let app = shop_with_advocate(backend).await;
    let held = held_referral(&app).await;
    let path = format!("/api/admin/referrals/{}/approve", held["id"]);
    let (status, approved) = answer(admin(&app, Method::POST, &path)).await;
    assert_eq!(status, 200, "{approved}");
    assert_eq!(approved["status"], "pending", "approved, not yet matured");
    assert_eq!(approved["decided_by"], "staff:1");
    assert_eq!(approved["approved"], 1);
    let (status, _) = answer(admin(&app, Method::POST, &path)).await;
    assert_eq!(status, 404, "decided once");
    assert_eq!(referral_points(&app).await, (0, 0), "not before maturity");

    run_jobs_in(&app, 15).await;
    assert_eq!(referral_points(&app).await, (2000, 4));
    run_jobs_in(&app, 16).await;
    assert_eq!(referral_points(&app).await, (2000, 4), "each paid once");
    let friend_code = held["friend_code"].as_str().unwrap();
    assert_eq!(referral_for(&app, friend_code).await["status"], "rewarded");
    assert!(referrals(&app, Some("held")).await.is_empty());
}

async fn a_held_referral_rejected_by_the_merchant_never_pays(backend: Backend) {
    let app = shop_with_advocate(backend).await;
    let held = held_referral(&app).await;
    let path = format!("/api/admin/referrals/{}/reject", held["id"]);
    let (status, rejected) = answer(admin(&app, Method::POST, &path)).await;
    assert_eq!(status, 200, "{rejected}");
    assert_eq!(rejected["status"], "rejected");
    assert_eq!(rejected["decided_by"], "staff:1");
    let approve = format!("/api/admin/referrals/{}/approve", held["id"]);
    let (status, _) = answer(admin(&app, Method::POST, &approve)).await;
    assert_eq!(status, 404, "a rejected referral cannot be approved after");

    run_jobs_in(&app, 15).await;
    run_jobs_in(&app, 16).await;
    assert_eq!(
        referral_points(&app).await,
        (1500, 3),
        "the three others pay, the rejected one never"
    );
    assert_eq!(referrals(&app, Some("rejected")).await.len(), 1);
    assert!(referrals(&app, Some("held")).await.is_empty());
}
