//! Reorder reminders on a constructed history: learned intervals, due
//! dates, one reminder per purchase cycle under redelivery and restarts,
//! none after a rebuy, the merchant's overrides, the storefront's "time to
//! restock?" and the holdout report against a hand computation.

use advocate::{engine::scheduled, loyalty::EpochMs, store::now_ms};
use reqwest::Method;
use serde_json::{json, Value};

use crate::{
    helpers::{proxy_query, Backend, TestApp, SHOP},
    referrals::{admin, answer},
};

crate::on_both_backends!(reminders_come_once_per_cycle_and_are_measured_against_a_holdout);

const DAY: i64 = 86_400_000;
const COFFEE: i64 = 501;
const MUG: i64 = 502;
const GRINDER: i64 = 503;

fn title(product: i64) -> &'static str {
    match product {
        COFFEE => "Coffee beans",
        MUG => "Mug",
        _ => "Grinder",
    }
}

fn rfc3339(ms: i64) -> String {
    advocate::loyalty::time::rfc3339(ms)
}

/// A paid order of one unit of each product, paid at `at`, for 20.00.
fn order(id: i64, customer: i64, at: i64, products: &[i64]) -> Value {
    let money = |a: &str| json!({ "shop_money": { "amount": a, "currency_code": "USD" } });
    let lines: Vec<Value> = products
        .iter()
        .map(|p| {
            json!({
                "id": id * 100 + p, "product_id": p, "variant_id": p * 10,
                "title": title(*p), "quantity": 1, "current_quantity": 1,
            })
        })
        .collect();
    json!({
        "id": id,
        "name": format!("#{id}"),
        "customer": { "id": customer },
        "currency": "USD",
        "subtotal_price_set": money("20.00"),
        "total_price_set": money("20.00"),
        "financial_status": "paid",
        "source_name": "web",
        "test": false,
        "processed_at": rfc3339(at),
        "line_items": lines,
    })
}

async fn paid(app: &TestApp, id: i64, customer: i64, at: i64, products: &[i64], key: &str) {
    let body = order(id, customer, at, products);
    let response = app
        .send("orders/paid", key, &serde_json::to_vec(&body).unwrap())
        .await;
    assert_eq!(response.status(), 200);
}

async fn run_jobs(app: &TestApp, owner: &str, now: i64) -> scheduled::Report {
    app.drain().await;
    scheduled::run_due(&app.store, owner, EpochMs(now))
        .await
        .expect("scheduled jobs")
}

async fn reorder_view(app: &TestApp) -> Value {
    let (status, body) = answer(admin(app, Method::GET, "/api/admin/reorder?period=90d")).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn restock(app: &TestApp, customer: i64) -> Value {
    let response = app
        .http
        .get(format!(
            "{}/proxy/balance?{}",
            app.address,
            proxy_query(SHOP, Some(customer))
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["restock"].clone()
}

async fn reminders_come_once_per_cycle_and_are_measured_against_a_holdout(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.install(SHOP).await;
    app.send_effects().await;
    app.change_program(SHOP, |s| {
        s["reorder"] = json!({
            "enabled": true,
            "min_customers": 3,
            "holdout_percent": 40,
            "attribution_days": 14,
            "code": { "value": { "kind": "percentage_off", "percent": 10 }, "valid_days": 14 },
        });
    })
    .await;
    // The history: UTC days (the stand-in's shop is on Etc/UTC), ten in
    // the morning, 110 days before today.
    let now = chrono::Utc::now().timestamp_millis();
    let t0 = (now - 110 * DAY) / DAY * DAY + 10 * 3_600_000;
    // Coffee every 30 days by six customers; a mug bought once; a grinder
    // bought twice, 20 days apart, by only two customers.
    let mut id = 1000;
    for customer in 1..=6 {
        for k in 0..3 {
            id += 1;
            let products: &[i64] = match (customer, k) {
                (1, 0) => &[COFFEE, MUG, GRINDER],
                (2, 0) => &[COFFEE, GRINDER],
                _ => &[COFFEE],
            };
            paid(
                &app,
                id,
                customer,
                t0 + k * 30 * DAY,
                products,
                &format!("o{id}"),
            )
            .await;
        }
    }
    paid(&app, 2001, 1, t0 + 20 * DAY, &[GRINDER], "g1").await;
    paid(&app, 2002, 2, t0 + 20 * DAY, &[GRINDER], "g2").await;
    // Customer 6 buys coffee again before it is due: a new cycle.
    paid(&app, 2003, 6, t0 + 85 * DAY, &[COFFEE], "early").await;

    // Learning on request (after a history import, say) sends nothing.
    app.drain().await;
    let (status, view) = answer(admin(&app, Method::POST, "/api/admin/reorder/learn")).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["products"][0]["learned_days"], 30, "{view}");
    assert_eq!(
        app.count("SELECT CAST(COUNT(*) AS BIGINT) FROM reorder_reminders")
            .await,
        0
    );
    // The round gave the shop's lease back when it was done.
    let lease =
        "(SELECT CAST(COUNT(*) AS BIGINT) FROM job_leases WHERE name LIKE 'reorder-learn:%' \
                 AND lease_owner IS NULL AND last_run_at IS NOT NULL)";
    assert_eq!(app.count(&format!("SELECT {lease}")).await, 1);
    // While a round (of another process, say) holds it, a second is
    // refused rather than run beside it; once its lease has run out (the
    // process stopped), learning runs again.
    sqlx::query(
        "UPDATE job_leases SET lease_owner = 'another-process', lease_until = $1 \
         WHERE name LIKE 'reorder-learn:%'",
    )
    .bind(now_ms() + 60_000)
    .execute(app.store.writer())
    .await
    .unwrap();
    let (status, refused) = answer(admin(&app, Method::POST, "/api/admin/reorder/learn")).await;
    assert_eq!(status, 409, "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("being learned already"),
        "{refused}"
    );
    sqlx::query("UPDATE job_leases SET lease_until = $1 WHERE name LIKE 'reorder-learn:%'")
        .bind(now_ms() - 1)
        .execute(app.store.writer())
        .await
        .unwrap();
    let (status, view) = answer(admin(&app, Method::POST, "/api/admin/reorder/learn")).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(app.count(&format!("SELECT {lease}")).await, 1);

    // The day before coffee is due (60 + 30 days): learned, nothing sent.
    let report = run_jobs(&app, "owner", t0 + 89 * DAY).await;
    assert_eq!(report.reorder_reminders, 0);
    let view = reorder_view(&app).await;
    let products = view["products"].as_array().unwrap();
    assert_eq!(products.len(), 2, "{view}");
    assert_eq!(products[0]["product_id"], COFFEE.to_string());
    assert_eq!(products[0]["learned_days"], 30);
    assert_eq!(products[0]["repeat_customers"], 6);
    assert_eq!(products[0]["interval_days"], 30);
    assert_eq!(products[1]["product_id"], GRINDER.to_string());
    assert_eq!(
        products[1]["learned_days"],
        Value::Null,
        "two customers are too few"
    );
    assert_eq!(products[1]["repeat_customers"], 2);

    // Due: customers 1 to 5 (6 bought again), once.
    let due_at = t0 + 90 * DAY;
    let report = run_jobs(&app, "owner", due_at + 3_600_000).await;
    assert_eq!(report.reorder_reminders, 5);
    // A redelivered order, a second process, a restart that lost the
    // day's mark, the next day: no second reminder for the cycle.
    paid(&app, 1003, 1, t0 + 60 * DAY, &[COFFEE], "o1003-again").await;
    sqlx::query("DELETE FROM shop_days")
        .execute(app.store.writer())
        .await
        .unwrap();
    assert_eq!(
        run_jobs(&app, "another", due_at + 5 * 3_600_000)
            .await
            .reorder_reminders,
        0
    );
    assert_eq!(
        run_jobs(&app, "owner", due_at + DAY)
            .await
            .reorder_reminders,
        0
    );
    let rows: Vec<(i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT customer_id, cycle_order_id, due_at, held_out FROM reorder_reminders \
         WHERE product_id = $1 ORDER BY customer_id",
    )
    .bind(COFFEE)
    .fetch_all(app.store.writer())
    .await
    .unwrap();
    let customers: Vec<i64> = rows.iter().map(|r| r.0).collect();
    assert_eq!(customers, [1, 2, 3, 4, 5]);
    for (customer, cycle, due, _) in &rows {
        assert_eq!(
            *cycle,
            1000 + (customer - 1) * 3 + 3,
            "the latest purchase's order"
        );
        assert_eq!(*due, due_at / DAY * DAY, "the due day's start");
    }
    let held: Vec<i64> = rows.iter().filter(|r| r.3 == 1).map(|r| r.0).collect();
    let reminded: Vec<i64> = rows.iter().filter(|r| r.3 == 0).map(|r| r.0).collect();

    // The reminded get the Flow trigger and a code; the held out nothing.
    app.send_effects().await;
    let flows = app.flow_triggers("advocate-reorder-due");
    let mut flowed: Vec<i64> = flows
        .iter()
        .map(|f| f["customer_id"].as_i64().unwrap())
        .collect();
    flowed.sort_unstable();
    assert_eq!(flowed, reminded);
    for flow in &flows {
        assert_eq!(flow["Product"], "Coffee beans");
        assert_eq!(flow["Product id"], COFFEE.to_string());
        assert_eq!(flow["Days since last purchase"], 30);
        let code = flow["Discount code"].as_str().unwrap();
        let made = app.shopify.admin(|a| {
            a.discounts
                .get(&(SHOP.to_owned(), code.to_owned()))
                .cloned()
        });
        let made = made.unwrap_or_else(|| panic!("{code} exists in Shopify"));
        assert_eq!(made["usageLimit"], 1);
    }

    // "Time to restock?" for a reminded customer who has not bought again.
    for customer in 3..=5 {
        let shown = restock(&app, customer).await;
        if reminded.contains(&customer) {
            assert_eq!(shown[0]["title"], "Coffee beans", "{shown}");
            assert_eq!(shown[0]["product_id"], COFFEE.to_string());
            let due_on = chrono::DateTime::from_timestamp_millis(due_at)
                .unwrap()
                .date_naive()
                .to_string();
            assert_eq!(shown[0]["due_on"], due_on);
        } else {
            assert_eq!(shown, json!([]), "held out: nothing shown");
        }
    }

    // Customers 1 and 2 buy coffee again 5 days after their reminder;
    // customer 3 buys a mug (another product).
    paid(&app, 3001, 1, due_at + 5 * DAY, &[COFFEE], "r1").await;
    paid(&app, 3002, 2, due_at + 5 * DAY, &[COFFEE, MUG], "r2").await;
    paid(&app, 3003, 3, due_at + 5 * DAY, &[MUG], "r3").await;
    app.drain().await;
    assert_eq!(
        restock(&app, 1).await,
        json!([]),
        "bought again: nothing to restock"
    );

    // The report, by hand: each arm's reminders, those of customers 1 and
    // 2 reordered, 20.00 each.
    let arm = |members: &[i64]| {
        let reordered = members.iter().filter(|c| [1, 2].contains(*c)).count() as i64;
        json!({ "reminders": members.len(), "reordered": reordered, "revenue_minor": reordered * 2000 })
    };
    let view = reorder_view(&app).await;
    assert_eq!(view["report"]["reminded"], arm(&reminded), "{view}");
    assert_eq!(view["report"]["held_out"], arm(&held), "{view}");
    assert_eq!(view["report"]["attribution_days"], 14);

    // The merchant's overrides.
    let put = |product: i64, body: Value| {
        admin(
            &app,
            Method::PUT,
            &format!("/api/admin/reorder/products/{product}"),
        )
        .json(&body)
    };
    let (status, view) = answer(put(
        GRINDER,
        json!({ "override_days": 20, "enabled": true }),
    ))
    .await;
    assert_eq!(status, 200, "{view}");
    let grinder = view["products"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["product_id"].as_str() == Some(GRINDER.to_string().as_str()))
        .cloned()
        .unwrap();
    assert_eq!(grinder["interval_days"], 20);
    let (status, view) = answer(put(
        COFFEE,
        json!({ "override_days": null, "enabled": false }),
    ))
    .await;
    assert_eq!(status, 200);
    assert_eq!(view["products"][0]["interval_days"], Value::Null);
    let (status, body) = answer(put(COFFEE, json!({ "override_days": 0, "enabled": true }))).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["field"], "override_days");
    let (status, _) = answer(put(9999, json!({ "override_days": 30, "enabled": true }))).await;
    assert_eq!(status, 404);
    // Off: the next coffee cycle (customer 6's, due at day 115) gets none.
    assert_eq!(
        run_jobs(&app, "owner", t0 + 115 * DAY + 3_600_000)
            .await
            .reorder_reminders,
        0
    );
}
