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
    pub fn from_env() -> Result<Self, LogSetupError> {
        match std::env::var("HERALD_LOG_FORMAT").unwrap_or_default().trim() {
            "" | "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            other => Err(LogSetupError::Format(other.to_owned())),
        }
    }
}

/// A logging setting that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LogSetupError {
    #[error("HERALD_LOG_FORMAT: {0:?} is not text or json")]
    Format(String),
    #[error("HERALD_LOG: {text:?} is not a log filter like herald=debug,warn ({reason})")]
    Filter {
        text: String,
        reason: tracing_subscriber::filter::ParseError,
    },
}

/// Whether stderr gets ANSI colours: a terminal, and `NO_COLOR` unset or empty
/// (<https://no-color.org>).
pub fn colours_on_stderr() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// The log filter when `HERALD_LOG` is unset. The certificate verifier logs every endpoint
/// whose certificate fails as an ERROR of its own; any subscriber can register such endpoints,
/// so it would flood the log. What became of each push is in its message's delivery report
/// and the metrics (`HERALD_LOG=herald=debug,warn` logs each failed request).
const DEFAULT_FILTER: &str = "herald=info,warn,rustls_platform_verifier=off";

/// The filter `HERALD_LOG` names (unset or empty: [`DEFAULT_FILTER`]). An invalid one is an
/// error like any other invalid setting: falling back silently would hide the logs asked for.
fn log_filter(value: Option<&str>) -> Result<EnvFilter, LogSetupError> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(EnvFilter::new(DEFAULT_FILTER)),
        Some(text) => EnvFilter::try_new(text).map_err(|reason| LogSetupError::Filter {
            text: text.to_owned(),
            reason,
        }),
    }
}

/// Installs the global subscriber. An unknown `HERALD_LOG_FORMAT` or an invalid `HERALD_LOG`
/// is an error for the caller to report.
pub fn init() -> Result<(), LogSetupError> {
    let format = LogFormat::from_env()?;
    let filter = log_filter(std::env::var("HERALD_LOG").ok().as_deref())?;
    let _ = FORMAT.set(format);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invalid_log_filter_is_refused_naming_the_setting() {
        let message = log_filter(Some("herald=loud")).unwrap_err().to_string();
        assert!(
            message.starts_with("HERALD_LOG: \"herald=loud\" is not a log filter"),
            "{message}"
        );
        assert_eq!(
            log_filter(None).unwrap().to_string(),
            EnvFilter::new(DEFAULT_FILTER).to_string()
        );
        assert_eq!(
            log_filter(Some(" ")).unwrap().to_string(),
            EnvFilter::new(DEFAULT_FILTER).to_string()
        );
        assert_eq!(
            log_filter(Some("herald=debug,warn")).unwrap().to_string(),
            "herald=debug,warn"
        );
    }
}
