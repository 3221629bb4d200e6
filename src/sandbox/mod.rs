//! Sandbox mode: Advocate without a Shopify account. With no Shopify
//! credentials configured, Advocate makes its own (a client secret and a
//! token key, kept in the database), runs the local Shopify stand-in
//! ([`shopify_sim`], the `sim/` crate) in the same process, installs a demo shop through the
//! real token exchange, and serves the admin page with a local stand-in for
//! App Bridge whose session tokens `GET /sandbox/session-token` signs.
//! [`simulate`] then drives a realistic store through the real signed
//! webhook and app proxy paths.
//!
//! The sandbox and real credentials never meet: the configuration refuses
//! `ADVOCATE_SANDBOX` next to credentials, the sandbox refuses a database
//! that holds real shops, and Advocate with credentials refuses a database
//! the sandbox made.

pub mod simulate;

use anyhow::{bail, Context};
use base64::{engine::general_purpose::STANDARD as BASE64, Engine};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};

use crate::{
    config::Config,
    crypto::EncryptionKey,
    shopify::{
        session_token::{admin_claims, extension_claims, sign_session_token},
        tokens::ShopTokens,
        ShopDomain,
    },
    store::{now_ms, sandbox as stored, Store},
};
use shopify_sim::{ShopifySim, SimConfig};

/// The sandbox app's client id.
pub const API_KEY: &str = "advocate-sandbox";

/// The shop the sandbox installs.
pub const DEMO_SHOP: &str = "advocate-demo.myshopify.com";

/// Staff member id in the sandbox's session tokens.
const DEMO_STAFF: u64 = 1;

/// Fills the configuration of a sandbox with its client id and the
/// credentials stored in its database (made on first start), or, for a real install, checks that the
/// database is not a sandbox's.
pub async fn prepare(config: &mut Config, store: &Store) -> anyhow::Result<()> {
    let mut conn = store.writer().acquire().await?;
    if !config.sandbox {
        if stored::find(&mut conn).await?.is_some() {
            bail!(
                "this database was made by the sandbox (demo data); give Advocate with real \
                 Shopify credentials a database of its own (DATABASE_URL)"
            );
        }
        return Ok(());
    }
    if stored::other_shops(&mut conn, DEMO_SHOP).await? > 0 {
        bail!(
            "sandbox mode (no Shopify credentials configured) refuses a database that holds \
             real shops; set the app's credentials, or point DATABASE_URL at a new database"
        );
    }
    let credentials = stored::load_or_create(&mut conn, fresh_credentials(), now_ms())
        .await
        .context("storing the sandbox credentials")?;
    config.shopify.api_key = API_KEY.to_owned();
    // The demo shop's past is what `simulate` sends as webhooks: its orders
    // earn as they arrive, so no history import marks them as before the
    // program (one can still be asked for from the admin page).
    config.runtime.history_on_install = false;
    config.shopify.api_secret = SecretString::from(credentials.api_secret);
    config.shopify.api_secret_previous = None;
    config.encryption_key = EncryptionKey::parse(&credentials.encryption_key).map_err(|e| {
        anyhow::anyhow!("the stored sandbox key is unusable: ADVOCATE_ENCRYPTION_KEY: {e}")
    })?;
    config.encryption_key_previous = None;
    Ok(())
}

fn fresh_credentials() -> stored::SandboxCredentials {
    let mut secret = [0u8; 32];
    let mut key = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    rand::rngs::OsRng.fill_bytes(&mut key);
    stored::SandboxCredentials {
        api_secret: format!("sandbox-{}", hex::encode(secret)),
        encryption_key: BASE64.encode(key),
    }
}

/// The secret of a sandbox database, for `simulate`; an error for a real one.
pub async fn stored_secret(store: &Store) -> anyhow::Result<String> {
    let mut conn = store.reader().acquire().await?;
    match stored::find(&mut conn).await? {
        Some(credentials) => Ok(credentials.api_secret),
        None => bail!(
            "this database is not a sandbox's: simulate only drives the sandbox (start \
             Advocate with no Shopify credentials first)"
        ),
    }
}

/// Starts the Shopify stand-in in this process and points Advocate at it.
pub fn start_shopify(config: &mut Config) -> anyhow::Result<ShopifySim> {
    let mut sim_config = SimConfig::new(
        &config.shopify.api_key,
        config.shopify.api_secret.expose_secret(),
    );
    // A Plus shop, so large simulated stores sync quickly.
    sim_config.restore_rate = 1000.0;
    sim_config.bucket_size = 10_000.0;
    let sim = ShopifySim::start(sim_config).context("starting the Shopify stand-in")?;
    sim.install(DEMO_SHOP);
    sim.set_time_zone(DEMO_SHOP, "America/New_York");
    // A past for the admin page's history import to read (customers and
    // orders of their own, apart from what `simulate` sends).
    sim.set_history(DEMO_SHOP, 200, 1_000);
    config.api_origin = Some(sim.origin().to_owned());
    Ok(sim)
}

/// Installs the demo shop the way the App Store does: App Bridge's first
/// session token is exchanged for offline tokens. Runs on every start, since
/// the stand-in forgets its tokens when the process ends.
pub async fn install_demo_shop(config: &Config, tokens: &ShopTokens) -> anyhow::Result<()> {
    let shop = ShopDomain::parse(DEMO_SHOP).expect("the demo shop's domain is valid");
    tokens
        .install_with_session_token(&shop, &session_token(config))
        .await
        .context("installing the demo shop")?;
    Ok(())
}

/// A session token for the demo shop's staff member, as App Bridge would
/// give the page.
pub fn session_token(config: &Config) -> String {
    demo_session_token(
        &config.shopify.api_key,
        config.shopify.api_secret.expose_secret(),
    )
}

/// A session token for the demo shop's staff member, signed with `secret`,
/// in the admin (App Bridge) shape.
pub fn demo_session_token(api_key: &str, secret: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    sign_session_token(
        secret,
        &admin_claims(DEMO_SHOP, api_key, DEMO_STAFF, now, 60),
    )
}

/// A demo shopper's extension session token (checkout, thank-you page), in
/// the shape Shopify documents: no `iss`, `dest` the bare shop domain,
/// `sub` the customer's GID; signed with `secret`.
pub fn demo_shopper_token(api_key: &str, secret: &str, customer_id: i64) -> String {
    let now = chrono::Utc::now().timestamp();
    sign_session_token(
        secret,
        &extension_claims(DEMO_SHOP, api_key, Some(customer_id), now, 60),
    )
}

/// The one URL to open: the embedded page for the demo shop, with the
/// `host` parameter Shopify admin would add.
pub fn open_url(app_url: &str) -> String {
    let store_name = DEMO_SHOP.trim_end_matches(".myshopify.com");
    let host = base64::engine::general_purpose::STANDARD_NO_PAD
        .encode(format!("admin.shopify.com/store/{store_name}"));
    format!("{app_url}/?shop={DEMO_SHOP}&host={host}&embedded=1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_open_url_names_the_demo_shop_and_its_admin_host() {
        let url = open_url("http://127.0.0.1:8080");
        assert!(url.starts_with("http://127.0.0.1:8080/?shop=advocate-demo.myshopify.com&host="));
        assert!(url.ends_with("&embedded=1"));
        let host = url
            .split("host=")
            .nth(1)
            .unwrap()
            .split('&')
            .next()
            .unwrap();
        let decoded = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(host)
            .unwrap();
        assert_eq!(decoded, b"admin.shopify.com/store/advocate-demo");
    }

    #[test]
    fn fresh_credentials_are_random_and_usable() {
        let a = fresh_credentials();
        let b = fresh_credentials();
        assert_ne!(a.api_secret, b.api_secret);
        assert!(EncryptionKey::parse(&a.encryption_key).is_ok());
    }
}
