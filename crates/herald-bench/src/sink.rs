//! The push-service stand-ins a broadcast goes to: herald-testkit's mock push service in its
//! realistic shapes (TLS + HTTP/2, latency, stream limit, GOAWAY, a hung origin), or nginx
//! (see [`crate::nginx`]). Each round is measured from its start to the last delivery, with
//! the TLS connections opened and the duplicate deliveries counted by the stand-in itself.

use crate::nginx::NginxSink;
use herald_testkit::{Browser, MockOptions, MockPushService, MockResponse, MockStats};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The shape of every healthy mock origin.
#[derive(Debug, Clone, Default)]
pub struct Shape {
    pub latency: Option<(Duration, Duration)>,
    pub max_streams: Option<u32>,
    pub goaway_after: Option<u64>,
}

impl Shape {
    fn options(&self) -> MockOptions {
        // Counters only, one decryption in 97, on a thread of its own: the mock stays cheap,
        // so the rate measured is Herald's.
        let mut options = MockOptions::new()
            .tls()
            .dedicated_thread()
            .record(false)
            .decrypt_one_in(97);
        if let Some((min, max)) = self.latency {
            options = options.latency(min, max);
        }
        if let Some(streams) = self.max_streams {
            options = options.max_concurrent_streams(streams);
        }
        if let Some(streams) = self.goaway_after {
            options = options.goaway_after_streams(streams);
        }
        options
    }
}

/// What one round delivered.
#[derive(Debug, Default)]
pub struct Round {
    pub complete: bool,
    /// From the start of the round to the last delivery to a healthy origin.
    pub elapsed: Duration,
    pub delivered: u64,
    pub duplicates: u64,
    pub tls_connections: u64,
    pub http2: u64,
    pub decrypted: u64,
    pub decrypt_failures: u64,
    /// Requests the hung origin received (and never answered).
    pub hung_requests: u64,
    /// Devices in the audience that got nothing, and devices outside it that got a push
    /// (filled in by the caller).
    pub missed: u64,
    pub outside_audience: u64,
}

pub enum Sinks {
    Mock {
        healthy: Vec<MockPushService>,
        hung: Option<MockPushService>,
    },
    Nginx(NginxSink),
}

/// Where a round started, to count what happened since.
pub struct Mark {
    started: Instant,
    started_unix_ms: f64,
    stats: Vec<MockStats>,
}

impl Sinks {
    pub async fn mocks(origins: usize, shape: &Shape, hung: bool) -> Self {
        let mut healthy = Vec::new();
        for _ in 0..origins.max(1) {
            healthy.push(MockPushService::start_with(shape.options()).await);
        }
        let hung = match hung {
            true => Some(MockPushService::start_with(shape.options().hang()).await),
            false => None,
        };
        Sinks::Mock { healthy, hung }
    }

    /// The certificates Herald must trust, as one PEM bundle.
    pub fn ca_bundle(&self) -> String {
        match self {
            Sinks::Mock { healthy, hung } => healthy
                .iter()
                .chain(hung)
                .filter_map(|m| m.cert_pem())
                .collect::<Vec<_>>()
                .join("\n"),
            Sinks::Nginx(nginx) => nginx.cert_pem(),
        }
    }

    /// Endpoints for `browsers`, spread round-robin over the healthy origins.
    pub fn add_healthy(&self, browsers: &[Browser]) -> Vec<String> {
        browsers
            .iter()
            .enumerate()
            .map(|(i, browser)| match self {
                Sinks::Mock { healthy, .. } => {
                    healthy[i % healthy.len()].add_browser(browser.clone(), MockResponse::created())
                }
                Sinks::Nginx(nginx) => nginx.endpoint(i),
            })
            .collect()
    }

    /// Endpoints at the hung origin.
    pub fn add_hung(&self, browsers: &[Browser]) -> Vec<String> {
        match self {
            Sinks::Mock { hung: Some(hung), .. } => browsers
                .iter()
                .map(|b| hung.add_browser(b.clone(), MockResponse::created()))
                .collect(),
            _ => panic!("--hung-subscriptions needs the mock sinks"),
        }
    }

    /// Deliveries per healthy endpoint since the round began (the mock counts them per
    /// device; for nginx, from its access log).
    pub fn deliveries_by_endpoint(&self) -> HashMap<String, u64> {
        match self {
            Sinks::Mock { healthy, .. } => healthy.iter().flat_map(|m| m.deliveries_by_endpoint()).collect(),
            Sinks::Nginx(nginx) => nginx.deliveries_by_endpoint(),
        }
    }

    pub fn begin(&self) -> Mark {
        let stats = match self {
            Sinks::Mock { healthy, hung } => {
                healthy.iter().for_each(MockPushService::reset_deliveries);
                healthy.iter().chain(hung).map(|m| m.stats()).collect()
            }
            Sinks::Nginx(nginx) => {
                nginx.truncate_log();
                Vec::new()
            }
        };
        Mark {
            started: Instant::now(),
            started_unix_ms: unix_ms(),
            stats,
        }
    }

    /// Waits until `expected` pushes reached the healthy origins (or `timeout`), and counts.
    pub async fn finish(&self, mark: &Mark, expected: u64, timeout: Duration) -> Round {
        let deadline = Instant::now() + timeout;
        match self {
            Sinks::Mock { healthy, hung } => {
                let delivered = |healthy: &[MockPushService]| -> u64 {
                    healthy
                        .iter()
                        .zip(&mark.stats)
                        .map(|(m, before)| m.stats().delivered - before.delivered)
                        .sum()
                };
                let mut complete = true;
                while delivered(healthy) < expected {
                    if Instant::now() > deadline {
                        complete = false;
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                let mut round = Round {
                    complete,
                    ..Round::default()
                };
                let mut last = mark.started;
                for (mock, before) in healthy.iter().zip(&mark.stats) {
                    let now = mock.stats();
                    round.delivered += now.delivered - before.delivered;
                    round.duplicates += mock.duplicates();
                    round.tls_connections += now.tls_connections - before.tls_connections;
                    round.http2 += now.http2_requests - before.http2_requests;
                    round.decrypted += now.decrypted - before.decrypted;
                    round.decrypt_failures += now.decrypt_failures - before.decrypt_failures;
                    last = last.max(now.last_answer_at.unwrap_or(mark.started));
                }
                if let (Some(hung), Some(before)) = (hung, mark.stats.get(healthy.len())) {
                    let now = hung.stats();
                    round.hung_requests = now.requests - before.requests;
                    round.tls_connections += now.tls_connections - before.tls_connections;
                }
                round.elapsed = last - mark.started;
                round
            }
            Sinks::Nginx(nginx) => {
                let mut log = nginx.read_log();
                while (log.requests as u64) < expected && Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    log = nginx.read_log();
                }
                Round {
                    complete: log.requests as u64 >= expected,
                    elapsed: Duration::from_secs_f64(((log.last_unix_ms - mark.started_unix_ms) / 1000.0).max(0.0)),
                    delivered: log.delivered as u64,
                    duplicates: (log.delivered - log.distinct_delivered) as u64,
                    tls_connections: log.connections as u64,
                    http2: log.http2 as u64,
                    ..Round::default()
                }
            }
        }
    }
}

pub fn unix_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        * 1000.0
}
