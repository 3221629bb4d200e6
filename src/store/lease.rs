//! Lease owners: the names workers write into the `lease_owner` column of a
//! queue (`webhook_inbox`, `outbox`) or into `job_leases`. Each name is
//! unique to its worker and process (`{pid}-{random}-{index}`, with a
//! prefix naming the kind of worker), so a lease taken by one process is
//! never mistaken for another's.

use super::{inbox, outbox, Store};

/// A name unique to this process: `{pid}-{random}-{index}`.
fn unique(index: usize) -> String {
    format!(
        "{}-{:08x}-{index}",
        std::process::id(),
        rand::random::<u32>()
    )
}

/// The `index`th inbox processor of this process.
pub fn inbox_worker(index: usize) -> String {
    unique(index)
}

/// The `index`th outbox sender of this process.
pub fn outbox_worker(index: usize) -> String {
    format!("outbox-{}", unique(index))
}

/// The outbox sender that requests drive right after their commit.
pub fn inline_outbox() -> String {
    format!("outbox-inline-{}", unique(0))
}

/// The outbound webhook sender of this process.
pub fn outbound() -> String {
    format!("outbound-{}", unique(0))
}

/// The scheduled loyalty jobs of this process.
pub fn scheduler() -> String {
    format!("jobs-{}", unique(0))
}

/// The dashboard refresher of this process.
pub fn analytics() -> String {
    format!("analytics-{}", unique(0))
}

/// The history importer of this process.
pub fn history() -> String {
    format!("history-{}", unique(0))
}

/// A reorder learning round a merchant asked for, in this process.
pub fn reorder_learning() -> String {
    format!("reorder-learn-{}", unique(0))
}

/// A worker's name in the `lease_owner` column of its queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseOwner {
    Inbox(String),
    Outbox(String),
}

impl LeaseOwner {
    /// Hands back every row the worker still holds, so another worker
    /// takes them at once; returns how many.
    pub async fn release(&self, store: &Store) -> Result<u64, sqlx::Error> {
        match self {
            LeaseOwner::Inbox(owner) => inbox::release_leases(store, owner).await,
            LeaseOwner::Outbox(owner) => outbox::release_leases(store, owner).await,
        }
    }
}
