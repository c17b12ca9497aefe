//! Configuration: an optional `herald.toml`, then environment variables, which win.
//!
//! Every setting is validated here, at start, so that a typo stops the server with a message
//! that names the setting instead of surfacing later as a puzzling delivery failure.
//!
//! The layering is hand-written rather than `figment`'s: figment's environment provider
//! derives names from field names (so `tests/operator.rs` could no longer find each
//! `HERALD_*` name to check its README row), parses `yes`/`on` and comma lists differently,
//! and words errors by key path instead of starting with the variable's name.

use crate::domain::quiet_hours::QuietHours;
use crate::net::TrustedProxies;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A setting that could not be used. The message names it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub database_url: String,
    /// `None`: generated on first start, only its hash kept.
    pub admin_token: Option<String>,
    /// `None`: generated on first start and kept in the database.
    pub owner_token_secret: Option<String>,
    /// `None`: `/metrics` is public (block it at the load balancer).
    pub metrics_token: Option<String>,
    /// `None`: a placeholder is used and a warning printed.
    pub vapid_subject: Option<String>,
    /// Raw base64url or PEM. `None`: generated on first start and kept in the database.
    pub vapid_private_key: Option<String>,
    pub allow_private_endpoints: bool,
    pub allow_http_endpoints: bool,
    /// Host patterns (`fcm.googleapis.com`, `*.push.apple.com`); empty allows any public host.
    pub push_host_allowlist: Vec<String>,
    /// Origins allowed to call the public endpoints from a browser; `*` allows any.
    pub cors_origins: Vec<String>,
    pub cleanup_interval: Duration,
    /// Outbox rows claimed and not yet recorded at once (all push services together); also
    /// the most pushes a crash can repeat.
    pub delivery_concurrency: usize,
    /// The largest in-flight window one push service (origin) can earn.
    pub delivery_max_in_flight_per_origin: usize,
    /// How long a claimed outbox row stays leased to this instance.
    pub delivery_lease: Duration,
    pub max_attempts: u32,
    /// First retry delay; each further retry doubles it (with jitter).
    pub retry_base: Duration,
    pub push_timeout: Duration,
    pub max_subscriptions_per_owner: u64,
    /// Requests per minute per client IP on the public endpoints; 0 disables the limit.
    pub public_rate_limit: u32,
    /// Proxies whose `X-Forwarded-For` names the client (for the rate limit).
    pub trusted_proxies: TrustedProxies,
    pub ssl_cert_file: Option<PathBuf>,
    /// A connection must finish each request header within this.
    pub header_read_timeout: Duration,
    /// A connection with no request in flight for this long is closed.
    pub idle_timeout: Duration,
    /// Connections open at once (kept under the open-file limit).
    pub max_connections: usize,
    /// Quiet hours every message gets unless it names its own or ignores them; `None`: none.
    pub quiet_hours: Option<QuietHours>,
}

/// The file's shape: every field optional, unknown keys refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    database_url: Option<String>,
    admin_token: Option<String>,
    owner_token_secret: Option<String>,
    metrics_token: Option<String>,
    vapid_subject: Option<String>,
    vapid_private_key: Option<String>,
    allow_private_endpoints: Option<bool>,
    allow_http_endpoints: Option<bool>,
    push_host_allowlist: Option<Vec<String>>,
    cors_origins: Option<Vec<String>>,
    cleanup_interval_seconds: Option<u64>,
    delivery_concurrency: Option<usize>,
    delivery_max_in_flight_per_origin: Option<usize>,
    delivery_lease_seconds: Option<u64>,
    max_attempts: Option<u32>,
    retry_base_ms: Option<u64>,
    push_timeout_seconds: Option<u64>,
    max_subscriptions_per_owner: Option<u64>,
    public_rate_limit_per_minute: Option<u32>,
    trusted_proxies: Option<Vec<String>>,
    header_read_timeout_seconds: Option<u64>,
    idle_timeout_seconds: Option<u64>,
    max_connections: Option<usize>,
    quiet_hours: Option<String>,
}

impl Config {
    /// Loads `path` (or `./herald.toml` when it exists) and then the process environment.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_from(path, |name| std::env::var(name).ok())
    }

    /// As [`Self::load`], with the environment supplied (for tests).
    pub fn load_from(path: Option<&Path>, env: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let file = match path {
            Some(path) => read_file(path)?,
            None if Path::new("herald.toml").exists() => read_file(Path::new("herald.toml"))?,
            None => FileConfig::default(),
        };
        let text = |env_name: &str, from_file: Option<String>| env(env_name).filter(|v| !v.is_empty()).or(from_file);

        let listen_text = text("HERALD_LISTEN", file.listen).unwrap_or_else(|| "127.0.0.1:8080".into());
        let listen = listen_text.parse().map_err(|_| {
            ConfigError(format!(
                "HERALD_LISTEN: {listen_text:?} is not an address like 127.0.0.1:8080"
            ))
        })?;
        let database_url =
            text("HERALD_DATABASE_URL", file.database_url).unwrap_or_else(|| "sqlite://herald.db".into());
        if !["sqlite:", "postgres://", "postgresql://", "mysql://", "mariadb://"]
            .iter()
            .any(|p| database_url.starts_with(p))
        {
            return Err(ConfigError(format!(
                "HERALD_DATABASE_URL: {database_url:?} must start with sqlite:, postgres://, postgresql://, mysql:// or mariadb://"
            )));
        }
        let admin_token = text("HERALD_ADMIN_TOKEN", file.admin_token);
        if let Some(token) = &admin_token {
            if token.len() < 16 {
                return Err(ConfigError("HERALD_ADMIN_TOKEN: must be at least 16 characters".into()));
            }
        }
        let owner_token_secret = text("HERALD_OWNER_TOKEN_SECRET", file.owner_token_secret);
        if let Some(secret) = &owner_token_secret {
            if secret.len() < 32 {
                return Err(ConfigError(
                    "HERALD_OWNER_TOKEN_SECRET: must be at least 32 characters (HS256 needs a long key)".into(),
                ));
            }
        }
        let metrics_token = text("HERALD_METRICS_TOKEN", file.metrics_token);
        if metrics_token.as_ref().is_some_and(|t| t.len() < 16) {
            return Err(ConfigError(
                "HERALD_METRICS_TOKEN: must be at least 16 characters".into(),
            ));
        }
        let vapid_subject = text("HERALD_VAPID_SUBJECT", file.vapid_subject);
        if let Some(subject) = &vapid_subject {
            herald_push::vapid::VapidSubject::parse(subject)
                .map_err(|e| ConfigError(format!("HERALD_VAPID_SUBJECT: {e}")))?;
        }
        let vapid_private_key = text("HERALD_VAPID_PRIVATE_KEY", file.vapid_private_key);
        if let Some(key) = &vapid_private_key {
            herald_push::keys::VapidKeyPair::parse(key)
                .map_err(|e| ConfigError(format!("HERALD_VAPID_PRIVATE_KEY: {e}")))?;
        }
        let flag = |name: &str, from_file: Option<bool>| -> Result<bool, ConfigError> {
            match env(name).filter(|v| !v.is_empty()) {
                None => Ok(from_file.unwrap_or(false)),
                Some(v) => parse_bool(&v).ok_or_else(|| ConfigError(format!("{name}: {v:?} is not true or false"))),
            }
        };
        let number =
            |name: &str, from_file: Option<u64>, default: u64, min: u64, max: u64| -> Result<u64, ConfigError> {
                let value = match env(name).filter(|v| !v.is_empty()) {
                    None => from_file.unwrap_or(default),
                    Some(v) => v
                        .trim()
                        .parse()
                        .map_err(|_| ConfigError(format!("{name}: {v:?} is not a whole number")))?,
                };
                if !(min..=max).contains(&value) {
                    return Err(ConfigError(format!("{name}: {value} is outside {min}..={max}")));
                }
                Ok(value)
            };
        let list = |name: &str, from_file: Option<Vec<String>>| -> Vec<String> {
            match env(name) {
                Some(v) => v
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
                None => from_file.unwrap_or_default(),
            }
        };
        let cors_origins = list("HERALD_CORS_ORIGINS", file.cors_origins);
        for origin in &cors_origins {
            if origin != "*"
                && url::Url::parse(origin)
                    .map(|u| u.origin().ascii_serialization())
                    .ok()
                    .as_ref()
                    != Some(origin)
            {
                return Err(ConfigError(format!(
                    "HERALD_CORS_ORIGINS: {origin:?} is not an origin like https://app.example.com"
                )));
            }
        }
        let quiet_hours = match text("HERALD_QUIET_HOURS", file.quiet_hours) {
            Some(value) if value != "off" => {
                Some(QuietHours::parse(&value).map_err(|e| ConfigError(format!("HERALD_QUIET_HOURS: {e}")))?)
            }
            _ => None,
        };
        let push_host_allowlist = list("HERALD_PUSH_HOST_ALLOWLIST", file.push_host_allowlist)
            .iter()
            .map(|entry| {
                host_pattern(entry).ok_or_else(|| {
                    ConfigError(format!(
                        "HERALD_PUSH_HOST_ALLOWLIST: {entry:?} is not a host name, an IP address \
                         ([…] for IPv6) or a `*.domain` pattern (an empty list admits any public host)"
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let trusted_proxies = TrustedProxies::parse(&list("HERALD_TRUSTED_PROXIES", file.trusted_proxies))
            .map_err(|e| ConfigError(format!("HERALD_TRUSTED_PROXIES: {e}")))?;
        Ok(Self {
            listen,
            database_url,
            admin_token,
            owner_token_secret,
            metrics_token,
            vapid_subject,
            vapid_private_key,
            allow_private_endpoints: flag("HERALD_ALLOW_PRIVATE_ENDPOINTS", file.allow_private_endpoints)?,
            allow_http_endpoints: flag("HERALD_ALLOW_HTTP_ENDPOINTS", file.allow_http_endpoints)?,
            push_host_allowlist,
            cors_origins,
            cleanup_interval: Duration::from_secs(number(
                "HERALD_CLEANUP_INTERVAL_SECONDS",
                file.cleanup_interval_seconds,
                86_400,
                1,
                30 * 86_400,
            )?),
            delivery_concurrency: number(
                "HERALD_DELIVERY_CONCURRENCY",
                file.delivery_concurrency.map(|v| v as u64),
                4096,
                1,
                100_000,
            )? as usize,
            delivery_max_in_flight_per_origin: number(
                "HERALD_DELIVERY_MAX_IN_FLIGHT_PER_ORIGIN",
                file.delivery_max_in_flight_per_origin.map(|v| v as u64),
                2048,
                1,
                100_000,
            )? as usize,
            delivery_lease: Duration::from_secs(number(
                "HERALD_DELIVERY_LEASE_SECONDS",
                file.delivery_lease_seconds,
                60,
                5,
                3600,
            )?),
            max_attempts: number("HERALD_MAX_ATTEMPTS", file.max_attempts.map(u64::from), 8, 1, 100)? as u32,
            retry_base: Duration::from_millis(number("HERALD_RETRY_BASE_MS", file.retry_base_ms, 1000, 1, 3_600_000)?),
            push_timeout: Duration::from_secs(number(
                "HERALD_PUSH_TIMEOUT_SECONDS",
                file.push_timeout_seconds,
                15,
                1,
                300,
            )?),
            max_subscriptions_per_owner: number(
                "HERALD_MAX_SUBSCRIPTIONS_PER_OWNER",
                file.max_subscriptions_per_owner,
                50,
                1,
                1_000_000,
            )?,
            public_rate_limit: number(
                "HERALD_PUBLIC_RATE_LIMIT_PER_MINUTE",
                file.public_rate_limit_per_minute.map(u64::from),
                600,
                0,
                1_000_000,
            )? as u32,
            trusted_proxies,
            ssl_cert_file: env("SSL_CERT_FILE").filter(|v| !v.is_empty()).map(PathBuf::from),
            header_read_timeout: Duration::from_secs(number(
                "HERALD_HEADER_READ_TIMEOUT_SECONDS",
                file.header_read_timeout_seconds,
                10,
                1,
                300,
            )?),
            idle_timeout: Duration::from_secs(number(
                "HERALD_IDLE_TIMEOUT_SECONDS",
                file.idle_timeout_seconds,
                60,
                1,
                3600,
            )?),
            max_connections: number(
                "HERALD_MAX_CONNECTIONS",
                file.max_connections.map(|v| v as u64),
                10_000,
                1,
                1_000_000,
            )? as usize,
            quiet_hours,
        })
    }
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    // Say which setting named the file: a bare "x.toml: No such file" reads like any I/O error.
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError(format!(
            "configuration file {} (--config or HERALD_CONFIG): {e}",
            path.display()
        ))
    })?;
    toml::from_str(&text).map_err(|e| ConfigError(format!("configuration file {}: {e}", path.display())))
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// An allow-list entry (`host`, `*.domain`, an IP address) written as an endpoint URL's host
/// is, so that the policy's plain comparison matches it (`[2001:DB8:0::1]` is
/// `[2001:db8::1]`, `Push.Example` is `push.example`); `None` if it is none of those.
fn host_pattern(entry: &str) -> Option<String> {
    let entry = entry.trim();
    let (wildcard, host) = match entry.strip_prefix("*.") {
        Some(domain) => ("*.", domain),
        None => ("", entry),
    };
    if host.is_empty() || host.ends_with('.') || host.contains('*') {
        return None;
    }
    let parsed = url::Host::parse(host).ok()?;
    if !wildcard.is_empty() && !matches!(parsed, url::Host::Domain(_)) {
        return None;
    }
    Some(format!("{wildcard}{parsed}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::load_from(Some(Path::new("/dev/null")), |k| map.get(k).cloned())
    }

    /// docs/deployment.md shows "every key the file accepts": its example must load, and
    /// name each key the file shape has (serde lists them when it refuses an unknown one).
    #[test]
    fn the_deployment_guide_shows_every_file_key_and_its_example_loads() {
        let guide = include_str!("../../../docs/deployment.md");
        let example = guide
            .split("```toml\n")
            .nth(1)
            .and_then(|rest| rest.split("```").next())
            .expect("docs/deployment.md has a ```toml example");
        let parsed: FileConfig = toml::from_str(example).expect("the guide's example is a valid herald.toml");
        assert_eq!(parsed.max_connections, Some(10_000));
        let refusal = toml::from_str::<FileConfig>("no_such_key = 1").unwrap_err().to_string();
        let expected = refusal
            .split("expected one of")
            .nth(1)
            .expect("serde lists the known keys");
        let keys: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        assert!(keys.len() > 20, "found the keys: {keys:?}");
        for key in keys {
            assert!(
                example.lines().any(|line| line
                    .trim_start()
                    .trim_start_matches("# ")
                    .starts_with(&format!("{key} ="))),
                "docs/deployment.md's herald.toml example does not show `{key}`"
            );
        }
    }

    #[test]
    fn the_push_host_allow_list_takes_hosts_and_domain_patterns_only() {
        let hosts = "fcm.googleapis.com, *.Push.Apple.com,142.250.74.10,[2001:DB8:0::1]";
        let config = load(&[("HERALD_PUSH_HOST_ALLOWLIST", hosts)]).unwrap();
        assert_eq!(
            config.push_host_allowlist,
            [
                "fcm.googleapis.com",
                "*.push.apple.com",
                "142.250.74.10",
                "[2001:db8::1]"
            ]
        );
        for bad in [
            "*",
            "https://fcm.googleapis.com",
            "fcm.*.com",
            "*.",
            ":",
            "[",
            "fcm.googleapis.com.",
            "fcm.googleapis.com:443",
            "127.0.0.1:9000",
            "2001:db8::1",
            "*.[::1]",
        ] {
            let error = load(&[("HERALD_PUSH_HOST_ALLOWLIST", bad)]).unwrap_err().0;
            assert!(error.starts_with("HERALD_PUSH_HOST_ALLOWLIST: "), "{bad}: {error}");
        }
    }

    #[test]
    fn a_missing_or_invalid_file_is_named_as_the_configuration_file() {
        let missing = Config::load_from(Some(Path::new("/nonexistent/herald.toml")), |_| None)
            .unwrap_err()
            .0;
        assert!(
            missing.starts_with("configuration file /nonexistent/herald.toml (--config or HERALD_CONFIG): "),
            "{missing}"
        );
        let path = std::env::temp_dir().join(format!("herald-config-test-{}.toml", std::process::id()));
        std::fs::write(&path, "no_such_key = 1\n").unwrap();
        let invalid = Config::load_from(Some(&path), |_| None).unwrap_err().0;
        std::fs::remove_file(&path).unwrap();
        assert!(
            invalid.starts_with(&format!("configuration file {}: ", path.display())),
            "{invalid}"
        );
        assert!(invalid.contains("no_such_key"), "{invalid}");
    }

    #[test]
    fn defaults() {
        let c = load(&[]).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.database_url, "sqlite://herald.db");
        assert!(!c.allow_private_endpoints && !c.allow_http_endpoints);
        assert_eq!(c.cleanup_interval, Duration::from_secs(86_400));
    }

    #[test]
    fn errors_name_the_setting() {
        for (name, value) in [
            ("HERALD_LISTEN", "nowhere"),
            ("HERALD_DATABASE_URL", "redis://x"),
            ("HERALD_ADMIN_TOKEN", "short"),
            ("HERALD_METRICS_TOKEN", "short"),
            ("HERALD_VAPID_SUBJECT", "me@example.com"),
            ("HERALD_VAPID_PRIVATE_KEY", "not-a-key"),
            ("HERALD_ALLOW_HTTP_ENDPOINTS", "maybe"),
            ("HERALD_CLEANUP_INTERVAL_SECONDS", "0"),
            ("HERALD_CORS_ORIGINS", "example.com"),
            ("HERALD_TRUSTED_PROXIES", "10.0.0.0/40"),
            ("HERALD_HEADER_READ_TIMEOUT_SECONDS", "0"),
            ("HERALD_IDLE_TIMEOUT_SECONDS", "soon"),
            ("HERALD_MAX_CONNECTIONS", "0"),
        ] {
            let err = load(&[(name, value)]).unwrap_err();
            assert!(err.0.starts_with(name), "{name}: {}", err.0);
        }
    }

    #[test]
    fn environment_wins_over_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("herald.toml");
        std::fs::write(&path, "listen = \"127.0.0.1:9000\"\nallow_http_endpoints = true\n").unwrap();
        let c = Config::load_from(Some(&path), |_| None).unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert!(c.allow_http_endpoints);
        let c = Config::load_from(Some(&path), |k| (k == "HERALD_LISTEN").then(|| "127.0.0.1:9100".into())).unwrap();
        assert_eq!(c.listen.port(), 9100);
        std::fs::write(&path, "listn = 1\n").unwrap();
        assert!(Config::load_from(Some(&path), |_| None)
            .unwrap_err()
            .0
            .contains("listn"));
    }
}
