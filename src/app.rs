//! Builds the running service: the store (migrated), the intake writer, the
//! inbox workers and the HTTP server, and stops them in order.

use std::{
    net::{SocketAddr, TcpListener},
    sync::Arc,
    time::Duration,
};

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
    metrics::Metrics,
    ops::OpsSettings,
    routes::{self, body_budget::BodyBudget, limits::RateLimiter, AppState},
    shopify::hmac::Signer,
    shopify::{
        admin::{
            api::AdminApi,
            client::{AdminClient, RetryPolicy},
        },
        oauth::{OAuthClient, ShopifyEndpoint},
        session_token::{AdminTokenVerifier, ExtensionTokenVerifier},
        tokens::ShopTokens,
    },
    store::{
        writer::{IntakeHandle, IntakeWriter},
        Dialect, Store,
    },
};

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
    _shopify_standin: Option<shopify_sim::ShopifySim>,
    store: Store,
    server: actix_web::dev::Server,
    intake: IntakeHandle,
    workers: Vec<JoinHandle<()>>,
    stop_workers: watch::Sender<bool>,
    /// The lease owners of this process's workers, to hand back what a
    /// worker abandoned at the shutdown deadline still holds.
    owners: Vec<LeaseOwner>,
    /// How long a stop may take in all.
    shutdown: Duration,
}

/// A worker's name in the `lease_owner` column of its queue.
enum LeaseOwner {
    Inbox(String),
    Outbox(String),
}

impl Application {
    /// Connects and migrates the database, binds the port (0 picks a free
    /// one) and starts the background workers. Operations settings come
    /// from the environment.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        Self::build_with(config, OpsSettings::from_env()?).await
    }

    /// [`Application::build`] with explicit operations settings.
    pub async fn build_with(mut config: Config, ops: OpsSettings) -> anyhow::Result<Self> {
        let metrics = Arc::new(Metrics::new());
        let mut owners = Vec::new();
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
                let owner = InboxProcessor::owner_name(i);
                owners.push(LeaseOwner::Inbox(owner.clone()));
                let processor = InboxProcessor::new(
                    store.clone(),
                    owner,
                    config.runtime.inbox_lease,
                    config.runtime.inbox_max_attempts,
                )
                .yielding_to(intake_writer.gate());
                tokio::spawn(processor.run(wake.clone(), stopped.clone()))
            })
            .collect();

        let listener = listen((config.host, config.port).into(), LISTEN_BACKLOG)
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
            )
            .with_metrics(metrics.clone()),
            tokens.clone(),
        ));
        for i in 0..config.runtime.outbox_workers {
            let owner = format!("outbox-{}", InboxProcessor::owner_name(i));
            owners.push(LeaseOwner::Outbox(owner.clone()));
            let sender = OutboxSender::new(
                store.clone(),
                admin_api.clone(),
                owner,
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
        let inline_owner = format!("outbox-inline-{}", InboxProcessor::owner_name(0));
        owners.push(LeaseOwner::Outbox(inline_owner.clone()));
        let inline_outbox = Arc::new(OutboxSender::new(
            store.clone(),
            admin_api.clone(),
            inline_owner,
            config.runtime.inbox_lease,
            config.runtime.inbox_max_attempts,
        ));
        workers.push(tokio::spawn(crate::jobs::retention::run(
            store.clone(),
            crate::jobs::retention::Retention {
                inbox: config.runtime.inbox_retention,
                outbox: config.runtime.outbox_retention,
            },
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
            admin_tokens: AdminTokenVerifier::new(
                &config.shopify.api_key,
                &config.shopify.api_secret,
                config.shopify.api_secret_previous.as_ref(),
            ),
            extension_tokens: ExtensionTokenVerifier::new(
                &config.shopify.api_key,
                &config.shopify.api_secret,
                config.shopify.api_secret_previous.as_ref(),
            ),
            tokens,
            limiter: RateLimiter::default(),
            scopes: declared_scopes(),
            webhook_bodies: BodyBudget::new(config.runtime.webhook_body_budget_bytes),
            config,
            store: store.clone(),
            intake: intake_writer,
            outbox: inline_outbox,
            metrics,
            ops: ops.clone(),
        });
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                // The JSON routes read their bodies whole (`web::Bytes`); a
                // bad token or signature is refused before the body is read,
                // and no body needs more than this. `/webhooks` streams its
                // body under its own limits.
                .app_data(web::PayloadConfig::new(JSON_BODY_MAX_BYTES))
                .wrap(middleware::from_fn(routes::response_headers))
                .wrap(middleware::from_fn(routes::request_id::trace_request))
                .wrap(middleware::DefaultHeaders::new().add(("X-Content-Type-Options", "nosniff")))
                .configure(routes::configure)
        })
        .workers(http_workers)
        // A request whose headers do not arrive in time is dropped before
        // any handler runs; bodies have their own deadline per route.
        .client_request_timeout(REQUEST_HEAD_TIMEOUT)
        // Signals are handled in `run_until_stopped`, which bounds the whole
        // stop; the requests in flight get most of that time.
        .disable_signals()
        .shutdown_timeout((ops.shutdown.as_secs() * 2 / 3).max(1))
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
            owners,
            shutdown: ops.shutdown,
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

    /// Serves until SIGINT or SIGTERM, then stops in order, within the
    /// shutdown bound (`ADVOCATE_SHUTDOWN_SECS`): the HTTP server stops
    /// accepting and finishes the requests in flight, the intake writer
    /// commits what they handed it, the workers finish their current row or
    /// batch and give back their leases. A worker still busy at the deadline
    /// is abandoned: its transaction rolls back and its leases are handed
    /// back here, so another process takes its rows at once.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let Self {
            store,
            mut server,
            intake,
            mut workers,
            stop_workers,
            owners,
            shutdown,
            ..
        } = self;
        let handle = server.handle();
        let signalled = tokio::select! {
            result = &mut server => {
                result.context("HTTP server failed")?;
                false
            }
            () = stop_signal() => true,
        };
        let deadline = tokio::time::Instant::now() + shutdown;
        if signalled {
            tracing::info!(
                within_secs = shutdown.as_secs(),
                "stopping: no new connections, finishing the requests in flight"
            );
            // The stop command is carried out by the server future itself,
            // so both run together.
            let ((), result) = tokio::join!(handle.stop(true), server);
            result.context("HTTP server failed")?;
        }
        if tokio::time::timeout_at(deadline, intake.shutdown())
            .await
            .is_err()
        {
            tracing::warn!(
                "intake writer did not finish in time; unanswered deliveries will be redelivered"
            );
        }
        let _ = stop_workers.send(true);
        let joined = tokio::time::timeout_at(deadline, async {
            for worker in workers.iter_mut() {
                let _ = worker.await;
            }
        })
        .await;
        if joined.is_err() {
            tracing::warn!("workers still busy at the shutdown deadline: abandoning their rows");
            for worker in &workers {
                worker.abort();
            }
            for worker in workers {
                let _ = worker.await;
            }
        }
        // Normally each worker gave its leases back itself; this also covers
        // the abandoned ones and the inline outbox sender.
        let mut released = 0;
        for owner in &owners {
            let result = match owner {
                LeaseOwner::Inbox(owner) => {
                    crate::store::inbox::release_leases(&store, owner).await
                }
                LeaseOwner::Outbox(owner) => {
                    crate::store::outbox::release_leases(&store, owner).await
                }
            };
            match result {
                Ok(n) => released += n,
                Err(e) => tracing::warn!(error = %e, "could not release leases; they will expire"),
            }
        }
        if released > 0 {
            tracing::info!(rows = released, "leases handed back");
        }
        store.close().await;
        tracing::info!("Advocate stopped");
        Ok(())
    }
}

/// Resolves on SIGTERM (what process managers and rolling restarts send)
/// or SIGINT (Ctrl-C).
async fn stop_signal() {
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(
            tokio::signal::unix::SignalKind::terminate(),
        ) {
            Ok(term) => term,
            Err(e) => {
                tracing::warn!(error = %e, "SIGTERM cannot be handled; only Ctrl-C stops gracefully");
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
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

/// Largest body of a JSON API route (program settings are the largest,
/// a few kB).
pub const JSON_BODY_MAX_BYTES: usize = 64 * 1024;

/// How long a client may take to send a request's headers.
const REQUEST_HEAD_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections the kernel queues before they are accepted. A burst of new
/// connections beyond the queue loses its SYNs and waits a second to send
/// them again; `std`'s `TcpListener::bind` asks for only 128.
const LISTEN_BACKLOG: u32 = 4096;

/// Binds `addr` with a listen queue of `backlog`.
fn listen(addr: SocketAddr, backlog: u32) -> std::io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(backlog)?.into_std()
}

#[cfg(test)]
mod tests {
    use std::{net::TcpStream, time::Duration};

    /// More connections than `std`'s default queue of 128 arrive before
    /// any is accepted: the kernel completes every handshake at once. With
    /// the short queue the 130th waits for its SYN to be sent again, and
    /// the connect below runs out of time.
    #[tokio::test]
    async fn the_listen_queue_holds_a_burst_of_new_connections() {
        let listener = super::listen(([127, 0, 0, 1], 0).into(), super::LISTEN_BACKLOG).unwrap();
        let addr = listener.local_addr().unwrap();
        let connected: Vec<TcpStream> = (0..300)
            .map(|i| {
                TcpStream::connect_timeout(&addr, Duration::from_millis(500))
                    .unwrap_or_else(|e| panic!("connection {i} was not queued: {e}"))
            })
            .collect();
        assert_eq!(connected.len(), 300);
    }
}
