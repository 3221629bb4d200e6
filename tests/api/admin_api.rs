//! The Admin GraphQL client against the stand-in: pacing by cost, retries
//! of injected failures, 401 handling, typed user errors.

use std::time::Duration;

use advocate::shopify::{
    admin::{self, api::AdminApiError, client::ShopifyError},
    ShopDomain,
};
use futures_util::StreamExt;
use serde_json::{json, Value};
use shopify_sim::Faults;

use crate::helpers::{Backend, TestApp, SHOP};

crate::on_both_backends!(
    a_sustained_stream_runs_at_the_restore_rate_without_being_throttled,
    injected_failures_are_retried_until_every_change_lands,
    a_401_refreshes_the_token_once_and_a_second_401_marks_the_shop,
    refusals_come_back_as_typed_user_errors,
    a_bulk_query_runs_then_its_result_streams_line_by_line_with_children_after_parents,
);

fn shop() -> ShopDomain {
    ShopDomain::parse(SHOP).unwrap()
}

async fn tag_customers(
    api: &admin::api::AdminApi,
    range: std::ops::Range<u64>,
    concurrency: usize,
) {
    let shop = shop();
    let shop = &shop;
    let results: Vec<Result<Value, AdminApiError>> = futures_util::stream::iter(range)
        .map(|i| {
            api.call(
                shop,
                admin::TAGS_ADD,
                json!({ "id": format!("gid://shopify/Customer/{i}"), "tags": ["advocate-tier:gold"] }),
            )
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    for result in results {
        let payload = result.expect("every call succeeds");
        admin::client::user_errors(&payload["tagsAdd"]).expect("no user errors");
    }
}

async fn a_sustained_stream_runs_at_the_restore_rate_without_being_throttled(backend: Backend) {
    // Standard plan (100 points/s, bucket 1,000) at twenty times speed.
    let app = TestApp::spawn_with_shopify(backend, |s| s.time_scale = 20.0, |_| {}).await;
    app.install(SHOP).await;
    let api = app.admin_api(Duration::from_secs(5)).await;
    let calls = 600; // 6,000 points: the bucket drains five times over
    tag_customers(&api, 0..calls, 4).await;
    let (throttled, tagged) = app.shopify.admin(|a| {
        (
            a.throttled,
            a.tags
                .values()
                .filter(|t| t.contains("advocate-tier:gold"))
                .count(),
        )
    });
    assert_eq!(tagged as u64, calls);
    assert_eq!(throttled, 0, "paced by the bucket, never throttled");
    assert_eq!(api.client.stats().throttled, 0);
}

async fn injected_failures_are_retried_until_every_change_lands(backend: Backend) {
    let app = TestApp::spawn_with_shopify(backend, |s| s.time_scale = 50.0, |_| {}).await;
    app.install(SHOP).await;
    app.shopify.admin(|a| {
        a.faults = Faults {
            too_many_requests: 0.1,
            server_error: 0.1,
            dropped: 0.1,
            slow: 0.1,
            slow_for: Duration::from_millis(400),
            ..Faults::default()
        }
    });
    let api = app.admin_api(Duration::from_millis(200)).await;
    tag_customers(&api, 0..200, 8).await;
    let tagged = app.shopify.admin(|a| a.tags.len());
    assert_eq!(tagged, 200);
    assert!(
        api.client.stats().retried > 20,
        "failures were injected and retried"
    );
}

async fn a_401_refreshes_the_token_once_and_a_second_401_marks_the_shop(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.install(SHOP).await;
    let api = app.admin_api(Duration::from_secs(5)).await;

    app.shopify.expire_access_tokens(SHOP);
    let data: Value = api
        .call(&shop(), admin::SHOP, json!({}))
        .await
        .expect("refreshed and retried");
    assert_eq!(data["shop"]["currencyCode"], "USD");
    assert_eq!(app.shopify.refreshes(), 1);

    app.shopify.refuse_access(SHOP, true);
    let refused = api.call::<Value>(&shop(), admin::SHOP, json!({})).await;
    assert!(
        matches!(
            refused,
            Err(AdminApiError::Shopify(ShopifyError::Unauthorized))
        ),
        "{refused:?}"
    );
    assert_eq!(
        app.shopify.refreshes(),
        2,
        "one refresh per refusal, not a loop"
    );
    assert_eq!(
        app.count(&format!(
            "SELECT needs_reauth FROM shops WHERE domain = '{SHOP}'"
        ))
        .await,
        1
    );
}

async fn refusals_come_back_as_typed_user_errors(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.install(SHOP).await;
    let api = app.admin_api(Duration::from_secs(5)).await;
    let discount = json!({ "discount": {
        "title": "100 points reward", "code": "ADV-TEST-1",
        "context": { "customers": { "add": ["gid://shopify/Customer/1"] } },
        "customerGets": { "value": { "discountAmount": { "amount": "5.00", "appliesOnEachItem": false } }, "items": { "all": true } },
        "usageLimit": 1, "appliesOncePerCustomer": true
    }});
    let created: Value = api
        .call(&shop(), admin::DISCOUNT_CODE_BASIC_CREATE, discount.clone())
        .await
        .unwrap();
    admin::client::user_errors(&created["discountCodeBasicCreate"]).unwrap();
    let again: Value = api
        .call(&shop(), admin::DISCOUNT_CODE_BASIC_CREATE, discount)
        .await
        .unwrap();
    match admin::client::user_errors(&again["discountCodeBasicCreate"]) {
        Err(ShopifyError::UserErrors(errors)) => {
            assert_eq!(errors[0].code.as_deref(), Some("TAKEN"))
        }
        other => panic!("expected TAKEN, got {other:?}"),
    }
    let found: Value = api
        .call(
            &shop(),
            admin::DISCOUNT_BY_CODE,
            json!({ "code": "ADV-TEST-1" }),
        )
        .await
        .unwrap();
    assert_eq!(
        found["codeDiscountNodeByCode"]["id"],
        created["discountCodeBasicCreate"]["codeDiscountNode"]["id"]
    );

    let bad_tag: Value = api
        .call(
            &shop(),
            admin::TAGS_ADD,
            json!({ "id": "gid://shopify/Customer/1", "tags": [""] }),
        )
        .await
        .unwrap();
    assert!(matches!(
        admin::client::user_errors(&bad_tag["tagsAdd"]),
        Err(ShopifyError::UserErrors(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_mutation_tags_many_customers_in_one_operation() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.install(SHOP).await;
    let api = app.admin_api(Duration::from_secs(5)).await;
    let variables: Vec<Value> = (0..2500)
        .map(|i| json!({ "id": format!("gid://shopify/Customer/{i}"), "tags": ["advocate-tier:gold"] }))
        .collect();
    let calls_before = api.client.stats().calls;
    let result = admin::bulk::run_bulk_mutation(
        &api,
        &reqwest::Client::new(),
        &shop(),
        admin::TAGS_ADD,
        &variables,
        Duration::from_millis(20),
    )
    .await
    .unwrap();
    assert_eq!(result.status, "COMPLETED");
    assert_eq!(result.object_count.as_deref(), Some("2500"));
    assert_eq!(app.shopify.admin(|a| a.tags.len()), 2500);
    assert!(
        api.client.stats().calls - calls_before <= 4,
        "a handful of calls, not one per customer"
    );
}

/// A shop's history read the way the history import reads it: a bulk
/// query started (one at a time per shop, as on Shopify), polled until it
/// completes, and its JSONL result streamed: every customer once; the
/// orders since a date, each followed by its line items carrying
/// `__parentId`.
async fn a_bulk_query_runs_then_its_result_streams_line_by_line_with_children_after_parents(
    backend: Backend,
) {
    use admin::bulk::{self, JsonLines};
    use shopify_sim::history;

    let app = TestApp::spawn(backend).await;
    app.install(SHOP).await;
    app.shopify.set_history(SHOP, 60, 400);
    let api = app.admin_api(Duration::from_secs(5)).await;
    let shop = shop();

    let id = bulk::start_bulk_query(&api, &shop, admin::HISTORY_CUSTOMERS.text)
        .await
        .unwrap();
    let second = bulk::start_bulk_query(&api, &shop, admin::HISTORY_CUSTOMERS.text).await;
    assert!(
        matches!(
            second,
            Err(AdminApiError::Shopify(ShopifyError::UserErrors(_)))
        ),
        "one bulk query at a time: {second:?}"
    );
    let unknown = bulk::bulk_query_status(&api, &shop, "gid://shopify/BulkOperation/1")
        .await
        .unwrap();
    assert!(unknown.is_none(), "no such query: {unknown:?}");
    let mut polls = 0;
    let done = loop {
        let status = bulk::bulk_query_status(&api, &shop, &id)
            .await
            .unwrap()
            .expect("the query is known");
        polls += 1;
        if !status.is_running() {
            break status;
        }
    };
    assert!(polls >= 2, "it ran for a while");
    assert_eq!(done.status, "COMPLETED");
    assert_eq!(done.object_count, 60);
    let mut lines = JsonLines::open(&app.http, done.url.as_deref().unwrap())
        .await
        .unwrap();
    let mut emails = Vec::new();
    while let Some((_, customer)) = lines.next().await.unwrap() {
        assert!(customer["id"]
            .as_str()
            .unwrap()
            .starts_with("gid://shopify/Customer/"));
        emails.push(
            customer["defaultEmailAddress"]["emailAddress"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(emails, (0..60).map(history::email).collect::<Vec<_>>());

    // The orders of the last year, each followed by its line items.
    let since = (chrono::Utc::now() - chrono::Duration::days(365)).date_naive();
    let id = bulk::start_bulk_query(&api, &shop, &bulk::history_orders_query(since))
        .await
        .unwrap();
    let done = loop {
        let status = bulk::bulk_query_status(&api, &shop, &id)
            .await
            .unwrap()
            .expect("the query is known");
        if !status.is_running() {
            break status;
        }
    };
    let mut lines = JsonLines::open(&app.http, done.url.as_deref().unwrap())
        .await
        .unwrap();
    let (mut orders, mut items, mut last_order) = (Vec::new(), 0, String::new());
    let mut numbers = Vec::new();
    while let Some((number, object)) = lines.next().await.unwrap() {
        numbers.push(number);
        match object.get("__parentId").and_then(Value::as_str) {
            Some(parent) => {
                assert_eq!(parent, last_order, "a line item follows its order");
                items += 1;
            }
            None => {
                last_order = object["id"].as_str().unwrap().to_owned();
                assert!(object["processedAt"].as_str().unwrap() >= since.to_string().as_str());
                orders.push(last_order.clone());
            }
        }
    }
    let at = app.shopify.admin(|a| a.history[SHOP].now);
    let expected: Vec<history::OrderFacts> = (0..400)
        .map(|j| history::order_facts(j, 60, at))
        .filter(|o| o.processed_at.date_naive() >= since)
        .collect();
    assert!(
        expected.len() > 100 && expected.len() < 300,
        "{}",
        expected.len()
    );
    assert_eq!(
        orders,
        expected
            .iter()
            .map(|o| format!("gid://shopify/Order/{}", o.id))
            .collect::<Vec<_>>()
    );
    assert_eq!(items, expected.iter().map(|o| o.lines.len()).sum::<usize>());
    assert_eq!(done.object_count, (orders.len() + items) as u64);
    assert_eq!(numbers, (1..=numbers.len() as u64).collect::<Vec<_>>());
}
