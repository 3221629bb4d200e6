//! Cashback: a program in which orders earn store credit instead of
//! points. A paid order credits its share to the customer's Shopify store
//! credit account once; a refund debits the refunded share, never more
//! than was credited and never below zero (what the customer already spent
//! is recorded as unrecovered); all of it exactly once under redelivered
//! webhooks, injected faults and lost answers.

use serde_json::{json, Value};
use shopify_sim::Faults;

use crate::helpers::{Backend, TestApp, SHOP};
use crate::loyalty::{order, points, put_program, refund, send_json};
use crate::store_credit::thirty_percent_faults;

crate::on_both_backends!(
    a_cashback_order_credits_and_refunds_debit_their_share_once,
    a_refund_after_the_credit_was_spent_debits_only_what_is_left,
    cashback_moves_once_under_faults_lost_answers_and_redelivery,
    the_cashback_rate_is_checked,
);

fn gid(customer: i64) -> String {
    format!("gid://shopify/Customer/{customer}")
}

/// A shop paying 5 % cashback.
async fn cashback_shop(backend: Backend, percent: &str) -> TestApp {
    let app = TestApp::spawn(backend).await;
    app.install(SHOP).await;
    let percent = percent.to_owned();
    put_program(&app, move |s| {
        s["store_credit"] =
            json!({ "notify": false, "expires_days": 0, "cashback_percent": percent });
    })
    .await;
    app
}

fn credits(app: &TestApp, customer: i64) -> Vec<(String, String)> {
    app.shopify.admin(|a| a.credits(SHOP, &gid(customer)))
}

fn debits(app: &TestApp, customer: i64) -> Vec<(String, String)> {
    app.shopify.admin(|a| a.debits(SHOP, &gid(customer)))
}

fn usd(amounts: &[&str]) -> Vec<(String, String)> {
    amounts
        .iter()
        .map(|a| ((*a).to_owned(), "USD".to_owned()))
        .collect()
}

/// The outcomes the outbox recorded for cashback debits, oldest first.
async fn debit_results(app: &TestApp) -> Vec<Value> {
    let rows: Vec<Option<String>> = sqlx::query_scalar(
        "SELECT result FROM outbox WHERE kind = 'debit_store_credit' AND status = 'done' ORDER BY id",
    )
    .fetch_all(app.store.writer())
    .await
    .unwrap();
    rows.into_iter()
        .map(|r| serde_json::from_str(&r.unwrap()).unwrap())
        .collect()
}

async fn a_cashback_order_credits_and_refunds_debit_their_share_once(backend: Backend) {
    let app = cashback_shop(backend, "5").await;
    let customer = 7_000_000_000_000_101;
    let paid = order(9_100, Some(customer), "120.00");
    send_json(&app, "orders/paid", "o-1", &paid).await;
    send_json(&app, "orders/paid", "o-1-again", &paid).await;
    app.drain().await;
    app.send_effects().await;
    assert_eq!(
        credits(&app, customer),
        usd(&["6.00"]),
        "5 % of 120.00, once"
    );
    let (balance, pending) = points(&app, customer).await;
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM points_ledger WHERE customer_id = {customer} AND kind = 'earn'"
        ))
        .await,
        0,
        "cashback instead of points (balance {balance}, pending {pending})"
    );

    // A quarter refunded: a quarter of the cashback taken back, once.
    let first = refund(51, 9_100, "30.00");
    send_json(&app, "refunds/create", "r-1", &first).await;
    send_json(&app, "refunds/create", "r-1-again", &first).await;
    app.drain().await;
    app.send_effects().await;
    assert_eq!(debits(&app, customer), usd(&["1.50"]));

    // The rest refunded: the rest of the cashback, never more than credited.
    send_json(&app, "refunds/create", "r-2", &refund(52, 9_100, "90.00")).await;
    app.drain().await;
    app.send_effects().await;
    assert_eq!(debits(&app, customer), usd(&["1.50", "4.50"]));
    assert_eq!(
        app.shopify
            .admin(|a| a.store_credit_balance_micros(SHOP, &gid(customer))),
        0
    );
    let results = debit_results(&app).await;
    assert!(
        results.iter().all(|r| r["unrecovered"] == "0.00"),
        "{results:?}"
    );
}

async fn a_refund_after_the_credit_was_spent_debits_only_what_is_left(backend: Backend) {
    let app = cashback_shop(backend, "10").await;
    let customer = 7_000_000_000_000_102;
    send_json(
        &app,
        "orders/paid",
        "o-2",
        &order(9_200, Some(customer), "50.00"),
    )
    .await;
    app.drain().await;
    app.send_effects().await;
    assert_eq!(credits(&app, customer), usd(&["5.00"]));
    // The customer pays 4.00 of it at checkout.
    app.shopify
        .admin(|a| a.spend_store_credit(SHOP, &gid(customer), "4.00"));

    send_json(&app, "refunds/create", "r-3", &refund(53, 9_200, "50.00")).await;
    app.drain().await;
    app.send_effects().await;
    assert_eq!(debits(&app, customer), usd(&["1.00"]), "what was left");
    assert_eq!(
        app.shopify
            .admin(|a| a.store_credit_balance_micros(SHOP, &gid(customer))),
        0,
        "never below zero"
    );
    let results = debit_results(&app).await;
    assert_eq!(results.len(), 1);
    assert_eq!(results[0]["debited"], "1.00");
    assert_eq!(results[0]["unrecovered"], "4.00", "recorded, not retried");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM outbox WHERE status <> 'done'")
            .await,
        0
    );

    // Nothing left at all: a later debit takes nothing and says so.
    send_json(
        &app,
        "orders/paid",
        "o-3",
        &order(9_300, Some(customer), "20.00"),
    )
    .await;
    app.drain().await;
    app.send_effects().await;
    app.shopify
        .admin(|a| a.spend_store_credit(SHOP, &gid(customer), "2.00"));
    send_json(&app, "refunds/create", "r-4", &refund(54, 9_300, "20.00")).await;
    app.drain().await;
    app.send_effects().await;
    assert_eq!(debits(&app, customer), usd(&["1.00"]));
    let last = debit_results(&app).await.pop().unwrap();
    assert_eq!(
        (last["debited"].clone(), last["unrecovered"].clone()),
        (json!("0.00"), json!("2.00"))
    );
}

async fn cashback_moves_once_under_faults_lost_answers_and_redelivery(backend: Backend) {
    let app = cashback_shop(backend, "2.5").await;
    let customers: Vec<i64> = (1..=12).map(|n| 7_000_000_000_001_000 + n).collect();
    app.shopify.admin(|a| a.faults = thirty_percent_faults());
    for (n, &c) in customers.iter().enumerate() {
        let id = 9_500 + n as i64;
        let body = order(id, Some(c), "80.00");
        send_json(&app, "orders/paid", &format!("o-{id}"), &body).await;
        send_json(&app, "orders/paid", &format!("o-{id}-again"), &body).await;
        send_json(
            &app,
            "refunds/create",
            &format!("r-{id}"),
            &refund(600 + id, id, "20.00"),
        )
        .await;
    }
    app.drain().await;
    for _ in 0..30 {
        app.send_effects().await;
        let pending = app
            .count(
                "SELECT COUNT(*) FROM outbox WHERE status <> 'done' AND kind LIKE '%store_credit'",
            )
            .await;
        if pending == 0 {
            break;
        }
    }
    app.shopify.admin(|a| a.faults = Faults::default());
    app.send_effects().await;
    let retried = app
        .count("SELECT COUNT(*) FROM outbox WHERE kind LIKE '%store_credit' AND attempts > 1")
        .await;
    assert!(retried > 0, "the faults reached the store credit effects");
    for &c in &customers {
        // 2.5 % of 80.00 = 2.00; a quarter refunded takes back 0.50.
        assert_eq!(credits(&app, c), usd(&["2.00"]), "customer {c}");
        assert_eq!(debits(&app, c), usd(&["0.50"]), "customer {c}");
    }
}

async fn the_cashback_rate_is_checked(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.install(SHOP).await;
    for (percent, ok) in [
        ("abc", false),
        ("150", false),
        ("-5", false),
        ("2.555", false),
        ("2.5", true),
        ("", true),
        ("0", true),
    ] {
        let (status, answer) = app
            .try_change_program(SHOP, |s| {
                s["store_credit"] =
                    json!({ "notify": true, "expires_days": 0, "cashback_percent": percent });
            })
            .await;
        assert_eq!(status == 200, ok, "{percent}: {status} {answer}");
        if !ok {
            assert_eq!(status, 422, "{percent}");
        }
    }
}
