//! The database URL: its scheme picks the backend.

use std::fmt;

/// The database URL. Its `Debug` shows only the backend, since a PostgreSQL
/// URL may carry a password.
#[derive(Clone)]
pub struct DatabaseUrl(String);

/// A URL whose scheme names no supported backend.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{}", DatabaseUrl::EXPECTED)]
pub struct UnsupportedUrl;

impl DatabaseUrl {
    /// What a valid URL looks like, for error messages.
    pub const EXPECTED: &'static str = "sqlite://path/to/file.db or postgres://user@host/db";

    pub fn parse(raw: impl Into<String>) -> Result<Self, UnsupportedUrl> {
        let raw = raw.into();
        if raw.starts_with("sqlite:")
            || raw.starts_with("postgres://")
            || raw.starts_with("postgresql://")
        {
            Ok(Self(raw))
        } else {
            Err(UnsupportedUrl)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_sqlite(&self) -> bool {
        self.0.starts_with("sqlite:")
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let backend = if self.is_sqlite() {
            "sqlite"
        } else {
            "postgres"
        };
        write!(f, "DatabaseUrl({backend}, redacted)")
    }
}
