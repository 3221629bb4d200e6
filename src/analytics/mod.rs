//! Dashboard analytics: what the merchant's dashboard shows and how each
//! figure is defined.
//!
//! - [`metrics`]: the definitions, pure: periods and their trend buckets,
//!   rates as integer fractions with a one-decimal percent, customer
//!   lifetime value, the points liability, and the dashboard assembled from
//!   the aggregates the store returns. No SQL, no clock.
//! - [`refresh`]: keeps per-shop, per-period snapshots of the dashboard
//!   (computing one from raw rows takes too long for a page load at a
//!   million orders): computes them through [`crate::store::analytics`],
//!   and in the background recomputes the shops whose orders or ledger
//!   changed, under a lease so several processes do not repeat the work.
//! - [`segments`]: the segments report, kept as a snapshot per shop and
//!   period like the dashboard: computed when a request finds none or
//!   finds the segments recomputed or the settings changed since, and in
//!   the background when the shop's orders or segment moves changed.
//! - [`winback`]: the win-back report, pure: at-risk episodes that got an
//!   offer against the holdout that got none (computed on request from
//!   [`crate::store::winback::report`]).
//!
//! Invariants: money is integer minor units, rates are integer
//! numerator/denominator pairs; nothing goes through floating point. The
//! docs/dashboard-metrics.md documents every definition.

pub mod metrics;
pub mod refresh;
pub mod segments;
pub(crate) mod winback;
