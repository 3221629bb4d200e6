//! Group commit for webhook intake. Each request hands its delivery to a
//! writer task and waits; the writer takes whatever else is waiting (up to a
//! batch), inserts it all in one transaction, commits, and only then answers
//! every caller. The cost of making a commit durable is shared by the batch,
//! so each answer still means "on disk".
//!
//! On a SQLite file intake commits to its landing file, whose write lock
//! nothing else takes, and a mover task copies what landed into the inbox
//! (see [`super::landing`]); an answer waits for nothing but intake's own
//! commits and syncs.
//!
//! SQLite gets one writer (it has one write lock); PostgreSQL gets
//! [`POSTGRES_WRITERS`], so batches overlap their round trips, each on a
//! connection of intake's own pool ([`Store::intake_pool`]). On PostgreSQL
//! a batch is one INSERT statement, committed on its own (autocommit, with
//! `synchronous_commit = on`): one round trip per batch.
//!
//! On a SQLite file the sync is pipelined. The writer commits a batch to the
//! write-ahead log without syncing it (one round trip: `synchronous =
//! NORMAL` for that transaction only) and goes on to the next batch at
//! once; a sync thread `fdatasync`s the log and only then answers the
//! batches committed before the sync began. One sync covers every batch
//! written before it, and the disk's flush overlaps the next batch's
//! inserts instead of stalling them. An answer still means the delivery is
//! in a synced log: the same guarantee as `synchronous = FULL`, which every
//! other transaction keeps. Frames a checkpoint has moved out of the log
//! were synced by the checkpoint first.
//!
//! The writer never checkpoints: the store's background checkpointer keeps
//! the log bounded without stopping it, but for a short catch-up once per
//! few megabytes of log (see the store's module docs).
//!
//! Each batch also deletes, in its own transaction, the landed rows the
//! mover has copied since the last batch: the landing file holds about
//! what is in flight.

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use tokio::sync::{mpsc, oneshot, Mutex, Notify};

use super::{inbox, landing, Dialect, Store};

/// Why a delivery could not be stored. The caller answers 503 and Shopify
/// delivers again later: nothing is lost.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("the inbox is not accepting deliveries (shutting down)")]
    Closed,
    #[error("the inbox could not be written: {0}")]
    Database(String),
}

struct Job {
    delivery: inbox::NewDelivery,
    done: Waiter,
}

type Waiter = oneshot::Sender<Result<(), IntakeError>>;

/// The sending side; cheap to clone into every request handler.
#[derive(Clone)]
pub struct IntakeWriter {
    jobs: mpsc::Sender<Job>,
    gate: IntakeGate,
}

/// Lets background work give way to intake: acknowledging Shopify within
/// its deadline matters more than processing what is already safe.
#[derive(Clone, Default, Debug)]
pub struct IntakeGate {
    /// Deliveries submitted and not yet answered.
    pending: Arc<AtomicUsize>,
    /// Notified when a commit leaves nothing pending.
    idle: Arc<Notify>,
    /// When the last delivery was submitted (epoch ms).
    last_submit: Arc<std::sync::atomic::AtomicI64>,
}

/// Intake counts as busy this long after its last delivery: between two
/// commits of a steady stream nothing is pending for a moment, and a long
/// background transaction started in that moment would hold up the next.
const BUSY_AFTER_MS: i64 = 250;

impl IntakeGate {
    /// True while deliveries wait to be committed or arrived just now.
    pub fn is_busy(&self) -> bool {
        self.pending.load(Ordering::Acquire) > 0
            || super::now_ms() - self.last_submit.load(Ordering::Relaxed) < BUSY_AFTER_MS
    }

    /// Takes `n` answered deliveries off the count, waking those waiting
    /// for intake to be idle when none is left.
    fn answered(&self, n: usize) {
        if self.pending.fetch_sub(n, Ordering::AcqRel) == n {
            self.idle.notify_waiters();
        }
    }

    /// Waits until no delivery is waiting to be committed, or `at_most`.
    pub async fn wait_idle(&self, at_most: Duration) {
        let idle = self.idle.notified();
        tokio::pin!(idle);
        idle.as_mut().enable();
        if self.pending.load(Ordering::Acquire) == 0 {
            return;
        }
        let _ = tokio::time::timeout(at_most, idle).await;
    }
}

/// Owns the writer tasks; [`IntakeHandle::shutdown`] commits what is queued.
pub struct IntakeHandle {
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// SQLite on a file: the writer's own thread.
    writer: Option<std::thread::JoinHandle<()>>,
    syncer: Option<std::thread::JoinHandle<()>>,
    /// SQLite on a file: the mover, which ends after the syncer.
    mover: Option<tokio::task::JoinHandle<()>>,
}

impl IntakeWriter {
    /// Starts the writer tasks. `committed` is notified after each commit so
    /// the inbox processor wakes at once.
    pub fn spawn(store: Store, max_batch: usize, committed: Arc<Notify>) -> (Self, IntakeHandle) {
        let gate = store.intake_gate().clone();
        let (jobs, receiver) = mpsc::channel::<Job>(max_batch * 8);
        if let (Dialect::Sqlite, Some(wal)) = (store.dialect(), store.intake_log()) {
            let (written, to_sync) = std::sync::mpsc::channel();
            let (landed, to_move) = mpsc::channel(HANDED_BATCHES);
            let handed = Arc::new(AtomicUsize::new(0));
            let syncer = WalSyncer {
                wal: wal.to_owned(),
                written: to_sync,
                landed,
                handed: handed.clone(),
                gate: gate.clone(),
            };
            let syncer = std::thread::Builder::new()
                .name("advocate-wal-sync".into())
                .spawn(move || syncer.run())
                .expect("starting the WAL sync thread");
            let mover = tokio::spawn(move_landed(store.clone(), to_move, handed, committed));
            // The writer runs on a thread of its own: on the shared runtime
            // a long stretch of background work (a history import parsing
            // its result, a batch of the engine) would hold up the next
            // commit, and every acknowledgement waiting for it.
            let writer = std::thread::Builder::new()
                .name("advocate-intake".into())
                .spawn(move || {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("starting webhook intake's runtime")
                        .block_on(write_unsynced(store, receiver, max_batch, written))
                })
                .expect("starting webhook intake's thread");
            return (
                Self { jobs, gate },
                IntakeHandle {
                    tasks: Vec::new(),
                    writer: Some(writer),
                    syncer: Some(syncer),
                    mover: Some(mover),
                },
            );
        }
        let receiver = Arc::new(Mutex::new(receiver));
        let writers = match store.dialect() {
            Dialect::Sqlite => 1,
            Dialect::Postgres => POSTGRES_WRITERS,
        };
        let tasks = (0..writers)
            .map(|_| {
                tokio::spawn(write_batches(
                    store.clone(),
                    receiver.clone(),
                    max_batch,
                    committed.clone(),
                    gate.clone(),
                ))
            })
            .collect();
        (
            Self { jobs, gate },
            IntakeHandle {
                tasks,
                writer: None,
                syncer: None,
                mover: None,
            },
        )
    }

    /// The gate background workers wait at.
    pub fn gate(&self) -> IntakeGate {
        self.gate.clone()
    }

    /// Stores one delivery durably; returns once it is committed (or was
    /// already there).
    pub async fn submit(&self, delivery: inbox::NewDelivery) -> Result<(), IntakeError> {
        let (done, answer) = oneshot::channel();
        self.gate.pending.fetch_add(1, Ordering::AcqRel);
        self.gate
            .last_submit
            .store(super::now_ms(), Ordering::Relaxed);
        if self.jobs.send(Job { delivery, done }).await.is_err() {
            self.gate.pending.fetch_sub(1, Ordering::AcqRel);
            return Err(IntakeError::Closed);
        }
        answer.await.map_err(|_| IntakeError::Closed)?
    }
}

impl IntakeHandle {
    /// Waits for the writers to commit everything already submitted. Call
    /// after every [`IntakeWriter`] clone is dropped (the HTTP server stopped).
    /// On a SQLite file it then moves what landed into the inbox.
    pub async fn shutdown(self) {
        for task in self.tasks {
            let _ = task.await;
        }
        if let Some(writer) = self.writer {
            let _ = tokio::task::spawn_blocking(move || writer.join()).await;
        }
        if let Some(syncer) = self.syncer {
            let _ = tokio::task::spawn_blocking(move || syncer.join()).await;
        }
        if let Some(mover) = self.mover {
            let _ = mover.await;
        }
    }
}

/// Synced batches, and bytes of their bodies, waiting for the mover in
/// memory. Past either the syncer drops their copies, and the mover reads
/// those deliveries back from the landing file: memory stays bounded
/// however far behind the database is.
const HANDED_BATCHES: usize = 64;
const HANDED_BYTES: usize = 32 * 1024 * 1024;

/// How long the mover waits when nothing is handed to it: deliveries left
/// in the landing file (by a process that stopped, or dropped from memory)
/// are moved at least this often.
const MOVE_IDLE: Duration = Duration::from_secs(1);

/// The mover: copies each synced batch into the inbox from memory (so
/// nothing reads the landing file while intake writes it, and its log can
/// start over), and anything else that landed from the file; wakes the
/// inbox's processors after each move. It ends when the syncer does, after
/// moving what is left.
async fn move_landed(
    store: Store,
    mut landed: mpsc::Receiver<landing::Landed>,
    handed: Arc<AtomicUsize>,
    committed: Arc<Notify>,
) {
    let mut batches = Vec::with_capacity(HANDED_BATCHES);
    // What a stopped process left landed goes first.
    match landing::move_landed(&store).await {
        Ok(0) => {}
        Ok(_) => committed.notify_waiters(),
        Err(e) => {
            tracing::warn!(error = %e, "moving landed deliveries into the inbox failed; they stay landed and are moved again");
        }
    }
    loop {
        let open = tokio::select! {
            n = landed.recv_many(&mut batches, HANDED_BATCHES) => n > 0,
            _ = tokio::time::sleep(MOVE_IDLE) => true,
        };
        let taken: usize = batches.iter().map(landing::Landed::bytes).sum();
        handed.fetch_sub(taken, Ordering::AcqRel);
        let moved = if batches.is_empty() {
            landing::move_landed(&store).await
        } else {
            landing::move_handed(&store, std::mem::take(&mut batches)).await
        };
        match moved {
            Ok(0) => {}
            Ok(_) => committed.notify_waiters(),
            Err(e) => {
                tracing::warn!(error = %e, "moving landed deliveries into the inbox failed; they stay landed and are moved again");
            }
        }
        if !open {
            if let Err(e) = landing::move_landed(&store).await {
                tracing::warn!(error = %e, "moving landed deliveries at shutdown failed; they are moved at the next start");
            }
            return;
        }
    }
}

async fn write_batches(
    store: Store,
    receiver: Arc<Mutex<mpsc::Receiver<Job>>>,
    max_batch: usize,
    committed: Arc<Notify>,
    gate: IntakeGate,
) {
    let mut batch = Vec::with_capacity(max_batch);
    loop {
        {
            let mut jobs = receiver.lock().await;
            if jobs.recv_many(&mut batch, max_batch).await == 0 {
                return; // every sender is gone and the queue is empty
            }
        }
        let (deliveries, waiters): (Vec<_>, Vec<_>) =
            batch.drain(..).map(|job| (job.delivery, job.done)).unzip();
        let result = commit(&store, &deliveries).await;
        if let Err(e) = &result {
            tracing::error!(error = %e, deliveries = deliveries.len(), "inbox write failed; answering 503");
        }
        gate.answered(waiters.len());
        if result.is_ok() {
            committed.notify_waiters();
        }
        for waiter in waiters {
            let _ = waiter.send(
                result
                    .as_ref()
                    .map(|_| ())
                    .map_err(|e| IntakeError::Database(e.to_string())),
            );
        }
    }
}

/// Intake writers on PostgreSQL, and connections of intake's own pool.
pub(crate) const POSTGRES_WRITERS: usize = 2;

async fn commit(store: &Store, deliveries: &[inbox::NewDelivery]) -> Result<u64, sqlx::Error> {
    let mut conn = store.intake_pool().acquire().await?;
    if inbox::is_one_statement(store.dialect(), deliveries) {
        // Atomic, and committed on its own: one round trip.
        return inbox::insert_deliveries(&mut conn, store.dialect(), deliveries).await;
    }
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    let inserted = inbox::insert_deliveries(&mut tx, store.dialect(), deliveries).await?;
    tx.commit().await?;
    Ok(inserted)
}

/// A batch the SQLite writer is done with, for the [`WalSyncer`] to answer.
enum Written {
    /// In the log, not yet synced; what landed, for the mover.
    Committed(Vec<Waiter>, landing::Landed),
    /// Not stored: answered at once with the reason.
    Failed(Vec<Waiter>, String),
}

/// The SQLite writer: commits each batch to the log unsynced and hands its
/// waiters to the [`WalSyncer`].
async fn write_unsynced(
    store: Store,
    mut receiver: mpsc::Receiver<Job>,
    max_batch: usize,
    written: std::sync::mpsc::Sender<Written>,
) {
    let mut batch = Vec::with_capacity(max_batch);
    // Landed rows deleted up to here (the mover's mark when last looked at).
    let mut deleted_through = 0;
    while receiver.recv_many(&mut batch, max_batch).await > 0 {
        let (deliveries, waiters): (Vec<_>, Vec<_>) =
            batch.drain(..).map(|job| (job.delivery, job.done)).unzip();
        let moved = store
            .landing()
            .map_or(0, |l| l.moved.load(Ordering::Acquire));
        let delete = (moved > deleted_through).then_some(moved);
        let outcome = match commit_unsynced(&store, &deliveries, delete).await {
            Ok(last) => {
                deleted_through = deleted_through.max(moved);
                Written::Committed(waiters, landing::Landed::new(last, deliveries))
            }
            Err(e) => {
                tracing::error!(error = %e, deliveries = deliveries.len(), "inbox write failed; answering 503");
                Written::Failed(waiters, e.to_string())
            }
        };
        if written.send(outcome).is_err() {
            tracing::error!("the inbox's log sync thread has stopped; deliveries go unanswered");
        }
    }
}

async fn commit_unsynced(
    store: &Store,
    deliveries: &[inbox::NewDelivery],
    delete_through: Option<i64>,
) -> Result<i64, sqlx::Error> {
    let mut conn = store.intake_pool().acquire().await?;
    let result =
        inbox::insert_deliveries_unsynced(&mut conn, landing::TABLE, deliveries, delete_through)
            .await;
    let result = match result {
        // The one writer's inserts take consecutive ids: the batch ends at
        // the table's sequence.
        Ok(()) => landing::last_id(&mut conn).await,
        Err(e) => Err(e),
    };
    if result.is_err() {
        // The transaction may still be open and the connection unsynced:
        // roll back, and let the pool open a fresh connection.
        let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
        conn.close_on_drop();
    }
    result
}

/// Syncs the write-ahead log and answers the batches committed before the
/// sync began: one sync for however many batches the writer committed
/// while the previous one ran.
struct WalSyncer {
    wal: std::path::PathBuf,
    written: std::sync::mpsc::Receiver<Written>,
    /// Synced batches, handed to the mover.
    landed: mpsc::Sender<landing::Landed>,
    /// Bytes of bodies handed and not yet taken by the mover.
    handed: Arc<AtomicUsize>,
    gate: IntakeGate,
}

impl WalSyncer {
    fn run(self) {
        while let Ok(first) = self.written.recv() {
            let mut ready = Vec::new();
            let mut failed = Vec::new();
            let mut landed = Vec::new();
            for batch in std::iter::once(first).chain(self.written.try_iter()) {
                match batch {
                    Written::Committed(waiters, batch) => {
                        ready.extend(waiters);
                        landed.push(batch);
                    }
                    Written::Failed(waiters, why) => {
                        failed.extend(waiters.into_iter().map(|w| (w, why.clone())))
                    }
                }
            }
            let synced = if ready.is_empty() {
                Ok(())
            } else {
                sync_log(&self.wal).map_err(|e| {
                    tracing::error!(error = %e, deliveries = ready.len(), "syncing the inbox's log failed; answering 503");
                    format!("the write-ahead log could not be synced: {e}")
                })
            };
            self.gate.answered(ready.len() + failed.len());
            if synced.is_ok() {
                for batch in landed {
                    // A full hand-off drops the copy: the mover reads
                    // those deliveries back from the file.
                    let bytes = batch.bytes();
                    if self.handed.load(Ordering::Acquire) + bytes > HANDED_BYTES {
                        continue;
                    }
                    self.handed.fetch_add(bytes, Ordering::AcqRel);
                    if self.landed.try_send(batch).is_err() {
                        self.handed.fetch_sub(bytes, Ordering::AcqRel);
                    }
                }
            }
            for waiter in ready {
                let _ = waiter.send(synced.clone().map_err(IntakeError::Database));
            }
            for (waiter, why) in failed {
                let _ = waiter.send(Err(IntakeError::Database(why)));
            }
        }
    }
}

/// `fdatasync` of the log through a descriptor of its own: the kernel
/// flushes the file whoever wrote it. A log that is not there was removed
/// by SQLite when its last connection closed, after checkpointing it into
/// the database and syncing that.
fn sync_log(wal: &std::path::Path) -> std::io::Result<()> {
    match std::fs::File::open(wal) {
        Ok(file) => file.sync_data(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use futures_util::future::join_all;
    use tokio::sync::Notify;

    use super::{IntakeError, IntakeWriter};
    use crate::store::{
        inbox::{NewDelivery, StoredBody},
        DatabaseUrl, Store,
    };

    async fn sqlite_store(dir: &tempfile::TempDir) -> Store {
        let url = format!("sqlite://{}", dir.path().join("advocate.db").display());
        let store = Store::connect(&DatabaseUrl::parse(url).unwrap(), 2)
            .await
            .unwrap();
        store.migrate().await.unwrap();
        store
    }

    /// A delivery whose body does not compress: one page of log each.
    fn delivery(key: &str) -> NewDelivery {
        let mut noise = vec![0_u8; 3_000];
        rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut noise);
        NewDelivery {
            shop_domain: "writer-test.myshopify.com".into(),
            delivery_key: key.into(),
            webhook_id: Some(key.into()),
            event_id: None,
            topic: "orders/paid".into(),
            api_version: Some("2026-07".into()),
            triggered_at: None,
            body: StoredBody::compress(&noise),
            received_at: 1,
            request_id: None,
        }
    }

    async fn count(store: &Store) -> i64 {
        sqlx::query_scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM webhook_inbox")
            .fetch_one(store.reader())
            .await
            .unwrap()
    }

    fn pending(store: &Store) -> usize {
        store
            .intake_gate()
            .pending
            .load(std::sync::atomic::Ordering::Acquire)
    }

    /// The setting of intake's connection.
    async fn synchronous(store: &Store) -> i64 {
        sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(store.intake_pool())
            .await
            .unwrap()
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_steady_stream_keeps_the_log_bounded_and_loses_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("advocate.db").display());
        let limit = 500;
        let store = Store::connect_sqlite_with_log_limit(&DatabaseUrl::parse(url).unwrap(), limit)
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let wal = store
            .intake_log()
            .expect("a file database has a landing file with a log")
            .to_owned();
        let restarts_before = log_restarts(&wal);
        let (writer, handle) = IntakeWriter::spawn(store.clone(), 512, Arc::new(Notify::new()));
        // A steady stream: many senders, each sending its next delivery as
        // soon as the last is answered, so the writer always has the next
        // batch waiting and the log never empties by itself. The writer
        // itself does not checkpoint.
        let (senders, each) = (64, 200);
        let total = senders * each;
        // And readers in the landing file all the while, one short read
        // after another, as the mover reads back deliveries when the
        // database falls behind: a reader still in the log when the next
        // commit comes would keep it from starting over.
        let streaming = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let reads = tokio::spawn({
            let (store, streaming) = (store.clone(), streaming.clone());
            async move {
                let landing = store.landing().expect("a landing file");
                let mut reads = 0_u64;
                while streaming.load(std::sync::atomic::Ordering::Acquire) {
                    let _: i64 = sqlx::query_scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM landed")
                        .fetch_one(&landing.reader)
                        .await
                        .unwrap();
                    reads += 1;
                }
                reads
            }
        });
        let answers = join_all((0..senders).map(|sender| {
            let writer = writer.clone();
            async move {
                let mut stored = 0;
                for i in 0..each {
                    let d = delivery(&format!("d-{sender}-{i}"));
                    if writer.submit(d).await.is_ok() {
                        stored += 1;
                    }
                }
                stored
            }
        }))
        .await;
        assert_eq!(
            answers.iter().sum::<usize>(),
            total,
            "every delivery stored"
        );
        streaming.store(false, std::sync::atomic::Ordering::Release);
        assert!(
            reads.await.unwrap() > 0,
            "the landing file was read meanwhile"
        );
        drop(writer);
        handle.shutdown().await;

        assert_eq!(count(&store).await, total as i64);
        // Unbounded, the log would hold every one of the 12,800 pages (over
        // 50 MB). The background checkpointer had it start over again and
        // again, each time soon after it reached the limit: the file (never
        // shrunk, only reused) stays within the limit and what a fast
        // stream appends during one checkpoint, however long the stream.
        let restarts = log_restarts(&wal) - restarts_before;
        assert!(restarts >= 5, "the log started over {restarts} times");
        let log = std::fs::metadata(&wal).unwrap().len();
        let page = 4_096 + 24;
        assert!(log < total as u64 * page / 2, "the log grew to {log} bytes");
        // Intake leaves the writer connection syncing every commit.
        assert_eq!(synchronous(&store).await, 2, "synchronous = FULL");
        assert_eq!(
            pending(&store),
            0,
            "every delivery answered is off the gate"
        );
    }

    #[tokio::test]
    async fn a_batch_that_fails_is_answered_with_its_error_and_the_next_one_is_stored() {
        let dir = tempfile::tempdir().unwrap();
        let store = sqlite_store(&dir).await;
        sqlx::query(
            "CREATE TRIGGER refuse_poison BEFORE INSERT ON landed \
             WHEN NEW.delivery_key = 'poison' BEGIN SELECT RAISE(ABORT, 'refused'); END",
        )
        .execute(store.intake_pool())
        .await
        .unwrap();
        let (writer, handle) = IntakeWriter::spawn(store.clone(), 512, Arc::new(Notify::new()));

        let refused = writer.submit(delivery("poison")).await;
        assert!(
            matches!(&refused, Err(IntakeError::Database(why)) if why.contains("refused")),
            "{refused:?}"
        );
        // The failed transaction was rolled back and the connection replaced:
        // the next delivery commits, and the writer syncs every commit again.
        writer.submit(delivery("fine")).await.unwrap();
        drop(writer);
        handle.shutdown().await;
        assert_eq!(count(&store).await, 1);
        assert_eq!(synchronous(&store).await, 2, "synchronous = FULL");
        assert_eq!(
            pending(&store),
            0,
            "every delivery answered is off the gate"
        );
    }
}
