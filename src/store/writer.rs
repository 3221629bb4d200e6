//! Group commit for webhook intake. Each request hands its delivery to a
//! writer task and waits; the writer takes whatever else is waiting (up to a
//! batch), inserts it all in one transaction, commits, and only then answers
//! every caller. The cost of making a commit durable is shared by the batch,
//! so each answer still means "on disk".
//!
//! SQLite gets one writer (it has one write lock); PostgreSQL gets several,
//! so batches overlap their round trips.

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use tokio::sync::{mpsc, oneshot, Mutex, Notify};

use super::{inbox, Dialect, Store};

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
    done: oneshot::Sender<Result<(), IntakeError>>,
}

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
}

impl IntakeWriter {
    /// Starts the writer tasks. `committed` is notified after each commit so
    /// the inbox processor wakes at once.
    pub fn spawn(store: Store, max_batch: usize, committed: Arc<Notify>) -> (Self, IntakeHandle) {
        let gate = store.intake_gate().clone();
        let (jobs, receiver) = mpsc::channel::<Job>(max_batch * 8);
        let receiver = Arc::new(Mutex::new(receiver));
        let writers = match store.dialect() {
            Dialect::Sqlite => 1,
            Dialect::Postgres => 4,
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
        (Self { jobs, gate }, IntakeHandle { tasks })
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
    pub async fn shutdown(self) {
        for task in self.tasks {
            let _ = task.await;
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
        if gate.pending.fetch_sub(waiters.len(), Ordering::AcqRel) == waiters.len() {
            gate.idle.notify_waiters();
        }
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

async fn commit(store: &Store, deliveries: &[inbox::NewDelivery]) -> Result<u64, sqlx::Error> {
    let mut tx = store.begin().await?;
    let inserted = inbox::insert_deliveries(&mut tx, store.dialect(), deliveries).await?;
    tx.commit().await?;
    Ok(inserted)
}
