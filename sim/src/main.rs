//! `advocate-shopify-sim`: the local Shopify stand-in as a program, for
//! running Advocate against something that answers like Shopify without a
//! Shopify account. Point Advocate's `SHOPIFY_API_ORIGIN` at it.

use clap::Parser;

use shopify_sim::{ShopifySim, SimConfig};

#[derive(Parser)]
#[command(
    name = "advocate-shopify-sim",
    about = "A local stand-in for Shopify's OAuth and Admin API"
)]
struct Args {
    /// Port to listen on (0: any free port; the origin is printed).
    #[arg(long, default_value_t = 8090)]
    port: u16,
    /// The app's client id, as Advocate's SHOPIFY_API_KEY.
    #[arg(long, env = "SHOPIFY_API_KEY")]
    api_key: String,
    /// The app's client secret, as Advocate's SHOPIFY_API_SECRET.
    #[arg(long, env = "SHOPIFY_API_SECRET", hide_env_values = true)]
    api_secret: String,
    /// Admin API restore rate, points/s: 100 Standard, 200 Advanced, 1000 Plus, 2000 Enterprise.
    #[arg(long, default_value_t = 100.0)]
    restore_rate: f64,
    /// Admin API bucket size, points.
    #[arg(long, default_value_t = 1000.0)]
    bucket_size: f64,
    /// Simulated seconds per real second.
    #[arg(long, default_value_t = 1.0)]
    time_scale: f64,
    /// Access token lifetime, seconds.
    #[arg(long, default_value_t = 3600)]
    token_ttl: i64,
    /// Shops that have the app installed from the start.
    #[arg(long = "install")]
    installed: Vec<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut config = SimConfig::new(&args.api_key, &args.api_secret);
    config.restore_rate = args.restore_rate;
    config.bucket_size = args.bucket_size;
    config.time_scale = args.time_scale;
    config.access_token_ttl = args.token_ttl;
    let sim = ShopifySim::start_on(config, ("127.0.0.1", args.port))?;
    for shop in &args.installed {
        sim.install(shop);
    }
    println!("Shopify stand-in at {}", sim.origin());
    println!(
        "set SHOPIFY_API_ORIGIN={} in Advocate's environment",
        sim.origin()
    );
    tokio::signal::ctrl_c().await?;
    Ok(())
}
