//! Background work that runs in every Advocate process and is safe with
//! several processes on one database: each unit of work is claimed with a
//! lease and finished in the transaction that commits its effect.

pub mod history;
pub mod inbox;
pub mod outbound;
pub mod outbox;
pub(crate) mod privacy;
pub mod retention;
pub(crate) mod scheduled;
pub mod topics;
