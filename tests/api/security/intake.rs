//! Security regression tests: intake. `POST /webhooks` is open to anyone,
//! and reads a body before it can tell whether Shopify sent it: what the
//! headers can refuse is refused before the body is read, a body that does
//! not come in time is refused, and the bodies held in memory across every
//! connection stay within a budget, so stalled unsigned bodies cannot
//! exhaust the server's memory.
//!
//! Raw TCP connections send what no well-behaved client would: headers
//! without their body, half a body, then nothing.

use std::time::Duration;

use advocate::{app::Application, ops::OpsSettings, store::Store};
use secrecy::SecretString;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::{
    helpers::{eventually, sign, test_config, webhook_request, Backend, TestApp, TestDb, SHOP},
    processes::Advocate,
};

crate::on_both_backends!(
    what_the_headers_refuse_is_answered_before_the_body_is_sent,
    past_the_body_budget_a_webhook_gets_503_with_retry_after,
    declaring_large_bodies_and_sending_none_holds_no_budget,
    a_body_that_stalls_past_its_deadline_gets_408_and_gives_its_budget_back,
    a_chunked_body_is_held_to_the_limit_as_it_arrives,
    a_json_route_refuses_a_body_over_its_small_limit,
    headers_that_never_finish_are_cut_off,
    two_hundred_stalled_unsigned_bodies_leave_the_server_memory_bounded,
);

/// The longest any single exchange in these tests may take; only reached
/// when something is broken.
const BOUND: Duration = Duration::from_secs(30);

const METRICS_TOKEN: &str = "intake-metrics-token-0123456789";

/// Headers to replace (or, with `None`, to leave out).
type HeaderChanges<'a> = Vec<(&'a str, Option<&'a str>)>;

/// The request line and headers of a webhook declaring `content_length`,
/// with the identifying headers Shopify sends unless `headers` replaces
/// them (a `None` value leaves the header out).
fn head(content_length: Option<usize>, headers: &[(&str, Option<&str>)]) -> Vec<u8> {
    let mut all: Vec<(&str, Option<&str>)> = vec![
        ("X-Shopify-Topic", Some("customers/create")),
        ("X-Shopify-Shop-Domain", Some(SHOP)),
        ("X-Shopify-Webhook-Id", Some("intake-probe")),
        ("X-Shopify-Hmac-Sha256", Some("bm90IHRoZSBzaWduYXR1cmU=")),
    ];
    for (name, value) in headers {
        match all.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = *value,
            None => all.push((name, *value)),
        }
    }
    let mut head = String::from("POST /webhooks HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    head.push_str("Content-Type: application/json\r\n");
    if let Some(length) = content_length {
        head.push_str(&format!("Content-Length: {length}\r\n"));
    }
    for (name, value) in all {
        if let Some(value) = value {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    head.push_str("\r\n");
    head.into_bytes()
}

async fn connect(address: &str) -> TcpStream {
    let port = address.rsplit(':').next().expect("port in address");
    tokio::time::timeout(BOUND, TcpStream::connect(format!("127.0.0.1:{port}")))
        .await
        .expect("connect in time")
        .expect("connect")
}

/// An HTTP answer as read off the wire.
#[derive(Debug)]
struct Answer {
    status: u16,
    /// Header lines, lowercased.
    headers: Vec<String>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        let prefix = format!("{name}:");
        self.headers
            .iter()
            .find_map(|line| line.strip_prefix(&prefix).map(str::trim))
    }
}

/// Reads one answer (head and a `Content-Length` body) from `stream`.
async fn read_answer(stream: &mut TcpStream) -> Answer {
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    let read = async {
        loop {
            if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&raw[..end]).to_lowercase();
                let length = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                if raw.len() >= end + 4 + length {
                    return (head, raw[end + 4..end + 4 + length].to_vec());
                }
            }
            let n = stream.read(&mut buf).await.expect("read answer");
            assert!(n > 0, "connection closed before a full answer: {raw:?}");
            raw.extend_from_slice(&buf[..n]);
            assert!(raw.len() < 64 * 1024, "answer too long");
        }
    };
    let (head, body) = tokio::time::timeout(BOUND, read)
        .await
        .expect("an answer without the body being sent");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    Answer {
        status,
        headers: lines.map(str::to_owned).collect(),
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// The server closes the connection: the unread rest of a refused body
/// is never waited for nor kept.
async fn assert_closed(stream: &mut TcpStream, what: &str) {
    let mut buf = [0u8; 1024];
    let closed = tokio::time::timeout(BOUND, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "{what}: the connection was left open");
}

async fn inbox_rows(store: &Store) -> i64 {
    advocate::store::landing::move_landed(store).await.unwrap();
    sqlx::query_scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM webhook_inbox")
        .fetch_one(store.writer())
        .await
        .expect("count inbox")
}

/// A JSON body of exactly `len` bytes.
fn body_of(len: usize) -> Vec<u8> {
    let frame = r#"{"id":1,"note":""}"#.len();
    format!(r#"{{"id":1,"note":"{}"}}"#, "x".repeat(len - frame)).into_bytes()
}

async fn what_the_headers_refuse_is_answered_before_the_body_is_sent(backend: Backend) {
    // A server waiting for the body would answer nothing for ten minutes.
    let app = TestApp::spawn_with(backend, |c| {
        c.runtime.webhook_body_timeout = Duration::from_secs(600);
    })
    .await;
    // What, the declared length, the headers changed, the status, the error code.
    let cases: [(&str, Option<usize>, HeaderChanges, u16, &str); 5] = [
        (
            "no signature",
            Some(1000),
            vec![("X-Shopify-Hmac-Sha256", None)],
            401,
            "unauthorized",
        ),
        (
            "a shop that is not a shop",
            Some(1000),
            vec![("X-Shopify-Shop-Domain", Some("evil.example.com"))],
            400,
            "bad_request",
        ),
        (
            "no shop",
            Some(1000),
            vec![("X-Shopify-Shop-Domain", None)],
            400,
            "bad_request",
        ),
        (
            "a declared length over the limit",
            Some(5 * 1024 * 1024 + 1),
            vec![],
            413,
            "payload_too_large",
        ),
        (
            "a chunked body without a signature",
            None,
            vec![
                ("Transfer-Encoding", Some("chunked")),
                ("X-Shopify-Hmac-Sha256", None),
            ],
            401,
            "unauthorized",
        ),
    ];
    for (what, length, headers, status, code) in cases {
        let mut stream = connect(&app.address).await;
        stream.write_all(&head(length, &headers)).await.unwrap();
        let answer = read_answer(&mut stream).await;
        assert_eq!(answer.status, status, "{what}: {answer:?}");
        let error: serde_json::Value = serde_json::from_str(&answer.body).expect("JSON error");
        assert_eq!(error["error"], code, "{what}");
        assert_eq!(answer.header("connection"), Some("close"), "{what}");
        assert_closed(&mut stream, what).await;
    }
    assert_eq!(inbox_rows(&app.store).await, 0);
}

/// Advocate in this process with `/metrics` open to [`METRICS_TOKEN`], so
/// a test can see the body budget's use.
struct MeteredIntake {
    address: String,
    store: Store,
    http: reqwest::Client,
    _db: TestDb,
}

impl MeteredIntake {
    async fn spawn(backend: Backend, tweak: impl FnOnce(&mut advocate::config::Config)) -> Self {
        let db = TestDb::new(backend).await;
        let mut config = test_config(&db.url);
        tweak(&mut config);
        let ops = OpsSettings {
            metrics_token: Some(SecretString::from(METRICS_TOKEN.to_owned())),
            ..OpsSettings::default()
        };
        let app = Application::build_with(config, ops)
            .await
            .expect("build app");
        let address = format!("http://127.0.0.1:{}", app.port());
        let store = app.store().clone();
        tokio::spawn(app.run_until_stopped());
        Self {
            address,
            store,
            http: reqwest::Client::new(),
            _db: db,
        }
    }

    /// A correctly signed delivery of `body`; its status.
    async fn deliver(&self, id: &str, body: &[u8]) -> reqwest::Response {
        let signature = sign(crate::helpers::SECRET, body);
        webhook_request(
            &self.http,
            &self.address,
            SHOP,
            "customers/create",
            id,
            body,
            &signature,
        )
        .send()
        .await
        .expect("deliver")
    }

    async fn wait_for_reserved(&self, bytes: usize) {
        wait_for_reserved(&self.http, &self.address, bytes).await
    }

    /// Until the server holds at least `low` and at most `high` bytes.
    async fn wait_for_reserved_between(&self, low: usize, high: usize) {
        eventually(
            BOUND,
            &format!("{low} to {high} body bytes reserved"),
            || async {
                reserved_bytes(&self.http, &self.address)
                    .await
                    .is_some_and(|held| (low..=high).contains(&held))
            },
        )
        .await;
    }
}

/// `advocate_webhook_body_bytes_reserved` as `/metrics` tells it.
async fn reserved_bytes(http: &reqwest::Client, address: &str) -> Option<usize> {
    let text = http
        .get(format!("{address}/metrics"))
        .bearer_auth(METRICS_TOKEN)
        .timeout(BOUND)
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("advocate_webhook_body_bytes_reserved "))
        .and_then(|v| v.trim().parse().ok())
}

/// Until the server holds exactly `bytes` of webhook bodies.
async fn wait_for_reserved(http: &reqwest::Client, address: &str, bytes: usize) {
    eventually(BOUND, &format!("{bytes} body bytes reserved"), || async {
        reserved_bytes(http, address).await == Some(bytes)
    })
    .await;
}

async fn past_the_body_budget_a_webhook_gets_503_with_retry_after(backend: Backend) {
    let app = MeteredIntake::spawn(backend, |c| {
        c.runtime.webhook_max_bytes = 64 * 1024;
        c.runtime.webhook_body_budget_bytes = 64 * 1024;
        c.runtime.webhook_body_timeout = Duration::from_secs(600);
    })
    .await;
    // Most of a body, then nothing: the bytes it sent stay held.
    let mut stalled = connect(&app.address).await;
    stalled.write_all(&head(Some(64_000), &[])).await.unwrap();
    stalled.write_all(&[b' '; 60_000]).await.unwrap();
    app.wait_for_reserved_between(60_000, 64_000).await;

    let big = body_of(10_000);
    let refused = app.deliver("big", &big).await;
    assert_eq!(refused.status(), 503);
    assert_eq!(
        refused
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("5"),
        "Shopify is told when to try again"
    );
    let error: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(error["error"], "overloaded");
    let small = app.deliver("small", &body_of(100)).await;
    assert_eq!(
        small.status(),
        200,
        "what still fits in the budget is taken"
    );

    drop(stalled);
    app.wait_for_reserved(0).await;
    let again = app.deliver("big", &big).await;
    assert_eq!(
        again.status(),
        200,
        "a closed connection gave its budget back"
    );
    assert_eq!(inbox_rows(&app.store).await, 2);
}

async fn declaring_large_bodies_and_sending_none_holds_no_budget(backend: Backend) {
    // Defaults: 5 MiB a body, 32 MiB in all. Reserving what is declared
    // would let seven such connections refuse every webhook, and a 64 KiB
    // piece for each first byte, 512 of them.
    let app = MeteredIntake::spawn(backend, |c| {
        c.runtime.webhook_body_timeout = Duration::from_secs(600);
    })
    .await;
    // One byte each: every connection holds the byte it sent, not the
    // 5 MB it declared, nor a 64 KiB piece for its byte.
    let piece = 1;
    let mut idle = Vec::new();
    for _ in 0..40 {
        let mut stream = connect(&app.address).await;
        stream.write_all(&head(Some(5_000_000), &[])).await.unwrap();
        stream.write_all(b"{").await.unwrap();
        idle.push(stream);
    }
    app.wait_for_reserved(40 * piece).await;
    let body = body_of(100_000);
    let answer = app.deliver("while-idle", &body).await;
    assert_eq!(answer.status(), 200, "{:?}", answer.text().await);
    app.wait_for_reserved(40 * piece).await;
    assert_eq!(inbox_rows(&app.store).await, 1);
    drop(idle);
}

async fn a_body_that_stalls_past_its_deadline_gets_408_and_gives_its_budget_back(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.runtime.webhook_max_bytes = 64 * 1024;
        c.runtime.webhook_body_budget_bytes = 64 * 1024;
        c.runtime.webhook_body_timeout = Duration::from_millis(300);
    })
    .await;
    let mut stalled = connect(&app.address).await;
    stalled.write_all(&head(Some(60_000), &[])).await.unwrap();
    stalled.write_all(&[b' '; 1000]).await.unwrap();
    let answer = read_answer(&mut stalled).await;
    assert_eq!(answer.status, 408, "{answer:?}");
    let error: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(error["error"], "request_timeout");
    assert_eq!(answer.header("connection"), Some("close"));
    assert_closed(&mut stalled, "a timed-out body").await;

    // The 408 is sent after the stalled body's reservation is given back,
    // so a delivery needing most of the budget is taken at once.
    let response = app
        .send("customers/create", "after-timeout", &body_of(60_000))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(inbox_rows(&app.store).await, 1);
}

/// `body` in HTTP/1.1 chunked encoding, in pieces of `piece` bytes.
fn chunked(body: &[u8], piece: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for part in body.chunks(piece) {
        out.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        out.extend_from_slice(part);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

async fn a_chunked_body_is_held_to_the_limit_as_it_arrives(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.runtime.webhook_max_bytes = 64 * 1024;
        c.runtime.webhook_body_budget_bytes = 64 * 1024;
    })
    .await;
    let body = body_of(3_000);
    let signature = sign(&app.secret, &body);
    let mut stream = connect(&app.address).await;
    let signed = [
        ("Transfer-Encoding", Some("chunked")),
        ("X-Shopify-Hmac-Sha256", Some(signature.as_str())),
    ];
    stream.write_all(&head(None, &signed)).await.unwrap();
    stream.write_all(&chunked(&body, 700)).await.unwrap();
    let answer = read_answer(&mut stream).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    // Answered once landed; the inbox has it once the landing is moved.
    let stored = app.stored_body("intake-probe").await;
    assert_eq!(
        advocate::store::inbox::StoredBody::decompress(&stored).unwrap(),
        body,
        "the chunks are stored as one body, byte for byte"
    );

    let mut stream = connect(&app.address).await;
    let unsigned_id = [
        ("Transfer-Encoding", Some("chunked")),
        ("X-Shopify-Webhook-Id", Some("too-long")),
    ];
    stream.write_all(&head(None, &unsigned_id)).await.unwrap();
    // Written while the answer is read: the server stops reading at the limit.
    let over = chunked(&body_of(80 * 1024), 4096);
    let writer = tokio::spawn(async move {
        let _ = tokio::time::timeout(BOUND, stream.write_all(&over)).await;
        stream
    });
    let mut stream = writer.await.unwrap();
    let answer = read_answer(&mut stream).await;
    assert_eq!(answer.status, 413, "{answer:?}");
    assert_eq!(inbox_rows(&app.store).await, 1);
}

async fn a_json_route_refuses_a_body_over_its_small_limit(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.install(SHOP).await;
    let put = |body: Vec<u8>| {
        app.http
            .put(format!("{}/api/admin/program", app.address))
            .bearer_auth(crate::helpers::session_token(SHOP, Some("1")))
            .header("Content-Type", "application/json")
            .body(body)
            .send()
    };
    let over = put(body_of(advocate::app::JSON_BODY_MAX_BYTES + 1))
        .await
        .unwrap();
    assert_eq!(over.status(), 413);
    let under = put(body_of(1000)).await.unwrap();
    assert_eq!(
        under.status(),
        400,
        "a body within the limit is read and judged on its content"
    );
}

async fn headers_that_never_finish_are_cut_off(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut stream = connect(&app.address).await;
    let head = head(Some(10), &[]);
    // Everything but the blank line that ends the headers.
    stream.write_all(&head[..head.len() - 2]).await.unwrap();
    let answer = read_answer(&mut stream).await;
    assert_eq!(answer.status, 408, "{answer:?}");
    assert_closed(&mut stream, "unfinished headers").await;
    assert_eq!(inbox_rows(&app.store).await, 0);
}

/// Bytes of the server's memory, from `/proc/<pid>/status`: (`VmRSS`, `VmHWM`).
fn server_memory(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("server status");
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or_else(|| panic!("{name} in /proc/{pid}/status"))
            * 1024
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Headers declaring a 5,000,000-byte body with a wrong signature, then
/// 4 MiB of it, then nothing. The connection is returned open; writing
/// stops early when the server refused the request and stopped reading.
async fn stall_a_body(address: String) -> Option<TcpStream> {
    static PIECE: [u8; 64 * 1024] = [b' '; 64 * 1024];
    let mut stream = connect(&address).await;
    stream.write_all(&head(Some(5_000_000), &[])).await.ok()?;
    let sent = tokio::time::timeout(BOUND, async {
        for _ in 0..(4 * 1024 * 1024 / PIECE.len()) {
            if stream.write_all(&PIECE).await.is_err() {
                break;
            }
        }
    })
    .await;
    // A refused request's connection may stop taking bytes before it is
    // closed; that too is a stalled body to the test.
    let _ = sent;
    Some(stream)
}

/// Three rounds of 200 connections, each stalling a 4 MiB unsigned body:
/// `/healthz` answers throughout, the server's peak stays under 150 MB, the
/// rounds end within 20 MB of each other, and what a round held is given
/// back when its connections close.
async fn two_hundred_stalled_unsigned_bodies_leave_the_server_memory_bounded(backend: Backend) {
    const CONNECTIONS: usize = 200;
    const ROUNDS: usize = 3;
    const PEAK_LIMIT: u64 = 150 * 1000 * 1000;
    const ROUND_SPREAD: u64 = 20 * 1000 * 1000;
    const KEPT_AFTER_CLOSE: u64 = 30 * 1000 * 1000;
    let db = TestDb::new(backend).await;
    // The real binary, so the memory measured is the server's alone; the
    // body deadline is long so the client decides how long bodies stall.
    let mut server = Advocate::start_with(
        &db.url,
        &[
            ("ADVOCATE_WEBHOOK_BODY_TIMEOUT_SECS", "600"),
            ("ADVOCATE_METRICS_TOKEN", METRICS_TOKEN),
        ],
    )
    .await;
    let pid = server.child.id().expect("server pid");
    let http = reqwest::Client::new();
    let (start_rss, _) = server_memory(pid);
    let mut held = Vec::new();
    let mut ended = Vec::new();
    for round in 0..ROUNDS {
        let tasks: Vec<_> = (0..CONNECTIONS)
            .map(|_| tokio::spawn(stall_a_body(server.address.clone())))
            .collect();
        let mut open = Vec::new();
        for task in tasks {
            open.extend(task.await.expect("stall task"));
        }
        // Six 5,000,000-byte reservations fit in the 32 MiB default.
        let reserved = reserved_bytes(&http, &server.address)
            .await
            .expect("budget on /metrics");
        assert!(
            reserved <= 32 * 1024 * 1024,
            "round {round}: {reserved} bytes reserved"
        );
        let health = http
            .get(format!("{}/healthz", server.address))
            .timeout(BOUND)
            .send()
            .await
            .expect("/healthz answers while bodies stall");
        assert_eq!(health.status(), 200, "round {round}");
        held.push(server_memory(pid).0);

        drop(open);
        wait_for_reserved(&http, &server.address, 0).await;
        ended.push(server_memory(pid).0);
    }
    let (_, peak) = server_memory(pid);
    let mb = |v: &[u64]| v.iter().map(|b| b / 1_000_000).collect::<Vec<_>>();
    let report = format!(
        "start {} MB; held {:?} MB; ended {:?} MB; peak {} MB",
        start_rss / 1_000_000,
        mb(&held),
        mb(&ended),
        peak / 1_000_000
    );
    eprintln!("server memory: {report}");
    assert!(peak < PEAK_LIMIT, "peak RSS over 150 MB: {report}");
    let spread = ended.iter().max().unwrap() - ended.iter().min().unwrap();
    assert!(spread <= ROUND_SPREAD, "memory grows per round: {report}");
    assert!(
        ended
            .iter()
            .all(|e| e.saturating_sub(start_rss) <= KEPT_AFTER_CLOSE),
        "memory is not given back when the connections close: {report}"
    );
    server.stop().await;
}
