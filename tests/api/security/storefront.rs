//! Storefront abuse: one shopper must not lock every other shopper out of
//! the shop's storefront, and racing requests must not get around a rule
//! that holds for sequential ones.

use futures_util::future::join_all;
use serde_json::json;

use crate::helpers::{fixture, proxy_query, Backend, TestApp, SHOP};

crate::on_both_backends!(
    a_shopper_past_their_limit_leaves_the_shops_storefront_to_others,
    racing_birthday_requests_set_one_date,
);

/// The customer of `customers_create.json`.
const CUSTOMER: i64 = 706405506930370000;

async fn shop(backend: Backend) -> TestApp {
    // Several HTTP workers, as in production, so requests truly race.
    let app = TestApp::spawn_with(backend, |c| c.runtime.http_workers = 4).await;
    app.install(SHOP).await;
    let response = app
        .send("customers/create", "c-1", &fixture("customers_create.json"))
        .await;
    assert_eq!(response.status(), 200);
    app.drain().await;
    app
}

async fn balance(app: &TestApp, customer: i64) -> u16 {
    app.http
        .get(format!(
            "{}/proxy/balance?{}",
            app.address,
            proxy_query(SHOP, Some(customer))
        ))
        .send()
        .await
        .expect("request")
        .status()
        .as_u16()
}

async fn a_shopper_past_their_limit_leaves_the_shops_storefront_to_others(backend: Backend) {
    let app = shop(backend).await;
    // The greedy shopper: their burst (20), then many refused requests,
    // each of which used to take a token from the shop's bucket (200).
    let mut refused = 0;
    for _ in 0..400 {
        if balance(&app, 1).await == 429 {
            refused += 1;
        }
    }
    assert!(
        refused >= 300,
        "the greedy shopper is limited ({refused} refused)"
    );
    // Everyone else still gets in: the shop's bucket lost at most the
    // greedy shopper's own allowance.
    for other in 2..150 {
        assert_eq!(balance(&app, other).await, 200, "shopper {other}");
    }
}

async fn racing_birthday_requests_set_one_date(backend: Backend) {
    let app = shop(backend).await;
    // Sixteen: within the shopper's burst of twenty.
    let dates: Vec<String> = (1..=8)
        .flat_map(|m| [format!("{m:02}-10"), format!("{m:02}-20")])
        .collect();
    let answers = join_all(dates.iter().map(|date| {
        app.http
            .post(format!(
                "{}/proxy/birthday?{}",
                app.address,
                proxy_query(SHOP, Some(CUSTOMER))
            ))
            .json(&json!({ "birthday": date }))
            .send()
    }))
    .await;
    let statuses: Vec<u16> = answers
        .into_iter()
        .map(|a| a.expect("request").status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "one date wins: {statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 409),
        "{statuses:?}"
    );
    let stored: Option<String> =
        sqlx::query_scalar("SELECT birthday FROM customers WHERE customer_id = $1")
            .bind(CUSTOMER)
            .fetch_one(app.store.writer())
            .await
            .expect("the customer");
    assert!(
        dates.iter().any(|d| Some(d.as_str()) == stored.as_deref()),
        "{stored:?}"
    );
}
