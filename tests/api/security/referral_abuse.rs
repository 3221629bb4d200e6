//! Security regression tests: anonymous callers that write. A logged-out
//! visitor claiming friend discounts gets one code per real, normalised
//! email, and no more than the program's caps per advocate code and per
//! shop; `/auth`, which stores a state for anyone, is rate limited per
//! address, bounded in size, and cleans up after itself without scanning
//! the table.

use advocate::{
    jobs::retention::{self, Retention},
    store::now_ms,
};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::{
    helpers::{Backend, TestApp, SHOP},
    referrals::{answer, proxy, shop_with_advocate, update_settings, ADVOCATE},
};

crate::on_both_backends!(
    a_claim_with_an_email_that_is_not_deliverable_is_refused_and_writes_nothing,
    variations_of_one_email_get_one_friend_code,
    an_advocate_code_past_its_daily_claims_is_refused_and_writes_nothing,
    concurrent_claims_never_pass_the_cap_per_code,
    the_shop_wide_hourly_claim_cap_holds_across_advocates,
    auth_is_rate_limited_per_client_address,
    auth_refuses_with_503_once_the_pending_states_are_at_their_cap,
    auth_purges_a_bounded_batch_of_expired_states_and_retention_the_rest,
    expired_oauth_states_are_found_through_an_index,
);

async fn advocate_code(app: &TestApp, customer: i64) -> String {
    let (status, body) = answer(proxy(app, Method::GET, "/proxy/referral", Some(customer))).await;
    assert_eq!(status, 200, "{body}");
    body["code"].as_str().unwrap().to_owned()
}

/// A logged-out claim, as the storefront widget sends it.
async fn claim(app: &TestApp, code: &str, email: &str) -> (StatusCode, Value) {
    answer(
        proxy(app, Method::POST, "/proxy/referrals/claim", None)
            .json(&json!({ "code": code, "email": email })),
    )
    .await
}

async fn issued(app: &TestApp) -> i64 {
    app.count("SELECT CAST(COUNT(*) AS BIGINT) FROM referrals")
        .await
}

async fn discount_effects(app: &TestApp) -> i64 {
    app.count(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM outbox WHERE kind = 'create_discount_code' \
         AND idempotency_key LIKE 'referral:%:friend'",
    )
    .await
}

async fn a_claim_with_an_email_that_is_not_deliverable_is_refused_and_writes_nothing(
    backend: Backend,
) {
    let app = shop_with_advocate(backend).await;
    let code = advocate_code(&app, ADVOCATE).await;
    for bad in ["@", "a+1@x", "a b@example.com", "friend@", "@example.com"] {
        let (status, body) = claim(&app, &code, bad).await;
        assert_eq!(status, 422, "{bad:?}: {body}");
        assert_eq!(body["errors"][0]["field"], "email", "{body}");
    }
    let long = format!("{}@{}.com", "a".repeat(60), "b".repeat(200));
    assert_eq!(
        claim(&app, &code, &long).await.0,
        422,
        "over 254 characters"
    );
    assert_eq!(issued(&app).await, 0);
    assert_eq!(discount_effects(&app).await, 0);
}

async fn variations_of_one_email_get_one_friend_code(backend: Backend) {
    let app = shop_with_advocate(backend).await;
    let code = advocate_code(&app, ADVOCATE).await;
    let mut codes = Vec::new();
    for email in [
        "friend@example.com",
        "  FRIEND@example.com",
        "Friend@Example.COM ",
    ] {
        let (status, body) = claim(&app, &code, email).await;
        assert_eq!(status, 200, "{email:?}: {body}");
        codes.push(body["code"].as_str().unwrap().to_owned());
    }
    assert!(codes.iter().all(|c| *c == codes[0]), "{codes:?}");
    assert_eq!(issued(&app).await, 1);
    assert_eq!(discount_effects(&app).await, 1);
}

async fn an_advocate_code_past_its_daily_claims_is_refused_and_writes_nothing(backend: Backend) {
    let app = shop_with_advocate(backend).await;
    update_settings(&app, |s| {
        s["referrals"]["claims_per_code_per_day"] = json!(3)
    })
    .await;
    let code = advocate_code(&app, ADVOCATE).await;
    let mut first = String::new();
    for n in 1..=3 {
        let (status, body) = claim(&app, &code, &format!("a+{n}@example.com")).await;
        assert_eq!(status, 200, "{body}");
        if n == 1 {
            first = body["code"].as_str().unwrap().to_owned();
        }
    }
    let (status, body) = claim(&app, &code, "a+4@example.com").await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"], "too_many_requests");
    assert_eq!(issued(&app).await, 3, "nothing written past the cap");
    assert_eq!(discount_effects(&app).await, 3);

    // A friend who already has a code still gets it back.
    let (status, body) = claim(&app, &code, "A+1@Example.com").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["code"], first.as_str());
    assert_eq!(issued(&app).await, 3);
}

async fn concurrent_claims_never_pass_the_cap_per_code(backend: Backend) {
    let app = shop_with_advocate(backend).await;
    update_settings(&app, |s| {
        s["referrals"]["claims_per_code_per_day"] = json!(3)
    })
    .await;
    let code = advocate_code(&app, ADVOCATE).await;
    let claims = (1..=8).map(|n| {
        let email = format!("race{n}@example.com");
        let app = &app;
        let code = &code;
        async move { claim(app, code, &email).await.0 }
    });
    let statuses = futures_util::future::join_all(claims).await;
    let granted = statuses.iter().filter(|s| **s == 200).count();
    assert_eq!(granted, 3, "{statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 429),
        "{statuses:?}"
    );
    assert_eq!(issued(&app).await, 3);
    assert_eq!(discount_effects(&app).await, 3);
}

async fn the_shop_wide_hourly_claim_cap_holds_across_advocates(backend: Backend) {
    let app = shop_with_advocate(backend).await;
    update_settings(&app, |s| {
        s["referrals"]["claims_per_shop_per_hour"] = json!(2)
    })
    .await;
    let code = advocate_code(&app, ADVOCATE).await;
    let other = advocate_code(&app, ADVOCATE + 1).await;
    assert_eq!(claim(&app, &code, "one@example.com").await.0, 200);
    assert_eq!(claim(&app, &other, "two@example.com").await.0, 200);
    let (status, body) = claim(&app, &other, "three@example.com").await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(issued(&app).await, 2);
    assert_eq!(discount_effects(&app).await, 2);
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn begin_install(app: &TestApp, http: &reqwest::Client, from: &str) -> reqwest::Response {
    http.get(format!("{}/auth?shop={SHOP}", app.address))
        .header("X-Forwarded-For", from)
        .send()
        .await
        .unwrap()
}

async fn states(app: &TestApp) -> i64 {
    app.count("SELECT CAST(COUNT(*) AS BIGINT) FROM oauth_states")
        .await
}

async fn auth_is_rate_limited_per_client_address(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let http = no_redirects();
    for _ in 0..10 {
        assert_eq!(
            begin_install(&app, &http, "198.51.100.7").await.status(),
            302
        );
    }
    let refused = begin_install(&app, &http, "198.51.100.7").await;
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    assert_eq!(states(&app).await, 10, "a refused request stores no state");
    assert_eq!(
        begin_install(&app, &http, "198.51.100.8").await.status(),
        302,
        "another address has its own allowance"
    );
}

async fn auth_refuses_with_503_once_the_pending_states_are_at_their_cap(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.runtime.oauth_states_max = 3).await;
    let http = no_redirects();
    for n in 0..3 {
        let from = format!("203.0.113.{n}");
        assert_eq!(begin_install(&app, &http, &from).await.status(), 302);
    }
    let full = begin_install(&app, &http, "203.0.113.9").await;
    assert_eq!(full.status(), 503);
    assert!(full.headers().contains_key("retry-after"));
    assert_eq!(states(&app).await, 3);

    // Expired states do not count against the cap.
    sqlx::query("UPDATE oauth_states SET expires_at = 1")
        .execute(app.store.writer())
        .await
        .unwrap();
    assert_eq!(
        begin_install(&app, &http, "203.0.113.9").await.status(),
        302
    );
}

async fn auth_purges_a_bounded_batch_of_expired_states_and_retention_the_rest(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for n in 0..100_i64 {
        sqlx::query(
            "INSERT INTO oauth_states (state, shop_domain, expires_at) VALUES ($1, $2, $3)",
        )
        .bind(format!("abandoned-{n}"))
        .bind(SHOP)
        .bind(1000 + n)
        .execute(app.store.writer())
        .await
        .unwrap();
    }
    let http = no_redirects();
    assert_eq!(begin_install(&app, &http, "192.0.2.1").await.status(), 302);
    let left = states(&app).await;
    assert!(
        left > 1 && left < 101,
        "one insert removes some expired states, not all: {left} left"
    );

    let defaults = advocate::config::Runtime::default();
    let policy = Retention {
        inbox: defaults.inbox_retention,
        outbox: defaults.outbox_retention,
    };
    let purged = retention::purge(&app.store, policy, now_ms())
        .await
        .unwrap();
    assert_eq!(purged.oauth_states, (left - 1) as u64);
    assert_eq!(states(&app).await, 1, "the live state is kept");
}

async fn expired_oauth_states_are_found_through_an_index(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let sql = match backend {
        Backend::Sqlite => {
            "SELECT CAST(COUNT(*) AS BIGINT) FROM sqlite_master WHERE type = 'index' \
             AND tbl_name = 'oauth_states' AND sql LIKE '%(expires_at)%'"
        }
        Backend::Postgres => {
            "SELECT CAST(COUNT(*) AS BIGINT) FROM pg_indexes WHERE tablename = 'oauth_states' \
             AND indexdef LIKE '%(expires_at)%'"
        }
    };
    assert_eq!(app.count(sql).await, 1);
}
