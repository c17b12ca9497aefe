//! Prometheus metrics. `prometheus-client`, the Prometheus project's Rust client, keeps the
//! series and writes the text exposition format (with its escaping and float rules); this
//! module only names the series. Counters and gauges are atomics and a histogram takes a
//! short lock, so counting a push costs nothing next to sending it. Gauges that live in the
//! database (queue depth, subscriptions) are set at scrape time.

use prometheus_client::encoding::{prometheus_text, EncodeLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Upper bounds of the push-service latency histograms, in seconds.
const LATENCY_BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
const OUTCOMES: [&str; 4] = ["accepted", "gone", "retry", "failed"];
/// Origins come from client-supplied endpoints: past this many, new ones share one series.
const MAX_ORIGINS: usize = 256;
const OTHER_ORIGINS: &str = "other";

type CountGauge = Gauge<u64, AtomicU64>;
type LatencyFamily = Family<OriginLabel, Histogram, fn() -> Histogram>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OriginLabel {
    origin: String,
}

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// One push service's series, updated by the delivery engine's pool and window.
pub struct OriginMetrics {
    connections: CountGauge,
    in_flight: CountGauge,
    window: CountGauge,
    latency: Histogram,
}

/// Series that belong to no registry, for tests of the parts that update them.
impl Default for OriginMetrics {
    fn default() -> Self {
        Self {
            connections: CountGauge::default(),
            in_flight: CountGauge::default(),
            window: CountGauge::default(),
            latency: latency_histogram(),
        }
    }
}

impl OriginMetrics {
    pub fn connection_opened(&self) {
        self.connections.inc();
    }

    pub fn connection_closed(&self) {
        let _ = self
            .connections
            .inner()
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    pub fn set_window(&self, in_flight: usize, limit: usize) {
        self.in_flight.set(in_flight as u64);
        self.window.set(limit as u64);
    }

    pub fn observe_latency(&self, latency: Duration) {
        self.latency.observe(latency.as_secs_f64());
    }

    pub fn open_connections(&self) -> u64 {
        self.connections.get()
    }
}

pub struct Metrics {
    registry: Registry,
    push_requests: Family<OutcomeLabel, Counter>,
    latency: Histogram,
    /// The handles given out, by origin (which also counts the origins for [`MAX_ORIGINS`]).
    origins: Mutex<BTreeMap<String, Arc<OriginMetrics>>>,
    origin_connections: Family<OriginLabel, CountGauge>,
    origin_in_flight: Family<OriginLabel, CountGauge>,
    origin_window: Family<OriginLabel, CountGauge>,
    origin_latency: LatencyFamily,
    queue_depth: Gauge,
    subscriptions: Gauge,
    messages_created: Counter,
    subscriptions_registered: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let metrics = Self {
            registry: Registry::default(),
            push_requests: Family::default(),
            latency: latency_histogram(),
            origins: Mutex::default(),
            origin_connections: Family::default(),
            origin_in_flight: Family::default(),
            origin_window: Family::default(),
            origin_latency: LatencyFamily::new_with_constructor(latency_histogram),
            queue_depth: Gauge::default(),
            subscriptions: Gauge::default(),
            messages_created: Counter::default(),
            subscriptions_registered: Counter::default(),
        };
        // Every outcome is shown from the start, so a rate over it has a zero to begin from.
        for outcome in OUTCOMES {
            metrics.push_requests.get_or_create_owned(&OutcomeLabel { outcome });
        }
        metrics.register()
    }
}

impl Metrics {
    /// Names the series, in the order `/metrics` shows them. Counters are named without
    /// `_total`: the encoder adds it.
    fn register(mut self) -> Self {
        let r = &mut self.registry;
        r.register(
            "herald_push_requests",
            "Push requests sent to push services, by outcome",
            self.push_requests.clone(),
        );
        r.register(
            "herald_push_latency_seconds",
            "Time from sending a push to the push service's answer",
            self.latency.clone(),
        );
        r.register(
            "herald_origin_connections",
            "Open HTTP/2 connections to a push service",
            self.origin_connections.clone(),
        );
        r.register(
            "herald_origin_in_flight",
            "Pushes waiting for a push service's answer",
            self.origin_in_flight.clone(),
        );
        r.register(
            "herald_origin_window",
            "The in-flight window a push service has earned",
            self.origin_window.clone(),
        );
        r.register(
            "herald_origin_latency_seconds",
            "Time from sending a push to a push service's answer, by origin",
            self.origin_latency.clone(),
        );
        r.register(
            "herald_queue_depth",
            "Outbox rows still to send",
            self.queue_depth.clone(),
        );
        r.register(
            "herald_subscriptions",
            "Stored subscriptions",
            self.subscriptions.clone(),
        );
        r.register(
            "herald_messages_created",
            "Messages accepted by this instance",
            self.messages_created.clone(),
        );
        r.register(
            "herald_subscriptions_registered",
            "Registrations handled by this instance",
            self.subscriptions_registered.clone(),
        );
        self
    }

    /// Counts one push request by its outcome label (see `PushOutcome::label`).
    pub fn push_request(&self, outcome: &str, latency: Option<Duration>) {
        if let Some(outcome) = OUTCOMES.into_iter().find(|o| *o == outcome) {
            self.push_requests.get_or_create(&OutcomeLabel { outcome }).inc();
        }
        if let Some(latency) = latency {
            self.latency.observe(latency.as_secs_f64());
        }
    }

    /// The series of one push-service origin (`https://host:port`), created on first use.
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
        origins
            .entry(key.to_owned())
            .or_insert_with(|| {
                let label = OriginLabel { origin: key.to_owned() };
                Arc::new(OriginMetrics {
                    connections: self.origin_connections.get_or_create_owned(&label),
                    in_flight: self.origin_in_flight.get_or_create_owned(&label),
                    window: self.origin_window.get_or_create_owned(&label),
                    latency: self.origin_latency.get_or_create_owned(&label),
                })
            })
            .clone()
    }

    pub fn message_created(&self) {
        self.messages_created.inc();
    }

    pub fn subscription_registered(&self) {
        self.subscriptions_registered.inc();
    }

    pub fn pushes(&self, outcome: &str) -> u64 {
        OUTCOMES
            .into_iter()
            .find(|o| *o == outcome)
            .and_then(|outcome| self.push_requests.get(&OutcomeLabel { outcome }).map(|c| c.get()))
            .unwrap_or(0)
    }

    /// The Prometheus text format (0.0.4), with the database gauges supplied by the caller.
    pub fn render(&self, queue_depth: i64, subscriptions: i64) -> String {
        self.queue_depth.set(queue_depth);
        self.subscriptions.set(subscriptions);
        let mut out = String::with_capacity(4096);
        // Writing to a String cannot fail.
        let _ = prometheus_text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_names_every_series_as_before() {
        let metrics = Metrics::default();
        metrics.push_request("accepted", Some(Duration::from_millis(20)));
        metrics.push_request("no-such-outcome", None);
        metrics.message_created();
        let origin = metrics.origin("https://push.example.net:443");
        origin.connection_opened();
        origin.connection_closed();
        origin.connection_closed();
        origin.set_window(3, 40);
        origin.observe_latency(Duration::from_millis(200));
        let text = metrics.render(7, 2);
        for line in [
            "# HELP herald_push_requests_total Push requests sent to push services, by outcome.",
            "# TYPE herald_push_requests_total counter",
            "herald_push_requests_total{outcome=\"accepted\"} 1",
            "herald_push_requests_total{outcome=\"retry\"} 0",
            "# TYPE herald_push_latency_seconds histogram",
            "herald_push_latency_seconds_bucket{le=\"0.01\"} 0",
            "herald_push_latency_seconds_bucket{le=\"0.025\"} 1",
            "herald_push_latency_seconds_bucket{le=\"10\"} 1",
            "herald_push_latency_seconds_bucket{le=\"+Inf\"} 1",
            "herald_push_latency_seconds_count 1",
            "herald_origin_connections{origin=\"https://push.example.net:443\"} 0",
            "herald_origin_in_flight{origin=\"https://push.example.net:443\"} 3",
            "herald_origin_window{origin=\"https://push.example.net:443\"} 40",
            "herald_origin_latency_seconds_bucket{origin=\"https://push.example.net:443\",le=\"0.25\"} 1",
            "herald_origin_latency_seconds_count{origin=\"https://push.example.net:443\"} 1",
            "# TYPE herald_queue_depth gauge",
            "herald_queue_depth 7",
            "herald_subscriptions 2",
            "# TYPE herald_messages_created_total counter",
            "herald_messages_created_total 1",
            "herald_subscriptions_registered_total 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} not in\n{text}");
        }
        assert_eq!(metrics.pushes("accepted"), 1);
        assert!(!text.contains("# EOF"), "{text}");
    }

    #[test]
    fn origins_past_the_cap_share_one_series() {
        let metrics = Metrics::default();
        for i in 0..MAX_ORIGINS {
            metrics.origin(&format!("https://p{i}.example"));
        }
        metrics.origin("https://one-more.example").connection_opened();
        metrics.origin("https://and-another.example").connection_opened();
        let text = metrics.render(0, 0);
        assert!(text.contains("herald_origin_connections{origin=\"other\"} 2"), "{text}");
        assert!(!text.contains("one-more"), "{text}");
    }
}
