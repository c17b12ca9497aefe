//! Prometheus metrics, kept as atomics: counting a push must cost nothing next to sending it.
//! Gauges that live in the database (queue depth, subscriptions) are read at scrape time.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the push-service latency histogram, in seconds.
const LATENCY_BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
const OUTCOMES: [&str; 4] = ["accepted", "gone", "retry", "failed"];

#[derive(Default)]
pub struct Metrics {
    push_requests: [AtomicU64; 4],
    latency_buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_micros: AtomicU64,
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
            let secs = latency.as_secs_f64();
            for (bucket, bound) in self.latency_buckets.iter().zip(LATENCY_BUCKETS) {
                if secs <= bound {
                    bucket.fetch_add(1, Ordering::Relaxed);
                }
            }
            self.latency_count.fetch_add(1, Ordering::Relaxed);
            self.latency_sum_micros
                .fetch_add(latency.as_micros() as u64, Ordering::Relaxed);
        }
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
        for (bucket, bound) in self.latency_buckets.iter().zip(LATENCY_BUCKETS) {
            let _ = writeln!(
                out,
                "herald_push_latency_seconds_bucket{{le=\"{bound}\"}} {}",
                bucket.load(Ordering::Relaxed)
            );
        }
        let count = self.latency_count.load(Ordering::Relaxed);
        let _ = writeln!(out, "herald_push_latency_seconds_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(
            out,
            "herald_push_latency_seconds_sum {}",
            self.latency_sum_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "herald_push_latency_seconds_count {count}");
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
}
