//! The outbox: effects written with the change that causes them reach
//! Shopify exactly once, in order where order matters, through failures.

use std::{collections::BTreeSet, sync::Arc, time::Duration};

use advocate::{
    engine::effects::{DiscountValue, Effect, Refund},
    jobs::outbox::OutboxSender,
    store::{ledger, outbox},
};
use serde_json::Value;
use shopify_sim::Faults;
use sqlx::Row;

use crate::helpers::{Backend, TestApp, SHOP};

crate::on_both_backends!(
    a_thousand_effects_reach_shopify_exactly_once_through_thirty_percent_failures,
    effects_of_one_customer_apply_in_order,
    a_code_that_can_never_be_created_gives_the_points_back_once,
);

async fn shop_id(app: &TestApp) -> i64 {
    app.count(&format!("SELECT id FROM shops WHERE domain = '{SHOP}'"))
        .await
}

async fn enqueue(app: &TestApp, effects: &[(Effect, String, Option<String>)]) {
    let shop_id = shop_id(app).await;
    let mut tx = app.store.begin().await.unwrap();
    for (effect, key, ordering) in effects {
        let payload = serde_json::to_string(effect).unwrap();
        outbox::enqueue(
            &mut tx,
            shop_id,
            effect.kind(),
            &payload,
            key,
            ordering.as_deref(),
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
}

/// The effects these tests enqueue: not the install's read of the shop's
/// time zone.
const ENQUEUED: &str = "kind <> 'read_shop'";

async fn sender(app: &TestApp, name: &str, timeout: Duration) -> OutboxSender {
    OutboxSender::new(
        app.store.clone(),
        Arc::new(app.admin_api(timeout).await),
        name,
        Duration::from_secs(30),
        50,
    )
}

/// Sends until nothing is queued, moving retries forward instead of
/// waiting out their backoff.
async fn send_everything(app: &TestApp, sender: &OutboxSender) {
    for _ in 0..100 {
        sender.drain().await.unwrap();
        if app
            .count("SELECT CAST(COUNT(*) AS BIGINT) FROM outbox WHERE status = 'queued'")
            .await
            == 0
        {
            return;
        }
        sqlx::query("UPDATE outbox SET available_at = 0 WHERE status = 'queued'")
            .execute(app.store.writer())
            .await
            .unwrap();
    }
    panic!("effects still queued after 100 rounds");
}

fn code(i: usize) -> Effect {
    Effect::CreateDiscountCode {
        code: format!("ADV-{i:06}"),
        title: "Reward: 5.00 off".into(),
        customer_gid: Some(format!("gid://shopify/Customer/{i}")),
        value: DiscountValue::Amount {
            amount: "5.00".into(),
        },
        minimum_subtotal: Some("20.00".into()),
        ends_at: Some("2027-12-31T00:00:00Z".into()),
        refund: None,
    }
}

fn tag(i: usize, tag: &str) -> Effect {
    Effect::AddTags {
        customer_gid: format!("gid://shopify/Customer/{i}"),
        tags: vec![tag.into()],
    }
}

async fn a_thousand_effects_reach_shopify_exactly_once_through_thirty_percent_failures(
    backend: Backend,
) {
    let app = TestApp::spawn_with_shopify(backend, |s| s.time_scale = 50.0, |_| {}).await;
    app.install(SHOP).await;
    let mut effects: Vec<_> = (0..400)
        .map(|i| (code(i), format!("code-{i}"), None))
        .collect();
    effects.extend((0..600).map(|i| {
        (
            tag(i, "advocate-tier:gold"),
            format!("tag-{i}"),
            Some(format!("customer-{i}")),
        )
    }));
    enqueue(&app, &effects).await;
    enqueue(&app, &effects[..10]).await; // enqueued again: stored once

    app.shopify.admin(|a| {
        a.faults = Faults {
            too_many_requests: 0.075,
            server_error: 0.075,
            dropped: 0.075,
            slow: 0.075,
            slow_for: Duration::from_millis(300),
            ..Faults::default()
        }
    });
    let sender = sender(&app, "sender", Duration::from_millis(150)).await;
    send_everything(&app, &sender).await;

    assert_eq!(
        app.count(&format!(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM outbox WHERE {ENQUEUED}"
        ))
        .await,
        1000
    );
    assert_eq!(
        app.count(&format!(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM outbox WHERE status = 'done' AND {ENQUEUED}"
        ))
        .await,
        1000
    );
    let (discounts, tagged) = app.shopify.admin(|a| {
        (
            a.discounts.clone(),
            a.tags
                .values()
                .filter(|t| t.contains("advocate-tier:gold"))
                .count(),
        )
    });
    assert_eq!(discounts.len(), 400, "one code per effect, none twice");
    assert_eq!(tagged, 600);
    let rows = sqlx::query(
        "SELECT idempotency_key, result FROM outbox WHERE kind = 'create_discount_code'",
    )
    .fetch_all(app.store.writer())
    .await
    .unwrap();
    for row in rows {
        let key: String = row.get("idempotency_key");
        let result: Value = serde_json::from_str(&row.get::<String, _>("result")).unwrap();
        let i: usize = key.trim_start_matches("code-").parse().unwrap();
        let stored = &discounts[&(SHOP.to_owned(), format!("ADV-{i:06}"))];
        assert_eq!(
            result["discount_id"], stored["id"],
            "recorded id is the code's"
        );
        assert_eq!(stored["usageLimit"], 1);
        assert_eq!(
            stored["context"]["customers"]["add"][0],
            format!("gid://shopify/Customer/{i}")
        );
    }
    assert!(
        app.shopify.admin(|a| a.served) > 1000,
        "failures happened and were retried"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_senders_on_one_postgres_send_each_effect_once() {
    let app = TestApp::spawn_with_shopify(Backend::Postgres, |s| s.time_scale = 50.0, |_| {}).await;
    app.install(SHOP).await;
    // The install's read of the shop, out of the way.
    app.send_effects().await;
    let served_before = app.shopify.admin(|a| a.served);
    let effects: Vec<_> = (0..300)
        .map(|i| (tag(i, "vip"), format!("tag-{i}"), None))
        .collect();
    enqueue(&app, &effects).await;
    let (a, b) = (
        sender(&app, "sender-a", Duration::from_secs(5)).await,
        sender(&app, "sender-b", Duration::from_secs(5)).await,
    );
    let (sent_a, sent_b) = tokio::join!(a.drain(), b.drain());
    assert_eq!(sent_a.unwrap() + sent_b.unwrap(), 300);
    assert_eq!(
        app.shopify.admin(|a| a.served) - served_before,
        300,
        "one Admin API call per effect"
    );
    assert_eq!(
        app.count(
            &format!("SELECT CAST(COUNT(*) AS BIGINT) FROM outbox WHERE status = 'done' AND attempts = 1 AND {ENQUEUED}")
        )
        .await,
        300
    );
}

async fn effects_of_one_customer_apply_in_order(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.install(SHOP).await;
    let gid = "gid://shopify/Customer/42".to_owned();
    let key = Some("customer-42".to_owned());
    let effects = vec![
        (
            Effect::AddTags {
                customer_gid: gid.clone(),
                tags: vec!["tier:silver".into()],
            },
            "1".into(),
            key.clone(),
        ),
        (
            Effect::RemoveTags {
                customer_gid: gid.clone(),
                tags: vec!["tier:silver".into()],
            },
            "2".into(),
            key.clone(),
        ),
        (
            Effect::AddTags {
                customer_gid: gid.clone(),
                tags: vec!["tier:gold".into()],
            },
            "3".into(),
            key.clone(),
        ),
        (
            Effect::RemoveTags {
                customer_gid: gid.clone(),
                tags: vec!["tier:gold".into()],
            },
            "4".into(),
            key.clone(),
        ),
        (
            Effect::AddTags {
                customer_gid: gid.clone(),
                tags: vec!["tier:platinum".into()],
            },
            "5".into(),
            key,
        ),
    ];
    enqueue(&app, &effects).await;
    // Uneven answer times would reorder calls sent side by side.
    app.shopify.admin(|a| {
        a.faults = Faults {
            slow: 0.5,
            slow_for: Duration::from_millis(30),
            ..Faults::default()
        }
    });
    let sender = sender(&app, "sender", Duration::from_secs(5)).await;
    send_everything(&app, &sender).await;
    let tags = app
        .shopify
        .admin(|a| a.tags[&(SHOP.to_owned(), gid.clone())].clone());
    assert_eq!(tags, BTreeSet::from(["tier:platinum".to_owned()]));
}

async fn a_code_that_can_never_be_created_gives_the_points_back_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.install(SHOP).await;
    let shop_id = shop_id(&app).await;
    let mut tx = app.store.begin().await.unwrap();
    for (points, kind, key) in [(500, "earn", "order:1"), (-100, "redeem", "redeem:1")] {
        let entry = ledger::NewEntry::new(shop_id, 7, points, kind, "test", key);
        ledger::append(&mut tx, &entry, 0).await.unwrap();
    }
    let effect = Effect::CreateDiscountCode {
        code: "ADV-BROKEN".into(),
        title: "Reward".into(),
        customer_gid: Some("gid://shopify/Customer/7".into()),
        value: DiscountValue::Amount {
            amount: "0.00".into(),
        },
        minimum_subtotal: None,
        ends_at: None,
        refund: Some(Refund {
            customer_id: 7,
            points: 100,
            source_key: "refund:redeem:1".into(),
        }),
    };
    let payload = serde_json::to_string(&effect).unwrap();
    outbox::enqueue(&mut tx, shop_id, effect.kind(), &payload, "redeem:1", None)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let balance = || app.count("SELECT points_balance FROM customers WHERE customer_id = 7");
    assert_eq!(balance().await, 400);

    let sender = sender(&app, "sender", Duration::from_secs(5)).await;
    send_everything(&app, &sender).await;
    let mut conn = app.store.reader().acquire().await.unwrap();
    let failed = outbox::list_failed(&mut conn, shop_id).await.unwrap();
    drop(conn);
    assert_eq!(failed.len(), 1, "visible to the merchant");
    assert!(failed[0]
        .last_error
        .as_deref()
        .unwrap()
        .contains("greater than 0"));
    assert_eq!(balance().await, 500, "the points came back");

    // The merchant retries; it fails again, and refunds nothing twice.
    let mut conn = app.store.writer().acquire().await.unwrap();
    assert!(outbox::retry_failed(&mut conn, shop_id, failed[0].id)
        .await
        .unwrap());
    drop(conn);
    send_everything(&app, &sender).await;
    assert_eq!(balance().await, 500);
    assert_eq!(
        app.count("SELECT CAST(SUM(points) AS BIGINT) FROM points_ledger WHERE customer_id = 7")
            .await,
        500,
        "the balance equals the sum of the ledger"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_for_many_customers_goes_as_one_bulk_operation_above_the_threshold() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.install(SHOP).await;
    let many = |n: usize, tag: &str| Effect::TagMany {
        customer_gids: (0..n)
            .map(|i| format!("gid://shopify/Customer/{i}"))
            .collect(),
        tags: vec![tag.into()],
        remove: false,
    };
    enqueue(
        &app,
        &[
            (many(1000, "tier:gold"), "resync-gold".into(), None),
            (many(10, "tier:new"), "few".into(), None),
        ],
    )
    .await;
    let sender = sender(&app, "sender", Duration::from_secs(5)).await;
    send_everything(&app, &sender).await;
    let (tagged, bulk_runs) = app.shopify.admin(|a| {
        (
            a.tags.values().filter(|t| t.contains("tier:gold")).count(),
            a.bulk_operations.len(),
        )
    });
    assert_eq!(tagged, 1000);
    assert_eq!(
        bulk_runs, 1,
        "the large change went as one bulk operation, the small one call by call"
    );
    assert_eq!(
        app.shopify
            .admin(|a| a.tags.values().filter(|t| t.contains("tier:new")).count()),
        10
    );
}
