//! `POST /webhooks`: signatures, headers, limits, and storing each delivery
//! exactly once.

use crate::helpers::{fixture, sign, Backend, TestApp, SHOP};
use sqlx::Row;

crate::on_both_backends!(
    shopify_vector_w1_is_accepted_and_its_bytes_stored_unchanged,
    shopify_vector_w2_is_accepted,
    every_shopify_sample_payload_is_accepted_and_processed,
    ids_above_two_to_the_53_survive_exactly,
    each_bad_request_gets_its_status_and_stores_nothing,
    a_body_over_the_limit_is_rejected_with_413,
    a_delivery_repeated_five_times_is_stored_once,
    twenty_identical_deliveries_sent_at_once_are_stored_once,
    the_newer_shopify_header_names_are_accepted,
    a_delivery_signed_with_the_previous_secret_is_accepted_during_rotation,
    health_and_readiness_answer,
);

async fn stored_body(app: &TestApp, key: &str) -> Vec<u8> {
    let stored = app.stored_body(key).await;
    advocate::store::inbox::StoredBody::decompress(&stored).unwrap()
}

async fn shopify_vector_w1_is_accepted_and_its_bytes_stored_unchanged(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.shopify.api_secret = "test_secret_key".to_owned().into();
    })
    .await;
    let body = br#"{"foo": "bar"}"#;
    let response = app
        .webhook_as(
            SHOP,
            "products/update",
            "w1",
            body,
            "B23tXN681gZ0qIWNRrgtzBE9XSDo5yaUu6wfmhu3a7g=",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(stored_body(&app, "w1").await, body);
    // On a SQLite file the body lands in intake's journal as it came (a
    // record that starts "ADVR"); the inbox has it compressed, as read
    // back above.
    if let Some(db) = app.db.sqlite_path() {
        let log = std::path::PathBuf::from(advocate::store::landing::path_of(db.to_str().unwrap()));
        let segments: Vec<Vec<u8>> = std::fs::read_dir(&log)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "seg"))
            .map(|p| std::fs::read(p).unwrap())
            .filter(|bytes| !bytes.is_empty())
            .collect();
        assert_eq!(segments.len(), 1, "one segment holds the delivery");
        assert_eq!(segments[0][..4], 0x4144_5652_u32.to_le_bytes(), "\"ADVR\"");
        assert!(
            segments[0].windows(body.len()).any(|w| w == body),
            "the journal holds the body as it came"
        );
    }
}

async fn shopify_vector_w2_is_accepted(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.shopify.api_secret = "7008c5f4da4718b9b45d26d3fcbbb157".to_owned().into();
    })
    .await;
    let response = app
        .webhook_as(
            SHOP,
            "products/update",
            "w2",
            br#"{"foo":"bar"}"#,
            "+R9TwYM4mbLTk3hEAOBkpA7zW2lc9vNFmVKs2u2jtyY=",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    app.drain().await;
    assert_eq!(app.inbox_row("w2").await.0, "ignored");
}

async fn every_shopify_sample_payload_is_accepted_and_processed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let samples = [
        ("app_uninstalled.json", "app/uninstalled", "done"),
        ("customers_create.json", "customers/create", "done"),
        ("customers_update.json", "customers/update", "done"),
        ("customers_delete.json", "customers/delete", "done"),
        (
            "customers_data_request.json",
            "customers/data_request",
            "done",
        ),
        ("customers_redact.json", "customers/redact", "done"),
        ("shop_redact.json", "shop/redact", "done"),
        ("orders_create.json", "orders/create", "ignored"),
        ("orders_paid.json", "orders/paid", "done"),
        ("orders_updated.json", "orders/updated", "done"),
        ("orders_cancelled.json", "orders/cancelled", "done"),
        ("refunds_create.json", "refunds/create", "done"),
        ("orders_create_2017_sample.json", "orders/paid", "done"),
        ("customer.tags_added.json", "customer.tags_added", "ignored"),
        (
            "customer.tags_removed.json",
            "customer.tags_removed",
            "ignored",
        ),
    ];
    // One shop per sample, so an uninstall or a shop/redact touches only its own.
    for (i, (file, topic, _)) in samples.iter().enumerate() {
        let body = fixture(file);
        let shop = format!("sample-{i}.myshopify.com");
        let response = app
            .webhook_as(
                &shop,
                topic,
                &format!("sample-{i}"),
                &body,
                &sign(&app.secret, &body),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{file}");
    }
    assert_eq!(app.drain().await, samples.len());
    for (i, (file, topic, expected)) in samples.iter().enumerate() {
        let (status, error) = app.inbox_row(&format!("sample-{i}")).await;
        assert_eq!(&status, expected, "{file}: {error:?}");
        if *expected == "done" && (topic.starts_with("orders/") || *topic == "refunds/create") {
            // The loyalty engine recorded the order (a refund alone makes a
            // placeholder for its order) under the inbox row's order id.
            let stored = app
                .count(&format!(
                    "SELECT CAST(COUNT(*) AS BIGINT) FROM orders o \
                     JOIN shops s ON s.id = o.shop_id \
                     JOIN webhook_inbox w ON w.shop_domain = s.domain AND w.order_id = o.order_id \
                     WHERE s.domain = 'sample-{i}.myshopify.com' AND w.delivery_key = 'sample-{i}'"
                ))
                .await;
            assert_eq!(stored, 1, "{file}: the order is in the orders table");
        }
    }
}

async fn ids_above_two_to_the_53_survive_exactly(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let order = fixture("orders_create_2017_sample.json");
    assert_eq!(
        app.send("orders/paid", "legacy", &order).await.status(),
        200
    );
    // 2^53 + 1 is the first integer a double cannot hold.
    let customer = br#"{"id":9007199254740993,"email":"exact@example.com","updated_at":"2026-01-01T00:00:00Z"}"#;
    assert_eq!(
        app.send("customers/create", "exact", customer)
            .await
            .status(),
        200
    );
    app.drain().await;

    let row = sqlx::query(
        "SELECT order_id, customer_id FROM webhook_inbox WHERE delivery_key = 'legacy'",
    )
    .fetch_one(app.store.writer())
    .await
    .unwrap();
    assert_eq!(row.get::<i64, _>("order_id"), 820_982_911_946_154_508);
    assert_eq!(row.get::<i64, _>("customer_id"), 115_310_627_314_723_954);
    assert_eq!(
        app.count("SELECT customer_id FROM customers WHERE email = 'exact@example.com'")
            .await,
        9_007_199_254_740_993
    );
    // The engine stored the order's facts with its ids exact, and the
    // body, done with, is cleared.
    let stored = sqlx::query("SELECT order_id, customer_id FROM orders")
        .fetch_all(app.store.writer())
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].get::<i64, _>("order_id"), 820_982_911_946_154_508);
    assert_eq!(
        stored[0].get::<Option<i64>, _>("customer_id"),
        Some(115_310_627_314_723_954)
    );
    assert_eq!(app.inbox_row("legacy").await.0, "done");
    assert_eq!(
        app.count(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM webhook_inbox WHERE delivery_key = 'legacy' \
             AND length(body) = 0 AND id NOT IN (SELECT id FROM webhook_bodies)"
        )
        .await,
        1,
        "a done row keeps no body"
    );
}

async fn each_bad_request_gets_its_status_and_stores_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = br#"{"id":1}"#;
    let cases: Vec<(&str, reqwest::RequestBuilder, u16)> = vec![
        (
            "wrong signature",
            app.webhook_as(
                SHOP,
                "customers/create",
                "a",
                body,
                &sign("another-secret", body),
            ),
            401,
        ),
        (
            "signature of another body",
            app.webhook_as(
                SHOP,
                "customers/create",
                "b",
                body,
                &sign(&app.secret, b"{}"),
            ),
            401,
        ),
        (
            "signature not base64",
            app.webhook_as(SHOP, "customers/create", "c", body, "not base64 at all"),
            401,
        ),
        (
            "no signature",
            app.http
                .post(format!("{}/webhooks", app.address))
                .header("X-Shopify-Topic", "customers/create")
                .header("X-Shopify-Shop-Domain", SHOP)
                .header("X-Shopify-Webhook-Id", "d")
                .body(body.to_vec()),
            401,
        ),
        (
            "no topic",
            unsigned_headers_only(
                &app,
                body,
                &[
                    ("X-Shopify-Shop-Domain", SHOP),
                    ("X-Shopify-Webhook-Id", "e"),
                ],
            ),
            400,
        ),
        (
            "no shop",
            unsigned_headers_only(
                &app,
                body,
                &[
                    ("X-Shopify-Topic", "customers/create"),
                    ("X-Shopify-Webhook-Id", "f"),
                ],
            ),
            400,
        ),
        (
            "no id",
            unsigned_headers_only(
                &app,
                body,
                &[
                    ("X-Shopify-Topic", "customers/create"),
                    ("X-Shopify-Shop-Domain", SHOP),
                ],
            ),
            400,
        ),
        (
            "shop that is not a shop",
            app.webhook_as(
                "evil.example.com",
                "customers/create",
                "g",
                body,
                &sign(&app.secret, body),
            ),
            400,
        ),
    ];
    for (what, request, expected) in cases {
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), expected, "{what}");
        let error: serde_json::Value = response
            .json()
            .await
            .unwrap_or_else(|_| panic!("{what}: JSON body"));
        assert!(
            error["error"].is_string() && error["message"].is_string(),
            "{what}: {error}"
        );
    }
    let get = app
        .http
        .get(format!("{}/webhooks", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 404, "only POST is routed");
    assert_eq!(
        app.count("SELECT CAST(COUNT(*) AS BIGINT) FROM webhook_inbox")
            .await,
        0
    );
}

/// A correctly signed request carrying only `headers`.
fn unsigned_headers_only(
    app: &TestApp,
    body: &[u8],
    headers: &[(&str, &str)],
) -> reqwest::RequestBuilder {
    let mut request = app
        .http
        .post(format!("{}/webhooks", app.address))
        .header("X-Shopify-Hmac-Sha256", sign(crate::helpers::SECRET, body))
        .body(body.to_vec());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request
}

async fn a_body_over_the_limit_is_rejected_with_413(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.runtime.webhook_max_bytes = 1024).await;
    let big = format!(r#"{{"id":1,"note":"{}"}}"#, "x".repeat(2048));
    let response = app.send("customers/create", "big", big.as_bytes()).await;
    assert_eq!(response.status(), 413);
    let error: serde_json::Value = response.json().await.unwrap();
    assert_eq!(error["error"], "payload_too_large");
    let small = app.send("customers/create", "small", br#"{"id":1}"#).await;
    assert_eq!(small.status(), 200, "a body under the limit still passes");
    assert_eq!(
        app.count("SELECT CAST(COUNT(*) AS BIGINT) FROM webhook_inbox")
            .await,
        1
    );
}

async fn a_delivery_repeated_five_times_is_stored_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = fixture("customers_create.json");
    for _ in 0..5 {
        assert_eq!(
            app.send("customers/create", "same-event", &body)
                .await
                .status(),
            200
        );
    }
    assert_eq!(
        app.count("SELECT CAST(COUNT(*) AS BIGINT) FROM webhook_inbox")
            .await,
        1
    );
    assert_eq!(app.drain().await, 1);
    assert_eq!(
        app.send("customers/create", "same-event", &body)
            .await
            .status(),
        200
    );
    assert_eq!(
        app.drain().await,
        0,
        "a redelivery after processing changes nothing"
    );
}

async fn twenty_identical_deliveries_sent_at_once_are_stored_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = fixture("orders_paid.json");
    let sends = (0..20).map(|_| app.send("orders/paid", "burst", &body));
    for response in futures_util::future::join_all(sends).await {
        assert_eq!(response.status(), 200);
    }
    assert_eq!(
        app.count("SELECT CAST(COUNT(*) AS BIGINT) FROM webhook_inbox")
            .await,
        1
    );
}

async fn the_newer_shopify_header_names_are_accepted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = br#"{"id":42,"email":"new@example.com"}"#;
    let response = app
        .http
        .post(format!("{}/webhooks", app.address))
        .header("shopify-hmac-sha256", sign(crate::helpers::SECRET, body))
        .header("shopify-topic", "customers/create")
        .header("shopify-shop-domain", SHOP)
        .header("shopify-event-id", "evt-new")
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    app.drain().await;
    assert_eq!(app.inbox_row("evt-new").await.0, "done");
}

async fn a_delivery_signed_with_the_previous_secret_is_accepted_during_rotation(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.shopify.api_secret = "rotated-secret".to_owned().into();
        c.shopify.api_secret_previous = Some(crate::helpers::SECRET.to_owned().into());
    })
    .await;
    let old = app
        .webhook_as(
            SHOP,
            "customers/create",
            "old",
            br#"{"id":1}"#,
            &sign(crate::helpers::SECRET, br#"{"id":1}"#),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(old.status(), 200);
    let new = app
        .webhook_as(
            SHOP,
            "customers/create",
            "new",
            br#"{"id":2}"#,
            &sign("rotated-secret", br#"{"id":2}"#),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(new.status(), 200);
    let stale = app
        .webhook_as(
            SHOP,
            "customers/create",
            "stale",
            br#"{"id":3}"#,
            &sign("retired-secret", br#"{"id":3}"#),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 401);
}

async fn health_and_readiness_answer(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for path in ["/healthz", "/readyz"] {
        let response = app
            .http
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
}
