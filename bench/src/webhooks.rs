//! `advocate-bench webhooks`: webhook intake and inbox processing, Advocate
//! against the HMAC-only ceiling and the HMAC-and-fsync floor.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use advocate::store::{DatabaseUrl, Store};
use anyhow::bail;

use crate::{
    cli::WebhookArgs,
    report,
    servers::{fresh_database, start_advocate, start_baseline, Server},
    traffic::{closed_loop, open_loop, Payload, RunResult},
};

/// One server's figures.
pub struct Measured {
    /// Server CPU seconds per 1,000 acknowledged deliveries (throughput run).
    pub cpu_ms_per_delivery: f64,
    pub throughput: RunResult,
    pub paced: RunResult,
    pub processed_per_s: Option<f64>,
    pub rss_mb: f64,
}

/// `advocate-bench webhooks`: the ceiling, the floor and Advocate, each
/// paced and then in a burst, and the table comparing them.
pub async fn run(args: WebhookArgs) -> anyhow::Result<()> {
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

    report::webhooks(&args, &baseline, &durable, &advocate);
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

/// Waits until no row is left queued; returns when that was first seen.
pub async fn wait_processed(store: &Store, limit: Duration) -> anyhow::Result<Instant> {
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

/// Checks the inbox holds each acknowledged delivery once.
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
