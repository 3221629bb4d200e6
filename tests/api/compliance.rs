//! The mandatory compliance topics: data requests, customer redaction, shop
//! redaction.

use advocate::store::data_requests;
use sqlx::{Column, Row};

use crate::helpers::{fixture, Backend, TestApp, SHOP};

crate::on_both_backends!(
    a_data_request_builds_an_export_the_merchant_can_retrieve,
    after_customers_redact_the_email_name_and_phone_appear_nowhere_in_the_database,
    shop_redact_deletes_everything_held_for_that_shop_and_nothing_else,
);

const PERSON: &[u8] = br#"{"id":191167,"email":"john@example.com","first_name":"Johnathan","last_name":"Redactable","phone":"555-625-1199","tags":"vip","updated_at":"2026-01-01T00:00:00Z"}"#;

pub(crate) async fn shop_id(app: &TestApp, domain: &str) -> i64 {
    sqlx::query_scalar("SELECT id FROM shops WHERE domain = $1")
        .bind(domain)
        .fetch_one(app.store.writer())
        .await
        .unwrap()
}

async fn a_data_request_builds_an_export_the_merchant_can_retrieve(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.send("customers/create", "person", PERSON).await;
    app.send(
        "customers/data_request",
        "request",
        &fixture("customers_data_request.json"),
    )
    .await;
    app.drain().await;
    assert_eq!(app.inbox_row("request").await.0, "done");

    let mut conn = app.store.reader().acquire().await.unwrap();
    let requests = data_requests::list_data_requests(&mut conn, shop_id(&app, SHOP).await)
        .await
        .unwrap();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].request_id, 9999);
    assert_eq!(requests[0].customer_id, 191167);
    let export: serde_json::Value =
        serde_json::from_str(requests[0].export.as_deref().unwrap()).unwrap();
    assert_eq!(export["profile"]["email"], "john@example.com");
    assert_eq!(export["data_request_id"], 9999);
    assert!(export["points_ledger"].is_array());
}

/// Every text and binary value in every table, for a full search.
async fn all_values(app: &TestApp) -> Vec<String> {
    let mut values = Vec::new();
    for table in [
        "shops",
        "customers",
        "orders",
        "points_ledger",
        "webhook_inbox",
        "data_requests",
        "outbox",
        "analytics_snapshots",
    ] {
        let rows = sqlx::query(&format!("SELECT * FROM {table}"))
            .fetch_all(app.store.writer())
            .await
            .unwrap();
        for row in rows {
            for column in row.columns() {
                let i = column.ordinal();
                if let Ok(Some(text)) = row.try_get::<Option<String>, _>(i) {
                    values.push(text);
                } else if let Ok(Some(bytes)) = row.try_get::<Option<Vec<u8>>, _>(i) {
                    // Inbox bodies are compressed; search what they hold.
                    let raw =
                        advocate::store::inbox::StoredBody::decompress(&bytes).unwrap_or(bytes);
                    values.push(String::from_utf8_lossy(&raw).into_owned());
                }
            }
        }
    }
    values
}

/// (email_hash, phone_hash, address_hash) of a stored order.
async fn order_hashes(
    app: &TestApp,
    order_id: i64,
) -> (Option<String>, Option<String>, Option<String>) {
    let row =
        sqlx::query("SELECT email_hash, phone_hash, address_hash FROM orders WHERE order_id = $1")
            .bind(order_id)
            .fetch_one(app.store.writer())
            .await
            .unwrap();
    (
        row.get("email_hash"),
        row.get("phone_hash"),
        row.get("address_hash"),
    )
}

async fn after_customers_redact_the_email_name_and_phone_appear_nowhere_in_the_database(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    app.send("customers/create", "person", PERSON).await;
    // An order of theirs, which the loyalty engine records (hashed
    // identifiers, amounts) and whose body it then clears.
    let order = br#"{"id":299938,"email":"john@example.com","phone":"555-625-1199","customer":{"id":191167,"email":"john@example.com","first_name":"Johnathan","last_name":"Redactable"},"billing_address":{"name":"Johnathan Redactable"},"shipping_address":{"name":"Johnathan Redactable","address1":"12 Redactable Lane","zip":"K2P 0S0","country_code":"CA","phone":"555-625-1199"},"currency":"USD","financial_status":"paid","total_price":"10.00","subtotal_price_set":{"shop_money":{"amount":"10.00","currency_code":"USD"}},"total_price_set":{"shop_money":{"amount":"10.00","currency_code":"USD"}}}"#;
    app.send("orders/paid", "order", order).await;
    app.send(
        "customers/data_request",
        "request",
        &fixture("customers_data_request.json"),
    )
    .await;
    app.drain().await;
    assert_eq!(app.inbox_row("order").await.0, "done");
    let before = all_values(&app).await.join("\n");
    assert!(
        before.contains("john@example.com"),
        "the test data is there to begin with"
    );
    let (email_hash, phone_hash, address_hash) = order_hashes(&app, 299938).await;
    assert!(
        email_hash.is_some() && phone_hash.is_some() && address_hash.is_some(),
        "the order's identifiers are there to begin with"
    );

    app.send(
        "customers/redact",
        "redact",
        &fixture("customers_redact.json"),
    )
    .await;
    app.drain().await;
    assert_eq!(app.inbox_row("redact").await.0, "done");
    let after = all_values(&app).await.join("\n");
    for personal in [
        "john@example.com",
        "Johnathan",
        "Redactable",
        "555-625-1199",
        "Redactable Lane",
    ] {
        assert!(
            !after.contains(personal),
            "{personal} is still in the database"
        );
    }
    // The order is kept with its amounts, its identifiers gone.
    assert_eq!(
        app.count("SELECT total_minor FROM orders WHERE order_id = 299938")
            .await,
        1000
    );
    assert_eq!(order_hashes(&app, 299938).await, (None, None, None));

    // A profile update arriving after the redaction stores nothing personal.
    app.send("customers/update", "late", PERSON).await;
    app.drain().await;
    assert!(!all_values(&app)
        .await
        .join("\n")
        .contains("john@example.com"));

    if let Some(path) = app.db.sqlite_path() {
        // Searching the file itself is stricter than SQL: freed pages are
        // overwritten (secure_delete), so nothing lingers there once the
        // WAL is checkpointed.
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(app.store.writer())
            .await
            .unwrap();
        let file = std::fs::read(path).unwrap();
        let needle = b"Johnathan";
        assert!(
            !file.windows(needle.len()).any(|w| w == needle),
            "a name survives in the SQLite file"
        );
    }
}

async fn shop_redact_deletes_everything_held_for_that_shop_and_nothing_else(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let other = "other-shop.myshopify.com";
    app.send("customers/create", "mine", PERSON).await;
    app.send("orders/paid", "order", &fixture("orders_paid.json"))
        .await;
    let theirs = br#"{"id":5,"email":"keep@example.com"}"#;
    app.webhook_as(
        other,
        "customers/create",
        "theirs",
        theirs,
        &crate::helpers::sign(&app.secret, theirs),
    )
    .send()
    .await
    .unwrap();
    app.drain().await;
    let mine = shop_id(&app, SHOP).await;
    // The dashboard's snapshot of the shop (totals only) goes too.
    advocate::analytics::refresh::dashboard(
        &app.store,
        mine,
        advocate::analytics::metrics::PeriodKey::Days90,
    )
    .await
    .expect("a dashboard snapshot");

    app.send("shop/redact", "shop-redact", &fixture("shop_redact.json"))
        .await;
    app.drain().await;
    for table in [
        "customers",
        "orders",
        "points_ledger",
        "data_requests",
        "outbox",
    ] {
        let n = app
            .count(&format!(
                "SELECT CAST(COUNT(*) AS BIGINT) FROM {table} WHERE shop_id = {mine}"
            ))
            .await;
        assert_eq!(n, 0, "{table} still holds rows of the redacted shop");
    }
    assert_eq!(
        app.count(&format!(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM webhook_inbox WHERE shop_domain = '{SHOP}'"
        ))
        .await,
        1,
        "only the shop/redact delivery itself remains"
    );
    let status: String = sqlx::query_scalar("SELECT status FROM shops WHERE id = $1")
        .bind(mine)
        .fetch_one(app.store.writer())
        .await
        .unwrap();
    assert_eq!(status, "redacted");
    assert_eq!(
        app.count(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM customers WHERE email = 'keep@example.com'"
        )
        .await,
        1,
        "the other shop keeps its data"
    );
}
