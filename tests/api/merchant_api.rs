//! The merchant REST API (`/api/v1`) and its keys, black-box: a key is
//! shown once and stored as a hash, opens only what its scopes allow (403
//! otherwise), stops at once when revoked (401), is limited per key (429),
//! and writes with the admin routes' idempotency.

use serde_json::{json, Value};

use crate::helpers::{session_token, Backend, TestApp, SHOP};
use crate::loyalty::send_json;

crate::on_both_backends!(
    a_key_is_shown_once_stored_as_a_hash_and_listed_without_it,
    scopes_decide_what_a_key_opens_and_revocation_is_immediate,
    adjustments_and_redemptions_through_the_api_are_idempotent,
    the_ledger_pages_with_a_cursor_and_bad_pages_are_refused,
    the_program_and_a_customer_read_as_documented,
    each_key_has_its_own_rate_limit,
    an_address_guessing_keys_is_refused_before_its_keys_are_looked_at,
    the_openapi_description_covers_every_route_with_its_scope_errors,
);

const CUSTOMER: i64 = 7_000_000_000_000_201;

async fn shop_with_customer(backend: Backend) -> TestApp {
    let app = TestApp::spawn(backend).await;
    app.install(SHOP).await;
    let profile = json!({ "id": CUSTOMER, "email": "api@example.com", "first_name": "Ada" });
    send_json(&app, "customers/create", "c-api", &profile).await;
    app.drain().await;
    app
}

async fn call(
    app: &TestApp,
    method: &str,
    path: &str,
    key: &str,
    body: Option<(&str, Value)>,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = app
        .http
        .request(method, format!("{}{path}", app.address))
        .bearer_auth(key);
    if let Some((idempotency, body)) = body {
        request = request.header("Idempotency-Key", idempotency).json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (
        status,
        response.json().await.unwrap_or(Value::Null),
        headers,
    )
}

async fn a_key_is_shown_once_stored_as_a_hash_and_listed_without_it(backend: Backend) {
    let app = shop_with_customer(backend).await;
    let (id, secret) = app
        .api_key(SHOP, &["read_customers", "read_customers"])
        .await;
    assert!(secret.starts_with("adv_") && secret.len() > 70, "{secret}");
    let stored: String = sqlx::query_scalar("SELECT secret_hash FROM api_keys WHERE id = $1")
        .bind(id)
        .fetch_one(app.store.writer())
        .await
        .unwrap();
    assert!(!stored.contains(&secret[17..]), "only a hash is kept");
    assert_eq!(stored.len(), 64);
    let listed: Value = app
        .http
        .get(format!("{}/api/admin/api-keys", app.address))
        .bearer_auth(session_token(SHOP, Some("1")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!listed.to_string().contains(&secret), "{listed}");
    assert_eq!(listed["keys"][0]["scopes"], json!(["read_customers"]));
    assert_eq!(listed["keys"][0]["last_used_at"], Value::Null);
    // Used once: when is recorded.
    let (status, _, _) = call(
        &app,
        "GET",
        &format!("/api/v1/customers/{CUSTOMER}"),
        &secret,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM api_keys WHERE id = {id} AND last_used_at IS NOT NULL"
        ))
        .await,
        1
    );
    // Bad requests for a key: 422, nothing made.
    for body in [
        json!({ "name": "x", "scopes": [] }),
        json!({ "name": "x", "scopes": ["read_everything"] }),
        json!({ "name": "", "scopes": ["read_customers"] }),
    ] {
        let response = app
            .http
            .post(format!("{}/api/admin/api-keys", app.address))
            .bearer_auth(session_token(SHOP, Some("1")))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 422, "{body}");
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM api_keys").await, 1);
}

async fn scopes_decide_what_a_key_opens_and_revocation_is_immediate(backend: Backend) {
    let app = shop_with_customer(backend).await;
    let (id, reader) = app.api_key(SHOP, &["read_customers"]).await;
    let path = format!("/api/v1/customers/{CUSTOMER}");
    let (status, body, _) = call(&app, "GET", &path, &reader, None).await;
    assert_eq!(status, 200, "{body}");
    for (method, route, payload) in [
        ("GET", format!("{path}/ledger"), None),
        ("GET", "/api/v1/program".to_owned(), None),
        (
            "POST",
            format!("{path}/adjustments"),
            Some(("k1", json!({ "points": 5, "reason": "x" }))),
        ),
        (
            "POST",
            format!("{path}/redemptions"),
            Some(("k2", json!({ "reward_id": "5-off" }))),
        ),
    ] {
        let (status, body, _) = call(&app, method, &route, &reader, payload).await;
        assert_eq!(status, 403, "{method} {route}: {body}");
        assert_eq!(body["error"], "forbidden");
        assert!(
            body["message"].as_str().unwrap().contains("scope"),
            "{body}"
        );
    }
    assert_eq!(
        app.count("SELECT COUNT(*) FROM points_ledger WHERE kind = 'adjustment'")
            .await,
        0
    );

    for garbage in [
        "",
        "adv_",
        "adv_zzzzzzzzzzzz_00",
        &reader.replace("adv_", "adv_0"),
    ] {
        let (status, _, _) = call(&app, "GET", &path, garbage, None).await;
        assert_eq!(status, 401, "{garbage:?}");
    }
    let last = if reader.ends_with('0') { '1' } else { '0' };
    let tampered = format!("{}{last}", &reader[..reader.len() - 1]);
    assert_eq!(call(&app, "GET", &path, &tampered, None).await.0, 401);

    let revoked = app
        .http
        .post(format!("{}/api/admin/api-keys/{id}/revoke", app.address))
        .bearer_auth(session_token(SHOP, Some("1")))
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 204);
    let (status, body, _) = call(&app, "GET", &path, &reader, None).await;
    assert_eq!(
        (status, body["error"].clone()),
        (401, json!("unauthorized"))
    );

    // An uninstalled shop's keys open nothing either.
    let (_, other) = app.api_key(SHOP, &["read_customers"]).await;
    send_json(
        &app,
        "app/uninstalled",
        "gone",
        &json!({ "id": 1, "domain": SHOP }),
    )
    .await;
    app.drain().await;
    assert_eq!(call(&app, "GET", &path, &other, None).await.0, 401);
}

async fn adjustments_and_redemptions_through_the_api_are_idempotent(backend: Backend) {
    let app = shop_with_customer(backend).await;
    let (id, key) = app
        .api_key(SHOP, &["write_points", "write_redemptions", "read_ledger"])
        .await;
    let path = format!("/api/v1/customers/{CUSTOMER}");
    let grant = json!({ "points": 700, "reason": "review on our blog" });
    let (status, first, _) = call(
        &app,
        "POST",
        &format!("{path}/adjustments"),
        &key,
        Some(("grant-1", grant.clone())),
    )
    .await;
    assert_eq!(status, 201, "{first}");
    let (status, again, _) = call(
        &app,
        "POST",
        &format!("{path}/adjustments"),
        &key,
        Some(("grant-1", grant)),
    )
    .await;
    assert_eq!(status, 200, "{again}");
    let (status, _, _) = call(
        &app,
        "POST",
        &format!("{path}/adjustments"),
        &key,
        Some(("grant-1", json!({ "points": 9, "reason": "other" }))),
    )
    .await;
    assert_eq!(status, 422, "a key reused for another adjustment");
    let (status, _, _) = call(
        &app,
        "POST",
        &format!("{path}/adjustments"),
        &key,
        Some(("grant-2", json!({ "points": 1.5, "reason": "x" }))),
    )
    .await;
    assert_eq!(status, 422);
    let actors: Vec<Option<String>> =
        sqlx::query_scalar("SELECT actor FROM points_ledger WHERE kind = 'adjustment'")
            .fetch_all(app.store.writer())
            .await
            .unwrap();
    assert_eq!(actors, vec![Some(format!("api-key:{id}"))]);

    let redeem = json!({ "reward_id": "5-off" });
    let (status, code, _) = call(
        &app,
        "POST",
        &format!("{path}/redemptions"),
        &key,
        Some(("r-1", redeem.clone())),
    )
    .await;
    assert_eq!(status, 201, "{code}");
    let (status, replay, _) = call(
        &app,
        "POST",
        &format!("{path}/redemptions"),
        &key,
        Some(("r-1", redeem)),
    )
    .await;
    assert_eq!(
        (status, replay["code"].clone()),
        (200, code["code"].clone())
    );
    let channel: (String, String) = sqlx::query_as("SELECT channel, actor FROM redemptions")
        .fetch_one(app.store.writer())
        .await
        .unwrap();
    assert_eq!(channel, ("api".to_owned(), format!("api-key:{id}")));
    // No key: 400 and nothing spent.
    let response = app
        .http
        .post(format!("{}{path}/redemptions", app.address))
        .bearer_auth(&key)
        .json(&json!({ "reward_id": "5-off" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(app.count("SELECT COUNT(*) FROM redemptions").await, 1);
    // A customer the shop does not know: 404, nothing written.
    let (status, _, _) = call(
        &app,
        "POST",
        "/api/v1/customers/42/adjustments",
        &key,
        Some(("g-42", json!({ "points": 5, "reason": "x" }))),
    )
    .await;
    assert_eq!(status, 404);
}

/// Every entry of a paged listing, following `next_cursor` (at most 10
/// pages).
async fn every_page(app: &TestApp, key: &str, first: &str) -> Vec<Value> {
    let mut entries = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let query = cursor
            .as_ref()
            .map_or(String::new(), |c| format!("&cursor={c}"));
        let (status, page, _) = call(app, "GET", &format!("{first}{query}"), key, None).await;
        assert_eq!(status, 200, "{page}");
        entries.extend(page["entries"].as_array().unwrap().iter().cloned());
        cursor = page["next_cursor"].as_str().map(str::to_owned);
        if cursor.is_none() {
            return entries;
        }
    }
    panic!("more than 10 pages of {first}");
}

async fn the_ledger_pages_with_a_cursor_and_bad_pages_are_refused(backend: Backend) {
    let app = shop_with_customer(backend).await;
    let (_, key) = app.api_key(SHOP, &["write_points", "read_ledger"]).await;
    let path = format!("/api/v1/customers/{CUSTOMER}");
    for n in 1..=4 {
        let body = json!({ "points": n * 10, "reason": format!("grant {n}") });
        let (status, _, _) = call(
            &app,
            "POST",
            &format!("{path}/adjustments"),
            &key,
            Some((&format!("g-{n}"), body)),
        )
        .await;
        assert_eq!(status, 201);
    }
    // The signup bonus and the four grants, newest first, two a page.
    let entries = every_page(&app, &key, &format!("{path}/ledger?limit=2")).await;
    assert!(entries
        .iter()
        .all(|e| e["occurred_at"].as_str().unwrap().ends_with('Z')));
    let seen: Vec<i64> = entries
        .iter()
        .map(|e| e["points"].as_i64().unwrap())
        .collect();
    assert_eq!(&seen[..4], &[40, 30, 20, 10], "{seen:?}");
    assert_eq!(seen.len(), 5, "every entry once: {seen:?}");
    for bad in ["limit=0", "limit=201", "limit=x", "cursor=-1", "cursor=abc"] {
        let (status, body, _) =
            call(&app, "GET", &format!("{path}/ledger?{bad}"), &key, None).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    assert_eq!(
        call(&app, "GET", "/api/v1/customers/42/ledger", &key, None)
            .await
            .0,
        404
    );

    // The shop's ledger of the period, in the order things happened.
    let entries = every_page(&app, &key, "/api/v1/ledger?limit=2").await;
    assert!(entries.iter().all(|e| e["customer_id"] == CUSTOMER));
    let shop_seen: Vec<i64> = entries
        .iter()
        .map(|e| e["points"].as_i64().unwrap())
        .collect();
    assert_eq!(&shop_seen[1..], &[10, 20, 30, 40], "{shop_seen:?}");
    let (status, none, _) = call(
        &app,
        "GET",
        "/api/v1/ledger?from=2020-01-01&to=2020-01-31",
        &key,
        None,
    )
    .await;
    assert_eq!(
        (status, none["entries"].as_array().unwrap().len()),
        (200, 0)
    );
    for bad in ["from=yesterday", "cursor=12", "cursor=-5", "limit=500"] {
        let (status, body, _) =
            call(&app, "GET", &format!("/api/v1/ledger?{bad}"), &key, None).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
}

async fn the_program_and_a_customer_read_as_documented(backend: Backend) {
    let app = shop_with_customer(backend).await;
    let (_, key) = app.api_key(SHOP, &["read_program", "read_customers"]).await;
    let (status, program, _) = call(&app, "GET", "/api/v1/program", &key, None).await;
    assert_eq!(status, 200, "{program}");
    assert_eq!(program["currency"], "USD");
    let five = program["rewards"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "5-off")
        .unwrap();
    assert_eq!(
        (five["value"].clone(), five["points_cost"].clone()),
        (json!("5.00"), json!(500))
    );
    assert!(five.get("affordable").is_none());
    assert!(
        program["tiers"]["levels"]
            .as_array()
            .is_some_and(|l| !l.is_empty()),
        "{program}"
    );

    let (status, customer, _) = call(
        &app,
        "GET",
        &format!("/api/v1/customers/{CUSTOMER}"),
        &key,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(customer["email"], "api@example.com");
    assert_eq!(customer["points_balance"], 100, "the signup bonus");
    let (status, found, _) = call(
        &app,
        "GET",
        "/api/v1/customers?query=api%40example",
        &key,
        None,
    )
    .await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["customers"][0]["customer_id"], CUSTOMER);
    assert_eq!(found["next_cursor"], Value::Null);
    let (status, exact, _) = call(
        &app,
        "GET",
        "/api/v1/customers?email=API%40Example.com",
        &key,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(exact["customers"].as_array().unwrap().len(), 1, "{exact}");
    let (_, prefix_only, _) = call(
        &app,
        "GET",
        "/api/v1/customers?email=api%40example",
        &key,
        None,
    )
    .await;
    assert_eq!(
        prefix_only["customers"],
        json!([]),
        "an address, not its start"
    );
    assert_eq!(
        call(&app, "GET", "/api/v1/customers/42", &key, None)
            .await
            .0,
        404
    );
}

async fn each_key_has_its_own_rate_limit(backend: Backend) {
    let app = shop_with_customer(backend).await;
    let (_, busy) = app.api_key(SHOP, &["read_program"]).await;
    let (_, quiet) = app.api_key(SHOP, &["read_program"]).await;
    let mut limited = None;
    for n in 0..200 {
        let (status, _, headers) = call(&app, "GET", "/api/v1/program", &busy, None).await;
        if status == 429 {
            limited = Some((
                n,
                headers
                    .get("retry-after")
                    .map(|v| v.to_str().unwrap().to_owned()),
            ));
            break;
        }
        assert_eq!(status, 200);
    }
    let (n, retry_after) = limited.expect("the busy key is limited");
    assert!(n >= 100, "the burst is 100: limited after {n}");
    assert!(retry_after.is_some_and(|s| s.parse::<u64>().is_ok_and(|s| s >= 1)));
    assert_eq!(
        call(&app, "GET", "/api/v1/program", &quiet, None).await.0,
        200,
        "another key is not"
    );
}

/// The OpenAPI 3.1 description is served without a key, and names every
/// `/api/v1` route of the route table with its method, the bearer key, and
/// the error answers every route can give.
async fn the_openapi_description_covers_every_route_with_its_scope_errors(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let doc: Value = app
        .http
        .get(format!("{}/api/v1/openapi.json", app.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["api_key"]["scheme"],
        "bearer"
    );
    // An activity's action is described by the values the API takes, so a
    // client generating requests from the description sends those.
    use advocate::engine::activities::action;
    let pattern = doc["components"]["schemas"]["ActivityIn"]["properties"]["action"]["pattern"]
        .as_str()
        .expect("the action's pattern");
    let taken = [
        action::REVIEW,
        action::SOCIAL_FOLLOW,
        action::SOCIAL_SHARE,
        action::CUSTOM,
    ];
    assert_eq!(pattern, format!("^({})$", taken.join("|")));
    let routes: Vec<_> = advocate::routes::API_ROUTES
        .iter()
        .filter(|r| r.guard == advocate::routes::Guard::ApiKey)
        .collect();
    assert!(routes.len() >= 7);
    let mut described = 0;
    for (_, methods) in doc["paths"].as_object().unwrap() {
        described += methods.as_object().unwrap().len();
    }
    assert_eq!(
        described,
        routes.len(),
        "no more and no fewer operations than routes"
    );
    for route in routes {
        let operation = &doc["paths"][route.path][route.method];
        assert!(
            operation.is_object(),
            "{} {} is not described",
            route.method,
            route.path
        );
        for status in ["200", "400", "401", "403", "429"] {
            // A POST that makes something answers 201; one that acts on
            // what is there (a reversal) answers 200.
            let wanted = if route.method == "post"
                && status == "200"
                && !route.path.ends_with("/reversal")
            {
                "201"
            } else {
                status
            };
            assert!(
                operation["responses"][wanted].is_object(),
                "{} {}: no {wanted} answer described",
                route.method,
                route.path
            );
        }
    }
}

async fn an_address_guessing_keys_is_refused_before_its_keys_are_looked_at(backend: Backend) {
    let app = shop_with_customer(backend).await;
    let (_, key) = app.api_key(SHOP, &["read_program"]).await;
    let program = |bearer: String| {
        app.http
            .get(format!("{}/api/v1/program", app.address))
            .bearer_auth(bearer)
            .send()
    };
    // Thirty guesses answer 401 (a guess of the right prefix included).
    for i in 0..30 {
        let guess = format!("{}{:064x}", &key[..17], i);
        assert_eq!(program(guess).await.unwrap().status(), 401, "guess {i}");
    }
    // Then the address is refused, whatever it sends: the real key too,
    // so a guess that would be right teaches nothing.
    let refused = program(format!("adv_000000000000_{:064x}", 99))
        .await
        .unwrap();
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    let right = program(key.clone()).await.unwrap();
    assert_eq!(right.status(), 429);
    let body: Value = right.json().await.unwrap();
    assert_eq!(body["error"], "too_many_requests", "{body}");
}
