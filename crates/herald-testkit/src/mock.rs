//! The mock push service: `POST /push/{device}` verifies, decrypts, records and answers.
//!
//! [`MockPushService::start`] is the plain mock (`http://`, answers at once). With
//! [`MockPushService::start_with`] and [`MockOptions`] it takes the shape of a real push
//! service, so delivery tests see what FCM or autopush do:
//!
//! | option | effect |
//! |---|---|
//! | [`MockOptions::tls`] | `https://` with a self-signed certificate, ALPN `h2`/`http/1.1`; trust it with `SSL_CERT_FILE` = [`MockPushService::ca_file`] |
//! | [`MockOptions::latency`] | every answer waits uniform `[min, max]` |
//! | [`MockOptions::max_concurrent_streams`] | HTTP/2 `SETTINGS_MAX_CONCURRENT_STREAMS` (hyper's default otherwise: 200) |
//! | [`MockOptions::goaway_after_streams`] | graceful GOAWAY on a connection once it carried N streams; accepted streams are still answered |
//! | [`MockOptions::hang`] | accept every request, never answer |
//! | [`MockOptions::reset_fraction`] | RST_STREAM on that fraction of streams, nothing delivered |
//! | [`MockOptions::answer`] | one answer for every push, e.g. 429 or 503 with `Retry-After` |
//! | [`MockOptions::decrypt_one_in`], [`MockOptions::record`], [`MockOptions::dedicated_thread`] | cheaper for load tests and the bench |
//!
//! [`MockOptions::realistic`] combines TLS, 30–60 ms, 100 streams and GOAWAY after 2,000.
//! Latency, hanging, resets and the answer can also change while it runs (`set_*`).
//!
//! Whatever the options, every push's VAPID signature is verified (a signature already seen
//! is verified once and remembered until its `exp`), a missing TTL is refused, and the
//! counters ([`MockStats`], [`MockPushService::deliveries_by_endpoint`],
//! [`MockPushService::duplicates`]) say what happened: connections, TLS handshakes, requests,
//! deliveries per device, GOAWAYs sent, and the most streams in flight on one connection.

use crate::mock_options::Behaviour;
use crate::{decrypt, tls, unb64, verify_vapid, Browser, MockOptions, MockStats, VapidClaims};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rand::Rng;
use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{watch, Notify};

/// How the mock answers one push.
#[derive(Debug, Clone)]
pub struct MockResponse {
    pub status: u16,
    pub retry_after: Option<String>,
    pub delay: Option<Duration>,
    pub body: String,
}

impl MockResponse {
    pub fn status(status: u16) -> Self {
        Self {
            status,
            retry_after: None,
            delay: None,
            body: String::new(),
        }
    }

    pub fn created() -> Self {
        Self::status(201)
    }

    pub fn retry_after(mut self, value: &str) -> Self {
        self.retry_after = Some(value.to_owned());
        self
    }

    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }

    pub fn body(mut self, body: &str) -> Self {
        self.body = body.to_owned();
        self
    }
}

/// One push as the mock saw it.
#[derive(Debug, Clone)]
pub struct ReceivedPush {
    pub device: String,
    pub ttl: Option<u32>,
    pub urgency: Option<String>,
    pub topic: Option<String>,
    pub encoding: Option<String>,
    pub content_type: Option<String>,
    /// `Ok(None)` for a push without data.
    pub payload: Result<Option<Vec<u8>>, String>,
    pub vapid: Result<VapidClaims, String>,
    pub vapid_key: Option<Vec<u8>>,
    pub answered: u16,
    /// When the request had arrived (before any latency or scripted delay).
    pub at: Instant,
}

impl ReceivedPush {
    /// The decrypted payload as JSON; panics with the reason when it is not.
    pub fn json(&self) -> serde_json::Value {
        let bytes = self.payload.clone().expect("decrypts").expect("has a payload");
        serde_json::from_slice(&bytes).expect("payload is JSON")
    }
}

struct Device {
    browser: Browser,
    script: VecDeque<MockResponse>,
    default: MockResponse,
    /// Pushes answered with a 2xx.
    delivered: u64,
}

/// One accepted connection's counters.
#[derive(Default)]
struct ConnectionStats {
    requests: AtomicU64,
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
    /// Woken when the connection has carried `goaway_after_streams` streams.
    goaway: Notify,
}

#[derive(Default)]
struct Counters {
    connections: AtomicU64,
    tls_connections: AtomicU64,
    requests: AtomicU64,
    http2_requests: AtomicU64,
    answered: AtomicU64,
    delivered: AtomicU64,
    resets: AtomicU64,
    goaways: AtomicU64,
    max_concurrent_streams: AtomicU64,
    decrypt_sequence: AtomicU64,
    decrypted: AtomicU64,
    decrypt_failures: AtomicU64,
}

/// `Authorization` and `Crypto-Key` as sent.
type VapidHeaders = (String, Option<String>);
/// The claims and the signing key of a verified VAPID header.
type Verified = (VapidClaims, Vec<u8>);

struct Inner {
    origin: String,
    devices: Mutex<HashMap<String, Device>>,
    received: Mutex<Vec<ReceivedPush>>,
    arrived: Notify,
    next_id: AtomicU64,
    behaviour: Mutex<Behaviour>,
    /// Woken when hanging stops, so hung requests go on.
    unhung: Notify,
    counters: Counters,
    connections: Mutex<Vec<Arc<ConnectionStats>>>,
    last_answer_at: Mutex<Option<Instant>>,
    /// Verified VAPID headers, so a JWT a client reuses is verified once.
    vapid_verified: Mutex<HashMap<VapidHeaders, Verified>>,
    goaway_after_streams: Option<u64>,
    decrypt_one_in: u64,
    record: bool,
}

/// A running mock push service on `127.0.0.1` with a random port. It stops when dropped
/// (its connections close at once, hung streams included).
pub struct MockPushService {
    inner: Arc<Inner>,
    base_url: String,
    cert_pem: Option<String>,
    ca_file: Option<tempfile::NamedTempFile>,
    _shutdown: watch::Sender<()>,
}

impl MockPushService {
    /// The plain mock: `http://`, answers at once, records every push.
    pub async fn start() -> Self {
        Self::start_with(MockOptions::default()).await
    }

    /// A mock shaped by `options` (see the module documentation).
    pub async fn start_with(options: MockOptions) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("non-blocking listener");
        let scheme = if options.tls { "https" } else { "http" };
        let base_url = format!("{scheme}://{}", listener.local_addr().unwrap());
        let (acceptor, cert_pem) = match options.tls {
            true => {
                let (acceptor, pem) = tls::self_signed_acceptor();
                (Some(acceptor), Some(pem))
            }
            false => (None, None),
        };
        let ca_file = cert_pem.as_ref().map(|pem| {
            let mut file = tempfile::Builder::new()
                .prefix("mock-push-ca-")
                .suffix(".pem")
                .tempfile()
                .expect("temp file");
            std::io::Write::write_all(&mut file, pem.as_bytes()).expect("write the certificate");
            file
        });
        let inner = Arc::new(Inner {
            origin: base_url.clone(),
            devices: Mutex::default(),
            received: Mutex::default(),
            arrived: Notify::new(),
            next_id: AtomicU64::new(0),
            behaviour: Mutex::new(options.behaviour.clone()),
            unhung: Notify::new(),
            counters: Counters::default(),
            connections: Mutex::default(),
            last_answer_at: Mutex::default(),
            vapid_verified: Mutex::default(),
            goaway_after_streams: options.goaway_after_streams,
            decrypt_one_in: options.decrypt_one_in,
            record: options.record,
        });
        let (shutdown, stopped) = watch::channel(());
        let server = Server {
            inner: inner.clone(),
            acceptor,
            max_concurrent_streams: options.max_concurrent_streams,
        };
        if options.dedicated_thread {
            std::thread::Builder::new()
                .name("mock-push".into())
                .spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("mock runtime");
                    runtime.block_on(server.accept_loop(listener, stopped));
                })
                .expect("mock thread");
        } else {
            tokio::spawn(server.accept_loop(listener, stopped));
        }
        Self {
            inner,
            base_url,
            cert_pem,
            ca_file,
            _shutdown: shutdown,
        }
    }

    /// `http://127.0.0.1:PORT`, or `https://…` with TLS.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// With TLS: the self-signed certificate's PEM.
    pub fn cert_pem(&self) -> Option<&str> {
        self.cert_pem.as_deref()
    }

    /// With TLS: a file holding the certificate, for `SSL_CERT_FILE`; it lives as long as
    /// the service.
    pub fn ca_file(&self) -> Option<&Path> {
        self.ca_file.as_ref().map(|f| f.path())
    }

    /// A new device that answers 201; returns its endpoint and keys.
    pub fn add_device(&self) -> (String, Browser) {
        self.add_device_with(MockResponse::created())
    }

    /// A new device whose every answer is `default` unless scripted otherwise.
    pub fn add_device_with(&self, default: MockResponse) -> (String, Browser) {
        let browser = Browser::generate();
        let endpoint = self.add_browser(browser.clone(), default);
        (endpoint, browser)
    }

    /// A new device with the given keys (for a caller that made them); returns its endpoint.
    pub fn add_browser(&self, browser: Browser, default: MockResponse) -> String {
        let id = format!("d{}", self.inner.next_id.fetch_add(1, Ordering::Relaxed));
        self.inner.devices.lock().unwrap().insert(
            id.clone(),
            Device {
                browser,
                script: VecDeque::new(),
                default,
                delivered: 0,
            },
        );
        format!("{}/push/{id}", self.base_url)
    }

    /// Answers the next pushes to `endpoint` with `responses`, in order, then the default.
    pub fn script(&self, endpoint: &str, responses: Vec<MockResponse>) {
        if let Some(device) = self.inner.devices.lock().unwrap().get_mut(device_id(endpoint)) {
            device.script.extend(responses);
        }
    }

    /// Changes the default answer of `endpoint` (for example to 410 once "unsubscribed").
    pub fn set_default(&self, endpoint: &str, response: MockResponse) {
        if let Some(device) = self.inner.devices.lock().unwrap().get_mut(device_id(endpoint)) {
            device.default = response;
        }
    }

    /// Starts or stops hanging; stopping lets the hung requests go on to their answer.
    pub fn set_hang(&self, hang: bool) {
        self.inner.behaviour.lock().unwrap().hang = hang;
        if !hang {
            self.inner.unhung.notify_waiters();
        }
    }

    /// Sets or clears the answer every push gets (see [`MockOptions::answer`]).
    pub fn set_answer(&self, response: Option<MockResponse>) {
        self.inner.behaviour.lock().unwrap().answer = response;
    }

    /// Sets or clears the latency range (see [`MockOptions::latency`]).
    pub fn set_latency(&self, latency: Option<(Duration, Duration)>) {
        self.inner.behaviour.lock().unwrap().latency = latency.map(|(min, max)| (min, max.max(min)));
    }

    /// Sets the fraction of streams reset (see [`MockOptions::reset_fraction`]).
    pub fn set_reset_fraction(&self, fraction: f64) {
        self.inner.behaviour.lock().unwrap().reset_fraction = fraction.clamp(0.0, 1.0);
    }

    /// Every push answered so far (empty with `MockOptions::record(false)`).
    pub fn received(&self) -> Vec<ReceivedPush> {
        self.inner.received.lock().unwrap().clone()
    }

    pub fn received_by(&self, endpoint: &str) -> Vec<ReceivedPush> {
        let id = device_id(endpoint);
        self.received().into_iter().filter(|p| p.device == id).collect()
    }

    /// Waits until at least `count` pushes were answered, or `timeout` passed; returns the
    /// recorded pushes.
    pub async fn wait_for(&self, count: usize, timeout: Duration) -> Vec<ReceivedPush> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.inner.arrived.notified();
            if self.inner.counters.answered.load(Ordering::SeqCst) >= count as u64 {
                break;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                break;
            }
        }
        self.received()
    }

    /// Waits until at least `count` pushes were delivered (answered 2xx), or `timeout`
    /// passed; returns whether they were.
    pub async fn wait_for_deliveries(&self, count: u64, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.inner.arrived.notified();
            if self.inner.counters.delivered.load(Ordering::SeqCst) >= count {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.inner.counters.delivered.load(Ordering::SeqCst) >= count;
            }
        }
    }

    /// Pushes delivered (answered 2xx) per device endpoint; every device added is listed,
    /// those never reached with 0.
    pub fn deliveries_by_endpoint(&self) -> HashMap<String, u64> {
        self.inner
            .devices
            .lock()
            .unwrap()
            .iter()
            .map(|(id, d)| (format!("{}/push/{id}", self.base_url), d.delivered))
            .collect()
    }

    /// Deliveries beyond the first, summed over devices: 0 means exactly-once for a test
    /// that sends each device one message.
    pub fn duplicates(&self) -> u64 {
        let devices = self.inner.devices.lock().unwrap();
        devices.values().map(|d| d.delivered.saturating_sub(1)).sum()
    }

    /// Sets every device's delivery count back to 0 (a benchmark does it between rounds;
    /// the [`MockStats`] counters keep counting).
    pub fn reset_deliveries(&self) {
        for device in self.inner.devices.lock().unwrap().values_mut() {
            device.delivered = 0;
        }
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> MockStats {
        let c = &self.inner.counters;
        let load = |a: &AtomicU64| a.load(Ordering::SeqCst);
        let connections = self.inner.connections.lock().unwrap();
        MockStats {
            connections: load(&c.connections),
            tls_connections: load(&c.tls_connections),
            requests: load(&c.requests),
            http2_requests: load(&c.http2_requests),
            answered: load(&c.answered),
            delivered: load(&c.delivered),
            resets: load(&c.resets),
            goaways: load(&c.goaways),
            max_concurrent_streams: load(&c.max_concurrent_streams),
            in_flight: connections.iter().map(|s| load(&s.in_flight)).sum(),
            per_connection: connections
                .iter()
                .map(|s| (load(&s.requests), load(&s.max_in_flight)))
                .collect(),
            last_answer_at: *self.inner.last_answer_at.lock().unwrap(),
            decrypted: load(&c.decrypted),
            decrypt_failures: load(&c.decrypt_failures),
        }
    }
}

fn device_id(endpoint: &str) -> &str {
    endpoint.rsplit('/').next().unwrap_or_default()
}

/// What the accept loop and the connections share.
struct Server {
    inner: Arc<Inner>,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    max_concurrent_streams: Option<u32>,
}

impl Server {
    async fn accept_loop(self, listener: std::net::TcpListener, mut stopped: watch::Receiver<()>) {
        let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
        let server = Arc::new(self);
        loop {
            let tcp = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((tcp, _)) => tcp,
                    Err(_) => continue,
                },
                _ = stopped.changed() => return,
            };
            let _ = tcp.set_nodelay(true);
            server.inner.counters.connections.fetch_add(1, Ordering::SeqCst);
            let stats = Arc::new(ConnectionStats::default());
            server.inner.connections.lock().unwrap().push(stats.clone());
            let (server, mut stopped) = (server.clone(), stopped.clone());
            tokio::spawn(async move {
                match &server.acceptor {
                    Some(acceptor) => {
                        let tls = tokio::select! {
                            tls = acceptor.accept(tcp) => match tls {
                                Ok(tls) => tls,
                                Err(_) => return,
                            },
                            _ = stopped.changed() => return,
                        };
                        server.inner.counters.tls_connections.fetch_add(1, Ordering::SeqCst);
                        server.serve(TokioIo::new(tls), stats, stopped).await;
                    }
                    None => server.serve(TokioIo::new(tcp), stats, stopped).await,
                }
            });
        }
    }

    /// Serves one connection (HTTP/1.1 or HTTP/2, as the client speaks) until it ends, the
    /// service stops, or a GOAWAY it sent has drained it.
    async fn serve<I>(&self, io: I, stats: Arc<ConnectionStats>, mut stopped: watch::Receiver<()>)
    where
        I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    {
        let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
        if let Some(streams) = self.max_concurrent_streams {
            builder.http2().max_concurrent_streams(streams);
        }
        let service = {
            let (inner, stats) = (self.inner.clone(), stats.clone());
            hyper::service::service_fn(move |request| handle(inner.clone(), stats.clone(), request))
        };
        let connection = builder.serve_connection(io, service);
        tokio::pin!(connection);
        let mut closing = false;
        loop {
            tokio::select! {
                _ = connection.as_mut() => return,
                _ = stats.goaway.notified(), if !closing => {
                    closing = true;
                    self.inner.counters.goaways.fetch_add(1, Ordering::SeqCst);
                    connection.as_mut().graceful_shutdown();
                }
                _ = stopped.changed() => return,
            }
        }
    }
}

/// The error a handler returns to reset its stream (hyper sends RST_STREAM(INTERNAL_ERROR)).
#[derive(Debug)]
struct ResetStream;

impl std::fmt::Display for ResetStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("stream reset by the mock push service")
    }
}

impl std::error::Error for ResetStream {}

/// Counts a stream in flight on its connection for as long as its handler runs.
struct InFlight(Arc<ConnectionStats>);

impl InFlight {
    fn enter(inner: &Inner, stats: Arc<ConnectionStats>) -> Self {
        let now = stats.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        stats.max_in_flight.fetch_max(now, Ordering::SeqCst);
        inner.counters.max_concurrent_streams.fetch_max(now, Ordering::SeqCst);
        Self(stats)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

fn param(header: Option<&str>, name: &str) -> Option<Vec<u8>> {
    header?
        .split([';', ','])
        .find_map(|p| p.trim().strip_prefix(name))
        .and_then(unb64)
}

fn plain(status: u16) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response
}

async fn handle(
    inner: Arc<Inner>,
    stats: Arc<ConnectionStats>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, ResetStream> {
    let on_connection = stats.requests.fetch_add(1, Ordering::SeqCst) + 1;
    inner.counters.requests.fetch_add(1, Ordering::SeqCst);
    if request.version() == hyper::Version::HTTP_2 {
        inner.counters.http2_requests.fetch_add(1, Ordering::SeqCst);
    }
    if inner.goaway_after_streams == Some(on_connection) {
        stats.goaway.notify_one();
    }
    let _in_flight = InFlight::enter(&inner, stats);
    let (parts, body) = request.into_parts();
    // A client that goes away mid-body ends the stream; nothing was delivered.
    let body = body.collect().await.map_err(|_| ResetStream)?.to_bytes();
    let behaviour = inner.behaviour.lock().unwrap().clone();
    if behaviour.hang {
        loop {
            let unhung = inner.unhung.notified();
            if !inner.behaviour.lock().unwrap().hang {
                break;
            }
            unhung.await;
        }
    }
    if behaviour.reset_fraction > 0.0 && rand::rng().random::<f64>() < behaviour.reset_fraction {
        inner.counters.resets.fetch_add(1, Ordering::SeqCst);
        return Err(ResetStream);
    }
    let Some(device) = parts.uri.path().strip_prefix("/push/").filter(|d| !d.contains('/')) else {
        return Ok(plain(404));
    };
    if parts.method != Method::POST {
        return Ok(plain(405));
    }
    let device = device.to_owned();
    let headers = parts.headers;

    let arrived_at = Instant::now();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let (browser, planned) = {
        let mut devices = inner.devices.lock().unwrap();
        match devices.get_mut(&device) {
            Some(d) => {
                let planned = d
                    .script
                    .pop_front()
                    .unwrap_or_else(|| behaviour.answer.clone().unwrap_or_else(|| d.default.clone()));
                (Some(d.browser.clone()), planned)
            }
            None => (None, MockResponse::status(404)),
        }
    };
    let authorization = header(&headers, "authorization").unwrap_or_default();
    let crypto_key = header(&headers, "crypto-key");
    let vapid = verify_vapid_once(&inner, authorization, crypto_key.clone(), now);
    let encoding = header(&headers, "content-encoding");
    let sequence = inner.counters.decrypt_sequence.fetch_add(1, Ordering::Relaxed);
    let payload = match (&browser, body.is_empty(), &encoding) {
        (_, true, _) => Ok(None),
        (None, false, _) => Err("unknown device".to_owned()),
        (Some(_), false, None) => Err("a body without Content-Encoding".to_owned()),
        (Some(_), false, Some(_)) if !sequence.is_multiple_of(inner.decrypt_one_in) => {
            Err("not decrypted: MockOptions::decrypt_one_in".to_owned())
        }
        (Some(b), false, Some(enc)) => {
            let salt = param(header(&headers, "encryption").as_deref(), "salt=");
            let dh = param(crypto_key.as_deref(), "dh=");
            let decrypted = decrypt(b, enc, &body, salt.as_deref(), dh.as_deref());
            let counter = match decrypted {
                Ok(_) => &inner.counters.decrypted,
                Err(_) => &inner.counters.decrypt_failures,
            };
            counter.fetch_add(1, Ordering::Relaxed);
            decrypted.map(Some).map_err(|e| e.0)
        }
    };
    let ttl = header(&headers, "ttl").and_then(|v| v.parse().ok());
    // A real push service refuses a missing TTL or a bad signature before anything else.
    let answer = if ttl.is_none() {
        MockResponse::status(400).body(r#"{"errno":111,"message":"Missing TTL header"}"#)
    } else if vapid.is_err() {
        MockResponse::status(401).body(r#"{"errno":109,"message":"invalid VAPID"}"#)
    } else {
        planned
    };
    let wait = behaviour
        .latency
        .map(|(min, max)| {
            let (min, max) = (min.as_micros() as u64, max.as_micros() as u64);
            Duration::from_micros(rand::rng().random_range(min..=max))
        })
        .unwrap_or_default()
        + answer.delay.unwrap_or_default();
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }

    let delivered = (200..300).contains(&answer.status);
    if delivered {
        if let Some(d) = inner.devices.lock().unwrap().get_mut(&device) {
            d.delivered += 1;
        }
    }
    if inner.record {
        inner.received.lock().unwrap().push(ReceivedPush {
            device,
            ttl,
            urgency: header(&headers, "urgency"),
            topic: header(&headers, "topic"),
            encoding,
            content_type: header(&headers, "content-type"),
            payload,
            vapid_key: vapid.as_ref().ok().map(|(_, k)| k.clone()),
            vapid: vapid.map(|(c, _)| c),
            answered: answer.status,
            at: arrived_at,
        });
    }
    if delivered {
        inner.counters.delivered.fetch_add(1, Ordering::SeqCst);
    }
    inner.counters.answered.fetch_add(1, Ordering::SeqCst);
    *inner.last_answer_at.lock().unwrap() = Some(Instant::now());
    inner.arrived.notify_waiters();

    let mut response = Response::new(Full::new(Bytes::from(answer.body)));
    *response.status_mut() = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Some(retry_after) = answer.retry_after {
        if let Ok(v) = HeaderValue::from_str(&retry_after) {
            response.headers_mut().insert("retry-after", v);
        }
    }
    if delivered {
        response
            .headers_mut()
            .insert("location", HeaderValue::from_static("/m/1"));
    }
    Ok(response)
}

/// [`verify_vapid`], remembering headers that verified until their `exp`.
fn verify_vapid_once(
    inner: &Inner,
    authorization: String,
    crypto_key: Option<String>,
    now: u64,
) -> Result<Verified, String> {
    let key = (authorization, crypto_key);
    if let Some(hit) = inner.vapid_verified.lock().unwrap().get(&key) {
        if hit.0.exp > now {
            return Ok(hit.clone());
        }
    }
    let verified = verify_vapid(&key.0, key.1.as_deref(), &inner.origin, now)?;
    inner.vapid_verified.lock().unwrap().insert(key, verified.clone());
    Ok(verified)
}
