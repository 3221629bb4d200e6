//! The real `advocate` binary: killed with SIGKILL under load, and two
//! processes sharing one PostgreSQL database.

use std::{
    process::Stdio,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use advocate::{config::DatabaseUrl, store::Store};
use futures_util::StreamExt;
use tokio::{process::Child, sync::Notify};

use crate::helpers::{eventually, sign, webhook_request, Backend, TestDb, SECRET, SHOP};

crate::on_both_backends!(
    a_sigkill_under_load_loses_no_acknowledged_delivery_and_processes_each_once
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
    for i in &acked {
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

async fn send_customer(http: &reqwest::Client, address: &str, i: usize) -> reqwest::Result<u16> {
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

async fn connect(url: &str) -> Store {
    Store::connect(&DatabaseUrl::parse(url.to_owned()).unwrap(), 2)
        .await
        .unwrap()
}

async fn scalar(store: &Store, sql: &str) -> i64 {
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
        },
    )
    .await;
}

/// The real binary, as an operator runs it.
struct Advocate {
    child: Child,
    address: String,
}

impl Advocate {
    async fn start(database_url: &str) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_advocate"))
            .env("SHOPIFY_API_KEY", "test-client-id")
            .env("SHOPIFY_API_SECRET", SECRET)
            .env("SHOPIFY_APP_URL", "https://advocate.test")
            .env(
                "ADVOCATE_ENCRYPTION_KEY",
                "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
            )
            .env("DATABASE_URL", database_url)
            .env("PORT", port.to_string())
            .env("ADVOCATE_INBOX_LEASE_SECS", "2")
            .env("ADVOCATE_HTTP_WORKERS", "2")
            .env("ADVOCATE_LOG", "warn")
            .stdout(Stdio::null())
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

    async fn stop(&mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}
