//! Prometheus metrics, kept as atomics: counting a push must cost nothing next to sending it.
//! Gauges that live in the database (queue depth, subscriptions) are read at scrape time.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Upper bounds of the push-service latency histogram, in seconds.
const LATENCY_BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
const OUTCOMES: [&str; 4] = ["accepted", "gone", "retry", "failed"];
/// Origins come from client-supplied endpoints: past this many, new ones share one series.
const MAX_ORIGINS: usize = 256;
const OTHER_ORIGINS: &str = "other";

/// A latency histogram on [`LATENCY_BUCKETS`].
#[derive(Default)]
struct Histogram {
    buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    fn observe(&self, latency: Duration) {
        let secs = latency.as_secs_f64();
        for (bucket, bound) in self.buckets.iter().zip(LATENCY_BUCKETS) {
            if secs <= bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(latency.as_micros() as u64, Ordering::Relaxed);
    }

    /// Writes the series of `name`, with `labels` (`key="value",` each) before `le`.
    fn render(&self, out: &mut String, name: &str, labels: &str) {
        for (bucket, bound) in self.buckets.iter().zip(LATENCY_BUCKETS) {
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}le=\"{bound}\"}} {}",
                bucket.load(Ordering::Relaxed)
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels}le=\"+Inf\"}} {count}");
        let plain = labels.trim_end_matches(',');
        let braces = if plain.is_empty() {
            String::new()
        } else {
            format!("{{{plain}}}")
        };
        let _ = writeln!(
            out,
            "{name}_sum{braces} {}",
            self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "{name}_count{braces} {count}");
    }
}

/// One push service's gauges, updated by the delivery engine's pool and window.
#[derive(Default)]
pub struct OriginMetrics {
    connections: AtomicU64,
    in_flight: AtomicU64,
    window: AtomicU64,
    latency: Histogram,
}

impl OriginMetrics {
    pub fn connection_opened(&self) {
        self.connections.fetch_add(1, Ordering::Relaxed);
    }

    pub fn connection_closed(&self) {
        let _ = self
            .connections
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    pub fn set_window(&self, in_flight: usize, limit: usize) {
        self.in_flight.store(in_flight as u64, Ordering::Relaxed);
        self.window.store(limit as u64, Ordering::Relaxed);
    }

    pub fn observe_latency(&self, latency: Duration) {
        self.latency.observe(latency);
    }

    pub fn open_connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }
}

#[derive(Default)]
pub struct Metrics {
    push_requests: [AtomicU64; 4],
    latency: Histogram,
    origins: Mutex<BTreeMap<String, Arc<OriginMetrics>>>,
    messages_created: AtomicU64,
    subscriptions_registered: AtomicU64,
}

impl Metrics {
    /// Counts one push request by its outcome label (see `PushOutcome::label`).
    pub fn push_request(&self, outcome: &str, latency: Option<Duration>) {
        if let Some(i) = OUTCOMES.iter().position(|o| *o == outcome) {
            self.push_requests[i].fetch_add(1, Ordering::Relaxed);
        }
        if let Some(latency) = latency {
            self.latency.observe(latency);
        }
    }

    /// The gauges of one push-service origin (`https://host:port`), created on first use.
    pub fn origin(&self, origin: &str) -> Arc<OriginMetrics> {
        let mut origins = self.origins.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(m) = origins.get(origin) {
            return m.clone();
        }
        let key = if origins.len() >= MAX_ORIGINS {
            OTHER_ORIGINS
        } else {
            origin
        };
        origins.entry(key.to_owned()).or_default().clone()
    }

    pub fn message_created(&self) {
        self.messages_created.fetch_add(1, Ordering::Relaxed);
    }

    pub fn subscription_registered(&self) {
        self.subscriptions_registered.fetch_add(1, Ordering::Relaxed);
    }

    pub fn pushes(&self, outcome: &str) -> u64 {
        OUTCOMES
            .iter()
            .position(|o| *o == outcome)
            .map(|i| self.push_requests[i].load(Ordering::Relaxed))
            .unwrap_or(0)
    }

    /// The text exposition format, with the database gauges supplied by the caller.
    pub fn render(&self, queue_depth: i64, subscriptions: i64) -> String {
        let mut out = String::with_capacity(2048);
        out.push_str("# HELP herald_push_requests_total Push requests sent to push services, by outcome.\n");
        out.push_str("# TYPE herald_push_requests_total counter\n");
        for (i, outcome) in OUTCOMES.iter().enumerate() {
            let _ = writeln!(
                out,
                "herald_push_requests_total{{outcome=\"{outcome}\"}} {}",
                self.push_requests[i].load(Ordering::Relaxed)
            );
        }
        out.push_str("# HELP herald_push_latency_seconds Time from sending a push to the push service's answer.\n");
        out.push_str("# TYPE herald_push_latency_seconds histogram\n");
        self.latency.render(&mut out, "herald_push_latency_seconds", "");
        self.render_origins(&mut out);
        out.push_str("# HELP herald_queue_depth Outbox rows still to send.\n# TYPE herald_queue_depth gauge\n");
        let _ = writeln!(out, "herald_queue_depth {queue_depth}");
        out.push_str("# HELP herald_subscriptions Stored subscriptions.\n# TYPE herald_subscriptions gauge\n");
        let _ = writeln!(out, "herald_subscriptions {subscriptions}");
        out.push_str("# HELP herald_messages_created_total Messages accepted by this instance.\n# TYPE herald_messages_created_total counter\n");
        let _ = writeln!(
            out,
            "herald_messages_created_total {}",
            self.messages_created.load(Ordering::Relaxed)
        );
        out.push_str("# HELP herald_subscriptions_registered_total Registrations handled by this instance.\n# TYPE herald_subscriptions_registered_total counter\n");
        let _ = writeln!(
            out,
            "herald_subscriptions_registered_total {}",
            self.subscriptions_registered.load(Ordering::Relaxed)
        );
        out
    }

    fn render_origins(&self, out: &mut String) {
        let origins: Vec<(String, Arc<OriginMetrics>)> = self
            .origins
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(k, v)| (escape_label(k), v.clone()))
            .collect();
        out.push_str("# HELP herald_origin_connections Open HTTP/2 connections to a push service.\n# TYPE herald_origin_connections gauge\n");
        for (origin, m) in &origins {
            let _ = writeln!(
                out,
                "herald_origin_connections{{origin=\"{origin}\"}} {}",
                m.open_connections()
            );
        }
        out.push_str("# HELP herald_origin_in_flight Pushes waiting for a push service's answer.\n# TYPE herald_origin_in_flight gauge\n");
        for (origin, m) in &origins {
            let _ = writeln!(
                out,
                "herald_origin_in_flight{{origin=\"{origin}\"}} {}",
                m.in_flight.load(Ordering::Relaxed)
            );
        }
        out.push_str("# HELP herald_origin_window The in-flight window a push service has earned.\n# TYPE herald_origin_window gauge\n");
        for (origin, m) in &origins {
            let _ = writeln!(
                out,
                "herald_origin_window{{origin=\"{origin}\"}} {}",
                m.window.load(Ordering::Relaxed)
            );
        }
        out.push_str("# HELP herald_origin_latency_seconds Time from sending a push to a push service's answer, by origin.\n# TYPE herald_origin_latency_seconds histogram\n");
        for (origin, m) in &origins {
            m.latency
                .render(out, "herald_origin_latency_seconds", &format!("origin=\"{origin}\","));
        }
    }
}

/// Label values escape backslash, quote and newline (the exposition format's rule).
fn escape_label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}
