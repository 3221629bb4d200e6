//! The what-if forecast (`POST /api/admin/program/forecast`): for changes
//! with a known effect (the points rate doubled, a tier threshold raised)
//! its figures equal a computation by hand over the same orders, bad
//! input is refused, and the database is the same afterwards, row for row.

use std::hash::{Hash, Hasher};

use advocate::store::now_ms;
use reqwest::Method;
use serde_json::{json, Value};

use crate::{
    helpers::{Backend, TestApp, SHOP},
    referrals::{admin, answer, customer_body, deliver, order_body, Person},
};

crate::on_both_backends!(
    the_forecast_equals_a_direct_computation_and_writes_nothing,
    bad_forecast_requests_are_refused_and_change_nothing,
);

const DAY_MS: i64 = 86_400_000;

fn person(id: i64) -> Person {
    Person {
        id: Some(id),
        email: format!("f{id}@example.com"),
        phone: format!("+1 555 040 {:04}", id % 10_000),
        address1: format!("{id} Forecast Road"),
        zip: format!("4{:04}", id % 10_000),
    }
}

/// A paid web order of `subtotal` by `who`, `days` days ago.
fn order(order_id: i64, who: &Person, subtotal: &str, days: i64) -> Value {
    let mut body = order_body(order_id, who, subtotal, None);
    body["processed_at"] = json!(
        chrono::DateTime::from_timestamp_millis(now_ms() - days * DAY_MS)
            .unwrap()
            .to_rfc3339()
    );
    body
}

async fn forecast(app: &TestApp, body: Value) -> (reqwest::StatusCode, Value) {
    answer(admin(app, Method::POST, "/api/admin/program/forecast").json(&body)).await
}

async fn program(app: &TestApp) -> Value {
    answer(admin(app, Method::GET, "/api/admin/program"))
        .await
        .1
}

/// Every table's row count and a checksum of its contents.
async fn fingerprint(app: &TestApp) -> Vec<(String, i64, u64)> {
    app.settle_intake().await;
    let pool = app.store.writer();
    let tables: Vec<String> = match app.db.backend {
        Backend::Sqlite => sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' \
             AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )
        .fetch_all(pool)
        .await
        .unwrap(),
        Backend::Postgres => sqlx::query_scalar(
            "SELECT CAST(table_name AS TEXT) FROM information_schema.tables \
             WHERE table_schema = current_schema() ORDER BY table_name",
        )
        .fetch_all(pool)
        .await
        .unwrap(),
    };
    let mut out = Vec::new();
    for table in tables {
        let rows: i64 =
            sqlx::query_scalar(&format!("SELECT CAST(COUNT(*) AS BIGINT) FROM {table}"))
                .fetch_one(pool)
                .await
                .unwrap();
        let text: String = match app.db.backend {
            Backend::Sqlite => {
                let columns: Vec<String> =
                    sqlx::query_scalar(&format!("SELECT name FROM pragma_table_info('{table}')"))
                        .fetch_all(pool)
                        .await
                        .unwrap();
                let row = columns
                    .iter()
                    .map(|c| format!("quote(\"{c}\")"))
                    .collect::<Vec<_>>()
                    .join(" || ',' || ");
                sqlx::query_scalar(&format!(
                    "SELECT COALESCE(group_concat(r, ';'), '') FROM \
                     (SELECT {row} AS r FROM \"{table}\" ORDER BY 1)"
                ))
                .fetch_one(pool)
                .await
                .unwrap()
            }
            Backend::Postgres => sqlx::query_scalar(&format!(
                "SELECT COALESCE(string_agg(CAST(t AS TEXT), ';' ORDER BY CAST(t AS TEXT)), '') \
                 FROM \"{table}\" t"
            ))
            .fetch_one(pool)
            .await
            .unwrap(),
        };
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        text.hash(&mut hasher);
        out.push((table, rows, hasher.finish()));
    }
    out
}

/// Three customers over the last year and before it, one refund, one
/// redemption. Default program: 1 point per 1.00; silver at 250.00
/// (110 %, 100 entry points), gold at 500.00 (120 %, 250), platinum at
/// 1,000.00; the 5.00-off reward for 500 points (1 cent a point).
async fn shop(backend: Backend) -> TestApp {
    let app = TestApp::spawn(backend).await;
    app.install(SHOP).await;
    let (a, b, c) = (person(7101), person(7102), person(7103));
    for who in [&a, &b, &c] {
        deliver(&app, "customers/create", &customer_body(who)).await;
    }
    for body in [
        order(8201, &b, "260.00", 400),
        order(8101, &a, "300.00", 200),
        order(8102, &a, "300.00", 100),
        order(8202, &b, "100.00", 30),
        order(8301, &c, "80.00", 20),
    ] {
        deliver(&app, "orders/paid", &body).await;
    }
    let mut refund = crate::loyalty::refund(9301, 8301, "40.00");
    refund["created_at"] = json!(crate::helpers::ago(10 * DAY_MS));
    deliver(&app, "refunds/create", &refund).await;
    let (status, body) = answer(
        admin(&app, Method::POST, "/api/admin/customers/7101/redemptions")
            .header("Idempotency-Key", "forecast-five-off")
            .json(&json!({ "reward_id": "5-off" })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    app
}

fn tiers(scenario: &Value) -> Vec<i64> {
    scenario["tiers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["customers"].as_i64().unwrap())
        .collect()
}

async fn the_forecast_equals_a_direct_computation_and_writes_nothing(backend: Backend) {
    let app = shop(backend).await;
    let settings = program(&app).await["settings"].clone();
    let before = fingerprint(&app).await;

    // What the ledger recorded in the year: A 300 + 330 (silver by then),
    // B 110 (silver since the order before the year), C 80 less 40
    // refunded; entry points A silver 100 and gold 250, B silver 100 (its
    // tier was reached when Advocate recorded it, today); 500 redeemed.
    let mut doubled = settings.clone();
    doubled["earning"]["points"] = json!(2);
    let (status, f) = forecast(&app, json!({ "settings": doubled, "days": 365 })).await;
    assert_eq!(status, 200, "{f}");
    assert_eq!(f["days"], 365);
    assert_eq!(f["customers"], 3);
    assert_eq!(f["currency"], "USD");
    assert_eq!(
        f["recorded"],
        json!({ "order_points": 780, "entry_points": 450, "redeemed": 500 })
    );
    assert_eq!(
        f["redemption_rate"],
        json!({ "redeemed": 500, "issued": 1230 })
    );

    // The current settings replayed: A 300, then 330 (silver), entries
    // silver and gold; B 110 (silver at the year's start: no entry in
    // it); C 40. Redeemed at 500/1230 of issued, rounded down.
    let current = &f["current"];
    assert_eq!(current["order_points"], 780);
    assert_eq!(current["entry_points"], 350);
    assert_eq!(current["points_issued"], 1130);
    assert_eq!(current["orders_earning"], 4);
    assert_eq!(current["median_points_per_order"], 110); // 40 110 300 330
    assert_eq!(current["points_redeemed"], 1130 * 500 / 1230);
    assert_eq!(current["points_outstanding"], 1130 - 1130 * 500 / 1230);
    assert_eq!(current["liability_minor"], 1130 - 1130 * 500 / 1230);
    assert_eq!(current["entry_cost_minor"], 350);
    assert_eq!(tiers(current), vec![1, 1, 1, 0]); // none C, silver B, gold A
    assert_eq!(current["customers_moved_up"], 1);

    // Twice the points: 600 + 660, 220, 160 less 80.
    let proposed = &f["proposed"];
    assert_eq!(proposed["order_points"], 600 + 660 + 220 + 80);
    assert_eq!(proposed["entry_points"], 350);
    assert_eq!(proposed["points_issued"], 1560 + 350);
    assert_eq!(proposed["median_points_per_order"], 220);
    assert_eq!(proposed["points_redeemed"], 1910 * 500 / 1230);
    assert_eq!(tiers(proposed), vec![1, 1, 1, 0]);
    assert_eq!(f["tier_moves"], json!({ "up": 0, "down": 0 }));

    // Silver at 400.00: A earns 300 and 300 at 100 % and reaches gold
    // straight away (250); B holds no tier; C as before.
    let mut raised = settings.clone();
    raised["tiers"]["levels"][0]["threshold"] = json!("400.00");
    let (status, f) = forecast(&app, json!({ "settings": raised })).await;
    assert_eq!(status, 200, "{f}");
    assert_eq!(f["days"], 365);
    let proposed = &f["proposed"];
    assert_eq!(proposed["order_points"], 300 + 300 + 100 + 40);
    assert_eq!(proposed["entry_points"], 250);
    assert_eq!(proposed["points_issued"], 990);
    assert_eq!(tiers(proposed), vec![2, 0, 1, 0]);
    assert_eq!(f["tier_moves"], json!({ "up": 0, "down": 1 }));
    assert_eq!(f["current"]["points_issued"], 1130);

    // 90 days: only B's 110 and C's 40 are in it; nobody's tier moves in
    // it (A reached gold 100 days ago).
    let (status, f) = forecast(&app, json!({ "settings": settings, "days": 90 })).await;
    assert_eq!(status, 200, "{f}");
    assert_eq!(f["current"]["order_points"], 150);
    assert_eq!(f["current"]["entry_points"], 0);
    assert_eq!(f["proposed"], f["current"]);

    assert_eq!(
        fingerprint(&app).await,
        before,
        "the forecast wrote nothing"
    );
}

async fn bad_forecast_requests_are_refused_and_change_nothing(backend: Backend) {
    let app = shop(backend).await;
    let settings = program(&app).await["settings"].clone();
    let before = fingerprint(&app).await;

    let (status, body) = forecast(&app, json!({ "settings": settings, "days": 30 })).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["field"], "days", "{body}");

    let mut bad = settings.clone();
    bad["earning"]["per_amount"] = json!("zero");
    let (status, body) = forecast(&app, json!({ "settings": bad })).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["field"], "earning.per_amount", "{body}");

    let (status, _) = forecast(&app, json!({ "settings": settings, "save": true })).await;
    assert_eq!(status, 400);
    let (status, _) = forecast(&app, json!({})).await;
    assert_eq!(status, 400);
    let (status, _) = answer(
        app.http
            .post(format!("{}/api/admin/program/forecast", app.address))
            .json(&json!({ "settings": settings })),
    )
    .await;
    assert_eq!(status, 401);

    assert_eq!(fingerprint(&app).await, before);
    // The program itself is untouched: still version 1 of the defaults.
    assert_eq!(program(&app).await["settings"], settings);
}
