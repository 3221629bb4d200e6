//! Settings for running Advocate in production that the application itself
//! does not need: who may read `/metrics` and how long a stop may take.
//! Read from the environment beside [`crate::config::Config`].

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::ConfigError;

/// The shortest metrics token accepted: a guessable token would put the
/// shop counts and queue depths of every merchant on the internet.
pub const MIN_METRICS_TOKEN_LEN: usize = 24;

#[derive(Clone, Debug)]
pub struct OpsSettings {
    /// `ADVOCATE_METRICS_TOKEN`: `/metrics` answers only requests carrying
    /// `Authorization: Bearer <token>`; unset, `/metrics` does not exist (404).
    pub metrics_token: Option<SecretString>,
    /// `ADVOCATE_SHUTDOWN_SECS`: how long a stop (SIGTERM, SIGINT) may take
    /// in all: requests in flight, the last intake commit, the workers'
    /// current rows. Past it, workers are abandoned (their transactions
    /// roll back) and their leases handed back.
    pub shutdown: Duration,
}

impl Default for OpsSettings {
    fn default() -> Self {
        Self {
            metrics_token: None,
            shutdown: Duration::from_secs(25),
        }
    }
}

impl OpsSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let metrics_token = match get("ADVOCATE_METRICS_TOKEN") {
            None => None,
            Some(t) if t.is_empty() => None,
            Some(t) if t.len() < MIN_METRICS_TOKEN_LEN || t.contains(char::is_whitespace) => {
                return Err(ConfigError {
                    variable: "ADVOCATE_METRICS_TOKEN",
                    expected: format!(
                        "at least {MIN_METRICS_TOKEN_LEN} characters without spaces \
                         (e.g. openssl rand -hex 24)"
                    ),
                })
            }
            Some(t) => Some(SecretString::from(t)),
        };
        let shutdown = match get("ADVOCATE_SHUTDOWN_SECS") {
            None => Self::default().shutdown,
            Some(v) => match v.parse::<u64>() {
                Ok(secs) if (1..=3600).contains(&secs) => Duration::from_secs(secs),
                _ => {
                    return Err(ConfigError {
                        variable: "ADVOCATE_SHUTDOWN_SECS",
                        expected: "a number of seconds from 1 to 3600".into(),
                    })
                }
            },
        };
        Ok(Self {
            metrics_token,
            shutdown,
        })
    }

    /// Whether `presented` is the metrics token. Both sides are hashed
    /// first, so the comparison takes the same time whatever their lengths.
    pub fn metrics_token_matches(&self, presented: &str) -> bool {
        let Some(token) = &self.metrics_token else {
            return false;
        };
        let expected = Sha256::digest(token.expose_secret().as_bytes());
        let presented = Sha256::digest(presented.as_bytes());
        expected.ct_eq(&presented).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(pairs: &[(&str, &str)]) -> Result<OpsSettings, ConfigError> {
        let env: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        OpsSettings::from_lookup(|name| env.get(name).cloned())
    }

    #[test]
    fn metrics_are_off_and_shutdown_bounded_by_default() {
        let s = settings(&[]).unwrap();
        assert!(s.metrics_token.is_none());
        assert!(!s.metrics_token_matches(""));
        assert_eq!(s.shutdown, Duration::from_secs(25));
    }

    #[test]
    fn a_short_metrics_token_is_refused_at_start_up() {
        let e = settings(&[("ADVOCATE_METRICS_TOKEN", "secret")]).unwrap_err();
        assert_eq!(e.variable, "ADVOCATE_METRICS_TOKEN");
    }

    #[test]
    fn only_the_exact_metrics_token_matches() {
        let token = "0123456789abcdef0123456789abcdef";
        let s = settings(&[("ADVOCATE_METRICS_TOKEN", token)]).unwrap();
        assert!(s.metrics_token_matches(token));
        assert!(!s.metrics_token_matches(&token[..31]));
        assert!(!s.metrics_token_matches(&format!("{token}0")));
        assert!(!s.metrics_token_matches(""));
    }

    #[test]
    fn shutdown_bound_must_be_a_sane_number_of_seconds() {
        assert_eq!(
            settings(&[("ADVOCATE_SHUTDOWN_SECS", "5")])
                .unwrap()
                .shutdown,
            Duration::from_secs(5)
        );
        for bad in ["0", "-1", "soon", "99999"] {
            assert!(
                settings(&[("ADVOCATE_SHUTDOWN_SECS", bad)]).is_err(),
                "{bad}"
            );
        }
    }
}
