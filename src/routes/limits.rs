//! Abuse limits for the storefront-facing routes (app proxy, checkout): a
//! token bucket per shop and one per shopper, so referral codes and
//! redemptions cannot be brute-forced and one shop cannot starve others.
//! Limits are per process; behind a load balancer each instance keeps its
//! own.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use crate::error::ApiError;

/// A sustained rate and a burst.
#[derive(Debug, Clone, Copy)]
pub struct Rate {
    pub per_second: f64,
    pub burst: f64,
}

/// Per shop: what a busy storefront needs.
pub const PER_SHOP: Rate = Rate {
    per_second: 50.0,
    burst: 200.0,
};
/// Per shopper (customer, or address when logged out).
pub const PER_SHOPPER: Rate = Rate {
    per_second: 1.0,
    burst: 20.0,
};

/// Per merchant API key on `/api/v1`: a busy integration, not a flood.
pub const PER_API_KEY: Rate = Rate {
    per_second: 20.0,
    burst: 100.0,
};

/// Per client address, failed API keys on `/api/v1`: past the burst, the
/// address is refused (429) before any key it sends is looked at, so keys
/// cannot be guessed at speed.
pub const PER_FAILED_KEY: Rate = Rate {
    per_second: 1.0,
    burst: 30.0,
};

/// Per client address on `/auth`, which writes a row for anyone: enough
/// for a merchant retrying an install, not for filling the table.
pub const PER_INSTALLER: Rate = Rate {
    per_second: 1.0,
    burst: 10.0,
};

struct Bucket {
    tokens: f64,
    updated: Instant,
}

#[derive(Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RateLimiter")
    }
}

/// Past this many keys, buckets that refilled completely are forgotten.
const MAX_KEYS: usize = 100_000;

impl RateLimiter {
    /// Takes one token from `key`'s bucket, or says how long to wait.
    pub fn check(&self, key: &str, rate: Rate) -> Result<(), ApiError> {
        self.check_all(&[(key, rate)])
    }

    /// Refuses as [`Self::check`] would while `key`'s bucket is empty, but
    /// takes nothing: for a bucket only failures spend.
    pub fn probe(&self, key: &str, rate: Rate) -> Result<(), ApiError> {
        let now = Instant::now();
        let buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let Some(bucket) = buckets.get(key) else {
            return Ok(());
        };
        let refill = now.duration_since(bucket.updated).as_secs_f64() * rate.per_second;
        let tokens = (bucket.tokens + refill).min(rate.burst);
        if tokens < 1.0 {
            let wait = Duration::from_secs_f64((1.0 - tokens) / rate.per_second);
            return Err(ApiError::TooManyRequests {
                retry_after_secs: wait.as_secs().max(1),
            });
        }
        Ok(())
    }

    /// Takes one token from each bucket, or none: a caller refused by one
    /// bucket spends nothing from the others (a shopper past their own
    /// limit must not drain their shop's). Says how long to wait for the
    /// bucket that refused.
    pub fn check_all(&self, buckets_and_rates: &[(&str, Rate)]) -> Result<(), ApiError> {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() > MAX_KEYS {
            // Forget buckets that have refilled completely under the most
            // generous of the rates asked for.
            let (per_second, burst) = buckets_and_rates
                .iter()
                .fold((0.0_f64, 0.0_f64), |(p, b), (_, r)| {
                    (p.max(r.per_second), b.max(r.burst))
                });
            buckets.retain(|_, b| {
                b.tokens + now.duration_since(b.updated).as_secs_f64() * per_second < burst
            });
        }
        let mut wait: Option<Duration> = None;
        for (key, rate) in buckets_and_rates {
            let bucket = buckets.entry((*key).to_owned()).or_insert(Bucket {
                tokens: rate.burst,
                updated: now,
            });
            let refill = now.duration_since(bucket.updated).as_secs_f64() * rate.per_second;
            bucket.tokens = (bucket.tokens + refill).min(rate.burst);
            bucket.updated = now;
            if bucket.tokens < 1.0 {
                let this = Duration::from_secs_f64((1.0 - bucket.tokens) / rate.per_second);
                wait = Some(wait.map_or(this, |w| w.max(this)));
            }
        }
        if let Some(wait) = wait {
            return Err(ApiError::TooManyRequests {
                retry_after_secs: wait.as_secs().max(1),
            });
        }
        for (key, _) in buckets_and_rates {
            if let Some(bucket) = buckets.get_mut(*key) {
                bucket.tokens -= 1.0;
            }
        }
        Ok(())
    }

    /// The storefront limits: the shopper's bucket and the shop's, taken
    /// together or not at all.
    pub fn check_storefront(&self, shop: &str, shopper: &str) -> Result<(), ApiError> {
        self.check_all(&[
            (&format!("shopper:{shop}:{shopper}"), PER_SHOPPER),
            (&format!("shop:{shop}"), PER_SHOP),
        ])
    }

    /// The `/auth` limit, per client address (whatever shop it names).
    pub fn check_install(&self, peer: &str) -> Result<(), ApiError> {
        self.check(&format!("install:{peer}"), PER_INSTALLER)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_caller_waits() {
        let limiter = RateLimiter::default();
        let rate = Rate {
            per_second: 1.0,
            burst: 3.0,
        };
        for _ in 0..3 {
            assert!(limiter.check("k", rate).is_ok());
        }
        match limiter.check("k", rate) {
            Err(ApiError::TooManyRequests { retry_after_secs }) => assert_eq!(retry_after_secs, 1),
            other => panic!("expected 429, got {other:?}"),
        }
        assert!(limiter.check("other", rate).is_ok(), "buckets are per key");
    }

    #[test]
    fn a_probe_refuses_an_empty_bucket_and_takes_nothing() {
        let limiter = RateLimiter::default();
        let rate = Rate {
            per_second: 1.0,
            burst: 2.0,
        };
        assert!(limiter.probe("k", rate).is_ok(), "no bucket yet");
        limiter.check("k", rate).unwrap();
        for _ in 0..5 {
            assert!(limiter.probe("k", rate).is_ok(), "probes take nothing");
        }
        limiter.check("k", rate).unwrap();
        assert!(matches!(
            limiter.probe("k", rate),
            Err(ApiError::TooManyRequests { .. })
        ));
    }

    #[test]
    fn a_shopper_past_their_limit_spends_nothing_of_their_shops() {
        let limiter = RateLimiter::default();
        for _ in 0..PER_SHOPPER.burst as usize {
            limiter.check_storefront("shop", "greedy").unwrap();
        }
        for _ in 0..10 * PER_SHOP.burst as usize {
            assert!(limiter.check_storefront("shop", "greedy").is_err());
        }
        // The shop's bucket lost only the greedy shopper's first 20 tokens.
        for shopper in 0..(PER_SHOP.burst - PER_SHOPPER.burst) as usize {
            assert!(
                limiter
                    .check_storefront("shop", &format!("s{shopper}"))
                    .is_ok(),
                "shopper {shopper} refused"
            );
        }
    }
}
