//! Outbound webhooks, black-box against a real HTTP receiver on a random
//! port: endpoints registered on the admin page and through the API,
//! deliveries signed as documented (the test verifies the signature with
//! its own HMAC), retried after 500s and timeouts and given up after their
//! window, resent by hand, delivered in order per customer, with a slow
//! endpoint holding up no other; private addresses refused unless allowed;
//! a customer's erasure reaching their deliveries.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
    time::Duration,
};

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
    sync::Semaphore,
};

use crate::helpers::{eventually, session_token, Backend, TestApp, SHOP};
use crate::loyalty::{order, send_json};

crate::on_both_backends!(
    deliveries_are_signed_and_carry_the_event,
    failures_are_retried_then_given_up_and_can_be_resent,
    a_customers_events_arrive_in_order_and_a_slow_endpoint_holds_up_no_other,
    private_addresses_are_refused_unless_allowed,
    erasure_drops_a_customers_deliveries_and_is_announced,
    endpoints_through_the_api_need_their_scope_and_disable,
    orders_applied_in_one_batch_announce_each_change_when_subscribed,
    tier_moves_of_one_batch_write_what_they_write_one_at_a_time,
);

const CUSTOMER: i64 = 7_000_000_000_000_401;
const OTHER: i64 = 7_000_000_000_000_402;

/// How the receiver answers a request.
#[derive(Debug, Clone, Copy)]
enum Reply {
    Status(u16),
    /// Never answers (the sender's timeout ends the try).
    Hang,
}

/// A request the receiver took.
#[derive(Debug, Clone)]
struct Hit {
    headers: Vec<(String, String)>,
    body: String,
}

impl Hit {
    fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map_or("", |(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

/// A webhook receiver: takes each request, records it, and answers with
/// the next scripted reply (200 once the script is used up). With a gate,
/// it answers only as the test lets it through.
#[derive(Clone)]
struct Receiver {
    url: String,
    hits: Arc<Mutex<Vec<Hit>>>,
    script: Arc<Mutex<VecDeque<Reply>>>,
    gate: Option<Arc<Semaphore>>,
}

impl Receiver {
    async fn start(script: Vec<Reply>, gate: Option<Arc<Semaphore>>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks", listener.local_addr().unwrap());
        let receiver = Self {
            url,
            hits: Arc::default(),
            script: Arc::new(Mutex::new(script.into())),
            gate,
        };
        let serving = receiver.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let serving = serving.clone();
                tokio::spawn(async move { serving.answer(stream).await });
            }
        });
        receiver
    }

    async fn answer(&self, mut stream: tokio::net::TcpStream) {
        let mut raw = Vec::new();
        let mut buf = [0_u8; 4096];
        let (head_end, length) = loop {
            let n = stream.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                return;
            }
            raw.extend_from_slice(&buf[..n]);
            if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&raw[..end]).to_string();
                let length = head
                    .lines()
                    .find_map(|l| {
                        let (name, value) = l.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse::<usize>().ok())?
                    })
                    .unwrap_or(0);
                break (end + 4, length);
            }
        };
        while raw.len() < head_end + length {
            let n = stream.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                return;
            }
            raw.extend_from_slice(&buf[..n]);
        }
        let head = String::from_utf8_lossy(&raw[..head_end]).to_string();
        let headers = head
            .lines()
            .skip(1)
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
            .collect();
        let body = String::from_utf8_lossy(&raw[head_end..head_end + length]).to_string();
        self.hits.lock().unwrap().push(Hit { headers, body });
        let reply = self
            .script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Reply::Status(200));
        if let Some(gate) = &self.gate {
            gate.acquire().await.unwrap().forget();
        }
        let status = match reply {
            Reply::Status(s) => s,
            Reply::Hang => std::future::pending().await,
        };
        let answer =
            format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        let _ = stream.write_all(answer.as_bytes()).await;
    }

    fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }
}

async fn app_allowing_private(backend: Backend) -> TestApp {
    app_with_timeout(backend, Duration::from_secs(1)).await
}

async fn app_with_timeout(backend: Backend, timeout: Duration) -> TestApp {
    let app = TestApp::spawn_with(backend, |c| {
        c.runtime.webhooks_allow_private = true;
        c.runtime.webhooks_timeout = timeout;
    })
    .await;
    app.install(SHOP).await;
    app.change_program(SHOP, |s| s["earning"]["signup_points"] = json!(0))
        .await;
    for (customer, key) in [(CUSTOMER, "c-1"), (OTHER, "c-2")] {
        let profile = json!({ "id": customer, "email": format!("{customer}@example.com") });
        send_json(&app, "customers/create", key, &profile).await;
    }
    app.drain().await;
    app
}

/// Registers an endpoint on the admin page: (its id, its secret).
async fn endpoint(app: &TestApp, url: &str, topics: &[&str]) -> (i64, String) {
    let response = app
        .http
        .post(format!("{}/api/admin/webhook-endpoints", app.address))
        .bearer_auth(session_token(SHOP, Some("1")))
        .json(&json!({ "url": url, "topics": topics }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    (
        created["endpoint"]["id"].as_i64().unwrap(),
        created["secret"].as_str().unwrap().to_owned(),
    )
}

async fn adjust(app: &TestApp, customer: i64, points: i64, key: &str) {
    let response = app
        .http
        .post(format!(
            "{}/api/admin/customers/{customer}/adjustments",
            app.address
        ))
        .bearer_auth(session_token(SHOP, Some("1")))
        .header("Idempotency-Key", key)
        .json(&json!({ "points": points, "reason": format!("Adjustment {key}") }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
}

async fn deliveries(app: &TestApp) -> Vec<Value> {
    let listed: Value = app
        .http
        .get(format!("{}/api/admin/webhook-deliveries", app.address))
        .bearer_auth(session_token(SHOP, Some("1")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    listed["deliveries"].as_array().unwrap().clone()
}

/// Makes every queued delivery due now (a retry's backoff passed).
async fn time_passes(app: &TestApp) {
    sqlx::query("UPDATE webhook_deliveries SET next_attempt_at = 0 WHERE status = 'queued'")
        .execute(app.store.writer())
        .await
        .unwrap();
}

/// The signature as a receiver computes it from the documented recipe.
fn expected_signature(secret: &str, timestamp: &str, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.{body}").as_bytes());
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

async fn deliveries_are_signed_and_carry_the_event(backend: Backend) {
    let app = app_allowing_private(backend).await;
    let receiver = Receiver::start(vec![], None).await;
    let (_, secret) = endpoint(
        &app,
        &receiver.url,
        &["points.changed", "activity.recorded"],
    )
    .await;
    assert!(
        secret.starts_with("whsec_") && secret.len() == 70,
        "{secret}"
    );
    // The secret is kept encrypted.
    let stored: Vec<u8> = sqlx::query_scalar("SELECT secret_enc FROM webhook_endpoints")
        .fetch_one(app.store.writer())
        .await
        .unwrap();
    assert!(!String::from_utf8_lossy(&stored).contains(&secret[6..]));
    // A review through the API: points.changed, then activity.recorded.
    let (_, key) = app.api_key(SHOP, &["write_activities"]).await;
    let response = app
        .http
        .post(format!("{}/api/v1/activities", app.address))
        .bearer_auth(&key)
        .header("Idempotency-Key", "review-42")
        .json(&json!({ "customer_id": CUSTOMER, "action": "review", "subject": "4242" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(app.send_webhooks().await, 2);
    let hits = receiver.hits();
    assert_eq!(hits.len(), 2);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    for hit in &hits {
        let timestamp = hit.header("Advocate-Webhook-Timestamp");
        let sent: u64 = timestamp.parse().unwrap();
        assert!(now.abs_diff(sent) < 300, "{timestamp}");
        assert_eq!(
            hit.header("Advocate-Webhook-Signature"),
            expected_signature(&secret, timestamp, &hit.body)
        );
        assert_ne!(
            hit.header("Advocate-Webhook-Signature"),
            expected_signature("whsec_other", timestamp, &hit.body)
        );
        assert_eq!(hit.header("Content-Type"), "application/json");
        assert_eq!(hit.header("Advocate-Shop-Domain"), SHOP);
        let body = hit.json();
        assert_eq!(body["shop"], SHOP);
        assert_eq!(
            hit.header("Advocate-Webhook-Id"),
            body["id"].as_str().unwrap()
        );
        assert_eq!(
            hit.header("Advocate-Webhook-Topic"),
            body["topic"].as_str().unwrap()
        );
    }
    let (points, activity) = (hits[0].json(), hits[1].json());
    assert_eq!(points["topic"], "points.changed");
    assert_eq!(points["data"]["customer_id"], CUSTOMER);
    assert_eq!(points["data"]["change"], 100);
    assert_eq!(points["data"]["kind"], "activity");
    assert_eq!(points["data"]["points_balance"], 100);
    assert_eq!(activity["topic"], "activity.recorded");
    assert_eq!(activity["data"]["action"], "review");
    assert_eq!(activity["data"]["subject"], "4242");
    // The Activity screen lists both, delivered at the first try.
    let listed = deliveries(&app).await;
    assert_eq!(listed.len(), 2);
    for d in &listed {
        assert_eq!(d["status"], "delivered", "{d}");
        assert_eq!(d["attempt_log"].as_array().unwrap().len(), 1);
        assert_eq!(d["attempt_log"][0]["status_code"], 200);
    }
}

async fn failures_are_retried_then_given_up_and_can_be_resent(backend: Backend) {
    let app = app_allowing_private(backend).await;
    let receiver = Receiver::start(
        vec![Reply::Status(500), Reply::Hang, Reply::Status(200)],
        None,
    )
    .await;
    endpoint(&app, &receiver.url, &["points.changed"]).await;
    adjust(&app, CUSTOMER, 40, "a-1").await;
    // A 500: tried again later, not at once.
    assert_eq!(app.send_webhooks().await, 1);
    assert_eq!(
        app.send_webhooks().await,
        0,
        "the retry waits out its backoff"
    );
    let d = &deliveries(&app).await[0];
    assert_eq!(d["status"], "queued");
    assert_eq!(d["last_status"], 500);
    let due = chrono::DateTime::parse_from_rfc3339(d["next_attempt_at"].as_str().unwrap())
        .unwrap()
        .timestamp();
    assert!(due >= chrono::Utc::now().timestamp() + 20, "{d}");
    // No answer within the timeout: tried again later.
    time_passes(&app).await;
    assert_eq!(app.send_webhooks().await, 1);
    let d = &deliveries(&app).await[0];
    assert_eq!(d["status"], "queued");
    assert_eq!(d["attempt_log"][1]["error"], "timed out");
    assert!(d["attempt_log"][1]["status_code"].is_null());
    // The third try is answered.
    time_passes(&app).await;
    assert_eq!(app.send_webhooks().await, 1);
    let d = &deliveries(&app).await[0];
    assert_eq!(d["status"], "delivered", "{d}");
    let codes: Vec<Value> = d["attempt_log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status_code"].clone())
        .collect();
    assert_eq!(codes, [json!(500), Value::Null, json!(200)]);
    let hits = receiver.hits();
    assert_eq!(hits.len(), 3);
    assert!(
        hits.iter().all(|h| h.body == hits[0].body),
        "the same bytes each try"
    );

    // Past its window (a day and an hour), a failing delivery is given up.
    receiver
        .script
        .lock()
        .unwrap()
        .extend([Reply::Status(503), Reply::Status(503)]);
    adjust(&app, CUSTOMER, 5, "a-2").await;
    sqlx::query("UPDATE webhook_deliveries SET retry_until = 1 WHERE status = 'queued'")
        .execute(app.store.writer())
        .await
        .unwrap();
    assert_eq!(app.send_webhooks().await, 1);
    let d = &deliveries(&app).await[0];
    assert_eq!(d["status"], "failed", "{d}");
    // Resent by hand: delivered (after one more 503 and its retry).
    let id = d["id"].as_i64().unwrap();
    let resend = || {
        app.http
            .post(format!(
                "{}/api/admin/webhook-deliveries/{id}/resend",
                app.address
            ))
            .bearer_auth(session_token(SHOP, Some("1")))
            .send()
    };
    let response = resend().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(resend().await.unwrap().status(), 409, "queued already");
    assert_eq!(app.send_webhooks().await, 1);
    time_passes(&app).await;
    assert_eq!(app.send_webhooks().await, 1);
    let d = &deliveries(&app).await[0];
    assert_eq!(d["status"], "delivered", "{d}");
    assert_eq!(d["attempt_log"].as_array().unwrap().len(), 3);
}

async fn a_customers_events_arrive_in_order_and_a_slow_endpoint_holds_up_no_other(
    backend: Backend,
) {
    // The slow endpoint's request is held far longer than the test takes.
    let app = app_with_timeout(backend, Duration::from_secs(60)).await;
    let gate = Arc::new(Semaphore::new(0));
    let slow = Receiver::start(vec![], Some(gate.clone())).await;
    let fast = Receiver::start(vec![Reply::Status(500)], None).await;
    endpoint(&app, &slow.url, &["points.changed"]).await;
    let (fast_id, _) = endpoint(&app, &fast.url, &["points.changed"]).await;
    for i in 1..=5 {
        adjust(&app, CUSTOMER, i, &format!("o-{i}")).await;
    }
    adjust(&app, OTHER, 99, "other-1").await;
    // The sender runs in the background; the slow endpoint answers nothing
    // until the test lets it.
    let sending = {
        let app_sender = app.webhook_sender();
        tokio::spawn(async move { app_sender.drain().await.unwrap() })
    };
    // The fast endpoint's first try fails (500): the customer's later
    // events wait for it, the other customer's do not.
    eventually(
        Duration::from_secs(20),
        "the fast endpoint's first tries",
        || async { fast.hits().len() >= 2 },
    )
    .await;
    let changes = |r: &Receiver, customer: i64| -> Vec<i64> {
        r.hits()
            .iter()
            .map(Hit::json)
            .filter(|b| b["data"]["customer_id"] == customer)
            .map(|b| b["data"]["change"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(
        changes(&fast, CUSTOMER),
        [1],
        "nothing overtook the failed one"
    );
    assert_eq!(changes(&fast, OTHER), [99]);
    // With the failed one due again, the fast endpoint gets everything, in
    // order, while the slow one still holds its first request.
    time_passes(&app).await;
    app.webhook_sender()
        .deliver_endpoint(fast_id)
        .await
        .unwrap();
    eventually(
        Duration::from_secs(20),
        "the fast endpoint's events",
        || async { changes(&fast, CUSTOMER).len() == 6 },
    )
    .await;
    assert_eq!(changes(&fast, CUSTOMER), [1, 1, 2, 3, 4, 5]);
    assert_eq!(
        slow.hits().len(),
        1,
        "the slow endpoint is still on its first"
    );
    // Let the slow endpoint answer everything: it gets its events in order.
    gate.add_permits(100);
    sending.await.unwrap();
    app.send_webhooks().await;
    assert_eq!(changes(&slow, CUSTOMER), [1, 2, 3, 4, 5]);
    assert_eq!(changes(&slow, OTHER), [99]);
}

async fn private_addresses_are_refused_unless_allowed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.install(SHOP).await;
    app.change_program(SHOP, |s| s["earning"]["signup_points"] = json!(0))
        .await;
    let receiver = Receiver::start(vec![], None).await;
    for url in [
        receiver.url.as_str(),
        "https://127.0.0.1/hooks",
        "https://localhost/hooks",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hooks",
        "https://10.0.0.8/hooks",
        "https://user:pw@hooks.example.com/",
        "not a url",
    ] {
        let response = app
            .http
            .post(format!("{}/api/admin/webhook-endpoints", app.address))
            .bearer_auth(session_token(SHOP, Some("1")))
            .json(&json!({ "url": url, "topics": ["points.changed"] }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 422, "{url}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["errors"][0]["field"], "url", "{body}");
    }
    assert_eq!(
        app.count("SELECT CAST(COUNT(*) AS BIGINT) FROM webhook_endpoints")
            .await,
        0
    );
    // An endpoint that points inside by the time it is sent to (stored
    // while allowed, or renamed since) is refused at the request too.
    let sealed = app.token_cipher().encrypt(SHOP, "whsec_test");
    sqlx::query(
        "INSERT INTO webhook_endpoints (shop_id, url, topics, secret_enc, created_at, created_by) \
         SELECT id, $1, ',points.changed,', $2, 0, 'test' FROM shops WHERE domain = $3",
    )
    .bind(receiver.url.replace("http://", "https://"))
    .bind(sealed)
    .bind(SHOP)
    .execute(app.store.writer())
    .await
    .unwrap();
    let profile = json!({ "id": CUSTOMER, "email": "p@example.com" });
    send_json(&app, "customers/create", "p-1", &profile).await;
    app.drain().await;
    adjust(&app, CUSTOMER, 10, "p-adj").await;
    assert_eq!(app.send_webhooks().await, 1);
    assert!(receiver.hits().is_empty(), "nothing reached the address");
    let d = &deliveries(&app).await[0];
    assert_eq!(d["status"], "queued");
    assert!(
        d["last_error"].as_str().unwrap().starts_with("refused"),
        "{d}"
    );
}

async fn erasure_drops_a_customers_deliveries_and_is_announced(backend: Backend) {
    let app = app_allowing_private(backend).await;
    let receiver = Receiver::start(vec![], None).await;
    endpoint(
        &app,
        &receiver.url,
        &["points.changed", "customer.redacted"],
    )
    .await;
    adjust(&app, CUSTOMER, 10, "e-1").await;
    adjust(&app, OTHER, 20, "e-2").await;
    let redact = json!({
        "shop_id": 1, "shop_domain": SHOP,
        "customer": { "id": CUSTOMER, "email": format!("{CUSTOMER}@example.com"), "phone": null },
        "orders_to_redact": []
    });
    send_json(&app, "customers/redact", "r-1", &redact).await;
    app.drain().await;
    let left: Vec<String> = sqlx::query_scalar("SELECT topic FROM webhook_deliveries ORDER BY id")
        .fetch_all(app.store.writer())
        .await
        .unwrap();
    assert_eq!(
        left,
        ["points.changed", "customer.redacted"],
        "the other customer's and the erasure"
    );
    assert_eq!(
        app.count(&format!(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM webhook_deliveries WHERE data LIKE '%{CUSTOMER}%' AND topic <> 'customer.redacted'"
        ))
        .await,
        0
    );
    app.send_webhooks().await;
    let bodies: Vec<Value> = receiver.hits().iter().map(Hit::json).collect();
    assert_eq!(bodies.len(), 2);
    assert_eq!(bodies[1]["topic"], "customer.redacted");
    assert_eq!(bodies[1]["data"], json!({ "customer_id": CUSTOMER }));
}

async fn endpoints_through_the_api_need_their_scope_and_disable(backend: Backend) {
    let app = app_allowing_private(backend).await;
    let receiver = Receiver::start(vec![], None).await;
    let (_, key) = app.api_key(SHOP, &["manage_webhooks"]).await;
    let (_, other) = app.api_key(SHOP, &["read_customers"]).await;
    let create = |key: &str, topics: Value| {
        app.http
            .post(format!("{}/api/v1/webhook-endpoints", app.address))
            .bearer_auth(key)
            .json(&json!({ "url": receiver.url, "topics": topics }))
            .send()
    };
    assert_eq!(
        create(&other, json!(["tier.changed"]))
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(create(&key, json!([])).await.unwrap().status(), 422);
    assert_eq!(
        create(&key, json!(["points.gone"])).await.unwrap().status(),
        422
    );
    let response = create(&key, json!(["points.changed"])).await.unwrap();
    assert_eq!(response.status(), 201);
    let made: Value = response.json().await.unwrap();
    let id = made["endpoint"]["id"].as_i64().unwrap();
    let listed: Value = app
        .http
        .get(format!("{}/api/v1/webhook-endpoints", app.address))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["endpoints"][0]["id"], id);
    assert!(!listed.to_string().contains("whsec_"), "{listed}");
    // Queued work for it is given up when it is disabled.
    adjust(&app, CUSTOMER, 7, "d-1").await;
    let response = app
        .http
        .delete(format!("{}/api/v1/webhook-endpoints/{id}", app.address))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let gone: Value = response.json().await.unwrap();
    assert!(gone["endpoint"]["disabled_at"].is_string());
    assert_eq!(app.send_webhooks().await, 0);
    assert!(receiver.hits().is_empty());
    let d = &deliveries(&app).await[0];
    assert_eq!(d["status"], "failed");
    assert_eq!(d["last_error"], "endpoint disabled");
    // Nothing new is written for a disabled endpoint.
    adjust(&app, CUSTOMER, 8, "d-2").await;
    assert_eq!(deliveries(&app).await.len(), 1);
}

/// Orders go through the batched engine, which reads once, with the rest
/// of the batch, whether `points.changed` goes anywhere: nothing is written
/// while no endpoint subscribes to it, and once one does, every order of a
/// batch is announced with the balances it left.
async fn orders_applied_in_one_batch_announce_each_change_when_subscribed(backend: Backend) {
    let app = app_allowing_private(backend).await;
    let receiver = Receiver::start(vec![], None).await;
    endpoint(&app, &receiver.url, &["activity.recorded"]).await;
    send_json(
        &app,
        "orders/paid",
        "o-1",
        &order(9_001, Some(CUSTOMER), "100.00"),
    )
    .await;
    assert_eq!(app.drain().await, 1);
    let earned = "SELECT COUNT(*) FROM points_ledger WHERE kind = 'earn' AND points > 0";
    assert_eq!(app.count(earned).await, 1, "the order earned points");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM webhook_deliveries").await,
        0,
        "no endpoint subscribes to points.changed"
    );

    endpoint(&app, &receiver.url, &["points.changed"]).await;
    let orders = [(CUSTOMER, "50.00"), (OTHER, "20.00"), (CUSTOMER, "30.00")];
    for (i, (customer, subtotal)) in orders.iter().enumerate() {
        let id = 9_002 + i as i64;
        send_json(
            &app,
            "orders/paid",
            &format!("o-{id}"),
            &order(id, Some(*customer), subtotal),
        )
        .await;
    }
    assert_eq!(app.drain().await, 3, "the three orders in one batch");
    assert_eq!(app.count(earned).await, 4);
    assert_eq!(app.send_webhooks().await, 3);
    let events: Vec<Value> = receiver.hits().iter().map(Hit::json).collect();
    assert!(events.iter().all(|e| e["topic"] == "points.changed"));
    // Each customer's events, in order, add up to the ledger's entries and
    // carry the total they left.
    for customer in [CUSTOMER, OTHER] {
        let entries: Vec<i64> = sqlx::query_scalar(
            "SELECT points FROM points_ledger WHERE customer_id = $1 AND kind = 'earn' ORDER BY id",
        )
        .bind(customer)
        .fetch_all(app.store.writer())
        .await
        .unwrap();
        let announced: Vec<&Value> = events
            .iter()
            .filter(|e| e["data"]["customer_id"] == customer)
            .collect();
        let skip = usize::from(customer == CUSTOMER);
        assert_eq!(announced.len(), entries.len() - skip, "customer {customer}");
        let mut total: i64 = entries[..skip].iter().sum();
        for (event, points) in announced.iter().zip(&entries[skip..]) {
            total += points;
            let data = &event["data"];
            assert_eq!(data["kind"], "earn");
            assert_eq!(data["change"], *points);
            let held =
                data["points_balance"].as_i64().unwrap() + data["points_pending"].as_i64().unwrap();
            assert_eq!(held, total, "customer {customer}: {data}");
        }
    }
}

/// What one customer's tier moves wrote, with their id taken out: the tier
/// history, their Shopify effects in the order they will be sent, their
/// `tier.changed` events in order, and the sorted (kind, points, reason)
/// of their ledger.
async fn tier_writes(app: &TestApp, customer: i64) -> Vec<String> {
    let id = customer.to_string();
    let history: Vec<(Option<String>, Option<String>, String)> = sqlx::query_as(
        "SELECT from_tier, to_tier, reason FROM tier_changes WHERE customer_id = $1 ORDER BY id",
    )
    .bind(customer)
    .fetch_all(app.store.writer())
    .await
    .unwrap();
    let effects: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT kind, idempotency_key, payload FROM outbox WHERE ordering_key = $1 ORDER BY id",
    )
    .bind(format!("customer:{customer}"))
    .fetch_all(app.store.writer())
    .await
    .unwrap();
    let events: Vec<String> = sqlx::query_scalar(
        "SELECT data FROM webhook_deliveries WHERE topic = 'tier.changed' \
         AND ordering_key = $1 ORDER BY id",
    )
    .bind(format!("customer:{customer}"))
    .fetch_all(app.store.writer())
    .await
    .unwrap();
    let mut ledger: Vec<(String, i64, String)> = sqlx::query_as(
        "SELECT kind, CAST(points AS BIGINT), reason FROM points_ledger WHERE customer_id = $1",
    )
    .bind(customer)
    .fetch_all(app.store.writer())
    .await
    .unwrap();
    ledger.sort();
    let mut all = vec![format!("{history:?}")];
    all.extend(effects.iter().map(|e| format!("{e:?}")));
    all.extend(events);
    all.push(format!("{ledger:?}"));
    all.into_iter()
        .map(|s| s.replace(&id, "<customer>"))
        .collect()
}

async fn tier_moves_of_one_batch_write_what_they_write_one_at_a_time(backend: Backend) {
    let app = app_allowing_private(backend).await;
    let receiver = Receiver::start(vec![], None).await;
    endpoint(&app, &receiver.url, &["tier.changed", "points.changed"]).await;
    // Each customer climbs Silver (250), Gold (500) and Platinum (1000),
    // then a refund takes them back to Gold: four moves, three up (each
    // with its Flow trigger and entry reward) and one down.
    let orders = |first: i64, customer: i64| {
        let mut events: Vec<(&str, Value)> = [("300.00", 0), ("300.00", 1), ("500.00", 2)]
            .into_iter()
            .map(|(subtotal, i)| {
                let mut body = order(first + i, Some(customer), subtotal);
                // Named alike in both runs: names show in reasons.
                body["name"] = json!(format!("#A{i}"));
                ("orders/paid", body)
            })
            .collect();
        events.push((
            "refunds/create",
            crate::loyalty::refund(first * 10, first + 2, "500.00"),
        ));
        events
    };
    let batched: Vec<i64> = (0..5).map(|i| 7_000_000_000_100_000 + i).collect();
    let alone: Vec<i64> = (0..5).map(|i| 7_000_000_000_200_000 + i).collect();
    // In one batch: every customer's events stored first, then one drain.
    for (c, customer) in batched.iter().enumerate() {
        for (k, (topic, body)) in orders(10_000 + 10 * c as i64, *customer).iter().enumerate() {
            send_json(&app, topic, &format!("batch-{c}-{k}"), body).await;
        }
    }
    assert_eq!(app.drain().await, 20);
    // One at a time: each delivery drained before the next is sent.
    for (c, customer) in alone.iter().enumerate() {
        for (k, (topic, body)) in orders(20_000 + 10 * c as i64, *customer).iter().enumerate() {
            send_json(&app, topic, &format!("alone-{c}-{k}"), body).await;
            assert_eq!(app.drain().await, 1);
        }
    }
    assert_eq!(
        app.count("SELECT COUNT(*) FROM webhook_inbox WHERE status <> 'done'")
            .await,
        0
    );
    for (b, a) in batched.iter().zip(&alone) {
        let (batched, alone) = (tier_writes(&app, *b).await, tier_writes(&app, *a).await);
        assert_eq!(batched, alone);
        // 1 history, 3 moves up of 4 effects (untag, tag, metafield, Flow)
        // but the first has no tag to remove, 1 move down of 3, 4 events,
        // 1 ledger.
        assert_eq!(batched.len(), 1 + (3 + 4 + 4) + 3 + 4 + 1, "{batched:#?}");
        assert!(batched[0].contains("Some(\"platinum\")"), "{}", batched[0]);
        assert!(
            batched.last().unwrap().contains("Welcome to Platinum"),
            "{batched:?}"
        );
    }
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM points_ledger WHERE kind = 'tier_entry' \
             AND customer_id >= 7000000000100000 AND customer_id < 7000000000100005"
        )
        .await,
        15,
        "three entry rewards each, in the batch"
    );
}
