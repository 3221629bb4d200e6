//! Earning actions, black-box: the newsletter rule from Shopify's customer
//! updates, reviews and custom actions through `/api/v1/activities` with
//! their limits and idempotency (also under concurrency), social actions
//! from the storefront widget, and reversal with its clawback.

use serde_json::{json, Value};

use crate::helpers::{proxy_query, session_token, Backend, TestApp, SHOP};
use crate::loyalty::send_json;

crate::on_both_backends!(
    a_newsletter_consent_toggled_ten_times_earns_once,
    a_consent_found_at_first_sight_never_earns,
    reviews_and_custom_actions_keep_their_limits,
    concurrent_activities_earn_once,
    bad_activities_are_refused_and_leave_nothing,
    a_reversal_claws_back_what_the_balance_allows_once,
    social_actions_from_the_widget_earn_once_per_network,
);

const CUSTOMER: i64 = 7_000_000_000_000_301;
const OTHER: i64 = 7_000_000_000_000_302;

async fn shop(backend: Backend) -> TestApp {
    let app = TestApp::spawn(backend).await;
    app.install(SHOP).await;
    app.change_program(SHOP, |s| {
        s["earning"]["signup_points"] = json!(0);
        s["actions"] = json!({
            "newsletter": { "points": 50 },
            "review": { "points": 100, "limit": { "per": "month", "max": 2 } },
            "social_follow": { "points": 25, "networks": [
                { "network": "instagram", "url": "https://instagram.com/testshop" }
            ] },
            "social_share": { "points": 0, "networks": ["facebook"] },
            "custom": [
                { "name": "style_quiz", "label": "Took the style quiz", "points": 30,
                  "limit": { "per": "day", "max": 1 } }
            ]
        });
    })
    .await;
    let profile = json!({ "id": CUSTOMER, "email": "act@example.com", "first_name": "Ida" });
    send_json(&app, "customers/create", "c-act", &profile).await;
    app.drain().await;
    app
}

fn consent(customer: i64, state: &str, minute: u32) -> Value {
    json!({
        "id": customer,
        "email": format!("{customer}@example.com"),
        "updated_at": format!("2026-11-01T10:{minute:02}:00Z"),
        "email_marketing_consent": { "state": state, "opt_in_level": "single_opt_in" },
    })
}

async fn ledger(app: &TestApp, customer: i64, kind: &str) -> (i64, i64) {
    let count = app
        .count(&format!(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM points_ledger \
             WHERE customer_id = {customer} AND kind = '{kind}'"
        ))
        .await;
    let sum = app
        .count(&format!(
            "SELECT CAST(COALESCE(SUM(points), 0) AS BIGINT) FROM points_ledger \
             WHERE customer_id = {customer} AND kind = '{kind}'"
        ))
        .await;
    (count, sum)
}

async fn balance(app: &TestApp, customer: i64) -> i64 {
    app.count(&format!(
        "SELECT COALESCE(MAX(points_balance), 0) FROM customers WHERE customer_id = {customer}"
    ))
    .await
}

async fn post_activity(app: &TestApp, key: &str, idem: &str, body: Value) -> (u16, Value) {
    let response = app
        .http
        .post(format!("{}/api/v1/activities", app.address))
        .bearer_auth(key)
        .header("Idempotency-Key", idem)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn a_newsletter_consent_toggled_ten_times_earns_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.install(SHOP).await;
    app.change_program(SHOP, |s| s["earning"]["signup_points"] = json!(0))
        .await;
    // A new account, not subscribed; then ten toggles, on and off.
    let mut created = consent(CUSTOMER, "not_subscribed", 0);
    created["created_at"] = json!("2026-11-01T10:00:00Z");
    send_json(&app, "customers/create", "n-0", &created).await;
    for i in 1..=10_u32 {
        let state = if i % 2 == 1 {
            "subscribed"
        } else {
            "unsubscribed"
        };
        send_json(
            &app,
            "customers/update",
            &format!("n-{i}"),
            &consent(CUSTOMER, state, i),
        )
        .await;
    }
    app.drain().await;
    assert_eq!(ledger(&app, CUSTOMER, "activity").await, (1, 50));
    assert_eq!(balance(&app, CUSTOMER).await, 50);
    assert_eq!(
        app.count("SELECT CAST(COUNT(*) AS BIGINT) FROM activities WHERE action = 'newsletter'")
            .await,
        1
    );
    // The same deliveries again (Shopify retries) change nothing.
    for i in 1..=10_u32 {
        let state = if i % 2 == 1 {
            "subscribed"
        } else {
            "unsubscribed"
        };
        send_json(
            &app,
            "customers/update",
            &format!("n-{i}"),
            &consent(CUSTOMER, state, i),
        )
        .await;
    }
    app.drain().await;
    assert_eq!(ledger(&app, CUSTOMER, "activity").await, (1, 50));
}

async fn a_consent_found_at_first_sight_never_earns(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.install(SHOP).await;
    // First seen by an update, already subscribed (a customer from before
    // the install): no points, and none after toggling off and on.
    send_json(
        &app,
        "customers/update",
        "f-1",
        &consent(OTHER, "subscribed", 1),
    )
    .await;
    send_json(
        &app,
        "customers/update",
        "f-2",
        &consent(OTHER, "unsubscribed", 2),
    )
    .await;
    send_json(
        &app,
        "customers/update",
        "f-3",
        &consent(OTHER, "subscribed", 3),
    )
    .await;
    // A new account that subscribes as it signs up earns.
    let mut created = consent(CUSTOMER, "subscribed", 4);
    created["created_at"] = json!("2026-11-01T10:04:00Z");
    send_json(&app, "customers/create", "f-4", &created).await;
    app.drain().await;
    assert_eq!(ledger(&app, OTHER, "activity").await, (0, 0));
    assert_eq!(ledger(&app, CUSTOMER, "activity").await, (1, 50));
    let seen: String = sqlx::query_scalar(
        "SELECT status FROM activities WHERE customer_id = $1 AND action = 'newsletter'",
    )
    .bind(OTHER)
    .fetch_one(app.store.writer())
    .await
    .unwrap();
    assert_eq!(seen, "preexisting");
}

async fn reviews_and_custom_actions_keep_their_limits(backend: Backend) {
    let app = shop(backend).await;
    let (_, key) = app.api_key(SHOP, &["write_activities"]).await;
    let review =
        |product: &str| json!({ "customer_id": CUSTOMER, "action": "review", "subject": product });
    let (status, first) = post_activity(&app, &key, "rev-1", review("8001")).await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["activity"]["points"], 100);
    assert_eq!(first["activity"]["subject"], "8001");
    assert_eq!(first["points_balance"], 100);
    // A retry answers the same activity; the same product under another
    // key is over its limit (one review per product), also by its gid.
    let (status, again) = post_activity(&app, &key, "rev-1", review("8001")).await;
    assert_eq!(status, 200);
    assert_eq!(again["activity"]["id"], first["activity"]["id"]);
    let (status, body) =
        post_activity(&app, &key, "rev-2", review("gid://shopify/Product/8001")).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"], "conflict");
    // Two reviews a month: the second product earns, the third does not.
    assert_eq!(
        post_activity(&app, &key, "rev-3", review("8002")).await.0,
        201
    );
    assert_eq!(
        post_activity(&app, &key, "rev-4", review("8003")).await.0,
        409
    );
    // The custom action, once a day.
    let quiz = json!({ "customer_id": CUSTOMER, "action": "custom", "name": "style_quiz" });
    let (status, body) = post_activity(&app, &key, "quiz-1", quiz.clone()).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(post_activity(&app, &key, "quiz-2", quiz).await.0, 409);
    assert_eq!(ledger(&app, CUSTOMER, "activity").await, (3, 230));
    assert_eq!(balance(&app, CUSTOMER).await, 230);
    let reasons: Vec<String> = sqlx::query_scalar(
        "SELECT reason FROM points_ledger WHERE customer_id = $1 AND kind = 'activity' ORDER BY id",
    )
    .bind(CUSTOMER)
    .fetch_all(app.store.writer())
    .await
    .unwrap();
    assert_eq!(
        reasons,
        [
            "Product review (product 8001)",
            "Product review (product 8002)",
            "Took the style quiz"
        ]
    );
    // The customer's activities, through the API and the admin page.
    let (_, reader) = app.api_key(SHOP, &["read_customers"]).await;
    let listed: Value = app
        .http
        .get(format!(
            "{}/api/v1/customers/{CUSTOMER}/activities",
            app.address
        ))
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["activities"].as_array().unwrap().len(), 3);
    assert_eq!(listed["activities"][0]["name"], "style_quiz");
    let admin: Value = app
        .http
        .get(format!(
            "{}/api/admin/customers/{CUSTOMER}/activities",
            app.address
        ))
        .bearer_auth(session_token(SHOP, Some("1")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(admin, listed);
}

async fn concurrent_activities_earn_once(backend: Backend) {
    let app = shop(backend).await;
    let (_, key) = app.api_key(SHOP, &["write_activities"]).await;
    // Twenty identical reports at once (one idempotency key).
    let body = json!({ "customer_id": CUSTOMER, "action": "review", "subject": "9001" });
    let same = futures_util::future::join_all(
        (0..20).map(|_| post_activity(&app, &key, "same-review", body.clone())),
    )
    .await;
    let mut statuses: Vec<u16> = same.iter().map(|(s, _)| *s).collect();
    statuses.sort_unstable();
    assert_eq!(statuses[0], 200, "{same:?}");
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{same:?}"
    );
    assert!(statuses.iter().all(|s| *s == 200 || *s == 201), "{same:?}");
    // Twenty reports of another product under twenty keys: one review.
    let body = json!({ "customer_id": CUSTOMER, "action": "review", "subject": "9002" });
    let keys: Vec<String> = (0..20).map(|i| format!("other-review-{i}")).collect();
    let many = futures_util::future::join_all(
        keys.iter()
            .map(|k| post_activity(&app, &key, k, body.clone())),
    )
    .await;
    assert_eq!(
        many.iter().filter(|(s, _)| *s == 201).count(),
        1,
        "{many:?}"
    );
    assert_eq!(
        many.iter().filter(|(s, _)| *s == 409).count(),
        19,
        "{many:?}"
    );
    assert_eq!(ledger(&app, CUSTOMER, "activity").await, (2, 200));
    assert_eq!(
        app.count("SELECT CAST(COUNT(*) AS BIGINT) FROM activities")
            .await,
        2
    );
}

async fn bad_activities_are_refused_and_leave_nothing(backend: Backend) {
    let app = shop(backend).await;
    let (_, key) = app.api_key(SHOP, &["write_activities"]).await;
    let before = app
        .count("SELECT CAST(COUNT(*) AS BIGINT) FROM points_ledger")
        .await;
    for (body, status) in [
        (json!({ "customer_id": CUSTOMER, "action": "dance" }), 422),
        (
            json!({ "customer_id": CUSTOMER, "action": "newsletter" }),
            422,
        ),
        (json!({ "customer_id": CUSTOMER, "action": "review" }), 422),
        (
            json!({ "customer_id": CUSTOMER, "action": "review", "subject": "-3" }),
            422,
        ),
        (
            json!({ "customer_id": CUSTOMER, "action": "custom", "name": "nope" }),
            422,
        ),
        (
            json!({ "customer_id": CUSTOMER, "action": "social_follow", "subject": "tiktok" }),
            422,
        ),
        // Off: sharing earns 0 points in this program.
        (
            json!({ "customer_id": CUSTOMER, "action": "social_share", "subject": "facebook" }),
            422,
        ),
        (
            json!({ "customer_id": 42, "action": "review", "subject": "1" }),
            404,
        ),
        (
            json!({ "customer_id": CUSTOMER, "action": "review", "subject": "1", "points": 5 }),
            400,
        ),
    ] {
        let (got, answer) = post_activity(&app, &key, "bad", body.clone()).await;
        assert_eq!(got, status, "{body}: {answer}");
        assert!(answer["error"].is_string(), "{answer}");
    }
    // A key used for one activity cannot name another.
    let review = json!({ "customer_id": CUSTOMER, "action": "review", "subject": "77" });
    assert_eq!(post_activity(&app, &key, "k", review).await.0, 201);
    let other = json!({ "customer_id": CUSTOMER, "action": "review", "subject": "78" });
    assert_eq!(post_activity(&app, &key, "k", other).await.0, 422);
    // No key: 400; another scope: 403.
    let response = app
        .http
        .post(format!("{}/api/v1/activities", app.address))
        .bearer_auth(&key)
        .json(&json!({ "customer_id": CUSTOMER, "action": "review", "subject": "79" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let (_, reader) = app.api_key(SHOP, &["read_customers"]).await;
    let review = json!({ "customer_id": CUSTOMER, "action": "review", "subject": "80" });
    assert_eq!(post_activity(&app, &reader, "r", review).await.0, 403);
    let after = app
        .count("SELECT CAST(COUNT(*) AS BIGINT) FROM points_ledger")
        .await;
    assert_eq!(after, before + 1, "only the one good review was written");
}

async fn a_reversal_claws_back_what_the_balance_allows_once(backend: Backend) {
    let app = shop(backend).await;
    let (_, key) = app
        .api_key(SHOP, &["write_activities", "write_points"])
        .await;
    let review = json!({ "customer_id": CUSTOMER, "action": "review", "subject": "5150" });
    let (_, made) = post_activity(&app, &key, "to-reverse", review).await;
    let id = made["activity"]["id"].as_i64().unwrap();
    // 70 of its 100 points are spent.
    let response = app
        .http
        .post(format!(
            "{}/api/v1/customers/{CUSTOMER}/adjustments",
            app.address
        ))
        .bearer_auth(&key)
        .header("Idempotency-Key", "spend-70")
        .json(&json!({ "points": -70, "reason": "Spent elsewhere" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let reverse = || {
        app.http
            .post(format!("{}/api/v1/activities/{id}/reversal", app.address))
            .bearer_auth(&key)
            .send()
    };
    let first: Value = reverse().await.unwrap().json().await.unwrap();
    assert_eq!(first["activity"]["status"], "reversed", "{first}");
    assert_eq!(first["activity"]["clawed_back"], 30);
    assert_eq!(first["activity"]["unrecovered"], 70);
    assert_eq!(balance(&app, CUSTOMER).await, 0);
    assert_eq!(ledger(&app, CUSTOMER, "activity_reversal").await, (1, -30));
    // Again, from the admin page: nothing more is taken.
    let response = app
        .http
        .post(format!("{}/api/admin/activities/{id}/reverse", app.address))
        .bearer_auth(session_token(SHOP, Some("1")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let again: Value = response.json().await.unwrap();
    assert_eq!(again["activity"], first["activity"]);
    assert_eq!(ledger(&app, CUSTOMER, "activity_reversal").await, (1, -30));
    // A reversed review still counts: the product earns no second time.
    let review = json!({ "customer_id": CUSTOMER, "action": "review", "subject": "5150" });
    assert_eq!(post_activity(&app, &key, "again", review).await.0, 409);
    // Another shop's id, or none: 404.
    let response = app
        .http
        .post(format!("{}/api/v1/activities/999999/reversal", app.address))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}

async fn social_actions_from_the_widget_earn_once_per_network(backend: Backend) {
    let app = shop(backend).await;
    let proxy = |path: &str, customer: Option<i64>| {
        format!(
            "{}/proxy/{path}?{}",
            app.address,
            proxy_query(SHOP, customer)
        )
    };
    let offer: Value = app
        .http
        .get(proxy("balance", Some(CUSTOMER)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        offer["social"]["follow"],
        json!([{ "network": "instagram", "url": "https://instagram.com/testshop", "points": 25, "done": false }])
    );
    assert_eq!(offer["social"]["share"], json!([]), "sharing is off");
    let follow = || {
        app.http
            .post(proxy("activities/social", Some(CUSTOMER)))
            .json(&json!({ "action": "social_follow", "network": "instagram" }))
            .send()
    };
    let first = follow().await.unwrap();
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    assert_eq!(
        first,
        json!({ "awarded": true, "points": 25, "points_balance": 25 })
    );
    let second = follow().await.unwrap();
    assert_eq!(second.status(), 200);
    let second: Value = second.json().await.unwrap();
    assert_eq!(
        second,
        json!({ "awarded": false, "points": 0, "points_balance": 25 })
    );
    let offer: Value = app
        .http
        .get(proxy("balance", Some(CUSTOMER)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(offer["social"]["follow"][0]["done"], true);
    // A network the program does not offer, and a logged-out shopper.
    let response = app
        .http
        .post(proxy("activities/social", Some(CUSTOMER)))
        .json(&json!({ "action": "social_follow", "network": "youtube" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let response = app
        .http
        .post(proxy("activities/social", None))
        .json(&json!({ "action": "social_follow", "network": "instagram" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(ledger(&app, CUSTOMER, "activity").await, (1, 25));
}
