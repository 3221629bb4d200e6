//! Security regression tests: erasure. customers/redact must reach every
//! copy of a shopper's data (dead letters found by their content, outbox
//! payloads, error texts, SQLite's free pages and log), error texts must
//! never quote a payload, done effects must not be kept for ever, and
//! customer search must fold case the same way on both backends.

use advocate::{
    config::Runtime,
    jobs::retention::{self, Retention},
    store::{customers, inbox::StoredBody, now_ms},
};
use serde_json::{json, Value};
use sqlx::{Column, Row};

use crate::helpers::{extension_token, session_token, Backend, TestApp, SHOP};

crate::on_both_backends!(
    a_dead_letter_naming_the_customer_is_scrubbed_by_customers_redact,
    dead_letter_errors_keep_the_kind_and_path_but_not_the_value,
    customers_redact_erases_the_nps_comment_from_the_outbox,
    done_effects_are_purged_after_their_retention_and_the_rest_kept,
    upper_case_non_ascii_names_are_found_in_any_case,
    search_keys_are_filled_for_rows_written_before_them,
    no_byte_of_a_redacted_shopper_is_left_in_the_database,
    no_byte_of_a_redacted_shop_is_left_in_the_database,
    a_late_order_webhook_writes_no_identifiers_back_and_still_moves_points,
    a_late_dead_letter_about_a_redacted_shopper_keeps_no_trace_of_them,
    a_stored_body_that_does_not_decompress_is_replaced_on_redaction,
);

const DAY_MS: i64 = 86_400_000;

/// The customer every customers/redact below is about.
const CUSTOMER: i64 = 191_167;

async fn installed(backend: Backend) -> TestApp {
    let app = TestApp::spawn(backend).await;
    app.install(SHOP).await;
    app
}

/// customers/redact for [`CUSTOMER`], as Shopify sends it.
fn redact_request(email: &str, phone: &str, orders: &[i64]) -> Vec<u8> {
    json!({
        "shop_id": 954889,
        "shop_domain": SHOP,
        "customer": { "id": CUSTOMER, "email": email, "phone": phone },
        "orders_to_redact": orders,
    })
    .to_string()
    .into_bytes()
}

async fn redact(app: &TestApp, email: &str, phone: &str, orders: &[i64]) {
    let response = app
        .send(
            "customers/redact",
            "redact",
            &redact_request(email, phone, orders),
        )
        .await;
    assert_eq!(response.status(), 200);
    app.drain().await;
    assert_eq!(app.inbox_row("redact").await.0, "done");
}

/// The body an inbox row keeps, as Shopify sent it.
async fn kept_body(app: &TestApp, key: &str) -> String {
    let stored = app.stored_body(key).await;
    String::from_utf8(StoredBody::decompress(&stored).unwrap()).unwrap()
}

async fn admin_get(app: &TestApp, path: &str) -> (u16, String) {
    let response = app
        .http
        .get(format!("{}{path}", app.address))
        .bearer_auth(session_token(SHOP, Some("1")))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// POST /api/checkout/nps as `customer`.
/// An answer about the customer's own order, known before it (an answer
/// has effects, the Flow trigger among them, only once the order is known
/// to be the customer's). The order row is written directly, unless it was
/// delivered already: a delivered order would queue effects of its own.
async fn answer_nps(app: &TestApp, customer: i64, order_id: i64, comment: &str) {
    sqlx::query(
        "INSERT INTO orders (shop_id, order_id, customer_id, currency, subtotal_minor, \
         total_minor, created_at, updated_at) \
         SELECT id, $1, $2, 'USD', 0, 0, 0, 0 FROM shops WHERE domain = $3 \
         ON CONFLICT (shop_id, order_id) DO NOTHING",
    )
    .bind(order_id)
    .bind(customer)
    .bind(SHOP)
    .execute(app.store.writer())
    .await
    .unwrap();
    let response = app
        .http
        .post(format!("{}/api/checkout/nps", app.address))
        .bearer_auth(extension_token(SHOP, Some(customer)))
        .json(&json!({ "order_id": order_id, "score": 4, "comment": comment }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
}

/// A customers/update whose phone is a number: it cannot be parsed, so it
/// is kept as a dead letter with everything it carries.
fn unparseable_profile(customer: i64, email: &str, first: &str, last: &str, phone: u64) -> Vec<u8> {
    json!({
        "id": customer,
        "email": email,
        "first_name": first,
        "last_name": last,
        "phone": phone,
        "note": "prefers the side door",
        "default_address": { "address1": "12 Redactable Lane", "city": "Ottawa" },
        "updated_at": "2026-01-01T00:00:00Z",
    })
    .to_string()
    .into_bytes()
}

async fn a_dead_letter_naming_the_customer_is_scrubbed_by_customers_redact(backend: Backend) {
    let app = installed(backend).await;
    app.send(
        "customers/update",
        "dead-mine",
        &unparseable_profile(
            CUSTOMER,
            "john@example.com",
            "Johnathan",
            "Redactable",
            5556251199,
        ),
    )
    .await;
    // A guest order among the orders to redact: no customer id in it.
    let order = json!({
        "id": 299938, "email": "john@example.com",
        "shipping_address": { "address1": "12 Redactable Lane", "phone": "555-625-1199" },
        "total_price_set": "not money",
    });
    app.send("orders/paid", "dead-order", order.to_string().as_bytes())
        .await;
    app.send(
        "customers/update",
        "dead-theirs",
        &unparseable_profile(5, "keep@example.com", "Keeper", "Other", 6135550100),
    )
    .await;
    app.drain().await;
    for key in ["dead-mine", "dead-order", "dead-theirs"] {
        assert_eq!(
            app.inbox_row(key).await.0,
            "failed",
            "{key} is a dead letter"
        );
    }
    assert!(kept_body(&app, "dead-mine").await.contains("Johnathan"));

    redact(&app, "john@example.com", "555-625-1199", &[299938]).await;

    for key in ["dead-mine", "dead-order"] {
        let body = kept_body(&app, key).await;
        for personal in [
            "john@example.com",
            "Johnathan",
            "Redactable",
            "5556251199",
            "555-625-1199",
            "side door",
        ] {
            assert!(
                !body.contains(personal),
                "{personal} is still in {key}: {body}"
            );
        }
    }
    // Ids stay, so the merchant still sees what the dead letter was.
    assert!(kept_body(&app, "dead-order").await.contains("299938"));
    let theirs = kept_body(&app, "dead-theirs").await;
    assert!(
        theirs.contains("keep@example.com") && theirs.contains("Keeper"),
        "another customer's dead letter is untouched: {theirs}"
    );
}

async fn dead_letter_errors_keep_the_kind_and_path_but_not_the_value(backend: Backend) {
    let app = installed(backend).await;
    app.send(
        "customers/update",
        "dead",
        &unparseable_profile(
            CUSTOMER,
            "john@example.com",
            "Johnathan",
            "Redactable",
            5556251199,
        ),
    )
    .await;
    let broken = br#"{"id": 5, "email": "broken@example.com", "first_name": "Brokenname"#;
    app.send("customers/update", "broken", broken).await;
    app.drain().await;

    let (status, error) = app.inbox_row("dead").await;
    assert_eq!(status, "failed");
    let error = error.expect("a dead letter says why");
    assert!(!error.contains("5556251199"), "{error}");
    assert!(
        error.contains("invalid type") && error.contains("$.phone"),
        "the kind and the path are kept: {error}"
    );
    let (_, error) = app.inbox_row("broken").await;
    let error = error.expect("a dead letter says why");
    assert!(
        !error.contains("Brokenname") && !error.contains("broken@example.com"),
        "{error}"
    );
    assert!(error.contains("$.first_name"), "{error}");

    let (code, listed) = admin_get(&app, "/api/admin/webhooks/failed").await;
    assert_eq!(code, 200);
    let listed_json: Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(
        listed.matches("\"last_error\"").count(),
        2,
        "both dead letters are listed: {listed_json}"
    );
    for value in [
        "5556251199",
        "Brokenname",
        "broken@example.com",
        "Johnathan",
    ] {
        assert!(!listed.contains(value), "{value} served in {listed}");
    }
}

async fn customers_redact_erases_the_nps_comment_from_the_outbox(backend: Backend) {
    let app = installed(backend).await;
    let comment = "Ring me on 555-625-1199, ask for Johnathan";
    answer_nps(&app, CUSTOMER, 299938, comment).await;
    // Another shopper's answer and effect are kept.
    answer_nps(&app, 5, 777, "Lovely shop").await;
    let payloads = || async {
        sqlx::query_scalar::<_, String>("SELECT payload FROM outbox ORDER BY id")
            .fetch_all(app.store.writer())
            .await
            .unwrap()
            .join("\n")
    };
    assert!(
        payloads().await.contains("ask for Johnathan"),
        "the Flow trigger carries the comment to begin with"
    );

    redact(&app, "john@example.com", "555-625-1199", &[299938]).await;

    let after = payloads().await;
    assert!(!after.contains("Johnathan"), "{after}");
    assert!(!after.contains("555-625-1199"), "{after}");
    assert!(
        after.contains("Lovely shop"),
        "other shoppers' effects stay"
    );
    // The erased trigger is never sent; the other one is.
    app.send_effects().await;
    let sent = app.flow_triggers("advocate-nps-response");
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["customer_id"], 5);
}

async fn done_effects_are_purged_after_their_retention_and_the_rest_kept(backend: Backend) {
    let app = installed(backend).await;
    answer_nps(&app, 5, 777, "Lovely shop").await;
    app.send_effects().await;
    // Answered after the send: still queued.
    answer_nps(&app, 6, 778, "Quick delivery").await;
    let count = |status: &'static str| {
        let app = &app;
        async move {
            app.count(&format!(
                "SELECT CAST(COUNT(*) AS BIGINT) FROM outbox WHERE status = '{status}' \
                 AND kind <> 'read_shop'"
            ))
            .await
        }
    };
    assert_eq!(count("done").await, 1);
    assert_eq!(count("queued").await, 1);

    let defaults = Runtime::default();
    assert_eq!(defaults.outbox_retention.as_secs(), 7 * 24 * 3600);
    let policy = Retention {
        inbox: defaults.inbox_retention,
        outbox: defaults.outbox_retention,
    };
    let now = now_ms();
    let purged = retention::purge(&app.store, policy, now + 6 * DAY_MS)
        .await
        .unwrap();
    assert_eq!(
        purged.outbox, 0,
        "a done effect is kept within the retention"
    );
    assert_eq!(count("done").await, 1);

    let purged = retention::purge(&app.store, policy, now + 8 * DAY_MS)
        .await
        .unwrap();
    assert_eq!(
        purged.outbox, 2,
        "the answer's effect and the install's read"
    );
    assert_eq!(count("done").await, 0, "past the retention it is gone");
    assert_eq!(
        count("queued").await,
        1,
        "a queued effect is kept whatever its age"
    );
}

/// GET /api/admin/customers?query=…: the ids found.
async fn search(app: &TestApp, query: &str) -> Vec<i64> {
    let (code, body) = admin_get(
        app,
        &format!("/api/admin/customers?query={}", urlencoding::encode(query)),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let found: Value = serde_json::from_str(&body).unwrap();
    found["customers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["customer_id"].as_i64().unwrap())
        .collect()
}

async fn upper_case_non_ascii_names_are_found_in_any_case(backend: Backend) {
    let app = installed(backend).await;
    let profile = |id: i64, first: &str, last: &str, email: &str| {
        json!({ "id": id, "first_name": first, "last_name": last, "email": email,
                "updated_at": "2026-01-01T00:00:00Z" })
        .to_string()
        .into_bytes()
    };
    app.send(
        "customers/create",
        "upper",
        &profile(1, "ÉMILE", "ÇELİK", "ÉMILE.Z@EXAMPLE.COM"),
    )
    .await;
    app.send(
        "customers/create",
        "lower",
        &profile(2, "émilie", "ørsted", "e2@example.com"),
    )
    .await;
    app.send(
        "customers/create",
        "other",
        &profile(3, "Emil", "Nolde", "e3@example.com"),
    )
    .await;
    app.drain().await;

    for query in ["ÉMILE", "Émile", "émile", "  émile  "] {
        assert_eq!(search(&app, query).await, vec![1], "searching {query:?}");
    }
    for query in ["ÉMILIE", "Émilie"] {
        assert_eq!(search(&app, query).await, vec![2], "searching {query:?}");
    }
    assert_eq!(search(&app, "ØRSTED").await, vec![2]);
    assert_eq!(search(&app, "émile çelİk").await, vec![1], "the full name");
    assert_eq!(search(&app, "Émile.Z@").await, vec![1], "the e-mail");
    assert_eq!(search(&app, "EMIL").await, vec![3], "ASCII as before");
    assert_eq!(search(&app, "").await, vec![1, 2, 3]);

    // Redaction erases the search key with the names.
    let response = app
        .send(
            "customers/redact",
            "redact",
            json!({ "shop_id": 1, "shop_domain": SHOP, "customer": { "id": 1 }, "orders_to_redact": [] })
                .to_string()
                .as_bytes(),
        )
        .await;
    assert_eq!(response.status(), 200);
    app.drain().await;
    assert_eq!(
        app.count(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM customers WHERE customer_id = 1 AND search_key IS NULL"
        )
        .await,
        1
    );
    assert!(search(&app, "émile").await.is_empty());
}

async fn search_keys_are_filled_for_rows_written_before_them(backend: Backend) {
    let app = installed(backend).await;
    let shop: i64 = app.count("SELECT MIN(id) FROM shops").await;
    // As a row written before migration 0015 looks.
    sqlx::query(
        "INSERT INTO customers (shop_id, customer_id, email, first_name, last_name, created_at, \
         updated_at) VALUES ($1, 42, 'OLD@EXAMPLE.COM', 'ÅSA', 'ÖBERG', 0, 0)",
    )
    .bind(shop)
    .execute(app.store.writer())
    .await
    .unwrap();
    assert!(search(&app, "åsa").await.is_empty(), "no key yet");

    let filled = customers::fill_search_keys(&app.store).await.unwrap();
    assert_eq!(filled, 1);
    assert_eq!(search(&app, "åsa").await, vec![42]);
    assert_eq!(search(&app, "Öberg").await, vec![42]);
    assert_eq!(customers::fill_search_keys(&app.store).await.unwrap(), 0);
}

/// The shopper of the canary test: values found nowhere else, chosen to
/// share no four bytes in a row, so LZ4 stores each literally.
const EMAIL: &str = "wqzt.kanary@example.io";
const FIRST: &str = "Quillonvex";
const LAST: &str = "Trastamordi";
const PHONE: &str = "+16135550199";
const PHONE_DIGITS: u64 = 16135550199;
const ADDRESS: &str = "77 Zyxwarble Crescent";
const COMMENT: &str = "Bumblefoxes jig upon heliotropes";
const ORDER: i64 = 880_011;

fn canaries() -> Vec<String> {
    [EMAIL, FIRST, LAST, PHONE, "16135550199", ADDRESS, COMMENT]
        .iter()
        .map(|s| s.to_lowercase())
        .collect()
}

/// Every text and binary value of every table, stored bodies decompressed.
async fn every_stored_value(app: &TestApp, backend: Backend) -> Vec<String> {
    let tables: Vec<String> = match backend {
        Backend::Sqlite => sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
        ),
        Backend::Postgres => sqlx::query_scalar(
            "SELECT CAST(table_name AS TEXT) FROM information_schema.tables \
             WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
        ),
    }
    .fetch_all(app.store.writer())
    .await
    .unwrap();
    assert!(tables.len() > 10, "every table is listed: {tables:?}");
    let mut values = Vec::new();
    for table in tables {
        let columns: Vec<(String, String)> = match backend {
            Backend::Sqlite => {
                sqlx::query_as("SELECT name, CAST(type AS TEXT) FROM pragma_table_info($1)")
            }
            Backend::Postgres => sqlx::query_as(
                "SELECT CAST(column_name AS TEXT), CAST(data_type AS TEXT) \
                 FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1",
            ),
        }
        .bind(&table)
        .fetch_all(app.store.writer())
        .await
        .unwrap();
        for (column, kind) in columns {
            let kind = kind.to_lowercase();
            let sql = if kind.contains("bytea") || kind.contains("blob") {
                format!("SELECT \"{column}\" FROM \"{table}\"")
            } else {
                format!("SELECT CAST(\"{column}\" AS TEXT) FROM \"{table}\"")
            };
            for row in sqlx::query(&sql)
                .fetch_all(app.store.writer())
                .await
                .unwrap()
            {
                let value = row.column(0).ordinal();
                if let Ok(Some(text)) = row.try_get::<Option<String>, _>(value) {
                    values.push(text);
                } else if let Ok(Some(bytes)) = row.try_get::<Option<Vec<u8>>, _>(value) {
                    let raw = StoredBody::decompress(&bytes).unwrap_or(bytes);
                    values.push(String::from_utf8_lossy(&raw).into_owned());
                }
            }
        }
    }
    values
}

fn leaked_in(haystack: &str) -> Vec<String> {
    let haystack = haystack.to_lowercase();
    canaries()
        .into_iter()
        .filter(|c| haystack.contains(c.as_str()))
        .collect()
}

/// The canaries found in raw bytes (ASCII case folded).
fn leaked_in_bytes(bytes: &[u8]) -> Vec<String> {
    let lower = bytes.to_ascii_lowercase();
    canaries()
        .into_iter()
        .filter(|c| lower.windows(c.len()).any(|w| w == c.as_bytes()))
        .collect()
}

/// Places the canaries in a profile, an order and its shipping address, a
/// dead letter and its error text, an NPS comment and its (sent) Flow
/// trigger; checks that every one of them is stored.
async fn plant_canaries(app: &TestApp, backend: Backend) {
    let address = json!({ "first_name": FIRST, "last_name": LAST, "address1": ADDRESS,
                          "city": "Ottawa", "zip": "K2P 0S0", "country_code": "CA", "phone": PHONE });
    let profile = json!({
        "id": CUSTOMER, "email": EMAIL, "first_name": FIRST, "last_name": LAST, "phone": PHONE,
        "default_address": address, "updated_at": "2026-01-01T00:00:00Z",
    });
    app.send(
        "customers/create",
        "profile",
        profile.to_string().as_bytes(),
    )
    .await;
    let money = |a: &str| json!({ "shop_money": { "amount": a, "currency_code": "USD" } });
    let order = json!({
        "id": ORDER, "name": "#1001", "email": EMAIL, "phone": PHONE,
        "customer": { "id": CUSTOMER, "email": EMAIL, "first_name": FIRST, "last_name": LAST },
        "shipping_address": address, "billing_address": address,
        "currency": "USD", "financial_status": "paid", "source_name": "web", "test": false,
        "subtotal_price_set": money("40.00"), "total_price_set": money("40.00"),
        "total_tax_set": money("0.00"), "total_shipping_price_set": money("0.00"),
        "total_discounts_set": money("0.00"), "taxes_included": false,
        "processed_at": "2026-11-01T10:00:00Z", "discount_codes": [], "refunds": [],
    });
    app.send("orders/paid", "order", order.to_string().as_bytes())
        .await;
    // A dead letter carrying all of it, whose error would quote the phone.
    let mut dead: Value = profile.clone();
    dead["phone"] = json!(PHONE_DIGITS);
    dead["note"] = json!(COMMENT);
    let dead = dead.to_string().into_bytes();
    let compressed = StoredBody::compress(&dead);
    let literal = leaked_in_bytes(compressed.as_bytes());
    let hidden: Vec<_> = [EMAIL, FIRST, LAST, ADDRESS, COMMENT]
        .iter()
        .filter(|c| !literal.contains(&c.to_lowercase()))
        .collect();
    assert!(
        hidden.is_empty(),
        "every canary is stored literally in the compressed dead letter, so a raw search \
         of the files finds a copy left behind: {hidden:?} in {:?}",
        String::from_utf8_lossy(compressed.as_bytes())
    );
    app.send("customers/update", "dead", &dead).await;
    app.send("customers/update", "dead-apart", &dead).await;
    app.drain().await;
    assert_eq!(app.inbox_row("order").await.0, "done");
    assert_eq!(app.inbox_row("dead").await.0, "failed");
    assert_eq!(app.inbox_row("dead-apart").await.0, "failed");
    // As the next version stores bodies (migration 0032).
    app.keep_body_apart("dead-apart").await;
    assert!(kept_body(app, "dead-apart").await.contains(EMAIL));
    answer_nps(app, CUSTOMER, ORDER, COMMENT).await;
    // The answer's Flow trigger is sent: a done effect, kept for a while.
    app.send_effects().await;

    let before = every_stored_value(app, backend).await.join("\n");
    let found = leaked_in(&before);
    assert_eq!(
        found.len(),
        canaries().len(),
        "every canary is stored to begin with: {found:?}"
    );
}

/// No canary in any row (stored bodies decompressed), nor, on SQLite, in
/// the database file and its write-ahead log read as bytes.
async fn assert_no_canary_left(app: &TestApp, backend: Backend) {
    let after = every_stored_value(app, backend).await.join("\n");
    assert_eq!(
        leaked_in(&after),
        Vec::<String>::new(),
        "left in the database's rows"
    );

    if let Some(path) = app.db.sqlite_path() {
        // The files themselves: free pages and the write-ahead log included.
        let file = std::fs::read(&path).unwrap();
        let wal = std::fs::read(format!("{}-wal", path.display())).unwrap_or_default();
        assert_eq!(
            leaked_in_bytes(&file),
            Vec::<String>::new(),
            "left in the database file"
        );
        assert_eq!(
            leaked_in_bytes(&wal),
            Vec::<String>::new(),
            "left in the write-ahead log"
        );
        // Webhook intake's journal, where every delivery was first
        // written: every file in it.
        let journal = advocate::store::landing::path_of(&path.to_string_lossy());
        let files: Vec<_> = std::fs::read_dir(&journal)
            .expect("the journal")
            .map(|e| e.unwrap().path())
            .collect();
        assert!(
            files
                .iter()
                .any(|f| f.extension().is_some_and(|e| e == "seg")),
            "the journal has a segment: {files:?}"
        );
        for file in files {
            assert_eq!(
                leaked_in_bytes(&std::fs::read(&file).unwrap()),
                Vec::<String>::new(),
                "left in intake's journal, {}",
                file.display()
            );
        }
    }
}

async fn no_byte_of_a_redacted_shopper_is_left_in_the_database(backend: Backend) {
    let app = installed(backend).await;
    plant_canaries(&app, backend).await;
    redact(&app, EMAIL, PHONE, &[ORDER]).await;
    assert_no_canary_left(&app, backend).await;
}

async fn no_byte_of_a_redacted_shop_is_left_in_the_database(backend: Backend) {
    let app = installed(backend).await;
    plant_canaries(&app, backend).await;
    let request = json!({ "shop_id": 954889, "shop_domain": SHOP }).to_string();
    let response = app
        .send("shop/redact", "shop-redact", request.as_bytes())
        .await;
    assert_eq!(response.status(), 200);
    app.drain().await;
    assert_eq!(app.inbox_row("shop-redact").await.0, "done");
    assert_no_canary_left(&app, backend).await;
}

/// An order of the canary shopper (with `customer`, or a guest order) in
/// USD, paid; `cancelled` sets its cancellation time.
fn canary_order(order_id: i64, customer: Option<i64>, cancelled: bool) -> Value {
    let address = json!({ "first_name": FIRST, "last_name": LAST, "address1": ADDRESS,
                          "city": "Ottawa", "zip": "K2P 0S0", "country_code": "CA", "phone": PHONE });
    let money = |a: &str| json!({ "shop_money": { "amount": a, "currency_code": "USD" } });
    json!({
        "id": order_id, "name": format!("#{order_id}"), "email": EMAIL, "phone": PHONE,
        "customer": customer.map(|id| json!({ "id": id, "email": EMAIL, "first_name": FIRST })),
        "shipping_address": address, "billing_address": address,
        "currency": "USD", "financial_status": "paid", "source_name": "web", "test": false,
        "subtotal_price_set": money("40.00"), "total_price_set": money("40.00"),
        "total_tax_set": money("0.00"), "total_shipping_price_set": money("0.00"),
        "total_discounts_set": money("0.00"), "taxes_included": false,
        "processed_at": "2026-11-01T10:00:00Z",
        "cancelled_at": if cancelled { json!("2026-11-03T10:00:00Z") } else { Value::Null },
        "discount_codes": [], "refunds": [],
    })
}

/// How many of the order's identity hashes (and e-mail) are stored.
async fn order_identifiers(app: &TestApp, order_id: i64) -> i64 {
    app.count(&format!(
        "SELECT CAST(COUNT(email_hash) + COUNT(phone_hash) + COUNT(address_hash) + COUNT(email) \
         AS BIGINT) FROM orders WHERE order_id = {order_id}"
    ))
    .await
}

/// The points the ledger holds for the order.
async fn order_points(app: &TestApp, order_id: i64) -> i64 {
    app.count(&format!(
        "SELECT CAST(COALESCE(SUM(points), 0) AS BIGINT) FROM points_ledger WHERE order_id = {order_id}"
    ))
    .await
}

async fn send_ok(app: &TestApp, topic: &str, key: &str, body: &Value) {
    let response = app.send(topic, key, body.to_string().as_bytes()).await;
    assert_eq!(response.status(), 200, "{topic} {key}");
}

async fn a_late_order_webhook_writes_no_identifiers_back_and_still_moves_points(backend: Backend) {
    let app = installed(backend).await;
    send_ok(
        &app,
        "orders/paid",
        "paid",
        &canary_order(ORDER, Some(CUSTOMER), false),
    )
    .await;
    app.drain().await;
    assert_eq!(order_identifiers(&app, ORDER).await, 3, "hashed at first");
    let earned = order_points(&app, ORDER).await;
    assert!(earned > 0, "the order earns");

    // A guest order named in the request but not stored yet.
    let guest = ORDER + 1;
    redact(&app, EMAIL, PHONE, &[ORDER, guest]).await;
    assert_eq!(order_identifiers(&app, ORDER).await, 0, "redacted");

    // Late: the redacted order cancelled, the guest order, and a new order
    // of the redacted customer.
    let new_order = ORDER + 2;
    send_ok(
        &app,
        "orders/updated",
        "late-update",
        &canary_order(ORDER, Some(CUSTOMER), true),
    )
    .await;
    send_ok(
        &app,
        "orders/paid",
        "late-guest",
        &canary_order(guest, None, false),
    )
    .await;
    send_ok(
        &app,
        "orders/paid",
        "late-new",
        &canary_order(new_order, Some(CUSTOMER), false),
    )
    .await;
    app.drain().await;
    for key in ["late-update", "late-guest", "late-new"] {
        assert_eq!(app.inbox_row(key).await.0, "done", "{key}");
    }
    for order_id in [ORDER, guest, new_order] {
        assert_eq!(
            order_identifiers(&app, order_id).await,
            0,
            "order {order_id} keeps no identifier of the redacted shopper"
        );
    }
    // The ledger moves as for any order.
    assert_eq!(
        order_points(&app, ORDER).await,
        0,
        "the cancellation reverses"
    );
    assert_eq!(
        order_points(&app, new_order).await,
        earned,
        "the new order earns"
    );
    assert_eq!(
        app.count(&format!(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM points_ledger WHERE order_id = {ORDER}"
        ))
        .await,
        2,
        "earned, then reversed"
    );
}

async fn a_late_dead_letter_about_a_redacted_shopper_keeps_no_trace_of_them(backend: Backend) {
    let app = installed(backend).await;
    redact(&app, EMAIL, PHONE, &[ORDER]).await;

    // After the redaction: an order of the customer whose amounts do not
    // parse, a guest order named in the request (no customer in it), and a
    // profile whose phone is a number. Each becomes a dead letter.
    let mut paid = canary_order(ORDER + 5, Some(CUSTOMER), false);
    paid["total_price_set"] = json!("not money");
    paid["note"] = json!(COMMENT);
    let mut guest = canary_order(ORDER, None, false);
    guest["total_price_set"] = json!("not money");
    let profile = json!({
        "id": CUSTOMER, "email": EMAIL, "first_name": FIRST, "last_name": LAST,
        "phone": PHONE_DIGITS, "note": COMMENT,
        "default_address": { "address1": ADDRESS, "city": "Ottawa" },
        "updated_at": "2026-12-01T00:00:00Z",
    });
    send_ok(&app, "orders/paid", "late-paid", &paid).await;
    send_ok(&app, "orders/paid", "late-guest", &guest).await;
    send_ok(&app, "customers/update", "late-profile", &profile).await;
    // Another shopper's dead letter keeps everything.
    let other = unparseable_profile(5, "keep@example.com", "Keeper", "Other", 6135550100);
    app.send("customers/update", "late-other", &other).await;
    app.drain().await;

    for key in ["late-paid", "late-guest", "late-profile", "late-other"] {
        assert_eq!(
            app.inbox_row(key).await.0,
            "failed",
            "{key} is a dead letter"
        );
    }
    for key in ["late-paid", "late-guest", "late-profile"] {
        let body = kept_body(&app, key).await;
        assert_eq!(leaked_in(&body), Vec::<String>::new(), "{key}: {body}");
    }
    assert!(
        kept_body(&app, "late-guest")
            .await
            .contains(&ORDER.to_string()),
        "ids stay, so the merchant sees what the dead letter was"
    );
    assert!(kept_body(&app, "late-other")
        .await
        .contains("keep@example.com"));

    assert_no_canary_left(&app, backend).await;
}

async fn a_stored_body_that_does_not_decompress_is_replaced_on_redaction(backend: Backend) {
    let app = installed(backend).await;
    // A body naming the shopper by name and address only, stored with a
    // length prefix that does not match: it cannot be decompressed.
    let body = json!({ "note": format!("{FIRST} {LAST} of {ADDRESS}") }).to_string();
    let mut stored = StoredBody::compress(body.as_bytes()).as_bytes().to_vec();
    stored[..4].copy_from_slice(&3_u32.to_le_bytes());
    assert!(StoredBody::decompress(&stored).is_err(), "corrupt");
    assert_eq!(
        leaked_in_bytes(&stored).len(),
        3,
        "the name and address are readable in the stored bytes"
    );
    let now = now_ms();
    sqlx::query(
        "INSERT INTO webhook_inbox (shop_domain, delivery_key, topic, body, received_at, status, \
         available_at, last_error) VALUES ($1, 'corrupt', 'customers/update', $2, $3, 'failed', $3, \
         'stored body is corrupt')",
    )
    .bind(SHOP)
    .bind(stored)
    .bind(now)
    .execute(app.store.writer())
    .await
    .unwrap();

    redact(&app, EMAIL, PHONE, &[ORDER]).await;

    assert_eq!(kept_body(&app, "corrupt").await, r#"{"redacted":true}"#);
    assert_no_canary_left(&app, backend).await;
}
