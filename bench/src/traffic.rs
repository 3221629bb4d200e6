//! Webhook traffic: signed `orders/paid` deliveries, keep-alive HTTP/1.1
//! connections, and the two ways of sending (as fast as the connections go,
//! or at a fixed rate).

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use advocate::shopify::hmac::Signer;
use anyhow::{bail, Context};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::TcpStream,
};

use crate::SECRET;

/// Shopify's `orders/paid` sample.
const SAMPLE: &str = include_str!("../../tests/fixtures/webhooks/orders_paid.json");

/// A signed delivery, ready to be sent with a unique id spliced in.
pub struct Payload {
    head_before_id: String,
    pub body: Vec<u8>,
    /// Set for distinct orders: the body is built and signed per request.
    pub signer: Option<Signer>,
}

/// Placeholders for the ids of distinct orders (digits no sample has).
const ORDER_MARK: &str = "1111111111111111111";
const CUSTOMER_MARK: &str = "2222222222222222222";

impl Payload {
    /// Shopify's `orders/paid` sample; with `distinct`, a different paid
    /// order per request.
    pub fn orders_paid(distinct: bool) -> anyhow::Result<Self> {
        let mut value: serde_json::Value = serde_json::from_str(SAMPLE)?;
        let signer = Signer::new(&SECRET.to_owned().into(), None);
        if distinct {
            value["id"] = serde_json::json!(1_111_111_111_111_111_111u64);
            value["customer"]["id"] = serde_json::json!(2_222_222_222_222_222_222u64);
            value["test"] = serde_json::json!(false);
            value["financial_status"] = serde_json::json!("paid");
            value["cancelled_at"] = serde_json::Value::Null;
        }
        let body = serde_json::to_vec(&value)?;
        let head = |signature: &str| {
            format!(
                "POST /webhooks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
                 X-Shopify-Topic: orders/paid\r\nX-Shopify-Shop-Domain: bench.myshopify.com\r\n\
                 X-Shopify-API-Version: 2026-07\r\nX-Shopify-Hmac-Sha256: {signature}\r\n\
                 X-Shopify-Event-Id: "
            )
        };
        Ok(if distinct {
            Self {
                head_before_id: head("{signature}"),
                body,
                signer: Some(signer),
            }
        } else {
            Self {
                head_before_id: head(&signer.sign_webhook(&body)),
                body,
                signer: None,
            }
        })
    }

    /// The whole HTTP request of delivery `id` of `run`.
    pub fn request(&self, run: &str, id: usize) -> Vec<u8> {
        use std::borrow::Cow;
        let (head, body): (Cow<str>, Cow<[u8]>) = match &self.signer {
            None => (Cow::from(&self.head_before_id), Cow::from(&self.body)),
            Some(signer) => {
                // Unique per run and request; 1,000 customers share them.
                let order = 1_000_000_000 + (fxhash(run) % 1_000_000) * 1_000_000 + id as u64;
                let body = String::from_utf8_lossy(&self.body)
                    .replace(ORDER_MARK, &order.to_string())
                    .replace(CUSTOMER_MARK, &(1 + id % 1_000).to_string())
                    .into_bytes();
                let head = self
                    .head_before_id
                    .replace("{signature}", &signer.sign_webhook(&body));
                (Cow::from(head), Cow::from(body))
            }
        };
        let mut out = Vec::with_capacity(body.len() + 400);
        out.extend_from_slice(head.as_bytes());
        // Shopify names a delivery twice: the event, and the webhook that
        // carries it (the same here: one subscription per topic).
        out.extend_from_slice(
            format!(
                "{run}-{id}\r\nX-Shopify-Webhook-Id: {run}-{id}\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        );
        out.extend_from_slice(&body);
        out
    }
}

/// A small stable hash of a run name, to keep order ids apart per run.
fn fxhash(text: &str) -> u64 {
    text.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    })
}

/// One keep-alive HTTP/1.1 connection.
pub struct Connection {
    stream: BufReader<TcpStream>,
    line: String,
}

impl Connection {
    pub async fn open(addr: SocketAddr) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream: BufReader::new(stream),
            line: String::new(),
        })
    }

    /// Sends one request and reads the whole answer; returns the status.
    pub async fn send(&mut self, request: &[u8]) -> anyhow::Result<u16> {
        self.stream.get_mut().write_all(request).await?;
        self.line.clear();
        self.stream.read_line(&mut self.line).await?;
        let status: u16 = self
            .line
            .split_whitespace()
            .nth(1)
            .context("no status line")?
            .parse()?;
        let mut length = 0usize;
        loop {
            self.line.clear();
            if self.stream.read_line(&mut self.line).await? == 0 {
                bail!("connection closed");
            }
            let line = self.line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse()?;
                }
            }
        }
        let mut sink = vec![0; length];
        self.stream.read_exact(&mut sink).await?;
        Ok(status)
    }
}

/// What one run of deliveries got back.
#[derive(Default)]
pub struct RunResult {
    pub ok: usize,
    pub failed: usize,
    pub elapsed: Duration,
    pub latencies_us: Vec<u64>,
}

impl RunResult {
    pub fn per_second(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    /// "p50 / p99" in milliseconds, for the report.
    pub fn p50_p99(&self) -> String {
        format!(
            "{:.2} / {:.2}",
            self.percentile_ms(0.5),
            self.percentile_ms(0.99)
        )
    }

    pub fn percentile_ms(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        let mut sorted = self.latencies_us.clone();
        sorted.sort_unstable();
        let index = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
        sorted[index] as f64 / 1000.0
    }
}

/// As fast as `concurrency` connections can go.
pub async fn closed_loop(
    addr: SocketAddr,
    payload: Arc<Payload>,
    run: &str,
    requests: usize,
    concurrency: usize,
) -> anyhow::Result<RunResult> {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (next, payload, run) = (next.clone(), payload.clone(), run.to_owned());
            tokio::spawn(async move {
                let mut conn = Connection::open(addr).await?;
                let (mut ok, mut failed, mut lat) = (0, 0, Vec::new());
                loop {
                    let id = next.fetch_add(1, Ordering::Relaxed);
                    if id >= requests {
                        break;
                    }
                    let request = payload.request(&run, id);
                    let sent = Instant::now();
                    match conn.send(&request).await? {
                        200 => ok += 1,
                        _ => failed += 1,
                    }
                    lat.push(sent.elapsed().as_micros() as u64);
                }
                anyhow::Ok((ok, failed, lat))
            })
        })
        .collect();
    collect(tasks, start).await
}

/// `rate` requests per second on a fixed schedule; latency counts from the
/// scheduled time, so a stalled server cannot hide its queue.
pub async fn open_loop(
    addr: SocketAddr,
    payload: Arc<Payload>,
    run: &str,
    rate: usize,
    seconds: u64,
    concurrency: usize,
) -> anyhow::Result<RunResult> {
    let total = rate * seconds as usize;
    let start = Instant::now() + Duration::from_millis(100);
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let tasks: Vec<_> = (0..concurrency)
        .map(|lane| {
            let (payload, run) = (payload.clone(), run.to_owned());
            tokio::spawn(async move {
                let mut conn = Connection::open(addr).await?;
                let (mut ok, mut failed, mut lat) = (0, 0, Vec::new());
                for id in (lane..total).step_by(concurrency) {
                    let due = start + interval * id as u32;
                    tokio::time::sleep_until(due.into()).await;
                    match conn.send(&payload.request(&run, id)).await? {
                        200 => ok += 1,
                        _ => failed += 1,
                    }
                    lat.push(due.elapsed().as_micros() as u64);
                }
                anyhow::Ok((ok, failed, lat))
            })
        })
        .collect();
    collect(tasks, start).await
}

/// One connection's acknowledged and failed deliveries, and their latencies.
pub type LaneResult = anyhow::Result<(usize, usize, Vec<u64>)>;

/// Adds up the connections' results of a run that began at `start`.
pub async fn collect(
    tasks: Vec<tokio::task::JoinHandle<LaneResult>>,
    start: Instant,
) -> anyhow::Result<RunResult> {
    let mut result = RunResult::default();
    for task in tasks {
        let (ok, failed, lat) = task.await??;
        result.ok += ok;
        result.failed += failed;
        result.latencies_us.extend(lat);
    }
    result.elapsed = start.elapsed();
    Ok(result)
}

/// One signed delivery every 50 ms until `stop`, each answered before
/// the next is sent; their acknowledgement latencies.
pub async fn probe_intake(
    addr: SocketAddr,
    run: String,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> anyhow::Result<RunResult> {
    let payload = Payload::orders_paid(false)?;
    let mut conn = Connection::open(addr).await?;
    let start = Instant::now();
    let mut result = RunResult::default();
    for id in 0.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let sent = Instant::now();
        match conn
            .send(&payload.request(&format!("probe-{run}"), id))
            .await?
        {
            200 => result.ok += 1,
            _ => result.failed += 1,
        }
        result.latencies_us.push(sent.elapsed().as_micros() as u64);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    result.elapsed = start.elapsed();
    Ok(result)
}
