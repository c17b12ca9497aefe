//! HTTP/2 connections to push services, pooled per origin, built on the `h2` crate over
//! `tokio-rustls`.
//!
//! Why not reqwest's (hyper-util's) pool: it checks out a connection per request and, when
//! the HTTP/2 connection it holds is "not ready" (its stream budget is used up, it is still
//! handshaking, or the server sent GOAWAY), it opens a new connection instead of waiting. A
//! broadcast with hundreds of pushes in flight to a service that allows 100 streams per
//! connection and closes connections every 2,000 streams opened hundreds of TLS connections
//! that way (372 in one run), closed most of them itself, and reported the streams cut by
//! those closes as "error sending request" without saying whether the server had processed
//! them, so they were sent again: duplicates. This pool instead:
//!
//! - reads each connection's `SETTINGS_MAX_CONCURRENT_STREAMS` (h2's
//!   `current_max_send_streams`) and counts the streams it has open on it; a request takes a
//!   stream on a connection that has room, waits while another connection is being opened,
//!   and opens a connection only when every open one is full;
//! - never closes a connection with streams in flight: a connection leaves the pool when the
//!   server says GOAWAY or the connection ends, and it is only dropped idle (no stream for
//!   [`IDLE_FOR`]), when h2 closes it gracefully;
//! - tells apart what the server never processed (a stream above GOAWAY's last-stream-id,
//!   refused with `REFUSED_STREAM`, or a request the connection could not start) from what it
//!   may have processed (a connection reset or I/O error mid-stream), see [`SendError`].
//!
//! Connections are made only to addresses [`EndpointPolicy::connectable`] allows (the SSRF
//! guard, applied at every connection, as the fallback client's resolver does), never through
//! a proxy, and responses are returned as they are (no redirects are followed). An origin
//! whose TLS handshake does not pick `h2` by ALPN is remembered as HTTP/1.1 for a while and
//! its pushes go to the fallback client (see `transport.rs`).

use super::coalesce::CoalescingIo;
use crate::endpoint_policy::{EndpointPolicy, EndpointRefused};
use crate::metrics::{Metrics, OriginMetrics};
use bytes::{Bytes, BytesMut};
use herald_push::request::PushRequest;
use herald_push::subscription::url_origin;
use http::HeaderMap;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio_rustls::TlsConnector;
use url::Url;

/// An unused connection is closed after this long.
pub const IDLE_FOR: Duration = Duration::from_secs(90);
/// How long an origin that answered ALPN without `h2` is sent to the fallback client.
const HTTP1_FOR: Duration = Duration::from_secs(600);
/// After a failed connection attempt, requests fail at once for this long instead of each
/// trying again (a service that is down would otherwise cost a connect timeout per push).
const CONNECT_FAILURE_HOLD: Duration = Duration::from_secs(1);
/// Error bodies are read up to this size (they only feed a log line and the classifier).
const MAX_ERROR_BODY: usize = 64 * 1024;
/// How long an answer's body may take after its headers.
const BODY_GRACE: Duration = Duration::from_secs(1);

/// An answer, as much of it as delivery needs.
#[derive(Debug)]
pub struct PushResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Why a connection to a push service could not be made; kept as text once it reaches the
/// origin's state, where later sends report it without trying again at once.
#[derive(Debug, thiserror::Error)]
enum ConnectError {
    #[error("{host}: {reason}")]
    BadHost { host: String, reason: String },
    #[error(transparent)]
    Refused(#[from] EndpointRefused),
    #[error("{0}")]
    Tcp(String),
    #[error("connecting to {host}:{port} timed out")]
    TimedOut { host: String, port: u16 },
    #[error("TLS with {host}: {source}")]
    Tls { host: String, source: std::io::Error },
    #[error("HTTP/2 with {host}: {source}")]
    Http2 { host: String, source: h2::Error },
}

/// Why a push got no answer.
#[derive(Debug)]
pub enum SendError {
    /// The push service did not process the request: refused with `REFUSED_STREAM`, above a
    /// GOAWAY's last-stream-id, or never started on a connection that was going away. Sending
    /// it again cannot produce a duplicate, and it does not count as an attempt.
    Unprocessed(String),
    /// No answer, and the push service may have processed it (connection reset or I/O error
    /// mid-stream, timeout), or no connection could be made: counts as an attempt.
    Failed(String),
}

/// What the pool did with a request.
pub enum Pooled {
    Answered(PushResponse),
    /// The origin does not speak HTTP/2: here is the request back, for the fallback client.
    Http1(PushRequest),
}

pub struct H2Pool {
    tls: TlsConnector,
    policy: EndpointPolicy,
    connect_timeout: Duration,
    metrics: Arc<Metrics>,
    origins: Mutex<HashMap<String, Arc<Origin>>>,
}

struct Origin {
    host: String,
    port: u16,
    metrics: Arc<OriginMetrics>,
    state: Mutex<OriginState>,
    /// A stream was freed, a connection opened or closed, or a connection attempt ended.
    changed: Notify,
    /// Requests waiting on `changed`; releases skip the notification when nobody waits.
    waiting: AtomicUsize,
}

#[derive(Default)]
struct OriginState {
    connections: Vec<Arc<Connection>>,
    connecting: bool,
    http1_until: Option<Instant>,
    connect_failure: Option<(Instant, String)>,
}

struct Connection {
    send: h2::client::SendRequest<Bytes>,
    /// Streams this pool has open on it.
    streams: AtomicUsize,
    flags: Arc<ConnectionFlags>,
    /// Milliseconds since `created` of the last stream's end.
    idle_since_ms: AtomicU64,
    created: Instant,
}

/// Shared with the task driving the connection (which must not hold the `SendRequest`, or
/// the connection could never close on idle).
#[derive(Default)]
struct ConnectionFlags {
    /// The connection ended, or the server said GOAWAY: no new streams on it.
    closed: AtomicBool,
}

/// One stream reserved on a connection; freed on drop.
struct Stream {
    connection: Arc<Connection>,
    origin: Arc<Origin>,
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.connection.streams.fetch_sub(1, Ordering::AcqRel);
        let now = self.connection.created.elapsed().as_millis() as u64;
        self.connection.idle_since_ms.store(now, Ordering::Relaxed);
        self.origin.notify_if_waiting();
    }
}

/// A request counted in `Origin::waiting` until it stops waiting, however it stops (its
/// push's timeout can drop it mid-wait).
struct Waiting<'a>(&'a Origin);

impl<'a> Waiting<'a> {
    fn register(origin: &'a Origin) -> Self {
        origin.waiting.fetch_add(1, Ordering::AcqRel);
        Self(origin)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The origin's one connection attempt. If the opener's future is dropped before the attempt
/// ends (its push timed out first), this clears `connecting` and wakes the waiters, so one of
/// them tries again; otherwise nobody would ever connect to the origin again.
struct ConnectAttempt<'a>(Option<&'a Origin>);

impl Drop for ConnectAttempt<'_> {
    fn drop(&mut self) {
        if let Some(origin) = self.0 {
            origin.lock().connecting = false;
            origin.changed.notify_waiters();
        }
    }
}

impl Origin {
    fn notify_if_waiting(&self) {
        if self.waiting.load(Ordering::Acquire) > 0 {
            self.changed.notify_waiters();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, OriginState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Connection {
    fn is_open(&self) -> bool {
        !self.flags.closed.load(Ordering::Acquire)
    }

    fn has_room(&self) -> bool {
        self.streams.load(Ordering::Acquire) < self.send.current_max_send_streams()
    }

    fn idle_for(&self) -> Option<Duration> {
        if self.streams.load(Ordering::Acquire) > 0 {
            return None;
        }
        let since = Duration::from_millis(self.idle_since_ms.load(Ordering::Relaxed));
        Some(self.created.elapsed().saturating_sub(since))
    }

    fn mark_closed(&self) {
        self.flags.closed.store(true, Ordering::Release);
    }
}

enum Acquired {
    Stream(Stream),
    Http1,
}

impl H2Pool {
    pub fn new(
        tls: Arc<rustls::ClientConfig>,
        policy: EndpointPolicy,
        connect_timeout: Duration,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            tls: TlsConnector::from(tls),
            policy,
            connect_timeout,
            metrics,
            origins: Mutex::new(HashMap::new()),
        }
    }

    /// Sends one push over HTTP/2 and reads its answer. The caller bounds the time.
    pub async fn send(&self, request: PushRequest) -> Result<Pooled, SendError> {
        let Some(origin) = self.origin(&request.url) else {
            return Err(SendError::Failed("the endpoint has no host".into()));
        };
        let stream = match self.acquire(&origin).await? {
            Acquired::Stream(stream) => stream,
            Acquired::Http1 => return Ok(Pooled::Http1(request)),
        };
        let result = exchange(&stream.connection, request).await;
        drop(stream);
        result.map(Pooled::Answered)
    }

    /// The pool's state for a URL's origin, keyed as `Endpoint::origin` writes it, so the
    /// pool's gauges and the window's share one series; found without allocating.
    fn origin(&self, url: &Url) -> Option<Arc<Origin>> {
        let key = url_origin(url);
        let mut origins = self.origins.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(origin) = origins.get(key.as_ref()) {
            return Some(origin.clone());
        }
        let origin = Arc::new(Origin {
            host: url.host_str()?.to_owned(),
            port: url.port_or_known_default()?,
            metrics: self.metrics.origin(&key),
            state: Mutex::new(OriginState::default()),
            changed: Notify::new(),
            waiting: AtomicUsize::new(0),
        });
        origins.insert(key.into_owned(), origin.clone());
        Some(origin)
    }

    /// A stream on a connection with room: an open one if any has room, else a new one (only
    /// one connection attempt per origin at a time; the others wait for it).
    async fn acquire(&self, origin: &Arc<Origin>) -> Result<Acquired, SendError> {
        loop {
            let notified = origin.changed.notified();
            tokio::pin!(notified);
            let waiting = {
                let mut state = origin.lock();
                if state.http1_until.is_some_and(|until| Instant::now() < until) {
                    return Ok(Acquired::Http1);
                }
                state.connections.retain(|c| c.is_open());
                if let Some(stream) = take_stream(origin, &state.connections) {
                    return Ok(Acquired::Stream(stream));
                }
                if state.connecting {
                    // Registered before the lock is released, so no wake-up is missed.
                    notified.as_mut().enable();
                    Some(Waiting::register(origin))
                } else {
                    if let Some((at, error)) = &state.connect_failure {
                        if at.elapsed() < CONNECT_FAILURE_HOLD {
                            return Err(SendError::Failed(error.clone()));
                        }
                    }
                    state.connecting = true;
                    None
                }
            };
            let Some(waiting) = waiting else {
                // Boxed: connecting (TCP, TLS, the HTTP/2 handshake) is a future of kilobytes
                // that a push needs once per connection, not once per push; inline, every
                // push's task would carry and copy it.
                return Box::pin(self.open_and_take(origin)).await;
            };
            notified.await;
            drop(waiting);
        }
    }

    async fn open_and_take(&self, origin: &Arc<Origin>) -> Result<Acquired, SendError> {
        let mut attempt = ConnectAttempt(Some(origin));
        let opened = match tokio::time::timeout(self.connect_timeout, self.connect(origin)).await {
            Ok(result) => result,
            Err(_) => Err(ConnectError::TimedOut {
                host: origin.host.clone(),
                port: origin.port,
            }),
        };
        let mut state = origin.lock();
        state.connecting = false;
        attempt.0 = None;
        let result = match opened {
            Ok(Some(connection)) => {
                state.connect_failure = None;
                state.connections.push(connection.clone());
                connection.streams.fetch_add(1, Ordering::AcqRel);
                Ok(Acquired::Stream(Stream {
                    connection,
                    origin: origin.clone(),
                }))
            }
            Ok(None) => {
                state.http1_until = Some(Instant::now() + HTTP1_FOR);
                Ok(Acquired::Http1)
            }
            Err(error) => {
                let error = error.to_string();
                state.connect_failure = Some((Instant::now(), error.clone()));
                Err(SendError::Failed(error))
            }
        };
        drop(state);
        origin.changed.notify_waiters();
        result
    }

    /// TCP to an address the policy allows, TLS, ALPN; `None` if the server did not pick h2.
    async fn connect(&self, origin: &Arc<Origin>) -> Result<Option<Arc<Connection>>, ConnectError> {
        let bad_host = |reason: String| ConnectError::BadHost {
            host: origin.host.clone(),
            reason,
        };
        let parsed = url::Host::parse(&origin.host).map_err(|e| bad_host(e.to_string()))?;
        let host = match &parsed {
            url::Host::Domain(name) => url::Host::Domain(name.as_str()),
            url::Host::Ipv4(ip) => url::Host::Ipv4(*ip),
            url::Host::Ipv6(ip) => url::Host::Ipv6(*ip),
        };
        let addrs = self.policy.connectable(&host, origin.port).await?;
        let mut last_error = String::new();
        let mut tcp = None;
        for addr in addrs {
            match TcpStream::connect(addr).await {
                Ok(stream) => {
                    tcp = Some(stream);
                    break;
                }
                Err(e) => last_error = format!("connecting to {addr}: {e}"),
            }
        }
        let tcp = tcp.ok_or(ConnectError::Tcp(last_error))?;
        let _ = tcp.set_nodelay(true);
        let server_name = match &host {
            url::Host::Domain(name) => rustls::pki_types::ServerName::try_from(name.to_string()),
            url::Host::Ipv4(ip) => Ok(rustls::pki_types::ServerName::from(std::net::IpAddr::V4(*ip))),
            url::Host::Ipv6(ip) => Ok(rustls::pki_types::ServerName::from(std::net::IpAddr::V6(*ip))),
        }
        .map_err(|e| bad_host(e.to_string()))?;
        let tls = self
            .tls
            .connect(server_name, tcp)
            .await
            .map_err(|source| ConnectError::Tls {
                host: origin.host.clone(),
                source,
            })?;
        if tls.get_ref().1.alpn_protocol() != Some(b"h2") {
            return Ok(None);
        }
        let (send, mut connection) = h2::client::Builder::new()
            // Push answers are small; a larger window only matters for long error bodies.
            .initial_window_size(256 * 1024)
            .initial_connection_window_size(4 * 1024 * 1024)
            .enable_push(false)
            .handshake::<_, Bytes>(CoalescingIo::new(tls))
            .await
            .map_err(|source| ConnectError::Http2 {
                host: origin.host.clone(),
                source,
            })?;
        let mut ping = connection.ping_pong();
        let flags = Arc::new(ConnectionFlags::default());
        origin.metrics.connection_opened();
        {
            let flags = flags.clone();
            let origin = origin.clone();
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::debug!(host = %origin.host, error = %e, "push service connection ended");
                }
                flags.closed.store(true, Ordering::Release);
                origin.metrics.connection_closed();
                origin.changed.notify_waiters();
            });
        }
        // The server's SETTINGS come before its answer to a PING: after one round trip the
        // stream limit read below is the server's, not h2's "unlimited" placeholder.
        if let Some(ping) = ping.as_mut() {
            ping.ping(h2::Ping::opaque())
                .await
                .map_err(|source| ConnectError::Http2 {
                    host: origin.host.clone(),
                    source,
                })?;
        }
        Ok(Some(Arc::new(Connection {
            send,
            streams: AtomicUsize::new(0),
            flags,
            idle_since_ms: AtomicU64::new(0),
            created: Instant::now(),
        })))
    }

    /// Drops connections unused for [`IDLE_FOR`] (h2 then closes them gracefully) and
    /// forgets origins with nothing open.
    pub fn sweep_idle(&self) {
        let mut origins = self.origins.lock().unwrap_or_else(|p| p.into_inner());
        origins.retain(|_, origin| {
            let mut state = origin.lock();
            state
                .connections
                .retain(|c| c.is_open() && c.idle_for().is_none_or(|idle| idle < IDLE_FOR));
            let http1 = state.http1_until.is_some_and(|until| Instant::now() < until);
            !state.connections.is_empty() || state.connecting || http1
        });
    }

    /// Connections this pool holds to `origin` (`scheme://host[:port]`), for tests.
    pub fn open_connections(&self, origin: &str) -> usize {
        let origins = self.origins.lock().unwrap_or_else(|p| p.into_inner());
        origins
            .get(origin)
            .map(|o| o.lock().connections.iter().filter(|c| c.is_open()).count())
            .unwrap_or(0)
    }
}

/// Reserves a stream on the open connection with room that has the most streams (filling
/// connections in turn keeps their number low).
fn take_stream(origin: &Arc<Origin>, connections: &[Arc<Connection>]) -> Option<Stream> {
    let connection = connections
        .iter()
        .filter(|c| c.has_room())
        .max_by_key(|c| c.streams.load(Ordering::Acquire))?;
    connection.streams.fetch_add(1, Ordering::AcqRel);
    Some(Stream {
        connection: connection.clone(),
        origin: origin.clone(),
    })
}

/// One request and its answer on a reserved stream.
async fn exchange(connection: &Connection, push: PushRequest) -> Result<PushResponse, SendError> {
    let body = Bytes::from(push.body);
    let mut request = http::Request::builder()
        .method(http::Method::POST)
        .uri(push.url.as_str())
        .body(())
        .map_err(|e| SendError::Failed(format!("building the request: {e}")))?;
    let headers = request.headers_mut();
    *headers = push.headers;
    headers.insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(body.len()));
    headers.insert(
        http::header::USER_AGENT,
        http::HeaderValue::from_static(concat!("herald/", env!("CARGO_PKG_VERSION"))),
    );
    // Anything failing before the stream exists was not sent; the connection takes no more.
    let not_started = |e: h2::Error| {
        connection.mark_closed();
        SendError::Unprocessed(format!("stream not started (GOAWAY or closed): {e}"))
    };
    let mut send = connection.send.clone().ready().await.map_err(not_started)?;
    let (response, stream) = send.send_request(request, body.is_empty()).map_err(not_started)?;
    answer(connection, response, stream, body).await
}

/// Sends the body of a started request and reads the answer.
///
/// A service may answer on the headers alone and end the stream before the body arrives
/// (nginx's `return 201` answers, then resets the stream with `NO_ERROR`; a service can refuse
/// an endpoint by its URL the same way). If that happens between starting the request and
/// sending its body, the body cannot be sent ("inactive stream"), but the answer stands: it
/// is read, not reported as an ambiguous failure that would send the push again.
async fn answer(
    connection: &Connection,
    response: h2::client::ResponseFuture,
    mut stream: h2::SendStream<Bytes>,
    body: Bytes,
) -> Result<PushResponse, SendError> {
    if !body.is_empty() {
        if let Err(e) = stream.send_data(body, true) {
            tracing::debug!(error = %e, "the body was not sent; reading the answer");
        }
    }
    // Without an answer, the stream's own error says what happened (a reset, GOAWAY, I/O).
    let response = response.await.map_err(|e| classify(connection, e))?;
    let (parts, mut body) = response.into_parts();
    let mut received = BytesMut::new();
    // The status is in: a body cut short, or one that never ends, does not change what the
    // service said (waiting on it, the push's timeout would turn a 201 into a retry).
    let read = async {
        while let Some(chunk) = body.data().await {
            let Ok(chunk) = chunk else { break };
            let _ = body.flow_control().release_capacity(chunk.len());
            if received.len() < MAX_ERROR_BODY {
                received.extend_from_slice(&chunk[..chunk.len().min(MAX_ERROR_BODY - received.len())]);
            }
        }
    };
    if tokio::time::timeout(BODY_GRACE, read).await.is_err() {
        tracing::debug!(status = %parts.status, "the answer's body did not end; keeping its status");
    }
    Ok(PushResponse {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body: received.freeze(),
    })
}

/// A stream's error: unprocessed (safe to send again, not an attempt) or ambiguous.
fn classify(connection: &Connection, error: h2::Error) -> SendError {
    if error.is_go_away() || error.is_io() {
        connection.mark_closed();
    }
    if error.is_go_away() && error.is_remote() {
        // Only streams above the GOAWAY's last-stream-id get the remote GOAWAY as their
        // error; streams the server kept that are then cut get an I/O error instead.
        SendError::Unprocessed(format!("above the GOAWAY's last stream: {error}"))
    } else if error.is_reset() && error.is_remote() && error.reason() == Some(h2::Reason::REFUSED_STREAM) {
        SendError::Unprocessed(format!("refused: {error}"))
    } else {
        SendError::Failed(format!("{error}"))
    }
}

#[cfg(test)]
mod tests;
