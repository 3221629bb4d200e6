//! The Admin GraphQL client. It paces each shop's calls by the cost Shopify
//! reports (`extensions.cost.throttleStatus`), so a sustained stream runs at
//! the bucket's restore rate without being throttled; waits as told when it
//! is throttled anyway (`THROTTLED` or HTTP 429); and retries server errors,
//! timeouts and dropped connections with exponential backoff and jitter, a
//! bounded number of times. What it cannot fix it returns typed, so callers
//! know whether to retry later, re-authenticate or give up.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use rand::Rng;
use serde::{de::DeserializeOwned, Deserialize};
use serde_json::Value;

use super::Document;
use crate::shopify::{oauth::ShopifyEndpoint, ShopDomain, API_VERSION};

/// A `userErrors` entry.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct UserError {
    #[serde(default)]
    pub field: Option<Vec<String>>,
    pub message: String,
    #[serde(default)]
    pub code: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ShopifyError {
    /// Still throttled after the retries this client allows.
    #[error("throttled by Shopify; retry in {retry_after:?}")]
    Throttled { retry_after: Duration },
    /// The access token was refused: refresh it (once), else re-authenticate.
    #[error("Shopify refused the access token")]
    Unauthorized,
    /// A server error that outlasted the retries.
    #[error("Shopify answered HTTP {status} (request {})", request_id.as_deref().unwrap_or("-"))]
    Http {
        status: u16,
        request_id: Option<String>,
    },
    /// The request was understood and refused: retrying cannot help.
    // Messages unquoted: error texts are stored sanitised
    // (`crate::error_text`), which drops whatever is quoted in them.
    #[error("Shopify refused the change: {}", describe_user_errors(.0))]
    UserErrors(Vec<UserError>),
    /// The document or variables were wrong (a bug on our side).
    #[error("GraphQL errors: {}", .0.join("; "))]
    GraphQl(Vec<String>),
    /// No answer (timeout, connection dropped) after the retries.
    #[error("Shopify could not be reached: {0}")]
    Network(String),
}

/// `field.path: message (CODE); ...`
fn describe_user_errors(errors: &[UserError]) -> String {
    errors
        .iter()
        .map(|e| {
            let field = e.field.as_ref().map(|f| format!("{}: ", f.join(".")));
            let code = e.code.as_ref().map(|c| format!(" ({c})"));
            format!(
                "{}{}{}",
                field.unwrap_or_default(),
                e.message,
                code.unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

impl ShopifyError {
    /// Worth trying again later (the outbox reschedules these).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Throttled { .. } | Self::Http { .. } | Self::Network(_)
        )
    }
}

/// What a shop's bucket looked like at the last answer.
#[derive(Debug, Clone)]
struct Bucket {
    maximum: f64,
    available: f64,
    restore_rate: f64,
    at: Instant,
    /// Points reserved by calls sent and not yet answered: the next answer's
    /// `currentlyAvailable` does not know of them yet.
    in_flight: f64,
}

impl Bucket {
    fn now(&self, now: Instant) -> f64 {
        (self.available + now.duration_since(self.at).as_secs_f64() * self.restore_rate)
            .min(self.maximum)
    }
}

/// Retries of one call.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(10),
        }
    }
}

/// How an Admin API call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    Ok,
    Throttled,
    Unauthorized,
    HttpError,
    NetworkError,
    GraphqlError,
}

impl CallOutcome {
    pub const ALL: [CallOutcome; 6] = [
        CallOutcome::Ok,
        CallOutcome::Throttled,
        CallOutcome::Unauthorized,
        CallOutcome::HttpError,
        CallOutcome::NetworkError,
        CallOutcome::GraphqlError,
    ];

    /// Its name, as a metric label.
    pub fn label(self) -> &'static str {
        match self {
            CallOutcome::Ok => "ok",
            CallOutcome::Throttled => "throttled",
            CallOutcome::Unauthorized => "unauthorized",
            CallOutcome::HttpError => "http_error",
            CallOutcome::NetworkError => "network_error",
            CallOutcome::GraphqlError => "graphql_error",
        }
    }
}

/// A shop's plan, as Shopify's restore rate tells it (points per second).
pub fn plan_of(restore_rate: f64) -> &'static str {
    match restore_rate.round() as i64 {
        100 => "standard",
        200 => "advanced",
        1000 => "plus",
        2000 => "enterprise",
        _ => "other",
    }
}

/// One shop's Admin API bucket as the client last saw it.
#[derive(Debug, Clone, Copy)]
pub struct BucketSummary {
    pub plan: &'static str,
    pub available: f64,
    pub maximum: f64,
}

/// Told of every call's outcome, throttle waits and query cost (the app
/// wires its metrics here).
pub trait CallObserver: Send + Sync {
    fn call_ended(&self, outcome: CallOutcome);
    fn throttle_waited(&self, seconds: f64);
    /// Query cost used, by the shop's plan (from [`plan_of`]).
    fn points_used(&self, plan: &str, points: f64);
}

/// Counts kept for benchmarks and metrics.
#[derive(Debug, Default, Clone, Copy)]
pub struct ClientStats {
    pub calls: u64,
    pub throttled: u64,
    pub retried: u64,
    pub points_used: f64,
}

pub struct AdminClient {
    http: reqwest::Client,
    endpoint: ShopifyEndpoint,
    retry: RetryPolicy,
    buckets: Mutex<HashMap<String, Bucket>>,
    costs: Mutex<HashMap<&'static str, f64>>,
    stats: Mutex<ClientStats>,
    /// Where calls, throttle waits and query cost are reported, if anywhere.
    observer: Option<Arc<dyn CallObserver>>,
}

impl std::fmt::Debug for AdminClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AdminClient({:?})", self.endpoint)
    }
}

/// What a call costs before we know better (a simple mutation).
const DEFAULT_COST: f64 = 10.0;

impl AdminClient {
    pub fn new(endpoint: ShopifyEndpoint, timeout: Duration, retry: RetryPolicy) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(5))
            .build()
            .expect("HTTP client");
        Self {
            http,
            endpoint,
            retry,
            buckets: Mutex::new(HashMap::new()),
            costs: Mutex::new(HashMap::new()),
            stats: Mutex::new(ClientStats::default()),
            observer: None,
        }
    }

    /// Reports calls, throttle waits and query cost to `observer` (the
    /// app's metrics).
    pub fn with_metrics(mut self, observer: Arc<dyn CallObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Each shop's bucket as last seen, by plan, for `/metrics`.
    pub fn bucket_summary(&self) -> Vec<BucketSummary> {
        let now = Instant::now();
        self.buckets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .map(|b| BucketSummary {
                plan: plan_of(b.restore_rate),
                available: b.now(now),
                maximum: b.maximum,
            })
            .collect()
    }

    pub fn stats(&self) -> ClientStats {
        *self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `document` for `shop`; returns its `data`.
    pub async fn execute<T: DeserializeOwned>(
        &self,
        shop: &ShopDomain,
        access_token: &str,
        document: Document,
        variables: Value,
    ) -> Result<T, ShopifyError> {
        let body = serde_json::json!({ "query": document.text, "variables": variables });
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.pace(shop, document).await;
            let outcome = self.send(shop, access_token, document, &body).await;
            self.settle(shop, document);
            if let Some(observer) = &self.observer {
                observer.call_ended(match &outcome {
                    Ok(_) => CallOutcome::Ok,
                    Err(ShopifyError::Throttled { .. }) => CallOutcome::Throttled,
                    Err(ShopifyError::Unauthorized) => CallOutcome::Unauthorized,
                    Err(ShopifyError::Http { .. }) => CallOutcome::HttpError,
                    Err(ShopifyError::Network(_)) => CallOutcome::NetworkError,
                    Err(ShopifyError::GraphQl(_) | ShopifyError::UserErrors(_)) => {
                        CallOutcome::GraphqlError
                    }
                });
            }
            let error = match outcome {
                Ok(data) => {
                    return serde_json::from_value(data).map_err(|e| {
                        ShopifyError::GraphQl(vec![format!("unexpected response shape: {e}")])
                    })
                }
                Err(e) => e,
            };
            if matches!(
                error,
                ShopifyError::Throttled { .. } | ShopifyError::Http { .. }
            ) {
                // Not charged: give the reservation back.
                self.refund(shop, document);
            }
            let wait = match &error {
                ShopifyError::Throttled { retry_after } => {
                    self.count(|s| s.throttled += 1);
                    if let Some(observer) = &self.observer {
                        observer.throttle_waited(retry_after.as_secs_f64());
                    }
                    *retry_after
                }
                ShopifyError::Http { .. } | ShopifyError::Network(_) if document.repeatable() => {
                    self.backoff(attempt)
                }
                _ => return Err(error),
            };
            if attempt >= self.retry.max_attempts {
                return Err(error);
            }
            self.count(|s| s.retried += 1);
            tokio::time::sleep(wait).await;
        }
    }

    fn count(&self, f: impl FnOnce(&mut ClientStats)) {
        f(&mut self.stats.lock().unwrap_or_else(|e| e.into_inner()));
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .retry
            .base_delay
            .saturating_mul(1 << attempt.min(16).saturating_sub(1));
        exp.min(self.retry.max_delay)
            .mul_f64(rand::thread_rng().gen_range(0.5..1.5))
    }

    /// Waits until the shop's bucket holds what this call is expected to
    /// cost, and reserves it.
    async fn pace(&self, shop: &ShopDomain, document: Document) {
        let cost = self.expected_cost(document);
        loop {
            let wait = {
                let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
                let Some(bucket) = buckets.get_mut(shop.as_str()) else {
                    return;
                };
                let now = Instant::now();
                let available = bucket.now(now);
                if available >= cost {
                    bucket.available = available - cost;
                    bucket.at = now;
                    bucket.in_flight += cost;
                    return;
                }
                Duration::from_secs_f64((cost - available) / bucket.restore_rate.max(1.0))
            };
            if let Some(observer) = &self.observer {
                observer.throttle_waited(wait.as_secs_f64());
            }
            tokio::time::sleep(wait).await;
        }
    }

    async fn send(
        &self,
        shop: &ShopDomain,
        access_token: &str,
        document: Document,
        body: &Value,
    ) -> Result<Value, ShopifyError> {
        self.count(|s| s.calls += 1);
        let path = format!("/admin/api/{API_VERSION}/graphql.json");
        let response = self
            .endpoint
            .request(&self.http, shop, &path)
            .header("X-Shopify-Access-Token", access_token)
            .json(body)
            .send()
            .await
            .map_err(|e| ShopifyError::Network(e.without_url().to_string()))?;
        let status = response.status().as_u16();
        let request_id = response
            .headers()
            .get("X-Request-Id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        match status {
            200 => {}
            401 | 403 => return Err(ShopifyError::Unauthorized),
            429 => {
                let retry_after = response
                    .headers()
                    .get("Retry-After")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<f64>().ok())
                    .map_or(Duration::from_secs(1), Duration::from_secs_f64);
                return Err(ShopifyError::Throttled { retry_after });
            }
            _ => return Err(ShopifyError::Http { status, request_id }),
        }
        let mut answer: Value = response.json().await.map_err(|e| {
            ShopifyError::Network(format!("unreadable answer: {}", e.without_url()))
        })?;
        let requested = self.observe_cost(shop, document, &answer);
        if let Some(errors) = answer.get("errors").and_then(Value::as_array) {
            let throttled = errors.iter().any(|e| {
                e.pointer("/extensions/code").and_then(Value::as_str) == Some("THROTTLED")
                    || e.get("message").and_then(Value::as_str) == Some("Throttled")
            });
            if throttled {
                let retry_after = self.time_to_afford(shop, requested);
                return Err(ShopifyError::Throttled { retry_after });
            }
            if !errors.is_empty() {
                let messages = errors
                    .iter()
                    .map(|e| {
                        e.get("message")
                            .and_then(Value::as_str)
                            .unwrap_or("?")
                            .to_owned()
                    })
                    .collect();
                return Err(ShopifyError::GraphQl(messages));
            }
        }
        Ok(answer
            .get_mut("data")
            .map(Value::take)
            .unwrap_or(Value::Null))
    }

    /// The call is answered: its reservation is no longer in flight.
    fn settle(&self, shop: &ShopDomain, document: Document) {
        let cost = self.expected_cost(document);
        if let Some(bucket) = self
            .buckets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(shop.as_str())
        {
            bucket.in_flight = (bucket.in_flight - cost).max(0.0);
        }
    }

    fn refund(&self, shop: &ShopDomain, document: Document) {
        let cost = self.expected_cost(document);
        if let Some(bucket) = self
            .buckets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(shop.as_str())
        {
            bucket.available = (bucket.available + cost).min(bucket.maximum);
        }
    }

    fn expected_cost(&self, document: Document) -> f64 {
        self.costs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(document.name)
            .copied()
            .unwrap_or(DEFAULT_COST)
    }

    /// Takes the bucket's state from the answer; returns the requested cost.
    fn observe_cost(&self, shop: &ShopDomain, document: Document, answer: &Value) -> f64 {
        let Some(cost) = answer.pointer("/extensions/cost") else {
            return DEFAULT_COST;
        };
        let number = |p: &str| cost.pointer(p).and_then(Value::as_f64);
        let requested = number("/requestedQueryCost").unwrap_or(DEFAULT_COST);
        if let Some(actual) = number("/actualQueryCost") {
            self.count(|s| s.points_used += actual);
            if let Some(observer) = &self.observer {
                let plan = number("/throttleStatus/restoreRate").map_or("other", plan_of);
                observer.points_used(plan, actual);
            }
        }
        // Expect the next call of this document to cost what this one asked.
        self.costs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(document.name, requested);
        if let (Some(maximum), Some(available), Some(restore_rate)) = (
            number("/throttleStatus/maximumAvailable"),
            number("/throttleStatus/currentlyAvailable"),
            number("/throttleStatus/restoreRate"),
        ) {
            let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
            // Our own calls still in flight (this one excluded) will be
            // charged after this answer was written.
            let others = buckets
                .get(shop.as_str())
                .map_or(0.0, |b| (b.in_flight - requested).max(0.0));
            // Answers can arrive out of order, so one never raises what we
            // believe is left, only lowers it; time alone refills it.
            let now = Instant::now();
            let reported = available - others;
            let believed = buckets
                .get(shop.as_str())
                .map_or(reported, |b| b.now(now).min(reported));
            buckets.insert(
                shop.as_str().to_owned(),
                Bucket {
                    maximum,
                    available: believed,
                    restore_rate,
                    at: now,
                    in_flight: others + requested,
                },
            );
        }
        requested
    }

    fn time_to_afford(&self, shop: &ShopDomain, cost: f64) -> Duration {
        let buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        match buckets.get(shop.as_str()) {
            Some(b) => Duration::from_secs_f64(
                ((cost - b.now(Instant::now())) / b.restore_rate.max(1.0)).max(0.05),
            ),
            None => Duration::from_secs(1),
        }
    }
}

/// The `userErrors` of a mutation's payload, as an error when there are any.
pub fn user_errors(payload: &Value) -> Result<(), ShopifyError> {
    let errors: Vec<UserError> = payload
        .get("userErrors")
        .cloned()
        .map(serde_json::from_value)
        .transpose()
        .map_err(|e| ShopifyError::GraphQl(vec![format!("unreadable userErrors: {e}")]))?
        .unwrap_or_default();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ShopifyError::UserErrors(errors))
    }
}
