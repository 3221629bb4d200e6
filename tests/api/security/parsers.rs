//! Hostile bodies at every webhook topic: arbitrary bytes, arbitrary JSON,
//! and Shopify's own samples with one value swapped for something hostile
//! (huge and negative numbers, wrong types, unicode, deep nesting). The
//! parsers never panic; a delivery they reject becomes a dead letter on its
//! first attempt and changes nothing else in the database.

use std::collections::BTreeMap;

use advocate::shopify::{payloads::parse_payload, webhook::WebhookTopic};
use proptest::{
    prelude::*,
    strategy::ValueTree,
    test_runner::{Config as ProptestConfig, RngAlgorithm, TestRng, TestRunner},
};
use serde_json::Value;
use sqlx::Row;

use crate::helpers::{fixture, Backend, TestApp, SHOP};

crate::on_both_backends!(a_rejected_hostile_delivery_is_a_dead_letter_and_changes_nothing_else);

/// Every topic Advocate handles, with the sample body it is mutated from.
fn topics() -> Vec<(WebhookTopic, &'static str)> {
    vec![
        (WebhookTopic::AppUninstalled, "app_uninstalled.json"),
        (WebhookTopic::CustomersCreate, "customers_create.json"),
        (WebhookTopic::CustomersUpdate, "customers_update.json"),
        (WebhookTopic::CustomersDelete, "customers_delete.json"),
        (
            WebhookTopic::CustomersDataRequest,
            "customers_data_request.json",
        ),
        (WebhookTopic::CustomersRedact, "customers_redact.json"),
        (WebhookTopic::ShopRedact, "shop_redact.json"),
        (WebhookTopic::OrdersCreate, "orders_create.json"),
        (WebhookTopic::OrdersUpdated, "orders_updated.json"),
        (WebhookTopic::OrdersPaid, "orders_paid.json"),
        (WebhookTopic::OrdersFulfilled, "orders_paid.json"),
        (WebhookTopic::OrdersCancelled, "orders_cancelled.json"),
        (WebhookTopic::RefundsCreate, "refunds_create.json"),
        (WebhookTopic::BulkOperationsFinish, "app_uninstalled.json"),
        (
            WebhookTopic::Unknown("products/create".into()),
            "app_uninstalled.json",
        ),
    ]
}

fn sample(name: &str) -> Value {
    serde_json::from_slice(&fixture(name)).expect("sample is JSON")
}

/// A hostile leaf: the values that break naive parsers and arithmetic.
fn hostile_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        prop_oneof![
            Just(i64::MIN),
            Just(i64::MAX),
            Just(-1),
            Just(0),
            Just(9_007_199_254_740_993)
        ]
        .prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
            .prop_map(Value::from),
        prop_oneof![
            Just("9223372036854775808"),
            Just("-9223372036854775809"),
            Just("1e400"),
            Just("99999999999999999999.99"),
            Just("-0.01"),
            Just("NaN"),
            Just(""),
            Just("ÉMILE ✓ \u{202e}\u{0000}"),
            Just("2026-13-45T99:99:99Z"),
            Just("gid://shopify/Customer/-1"),
        ]
        .prop_map(Value::from),
        ".{0,40}".prop_map(Value::from),
    ]
}

/// Arbitrary JSON, a few levels deep.
fn arbitrary_json() -> impl Strategy<Value = Value> {
    hostile_leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,12}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Every path to a value in `v` (object keys and array indexes).
fn paths(v: &Value, prefix: Vec<PathStep>, out: &mut Vec<Vec<PathStep>>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                let mut p = prefix.clone();
                p.push(PathStep::Key(k.clone()));
                out.push(p.clone());
                paths(child, p, out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                let mut p = prefix.clone();
                p.push(PathStep::Index(i));
                out.push(p.clone());
                paths(child, p, out);
            }
        }
        _ => {}
    }
}

#[derive(Clone, Debug)]
enum PathStep {
    Key(String),
    Index(usize),
}

fn replace(v: &mut Value, path: &[PathStep], with: Value) {
    let Some((last, parents)) = path.split_last() else {
        *v = with;
        return;
    };
    let mut at = v;
    for step in parents {
        at = match step {
            PathStep::Key(k) => &mut at[k.as_str()],
            PathStep::Index(i) => &mut at[*i],
        };
    }
    match last {
        PathStep::Key(k) => at[k.as_str()] = with,
        PathStep::Index(i) => at[*i] = with,
    }
}

/// The sample with the value at one of its paths (chosen by `pick`)
/// replaced by `with`.
fn mutated(sample: &Value, pick: usize, with: Value) -> Value {
    let mut all = Vec::new();
    paths(sample, Vec::new(), &mut all);
    let mut out = sample.clone();
    if !all.is_empty() {
        replace(&mut out, &all[pick % all.len()], with);
    }
    out
}

/// The sample with every id, amount, price and quantity at one of its
/// keys (chosen by `pick`) replaced by `with`: where overflow would hide.
fn mutated_numbers(sample: &Value, pick: usize, with: Value) -> Value {
    let mut all = Vec::new();
    paths(sample, Vec::new(), &mut all);
    let numeric = |p: &&Vec<PathStep>| {
        matches!(p.last(), Some(PathStep::Key(k)) if ["id", "price", "amount", "quantity", "total", "points"]
            .iter()
            .any(|word| k.contains(word)))
    };
    let targets: Vec<&Vec<PathStep>> = all.iter().filter(numeric).collect();
    let mut out = sample.clone();
    if let Some(key) = targets.get(pick % targets.len().max(1)) {
        let key = match key.last() {
            Some(PathStep::Key(k)) => k.clone(),
            _ => return out,
        };
        for path in all
            .iter()
            .filter(|p| matches!(p.last(), Some(PathStep::Key(k)) if *k == key))
        {
            replace(&mut out, path, with.clone());
        }
    }
    out
}

/// Bodies for one topic: raw bytes, arbitrary JSON, or the sample mutated.
fn hostile_body(sample: Value) -> impl Strategy<Value = Vec<u8>> {
    let numbers = sample.clone();
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..256),
        1 => arbitrary_json().prop_map(|v| v.to_string().into_bytes()),
        3 => (any::<usize>(), arbitrary_json())
            .prop_map(move |(pick, with)| mutated(&sample, pick, with).to_string().into_bytes()),
        3 => (any::<usize>(), hostile_leaf()).prop_map(move |(pick, with)| {
            mutated_numbers(&numbers, pick, with).to_string().into_bytes()
        }),
    ]
}

#[test]
fn no_webhook_parser_panics_on_hostile_bodies() {
    for (topic, sample_name) in topics() {
        let mut runner = TestRunner::new(ProptestConfig {
            cases: 300,
            failure_persistence: None,
            ..ProptestConfig::default()
        });
        runner
            .run(&hostile_body(sample(sample_name)), |body| {
                // A panic fails the property; Ok or Err are both answers.
                let _ = parse_payload(&topic, &body);
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{topic}: {e}"));
    }
}

#[test]
fn the_unmutated_samples_parse() {
    // The property above would pass vacuously if every sample were refused.
    for (topic, sample_name) in topics() {
        assert!(
            parse_payload(&topic, &fixture(sample_name)).is_ok(),
            "{topic} sample refused"
        );
    }
}

/// Every row of every table but the inbox, as text, for comparing the
/// database before and after a delivery.
async fn snapshot(app: &TestApp, backend: Backend) -> BTreeMap<String, Vec<String>> {
    let pool = app.store.writer();
    let tables: Vec<String> = match backend {
        Backend::Sqlite => sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' \
             AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx%'",
        ),
        Backend::Postgres => sqlx::query_scalar(
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = 'public' AND table_type = 'BASE TABLE' \
             AND table_name NOT LIKE '_sqlx%'",
        ),
    }
    .fetch_all(pool)
    .await
    .expect("list tables");
    let mut out = BTreeMap::new();
    // The inbox, its bodies kept apart, and how far intake's landed
    // deliveries were moved into it (now and by earlier versions), record
    // the delivery itself.
    const DELIVERY: [&str; 4] = [
        "webhook_inbox",
        "webhook_bodies",
        "intake_landing",
        "intake_journal",
    ];
    for table in tables
        .into_iter()
        .filter(|t| !DELIVERY.contains(&t.as_str()))
    {
        let columns: Vec<String> = match backend {
            Backend::Sqlite => {
                sqlx::query_scalar("SELECT name FROM pragma_table_info($1) ORDER BY cid")
            }
            Backend::Postgres => sqlx::query_scalar(
                "SELECT column_name::text FROM information_schema.columns \
                 WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position",
            ),
        }
        .bind(&table)
        .fetch_all(pool)
        .await
        .expect("list columns");
        let as_text = |c: &String| match backend {
            Backend::Sqlite => format!("quote(\"{c}\")"),
            Backend::Postgres => format!("COALESCE(CAST(\"{c}\" AS TEXT), 'NULL')"),
        };
        let select = columns
            .iter()
            .map(as_text)
            .collect::<Vec<_>>()
            .join(" || '|' || ");
        let rows = sqlx::query(&format!("SELECT {select} AS row_text FROM \"{table}\""))
            .fetch_all(pool)
            .await
            .unwrap_or_else(|e| panic!("read {table}: {e}"));
        let mut texts: Vec<String> = rows.iter().map(|r| r.get("row_text")).collect();
        texts.sort();
        out.insert(table, texts);
    }
    out
}

async fn a_rejected_hostile_delivery_is_a_dead_letter_and_changes_nothing_else(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.install(SHOP).await;
    // A customer and an order for the hostile deliveries to collide with.
    for (topic, name) in [
        ("customers/create", "customers_create.json"),
        ("orders/paid", "orders_paid.json"),
    ] {
        assert_eq!(
            app.send(topic, &format!("seed-{name}"), &fixture(name))
                .await
                .status(),
            200
        );
    }
    app.drain().await;

    // A fixed seed: the same cases on every run and both backends.
    let mut runner = TestRunner::new_with_rng(
        ProptestConfig::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]),
    );
    let mut rejected = 0;
    let mut case = 0;
    for (topic, sample_name) in topics() {
        if matches!(
            topic,
            WebhookTopic::AppUninstalled | WebhookTopic::ShopRedact
        ) {
            // Accepted whatever the body says beyond being JSON; an accepted
            // one would end the shop's installation for the cases after it.
            continue;
        }
        let strategy = hostile_body(sample(sample_name));
        for _ in 0..8 {
            case += 1;
            let body = strategy
                .new_tree(&mut runner)
                .expect("generate a body")
                .current();
            let before = snapshot(&app, backend).await;
            let id = format!("hostile-{case}");
            let status = app.send(topic.as_str(), &id, &body).await.status();
            assert_eq!(status, 200, "a signed delivery is stored whatever it holds");
            app.drain().await;
            let (status, last_error) = app.inbox_row(&id).await;
            assert_ne!(
                status, "queued",
                "{topic} case {case}: malformed data is not retried ({last_error:?})"
            );
            if status == "failed" {
                rejected += 1;
                let after = snapshot(&app, backend).await;
                for (table, rows) in &before {
                    assert_eq!(
                        Some(rows),
                        after.get(table),
                        "{topic} case {case}: a rejected delivery changed {table}"
                    );
                }
            }
        }
    }
    eprintln!("{backend:?}: {rejected} of {case} hostile deliveries refused");
    assert!(
        rejected >= case / 4,
        "most hostile bodies are refused ({rejected} of {case})"
    );
}
