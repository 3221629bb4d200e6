//! Instants as epoch milliseconds (UTC), the form every time column holds.
//! The rules take the time as an input; [`EpochMs::now`] is read once at
//! the edge (a request, a job run) and passed down.

use serde::{Deserialize, Serialize};

/// One day in milliseconds.
pub const DAY_MS: i64 = 86_400_000;

/// An instant as milliseconds since 1970-01-01T00:00:00Z.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, sqlx::Type,
)]
#[serde(transparent)]
#[sqlx(transparent)]
pub struct EpochMs(pub i64);

impl EpochMs {
    /// The current time, from the system clock.
    pub fn now() -> Self {
        Self(chrono::Utc::now().timestamp_millis())
    }

    /// The stored integer.
    pub fn get(self) -> i64 {
        self.0
    }

    /// `days` later (earlier when negative), or `None` past the `i64` range.
    pub fn plus_days(self, days: i64) -> Option<Self> {
        days.checked_mul(DAY_MS)
            .and_then(|ms| self.0.checked_add(ms))
            .map(Self)
    }

    /// `days` earlier, or `None` past the `i64` range.
    pub fn minus_days(self, days: i64) -> Option<Self> {
        days.checked_mul(DAY_MS)
            .and_then(|ms| self.0.checked_sub(ms))
            .map(Self)
    }

    /// `ms` milliseconds later, or `None` past the `i64` range.
    pub fn plus_ms(self, ms: i64) -> Option<Self> {
        self.0.checked_add(ms).map(Self)
    }
}

impl From<i64> for EpochMs {
    fn from(ms: i64) -> Self {
        Self(ms)
    }
}

impl std::fmt::Display for EpochMs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Epoch milliseconds as RFC 3339 (UTC, whole seconds): how Shopify, the
/// API and the webhooks write times.
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_checked() {
        assert_eq!(EpochMs(0).plus_days(2), Some(EpochMs(2 * DAY_MS)));
        assert_eq!(EpochMs(DAY_MS).minus_days(1), Some(EpochMs(0)));
        assert_eq!(EpochMs(i64::MAX).plus_days(1), None);
        assert_eq!(EpochMs(0).plus_days(i64::MAX), None);
        assert_eq!(EpochMs(i64::MIN).minus_days(1), None);
    }

    #[test]
    fn it_serializes_as_a_plain_number() {
        assert_eq!(serde_json::to_string(&EpochMs(1234)).unwrap(), "1234");
    }
}
