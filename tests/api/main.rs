//! Black-box tests: each starts Advocate on a random port with a fresh
//! database (a SQLite file, or a new PostgreSQL database) and talks to it
//! over HTTP. Every test runs on both backends.

mod activities;
mod admin_api;
mod analytics;
mod anniversaries;
mod auth;
mod backup;
mod batches;
mod cashback;
mod compliance;
mod exports;
mod forecast;
mod helpers;
mod history;
mod intake;
mod loyalty;
mod member_import;
mod merchant_api;
mod metrics;
mod nps;
mod offers;
mod outbound_webhooks;
mod outbox;
mod processes;
mod processing;
mod program;
mod referrals;
mod reorder;
mod rewards;
mod sandbox;
mod schema;
mod security;
mod segments;
mod statistics;
mod store_credit;
mod surfaces;
mod webhooks;
mod winback;
