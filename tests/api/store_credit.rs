//! Store credit rewards end to end: a redemption credits the customer's
//! Shopify store credit account exactly once, whatever the Admin API does
//! to the request (throttles, errors, dropped connections, and mutations
//! done whose answer is lost), never spends more than the balance, and a
//! credit Shopify refuses for good gives the points back once.

use serde_json::{json, Value};
use shopify_sim::Faults;

use crate::helpers::{extension_token, session_token, Backend, TestApp, SHOP};
use crate::loyalty::{points, put_program, send_json};

crate::on_both_backends!(
    a_store_credit_redemption_credits_once_under_faults_and_lost_answers,
    a_credit_whose_answer_was_lost_is_found_and_the_next_one_still_credits,
    a_credit_shopify_refuses_gives_the_points_back_once,
    concurrent_store_credit_redemptions_never_spend_more_than_the_balance,
    store_credit_settings_are_checked,
    a_hundred_concurrent_points_as_cash_redemptions_never_overspend,
    points_as_cash_takes_the_points_chosen_within_its_steps_and_range,
    the_stand_in_honours_idempotent_keys_where_they_are_sent,
);

const CASH: &str = "cash";

/// Adds a points-as-cash reward: 1.00 of store credit per 100 points,
/// from 300 to 2,000 points.
async fn with_points_as_cash(app: &TestApp) {
    put_program(app, |s| {
        s["rewards"].as_array_mut().unwrap().push(json!({
            "id": CASH, "name": "Points as cash", "kind": "points_as_cash",
            "amount": "1.00", "points_cost": 100, "min_points": 300, "max_points": 2000
        }));
    })
    .await;
}

/// Redeems points as cash through the merchant's route: (status, answer).
async fn cash(app: &TestApp, customer: i64, key: &str, points: Option<i64>) -> (u16, Value) {
    staff_redeem(app, customer, key, CASH, points).await
}

/// The merchant redeems `reward` for the customer, asking for `points`
/// when given: (status, answer).
pub(crate) async fn staff_redeem(
    app: &TestApp,
    customer: i64,
    key: &str,
    reward: &str,
    points: Option<i64>,
) -> (u16, Value) {
    let mut body = json!({ "reward_id": reward });
    if let Some(points) = points {
        body["points"] = json!(points);
    }
    let response = app
        .http
        .post(format!(
            "{}/api/admin/customers/{customer}/redemptions",
            app.address
        ))
        .bearer_auth(session_token(SHOP, Some("1")))
        .header("Idempotency-Key", key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub(crate) const REWARD: &str = "credit-5";

/// 30 % of Admin API requests fail: throttled, a 500, a dropped
/// connection, or (mutations) done with the answer lost.
pub(crate) fn thirty_percent_faults() -> Faults {
    Faults {
        too_many_requests: 0.075,
        server_error: 0.075,
        dropped: 0.075,
        lost: 0.075,
        ..Faults::default()
    }
}

/// A shop whose program has a 5.00 store credit reward for 500 points,
/// credits expiring after 30 days, no email from Shopify.
pub(crate) async fn shop(backend: Backend) -> TestApp {
    let app = TestApp::spawn(backend).await;
    app.install(SHOP).await;
    put_program(&app, |s| {
        s["rewards"].as_array_mut().unwrap().push(json!({
            "id": REWARD, "name": "5.00 store credit", "kind": "store_credit",
            "amount": "5.00", "points_cost": 500
        }));
        s["store_credit"] = json!({ "notify": false, "expires_days": 30 });
    })
    .await;
    app
}

/// A known customer with exactly `balance` spendable points.
pub(crate) async fn member(app: &TestApp, customer: i64, balance: i64) {
    let profile = json!({ "id": customer, "email": format!("c{customer}@example.com") });
    send_json(app, "customers/update", &format!("c-{customer}"), &profile).await;
    app.drain().await;
    let signup = points(app, customer).await.0;
    let response = app
        .http
        .post(format!(
            "{}/api/admin/customers/{customer}/adjustments",
            app.address
        ))
        .bearer_auth(session_token(SHOP, Some("1")))
        .header("Idempotency-Key", format!("grant-{customer}"))
        .json(&json!({ "points": balance - signup, "reason": "welcome gift" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    assert_eq!(points(app, customer).await.0, balance);
}

/// Redeems the store credit reward at checkout: (status, answer).
async fn redeem(app: &TestApp, customer: i64, key: &str) -> (u16, Value) {
    let response = app
        .http
        .post(format!("{}/api/checkout/redeem", app.address))
        .bearer_auth(extension_token(SHOP, Some(customer)))
        .header("Idempotency-Key", key)
        .json(&json!({ "reward_id": REWARD }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn gid(customer: i64) -> String {
    format!("gid://shopify/Customer/{customer}")
}

/// The credits the stand-in gave the customer: (amount, currency).
pub(crate) fn credits(app: &TestApp, customer: i64) -> Vec<(String, String)> {
    app.shopify.admin(|a| a.credits(SHOP, &gid(customer)))
}

/// The transaction ids the outbox recorded for store credits, and how many
/// were found rather than made.
async fn recorded(app: &TestApp) -> (Vec<String>, usize) {
    let results: Vec<Option<String>> = sqlx::query_scalar(
        "SELECT result FROM outbox WHERE kind = 'credit_store_credit' AND status = 'done'",
    )
    .fetch_all(app.store.writer())
    .await
    .unwrap();
    let results: Vec<Value> = results
        .into_iter()
        .map(|r| serde_json::from_str(&r.unwrap()).unwrap())
        .collect();
    let found = results
        .iter()
        .filter(|r| r["found_existing"] == true)
        .count();
    let ids = results
        .iter()
        .map(|r| r["transaction_id"].as_str().unwrap().to_owned())
        .collect();
    (ids, found)
}

async fn a_store_credit_redemption_credits_once_under_faults_and_lost_answers(backend: Backend) {
    let app = shop(backend).await;
    let customers: Vec<i64> = (1..=15).collect();
    for &c in &customers {
        member(&app, c, 1_500).await;
    }
    app.shopify.admin(|a| a.faults = thirty_percent_faults());
    for &c in &customers {
        for n in 0..3 {
            let (status, answer) = redeem(&app, c, &format!("r-{c}-{n}")).await;
            assert_eq!(status, 201, "{answer}");
            assert_eq!(answer["kind"], "store_credit");
            assert_eq!(answer["code"], Value::Null);
            assert_eq!(answer["store_credit"]["amount"], "5.00");
            assert_eq!(answer["store_credit"]["currency"], "USD");
        }
        // A retried request answers the same redemption, credits nothing.
        let (status, _) = redeem(&app, c, &format!("r-{c}-0")).await;
        assert_eq!(status, 200);
    }
    // Every lost answer settles on a later try, with the faults still on.
    for _ in 0..20 {
        app.send_effects().await;
        let (ids, _) = recorded(&app).await;
        if ids.len() == customers.len() * 3 {
            break;
        }
    }
    app.shopify.admin(|a| a.faults = Faults::default());
    app.send_effects().await;

    for &c in &customers {
        assert_eq!(
            credits(&app, c),
            vec![("5.00".to_owned(), "USD".to_owned()); 3],
            "customer {c}: three credits, none twice"
        );
        assert_eq!(points(&app, c).await.0, 0, "customer {c}: 1,500 spent");
    }
    let (mut ids, _) = recorded(&app).await;
    assert_eq!(ids.len(), customers.len() * 3);
    ids.sort();
    ids.dedup();
    assert_eq!(
        ids.len(),
        customers.len() * 3,
        "each redemption owns its own transaction"
    );
    assert_eq!(
        app.count("SELECT CAST(COUNT(*) AS BIGINT) FROM points_ledger WHERE kind = 'refund'")
            .await,
        0,
        "nothing refused, nothing given back"
    );
    let expiry = app.shopify.admin(|a| {
        a.store_credit[&(SHOP.to_owned(), gid(1))][0]
            .expires_at
            .clone()
    });
    let expiry = chrono::DateTime::parse_from_rfc3339(&expiry.expect("credits expire")).unwrap();
    let days = (expiry.timestamp_millis() - advocate::store::now_ms()) / 86_400_000;
    assert!((29..=30).contains(&days), "expires in 30 days, not {days}");
    assert!(app
        .shopify
        .admin(|a| a.store_credit.values().flatten().all(|t| !t.notify)));
}

async fn a_credit_whose_answer_was_lost_is_found_and_the_next_one_still_credits(backend: Backend) {
    let app = shop(backend).await;
    member(&app, 7, 1_000).await;
    // Every mutation is done and its answer lost: the redemption answers
    // pending, and the credit is already in Shopify.
    app.shopify.admin(|a| {
        a.faults = Faults {
            lost: 1.0,
            ..Faults::default()
        }
    });
    let (status, answer) = redeem(&app, 7, "first").await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["code_status"], "pending");
    assert_eq!(credits(&app, 7).len(), 1, "done once, answer lost");
    // The next try finds it: no second credit.
    app.shopify.admin(|a| a.faults = Faults::default());
    app.send_effects().await;
    assert_eq!(credits(&app, 7).len(), 1, "found, not given again");
    let (ids, found) = recorded(&app).await;
    assert_eq!((ids.len(), found), (1, 1));

    // A second redemption of the same amount is credited: the first
    // credit is already that redemption's.
    let (status, answer) = redeem(&app, 7, "second").await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["code_status"], "active");
    app.send_effects().await;
    assert_eq!(credits(&app, 7).len(), 2);
    let (mut ids, found) = recorded(&app).await;
    ids.dedup();
    assert_eq!((ids.len(), found), (2, 1));
    assert_eq!(points(&app, 7).await.0, 0);
}

async fn a_credit_shopify_refuses_gives_the_points_back_once(backend: Backend) {
    let app = shop(backend).await;
    member(&app, 9, 800).await;
    app.shopify.admin(|a| a.refuse_store_credit.insert(gid(9)));
    let (status, answer) = redeem(&app, 9, "refused").await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["code_status"], "failed");
    assert_eq!(
        answer["points_balance"], 300,
        "the balance the redemption left"
    );
    app.send_effects().await;
    app.send_effects().await;
    assert!(credits(&app, 9).is_empty());
    assert_eq!(points(&app, 9).await.0, 800, "the 500 points came back");
    assert!(
        app.shopify.admin(|a| a.flow_triggers.is_empty()),
        "no workflow hears of a refused credit"
    );
    assert_eq!(
        app.count(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM points_ledger \
             WHERE customer_id = 9 AND kind = 'refund' AND points = 500"
        )
        .await,
        1,
        "given back once"
    );
    // A retried request answers the same refused redemption.
    let (status, answer) = redeem(&app, 9, "refused").await;
    assert_eq!(status, 200);
    assert_eq!(answer["code_status"], "failed");
    assert_eq!(points(&app, 9).await.0, 800);
}

async fn concurrent_store_credit_redemptions_never_spend_more_than_the_balance(backend: Backend) {
    let app = shop(backend).await;
    member(&app, 11, 2_000).await;
    // A hundred at once through the merchant's route (the storefront
    // rightly rate-limits one shopper sending that many); both run the
    // same redemption step.
    let attempts = futures_util::future::join_all((0..100).map(|n| {
        let app = &app;
        async move {
            staff_redeem(app, 11, &format!("race-{n}"), REWARD, None)
                .await
                .0
        }
    }))
    .await;
    let made = attempts.iter().filter(|s| **s == 201).count();
    let refused = attempts.iter().filter(|s| **s == 409).count();
    assert_eq!((made, refused), (4, 96), "{attempts:?}");
    assert_eq!(
        app.count("SELECT CAST(COUNT(*) AS BIGINT) FROM outbox WHERE kind = 'credit_store_credit'")
            .await,
        4
    );
    app.send_effects().await;
    assert_eq!(credits(&app, 11).len(), 4);
    assert_eq!(points(&app, 11).await.0, 0);
}

async fn store_credit_settings_are_checked(backend: Backend) {
    let app = shop(backend).await;
    let mut reward = 0;
    let (status, body) = app
        .try_change_program(SHOP, |bad| {
            bad["referrals"]["friend_reward"] = json!({ "kind": "store_credit", "amount": "5.00" });
            bad["store_credit"]["expires_days"] = json!(4000);
            reward = bad["rewards"]
                .as_array()
                .unwrap()
                .iter()
                .position(|r| r["id"] == REWARD)
                .unwrap();
            bad["rewards"][reward]["amount"] = json!("0");
        })
        .await;
    assert_eq!(status, 422, "{body}");
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            format!("rewards[{reward}].amount").as_str(),
            "store_credit.expires_days",
            "referrals.friend_reward.amount",
        ]
    );
    // The shopper sees the reward as store credit.
    let reward = shopper_reward(&app, 5, REWARD).await;
    assert_eq!(reward["kind"], "store_credit");
    assert_eq!(reward["value"], "5.00");
}

async fn a_hundred_concurrent_points_as_cash_redemptions_never_overspend(backend: Backend) {
    let app = shop(backend).await;
    with_points_as_cash(&app).await;
    member(&app, 21, 1_000).await;
    let statuses = futures_util::future::join_all((0..100).map(|n| {
        let app = &app;
        async move { cash(app, 21, &format!("cash-{n}"), Some(300)).await.0 }
    }))
    .await;
    let made = statuses.iter().filter(|s| **s == 201).count();
    let refused = statuses.iter().filter(|s| **s == 409).count();
    assert_eq!((made, refused), (3, 97), "{statuses:?}");
    app.send_effects().await;
    assert_eq!(
        credits(&app, 21),
        vec![("3.00".to_owned(), "USD".to_owned()); 3]
    );
    assert_eq!(points(&app, 21).await.0, 100);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM customers WHERE points_balance < 0")
            .await,
        0
    );
}

async fn points_as_cash_takes_the_points_chosen_within_its_steps_and_range(backend: Backend) {
    let app = shop(backend).await;
    with_points_as_cash(&app).await;
    member(&app, 22, 5_000).await;
    let ledger =
        || app.count("SELECT CAST(COUNT(*) AS BIGINT) FROM points_ledger WHERE customer_id = 22");
    let effects = || {
        app.count("SELECT CAST(COUNT(*) AS BIGINT) FROM outbox WHERE kind = 'credit_store_credit'")
    };
    let (rows, queued) = (ledger().await, effects().await);
    // Not a step, below the minimum, above the maximum: refused, nothing
    // committed.
    for (points, key) in [(250, "a"), (200, "b"), (2_100, "c"), (-300, "d"), (0, "e")] {
        let (status, body) = cash(&app, 22, key, Some(points)).await;
        assert_eq!(status, 422, "{points}: {body}");
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("multiple of 100 from 300 to 2000"),
            "{body}"
        );
    }
    assert_eq!((ledger().await, effects().await), (rows, queued));
    assert_eq!(points(&app, 22).await.0, 5_000);

    // 1,200 points: 12.00 of store credit.
    let (status, body) = cash(&app, 22, "chosen", Some(1_200)).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["points_spent"], 1_200);
    assert_eq!(body["store_credit"]["amount"], "12.00");
    // The same key with other points is another request: refused.
    let (status, _) = cash(&app, 22, "chosen", Some(1_300)).await;
    assert_eq!(status, 422);
    let (status, again) = cash(&app, 22, "chosen", Some(1_200)).await;
    assert_eq!(status, 200);
    assert_eq!(again["store_credit"]["amount"], "12.00");
    // Without a choice: the minimum.
    let (status, body) = cash(&app, 22, "plain", None).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["points_spent"], 300);
    assert_eq!(body["store_credit"]["amount"], "3.00");
    let expires = body["store_credit"]["expires_at"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(body["expires_at"], expires.as_str(), "30 days, as set");
    app.send_effects().await;
    assert_eq!(
        credits(&app, 22),
        vec![
            ("12.00".to_owned(), "USD".to_owned()),
            ("3.00".to_owned(), "USD".to_owned())
        ]
    );
    assert_eq!(points(&app, 22).await.0, 3_500);
    // Credit that does not expire says so.
    put_program(&app, |s| s["store_credit"]["expires_days"] = json!(0)).await;
    let (status, body) = cash(&app, 22, "forever", None).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["expires_at"], Value::Null);
    assert_eq!(body["store_credit"]["expires_at"], Value::Null);
    assert_eq!(points(&app, 22).await.0, 3_200);
    // A fixed reward refuses points other than its cost.
    let (status, _) = staff_redeem(&app, 22, "fixed-400", REWARD, Some(400)).await;
    assert_eq!(status, 422);
    // The shopper sees the step and the range.
    let reward = shopper_reward(&app, 22, CASH).await;
    assert_eq!(
        (
            &reward["kind"],
            &reward["value"],
            &reward["points_cost"],
            &reward["points_step"],
            &reward["min_points"],
            &reward["max_points"]
        ),
        (
            &json!("points_as_cash"),
            &json!("1.00"),
            &json!(300),
            &json!(100),
            &json!(300),
            &json!(2000)
        )
    );
}

/// The reward `id` as the shopper's balance answer shows it.
async fn shopper_reward(app: &TestApp, customer: i64, id: &str) -> Value {
    let seen: Value = app
        .http
        .get(format!("{}/api/checkout/balance", app.address))
        .bearer_auth(extension_token(SHOP, Some(customer)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    seen["rewards"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("{seen}"))
}

/// The local Shopify stand-in, like Shopify, answers a mutation sent again
/// with the same `@idempotent(key:)` with its first result, even when the
/// first answer was lost, and does it once; without a key, it does it again.
/// (Advocate does not send the directive on store credit, which Shopify
/// does not document for it, and finds lost credits instead.)
async fn the_stand_in_honours_idempotent_keys_where_they_are_sent(backend: Backend) {
    let app = shop(backend).await;
    let token = app
        .shopify
        .issued_tokens()
        .into_iter()
        .find(|t| app.shopify.is_valid_access_token(SHOP, t))
        .expect("an access token of the shop");
    let url = format!("{}/admin/api/2026-07/graphql.json", app.shopify.origin());
    let credit = |key: Option<&str>| {
        let directive = key.map_or(String::new(), |k| format!(r#" @idempotent(key: "{k}")"#));
        json!({
            "query": format!("mutation StoreCreditAccountCredit($id: ID!, $credit: StoreCreditAccountCreditInput!) {{ storeCreditAccountCredit(id: $id, creditInput: $credit){directive} {{ storeCreditAccountTransaction {{ id }} userErrors {{ code }} }} }}"),
            "variables": { "id": gid(77), "credit": { "creditAmount": { "amount": "3.00", "currencyCode": "USD" } } },
        })
    };
    let send = |body: Value| {
        app.http
            .post(&url)
            .header("X-Shopify-Access-Token", &token)
            .header("X-Shopify-Shop-Domain", SHOP)
            .json(&body)
            .send()
    };
    // The first answer is lost; the retry with the key gets the same
    // transaction, and only one credit was made.
    app.shopify.admin(|a| {
        a.faults = Faults {
            lost: 1.0,
            ..Faults::default()
        }
    });
    let lost = send(credit(Some("redemption-1"))).await;
    assert!(lost.is_err() || !lost.unwrap().status().is_success());
    app.shopify.admin(|a| a.faults = Faults::default());
    let first: Value = send(credit(Some("redemption-1")))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let again: Value = send(credit(Some("redemption-1")))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = &first["data"]["storeCreditAccountCredit"]["storeCreditAccountTransaction"]["id"];
    assert!(id.is_string(), "{first}");
    assert_eq!(
        &again["data"]["storeCreditAccountCredit"]["storeCreditAccountTransaction"]["id"],
        id
    );
    assert_eq!(
        credits(&app, 77),
        vec![("3.00".to_owned(), "USD".to_owned())]
    );
    // Another key, or none, is another credit.
    send(credit(Some("redemption-2"))).await.unwrap();
    send(credit(None)).await.unwrap();
    assert_eq!(credits(&app, 77).len(), 3);
}
