//! Sandbox mode: no Shopify credentials, the stand-in in-process, a demo
//! shop installed through the real token exchange, session tokens from the
//! local App Bridge stand-in, and `simulate` filling the shop through the
//! real signed webhook and app proxy paths. The sandbox never meets real
//! credentials or a real shop's database.

use std::collections::HashMap;

use advocate::{
    app::Application,
    config::Config,
    sandbox::{self, simulate, DEMO_SHOP},
    store::Store,
};
use serde_json::Value;

use crate::helpers::{Backend, TestApp, TestDb};

crate::on_both_backends!(
    the_sandbox_installs_its_demo_shop_and_issues_its_session_tokens,
    simulate_fills_the_demo_shop_through_the_real_paths,
    a_sandbox_database_is_refused_with_real_credentials_and_a_real_one_by_the_sandbox,
);

/// The configuration of a machine with no Shopify credentials.
fn sandbox_config(db: &TestDb) -> Config {
    let env: HashMap<&str, String> = [
        ("DATABASE_URL", db.url.clone()),
        ("PORT", "0".into()),
        ("ADVOCATE_HTTP_WORKERS", "1".into()),
        ("ADVOCATE_SCHEDULER_SECS", "0".into()),
    ]
    .into_iter()
    .collect();
    let config = Config::from_lookup(|name| env.get(name).cloned()).expect("sandbox config");
    assert!(config.sandbox, "no credentials: the sandbox");
    config
}

struct Sandbox {
    address: String,
    store: Store,
    url: String,
    http: reqwest::Client,
}

async fn start(db: &TestDb) -> Sandbox {
    let app = Application::build(sandbox_config(db))
        .await
        .expect("the sandbox starts");
    let url = app.sandbox_url().expect("a URL to open").to_owned();
    let address = format!("http://127.0.0.1:{}", app.port());
    let store = app.store().clone();
    tokio::spawn(app.run_until_stopped());
    Sandbox {
        address,
        store,
        url,
        http: reqwest::Client::new(),
    }
}

impl Sandbox {
    async fn token(&self) -> String {
        let answer: Value = self
            .http
            .get(format!(
                "{}/sandbox/session-token?shop={DEMO_SHOP}",
                self.address
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        answer["token"].as_str().expect("a token").to_owned()
    }

    async fn admin(&self, path: &str) -> (u16, Value) {
        let response = self
            .http
            .get(format!("{}{path}", self.address))
            .bearer_auth(self.token().await)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(self.store.reader())
            .await
            .unwrap()
    }
}

async fn the_sandbox_installs_its_demo_shop_and_issues_its_session_tokens(backend: Backend) {
    let db = TestDb::new(backend).await;
    let sandbox = start(&db).await;
    assert!(sandbox
        .url
        .starts_with(&format!("{}/?shop={DEMO_SHOP}&host=", sandbox.address)));
    assert!(sandbox.url.ends_with("&embedded=1"));

    // The page the URL opens is served.
    let page = sandbox.http.get(&sandbox.url).send().await.unwrap();
    assert_eq!(page.status(), 200);

    // The local App Bridge's token opens the admin API for the demo shop,
    // which the token exchange installed with an encrypted token.
    let (status, shop) = sandbox.admin("/api/admin/shop").await;
    assert_eq!(status, 200, "{shop}");
    assert_eq!(shop["shop"], DEMO_SHOP, "{shop}");
    assert_eq!(
        sandbox
            .count("SELECT COUNT(*) FROM shops WHERE status = 'installed' AND access_token_enc IS NOT NULL")
            .await,
        1
    );

    // Tokens only for the demo shop.
    let other = sandbox
        .http
        .get(format!(
            "{}/sandbox/session-token?shop=someone-else.myshopify.com",
            sandbox.address
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 400);

    // A restart keeps the same credentials and installs again.
    let secret: String = sqlx::query_scalar("SELECT api_secret FROM sandbox")
        .fetch_one(sandbox.store.reader())
        .await
        .unwrap();
    let again = start(&db).await;
    let (status, _) = again.admin("/api/admin/program").await;
    assert_eq!(status, 200);
    let after: String = sqlx::query_scalar("SELECT api_secret FROM sandbox")
        .fetch_one(again.store.reader())
        .await
        .unwrap();
    assert_eq!(secret, after);
}

async fn simulate_fills_the_demo_shop_through_the_real_paths(backend: Backend) {
    let db = TestDb::new(backend).await;
    let sandbox = start(&db).await;
    let options = simulate::Options {
        url: sandbox.address.clone(),
        customers: 120,
        months: 12,
        seed: 3,
        concurrency: 8,
    };
    let report = simulate::run(&sandbox.store, &options)
        .await
        .expect("simulate");

    // Every webhook arrived signed and was applied.
    let inbox = sandbox
        .count("SELECT COUNT(*) FROM webhook_inbox WHERE status = 'done'")
        .await;
    assert_eq!(inbox, report.webhooks as i64);
    assert_eq!(
        sandbox
            .count("SELECT COUNT(*) FROM webhook_inbox WHERE status <> 'done'")
            .await,
        0
    );
    assert_eq!(
        sandbox.count("SELECT COUNT(*) FROM orders").await,
        (report.orders + report.guest_orders) as i64
    );
    assert_eq!(
        sandbox.count("SELECT COUNT(*) FROM customers").await,
        report.customers as i64
    );
    assert!(report.refunds > 0 && report.cancellations > 0, "{report:?}");
    assert!(report.guest_orders > 0, "{report:?}");
    // A third of the customers answered the survey, each once.
    assert!(report.nps_answers > 10, "{report:?}");
    assert_eq!(
        sandbox.count("SELECT COUNT(*) FROM nps_responses").await,
        report.nps_answers as i64
    );

    // A year of orders, repeat buyers among them.
    let months = sandbox
        .count(&format!(
            "SELECT COUNT(*) FROM orders WHERE processed_at < {}",
            advocate::store::now_ms() - 300 * advocate::engine::DAY_MS
        ))
        .await;
    assert!(months > 0, "orders reach back most of a year");
    assert!(
        sandbox
            .count("SELECT COUNT(*) FROM (SELECT customer_id FROM orders WHERE customer_id IS NOT NULL GROUP BY customer_id HAVING COUNT(*) >= 2) AS r")
            .await
            > 10
    );

    // Redemptions took points and made codes; referrals were paid or held.
    assert!(report.redemptions > 0, "{report:?}");
    assert_eq!(
        sandbox.count("SELECT COUNT(*) FROM redemptions").await,
        report.redemptions as i64
    );
    assert!(
        sandbox
            .count("SELECT COUNT(*) FROM referrals WHERE status = 'held'")
            .await
            >= 1,
        "the burst of one advocate's friends waits for review"
    );
    assert!(
        sandbox
            .count("SELECT COUNT(*) FROM referrals WHERE order_id IS NOT NULL")
            .await as u64
            >= report.referred_orders / 2
    );
    // The year's points trend is spread over its months: each entry counts
    // on the day its order was placed, not the day simulate sent it.
    let (status, year) = sandbox.admin("/api/admin/analytics?period=365d").await;
    assert_eq!(status, 200, "{year}");
    let issued: Vec<i64> = year["trend"]
        .as_array()
        .unwrap()
        .iter()
        .map(|bucket| bucket["points_issued"].as_i64().unwrap())
        .collect();
    let total: i64 = issued.iter().sum();
    assert_eq!(total, year["points"]["issued"].as_i64().unwrap());
    assert!(
        issued.iter().filter(|p| **p > 0).count() >= 10,
        "points in most months: {issued:?}"
    );
    assert!(
        issued.iter().all(|p| p * 3 < total),
        "no month holds a third of the year: {issued:?}"
    );

    // The ledger still adds up to the balances.
    assert_eq!(
        sandbox
            .count("SELECT CAST(COALESCE(SUM(points), 0) AS BIGINT) FROM points_ledger")
            .await,
        sandbox
            .count("SELECT CAST(COALESCE(SUM(points_balance + points_pending), 0) AS BIGINT) FROM customers")
            .await
    );
}

async fn a_sandbox_database_is_refused_with_real_credentials_and_a_real_one_by_the_sandbox(
    backend: Backend,
) {
    // A sandbox's database.
    let db = TestDb::new(backend).await;
    drop(start(&db).await);
    let mut real = crate::helpers::test_config(&db.url);
    real.runtime.inbox_workers = Some(0);
    let refused = Application::build(real).await.err().expect("refused");
    assert!(
        refused.to_string().contains("made by the sandbox"),
        "{refused}"
    );

    // A real shop's database.
    let app = TestApp::spawn(backend).await;
    app.install(crate::helpers::SHOP).await;
    let refused = Application::build(sandbox_config(&app.db))
        .await
        .err()
        .expect("refused");
    assert!(
        refused.to_string().contains("holds real shops"),
        "{refused}"
    );
    // And the real install has no sandbox door.
    let response = app
        .http
        .get(format!(
            "{}/sandbox/session-token?shop={DEMO_SHOP}",
            app.address
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    // A session token signed by anyone else's secret opens nothing here.
    let forged = sandbox::demo_session_token(sandbox::API_KEY, "not-the-secret");
    let response = app
        .http
        .get(format!("{}/api/admin/shop", app.address))
        .bearer_auth(forged)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}
