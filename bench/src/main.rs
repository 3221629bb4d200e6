//! `advocate-bench`: measures Advocate against a baseline in the same run.
//!
//! `advocate-bench webhooks` starts Advocate (the `advocate` binary beside
//! this one) on a fresh database and two baseline servers: one that only
//! verifies the HMAC and answers 200 (the ceiling), and one that also
//! appends each verified body to a file and answers only after an
//! `fdatasync` shared by every delivery waiting (the least any receiver
//! must do to answer "on disk"). It drives all three with signed
//! `orders/paid`-sized deliveries over keep-alive HTTP/1.1 connections and
//! prints throughput, latency, inbox processing rate and peak memory, with
//! ratios. It then measures processing against a floor: deliveries stored
//! by Advocate's intake with processing off, processed by a minimal
//! processor in the bench (claim, decompress, parse, one ledger row each,
//! one transaction per batch), and a backlog drained by Advocate and by
//! that floor.
//!
//! | module | what it holds |
//! |---|---|
//! | [`cli`] | the command line: subcommands and their options |
//! | [`baseline`] | the floor and ceiling servers (HMAC only; HMAC and a synced journal) |
//! | [`servers`] | starting the measured servers and their databases |
//! | [`traffic`] | signed deliveries, keep-alive connections, closed and open loops |
//! | [`webhooks`] | `webhooks`: the three servers measured in one run, then processing |
//! | [`floor`] | the processing floor: the least any inbox processor must do |
//! | [`load`] | `load`: an Advocate that is already running |
//! | [`admin_api`] | `admin-api`: pacing and bulk against the Shopify stand-in |
//! | [`analytics`] | `analytics`: the dashboard of a large shop; [`seed`] fills it |
//! | [`history`] | `history`: a shop's history imported while webhooks arrive |
//! | [`member_import`] | `import`: a CSV of members from another loyalty app |
//! | [`report`] | the tables printed at the end |

mod admin_api;
mod analytics;
mod baseline;
mod cli;
mod floor;
mod history;
mod load;
mod member_import;
mod report;
mod seed;
mod servers;
mod traffic;
mod webhooks;

use clap::Parser;

use cli::{Bench, Cli};

/// The client secret every measured server verifies with.
const SECRET: &str = "bench-client-secret";

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Bench::BaselineServer {
            port,
            workers,
            journal,
        } => baseline::serve(port, workers, journal),
        Bench::Webhooks(args) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(webhooks::run(args)),
        Bench::AdminApi(args) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(admin_api::run(args)),
        Bench::Analytics(args) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(analytics::run(args)),
        Bench::History(args) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(history::run(args)),
        Bench::Import(args) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(member_import::run(args)),
        Bench::Load(args) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?
            .block_on(load::run(args)),
    }
}
