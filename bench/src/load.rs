//! `advocate-bench load`: load on an Advocate that is already running (one
//! process, or several behind a load balancer: `scripts/cluster`).

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use advocate::{
    shopify::hmac::Signer,
    store::{DatabaseUrl, Store},
};
use anyhow::{bail, Context};

use crate::{
    cli::LoadArgs,
    traffic::{collect, Connection, LaneResult, Payload},
    webhooks::wait_processed,
};

/// Distinct paid orders (the loyalty engine's full work), each sent until a
/// 200: a refused or dropped request is sent again on a new connection.
pub async fn run(args: LoadArgs) -> anyhow::Result<()> {
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
            let lane = Lane {
                addr,
                next: next.clone(),
                payload: payload.clone(),
                run: args.run.clone(),
                requests: args.requests,
            };
            tokio::spawn(lane.send_until_acknowledged())
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

/// One connection's share of the run: it takes the next delivery until
/// `requests` are taken.
struct Lane {
    addr: SocketAddr,
    next: Arc<AtomicUsize>,
    payload: Arc<Payload>,
    run: String,
    requests: usize,
}

impl Lane {
    /// Sends each delivery it takes until a 200, on a new connection after
    /// an error; counts the answers that were not a 200 as failed.
    async fn send_until_acknowledged(self) -> LaneResult {
        let mut conn: Option<Connection> = None;
        let (mut ok, mut retried, mut lat) = (0, 0, Vec::new());
        loop {
            let id = self.next.fetch_add(1, Ordering::Relaxed);
            if id >= self.requests {
                break;
            }
            let request = self.payload.request(&self.run, id);
            let sent = Instant::now();
            loop {
                let answer = match conn.as_mut() {
                    Some(c) => c.send(&request).await,
                    None => match Connection::open(self.addr).await {
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
    }
}
