//! `advocate-bench admin-api`: Admin API pacing against the Shopify
//! stand-in, and the bulk path against one call per customer.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use advocate::{
    crypto::EncryptionKey,
    crypto::TokenCipher,
    shopify::{
        admin::{self, api::AdminApi, client::AdminClient, client::RetryPolicy},
        oauth::{OAuthClient, ShopifyEndpoint},
        session_token::{admin_claims, sign_session_token},
        tokens::ShopTokens,
        ShopDomain,
    },
    store::DatabaseUrl,
    store::Store,
};
use futures_util::StreamExt;
use serde_json::json;
use shopify_sim::{ShopifySim, SimConfig};

use crate::{cli::AdminArgs, SECRET};

/// The shop installed on the stand-in, and the real client that reaches it.
struct Installed {
    sim: ShopifySim,
    shop: ShopDomain,
    api: AdminApi,
    /// Holds the database the tokens are kept in.
    _dir: tempfile::TempDir,
}

/// Pushes tag changes through the real client, pacer and token service to
/// the stand-in, then re-tags many customers through the bulk path.
pub async fn run(args: AdminArgs) -> anyhow::Result<()> {
    let installed = install(&args).await?;
    println!(
        "Admin API: {} tag changes, {} in flight; plan restores {} points/s, bucket {}; stand-in at {}x time",
        args.changes, args.concurrency, args.restore_rate, args.bucket_size, args.time_scale
    );
    let calls_per_second = one_call_each(&args, &installed).await;
    bulk(&args, &installed, calls_per_second).await
}

/// Starts the stand-in with the plan of `args` and installs the bench shop
/// through the real token exchange.
async fn install(args: &AdminArgs) -> anyhow::Result<Installed> {
    let shop = ShopDomain::parse("bench.myshopify.com")?;
    let mut config = SimConfig::new("bench-client-id", SECRET);
    config.restore_rate = args.restore_rate;
    config.bucket_size = args.bucket_size;
    config.time_scale = args.time_scale;
    let sim = ShopifySim::start(config)?;
    sim.install(shop.as_str());
    let dir = tempfile::tempdir()?;
    let store = Store::connect(
        &DatabaseUrl::parse(format!("sqlite://{}/bench.db", dir.path().display()))?,
        2,
    )
    .await?;
    store.migrate().await?;
    let endpoint = ShopifyEndpoint::new(Some(sim.origin().to_owned()));
    let tokens = Arc::new(ShopTokens::new(
        store.clone(),
        Arc::new(TokenCipher::new(
            &EncryptionKey::from_bytes(rand::random()),
            None,
        )),
        OAuthClient::new(
            endpoint.clone(),
            "bench-client-id",
            &SECRET.to_owned().into(),
        ),
    ));
    let now = chrono::Utc::now().timestamp();
    let session = sign_session_token(
        SECRET,
        &admin_claims(shop.as_str(), "bench-client-id", 1, now, 60),
    );
    tokens.install_with_session_token(&shop, &session).await?;
    let api = AdminApi::new(
        AdminClient::new(endpoint, Duration::from_secs(20), RetryPolicy::default()),
        tokens,
    );
    Ok(Installed {
        sim,
        shop,
        api,
        _dir: dir,
    })
}

/// `args.changes` tag changes, one call each, `args.concurrency` in flight;
/// prints how close the pacer kept to the restore rate and returns the
/// calls per simulated second it sustained.
async fn one_call_each(args: &AdminArgs, installed: &Installed) -> f64 {
    let Installed { sim, shop, api, .. } = installed;
    let started = Instant::now();
    let failures = futures_util::stream::iter(0..args.changes)
        .map(|i| async move {
            let vars =
                json!({ "id": format!("gid://shopify/Customer/{i}"), "tags": ["advocate-bench"] });
            api.call::<serde_json::Value>(shop, admin::TAGS_ADD, vars)
                .await
                .is_err()
        })
        .buffer_unordered(args.concurrency)
        .filter(|failed| std::future::ready(*failed))
        .count()
        .await;
    let real = started.elapsed().as_secs_f64();
    let simulated = real * args.time_scale;
    let (points, throttled, served) = sim.admin(|a| (a.points, a.throttled, a.served));
    // The first bucket is free; after it, the restore rate is the ceiling.
    let sustained = (points - args.bucket_size).max(0.0) / simulated;
    println!("  calls answered                {served} ({failures} failed)");
    println!("  throttled responses           {throttled}");
    println!("  simulated time                {simulated:.1} s ({real:.2} s here)");
    println!(
        "  sustained points/s            {sustained:.1} = {:.1} % of the restore rate",
        100.0 * sustained / args.restore_rate
    );
    (served as f64 - args.bucket_size / 10.0) / simulated
}

/// Re-tags `args.bulk_customers` customers with one bulk operation, against
/// the time one call each would take at `calls_per_second`.
async fn bulk(
    args: &AdminArgs,
    installed: &Installed,
    calls_per_second: f64,
) -> anyhow::Result<()> {
    let variables: Vec<serde_json::Value> = (0..args.bulk_customers)
        .map(|i| json!({ "id": format!("gid://shopify/Customer/{i}"), "tags": ["advocate-tier:gold"] }))
        .collect();
    let started = Instant::now();
    let result = admin::bulk::run_bulk_mutation(
        &installed.api,
        &reqwest::Client::new(),
        &installed.shop,
        admin::TAGS_ADD,
        &variables,
        Duration::from_millis(50),
    )
    .await?;
    let bulk = started.elapsed().as_secs_f64();
    let per_call = args.bulk_customers as f64 / calls_per_second;
    println!(
        "re-tag {} customers: bulk {} in {bulk:.2} s here ({} objects); one call each at the measured rate: {per_call:.0} s ({:.1} h) of Shopify time",
        args.bulk_customers,
        result.status,
        result.object_count.unwrap_or_default(),
        per_call / 3600.0
    );
    Ok(())
}
