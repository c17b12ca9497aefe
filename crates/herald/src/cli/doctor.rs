//! `herald doctor`: what this installation lacks, checked from the machine it runs on.
//!
//! Each finding is one line, `ok`, `warning` or `CRITICAL`, saying what was found and what to
//! do. Critical means push cannot work as configured: no database, a VAPID subject Apple
//! refuses, a database file others can read (it holds the VAPID private key), no push
//! service reachable, a clock far off, or a public URL that is not `https://`. The command
//! exits 1 when anything is critical.
//!
//! The push-service probe resolves the host and opens a TLS connection to it (one `HEAD /`
//! request, for the `Date` header the clock check compares with); no push is sent. Every
//! probe runs in parallel under `--timeout`, so a machine without a route out answers in a
//! few seconds, not minutes.

use super::CliError;
use crate::config::Config;
use crate::storage::{settings, sqlite_file, Store, StoreError};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime};

/// One representative host per push service. WNS (legacy Edge) hands out regional hosts
/// under `notify.windows.com`; any one of them tells whether the service is reachable.
const PUSH_SERVICES: [(&str, &str); 4] = [
    ("Chrome, Edge, Android (FCM)", "fcm.googleapis.com"),
    ("Firefox (Mozilla)", "updates.push.services.mozilla.com"),
    ("Safari (Apple)", "web.push.apple.com"),
    ("legacy Edge (WNS)", "wns2-par02p.notify.windows.com"),
];

/// Clock skew beyond this is worth a warning (schedules and message expiry drift).
const SKEW_WARNING: Duration = Duration::from_secs(60);
/// Beyond this, VAPID tokens (valid 12 hours, at most 24 by RFC 8292) are at risk of being
/// refused as expired or as too far in the future.
const SKEW_CRITICAL: Duration = Duration::from_secs(3600);

#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    /// Probe this push service host instead of the default four (FCM, Mozilla, Apple, WNS);
    /// HOST or HOST:PORT, repeatable.
    #[arg(long = "push-host", value_name = "HOST[:PORT]")]
    pub push_hosts: Vec<String>,
    /// Seconds each network probe may take.
    #[arg(long, value_name = "SECONDS", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(1..=60))]
    pub timeout: u64,
    /// The URL browsers reach Herald at (https://push.example.com): it must be https, and
    /// its /healthz is fetched through whatever terminates TLS in front of Herald.
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Ok,
    Warning,
    Critical,
}

#[derive(Default)]
struct Report {
    findings: Vec<(Level, &'static str, String)>,
}

impl Report {
    fn add(&mut self, level: Level, topic: &'static str, text: impl Into<String>) {
        let text = text.into();
        let label = match level {
            Level::Ok => "ok      ",
            Level::Warning => "warning ",
            Level::Critical => "CRITICAL",
        };
        out!("{label} {topic}: {text}");
        self.findings.push((level, topic, text));
    }

    fn count(&self, level: Level) -> usize {
        self.findings.iter().filter(|(l, ..)| *l == level).count()
    }
}

pub async fn run(config: Config, args: DoctorArgs) -> Result<(), CliError> {
    let timeout = Duration::from_secs(args.timeout);
    let mut report = Report::default();
    check_database(&config, &mut report).await;
    check_database_files(&config, &mut report);
    check_vapid_subject(&config, &mut report);
    check_allowlist(&config, &mut report);
    check_push_services(&config, &args, timeout, &mut report).await;
    check_tls_in_front(&config, args.public_url.as_deref(), timeout, &mut report).await;
    check_server_answers(&config, &mut report).await;

    let (critical, warnings) = (report.count(Level::Critical), report.count(Level::Warning));
    if critical > 0 {
        Err(CliError::Refused(format!(
            "{critical} critical problem(s) and {warnings} warning(s); see above"
        )))
    } else {
        out!("no critical problems; {warnings} warning(s)");
        Ok(())
    }
}

async fn check_database(config: &Config, report: &mut Report) {
    let store = match Store::open_existing(&config.database_url).await {
        Ok(store) => store,
        Err(StoreError::Missing(what)) => {
            report.add(
                Level::Critical,
                "database",
                format!("{what}; point at the server's database with --config or HERALD_DATABASE_URL"),
            );
            return;
        }
        Err(other) => {
            report.add(Level::Critical, "database", format!("cannot open it: {other}"));
            return;
        }
    };
    report.add(
        Level::Ok,
        "database",
        format!("{} holds Herald's tables", shown_database(config)),
    );
    for (name, configured, what) in [
        (
            settings::VAPID_PRIVATE_KEY,
            config.vapid_private_key.is_some(),
            "VAPID key pair",
        ),
        (settings::ADMIN_TOKEN_HASH, config.admin_token.is_some(), "admin token"),
    ] {
        match (configured, store.setting(name).await) {
            (true, _) => report.add(Level::Ok, "keys", format!("{what} configured")),
            (false, Ok(Some(_))) => report.add(
                Level::Ok,
                "keys",
                format!("{what} generated and stored in the database"),
            ),
            (false, Ok(None)) => report.add(
                Level::Warning,
                "keys",
                format!("no {what} yet: the first `herald serve` (or `herald init`) generates one"),
            ),
            (false, Err(e)) => report.add(Level::Critical, "keys", format!("cannot read the {what}: {e}")),
        }
    }
    if !matches!(store.backend(), crate::storage::Backend::Sqlite) {
        check_database_transport(config, report);
    }
    store.close().await;
}

fn shown_database(config: &Config) -> String {
    sqlite_file::database_path(&config.database_url)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| crate::storage::redacted(&config.database_url))
}

/// A PostgreSQL or MySQL connection that leaves the host should ask for TLS.
fn check_database_transport(config: &Config, report: &mut Report) {
    let Ok(url) = url::Url::parse(&config.database_url) else {
        return;
    };
    let local = match url.host() {
        None => true,
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
    };
    let asks_for_tls = url.query_pairs().any(|(k, v)| {
        matches!(&*k, "sslmode" | "ssl-mode" | "ssl_mode")
            && !matches!(
                &*v.to_ascii_lowercase(),
                "disable" | "disabled" | "allow" | "prefer" | "preferred"
            )
    });
    if local || asks_for_tls {
        report.add(
            Level::Ok,
            "database connection",
            "on this host, or encrypted by the URL's TLS mode",
        );
    } else {
        report.add(
            Level::Warning,
            "database connection",
            "leaves this host without a required TLS mode: add sslmode=verify-full (PostgreSQL) or \
             ssl-mode=VERIFY_IDENTITY (MySQL) to HERALD_DATABASE_URL (docs/deployment.md)",
        );
    }
}

/// The SQLite file and its WAL hold the VAPID private key and the owner-token secret when
/// they were generated: nobody but Herald's user should read them.
fn check_database_files(config: &Config, report: &mut Report) {
    let Some(path) = sqlite_file::database_path(&config.database_url) else {
        return;
    };
    let mut files = vec![path.clone()];
    for suffix in ["-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        files.push(name.into());
    }
    let mut readable_by_others = Vec::new();
    let mut readable_by_group = Vec::new();
    for file in files.iter().filter(|f| f.exists()) {
        match permissions(file) {
            Some(mode) if mode & 0o004 != 0 => readable_by_others.push(format!("{} ({mode:o})", file.display())),
            Some(mode) if mode & 0o040 != 0 => readable_by_group.push(format!("{} ({mode:o})", file.display())),
            _ => {}
        }
    }
    if !readable_by_others.is_empty() {
        report.add(
            Level::Critical,
            "database permissions",
            format!(
                "readable by every user of this machine: {}. It holds the VAPID private key and \
                 every subscription; run `chmod 600` on them (and umask 077 for the service)",
                readable_by_others.join(", ")
            ),
        );
    } else if !readable_by_group.is_empty() {
        report.add(
            Level::Warning,
            "database permissions",
            format!(
                "readable by the file's group: {}; `chmod 600` unless that is meant",
                readable_by_group.join(", ")
            ),
        );
    } else if path.exists() {
        report.add(
            Level::Ok,
            "database permissions",
            "only the owner can read the database files",
        );
    }
}

#[cfg(unix)]
fn permissions(path: &std::path::Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).ok().map(|m| m.permissions().mode() & 0o777)
}

#[cfg(not(unix))]
fn permissions(_path: &std::path::Path) -> Option<u32> {
    None
}

fn check_vapid_subject(config: &Config, report: &mut Report) {
    let placeholder = crate::startup::PLACEHOLDER_SUBJECT;
    match &config.vapid_subject {
        None => report.add(
            Level::Critical,
            "VAPID subject",
            format!(
                "HERALD_VAPID_SUBJECT is not set, so pushes carry {placeholder}, which Apple's push \
                 service refuses: set it to mailto:you@your-domain or an https:// URL of yours"
            ),
        ),
        Some(subject) => {
            let names_localhost = herald_push::vapid::VapidSubject::parse(subject).is_ok_and(|s| s.names_localhost());
            if names_localhost {
                report.add(
                    Level::Critical,
                    "VAPID subject",
                    format!("{subject} names localhost, which Apple's push service refuses: use a real contact"),
                );
            } else {
                report.add(Level::Ok, "VAPID subject", subject.clone());
            }
        }
    }
}

/// An allow-list that leaves out a browser's push service refuses its subscriptions.
fn check_allowlist(config: &Config, report: &mut Report) {
    if config.push_host_allowlist.is_empty() {
        return;
    }
    let policy = crate::endpoint_policy::EndpointPolicy {
        allow_private: config.allow_private_endpoints,
        allow_http: config.allow_http_endpoints,
        host_allowlist: config.push_host_allowlist.clone(),
    };
    let refused: Vec<String> = PUSH_SERVICES
        .iter()
        .filter(|(_, host)| {
            herald_push::subscription::Endpoint::parse(&format!("https://{host}/x"))
                .map(|endpoint| policy.check(&endpoint).is_err())
                .unwrap_or(false)
        })
        .map(|(label, host)| format!("{label} ({host})"))
        .collect();
    if refused.is_empty() {
        report.add(Level::Ok, "push host allow-list", "admits every browser's push service");
    } else {
        report.add(
            Level::Warning,
            "push host allow-list",
            format!(
                "HERALD_PUSH_HOST_ALLOWLIST refuses subscriptions of {}; add the host patterns if those browsers matter",
                refused.join(", ")
            ),
        );
    }
}

/// What a probe of one push service found.
struct Probe {
    label: String,
    host: String,
    result: Result<Option<SystemTime>, CliError>,
}

async fn check_push_services(config: &Config, args: &DoctorArgs, timeout: Duration, report: &mut Report) {
    let targets: Vec<(String, String)> = if args.push_hosts.is_empty() {
        PUSH_SERVICES
            .iter()
            .map(|(label, host)| ((*label).to_owned(), (*host).to_owned()))
            .collect()
    } else {
        args.push_hosts
            .iter()
            .map(|h| ("push service".to_owned(), h.clone()))
            .collect()
    };
    let client = match probe_client(config, timeout) {
        Ok(client) => client,
        Err(e) => {
            report.add(Level::Critical, "push services", e.to_string());
            return;
        }
    };
    let probes = futures::future::join_all(targets.into_iter().map(|(label, host)| {
        let client = client.clone();
        async move {
            let result = probe(&client, &host, timeout).await;
            Probe { label, host, result }
        }
    }))
    .await;
    let mut reachable = 0;
    let mut skews = Vec::new();
    for p in &probes {
        match &p.result {
            Ok(date) => {
                reachable += 1;
                report.add(
                    Level::Ok,
                    "push service",
                    format!("{} ({}): DNS and TLS handshake succeeded", p.host, p.label),
                );
                if let Some(date) = date {
                    skews.push(skew(SystemTime::now(), *date));
                }
            }
            Err(e) => report.add(
                Level::Warning,
                "push service",
                format!("{} ({}) is not reachable from here: {e}", p.host, p.label),
            ),
        }
    }
    if reachable == 0 {
        report.add(
            Level::Critical,
            "push services",
            "none is reachable from this machine, so nothing can be delivered: allow outgoing \
             HTTPS (port 443) and DNS to the push services, or set SSL_CERT_FILE for a TLS proxy",
        );
    }
    check_clock(&skews, report);
}

fn probe_client(config: &Config, timeout: Duration) -> Result<reqwest::Client, CliError> {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(timeout)
        .timeout(timeout)
        .user_agent(concat!("herald-doctor/", env!("CARGO_PKG_VERSION")));
    if let Some(path) = &config.ssl_cert_file {
        let pem =
            std::fs::read(path).map_err(|e| CliError::Refused(format!("SSL_CERT_FILE {}: {e}", path.display())))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| CliError::Refused(format!("SSL_CERT_FILE {}: {e}", path.display())))?;
        builder = builder.tls_certs_merge(certs);
    }
    builder
        .build()
        .map_err(|e| CliError::Refused(format!("building the HTTP client: {e}")))
}

/// Resolves `host` and completes a TLS handshake with it; the answer's `Date`, if any.
async fn probe(client: &reqwest::Client, host: &str, timeout: Duration) -> Result<Option<SystemTime>, CliError> {
    let authority = if host.parse::<std::net::Ipv6Addr>().is_ok() {
        format!("[{host}]:443")
    } else if host.contains("]:") || (!host.starts_with('[') && host.contains(':')) {
        host.to_owned()
    } else {
        format!("{host}:443")
    };
    let resolved = tokio::time::timeout(timeout, tokio::net::lookup_host(authority.clone())).await;
    let addresses: Vec<SocketAddr> = match resolved {
        Err(_) => {
            return Err(CliError::Refused(format!(
                "DNS: no answer within {}s",
                timeout.as_secs()
            )))
        }
        Ok(Err(e)) => return Err(CliError::Refused(format!("DNS: {e}"))),
        Ok(Ok(addresses)) => addresses.collect(),
    };
    if addresses.is_empty() {
        return Err(CliError::Refused("DNS: no addresses".into()));
    }
    let url = format!("https://{authority}/");
    match tokio::time::timeout(timeout, client.head(&url).send()).await {
        Err(_) => Err(CliError::Refused(format!(
            "TLS: no handshake within {}s (connecting to {})",
            timeout.as_secs(),
            addresses[0]
        ))),
        Ok(Err(e)) if e.is_timeout() => Err(CliError::Refused(format!(
            "TLS: no handshake within {}s (connecting to {})",
            timeout.as_secs(),
            addresses[0]
        ))),
        Ok(Err(e)) => Err(CliError::Refused(format!("TLS: {}", error_chain(&e)))),
        Ok(Ok(response)) => Ok(response
            .headers()
            .get(http::header::DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| httpdate::parse_http_date(v).ok())),
    }
}

/// reqwest's error with its causes: "error sending request: … : connection refused".
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Local time minus the remote's, in whole seconds (positive: this clock is ahead).
fn skew(local: SystemTime, remote: SystemTime) -> i64 {
    match local.duration_since(remote) {
        Ok(ahead) => ahead.as_secs() as i64,
        Err(behind) => -(behind.duration().as_secs() as i64),
    }
}

fn check_clock(skews: &[i64], report: &mut Report) {
    // The smallest offset: an HTTP Date has one-second resolution and a slow answer adds to it.
    let Some(offset) = skews.iter().copied().min_by_key(|s| s.abs()) else {
        report.add(
            Level::Warning,
            "clock",
            "not checked: no push service answered with a Date header; make sure NTP (systemd-timesyncd, chrony) runs",
        );
        return;
    };
    let off = Duration::from_secs(offset.unsigned_abs());
    let direction = if offset >= 0 { "ahead of" } else { "behind" };
    let text = format!("{}s {direction} the push services' clocks", offset.abs());
    if off > SKEW_CRITICAL {
        report.add(
            Level::Critical,
            "clock",
            format!("{text}: push services may refuse VAPID tokens; run NTP"),
        );
    } else if off > SKEW_WARNING {
        report.add(
            Level::Warning,
            "clock",
            format!("{text}: scheduled messages and expiry drift; run NTP"),
        );
    } else {
        report.add(
            Level::Ok,
            "clock",
            format!("within {}s of the push services", SKEW_WARNING.as_secs()),
        );
    }
}

/// Browsers allow push only on https origins (and localhost), and Herald itself speaks plain
/// HTTP: something in front must terminate TLS.
async fn check_tls_in_front(config: &Config, public_url: Option<&str>, timeout: Duration, report: &mut Report) {
    let Some(public_url) = public_url else {
        let listen = config.listen;
        if listen.ip().is_loopback() {
            report.add(
                Level::Warning,
                "TLS in front",
                format!(
                    "not checked. Herald serves plain HTTP on {listen} (loopback), so browsers on \
                     other machines reach it only through a reverse proxy or load balancer that \
                     terminates TLS; pass --public-url https://your-host to check it"
                ),
            );
        } else {
            report.add(
                Level::Warning,
                "TLS in front",
                format!(
                    "Herald serves plain HTTP on {listen}, beyond loopback: browsers allow push \
                     only on https, so put a TLS-terminating proxy in front (and let only it reach \
                     this port; list it in HERALD_TRUSTED_PROXIES); pass --public-url to check it"
                ),
            );
        }
        return;
    };
    let parsed = match url::Url::parse(public_url) {
        Ok(url) => url,
        Err(e) => {
            report.add(
                Level::Critical,
                "TLS in front",
                format!("--public-url {public_url:?}: {e}"),
            );
            return;
        }
    };
    if parsed.scheme() != "https" {
        report.add(
            Level::Critical,
            "TLS in front",
            format!("{public_url} is not https: browsers refuse push subscriptions there (except on localhost)"),
        );
        return;
    }
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .build();
    let healthz = parsed.join("healthz").map(|u| u.to_string()).unwrap_or_default();
    let answer = match client {
        Ok(client) => tokio::time::timeout(timeout, client.get(&healthz).send()).await,
        Err(e) => {
            report.add(Level::Warning, "TLS in front", format!("cannot build a client: {e}"));
            return;
        }
    };
    match answer {
        Ok(Ok(response)) if response.status().is_success() => report.add(
            Level::Ok,
            "TLS in front",
            format!("{healthz} answers {} over https", response.status()),
        ),
        Ok(Ok(response)) => report.add(
            Level::Warning,
            "TLS in front",
            format!(
                "{healthz} answers {}: is the proxy forwarding to Herald?",
                response.status()
            ),
        ),
        Ok(Err(e)) => report.add(
            Level::Warning,
            "TLS in front",
            format!("{healthz}: {}", error_chain(&e)),
        ),
        Err(_) => report.add(
            Level::Warning,
            "TLS in front",
            format!("{healthz}: no answer within {}s", timeout.as_secs()),
        ),
    }
}

/// Whether a server answers on the configured address (a CLI check runs beside it).
async fn check_server_answers(config: &Config, report: &mut Report) {
    let mut address = config.listen;
    if address.ip().is_unspecified() {
        address.set_ip(match address {
            SocketAddr::V4(_) => IpAddr::from([127, 0, 0, 1]),
            SocketAddr::V6(_) => IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
        });
    }
    let url = format!("http://{address}/healthz");
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(2))
        .build();
    let answered = match client {
        Ok(client) => client.get(&url).send().await.is_ok_and(|r| r.status().is_success()),
        Err(_) => false,
    };
    if answered {
        report.add(Level::Ok, "server", format!("a server answers on {url}"));
    } else {
        report.add(
            Level::Warning,
            "server",
            format!("nothing answers on {url}: start `herald serve` (HERALD_LISTEN names the address)"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skew_sign_and_size() {
        let now = SystemTime::now();
        assert_eq!(skew(now, now - Duration::from_secs(90)), 90);
        assert_eq!(skew(now, now + Duration::from_secs(7200)), -7200);
    }
}
