//! The program: versioned settings, manual adjustments, the customer list,
//! birthdays, expiry and rolling tiers.

use advocate::{engine::scheduled, loyalty::settings::ProgramSettings};
use chrono::{Datelike, Months, TimeZone, Utc};
use reqwest::Method;
use serde_json::{json, Value};

use crate::{
    helpers::{Backend, TestApp, SHOP},
    referrals::{
        admin, answer, customer_body, deliver, order_body, proxy, run_jobs_in, update_settings,
        Person,
    },
};
use advocate::loyalty::EpochMs;

crate::on_both_backends!(
    a_new_shop_has_the_default_program_at_version_1,
    a_saved_change_is_version_2_and_the_ledger_records_it,
    a_save_over_a_stale_version_is_refused,
    invalid_settings_are_refused_with_every_field_at_fault,
    an_advocate_discount_reward_is_saved_read_back_and_checked,
    a_manual_adjustment_needs_a_reason,
    a_manual_adjustment_applies_once_per_idempotency_key_and_names_the_staff_member,
    a_deduction_beyond_the_balance_is_refused,
    customers_are_found_by_email_prefix_and_by_id_page_by_page,
    a_birthday_is_saved_and_rewarded_once_a_year,
    inactive_customers_are_warned_and_then_their_points_expire,
    points_granted_after_an_expiry_expire_after_their_own_stretch_of_inactivity,
    a_rolling_twelve_month_tier_is_lost_when_the_spend_leaves_the_window,
    a_tier_review_moves_a_page_of_customers_at_once_each_once_and_in_order,
);

async fn an_advocate_discount_reward_is_saved_read_back_and_checked(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.install(SHOP).await;
    let reward = json!({
        "kind": "discount",
        "value": { "kind": "amount_off", "amount": "10.00" },
        "valid_days": 30,
    });
    let wanted = reward.clone();
    update_settings(&app, |s| s["referrals"]["advocate_reward"] = wanted).await;
    let (status, program) = answer(admin(&app, Method::GET, "/api/admin/program")).await;
    assert_eq!(status, 200);
    assert_eq!(program["settings"]["referrals"]["advocate_reward"], reward);

    let mut bad = program["settings"].clone();
    bad["referrals"]["advocate_reward"]["value"]["amount"] = json!("-1");
    let body = json!({ "settings": bad, "version": program["version"] });
    let (status, answer) = answer(admin(&app, Method::PUT, "/api/admin/program").json(&body)).await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(
        answer["errors"][0]["field"],
        "referrals.advocate_reward.value.amount"
    );
}

fn person(id: i64, email: &str) -> Person {
    Person {
        id: Some(id),
        email: email.into(),
        phone: format!("+1 555 030 {:04}", id % 10_000),
        address1: format!("{id} Shopper Lane"),
        zip: "30000".into(),
    }
}

/// An installed shop with one customer per (id, email).
async fn shop_with(backend: Backend, customers: &[(i64, &str)]) -> TestApp {
    let app = TestApp::spawn(backend).await;
    app.install(SHOP).await;
    for (id, email) in customers {
        deliver(
            &app,
            "customers/create",
            &customer_body(&person(*id, email)),
        )
        .await;
    }
    app
}

async fn program(app: &TestApp) -> Value {
    let (status, body) = answer(admin(app, Method::GET, "/api/admin/program")).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn put_program(app: &TestApp, body: &Value) -> (reqwest::StatusCode, Value) {
    answer(admin(app, Method::PUT, "/api/admin/program").json(body)).await
}

async fn balance(app: &TestApp, customer: i64) -> i64 {
    app.count(&format!(
        "SELECT points_balance FROM customers WHERE customer_id = {customer}"
    ))
    .await
}

async fn adjust(
    app: &TestApp,
    customer: i64,
    key: &str,
    body: Value,
) -> (reqwest::StatusCode, Value) {
    let path = format!("/api/admin/customers/{customer}/adjustments");
    answer(
        admin(app, Method::POST, &path)
            .header("Idempotency-Key", key)
            .json(&body),
    )
    .await
}

/// Epoch milliseconds of a UTC time.
pub(crate) fn at(y: i32, m: u32, d: u32, h: u32) -> i64 {
    Utc.with_ymd_and_hms(y, m, d, h, 0, 0)
        .unwrap()
        .timestamp_millis()
}

pub(crate) async fn run_jobs_at(app: &TestApp, now: i64) -> scheduled::Report {
    scheduled::run_due(&app.store, "owner", EpochMs(now))
        .await
        .expect("scheduled jobs")
}

async fn a_new_shop_has_the_default_program_at_version_1(backend: Backend) {
    let app = shop_with(backend, &[]).await;
    let body = program(&app).await;
    assert_eq!(body["version"], 1);
    assert_eq!(body["currency"], "USD");
    assert_eq!(
        body["settings"],
        serde_json::to_value(ProgramSettings::default()).unwrap()
    );
    assert_eq!(body["settings"]["earning"]["pending_days"], 14);
    assert_eq!(
        body["settings"]["referrals"]["advocate_reward"],
        json!({ "kind": "points", "points": 500 })
    );
}

async fn a_saved_change_is_version_2_and_the_ledger_records_it(backend: Backend) {
    let app = shop_with(backend, &[(1, "before@example.com")]).await;
    let mut body = program(&app).await;
    body["settings"]["earning"]["signup_points"] = json!(150);
    let (status, saved) = put_program(&app, &body).await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved["version"], 2);
    let now = program(&app).await;
    assert_eq!(now["version"], 2);
    assert_eq!(now["settings"]["earning"]["signup_points"], 150);

    deliver(
        &app,
        "customers/create",
        &customer_body(&person(2, "after@example.com")),
    )
    .await;
    let versions = |customer: i64| {
        format!(
            "SELECT settings_version FROM points_ledger \
             WHERE customer_id = {customer} AND kind = 'signup'"
        )
    };
    assert_eq!(app.count(&versions(1)).await, 1, "earned under version 1");
    assert_eq!(app.count(&versions(2)).await, 2, "earned under version 2");
    assert_eq!(balance(&app, 2).await, 150, "with the new setting");
}

async fn a_save_over_a_stale_version_is_refused(backend: Backend) {
    let app = shop_with(backend, &[]).await;
    let stale = program(&app).await;
    let mut first = stale.clone();
    first["settings"]["earning"]["points"] = json!(2);
    assert_eq!(put_program(&app, &first).await.0, 200);

    let mut second = stale;
    second["settings"]["earning"]["points"] = json!(3);
    let (status, body) = put_program(&app, &second).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"], "conflict");
    let now = program(&app).await;
    assert_eq!(now["version"], 2);
    assert_eq!(
        now["settings"]["earning"]["points"], 2,
        "the first save stands"
    );
}

async fn invalid_settings_are_refused_with_every_field_at_fault(backend: Backend) {
    let app = shop_with(backend, &[]).await;
    let mut body = program(&app).await;
    body["settings"]["earning"]["points"] = json!(0);
    body["settings"]["tiers"]["levels"][1]["threshold"] = json!("lots");
    body["settings"]["tiers"]["levels"][2]["shipping_perk_percent"] = json!(101);
    let (status, answer_body) = put_program(&app, &body).await;
    assert_eq!(status, 422, "{answer_body}");
    let fields: Vec<&str> = answer_body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "earning.points",
            "tiers.levels[1].threshold",
            "tiers.levels[2].shipping_perk_percent"
        ]
    );

    let mut unknown = program(&app).await;
    unknown["settings"]["earning"]["pointz"] = json!(5);
    let (status, answer_body) = put_program(&app, &unknown).await;
    assert_eq!(status, 400, "{answer_body}");
    assert!(answer_body["message"].as_str().unwrap().contains("pointz"));
    assert_eq!(program(&app).await["version"], 1, "nothing saved");
}

async fn a_manual_adjustment_needs_a_reason(backend: Backend) {
    let app = shop_with(backend, &[(1, "a@example.com")]).await;
    for reason in ["", "   "] {
        let (status, body) = adjust(&app, 1, "k1", json!({ "points": 50, "reason": reason })).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["errors"][0]["field"], "reason");
    }
    let (status, _) = adjust(&app, 1, "k1", json!({ "points": 50 })).await;
    assert_eq!(status, 400, "the reason field is required");
    let (status, _) = answer(
        admin(&app, Method::POST, "/api/admin/customers/1/adjustments")
            .json(&json!({ "points": 50, "reason": "goodwill" })),
    )
    .await;
    assert_eq!(status, 400, "an Idempotency-Key is required");
    assert_eq!(balance(&app, 1).await, 100, "only the signup bonus");
}

async fn a_manual_adjustment_applies_once_per_idempotency_key_and_names_the_staff_member(
    backend: Backend,
) {
    let app = shop_with(backend, &[(1, "a@example.com")]).await;
    let body = json!({ "points": 250, "reason": "late delivery" });
    let (status, first) = adjust(&app, 1, "adj-1", body.clone()).await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["applied"], true);
    assert_eq!(first["points_balance"], 350);
    let (status, again) = adjust(&app, 1, "adj-1", body.clone()).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["applied"], false);
    assert_eq!(again["points_balance"], 350, "applied once");

    let (status, third) =
        adjust(&app, 1, "adj-2", json!({ "points": -50, "reason": "typo" })).await;
    assert_eq!(status, 201, "{third}");
    let (status, _) = adjust(&app, 1, "adj-2", json!({ "points": -50, "reason": "typo" })).await;
    assert_eq!(status, 200, "a deduction is idempotent too");
    assert_eq!(balance(&app, 1).await, 300);

    let (status, view) = answer(admin(&app, Method::GET, "/api/admin/customers/1")).await;
    assert_eq!(status, 200, "{view}");
    let adjustments: Vec<&Value> = view["ledger"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "adjustment")
        .collect();
    assert_eq!(adjustments.len(), 2, "{view}");
    assert_eq!(adjustments[0]["points"], 250);
    assert_eq!(adjustments[0]["actor"], "staff:1");
    assert!(adjustments[0]["reason"]
        .as_str()
        .unwrap()
        .contains("late delivery"));
    assert_eq!(adjustments[1]["points"], -50);
    assert_eq!(adjustments[1]["actor"], "staff:1");
    assert_eq!(view["points_balance"], 300);

    let (status, _) = adjust(&app, 99, "adj-3", body).await;
    assert_eq!(status, 404, "no such customer");
}

async fn a_deduction_beyond_the_balance_is_refused(backend: Backend) {
    let app = shop_with(backend, &[(1, "a@example.com")]).await;
    let (status, body) = adjust(&app, 1, "d-1", json!({ "points": -101, "reason": "fraud" })).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(balance(&app, 1).await, 100);
    assert_eq!(
        app.count("SELECT CAST(COUNT(*) AS BIGINT) FROM points_ledger WHERE kind = 'adjustment'")
            .await,
        0
    );
    let (status, body) = adjust(&app, 1, "d-2", json!({ "points": -100, "reason": "fraud" })).await;
    assert_eq!(status, 201, "the whole balance may go: {body}");
    assert_eq!(balance(&app, 1).await, 0);
}

async fn customers_are_found_by_email_prefix_and_by_id_page_by_page(backend: Backend) {
    let app = shop_with(
        backend,
        &[
            (11, "alice@example.com"),
            (12, "bob@example.com"),
            (13, "Alan@example.com"),
            (14, "carol@example.com"),
            (15, "alfred@example.com"),
        ],
    )
    .await;
    let search = |query: &str| {
        let path = format!("/api/admin/customers?{query}");
        answer(admin(&app, Method::GET, &path))
    };
    let ids = |body: &Value| -> Vec<i64> {
        body["customers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["customer_id"].as_i64().unwrap())
            .collect()
    };
    let (status, body) = search("query=al").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(ids(&body), [11, 13, 15], "by email prefix, any case");
    let (_, body) = search("query=14").await;
    assert_eq!(ids(&body), [14], "by id");
    assert_eq!(body["customers"][0]["email"], "carol@example.com");
    assert_eq!(body["customers"][0]["points_balance"], 100);

    let (_, page1) = search("query=al&limit=2").await;
    assert_eq!(ids(&page1), [11, 13]);
    assert_eq!(page1["next_after"], 13);
    let (_, page2) = search("query=al&limit=2&after=13").await;
    assert_eq!(ids(&page2), [15]);
    assert_eq!(page2["next_after"], Value::Null, "the last page");
    let (_, none) = search("query=zed").await;
    assert!(ids(&none).is_empty());
    let (_, all) = search("").await;
    assert_eq!(ids(&all), [11, 12, 13, 14, 15]);
}

async fn a_birthday_is_saved_and_rewarded_once_a_year(backend: Backend) {
    let app = shop_with(backend, &[(1, "a@example.com")]).await;
    let birthday = |value: &str| {
        proxy(&app, Method::POST, "/proxy/birthday", Some(1)).json(&json!({ "birthday": value }))
    };
    let (status, body) = answer(birthday("13-01")).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["field"], "birthday");
    let (status, body) = answer(birthday("07-04")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["birthday"], "07-04");
    let (_, view) = answer(proxy(&app, Method::GET, "/proxy/balance", Some(1))).await;
    assert_eq!(view["birthday"], "07-04");

    let birthdays = "SELECT CAST(COUNT(*) AS BIGINT) FROM points_ledger \
                     WHERE customer_id = 1 AND kind = 'birthday'";
    assert_eq!(run_jobs_at(&app, at(2027, 7, 3, 12)).await.birthdays, 0);
    assert_eq!(app.count(birthdays).await, 0, "not the day before");
    assert_eq!(run_jobs_at(&app, at(2027, 7, 4, 8)).await.birthdays, 1);
    assert_eq!(run_jobs_at(&app, at(2027, 7, 4, 20)).await.birthdays, 0);
    assert_eq!(app.count(birthdays).await, 1, "once on the day");
    assert_eq!(balance(&app, 1).await, 100 + 200);
    run_jobs_at(&app, at(2027, 7, 5, 8)).await;
    assert_eq!(app.count(birthdays).await, 1);
    assert_eq!(run_jobs_at(&app, at(2028, 7, 4, 8)).await.birthdays, 1);
    assert_eq!(app.count(birthdays).await, 2, "and again the next year");
}

async fn inactive_customers_are_warned_and_then_their_points_expire(backend: Backend) {
    let app = shop_with(backend, &[(1, "a@example.com")]).await;
    let last: i64 = app
        .count("SELECT last_activity_at FROM customers WHERE customer_id = 1")
        .await;
    let last_time = Utc.timestamp_millis_opt(last).unwrap();
    let expires = last_time.checked_add_months(Months::new(12)).unwrap();
    let day = advocate::engine::DAY_MS;
    let warnings = "SELECT CAST(COUNT(*) AS BIGINT) FROM outbox WHERE kind = 'set_metafields' \
                    AND payload LIKE '%points_expire_on%'";

    let report = run_jobs_at(&app, expires.timestamp_millis() - 40 * day).await;
    assert_eq!(report.expiry_warnings, 0, "too early to warn");
    assert_eq!(app.count(warnings).await, 0);

    let report = run_jobs_at(&app, expires.timestamp_millis() - 10 * day).await;
    assert_eq!(report.expiry_warnings, 1);
    assert_eq!(report.customers_expired, 0);
    let payload: String = sqlx::query_scalar(
        "SELECT payload FROM outbox WHERE kind = 'set_metafields' AND payload LIKE '%points_expire_on%'",
    )
    .fetch_one(app.store.writer())
    .await
    .unwrap();
    let expected = format!(
        "{:04}-{:02}-{:02}",
        expires.year(),
        expires.month(),
        expires.day()
    );
    assert!(payload.contains(&expected), "{payload} names {expected}");
    assert!(payload.contains("gid://shopify/Customer/1"));
    app.send_effects().await;
    let flows = app.flow_triggers("advocate-points-expiring");
    assert_eq!(flows.len(), 1, "{flows:?}");
    assert_eq!(flows[0]["customer_id"], 1);
    assert_eq!(flows[0]["Points"], 100);
    assert_eq!(flows[0]["Expires on"], expected.as_str());
    assert_eq!(balance(&app, 1).await, 100, "warned, not expired");
    let report = run_jobs_at(&app, expires.timestamp_millis() - 5 * day).await;
    assert_eq!(report.expiry_warnings, 0, "warned once");

    let report = run_jobs_at(&app, expires.timestamp_millis() + 2 * day).await;
    assert_eq!(report.customers_expired, 1);
    assert_eq!(balance(&app, 1).await, 0);
    assert_eq!(
        app.count(
            "SELECT CAST(SUM(points) AS BIGINT) FROM points_ledger \
             WHERE customer_id = 1 AND kind = 'expiry'"
        )
        .await,
        -100
    );
    let report = run_jobs_at(&app, expires.timestamp_millis() + 40 * day).await;
    assert_eq!(report.customers_expired, 0, "expired once");
    assert_eq!(app.count(warnings).await, 1);
    app.send_effects().await;
    assert_eq!(app.flow_triggers("advocate-points-expiring").len(), 1);
}

async fn points_granted_after_an_expiry_expire_after_their_own_stretch_of_inactivity(
    backend: Backend,
) {
    let app = shop_with(backend, &[(1, "a@example.com")]).await;
    let (status, _) = answer(
        proxy(&app, Method::POST, "/proxy/birthday", Some(1)).json(&json!({ "birthday": "12-25" })),
    )
    .await;
    assert_eq!(status, 200);
    let expired = "SELECT CAST(COALESCE(SUM(points), 0) AS BIGINT) FROM points_ledger \
                   WHERE customer_id = 1 AND kind = 'expiry'";

    // Still inactive a year later: the signup bonus expires.
    let report = run_jobs_at(&app, at(2027, 12, 20, 8)).await;
    assert_eq!(report.customers_expired, 1);
    assert_eq!(balance(&app, 1).await, 0);
    // Earning counts as activity, a birthday bonus too: the fresh points
    // do not expire at once, but after another stretch without activity.
    let report = run_jobs_at(&app, at(2027, 12, 25, 8)).await;
    assert_eq!(report.birthdays, 1);
    assert_eq!(balance(&app, 1).await, 200);
    let report = run_jobs_at(&app, at(2027, 12, 25, 10)).await;
    assert_eq!(report.customers_expired, 0, "the gift does not vanish");
    assert_eq!(balance(&app, 1).await, 200);
    let report = run_jobs_at(&app, at(2028, 12, 24, 10)).await;
    assert_eq!(report.customers_expired, 0, "not yet twelve months");
    let report = run_jobs_at(&app, at(2028, 12, 26, 9)).await;
    assert_eq!(report.customers_expired, 1, "the new points expire as well");
    assert_eq!(balance(&app, 1).await, 0);
    assert_eq!(app.count(expired).await, -300);
    assert_eq!(
        app.count("SELECT points_balance + points_pending FROM customers WHERE customer_id = 1")
            .await,
        app.count("SELECT CAST(SUM(points) AS BIGINT) FROM points_ledger WHERE customer_id = 1")
            .await,
        "the balance is the sum of the ledger"
    );
}

async fn a_rolling_twelve_month_tier_is_lost_when_the_spend_leaves_the_window(backend: Backend) {
    let app = shop_with(backend, &[(1, "a@example.com")]).await;
    let version = update_settings(&app, |s| {
        s["tiers"]["window"] = json!("rolling_12_months");
    })
    .await;
    assert_eq!(version, 2);
    let customer = person(1, "a@example.com");
    deliver(
        &app,
        "orders/paid",
        &order_body(7001, &customer, "260.00", None),
    )
    .await;
    let tier = || async {
        let (status, view) = answer(admin(&app, Method::GET, "/api/admin/customers/1")).await;
        assert_eq!(status, 200, "{view}");
        view["tier"]["id"].clone()
    };
    assert_eq!(tier().await, "silver", "250.00 reached");

    run_jobs_in(&app, 30).await;
    assert_eq!(tier().await, "silver", "still within the window");
    let removals = "SELECT CAST(COUNT(*) AS BIGINT) FROM outbox WHERE kind = 'remove_tags' \
                    AND payload LIKE '%advocate-tier:silver%' AND payload LIKE '%Customer/1\"%'";
    assert_eq!(app.count(removals).await, 0);

    let report = run_jobs_in(&app, 400).await;
    assert_eq!(report.tier_changes, 1);
    assert_eq!(tier().await, Value::Null, "no tier any more");
    assert_eq!(
        app.count("SELECT CAST(COUNT(*) AS BIGINT) FROM customers WHERE customer_id = 1 AND tier_id IS NULL")
            .await,
        1
    );
    assert_eq!(app.count(removals).await, 1, "the tier tag is removed");
}

async fn a_tier_review_moves_a_page_of_customers_at_once_each_once_and_in_order(backend: Backend) {
    let app = shop_with(backend, &[]).await;
    // More customers than a page of the review (200), each below Silver.
    let customers: Vec<i64> = (0..250).map(|i| 8_000 + i).collect();
    for (i, customer) in customers.iter().enumerate() {
        let body = crate::loyalty::order(90_000 + i as i64, Some(*customer), "150.00");
        crate::loyalty::send_json(&app, "orders/paid", &format!("paid-{i}"), &body).await;
    }
    app.drain().await;
    let silver = "SELECT CAST(COUNT(*) AS BIGINT) FROM customers WHERE tier_id = 'silver'";
    assert_eq!(app.count(silver).await, 0, "150.00 is below Silver");

    update_settings(&app, |s| {
        s["tiers"]["levels"][0]["threshold"] = json!("100.00");
    })
    .await;
    let report = run_jobs_in(&app, 0).await;
    assert_eq!(report.tier_changes, 250, "the review moved everyone");
    assert_eq!(app.count(silver).await, 250);
    for (sql, what) in [
        (
            "SELECT CAST(COUNT(*) AS BIGINT) FROM tier_changes \
             WHERE reason = 'tier review' AND to_tier = 'silver'",
            "history",
        ),
        (
            "SELECT CAST(COUNT(DISTINCT customer_id) AS BIGINT) FROM points_ledger \
             WHERE kind = 'tier_entry' AND points = 100",
            "an entry reward each",
        ),
        (
            "SELECT CAST(COUNT(*) AS BIGINT) FROM points_ledger WHERE kind = 'tier_entry'",
            "once each",
        ),
    ] {
        assert_eq!(app.count(sql).await, 250, "{what}");
    }
    // Each customer's effects: the tag, the metafield, then the Flow
    // trigger, in the order they will be sent.
    let effects: Vec<(String, String)> = sqlx::query_as(
        "SELECT ordering_key, kind FROM outbox WHERE idempotency_key LIKE 'tier:%' ORDER BY id",
    )
    .fetch_all(app.store.writer())
    .await
    .unwrap();
    let mut by_customer: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (ordering, kind) in effects {
        by_customer.entry(ordering).or_default().push(kind);
    }
    assert_eq!(by_customer.len(), 250);
    for (ordering, kinds) in &by_customer {
        assert_eq!(
            kinds,
            &["add_tags", "set_metafields", "flow_trigger"],
            "{ordering}"
        );
    }
    let report = run_jobs_in(&app, 1).await;
    assert_eq!(report.tier_changes, 0, "nothing left to move");
}
