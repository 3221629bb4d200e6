//! Security regression tests: points. Every points figure is an integer
//! within its documented range (the database refuses anything else), an
//! answer that is an error commits nothing, per-customer admin writes never
//! create a customer, and a delivery that can never succeed is a dead letter
//! on its first attempt.

use proptest::{
    prelude::*,
    strategy::{Strategy, ValueTree},
    test_runner::{Config, TestRunner},
};
use reqwest::Method;
use serde_json::{json, Value};

use crate::{
    helpers::{Backend, TestApp, SHOP},
    referrals::{admin, answer, customer_body, deliver, order_body, update_settings, Person},
};

crate::on_both_backends!(
    an_i64_min_adjustment_is_refused_and_the_shop_keeps_answering,
    out_of_range_adjustments_are_refused_with_the_field_named,
    the_database_refuses_a_real_or_out_of_range_points_figure,
    per_customer_admin_writes_for_an_unknown_customer_answer_404_and_create_nothing,
    a_redemption_that_fails_leaves_no_redemption_ledger_entry_or_outbox_row,
    an_order_with_an_absurd_total_is_dead_lettered_on_the_first_attempt,
    a_change_the_database_refuses_is_dead_lettered_on_the_first_attempt,
    database_failures_the_data_causes_are_permanent_and_others_are_retried,
    arbitrary_program_settings_never_fail_the_server_and_a_refusal_changes_nothing,
);

const CUSTOMER: i64 = 7_100_000_000_000_001;
/// `loyalty::points::MAX_STORED`, as the migration writes it.
const MAX_STORED: i64 = 1_000_000_000_000_000;

fn shopper() -> Person {
    Person {
        id: Some(CUSTOMER),
        email: "points@example.com".into(),
        phone: "+1 555 070 0001".into(),
        address1: "7 Ledger Row".into(),
        zip: "70001".into(),
    }
}

/// An installed shop that knows the customer through Shopify's webhook,
/// with no signup bonus (so the books start at zero).
async fn shop_with_customer(backend: Backend) -> TestApp {
    let app = TestApp::spawn(backend).await;
    app.install(SHOP).await;
    update_settings(&app, |s| s["earning"]["signup_points"] = json!(0)).await;
    deliver(&app, "customers/create", &customer_body(&shopper())).await;
    app
}

async fn adjust(app: &TestApp, customer: i64, key: &str, points: Value) -> (u16, Value) {
    let (status, body) = answer(
        admin(
            app,
            Method::POST,
            &format!("/api/admin/customers/{customer}/adjustments"),
        )
        .header("Idempotency-Key", key)
        .json(&json!({ "points": points, "reason": "probe" })),
    )
    .await;
    (status.as_u16(), body)
}

/// (balance, pending, ledger entries) of a customer, read raw.
async fn books(app: &TestApp, customer: i64) -> (i64, i64, i64) {
    let balance = app
        .count(&format!(
            "SELECT COALESCE(MAX(points_balance), 0) FROM customers WHERE customer_id = {customer}"
        ))
        .await;
    let pending = app
        .count(&format!(
            "SELECT COALESCE(MAX(points_pending), 0) FROM customers WHERE customer_id = {customer}"
        ))
        .await;
    let entries = app
        .count(&format!(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM points_ledger WHERE customer_id = {customer}"
        ))
        .await;
    (balance, pending, entries)
}

async fn an_i64_min_adjustment_is_refused_and_the_shop_keeps_answering(backend: Backend) {
    let app = shop_with_customer(backend).await;
    let (status, body) = adjust(&app, CUSTOMER, "min", json!(i64::MIN)).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["field"], "points", "{body}");
    assert_eq!(books(&app, CUSTOMER).await, (0, 0, 0), "nothing committed");

    // The customer, the list and the dashboard still answer, and a normal
    // adjustment still applies.
    let (status, list) = answer(admin(&app, Method::GET, "/api/admin/customers")).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["customers"][0]["points_balance"], 0);
    let (status, _) = adjust(&app, CUSTOMER, "gift", json!(250)).await;
    assert_eq!(status, 201);
    let (status, view) = answer(admin(
        &app,
        Method::GET,
        &format!("/api/admin/customers/{CUSTOMER}"),
    ))
    .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["points_balance"], 250);
    for (method, path) in [
        (Method::POST, "/api/admin/analytics/refresh"),
        (Method::GET, "/api/admin/analytics"),
    ] {
        let (status, dashboard) = answer(admin(&app, method, path)).await;
        assert_eq!(status, 200, "{path}: {dashboard}");
        assert!(
            !dashboard.to_string().contains(&i64::MAX.to_string()),
            "{dashboard}"
        );
    }
}

async fn out_of_range_adjustments_are_refused_with_the_field_named(backend: Backend) {
    let app = shop_with_customer(backend).await;
    let probes = [
        json!(i64::MAX),
        json!(-i64::MAX),
        json!(u64::MAX),
        json!(10_000_001),
        json!(-10_000_001),
        json!(0),
        json!(1.5),
    ];
    for (i, points) in probes.into_iter().enumerate() {
        let (status, body) = adjust(&app, CUSTOMER, &format!("probe-{i}"), points.clone()).await;
        assert_eq!(status, 422, "{points}: {body}");
        assert_eq!(body["errors"][0]["field"], "points", "{points}: {body}");
    }
    assert_eq!(books(&app, CUSTOMER).await, (0, 0, 0));
    // The bounds themselves are accepted.
    let (status, body) = adjust(&app, CUSTOMER, "top", json!(10_000_000)).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = adjust(&app, CUSTOMER, "bottom", json!(-10_000_000)).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(books(&app, CUSTOMER).await, (0, 0, 2));
    // An adjustment the balance cannot hold is a conflict, and commits
    // nothing.
    let near = MAX_STORED - 5;
    execute(
        &app,
        &format!("UPDATE customers SET points_balance = {near} WHERE customer_id = {CUSTOMER}"),
    )
    .await
    .expect("seed a large balance");
    let (status, body) = adjust(&app, CUSTOMER, "over", json!(10)).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(books(&app, CUSTOMER).await, (near, 0, 2));
}

/// Runs `sql` directly; Ok when the database accepted it.
async fn execute(app: &TestApp, sql: &str) -> Result<u64, String> {
    sqlx::query(sql)
        .execute(app.store.writer())
        .await
        .map(|done| done.rows_affected())
        .map_err(|e| e.to_string())
}

async fn the_database_refuses_a_real_or_out_of_range_points_figure(backend: Backend) {
    let app = shop_with_customer(backend).await;
    let customer = format!("customer_id = {CUSTOMER}");
    let mut refused = vec![
        format!("UPDATE customers SET points_balance = {} WHERE {customer}", MAX_STORED + 1),
        format!("UPDATE customers SET points_balance = {} WHERE {customer}", -MAX_STORED - 1),
        format!("UPDATE customers SET points_pending = {} WHERE {customer}", MAX_STORED + 1),
        format!("UPDATE customers SET points_balance = points_balance + {} WHERE {customer}", i64::MAX),
        format!("UPDATE customers SET points_balance = points_balance - {} - 1 WHERE {customer}", i64::MAX),
        format!(
            "INSERT INTO points_ledger (shop_id, customer_id, points, kind, reason, source_key, created_at) \
             SELECT id, {CUSTOMER}, {}, 'adjustment', 'probe', 'probe-min', 0 FROM shops",
            i64::MIN
        ),
        format!(
            "INSERT INTO redemptions (shop_id, customer_id, idempotency_key, reward_id, reward_name, \
             points, code, channel, actor, created_at, expires_at) \
             SELECT id, {CUSTOMER}, 'k', 'r', 'r', -5, 'CODE', 'admin', 'staff:1', 0, 0 FROM shops"
        ),
    ];
    if backend == Backend::Sqlite {
        // SQLite keeps whatever type a value has: only the CHECK stops a
        // REAL (or a text) from becoming a balance.
        refused.extend([
            format!("UPDATE customers SET points_balance = 2.5 WHERE {customer}"),
            format!("UPDATE customers SET points_balance = 9.3e18 WHERE {customer}"),
            format!("UPDATE customers SET points_pending = 'twelve' WHERE {customer}"),
            format!(
                "INSERT INTO points_ledger (shop_id, customer_id, points, kind, reason, source_key, created_at) \
                 SELECT id, {CUSTOMER}, 0.5, 'adjustment', 'probe', 'probe-real', 0 FROM shops"
            ),
        ]);
    }
    for sql in &refused {
        assert!(execute(&app, sql).await.is_err(), "accepted: {sql}");
    }
    assert_eq!(books(&app, CUSTOMER).await, (0, 0, 0));
    // The bound itself is a valid balance, and stays an integer.
    let at_bound = format!("UPDATE customers SET points_balance = {MAX_STORED} WHERE {customer}");
    assert_eq!(execute(&app, &at_bound).await, Ok(1));
    assert_eq!(books(&app, CUSTOMER).await.0, MAX_STORED);
}

async fn per_customer_admin_writes_for_an_unknown_customer_answer_404_and_create_nothing(
    backend: Backend,
) {
    let app = shop_with_customer(backend).await;
    for unknown in [-42_i64, 42, CUSTOMER + 1] {
        let (status, body) = answer(
            admin(
                &app,
                Method::PUT,
                &format!("/api/admin/customers/{unknown}/birthday"),
            )
            .json(&json!({ "birthday": "07-04" })),
        )
        .await;
        assert_eq!(status, 404, "birthday of {unknown}: {body}");
        let (status, body) = adjust(&app, unknown, "gift", json!(100)).await;
        assert_eq!(status, 404, "adjustment of {unknown}: {body}");
        let (status, body) = answer(
            admin(
                &app,
                Method::POST,
                &format!("/api/admin/customers/{unknown}/redemptions"),
            )
            .header("Idempotency-Key", "redeem")
            .json(&json!({ "reward_id": "5-off" })),
        )
        .await;
        assert_eq!(status, 404, "redemption for {unknown}: {body}");
        let rows = app
            .count(&format!(
                "SELECT CAST(COUNT(*) AS BIGINT) FROM customers WHERE customer_id = {unknown}"
            ))
            .await;
        assert_eq!(rows, 0, "no customer row for {unknown}");
        assert_eq!(books(&app, unknown).await, (0, 0, 0));
    }
    let (_, list) = answer(admin(&app, Method::GET, "/api/admin/customers")).await;
    assert_eq!(
        list["customers"].as_array().map(Vec::len),
        Some(1),
        "{list}"
    );
    // The known customer's birthday is still the admin's to set.
    let (status, body) = answer(
        admin(
            &app,
            Method::PUT,
            &format!("/api/admin/customers/{CUSTOMER}/birthday"),
        )
        .json(&json!({ "birthday": "07-04" })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

/// Makes every insert into `table` fail, as a database fault would.
async fn refuse_inserts_into(app: &TestApp, backend: Backend, table: &str) {
    let statements = match backend {
        Backend::Sqlite => vec![format!(
            "CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table} \
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
        )],
        Backend::Postgres => vec![
            "CREATE FUNCTION refuse_insert() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$"
                .to_owned(),
            format!(
                "CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table} \
                 FOR EACH ROW EXECUTE FUNCTION refuse_insert()"
            ),
        ],
    };
    for sql in statements {
        execute(app, &sql).await.expect("install the trigger");
    }
}

async fn a_redemption_that_fails_leaves_no_redemption_ledger_entry_or_outbox_row(backend: Backend) {
    let app = shop_with_customer(backend).await;
    let (status, _) = adjust(&app, CUSTOMER, "gift", json!(2_000)).await;
    assert_eq!(status, 201);
    let outbox_before = app
        .count("SELECT CAST(COUNT(*) AS BIGINT) FROM outbox")
        .await;
    // Not enough points: refused before anything is written.
    let redeem = |key: &'static str, reward: &'static str| {
        admin(
            &app,
            Method::POST,
            &format!("/api/admin/customers/{CUSTOMER}/redemptions"),
        )
        .header("Idempotency-Key", key)
        .json(&json!({ "reward_id": reward }))
    };
    let (status, body) = answer(redeem("unknown", "no-such-reward")).await;
    assert_eq!(status, 404, "{body}");
    // A fault after the points were taken (the code's effect cannot be
    // queued): the answer is an error and nothing of it commits.
    refuse_inserts_into(&app, backend, "outbox").await;
    let (status, body) = answer(redeem("faulty", "5-off")).await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(
        books(&app, CUSTOMER).await,
        (2_000, 0, 1),
        "no points taken"
    );
    assert_eq!(
        app.count("SELECT CAST(COUNT(*) AS BIGINT) FROM redemptions")
            .await,
        0
    );
    assert_eq!(
        app.count("SELECT CAST(COUNT(*) AS BIGINT) FROM outbox")
            .await,
        outbox_before
    );
    app.send_effects().await;
    let codes = app.shopify.admin(|a| a.discounts.len());
    assert_eq!(codes, 0, "no discount code reached Shopify");
}

/// Sends `body` as a new delivery of `topic`, drains once, and answers the
/// row's (status, attempts, last_error).
async fn deliver_once(app: &TestApp, topic: &str, body: &Value) -> (String, i64, Option<String>) {
    let key = format!("{:016x}", rand::random::<u64>());
    let response = app.send(topic, &key, body.to_string().as_bytes()).await;
    assert_eq!(response.status(), 200, "{topic} accepted");
    app.drain().await;
    let (status, error) = app.inbox_row(&key).await;
    let attempts = app
        .count(&format!(
            "SELECT attempts FROM webhook_inbox WHERE delivery_key = '{key}'"
        ))
        .await;
    (status, attempts, error)
}

async fn an_order_with_an_absurd_total_is_dead_lettered_on_the_first_attempt(backend: Backend) {
    let app = shop_with_customer(backend).await;
    // i64::MAX minor units: parses into an i64, overflows every sum.
    let absurd = order_body(9001, &shopper(), "92233720368547758.07", None);
    let (status, attempts, error) = deliver_once(&app, "orders/paid", &absurd).await;
    assert_eq!(status, "failed", "{error:?}");
    assert_eq!(attempts, 1, "not retried");
    let error = error.unwrap_or_default();
    assert!(error.contains("amount"), "a readable reason: {error}");
    assert_eq!(books(&app, CUSTOMER).await, (0, 0, 0));
    // The shop goes on: a real order earns.
    deliver(
        &app,
        "orders/paid",
        &order_body(9002, &shopper(), "50.00", None),
    )
    .await;
    assert_ne!(books(&app, CUSTOMER).await, (0, 0, 0));
}

async fn a_change_the_database_refuses_is_dead_lettered_on_the_first_attempt(backend: Backend) {
    let app = shop_with_customer(backend).await;
    // Pending points a hair under the bound: the order's points cannot be
    // held, whatever the number of retries.
    let near = MAX_STORED - 10;
    execute(
        &app,
        &format!("UPDATE customers SET points_pending = {near} WHERE customer_id = {CUSTOMER}"),
    )
    .await
    .expect("seed pending points");
    let order = order_body(9101, &shopper(), "500.00", None);
    let (status, attempts, error) = deliver_once(&app, "orders/paid", &order).await;
    assert_eq!(status, "failed", "{error:?}");
    assert_eq!(attempts, 1, "not retried");
    let error = error.unwrap_or_default();
    assert!(
        error.contains("CHECK constraint") || error.contains("constraint"),
        "the kind of failure: {error}"
    );
    assert!(!error.contains(&near.to_string()), "no values: {error}");
    assert_eq!(books(&app, CUSTOMER).await, (0, near, 0), "nothing moved");
}

async fn database_failures_the_data_causes_are_permanent_and_others_are_retried(backend: Backend) {
    use advocate::store::failure::{classify, Failure};
    let app = shop_with_customer(backend).await;
    let overflow = match backend {
        // SQLite's SUM() raises on overflow; PostgreSQL's BIGINT addition does.
        Backend::Sqlite => {
            "SELECT SUM(x) FROM (SELECT 9223372036854775807 AS x UNION ALL SELECT 1) AS t"
        }
        Backend::Postgres => "SELECT CAST(9223372036854775807 AS BIGINT) + 1",
    };
    let check = format!(
        "UPDATE customers SET points_balance = {} WHERE customer_id = {CUSTOMER}",
        MAX_STORED + 1
    );
    for sql in [overflow, check.as_str()] {
        let error = sqlx::query(sql)
            .execute(app.store.writer())
            .await
            .expect_err(sql);
        match classify(&error) {
            Failure::Permanent(reason) => {
                assert!(!reason.contains("9223372036854775807"), "{reason}");
                assert!(!reason.contains(&(MAX_STORED + 1).to_string()), "{reason}");
            }
            Failure::Transient => panic!("{sql} must not be retried: {error}"),
        }
    }
    // A table that is not there (yet) is the environment's problem, and
    // an exhausted pool passes.
    let missing = sqlx::query("SELECT 1 FROM table_from_a_later_release")
        .execute(app.store.writer())
        .await
        .expect_err("no such table");
    assert_eq!(classify(&missing), Failure::Transient, "{missing}");
    assert_eq!(classify(&sqlx::Error::PoolTimedOut), Failure::Transient);
}

/// Program settings are refused or saved, never a server error; a refused
/// save changes nothing.
async fn arbitrary_program_settings_never_fail_the_server_and_a_refusal_changes_nothing(
    backend: Backend,
) {
    let app = shop_with_customer(backend).await;
    let (_, program) = answer(admin(&app, Method::GET, "/api/admin/program")).await;
    let base = program["settings"].clone();
    let paths = leaf_paths(&base, &mut Vec::new());
    let strategy = (
        any::<prop::sample::Index>(),
        json_value(),
        number(),
        text(),
        0..6_u8,
        "[a-z_]{1,12}",
    );
    let mut runner = TestRunner::new(Config::default());
    let mut before = state_of(&app).await;
    let mut answered = std::collections::BTreeMap::new();
    for case in 0..128 {
        let (index, value, number, text, mode, key) =
            strategy.new_tree(&mut runner).expect("a case").current();
        let mut settings = base.clone();
        let path = &paths[index.index(paths.len())];
        let field = pointer_mut(&mut settings, path);
        match mode {
            // A field's value replaced by one of the same JSON type, so
            // that the case reaches validation: extreme numbers, amounts
            // that do not parse or do not fit.
            0..=2 => match field {
                Value::Number(_) => *field = number,
                Value::String(_) => *field = text,
                Value::Bool(b) => *b = !*b,
                other => *other = value,
            },
            // A field's value replaced by anything at all.
            3 => *field = value,
            // An unknown field beside a known one.
            4 => {
                let parent = pointer_mut(&mut settings, &path[..path.len() - 1]);
                if let Some(object) = parent.as_object_mut() {
                    object.insert(format!("x_{key}"), value);
                }
            }
            // The whole document replaced.
            _ => settings = value,
        }
        let version = before.0["version"].clone();
        let body = json!({ "settings": settings, "version": version });
        let (status, answer_body) =
            answer(admin(&app, Method::PUT, "/api/admin/program").json(&body)).await;
        let after = state_of(&app).await;
        *answered.entry(status.as_u16()).or_insert(0) += 1;
        match status.as_u16() {
            200 => before = after,
            400 | 409 | 422 => assert_eq!(
                after, before,
                "case {case}: a refused save ({status}) changed the database: {body}"
            ),
            other => panic!("case {case}: {other} for {body}: {answer_body}"),
        }
    }
    // The cases reached both sides of validation.
    eprintln!("program settings answers: {answered:?}");
    assert!(answered.get(&422).is_some_and(|n| *n > 0), "{answered:?}");
    assert!(answered.get(&400).is_some_and(|n| *n > 0), "{answered:?}");
}

/// What a settings save may change: the program as read, and the counts of
/// the rows a change could add.
async fn state_of(app: &TestApp) -> (Value, [i64; 4]) {
    let (_, program) = answer(admin(app, Method::GET, "/api/admin/program")).await;
    let mut counts = [0; 4];
    for (slot, table) in
        counts
            .iter_mut()
            .zip(["program_versions", "points_ledger", "outbox", "customers"])
    {
        *slot = app
            .count(&format!("SELECT CAST(COUNT(*) AS BIGINT) FROM {table}"))
            .await;
    }
    (program, counts)
}

#[derive(Clone, Debug)]
enum Step {
    Key(String),
    At(usize),
}

/// Every path to a leaf (and to every array and object) of `value`.
fn leaf_paths(value: &Value, at: &mut Vec<Step>) -> Vec<Vec<Step>> {
    let mut paths = Vec::new();
    if !at.is_empty() {
        paths.push(at.clone());
    }
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                at.push(Step::Key(key.clone()));
                paths.extend(leaf_paths(inner, at));
                at.pop();
            }
        }
        Value::Array(items) => {
            for (i, inner) in items.iter().enumerate() {
                at.push(Step::At(i));
                paths.extend(leaf_paths(inner, at));
                at.pop();
            }
        }
        _ => {}
    }
    paths
}

fn pointer_mut<'a>(value: &'a mut Value, path: &[Step]) -> &'a mut Value {
    path.iter().fold(value, |value, step| match step {
        Step::Key(key) => &mut value[key.as_str()],
        Step::At(i) => &mut value[*i],
    })
}

/// Numbers that break points arithmetic, or sit at the edges of a range.
fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        (-3_i64..=1_001).prop_map(Value::from),
        prop::sample::select(vec![
            i64::MIN,
            i64::MAX,
            i64::from(u32::MAX),
            100_000_000,
            100_000_001,
            MAX_STORED,
        ])
        .prop_map(Value::from),
        Just(json!(u64::MAX)),
        Just(json!(2.5)),
    ]
}

/// Texts where an amount, an id, a tag or a kind is expected.
fn text() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::sample::select(vec![
            "0.00",
            "-1",
            "1.001",
            "92233720368547758.07",
            "10000000000000.01",
            "9223372036854775807",
            "5",
            "",
            " ",
            "a,b",
            "free_shipping",
        ])
        .prop_map(Value::from),
        "[a-z0-9 .,:_-]{0,50}".prop_map(Value::from),
    ]
}

/// Any JSON, weighted toward the values that break points arithmetic: the
/// extremes of 64 bits, fractions, numbers as text, and deep nesting.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        prop::sample::select(vec![
            i64::MIN,
            i64::MAX,
            -1,
            0,
            1,
            100_000_000,
            100_000_001,
            MAX_STORED,
            MAX_STORED + 1,
        ])
        .prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(Value::Number)),
        prop::sample::select(vec![
            "92233720368547758.07",
            "-1",
            "1e9",
            "0.001",
            "",
            "amount_off",
            "percentage_off",
            "free_shipping",
            "points",
            "discount",
            "rolling_12_months",
            "points_earned",
        ])
        .prop_map(Value::from),
        "[a-z0-9 .,:-]{0,16}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,12}", inner, 0..4)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}
