//! `advocate-bench`: measures Advocate against a baseline in the same run.
//!
//! `advocate-bench webhooks` starts Advocate (the `advocate` binary beside
//! this one) on a fresh database and two baseline servers: one that only
//! verifies the HMAC and answers 200 (the ceiling), and one that also
//! appends each verified body to a file and answers only after an
//! `fdatasync` shared by every delivery waiting (the least any receiver
//! must do to answer "on disk"). It drives all three with signed
//! `orders/paid`-sized deliveries over keep-alive HTTP/1.1 connections and
//! prints throughput, latency, inbox processing rate and peak memory, with
//! ratios.

use std::{
    net::SocketAddr,
    path::PathBuf,
    process::Stdio,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use anyhow::{bail, Context};
use clap::{Parser, Subcommand, ValueEnum};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::TcpStream,
    process::{Child, Command},
};

use advocate::{config::DatabaseUrl, shopify::hmac::Signer, store::Store};

const SECRET: &str = "bench-client-secret";
const SAMPLE: &str = include_str!("../../tests/fixtures/webhooks/orders_paid.json");

#[derive(Parser)]
#[command(name = "advocate-bench", about = "Benchmarks for Advocate")]
struct Cli {
    #[command(subcommand)]
    command: Bench,
}

#[derive(Subcommand)]
enum Bench {
    /// Webhook intake and inbox processing against an HMAC-only baseline.
    Webhooks(WebhookArgs),
    /// Admin API pacing against the Shopify stand-in, and bulk vs per call.
    AdminApi(AdminArgs),
    /// The merchant dashboard of a large shop against `GET /api/admin/shop`.
    Analytics(AnalyticsArgs),
    /// Load on an Advocate that is already running (one process, or several
    /// behind a load balancer: `scripts/cluster`): sends every delivery
    /// until it is acknowledged, as Shopify does, waits until the shared
    /// database has processed them, checks each is stored and processed
    /// exactly once, and prints acknowledged/s and processed/s.
    Load(LoadArgs),
    /// The baseline: verify the HMAC, answer 200, store nothing; with
    /// `--journal`, append the body to that file and answer after it is
    /// synced.
    #[command(hide = true)]
    BaselineServer {
        #[arg(long)]
        port: u16,
        #[arg(long, default_value_t = 0)]
        workers: usize,
        #[arg(long)]
        journal: Option<PathBuf>,
    },
}

#[derive(Parser, Clone)]
struct WebhookArgs {
    /// Deliveries in the throughput run.
    #[arg(long, default_value_t = 50_000)]
    requests: usize,
    /// Concurrent connections.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Offered rate (deliveries/s) for the latency run.
    #[arg(long, default_value_t = 5_000)]
    rate: usize,
    /// Length of the latency run in seconds.
    #[arg(long, default_value_t = 5)]
    rate_seconds: u64,
    #[command(flatten)]
    server: ServerArgs,
    /// Inbox processor tasks in Advocate (0: measure intake alone; unset:
    /// Advocate's default for the backend).
    #[arg(long)]
    inbox_workers: Option<usize>,
    /// Every delivery a different paid order (1,000 customers, no test
    /// orders), so processing does the loyalty engine's full work; each
    /// body is signed as it is sent. Without it every delivery is
    /// Shopify's sample (a test order), signed once.
    #[arg(long)]
    distinct_orders: bool,
}

#[derive(Parser, Clone)]
struct LoadArgs {
    /// Where to send (e.g. the load balancer): http://host:port
    #[arg(long)]
    url: String,
    /// The database every instance shares (to follow processing).
    #[arg(long)]
    database_url: String,
    /// Deliveries to send.
    #[arg(long, default_value_t = 20_000)]
    requests: usize,
    /// Concurrent connections.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Names the deliveries of this run (event ids `{run}-{n}`).
    #[arg(long, default_value = "load")]
    run: String,
    /// The client secret the instances verify with.
    #[arg(long, default_value = SECRET)]
    secret: String,
}

#[derive(Parser, Clone)]
struct AdminArgs {
    /// Tag changes sent one call each.
    #[arg(long, default_value_t = 10_000)]
    changes: usize,
    /// Calls in flight at once.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// The plan's restore rate, points/s (Standard: 100).
    #[arg(long, default_value_t = 100.0)]
    restore_rate: f64,
    /// The plan's bucket size, points.
    #[arg(long, default_value_t = 1000.0)]
    bucket_size: f64,
    /// Simulated seconds per real second.
    #[arg(long, default_value_t = 50.0)]
    time_scale: f64,
    /// Customers re-tagged through the bulk path.
    #[arg(long, default_value_t = 100_000)]
    bulk_customers: usize,
}

#[derive(Parser, Clone)]
struct AnalyticsArgs {
    /// Customers in the seeded shop.
    #[arg(long, default_value_t = 100_000)]
    customers: usize,
    /// Orders in the seeded shop, over the last two years.
    #[arg(long, default_value_t = 1_000_000)]
    orders: usize,
    /// Measured requests per route (after a warm-up).
    #[arg(long, default_value_t = 200)]
    requests: usize,
    /// Snapshot computations from scratch to take the median of.
    #[arg(long, default_value_t = 3)]
    computes: usize,
    #[command(flatten)]
    server: ServerArgs,
}

/// Where the measured servers keep their data and how many threads they get.
#[derive(Parser, Clone)]
struct ServerArgs {
    /// Backend for Advocate's database.
    #[arg(long, value_enum, default_value_t = Backend::Sqlite)]
    database: Backend,
    /// PostgreSQL server (a fresh database is created on it).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
    postgres_url: String,
    /// HTTP worker threads of each measured server (0: one per core).
    #[arg(long, default_value_t = 0)]
    workers: usize,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
enum Backend {
    Sqlite,
    Postgres,
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Bench::BaselineServer {
            port,
            workers,
            journal,
        } => baseline_server(port, workers, journal),
        Bench::Webhooks(args) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(webhooks(args)),
        Bench::AdminApi(args) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(admin_api(args)),
        Bench::Analytics(args) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(analytics(args)),
        Bench::Load(args) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?
            .block_on(load(args)),
    }
}

/// Only what every webhook receiver must do: read the body, check its HMAC.
/// With a journal, also what every durable one must do: append the body to
/// a file and answer once it is synced. One thread owns the file; it takes
/// every body waiting, writes them with one call and syncs once for all of
/// them (group commit), so the sync's cost is shared as Advocate's is. No
/// index, no deduplication, no database: a floor for any design that
/// answers 200 only after the delivery is on disk.
fn baseline_server(port: u16, workers: usize, journal: Option<PathBuf>) -> anyhow::Result<()> {
    use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
    let signer = web::Data::new(Signer::new(&SECRET.to_owned().into(), None));
    let journal = match journal {
        Some(path) => Some(web::Data::new(Journal::open(&path)?)),
        None => None,
    };
    actix_web::rt::System::new().block_on(async move {
        let mut server = HttpServer::new(move || {
            let app = App::new()
                .app_data(signer.clone())
                .app_data(web::PayloadConfig::new(5 * 1024 * 1024));
            let app = match &journal {
                Some(journal) => app.app_data(journal.clone()),
                None => app,
            };
            app.route(
                "/webhooks",
                web::post().to(
                    |req: HttpRequest,
                     body: web::Bytes,
                     signer: web::Data<Signer>,
                     journal: Option<web::Data<Journal>>| async move {
                        let ok = req
                            .headers()
                            .get("x-shopify-hmac-sha256")
                            .and_then(|v| v.to_str().ok())
                            .is_some_and(|sig| signer.verify_webhook(&body, sig));
                        if !ok {
                            return HttpResponse::Unauthorized().finish();
                        }
                        match journal {
                            Some(journal) if !journal.append(body).await => {
                                HttpResponse::ServiceUnavailable().finish()
                            }
                            _ => HttpResponse::Ok().finish(),
                        }
                    },
                ),
            )
        })
        .backlog(4096);
        if workers > 0 {
            server = server.workers(workers);
        }
        server.bind(("127.0.0.1", port))?.run().await
    })?;
    Ok(())
}

/// The durable baseline's append-only file and the thread that writes it.
struct Journal {
    bodies: std::sync::mpsc::Sender<JournalEntry>,
}

/// A verified body and where to say whether it is on disk.
type JournalEntry = (actix_web::web::Bytes, tokio::sync::oneshot::Sender<bool>);

impl Journal {
    fn open(path: &std::path::Path) -> anyhow::Result<Self> {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        let (bodies, waiting) = std::sync::mpsc::channel::<JournalEntry>();
        std::thread::Builder::new()
            .name("journal".into())
            .spawn(move || {
                let mut buffer = Vec::new();
                let mut answers = Vec::new();
                while let Ok(first) = waiting.recv() {
                    buffer.clear();
                    for (body, answer) in std::iter::once(first).chain(waiting.try_iter()) {
                        buffer.extend_from_slice(&(body.len() as u32).to_le_bytes());
                        buffer.extend_from_slice(&body);
                        answers.push(answer);
                    }
                    let stored = file
                        .write_all(&buffer)
                        .and_then(|()| file.sync_data())
                        .is_ok();
                    for answer in answers.drain(..) {
                        let _ = answer.send(stored);
                    }
                }
            })?;
        Ok(Self { bodies })
    }

    /// True once the body is synced; false if it could not be written.
    async fn append(&self, body: actix_web::web::Bytes) -> bool {
        let (answer, stored) = tokio::sync::oneshot::channel();
        self.bodies.send((body, answer)).is_ok() && stored.await.unwrap_or(false)
    }
}

struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    /// CPU seconds (user + system) the server has used so far.
    fn cpu_seconds(&self) -> f64 {
        let Some(pid) = self.child.id() else {
            return 0.0;
        };
        let ticks = 100.0; // USER_HZ on Linux
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| {
                let after = s.rsplit_once(')')?.1;
                let fields: Vec<&str> = after.split_whitespace().collect();
                let user: f64 = fields.get(11)?.parse().ok()?;
                let system: f64 = fields.get(12)?.parse().ok()?;
                Some((user + system) / ticks)
            })
            .unwrap_or(0.0)
    }

    fn peak_rss_mb(&self) -> f64 {
        let Some(pid) = self.child.id() else {
            return 0.0;
        };
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmHWM:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
            })
            .map_or(0.0, |kb| kb / 1024.0)
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

async fn wait_until_up(addr: SocketAddr, child: &mut Child) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        if let Some(status) = child.try_wait()? {
            bail!("server exited during start-up: {status}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("server did not start listening on {addr}")
}

fn sibling(name: &str) -> anyhow::Result<PathBuf> {
    let path = std::env::current_exe()?.with_file_name(name);
    if !path.exists() {
        bail!(
            "{} not found: build it with `cargo build --release --bins`",
            path.display()
        );
    }
    Ok(path)
}

async fn start_baseline(
    workers: usize,
    journal: Option<&std::path::Path>,
) -> anyhow::Result<Server> {
    let port = free_port()?;
    let mut command = Command::new(std::env::current_exe()?);
    command.args([
        "baseline-server",
        "--port",
        &port.to_string(),
        "--workers",
        &workers.to_string(),
    ]);
    if let Some(journal) = journal {
        command.arg("--journal").arg(journal);
    }
    let mut child = command.stdout(Stdio::null()).kill_on_drop(true).spawn()?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    wait_until_up(addr, &mut child).await?;
    Ok(Server { child, addr })
}

async fn start_advocate(
    database_url: &str,
    workers: usize,
    inbox_workers: Option<usize>,
) -> anyhow::Result<Server> {
    start_advocate_with(database_url, workers, inbox_workers, &[]).await
}

/// As [`start_advocate`], with more environment variables.
async fn start_advocate_with(
    database_url: &str,
    workers: usize,
    inbox_workers: Option<usize>,
    env: &[(&str, String)],
) -> anyhow::Result<Server> {
    let port = free_port()?;
    let mut child = Command::new(sibling("advocate")?)
        .env_clear()
        .env("SHOPIFY_API_KEY", "bench-client-id")
        .env("SHOPIFY_API_SECRET", SECRET)
        .env("SHOPIFY_APP_URL", "https://advocate.bench")
        .env(
            "ADVOCATE_ENCRYPTION_KEY",
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        )
        .env("DATABASE_URL", database_url)
        .env("PORT", port.to_string())
        .env("ADVOCATE_HTTP_WORKERS", workers.to_string())
        .envs(inbox_workers.map(|n| ("ADVOCATE_INBOX_WORKERS", n.to_string())))
        .env("ADVOCATE_LOG", "warn")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    wait_until_up(addr, &mut child).await?;
    Ok(Server { child, addr })
}

/// A signed delivery, ready to be sent with a unique id spliced in.
struct Payload {
    head_before_id: String,
    body: Vec<u8>,
    /// Set for distinct orders: the body is built and signed per request.
    signer: Option<Signer>,
}

/// Placeholders for the ids of distinct orders (digits no sample has).
const ORDER_MARK: &str = "1111111111111111111";
const CUSTOMER_MARK: &str = "2222222222222222222";

impl Payload {
    fn orders_paid(distinct: bool) -> anyhow::Result<Self> {
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

    fn request(&self, run: &str, id: usize) -> Vec<u8> {
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
        out.extend_from_slice(format!("{run}-{id}").as_bytes());
        out.extend_from_slice(format!("\r\nContent-Length: {}\r\n\r\n", body.len()).as_bytes());
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
struct Connection {
    stream: BufReader<TcpStream>,
    line: String,
}

impl Connection {
    async fn open(addr: SocketAddr) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream: BufReader::new(stream),
            line: String::new(),
        })
    }

    /// Sends one request and reads the whole answer; returns the status.
    async fn send(&mut self, request: &[u8]) -> anyhow::Result<u16> {
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

#[derive(Default)]
struct RunResult {
    ok: usize,
    failed: usize,
    elapsed: Duration,
    latencies_us: Vec<u64>,
}

impl RunResult {
    fn per_second(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    /// "p50 / p99" in milliseconds, for the report.
    fn p50_p99(&self) -> String {
        format!(
            "{:.2} / {:.2}",
            self.percentile_ms(0.5),
            self.percentile_ms(0.99)
        )
    }

    fn percentile_ms(&self, p: f64) -> f64 {
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
async fn closed_loop(
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
async fn open_loop(
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

type LaneResult = anyhow::Result<(usize, usize, Vec<u64>)>;

async fn collect(
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
async fn probe_intake(
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

struct Measured {
    /// Server CPU seconds per 1,000 acknowledged deliveries (throughput run).
    cpu_ms_per_delivery: f64,
    throughput: RunResult,
    paced: RunResult,
    processed_per_s: Option<f64>,
    rss_mb: f64,
}

async fn webhooks(args: WebhookArgs) -> anyhow::Result<()> {
    let payload = Arc::new(Payload::orders_paid(args.distinct_orders)?);
    println!(
        "webhook intake: {} s at {}/s offered, then {} deliveries as fast as {} connections go; {}-byte orders/paid bodies",
        args.rate_seconds,
        args.rate,
        args.requests,
        args.concurrency,
        payload.body.len()
    );

    // The baselines first, then Advocate, in the same run on the same machine.
    let dir = tempfile::tempdir()?;
    let baseline = measure_baseline(&args, &payload, None).await?;
    let durable = measure_baseline(&args, &payload, Some(&dir.path().join("journal"))).await?;

    let (database_url, pg_cleanup) =
        fresh_database(args.server.database, &args.server.postgres_url, &dir).await?;
    let advocate = {
        let server = start_advocate(&database_url, args.server.workers, args.inbox_workers).await?;
        let store = Store::connect(&DatabaseUrl::parse(database_url.clone())?, 2).await?;
        // Steady state first, on a fresh server; then a burst as fast as
        // the connections go.
        let paced = paced_run(&args, &server, &payload, "adv").await?;
        if args.inbox_workers != Some(0) {
            wait_processed(&store, Duration::from_secs(300)).await?;
        }
        let started = Instant::now();
        let (throughput, cpu_ms_per_delivery) = burst_run(&args, &server, &payload, "adv").await?;
        let processed_per_s = if args.inbox_workers != Some(0) {
            let processed_at = wait_processed(&store, Duration::from_secs(300)).await?;
            Some(args.requests as f64 / (processed_at - started).as_secs_f64())
        } else {
            None
        };
        let rss_mb = server.peak_rss_mb();
        verify_exactly_once(&store, throughput.ok + paced.ok).await?;
        store.close().await;
        Measured {
            cpu_ms_per_delivery,
            throughput,
            paced,
            processed_per_s,
            rss_mb,
        }
    };
    if let Some((admin, name)) = pg_cleanup {
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&admin)
            .await?;
    }

    report(&args, &baseline, &durable, &advocate);
    Ok(())
}

/// The steady run: `args.rate` deliveries/s for `args.rate_seconds`.
async fn paced_run(
    args: &WebhookArgs,
    server: &Server,
    payload: &Arc<Payload>,
    run: &str,
) -> anyhow::Result<RunResult> {
    open_loop(
        server.addr,
        payload.clone(),
        &format!("{run}-paced"),
        args.rate,
        args.rate_seconds,
        args.concurrency,
    )
    .await
}

/// The burst: `args.requests` deliveries as fast as the connections go,
/// with the server's CPU ms per acknowledged delivery.
async fn burst_run(
    args: &WebhookArgs,
    server: &Server,
    payload: &Arc<Payload>,
    run: &str,
) -> anyhow::Result<(RunResult, f64)> {
    let cpu_before = server.cpu_seconds();
    let throughput = closed_loop(
        server.addr,
        payload.clone(),
        run,
        args.requests,
        args.concurrency,
    )
    .await?;
    let cpu_ms_per_delivery = (server.cpu_seconds() - cpu_before) * 1000.0 / throughput.ok as f64;
    Ok((throughput, cpu_ms_per_delivery))
}

/// A baseline server's figures: the paced run, then the burst.
async fn measure_baseline(
    args: &WebhookArgs,
    payload: &Arc<Payload>,
    journal: Option<&std::path::Path>,
) -> anyhow::Result<Measured> {
    let run = if journal.is_some() { "durable" } else { "base" };
    let server = start_baseline(args.server.workers, journal).await?;
    let paced = paced_run(args, &server, payload, run).await?;
    let (throughput, cpu_ms_per_delivery) = burst_run(args, &server, payload, run).await?;
    Ok(Measured {
        cpu_ms_per_delivery,
        throughput,
        paced,
        processed_per_s: None,
        rss_mb: server.peak_rss_mb(),
    })
}

/// Distinct paid orders (the loyalty engine's full work), each sent until a
/// 200: a refused or dropped request is sent again on a new connection.
async fn load(args: LoadArgs) -> anyhow::Result<()> {
    let addr: SocketAddr = {
        let rest = args
            .url
            .strip_prefix("http://")
            .context("--url must be http://host:port")?;
        tokio::net::lookup_host(rest.trim_end_matches('/'))
            .await?
            .next()
            .context("--url does not resolve")?
    };
    let mut payload = Payload::orders_paid(true)?;
    let signer = Signer::new(&args.secret.clone().into(), None);
    payload.signer = Some(signer);
    let payload = Arc::new(payload);
    let store = Store::connect(&DatabaseUrl::parse(args.database_url.clone())?, 2).await?;

    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..args.concurrency)
        .map(|_| {
            let (next, payload, run) = (next.clone(), payload.clone(), args.run.clone());
            let requests = args.requests;
            tokio::spawn(async move {
                let mut conn: Option<Connection> = None;
                let (mut ok, mut retried, mut lat) = (0, 0, Vec::new());
                loop {
                    let id = next.fetch_add(1, Ordering::Relaxed);
                    if id >= requests {
                        break;
                    }
                    let request = payload.request(&run, id);
                    let sent = Instant::now();
                    loop {
                        let answer = match conn.as_mut() {
                            Some(c) => c.send(&request).await,
                            None => match Connection::open(addr).await {
                                Ok(c) => conn.insert(c).send(&request).await,
                                Err(e) => Err(e),
                            },
                        };
                        match answer {
                            Ok(200) => break,
                            Ok(_) => retried += 1,
                            Err(_) => {
                                conn = None;
                                retried += 1;
                            }
                        }
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    ok += 1;
                    lat.push(sent.elapsed().as_micros() as u64);
                }
                anyhow::Ok((ok, retried, lat))
            })
        })
        .collect();
    let sent = collect(tasks, started).await?;
    let processed_at = wait_processed(&store, Duration::from_secs(600)).await?;
    let processed_per_s = sent.ok as f64 / (processed_at - started).as_secs_f64();
    let (rows, done, orders): (i64, i64, i64) = sqlx::query_as(
        "SELECT CAST(COUNT(*) AS BIGINT), \
             CAST(COALESCE(SUM(CASE WHEN status = 'done' THEN 1 ELSE 0 END), 0) AS BIGINT), \
             (SELECT CAST(COUNT(*) AS BIGINT) FROM orders) \
         FROM webhook_inbox WHERE delivery_key LIKE $1",
    )
    .bind(format!("{}-%", args.run))
    .fetch_one(store.reader())
    .await?;
    store.close().await;
    println!(
        "load {}: {} acknowledged in {:.2} s ({} answers were errors and sent again); \
         p50 {:.2} ms, p99 {:.2} ms",
        args.run,
        sent.ok,
        sent.elapsed.as_secs_f64(),
        sent.failed,
        sent.percentile_ms(0.50),
        sent.percentile_ms(0.99)
    );
    println!(
        "check: {rows} inbox rows, {done} done, {orders} orders recorded for {} acknowledged deliveries",
        sent.ok
    );
    // One line for scripts.
    println!(
        "RESULT acked_per_s={:.0} processed_per_s={:.0} acked={} rows={rows} done={done} orders={orders}",
        sent.per_second(),
        processed_per_s,
        sent.ok
    );
    if rows as usize != sent.ok || done != rows || orders < rows {
        bail!("not every acknowledged delivery was stored and processed exactly once");
    }
    Ok(())
}

async fn sqlx_admin(url: &str) -> anyhow::Result<sqlx::AnyPool> {
    sqlx::any::install_default_drivers();
    Ok(sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await?)
}

/// Waits until no row is left queued; returns when that was first seen.
async fn wait_processed(store: &Store, limit: Duration) -> anyhow::Result<Instant> {
    let deadline = Instant::now() + limit;
    loop {
        let queued: i64 = sqlx::query_scalar(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM webhook_inbox WHERE status = 'queued'",
        )
        .fetch_one(store.reader())
        .await?;
        if queued == 0 {
            return Ok(Instant::now());
        }
        if Instant::now() > deadline {
            bail!("{queued} deliveries still queued after {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn verify_exactly_once(store: &Store, acknowledged: usize) -> anyhow::Result<()> {
    let (rows, keys): (i64, i64) = sqlx::query_as(
        "SELECT CAST(COUNT(*) AS BIGINT), CAST(COUNT(DISTINCT delivery_key) AS BIGINT) FROM webhook_inbox",
    )
    .fetch_one(store.reader())
    .await?;
    println!(
        "inbox check: {acknowledged} acknowledged, {rows} rows, {keys} distinct delivery keys"
    );
    if rows as usize != acknowledged || keys != rows {
        bail!("inbox does not hold every acknowledged delivery exactly once");
    }
    Ok(())
}

fn report(args: &WebhookArgs, base: &Measured, durable: &Measured, adv: &Measured) {
    let servers = [base, durable, adv];
    println!();
    println!(
        "{:<32} {:>14} {:>14} {:>14}",
        "",
        "HMAC-only",
        "HMAC+fsync",
        format!("Advocate/{:?}", args.server.database).to_lowercase()
    );
    let row = |name: &str, cell: &dyn Fn(&Measured) -> String| {
        let cells: Vec<String> = servers.iter().map(|m| format!("{:>14}", cell(m))).collect();
        println!("{name:<32} {}", cells.join(" "));
    };
    row("acknowledged/s (closed loop)", &|m| {
        format!("{:.0}", m.throughput.per_second())
    });
    row("  p50 / p99 ms", &|m| m.throughput.p50_p99());
    row("  non-200 answers", &|m| m.throughput.failed.to_string());
    row(&format!("p50 / p99 ms at {}/s offered", args.rate), &|m| {
        m.paced.p50_p99()
    });
    row("  achieved/s, non-200", &|m| {
        format!("{:.0}, {}", m.paced.per_second(), m.paced.failed)
    });
    row("processed/s through the inbox", &|m| {
        m.processed_per_s.map_or("-".into(), |p| format!("{p:.0}"))
    });
    row("server CPU ms per delivery", &|m| {
        format!("{:.3}", m.cpu_ms_per_delivery)
    });
    row("peak RSS MB", &|m| format!("{:.1}", m.rss_mb));
    println!();
    for (name, of, to) in [
        ("Advocate / HMAC-only ceiling", adv, base),
        ("HMAC+fsync floor / HMAC-only ceiling", durable, base),
        ("Advocate / HMAC+fsync floor", adv, durable),
    ] {
        let share = of.throughput.per_second() / to.throughput.per_second();
        println!("{name}: {:.1} %", share * 100.0);
    }
}

/// Pushes tag changes through the real client, pacer and token service to
/// the stand-in, then re-tags many customers through the bulk path.
async fn admin_api(args: AdminArgs) -> anyhow::Result<()> {
    use advocate::{
        config::EncryptionKey,
        crypto::TokenCipher,
        shopify::{
            admin::{self, api::AdminApi, client::AdminClient, client::RetryPolicy},
            oauth::{OAuthClient, ShopifyEndpoint},
            session_token::{admin_claims, sign_session_token},
            tokens::ShopTokens,
            ShopDomain,
        },
    };
    use futures_util::StreamExt;
    use serde_json::json;
    use shopify_sim::{ShopifySim, SimConfig};

    let shop = ShopDomain::parse("bench.myshopify.com")?;
    let mut config = SimConfig::new("bench-client-id", SECRET);
    config.restore_rate = args.restore_rate;
    config.bucket_size = args.bucket_size;
    config.time_scale = args.time_scale;
    let sim = ShopifySim::start(config)?;
    sim.install(shop.as_str());
    let dir = tempfile::tempdir()?;
    let store = Store::connect(
        &DatabaseUrl::parse(format!("sqlite://{}/bench.db", dir.path().display()))?,
        2,
    )
    .await?;
    store.migrate().await?;
    let endpoint = ShopifyEndpoint::new(Some(sim.origin().to_owned()));
    let tokens = Arc::new(ShopTokens::new(
        store.clone(),
        Arc::new(TokenCipher::new(
            &EncryptionKey::from_bytes(rand::random()),
            None,
        )),
        OAuthClient::new(
            endpoint.clone(),
            "bench-client-id",
            &SECRET.to_owned().into(),
        ),
    ));
    let now = chrono::Utc::now().timestamp();
    let session = sign_session_token(
        SECRET,
        &admin_claims(shop.as_str(), "bench-client-id", 1, now, 60),
    );
    tokens.install_with_session_token(&shop, &session).await?;
    let api = AdminApi::new(
        AdminClient::new(endpoint, Duration::from_secs(20), RetryPolicy::default()),
        tokens,
    );

    println!(
        "Admin API: {} tag changes, {} in flight; plan restores {} points/s, bucket {}; stand-in at {}x time",
        args.changes, args.concurrency, args.restore_rate, args.bucket_size, args.time_scale
    );
    let started = Instant::now();
    let failures = futures_util::stream::iter(0..args.changes)
        .map(|i| {
            let api = &api;
            let shop = &shop;
            async move {
                let vars = json!({ "id": format!("gid://shopify/Customer/{i}"), "tags": ["advocate-bench"] });
                api.call::<serde_json::Value>(shop, admin::TAGS_ADD, vars).await.is_err()
            }
        })
        .buffer_unordered(args.concurrency)
        .filter(|failed| std::future::ready(*failed))
        .count()
        .await;
    let real = started.elapsed().as_secs_f64();
    let simulated = real * args.time_scale;
    let (points, throttled, served) = sim.admin(|a| (a.points, a.throttled, a.served));
    // The first bucket is free; after it, the restore rate is the ceiling.
    let sustained = (points - args.bucket_size).max(0.0) / simulated;
    println!("  calls answered                {served} ({failures} failed)");
    println!("  throttled responses           {throttled}");
    println!("  simulated time                {simulated:.1} s ({real:.2} s here)");
    println!(
        "  sustained points/s            {sustained:.1} = {:.1} % of the restore rate",
        100.0 * sustained / args.restore_rate
    );
    let calls_per_second = (served as f64 - args.bucket_size / 10.0) / simulated;

    let variables: Vec<serde_json::Value> = (0..args.bulk_customers)
        .map(|i| json!({ "id": format!("gid://shopify/Customer/{i}"), "tags": ["advocate-tier:gold"] }))
        .collect();
    let started = Instant::now();
    let result = admin::bulk::run_bulk_mutation(
        &api,
        &reqwest::Client::new(),
        &shop,
        admin::TAGS_ADD,
        &variables,
        Duration::from_millis(50),
    )
    .await?;
    let bulk = started.elapsed().as_secs_f64();
    let per_call = args.bulk_customers as f64 / calls_per_second;
    println!(
        "re-tag {} customers: bulk {} in {bulk:.2} s here ({} objects); one call each at the measured rate: {per_call:.0} s ({:.1} h) of Shopify time",
        args.bulk_customers,
        result.status,
        result.object_count.unwrap_or_default(),
        per_call / 3600.0
    );
    Ok(())
}

/// A fresh database for a run: a SQLite file in `dir`, or a new database on
/// the PostgreSQL server (returned for dropping afterwards).
async fn fresh_database(
    backend: Backend,
    postgres_url: &str,
    dir: &tempfile::TempDir,
) -> anyhow::Result<(String, Option<(sqlx::AnyPool, String)>)> {
    Ok(match backend {
        Backend::Sqlite => (format!("sqlite://{}/bench.db", dir.path().display()), None),
        Backend::Postgres => {
            let name = format!("advocate_bench_{:08x}", rand::random::<u32>());
            let admin = sqlx_admin(postgres_url).await?;
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&admin)
                .await?;
            let (base, _) = postgres_url
                .rsplit_once('/')
                .context("postgres URL has no database")?;
            (format!("{base}/{name}"), Some((admin, name)))
        }
    })
}

const DAY_MS: i64 = 86_400_000;

/// Seeds the shop with `customers` customers and `orders` orders paid over
/// the last two years (10 % guest orders, 3 % cancelled, 1 % test orders,
/// 5 % half refunded; some customers buy far more often than others). Four
/// in five customers are members: a signup entry, an earn entry per counted
/// order (1 point per 1.00), and for one member in ten a 500-point
/// redemption. Balances equal the ledger; tiers follow lifetime spend.
/// Returns the number of ledger entries.
async fn seed_shop(
    store: &Store,
    shop_id: i64,
    customers: usize,
    orders: usize,
) -> anyhow::Result<usize> {
    use advocate::store::analytics::seed;
    use rand::{Rng, SeedableRng};

    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let now = advocate::store::now_ms();
    let span = 730 * DAY_MS;
    let n = customers.max(1) as i64;
    let order_rows: Vec<seed::Order> = (0..orders)
        .map(|i| {
            let paid_at = now - rng.gen_range(1..span);
            let customer_id =
                (!rng.gen_bool(0.1)).then(|| 1 + rng.gen_range(0..n).min(rng.gen_range(0..n)));
            let total_minor = rng.gen_range(1_000..20_000);
            seed::Order {
                order_id: 1_000_000 + i as i64,
                customer_id,
                total_minor,
                refunded_minor: if rng.gen_bool(0.05) {
                    total_minor / 2
                } else {
                    0
                },
                paid_at,
                cancelled_at: rng.gen_bool(0.03).then_some(paid_at + DAY_MS),
                is_test: rng.gen_bool(0.01),
            }
        })
        .collect();

    let member = |c: i64| c % 5 != 0;
    let slots = customers + 1;
    let (mut balance, mut spend, mut first) = (vec![0; slots], vec![0; slots], vec![now; slots]);
    let mut entries = Vec::new();
    for o in &order_rows {
        let Some(c) = o.customer_id else { continue };
        if o.cancelled_at.is_some() || o.is_test {
            continue;
        }
        let net = o.total_minor - o.refunded_minor;
        spend[c as usize] += net;
        if member(c) {
            first[c as usize] = first[c as usize].min(o.paid_at);
            balance[c as usize] += net / 100;
            entries.push(seed::Entry {
                key: 0,
                customer_id: c,
                points: net / 100,
                kind: "earn",
                order_id: Some(o.order_id),
                created_at: o.paid_at,
            });
        }
    }
    for c in (1..=n).filter(|c| member(*c)) {
        let joined = first[c as usize] - 1;
        balance[c as usize] += 100;
        entries.push(seed::Entry {
            key: 0,
            customer_id: c,
            points: 100,
            kind: "signup",
            order_id: None,
            created_at: joined,
        });
        if c % 10 == 1 && balance[c as usize] >= 500 {
            balance[c as usize] -= 500;
            entries.push(seed::Entry {
                key: 0,
                customer_id: c,
                points: -500,
                kind: "redeem",
                order_id: None,
                created_at: joined + rng.gen_range(1..(now - joined).max(2)),
            });
        }
    }
    // The ledger is append-only: ids follow time.
    entries.sort_by_key(|e| e.created_at);
    for (i, e) in entries.iter_mut().enumerate() {
        e.key = i as i64;
    }
    let customer_rows: Vec<seed::Customer> = (1..=n)
        .map(|c| {
            let s = spend[c as usize];
            let tier = match s {
                s if s >= 100_000 => Some("platinum"),
                s if s >= 50_000 => Some("gold"),
                s if s >= 25_000 => Some("silver"),
                _ => None,
            };
            seed::Customer {
                customer_id: c,
                points_balance: balance[c as usize],
                points_pending: 0,
                tier_id: tier.map(str::to_owned),
                created_at: now - span,
            }
        })
        .collect();

    const ROWS: usize = 1_000;
    const PER_TX: usize = 100;
    let dialect = store.dialect();
    for batch in customer_rows.chunks(ROWS * PER_TX) {
        let mut tx = store.begin().await?;
        for rows in batch.chunks(ROWS) {
            seed::insert_customers(&mut tx, dialect, shop_id, rows).await?;
        }
        tx.commit().await?;
    }
    for batch in order_rows.chunks(ROWS * PER_TX) {
        let mut tx = store.begin().await?;
        for rows in batch.chunks(ROWS) {
            seed::insert_orders(&mut tx, dialect, shop_id, "USD", rows).await?;
        }
        tx.commit().await?;
    }
    for batch in entries.chunks(ROWS * PER_TX) {
        let mut tx = store.begin().await?;
        for rows in batch.chunks(ROWS) {
            seed::insert_ledger(&mut tx, dialect, shop_id, rows).await?;
        }
        tx.commit().await?;
    }
    sqlx::query("UPDATE shops SET currency = 'USD' WHERE id = $1")
        .bind(shop_id)
        .execute(store.writer())
        .await?;
    Ok(entries.len())
}

/// Seeds one large shop, then measures through the real HTTP server with a
/// valid session token: the time to compute the dashboard snapshots from
/// scratch (`POST /api/admin/analytics/refresh`, every period), and the
/// latency of `GET /api/admin/analytics` for each period against
/// `GET /api/admin/shop` (the same guard, no data: the baseline), requests
/// interleaved so that drift affects every route alike.
async fn analytics(args: AnalyticsArgs) -> anyhow::Result<()> {
    use advocate::shopify::session_token::{admin_claims, sign_session_token};
    use shopify_sim::{ShopifySim, SimConfig};

    const SHOP: &str = "bench-analytics.myshopify.com";
    let sim = ShopifySim::start(SimConfig::new("bench-client-id", SECRET))?;
    sim.install(SHOP);
    let dir = tempfile::tempdir()?;
    let (database_url, pg_cleanup) =
        fresh_database(args.server.database, &args.server.postgres_url, &dir).await?;
    let server = start_advocate_with(
        &database_url,
        args.server.workers,
        Some(0),
        &[
            ("SHOPIFY_API_ORIGIN", sim.origin().to_owned()),
            ("ADVOCATE_OUTBOX_WORKERS", "0".into()),
            ("ADVOCATE_SCHEDULER_SECS", "0".into()),
            ("ADVOCATE_ANALYTICS_REFRESH_SECS", "0".into()),
        ],
    )
    .await?;
    let base = format!("http://{}", server.addr);
    let now = chrono::Utc::now().timestamp();
    // The admin shape, living as long as the run.
    let token = sign_session_token(
        SECRET,
        &admin_claims(SHOP, "bench-client-id", 1, now, 6 * 3600),
    );
    let http = reqwest::Client::new();
    // The first request installs the shop (token exchange with the stand-in).
    let installed = http
        .get(format!("{base}/api/admin/shop"))
        .bearer_auth(&token)
        .send()
        .await?;
    if !installed.status().is_success() {
        bail!("installing the shop: {}", installed.status());
    }

    let store = Store::connect(&DatabaseUrl::parse(database_url.clone())?, 4).await?;
    let shop_id: i64 = sqlx::query_scalar("SELECT id FROM shops WHERE domain = $1")
        .bind(SHOP)
        .fetch_one(store.writer())
        .await?;
    let started = Instant::now();
    let entries = seed_shop(&store, shop_id, args.customers, args.orders).await?;
    if args.server.database == Backend::Postgres {
        // What autovacuum does for a table this size soon after the load.
        for table in ["customers", "orders", "points_ledger"] {
            sqlx::raw_sql(&format!("VACUUM ANALYZE {table}"))
                .execute(store.writer())
                .await?;
        }
    }
    println!(
        "dashboard analytics on {:?}: one shop with {} customers, {} orders, {} ledger entries (seeded in {:.1} s)",
        args.server.database,
        args.customers,
        args.orders,
        entries,
        started.elapsed().as_secs_f64()
    );

    let mut computes = Vec::new();
    let mut dashboard = serde_json::Value::Null;
    for _ in 0..args.computes.max(1) {
        let t = Instant::now();
        let response = http
            .post(format!("{base}/api/admin/analytics/refresh"))
            .bearer_auth(&token)
            .send()
            .await?;
        if !response.status().is_success() {
            bail!("refresh answered {}", response.status());
        }
        dashboard = response.json().await?;
        computes.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    println!(
        "  90d: {} members, {} member orders, {} non-member orders, repeat {}, retention {}",
        dashboard["members"]["total"],
        dashboard["revenue"]["members"]["orders"],
        dashboard["revenue"]["non_members"]["orders"],
        dashboard["repeat_purchase_rate"]["percent"],
        dashboard["retention_rate"]["percent"],
    );
    let first = computes[0];
    computes.sort_by(f64::total_cmp);
    println!(
        "snapshots from scratch (all three periods): median {:.0} ms of {} (first {:.0} ms)",
        computes[computes.len() / 2],
        computes.len(),
        first
    );

    // Behaviour segments over the same shop: the baseline (every customer
    // placed and tagged), then a run that finds nobody moved.
    // Meanwhile a webhook every 50 ms: how long intake waits for the
    // database while a run writes.
    for run in ["baseline", "re-run, nothing changed"] {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let prober = tokio::spawn(probe_intake(
            server.addr,
            run.replace(' ', "-"),
            stop.clone(),
        ));
        let t = Instant::now();
        let response = http
            .post(format!("{base}/api/admin/segments/recompute?period=90d"))
            .bearer_auth(&token)
            .send()
            .await?;
        let took = t.elapsed();
        stop.store(true, Ordering::Relaxed);
        let acks = prober.await??;
        if !response.status().is_success() {
            bail!("segment recompute answered {}", response.status());
        }
        let body: serde_json::Value = response.json().await?;
        println!(
            "segments, {run}: {:.0} ms, {} customers placed, {} changed; \
             {} webhooks sent meanwhile, slowest acknowledged in {:.0} ms",
            took.as_secs_f64() * 1000.0,
            body["recomputed"]["customers"],
            body["recomputed"]["changed"],
            acks.ok,
            acks.percentile_ms(1.0),
        );
    }

    let routes = [
        "/api/admin/shop",
        "/api/admin/analytics?period=30d",
        "/api/admin/analytics?period=90d",
        "/api/admin/analytics?period=365d",
        "/api/admin/segments?period=90d",
        "/api/admin/winback?period=90d",
        "/api/admin/nps?period=90d",
    ];
    let timed = |path: &'static str| {
        let request = http.get(format!("{base}{path}")).bearer_auth(&token);
        async move {
            let t = Instant::now();
            let response = request.send().await?;
            let ok = response.status().is_success();
            let bytes = response.bytes().await?.len();
            if !ok {
                bail!("{path} failed");
            }
            anyhow::Ok((t.elapsed().as_micros() as u64, bytes))
        }
    };
    for _ in 0..20 {
        for path in routes {
            timed(path).await?;
        }
    }
    let mut results: Vec<RunResult> = routes
        .iter()
        .map(|_| RunResult {
            ok: 0,
            failed: 0,
            elapsed: Duration::ZERO,
            latencies_us: Vec::with_capacity(args.requests),
        })
        .collect();
    let mut sizes = vec![0; routes.len()];
    for _ in 0..args.requests {
        for (i, path) in routes.iter().enumerate() {
            let (us, bytes) = timed(path).await?;
            results[i].latencies_us.push(us);
            results[i].ok += 1;
            sizes[i] = bytes;
        }
    }
    let base_p50 = results[0].percentile_ms(0.5);
    let base_p95 = results[0].percentile_ms(0.95);
    println!();
    println!(
        "{:<36} {:>8} {:>8} {:>8} {:>8} {:>16}",
        format!("{} requests each, one at a time", args.requests),
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "bytes",
        "p50 / p95 ratio"
    );
    for (i, path) in routes.iter().enumerate() {
        let r = &results[i];
        println!(
            "{:<36} {:>8.2} {:>8.2} {:>8.2} {:>8} {:>16}",
            format!("GET {path}"),
            r.percentile_ms(0.5),
            r.percentile_ms(0.95),
            r.percentile_ms(0.99),
            sizes[i],
            if i == 0 {
                "baseline".to_owned()
            } else {
                format!(
                    "{:.2}x / {:.2}x",
                    r.percentile_ms(0.5) / base_p50,
                    r.percentile_ms(0.95) / base_p95
                )
            }
        );
    }
    store.close().await;
    drop(server);
    if let Some((admin, name)) = pg_cleanup {
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&admin)
            .await?;
    }
    Ok(())
}
