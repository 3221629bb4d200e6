//! The inbox processor: dead letters, retries, leases, and what each
//! foundation topic does.

use std::time::Duration;

use advocate::{
    jobs::inbox::InboxProcessor,
    store::{inbox, now_ms},
};
use sqlx::Row;

use crate::helpers::{fixture, Backend, TestApp, SHOP};

crate::on_both_backends!(
    a_signed_body_that_is_not_json_becomes_a_dead_letter_that_can_be_retried,
    customers_are_saved_and_an_older_update_changes_nothing,
    customers_delete_erases_personal_data_and_keeps_points,
    after_app_uninstalled_tokens_are_gone_and_later_webhooks_are_ignored,
    unknown_topics_are_kept_and_marked_ignored,
    order_and_refund_webhooks_go_to_the_loyalty_engine_and_rows_held_before_are_requeued,
    a_transient_failure_is_retried_with_backoff,
    a_worker_that_lost_its_lease_cannot_finish_the_row,
    two_workers_draining_one_inbox_process_each_row_once,
    workers_applying_events_of_one_order_take_turns_and_none_waits_for_a_retry,
    finished_rows_past_retention_are_removed_and_the_rest_kept,
    bodies_kept_apart_are_processed_and_cleared_with_their_rows,
);

/// Bodies the next version keeps in `webhook_bodies` (migration 0032)
/// are read from there, stay with a dead letter, and go when their row is
/// done.
async fn bodies_kept_apart_are_processed_and_cleared_with_their_rows(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let order_id = 820_982_911_946_154_500_i64;
    app.send("orders/paid", "paid", &fixture("orders_paid.json"))
        .await;
    app.send("customers/create", "failed", b"{broken").await;
    app.send("products/update", "ignored", br#"{"id":1}"#).await;
    for key in ["paid", "failed", "ignored"] {
        app.keep_body_apart(key).await;
    }
    let apart = "SELECT CAST(COUNT(*) AS BIGINT) FROM webhook_bodies";
    assert_eq!(app.count(apart).await, 3);

    app.drain().await;
    assert_eq!(app.inbox_row("paid").await.0, "done");
    assert_eq!(
        app.count(&format!(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM orders WHERE order_id = {order_id}"
        ))
        .await,
        1,
        "the order was read from the body kept apart"
    );
    let (status, note) = app.inbox_row("failed").await;
    assert_eq!(status, "failed", "{note:?}");
    assert_eq!(
        app.stored_body("failed").await,
        inbox::StoredBody::compress(b"{broken").as_bytes(),
        "a dead letter keeps its body where it is"
    );
    let kept: Vec<i64> = sqlx::query_scalar(
        "SELECT i.id FROM webhook_bodies b JOIN webhook_inbox i ON i.id = b.id \
         WHERE i.delivery_key = 'failed'",
    )
    .fetch_all(app.store.writer())
    .await
    .unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(
        app.count(apart).await,
        1,
        "the finished rows' bodies are gone"
    );

    // Purging finished rows leaves the dead letter's body alone.
    assert_eq!(
        inbox::purge_finished(&app.store, now_ms() + 1)
            .await
            .unwrap(),
        2
    );
    assert_eq!(app.count(apart).await, 1, "a dead letter is not purged");
    assert_eq!(
        app.stored_body("failed").await,
        inbox::StoredBody::compress(b"{broken").as_bytes()
    );
}

async fn finished_rows_past_retention_are_removed_and_the_rest_kept(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.send("customers/create", "done", br#"{"id":1}"#).await;
    app.send("products/update", "ignored", br#"{"id":1}"#).await;
    app.send("orders/paid", "order-done", br#"{"id":5}"#).await;
    app.send("customers/create", "failed", b"{broken").await;
    app.send("orders/paid", "order-failed", b"{broken").await;
    app.send("orders/paid", "held", br#"{"id":6}"#).await;
    // A row an earlier version left held (awaiting its handler).
    app.settle_intake().await;
    sqlx::query("UPDATE webhook_inbox SET status = 'held' WHERE delivery_key = 'held'")
        .execute(app.store.writer())
        .await
        .unwrap();
    app.drain().await;
    assert_eq!(app.inbox_row("order-done").await.0, "done");
    assert_eq!(app.inbox_row("order-failed").await.0, "failed");
    // Whatever their age, held and failed rows are kept: give them one.
    sqlx::query("UPDATE webhook_inbox SET processed_at = 1 WHERE status IN ('held', 'failed')")
        .execute(app.store.writer())
        .await
        .unwrap();
    app.send("customers/create", "queued", br#"{"id":2}"#).await;
    app.settle_intake().await;
    // Everything finished so far is older than a retention ending now + 1 s.
    let removed = inbox::purge_finished(&app.store, now_ms() + 1000)
        .await
        .unwrap();
    assert_eq!(removed, 3);
    let kept: Vec<String> =
        sqlx::query_scalar("SELECT delivery_key FROM webhook_inbox ORDER BY delivery_key")
            .fetch_all(app.store.writer())
            .await
            .unwrap();
    assert_eq!(kept, ["failed", "held", "order-failed", "queued"]);
    assert_eq!(
        inbox::purge_finished(&app.store, 0).await.unwrap(),
        0,
        "nothing newer goes"
    );
}

async fn a_signed_body_that_is_not_json_becomes_a_dead_letter_that_can_be_retried(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let response = app.send("customers/create", "broken", b"{not json").await;
    assert_eq!(
        response.status(),
        200,
        "a signed delivery is accepted before it is parsed"
    );
    app.drain().await;
    let (status, error) = app.inbox_row("broken").await;
    assert_eq!(status, "failed");
    assert!(error.unwrap().contains("not valid JSON"));

    let failed = inbox::list_failed(&app.store, SHOP, 10).await.unwrap();
    assert_eq!(failed.len(), 1, "the merchant sees the dead letter");
    assert!(
        !inbox::retry_failed(&app.store, "other-shop.myshopify.com", failed[0].id)
            .await
            .unwrap(),
        "another shop cannot retry it"
    );
    assert!(inbox::retry_failed(&app.store, SHOP, failed[0].id)
        .await
        .unwrap());
    assert_eq!(app.inbox_row("broken").await.0, "queued");
    assert_eq!(app.drain().await, 1, "the retried row is processed again");
    assert_eq!(
        app.inbox_row("broken").await.0,
        "failed",
        "and fails again, still kept"
    );
}

async fn customers_are_saved_and_an_older_update_changes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let newer = br#"{"id":7,"email":"new@example.com","first_name":"Ada","updated_at":"2026-02-01T00:00:00Z","email_marketing_consent":{"state":"subscribed"}}"#;
    let older = br#"{"id":7,"email":"old@example.com","first_name":"Ada","updated_at":"2026-01-01T00:00:00Z"}"#;
    app.send("customers/update", "newer", newer).await;
    app.drain().await;
    app.send("customers/update", "older", older).await;
    app.drain().await;
    let row =
        sqlx::query("SELECT email, email_marketing_state FROM customers WHERE customer_id = 7")
            .fetch_one(app.store.writer())
            .await
            .unwrap();
    assert_eq!(row.get::<String, _>("email"), "new@example.com");
    assert_eq!(row.get::<String, _>("email_marketing_state"), "subscribed");
    assert_eq!(app.inbox_row("older").await.0, "ignored");

    app.send(
        "customers/create",
        "sample",
        &fixture("customers_create.json"),
    )
    .await;
    app.drain().await;
    assert_eq!(
        app.count("SELECT CAST(COUNT(*) AS BIGINT) FROM customers WHERE email = 'bob@biller.com'")
            .await,
        1
    );
}

async fn customers_delete_erases_personal_data_and_keeps_points(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.send(
        "customers/create",
        "c",
        br#"{"id":8,"email":"gone@example.com","phone":"+15550001","first_name":"Gone"}"#,
    )
    .await;
    app.drain().await;
    sqlx::query("UPDATE customers SET points_balance = 120 WHERE customer_id = 8")
        .execute(app.store.writer())
        .await
        .unwrap();
    app.send("customers/delete", "d", br#"{"id":8}"#).await;
    app.drain().await;
    let row = sqlx::query("SELECT email, phone, first_name, points_balance, deleted_at FROM customers WHERE customer_id = 8")
        .fetch_one(app.store.writer())
        .await
        .unwrap();
    assert_eq!(row.get::<Option<String>, _>("email"), None);
    assert_eq!(row.get::<Option<String>, _>("phone"), None);
    assert_eq!(row.get::<Option<String>, _>("first_name"), None);
    assert_eq!(row.get::<i64, _>("points_balance"), 120);
    assert!(row.get::<Option<i64>, _>("deleted_at").is_some());

    // A late update for the deleted customer does not bring the data back.
    app.send(
        "customers/update",
        "late",
        br#"{"id":8,"email":"gone@example.com"}"#,
    )
    .await;
    app.drain().await;
    assert_eq!(
        app.count("SELECT CAST(COUNT(*) AS BIGINT) FROM customers WHERE email IS NOT NULL")
            .await,
        0
    );
}

async fn after_app_uninstalled_tokens_are_gone_and_later_webhooks_are_ignored(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.send(
        "customers/create",
        "before",
        br#"{"id":1,"email":"a@example.com"}"#,
    )
    .await;
    app.drain().await;
    sqlx::query("UPDATE shops SET access_token_enc = $1, refresh_token_enc = $1 WHERE domain = $2")
        .bind(vec![1_u8, 2, 3])
        .bind(SHOP)
        .execute(app.store.writer())
        .await
        .unwrap();

    app.send("app/uninstalled", "bye", &fixture("app_uninstalled.json"))
        .await;
    app.drain().await;
    let shop = sqlx::query(
        "SELECT status, access_token_enc, refresh_token_enc FROM shops WHERE domain = $1",
    )
    .bind(SHOP)
    .fetch_one(app.store.writer())
    .await
    .unwrap();
    assert_eq!(shop.get::<String, _>("status"), "uninstalled");
    assert_eq!(shop.get::<Option<Vec<u8>>, _>("access_token_enc"), None);
    assert_eq!(shop.get::<Option<Vec<u8>>, _>("refresh_token_enc"), None);

    let after = app
        .send(
            "customers/create",
            "after",
            br#"{"id":2,"email":"b@example.com"}"#,
        )
        .await;
    assert_eq!(after.status(), 200, "acknowledged");
    app.drain().await;
    let (status, note) = app.inbox_row("after").await;
    assert_eq!(status, "ignored");
    assert!(note.unwrap().contains("uninstalled"));
    assert_eq!(
        app.count("SELECT CAST(COUNT(*) AS BIGINT) FROM customers")
            .await,
        1
    );

    // Compliance still applies to an uninstalled shop.
    app.send(
        "customers/redact",
        "redact",
        br#"{"customer":{"id":1},"orders_to_redact":[]}"#,
    )
    .await;
    app.drain().await;
    assert_eq!(app.inbox_row("redact").await.0, "done");
}

async fn unknown_topics_are_kept_and_marked_ignored(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.send("products/update", "p", br#"{"id":1}"#).await;
    app.drain().await;
    let (status, note) = app.inbox_row("p").await;
    assert_eq!(status, "ignored");
    assert!(note.unwrap().contains("products/update"));
}

async fn order_and_refund_webhooks_go_to_the_loyalty_engine_and_rows_held_before_are_requeued(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let order_id = 820_982_911_946_154_500_i64;
    app.send("orders/paid", "paid", &fixture("orders_paid.json"))
        .await;
    app.send("refunds/create", "refund", &fixture("refunds_create.json"))
        .await;
    assert_eq!(app.drain().await, 2);
    for key in ["paid", "refund"] {
        let (status, note) = app.inbox_row(key).await;
        assert_eq!(status, "done", "{key}: {note:?}");
        assert_eq!(
            app.count(&format!(
                "SELECT order_id FROM webhook_inbox WHERE delivery_key = '{key}'"
            ))
            .await,
            order_id,
            "{key}: the row records its order"
        );
    }
    assert_eq!(
        app.count("SELECT customer_id FROM webhook_inbox WHERE delivery_key = 'paid'")
            .await,
        115_310_627_314_723_950
    );
    assert_eq!(
        app.count(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM webhook_inbox WHERE length(body) > 0 \
             OR id IN (SELECT id FROM webhook_bodies)"
        )
        .await,
        0,
        "done rows keep no body"
    );
    let order = sqlx::query(
        "SELECT customer_id, total_minor, refunded_minor FROM orders WHERE order_id = $1",
    )
    .bind(order_id)
    .fetch_one(app.store.writer())
    .await
    .unwrap();
    assert_eq!(
        order.get::<Option<i64>, _>("customer_id"),
        Some(115_310_627_314_723_950)
    );
    assert_eq!(order.get::<i64, _>("total_minor"), 40495);
    assert!(
        order.get::<i64, _>("refunded_minor") > 0,
        "the refund is applied to its order"
    );

    // Rows an earlier version held "awaiting the loyalty engine" (bodies
    // kept) are requeued when asked, topic by topic, and then processed.
    let legacy = |id: i64| {
        format!(
            r#"{{"id":{id},"customer":{{"id":42}},"currency":"USD","financial_status":"paid","total_price_set":{{"shop_money":{{"amount":"25.00","currency_code":"USD"}}}},"subtotal_price_set":{{"shop_money":{{"amount":"25.00","currency_code":"USD"}}}}}}"#
        )
    };
    app.send("orders/paid", "held-paid", legacy(7001).as_bytes())
        .await;
    app.send("orders/updated", "held-updated", legacy(7002).as_bytes())
        .await;
    app.settle_intake().await;
    sqlx::query(
        "UPDATE webhook_inbox SET status = 'held', last_error = 'awaiting the loyalty engine' \
         WHERE delivery_key IN ('held-paid', 'held-updated')",
    )
    .execute(app.store.writer())
    .await
    .unwrap();
    assert_eq!(app.drain().await, 0, "held rows are not claimed");
    assert_eq!(
        inbox::release_held(&app.store, &["orders/paid"])
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        app.inbox_row("held-paid").await.0,
        "queued",
        "held rows go back to the queue when asked"
    );
    assert_eq!(
        app.inbox_row("held-updated").await.0,
        "held",
        "only the topics asked for"
    );
    assert_eq!(app.drain().await, 1);
    assert_eq!(app.inbox_row("held-paid").await, ("done".to_owned(), None));
    assert_eq!(
        app.count("SELECT total_minor FROM orders WHERE order_id = 7001")
            .await,
        2500
    );
    assert_eq!(
        app.count("SELECT CAST(COUNT(*) AS BIGINT) FROM orders WHERE order_id = 7002")
            .await,
        0
    );
}

async fn a_transient_failure_is_retried_with_backoff(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // Take the table away so the handler fails the way a database outage would.
    sqlx::query("ALTER TABLE customers RENAME TO customers_away")
        .execute(app.store.writer())
        .await
        .unwrap();
    app.send(
        "customers/create",
        "flaky",
        br#"{"id":5,"email":"f@example.com"}"#,
    )
    .await;
    app.drain().await;
    let row = sqlx::query("SELECT status, attempts, available_at, last_error FROM webhook_inbox WHERE delivery_key = 'flaky'")
        .fetch_one(app.store.writer())
        .await
        .unwrap();
    assert_eq!(
        row.get::<String, _>("status"),
        "queued",
        "kept for a retry, not dead"
    );
    assert_eq!(row.get::<i64, _>("attempts"), 1);
    assert!(
        row.get::<i64, _>("available_at") > now_ms(),
        "retried later, not at once"
    );
    assert!(row.get::<Option<String>, _>("last_error").is_some());
    assert_eq!(app.drain().await, 0, "not before its time");

    sqlx::query("ALTER TABLE customers_away RENAME TO customers")
        .execute(app.store.writer())
        .await
        .unwrap();
    sqlx::query("UPDATE webhook_inbox SET available_at = 0")
        .execute(app.store.writer())
        .await
        .unwrap();
    assert_eq!(app.drain().await, 1);
    assert_eq!(app.inbox_row("flaky").await.0, "done");
    assert_eq!(
        app.count("SELECT CAST(COUNT(*) AS BIGINT) FROM customers")
            .await,
        1
    );
}

async fn a_worker_that_lost_its_lease_cannot_finish_the_row(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.send(
        "customers/create",
        "leased",
        br#"{"id":9,"email":"l@example.com"}"#,
    )
    .await;
    // On a SQLite file the delivery lands beside the database first: move
    // it into the inbox before claiming from there.
    app.settle_intake().await;
    // A worker claims the row and stalls past its lease.
    let stale = {
        let mut conn = app.store.writer().acquire().await.unwrap();
        inbox::claim(
            &mut conn,
            app.store.dialect(),
            "stalled-worker",
            now_ms() - 1,
            10,
        )
        .await
        .unwrap()
    };
    assert_eq!(stale.len(), 1);
    // Another worker takes it over once the lease ran out, and finishes it.
    assert_eq!(app.drain().await, 1);
    assert_eq!(app.inbox_row("leased").await.0, "done");
    // The stalled worker wakes up: its finish is refused.
    let mut tx = app.store.begin().await.unwrap();
    let finished = inbox::finish(
        &mut tx,
        stale[0].id,
        "stalled-worker",
        inbox::Finish {
            status: inbox::status::FAILED,
            note: Some("late"),
            body: inbox::KeepBody::Keep,
            customer_id: None,
            order_id: None,
        },
    )
    .await
    .unwrap();
    assert!(!finished);
    tx.rollback().await.unwrap();
    let attempts = app
        .count("SELECT attempts FROM webhook_inbox WHERE delivery_key = 'leased'")
        .await;
    assert_eq!(attempts, 2, "claimed twice, processed once");
    assert_eq!(app.inbox_row("leased").await.0, "done");
}

async fn two_workers_draining_one_inbox_process_each_row_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for i in 0..300 {
        let body = format!(r#"{{"id":{i},"email":"c{i}@example.com"}}"#);
        app.send("customers/create", &format!("row-{i}"), body.as_bytes())
            .await;
    }
    let worker =
        |name: &str| InboxProcessor::new(app.store.clone(), name, Duration::from_secs(60), 5);
    let (a, b) = (worker("worker-a"), worker("worker-b"));
    let (done_a, done_b) = tokio::join!(a.drain(), b.drain());
    assert_eq!(
        done_a.unwrap() + done_b.unwrap(),
        300,
        "every row claimed once in all"
    );
    assert_eq!(
        app.count("SELECT CAST(COUNT(*) AS BIGINT) FROM webhook_inbox WHERE status = 'done' AND attempts = 1").await,
        300
    );
    assert_eq!(
        app.count("SELECT CAST(COUNT(*) AS BIGINT) FROM customers")
            .await,
        300
    );
}

/// A hot order: 120 events of the same order (as `orders/updated` arrives
/// again and again while staff edit it), drained by four workers at once.
/// On PostgreSQL they run in parallel and would each read the same version
/// of the order; they take turns on its row instead, so every event is
/// applied at its first claim and none is put off for a retry.
async fn workers_applying_events_of_one_order_take_turns_and_none_waits_for_a_retry(
    backend: Backend,
) {
    use crate::referrals::{order_body, Person};

    let app = TestApp::spawn(backend).await;
    app.install(SHOP).await;
    let buyer = Person {
        id: Some(77),
        email: "hot@example.com".into(),
        phone: "+1 555 010 7777".into(),
        address1: "1 Hot Street".into(),
        zip: "10001".into(),
    };
    let body = serde_json::to_vec(&order_body(4_242, &buyer, "80.00", None)).unwrap();
    for i in 0..120 {
        app.send("orders/updated", &format!("hot-{i}"), &body).await;
    }
    let worker =
        |name: String| InboxProcessor::new(app.store.clone(), name, Duration::from_secs(60), 5);
    let drained = futures_util::future::join_all(
        (0..4).map(|i| async move { worker(format!("worker-{i}")).drain().await.unwrap() }),
    )
    .await;
    assert_eq!(drained.iter().sum::<usize>(), 120, "each row claimed once");
    assert_eq!(
        app.count(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM webhook_inbox \
             WHERE status = 'done' AND attempts = 1 AND last_error IS NULL"
        )
        .await,
        120,
        "every event applied at its first claim"
    );
    assert_eq!(
        app.count("SELECT CAST(COUNT(*) AS BIGINT) FROM orders WHERE order_id = 4242")
            .await,
        1
    );
}
