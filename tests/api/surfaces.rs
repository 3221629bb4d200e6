//! The shopper and staff surfaces beyond checkout: the customer account
//! page (`/api/account/*`, extension session token) and the POS block
//! (`/api/pos/*`, POS ID token), black-box over HTTP. Each takes its own
//! kind of token only, answers CORS, and records where a redemption was
//! made and by whom.

use serde_json::{json, Value};

use crate::helpers::{extension_token, session_token, session_token_with, Backend, TestApp, SHOP};
use crate::loyalty::points;
use crate::store_credit::{credits, member, shop, REWARD};

crate::on_both_backends!(
    the_account_page_shows_history_and_referral_and_takes_a_birthday_once,
    a_logged_out_shopper_gets_the_logged_out_answer_or_401,
    a_redemption_on_the_account_page_is_recorded_there_and_replays,
    staff_at_the_till_see_the_customer_and_redeem_a_code_or_store_credit,
    a_shopper_token_opens_no_till_route_and_spends_nothing,
    the_extension_routes_answer_cors_preflights,
);

const CUSTOMER: i64 = 7_000_000_000_000_011;
const STAFF_USER: &str = "90210";

/// A POS ID token, as `shopify.session.getSessionToken()` gives it: the
/// admin (OpenID Connect ID token) shape, for the user signed in to POS.
fn pos_token(shop: &str) -> String {
    session_token(shop, Some(STAFF_USER))
}

async fn get(app: &TestApp, path: &str, token: &str) -> (u16, Value) {
    let response = app
        .http
        .get(format!("{}{path}", app.address))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn post(app: &TestApp, path: &str, token: &str, key: &str, body: &Value) -> (u16, Value) {
    let response = app
        .http
        .post(format!("{}{path}", app.address))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// (channel, actor) of every redemption, oldest first.
async fn redemptions(app: &TestApp) -> Vec<(String, String)> {
    sqlx::query_as("SELECT channel, actor FROM redemptions ORDER BY id")
        .fetch_all(app.store.writer())
        .await
        .unwrap()
}

async fn the_account_page_shows_history_and_referral_and_takes_a_birthday_once(backend: Backend) {
    let app = shop(backend).await;
    member(&app, CUSTOMER, 1_200).await;
    let token = extension_token(SHOP, Some(CUSTOMER));

    let (status, balance) = get(&app, "/api/account/balance", &token).await;
    assert_eq!(status, 200, "{balance}");
    assert_eq!(balance["logged_in"], true);
    assert_eq!(balance["points_balance"], 1_200);
    assert!(balance["rewards"].as_array().unwrap().len() >= 2);

    let (status, history) = get(&app, "/api/account/history", &token).await;
    assert_eq!(status, 200, "{history}");
    let entries = history["entries"].as_array().unwrap();
    let total: i64 = entries.iter().map(|e| e["points"].as_i64().unwrap()).sum();
    assert_eq!(
        total, 1_200,
        "the movements add up to the balance: {history}"
    );
    assert_eq!(entries[0]["kind"], "adjustment", "newest first: {history}");
    assert!(entries[0]["occurred_at"].as_str().unwrap().ends_with('Z'));
    assert!(
        !history.to_string().contains("welcome gift"),
        "the merchant's reason stays in the admin: {history}"
    );

    let (status, referral) = get(&app, "/api/account/referral", &token).await;
    assert_eq!(status, 200, "{referral}");
    let code = referral["code"].as_str().unwrap();
    assert!(
        referral["link"]
            .as_str()
            .unwrap()
            .starts_with(&format!("https://{SHOP}/")),
        "{referral}"
    );
    let (_, again) = get(&app, "/api/account/referral", &token).await;
    assert_eq!(again["code"], code, "one code per customer");

    let (status, saved) = post(
        &app,
        "/api/account/birthday",
        &token,
        "b-1",
        &json!({ "birthday": "03-07" }),
    )
    .await;
    assert_eq!((status, saved["birthday"].clone()), (200, json!("03-07")));
    let (status, refused) = post(
        &app,
        "/api/account/birthday",
        &token,
        "b-2",
        &json!({ "birthday": "12-24" }),
    )
    .await;
    assert_eq!(status, 409, "set once by the shopper: {refused}");
    let (status, _) = post(
        &app,
        "/api/account/birthday",
        &token,
        "b-3",
        &json!({ "birthday": "02-30" }),
    )
    .await;
    assert!(status == 409 || status == 422, "{status}");
    let (_, balance) = get(&app, "/api/account/balance", &token).await;
    assert_eq!(balance["birthday"], "03-07");
}

async fn a_logged_out_shopper_gets_the_logged_out_answer_or_401(backend: Backend) {
    let app = shop(backend).await;
    member(&app, CUSTOMER, 800).await;
    let logged_out = extension_token(SHOP, None);
    let (status, balance) = get(&app, "/api/account/balance", &logged_out).await;
    assert_eq!((status, balance), (200, json!({ "logged_in": false })));
    for path in ["/api/account/history", "/api/account/referral"] {
        let (status, _) = get(&app, path, &logged_out).await;
        assert_eq!(status, 401, "{path}");
    }
    let (status, _) = post(
        &app,
        "/api/account/redeem",
        &logged_out,
        "k",
        &json!({ "reward_id": "5-off" }),
    )
    .await;
    assert_eq!(status, 401);
    let (status, _) = post(
        &app,
        "/api/account/birthday",
        &logged_out,
        "k",
        &json!({ "birthday": "01-01" }),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(app.count("SELECT COUNT(*) FROM redemptions").await, 0);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM referral_codes").await,
        0,
        "no code made for nobody"
    );
}

async fn a_redemption_on_the_account_page_is_recorded_there_and_replays(backend: Backend) {
    let app = shop(backend).await;
    member(&app, CUSTOMER, 1_200).await;
    let token = extension_token(SHOP, Some(CUSTOMER));
    let body = json!({ "reward_id": REWARD });
    let (status, first) = post(&app, "/api/account/redeem", &token, "acct-1", &body).await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["kind"], "store_credit");
    assert_eq!(first["store_credit"]["amount"], "5.00");
    let (status, replay) = post(&app, "/api/account/redeem", &token, "acct-1", &body).await;
    assert_eq!(status, 200, "{replay}");
    assert_eq!(replay["points_balance"], first["points_balance"]);
    app.send_effects().await;
    assert_eq!(
        credits(&app, CUSTOMER),
        vec![("5.00".to_owned(), "USD".to_owned())]
    );
    assert_eq!(points(&app, CUSTOMER).await.0, 700);
    assert_eq!(
        redemptions(&app).await,
        vec![("customer_account".to_owned(), "shopper".to_owned())]
    );
    // Not enough points left for a second one of 1,000: 409, nothing spent.
    let (status, _) = post(
        &app,
        "/api/account/redeem",
        &token,
        "acct-2",
        &json!({ "reward_id": "10-percent-off" }),
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(points(&app, CUSTOMER).await.0, 700);
}

async fn staff_at_the_till_see_the_customer_and_redeem_a_code_or_store_credit(backend: Backend) {
    let app = shop(backend).await;
    member(&app, CUSTOMER, 1_500).await;
    let token = pos_token(SHOP);
    let path = format!("/api/pos/customers/{CUSTOMER}");

    let (status, view) = get(&app, &path, &token).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["points_balance"], 1_500);
    assert!(view["rewards"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["id"] == REWARD && r["affordable"] == true));
    // A customer Advocate has not seen yet has no points (not an error).
    let (status, stranger) = get(&app, "/api/pos/customers/123456789", &token).await;
    assert_eq!(
        (status, stranger["points_balance"].clone()),
        (200, json!(0))
    );

    let redeem = format!("{path}/redemptions");
    let (status, code) = post(
        &app,
        &redeem,
        &token,
        "till-1",
        &json!({ "reward_id": "5-off" }),
    )
    .await;
    assert_eq!(status, 201, "{code}");
    assert!(code["code"].as_str().is_some_and(|c| !c.is_empty()));
    let (status, replay) = post(
        &app,
        &redeem,
        &token,
        "till-1",
        &json!({ "reward_id": "5-off" }),
    )
    .await;
    assert_eq!(
        (status, replay["code"].clone()),
        (200, code["code"].clone())
    );

    let (status, credit) = post(
        &app,
        &redeem,
        &token,
        "till-2",
        &json!({ "reward_id": REWARD }),
    )
    .await;
    assert_eq!(status, 201, "{credit}");
    assert_eq!(credit["store_credit"]["amount"], "5.00");
    app.send_effects().await;
    assert_eq!(
        credits(&app, CUSTOMER),
        vec![("5.00".to_owned(), "USD".to_owned())]
    );
    let spent = code["points_spent"].as_i64().unwrap() + 500;
    assert_eq!(points(&app, CUSTOMER).await.0, 1_500 - spent);
    assert_eq!(
        redemptions(&app).await,
        vec![
            ("pos".to_owned(), format!("pos:{STAFF_USER}")),
            ("pos".to_owned(), format!("pos:{STAFF_USER}")),
        ]
    );

    // Staff cannot conjure a member: 404, nothing recorded.
    let (status, _) = post(
        &app,
        "/api/pos/customers/123456789/redemptions",
        &token,
        "till-3",
        &json!({ "reward_id": "5-off" }),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(redemptions(&app).await.len(), 2);
}

async fn a_shopper_token_opens_no_till_route_and_spends_nothing(backend: Backend) {
    let app = shop(backend).await;
    member(&app, CUSTOMER, 1_500).await;
    let path = format!("/api/pos/customers/{CUSTOMER}");
    let now = chrono::Utc::now().timestamp();
    let shopper_tokens = [
        // The shopper's own customer account or checkout token.
        extension_token(SHOP, Some(CUSTOMER)),
        extension_token(SHOP, None),
        // An admin-looking token whose subject is a customer.
        session_token(SHOP, Some(&format!("gid://shopify/Customer/{CUSTOMER}"))),
        // The staff shape without an issuer.
        session_token_with(SHOP, Some(STAFF_USER), |c| {
            c.as_object_mut().unwrap().remove("iss");
        }),
        // Issued by another shop's admin.
        session_token_with(SHOP, Some(STAFF_USER), |c| {
            c["iss"] = "https://other-shop.myshopify.com/admin".into()
        }),
        // Expired.
        session_token_with(SHOP, Some(STAFF_USER), |c| {
            c["exp"] = (now - 60).into();
            c["nbf"] = (now - 120).into();
        }),
    ];
    for (i, token) in shopper_tokens.iter().enumerate() {
        let (status, body) = get(&app, &path, token).await;
        assert_eq!(status, 401, "token {i}: {body}");
        assert!(!body.to_string().contains("1500"), "{body}");
        let (status, _) = post(
            &app,
            &format!("{path}/redemptions"),
            token,
            &format!("k-{i}"),
            &json!({ "reward_id": REWARD }),
        )
        .await;
        assert_eq!(status, 401, "token {i}");
    }
    // A POS token of a shop that has not installed Advocate opens nothing.
    let (status, _) = get(&app, &path, &pos_token("not-installed.myshopify.com")).await;
    assert_eq!(status, 401);
    assert_eq!(points(&app, CUSTOMER).await.0, 1_500);
    assert_eq!(app.count("SELECT COUNT(*) FROM redemptions").await, 0);
}

async fn the_extension_routes_answer_cors_preflights(backend: Backend) {
    let app = shop(backend).await;
    member(&app, CUSTOMER, 100).await;
    for path in [
        "/api/checkout/redeem",
        "/api/account/redeem",
        &format!("/api/pos/customers/{CUSTOMER}/redemptions"),
    ] {
        let preflight = app
            .http
            .request(reqwest::Method::OPTIONS, format!("{}{path}", app.address))
            .header("Origin", "https://extensions.shopifycdn.com")
            .header("Access-Control-Request-Method", "POST")
            .header(
                "Access-Control-Request-Headers",
                "authorization, idempotency-key",
            )
            .send()
            .await
            .unwrap();
        assert_eq!(preflight.status(), 204, "{path}");
        let allowed = preflight.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(allowed.contains("Idempotency-Key"), "{path}: {allowed}");
        assert_eq!(preflight.headers()["access-control-allow-origin"], "*");
    }
    let (token, path) = (
        pos_token(SHOP),
        format!("{}/api/pos/customers/{CUSTOMER}", app.address),
    );
    let answer = app.http.get(path).bearer_auth(token).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["access-control-allow-origin"], "*");
    // The admin routes stay same-origin.
    let admin = app
        .http
        .get(format!("{}/api/admin/shop", app.address))
        .bearer_auth(session_token(SHOP, Some("1")))
        .send()
        .await
        .unwrap();
    assert!(admin.headers().get("access-control-allow-origin").is_none());
}
