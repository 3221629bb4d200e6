//! `advocate-bench analytics`: the merchant dashboard of a large shop,
//! measured through the real HTTP server against `GET /api/admin/shop`.

use std::{
    sync::{atomic::Ordering, Arc},
    time::{Duration, Instant},
};

use advocate::{
    shopify::session_token::{admin_claims, sign_session_token},
    store::{DatabaseUrl, Store},
};
use anyhow::bail;
use shopify_sim::{ShopifySim, SimConfig};

use crate::{
    cli::{AnalyticsArgs, Backend, ServerArgs},
    report,
    seed::seed_shop,
    servers::{drop_database, fresh_database, start_advocate_with, Server},
    traffic::{probe_intake, RunResult},
    SECRET,
};

pub(crate) const SHOP: &str = "bench-analytics.myshopify.com";

/// The routes timed, the baseline first.
const ROUTES: [&str; 7] = [
    "/api/admin/shop",
    "/api/admin/analytics?period=30d",
    "/api/admin/analytics?period=90d",
    "/api/admin/analytics?period=365d",
    "/api/admin/segments?period=90d",
    "/api/admin/winback?period=90d",
    "/api/admin/nps?period=90d",
];

/// Advocate with the shop installed, and what reaches it as the merchant.
pub(crate) struct Running {
    pub server: Server,
    /// `http://host:port` of the server.
    base: String,
    /// An admin session token of the shop, living as long as the run.
    token: String,
    http: reqwest::Client,
    /// Kept for as long as Advocate asks it for tokens.
    _sim: ShopifySim,
}

impl Running {
    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
    }

    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
    }
}

/// Seeds one large shop, then measures through the real HTTP server with a
/// valid session token: the time to compute the dashboard snapshots from
/// scratch (`POST /api/admin/analytics/refresh`, every period), and the
/// latency of `GET /api/admin/analytics` for each period against
/// `GET /api/admin/shop` (the same guard, no data: the baseline), requests
/// interleaved so that drift affects every route alike.
pub async fn run(args: AnalyticsArgs) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (database_url, pg_cleanup) =
        fresh_database(args.server.database, &args.server.postgres_url, &dir).await?;
    let running = start(&args.server, &database_url).await?;

    let store = Store::connect(&DatabaseUrl::parse(database_url.clone())?, 4).await?;
    let shop_id = seed(&args, &store).await?;
    exports(&running).await?;
    snapshots(&args, &running).await?;
    segments(&running).await?;
    segments_report(&running, &store, shop_id).await?;
    forecast(&args, &running).await?;
    reorder_learning(&args, &running).await?;
    routes(&args, &running).await?;
    store.close().await;
    drop(running);
    drop_database(pg_cleanup).await?;
    Ok(())
}

/// Starts the stand-in and Advocate (no background work), and installs the
/// shop with its first request.
pub(crate) async fn start(server: &ServerArgs, database_url: &str) -> anyhow::Result<Running> {
    let sim = ShopifySim::start(SimConfig::new("bench-client-id", SECRET))?;
    sim.install(SHOP);
    let server = start_advocate_with(
        database_url,
        server.workers,
        Some(0),
        &[
            ("SHOPIFY_API_ORIGIN", sim.origin().to_owned()),
            ("ADVOCATE_OUTBOX_WORKERS", "0".into()),
            ("ADVOCATE_SCHEDULER_SECS", "0".into()),
            ("ADVOCATE_ANALYTICS_REFRESH_SECS", "0".into()),
        ],
    )
    .await?;
    let now = chrono::Utc::now().timestamp();
    let running = Running {
        base: format!("http://{}", server.addr),
        server,
        // The admin shape, living as long as the run.
        token: sign_session_token(
            SECRET,
            &admin_claims(SHOP, "bench-client-id", 1, now, 6 * 3600),
        ),
        http: reqwest::Client::new(),
        _sim: sim,
    };
    // The first request installs the shop (token exchange with the stand-in).
    let installed = running.get("/api/admin/shop").send().await?;
    if !installed.status().is_success() {
        bail!("installing the shop: {}", installed.status());
    }
    Ok(running)
}

/// Fills the installed shop (see [`seed_shop`]); answers its id.
async fn seed(args: &AnalyticsArgs, store: &Store) -> anyhow::Result<i64> {
    let shop_id: i64 = sqlx::query_scalar("SELECT id FROM shops WHERE domain = $1")
        .bind(SHOP)
        .fetch_one(store.writer())
        .await?;
    let started = Instant::now();
    let entries = seed_shop(store, shop_id, args.customers, args.orders).await?;
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
    Ok(shop_id)
}

/// The dashboard snapshots computed from scratch, `args.computes` times.
async fn snapshots(args: &AnalyticsArgs, running: &Running) -> anyhow::Result<()> {
    let mut computes = Vec::new();
    let mut dashboard = serde_json::Value::Null;
    for _ in 0..args.computes.max(1) {
        let t = Instant::now();
        let response = running.post("/api/admin/analytics/refresh").send().await?;
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
    Ok(())
}

/// Behaviour segments over the same shop: the baseline (every customer
/// placed and tagged), then a run that finds nobody moved, each with the
/// number of write transactions it took and the longest. Meanwhile a
/// webhook every 50 ms: how long intake waits for the database while a run
/// writes.
async fn segments(running: &Running) -> anyhow::Result<()> {
    for run in ["baseline", "re-run, nothing changed"] {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let prober = tokio::spawn(probe_intake(
            running.server.addr,
            run.replace(' ', "-"),
            stop.clone(),
        ));
        let t = Instant::now();
        let response = running
            .post("/api/admin/segments/recompute?period=90d")
            .send()
            .await?;
        let took = t.elapsed();
        stop.store(true, Ordering::Relaxed);
        let acks = prober.await??;
        if !response.status().is_success() {
            bail!("segment recompute answered {}", response.status());
        }
        let body: serde_json::Value = response.json().await?;
        let done = &body["recomputed"];
        println!(
            "segments, {run}: {:.0} ms, {} customers placed, {} changed, \
             {} write transactions, the longest {} ms; \
             {} webhooks sent meanwhile, slowest acknowledged in {:.0} ms",
            took.as_secs_f64() * 1000.0,
            done["customers"],
            done["changed"],
            done["transactions"],
            done["longest_transaction_ms"],
            acks.ok,
            acks.percentile_ms(1.0),
        );
    }
    Ok(())
}

/// The what-if forecast (`POST /api/admin/program/forecast`) of a
/// doubled points rate and of a raised first tier, over 90 and 365 days,
/// `args.computes` times each, with a webhook every 50 ms meanwhile:
/// median and slowest (p95 of a handful is the slowest), and the slowest
/// acknowledgement while it ran.
async fn forecast(args: &AnalyticsArgs, running: &Running) -> anyhow::Result<()> {
    let program: serde_json::Value = running
        .get("/api/admin/program")
        .send()
        .await?
        .json()
        .await?;
    let mut doubled = program["settings"].clone();
    doubled["earning"]["points"] = serde_json::json!(2);
    let mut raised = program["settings"].clone();
    raised["tiers"]["levels"][0]["threshold"] = serde_json::json!("400.00");
    for days in [90, 365] {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let prober = tokio::spawn(probe_intake(
            running.server.addr,
            format!("forecast-{days}"),
            stop.clone(),
        ));
        let mut took = Vec::new();
        let mut last = serde_json::Value::Null;
        for i in 0..args.computes.max(1) * 2 {
            let settings = if i % 2 == 0 { &doubled } else { &raised };
            let t = Instant::now();
            let response = running
                .post("/api/admin/program/forecast")
                .json(&serde_json::json!({ "settings": settings, "days": days }))
                .send()
                .await?;
            if !response.status().is_success() {
                bail!("forecast answered {}", response.status());
            }
            last = response.json().await?;
            took.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        stop.store(true, Ordering::Relaxed);
        let acks = prober.await??;
        took.sort_by(f64::total_cmp);
        println!(
            "forecast {days} days: median {:.0} ms, slowest {:.0} ms of {} (target p95 under 2,000 ms); \
             {} customers, {} points issued in force against {} proposed; \
             {} webhooks sent meanwhile, slowest acknowledged in {:.0} ms",
            took[took.len() / 2],
            took[took.len() - 1],
            took.len(),
            last["customers"],
            last["current"]["points_issued"],
            last["proposed"]["points_issued"],
            acks.ok,
            acks.percentile_ms(1.0),
        );
    }
    Ok(())
}

/// Reorder reminders' learning round (`POST /api/admin/reorder/learn`:
/// every counted purchase of a product read, each product's interval
/// learned and kept), `args.computes` times, with a webhook every 50 ms
/// meanwhile: median and slowest, and the slowest acknowledgement.
async fn reorder_learning(args: &AnalyticsArgs, running: &Running) -> anyhow::Result<()> {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let prober = tokio::spawn(probe_intake(
        running.server.addr,
        "reorder".into(),
        stop.clone(),
    ));
    let mut took = Vec::new();
    let mut last = serde_json::Value::Null;
    for _ in 0..args.computes.max(1) {
        let t = Instant::now();
        let response = running.post("/api/admin/reorder/learn").send().await?;
        if !response.status().is_success() {
            bail!("reorder learning answered {}", response.status());
        }
        last = response.json().await?;
        took.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    stop.store(true, Ordering::Relaxed);
    let acks = prober.await??;
    took.sort_by(f64::total_cmp);
    let products = last["products"].as_array().map_or(0, Vec::len);
    let learned = last["products"].as_array().map_or(0, |p| {
        p.iter().filter(|p| !p["learned_days"].is_null()).count()
    });
    println!(
        "reorder learning: median {:.0} ms, slowest {:.0} ms of {}; {products} products bought again, \
         {learned} with an interval; {} webhooks sent meanwhile, slowest acknowledged in {:.0} ms",
        took[took.len() / 2],
        took[took.len() - 1],
        took.len(),
        acks.ok,
        acks.percentile_ms(1.0),
    );
    Ok(())
}

/// The segments report of each period computed on request (its stored
/// snapshot deleted first: what every request cost before snapshots)
/// against served from the snapshot that request stored, five times each.
async fn segments_report(running: &Running, store: &Store, shop_id: i64) -> anyhow::Result<()> {
    for period in ["30d", "90d", "365d"] {
        let path = format!("/api/admin/segments?period={period}");
        let (mut computed, mut stored) = (Vec::new(), Vec::new());
        for _ in 0..5 {
            sqlx::query("DELETE FROM segment_reports WHERE shop_id = $1")
                .bind(shop_id)
                .execute(store.writer())
                .await?;
            computed.push(timed(running, &path).await?.0);
            stored.push(timed(running, &path).await?.0);
        }
        computed.sort_unstable();
        stored.sort_unstable();
        println!(
            "segments report {period}: computed on request median {:.1} ms, \
             from its snapshot median {:.1} ms (of 5)",
            computed[2] as f64 / 1000.0,
            stored[2] as f64 / 1000.0,
        );
    }
    Ok(())
}

/// The CSV exports of the whole shop, first thing after the start (so the
/// peak RSS before them is the server's at rest): each streamed and
/// counted as it arrives, never held. Prints rows, bytes, rows/s, and the
/// server's peak RSS before and after: an export that held its table
/// would grow it by about its size.
async fn exports(running: &Running) -> anyhow::Result<()> {
    let today = chrono::Utc::now().date_naive();
    let from = today - chrono::Duration::days(3 * 365);
    let paths = [
        "/api/admin/exports/members.csv".to_owned(),
        format!("/api/admin/exports/ledger.csv?from={from}&to={today}"),
    ];
    for path in paths {
        let before = running.server.peak_rss_mb();
        let t = Instant::now();
        let mut response = running.get(&path).send().await?;
        if !response.status().is_success() {
            bail!("{path} failed: {}", response.status());
        }
        let (mut bytes, mut lines) = (0_usize, 0_usize);
        while let Some(chunk) = response.chunk().await? {
            bytes += chunk.len();
            lines += chunk.iter().filter(|b| **b == b'\n').count();
        }
        let elapsed = t.elapsed().as_secs_f64();
        let rows = lines.saturating_sub(1);
        println!(
            "export {path}: {rows} rows, {:.1} MB in {elapsed:.2} s ({:.0} rows/s); server peak RSS {before:.1} MB before, {:.1} MB after",
            bytes as f64 / 1e6,
            rows as f64 / elapsed,
            running.server.peak_rss_mb()
        );
    }
    Ok(())
}

/// One GET of `path`: its latency in µs and the body's size.
async fn timed(running: &Running, path: &str) -> anyhow::Result<(u64, usize)> {
    let request = running.get(path);
    let t = Instant::now();
    let response = request.send().await?;
    let ok = response.status().is_success();
    let bytes = response.bytes().await?.len();
    if !ok {
        bail!("{path} failed");
    }
    Ok((t.elapsed().as_micros() as u64, bytes))
}

/// Each of [`ROUTES`] `args.requests` times after a warm-up, interleaved;
/// prints the latency table.
async fn routes(args: &AnalyticsArgs, running: &Running) -> anyhow::Result<()> {
    for _ in 0..20 {
        for path in ROUTES {
            timed(running, path).await?;
        }
    }
    let mut results: Vec<RunResult> = ROUTES
        .iter()
        .map(|_| RunResult {
            ok: 0,
            failed: 0,
            elapsed: Duration::ZERO,
            latencies_us: Vec::with_capacity(args.requests),
        })
        .collect();
    let mut sizes = vec![0; ROUTES.len()];
    for _ in 0..args.requests {
        for (i, path) in ROUTES.iter().enumerate() {
            let (us, bytes) = timed(running, path).await?;
            results[i].latencies_us.push(us);
            results[i].ok += 1;
            sizes[i] = bytes;
        }
    }
    report::routes(args.requests, &ROUTES, &results, &sizes);
    Ok(())
}
