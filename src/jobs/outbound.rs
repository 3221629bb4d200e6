//! The outbound webhook sender: delivers the events [`outbound::emit`]
//! wrote to the merchant's endpoints, signed with each endpoint's secret.
//!
//! Each endpoint is served by a task of its own, one delivery at a time
//! (oldest first, and of one customer in order), so a slow or failing
//! endpoint holds up only its own deliveries. A delivery is leased while
//! it is tried, so several processes share the work. A 2xx answer
//! delivers it; anything else (or no answer within the timeout) is tried
//! again with backoff until its `retry_until` (a day and an hour), then it
//! is failed, visible on the Activity screen and resendable. Every try is
//! recorded.
//!
//! The request: `POST`, the JSON body `{"id","topic","shop","created_at",
//! "data"}` (the same bytes on every try), and the headers
//! `Advocate-Webhook-Id`, `-Topic`, `-Timestamp` (this try's, in seconds)
//! and `-Signature: v1=<hex HMAC-SHA256 of "{timestamp}.{body}">`, keyed by
//! the endpoint's secret.

use std::{collections::HashSet, sync::Arc, time::Duration};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::task::JoinSet;

use crate::{
    crypto::TokenCipher,
    egress::{self, Policy},
    error_text,
    store::{
        now_ms,
        outbound::{self, After, Attempt, ClaimedDelivery},
        Store,
    },
};

/// Endpoints served at once by one process.
const PARALLEL_ENDPOINTS: usize = 16;
/// How often the sender looks for ready deliveries.
const POLL: Duration = Duration::from_millis(250);
/// The first wait after a failed try; it doubles, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(30);
const MAX_BACKOFF: Duration = Duration::from_secs(3600);

pub const SIGNATURE_HEADER: &str = "Advocate-Webhook-Signature";
pub const TIMESTAMP_HEADER: &str = "Advocate-Webhook-Timestamp";
pub const ID_HEADER: &str = "Advocate-Webhook-Id";
pub const TOPIC_HEADER: &str = "Advocate-Webhook-Topic";
pub const SHOP_HEADER: &str = "Advocate-Shop-Domain";

#[derive(Clone)]
pub struct OutboundSender {
    store: Store,
    client: reqwest::Client,
    cipher: Arc<TokenCipher>,
    owner: String,
    /// The client resolves names under it; literal addresses are checked
    /// before each try.
    policy: Policy,
    /// How long a try may take.
    timeout: Duration,
}

impl OutboundSender {
    pub fn new(
        store: Store,
        cipher: Arc<TokenCipher>,
        owner: impl Into<String>,
        policy: Policy,
        timeout: Duration,
    ) -> Self {
        Self {
            store,
            client: egress::client(policy, timeout),
            cipher,
            owner: owner.into(),
            policy,
            timeout,
        }
    }

    /// Runs until `shutdown` turns true: a task per endpoint with ready
    /// deliveries, at most [`PARALLEL_ENDPOINTS`] at once.
    pub async fn run(self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let mut serving: JoinSet<i64> = JoinSet::new();
        let mut busy: HashSet<i64> = HashSet::new();
        while !*shutdown.borrow() {
            let room = PARALLEL_ENDPOINTS.saturating_sub(busy.len());
            if room > 0 {
                let excluded: Vec<i64> = busy.iter().copied().collect();
                match outbound::ready_endpoints(&self.store, &excluded, now_ms(), room as i64).await
                {
                    Ok(endpoints) => {
                        for endpoint in endpoints {
                            busy.insert(endpoint);
                            let sender = self.clone();
                            serving.spawn(async move {
                                if let Err(e) = sender.deliver_endpoint(endpoint).await {
                                    tracing::warn!(
                                        endpoint,
                                        error = error_text::sanitise(&format!("{e:#}")),
                                        "outbound webhook sending failed"
                                    );
                                }
                                endpoint
                            });
                        }
                    }
                    Err(e) => tracing::error!(
                        error = error_text::sanitise(&e.to_string()),
                        "looking for outbound webhooks failed"
                    ),
                }
            }
            tokio::select! {
                Some(Ok(endpoint)) = serving.join_next(), if !serving.is_empty() => {
                    busy.remove(&endpoint);
                }
                _ = tokio::time::sleep(POLL) => {}
                _ = shutdown.changed() => {}
            }
            // Tasks that ended meanwhile.
            while let Some(Ok(endpoint)) = serving.try_join_next() {
                busy.remove(&endpoint);
            }
        }
        serving.shutdown().await;
    }

    /// Tries every ready delivery now, each endpoint on a task of its own,
    /// until none is ready (retries wait out their backoff). Returns how
    /// many tries were made.
    pub async fn drain(&self) -> anyhow::Result<usize> {
        let mut total = 0;
        loop {
            let endpoints = outbound::ready_endpoints(&self.store, &[], now_ms(), 1_000).await?;
            if endpoints.is_empty() {
                return Ok(total);
            }
            let mut serving = JoinSet::new();
            for endpoint in endpoints {
                let sender = self.clone();
                serving.spawn(async move { sender.deliver_endpoint(endpoint).await });
            }
            let mut tries = 0;
            while let Some(done) = serving.join_next().await {
                tries += done??;
            }
            if tries == 0 {
                // What looked ready was taken by another sender meanwhile.
                return Ok(total);
            }
            total += tries;
        }
    }

    /// Delivers the endpoint's ready deliveries one after another; returns
    /// how many tries were made.
    pub async fn deliver_endpoint(&self, endpoint: i64) -> anyhow::Result<usize> {
        let mut tries = 0;
        loop {
            let now = now_ms();
            // Long enough for the try and its recording.
            let lease_until = now + 2 * self.timeout.as_millis() as i64 + 10_000;
            let Some(delivery) =
                outbound::claim_next(&self.store, endpoint, &self.owner, lease_until, now).await?
            else {
                return Ok(tries);
            };
            let attempt = self.attempt(&delivery).await;
            let after = judge(&delivery, &attempt);
            if !outbound::record_attempt(&self.store, delivery.id, &self.owner, &attempt, after)
                .await?
            {
                tracing::warn!(
                    delivery = delivery.id,
                    "outbound webhook lease lost (disabled, redacted or taken over)"
                );
            }
            tries += 1;
        }
    }

    /// One try: the signed request and what became of it.
    async fn attempt(&self, delivery: &ClaimedDelivery) -> Attempt {
        let started = std::time::Instant::now();
        let at = now_ms();
        let outcome = self.send(delivery).await;
        let duration_ms = started.elapsed().as_millis().min(i64::MAX as u128) as i64;
        match outcome {
            Ok(status) if (200..300).contains(&status) => Attempt {
                at,
                duration_ms,
                status_code: Some(status),
                error: None,
            },
            Ok(status) => Attempt {
                at,
                duration_ms,
                status_code: Some(status),
                error: Some(format!("the endpoint answered {status}")),
            },
            Err(error) => Attempt {
                at,
                duration_ms,
                status_code: None,
                error: Some(error),
            },
        }
    }

    async fn send(&self, delivery: &ClaimedDelivery) -> Result<u16, String> {
        let (Some(shop), Some(url), Some(sealed)) = (
            delivery.shop_domain.as_deref(),
            delivery.url.as_deref(),
            delivery.secret_enc.as_deref(),
        ) else {
            return Err("the endpoint is gone".into());
        };
        let secret = self
            .cipher
            .decrypt(shop, sealed)
            .map_err(|_| "the endpoint's secret could not be read".to_owned())?;
        // Literal addresses are checked here; names by the resolver.
        let url = egress::check_url(url, self.policy).map_err(|e| format!("refused: {e}"))?;
        let body = body(delivery, shop);
        let timestamp = (now_ms() / 1000).to_string();
        let answer = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(ID_HEADER, &delivery.event_id)
            .header(TOPIC_HEADER, &delivery.topic)
            .header(SHOP_HEADER, shop)
            .header(TIMESTAMP_HEADER, &timestamp)
            .header(SIGNATURE_HEADER, signature(&secret, &timestamp, &body))
            .body(body)
            .send()
            .await
            .map_err(describe)?;
        Ok(answer.status().as_u16())
    }
}

/// A key rotation: every endpoint's signing secret not sealed under the
/// current key is sealed anew under it. Returns how many.
pub async fn reseal_secrets(store: &Store, cipher: &TokenCipher) -> anyhow::Result<usize> {
    let mut conn = store.writer().acquire().await?;
    let mut resealed = 0;
    for (id, domain, sealed) in outbound::sealed_secrets(&mut conn).await? {
        if cipher.is_current(&sealed) {
            continue;
        }
        let secret = cipher.decrypt(&domain, &sealed)?;
        outbound::reseal_secret(&mut conn, id, &cipher.encrypt(&domain, &secret)).await?;
        resealed += 1;
    }
    Ok(resealed)
}

/// What becomes of a delivery after `attempt`.
fn judge(delivery: &ClaimedDelivery, attempt: &Attempt) -> After {
    if attempt.error.is_none() {
        return After::Delivered;
    }
    if attempt.at >= delivery.retry_until {
        return After::Failed;
    }
    After::RetryAt(attempt.at + backoff(delivery.attempts).as_millis() as i64)
}

/// 30 s, 1 min, 2 min ... at most an hour, with up to a tenth of jitter.
fn backoff(attempts: i64) -> Duration {
    let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 16)).unwrap_or(16);
    let base = FIRST_BACKOFF
        .saturating_mul(2_u32.saturating_pow(doublings))
        .min(MAX_BACKOFF);
    let tenth = u64::try_from(base.as_millis() / 10).unwrap_or(u64::MAX);
    base + Duration::from_millis(rand::random::<u64>() % (tenth + 1))
}

/// The body sent for a delivery: the same bytes on every try.
pub fn body(delivery: &ClaimedDelivery, shop: &str) -> String {
    let data: serde_json::Value =
        serde_json::from_str(&delivery.data).unwrap_or(serde_json::Value::Null);
    serde_json::json!({
        "id": delivery.event_id,
        "topic": delivery.topic,
        "shop": shop,
        "created_at": crate::engine::rfc3339(delivery.created_at),
        "data": data,
    })
    .to_string()
}

/// `v1=` and the hex HMAC-SHA256 of `{timestamp}.{body}` keyed by the
/// whole secret.
pub fn signature(secret: &str, timestamp: &str, body: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any size");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// A failed request, named without the URL (it may carry a token).
fn describe(e: reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        let refused = std::error::Error::source(&e)
            .and_then(|s| s.downcast_ref::<egress::EgressError>().cloned())
            .or_else(|| find_egress(&e));
        match refused {
            Some(reason) => format!("refused: {reason}"),
            None => "could not connect".into(),
        }
    } else if e.is_request() {
        "the request could not be sent".into()
    } else {
        "the request failed".into()
    }
}

/// The egress refusal somewhere in the error's chain, if there is one.
fn find_egress(e: &reqwest::Error) -> Option<egress::EgressError> {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(found) = s.downcast_ref::<egress::EgressError>() {
            return Some(found.clone());
        }
        source = s.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::{backoff, signature};
    use std::time::Duration;

    #[test]
    fn the_signature_covers_the_timestamp_and_the_body() {
        // Computed independently: printf '1700000000.{"a":1}' |
        //   openssl dgst -sha256 -hmac 'whsec_test'
        let s = signature("whsec_test", "1700000000", r#"{"a":1}"#);
        assert_eq!(
            s,
            "v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
        );
        assert_ne!(s, signature("whsec_test", "1700000001", r#"{"a":1}"#));
        assert_ne!(s, signature("whsec_test", "1700000000", r#"{"a":2}"#));
    }

    #[test]
    fn backoff_doubles_from_thirty_seconds_to_an_hour() {
        let within = |d: Duration, base: u64| {
            d >= Duration::from_secs(base) && d <= Duration::from_secs(base) * 11 / 10
        };
        assert!(within(backoff(1), 30));
        assert!(within(backoff(2), 60));
        assert!(within(backoff(5), 480));
        assert!(within(backoff(9), 3600));
        assert!(within(backoff(500), 3600));
    }
}
