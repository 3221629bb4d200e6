//! The processing floor: the least any inbox processor must do for a stored
//! `orders/paid` delivery, run by the bench itself against a database whose
//! inbox Advocate's intake filled. Each worker claims a batch of hundreds
//! of ready rows under a lease (status and lease columns, as Advocate
//! claims), decompresses and parses each body, then in one transaction per
//! batch writes one points ledger row per delivery (multi-row statements)
//! and finishes the batch's inbox rows, clearing their bodies. No rules, no customer or order
//! rows, no balances: a bound for any design of the loyalty work, as the
//! HMAC+fsync journal is for intake.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use advocate::jobs::inbox::order_claim_rows;
use advocate::store::{
    inbox::{self, StoredBody},
    now_ms, DatabaseUrl, Store,
};
use anyhow::{bail, Context};
use serde::Deserialize;

/// Ledger rows per INSERT statement (8 parameters each).
const INSERT_ROWS: usize = 128;
/// How long a claim holds its rows.
const LEASE: Duration = Duration::from_secs(60);

/// What the floor did to a database's inbox.
pub struct FloorRun {
    pub processed: usize,
    pub elapsed: Duration,
    pub workers: usize,
    /// Rows each worker claims, and commits, together: as many as
    /// Advocate's claims take from a backlog of order events.
    pub batch: i64,
}

impl FloorRun {
    pub fn per_second(&self) -> f64 {
        self.processed as f64 / self.elapsed.as_secs_f64()
    }
}

/// Processes every queued row of the inbox at `database_url` with
/// `workers` workers, then checks each row is done with one ledger row.
pub async fn drain(database_url: &str, workers: usize) -> anyhow::Result<FloorRun> {
    let store = Store::connect(&DatabaseUrl::parse(database_url.to_owned())?, 8).await?;
    // What intake landed (SQLite) belongs in the inbox first.
    advocate::store::landing::move_landed(&store).await?;
    let queued: i64 = sqlx::query_scalar(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM webhook_inbox WHERE status = 'queued'",
    )
    .fetch_one(store.reader())
    .await?;
    let started = Instant::now();
    let tasks: Vec<_> = (0..workers)
        .map(|i| {
            let worker = Worker {
                store: store.clone(),
                owner: format!("floor-{i}"),
                shops: HashMap::new(),
            };
            tokio::spawn(worker.run())
        })
        .collect();
    let mut processed = 0;
    for task in tasks {
        processed += task.await??;
    }
    let elapsed = started.elapsed();
    let (done, ledger): (i64, i64) = sqlx::query_as(
        "SELECT CAST(COUNT(*) AS BIGINT), \
             (SELECT CAST(COUNT(*) AS BIGINT) FROM points_ledger WHERE reason = 'floor') \
         FROM webhook_inbox WHERE status = 'done' AND processed_by LIKE 'floor-%'",
    )
    .fetch_one(store.reader())
    .await?;
    store.close().await;
    if processed as i64 != queued || done != queued || ledger != queued {
        bail!("floor: {queued} queued, {processed} processed, {done} done, {ledger} ledger rows");
    }
    Ok(FloorRun {
        batch: order_claim_rows(store.dialect()),
        processed,
        elapsed,
        workers,
    })
}

/// The fields of an `orders/paid` body the floor reads.
#[derive(Deserialize)]
struct PaidOrder {
    id: i64,
    customer: Option<OrderCustomer>,
    total_price: String,
}

#[derive(Deserialize)]
struct OrderCustomer {
    id: i64,
}

/// A ledger row to write.
struct Entry {
    shop_id: i64,
    customer_id: i64,
    points: i64,
    order_id: i64,
}

struct Worker {
    store: Store,
    owner: String,
    /// Shop ids by domain, resolved once.
    shops: HashMap<String, i64>,
}

impl Worker {
    /// Claims and processes batches until none is ready; returns the rows
    /// processed.
    async fn run(mut self) -> anyhow::Result<usize> {
        let mut total = 0;
        loop {
            let rows = self.claim().await?;
            if rows.is_empty() {
                return Ok(total);
            }
            total += rows.len();
            self.process(rows).await?;
        }
    }

    /// Leases up to [`order_claim_rows`] ready rows with Advocate's own claim: the
    /// oldest queued rows whose lease is free, skipping rows another
    /// worker's claim has locked (PostgreSQL).
    async fn claim(&self) -> anyhow::Result<Vec<(i64, String, Vec<u8>)>> {
        let mut conn = self.store.writer().acquire().await?;
        let rows = inbox::claim(
            &mut conn,
            self.store.dialect(),
            &self.owner,
            now_ms() + LEASE.as_millis() as i64,
            order_claim_rows(self.store.dialect()),
        )
        .await
        .context("floor: claiming inbox rows")?;
        Ok(rows
            .into_iter()
            .map(|r| (r.id, r.shop_domain, r.body))
            .collect())
    }

    /// Decompresses and parses the batch, then writes its ledger rows and
    /// finishes its inbox rows in one transaction.
    async fn process(&mut self, rows: Vec<(i64, String, Vec<u8>)>) -> anyhow::Result<()> {
        let mut parsed = Vec::with_capacity(rows.len());
        for (id, domain, stored) in &rows {
            let body = StoredBody::decompress(stored).map_err(anyhow::Error::msg)?;
            let order: PaidOrder = serde_json::from_slice(&body)
                .with_context(|| format!("floor: inbox row {id} is not an order"))?;
            parsed.push((domain, order));
        }
        let now = now_ms();
        let mut entries = Vec::with_capacity(parsed.len());
        for (domain, order) in parsed {
            entries.push(Entry {
                shop_id: self.shop_id(domain, now).await?,
                customer_id: order.customer.map_or(0, |c| c.id),
                points: whole_units(&order.total_price)
                    .with_context(|| format!("floor: order {} has no valid total", order.id))?,
                order_id: order.id,
            });
        }
        let mut tx = self.store.begin().await?;
        for chunk in entries.chunks(INSERT_ROWS) {
            let sql = format!(
                "INSERT INTO points_ledger (shop_id, customer_id, points, kind, reason, \
                 source_key, occurred_at, created_at, order_id) VALUES {} \
                 ON CONFLICT (shop_id, source_key) DO NOTHING",
                placeholders(chunk.len(), 9, 1)
            );
            let mut query = sqlx::query(&sql);
            for e in chunk {
                query = query
                    .bind(e.shop_id)
                    .bind(e.customer_id)
                    .bind(e.points)
                    .bind("earn")
                    .bind("floor")
                    .bind(format!("order:{}", e.order_id))
                    .bind(now)
                    .bind(now)
                    .bind(e.order_id);
            }
            query.execute(&mut *tx).await?;
        }
        let sql = format!(
            "UPDATE webhook_inbox SET status = 'done', body = $1, processed_by = lease_owner, \
             processed_at = $2, lease_owner = NULL, lease_until = NULL \
             WHERE lease_owner = $3 AND id IN ({})",
            placeholders(1, rows.len(), 4).trim_matches(['(', ')'])
        );
        let mut query = sqlx::query(&sql)
            .bind(Vec::<u8>::new())
            .bind(now)
            .bind(&self.owner);
        for (id, _, _) in &rows {
            query = query.bind(*id);
        }
        let finished = query.execute(&mut *tx).await?.rows_affected();
        if finished != rows.len() as u64 {
            bail!(
                "floor: lost the lease on {} rows",
                rows.len() as u64 - finished
            );
        }
        // Bodies kept apart (migration 0032) go with their rows' own.
        let ids: Vec<i64> = rows.iter().map(|(id, _, _)| *id).collect();
        inbox::delete_bodies_apart(&mut tx, &ids).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The shop's id, the shop added (installed) if the database has none.
    async fn shop_id(&mut self, domain: &str, now: i64) -> anyhow::Result<i64> {
        if let Some(id) = self.shops.get(domain) {
            return Ok(*id);
        }
        sqlx::query(
            "INSERT INTO shops (domain, status, created_at, updated_at) \
             VALUES ($1, 'installed', $2, $2) ON CONFLICT (domain) DO NOTHING",
        )
        .bind(domain)
        .bind(now)
        .execute(self.store.writer())
        .await?;
        let id: i64 = sqlx::query_scalar("SELECT id FROM shops WHERE domain = $1")
            .bind(domain)
            .fetch_one(self.store.writer())
            .await?;
        self.shops.insert(domain.to_owned(), id);
        Ok(id)
    }
}

/// The whole currency units of a decimal amount ("404.95" is 404).
fn whole_units(amount: &str) -> Option<i64> {
    let whole = amount.split_once('.').map_or(amount, |(whole, _)| whole);
    whole.parse().ok()
}

/// `($n, …), (…)` placeholders for `rows` rows of `columns`, numbered from
/// `first`: both backends bind `$n` to the n-th value (SQLite by its name).
fn placeholders(rows: usize, columns: usize, first: usize) -> String {
    (0..rows)
        .map(|r| {
            let cells: Vec<String> = (0..columns)
                .map(|c| format!("${}", first + r * columns + c))
                .collect();
            format!("({})", cells.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}
