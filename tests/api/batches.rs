//! Order events applied in batches give what they give one at a time: the
//! same ledger, balances, tiers and orders, whatever order the events of
//! an order arrive in and however often; one delivery that cannot be
//! applied does not hold up the rest of its batch; and processes sharing
//! one PostgreSQL database apply each delivery once.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{json, Value};

use crate::{
    helpers::{eventually, sign, webhook_request, Backend, TestApp, SECRET, SHOP},
    loyalty::{order, points, refund, send_json},
    processes::{connect, scalar, Advocate},
};

crate::on_both_backends!(
    a_batch_of_an_orders_events_in_any_order_gives_the_ledger_of_one_at_a_time,
    a_poisoned_delivery_is_dead_lettered_alone_and_the_rest_of_its_batch_applies,
    a_backlog_of_many_claims_is_drained_whole_and_each_delivery_applied_once,
    a_tier_reached_twice_in_one_batch_is_rewarded_once,
);

/// The events of one order: paid, two refunds and a cancellation.
fn events(order_id: i64, customer: i64) -> Vec<(&'static str, Value)> {
    let mut cancelled = order(order_id, Some(customer), "1000.00");
    cancelled["cancelled_at"] = json!(crate::helpers::ago(3_600_000));
    vec![
        ("orders/paid", order(order_id, Some(customer), "1000.00")),
        (
            "refunds/create",
            refund(order_id * 10 + 1, order_id, "300.00"),
        ),
        (
            "refunds/create",
            refund(order_id * 10 + 2, order_id, "200.00"),
        ),
        ("orders/cancelled", cancelled),
    ]
}

/// Every order of `items`.
fn permutations(items: Vec<usize>) -> Vec<Vec<usize>> {
    if items.len() <= 1 {
        return vec![items];
    }
    let mut all = Vec::new();
    for (i, first) in items.iter().enumerate() {
        let mut rest = items.clone();
        rest.remove(i);
        for mut tail in permutations(rest) {
            tail.insert(0, *first);
            all.push(tail);
        }
    }
    all
}

/// What a customer ends with: the ledger's (kind, points), sorted, their
/// spendable and pending points and their tier; and what their order
/// holds.
async fn outcome(app: &TestApp, customer: i64, order_id: i64) -> (Vec<(String, i64)>, String) {
    let mut ledger: Vec<(String, i64)> = sqlx::query_as(&format!(
        "SELECT kind, CAST(points AS BIGINT) FROM points_ledger WHERE customer_id = {customer}"
    ))
    .fetch_all(app.store.writer())
    .await
    .unwrap();
    ledger.sort();
    let (balance, pending) = points(app, customer).await;
    let tier: Option<(Option<String>, i64)> = sqlx::query_as(&format!(
        "SELECT tier_id, CAST(tier_seq AS BIGINT) FROM customers WHERE customer_id = {customer}"
    ))
    .fetch_optional(app.store.writer())
    .await
    .unwrap();
    let (net, state, refunded, spend): (i64, String, i64, i64) = sqlx::query_as(&format!(
        "SELECT CAST(points_net AS BIGINT), award_state, CAST(refunded_minor AS BIGINT), \
         CAST(spend_minor AS BIGINT) FROM orders WHERE order_id = {order_id}"
    ))
    .fetch_one(app.store.writer())
    .await
    .unwrap();
    let summary = format!(
        "balance {balance} pending {pending} tier {tier:?} \
         order net {net} {state} refunded {refunded} spend {spend}"
    );
    (ledger, summary)
}

async fn a_batch_of_an_orders_events_in_any_order_gives_the_ledger_of_one_at_a_time(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let orders = permutations(vec![0, 1, 2, 3]);
    assert_eq!(orders.len(), 24);
    // In batches: every delivery of every order stored first, each event
    // twice (under two delivery ids, as Shopify sends one fact under
    // several topics), then one drain.
    for (k, order_of_events) in orders.iter().enumerate() {
        let (order_id, customer) = (10_000 + k as i64, 30_000 + k as i64);
        let events = events(order_id, customer);
        for copy in 0..2 {
            for &i in order_of_events {
                let (topic, body) = &events[i];
                send_json(&app, topic, &format!("batch-{k}-{i}-{copy}"), body).await;
            }
        }
    }
    app.drain().await;
    // One at a time: each delivery drained before the next is sent.
    for (k, order_of_events) in orders.iter().enumerate() {
        let (order_id, customer) = (20_000 + k as i64, 40_000 + k as i64);
        let events = events(order_id, customer);
        for &i in order_of_events {
            let (topic, body) = &events[i];
            send_json(&app, topic, &format!("one-{k}-{i}"), body).await;
            assert_eq!(app.drain().await, 1);
        }
    }
    assert_eq!(
        app.count("SELECT COUNT(*) FROM webhook_inbox WHERE status <> 'done'")
            .await,
        0
    );
    for (k, order_of_events) in orders.iter().enumerate() {
        let k = k as i64;
        let batched = outcome(&app, 30_000 + k, 10_000 + k).await;
        let alone = outcome(&app, 40_000 + k, 20_000 + k).await;
        assert_eq!(batched, alone, "events in the order {order_of_events:?}");
        if order_of_events[0] == 0 {
            assert!(
                !batched.0.is_empty(),
                "paid first, it earned: {order_of_events:?}"
            );
        }
    }
}

async fn a_poisoned_delivery_is_dead_lettered_alone_and_the_rest_of_its_batch_applies(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let (poisoned, others) = (50_001, [50_002, 50_003, 50_004]);
    send_json(
        &app,
        "orders/paid",
        "first",
        &order(60_000, Some(poisoned), "10.00"),
    )
    .await;
    app.drain().await;
    // A balance at the top of the stored range: the next order's points
    // cannot be added (the database refuses it), a failure that no retry
    // can mend.
    sqlx::query(&format!(
        "UPDATE customers SET points_balance = 1000000000000000, \
         points_pending = 1000000000000000 WHERE customer_id = {poisoned}"
    ))
    .execute(app.store.writer())
    .await
    .unwrap();
    for (i, customer) in others.iter().enumerate() {
        let id = 60_001 + i as i64;
        send_json(
            &app,
            "orders/paid",
            &format!("o{i}"),
            &order(id, Some(*customer), "100.00"),
        )
        .await;
        if i == 1 {
            let body = order(60_100, Some(poisoned), "100.00");
            send_json(&app, "orders/paid", "poisoned", &body).await;
        }
    }
    app.drain().await;
    assert_eq!(app.inbox_row("poisoned").await.0, "failed");
    for (i, customer) in others.iter().enumerate() {
        assert_eq!(app.inbox_row(&format!("o{i}")).await.0, "done");
        let (balance, pending) = points(&app, *customer).await;
        assert!(balance + pending > 0, "customer {customer} earned");
    }
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM points_ledger WHERE customer_id = {poisoned}"
        ))
        .await,
        1,
        "nothing of the poisoned order is kept"
    );
}

/// A backlog several claims long (on SQLite each next claim is taken and
/// parsed while the one before is applied), with refunds behind their
/// orders and a customer's update in the middle: one drain processes every
/// row once, leaves none claimed, and every balance is its ledger's sum.
async fn a_backlog_of_many_claims_is_drained_whole_and_each_delivery_applied_once(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let orders = 700;
    for i in 0..orders {
        let body = order(90_000 + i, Some(95_000 + i % 12), "25.00");
        send_json(&app, "orders/paid", &format!("paid-{i}"), &body).await;
        if i == 350 {
            let customer = json!({"id": 95_003, "email": "backlog@example.com"});
            send_json(&app, "customers/update", "customer", &customer).await;
        }
    }
    for i in (0..orders).step_by(100) {
        let body = refund(900_000 + i, 90_000 + i, "5.00");
        send_json(&app, "refunds/create", &format!("refund-{i}"), &body).await;
    }
    let rows = orders as usize + 1 + 7;
    assert_eq!(app.drain().await, rows, "every row once, in one drain");
    assert_eq!(app.drain().await, 0, "none left claimed or queued");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM webhook_inbox WHERE status <> 'done'")
            .await,
        0
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM webhook_inbox WHERE lease_owner IS NOT NULL AND status = 'queued'")
            .await,
        0
    );
    assert_eq!(
        app.count("SELECT COUNT(DISTINCT order_id) FROM points_ledger WHERE kind = 'earn'")
            .await,
        orders
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM points_ledger WHERE kind = 'earn'")
            .await,
        orders,
        "one earning per order"
    );
    assert_eq!(
        app.count("SELECT COUNT(DISTINCT order_id) FROM points_ledger WHERE points < 0")
            .await,
        7,
        "each refund takes back from its order once"
    );
    for customer in 95_000..95_012 {
        points(&app, customer).await;
    }
}

/// Two processes on one PostgreSQL database, sent the paid orders of a few
/// customers (every customer's orders through both): each delivery is
/// applied once, and every balance is the sum of its ledger.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_batching_orders_of_the_same_customers_apply_each_once() {
    let db = crate::helpers::TestDb::new(Backend::Postgres).await;
    let mut a = Advocate::start(&db.url).await;
    let mut b = Advocate::start(&db.url).await;
    let http = reqwest::Client::new();
    let total = 600;
    let results: Vec<u16> = futures_util::stream::iter(0..total)
        .map(|i| {
            let address = if i % 2 == 0 {
                a.address.clone()
            } else {
                b.address.clone()
            };
            let http = http.clone();
            async move {
                let body = order(70_000 + i, Some(80_000 + i % 12), "25.00").to_string();
                let request = webhook_request(
                    &http,
                    &address,
                    SHOP,
                    "orders/paid",
                    &format!("order-{i}"),
                    body.as_bytes(),
                    &sign(SECRET, body.as_bytes()),
                );
                request.send().await.map_or(0, |r| r.status().as_u16())
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    assert!(
        results.iter().all(|s| *s == 200),
        "every delivery acknowledged"
    );
    let store = connect(&db.url).await;
    eventually(
        Duration::from_secs(120),
        "the inbox to be processed",
        || async {
            scalar(
                &store,
                "SELECT CAST(COUNT(*) AS BIGINT) FROM webhook_inbox WHERE status <> 'done'",
            )
            .await
                == 0
        },
    )
    .await;
    let earned: i64 = scalar(
        &store,
        "SELECT CAST(COUNT(DISTINCT order_id) AS BIGINT) FROM points_ledger WHERE kind = 'earn'",
    )
    .await;
    let entries: i64 = scalar(
        &store,
        "SELECT CAST(COUNT(*) AS BIGINT) FROM points_ledger WHERE kind = 'earn'",
    )
    .await;
    assert_eq!((earned, entries), (total, total), "one earning per order");
    let off: i64 = scalar(
        &store,
        "SELECT CAST(COUNT(*) AS BIGINT) FROM customers c WHERE c.points_balance + c.points_pending \
         <> (SELECT COALESCE(SUM(l.points), 0) FROM points_ledger l \
             WHERE l.shop_id = c.shop_id AND l.customer_id = c.customer_id)",
    )
    .await;
    assert_eq!(off, 0, "every balance is the sum of its ledger");
    let owners: i64 = scalar(
        &store,
        "SELECT CAST(COUNT(DISTINCT split_part(processed_by, '-', 1)) AS BIGINT) FROM webhook_inbox",
    )
    .await;
    assert_eq!(owners, 2, "both processes took part");
    a.stop().await;
    b.stop().await;
}

async fn a_tier_reached_twice_in_one_batch_is_rewarded_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // Silver (250.00), lost to a full refund, reached again by a second
    // order: the entry reward is once per customer and tier, ever.
    let events = |first: i64, customer: i64| {
        vec![
            ("orders/paid", order(first, Some(customer), "300.00")),
            ("refunds/create", refund(first * 10, first, "300.00")),
            ("orders/paid", order(first + 1, Some(customer), "300.00")),
        ]
    };
    let (batched, alone) = (60_001, 60_002);
    for (i, (topic, body)) in events(70_000, batched).iter().enumerate() {
        send_json(&app, topic, &format!("twice-batch-{i}"), body).await;
    }
    assert_eq!(app.drain().await, 3, "one batch");
    for (i, (topic, body)) in events(80_000, alone).iter().enumerate() {
        send_json(&app, topic, &format!("twice-alone-{i}"), body).await;
        assert_eq!(app.drain().await, 1);
    }
    for customer in [batched, alone] {
        let rewards = app
            .count(&format!(
                "SELECT COUNT(*) FROM points_ledger WHERE customer_id = {customer} \
                 AND kind = 'tier_entry'"
            ))
            .await;
        assert_eq!(rewards, 1, "customer {customer}");
        let moves = app
            .count(&format!(
                "SELECT COUNT(*) FROM tier_changes WHERE customer_id = {customer}"
            ))
            .await;
        assert_eq!(moves, 3, "up, down, up again: customer {customer}");
    }
    // The balance is the ledger's sum (checked by `points`), the same both ways.
    assert_eq!(points(&app, batched).await, points(&app, alone).await);
}
