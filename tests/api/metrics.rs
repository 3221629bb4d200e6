//! `GET /metrics`: off without a token, 401 without the right one, and the
//! counters and database figures move with the webhooks received.

use advocate::{app::Application, jobs::inbox::InboxProcessor, ops::OpsSettings};
use secrecy::SecretString;

use crate::helpers::{sign, test_config, webhook_request, Backend, TestApp, TestDb, SECRET, SHOP};

const TOKEN: &str = "metrics-token-0123456789abcdef";

crate::on_both_backends!(
    metrics_do_not_exist_without_a_configured_token,
    metrics_need_the_bearer_token,
    metrics_count_webhooks_and_read_queue_depths_on_scrape,
    admin_api_calls_and_points_are_counted_by_outcome_and_plan,
);

async fn metrics_do_not_exist_without_a_configured_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app
        .http
        .get(format!("{}/metrics", app.address))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}

async fn metrics_need_the_bearer_token(backend: Backend) {
    let app = MeteredApp::spawn(backend).await;
    let url = format!("{}/metrics", app.address);
    let bare = app.http.get(&url).send().await.unwrap();
    assert_eq!(bare.status(), 401);
    let wrong = app
        .http
        .get(&url)
        .bearer_auth(format!("{TOKEN}x"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let basic = app
        .http
        .get(&url)
        .basic_auth("prometheus", Some(TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 401, "only a bearer token is accepted");
    let right = app.http.get(&url).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(right.status(), 200);
    assert!(right
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain")));
}

async fn metrics_count_webhooks_and_read_queue_depths_on_scrape(backend: Backend) {
    let app = MeteredApp::spawn(backend).await;
    let before = app.scrape().await;
    assert_eq!(
        value(
            &before,
            r#"advocate_webhooks_accepted_total{topic="customers/create"}"#
        ),
        0.0
    );
    assert_eq!(value(&before, "advocate_inbox_depth"), 0.0);

    for i in 0..3 {
        let body = format!(r#"{{"id":{},"email":"m{i}@example.com"}}"#, 7_000 + i);
        let response = webhook_request(
            &app.http,
            &app.address,
            SHOP,
            "customers/create",
            &format!("metrics-{i}"),
            body.as_bytes(),
            &sign(SECRET, body.as_bytes()),
        )
        .send()
        .await
        .unwrap();
        assert_eq!(response.status(), 200);
    }
    let forged = webhook_request(
        &app.http,
        &app.address,
        SHOP,
        "customers/create",
        "metrics-forged",
        b"{}",
        "AAAA",
    )
    .send()
    .await
    .unwrap();
    assert_eq!(forged.status(), 401);

    let after = app.scrape().await;
    assert_eq!(value(&after, "advocate_webhooks_received_total"), 4.0);
    assert_eq!(
        value(
            &after,
            r#"advocate_webhooks_accepted_total{topic="customers/create"}"#
        ),
        3.0
    );
    assert_eq!(
        value(
            &after,
            r#"advocate_webhooks_rejected_total{reason="bad_signature"}"#
        ),
        1.0
    );
    assert_eq!(value(&after, "advocate_webhook_ack_seconds_count"), 3.0);
    assert_eq!(
        value(&after, "advocate_inbox_depth"),
        3.0,
        "queued until processed"
    );
    assert!(value(&after, "advocate_inbox_oldest_age_seconds") >= 0.0);

    let processed = app.processor.drain().await.unwrap();
    assert_eq!(processed, 3);
    let drained = app.scrape().await;
    assert_eq!(value(&drained, "advocate_inbox_depth"), 0.0);
    assert_eq!(value(&drained, "advocate_inbox_oldest_age_seconds"), 0.0);
    assert_eq!(value(&drained, "advocate_outbox_failed"), 0.0);
    assert!(
        !drained.contains("m0@example.com") && !drained.contains(SHOP),
        "no shopper data and no shop names in metrics"
    );
}

async fn admin_api_calls_and_points_are_counted_by_outcome_and_plan(backend: Backend) {
    use advocate::{
        metrics::Metrics,
        shopify::{
            admin::{
                self,
                api::AdminApi,
                client::{AdminClient, RetryPolicy},
            },
            oauth::ShopifyEndpoint,
            ShopDomain,
        },
        store::stats::StoreStats,
    };
    use std::{sync::Arc, time::Duration};

    // Standard plan (100 points/s, bucket 1,000) in real time: the plan is
    // told by the restore rate, which the stand-in scales with its clock.
    let app = TestApp::spawn_with_shopify(backend, |s| s.time_scale = 1.0, |_| {}).await;
    app.install(SHOP).await;
    let metrics = Arc::new(Metrics::new());
    let api = AdminApi::new(
        AdminClient::new(
            ShopifyEndpoint::new(Some(app.shopify.origin().to_owned())),
            Duration::from_secs(5),
            RetryPolicy::default(),
        )
        .with_metrics(metrics.clone()),
        Arc::new(app.token_service().await),
    );
    let shop = ShopDomain::parse(SHOP).unwrap();
    for i in 0..5 {
        let payload: serde_json::Value = api
            .call(
                &shop,
                admin::TAGS_ADD,
                serde_json::json!({ "id": format!("gid://shopify/Customer/{i}"), "tags": ["vip"] }),
            )
            .await
            .expect("the call succeeds");
        admin::client::user_errors(&payload["tagsAdd"]).expect("no user errors");
    }
    let text = metrics.render(&StoreStats::default(), &api.client.bucket_summary());
    assert_eq!(
        value(&text, r#"advocate_admin_api_calls_total{outcome="ok"}"#),
        5.0
    );
    assert_eq!(
        value(
            &text,
            r#"advocate_admin_api_calls_total{outcome="throttled"}"#
        ),
        0.0
    );
    assert!(
        value(
            &text,
            r#"advocate_admin_api_points_used_total{plan="standard"}"#
        ) > 0.0
    );
    assert_eq!(
        value(
            &text,
            r#"advocate_admin_api_points_maximum{plan="standard"}"#
        ),
        1000.0
    );
    assert_eq!(
        value(&text, r#"advocate_admin_api_shops{plan="standard"}"#),
        1.0
    );
    let available = value(
        &text,
        r#"advocate_admin_api_points_available{plan="standard"}"#,
    );
    assert!(available > 0.0 && available <= 1000.0, "{available}");
}

/// Advocate with a metrics token, workers off (the test drains).
struct MeteredApp {
    address: String,
    http: reqwest::Client,
    processor: InboxProcessor,
    _db: TestDb,
}

impl MeteredApp {
    async fn spawn(backend: Backend) -> Self {
        let db = TestDb::new(backend).await;
        let config = test_config(&db.url);
        let runtime = config.runtime.clone();
        let ops = OpsSettings {
            metrics_token: Some(SecretString::from(TOKEN.to_owned())),
            ..OpsSettings::default()
        };
        let app = Application::build_with(config, ops)
            .await
            .expect("build app");
        let address = format!("http://127.0.0.1:{}", app.port());
        let processor = InboxProcessor::new(
            app.store().clone(),
            "test-worker",
            runtime.inbox_lease,
            runtime.inbox_max_attempts,
        );
        tokio::spawn(app.run_until_stopped());
        Self {
            address,
            http: reqwest::Client::new(),
            processor,
            _db: db,
        }
    }

    async fn scrape(&self) -> String {
        let response = self
            .http
            .get(format!("{}/metrics", self.address))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.text().await.unwrap()
    }
}

/// The value of one sample (`name{labels}`) in a text exposition; 0 when
/// the series has not appeared yet.
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            (name == series).then(|| value.parse().expect("a number"))
        })
        .unwrap_or(0.0)
}
