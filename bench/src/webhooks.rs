//! `advocate-bench webhooks`: webhook intake and inbox processing, Advocate
//! against the HMAC-only ceiling and the HMAC-and-fsync floor for intake,
//! and against the processing floor ([`crate::floor`]) for processing,
//! with intake running and on a stored backlog.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use advocate::store::{DatabaseUrl, Store};
use anyhow::bail;

use crate::{
    cli::{Backend, WebhookArgs},
    floor::{self, FloorRun},
    report,
    servers::{fresh_database, start_advocate, start_baseline, start_node_stack, Database, Server},
    traffic::{closed_loop, open_loop, Payload, RunResult},
};

/// One server's figures.
pub struct Measured {
    pub paced: RunResult,
    /// Its bursts, in the order they ran (one per round; one for the
    /// HMAC-only ceiling).
    pub bursts: Vec<Burst>,
    pub rss_mb: f64,
}

/// One closed-loop burst of a server.
pub struct Burst {
    pub throughput: RunResult,
    /// Server CPU ms per acknowledged delivery.
    pub cpu_ms_per_delivery: f64,
    /// Advocate's deliveries of this burst over the time from its start to
    /// the inbox holding none queued.
    pub processed_per_s: Option<f64>,
}

impl Measured {
    /// The burst of median acknowledged/s (the lower middle one of an
    /// even number).
    pub fn burst(&self) -> &Burst {
        let mut bursts: Vec<&Burst> = self.bursts.iter().collect();
        bursts.sort_by(|a, b| {
            a.throughput
                .per_second()
                .total_cmp(&b.throughput.per_second())
        });
        bursts[(bursts.len() - 1) / 2]
    }

    /// The median of the bursts' processed/s.
    pub fn processed_per_s(&self) -> Option<f64> {
        median(
            self.bursts
                .iter()
                .filter_map(|b| b.processed_per_s)
                .collect(),
        )
    }
}

/// The middle value (the lower middle one of an even number).
pub fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    values.get(values.len().checked_sub(1)? / 2).copied()
}

/// `advocate-bench webhooks`: the ceiling, the floor and Advocate, each
/// paced and then in a burst, then more bursts of the floor and Advocate
/// in turn (`--rounds`), and the table comparing them.
pub async fn run(args: WebhookArgs) -> anyhow::Result<()> {
    let payload = Arc::new(Payload::orders_paid(args.distinct_orders)?);
    println!(
        "webhook intake: {} s at {}/s offered, then {} deliveries as fast as {} connections go, {} round(s); {}-byte orders/paid bodies",
        args.rate_seconds,
        args.rate,
        args.requests,
        args.concurrency,
        args.rounds,
        payload.body.len()
    );

    // The baselines first, then Advocate, in the same run on the same machine.
    let dir = tempfile::tempdir()?;
    let baseline = {
        let server = start_baseline(args.server.workers, None).await?;
        measure_server(&args, &server, &payload, "base").await?
    };
    let node_stack = match &args.node_stack {
        Some(node_dir) => {
            let server = start_node_stack(node_dir, &dir.path().join("node-stack.db")).await?;
            let mut measured = measure_server(&args, &server, &payload, "node").await?;
            measured.rss_mb = server.peak_rss_mb();
            Some(measured)
        }
        None => None,
    };
    // The floor's server stays up for the later rounds.
    let floor_server =
        start_baseline(args.server.workers, Some(&dir.path().join("journal"))).await?;
    let mut durable = measure_server(&args, &floor_server, &payload, "durable").await?;

    let (database_url, pg_cleanup) =
        fresh_database(args.server.database, &args.server.postgres_url, &dir).await?;
    let advocate = {
        let server = start_advocate(&database_url, args.server.workers, args.inbox_workers).await?;
        let store = Store::connect(&DatabaseUrl::parse(database_url.clone())?, 2).await?;
        let processing = args.inbox_workers != Some(0);
        // Steady state first, on a fresh server; then the bursts as fast as
        // the connections go, each after one of the floor's.
        let paced = paced_run(&args, &server, &payload, "adv").await?;
        if processing {
            wait_processed(&store, processing_limit(paced.ok)).await?;
        }
        let mut bursts = Vec::new();
        for round in 1..=args.rounds {
            if round > 1 {
                let run = format!("durable-{round}");
                durable
                    .bursts
                    .push(burst_run(&args, &floor_server, &payload, &run).await?);
            }
            let run = if round == 1 {
                "adv".to_owned()
            } else {
                format!("adv-{round}")
            };
            let started = Instant::now();
            let mut burst = burst_run(&args, &server, &payload, &run).await?;
            if processing {
                let processed_at =
                    wait_processed(&store, processing_limit(burst.throughput.ok)).await?;
                burst.processed_per_s =
                    Some(args.requests as f64 / (processed_at - started).as_secs_f64());
            }
            bursts.push(burst);
        }
        if !processing {
            // Nothing is processed: what is still in intake's journal
            // (SQLite) is moved into the inbox here, to be counted there.
            advocate::store::landing::move_landed(&store).await?;
        }
        let rss_mb = server.peak_rss_mb();
        let acknowledged = paced.ok + bursts.iter().map(|b| b.throughput.ok).sum::<usize>();
        verify_exactly_once(&store, acknowledged).await?;
        store.close().await;
        Measured {
            paced,
            bursts,
            rss_mb,
        }
    };
    durable.rss_mb = floor_server.peak_rss_mb();
    drop(floor_server);
    if let Some((admin, name)) = pg_cleanup {
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&admin)
            .await?;
    }

    let processing = measure_processing(&args, &dir).await?;

    report::webhooks(
        &args,
        &baseline,
        &durable,
        &advocate,
        node_stack.as_ref(),
        processing.intake_only_per_s,
    );
    report::processing(&args, &advocate, &processing);
    Ok(())
}

/// The processing figures besides the run with intake: the floor on the
/// same number of stored deliveries, and a backlog drained by Advocate and
/// by the floor.
pub struct Processing {
    /// Advocate's inbox workers ("1", or "default" and what that is).
    pub advocate_workers: String,
    /// The floor on `--requests` deliveries stored beforehand.
    pub floor: FloorRun,
    /// The most memory an Advocate taking deliveries in with processing
    /// off held, MB.
    pub intake_only_rss_mb: f64,
    /// Acknowledged/s of Advocate's intake with processing off, on
    /// `--requests` deliveries in closed loop (the burst's settings).
    pub intake_only_per_s: f64,
    pub backlog: Option<Backlog>,
}

/// A backlog of stored deliveries, drained.
pub struct Backlog {
    pub deliveries: usize,
    /// From starting Advocate to no row left queued.
    pub advocate: Duration,
    pub advocate_rss_mb: f64,
    /// The floor on a copy of the same backlog (None if it could not be
    /// copied).
    pub floor: Option<FloorRun>,
}

/// Inbox workers of Advocate when none are configured.
fn default_inbox_workers(backend: Backend) -> usize {
    advocate::app::default_inbox_workers(match backend {
        Backend::Sqlite => advocate::store::Dialect::Sqlite,
        Backend::Postgres => advocate::store::Dialect::Postgres,
    })
}

/// The floor, then the backlog, each on databases of their own.
async fn measure_processing(
    args: &WebhookArgs,
    dir: &tempfile::TempDir,
) -> anyhow::Result<Processing> {
    let backend = args.server.database;
    let workers = args.inbox_workers.filter(|&n| n > 0);
    let floor_workers = workers.unwrap_or(default_inbox_workers(backend));
    let advocate_workers = match workers {
        Some(n) => n.to_string(),
        None => format!("{} (default)", default_inbox_workers(backend)),
    };

    let database = Database::fresh(backend, &args.server.postgres_url, dir, "floor").await?;
    let (mut intake_only_rss_mb, intake_only_per_s) =
        store_deliveries(args, &database, args.requests, "floor").await?;
    let floor = floor::drain(&database.url, floor_workers).await?;
    database.remove().await?;
    println!(
        "processing floor: {} stored deliveries in {:.2} s with {floor_workers} worker(s)",
        floor.processed,
        floor.elapsed.as_secs_f64()
    );

    let backlog = if args.backlog == 0 {
        None
    } else {
        let database = Database::fresh(backend, &args.server.postgres_url, dir, "backlog").await?;
        let (rss, _) = store_deliveries(args, &database, args.backlog, "backlog").await?;
        intake_only_rss_mb = intake_only_rss_mb.max(rss);
        let copy = match database.copy(dir, "backlog-floor").await {
            Ok(copy) => Some(copy),
            Err(e) => {
                println!("backlog: no copy for the floor ({e:#}); the floor skips it");
                None
            }
        };
        let (advocate, advocate_rss_mb) = advocate_drain(args, &database, workers).await?;
        database.remove().await?;
        println!(
            "backlog: Advocate processed {} stored deliveries in {:.2} s",
            args.backlog,
            advocate.as_secs_f64()
        );
        let floor = match copy {
            Some(copy) => {
                let run = floor::drain(&copy.url, floor_workers).await?;
                copy.remove().await?;
                println!(
                    "backlog: the floor processed them in {:.2} s",
                    run.elapsed.as_secs_f64()
                );
                Some(run)
            }
            None => None,
        };
        Some(Backlog {
            deliveries: args.backlog,
            advocate,
            advocate_rss_mb,
            floor,
        })
    };
    Ok(Processing {
        advocate_workers,
        floor,
        intake_only_rss_mb,
        intake_only_per_s,
        backlog,
    })
}

/// Stores `count` distinct paid orders in the inbox of `database` through
/// Advocate's own intake, with its inbox workers off; stops it. Returns
/// its peak RSS, MB, and the deliveries it acknowledged per second.
async fn store_deliveries(
    args: &WebhookArgs,
    database: &Database,
    count: usize,
    run: &str,
) -> anyhow::Result<(f64, f64)> {
    let payload = Arc::new(Payload::orders_paid(true)?);
    let server = start_advocate(&database.url, args.server.workers, Some(0)).await?;
    let sent = closed_loop(server.addr, payload, run, count, args.concurrency).await?;
    let rss_mb = server.peak_rss_mb();
    server.stop().await?;
    println!(
        "{run}: {} deliveries stored by Advocate's intake at {:.0}/s, processing off",
        sent.ok,
        sent.per_second()
    );
    if sent.ok != count {
        bail!(
            "{run}: {} of {count} deliveries were not acknowledged",
            sent.failed
        );
    }
    Ok((rss_mb, sent.per_second()))
}

/// Starts Advocate with its inbox workers on a stored backlog and times it
/// until no row is queued; checks every row ended done. Returns the time
/// and Advocate's peak RSS, MB.
async fn advocate_drain(
    args: &WebhookArgs,
    database: &Database,
    workers: Option<usize>,
) -> anyhow::Result<(Duration, f64)> {
    let limit = processing_limit(args.backlog);
    let started = Instant::now();
    let server = start_advocate(&database.url, args.server.workers, workers).await?;
    let store = Store::connect(&DatabaseUrl::parse(database.url.clone())?, 2).await?;
    let elapsed = wait_processed(&store, limit).await? - started;
    let rss_mb = server.peak_rss_mb();
    server.stop().await?;
    let (rows, done): (i64, i64) = sqlx::query_as(
        "SELECT CAST(COUNT(*) AS BIGINT), \
             CAST(COALESCE(SUM(CASE WHEN status = 'done' THEN 1 ELSE 0 END), 0) AS BIGINT) \
         FROM webhook_inbox",
    )
    .fetch_one(store.reader())
    .await?;
    store.close().await;
    if rows as usize != args.backlog || done != rows {
        bail!("backlog: {} stored, {rows} rows, {done} done", args.backlog);
    }
    Ok((elapsed, rss_mb))
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
) -> anyhow::Result<Burst> {
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
    Ok(Burst {
        throughput,
        cpu_ms_per_delivery,
        processed_per_s: None,
    })
}

/// A baseline server's figures: the paced run, then the first burst.
async fn measure_server(
    args: &WebhookArgs,
    server: &Server,
    payload: &Arc<Payload>,
    run: &str,
) -> anyhow::Result<Measured> {
    let paced = paced_run(args, server, payload, run).await?;
    let burst = burst_run(args, server, payload, run).await?;
    Ok(Measured {
        paced,
        bursts: vec![burst],
        rss_mb: server.peak_rss_mb(),
    })
}

/// How long `deliveries` may take to be processed before the run fails:
/// 20/s at least (a loaded machine on PostgreSQL), never under 5 minutes.
fn processing_limit(deliveries: usize) -> Duration {
    Duration::from_secs((deliveries as u64 / 20).max(300))
}

/// Waits until no row is left queued; returns when that was first seen.
pub async fn wait_processed(store: &Store, limit: Duration) -> anyhow::Result<Instant> {
    let deadline = Instant::now() + limit;
    loop {
        // One row is enough to know (cheap however deep the backlog).
        let queued: Option<i64> =
            sqlx::query_scalar("SELECT id FROM webhook_inbox WHERE status = 'queued' LIMIT 1")
                .fetch_optional(store.reader())
                .await?;
        // Deliveries still in intake's journal (SQLite) are queued too.
        if queued.is_none() && advocate::store::landing::waiting(store, None).await?.0 == 0 {
            return Ok(Instant::now());
        }
        if Instant::now() > deadline {
            let queued: i64 = sqlx::query_scalar(
                "SELECT CAST(COUNT(*) AS BIGINT) FROM webhook_inbox WHERE status = 'queued'",
            )
            .fetch_one(store.reader())
            .await?;
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
