//! Installing, tokens, and the guards in front of every shop's data.

use sqlx::{Column, Row};

use crate::helpers::{
    extension_token, proxy_query, session_token, session_token_with, Backend, TestApp, SHOP,
};
use advocate::loyalty::{CustomerId, EpochMs, ShopId};

crate::on_both_backends!(
    the_authorization_code_grant_installs_a_shop_end_to_end,
    a_tampered_stale_or_replayed_callback_is_refused,
    token_exchange_installs_on_the_first_admin_request,
    bad_session_tokens_are_refused_over_http,
    tokens_are_refreshed_before_they_expire_and_the_refresh_token_rotates,
    a_refused_refresh_sends_the_merchant_through_auth_again,
    concurrent_refreshes_in_one_process_spend_the_refresh_token_once,
    an_uninstalled_shop_is_refused_everywhere_until_it_installs_again,
    no_token_is_stored_in_plaintext,
    rotating_the_encryption_key_keeps_every_token_readable,
    the_embedded_page_may_be_framed_only_by_shopify_admin_and_its_shop,
    checkout_routes_answer_cors_preflights,
    storefront_routes_are_rate_limited_per_shopper,
    a_shop_never_reads_or_changes_another_shops_data_on_any_route,
);

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_owned()
}

/// Follows `/auth` through the stand-in; returns the callback URL on our app.
async fn authorize(app: &TestApp, shop: &str) -> String {
    let http = no_redirects();
    let start = http
        .get(format!("{}/auth?shop={shop}", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 302);
    let authorize_url = location(&start);
    assert!(authorize_url.starts_with(&format!("{}/admin/oauth/authorize?", app.shopify.origin())));
    assert!(authorize_url.contains("client_id=test-client-id"));
    assert!(authorize_url.contains(&format!(
        "scope={}",
        urlencoding::encode(&advocate::app::declared_scopes())
    )));
    let approved = http.get(&authorize_url).send().await.unwrap();
    assert_eq!(approved.status(), 302);
    location(&approved).replace("https://advocate.test", &app.address)
}

async fn the_authorization_code_grant_installs_a_shop_end_to_end(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let callback = authorize(&app, SHOP).await;
    let done = no_redirects().get(&callback).send().await.unwrap();
    assert_eq!(done.status(), 302);
    assert_eq!(
        location(&done),
        format!("https://{SHOP}/admin/apps/test-client-id")
    );

    let tokens = app.token_service().await;
    let shop = advocate::shopify::ShopDomain::parse(SHOP).unwrap();
    let access = tokens.access_token(&shop).await.unwrap();
    assert!(app
        .shopify
        .is_valid_access_token(SHOP, secrecy::ExposeSecret::expose_secret(&access)));
    let expires: Option<i64> =
        sqlx::query_scalar("SELECT access_token_expires_at FROM shops WHERE domain = $1")
            .bind(SHOP)
            .fetch_one(app.store.writer())
            .await
            .unwrap();
    assert!(expires.is_some(), "an expiring offline token");
}

async fn a_tampered_stale_or_replayed_callback_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let http = no_redirects();
    let callback = authorize(&app, SHOP).await;
    let tampered = callback.replace("code=", "code=x");
    assert_eq!(http.get(&tampered).send().await.unwrap().status(), 401);
    let unsigned = callback.split("&hmac=").next().unwrap().to_owned();
    assert_eq!(http.get(&unsigned).send().await.unwrap().status(), 401);
    assert_eq!(http.get(&callback).send().await.unwrap().status(), 302);
    let replay = http.get(&callback).send().await.unwrap();
    assert_eq!(replay.status(), 403, "a state is single use");

    // A state issued for another shop does not complete this one's install.
    let other = authorize(&app, "other-shop.myshopify.com").await;
    let state = other
        .split("state=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_owned();
    let mine = authorize(&app, SHOP).await;
    let mine_state = mine
        .split("state=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_owned();
    let swapped = mine.replace(&mine_state, &state);
    assert_ne!(http.get(&swapped).send().await.unwrap().status(), 302);

    let bad_shop = http
        .get(format!("{}/auth?shop=evil.example.com", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_shop.status(), 400);
}

async fn token_exchange_installs_on_the_first_admin_request(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.install(SHOP).await;
    assert_eq!(app.shopify.exchanges(), 1);
    let again = app
        .http
        .get(format!("{}/api/admin/shop", app.address))
        .bearer_auth(session_token(SHOP, Some("1")))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200);
    assert_eq!(
        app.shopify.exchanges(),
        1,
        "an installed shop needs no second exchange"
    );

    // A shop Shopify has not installed the app on gets nothing.
    let stranger = app
        .http
        .get(format!("{}/api/admin/shop", app.address))
        .bearer_auth(session_token("stranger.myshopify.com", Some("1")))
        .send()
        .await
        .unwrap();
    assert_eq!(stranger.status(), 401);
    assert_eq!(
        stranger.headers()["x-shopify-api-request-failure-reauthorize"],
        "1"
    );
}

async fn bad_session_tokens_are_refused_over_http(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.install(SHOP).await;
    let now = chrono::Utc::now().timestamp();
    let cases = [
        ("no token", None),
        (
            "expired",
            Some(session_token_with(SHOP, Some("1"), |c| {
                c["exp"] = (now - 60).into()
            })),
        ),
        (
            "other app",
            Some(session_token_with(SHOP, Some("1"), |c| {
                c["aud"] = "another-app".into()
            })),
        ),
        (
            "forged",
            Some(advocate::shopify::session_token::sign_session_token(
                "guess",
                &serde_json::json!({
                    "dest": format!("https://{SHOP}"), "aud": "test-client-id", "exp": now + 60, "nbf": now
                }),
            )),
        ),
    ];
    for (what, token) in cases {
        let mut request = app.http.get(format!("{}/api/admin/shop", app.address));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        assert_eq!(request.send().await.unwrap().status(), 401, "{what}");
    }
}

async fn tokens_are_refreshed_before_they_expire_and_the_refresh_token_rotates(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.install(SHOP).await;
    let shop = advocate::shopify::ShopDomain::parse(SHOP).unwrap();
    let tokens = app.token_service().await;
    let first = tokens.access_token(&shop).await.unwrap();
    assert_eq!(app.shopify.refreshes(), 0, "a fresh token is used as it is");

    for round in 1..=2 {
        sqlx::query("UPDATE shops SET access_token_expires_at = $1 WHERE domain = $2")
            .bind(advocate::store::now_ms() + 1000)
            .bind(SHOP)
            .execute(app.store.writer())
            .await
            .unwrap();
        let token = tokens.access_token(&shop).await.unwrap();
        assert_eq!(app.shopify.refreshes(), round);
        let token = secrecy::ExposeSecret::expose_secret(&token).to_owned();
        assert_ne!(token, secrecy::ExposeSecret::expose_secret(&first));
        assert!(app.shopify.is_valid_access_token(SHOP, &token));
    }
}

async fn a_refused_refresh_sends_the_merchant_through_auth_again(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.install(SHOP).await;
    sqlx::query("UPDATE shops SET access_token_expires_at = 0 WHERE domain = $1")
        .bind(SHOP)
        .execute(app.store.writer())
        .await
        .unwrap();
    // Shopify forgets every token of the shop (as after a secret leak).
    app.shopify.uninstall(SHOP);
    let shop = advocate::shopify::ShopDomain::parse(SHOP).unwrap();
    let refused = app.token_service().await.access_token(&shop).await;
    assert!(
        matches!(
            refused,
            Err(advocate::shopify::tokens::TokenError::NeedsReauth)
        ),
        "{refused:?}"
    );
    assert_eq!(
        app.count(&format!(
            "SELECT needs_reauth FROM shops WHERE domain = '{SHOP}'"
        ))
        .await,
        1
    );

    let page = app
        .http
        .get(format!("{}/api/admin/shop", app.address))
        .bearer_auth(session_token(SHOP, Some("1")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 401);
    assert_eq!(
        page.headers()["x-shopify-api-request-failure-reauthorize-url"],
        format!("/auth?shop={SHOP}")
    );

    // Once Shopify has the app again, the next page load repairs it.
    app.shopify.install(SHOP);
    app.install(SHOP).await;
    assert_eq!(
        app.count(&format!(
            "SELECT needs_reauth FROM shops WHERE domain = '{SHOP}'"
        ))
        .await,
        0
    );
}

async fn concurrent_refreshes_in_one_process_spend_the_refresh_token_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.install(SHOP).await;
    expire_soon(&app).await;
    let shop = advocate::shopify::ShopDomain::parse(SHOP).unwrap();
    let tokens = app.token_service().await;
    let results = futures_util::future::join_all((0..8).map(|_| tokens.access_token(&shop))).await;
    let values: std::collections::HashSet<String> = results
        .into_iter()
        .map(|r| secrecy::ExposeSecret::expose_secret(&r.unwrap()).to_owned())
        .collect();
    assert_eq!(app.shopify.refreshes(), 1);
    assert_eq!(values.len(), 1, "every caller got the one new token");
}

async fn expire_soon(app: &TestApp) {
    sqlx::query("UPDATE shops SET access_token_expires_at = $1 WHERE domain = $2")
        .bind(advocate::store::now_ms() + 1000)
        .bind(SHOP)
        .execute(app.store.writer())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_postgres_spend_a_refresh_token_once() {
    let app = TestApp::spawn(Backend::Postgres).await;
    app.install(SHOP).await;
    let shop = advocate::shopify::ShopDomain::parse(SHOP).unwrap();
    let (a, b) = (app.token_service().await, app.token_service().await);
    for round in 1..=3 {
        expire_soon(&app).await;
        let (ta, tb) = tokio::join!(a.access_token(&shop), b.access_token(&shop));
        let (ta, tb) = (ta.unwrap(), tb.unwrap());
        assert_eq!(
            secrecy::ExposeSecret::expose_secret(&ta),
            secrecy::ExposeSecret::expose_secret(&tb)
        );
        assert_eq!(
            app.shopify.refreshes(),
            round,
            "one refresh per expiry, whoever asks"
        );
    }
    assert_eq!(app.count("SELECT needs_reauth FROM shops").await, 0);
}

async fn an_uninstalled_shop_is_refused_everywhere_until_it_installs_again(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.install(SHOP).await;
    app.send(
        "customers/create",
        "before",
        br#"{"id":77,"email":"kept@example.com"}"#,
    )
    .await;
    app.drain().await;

    app.send("app/uninstalled", "bye", br#"{"id":1}"#).await;
    app.drain().await;
    app.shopify.uninstall(SHOP);
    let admin = app
        .http
        .get(format!("{}/api/admin/shop", app.address))
        .bearer_auth(session_token(SHOP, Some("1")));
    assert_eq!(admin.send().await.unwrap().status(), 401);
    let checkout = app
        .http
        .get(format!("{}/api/checkout/balance", app.address))
        .bearer_auth(extension_token(SHOP, Some(77)));
    assert_eq!(checkout.send().await.unwrap().status(), 401);
    let proxy = app.http.get(format!(
        "{}/proxy/balance?{}",
        app.address,
        proxy_query(SHOP, Some(77))
    ));
    assert_eq!(proxy.send().await.unwrap().status(), 401);

    // Installing again starts from fresh tokens and keeps the loyalty data.
    app.install(SHOP).await;
    let customer = app
        .http
        .get(format!("{}/api/admin/customers/77", app.address))
        .bearer_auth(session_token(SHOP, Some("1")))
        .send()
        .await
        .unwrap();
    assert_eq!(customer.status(), 200);
    let body: serde_json::Value = customer.json().await.unwrap();
    assert_eq!(body["customer"]["email"], "kept@example.com");
}

async fn no_token_is_stored_in_plaintext(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.install(SHOP).await;
    let callback = authorize(&app, "second-shop.myshopify.com").await;
    no_redirects().get(&callback).send().await.unwrap();
    expire_soon(&app).await;
    let shop = advocate::shopify::ShopDomain::parse(SHOP).unwrap();
    app.token_service().await.access_token(&shop).await.unwrap();
    let issued = app.shopify.issued_tokens();
    assert!(
        issued.len() >= 6,
        "access and refresh tokens of both shops, and a spent one"
    );

    let mut stored = Vec::new();
    let rows = sqlx::query("SELECT * FROM shops")
        .fetch_all(app.store.writer())
        .await
        .unwrap();
    for row in &rows {
        for column in row.columns() {
            if let Ok(Some(bytes)) = row.try_get::<Option<Vec<u8>>, _>(column.ordinal()) {
                stored.extend(bytes);
            } else if let Ok(Some(text)) = row.try_get::<Option<String>, _>(column.ordinal()) {
                stored.extend(text.into_bytes());
            }
        }
    }
    if let Some(path) = app.db.sqlite_path() {
        for file in [path.clone(), path.with_extension("db-wal")] {
            stored.extend(std::fs::read(file).unwrap_or_default());
        }
    }
    for token in issued {
        let needle = token.as_bytes();
        assert!(
            !stored.windows(needle.len()).any(|w| w == needle),
            "a token is stored in plaintext"
        );
    }
}

async fn rotating_the_encryption_key_keeps_every_token_readable(backend: Backend) {
    use advocate::{
        crypto::{EncryptionKey, TokenCipher},
        shopify::tokens::rotate_key,
    };
    let app = TestApp::spawn_with(backend, |c| c.runtime.webhooks_allow_private = true).await;
    app.install(SHOP).await;
    // A webhook endpoint, whose signing secret is sealed like the tokens.
    let response = app
        .http
        .post(format!("{}/api/admin/webhook-endpoints", app.address))
        .bearer_auth(session_token(SHOP, Some("1")))
        .json(&serde_json::json!({ "url": "http://127.0.0.1:9/hooks", "topics": ["tier.changed"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let secret = response.json::<serde_json::Value>().await.unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let old = EncryptionKey::from_bytes([7; 32]);
    let new = EncryptionKey::from_bytes([9; 32]);
    let rotated = TokenCipher::new(&new, Some(&old));
    assert_eq!(rotate_key(&app.store, &rotated).await.unwrap(), 1);
    let reseal = advocate::jobs::outbound::reseal_secrets;
    assert_eq!(reseal(&app.store, &rotated).await.unwrap(), 1);
    assert_eq!(
        reseal(&app.store, &rotated).await.unwrap(),
        0,
        "already current"
    );
    let sealed: Vec<u8> = sqlx::query_scalar("SELECT secret_enc FROM webhook_endpoints")
        .fetch_one(app.store.writer())
        .await
        .unwrap();
    assert_eq!(
        TokenCipher::new(&new, None).decrypt(SHOP, &sealed).unwrap(),
        secret
    );
    assert_eq!(
        rotate_key(&app.store, &rotated).await.unwrap(),
        0,
        "already current"
    );
    let sealed: Vec<u8> =
        sqlx::query_scalar("SELECT access_token_enc FROM shops WHERE domain = $1")
            .bind(SHOP)
            .fetch_one(app.store.writer())
            .await
            .unwrap();
    let only_new = TokenCipher::new(&new, None);
    let token = only_new.decrypt(SHOP, &sealed).unwrap();
    assert!(app.shopify.is_valid_access_token(SHOP, &token));
    assert!(TokenCipher::new(&old, None).decrypt(SHOP, &sealed).is_err());
}

async fn the_embedded_page_may_be_framed_only_by_shopify_admin_and_its_shop(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let page = app
        .http
        .get(format!("{}/?shop={SHOP}&host=abc&embedded=1", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(
        page.headers()["content-security-policy"],
        format!("frame-ancestors https://{SHOP} https://admin.shopify.com;")
    );
    assert_eq!(page.headers()["x-content-type-options"], "nosniff");
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"<meta name="shopify-api-key" content="test-client-id">"#));
    let no_shop = app
        .http
        .get(format!("{}/?shop=evil.example.com", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(no_shop.status(), 400);
}

async fn checkout_routes_answer_cors_preflights(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let preflight = app
        .http
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/api/checkout/balance", app.address),
        )
        .header("Origin", "https://extensions.shopifycdn.com")
        .header("Access-Control-Request-Method", "GET")
        .header("Access-Control-Request-Headers", "authorization")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 204);
    assert_eq!(preflight.headers()["access-control-allow-origin"], "*");
    assert!(preflight.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .contains("Authorization"));
    let refused = app
        .http
        .get(format!("{}/api/checkout/balance", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(
        refused.headers()["access-control-allow-origin"],
        "*",
        "errors are readable by the extension too"
    );
}

async fn storefront_routes_are_rate_limited_per_shopper(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.install(SHOP).await;
    let mut statuses = Vec::new();
    for _ in 0..25 {
        let response = app
            .http
            .get(format!(
                "{}/proxy/balance?{}",
                app.address,
                proxy_query(SHOP, Some(5))
            ))
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
        if response.status() == 429 {
            let retry: u64 = response.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!(retry >= 1);
        }
    }
    assert!(statuses[..20].iter().all(|s| *s == 200), "{statuses:?}");
    assert!(statuses[20..].iter().all(|s| *s == 429), "{statuses:?}");
    let other = app
        .http
        .get(format!(
            "{}/proxy/balance?{}",
            app.address,
            proxy_query(SHOP, Some(6))
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 200, "another shopper is not held back");
}

/// Shop A and shop B share customer ids; B has data of every kind (a
/// profile, an order, points, a birthday, a referral code and a held
/// referral, a data request, a dead letter, a failed effect). Every guarded
/// route, called with A's credentials and B's ids (and, on POST/PUT, a body
/// that fits as many routes as it can), shows and changes nothing of B's.
async fn a_shop_never_reads_or_changes_another_shops_data_on_any_route(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (a, b) = ("shop-a.myshopify.com", "shop-b.myshopify.com");
    app.install(a).await;
    app.install(b).await;
    let customer = 1000_i64;
    // Distinctive enough that no id or timestamp of A's contains it.
    let b_balance = 918_273_645_i64;
    let send = |shop: &'static str, topic: &'static str, key: String, body: Vec<u8>| {
        let signature = crate::helpers::sign(&app.secret, &body);
        let request = app.webhook_as(shop, topic, &key, &body, &signature);
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 200, "{shop} {topic} {key}");
        }
    };
    for (shop, email) in [(a, "a-customer@example.com"), (b, "b-secret@example.com")] {
        let body = format!(r#"{{"id":{customer},"email":"{email}"}}"#);
        send(
            shop,
            "customers/create",
            format!("c-{shop}"),
            body.into_bytes(),
        )
        .await;
        let request = br#"{"customer":{"id":1000},"orders_requested":[],"data_request":{"id":5}}"#;
        send(
            shop,
            "customers/data_request",
            format!("r-{shop}"),
            request.to_vec(),
        )
        .await;
    }
    let b_order = serde_json::json!({
        "id": 5_550_001_119_i64,
        "name": "#BSECRETORDER",
        "customer": { "id": customer },
        "email": "b-secret@example.com",
        "currency": "USD",
        "financial_status": "paid",
        "subtotal_price_set": { "shop_money": { "amount": "4321.09", "currency_code": "USD" } },
        "total_price_set": { "shop_money": { "amount": "4321.09", "currency_code": "USD" } },
    });
    send(
        b,
        "orders/paid",
        "b-order".into(),
        b_order.to_string().into_bytes(),
    )
    .await;
    send(
        b,
        "customers/update",
        "b-broken".into(),
        b"{broken".to_vec(),
    )
    .await;
    app.drain().await;
    assert_eq!(app.inbox_row("b-order").await.0, "done");
    // B's shopper answered the post-purchase survey about B's order.
    let answered = app
        .http
        .post(format!("{}/api/checkout/nps", app.address))
        .bearer_auth(extension_token(b, Some(customer)))
        .json(&serde_json::json!({ "order_id": 5_550_001_119_i64, "score": 9, "comment": "BSECRETCOMMENT" }))
        .send()
        .await
        .unwrap();
    assert_eq!(answered.status(), 201);
    let b_id: i64 = app
        .count(&format!("SELECT id FROM shops WHERE domain = '{b}'"))
        .await;
    sqlx::query("UPDATE customers SET points_balance = $1, birthday = '12-25' WHERE customer_id = $2 AND shop_id = $3")
        .bind(b_balance)
        .bind(customer)
        .bind(b_id)
        .execute(app.store.writer())
        .await
        .unwrap();
    let b_failed: i64 = app
        .count("SELECT id FROM webhook_inbox WHERE delivery_key = 'b-broken'")
        .await;
    let mut tx = app.store.begin().await.unwrap();
    advocate::store::outbox::enqueue(&mut tx, b_id, "add_tags", "{}", "b-effect", None)
        .await
        .unwrap();
    // B's referral code, and a referral held for B's merchant to decide.
    let now = advocate::store::now_ms();
    assert!(
        advocate::store::referrals::insert_code(&mut tx, b_id, customer, "BSECRETCODE", now)
            .await
            .unwrap()
    );
    let b_referral = advocate::store::referrals::insert_issued(
        &mut tx,
        ShopId(b_id),
        &advocate::store::referrals::NewIssuedReferral {
            advocate_id: CustomerId(customer),
            friend_code: "BFRIENDCODE",
            friend_email_hash: None,
        },
        EpochMs(now),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    sqlx::query("UPDATE referrals SET status = 'held' WHERE id = $1")
        .bind(b_referral)
        .execute(app.store.writer())
        .await
        .unwrap();
    sqlx::query(
        "UPDATE outbox SET status = 'failed', last_error = 'b-effect-broken' WHERE shop_id = $1",
    )
    .bind(b_id)
    .execute(app.store.writer())
    .await
    .unwrap();
    let b_effect: i64 = app
        .count("SELECT id FROM outbox WHERE idempotency_key = 'b-effect'")
        .await;
    // B's activity, webhook endpoint and a failed delivery to it.
    let b_activity: i64 = sqlx::query_scalar(
        "INSERT INTO activities (shop_id, customer_id, idempotency_key, action, subject, points, \
         status, actor, occurred_at, created_at) \
         VALUES ($1, $2, 'b-review', 'review', '1', 10, 'awarded', 'system', 0, 0) RETURNING id",
    )
    .bind(b_id)
    .bind(customer)
    .fetch_one(app.store.writer())
    .await
    .unwrap();
    let b_endpoint: i64 = sqlx::query_scalar(
        "INSERT INTO webhook_endpoints (shop_id, url, topics, secret_enc, created_at, created_by) \
         VALUES ($1, 'https://b-hooks-secret.example.com/x', ',points.changed,', $2, 0, 'b') \
         RETURNING id",
    )
    .bind(b_id)
    .bind(vec![1_u8; 40])
    .fetch_one(app.store.writer())
    .await
    .unwrap();
    let b_delivery: i64 = sqlx::query_scalar(
        "INSERT INTO webhook_deliveries (shop_id, endpoint_id, event_id, topic, data, status, \
         attempts, next_attempt_at, retry_until, created_at) \
         VALUES ($1, $2, 'evt_b', 'points.changed', '{}', 'failed', 1, 0, 0, 0) RETURNING id",
    )
    .bind(b_id)
    .bind(b_endpoint)
    .fetch_one(app.store.writer())
    .await
    .unwrap();
    // B's API key, and A's with every scope.
    let (b_key, _) = app.api_key(b, &["read_customers"]).await;
    let (_, a_key) = app
        .api_key(
            a,
            &[
                "read_customers",
                "read_ledger",
                "write_points",
                "write_redemptions",
                "read_program",
                "write_activities",
                "manage_webhooks",
            ],
        )
        .await;
    let b_counts = |app: &TestApp| {
        let queries = [
            "SELECT CAST(COUNT(*) AS BIGINT) FROM outbox WHERE shop_id = $1 AND status = 'failed'",
            "SELECT CAST(COUNT(*) AS BIGINT) FROM points_ledger WHERE shop_id = $1",
            "SELECT CAST(COUNT(*) AS BIGINT) FROM redemptions WHERE shop_id = $1",
            "SELECT CAST(COUNT(*) AS BIGINT) FROM referrals WHERE shop_id = $1",
            "SELECT CAST(COUNT(*) AS BIGINT) FROM referral_codes WHERE shop_id = $1",
            "SELECT CAST(COUNT(*) AS BIGINT) FROM orders WHERE shop_id = $1",
            "SELECT CAST(COUNT(*) AS BIGINT) FROM nps_responses WHERE shop_id = $1",
            "SELECT CAST(COUNT(*) AS BIGINT) FROM activities WHERE shop_id = $1 \
             AND status = 'awarded'",
            "SELECT CAST(COUNT(*) AS BIGINT) FROM webhook_endpoints WHERE shop_id = $1 \
             AND disabled_at IS NULL",
            "SELECT CAST(COUNT(*) AS BIGINT) FROM webhook_deliveries WHERE shop_id = $1 \
             AND status = 'failed'",
        ];
        let store = app.store.clone();
        async move {
            let mut counts = Vec::new();
            for sql in queries {
                let n: i64 = sqlx::query_scalar(sql)
                    .bind(b_id)
                    .fetch_one(store.writer())
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
                counts.push((sql, n));
            }
            counts
        }
    };
    let b_before = b_counts(&app).await;
    // Everything but a redemption exists for B (A's attempts must add none).
    for (i, (sql, n)) in b_before.iter().enumerate() {
        let expected_some = i != 2;
        assert_eq!(*n > 0, expected_some, "B to begin with: {sql} = {n}");
    }

    // A body every POST/PUT route can read as far as it goes: an
    // adjustment, a reward to redeem (B's customer could afford it, A's
    // cannot), a birthday, B's referral code to claim a discount with.
    let body = serde_json::json!({
        "points": -1,
        "reason": "tenant isolation test",
        "reward_id": "5-off",
        "birthday": "01-02",
        "code": "BSECRETCODE",
        "email": "friend@example.com",
        "order_id": 1234,
        "score": 9,
    })
    .to_string();
    // A product B's customers buy again (reorder reminders).
    let b_shop: i64 = app
        .count(&format!("SELECT id FROM shops WHERE domain = '{b}'"))
        .await;
    sqlx::query(
        "INSERT INTO reorder_products (shop_id, product_id, title, learned_days, \
         repeat_customers, learned_at) VALUES ($1, 4321987, 'b-secret-product', 30, 9, 0)",
    )
    .bind(b_shop)
    .execute(app.store.writer())
    .await
    .unwrap();
    for (i, route) in advocate::routes::API_ROUTES.iter().enumerate() {
        let path = route
            .path
            .replace("{customer_id}", &customer.to_string())
            .replace("{inbox_id}", &b_failed.to_string())
            .replace("{effect_id}", &b_effect.to_string())
            .replace("{referral_id}", &b_referral.to_string())
            .replace("{key_id}", &b_key.to_string())
            .replace("{activity_id}", &b_activity.to_string())
            .replace("{endpoint_id}", &b_endpoint.to_string())
            .replace("{delivery_id}", &b_delivery.to_string())
            .replace("{product_id}", "4321987");
        assert!(
            !path.contains('{'),
            "a route parameter the test does not know: {path}"
        );
        let url = match route.guard {
            advocate::routes::Guard::Proxy => {
                format!("{}{path}?{}", app.address, proxy_query(a, Some(customer)))
            }
            _ => format!("{}{path}", app.address),
        };
        let method = reqwest::Method::from_bytes(route.method.to_uppercase().as_bytes()).unwrap();
        let writes = method == reqwest::Method::POST || method == reqwest::Method::PUT;
        let deletes = method == reqwest::Method::DELETE;
        let mut request = app.http.request(method, &url);
        request = match route.guard {
            advocate::routes::Guard::Admin => request.bearer_auth(session_token(a, Some("1"))),
            advocate::routes::Guard::Checkout => {
                request.bearer_auth(extension_token(a, Some(customer)))
            }
            advocate::routes::Guard::Pos => request.bearer_auth(session_token(a, Some("1"))),
            advocate::routes::Guard::ApiKey => request.bearer_auth(&a_key),
            advocate::routes::Guard::Proxy => request,
        };
        if writes && path.starts_with("/api/admin/imports/") {
            // A members file naming B's customer: A's import must not find
            // them.
            request = request
                .header("Content-Type", "text/csv")
                .body("email,points,birthday\r\nb-secret@example.com,5,12-25\r\n");
        } else if writes {
            request = request
                .header("Content-Type", "application/json")
                .header("Idempotency-Key", format!("tenant-test-{i}"))
                .body(body.clone());
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        // A write whose body does not fit the route (or A's data) is
        // refused as such; nothing answers 5xx or any other refusal.
        let refused_write = (writes || deletes) && matches!(status.as_u16(), 400 | 409 | 422);
        assert!(
            status.is_success() || status == 404 || refused_write,
            "{} {}: {status} {text}",
            route.method,
            route.path
        );
        for secret in [
            "b-secret@example.com",
            &b_balance.to_string(),
            r#""birthday":"12-25""#,
            "b-broken",
            "b-effect-broken",
            "BSECRETCODE",
            "BFRIENDCODE",
            "BSECRETORDER",
            "BSECRETCOMMENT",
            "b-hooks-secret",
            "b-secret-product",
            "evt_b",
            "5550001119",
            "432109",
            "4321.09",
            b,
        ] {
            assert!(
                !text.contains(secret),
                "{} {} leaked {secret}: {text}",
                route.method,
                route.path
            );
        }
    }
    assert_eq!(
        b_counts(&app).await,
        b_before,
        "nothing of B's was added, retried or redeemed by A"
    );
    let (status, _) = app.inbox_row("b-broken").await;
    assert_eq!(status, "failed", "B's dead letter was not retried by A");
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM reorder_products WHERE product_id = 4321987 \
             AND override_days IS NULL AND disabled = 0"
        )
        .await,
        1,
        "B's product was not changed by A"
    );
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM api_keys WHERE id = {b_key} AND revoked_at IS NULL"
        ))
        .await,
        1,
        "B's API key was not revoked by A"
    );
    let b_customer = sqlx::query(
        "SELECT points_balance, birthday FROM customers WHERE shop_id = $1 AND customer_id = $2",
    )
    .bind(b_id)
    .bind(customer)
    .fetch_one(app.store.writer())
    .await
    .unwrap();
    assert_eq!(b_customer.get::<i64, _>("points_balance"), b_balance);
    assert_eq!(
        b_customer.get::<Option<String>, _>("birthday").as_deref(),
        Some("12-25")
    );
    let referral_status: String = sqlx::query_scalar("SELECT status FROM referrals WHERE id = $1")
        .bind(b_referral)
        .fetch_one(app.store.writer())
        .await
        .unwrap();
    assert_eq!(
        referral_status, "held",
        "B's referral was neither approved nor rejected by A"
    );
}
