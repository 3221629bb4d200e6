//! The history import: a shop's customers, then its orders, read from
//! Shopify with bulk queries and fed through the same engine as webhooks.
//!
//! One shop's import is worked on under the lease `history:<shop id>`, so
//! one process does it. Each stage starts its bulk query, waits for it on
//! Shopify's side (the loop comes back), then streams the result, applying
//! it in transactions of [`CUSTOMER_CHUNK`] customers or [`ORDER_CHUNK`]
//! orders that also record how many lines are applied: a process stopped
//! half-way resumes after the last committed line, and a line applied twice
//! (a webhook for the same order meanwhile, an import run again) changes
//! nothing, because orders merge by id as webhook deliveries do.

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use serde_json::Value;
use tokio::sync::watch;

use crate::{
    engine::{self, batch::Taken, orders::HistoryRule},
    shopify::{
        admin::{
            api::{AdminApi, AdminApiError},
            bulk::{self, JsonLines},
            client::ShopifyError,
            HISTORY_CUSTOMERS,
        },
        payloads::history::{self as lines, HistoryOrders},
        ShopDomain,
    },
    store::{
        history::{self, status, HistoryImport},
        now_ms, schedule, shops, Store,
    },
};

/// Customers applied per transaction.
pub const CUSTOMER_CHUNK: usize = 500;
/// Orders applied per transaction.
pub const ORDER_CHUNK: usize = 200;
/// Orders (or customers) per transaction while webhooks are arriving: the
/// import gives way to intake, as inbox processing does, and holds the
/// database for short turns.
pub const BUSY_CHUNK: usize = 20;
/// The longest a chunk waits for intake to have nothing pending.
const MAX_DEFER: Duration = Duration::from_millis(50);
/// How long a lease lasts without being renewed, unless set
/// ([`HistoryImporter::lease`]).
const LEASE: Duration = Duration::from_secs(120);
/// The day the orders query reads from: every order the shop has.
const ALL_ORDERS_SINCE: (i32, u32, u32) = (2000, 1, 1);

/// Lines read between two turns given to the runtime's other tasks: a
/// buffered result is read without ever waiting, and the runtime's one
/// thread also runs inbox processing, the outbox and the checkpoints.
const LINES_PER_TURN: u64 = 64;

async fn share_the_runtime(line: u64) {
    if line.is_multiple_of(LINES_PER_TURN) {
        tokio::task::yield_now().await;
    }
}

/// A round's chunks so far and when its lease was last renewed.
struct Pace {
    chunks: usize,
    renewed: std::time::Instant,
}

impl Default for Pace {
    fn default() -> Self {
        Self {
            chunks: 0,
            renewed: std::time::Instant::now(),
        }
    }
}

/// How reading a stage's result ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Read {
    All,
    Paused,
    LeaseLost,
}

/// Where an import stands after [`HistoryImporter::work`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// The shop has no import to work on.
    Idle,
    /// Another process holds the shop's lease.
    Busy,
    /// A bulk query runs on Shopify's side: come back later.
    Waiting,
    /// The round's share of chunks is applied; the next round goes on.
    Paused,
    Done,
    Failed,
}

pub struct HistoryImporter {
    store: Store,
    api: Arc<AdminApi>,
    http: reqwest::Client,
    owner: String,
    /// Chunks applied per [`HistoryImporter::work`] before it pauses (the
    /// lease is handed back between rounds).
    chunks_per_round: usize,
    /// How long the lease lasts unless renewed; it is renewed every quarter
    /// of that while a result is read.
    lease: Duration,
}

impl HistoryImporter {
    pub fn new(store: Store, api: Arc<AdminApi>, owner: String) -> Self {
        Self {
            store,
            api,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(600))
                .build()
                .unwrap_or_default(),
            owner,
            chunks_per_round: 500,
            lease: LEASE,
        }
    }

    /// Holds the lease for `lease` at a time (at least a second).
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease.max(Duration::from_secs(1));
        self
    }

    fn lease_ms(&self) -> i64 {
        i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX)
    }

    /// Pauses after `chunks` chunks per round (at least one).
    pub fn chunks_per_round(mut self, chunks: usize) -> Self {
        self.chunks_per_round = chunks.max(1);
        self
    }

    /// Works on every open import every `every` until stopped.
    pub async fn run(self, every: Duration, mut stopped: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while !*stopped.borrow() {
            tokio::select! {
                _ = tick.tick() => {
                    if let Err(e) = self.work_all().await {
                        tracing::warn!(error = format!("{e:#}"), "history import failed; will retry");
                    }
                }
                _ = stopped.changed() => {}
            }
        }
    }

    /// One round over the shops with an open import.
    pub async fn work_all(&self) -> anyhow::Result<()> {
        let shops = {
            let mut conn = self.store.reader().acquire().await?;
            history::open_shops(&mut conn).await?
        };
        for shop_id in shops {
            let progress = self.work(shop_id).await?;
            tracing::debug!(shop_id, ?progress, "history import");
        }
        Ok(())
    }

    /// Works on the shop's import, under its lease, until it waits for
    /// Shopify or ends.
    pub async fn work(&self, shop_id: i64) -> anyhow::Result<Progress> {
        let lease = format!("history:{shop_id}");
        let now = now_ms();
        {
            let mut tx = self.store.begin().await?;
            let taken = schedule::take(
                &mut tx,
                &lease,
                &self.owner,
                now,
                now + self.lease_ms(),
                now,
            )
            .await?;
            tx.commit().await?;
            if taken.is_none() {
                return Ok(Progress::Busy);
            }
        }
        let result = self.work_leased(shop_id, &lease).await;
        let mut tx = self.store.begin().await?;
        schedule::finish(&mut tx, &lease, &self.owner, now_ms()).await?;
        tx.commit().await?;
        result
    }

    async fn work_leased(&self, shop_id: i64, lease: &str) -> anyhow::Result<Progress> {
        loop {
            let (import, domain) = {
                let mut conn = self.store.reader().acquire().await?;
                let Some(import) = history::find(&mut conn, shop_id).await? else {
                    return Ok(Progress::Idle);
                };
                let domain = shops::find_by_id(&mut conn, shop_id)
                    .await?
                    .map(|shop| shop.domain);
                (import, domain)
            };
            match import.status.as_str() {
                status::DONE => return Ok(Progress::Done),
                status::FAILED => return Ok(Progress::Failed),
                _ => {}
            }
            let Some(shop) = domain.and_then(|d| ShopDomain::parse(&d).ok()) else {
                self.fail(&import, "the shop is not installed").await?;
                return Ok(Progress::Failed);
            };
            if import.status == status::QUEUED {
                self.enter(&import, status::CUSTOMERS, None).await?;
                continue;
            }
            let Some(bulk_id) = import.bulk_id.clone() else {
                let query = if import.status == status::CUSTOMERS {
                    HISTORY_CUSTOMERS.text.to_owned()
                } else {
                    let (y, m, d) = ALL_ORDERS_SINCE;
                    bulk::history_orders_query(
                        chrono::NaiveDate::from_ymd_opt(y, m, d).expect("a valid date"),
                    )
                };
                match bulk::start_bulk_query(&self.api, &shop, &query).await {
                    Ok(id) => {
                        self.enter(&import, &import.status, Some(&id)).await?;
                        continue;
                    }
                    // Another bulk query of the app runs for the shop (one
                    // at a time): wait for it.
                    Err(AdminApiError::Shopify(ShopifyError::UserErrors(_))) => {
                        return Ok(Progress::Waiting)
                    }
                    Err(e) => return Err(e).context("starting a bulk query"),
                }
            };
            if import.objects.is_none() {
                // Shopify no longer has the query, or no longer its result
                // (kept for seven days): nothing of this stage is read yet,
                // so its query starts again instead of being asked about
                // forever.
                let query = match bulk::bulk_query_status(&self.api, &shop, &bulk_id)
                    .await
                    .context("reading a bulk query's status")?
                {
                    Some(query) if !query.has_expired() => query,
                    gone => {
                        tracing::warn!(
                            shop_id,
                            run = import.run,
                            stage = %import.status,
                            why = if gone.is_some() { "expired" } else { "not found" },
                            "a history import's bulk query is gone: starting it again"
                        );
                        self.enter(&import, &import.status, None).await?;
                        continue;
                    }
                };
                if query.is_running() {
                    return Ok(Progress::Waiting);
                }
                if query.status != "COMPLETED" {
                    let why = format!(
                        "Shopify's bulk query ended {} ({})",
                        query.status,
                        query.error_code.as_deref().unwrap_or("no error code")
                    );
                    self.fail(&import, &why).await?;
                    return Ok(Progress::Failed);
                }
                let mut tx = self.store.begin().await?;
                history::result_ready(
                    &mut tx,
                    shop_id,
                    import.run,
                    query.url.as_deref(),
                    query.object_count as i64,
                )
                .await?;
                tx.commit().await?;
                continue;
            }
            if let Some(url) = import.url.as_deref() {
                let read = if import.status == status::CUSTOMERS {
                    self.read_customers(&import, url, lease).await
                } else {
                    self.read_orders(&import, url, lease).await
                };
                let read = match read {
                    // The result's signed URL has lapsed (Shopify keeps a
                    // result for seven days), or the file is gone: the
                    // stage's query starts again and its new result is
                    // read from the start. Lines applied already change
                    // nothing when applied again, and the stage's count
                    // starts over with them.
                    Err(e) if result_gone(&e) => {
                        tracing::warn!(
                            shop_id,
                            run = import.run,
                            stage = %import.status,
                            error = %e,
                            "a history import's bulk result can no longer be fetched: starting its query again"
                        );
                        self.enter(&import, &import.status, None).await?;
                        continue;
                    }
                    read => read?,
                };
                match read {
                    Read::All => {}
                    // The lease was lost: another process goes on.
                    Read::LeaseLost => return Ok(Progress::Busy),
                    Read::Paused => return Ok(Progress::Paused),
                }
            }
            if import.status == status::CUSTOMERS {
                self.enter(&import, status::ORDERS, None).await?;
            } else {
                let mut tx = self.store.begin().await?;
                history::finish(&mut tx, shop_id, import.run, None, now_ms()).await?;
                tx.commit().await?;
                tracing::info!(shop_id, run = import.run, "history import done");
                return Ok(Progress::Done);
            }
        }
    }

    async fn enter(
        &self,
        import: &HistoryImport,
        stage: &str,
        bulk_id: Option<&str>,
    ) -> anyhow::Result<()> {
        let mut tx = self.store.begin().await?;
        history::enter_stage(
            &mut tx,
            import.shop_id,
            import.run,
            stage,
            bulk_id,
            now_ms(),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn fail(&self, import: &HistoryImport, why: &str) -> anyhow::Result<()> {
        tracing::warn!(
            shop_id = import.shop_id,
            run = import.run,
            why,
            "history import failed"
        );
        let mut tx = self.store.begin().await?;
        history::finish(&mut tx, import.shop_id, import.run, Some(why), now_ms()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Renews the lease; false when it was lost.
    async fn renew(&self, lease: &str) -> anyhow::Result<bool> {
        let mut tx = self.store.begin().await?;
        let kept = schedule::renew(&mut tx, lease, &self.owner, now_ms() + self.lease_ms()).await?;
        tx.commit().await?;
        Ok(kept)
    }

    /// Whether to give way to webhooks arriving now: only where intake
    /// waits for the same write lock (PostgreSQL's row locks and disk, a
    /// SQLite database in memory). Intake on a SQLite file commits to its
    /// journal and never waits for the import.
    fn gives_way(&self) -> bool {
        !self.store.intake_is_apart() && self.store.intake_gate().is_busy()
    }

    /// How many to apply in the next transaction: `idle`, or few while
    /// webhooks are arriving.
    fn chunk_size(&self, idle: usize) -> usize {
        if self.gives_way() {
            BUSY_CHUNK
        } else {
            idle
        }
    }

    /// A transaction, once intake has nothing waiting (or after
    /// [`MAX_DEFER`]).
    async fn begin(&self) -> anyhow::Result<crate::store::Tx> {
        if !self.store.intake_is_apart() {
            self.store.intake_gate().wait_idle(MAX_DEFER).await;
        }
        Ok(self.store.begin().await?)
    }

    /// After a chunk that held the database for `held`: whether to go on.
    /// The lease is renewed every quarter of its length; while webhooks are
    /// arriving, the import waits as long as its chunk held the database,
    /// so intake has it at least half the time.
    async fn go_on(
        &self,
        lease: &str,
        pace: &mut Pace,
        held: Duration,
    ) -> anyhow::Result<Option<Read>> {
        pace.chunks += 1;
        if pace.renewed.elapsed() >= self.lease / 4 {
            if !self.renew(lease).await? {
                return Ok(Some(Read::LeaseLost));
            }
            pace.renewed = std::time::Instant::now();
        }
        if self.gives_way() {
            tokio::time::sleep(held).await;
        }
        Ok((pace.chunks >= self.chunks_per_round).then_some(Read::Paused))
    }

    /// Applies the customers after the lines already applied.
    async fn read_customers(
        &self,
        import: &HistoryImport,
        url: &str,
        lease: &str,
    ) -> anyhow::Result<Read> {
        let mut lines = JsonLines::open(&self.http, url).await?;
        let mut chunk = Vec::with_capacity(CUSTOMER_CHUNK);
        let mut last = import.lines_done as u64;
        let mut pace = Pace::default();
        while let Some((number, object)) = lines.next().await? {
            share_the_runtime(number).await;
            if number <= import.lines_done as u64 {
                continue;
            }
            last = number;
            match lines::customer(&object) {
                Ok(event) => chunk.push(event),
                Err(why) => tracing::warn!(
                    shop_id = import.shop_id,
                    line = number,
                    why,
                    "history: a customer line skipped"
                ),
            }
            if chunk.len() >= self.chunk_size(CUSTOMER_CHUNK) {
                let held = self
                    .apply_customers(import, std::mem::take(&mut chunk), last)
                    .await?;
                if let Some(stop) = self.go_on(lease, &mut pace, held).await? {
                    return Ok(stop);
                }
            }
        }
        self.apply_customers(import, chunk, last).await?;
        Ok(Read::All)
    }

    async fn apply_customers(
        &self,
        import: &HistoryImport,
        customers: Vec<engine::customers::CustomerEvent>,
        lines_done: u64,
    ) -> anyhow::Result<Duration> {
        let now = now_ms();
        let mut tx = self.begin().await?;
        let held = std::time::Instant::now();
        for event in &customers {
            engine::customers::save(&mut tx, import.shop_id, event, now).await?;
        }
        history::advance(
            &mut tx,
            import.shop_id,
            import.run,
            lines_done as i64,
            (customers.len() as i64, 0),
        )
        .await?;
        tx.commit().await?;
        Ok(held.elapsed())
    }

    /// Applies the orders after the lines already applied, each once its
    /// line items are gathered.
    async fn read_orders(
        &self,
        import: &HistoryImport,
        url: &str,
        lease: &str,
    ) -> anyhow::Result<Read> {
        let mut pace = Pace::default();
        let rule = HistoryRule {
            cutoff: import.cutoff,
            earns_since: import.points_since,
        };
        let mut lines = JsonLines::open(&self.http, url).await?;
        let mut gather = HistoryOrders::default();
        let mut chunk: Vec<(Value, Vec<Value>)> = Vec::with_capacity(ORDER_CHUNK);
        let mut last = import.lines_done as u64;
        while let Some((number, object)) = lines.next().await? {
            share_the_runtime(number).await;
            if number <= import.lines_done as u64 {
                continue;
            }
            let completed = gather
                .push(object)
                .map_err(|why| anyhow::anyhow!("line {number} of the orders: {why}"))?;
            if let Some(order) = completed {
                chunk.push(order);
                if chunk.len() >= self.chunk_size(ORDER_CHUNK) {
                    // Every line before this one belongs to the chunk.
                    let held = self
                        .apply_orders(import, rule, std::mem::take(&mut chunk), number - 1)
                        .await?;
                    if let Some(stop) = self.go_on(lease, &mut pace, held).await? {
                        return Ok(stop);
                    }
                }
            }
            last = number;
        }
        chunk.extend(gather.finish());
        self.apply_orders(import, rule, chunk, last).await?;
        Ok(Read::All)
    }

    async fn apply_orders(
        &self,
        import: &HistoryImport,
        rule: HistoryRule,
        orders: Vec<(Value, Vec<Value>)>,
        lines_done: u64,
    ) -> anyhow::Result<Duration> {
        let mut events = Vec::with_capacity(orders.len());
        for (order, items) in &orders {
            match lines::order(order, items, rule) {
                Ok(event) => events.push(event),
                Err(why) => {
                    tracing::warn!(shop_id = import.shop_id, why, "history: an order skipped")
                }
            }
        }
        let applied = events.len() as i64;
        let now = now_ms();
        let mut tx = self.begin().await?;
        let held = std::time::Instant::now();
        let taken = engine::batch::apply(&mut tx, import.shop_id, events, now).await?;
        for event in taken {
            if let Taken::Deferred(event) = event {
                engine::orders::apply(&mut tx, import.shop_id, event, now).await?;
            }
        }
        history::advance(
            &mut tx,
            import.shop_id,
            import.run,
            lines_done as i64,
            (0, applied),
        )
        .await?;
        tx.commit().await?;
        Ok(held.elapsed())
    }
}

/// Whether reading a bulk result failed because the result can no longer
/// be fetched at its URL (not for a passing fault, which is retried).
fn result_gone(error: &anyhow::Error) -> bool {
    matches!(
        error.downcast_ref::<bulk::JsonLinesError>(),
        Some(bulk::JsonLinesError::Gone(_))
    )
}
