//! `advocate-bench history`: a shop's history imported while webhooks keep
//! arriving. The Shopify stand-in holds `--customers` customers and
//! `--orders` orders; Advocate (processing on) imports them through its
//! bulk queries, while an open loop offers `--rate` webhooks a second. The
//! same loop, run for ten seconds before the import, is the baseline of
//! intake latency on the same server and database.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use advocate::shopify::session_token::{admin_claims, sign_session_token};
use anyhow::bail;
use shopify_sim::{ShopifySim, SimConfig};

use crate::{
    cli::HistoryArgs,
    servers::{drop_database, fresh_database, start_advocate_with},
    traffic::{open_loop, Payload, RunResult},
    SECRET,
};

const SHOP: &str = "bench-history.myshopify.com";

pub async fn run(args: HistoryArgs) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (database_url, pg_cleanup) =
        fresh_database(args.server.database, &args.server.postgres_url, &dir).await?;
    let sim = ShopifySim::start(SimConfig::new("bench-client-id", SECRET))?;
    sim.install(SHOP);
    let made = Instant::now();
    sim.set_history(SHOP, args.customers, args.orders);
    let server = start_advocate_with(
        &database_url,
        args.server.workers,
        std::env::var("BENCH_INBOX_WORKERS")
            .ok()
            .and_then(|v| v.parse().ok()),
        &[
            ("SHOPIFY_API_ORIGIN", sim.origin().to_owned()),
            ("ADVOCATE_HISTORY_SECS", "1".into()),
            ("ADVOCATE_HISTORY_ON_INSTALL", "0".into()),
            ("ADVOCATE_OUTBOX_WORKERS", "0".into()),
            ("ADVOCATE_SCHEDULER_SECS", "0".into()),
            ("ADVOCATE_ANALYTICS_REFRESH_SECS", "0".into()),
        ],
    )
    .await?;
    let base = format!("http://{}", server.addr);
    let now = chrono::Utc::now().timestamp();
    let token = sign_session_token(
        SECRET,
        &admin_claims(SHOP, "bench-client-id", 1, now, 6 * 3600),
    );
    let http = reqwest::Client::new();
    let installed = http
        .get(format!("{base}/api/admin/shop"))
        .bearer_auth(&token)
        .send()
        .await?;
    if !installed.status().is_success() {
        bail!("installing the shop: {}", installed.status());
    }
    println!(
        "history import on {:?}: {} customers, {} orders in the stand-in (made in {:.1} s); \
         webhooks offered at {}/s",
        args.server.database,
        args.customers,
        args.orders,
        made.elapsed().as_secs_f64(),
        args.rate
    );
    let payload = Arc::new(Payload::orders_paid(true)?);
    let before = open_loop(server.addr, payload.clone(), "before", args.rate, 10, 8).await?;

    let started = Instant::now();
    let queued = http
        .post(format!("{base}/api/admin/history"))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "mode": "history" }))
        .send()
        .await?;
    if queued.status().as_u16() != 202 {
        bail!("starting the import: {}", queued.status());
    }
    let done = Arc::new(AtomicBool::new(false));
    let load = {
        let (done, payload, addr, rate) = (done.clone(), payload.clone(), server.addr, args.rate);
        tokio::spawn(async move {
            let mut during = RunResult::default();
            let mut round = 0;
            while !done.load(Ordering::Relaxed) {
                let part = open_loop(
                    addr,
                    payload.clone(),
                    &format!("during-{round}"),
                    rate,
                    5,
                    8,
                )
                .await?;
                during.ok += part.ok;
                during.failed += part.failed;
                during.latencies_us.extend(part.latencies_us);
                during.elapsed += part.elapsed;
                round += 1;
            }
            anyhow::Ok(during)
        })
    };
    let last = loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let last: serde_json::Value = http
            .get(format!("{base}/api/admin/history"))
            .bearer_auth(&token)
            .send()
            .await?
            .json()
            .await?;
        match last["import"]["status"].as_str() {
            Some("done") => break last,
            Some("failed") => bail!("the import failed: {last}"),
            _ => {}
        }
        if started.elapsed() > Duration::from_secs(3 * 3600) {
            bail!("the import did not end in 3 hours: {last}");
        }
    };
    let took = started.elapsed();
    done.store(true, Ordering::Relaxed);
    let during = load.await??;
    let imported = last["import"]["orders"].as_u64().unwrap_or(0);
    if imported != args.orders as u64 {
        bail!("{imported} orders imported of {}", args.orders);
    }
    println!(
        "  import: {:.1} s, {:.0} orders/s ({} customers, {} orders)",
        took.as_secs_f64(),
        args.orders as f64 / took.as_secs_f64(),
        last["import"]["customers"],
        imported
    );
    println!(
        "  webhooks before the import: {} acknowledged, p50/p99 {} ms",
        before.ok,
        before.p50_p99()
    );
    println!(
        "  webhooks during the import: {} acknowledged, {} refused, p50/p99 {} ms \
         (target p99 at 1,000/s: 50 ms); Advocate's peak RSS {:.0} MB",
        during.ok,
        during.failed,
        during.p50_p99(),
        server.peak_rss_mb()
    );
    drop(server);
    drop_database(pg_cleanup).await?;
    Ok(())
}
