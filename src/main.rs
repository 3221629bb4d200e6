//! The `advocate` command: runs the service, or one maintenance task.

use clap::{Parser, Subcommand};

use advocate::{
    app::Application, config::Config, crypto::TokenCipher, shopify::tokens, store::Store, telemetry,
};

#[derive(Parser)]
#[command(
    name = "advocate",
    version,
    about = "Loyalty, VIP tiers and referrals for Shopify"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Re-encrypt every stored token under ADVOCATE_ENCRYPTION_KEY (run with
    /// the old key in ADVOCATE_ENCRYPTION_KEY_PREVIOUS), then exit.
    RotateKey,
    /// Fill a running sandbox with a realistic store: customers, a year of
    /// orders, refunds, referrals and redemptions, through signed webhooks
    /// and app proxy requests. Sandbox only.
    Simulate {
        /// The running sandbox (default: http://HOST:PORT from the environment).
        #[arg(long)]
        url: Option<String>,
        /// How many customers sign up.
        #[arg(long, default_value_t = 3000)]
        customers: usize,
        /// Over how many months.
        #[arg(long, default_value_t = 12)]
        months: u32,
        /// The same seed makes the same store.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Requests in flight at once.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
    },
    /// Copy the SQLite database to PATH while Advocate runs (a consistent
    /// snapshot, via VACUUM INTO), then exit. PostgreSQL: use pg_dump.
    Backup {
        /// Where to write the copy; must not exist.
        path: std::path::PathBuf,
    },
}

#[tokio::main(worker_threads = 1)]
async fn main() {
    advocate::memory::return_large_blocks_when_freed();
    let cli = Cli::parse();
    telemetry::init();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("advocate: configuration error: {e}");
            std::process::exit(2);
        }
    };
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config).await,
        Command::Migrate => migrate(config).await,
        Command::RotateKey => rotate_key(config).await,
        Command::Simulate {
            url,
            customers,
            months,
            seed,
            concurrency,
        } => {
            let url = url.unwrap_or_else(|| format!("http://{}:{}", config.host, config.port));
            let options = advocate::sandbox::simulate::Options {
                url,
                customers,
                months,
                seed,
                concurrency,
            };
            simulate(config, options).await
        }
        Command::Backup { path } => backup(config, &path).await,
    };
    if let Err(e) = result {
        eprintln!("advocate: {e:#}");
        std::process::exit(1);
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let app = Application::build(config).await?;
    if let Some(url) = app.sandbox_url() {
        println!("Advocate sandbox: open {url}");
        println!(
            "  demo shop, no Shopify account: `advocate simulate` fills it with a year of orders"
        );
    }
    app.run_until_stopped().await
}

async fn simulate(
    config: Config,
    options: advocate::sandbox::simulate::Options,
) -> anyhow::Result<()> {
    if !config.sandbox {
        anyhow::bail!(
            "simulate drives the sandbox only; Shopify credentials are configured, so this is a real install"
        );
    }
    let store = Store::connect_read_only(&config.database_url).await?;
    eprintln!(
        "simulating {} customers over {} months against {}",
        options.customers, options.months, options.url
    );
    let started = std::time::Instant::now();
    let report = advocate::sandbox::simulate::run(&store, &options).await?;
    println!(
        "sent {} webhooks in {:.1} s: {} customers, {} orders ({} by guests, {} referred), \
         {} refunds, {} cancellations, {} redemptions, {} survey answers",
        report.webhooks,
        started.elapsed().as_secs_f64(),
        report.customers,
        report.orders + report.guest_orders,
        report.guest_orders,
        report.referred_orders,
        report.refunds,
        report.cancellations,
        report.redemptions,
        report.nps_answers
    );
    Ok(())
}

async fn migrate(config: Config) -> anyhow::Result<()> {
    let store = Store::connect(&config.database_url, 2).await?;
    store.migrate().await?;
    println!("migrations applied");
    Ok(())
}

async fn rotate_key(config: Config) -> anyhow::Result<()> {
    let store = Store::connect(&config.database_url, 2).await?;
    store.migrate().await?;
    let cipher = TokenCipher::new(
        &config.encryption_key,
        config.encryption_key_previous.as_ref(),
    );
    let rewritten = tokens::rotate_key(&store, &cipher).await?;
    println!("re-encrypted the tokens of {rewritten} shops under the current key");
    // The webhook endpoints' signing secrets are sealed the same way.
    let resealed = advocate::jobs::outbound::reseal_secrets(&store, &cipher).await?;
    println!("re-encrypted the signing secrets of {resealed} webhook endpoints");
    Ok(())
}

async fn backup(config: Config, path: &std::path::Path) -> anyhow::Result<()> {
    if !config.database_url.is_sqlite() {
        anyhow::bail!(
            "backup copies SQLite databases; for PostgreSQL use its own tool: \
             pg_dump -Fc -f advocate.dump \"$DATABASE_URL\" (restore with pg_restore, \
             see docs/operations.md)"
        );
    }
    let store = Store::connect(&config.database_url, 2).await?;
    let report = advocate::store::backup::sqlite_backup(&store, path).await?;
    store.close().await;
    println!(
        "backup written to {} ({} bytes, {} webhook deliveries, integrity ok)",
        path.display(),
        report.bytes,
        report.inbox_rows
    );
    Ok(())
}
