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
    /// Copy the SQLite database to PATH while Advocate runs (a consistent
    /// snapshot, via VACUUM INTO), then exit. PostgreSQL: use pg_dump.
    Backup {
        /// Where to write the copy; must not exist.
        path: std::path::PathBuf,
    },
}

#[tokio::main(worker_threads = 1)]
async fn main() {
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
        Command::Backup { path } => backup(config, &path).await,
    };
    if let Err(e) = result {
        eprintln!("advocate: {e:#}");
        std::process::exit(1);
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    Application::build(config).await?.run_until_stopped().await
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
    Ok(())
}

async fn backup(config: Config, path: &std::path::Path) -> anyhow::Result<()> {
    if !config.database_url.is_sqlite() {
        anyhow::bail!(
            "backup copies SQLite databases; for PostgreSQL use its own tool: \
             pg_dump -Fc -f advocate.dump \"$DATABASE_URL\" (restore with pg_restore, see README)"
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
