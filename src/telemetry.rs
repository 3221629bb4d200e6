//! Logging: JSON lines when stdout is not a terminal, readable text when it
//! is. The filter comes from `ADVOCATE_LOG` (or `RUST_LOG`). Nothing secret
//! or personal is ever put in a log field.

use std::io::IsTerminal;

use tracing_subscriber::{fmt, EnvFilter};

pub fn init() {
    let filter = std::env::var("ADVOCATE_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info,sqlx=warn,actix_server=warn".into());
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = fmt().with_env_filter(filter).with_target(false);
    let _ = if std::io::stdout().is_terminal() {
        builder.try_init()
    } else {
        builder.json().flatten_event(true).try_init()
    };
}
