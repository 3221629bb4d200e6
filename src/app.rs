//! Builds the running service: the store (migrated), the intake writer, the
//! inbox workers and the HTTP server, and stops them in order.

use std::{net::TcpListener, sync::Arc, time::Duration};

use actix_web::{middleware, web, App, HttpServer};
use anyhow::Context;
use tokio::{
    sync::{watch, Notify},
    task::JoinHandle,
};

use crate::{
    config::Config,
    crypto::TokenCipher,
    jobs::inbox::InboxProcessor,
    jobs::outbox::OutboxSender,
    routes,
    routes::limits::RateLimiter,
    shopify::hmac::Signer,
    shopify::{
        admin::{
            api::AdminApi,
            client::{AdminClient, RetryPolicy},
        },
        oauth::{OAuthClient, ShopifyEndpoint},
        session_token::SessionTokenVerifier,
        tokens::ShopTokens,
    },
    store::{
        writer::{IntakeHandle, IntakeWriter},
        Dialect, Store,
    },
};

/// What every request handler can reach.
pub struct AppState {
    pub config: Config,
    pub store: Store,
    /// Verifies Shopify's signatures with the current and previous secret.
    pub signer: Signer,
    /// Verifies App Bridge and checkout session tokens.
    pub session_tokens: SessionTokenVerifier,
    /// Installs shops and keeps their tokens fresh.
    pub tokens: Arc<ShopTokens>,
    /// Abuse limits of the storefront-facing routes.
    pub limiter: RateLimiter,
    /// The access scopes declared in `shopify.app.toml`.
    pub scopes: String,
    /// Commits webhook deliveries in groups.
    pub intake: IntakeWriter,
    /// Sends a Shopify effect at once when a shopper waits for it (the
    /// code of a redeemed reward); the outbox workers send the rest.
    pub outbox: Arc<OutboxSender>,
}

/// The app's configuration file, compiled in: its scopes are the ones
/// requested at install.
const APP_TOML: &str = include_str!("../shopify.app.toml");

/// `[access_scopes] scopes` from `shopify.app.toml`.
pub fn declared_scopes() -> String {
    let parsed: toml::Value = APP_TOML.parse().expect("shopify.app.toml is valid TOML");
    parsed["access_scopes"]["scopes"]
        .as_str()
        .expect("shopify.app.toml declares access_scopes.scopes")
        .to_owned()
}

/// A built, bound, not yet running Advocate.
pub struct Application {
    port: u16,
    /// In sandbox mode, the page to open.
    sandbox_url: Option<String>,
    /// In sandbox mode, the Shopify stand-in this process runs.
    _shopify_standin: Option<crate::sim::ShopifySim>,
    store: Store,
    server: actix_web::dev::Server,
    intake: IntakeHandle,
    workers: Vec<JoinHandle<()>>,
    stop_workers: watch::Sender<bool>,
}

impl Application {
    /// Connects and migrates the database, binds the port (0 picks a free
    /// one) and starts the background workers.
    pub async fn build(mut config: Config) -> anyhow::Result<Self> {
        let store = Store::connect(&config.database_url, config.runtime.db_max_connections).await?;
        store.migrate().await?;
        crate::sandbox::prepare(&mut config, &store).await?;
        let shopify_standin = if config.sandbox {
            Some(crate::sandbox::start_shopify(&mut config)?)
        } else {
            None
        };
        // Order and refund deliveries held by a version without the loyalty
        // engine are handled now.
        let topics: Vec<String> = crate::jobs::topics::ENGINE_TOPICS
            .iter()
            .map(|t| t.to_string())
            .collect();
        let topics: Vec<&str> = topics.iter().map(String::as_str).collect();
        let released = crate::store::inbox::release_held(&store, &topics).await?;
        if released > 0 {
            tracing::info!(
                rows = released,
                "held order deliveries queued for the loyalty engine"
            );
        }

        let wake = Arc::new(Notify::new());
        let (intake_writer, intake) =
            IntakeWriter::spawn(store.clone(), config.runtime.intake_batch, wake.clone());

        let (stop_workers, stopped) = watch::channel(false);
        let inbox_workers = config
            .runtime
            .inbox_workers
            .unwrap_or(match store.dialect() {
                Dialect::Sqlite => 1,
                Dialect::Postgres => 4,
            });
        let mut workers: Vec<JoinHandle<()>> = (0..inbox_workers)
            .map(|i| {
                let processor = InboxProcessor::new(
                    store.clone(),
                    InboxProcessor::owner_name(i),
                    config.runtime.inbox_lease,
                    config.runtime.inbox_max_attempts,
                )
                .yielding_to(intake_writer.gate());
                tokio::spawn(processor.run(wake.clone(), stopped.clone()))
            })
            .collect();

        let listener = TcpListener::bind((config.host, config.port))
            .with_context(|| format!("binding {}:{}", config.host, config.port))?;
        let port = listener.local_addr()?.port();
        if config.sandbox {
            config.shopify.app_url = format!("http://{}:{port}", config.host);
            if !config.host.is_loopback() {
                tracing::warn!(
                    host = %config.host,
                    "the sandbox hands out demo session tokens to anyone who can reach it; bind it to 127.0.0.1"
                );
            }
        }
        let http_workers = match config.runtime.http_workers {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        };
        let cipher = Arc::new(TokenCipher::new(
            &config.encryption_key,
            config.encryption_key_previous.as_ref(),
        ));
        let oauth = OAuthClient::new(
            ShopifyEndpoint::new(config.api_origin.clone()),
            &config.shopify.api_key,
            &config.shopify.api_secret,
        );
        let tokens = Arc::new(ShopTokens::new(store.clone(), cipher, oauth));
        if config.sandbox {
            crate::sandbox::install_demo_shop(&config, &tokens).await?;
        }
        let admin_api = Arc::new(AdminApi::new(
            AdminClient::new(
                ShopifyEndpoint::new(config.api_origin.clone()),
                Duration::from_secs(20),
                RetryPolicy::default(),
            ),
            tokens.clone(),
        ));
        for i in 0..config.runtime.outbox_workers {
            let sender = OutboxSender::new(
                store.clone(),
                admin_api.clone(),
                format!("outbox-{}", InboxProcessor::owner_name(i)),
                config.runtime.inbox_lease,
                config.runtime.inbox_max_attempts,
            );
            workers.push(tokio::spawn(sender.run(stopped.clone())));
        }
        if !config.runtime.scheduler_every.is_zero() {
            workers.push(tokio::spawn(run_scheduled_jobs(
                store.clone(),
                config.runtime.scheduler_every,
                stopped.clone(),
            )));
        }
        if !config.runtime.analytics_refresh_every.is_zero() {
            workers.push(tokio::spawn(crate::analytics::refresh::run(
                store.clone(),
                config.runtime.analytics_refresh_every,
                stopped.clone(),
            )));
        }
        let inline_outbox = Arc::new(OutboxSender::new(
            store.clone(),
            admin_api.clone(),
            format!("outbox-inline-{}", InboxProcessor::owner_name(0)),
            config.runtime.inbox_lease,
            config.runtime.inbox_max_attempts,
        ));
        workers.push(tokio::spawn(purge_inbox(
            store.clone(),
            config.runtime.inbox_retention,
            stopped.clone(),
        )));
        let sandbox_url = config
            .sandbox
            .then(|| crate::sandbox::open_url(&config.shopify.app_url));
        let state = web::Data::new(AppState {
            signer: Signer::new(
                &config.shopify.api_secret,
                config.shopify.api_secret_previous.as_ref(),
            ),
            session_tokens: SessionTokenVerifier::new(
                &config.shopify.api_key,
                &config.shopify.api_secret,
                config.shopify.api_secret_previous.as_ref(),
            ),
            tokens,
            limiter: RateLimiter::default(),
            scopes: declared_scopes(),
            config,
            store: store.clone(),
            intake: intake_writer,
            outbox: inline_outbox,
        });
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .wrap(middleware::from_fn(routes::response_headers))
                .wrap(middleware::DefaultHeaders::new().add(("X-Content-Type-Options", "nosniff")))
                .configure(routes::configure)
        })
        .workers(http_workers)
        .backlog(4096)
        .listen(listener)?
        .run();

        tracing::info!(port, "Advocate is listening");
        Ok(Self {
            port,
            sandbox_url,
            _shopify_standin: shopify_standin,
            store,
            server,
            intake,
            workers,
            stop_workers,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// In sandbox mode, the one URL to open.
    pub fn sandbox_url(&self) -> Option<&str> {
        self.sandbox_url.as_deref()
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Serves until SIGINT or SIGTERM, then stops in order: the HTTP server
    /// finishes the requests in flight, the intake writer commits what they
    /// handed it, the inbox workers finish their row and give back their
    /// leases.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.server.await.context("HTTP server failed")?;
        self.intake.shutdown().await;
        let _ = self.stop_workers.send(true);
        for worker in self.workers {
            let _ = worker.await;
        }
        self.store.close().await;
        tracing::info!("Advocate stopped");
        Ok(())
    }
}

/// Runs the scheduled loyalty jobs every `every` (each job decides
/// whether it is due; leases keep other processes from running it twice).
async fn run_scheduled_jobs(store: Store, every: Duration, mut stopped: watch::Receiver<bool>) {
    let owner = format!("jobs-{}", InboxProcessor::owner_name(0));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !*stopped.borrow() {
        tokio::select! {
            _ = tick.tick() => {
                match crate::engine::scheduled::run_due(&store, &owner, crate::store::now_ms()).await {
                    Ok(report) if report != Default::default() => {
                        tracing::info!(?report, "scheduled loyalty jobs ran");
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = format!("{e:#}"), "scheduled jobs failed; will retry"),
                }
            }
            _ = stopped.changed() => {}
        }
    }
}

/// Hourly, forgets finished inbox rows older than the retention.
async fn purge_inbox(store: Store, retention: Duration, mut stopped: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    while !*stopped.borrow() {
        tokio::select! {
            _ = tick.tick() => {
                let before = crate::store::now_ms() - retention.as_millis() as i64;
                match crate::store::inbox::purge_finished(&store, before).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(rows = n, "finished inbox rows past retention removed"),
                    Err(e) => tracing::warn!(error = %e, "inbox retention failed; will retry"),
                }
            }
            _ = stopped.changed() => {}
        }
    }
}
