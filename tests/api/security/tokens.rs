//! Security regression tests: tokens.
//!
//! Session tokens and app proxy signatures, probed as an attacker would.
//! Two kinds of session token exist and each guard takes one: an admin
//! (App Bridge) token only on `/api/admin/*`, an extension token (checkout,
//! thank-you / order-status, customer account) only on the extension routes.
//! Every other token is refused by both. A repeated single-valued app proxy
//! parameter is refused, whoever signed it.

use advocate::routes::{Guard, API_ROUTES};
use advocate::shopify::{hmac::Signer, query, session_token::sign_session_token};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine};
use secrecy::SecretString;
use serde_json::{json, Value};

use crate::helpers::{
    extension_token, extension_token_with, proxy_query, session_token, session_token_with, Backend,
    TestApp, SECRET, SHOP,
};

crate::on_both_backends!(
    an_extension_token_opens_no_admin_route_and_grants_no_points,
    the_documented_extension_token_opens_every_extension_route,
    an_admin_token_opens_no_extension_route,
    forged_and_misissued_tokens_are_refused_by_both_guards,
    a_repeated_app_proxy_parameter_is_refused_with_400_and_not_echoed,
    a_signed_proxy_query_split_another_way_names_no_customer,
);

const OTHER_SHOP: &str = "other-shop.myshopify.com";
const CUSTOMER: i64 = 7_000_000_000_000_077;

/// An installed shop with two customers, one of whom a shopper will claim to be.
async fn shop_with_customers(backend: Backend) -> TestApp {
    let app = TestApp::spawn(backend).await;
    app.install(SHOP).await;
    for (key, body) in [
        (
            "c1",
            json!({ "id": CUSTOMER, "email": "shopper@example.com" }),
        ),
        (
            "c2",
            json!({ "id": 78, "email": "someone-else@example.com" }),
        ),
    ] {
        let response = app
            .send("customers/create", key, body.to_string().as_bytes())
            .await;
        assert_eq!(response.status(), 200);
    }
    app.drain().await;
    app
}

/// A request to a guarded route with its path parameters filled in and,
/// for writes, a body and an idempotency key every handler accepts the
/// shape of.
fn request_to(app: &TestApp, method: &str, path: &str, token: &str) -> reqwest::RequestBuilder {
    let path = path
        .replace("{customer_id}", &CUSTOMER.to_string())
        .replace("{inbox_id}", "1")
        .replace("{effect_id}", "1")
        .replace("{referral_id}", "1")
        .replace("{activity_id}", "1")
        .replace("{endpoint_id}", "1")
        .replace("{delivery_id}", "1");
    let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
    let writes = method != reqwest::Method::GET;
    let mut request = app
        .http
        .request(method, format!("{}{path}", app.address))
        .query(&[("order_id", "1")])
        .bearer_auth(token);
    if writes {
        request = request
            .header("Content-Type", "application/json")
            .header("Idempotency-Key", format!("k-{}", rand::random::<u64>()))
            .body(
                json!({ "points": 1000, "reason": "probe", "reward_id": "5-off",
                        "birthday": "01-02", "order_id": 1, "score": 9 })
                .to_string(),
            );
    }
    request
}

fn routes(guard: Guard) -> impl Iterator<Item = &'static advocate::routes::ApiRoute> {
    API_ROUTES.iter().filter(move |r| r.guard == guard)
}

/// Defect: the admin guard took a token with no `iss` and a Customer `sub`
/// (the shape of a checkout extension token), so a shopper listed every
/// customer and granted points. The POS routes, which act as staff for any
/// customer, refuse them too.
async fn an_extension_token_opens_no_admin_route_and_grants_no_points(backend: Backend) {
    let app = shop_with_customers(backend).await;
    let ledger_before = app.count("SELECT COUNT(*) FROM points_ledger").await;
    let now = chrono::Utc::now().timestamp();
    let probes = [
        // What the probe sent: no `iss`, a Customer GID, `dest` with a scheme.
        sign_session_token(
            SECRET,
            &json!({ "dest": format!("https://{SHOP}"), "aud": "test-client-id",
                     "sub": format!("gid://shopify/Customer/{CUSTOMER}"),
                     "exp": now + 60, "nbf": now - 1 }),
        ),
        // The documented extension shapes, logged in and logged out.
        extension_token(SHOP, Some(CUSTOMER)),
        extension_token(SHOP, None),
        extension_token_with(SHOP, Some(CUSTOMER), |c| {
            c["dest"] = format!("https://{SHOP}").into()
        }),
    ];
    for (i, token) in probes.iter().enumerate() {
        for route in routes(Guard::Admin).chain(routes(Guard::Pos)) {
            let response = request_to(&app, route.method, route.path, token)
                .send()
                .await
                .unwrap();
            let status = response.status();
            let body = response.text().await.unwrap();
            assert_eq!(status, 401, "probe {i} on {} {}", route.method, route.path);
            assert!(!body.contains("example.com"), "{body}");
        }
    }
    assert_eq!(
        app.count("SELECT COUNT(*) FROM points_ledger").await,
        ledger_before
    );
}

/// Defect: a token in the shape Shopify documents for extensions (`dest`
/// the bare shop domain, no `iss`) was refused by the extension guard.
async fn the_documented_extension_token_opens_every_extension_route(backend: Backend) {
    let app = shop_with_customers(backend).await;
    let tokens = [
        extension_token(SHOP, Some(CUSTOMER)),
        extension_token_with(SHOP, Some(CUSTOMER), |c| {
            c["dest"] = format!("https://{SHOP}").into()
        }),
    ];
    for token in &tokens {
        for route in routes(Guard::Checkout) {
            let response = request_to(&app, route.method, route.path, token)
                .send()
                .await
                .unwrap();
            assert_ne!(
                response.status(),
                401,
                "{} {}: {}",
                route.method,
                route.path,
                response.text().await.unwrap()
            );
        }
        let balance = app
            .http
            .get(format!("{}/api/checkout/balance", app.address))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(balance.status(), 200);
    }
    // A logged-out buyer's token (no `sub`) passes the guard too.
    let logged_out = app
        .http
        .get(format!("{}/api/checkout/balance", app.address))
        .bearer_auth(extension_token(SHOP, None))
        .send()
        .await
        .unwrap();
    assert_eq!(logged_out.status(), 200);
}

async fn an_admin_token_opens_no_extension_route(backend: Backend) {
    let app = shop_with_customers(backend).await;
    let admin = session_token(SHOP, Some("1"));
    // The admin token works where it belongs...
    let shop = app
        .http
        .get(format!("{}/api/admin/shop", app.address))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(shop.status(), 200);
    // ...and nowhere else, even with a Customer `sub` or a bare `dest`.
    let disguised = [
        admin.clone(),
        session_token(SHOP, Some(&format!("gid://shopify/Customer/{CUSTOMER}"))),
        session_token_with(
            SHOP,
            Some(&format!("gid://shopify/Customer/{CUSTOMER}")),
            |c| c["dest"] = SHOP.into(),
        ),
    ];
    for token in &disguised {
        for route in routes(Guard::Checkout) {
            let response = request_to(&app, route.method, route.path, token)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 401, "{} {}", route.method, route.path);
        }
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM redemptions").await, 0);
}

/// A token signed with our secret under any header, as `alg` says it is not.
fn with_header(header: &str, claims: &Value) -> String {
    use hmac::{Hmac, Mac};
    let message = format!("{}.{}", B64.encode(header), B64.encode(claims.to_string()));
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(message.as_bytes());
    format!("{message}.{}", B64.encode(mac.finalize().into_bytes()))
}

async fn forged_and_misissued_tokens_are_refused_by_both_guards(backend: Backend) {
    let app = shop_with_customers(backend).await;
    app.install(OTHER_SHOP).await;
    let ledger_before = app.count("SELECT COUNT(*) FROM points_ledger").await;
    let now = chrono::Utc::now().timestamp();
    let admin =
        || advocate::shopify::session_token::admin_claims(SHOP, "test-client-id", 1, now, 60);
    let extension = || {
        advocate::shopify::session_token::extension_claims(
            SHOP,
            "test-client-id",
            Some(CUSTOMER),
            now,
            60,
        )
    };
    let tweak = |mut claims: Value, change: Value| {
        for (k, v) in change.as_object().unwrap() {
            claims[k] = v.clone();
        }
        claims
    };
    let none_header = B64.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let mut cases: Vec<(String, String)> = Vec::new();
    for (kind, claims) in [("admin", admin()), ("extension", extension())] {
        let mut add = |what: &str, token: String| cases.push((format!("{kind}: {what}"), token));
        add(
            "alg none",
            format!("{none_header}.{}.", B64.encode(claims.to_string())),
        );
        add(
            "alg HS512",
            with_header(r#"{"alg":"HS512","typ":"JWT"}"#, &claims),
        );
        add(
            "alg RS256",
            with_header(r#"{"alg":"RS256","typ":"JWT"}"#, &claims),
        );
        add("another secret", sign_session_token("guess", &claims));
        add(
            "expired beyond the skew",
            sign_session_token(SECRET, &tweak(claims.clone(), json!({ "exp": now - 30 }))),
        );
        add(
            "not valid yet beyond the skew",
            sign_session_token(SECRET, &tweak(claims.clone(), json!({ "nbf": now + 30 }))),
        );
        add(
            "another app",
            sign_session_token(
                SECRET,
                &tweak(claims.clone(), json!({ "aud": "another-app" })),
            ),
        );
        add(
            "issued by another shop's admin",
            sign_session_token(
                SECRET,
                &tweak(
                    claims.clone(),
                    json!({ "iss": format!("https://{OTHER_SHOP}/admin") }),
                ),
            ),
        );
        add(
            "a dest that is not a shop",
            sign_session_token(
                SECRET,
                &tweak(
                    claims.clone(),
                    json!({ "dest": "https://evil.example.com" }),
                ),
            ),
        );
    }
    cases.push((
        "admin: dest of another shop".into(),
        sign_session_token(
            SECRET,
            &tweak(admin(), json!({ "dest": format!("https://{OTHER_SHOP}") })),
        ),
    ));
    cases.push((
        "admin: a Customer sub".into(),
        sign_session_token(
            SECRET,
            &tweak(
                admin(),
                json!({ "sub": format!("gid://shopify/Customer/{CUSTOMER}") }),
            ),
        ),
    ));
    cases.push((
        "extension: a staff sub".into(),
        sign_session_token(SECRET, &tweak(extension(), json!({ "sub": "1" }))),
    ));
    for (what, token) in &cases {
        for (path, route) in [
            ("/api/admin/customers", "admin"),
            ("/api/checkout/balance", "extension"),
            ("/api/account/history", "customer account"),
            (&format!("/api/pos/customers/{CUSTOMER}") as &str, "POS"),
        ] {
            let response = app
                .http
                .get(format!("{}{path}", app.address))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 401, "{what} on the {route} route");
        }
    }
    // Within the 10 s skew, both kinds still pass on their own route.
    for (claims, path) in [
        (admin(), "/api/admin/shop"),
        (extension(), "/api/checkout/balance"),
    ] {
        let token = sign_session_token(
            SECRET,
            &tweak(claims, json!({ "exp": now - 5, "nbf": now + 5 })),
        );
        let response = app
            .http
            .get(format!("{}{path}", app.address))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path} within the skew");
    }
    assert_eq!(
        app.count("SELECT COUNT(*) FROM points_ledger").await,
        ledger_before
    );
}

/// An app proxy query over `pairs`, signed as Shopify signs it (repeated
/// keys joined with `,`); `signatures` extra `signature` values are added.
fn signed_proxy_query(pairs: &[(&str, &str)], extra_signatures: &[&str]) -> String {
    let mut pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let message = query::proxy_message(&pairs);
    let signature =
        Signer::new(&SecretString::from(SECRET.to_owned()), None).sign_hex(message.as_bytes());
    pairs.push(("signature".into(), signature));
    for extra in extra_signatures {
        pairs.push(("signature".into(), extra.to_string()));
    }
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// Defect: a shopper who added `logged_in_customer_id=5555` to a storefront
/// URL got a request Shopify signed as `5555,<own id>`, and Advocate read
/// the first value: the balance (and redemptions) of customer 5555.
async fn a_repeated_app_proxy_parameter_is_refused_with_400_and_not_echoed(backend: Backend) {
    let app = shop_with_customers(backend).await;
    let now = chrono::Utc::now().timestamp().to_string();
    let victim = "5555";
    let own = CUSTOMER.to_string();
    let base = [
        ("path_prefix", "/apps/loyalty"),
        ("shop", SHOP),
        ("logged_in_customer_id", own.as_str()),
        ("timestamp", now.as_str()),
    ];
    let with_extra = |name: &'static str, value: &'static str| {
        let mut pairs = vec![(name, value)];
        pairs.extend_from_slice(&base);
        pairs
    };
    let cases = [
        (
            "logged_in_customer_id",
            signed_proxy_query(&with_extra("logged_in_customer_id", victim), &[]),
        ),
        (
            "shop",
            signed_proxy_query(&with_extra("shop", "victim-shop.myshopify.com"), &[]),
        ),
        (
            "timestamp",
            signed_proxy_query(&with_extra("timestamp", "9999999999"), &[]),
        ),
        (
            "signature",
            signed_proxy_query(&base, &["00c0ffee00c0ffee"]),
        ),
    ];
    for (name, query) in &cases {
        for path in ["/proxy/balance", "/proxy/referral"] {
            let response = app
                .http
                .get(format!("{}{path}?{query}", app.address))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 400, "repeated {name} on {path}");
            let body = response.text().await.unwrap();
            assert!(
                body.contains(name),
                "the answer names the parameter: {body}"
            );
            for value in [victim, "victim-shop", "9999999999", "c0ffee", own.as_str()] {
                assert!(!body.contains(value), "a value was echoed: {body}");
            }
        }
    }
    // The same shopper's genuine request still passes.
    let genuine = app
        .http
        .get(format!(
            "{}/proxy/balance?{}",
            app.address,
            proxy_query(SHOP, Some(CUSTOMER))
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(genuine.status(), 200);
}

/// Defect: the proxy form has no separator between pairs, so a logged-out
/// shopper who asked for `?a=1logged_in_customer_id%3D{victim}m` had a
/// signature that also held for `a=1&logged_in_customer_id={victim}&
/// mlogged_in_customer_id=&…`, and got the victim's balance.
async fn a_signed_proxy_query_split_another_way_names_no_customer(backend: Backend) {
    let app = shop_with_customers(backend).await;
    let now = chrono::Utc::now().timestamp().to_string();
    let victim = CUSTOMER.to_string();
    let crafted = format!("1logged_in_customer_id={victim}m");
    // What Shopify signs for the logged-out shopper.
    let asked: Vec<(String, String)> = [
        ("a", crafted.as_str()),
        ("logged_in_customer_id", ""),
        ("path_prefix", "/apps/loyalty"),
        ("shop", SHOP),
        ("timestamp", now.as_str()),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let signature = Signer::new(&SecretString::from(SECRET.to_owned()), None)
        .sign_hex(query::proxy_message(&asked).as_bytes());
    let resplit: Vec<(String, String)> = [
        ("a", "1"),
        ("logged_in_customer_id", victim.as_str()),
        ("mlogged_in_customer_id", ""),
        ("path_prefix", "/apps/loyalty"),
        ("shop", SHOP),
        ("timestamp", now.as_str()),
        ("signature", signature.as_str()),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(
        query::proxy_message(&resplit),
        query::proxy_message(&asked),
        "the same signed message"
    );
    let mut asked = asked;
    asked.push(("signature".into(), signature.clone()));
    for (what, pairs) in [
        ("as Shopify sent it", &asked),
        ("split another way", &resplit),
    ] {
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs.iter())
            .finish();
        let response = app
            .http
            .get(format!("{}/proxy/balance?{query}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{what}");
        let body = response.text().await.unwrap();
        assert!(!body.contains(&victim), "{what}: {body}");
        assert!(!body.contains("balance"), "{what}: {body}");
    }
}
