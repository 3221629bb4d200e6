//! Storing a group-committed batch of deliveries: one statement on
//! PostgreSQL, chunks on SQLite, the same rows either way; and intake that
//! answers while another transaction holds the database.

use advocate::store::{
    inbox::{insert_deliveries, NewDelivery, StoredBody},
    DatabaseUrl, Store,
};
use sqlx::Row;

use crate::helpers::{Backend, TestApp, TestDb};

crate::on_both_backends!(
    a_large_batch_is_stored_whole_with_its_bytes_and_its_duplicates_once,
    a_batch_that_cannot_be_stored_leaves_nothing,
    a_delivery_is_acknowledged_while_a_write_transaction_holds_the_database,
);

/// A long write transaction (an inbox batch, a history import's chunk, a
/// scheduled job) holds the database's write lock on SQLite: intake, which
/// writes to its own journal, still acknowledges, and the delivery
/// reaches the inbox once the transaction ends. Were intake to wait for
/// that lock, the answer would never come while the test holds it.
async fn a_delivery_is_acknowledged_while_a_write_transaction_holds_the_database(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.install(crate::helpers::SHOP).await;
    let mut held = app.store.begin().await.unwrap();
    sqlx::query("UPDATE shops SET updated_at = updated_at + 1")
        .execute(&mut *held)
        .await
        .unwrap();
    let body = crate::helpers::fixture("orders_paid.json");
    let answered = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        app.send("orders/paid", "while-held", &body),
    )
    .await
    .expect("acknowledged while the database's write lock is held");
    assert_eq!(answered.status(), 200);
    held.commit().await.unwrap();
    app.drain().await;
    assert_eq!(app.inbox_row("while-held").await.0, "done");
}

fn delivery(i: usize) -> NewDelivery {
    // Every byte value, and a body that does not compress, so the stored
    // bytes are far from text.
    let mut raw: Vec<u8> = (0..=255u8).collect();
    raw.extend((0..64).map(|_| rand::random::<u8>()));
    raw.extend(format!("{{\"n\":{i},\"name\":\"Zoë \\\"quoted\\\" \\u0000\"}}").bytes());
    NewDelivery {
        shop_domain: "batch-shop.myshopify.com".into(),
        delivery_key: format!("key-{i}"),
        webhook_id: i.is_multiple_of(2).then(|| format!("wh-{i}")),
        event_id: i.is_multiple_of(3).then(|| format!("ev-'{i}'")),
        topic: "orders/paid".into(),
        api_version: Some("2026-07".into()),
        triggered_at: i.is_multiple_of(5).then(|| "2026-12-05T10:00:00Z".into()),
        body: StoredBody::compress(&raw),
        received_at: 1_700_000_000_000 + i as i64,
        request_id: i.is_multiple_of(7).then(|| format!("req-{i}")),
    }
}

async fn store(db: &TestDb) -> Store {
    let store = Store::connect(&DatabaseUrl::parse(db.url.clone()).unwrap(), 2)
        .await
        .unwrap();
    store.migrate().await.unwrap();
    store
}

async fn a_large_batch_is_stored_whole_with_its_bytes_and_its_duplicates_once(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = store(&db).await;
    // Past SQLite's chunk of rows per statement, with a delivery repeated
    // inside the batch and one stored before.
    let mut batch: Vec<NewDelivery> = (0..700).map(delivery).collect();
    batch.push(delivery(3));
    // The inbox's own insert: intake's on PostgreSQL, the mover's (from
    // the journal) on SQLite.
    let pool = match backend {
        Backend::Postgres => store.intake_pool(),
        Backend::Sqlite => store.writer(),
    };
    let mut conn = pool.acquire().await.unwrap();
    let first = insert_deliveries(&mut conn, store.dialect(), &batch[..1])
        .await
        .unwrap();
    assert_eq!(first, 1);
    let inserted = insert_deliveries(&mut conn, store.dialect(), &batch)
        .await
        .unwrap();
    drop(conn);
    assert_eq!(inserted, 699, "the 700 keys, less the one already there");

    let rows = sqlx::query(
        "SELECT delivery_key, webhook_id, event_id, topic, api_version, triggered_at, \
         COALESCE(b.body, i.body) AS body, CAST(LENGTH(i.body) AS BIGINT) AS own_body, received_at, status, \
         available_at, request_id, attempts \
         FROM webhook_inbox i LEFT JOIN webhook_bodies b ON b.id = i.id ORDER BY i.id",
    )
    .fetch_all(store.reader())
    .await
    .unwrap();
    assert_eq!(rows.len(), 700);
    for (i, row) in rows.iter().enumerate() {
        let want = &batch[i];
        assert_eq!(
            row.get::<String, _>("delivery_key"),
            want.delivery_key,
            "ids follow the batch"
        );
        assert_eq!(row.get::<Option<String>, _>("webhook_id"), want.webhook_id);
        assert_eq!(row.get::<Option<String>, _>("event_id"), want.event_id);
        assert_eq!(row.get::<String, _>("topic"), want.topic);
        assert_eq!(
            row.get::<Option<String>, _>("api_version"),
            want.api_version
        );
        assert_eq!(
            row.get::<Option<String>, _>("triggered_at"),
            want.triggered_at
        );
        assert_eq!(row.get::<Vec<u8>, _>("body"), want.body.as_bytes());
        // SQLite keeps the body apart (webhook_bodies), PostgreSQL in the row.
        assert_eq!(
            row.get::<i64, _>("own_body") == 0,
            backend == Backend::Sqlite,
            "where the body is kept"
        );
        assert_eq!(row.get::<i64, _>("received_at"), want.received_at);
        assert_eq!(row.get::<i64, _>("available_at"), want.received_at);
        assert_eq!(row.get::<String, _>("status"), "queued");
        assert_eq!(row.get::<Option<String>, _>("request_id"), want.request_id);
        assert_eq!(row.get::<i64, _>("attempts"), 0);
    }
    store.close().await;
}

async fn a_batch_that_cannot_be_stored_leaves_nothing(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = store(&db).await;
    let mut batch: Vec<NewDelivery> = (0..300).map(delivery).collect();
    batch[299].delivery_key = "poison".into();
    // As intake commits: on PostgreSQL one statement on its own, on SQLite
    // a transaction of several.
    let refused = match backend {
        Backend::Postgres => {
            sqlx::query(
                "ALTER TABLE webhook_inbox ADD CONSTRAINT no_poison \
                 CHECK (delivery_key <> 'poison')",
            )
            .execute(store.writer())
            .await
            .unwrap();
            let mut conn = store.intake_pool().acquire().await.unwrap();
            insert_deliveries(&mut conn, store.dialect(), &batch).await
        }
        Backend::Sqlite => {
            sqlx::query(
                "CREATE TRIGGER no_poison BEFORE INSERT ON webhook_inbox \
                 WHEN NEW.delivery_key = 'poison' BEGIN SELECT RAISE(ABORT, 'refused'); END",
            )
            .execute(store.writer())
            .await
            .unwrap();
            let mut tx = store.begin().await.unwrap();
            insert_deliveries(&mut tx, store.dialect(), &batch).await
        }
    };
    assert!(refused.is_err(), "the poisoned batch is refused");
    let stored: i64 = sqlx::query_scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM webhook_inbox")
        .fetch_one(store.reader())
        .await
        .unwrap();
    assert_eq!(stored, 0, "nothing of the batch stays");
    store.close().await;
}
