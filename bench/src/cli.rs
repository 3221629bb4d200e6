//! The command line: one subcommand per benchmark, and the options they share.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::SECRET;

#[derive(Parser)]
#[command(name = "advocate-bench", about = "Benchmarks for Advocate")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Bench,
}

#[derive(Subcommand)]
pub enum Bench {
    /// Webhook intake and inbox processing against an HMAC-only baseline.
    Webhooks(WebhookArgs),
    /// Admin API pacing against the Shopify stand-in, and bulk vs per call.
    AdminApi(AdminArgs),
    /// The merchant dashboard of a large shop against `GET /api/admin/shop`.
    Analytics(AnalyticsArgs),
    /// Members from another loyalty app: a CSV read, dry-run and imported
    /// through the real server, against reading it alone.
    Import(ImportArgs),
    /// A shop's history imported from the stand-in's bulk queries while
    /// webhooks arrive: the import's rate, and intake latency before and
    /// during it.
    History(HistoryArgs),
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
pub struct WebhookArgs {
    /// Deliveries in the throughput run.
    #[arg(long, default_value_t = 50_000)]
    pub requests: usize,
    /// Concurrent connections.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Offered rate (deliveries/s) for the latency run.
    #[arg(long, default_value_t = 5_000)]
    pub rate: usize,
    /// Length of the latency run in seconds.
    #[arg(long, default_value_t = 5)]
    pub rate_seconds: u64,
    #[command(flatten)]
    pub server: ServerArgs,
    /// Inbox processor tasks in Advocate (0: measure intake alone; unset:
    /// Advocate's default for the backend).
    #[arg(long)]
    pub inbox_workers: Option<usize>,
    /// Every delivery a different paid order (1,000 customers, no test
    /// orders), so processing does the loyalty engine's full work; each
    /// body is signed as it is sent. Without it every delivery is
    /// Shopify's sample (a test order), signed once.
    #[arg(long)]
    pub distinct_orders: bool,
    /// Deliveries (distinct paid orders) stored with processing off, then
    /// drained by Advocate (its inbox workers) and by the processing floor,
    /// each timed; 0 skips the backlog.
    #[arg(long, default_value_t = 100_000)]
    pub backlog: usize,
    /// Bursts of the HMAC + fsync floor and of Advocate, run alternately
    /// (floor, Advocate, floor, ...): the table shows each one's median,
    /// and Advocate's share of the floor is the median of the rounds'
    /// shares. Throughput on a shared machine moves a lot from one minute
    /// to the next; a pair run back to back sees the same machine.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub rounds: u32,
    /// Also measure the official Node stack in this directory
    /// (`bench/node-stack`, after `npm install` there): Shopify's
    /// `@shopify/shopify-api` validating each webhook and better-sqlite3
    /// storing it, not durably; paced, then one burst, as the HMAC-only
    /// ceiling is.
    #[arg(long)]
    pub node_stack: Option<PathBuf>,
}

#[derive(Parser, Clone)]
pub struct LoadArgs {
    /// Where to send (e.g. the load balancer): http://host:port
    #[arg(long)]
    pub url: String,
    /// The database every instance shares (to follow processing).
    #[arg(long)]
    pub database_url: String,
    /// Deliveries to send.
    #[arg(long, default_value_t = 20_000)]
    pub requests: usize,
    /// Concurrent connections.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Names the deliveries of this run (event ids `{run}-{n}`).
    #[arg(long, default_value = "load")]
    pub run: String,
    /// The client secret the instances verify with.
    #[arg(long, default_value = SECRET)]
    pub secret: String,
}

#[derive(Parser, Clone)]
pub struct AdminArgs {
    /// Tag changes sent one call each.
    #[arg(long, default_value_t = 10_000)]
    pub changes: usize,
    /// Calls in flight at once.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// The plan's restore rate, points/s (Standard: 100).
    #[arg(long, default_value_t = 100.0)]
    pub restore_rate: f64,
    /// The plan's bucket size, points.
    #[arg(long, default_value_t = 1000.0)]
    pub bucket_size: f64,
    /// Simulated seconds per real second.
    #[arg(long, default_value_t = 50.0)]
    pub time_scale: f64,
    /// Customers re-tagged through the bulk path.
    #[arg(long, default_value_t = 100_000)]
    pub bulk_customers: usize,
}

#[derive(Parser, Clone)]
pub struct AnalyticsArgs {
    /// Customers in the seeded shop.
    #[arg(long, default_value_t = 100_000)]
    pub customers: usize,
    /// Orders in the seeded shop, over the last two years.
    #[arg(long, default_value_t = 1_000_000)]
    pub orders: usize,
    /// Measured requests per route (after a warm-up).
    #[arg(long, default_value_t = 200)]
    pub requests: usize,
    /// Snapshot computations from scratch to take the median of.
    #[arg(long, default_value_t = 3)]
    pub computes: usize,
    #[command(flatten)]
    pub server: ServerArgs,
}

#[derive(Parser, Clone)]
pub struct HistoryArgs {
    /// Customers in the stand-in's history.
    #[arg(long, default_value_t = 100_000)]
    pub customers: usize,
    /// Orders in the stand-in's history (two years).
    #[arg(long, default_value_t = 1_000_000)]
    pub orders: usize,
    /// Webhooks offered per second before and during the import.
    #[arg(long, default_value_t = 1_000)]
    pub rate: usize,
    #[command(flatten)]
    pub server: ServerArgs,
}

#[derive(Parser, Clone)]
pub struct ImportArgs {
    /// Customers in the shop, and rows in the file (one per customer).
    #[arg(long, default_value_t = 100_000)]
    pub rows: usize,
    #[command(flatten)]
    pub server: ServerArgs,
}

/// Where the measured servers keep their data and how many threads they get.
#[derive(Parser, Clone)]
pub struct ServerArgs {
    /// Backend for Advocate's database.
    #[arg(long, value_enum, default_value_t = Backend::Sqlite)]
    pub database: Backend,
    /// PostgreSQL server (a fresh database is created on it).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
    pub postgres_url: String,
    /// HTTP worker threads of each measured server (0: one per core).
    #[arg(long, default_value_t = 0)]
    pub workers: usize,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}
