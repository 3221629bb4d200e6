//! `advocate-bench import`: members brought over from another loyalty
//! app. One shop with `--rows` customers (each with an email), and a CSV
//! of that many rows in Rivo's columns (email, points balance, birthday),
//! sent through the real HTTP server: the file read and mapped (inspect:
//! the floor, every byte received and parsed once), the dry run, the
//! import, and the same file again. A webhook every 50 ms meanwhile says
//! how long intake waits while the import writes.

use std::{
    fmt::Write as _,
    sync::{atomic::Ordering, Arc},
    time::Instant,
};

use advocate::{
    loyalty::identity,
    store::{now_ms, DatabaseUrl, Store},
};
use anyhow::bail;

use crate::{
    analytics::{start, Running, SHOP},
    cli::ImportArgs,
    servers::{drop_database, fresh_database},
    traffic::probe_intake,
};

/// Customers per multi-row INSERT of the seed.
const SEED_ROWS: usize = 500;

pub async fn run(args: ImportArgs) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (database_url, pg_cleanup) =
        fresh_database(args.server.database, &args.server.postgres_url, &dir).await?;
    let running = start(&args.server, &database_url).await?;
    let store = Store::connect(&DatabaseUrl::parse(database_url.clone())?, 4).await?;
    seed(&store, args.rows).await?;
    let file = csv(args.rows);
    println!(
        "members import on {:?}: {} customers, a file of {} rows ({:.1} MB)",
        args.server.database,
        args.rows,
        args.rows,
        file.len() as f64 / 1e6
    );
    let (inspect_ms, _) = timed(&running, "/api/admin/imports/members/inspect", &file).await?;
    let (dry_ms, dry) = timed(&running, "/api/admin/imports/members/dry-run", &file).await?;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let prober = tokio::spawn(probe_intake(
        running.server.addr,
        "import".into(),
        stop.clone(),
    ));
    let (import_ms, done) = timed(&running, "/api/admin/imports/members", &file).await?;
    stop.store(true, Ordering::Relaxed);
    let acks = prober.await??;
    let (again_ms, again) = timed(&running, "/api/admin/imports/members", &file).await?;
    if done["usable"] != dry["usable"] || dry["usable"].as_u64() != Some(args.rows as u64) {
        bail!("the import did not take every row: dry run {dry}, import {done}");
    }
    if again["already_imported"] != true {
        bail!("the same file was imported twice: {again}");
    }
    let entries: i64 = sqlx::query_scalar(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM points_ledger WHERE kind = 'import'",
    )
    .fetch_one(store.reader())
    .await?;
    let rate = |ms: f64| args.rows as f64 / (ms / 1000.0);
    println!(
        "  read and mapped (inspect, the floor): {:.2} s, {:.0} rows/s",
        inspect_ms / 1000.0,
        rate(inspect_ms)
    );
    println!(
        "  dry run: {:.2} s ({:.1}x the floor), {:.0} rows/s",
        dry_ms / 1000.0,
        dry_ms / inspect_ms,
        rate(dry_ms)
    );
    println!(
        "  import: {:.2} s ({:.1}x the floor), {:.0} rows/s, {} ledger entries; target under 30 s",
        import_ms / 1000.0,
        import_ms / inspect_ms,
        rate(import_ms),
        entries
    );
    println!(
        "  the same file again: {:.2} s (already imported, nothing changed)",
        again_ms / 1000.0
    );
    println!(
        "  during the import: {} webhooks acknowledged, p50 {:.1} ms, p99 {:.1} ms, slowest {:.1} ms; \
         Advocate's peak RSS {:.0} MB",
        acks.ok,
        acks.percentile_ms(0.5),
        acks.percentile_ms(0.99),
        acks.percentile_ms(1.0),
        running.server.peak_rss_mb()
    );
    store.close().await;
    drop(running);
    drop_database(pg_cleanup).await?;
    Ok(())
}

fn email(i: usize) -> String {
    format!("member{i}@example.com")
}

/// `rows` customers of the installed shop, each with an email.
async fn seed(store: &Store, rows: usize) -> anyhow::Result<()> {
    let shop_id: i64 = sqlx::query_scalar("SELECT id FROM shops WHERE domain = $1")
        .bind(SHOP)
        .fetch_one(store.writer())
        .await?;
    let now = now_ms();
    let ids: Vec<usize> = (0..rows).collect();
    for chunk in ids.chunks(SEED_ROWS) {
        let mut sql = String::from(
            "INSERT INTO customers (shop_id, customer_id, email_hash, created_at, updated_at) VALUES ",
        );
        for (n, i) in chunk.iter().enumerate() {
            let hash = identity::email(Some(&email(*i))).expect("an email");
            if n > 0 {
                sql.push(',');
            }
            write!(
                sql,
                "({shop_id}, {}, '{hash}', {now}, {now})",
                1_000_000 + i
            )?;
        }
        sqlx::query(&sql).execute(store.writer()).await?;
    }
    if store.dialect() == advocate::store::Dialect::Postgres {
        // What autovacuum does for a table this size soon after the load.
        sqlx::raw_sql("VACUUM ANALYZE customers")
            .execute(store.writer())
            .await?;
    }
    Ok(())
}

/// The file: Rivo's columns, one row per customer.
fn csv(rows: usize) -> String {
    let mut file = String::from("Email,Points Balance,Birthdate\r\n");
    for i in 0..rows {
        let _ = write!(
            file,
            "{},{},{:02}/{:02}/1990\r\n",
            email(i),
            100 + i % 5_000,
            1 + i % 12,
            1 + i % 28
        );
    }
    file
}

/// A POST of the file, its time in ms and its JSON answer.
async fn timed(
    running: &Running,
    path: &str,
    file: &str,
) -> anyhow::Result<(f64, serde_json::Value)> {
    let t = Instant::now();
    let response = running
        .post(path)
        .header("Content-Type", "text/csv")
        .body(file.to_owned())
        .send()
        .await?;
    let status = response.status();
    let body: serde_json::Value = response.json().await?;
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    if !status.is_success() {
        bail!("{path} answered {status}: {body}");
    }
    Ok((ms, body))
}
