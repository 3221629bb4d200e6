//! Typed settings from the environment (a `.env` file is read first when
//! present). A missing or malformed value stops start-up with one line that
//! names the variable and what it expects. Secrets are never printed: their
//! `Debug` output is redacted.

use std::{net::IpAddr, time::Duration};

use secrecy::SecretString;

use crate::{crypto::EncryptionKey, store::DatabaseUrl};

/// Everything Advocate needs to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// The app's credentials from the Partner Dashboard.
    pub shopify: ShopifyApp,
    /// Where the database lives; its scheme picks the backend.
    pub database_url: DatabaseUrl,
    /// Address the HTTP server binds.
    pub host: IpAddr,
    /// Port the HTTP server binds; 0 picks a free one (tests).
    pub port: u16,
    /// Key for access tokens at rest (AES-256-GCM).
    pub encryption_key: EncryptionKey,
    /// The key before a rotation: still decrypts until `rotate-key` ran.
    pub encryption_key_previous: Option<EncryptionKey>,
    /// When set, every request meant for `https://{shop}/...` goes to
    /// `{origin}/...` with the shop in `X-Shopify-Shop-Domain`: how tests and
    /// the local Shopify stand-in are reached.
    pub api_origin: Option<String>,
    /// HTTP server and background workers.
    pub runtime: Runtime,
    /// Sandbox mode: no Shopify credentials were configured, so Advocate
    /// runs with the local Shopify stand-in in the same process and a demo
    /// shop. Never true together with real credentials.
    pub sandbox: bool,
}

/// The app as registered with Shopify.
#[derive(Debug, Clone)]
pub struct ShopifyApp {
    /// Client id (`SHOPIFY_API_KEY`): the `aud` of session tokens.
    pub api_key: String,
    /// Client secret: signs webhooks, OAuth queries and session tokens.
    pub api_secret: SecretString,
    /// The secret before a rotation, still accepted until it is removed.
    pub api_secret_previous: Option<SecretString>,
    /// Public URL of this Advocate (`application_url` in shopify.app.toml).
    pub app_url: String,
}

/// Tunables with defaults that suit one small machine.
#[derive(Debug, Clone)]
pub struct Runtime {
    /// Largest webhook body accepted (Shopify's largest are a few hundred kB).
    pub webhook_max_bytes: usize,
    /// Most bytes of webhook bodies held in memory at once, across every
    /// connection; a request past it is refused with 503 and Retry-After,
    /// so a crowd of slow or unsigned bodies cannot exhaust memory. At
    /// least `webhook_max_bytes`.
    pub webhook_body_budget_bytes: usize,
    /// How long a webhook body may take to arrive once its headers have;
    /// past it the request is refused with 408 (Shopify sends a body in
    /// well under a second).
    pub webhook_body_timeout: Duration,
    /// HTTP worker threads; 0 means one per core.
    pub http_workers: usize,
    /// Inbox processor tasks in this process; 0 leaves the inbox to be
    /// drained explicitly (tests) or by other processes. Unset: one on
    /// SQLite (it has one writer), on PostgreSQL one per core, at most four.
    pub inbox_workers: Option<usize>,
    /// How long finished (done, ignored) inbox rows are kept.
    pub inbox_retention: Duration,
    /// How long done outbox rows (Shopify effects sent) are kept.
    pub outbox_retention: Duration,
    /// Outbox senders (Shopify effects) in this process; 0: none here.
    pub outbox_workers: usize,
    /// How long a claimed inbox row stays reserved for its worker; a row
    /// whose worker died is claimed again after this.
    pub inbox_lease: Duration,
    /// Attempts before a transiently failing row becomes a dead letter.
    pub inbox_max_attempts: i64,
    /// Most deliveries committed together by the intake writer.
    pub intake_batch: usize,
    /// Largest database pool (PostgreSQL; SQLite has one writer).
    pub db_max_connections: u32,
    /// How often scheduled loyalty jobs (pending points, expiry, tiers,
    /// birthdays) are looked at; zero runs none in this process.
    pub scheduler_every: Duration,
    /// How often changed dashboard snapshots are recomputed; zero
    /// recomputes none in this process (a request still computes a missing
    /// one).
    pub analytics_refresh_every: Duration,
    /// How often open history imports are worked on (a bulk query is
    /// polled, a result read); zero works on none in this process.
    pub history_every: Duration,
    /// Queue the import of a shop's history (without points) when it is
    /// installed.
    pub history_on_install: bool,
    /// How long a process holds a shop's history import without renewing
    /// its lease: after a crash, another process (or the restarted one)
    /// takes the import up this long after the last renewal.
    pub history_lease: Duration,
    /// Most unexpired OAuth states (installs begun, not finished) kept at
    /// once; past it `/auth` answers 503 with Retry-After, so anonymous
    /// callers cannot grow the table without bound.
    pub oauth_states_max: i64,
    /// Outbound webhooks may go to plain `http://` and to loopback,
    /// private and link-local addresses (tests, self-hosting behind a
    /// firewall); off, only `https://` to public addresses.
    pub webhooks_allow_private: bool,
    /// How long one try of an outbound webhook may take.
    pub webhooks_timeout: Duration,
}

impl Default for Runtime {
    fn default() -> Self {
        Self {
            webhook_max_bytes: 5 * 1024 * 1024,
            webhook_body_budget_bytes: 32 * 1024 * 1024,
            webhook_body_timeout: Duration::from_secs(15),
            http_workers: 0,
            inbox_workers: None,
            outbox_workers: 1,
            inbox_retention: Duration::from_secs(30 * 24 * 3600),
            outbox_retention: Duration::from_secs(7 * 24 * 3600),
            inbox_lease: Duration::from_secs(60),
            inbox_max_attempts: 10,
            intake_batch: 512,
            db_max_connections: 16,
            scheduler_every: Duration::from_secs(60),
            analytics_refresh_every: Duration::from_secs(300),
            history_every: Duration::from_secs(10),
            history_on_install: true,
            history_lease: Duration::from_secs(120),
            oauth_states_max: 100_000,
            webhooks_allow_private: false,
            webhooks_timeout: Duration::from_secs(10),
        }
    }
}

/// The variables that make a real install; with none of them set Advocate
/// runs as the sandbox.
pub const CREDENTIALS: [&str; 4] = [
    "SHOPIFY_API_KEY",
    "SHOPIFY_API_SECRET",
    "SHOPIFY_APP_URL",
    "ADVOCATE_ENCRYPTION_KEY",
];

/// Stands in for a credential the sandbox fills in once its database is
/// open (its client id and secret); never a usable value.
pub const NOT_LOADED: &str = "credentials-not-loaded";

/// A start-up error: which variable, and what was expected of it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{variable}: {expected}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub expected: String,
}

fn invalid(variable: &'static str, expected: impl Into<String>) -> ConfigError {
    ConfigError {
        variable,
        expected: expected.into(),
    }
}

impl Config {
    /// Reads the process environment, after loading `.env` if there is one.
    pub fn from_env() -> Result<Self, ConfigError> {
        // A missing .env is normal; a malformed one is not silently skipped.
        match dotenvy::dotenv() {
            Ok(_) => {}
            Err(e) if e.not_found() => {}
            Err(e) => return Err(invalid(".env", format!("could not be read: {e}"))),
        }
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup`, so tests need not touch the process
    /// environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env { lookup: &lookup };
        let sandbox = env.sandbox_mode()?;
        let (shopify, api_origin) = env.shopify_app(sandbox)?;
        let database_url = DatabaseUrl::parse(
            env.get("DATABASE_URL")
                .unwrap_or_else(|| "sqlite://advocate.db".into()),
        )
        .map_err(|e| invalid("DATABASE_URL", e.to_string()))?;
        let (host, port) = env.address()?;
        let (encryption_key, encryption_key_previous) = env.encryption_keys(sandbox)?;
        let runtime = env.runtime()?;
        Ok(Self {
            shopify,
            database_url,
            host,
            port,
            encryption_key,
            encryption_key_previous,
            api_origin,
            runtime,
            sandbox,
        })
    }
}

/// The environment as [`Config::from_lookup`] reads it: trimmed, with empty
/// values taken as unset.
struct Env<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
}

impl Env<'_> {
    fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// `name` parsed, or `default` when unset.
    fn num<T: std::str::FromStr>(
        &self,
        name: &'static str,
        default: T,
        what: &str,
    ) -> Result<T, ConfigError> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| invalid(name, what.to_owned())),
        }
    }

    /// No credentials at all: the sandbox, which fills in its own once its
    /// database is open. Any one of them set: all are required, and the
    /// sandbox cannot be asked for.
    fn sandbox_mode(&self) -> Result<bool, ConfigError> {
        let sandbox = CREDENTIALS.iter().all(|name| self.get(name).is_none());
        let asked_for_sandbox = match self.get("ADVOCATE_SANDBOX").as_deref() {
            None | Some("0") | Some("false") => false,
            Some("1") | Some("true") => true,
            Some(_) => return Err(invalid("ADVOCATE_SANDBOX", "1 or 0")),
        };
        if asked_for_sandbox && !sandbox {
            return Err(invalid(
                "ADVOCATE_SANDBOX",
                "the sandbox never runs with real Shopify credentials: unset SHOPIFY_API_KEY, \
                 SHOPIFY_API_SECRET, SHOPIFY_APP_URL and ADVOCATE_ENCRYPTION_KEY, or unset ADVOCATE_SANDBOX",
            ));
        }
        if sandbox && self.get("SHOPIFY_API_ORIGIN").is_some() {
            return Err(invalid(
                "SHOPIFY_API_ORIGIN",
                "not used in the sandbox (it runs its own Shopify stand-in); set the app's credentials to use it",
            ));
        }
        Ok(sandbox)
    }

    /// The app's credentials and where Shopify is reached. In the sandbox
    /// the credentials are absent ([`NOT_LOADED`]) until the sandbox fills
    /// in its own.
    fn shopify_app(&self, sandbox: bool) -> Result<(ShopifyApp, Option<String>), ConfigError> {
        let required = |name: &'static str, absent: &str, what: &str| {
            self.get(name)
                .or_else(|| sandbox.then(|| absent.to_owned()))
                .ok_or_else(|| invalid(name, format!("required: {what}")))
        };
        let api_key = required(
            "SHOPIFY_API_KEY",
            NOT_LOADED,
            "the app's client id from the Partner Dashboard",
        )?;
        let api_secret = required(
            "SHOPIFY_API_SECRET",
            NOT_LOADED,
            "the app's client secret from the Partner Dashboard",
        )?;
        let app_url = required(
            "SHOPIFY_APP_URL",
            "http://127.0.0.1",
            "the public https URL of this Advocate",
        )?;
        let app_url = parse_origin("SHOPIFY_APP_URL", &app_url)?;
        let api_origin = self
            .get("SHOPIFY_API_ORIGIN")
            .map(|v| parse_origin("SHOPIFY_API_ORIGIN", &v))
            .transpose()?;
        let app = ShopifyApp {
            api_key,
            api_secret: SecretString::from(api_secret),
            api_secret_previous: self
                .get("SHOPIFY_API_SECRET_PREVIOUS")
                .map(SecretString::from),
            app_url,
        };
        Ok((app, api_origin))
    }

    fn address(&self) -> Result<(IpAddr, u16), ConfigError> {
        let host = match self.get("HOST") {
            None => IpAddr::from([127, 0, 0, 1]),
            Some(v) => v
                .parse()
                .map_err(|_| invalid("HOST", "an IP address such as 127.0.0.1 or 0.0.0.0"))?,
        };
        let port = self.num("PORT", 8080, "a port number (0-65535)")?;
        Ok((host, port))
    }

    /// The token key and the one before a rotation. The sandbox's key is
    /// absent (zeros) until the sandbox loads its own.
    fn encryption_keys(
        &self,
        sandbox: bool,
    ) -> Result<(EncryptionKey, Option<EncryptionKey>), ConfigError> {
        let key = |name: &'static str, raw: &str| {
            EncryptionKey::parse(raw).map_err(|e| invalid(name, e.to_string()))
        };
        let current = match self.get("ADVOCATE_ENCRYPTION_KEY") {
            Some(v) => key("ADVOCATE_ENCRYPTION_KEY", &v)?,
            None if sandbox => EncryptionKey::from_bytes([0; 32]),
            None => {
                return Err(invalid(
                    "ADVOCATE_ENCRYPTION_KEY",
                    format!("required: {}", EncryptionKey::EXPECTED),
                ))
            }
        };
        let previous = self
            .get("ADVOCATE_ENCRYPTION_KEY_PREVIOUS")
            .map(|v| key("ADVOCATE_ENCRYPTION_KEY_PREVIOUS", &v))
            .transpose()?;
        Ok((current, previous))
    }

    /// The tunables: defaults, then what the environment sets, then the
    /// checks across them.
    fn runtime(&self) -> Result<Runtime, ConfigError> {
        let mut runtime = Runtime::default();
        self.http_intake(&mut runtime)?;
        self.background(&mut runtime)?;
        self.queue_limits(&mut runtime)?;
        runtime.check()?;
        Ok(runtime)
    }

    /// Webhook bodies and the HTTP and inbox workers.
    fn http_intake(&self, r: &mut Runtime) -> Result<(), ConfigError> {
        r.webhook_max_bytes = self.num(
            "ADVOCATE_WEBHOOK_MAX_BYTES",
            r.webhook_max_bytes,
            "a size in bytes",
        )?;
        r.webhook_body_budget_bytes = self.num(
            "ADVOCATE_WEBHOOK_BODY_BUDGET_BYTES",
            r.webhook_body_budget_bytes,
            "a size in bytes, at least ADVOCATE_WEBHOOK_MAX_BYTES",
        )?;
        r.webhook_body_timeout = self.secs(
            "ADVOCATE_WEBHOOK_BODY_TIMEOUT_SECS",
            r.webhook_body_timeout,
            "a number of seconds (at least 1)",
        )?;
        r.http_workers = self.num("ADVOCATE_HTTP_WORKERS", 0, "a number of threads")?;
        r.inbox_workers = self
            .get("ADVOCATE_INBOX_WORKERS")
            .map(|v| {
                v.parse().map_err(|_| {
                    invalid(
                        "ADVOCATE_INBOX_WORKERS",
                        "a number of tasks (0 disables processing here)",
                    )
                })
            })
            .transpose()?;
        Ok(())
    }

    /// Retention, the outbox senders and the periodic jobs.
    fn background(&self, r: &mut Runtime) -> Result<(), ConfigError> {
        r.inbox_retention = self.days("ADVOCATE_INBOX_RETENTION_DAYS", r.inbox_retention)?;
        r.outbox_retention = self.days("ADVOCATE_OUTBOX_RETENTION_DAYS", r.outbox_retention)?;
        r.outbox_workers = self.num(
            "ADVOCATE_OUTBOX_WORKERS",
            r.outbox_workers,
            "a number of tasks (0 disables sending here)",
        )?;
        r.scheduler_every = self.secs(
            "ADVOCATE_SCHEDULER_SECS",
            r.scheduler_every,
            "a number of seconds (0 disables scheduled jobs here)",
        )?;
        r.analytics_refresh_every = self.secs(
            "ADVOCATE_ANALYTICS_REFRESH_SECS",
            r.analytics_refresh_every,
            "a number of seconds (0 disables dashboard refreshes here)",
        )?;
        r.history_every = self.secs(
            "ADVOCATE_HISTORY_SECS",
            r.history_every,
            "a number of seconds (0 disables history imports here)",
        )?;
        r.history_on_install = match self.get("ADVOCATE_HISTORY_ON_INSTALL").as_deref() {
            None => r.history_on_install,
            Some("1") | Some("true") => true,
            Some("0") | Some("false") => false,
            Some(_) => return Err(invalid("ADVOCATE_HISTORY_ON_INSTALL", "1 or 0")),
        };
        r.webhooks_allow_private = match self.get("ADVOCATE_WEBHOOKS_ALLOW_PRIVATE").as_deref() {
            None => r.webhooks_allow_private,
            Some("1") | Some("true") => true,
            Some("0") | Some("false") => false,
            Some(_) => return Err(invalid("ADVOCATE_WEBHOOKS_ALLOW_PRIVATE", "1 or 0")),
        };
        r.webhooks_timeout = self.secs(
            "ADVOCATE_WEBHOOKS_TIMEOUT_SECS",
            r.webhooks_timeout,
            "a number of seconds",
        )?;
        if r.webhooks_timeout.is_zero() || r.webhooks_timeout > Duration::from_secs(60) {
            return Err(invalid(
                "ADVOCATE_WEBHOOKS_TIMEOUT_SECS",
                "a number of seconds from 1 to 60",
            ));
        }
        Ok(())
    }

    /// Leases, attempts, batches, connections and pending installs.
    fn queue_limits(&self, r: &mut Runtime) -> Result<(), ConfigError> {
        r.inbox_lease = self.secs(
            "ADVOCATE_INBOX_LEASE_SECS",
            r.inbox_lease,
            "a number of seconds",
        )?;
        r.history_lease = self.secs(
            "ADVOCATE_HISTORY_LEASE_SECS",
            r.history_lease,
            "a number of seconds",
        )?;
        if r.history_lease < Duration::from_secs(1) {
            return Err(invalid("ADVOCATE_HISTORY_LEASE_SECS", "at least 1 second"));
        }
        r.inbox_max_attempts = self.num(
            "ADVOCATE_INBOX_MAX_ATTEMPTS",
            r.inbox_max_attempts,
            "a number of attempts",
        )?;
        r.intake_batch = self.num(
            "ADVOCATE_INTAKE_BATCH",
            r.intake_batch,
            "a number of deliveries per commit",
        )?;
        r.db_max_connections = self.num(
            "ADVOCATE_DB_MAX_CONNECTIONS",
            r.db_max_connections,
            "a number of connections",
        )?;
        r.oauth_states_max = self.num(
            "ADVOCATE_OAUTH_STATES_MAX",
            r.oauth_states_max,
            "a number of pending installs",
        )?;
        Ok(())
    }

    /// A duration given in whole seconds.
    fn secs(
        &self,
        name: &'static str,
        default: Duration,
        what: &str,
    ) -> Result<Duration, ConfigError> {
        Ok(Duration::from_secs(self.num(
            name,
            default.as_secs(),
            what,
        )?))
    }

    /// A duration given in whole days.
    fn days(&self, name: &'static str, default: Duration) -> Result<Duration, ConfigError> {
        const DAY_SECS: u64 = 24 * 3600;
        let days = self.num(name, default.as_secs() / DAY_SECS, "a number of days")?;
        Ok(Duration::from_secs(DAY_SECS * days))
    }
}

impl Runtime {
    /// The rules across settings, each error naming the variable to change.
    fn check(&self) -> Result<(), ConfigError> {
        if self.intake_batch == 0 || self.inbox_max_attempts < 1 {
            return Err(invalid(
                "ADVOCATE_INTAKE_BATCH",
                "batch size and attempts must be at least 1",
            ));
        }
        if self.oauth_states_max < 1 {
            return Err(invalid(
                "ADVOCATE_OAUTH_STATES_MAX",
                "a number of pending installs, at least 1",
            ));
        }
        if self.webhook_body_budget_bytes < self.webhook_max_bytes {
            return Err(invalid(
                "ADVOCATE_WEBHOOK_BODY_BUDGET_BYTES",
                "a size in bytes, at least ADVOCATE_WEBHOOK_MAX_BYTES (one largest body must fit)",
            ));
        }
        if self.webhook_body_timeout.is_zero() {
            return Err(invalid(
                "ADVOCATE_WEBHOOK_BODY_TIMEOUT_SECS",
                "a number of seconds (at least 1)",
            ));
        }
        Ok(())
    }
}

/// `http(s)://host[:port]` with no trailing slash.
fn parse_origin(name: &'static str, raw: &str) -> Result<String, ConfigError> {
    let trimmed = raw.trim_end_matches('/');
    let rest = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"));
    match rest {
        Some(host) if !host.is_empty() && !host.contains(char::is_whitespace) => {
            Ok(trimmed.to_owned())
        }
        _ => Err(invalid(
            name,
            "an http(s) URL such as https://advocate.example.com",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut env: HashMap<String, String> = [
            ("SHOPIFY_API_KEY", "client-id"),
            ("SHOPIFY_API_SECRET", "super-secret-value"),
            ("SHOPIFY_APP_URL", "https://advocate.example.com/"),
            ("ADVOCATE_ENCRYPTION_KEY", KEY),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, v) in pairs {
            env.insert(k.to_string(), v.to_string());
        }
        Config::from_lookup(|name| env.get(name).cloned())
    }

    #[test]
    fn defaults_fill_what_is_optional() {
        let c = config(&[]).unwrap();
        assert_eq!(c.port, 8080);
        assert_eq!(c.host.to_string(), "127.0.0.1");
        assert_eq!(c.database_url.as_str(), "sqlite://advocate.db");
        assert_eq!(c.shopify.app_url, "https://advocate.example.com");
        assert_eq!(c.runtime.webhook_max_bytes, 5 * 1024 * 1024);
        assert_eq!(c.runtime.webhook_body_budget_bytes, 32 * 1024 * 1024);
        assert_eq!(c.runtime.webhook_body_timeout, Duration::from_secs(15));
    }

    #[test]
    fn the_webhook_body_budget_holds_at_least_one_largest_body() {
        let c = config(&[
            ("ADVOCATE_WEBHOOK_MAX_BYTES", "1000"),
            ("ADVOCATE_WEBHOOK_BODY_BUDGET_BYTES", "1000"),
            ("ADVOCATE_WEBHOOK_BODY_TIMEOUT_SECS", "2"),
        ])
        .unwrap();
        assert_eq!(c.runtime.webhook_body_budget_bytes, 1000);
        assert_eq!(c.runtime.webhook_body_timeout, Duration::from_secs(2));
        let err = config(&[
            ("ADVOCATE_WEBHOOK_MAX_BYTES", "1001"),
            ("ADVOCATE_WEBHOOK_BODY_BUDGET_BYTES", "1000"),
        ])
        .unwrap_err();
        assert_eq!(err.variable, "ADVOCATE_WEBHOOK_BODY_BUDGET_BYTES");
        let err = config(&[("ADVOCATE_WEBHOOK_BODY_TIMEOUT_SECS", "0")]).unwrap_err();
        assert_eq!(err.variable, "ADVOCATE_WEBHOOK_BODY_TIMEOUT_SECS");
    }

    #[test]
    fn each_bad_value_names_its_variable() {
        let cases = [
            ("SHOPIFY_API_SECRET", "", "SHOPIFY_API_SECRET"),
            ("PORT", "eighty", "PORT"),
            ("HOST", "localhost:1", "HOST"),
            (
                "ADVOCATE_ENCRYPTION_KEY",
                "c2hvcnQ=",
                "ADVOCATE_ENCRYPTION_KEY",
            ),
            ("DATABASE_URL", "mysql://x", "DATABASE_URL"),
            ("SHOPIFY_APP_URL", "advocate.example.com", "SHOPIFY_APP_URL"),
        ];
        for (name, value, variable) in cases {
            let err = config(&[(name, value)]).unwrap_err();
            assert_eq!(err.variable, variable);
            assert!(err.to_string().starts_with(variable));
        }
    }

    #[test]
    fn secrets_never_show_in_debug() {
        let c = config(&[
            ("SHOPIFY_API_SECRET_PREVIOUS", "older-secret-value"),
            ("DATABASE_URL", "postgres://u:hunter2@db/advocate"),
        ])
        .unwrap();
        let printed = format!("{c:?}");
        for secret in ["super-secret-value", "older-secret-value", "hunter2", KEY] {
            assert!(!printed.contains(secret), "{secret} leaked into Debug");
        }
    }
    fn bare(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| env.get(name).cloned())
    }

    #[test]
    fn no_credentials_at_all_is_the_sandbox() {
        let c = bare(&[("PORT", "0")]).unwrap();
        assert!(c.sandbox);
        assert_eq!(
            c.shopify.api_key, NOT_LOADED,
            "the sandbox fills in its own"
        );
        assert!(
            !config(&[]).unwrap().sandbox,
            "real credentials: not the sandbox"
        );
    }

    #[test]
    fn one_credential_set_requires_the_others() {
        for name in CREDENTIALS {
            let value = if name == "ADVOCATE_ENCRYPTION_KEY" {
                KEY
            } else {
                "https://x.example"
            };
            let err = bare(&[(name, value)]).unwrap_err();
            assert_ne!(err.variable, name, "{name} alone must ask for the rest");
            assert!(err.expected.starts_with("required"), "{err}");
        }
    }

    #[test]
    fn the_sandbox_can_never_be_enabled_with_real_credentials() {
        let err = config(&[("ADVOCATE_SANDBOX", "1")]).unwrap_err();
        assert_eq!(err.variable, "ADVOCATE_SANDBOX");
        assert!(bare(&[("ADVOCATE_SANDBOX", "1")]).unwrap().sandbox);
        let err = bare(&[("SHOPIFY_API_ORIGIN", "http://127.0.0.1:9")]).unwrap_err();
        assert_eq!(err.variable, "SHOPIFY_API_ORIGIN");
    }
}
