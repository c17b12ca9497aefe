//! Logs go to stderr: text by default, one JSON object per line with
//! `HERALD_LOG_FORMAT=json` (for log pipelines), filtered by `HERALD_LOG`.
//!
//! Colours only when stderr is a terminal and `NO_COLOR` is unset or empty: a file,
//! journald or a log shipper gets plain text without escape codes.
//!
//! A log write must never take the process down or keep it from stopping: when stderr's
//! reader goes away (a closed pipe, a restarted log shipper), writes fail with `EPIPE` and
//! the line is dropped. tracing-subscriber's builder would otherwise report the failure with
//! `eprintln!`, which panics on the same closed pipe, inside whatever task was logging.

use std::io::{IsTerminal, Write};
use std::sync::OnceLock;
use tracing_subscriber::EnvFilter;

/// The format [`init`] chose, for [`notice`].
static FORMAT: OnceLock<LogFormat> = OnceLock::new();

/// The log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl LogFormat {
    /// Reads `HERALD_LOG_FORMAT` (`text`, the default, or `json`).
    pub fn from_env() -> Result<Self, String> {
        match std::env::var("HERALD_LOG_FORMAT").unwrap_or_default().trim() {
            "" | "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            other => Err(format!("HERALD_LOG_FORMAT: {other:?} is not text or json")),
        }
    }
}

/// Whether stderr gets ANSI colours: a terminal, and `NO_COLOR` unset or empty
/// (<https://no-color.org>).
pub fn colours_on_stderr() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Installs the global subscriber. An unknown `HERALD_LOG_FORMAT` is an error for the caller
/// to report; an invalid `HERALD_LOG` falls back to the default filter.
pub fn init() -> Result<(), String> {
    let format = LogFormat::from_env()?;
    let _ = FORMAT.set(format);
    let filter = EnvFilter::try_from_env("HERALD_LOG").unwrap_or_else(|_| "herald=info,warn".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .log_internal_errors(false);
    match format {
        LogFormat::Text => builder.with_ansi(colours_on_stderr()).init(),
        LogFormat::Json => builder.json().with_ansi(false).init(),
    }
    Ok(())
}

/// Writes a line for the operator to stderr whatever `HERALD_LOG` filters (the generated admin
/// token, shown once), in the log format so a JSON pipeline still gets JSON. Errors (a closed
/// stderr) are ignored.
pub fn notice(message: &str) {
    let line = match FORMAT.get() {
        Some(LogFormat::Json) => serde_json::json!({
            "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "level": "WARN",
            "fields": { "message": message },
            "target": "herald",
        })
        .to_string(),
        _ => format!("\n{message}\n"),
    };
    let _ = writeln!(std::io::stderr(), "{line}");
}
