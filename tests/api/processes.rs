//! The real `advocate` binary: killed with SIGKILL under load, restarted
//! with SIGTERM under load, and two processes sharing one PostgreSQL
//! database.

use std::{
    process::Stdio,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use advocate::store::{DatabaseUrl, Store};
use futures_util::StreamExt;
use tokio::{process::Child, sync::Notify};

use crate::helpers::{eventually, sign, webhook_request, Backend, TestDb, SECRET, SHOP};

crate::on_both_backends!(
    a_sigkill_under_load_loses_no_acknowledged_delivery_and_processes_each_once,
    a_rolling_restart_under_load_loses_and_doubles_nothing,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_postgres_process_each_row_exactly_once() {
    let db = TestDb::new(Backend::Postgres).await;
    let mut a = Advocate::start(&db.url).await;
    let mut b = Advocate::start(&db.url).await;
    let http = reqwest::Client::new();
    let total = 1000;
    let results: Vec<u16> = futures_util::stream::iter(0..total)
        .map(|i| {
            let address = if i % 2 == 0 {
                a.address.clone()
            } else {
                b.address.clone()
            };
            let http = http.clone();
            async move { send_customer(&http, &address, i).await.unwrap_or(0) }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    assert!(
        results.iter().all(|s| *s == 200),
        "every delivery acknowledged"
    );

    let store = connect(&db.url).await;
    wait_until_processed(&store).await;
    let done_once: i64 = scalar(
        &store,
        "SELECT CAST(COUNT(*) AS BIGINT) FROM webhook_inbox WHERE status = 'done' AND attempts = 1",
    )
    .await;
    assert_eq!(done_once, total as i64, "each row claimed once and done");
    assert_eq!(
        scalar(&store, "SELECT CAST(COUNT(*) AS BIGINT) FROM customers").await,
        total as i64
    );
    let owners: Vec<String> = sqlx::query_scalar("SELECT DISTINCT processed_by FROM webhook_inbox")
        .fetch_all(store.reader())
        .await
        .unwrap();
    let pids: std::collections::HashSet<&str> =
        owners.iter().filter_map(|o| o.split('-').next()).collect();
    assert_eq!(pids.len(), 2, "both processes took part: {owners:?}");
    a.stop().await;
    b.stop().await;
}

async fn a_sigkill_under_load_loses_no_acknowledged_delivery_and_processes_each_once(
    backend: Backend,
) {
    let db = TestDb::new(backend).await;
    let mut first = Advocate::start(&db.url).await;
    let http = reqwest::Client::new();
    let total = 3000;
    let kill_after = 1000;
    let acked = Arc::new(Mutex::new(Vec::new()));
    let answered = Arc::new(AtomicUsize::new(0));
    let halfway = Arc::new(Notify::new());

    let load = futures_util::stream::iter(0..total)
        .map(|i| {
            let (http, address) = (http.clone(), first.address.clone());
            let (acked, answered, halfway) = (acked.clone(), answered.clone(), halfway.clone());
            async move {
                if let Ok(200) = send_customer(&http, &address, i).await {
                    acked.lock().unwrap().push(i);
                    if answered.fetch_add(1, Ordering::SeqCst) + 1 == kill_after {
                        halfway.notify_one();
                    }
                }
            }
        })
        .buffer_unordered(64)
        .collect::<Vec<()>>();
    let kill = async {
        halfway.notified().await;
        first.child.start_kill().expect("SIGKILL");
    };
    tokio::join!(load, kill);
    first.child.wait().await.unwrap();
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= kill_after && acked.len() < total,
        "killed mid-load: {} acknowledged",
        acked.len()
    );

    let mut second = Advocate::start(&db.url).await;
    let store = connect(&db.url).await;
    wait_until_processed(&store).await;
    assert_each_done(&store, &acked).await;
    let rows = scalar(&store, "SELECT CAST(COUNT(*) AS BIGINT) FROM webhook_inbox").await;
    let done = scalar(
        &store,
        "SELECT CAST(COUNT(*) AS BIGINT) FROM webhook_inbox WHERE status = 'done'",
    )
    .await;
    assert_eq!(done, rows, "everything stored was processed");
    assert_eq!(
        scalar(&store, "SELECT CAST(COUNT(*) AS BIGINT) FROM customers").await,
        rows,
        "one effect per delivery"
    );
    second.stop().await;
}

/// What a rolling restart does: SIGTERM to the old process, a new one
/// started at once, traffic moved to it. Deliveries the old one refused
/// while stopping are sent again (as Shopify does) until acknowledged.
async fn a_rolling_restart_under_load_loses_and_doubles_nothing(backend: Backend) {
    let db = TestDb::new(backend).await;
    let stop_within = [("ADVOCATE_SHUTDOWN_SECS", "10")];
    let mut old = Advocate::start_with(&db.url, &stop_within).await;
    // Where deliveries go: the old process, then the new one.
    let (current_tx, current) = tokio::sync::watch::channel(old.address.clone());
    let http = reqwest::Client::new();
    let total = 3000;
    let restart_after = 1000;
    let acked = Arc::new(Mutex::new(Vec::new()));
    let answered = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(AtomicUsize::new(0));
    let halfway = Arc::new(Notify::new());

    let load = futures_util::stream::iter(0..total)
        .map(|i| {
            let http = http.clone();
            let (current, acked, answered, refused, halfway) = (
                current.clone(),
                acked.clone(),
                answered.clone(),
                refused.clone(),
                halfway.clone(),
            );
            async move {
                let mut current = current;
                loop {
                    let address = current.borrow().clone();
                    if let Ok(200) = send_customer(&http, &address, i).await {
                        acked.lock().unwrap().push(i);
                        if answered.fetch_add(1, Ordering::SeqCst) + 1 == restart_after {
                            halfway.notify_one();
                        }
                        return;
                    }
                    // Shopify's retry of an unanswered delivery: to the
                    // process that replaces the one that refused it.
                    refused.fetch_add(1, Ordering::Relaxed);
                    tokio::time::timeout(
                        Duration::from_secs(60),
                        current.wait_for(|now| *now != address),
                    )
                    .await
                    .expect("the new process comes up")
                    .expect("the address is published");
                }
            }
        })
        .buffer_unordered(64)
        .collect::<Vec<()>>();
    let restart = async {
        halfway.notified().await;
        let pid = old.child.id().expect("running");
        let term = tokio::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await
            .expect("kill -TERM");
        assert!(term.success());
        let new = Advocate::start_with(&db.url, &stop_within).await;
        current_tx.send_replace(new.address.clone());
        let exit = old.child.wait().await.expect("old process exits");
        assert!(exit.success(), "the old process stopped cleanly: {exit:?}");
        (new, pid)
    };
    let (_, (mut new, old_pid)) = tokio::join!(load, restart);

    let store = connect(&db.url).await;
    let held_by_old: i64 = sqlx::query_scalar(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM webhook_inbox \
         WHERE status = 'queued' AND lease_owner LIKE $1",
    )
    .bind(format!("{old_pid}-%"))
    .fetch_one(store.reader())
    .await
    .unwrap();
    assert_eq!(held_by_old, 0, "the stopped process handed back its leases");
    let acked = acked.lock().unwrap().clone();
    assert_eq!(acked.len(), total, "every delivery acknowledged in the end");

    wait_until_processed(&store).await;
    assert_each_done(&store, &acked).await;
    assert_eq!(
        scalar(&store, "SELECT CAST(COUNT(*) AS BIGINT) FROM webhook_inbox").await,
        total as i64,
        "each delivery stored once"
    );
    assert_eq!(
        scalar(&store, "SELECT CAST(COUNT(*) AS BIGINT) FROM customers").await,
        total as i64,
        "one effect per delivery"
    );
    let owners: Vec<String> = sqlx::query_scalar("SELECT DISTINCT processed_by FROM webhook_inbox")
        .fetch_all(store.reader())
        .await
        .unwrap();
    assert!(
        owners.iter().any(|o| o.starts_with(&format!("{old_pid}-"))),
        "the old process processed rows before it stopped: {owners:?}"
    );
    new.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_carry_request_ids_and_shops_into_jobs_and_no_shopper_data() {
    use tokio::io::AsyncReadExt;
    let db = TestDb::new(Backend::Sqlite).await;
    let mut advocate = Advocate::start_logging_to(
        &db.url,
        &[("ADVOCATE_LOG", "warn,advocate=debug")],
        Stdio::piped(),
    )
    .await;
    let http = reqwest::Client::new();
    let email = "private.shopper@example.com";
    let good =
        format!(r#"{{"id":4242,"email":"{email}","first_name":"Private","phone":"+15555550123"}}"#);
    let response = webhook_request(
        &http,
        &advocate.address,
        SHOP,
        "customers/create",
        "log-good",
        good.as_bytes(),
        &sign(SECRET, good.as_bytes()),
    )
    .header("X-Request-Id", "req-good-1")
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers().get("x-request-id").unwrap(),
        "req-good-1",
        "the request id is answered back"
    );
    // A payload the handler cannot read becomes a dead letter: a warning
    // logged by the inbox processor, later, for this request.
    let bad = format!(r#"{{"id":"forty-two","email":"{email}"}}"#);
    let response = webhook_request(
        &http,
        &advocate.address,
        SHOP,
        "customers/create",
        "log-bad",
        bad.as_bytes(),
        &sign(SECRET, bad.as_bytes()),
    )
    .header("X-Request-Id", "req-bad-2")
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    let store = connect(&db.url).await;
    wait_until_processed(&store).await;
    store.close().await;

    let pid = advocate.child.id().unwrap();
    let term = tokio::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .await
        .unwrap();
    assert!(term.success());
    let mut stdout = advocate.child.stdout.take().unwrap();
    let mut log = String::new();
    stdout.read_to_string(&mut log).await.unwrap();
    assert!(advocate.child.wait().await.unwrap().success());

    let lines: Vec<serde_json::Value> = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not a JSON line: {l}")))
        .collect();
    let dead_letter = lines
        .iter()
        .find(|l| l["message"] == "webhook kept as a dead letter")
        .unwrap_or_else(|| panic!("the dead letter is logged: {log}"));
    let span = &dead_letter["span"];
    assert_eq!(span["name"], "inbox_row");
    assert_eq!(
        span["request_id"], "req-bad-2",
        "the request id reaches the job"
    );
    assert_eq!(span["shop"], SHOP);
    let served = lines
        .iter()
        .find(|l| l["span"]["request_id"] == "req-good-1")
        .unwrap_or_else(|| panic!("the request is logged with its id: {log}"));
    assert_eq!(served["span"]["shop"], SHOP);
    for secret in [email, "private.shopper", "+15555550123", SECRET] {
        assert!(!log.contains(secret), "{secret} must not be logged");
    }
}

pub(crate) async fn send_customer(
    http: &reqwest::Client,
    address: &str,
    i: usize,
) -> reqwest::Result<u16> {
    let body = format!(r#"{{"id":{},"email":"c{i}@example.com"}}"#, 1_000_000 + i);
    let response = webhook_request(
        http,
        address,
        SHOP,
        "customers/create",
        &format!("crash-{i}"),
        body.as_bytes(),
        &sign(SECRET, body.as_bytes()),
    )
    .send()
    .await?;
    Ok(response.status().as_u16())
}

pub(crate) async fn connect(url: &str) -> Store {
    Store::connect(&DatabaseUrl::parse(url.to_owned()).unwrap(), 2)
        .await
        .unwrap()
}

pub(crate) async fn scalar(store: &Store, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(store.reader())
        .await
        .unwrap()
}

/// Background work of other processes cannot be drained from here: poll.
async fn wait_until_processed(store: &Store) {
    eventually(
        Duration::from_secs(60),
        "the inbox to be processed",
        || async {
            scalar(
                store,
                "SELECT CAST(COUNT(*) AS BIGINT) FROM webhook_inbox WHERE status = 'queued'",
            )
            .await
                == 0
                // Nor any still in intake's journal (SQLite).
                && advocate::store::landing::waiting(store, None)
                    .await
                    .unwrap()
                    .0
                    == 0
        },
    )
    .await;
}

/// The real binary, as an operator runs it.
pub(crate) struct Advocate {
    pub(crate) child: Child,
    pub(crate) address: String,
}

impl Advocate {
    pub(crate) async fn start(database_url: &str) -> Self {
        Self::start_with(database_url, &[]).await
    }

    /// With extra environment variables.
    pub(crate) async fn start_with(database_url: &str, env: &[(&str, &str)]) -> Self {
        Self::start_logging_to(database_url, env, Stdio::null()).await
    }

    /// With extra environment variables and its log (stdout) sent to `log`.
    pub(crate) async fn start_logging_to(
        database_url: &str,
        env: &[(&str, &str)],
        log: Stdio,
    ) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = advocate_command(database_url)
            .env("PORT", port.to_string())
            .env("ADVOCATE_INBOX_LEASE_SECS", "2")
            .env("ADVOCATE_HTTP_WORKERS", "2")
            .env("ADVOCATE_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(log)
            .kill_on_drop(true)
            .spawn()
            .expect("start advocate");
        let address = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let ready = format!("{address}/readyz");
        eventually(Duration::from_secs(30), "advocate to start", || {
            let (http, ready) = (http.clone(), ready.clone());
            async move {
                http.get(&ready)
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == 200)
            }
        })
        .await;
        Self { child, address }
    }

    pub(crate) async fn stop(&mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

/// The `advocate` binary with a real install's configuration on
/// `database_url`.
pub(crate) fn advocate_command(database_url: &str) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_advocate"));
    command
        .env("SHOPIFY_API_KEY", "test-client-id")
        .env("SHOPIFY_API_SECRET", SECRET)
        .env("SHOPIFY_APP_URL", "https://advocate.test")
        .env(
            "ADVOCATE_ENCRYPTION_KEY",
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        )
        .env("DATABASE_URL", database_url);
    command
}

/// Every acknowledged delivery `crash-{i}` is in the inbox, processed.
async fn assert_each_done(store: &Store, acked: &[usize]) {
    for i in acked {
        let status: Option<String> =
            sqlx::query_scalar("SELECT status FROM webhook_inbox WHERE delivery_key = $1")
                .bind(format!("crash-{i}"))
                .fetch_optional(store.reader())
                .await
                .unwrap();
        assert_eq!(
            status.as_deref(),
            Some("done"),
            "acknowledged delivery crash-{i}"
        );
    }
}
