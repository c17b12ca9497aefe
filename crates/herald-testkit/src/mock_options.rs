//! How a [`MockPushService`](crate::MockPushService) behaves: the shape of a real push service
//! (latency, a stream limit, GOAWAY, hangs, resets, throttling, TLS) and what it records.

use crate::MockResponse;
use std::time::{Duration, Instant};

/// Options for [`MockPushService::start_with`](crate::MockPushService::start_with).
///
/// [`MockOptions::default`] is the plain mock every older test uses: `http://`, answers at
/// once, no stream limit, never closes a connection, records and decrypts every push.
/// [`MockOptions::realistic`] is the shape of FCM or autopush as the issue measured it.
#[derive(Debug, Clone)]
pub struct MockOptions {
    pub(crate) tls: bool,
    pub(crate) max_concurrent_streams: Option<u32>,
    pub(crate) goaway_after_streams: Option<u64>,
    pub(crate) behaviour: Behaviour,
    pub(crate) decrypt_one_in: u64,
    pub(crate) record: bool,
    pub(crate) dedicated_thread: bool,
}

/// What can change while the service runs (see the `set_*` methods of the service).
#[derive(Debug, Clone, Default)]
pub(crate) struct Behaviour {
    /// Added to every answer: uniform in `[min, max]`.
    pub(crate) latency: Option<(Duration, Duration)>,
    pub(crate) hang: bool,
    pub(crate) reset_fraction: f64,
    /// Replaces every device's default answer (a device's script still comes first).
    pub(crate) answer: Option<MockResponse>,
}

impl Default for MockOptions {
    fn default() -> Self {
        Self {
            tls: false,
            max_concurrent_streams: None,
            goaway_after_streams: None,
            behaviour: Behaviour::default(),
            decrypt_one_in: 1,
            record: true,
            dedicated_thread: false,
        }
    }
}

impl MockOptions {
    /// The plain mock: same as [`Default`].
    pub fn new() -> Self {
        Self::default()
    }

    /// A real push service's shape: TLS with HTTP/2, 30–60 ms per answer, 100 concurrent
    /// streams per connection, graceful GOAWAY after 2,000 streams, on a thread of its own.
    pub fn realistic() -> Self {
        Self::new()
            .tls()
            .latency(Duration::from_millis(30), Duration::from_millis(60))
            .max_concurrent_streams(100)
            .goaway_after_streams(2_000)
            .dedicated_thread()
    }

    /// Serve `https://` with a self-signed certificate (ALPN `h2` and `http/1.1`); Herald
    /// trusts it through `SSL_CERT_FILE` = [`ca_file`](crate::MockPushService::ca_file).
    pub fn tls(mut self) -> Self {
        self.tls = true;
        self
    }

    /// Every answer waits a uniform random time in `[min, max]` (before any scripted delay).
    pub fn latency(mut self, min: Duration, max: Duration) -> Self {
        self.behaviour.latency = Some((min, max.max(min)));
        self
    }

    /// The HTTP/2 `SETTINGS_MAX_CONCURRENT_STREAMS` the service advertises (h2 refuses
    /// streams above it with `REFUSED_STREAM`).
    pub fn max_concurrent_streams(mut self, streams: u32) -> Self {
        self.max_concurrent_streams = Some(streams);
        self
    }

    /// After `streams` requests on one connection, the service starts a graceful shutdown of
    /// that connection: h2 sends GOAWAY (first with the maximal stream id, then, one PING
    /// later, with the last stream it accepted). Streams it accepted are answered as usual,
    /// so a few more than `streams` may be served; streams above the last id are never seen
    /// by the handler. On HTTP/1.1 the connection closes after the answer in progress.
    pub fn goaway_after_streams(mut self, streams: u64) -> Self {
        self.goaway_after_streams = Some(streams.max(1));
        self
    }

    /// Accept every request and never answer it (the client's timeout ends it).
    pub fn hang(mut self) -> Self {
        self.behaviour.hang = true;
        self
    }

    /// Reset this fraction (0.0–1.0) of the streams after reading the request, without an
    /// answer: RST_STREAM(INTERNAL_ERROR) on HTTP/2, a closed connection on HTTP/1.1. The
    /// push was not delivered; for the client it is the ambiguous case.
    pub fn reset_fraction(mut self, fraction: f64) -> Self {
        self.behaviour.reset_fraction = fraction.clamp(0.0, 1.0);
        self
    }

    /// Answer every push this way (for example `MockResponse::status(429).retry_after("1")`)
    /// unless a device's script says otherwise. VAPID and TTL errors still win.
    pub fn answer(mut self, response: MockResponse) -> Self {
        self.behaviour.answer = Some(response);
        self
    }

    /// Decrypt one push in `n` (default 1: all). The others are recorded with
    /// `payload: Err("not decrypted: …")`. VAPID is verified on every push.
    pub fn decrypt_one_in(mut self, n: u64) -> Self {
        self.decrypt_one_in = n.max(1);
        self
    }

    /// Keep every [`ReceivedPush`](crate::ReceivedPush) (default `true`). With `false`, only
    /// the counters are kept: for load tests and benchmarks with many pushes.
    pub fn record(mut self, record: bool) -> Self {
        self.record = record;
        self
    }

    /// Serve from a single-threaded runtime on a thread of its own, so the mock neither
    /// shares the test's runtime nor charges its work to it.
    pub fn dedicated_thread(mut self) -> Self {
        self.dedicated_thread = true;
        self
    }
}

/// Counters a test reads from [`MockPushService::stats`](crate::MockPushService::stats).
#[derive(Debug, Clone, Default)]
pub struct MockStats {
    /// TCP connections accepted.
    pub connections: u64,
    /// TLS handshakes completed (0 without [`MockOptions::tls`]).
    pub tls_connections: u64,
    /// Requests the handler saw (answered, reset, hung or still waiting).
    pub requests: u64,
    /// Of those, over HTTP/2.
    pub http2_requests: u64,
    /// Requests answered (any status).
    pub answered: u64,
    /// Answered with a 2xx: delivered.
    pub delivered: u64,
    /// Streams reset on purpose ([`MockOptions::reset_fraction`]).
    pub resets: u64,
    /// Connections the service began to close with GOAWAY.
    pub goaways: u64,
    /// Requests the handler holds now (hung, waiting out their latency, or reading).
    pub in_flight: u64,
    /// The most streams in flight on any one connection at the same time.
    pub max_concurrent_streams: u64,
    /// Per connection, in the order they were accepted: (requests, most in flight at once).
    pub per_connection: Vec<(u64, u64)>,
    /// Payloads decrypted, and payloads that did not decrypt (of those tried, see
    /// [`MockOptions::decrypt_one_in`]).
    pub decrypted: u64,
    pub decrypt_failures: u64,
    /// When the last answer was sent.
    pub last_answer_at: Option<Instant>,
}
