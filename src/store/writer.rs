//! Group commit for webhook intake. Each request hands its delivery to a
//! writer task and waits; the writer takes whatever else is waiting (up to a
//! batch), stores it all at once, makes it durable, and only then answers
//! every caller. The cost of making a write durable is shared by the batch,
//! so each answer still means "on disk".
//!
//! On a SQLite file intake appends to its journal ([`super::landing`]),
//! which nothing but intake writes, and a mover task copies what landed
//! into the inbox (giving way to a stream of deliveries for at most
//! [`MOVE_DEFER`]); an answer waits for nothing but intake's own write and
//! sync. The sync is pipelined: the writer appends a batch (one `write`)
//! and goes on to the next at once; a sync thread `fdatasync`s the segment
//! and only then answers the batches appended before the sync began. One
//! sync covers every batch written before it, and the disk's flush
//! overlaps the next batch's encoding and write instead of stalling them.
//!
//! SQLite in memory gets one writer (it has one write lock); PostgreSQL
//! gets [`POSTGRES_WRITERS`], so batches overlap their round trips, each on
//! a connection of intake's own pool ([`Store::intake_pool`]). On
//! PostgreSQL a batch is one INSERT statement, committed on its own
//! (autocommit, with `synchronous_commit = on`): one round trip per batch.

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
    /// True when intake lands deliveries in its journal (a SQLite file).
    journal: bool,
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

    /// Waits until intake is not busy ([`Self::is_busy`]), or `at_most`.
    pub async fn wait_quiet(&self, at_most: Duration) {
        let deadline = tokio::time::Instant::now() + at_most;
        while self.is_busy() {
            // Busy at least until BUSY_AFTER_MS after the last delivery;
            // while a commit is still pending past that, looked at again
            // every few milliseconds.
            let since = super::now_ms() - self.last_submit.load(Ordering::Relaxed);
            let quiet_in = Duration::from_millis((BUSY_AFTER_MS - since).max(5) as u64);
            let wake = (tokio::time::Instant::now() + quiet_in).min(deadline);
            tokio::time::sleep_until(wake).await;
            if wake == deadline {
                return;
            }
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
        if let Some(journal) = store.landing().cloned() {
            let (written, to_sync) = std::sync::mpsc::channel();
            let (landed, to_move) = mpsc::channel(HANDED_BATCHES);
            let handed = Arc::new(AtomicUsize::new(0));
            let syncer = JournalSyncer {
                written: to_sync,
                landed,
                handed: handed.clone(),
                gate: gate.clone(),
            };
            let syncer = std::thread::Builder::new()
                .name("advocate-journal-sync".into())
                .spawn(move || syncer.run())
                .expect("starting the journal's sync thread");
            let mover = tokio::spawn(move_landed(
                store.clone(),
                to_move,
                handed,
                committed,
                gate.clone(),
            ));
            // The writer runs on a thread of its own: on the shared runtime
            // a long stretch of background work (a history import parsing
            // its result, a batch of the engine) would hold up the next
            // write, and every acknowledgement waiting for it.
            let writer = std::thread::Builder::new()
                .name("advocate-intake".into())
                .spawn(move || append_unsynced(journal, receiver, max_batch, written))
                .expect("starting webhook intake's thread");
            return (
                Self {
                    jobs,
                    gate,
                    journal: true,
                },
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
            Self {
                jobs,
                gate,
                journal: false,
            },
            IntakeHandle {
                tasks,
                writer: None,
                syncer: None,
                mover: None,
            },
        )
    }

    /// The body to submit, from the bytes as they arrived. The journal
    /// takes them as they are, and its mover compresses them on their way
    /// into the inbox, off the acknowledgement's path; a body for the
    /// inbox directly is compressed here, on the caller's thread (the
    /// request's worker), not in the writer every request waits for.
    pub fn body(&self, raw: std::borrow::Cow<'_, [u8]>) -> inbox::StoredBody {
        if self.journal {
            inbox::StoredBody::uncompressed(raw.into_owned())
        } else {
            inbox::StoredBody::compress(&raw)
        }
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
/// those deliveries back from the journal: memory stays bounded
/// however far behind the database is.
const HANDED_BATCHES: usize = 64;
const HANDED_BYTES: usize = 32 * 1024 * 1024;

/// Longest the mover gives way to a stream of deliveries before moving
/// what landed (see [`IntakeGate::wait_quiet`]). Moving (compressing and
/// copying into the inbox) costs about as much CPU as acknowledging: in a
/// burst that fills the cores, each move put off until the burst ends or
/// this long is CPU the answers keep. In a steady stream it is how much
/// later than its answer a delivery reaches the inbox, at most; points a
/// second late matter to nobody, a webhook answered late to Shopify does.
const MOVE_DEFER: Duration = Duration::from_millis(500);

/// How long the mover waits when nothing is handed to it: deliveries left
/// in the journal (by another process, or dropped from memory)
/// are moved at least this often.
const MOVE_IDLE: Duration = Duration::from_secs(1);

/// The mover: copies each synced batch into the inbox from memory (nothing
/// to read back), and anything else that landed from the journal; wakes the
/// inbox's processors after each move. It ends when the syncer does, after
/// moving what is left.
async fn move_landed(
    store: Store,
    mut landed: mpsc::Receiver<landing::Landed>,
    handed: Arc<AtomicUsize>,
    committed: Arc<Notify>,
    gate: IntakeGate,
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
        if open {
            // Gives way to a stream of deliveries, then moves what landed
            // meanwhile too, in fewer and larger transactions.
            gate.wait_quiet(MOVE_DEFER).await;
            while batches.len() < HANDED_BATCHES {
                match landed.try_recv() {
                    Ok(b) => batches.push(b),
                    Err(_) => break,
                }
            }
        }
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

/// A batch the journal's writer is done with, for the [`JournalSyncer`]
/// to answer.
enum Written {
    /// Appended, not yet synced; what landed, for the mover.
    Appended(Vec<Waiter>, landing::Segment, landing::Landed),
    /// Not stored: answered at once with the reason.
    Failed(Vec<Waiter>, String),
}

/// The journal's writer: appends each batch unsynced (one write) and hands
/// its waiters to the [`JournalSyncer`]. The journal is opened at the first
/// batch, and again after a batch it could not take.
fn append_unsynced(
    journal: landing::Landing,
    mut receiver: mpsc::Receiver<Job>,
    max_batch: usize,
    written: std::sync::mpsc::Sender<Written>,
) {
    let mut batch = Vec::with_capacity(max_batch);
    // Opened now, not at the first delivery (and again at the next batch
    // when that fails).
    let mut appender = landing::Appender::open(&journal)
        .inspect_err(|e| tracing::warn!(error = %e, "opening webhook intake's journal failed; trying again at the first delivery"))
        .ok();
    let mut records = Vec::new();
    loop {
        if receiver
            .blocking_recv()
            .map(|job| batch.push(job))
            .is_none()
        {
            return; // every sender is gone and the queue is empty
        }
        while batch.len() < max_batch {
            match receiver.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let (deliveries, waiters): (Vec<_>, Vec<_>) =
            batch.drain(..).map(|job| (job.delivery, job.done)).unzip();
        records.clear();
        let mut starts = Vec::with_capacity(deliveries.len());
        for delivery in &deliveries {
            starts.push(records.len());
            landing::encode(&mut records, delivery);
        }
        let appended = match appender.as_mut() {
            Some(appender) => appender.append(&mut records, &starts),
            None => landing::Appender::open(&journal)
                .and_then(|opened| appender.insert(opened).append(&mut records, &starts)),
        };
        let outcome = match appended {
            Ok((segment, start)) => {
                let start = start as i64;
                let starts = starts.into_iter().map(|s| s as i64 + start).collect();
                let end = start + records.len() as i64;
                let landed = landing::Landed::new(segment.number, starts, end, deliveries);
                Written::Appended(waiters, segment, landed)
            }
            Err(e) => {
                tracing::error!(error = %e, deliveries = deliveries.len(), "writing webhook intake's journal failed; answering 503");
                appender = None;
                Written::Failed(waiters, format!("the journal could not be written: {e}"))
            }
        };
        if written.send(outcome).is_err() {
            tracing::error!("the journal's sync thread has stopped; deliveries go unanswered");
        }
    }
}

/// Syncs the journal and answers the batches appended before the sync
/// began: one sync for however many batches the writer appended while the
/// previous one ran.
struct JournalSyncer {
    written: std::sync::mpsc::Receiver<Written>,
    /// Synced batches, handed to the mover.
    landed: mpsc::Sender<landing::Landed>,
    /// Bytes of bodies handed and not yet taken by the mover.
    handed: Arc<AtomicUsize>,
    gate: IntakeGate,
}

impl JournalSyncer {
    fn run(self) {
        while let Ok(first) = self.written.recv() {
            let mut ready = Vec::new();
            let mut failed = Vec::new();
            let mut landed = Vec::new();
            // The segments written: usually one, two when the batches
            // went on to a new one.
            let mut segments: Vec<landing::Segment> = Vec::new();
            for batch in std::iter::once(first).chain(self.written.try_iter()) {
                match batch {
                    Written::Appended(waiters, segment, batch) => {
                        ready.extend(waiters);
                        landed.push(batch);
                        if !segments.iter().any(|s| s.number == segment.number) {
                            segments.push(segment);
                        }
                    }
                    Written::Failed(waiters, why) => {
                        failed.extend(waiters.into_iter().map(|w| (w, why.clone())))
                    }
                }
            }
            let synced = segments
                .iter()
                .try_for_each(landing::Segment::sync)
                .map_err(|e| {
                    tracing::error!(error = %e, deliveries = ready.len(), "syncing webhook intake's journal failed; answering 503");
                    format!("the journal could not be synced: {e}")
                });
            self.gate.answered(ready.len() + failed.len());
            if synced.is_ok() {
                for batch in landed {
                    // A full hand-off drops the copy: the mover reads
                    // those deliveries back from the journal.
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use futures_util::future::join_all;
    use tokio::sync::Notify;

    use super::{IntakeError, IntakeGate, IntakeWriter};
    use crate::store::{inbox::NewDelivery, DatabaseUrl, Store};

    async fn sqlite_store(dir: &tempfile::TempDir) -> Store {
        let url = format!("sqlite://{}", dir.path().join("advocate.db").display());
        let store = Store::connect(&DatabaseUrl::parse(url).unwrap(), 2)
            .await
            .unwrap();
        store.migrate().await.unwrap();
        store
    }

    /// A delivery whose body does not compress.
    fn delivery(key: &str) -> NewDelivery {
        let mut noise = vec![0_u8; 3_000];
        rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut noise);
        NewDelivery::for_test("writer-test.myshopify.com", key, &noise)
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

    /// The files in the journal with this extension.
    fn files(store: &Store, extension: &str) -> Vec<std::path::PathBuf> {
        let dir = &store.landing().expect("a file database has a journal").dir;
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        let mut found: Vec<_> = entries
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == extension))
            .collect();
        found.sort();
        found
    }

    /// Background work that gives way to intake goes on at once when
    /// intake is quiet, and at the latest after its bound while a stream
    /// never pauses (here: a delivery never answered).
    #[tokio::test]
    async fn giving_way_to_intake_is_bounded() {
        let limit = std::time::Duration::from_secs(60);
        let quiet = IntakeGate::default();
        assert!(!quiet.is_busy());
        tokio::time::timeout(
            limit,
            quiet.wait_quiet(std::time::Duration::from_secs(3600)),
        )
        .await
        .expect("a quiet intake holds nothing back");

        let streaming = IntakeGate::default();
        streaming
            .pending
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        streaming
            .last_submit
            .store(crate::store::now_ms(), std::sync::atomic::Ordering::Relaxed);
        assert!(streaming.is_busy());
        tokio::time::timeout(
            limit,
            streaming.wait_quiet(std::time::Duration::from_millis(20)),
        )
        .await
        .expect("a busy intake holds work back no longer than the bound");
        assert!(
            streaming.is_busy(),
            "the wait ended at its bound, not because intake went quiet"
        );
    }

    /// A steady stream, many segments long: every delivery stored and in
    /// the inbox once; the journal goes on to new segments as each fills,
    /// and once everything is moved it holds a few files, which the next
    /// segment reuses.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_steady_stream_keeps_the_journal_bounded_and_loses_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = sqlite_store(&dir).await;
        let segment_bytes = 256 * 1024;
        store.landing.as_mut().unwrap().segment_bytes = segment_bytes;
        let (writer, handle) = IntakeWriter::spawn(store.clone(), 512, Arc::new(Notify::new()));
        // Many senders, each sending its next delivery as soon as the last
        // is answered, so the writer always has the next batch waiting.
        let (senders, each) = (64, 100);
        let total = senders * each;
        // Watch the journal all the while.
        let streaming = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let watch = tokio::spawn({
            let (store, streaming) = (store.clone(), streaming.clone());
            async move {
                let mut seen = std::collections::BTreeSet::new();
                while streaming.load(std::sync::atomic::Ordering::Acquire) {
                    seen.extend(files(&store, "seg"));
                    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                }
                seen.len()
            }
        });
        let answers = join_all((0..senders).map(|sender| {
            let writer = writer.clone();
            async move {
                let mut stored = 0;
                for i in 0..each {
                    if writer
                        .submit(delivery(&format!("d-{sender}-{i}")))
                        .await
                        .is_ok()
                    {
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
        let seen = watch.await.unwrap();
        drop(writer);
        handle.shutdown().await;

        assert_eq!(count(&store).await, total as i64);
        // About 20 MB of records went through segments of 256 kB.
        assert!(seen >= 20, "the journal went through {seen} segments");
        let sizes: Vec<u64> = files(&store, "seg")
            .into_iter()
            .chain(files(&store, "free"))
            .map(|f| std::fs::metadata(f).unwrap().len())
            .collect();
        assert!(sizes.len() <= 1 + super::landing::KEEP_FREE, "{sizes:?}");
        assert!(
            sizes
                .iter()
                .all(|&size| size <= segment_bytes + 512 * 3_200),
            "{sizes:?}"
        );
        // The next process's segment is a kept file, not a new one.
        use std::os::unix::fs::MetadataExt;
        let inode = |f: &std::path::PathBuf| std::fs::metadata(f).unwrap().ino();
        let kept: Vec<u64> = files(&store, "free").iter().map(inode).collect();
        assert!(!kept.is_empty(), "finished segments are kept for reuse");
        let (writer, handle) = IntakeWriter::spawn(store.clone(), 512, Arc::new(Notify::new()));
        writer.submit(delivery("next")).await.unwrap();
        drop(writer);
        handle.shutdown().await;
        let segments = files(&store, "seg");
        assert_eq!(
            segments.len(),
            1,
            "the one before is finished: {segments:?}"
        );
        assert!(
            kept.contains(&inode(&segments[0])),
            "{segments:?} is a new file"
        );
        assert_eq!(count(&store).await, total as i64 + 1);
        assert_eq!(
            pending(&store),
            0,
            "every delivery answered is off the gate"
        );
    }

    /// A batch the journal cannot take is answered with the reason; the
    /// next one is stored.
    #[tokio::test]
    async fn a_batch_that_fails_is_answered_with_its_error_and_the_next_one_is_stored() {
        let dir = tempfile::tempdir().unwrap();
        let store = sqlite_store(&dir).await;
        let journal = store.landing().unwrap().dir.clone();
        // A file where the journal's directory goes: nothing can be written.
        std::fs::write(&journal, b"in the way").unwrap();
        let (writer, handle) = IntakeWriter::spawn(store.clone(), 512, Arc::new(Notify::new()));

        let refused = writer.submit(delivery("refused")).await;
        assert!(
            matches!(&refused, Err(IntakeError::Database(why)) if why.contains("journal")),
            "{refused:?}"
        );
        std::fs::remove_file(&journal).unwrap();
        writer.submit(delivery("fine")).await.unwrap();
        drop(writer);
        handle.shutdown().await;
        let keys: Vec<String> = sqlx::query_scalar("SELECT delivery_key FROM webhook_inbox")
            .fetch_all(store.reader())
            .await
            .unwrap();
        assert_eq!(keys, ["fine"]);
        assert_eq!(
            pending(&store),
            0,
            "every delivery answered is off the gate"
        );
    }
}
