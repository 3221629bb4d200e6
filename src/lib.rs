//! # Advocate
//!
//! The backend of a Shopify loyalty app: it turns one-time shoppers into
//! repeat customers and advocates with points, VIP tiers and referrals.
//!
//! The layers, bottom to top: dependencies point down only, and
//! `tests/layers.rs` checks it by reading the source.
//!
//! | module | owns |
//! |---|---|
//! | [`loyalty`] | the loyalty rules, pure: settings, money, points, typed ids and times, earning and clawback, tiers, referral fraud rules, segments, win-back, NPS, personal offers |
//! | [`store`] | all SQL, one file per aggregate, on SQLite or PostgreSQL; which database ([`store::DatabaseUrl`]) |
//! | [`engine`] | applies the rules to stored facts inside the caller's transaction: orders (one at a time, or a batch of many in a few set-based statements), customers, adjustments, redemption, referrals, tiers, segments, win-back episodes, NPS answers, personal offers, scheduled jobs; the Shopify changes they ask for ([`engine::effects`]) |
//! | [`shopify`] | Shopify's protocols: shop domains, signatures, webhooks and their payloads (into the engine's events), OAuth, session tokens, token lifecycle, the Admin API (the engine's effects made into calls) |
//! | `service` | the use cases: one function per request of a merchant, a shopper or Shopify; each owns its transaction and returns a typed answer or error |
//! | [`jobs`] | background work: the webhook inbox processor and its topic handlers, the outbox sender, scheduled loyalty jobs, the dashboard refresh, retention |
//! | [`analytics`] | the merchant dashboard: metric definitions (pure) and per-shop snapshots; the win-back report |
//! | [`routes`] | HTTP adapters (parse, call one use case, serialize) and the guards in front of them; the embedded admin page (`web/admin/`, compiled in) |
//! | [`app`] | builds the HTTP server, its state and the background workers, and stops them in order |
//! | [`sandbox`] | Advocate without a Shopify account: own credentials, the stand-in (the `shopify_sim` crate) in-process, a demo shop, `simulate` |
//! | [`config`] | typed settings from the environment; secrets are never printed |
//! | [`crypto`] | tokens at rest: AES-256-GCM with key ids for rotation |
//! | `error` | the HTTP error every route answers with, and the one mapping of each use case's errors to it |
//! | `error_text` | error texts safe to store and log: the kind and the JSON path of a fault, never the value |
//! | [`metrics`] | Prometheus metrics: counters on the hot paths, database figures read on scrape |
//! | [`ops`] | operations settings: who reads `/metrics`, how long a stop may take |
//! | [`memory`] | how freed memory goes back to the operating system |
//! | [`telemetry`] | logs: JSON lines, or readable text on a terminal |
//!
//! What is `pub` here is what the binaries (`advocate`, `advocate-bench`)
//! and the tests use; the rest is `pub(crate)`.
//!
//! ## One store layer, two databases
//!
//! Storage goes through sqlx's `Any` driver: every query has one text that runs
//! on both SQLite and PostgreSQL (`$n` placeholders, epoch-millisecond
//! `BIGINT` times, 0/1 flags, explicit column lists). The few statements whose
//! dialects differ (claiming queue rows with `FOR UPDATE SKIP LOCKED`) are
//! chosen by [`store::Dialect`], the one place that knows the backends apart;
//! migrations live in one folder per backend, and `tests/api/schema.rs` holds
//! the two to one schema. This keeps one copy of every query at the cost of
//! compile-time checked SQL, which sqlx's `Any` driver cannot offer; the test
//! suite runs every test on both backends instead.
//!
//! ## Never lose, never double
//!
//! A webhook is answered 200 only after it is committed to the inbox
//! ([`store::inbox`]); concurrent requests share one commit
//! ([`store::writer`]). Handlers run later, each in one transaction that also
//! marks the row done, so a delivery's effect commits exactly once even when
//! a process dies mid-row or Shopify delivers twice.

pub mod analytics;
pub mod app;
pub mod config;
pub mod crypto;
pub mod egress;
pub mod engine;
pub(crate) mod error;
pub(crate) mod error_text;
pub mod jobs;
pub mod loyalty;
pub mod memory;
pub mod metrics;
pub mod ops;
pub mod routes;
pub mod sandbox;
pub(crate) mod service;
pub mod shopify;
pub mod store;
pub mod telemetry;
