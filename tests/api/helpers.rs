//! Spawning Advocate for a test, signing webhooks, reading the database.

use std::{path::PathBuf, time::Duration};

use advocate::loyalty::EpochMs;
use advocate::{
    app::Application,
    config::{Config, Runtime, ShopifyApp},
    crypto::EncryptionKey,
    jobs::inbox::InboxProcessor,
    shopify::hmac::Signer,
    store::{DatabaseUrl, Store},
};
use secrecy::SecretString;
use shopify_sim::{ShopifySim, SimConfig};
use sqlx::Row;

pub const SECRET: &str = "test-client-secret";
pub const SHOP: &str = "test-shop.myshopify.com";

/// Generates, for each named `async fn name(backend: Backend)`, one test per
/// backend: `sqlite::name` and `postgres::name`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Postgres).await
                }
            )*
        }
    };
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server tests create their databases on.
pub fn postgres_admin_url() -> String {
    std::env::var("ADVOCATE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A fresh, empty database, removed when dropped.
pub struct TestDb {
    pub url: String,
    pub backend: Backend,
    dir: tempfile::TempDir,
    pg_name: Option<String>,
}

impl TestDb {
    pub async fn new(backend: Backend) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        match backend {
            Backend::Sqlite => Self {
                url: format!("sqlite://{}/advocate.db", dir.path().display()),
                backend,
                dir,
                pg_name: None,
            },
            Backend::Postgres => {
                let name = format!("advocate_t_{:016x}", rand::random::<u64>());
                let admin = admin_pool().await;
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&admin)
                    .await
                    .expect("create test database (PostgreSQL running? see docs/development.md)");
                admin.close().await;
                let admin_url = postgres_admin_url();
                let (base, _) = admin_url.rsplit_once('/').expect("database in URL");
                Self {
                    url: format!("{base}/{name}"),
                    backend,
                    dir,
                    pg_name: Some(name),
                }
            }
        }
    }

    /// The SQLite file, for tests that read it raw.
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        (self.backend == Backend::Sqlite).then(|| self.dir.path().join("advocate.db"))
    }
}

async fn admin_pool() -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(&postgres_admin_url())
        .await
        .expect("connect to PostgreSQL (is it running? see docs/development.md)")
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(name) = self.pg_name.take() {
            // Drop runs outside any async context: use a thread of its own.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async {
                    let admin = admin_pool().await;
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&admin)
                        .await;
                });
            })
            .join();
        }
    }
}

/// A configuration for tests: random port, no background inbox workers
/// (tests drain explicitly), one HTTP worker.
pub fn test_config(database_url: &str) -> Config {
    Config {
        shopify: ShopifyApp {
            api_key: "test-client-id".into(),
            api_secret: SecretString::from(SECRET.to_owned()),
            api_secret_previous: None,
            app_url: "https://advocate.test".into(),
        },
        database_url: DatabaseUrl::parse(database_url.to_owned()).expect("database url"),
        host: [127, 0, 0, 1].into(),
        port: 0,
        encryption_key: EncryptionKey::from_bytes([7; 32]),
        encryption_key_previous: None,
        api_origin: None,
        runtime: Runtime {
            http_workers: 1,
            inbox_workers: Some(0),
            outbox_workers: 0,
            scheduler_every: std::time::Duration::ZERO,
            history_every: std::time::Duration::ZERO,
            history_on_install: false,
            ..Runtime::default()
        },
        sandbox: false,
    }
}

pub struct TestApp {
    /// The local Shopify stand-in this Advocate talks to.
    pub shopify: ShopifySim,
    pub address: String,
    pub store: Store,
    pub db: TestDb,
    pub http: reqwest::Client,
    pub processor: InboxProcessor,
    pub secret: String,
    /// The outbound webhook policy and timeout the app was given.
    pub outbound: (advocate::egress::Policy, Duration),
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, |_| {}).await
    }

    pub async fn spawn_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Self {
        Self::spawn_with_shopify(backend, |_| {}, tweak).await
    }

    /// With the Shopify stand-in configured by `shopify` (plan, time scale).
    pub async fn spawn_with_shopify(
        backend: Backend,
        shopify: impl FnOnce(&mut SimConfig),
        tweak: impl FnOnce(&mut Config),
    ) -> Self {
        let db = TestDb::new(backend).await;
        let mut config = test_config(&db.url);
        let mut sim = SimConfig::new(&config.shopify.api_key, SECRET);
        shopify(&mut sim);
        let shopify = ShopifySim::start(sim).expect("start the Shopify stand-in");
        config.api_origin = Some(shopify.origin().to_owned());
        tweak(&mut config);
        let outbound = (
            advocate::egress::Policy {
                allow_private: config.runtime.webhooks_allow_private,
            },
            config.runtime.webhooks_timeout,
        );
        let secret = secrecy::ExposeSecret::expose_secret(&config.shopify.api_secret).to_owned();
        let runtime = config.runtime.clone();
        let app = Application::build(config).await.expect("build app");
        let address = format!("http://127.0.0.1:{}", app.port());
        let store = app.store().clone();
        tokio::spawn(app.run_until_stopped());
        let processor = InboxProcessor::new(
            store.clone(),
            "test-worker",
            runtime.inbox_lease,
            runtime.inbox_max_attempts,
        );
        Self {
            shopify,
            address,
            store,
            db,
            http: reqwest::Client::new(),
            processor,
            secret,
            outbound,
        }
    }

    /// A webhook request signed with the app's secret, with the headers
    /// Shopify sends; tests change what they need.
    pub fn webhook(&self, topic: &str, id: &str, body: &[u8]) -> reqwest::RequestBuilder {
        self.webhook_as(SHOP, topic, id, body, &sign(&self.secret, body))
    }

    /// A webhook request from `shop` carrying `signature` as given.
    pub fn webhook_as(
        &self,
        shop: &str,
        topic: &str,
        id: &str,
        body: &[u8],
        signature: &str,
    ) -> reqwest::RequestBuilder {
        webhook_request(&self.http, &self.address, shop, topic, id, body, signature)
    }

    pub async fn send(&self, topic: &str, id: &str, body: &[u8]) -> reqwest::Response {
        self.webhook(topic, id, body).send().await.expect("request")
    }

    /// Processes every ready inbox row; returns how many.
    pub async fn drain(&self) -> usize {
        self.processor.drain().await.expect("drain inbox")
    }

    /// Moves what webhook intake has landed into the inbox (SQLite), so
    /// queries of `webhook_inbox` see every acknowledged delivery.
    pub async fn settle_intake(&self) {
        advocate::store::landing::move_landed(&self.store)
            .await
            .expect("move landed deliveries");
    }

    pub async fn count(&self, sql: &str) -> i64 {
        self.settle_intake().await;
        sqlx::query_scalar(sql)
            .fetch_one(self.store.writer())
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// The body the inbox row with this delivery key keeps, as stored
    /// (compressed), wherever it is kept: apart in `webhook_bodies`, or in
    /// the row.
    pub async fn stored_body(&self, key: &str) -> Vec<u8> {
        self.settle_intake().await;
        sqlx::query_scalar(
            "SELECT COALESCE(b.body, i.body) FROM webhook_inbox i \
             LEFT JOIN webhook_bodies b ON b.id = i.id WHERE i.delivery_key = $1",
        )
        .bind(key)
        .fetch_one(self.store.writer())
        .await
        .expect("inbox row")
    }

    /// Makes sure the body of the inbox row with this delivery key is kept
    /// in `webhook_bodies` (migration 0032), the row's own empty. SQLite's
    /// intake already stores it there; on PostgreSQL it is moved, as a
    /// version storing bodies apart there would leave it.
    pub async fn keep_body_apart(&self, key: &str) {
        self.settle_intake().await;
        let mut tx = self.store.begin().await.unwrap();
        sqlx::query(
            "INSERT INTO webhook_bodies (id, body) \
             SELECT id, body FROM webhook_inbox WHERE delivery_key = $1 AND LENGTH(body) > 0",
        )
        .bind(key)
        .execute(&mut *tx)
        .await
        .unwrap();
        sqlx::query("UPDATE webhook_inbox SET body = $1 WHERE delivery_key = $2")
            .bind(Vec::<u8>::new())
            .bind(key)
            .execute(&mut *tx)
            .await
            .unwrap();
        let apart: i64 = sqlx::query_scalar(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM webhook_inbox i \
             JOIN webhook_bodies b ON b.id = i.id \
             WHERE i.delivery_key = $1 AND LENGTH(i.body) = 0 AND LENGTH(b.body) > 0",
        )
        .bind(key)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
        assert_eq!(apart, 1, "{key} is in the inbox, its body kept apart");
        tx.commit().await.unwrap();
    }

    /// (status, last_error) of the inbox row with this delivery key.
    pub async fn inbox_row(&self, key: &str) -> (String, Option<String>) {
        self.settle_intake().await;
        let row =
            sqlx::query("SELECT status, last_error FROM webhook_inbox WHERE delivery_key = $1")
                .bind(key)
                .fetch_one(self.store.writer())
                .await
                .expect("inbox row");
        (row.get("status"), row.get("last_error"))
    }
}

pub fn webhook_request(
    http: &reqwest::Client,
    address: &str,
    shop: &str,
    topic: &str,
    id: &str,
    body: &[u8],
    signature: &str,
) -> reqwest::RequestBuilder {
    http.post(format!("{address}/webhooks"))
        .header("Content-Type", "application/json")
        .header("X-Shopify-Topic", topic)
        .header("X-Shopify-Shop-Domain", shop)
        .header("X-Shopify-Webhook-Id", format!("webhook-{id}"))
        .header("X-Shopify-Event-Id", id)
        // Shopify stamps the moment it sends; an app/uninstalled stamped
        // before the current install is (rightly) ignored.
        .header(
            "X-Shopify-Triggered-At",
            chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        )
        .header("X-Shopify-API-Version", "2026-07")
        .header("X-Shopify-Hmac-Sha256", signature)
        .body(body.to_vec())
}

pub fn sign(secret: &str, body: &[u8]) -> String {
    Signer::new(&SecretString::from(secret.to_owned()), None).sign_webhook(body)
}

pub fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/webhooks")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Polls `check` until it returns true or `limit` passes (for work done by
/// other processes, which a test cannot drain itself).
pub async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + limit;
    while !check().await {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An admin session token as App Bridge sends it (`iss` the shop's admin,
/// `dest` `https://{shop}`, `sub` the staff user's id).
pub fn session_token(shop: &str, sub: Option<&str>) -> String {
    session_token_with(shop, sub, |_| {})
}

pub fn session_token_with(
    shop: &str,
    sub: Option<&str>,
    tweak: impl FnOnce(&mut serde_json::Value),
) -> String {
    let now = chrono::Utc::now().timestamp();
    let mut claims = serde_json::json!({
        "iss": format!("https://{shop}/admin"),
        "dest": format!("https://{shop}"),
        "aud": "test-client-id",
        "sub": sub,
        "exp": now + 60,
        "nbf": now - 1,
        "iat": now - 1,
        "jti": format!("{:x}", rand::random::<u64>()),
        "sid": "session",
    });
    tweak(&mut claims);
    advocate::shopify::session_token::sign_session_token(SECRET, &claims)
}

/// An extension session token (checkout, thank-you / order-status page,
/// customer account) in the shape Shopify documents: no `iss`, `dest` the
/// bare shop domain, `sub` the buyer's GID only when logged in.
pub fn extension_token(shop: &str, customer: Option<i64>) -> String {
    extension_token_with(shop, customer, |_| {})
}

pub fn extension_token_with(
    shop: &str,
    customer: Option<i64>,
    tweak: impl FnOnce(&mut serde_json::Value),
) -> String {
    let now = chrono::Utc::now().timestamp();
    let mut claims = advocate::shopify::session_token::extension_claims(
        shop,
        "test-client-id",
        customer,
        now,
        60,
    );
    tweak(&mut claims);
    advocate::shopify::session_token::sign_session_token(SECRET, &claims)
}

/// An app proxy query string for `shop`, signed as Shopify signs it.
pub fn proxy_query(shop: &str, customer: Option<i64>) -> String {
    let timestamp = chrono::Utc::now().timestamp().to_string();
    let customer = customer.map(|c| c.to_string()).unwrap_or_default();
    let mut pairs = vec![
        ("shop".to_owned(), shop.to_owned()),
        ("logged_in_customer_id".to_owned(), customer),
        ("path_prefix".to_owned(), "/apps/loyalty".to_owned()),
        ("timestamp".to_owned(), timestamp),
    ];
    let message = advocate::shopify::query::proxy_message(&pairs);
    let signature =
        Signer::new(&SecretString::from(SECRET.to_owned()), None).sign_hex(message.as_bytes());
    pairs.push(("signature".to_owned(), signature));
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

impl TestApp {
    /// Installs `shop` the way the App Store does today: Shopify installs
    /// the app, the embedded page's first request carries a session token,
    /// Advocate exchanges it.
    pub async fn install(&self, shop: &str) {
        self.shopify.install(shop);
        let response = self
            .http
            .get(format!("{}/api/admin/shop", self.address))
            .bearer_auth(session_token(shop, Some("1")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "install {shop}");
    }

    /// Changes `shop`'s program settings through the admin API, as the
    /// Program screen does (read, change, save under the version read).
    pub async fn change_program(&self, shop: &str, change: impl FnOnce(&mut serde_json::Value)) {
        let (status, body) = self.try_change_program(shop, change).await;
        assert_eq!(status, 200, "{body}");
    }

    /// As [`Self::change_program`], answering the save's status and body
    /// (for settings that must be refused).
    /// Makes an API key for `shop` with `scopes` through the admin route:
    /// (its id, the key).
    pub async fn api_key(&self, shop: &str, scopes: &[&str]) -> (i64, String) {
        let response = self
            .http
            .post(format!("{}/api/admin/api-keys", self.address))
            .bearer_auth(session_token(shop, Some("1")))
            .json(&serde_json::json!({ "name": "test key", "scopes": scopes }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        let created: serde_json::Value = response.json().await.unwrap();
        (
            created["id"].as_i64().unwrap(),
            created["secret"].as_str().unwrap().to_owned(),
        )
    }

    pub async fn try_change_program(
        &self,
        shop: &str,
        change: impl FnOnce(&mut serde_json::Value),
    ) -> (u16, serde_json::Value) {
        let token = session_token(shop, Some("1"));
        let url = format!("{}/api/admin/program", self.address);
        let current: serde_json::Value = self
            .http
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let mut settings = current["settings"].clone();
        change(&mut settings);
        let response = self
            .http
            .put(&url)
            .bearer_auth(&token)
            .json(&serde_json::json!({ "settings": settings, "version": current["version"] }))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or_default())
    }

    /// Another Advocate process's view of the shop tokens: its own pool on
    /// the same database, the same keys, the same Shopify.
    pub async fn token_service(&self) -> advocate::shopify::tokens::ShopTokens {
        use advocate::{
            crypto::TokenCipher,
            shopify::oauth::{OAuthClient, ShopifyEndpoint},
        };
        let store = Store::connect(&DatabaseUrl::parse(self.db.url.clone()).unwrap(), 4)
            .await
            .unwrap();
        let cipher =
            std::sync::Arc::new(TokenCipher::new(&EncryptionKey::from_bytes([7; 32]), None));
        let oauth = OAuthClient::new(
            ShopifyEndpoint::new(Some(self.shopify.origin().to_owned())),
            "test-client-id",
            &SecretString::from(SECRET.to_owned()),
        );
        advocate::shopify::tokens::ShopTokens::new(store, cipher, oauth)
    }

    /// An Admin API client for the stand-in, waiting at most `timeout` for
    /// an answer and retrying quickly.
    pub async fn admin_api(&self, timeout: Duration) -> advocate::shopify::admin::api::AdminApi {
        use advocate::shopify::{
            admin::client::{AdminClient, RetryPolicy},
            oauth::ShopifyEndpoint,
        };
        let client = AdminClient::new(
            ShopifyEndpoint::new(Some(self.shopify.origin().to_owned())),
            timeout,
            // Tests inject up to 40 % failures: with ten attempts one call in
            // ten thousand would still fail for good; thirty make it never.
            RetryPolicy {
                max_attempts: 30,
                base_delay: Duration::from_millis(20),
                max_delay: Duration::from_millis(300),
            },
        );
        advocate::shopify::admin::api::AdminApi::new(
            client,
            std::sync::Arc::new(self.token_service().await),
        )
    }
}

impl TestApp {
    /// The cipher the app seals secrets with (the test key).
    pub fn token_cipher(&self) -> advocate::crypto::TokenCipher {
        advocate::crypto::TokenCipher::new(&EncryptionKey::from_bytes([7; 32]), None)
    }

    /// An outbound webhook sender as the app's would be.
    pub fn webhook_sender(&self) -> advocate::jobs::outbound::OutboundSender {
        advocate::jobs::outbound::OutboundSender::new(
            self.store.clone(),
            std::sync::Arc::new(self.token_cipher()),
            format!("test-webhooks-{}", rand::random::<u32>()),
            self.outbound.0,
            self.outbound.1,
        )
    }

    /// Tries every ready outbound webhook (retries wait out their
    /// backoff); returns how many tries.
    pub async fn send_webhooks(&self) -> usize {
        self.settle_intake().await;
        self.webhook_sender().drain().await.expect("send webhooks")
    }

    /// Sends every queued Shopify effect to the stand-in, moving retries
    /// forward instead of waiting out their backoff.
    pub async fn send_effects(&self) {
        let sender = advocate::jobs::outbox::OutboxSender::new(
            self.store.clone(),
            std::sync::Arc::new(self.admin_api(Duration::from_secs(5)).await),
            "test-sender",
            Duration::from_secs(30),
            50,
        );
        for _ in 0..100 {
            sender.drain().await.unwrap();
            let queued = self
                .count("SELECT CAST(COUNT(*) AS BIGINT) FROM outbox WHERE status = 'queued'")
                .await;
            if queued == 0 {
                return;
            }
            sqlx::query("UPDATE outbox SET available_at = 0 WHERE status = 'queued'")
                .execute(self.store.writer())
                .await
                .unwrap();
        }
        panic!("effects still queued after 100 rounds");
    }

    /// Drains the inbox with `workers` processors at once until nothing is
    /// queued; retries after a lost race wait out a backoff, so they are
    /// brought forward between rounds.
    pub async fn drain_racing(&self, workers: usize) {
        for _ in 0..50 {
            let processors: Vec<_> = (0..workers)
                .map(|i| {
                    InboxProcessor::new(
                        self.store.clone(),
                        format!("racer-{i}"),
                        Duration::from_secs(60),
                        50,
                    )
                })
                .collect();
            for done in futures_util::future::join_all(processors.iter().map(|p| p.drain())).await {
                done.unwrap();
            }
            let left = self
                .count("SELECT COUNT(*) FROM webhook_inbox WHERE status = 'queued'")
                .await;
            if left == 0 {
                return;
            }
            sqlx::query("UPDATE webhook_inbox SET available_at = 0 WHERE status = 'queued'")
                .execute(self.store.writer())
                .await
                .unwrap();
        }
        panic!("deliveries still queued after 50 rounds");
    }

    /// Runs the scheduled loyalty jobs as if the time were `now` (ms).
    pub async fn run_jobs(&self, now: i64) -> advocate::engine::scheduled::Report {
        advocate::engine::scheduled::run_due(&self.store, "test-jobs", EpochMs(now))
            .await
            .unwrap()
    }
}

impl TestApp {
    /// The Shopify Flow triggers the stand-in received for `handle`, in
    /// order: their payloads.
    pub fn flow_triggers(&self, handle: &str) -> Vec<serde_json::Value> {
        self.shopify.admin(|a| {
            a.flow_triggers
                .iter()
                .filter(|(shop, h, _)| shop == SHOP && h == handle)
                .map(|(_, _, payload)| payload.clone())
                .collect()
        })
    }
}

/// A time `ago_ms` before now, as Shopify writes times in payloads
/// (RFC 3339): for a delivery that describes something that just happened.
pub fn ago(ago_ms: i64) -> String {
    (chrono::Utc::now() - chrono::Duration::milliseconds(ago_ms))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
