//! Behaviour segments: assignment on a hand-built shop (its own quintiles,
//! or the merchant's thresholds), the baseline, idempotent re-runs, a move
//! after an order with its tag swap and Flow trigger, a changed tag prefix,
//! the bulk path, the admin report, and redaction; computations written in
//! batches (the same outcome as one transaction, completed after a stop,
//! fresh facts per batch) and the report's snapshot.

use std::collections::BTreeMap;

use advocate::{engine::DAY_MS, store::now_ms};
use reqwest::Method;
use serde_json::{json, Value};

use crate::{
    helpers::{Backend, TestApp, SHOP},
    referrals::{admin, answer, deliver, order_body, update_settings, Person},
};

crate::on_both_backends!(
    customers_land_in_segments_by_the_shops_own_quintiles,
    the_merchants_thresholds_replace_the_quintiles,
    recomputing_with_nothing_changed_writes_nothing,
    a_new_order_moves_the_customer_and_swaps_the_tag_once,
    entering_at_risk_fires_the_trigger_with_the_offer,
    a_changed_tag_prefix_retags_everyone,
    a_large_baseline_goes_as_one_bulk_operation,
    the_report_shows_sizes_revenue_and_movements,
    redaction_removes_segment_data,
    with_segments_off_nothing_is_computed_or_written,
    a_customer_whose_only_order_is_cancelled_loses_the_segment_and_tag,
    an_order_while_a_resync_is_being_sent_waits_for_the_next_run,
    moves_of_more_customers_than_one_statement_takes_are_all_written_once,
    a_baseline_in_batches_writes_what_one_transaction_writes,
    a_stopped_baseline_is_completed_by_the_next_computation,
    a_batch_places_a_customer_by_orders_made_after_the_plan,
    batched_moves_after_the_baseline_keep_their_own_effects,
    the_report_is_served_from_its_snapshot_until_the_segments_change,
);

const ENTERED: &str = "advocate-segment-entered";
const HOUR_MS: i64 = 3_600_000;

fn person(id: i64) -> Person {
    Person {
        id: Some(id),
        email: format!("c{id}@example.com"),
        phone: format!("+1 555 040 {id:04}"),
        address1: format!("{id} Segment Street"),
        zip: format!("4{id:04}"),
    }
}

/// A paid order of `amount` by customer `id`, `days_ago` days ago.
fn order(order_id: i64, id: i64, amount: &str, days_ago: f64) -> Value {
    let mut body = order_body(order_id, &person(id), amount, None);
    let at = now_ms() - (days_ago * 24.0) as i64 * HOUR_MS;
    body["processed_at"] = json!(chrono::DateTime::from_timestamp_millis(at)
        .unwrap()
        .to_rfc3339());
    body
}

/// The hand-built shop. Days since the last order 1, 22, 70, 10, 200:
/// recency cut-offs [1, 10, 22, 70]; orders 4, 3, 2, 1, 1: frequency
/// [1, 1, 2, 3]; spend 400.00, 150.00, 160.00, 30.00, 20.00: monetary
/// [2000, 3000, 15000, 16000]. Intervals 30, 20 and 60 days: median 30.
///
/// | customer | r | f | segment | why |
/// |---|---|---|---|---|
/// | 1 | 5 | 5 | champions | |
/// | 2 | 3 | 4 | loyal | |
/// | 3 | 2 | 3 | at-risk | frequent, recency in the bottom two fifths |
/// | 4 | 4 | 1 | new | one order, recent |
/// | 5 | 1 | 1 | lost | |
const SHOP_ORDERS: &[(i64, i64, &str, f64)] = &[
    (101, 1, "100.00", 91.5),
    (102, 1, "100.00", 61.5),
    (103, 1, "100.00", 31.5),
    (104, 1, "100.00", 1.5),
    (201, 2, "50.00", 62.5),
    (202, 2, "50.00", 42.5),
    (203, 2, "50.00", 22.5),
    (301, 3, "80.00", 130.5),
    (302, 3, "80.00", 70.5),
    (401, 4, "30.00", 10.5),
    (501, 5, "20.00", 200.5),
];

const EXPECTED: [(i64, &str); 5] = [
    (1, "champions"),
    (2, "loyal"),
    (3, "at-risk"),
    (4, "new"),
    (5, "lost"),
];

async fn shop_with_orders(backend: Backend) -> TestApp {
    let app = TestApp::spawn(backend).await;
    app.install(SHOP).await;
    // One win-back hold-out key for every shop of these tests (it is drawn
    // at random per shop): shops compared with each other hold out the same
    // customers.
    sqlx::query(
        "INSERT INTO winback_keys (shop_id, holdout_key, created_at) \
         SELECT id, $1, 0 FROM shops WHERE domain = $2",
    )
    .bind("00".repeat(32))
    .bind(SHOP)
    .execute(app.store.writer())
    .await
    .unwrap();
    for (order_id, customer, amount, days) in SHOP_ORDERS {
        deliver(
            &app,
            "orders/paid",
            &order(*order_id, *customer, amount, *days),
        )
        .await;
    }
    app
}

async fn segment_of(app: &TestApp, customer: i64) -> Option<String> {
    sqlx::query_scalar("SELECT segment FROM customers WHERE customer_id = $1")
        .bind(customer)
        .fetch_optional(app.store.writer())
        .await
        .unwrap()
        .flatten()
}

async fn segments(app: &TestApp) -> Vec<(i64, Option<String>)> {
    let mut out = Vec::new();
    for (id, _) in EXPECTED {
        out.push((id, segment_of(app, id).await));
    }
    out
}

fn expected(list: &[(i64, &str)]) -> Vec<(i64, Option<String>)> {
    list.iter()
        .map(|(id, s)| (*id, Some((*s).to_owned())))
        .collect()
}

/// The customer's tags in the Shopify stand-in, but their tier's.
fn tags(app: &TestApp, customer: i64) -> Vec<String> {
    let gid = format!("gid://shopify/Customer/{customer}");
    app.shopify.admin(|a| {
        a.tags
            .get(&(SHOP.to_owned(), gid))
            .map(|t| {
                t.iter()
                    .filter(|t| !t.starts_with("advocate-tier:"))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    })
}

fn metafield(app: &TestApp, customer: i64) -> Option<String> {
    let key = (
        SHOP.to_owned(),
        format!("gid://shopify/Customer/{customer}"),
        "$app:advocate".to_owned(),
        "segment".to_owned(),
    );
    app.shopify.admin(|a| a.metafields.get(&key).cloned())
}

async fn outbox_rows(app: &TestApp) -> i64 {
    app.count("SELECT CAST(COUNT(*) AS BIGINT) FROM outbox")
        .await
}

async fn recompute(app: &TestApp) -> Value {
    let (status, body) = answer(admin(app, Method::POST, "/api/admin/segments/recompute")).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn customers_land_in_segments_by_the_shops_own_quintiles(backend: Backend) {
    let app = shop_with_orders(backend).await;
    assert_eq!(
        segment_of(&app, 1).await,
        None,
        "no segment before the shop's first computation"
    );
    let report = app.run_jobs(now_ms()).await;
    assert_eq!(report.segment_changes, 5);
    assert_eq!(segments(&app).await, expected(&EXPECTED));

    let (status, body) = answer(admin(&app, Method::GET, "/api/admin/segments")).await;
    assert_eq!(status, 200);
    assert_eq!(body["thresholds_source"], "derived");
    assert_eq!(
        body["thresholds"],
        json!({
            "recency_days": [1, 10, 22, 70],
            "frequency": [1, 1, 2, 3],
            "monetary_minor": [2000, 3000, 15000, 16000],
        })
    );
    assert_eq!(body["median_interval_days"], 30);

    app.send_effects().await;
    for (id, slug) in EXPECTED {
        assert_eq!(
            tags(&app, id),
            vec![format!("advocate-segment:{slug}")],
            "customer {id}"
        );
        assert_eq!(metafield(&app, id).as_deref(), Some(slug));
    }
    assert!(
        app.flow_triggers(ENTERED).is_empty(),
        "the baseline is not customers entering segments"
    );
}

async fn the_merchants_thresholds_replace_the_quintiles(backend: Backend) {
    let app = shop_with_orders(backend).await;
    update_settings(&app, |s| {
        s["segments"]["thresholds"] = json!({
            "recency_days": [30, 60, 90, 180],
            "frequency": [1, 2, 3, 4],
            "monetary_minor": [1000, 5000, 10000, 20000],
        });
    })
    .await;
    app.run_jobs(now_ms()).await;
    // Customer 3 (70 days, 2 orders) scores r3 f2 now: promising.
    assert_eq!(
        segments(&app).await,
        expected(&[
            (1, "champions"),
            (2, "loyal"),
            (3, "promising"),
            (4, "new"),
            (5, "lost"),
        ])
    );
    let (_, body) = answer(admin(&app, Method::GET, "/api/admin/segments")).await;
    assert_eq!(body["thresholds_source"], "merchant");
    assert_eq!(body["thresholds"]["recency_days"], json!([30, 60, 90, 180]));

    // Hand-set thresholds must ascend.
    let (status, program) = answer(admin(&app, Method::GET, "/api/admin/program")).await;
    assert_eq!(status, 200);
    let mut settings = program["settings"].clone();
    settings["segments"]["thresholds"]["frequency"] = json!([1, 4, 2, 8]);
    let (status, body) = answer(
        admin(&app, Method::PUT, "/api/admin/program")
            .json(&json!({ "settings": settings, "version": program["version"] })),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(body.to_string().contains("segments.thresholds"), "{body}");
}

async fn recomputing_with_nothing_changed_writes_nothing(backend: Backend) {
    let app = shop_with_orders(backend).await;
    let now = now_ms();
    app.run_jobs(now).await;
    app.send_effects().await;
    let effects = outbox_rows(&app).await;
    let changes = app
        .count("SELECT CAST(COUNT(*) AS BIGINT) FROM segment_changes")
        .await;
    let tag_calls = app.shopify.admin(|a| a.served);

    assert_eq!(
        app.run_jobs(now).await.segment_changes,
        0,
        "not due again today"
    );
    for _ in 0..2 {
        let body = recompute(&app).await;
        assert_eq!(body["recomputed"]["changed"], 0);
        assert_eq!(body["recomputed"]["customers"], 5);
    }
    app.send_effects().await;
    assert_eq!(outbox_rows(&app).await, effects, "no effect enqueued");
    assert_eq!(
        app.count("SELECT CAST(COUNT(*) AS BIGINT) FROM segment_changes")
            .await,
        changes
    );
    assert_eq!(
        app.shopify.admin(|a| a.served),
        tag_calls,
        "no call to Shopify"
    );
    assert_eq!(segments(&app).await, expected(&EXPECTED));
}

async fn a_new_order_moves_the_customer_and_swaps_the_tag_once(backend: Backend) {
    let app = shop_with_orders(backend).await;
    app.run_jobs(now_ms()).await;
    app.send_effects().await;

    // Customer 4 orders again: two orders, the last today, with the stored
    // thresholds (frequency 2 scores 3): loyal.
    deliver(&app, "orders/paid", &order(402, 4, "45.00", 0.0)).await;
    assert_eq!(segment_of(&app, 4).await.as_deref(), Some("loyal"));
    // The same order delivered again moves nothing.
    deliver(&app, "orders/updated", &order(402, 4, "45.00", 0.0)).await;
    app.send_effects().await;

    assert_eq!(tags(&app, 4), vec!["advocate-segment:loyal".to_owned()]);
    assert_eq!(metafield(&app, 4).as_deref(), Some("loyal"));
    let triggers = app.flow_triggers(ENTERED);
    assert_eq!(triggers.len(), 1, "{triggers:?}");
    let t = &triggers[0];
    assert_eq!(t["customer_id"], 4);
    assert_eq!(t["Segment"], "loyal");
    assert_eq!(t["Segment name"], "Loyal");
    assert_eq!(t["Previous segment"], "new");
    assert_eq!(t["Offer"], "none");
    assert_eq!(t["Discount code"], "");
    assert_eq!(
        app.count(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM segment_changes \
             WHERE customer_id = 4 AND from_segment = 'new' AND to_segment = 'loyal' AND baseline = 0"
        )
        .await,
        1
    );
    // Others kept theirs.
    assert_eq!(segment_of(&app, 1).await.as_deref(), Some("champions"));
}

async fn entering_at_risk_fires_the_trigger_with_the_offer(backend: Backend) {
    let app = shop_with_orders(backend).await;
    update_settings(&app, |s| {
        s["winback"]["enabled"] = json!(true);
        s["winback"]["holdout_percent"] = json!(0);
        s["winback"]["offer"] = json!({ "kind": "points", "points": 300 });
    })
    .await;
    app.run_jobs(now_ms()).await;
    app.send_effects().await;
    // Ten days on, customer 2 (every 20 days, last 22 days ago) is 32 days
    // without an order: past 150 % of their own interval.
    app.run_jobs(now_ms() + 10 * DAY_MS).await;
    assert_eq!(segment_of(&app, 2).await.as_deref(), Some("at-risk"));
    app.send_effects().await;
    let entered: Vec<Value> = app
        .flow_triggers(ENTERED)
        .into_iter()
        .filter(|t| t["customer_id"] == 2)
        .collect();
    assert_eq!(entered.len(), 1, "{entered:?}");
    assert_eq!(entered[0]["Segment"], "at-risk");
    assert_eq!(entered[0]["Segment name"], "At risk");
    assert_eq!(entered[0]["Previous segment"], "loyal");
    assert_eq!(entered[0]["Offer"], "points");
    assert_eq!(entered[0]["Offer points"], 300);
    assert_eq!(entered[0]["Discount code"], "");
    // The baseline put customer 3 in at-risk without an offer; customer 2's
    // entry opened the one episode.
    assert_eq!(
        app.count("SELECT CAST(COUNT(*) AS BIGINT) FROM winback_episodes")
            .await,
        1
    );
    assert_eq!(tags(&app, 2), vec!["advocate-segment:at-risk".to_owned()]);
}

async fn a_changed_tag_prefix_retags_everyone(backend: Backend) {
    let app = shop_with_orders(backend).await;
    app.run_jobs(now_ms()).await;
    app.send_effects().await;
    update_settings(&app, |s| s["segments"]["tag_prefix"] = json!("rfm-")).await;
    let report = app.run_jobs(now_ms()).await;
    assert_eq!(report.segment_changes, 0, "nobody moved");
    app.send_effects().await;
    for (id, slug) in EXPECTED {
        assert_eq!(tags(&app, id), vec![format!("rfm-{slug}")], "customer {id}");
    }
    assert!(app.flow_triggers(ENTERED).is_empty());
    // Settled: the next run is quiet.
    let effects = outbox_rows(&app).await;
    assert_eq!(recompute(&app).await["recomputed"]["changed"], 0);
    assert_eq!(outbox_rows(&app).await, effects);
}

async fn a_large_baseline_goes_as_one_bulk_operation(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.install(SHOP).await;
    // One order each, two days ago: everyone is new.
    let customers = 260;
    for i in 0..customers {
        let body = order(10_000 + i, 5_000 + i, "25.00", 2.0);
        let response = app
            .send(
                "orders/paid",
                &format!("bulk-{i}"),
                &serde_json::to_vec(&body).unwrap(),
            )
            .await;
        assert_eq!(response.status(), 200);
    }
    app.drain().await;
    assert_eq!(
        app.run_jobs(now_ms()).await.segment_changes,
        customers as u64
    );
    assert_eq!(
        app.count("SELECT CAST(COUNT(*) AS BIGINT) FROM outbox WHERE kind = 'tag_many'")
            .await,
        1,
        "one grouped effect for the one tag"
    );
    app.send_effects().await;
    let (tagged, bulk_runs) = app.shopify.admin(|a| {
        (
            a.tags
                .values()
                .filter(|t| t.contains("advocate-segment:new"))
                .count(),
            a.bulk_operations.len(),
        )
    });
    assert_eq!(tagged, customers as usize);
    assert_eq!(
        bulk_runs, 2,
        "the re-sync's tags and metafields went as one bulk operation each"
    );
    for customer in [5_000, 5_000 + customers - 1] {
        assert_eq!(metafield(&app, customer).as_deref(), Some("new"));
    }
    assert!(app.flow_triggers(ENTERED).is_empty());
}

async fn the_report_shows_sizes_revenue_and_movements(backend: Backend) {
    let app = shop_with_orders(backend).await;
    app.run_jobs(now_ms()).await;
    app.send_effects().await;
    deliver(&app, "orders/paid", &order(402, 4, "45.00", 0.0)).await;

    let (status, body) = answer(admin(&app, Method::GET, "/api/admin/segments?period=30d")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["customers"], 5);
    let row = |slug: &str| {
        body["segments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["slug"] == slug)
            .cloned()
            .unwrap()
    };
    // Champions: order 104 (100.00); loyal: 203 (50.00) and customer 4's
    // 401 and 402 (30.00 + 45.00); at-risk and lost: nothing in 30 days.
    assert_eq!(row("champions")["revenue_minor"], 10_000);
    assert_eq!(row("loyal")["customers"], 2);
    assert_eq!(row("loyal")["revenue_minor"], 12_500);
    assert_eq!(row("loyal")["orders"], 3);
    assert_eq!(row("loyal")["share"]["percent"], "40.0");
    assert_eq!(row("at-risk")["revenue_minor"], 0);
    assert_eq!(row("new")["customers"], 0);
    assert_eq!(body["segments"].as_array().unwrap().len(), 8);
    assert_eq!(
        body["movements"],
        json!([{ "from": "new", "from_label": "New", "to": "loyal", "to_label": "Loyal", "customers": 1 }])
    );
    // The move happened this week: the last weekly bucket.
    let weekly = row("loyal")["weekly_entries"].clone();
    let weeks = weekly.as_array().unwrap();
    assert_eq!(weeks.len(), 5);
    assert_eq!(weeks.iter().map(|w| w.as_i64().unwrap()).sum::<i64>(), 1);
    assert!(body["computed_at"].is_i64());

    // The customer list and page carry the segment.
    let (status, list) = answer(admin(&app, Method::GET, "/api/admin/customers?query=4")).await;
    assert_eq!(status, 200);
    assert_eq!(list["customers"][0]["segment"], "loyal");
    let (status, page) = answer(admin(&app, Method::GET, "/api/admin/customers/4")).await;
    assert_eq!(status, 200);
    assert_eq!(page["customer"]["segment"], "loyal");
    assert_eq!(page["segment_history"][0]["from"], "new");

    let (status, body) = answer(admin(&app, Method::GET, "/api/admin/segments?period=7d")).await;
    assert_eq!(status, 400);
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("period"),
        "{body}"
    );
}

async fn redaction_removes_segment_data(backend: Backend) {
    let app = shop_with_orders(backend).await;
    app.run_jobs(now_ms()).await;
    deliver(
        &app,
        "customers/redact",
        &json!({ "shop_id": 1, "shop_domain": SHOP, "customer": { "id": 1 }, "orders_to_redact": [] }),
    )
    .await;
    assert_eq!(segment_of(&app, 1).await, None);
    assert_eq!(
        app.count("SELECT CAST(COUNT(*) AS BIGINT) FROM segment_changes WHERE customer_id = 1")
            .await,
        0
    );
    // A redacted customer is not segmented again.
    recompute(&app).await;
    assert_eq!(segment_of(&app, 1).await, None);
    assert!(segment_of(&app, 2).await.is_some(), "the others still are");

    deliver(
        &app,
        "shop/redact",
        &json!({ "shop_id": 1, "shop_domain": SHOP }),
    )
    .await;
    for table in ["segment_changes", "segment_state"] {
        assert_eq!(
            app.count(&format!("SELECT CAST(COUNT(*) AS BIGINT) FROM {table}"))
                .await,
            0,
            "{table} emptied"
        );
    }
}

async fn with_segments_off_nothing_is_computed_or_written(backend: Backend) {
    let app = shop_with_orders(backend).await;
    update_settings(&app, |s| s["segments"]["enabled"] = json!(false)).await;
    assert_eq!(app.run_jobs(now_ms()).await.segment_changes, 0);
    let (status, body) = answer(admin(&app, Method::POST, "/api/admin/segments/recompute")).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("turned off"),
        "{body}"
    );
    deliver(&app, "orders/paid", &order(402, 4, "45.00", 0.0)).await;
    assert_eq!(
        segments(&app)
            .await
            .iter()
            .filter(|(_, s)| s.is_some())
            .count(),
        0
    );
    for table in ["segment_state", "segment_changes"] {
        assert_eq!(
            app.count(&format!("SELECT CAST(COUNT(*) AS BIGINT) FROM {table}"))
                .await,
            0,
            "{table}"
        );
    }
    assert_eq!(
        app.count(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM outbox \
             WHERE kind = 'tag_many' OR payload LIKE '%advocate-segment%'"
        )
        .await,
        0
    );
    let (_, report) = answer(admin(&app, Method::GET, "/api/admin/segments")).await;
    assert_eq!(report["enabled"], false);
    assert_eq!(report["computed_at"], Value::Null);
}

async fn a_customer_whose_only_order_is_cancelled_loses_the_segment_and_tag(backend: Backend) {
    let app = shop_with_orders(backend).await;
    app.run_jobs(now_ms()).await;
    app.send_effects().await;
    assert_eq!(tags(&app, 5), vec!["advocate-segment:lost".to_owned()]);
    let mut cancelled = order(501, 5, "20.00", 200.5);
    cancelled["cancelled_at"] = json!(chrono::Utc::now().to_rfc3339());
    deliver(&app, "orders/cancelled", &cancelled).await;
    assert_eq!(segment_of(&app, 5).await, None);
    app.send_effects().await;
    assert!(tags(&app, 5).is_empty(), "{:?}", tags(&app, 5));
    assert_eq!(metafield(&app, 5).as_deref(), Some("none"));
    assert!(
        app.flow_triggers(ENTERED).is_empty(),
        "losing a segment enters none"
    );
    let (_, report) = answer(admin(&app, Method::GET, "/api/admin/segments")).await;
    assert_eq!(report["customers"], 4);
}

async fn an_order_while_a_resync_is_being_sent_waits_for_the_next_run(backend: Backend) {
    let app = shop_with_orders(backend).await;
    // The baseline's grouped tags are still queued when customer 4 orders.
    app.run_jobs(now_ms()).await;
    deliver(&app, "orders/paid", &order(402, 4, "45.00", 0.0)).await;
    assert_eq!(
        segment_of(&app, 4).await.as_deref(),
        Some("new"),
        "a move now could reach Shopify before the bulk tag"
    );
    app.send_effects().await;
    // The next run moves them, with the shop's thresholds of now (customer
    // 4's second order shifts the cut-offs: two orders score 2, so
    // promising; customer 3, at 70 days, drops to needs attention).
    assert_eq!(recompute(&app).await["recomputed"]["changed"], 2);
    assert_eq!(segment_of(&app, 4).await.as_deref(), Some("promising"));
    app.send_effects().await;
    assert_eq!(tags(&app, 4), vec!["advocate-segment:promising".to_owned()]);
    let to_4: Vec<Value> = app
        .flow_triggers(ENTERED)
        .into_iter()
        .filter(|t| t["customer_id"] == 4)
        .collect();
    assert_eq!(to_4.len(), 1);
    assert_eq!(to_4[0]["Previous segment"], "new");
}

/// The batched writes of a re-sync (500 customers a statement): 1,201
/// moves, of which one names a segment the customer no longer has (an
/// order moved them first) and one a redacted customer. The rest move and
/// are logged once, each with its own change id, in the order given.
async fn moves_of_more_customers_than_one_statement_takes_are_all_written_once(backend: Backend) {
    use advocate::store::segments::{change_segments, SegmentMove};

    let app = TestApp::spawn(backend).await;
    app.install(SHOP).await;
    let shop_id = app
        .count(&format!("SELECT id FROM shops WHERE domain = '{SHOP}'"))
        .await;
    let now = now_ms();
    let mut tx = app.store.begin().await.unwrap();
    // Customer 7 is already "loyal"; customer 8 was redacted.
    let setup = [(7, Some("loyal"), None), (8, None, Some(now))];
    for (id, segment, redacted) in setup {
        sqlx::query(
            "INSERT INTO customers (shop_id, customer_id, segment, redacted_at, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .bind(shop_id)
        .bind(id as i64)
        .bind(segment)
        .bind(redacted)
        .bind(now)
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    let moves: Vec<SegmentMove> = (1..=1_201)
        .map(|id| SegmentMove {
            customer_id: id,
            from: None,
            to: Some(if id % 2 == 0 { "champions" } else { "new" }),
        })
        .collect();
    let changed = change_segments(&mut tx, shop_id, &moves, true, now)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let moved: Vec<i64> = changed.iter().map(|(customer, _)| *customer).collect();
    let expected: Vec<i64> = (1..=1_201).filter(|id| *id != 7 && *id != 8).collect();
    assert_eq!(
        moved, expected,
        "all but the stale and the redacted, in order"
    );
    let mut ids: Vec<i64> = changed.iter().map(|(_, id)| *id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 1_199, "one change id each");
    assert_eq!(
        app.count("SELECT CAST(COUNT(*) AS BIGINT) FROM segment_changes WHERE baseline = 1")
            .await,
        1_199
    );
    assert_eq!(
        app.count(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM customers \
             WHERE segment = 'champions' AND segment_since IS NOT NULL"
        )
        .await,
        // The even ids up to 1,200, but not 8.
        599
    );
    assert_eq!(segment_of(&app, 7).await.as_deref(), Some("loyal"));
    assert_eq!(segment_of(&app, 8).await, None);
    assert_eq!(segment_of(&app, 1_201).await.as_deref(), Some("new"));
}

async fn shop_id(app: &TestApp) -> i64 {
    app.count(&format!("SELECT id FROM shops WHERE domain = '{SHOP}'"))
        .await
}

/// Every customer's segment, history rows (from, to, baseline, time) and
/// effects, each customer's in the order they would be sent: a tag
/// effect of many customers counts for each of them.
type Outcome = BTreeMap<i64, (Option<String>, Vec<String>, Vec<String>)>;

async fn outcome(app: &TestApp) -> Outcome {
    let mut out = Outcome::new();
    let customers: Vec<(i64, Option<String>)> =
        sqlx::query_as("SELECT customer_id, segment FROM customers ORDER BY customer_id")
            .fetch_all(app.store.writer())
            .await
            .unwrap();
    for (id, segment) in customers {
        out.entry(id).or_default().0 = segment;
    }
    // (customer, from, to, baseline, created_at)
    type Change = (i64, Option<String>, Option<String>, i64, i64);
    let changes: Vec<Change> = sqlx::query_as(
        "SELECT customer_id, from_segment, to_segment, baseline, created_at \
         FROM segment_changes ORDER BY id",
    )
    .fetch_all(app.store.writer())
    .await
    .unwrap();
    for (id, from, to, baseline, at) in changes {
        out.entry(id)
            .or_default()
            .1
            .push(format!("{from:?}>{to:?} b{baseline} @{at}"));
    }
    let effects: Vec<(String, Option<String>, String)> =
        sqlx::query_as("SELECT kind, ordering_key, payload FROM outbox ORDER BY id")
            .fetch_all(app.store.writer())
            .await
            .unwrap();
    let id_of = |gid: &Value| {
        gid.as_str()
            .and_then(|g| g.rsplit('/').next())
            .and_then(|n| n.parse::<i64>().ok())
            .unwrap()
    };
    // The segments' effects: their tags, metafield and trigger.
    for (kind, ordering, payload) in effects {
        if !payload.contains("egment") {
            continue;
        }
        let p: Value = serde_json::from_str(&payload).unwrap();
        let ordering = ordering.unwrap_or_default();
        let mut each = |id: i64, what: String| {
            out.entry(id)
                .or_default()
                .2
                .push(format!("{kind} [{ordering}] {what}"))
        };
        match kind.as_str() {
            "tag_many" => {
                for gid in p["customer_gids"].as_array().unwrap() {
                    each(id_of(gid), format!("{} {}", p["remove"], p["tags"]));
                }
            }
            "set_metafields" => {
                for m in p["metafields"].as_array().unwrap() {
                    each(id_of(&m["owner_id"]), m["value"].to_string());
                }
            }
            "flow_trigger" => {
                let id = p["payload"]["customer_id"].as_i64().unwrap();
                let mut fields = p["payload"].clone();
                fields.as_object_mut().unwrap().remove("customer_id");
                each(id, fields.to_string());
            }
            _ => {
                let id = p.get("customer_gid").map_or(0, id_of);
                each(id, p.to_string());
            }
        }
    }
    out
}

fn batches(customers: usize, stop_after: Option<usize>) -> advocate::engine::segments::Batches {
    advocate::engine::segments::Batches {
        customers,
        stop_after,
    }
}

async fn recompute_in(
    app: &TestApp,
    now: i64,
    batches: advocate::engine::segments::Batches,
) -> advocate::engine::segments::Recomputed {
    advocate::engine::segments::recompute_shop_in(&app.store, shop_id(app).await, now, batches)
        .await
        .unwrap()
        .unwrap()
}

/// The hand-built shop's baseline in batches of two customers (three
/// batches, each its own transaction) against one batch: the same
/// segments, history rows and effects for every customer.
async fn a_baseline_in_batches_writes_what_one_transaction_writes(backend: Backend) {
    let now = now_ms();
    let one = shop_with_orders(backend).await;
    let whole = recompute_in(&one, now, batches(1_000, None)).await;
    let many = shop_with_orders(backend).await;
    let batched = recompute_in(&many, now, batches(2, None)).await;

    assert_eq!(
        (whole.customers, whole.changed, whole.baseline),
        (5, 5, true)
    );
    assert_eq!(
        (batched.customers, batched.changed, batched.baseline),
        (5, 5, true)
    );
    // The run's start, three batches of 2, 2 and 1, and its end.
    assert_eq!(batched.transactions, 5);
    assert_eq!(whole.transactions, 3);
    assert_eq!(segments(&many).await, expected(&EXPECTED));
    assert_eq!(outcome(&many).await, outcome(&one).await);
    assert_eq!(
        many.count(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM outbox \
             WHERE kind = 'set_metafields' AND ordering_key = 'segments'"
        )
        .await,
        3,
        "one grouped metafield effect per batch"
    );
    assert_eq!(
        many.count("SELECT CAST(COUNT(*) AS BIGINT) FROM segment_runs")
            .await,
        0,
        "the computation ended"
    );
    let state: (i64, i64) = sqlx::query_as("SELECT computed_at, run FROM segment_state")
        .fetch_one(many.store.writer())
        .await
        .unwrap();
    assert_eq!(state, (now, 1));

    many.send_effects().await;
    one.send_effects().await;
    for (id, slug) in EXPECTED {
        assert_eq!(tags(&many, id), vec![format!("advocate-segment:{slug}")]);
        assert_eq!(metafield(&many, id).as_deref(), Some(slug));
        assert_eq!(tags(&many, id), tags(&one, id));
    }
    assert!(many.flow_triggers(ENTERED).is_empty());
}

/// A baseline stopped after its first batch (as by a process stopping):
/// the customers written stay, the shop has no state yet (so orders do
/// not re-score anyone), and the next computation completes the run as it
/// began, to the outcome of an uninterrupted one.
async fn a_stopped_baseline_is_completed_by_the_next_computation(backend: Backend) {
    let now = now_ms();
    let app = shop_with_orders(backend).await;
    let stopped = recompute_in(&app, now, batches(2, Some(1))).await;
    assert_eq!(stopped.changed, 2);
    assert_eq!(
        segments(&app).await,
        vec![
            (1, Some("champions".to_owned())),
            (2, Some("loyal".to_owned())),
            (3, None),
            (4, None),
            (5, None),
        ]
    );
    assert_eq!(
        app.count("SELECT CAST(COUNT(*) AS BIGINT) FROM segment_state")
            .await,
        0
    );
    assert_eq!(
        app.count("SELECT CAST(COUNT(*) AS BIGINT) FROM segment_runs WHERE batches = 1")
            .await,
        1
    );
    // Stopped again on the next batch: still one batch further each time.
    recompute_in(&app, now + HOUR_MS, batches(2, Some(1))).await;
    assert_eq!(segment_of(&app, 4).await.as_deref(), Some("new"));
    assert_eq!(segment_of(&app, 5).await, None);

    // The next computation (the daily round) completes it, then finds
    // nothing more to do as of its own time.
    let report = app.run_jobs(now + HOUR_MS).await;
    assert_eq!(report.segment_changes, 1);
    assert_eq!(segments(&app).await, expected(&EXPECTED));
    assert_eq!(
        app.count("SELECT CAST(COUNT(*) AS BIGINT) FROM segment_runs")
            .await,
        0
    );

    let whole = shop_with_orders(backend).await;
    recompute_in(&whole, now, batches(1_000, None)).await;
    // Every history row carries the run's time, as in one transaction.
    assert_eq!(outcome(&app).await, outcome(&whole).await);
    app.send_effects().await;
    for (id, slug) in EXPECTED {
        assert_eq!(tags(&app, id), vec![format!("advocate-segment:{slug}")]);
    }
}

/// An order between two batches of the baseline: the customer's batch
/// reads their orders afresh and places them by the order (loyal, with the
/// run's thresholds), not where the plan put them (new).
async fn a_batch_places_a_customer_by_orders_made_after_the_plan(backend: Backend) {
    let now = now_ms();
    let app = shop_with_orders(backend).await;
    recompute_in(&app, now, batches(2, Some(1))).await;
    deliver(&app, "orders/paid", &order(402, 4, "45.00", 0.0)).await;
    assert_eq!(
        segment_of(&app, 4).await,
        None,
        "no re-score before the baseline is complete"
    );
    recompute_in(&app, now, batches(2, Some(1))).await;
    assert_eq!(segment_of(&app, 4).await.as_deref(), Some("loyal"));
    assert_eq!(
        app.count(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM segment_changes \
             WHERE customer_id = 4 AND from_segment IS NULL AND to_segment = 'loyal' \
               AND baseline = 1"
        )
        .await,
        1
    );
    assert_eq!(segment_of(&app, 3).await.as_deref(), Some("at-risk"));
}

/// After the baseline, a later computation's moves (ten days on, customer
/// 2 falls to at-risk) written one customer a batch: each move with its
/// own effects and trigger, as in one transaction; an order between two
/// batches moves its customer, and the rest of the run places them by
/// their orders of now.
async fn batched_moves_after_the_baseline_keep_their_own_effects(backend: Backend) {
    let now = now_ms();
    let later = now + 10 * DAY_MS;
    let mut outcomes = Vec::new();
    for size in [1_000, 1] {
        let app = shop_with_orders(backend).await;
        recompute_in(&app, now, batches(1_000, None)).await;
        app.send_effects().await;
        let done = recompute_in(&app, later, batches(size, None)).await;
        assert!(!done.baseline);
        assert_eq!(segment_of(&app, 2).await.as_deref(), Some("at-risk"));
        outcomes.push((done.changed, outcome(&app).await));
    }
    assert!(outcomes[0].0 >= 1);
    assert_eq!(outcomes[0], outcomes[1]);

    // Stopped after customer 1's batch; customer 4 orders (the shop has a
    // state and nothing grouped is queued: the order moves them at once).
    let app = shop_with_orders(backend).await;
    recompute_in(&app, now, batches(1_000, None)).await;
    app.send_effects().await;
    recompute_in(&app, later, batches(1, Some(1))).await;
    deliver(&app, "orders/paid", &order(402, 4, "45.00", 0.0)).await;
    let moved = segment_of(&app, 4).await;
    assert_ne!(moved.as_deref(), Some("new"));
    assert_eq!(
        app.count(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM segment_changes \
             WHERE customer_id = 4 AND baseline = 0",
        )
        .await,
        1
    );
    // Completed: customer 4 is placed by their orders (now two), never
    // back where the plan made before the order had them.
    recompute_in(&app, later, batches(1, None)).await;
    let last: Option<String> = sqlx::query_scalar(
        "SELECT to_segment FROM segment_changes WHERE customer_id = 4 ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(app.store.writer())
    .await
    .unwrap();
    assert_eq!(segment_of(&app, 4).await, last);
    assert_ne!(segment_of(&app, 4).await.as_deref(), Some("new"));
    assert_eq!(segment_of(&app, 2).await.as_deref(), Some("at-risk"));
}

/// `GET /api/admin/segments` answers the stored report until the segments
/// are computed again or the settings change; the background refresh
/// picks up moves made by orders.
async fn the_report_is_served_from_its_snapshot_until_the_segments_change(backend: Backend) {
    let app = shop_with_orders(backend).await;
    let get = |period: &'static str| {
        let app = &app;
        async move {
            let (status, body) = answer(admin(
                app,
                Method::GET,
                &format!("/api/admin/segments?period={period}"),
            ))
            .await;
            assert_eq!(status, 200, "{body}");
            body
        }
    };
    let before = get("90d").await;
    assert_eq!(before["computed_at"], Value::Null);
    assert!(before["snapshot_at"].is_i64());
    assert_eq!(
        app.count("SELECT CAST(COUNT(*) AS BIGINT) FROM segment_reports")
            .await,
        1,
        "the first request stored its report"
    );

    // The daily computation: the next request computes the report again.
    app.run_jobs(now_ms()).await;
    app.send_effects().await;
    let first = get("90d").await;
    assert_eq!(first["customers"], 5);
    assert!(first["computed_at"].is_i64());
    assert_eq!(get("90d").await, first, "served as stored");

    // Customer 5's only order is cancelled: the order moves them out of
    // their segment, and the stored report does not know yet.
    let mut cancelled = order(501, 5, "20.00", 200.5);
    cancelled["cancelled_at"] = json!(chrono::Utc::now().to_rfc3339());
    deliver(&app, "orders/cancelled", &cancelled).await;
    assert_eq!(segment_of(&app, 5).await, None);
    assert_eq!(get("90d").await, first);
    // The background refresh sees the moved marks.
    let refreshed = advocate::analytics::segments::refresh_changed(&app.store, "test", now_ms())
        .await
        .unwrap();
    assert_eq!(refreshed, 1);
    let fresh = get("90d").await;
    assert_eq!(fresh["customers"], 4);
    assert!(fresh["snapshot_at"].as_i64() > first["snapshot_at"].as_i64());
    assert_eq!(
        advocate::analytics::segments::refresh_changed(&app.store, "test", now_ms())
            .await
            .unwrap(),
        0,
        "nothing moved since"
    );

    // A recomputation answers and stores the fresh report.
    let recomputed = recompute(&app).await;
    let stored = get("90d").await;
    assert_eq!(stored["snapshot_at"], recomputed["snapshot_at"]);
    assert_eq!(stored["computed_at"], recomputed["computed_at"]);

    // Settings saved: the next request computes it again.
    update_settings(&app, |s| s["segments"]["tag_prefix"] = json!("rfm-")).await;
    let after = get("90d").await;
    assert_eq!(after["tag_prefix"], "rfm-");
    assert!(after["snapshot_at"].as_i64() >= stored["snapshot_at"].as_i64());
    // Each period has its own.
    assert_eq!(get("30d").await["period"], "30d");
    assert_eq!(
        app.count("SELECT CAST(COUNT(*) AS BIGINT) FROM segment_reports")
            .await,
        2
    );
}
