//! All SQL lives under this module, one file per aggregate. Queries go
//! through sqlx's `Any` driver with one text for both backends; [`Dialect`]
//! is the one place that knows SQLite from PostgreSQL.
//!
//! On SQLite, writes go through a pool of exactly one connection (SQLite has
//! one write lock; queueing in-process beats `SQLITE_BUSY`), reads through a
//! separate pool, in WAL mode with `synchronous=FULL` so a commit is on disk
//! (webhook intake syncs the log itself, no less often: see [`writer`]).
//! On PostgreSQL both are the same pool, and webhook intake has a small
//! pool of its own ([`Store::intake_pool`]), so a busy inbox processor or
//! a burst of requests can never leave intake waiting for a connection.
//!
//! # The SQLite log and its checkpoints
//!
//! No commit checkpoints: `wal_autocheckpoint` is off, and the intake
//! writer never checkpoints either. A background task ([`checkpoint_wal`])
//! copies the log into the database file with PASSIVE checkpoints, which
//! take no lock a writer waits for, every [`CHECKPOINT_EVERY`] (giving way
//! to intake for at most [`CHECKPOINT_DEFER`], never longer). SQLite starts
//! the log over at the first write after a checkpoint has copied all of it,
//! which in the pauses of the traffic happens by itself. A continuous
//! stream has no pauses: every checkpoint ends with the frames appended
//! while it ran still to copy, and the log would grow for as long as the
//! stream lasts. So once the log holds [`LOG_LIMIT_FRAMES`], the task
//! copies what it can without blocking anyone, then holds the writer
//! connection only while it copies the few frames appended meanwhile; the
//! next commit starts the log over. The writer waits for that short
//! catch-up once per [`LOG_LIMIT_FRAMES`] of log, never for a whole
//! checkpoint, and the log file stays near that size (it is not shrunk;
//! its pages are reused).
//!
//! A reader still in the log when the next commit comes keeps it from
//! starting over. The database's readers may hold a snapshot for long
//! (the dashboard's analytics, exports), so the catch-up stays PASSIVE and
//! is tried again a little later ([`RESTART_RETRY`]).
//!
//! [`Store::erase_log`] is separate: after an erasure it empties the log
//! with a TRUNCATE checkpoint, so erased values outlive it in no frame.

pub mod activities;
pub mod analytics;
pub mod api_keys;
pub mod backup;
pub mod customers;
pub mod data_requests;
pub mod exports;
pub mod failure;
pub(crate) mod forecast;
pub mod history;
pub mod inbox;
pub mod landing;
pub(crate) mod lease;
pub mod ledger;
pub mod member_imports;
pub(crate) mod nps;
pub(crate) mod oauth_states;
pub(crate) mod offers;
pub(crate) mod orders;
pub mod outbound;
pub mod outbox;
pub mod program;
pub(crate) mod redemptions;
pub mod referrals;
pub(crate) mod reorder;
pub(crate) mod sandbox;
pub mod schedule;
pub mod segments;
pub(crate) mod shops;
pub mod statistics;
pub mod stats;
pub(crate) mod url;
pub(crate) mod winback;
pub(crate) mod writer;

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use sqlx::{
    any::{AnyConnectOptions, AnyPoolOptions},
    pool::PoolOptions,
    Any, AnyPool, Executor, Transaction,
};

pub use url::DatabaseUrl;

/// The SQL dialect of the connected database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// Holds a transaction-scoped lock on `key` until the transaction on `conn`
/// ends: PostgreSQL's advisory lock, for writers in several processes.
/// SQLite has one writer, which serialises transactions already.
pub async fn lock_until_commit(
    conn: &mut sqlx::AnyConnection,
    key: i64,
) -> Result<(), sqlx::Error> {
    if Dialect::of(conn) == Dialect::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(key)
            .execute(conn)
            .await?;
    }
    Ok(())
}

impl Dialect {
    /// The dialect of an open connection.
    pub fn of(conn: &sqlx::AnyConnection) -> Self {
        if conn.backend_name() == "PostgreSQL" {
            Dialect::Postgres
        } else {
            Dialect::Sqlite
        }
    }

    /// The clause that lets concurrent workers claim disjoint queue rows.
    /// SQLite needs none: its single writer already serialises claims.
    pub fn skip_locked(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => "FOR UPDATE SKIP LOCKED",
        }
    }
}

/// Handle to the database; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    writer: AnyPool,
    reader: AnyPool,
    dialect: Dialect,
    /// SQLite only: the task that moves the WAL into the database file, off
    /// the commit path. Stops when the last clone of the store is dropped.
    checkpointer: Option<Arc<BackgroundTask>>,
    /// PostgreSQL only: the task that analyses tables which outgrew their
    /// planner statistics ([`statistics`]). Stops with the last clone.
    statistics: Option<Arc<BackgroundTask>>,
    /// Webhook intake waiting to commit: background writers give way to it.
    gate: writer::IntakeGate,
    /// SQLite: the checkpointer's connection, which also empties the log
    /// after an erasure ([`Store::erase_log`]); sharing it keeps the two
    /// checkpoints from running into each other.
    checkpoints: Option<AnyPool>,
    /// Where webhook intake writes: PostgreSQL, a pool of its own
    /// ([`INTAKE_CONNECTIONS`]); SQLite, the writer (on a file intake
    /// appends to its journal instead, see [`landing`]).
    intake: AnyPool,
    /// SQLite on a file: webhook intake's journal.
    landing: Option<landing::Landing>,
}

#[derive(Debug)]
struct BackgroundTask(tokio::task::AbortHandle);

impl Drop for BackgroundTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

pub type Tx = Transaction<'static, Any>;

/// Hands back the leases `owner` holds on rows of a lease-claimed queue
/// (`webhook_inbox` or `outbox`) that have not ended, so another worker
/// takes them at once instead of after the lease. The claim's attempt did
/// not happen, so it is not counted.
async fn release_queue_leases(
    store: &Store,
    table: &'static str,
    owner: &str,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(&format!(
        "UPDATE {table} SET lease_owner = NULL, lease_until = NULL, attempts = attempts - 1 \
         WHERE lease_owner = $1 AND status = 'queued'"
    ))
    .bind(owner)
    .execute(store.writer())
    .await?;
    Ok(done.rows_affected())
}

/// Milliseconds since the Unix epoch: how every time is stored.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Store {
    /// Connects (creating a SQLite file if missing) without migrating.
    /// `max_connections` bounds PostgreSQL's main pool; intake's own pool
    /// ([`INTAKE_CONNECTIONS`]) comes on top.
    pub async fn connect(url: &DatabaseUrl, max_connections: u32) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        if url.is_sqlite() {
            return Self::connect_sqlite(url, LOG_LIMIT_FRAMES).await;
        }
        let options: AnyConnectOptions = url
            .as_str()
            .parse()
            .context("DATABASE_URL is not a valid PostgreSQL URL")?;
        // Every statement is planned for its parameters and the tables as
        // they are now. A prepared statement's generic plan is made once per
        // connection, often while the tables are near empty: a batch's
        // `IN (...)` over orders, customers or order products then keeps a
        // sequential scan while the table grows into the millions (measured:
        // a 60,000-delivery backlog drained at 1,299/s, each such statement
        // over 100 ms). Planning costs a fraction of a millisecond.
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections.max(2))
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute("SET plan_cache_mode = force_custom_plan")
                        .await?;
                    Ok(())
                })
            })
            .connect_with(options.clone())
            .await
            .context("connecting to PostgreSQL")?;
        // An answer to Shopify means "committed and flushed", whatever the
        // server's or the role's default for synchronous_commit.
        let intake = AnyPoolOptions::new()
            .max_connections(INTAKE_CONNECTIONS)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute("SET synchronous_commit = on").await?;
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .context("connecting to PostgreSQL for webhook intake")?;
        let statistics = tokio::spawn(statistics::keep_statistics(pool.clone())).abort_handle();
        Ok(Self {
            writer: pool.clone(),
            reader: pool,
            dialect: Dialect::Postgres,
            checkpointer: None,
            statistics: Some(Arc::new(BackgroundTask(statistics))),
            gate: writer::IntakeGate::default(),
            checkpoints: None,
            intake,
            landing: None,
        })
    }

    /// SQLite, with the log started over once it holds `log_limit` frames
    /// (see the module docs).
    async fn connect_sqlite(url: &DatabaseUrl, log_limit: i64) -> anyhow::Result<Self> {
        let url = sqlite_url(url.as_str());
        let writer = sqlite_pool(1, WRITER_PRAGMAS)
            .connect(&url)
            .await
            .context("opening the SQLite database")?;
        let reader = sqlite_pool(4, READER_PRAGMAS)
            .connect(&url)
            .await
            .context("opening the SQLite database for reading")?;
        let checkpointer = sqlite_pool(1, CHECKPOINT_PRAGMAS)
            .connect(&url)
            .await
            .context("opening the SQLite database for checkpoints")?;
        let (_, _, file): (i64, String, String) =
            sqlx::query_as("SELECT seq, name, file FROM pragma_database_list WHERE name = 'main'")
                .fetch_one(&writer)
                .await
                .context("reading where the SQLite database is")?;
        let gate = writer::IntakeGate::default();
        let wal_path: Option<std::path::PathBuf> =
            (!file.is_empty()).then(|| format!("{file}-wal").into());
        // The database's log is written by everything but intake: its
        // catch-up holds the database's writer.
        let task = tokio::spawn(checkpoint_wal(
            checkpointer.clone(),
            writer.clone(),
            gate.clone(),
            wal_path.clone(),
            log_limit,
        ))
        .abort_handle();
        let landing = (!file.is_empty()).then(|| landing::Landing::new(&file));
        Ok(Self {
            intake: writer.clone(),
            writer,
            reader,
            dialect: Dialect::Sqlite,
            checkpointer: Some(Arc::new(BackgroundTask(task))),
            statistics: None,
            gate,
            checkpoints: Some(checkpointer),
            landing,
        })
    }

    /// [`Store::connect`] on SQLite with another log limit, for tests that
    /// show the log stays bounded without writing the default's megabytes.
    #[cfg(test)]
    pub(crate) async fn connect_sqlite_with_log_limit(
        url: &DatabaseUrl,
        log_limit: i64,
    ) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        Self::connect_sqlite(url, log_limit).await
    }

    /// Connects for reading only (tools that watch a running Advocate, such
    /// as `simulate`): on SQLite no writer and no checkpoints, so nothing
    /// here ever waits for, or holds, the database's write lock.
    pub async fn connect_read_only(url: &DatabaseUrl) -> anyhow::Result<Self> {
        if !url.is_sqlite() {
            return Self::connect(url, 4).await;
        }
        sqlx::any::install_default_drivers();
        let reader = sqlite_pool(2, READER_PRAGMAS)
            .connect(&sqlite_url(url.as_str()))
            .await
            .context("opening the SQLite database for reading")?;
        let (_, _, file): (i64, String, String) =
            sqlx::query_as("SELECT seq, name, file FROM pragma_database_list WHERE name = 'main'")
                .fetch_one(&reader)
                .await
                .context("reading where the SQLite database is")?;
        let landing = (!file.is_empty()).then(|| landing::Landing::new(&file));
        Ok(Self {
            writer: reader.clone(),
            intake: reader.clone(),
            reader,
            dialect: Dialect::Sqlite,
            checkpointer: None,
            statistics: None,
            gate: writer::IntakeGate::default(),
            checkpoints: None,
            landing,
        })
    }

    /// Applies the migrations this binary carries. Safe to run from several
    /// processes at once on PostgreSQL (sqlx takes an advisory lock).
    pub async fn migrate(&self) -> anyhow::Result<()> {
        let migrator = match self.dialect {
            Dialect::Sqlite => sqlx::migrate!("./migrations/sqlite"),
            Dialect::Postgres => sqlx::migrate!("./migrations/postgres"),
        };
        migrator
            .run(&self.writer)
            .await
            .context("running database migrations")?;
        landing::recover(self).await?;
        // Columns computed in Rust, which SQL cannot fill.
        customers::fill_search_keys(self)
            .await
            .context("filling customer search keys")?;
        Ok(())
    }

    /// Signals pending webhook intake to background writers.
    pub fn intake_gate(&self) -> &writer::IntakeGate {
        &self.gate
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// True when webhook intake commits apart from the database's write
    /// lock (a SQLite file: the journal), so a long write transaction
    /// cannot hold up an acknowledgement.
    pub fn intake_is_apart(&self) -> bool {
        self.landing.is_some()
    }

    /// SQLite on a file: webhook intake's journal ([`landing`]).
    pub(crate) fn landing(&self) -> Option<&landing::Landing> {
        self.landing.as_ref()
    }

    /// The pool for writes and for reads that must see the latest commit.
    pub fn writer(&self) -> &AnyPool {
        &self.writer
    }

    /// Where webhook intake commits: on PostgreSQL a pool of its own, so
    /// intake and the inbox processor never wait for each other's
    /// connections; on SQLite in memory the one writer. (On a SQLite file
    /// intake appends to its journal, [`landing`], and never waits for the
    /// database's write lock.)
    pub fn intake_pool(&self) -> &AnyPool {
        &self.intake
    }

    /// The pool for reads that may run beside writes.
    pub fn reader(&self) -> &AnyPool {
        &self.reader
    }

    /// Starts a write transaction. On SQLite this holds the one writer
    /// connection until it ends: never acquire another connection inside it.
    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        self.writer.begin().await
    }

    /// True when the database answers a query.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.reader).await.is_ok()
    }

    /// SQLite: moves the whole write-ahead log into the database file and
    /// truncates it (`wal_checkpoint(TRUNCATE)`), so that values a
    /// transaction just erased are no longer in the log's older frames; in
    /// the file, `secure_delete` has zeroed them. Intake's journal is rid
    /// of every delivery in it first: they are moved into the inbox (and
    /// so scrubbed there) and their segments deleted ([`landing::erase`]).
    /// Waits for a writer or reader in the way (busy timeout) and tries a
    /// few times. Returns whether the log is empty; always true on
    /// PostgreSQL.
    pub async fn erase_log(&self) -> anyhow::Result<bool> {
        let Some(pool) = &self.checkpoints else {
            return Ok(true);
        };
        // Intake's copies of the deliveries go first, then the log.
        landing::erase(self).await?;
        Ok(truncate_log(pool).await?)
    }

    pub async fn close(&self) {
        for task in [&self.checkpointer, &self.statistics].into_iter().flatten() {
            task.0.abort();
        }
        self.writer.close().await;
        self.reader.close().await;
        self.intake.close().await;
    }
}

/// `wal_checkpoint(TRUNCATE)` on `pool`'s file, tried a few times; whether
/// the log is empty.
async fn truncate_log(pool: &AnyPool) -> Result<bool, sqlx::Error> {
    let mut last_error = None;
    for attempt in 0..ERASE_LOG_TRIES {
        if attempt > 0 {
            tokio::time::sleep(ERASE_LOG_PAUSE).await;
        }
        match sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(TRUNCATE)")
            .fetch_one(pool)
            .await
        {
            Ok((0, _, _)) => return Ok(true),
            Ok(_) => last_error = None,
            Err(e) => last_error = Some(e),
        }
    }
    match last_error {
        Some(e) => Err(e),
        None => Ok(false),
    }
}

/// The writer commits durably (`synchronous = FULL`: the WAL is synced at
/// every commit) and leaves checkpoints to [`checkpoint_wal`]; deleted
/// content is overwritten (`secure_delete`), so redacted personal data does
/// not linger in free pages.
const WRITER_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
    PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON; PRAGMA secure_delete = ON; \
    PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = 67108864; \
    PRAGMA temp_store = MEMORY;";
pub(crate) const READER_PRAGMAS: &str = "PRAGMA busy_timeout = 5000; PRAGMA query_only = ON;";
pub(crate) const CHECKPOINT_PRAGMAS: &str =
    "PRAGMA busy_timeout = 5000; PRAGMA synchronous = FULL;";
/// Attempts at emptying the log after an erasure, and the pause between
/// them (another checkpoint may hold the checkpoint lock for a moment).
const ERASE_LOG_TRIES: usize = 5;
const ERASE_LOG_PAUSE: Duration = Duration::from_millis(20);
/// How often the WAL is copied into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(50);
/// Longest a checkpoint waits for intake to pause: its writes and syncs
/// compete with the commits' for the disk, but it must not wait for ever.
const CHECKPOINT_DEFER: Duration = Duration::from_millis(50);
/// How often the log is looked at once it holds half its limit.
const CHECKPOINT_NEAR_LIMIT: Duration = Duration::from_millis(5);
/// Frames (pages) the log may hold before the checkpointer makes sure it
/// starts over: 16 MB with 4 KB pages, well under `journal_size_limit`.
const LOG_LIMIT_FRAMES: i64 = 4_096;
/// PostgreSQL connections of webhook intake's own pool: one per intake
/// writer (see [`writer`]).
pub(crate) const INTAKE_CONNECTIONS: u32 = writer::POSTGRES_WRITERS as u32;

/// Copies committed WAL frames into the database file off the commit path
/// and keeps the log from growing past `log_limit` frames (see the module
/// docs). `writer` is the writer pool, held only for the catch-up; `wal`
/// the log file, whose header tells when the log has started over.
async fn checkpoint_wal(
    pool: AnyPool,
    writer: AnyPool,
    gate: writer::IntakeGate,
    wal: Option<std::path::PathBuf>,
    log_limit: i64,
) {
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut restarts = LogRestarts::new(RESTART_RETRY);
    let mut near_limit = false;
    loop {
        if near_limit {
            // Soon over the limit: look again shortly, and do not wait
            // for intake to pause, so a fast stream does not run far past
            // the limit before the log starts over.
            tokio::time::sleep(CHECKPOINT_NEAR_LIMIT).await;
        } else {
            tick.tick().await;
            gate.wait_idle(CHECKPOINT_DEFER).await;
        }
        let checkpointed = checkpoint(&pool).await;
        near_limit = checkpointed
            .as_ref()
            .is_ok_and(|seen| seen.log >= log_limit / 2)
            && !restarts.waiting();
        let result = match checkpointed {
            Ok(seen) if seen.log >= log_limit => {
                let generation = wal.as_deref().and_then(log_generation);
                if restarts.worth_trying(seen, generation) {
                    restart_log(&pool, &writer)
                        .await
                        .map(|held| restarts.tried(held, generation))
                } else {
                    Ok(())
                }
            }
            Ok(_) => Ok(()),
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "WAL checkpoint failed; will retry");
        }
    }
}

/// Which run of the log the file holds: the WAL header's checkpoint
/// sequence and first salt, which change each time the log starts over.
fn log_generation(wal: &std::path::Path) -> Option<[u8; 8]> {
    use std::io::Read;
    let mut header = [0_u8; 20];
    std::fs::File::open(wal)
        .and_then(|mut file| file.read_exact(&mut header))
        .ok()?;
    header[12..20].try_into().ok()
}

/// When holding the writer for a catch-up is worth it. A reader still on
/// an old snapshot keeps frames from being copied, or the log from being
/// started over; holding the writer again at once would only stall intake
/// to no effect, so the next try waits a while (`retry`).
#[derive(Debug)]
struct LogRestarts {
    /// The log's generation and length when a catch-up last copied all of
    /// it.
    caught_up: Option<([u8; 8], i64)>,
    /// No catch-up before this.
    not_before: Option<tokio::time::Instant>,
    /// The wait after a catch-up that a reader made useless.
    retry: Duration,
}

/// Pause between catch-ups that a reader made useless, in the database:
/// its readers (the dashboard's analytics, exports) may hold a snapshot
/// for a long time.
const RESTART_RETRY: Duration = Duration::from_secs(1);
impl LogRestarts {
    fn new(retry: Duration) -> Self {
        Self {
            caught_up: None,
            not_before: None,
            retry,
        }
    }

    /// True while a reader made the last catch-up useless.
    fn waiting(&self) -> bool {
        self.not_before
            .is_some_and(|t| tokio::time::Instant::now() < t)
    }

    /// Whether to hold the writer for a catch-up, the log being `seen`
    /// in `generation`.
    fn worth_trying(&mut self, seen: Checkpointed, generation: Option<[u8; 8]>) -> bool {
        if self.waiting() {
            return false;
        }
        match self.caught_up {
            Some((then, log)) if Some(then) == generation => {
                if seen.log > log {
                    // Written to since it was copied in full, yet not
                    // started over: a reader was still in it.
                    self.caught_up = None;
                    self.not_before = Some(tokio::time::Instant::now() + self.retry);
                }
                // Else nothing was written since: the next write starts
                // the log over.
                false
            }
            _ => true,
        }
    }

    fn tried(&mut self, held: Checkpointed, generation: Option<[u8; 8]>) {
        if held.copied >= held.log {
            self.caught_up = generation.map(|g| (g, held.log));
        } else {
            self.not_before = Some(tokio::time::Instant::now() + self.retry);
        }
    }
}

/// Lets the next commit start the log over: copies, with the writer
/// connection held so that nothing is appended meanwhile, the frames the
/// last checkpoint left (those appended while it ran). SQLite restarts the
/// log at the next write after a checkpoint that copied all of it, unless
/// a reader still reads an older snapshot of it.
async fn restart_log(pool: &AnyPool, writer: &AnyPool) -> Result<Checkpointed, sqlx::Error> {
    let held = writer.acquire().await?;
    let result = checkpoint(pool).await;
    drop(held);
    result
}

/// What a checkpoint saw: frames in the log, and how many of them are now
/// in the database file.
#[derive(Debug, Clone, Copy)]
struct Checkpointed {
    log: i64,
    copied: i64,
}

/// Copies what it can of the WAL into the database file (PASSIVE: waits
/// for no one). On a `synchronous = FULL` connection the log is synced
/// before and the database after.
async fn checkpoint(pool: &AnyPool) -> Result<Checkpointed, sqlx::Error> {
    let rows: Vec<(i64, i64, i64)> = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
        .fetch_all(pool)
        .await?;
    let (_, log, copied) = rows.first().copied().unwrap_or((0, -1, -1));
    Ok(Checkpointed { log, copied })
}

pub(crate) fn sqlite_pool(max: u32, pragmas: &'static str) -> PoolOptions<Any> {
    AnyPoolOptions::new()
        .max_connections(max)
        .min_connections(1)
        // A local file cannot drop like a network connection; a ping before
        // every acquire would only add a round trip to the hot path.
        .test_before_acquire(false)
        .acquire_timeout(Duration::from_secs(30))
        .after_connect(move |conn, _| {
            Box::pin(async move {
                conn.execute(sqlx::raw_sql(pragmas)).await?;
                Ok(())
            })
        })
}

/// `sqlite://file.db` creates the file when missing (`mode=rwc`) unless the
/// URL already says otherwise.
fn sqlite_url(url: &str) -> String {
    if url.contains("mode=") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

/// The leased work queues; they share how a leased row is given back.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Queue {
    Inbox,
    Outbox,
}

/// Gives a leased row back after a transient failure, to be tried at
/// `retry_at`. False when `owner` no longer holds the lease.
pub(crate) async fn reschedule_leased(
    conn: &mut sqlx::AnyConnection,
    queue: Queue,
    id: i64,
    owner: &str,
    retry_at: i64,
    error: &str,
) -> Result<bool, sqlx::Error> {
    let table = match queue {
        Queue::Inbox => "webhook_inbox",
        Queue::Outbox => "outbox",
    };
    let sql = format!(
        "UPDATE {table} SET available_at = $1, last_error = $2, lease_owner = NULL, \
         lease_until = NULL WHERE id = $3 AND lease_owner = $4"
    );
    let done = sqlx::query(&sql)
        .bind(retry_at)
        .bind(crate::error_text::sanitise(error))
        .bind(id)
        .bind(owner)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// The `n`th (from 1) bind parameter: `$n` on PostgreSQL, `?` on SQLite,
/// where parameters bind in the order they appear in the text.
pub(crate) fn placeholder(dialect: Dialect, n: usize) -> String {
    match dialect {
        Dialect::Sqlite => "?".to_owned(),
        Dialect::Postgres => format!("${n}"),
    }
}

/// `count` bind parameters from the `first`th, comma-separated: an
/// `IN (...)` list.
pub(crate) fn placeholders(dialect: Dialect, first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| placeholder(dialect, n))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Placeholders for a multi-row insert: `rows` groups of `columns`.
/// PostgreSQL wants `$1, $2, ...`; SQLite gets anonymous `?`, since it looks
/// numbered names up one by one (quadratic in a statement with hundreds).
pub(crate) fn values_placeholders(dialect: Dialect, rows: usize, columns: usize) -> String {
    values_placeholders_from(dialect, rows, columns, 1)
}

/// As [`values_placeholders`], numbering from `first` (PostgreSQL) for a
/// statement with other parameters before the values. On SQLite the
/// anonymous `?` are bound in the order they appear in the text.
pub(crate) fn values_placeholders_from(
    dialect: Dialect,
    rows: usize,
    columns: usize,
    first: usize,
) -> String {
    let mut sql = String::with_capacity(rows * columns * 5);
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for col in 0..columns {
            if col > 0 {
                sql.push_str(", ");
            }
            match dialect {
                Dialect::Sqlite => sql.push('?'),
                Dialect::Postgres => {
                    sql.push('$');
                    sql.push_str(&(first + row * columns + col).to_string());
                }
            }
        }
        sql.push(')');
    }
    sql
}

/// Which of `ids` appear in `column` of the shop's rows of `table` (with
/// `condition` also true, when not empty). The names are the caller's
/// constants, never input.
pub(crate) async fn ids_among(
    conn: &mut sqlx::AnyConnection,
    table: &'static str,
    column: &'static str,
    condition: &'static str,
    shop_id: i64,
    ids: &[i64],
) -> Result<std::collections::HashSet<i64>, sqlx::Error> {
    let dialect = Dialect::of(conn);
    let mut found = std::collections::HashSet::new();
    for chunk in ids.chunks(500) {
        let sql = format!(
            "SELECT DISTINCT {column} FROM {table} WHERE shop_id = {} AND {column} IN ({}) {condition}",
            placeholder(dialect, 1),
            placeholders(dialect, 2, chunk.len())
        );
        let mut query = sqlx::query_scalar::<_, i64>(&sql).bind(shop_id);
        for id in chunk {
            query = query.bind(*id);
        }
        found.extend(query.fetch_all(&mut *conn).await?);
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    #[test]
    fn placeholders_number_every_value() {
        use super::Dialect::*;
        assert_eq!(
            super::values_placeholders(Postgres, 2, 3),
            "($1, $2, $3), ($4, $5, $6)"
        );
        assert_eq!(super::values_placeholders(Sqlite, 1, 2), "(?, ?)");
        assert_eq!(
            super::values_placeholders_from(Postgres, 1, 2, 3),
            "($3, $4)"
        );
    }

    #[test]
    fn sqlite_urls_create_the_file_unless_told_otherwise() {
        assert_eq!(super::sqlite_url("sqlite://a.db"), "sqlite://a.db?mode=rwc");
        assert_eq!(
            super::sqlite_url("sqlite://a.db?mode=ro"),
            "sqlite://a.db?mode=ro"
        );
    }

    /// The WAL header's checkpoint sequence: how many times the log has
    /// started over.
    fn log_restarts(wal: &std::path::Path) -> u32 {
        match std::fs::read(wal) {
            Ok(header) if header.len() >= 32 => {
                u32::from_be_bytes(header[12..16].try_into().unwrap())
            }
            _ => 0,
        }
    }

    /// A steady stream of commits to the database (the mover's, the
    /// engine's) never pauses for the log to start over by itself: the
    /// checkpointer has it start over again and again, each time soon
    /// after it reached the limit. (A reader still in the log holds it
    /// back; the catch-up is then tried again a second later.)
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_steady_stream_of_commits_keeps_the_log_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("advocate.db").display());
        let limit = 500;
        let store = super::Store::connect_sqlite_with_log_limit(
            &super::DatabaseUrl::parse(url).unwrap(),
            limit,
        )
        .await
        .unwrap();
        store.migrate().await.unwrap();
        let wal = dir.path().join("advocate.db-wal");
        let before = log_restarts(&wal);
        // 3,000 rows of a page each, a few to a commit.
        let (commits, each) = (600, 5);
        for c in 0..commits {
            let batch: Vec<_> = (0..each)
                .map(|i| {
                    let mut noise = vec![0_u8; 3_000];
                    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut noise);
                    super::inbox::NewDelivery {
                        shop_domain: "log-test.myshopify.com".into(),
                        delivery_key: format!("d-{c}-{i}"),
                        webhook_id: None,
                        event_id: None,
                        topic: "orders/paid".into(),
                        api_version: None,
                        triggered_at: None,
                        body: super::inbox::StoredBody::compress(&noise),
                        received_at: 1,
                        request_id: None,
                    }
                })
                .collect();
            let mut tx = store.begin().await.unwrap();
            super::inbox::insert_deliveries(&mut tx, super::Dialect::Sqlite, &batch)
                .await
                .unwrap();
            tx.commit().await.unwrap();
        }
        let rows: i64 = sqlx::query_scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM webhook_inbox")
            .fetch_one(store.reader())
            .await
            .unwrap();
        assert_eq!(rows, commits * each);
        // Unbounded, the log would hold every one of the 3,000 pages and
        // more (12 MB and up).
        let restarts = log_restarts(&wal) - before;
        assert!(restarts >= 3, "the log started over {restarts} times");
        let log = std::fs::metadata(&wal).unwrap().len();
        assert!(log < 3_000 * 4_120 / 2, "the log grew to {log} bytes");
    }
}
