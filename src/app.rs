//! Builds the running service: the store (migrated), the intake writer, the
//! inbox workers and the HTTP server, and stops them in order.

mod token_vault;

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
    jobs::{
        inbox::InboxProcessor,
        outbox::OutboxSender,
        retention::{self, Retention},
        scheduled,
    },
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
        session_token::{AdminTokenVerifier, ExtensionTokenVerifier, PosTokenVerifier},
        tokens::ShopTokens,
    },
    store::{
        lease::{self, LeaseOwner},
        writer::{IntakeHandle, IntakeWriter},
        Dialect, Store,
    },
};

/// The app's configuration file, compiled in: its scopes are the ones
/// requested at install.
const APP_TOML: &str = include_str!("../shopify.app.toml");

/// Most inbox processors on PostgreSQL by default.
const POSTGRES_INBOX_WORKERS: usize = 4;

/// Inbox processors of a process when none are configured: one on SQLite
/// (it has one writer); on PostgreSQL one per core, at most four. Each
/// batch of the engine keeps a core busy between Advocate and the
/// database, so workers past the cores only take CPU from intake (measured
/// on 2 cores: four workers answered at 34 % of the HMAC + fsync floor
/// with a p99 of 111 ms at 5,000/s offered, two at 46 % and 22 ms, and
/// processed as fast).
pub fn default_inbox_workers(dialect: Dialect) -> usize {
    match dialect {
        Dialect::Sqlite => 1,
        Dialect::Postgres => std::thread::available_parallelism()
            .map_or(POSTGRES_INBOX_WORKERS, |cores| {
                cores.get().min(POSTGRES_INBOX_WORKERS)
            }),
    }
}

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
    workers: Workers,
    /// How long a stop may take in all.
    shutdown: Duration,
}

/// The background tasks of this process, the signal that stops them, and
/// the lease owners they run as (to hand back what a worker abandoned at
/// the shutdown deadline still holds).
struct Workers {
    handles: Vec<JoinHandle<()>>,
    owners: Vec<LeaseOwner>,
    stop: watch::Sender<bool>,
    stopped: watch::Receiver<bool>,
}

/// What the Shopify side of the app needs: its offline tokens and the
/// Admin API client that uses them.
struct ShopifyClients {
    tokens: Arc<ShopTokens>,
    admin_api: Arc<AdminApi>,
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
        let store = Store::connect(&config.database_url, config.runtime.db_max_connections).await?;
        store.migrate().await?;
        crate::sandbox::prepare(&mut config, &store).await?;
        let shopify_standin = if config.sandbox {
            Some(crate::sandbox::start_shopify(&mut config)?)
        } else {
            None
        };
        release_held_deliveries(&store).await?;

        let mut workers = Workers::new();
        let wake = Arc::new(Notify::new());
        let (intake_writer, intake) =
            IntakeWriter::spawn(store.clone(), config.runtime.intake_batch, wake.clone());
        workers.spawn_inbox(&config, &store, &intake_writer, &wake);

        let (listener, port) = bind(&mut config)?;
        let shopify = ShopifyClients::connect(&config, &store, &metrics).await?;
        workers.spawn_outbox(&config, &store, &shopify.admin_api);
        workers.spawn_outbound(&config, &store, shopify.tokens.cipher());
        workers.spawn_periodic(&config, &store);
        workers.spawn_history(&config, &store, &shopify.admin_api);
        let inline_outbox = Arc::new(workers.inline_outbox(&config, &store, &shopify.admin_api));

        let sandbox_url = config
            .sandbox
            .then(|| crate::sandbox::open_url(&config.shopify.app_url));
        let http_workers = config.runtime.http_workers;
        let state = app_state(
            config,
            Shared {
                store: store.clone(),
                tokens: shopify.tokens,
                intake: intake_writer,
                outbox: inline_outbox,
                metrics,
                ops: ops.clone(),
            },
        );
        let server = serve(state, listener, http_workers, ops.shutdown)?;
        tracing::info!(port, "Advocate is listening");
        Ok(Self {
            port,
            sandbox_url,
            _shopify_standin: shopify_standin,
            store,
            server,
            intake,
            workers,
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
            workers,
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
        workers.stop(&store, deadline).await;
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

/// Order and refund deliveries held by a version without the loyalty
/// engine are handled now.
async fn release_held_deliveries(store: &Store) -> anyhow::Result<()> {
    let topics: Vec<String> = crate::jobs::topics::ENGINE_TOPICS
        .iter()
        .map(|t| t.to_string())
        .collect();
    let topics: Vec<&str> = topics.iter().map(String::as_str).collect();
    let released = crate::store::inbox::release_held(store, &topics).await?;
    if released > 0 {
        tracing::info!(
            rows = released,
            "held order deliveries queued for the loyalty engine"
        );
    }
    Ok(())
}

/// Binds the configured address; in the sandbox, the app's URL becomes the
/// bound one.
fn bind(config: &mut Config) -> anyhow::Result<(TcpListener, u16)> {
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
    Ok((listener, port))
}

impl ShopifyClients {
    /// The token service (the sandbox's demo shop installed through it) and
    /// the Admin API client, which reports its calls to `metrics`.
    async fn connect(
        config: &Config,
        store: &Store,
        metrics: &Arc<Metrics>,
    ) -> anyhow::Result<Self> {
        let cipher = Arc::new(TokenCipher::new(
            &config.encryption_key,
            config.encryption_key_previous.as_ref(),
        ));
        let oauth = OAuthClient::new(
            ShopifyEndpoint::new(config.api_origin.clone()),
            &config.shopify.api_key,
            &config.shopify.api_secret,
        );
        let tokens = Arc::new(
            ShopTokens::new(store.clone(), cipher, oauth)
                .queuing_history(config.runtime.history_on_install),
        );
        if config.sandbox {
            crate::sandbox::install_demo_shop(config, &tokens).await?;
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
        Ok(Self { tokens, admin_api })
    }
}

impl Workers {
    fn new() -> Self {
        let (stop, stopped) = watch::channel(false);
        Self {
            handles: Vec::new(),
            owners: Vec::new(),
            stop,
            stopped,
        }
    }

    /// The inbox processors: [`default_inbox_workers`], unless configured.
    fn spawn_inbox(
        &mut self,
        config: &Config,
        store: &Store,
        intake: &IntakeWriter,
        wake: &Arc<Notify>,
    ) {
        let count = config
            .runtime
            .inbox_workers
            .unwrap_or_else(|| default_inbox_workers(store.dialect()));
        for i in 0..count {
            let owner = lease::inbox_worker(i);
            self.owners.push(LeaseOwner::Inbox(owner.clone()));
            let processor = InboxProcessor::new(
                store.clone(),
                owner,
                config.runtime.inbox_lease,
                config.runtime.inbox_max_attempts,
            )
            .yielding_to(intake.gate());
            self.handles.push(tokio::spawn(
                processor.run(wake.clone(), self.stopped.clone()),
            ));
        }
    }

    /// The outbox senders that send Shopify effects in the background.
    fn spawn_outbox(&mut self, config: &Config, store: &Store, admin_api: &Arc<AdminApi>) {
        for i in 0..config.runtime.outbox_workers {
            let owner = lease::outbox_worker(i);
            self.owners.push(LeaseOwner::Outbox(owner.clone()));
            let sender = OutboxSender::new(
                store.clone(),
                admin_api.clone(),
                owner,
                config.runtime.inbox_lease,
                config.runtime.inbox_max_attempts,
            );
            self.handles
                .push(tokio::spawn(sender.run(self.stopped.clone())));
        }
    }

    /// The outbound webhook sender (where the outbox senders run).
    fn spawn_outbound(&mut self, config: &Config, store: &Store, cipher: &Arc<TokenCipher>) {
        if config.runtime.outbox_workers == 0 {
            return;
        }
        let sender = crate::jobs::outbound::OutboundSender::new(
            store.clone(),
            cipher.clone(),
            lease::outbound(),
            crate::egress::Policy {
                allow_private: config.runtime.webhooks_allow_private,
            },
            config.runtime.webhooks_timeout,
        );
        self.handles
            .push(tokio::spawn(sender.run(self.stopped.clone())));
    }

    /// The history importer (unless its interval is zero).
    fn spawn_history(&mut self, config: &Config, store: &Store, admin_api: &Arc<AdminApi>) {
        let every = config.runtime.history_every;
        if every.is_zero() {
            return;
        }
        let importer = crate::jobs::history::HistoryImporter::new(
            store.clone(),
            admin_api.clone(),
            lease::history(),
        )
        .lease(config.runtime.history_lease);
        self.handles
            .push(tokio::spawn(importer.run(every, self.stopped.clone())));
    }

    /// The sender requests drive right after their commit; it runs no loop
    /// of its own, but its leases are handed back at stop like the others.
    fn inline_outbox(
        &mut self,
        config: &Config,
        store: &Store,
        admin_api: &Arc<AdminApi>,
    ) -> OutboxSender {
        let owner = lease::inline_outbox();
        self.owners.push(LeaseOwner::Outbox(owner.clone()));
        OutboxSender::new(
            store.clone(),
            admin_api.clone(),
            owner,
            config.runtime.inbox_lease,
            config.runtime.inbox_max_attempts,
        )
    }

    /// Scheduled loyalty jobs and dashboard refreshes (each unless its
    /// interval is zero), and the hourly purge of finished queue rows.
    fn spawn_periodic(&mut self, config: &Config, store: &Store) {
        let runtime = &config.runtime;
        if !runtime.scheduler_every.is_zero() {
            self.handles.push(tokio::spawn(scheduled::run_loyalty_jobs(
                store.clone(),
                runtime.scheduler_every,
                self.stopped.clone(),
            )));
        }
        if !runtime.analytics_refresh_every.is_zero() {
            self.handles
                .push(tokio::spawn(scheduled::run_dashboard_refresh(
                    store.clone(),
                    runtime.analytics_refresh_every,
                    self.stopped.clone(),
                )));
        }
        self.handles.push(tokio::spawn(retention::run(
            store.clone(),
            Retention {
                inbox: runtime.inbox_retention,
                outbox: runtime.outbox_retention,
            },
            self.stopped.clone(),
        )));
    }

    /// Tells every worker to stop and waits for them until `deadline`; a
    /// worker still busy then is abandoned (its transaction rolls back).
    /// Then hands back every lease this process's workers still hold.
    async fn stop(self, store: &Store, deadline: tokio::time::Instant) {
        let Self {
            mut handles,
            owners,
            stop,
            ..
        } = self;
        let _ = stop.send(true);
        let joined = tokio::time::timeout_at(deadline, async {
            for worker in handles.iter_mut() {
                let _ = worker.await;
            }
        })
        .await;
        if joined.is_err() {
            tracing::warn!("workers still busy at the shutdown deadline: abandoning their rows");
            for worker in &handles {
                worker.abort();
            }
            for worker in handles {
                let _ = worker.await;
            }
        }
        // Normally each worker gave its leases back itself; this also covers
        // the abandoned ones and the inline outbox sender.
        let mut released = 0;
        for owner in &owners {
            match owner.release(store).await {
                Ok(n) => released += n,
                Err(e) => tracing::warn!(error = %e, "could not release leases; they will expire"),
            }
        }
        if released > 0 {
            tracing::info!(rows = released, "leases handed back");
        }
    }
}

/// What the request handlers share besides the configuration.
struct Shared {
    store: Store,
    tokens: Arc<ShopTokens>,
    intake: IntakeWriter,
    outbox: Arc<OutboxSender>,
    metrics: Arc<Metrics>,
    ops: OpsSettings,
}

/// The state every request handler sees.
fn app_state(config: Config, shared: Shared) -> web::Data<AppState> {
    let shopify = &config.shopify;
    web::Data::new(AppState {
        signer: Signer::new(&shopify.api_secret, shopify.api_secret_previous.as_ref()),
        admin_tokens: AdminTokenVerifier::new(
            &shopify.api_key,
            &shopify.api_secret,
            shopify.api_secret_previous.as_ref(),
        ),
        extension_tokens: ExtensionTokenVerifier::new(
            &shopify.api_key,
            &shopify.api_secret,
            shopify.api_secret_previous.as_ref(),
        ),
        pos_tokens: PosTokenVerifier::new(
            &shopify.api_key,
            &shopify.api_secret,
            shopify.api_secret_previous.as_ref(),
        ),
        tokens: shared.tokens,
        limiter: RateLimiter::default(),
        scopes: declared_scopes(),
        webhook_bodies: BodyBudget::new(config.runtime.webhook_body_budget_bytes),
        config,
        store: shared.store,
        intake: shared.intake,
        outbox: shared.outbox,
        metrics: shared.metrics,
        ops: shared.ops,
    })
}

/// Starts the HTTP server on `listener`; `http_workers` 0 means one per
/// core. Signals are left to [`Application::run_until_stopped`].
fn serve(
    state: web::Data<AppState>,
    listener: TcpListener,
    http_workers: usize,
    shutdown: Duration,
) -> anyhow::Result<actix_web::dev::Server> {
    let http_workers = match http_workers {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    };
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
    .shutdown_timeout((shutdown.as_secs() * 2 / 3).max(1))
    .listen(listener)?
    .run();
    Ok(server)
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
