//! The HTTP server: accepts TCP connections and serves the API router on them (HTTP/1.1, and
//! HTTP/2 with prior knowledge), with limits that keep a flood of slow or idle connections from
//! taking every file descriptor and locking out real clients and `/healthz`.
//!
//! - **Header timeout.** A connection must finish its first request header within
//!   `header_read_timeout` of being accepted (this covers clients that send nothing, or half a
//!   header, or trickle it); hyper applies the same timeout to each later header.
//! - **Idle timeout.** A connection with no request in flight for `idle_timeout` is closed.
//! - **Connection cap.** At most `max_connections` are open at once. When a new one arrives at
//!   the cap, the oldest connection with no request in flight is closed to make room, so a
//!   flood of half-open connections churns through its own slots while a client that sends its
//!   request at once is served. Only when every open connection has a request in flight is the
//!   newcomer refused (closed at once).
//! - **Body deadline.** A request body must arrive within `header_read_timeout` of its header
//!   (see [`BodyDeadline`]): busy connections are never evicted, so trickled bodies would
//!   otherwise hold their slots.
//! - **Request time limit.** A request (including reading its body) that takes longer than
//!   [`REQUEST_TIME_LIMIT`] is answered 503.
//!
//! At start the soft open-file limit is raised to the hard limit, and the cap is kept below it.

use super::error::ApiError;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// Longest a request may take, body included. `POST /api/v1/messages?wait=true` waits up to
/// 60 s, so this leaves it room.
pub const REQUEST_TIME_LIMIT: Duration = Duration::from_secs(90);

/// File descriptors kept back from the connection cap for the database pool, push clients,
/// logs and the listener itself.
const RESERVED_DESCRIPTORS: u64 = 512;

/// The connection limits, from configuration.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

/// Raises the soft open-file limit to the hard limit and returns the soft limit now in force
/// (`None` where it cannot be read).
pub fn raise_open_file_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
        let limit = getrlimit(Resource::Nofile);
        if let (Some(current), hard) = (limit.current, limit.maximum) {
            let wanted = hard.unwrap_or(1 << 20);
            if wanted > current
                && setrlimit(
                    Resource::Nofile,
                    Rlimit {
                        current: Some(wanted),
                        maximum: hard,
                    },
                )
                .is_ok()
            {
                return Some(wanted);
            }
            return Some(current);
        }
        None
    }
    #[cfg(not(unix))]
    None
}

/// The cap actually used: the configured one, kept under the open-file limit.
pub fn effective_cap(configured: usize, open_file_limit: Option<u64>) -> usize {
    match open_file_limit {
        Some(limit) => configured.min(limit.saturating_sub(RESERVED_DESCRIPTORS).max(64) as usize),
        None => configured,
    }
}

/// One open connection, as the cap and the timeouts see it.
struct Tracked {
    id: u64,
    accepted: Instant,
    in_flight: AtomicUsize,
    requests: AtomicU64,
    /// When the last request finished, in milliseconds after `accepted`.
    last_done_ms: AtomicU64,
    evict: CancellationToken,
}

impl Tracked {
    /// When this connection is to be closed if nothing changes; `None` while a request runs.
    fn deadline(&self, limits: &ConnectionLimits) -> Option<Instant> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        if self.requests.load(Ordering::Acquire) == 0 {
            return Some(self.accepted + limits.header_read_timeout);
        }
        let last_done = Duration::from_millis(self.last_done_ms.load(Ordering::Acquire));
        Some(self.accepted + last_done + limits.idle_timeout)
    }

    /// Returns when the connection has outlived its header or idle timeout.
    async fn expired(&self, limits: &ConnectionLimits) {
        let recheck = limits.header_read_timeout.min(limits.idle_timeout);
        loop {
            let now = Instant::now();
            match self.deadline(limits) {
                Some(deadline) if deadline <= now => return,
                Some(deadline) => tokio::time::sleep_until(deadline.min(now + recheck)).await,
                None => tokio::time::sleep(recheck).await,
            }
        }
    }
}

/// Marks a request in flight on its connection until dropped.
struct InFlight(Arc<Tracked>);

impl InFlight {
    fn start(connection: Arc<Tracked>) -> Self {
        connection.requests.fetch_add(1, Ordering::AcqRel);
        connection.in_flight.fetch_add(1, Ordering::AcqRel);
        Self(connection)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let since_accept = self.0.accepted.elapsed().as_millis() as u64;
        self.0.last_done_ms.fetch_max(since_accept, Ordering::AcqRel);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The open connections in the order they were accepted.
struct Registry {
    cap: usize,
    next_id: AtomicU64,
    live: Mutex<BTreeMap<u64, Arc<Tracked>>>,
}

impl Registry {
    /// Makes room for a new connection (closing the oldest idle one at the cap) and registers
    /// it; `None` when every open connection is busy.
    fn admit(&self) -> Option<Arc<Tracked>> {
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        if live.len() >= self.cap {
            let victim = live
                .values()
                .find(|c| c.in_flight.load(Ordering::Acquire) == 0)
                .map(|c| c.id)?;
            if let Some(victim) = live.remove(&victim) {
                victim.evict.cancel();
            }
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let tracked = Arc::new(Tracked {
            id,
            accepted: Instant::now(),
            in_flight: AtomicUsize::new(0),
            requests: AtomicU64::new(0),
            last_done_ms: AtomicU64::new(0),
            evict: CancellationToken::new(),
        });
        live.insert(id, tracked.clone());
        Some(tracked)
    }

    fn release(&self, id: u64) {
        self.live.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
    }
}

/// Serves `router` on `listener` until `shutdown` is cancelled, then stops accepting, lets
/// requests in flight finish, and returns.
pub async fn serve(listener: TcpListener, router: Router, limits: ConnectionLimits, shutdown: CancellationToken) {
    let registry = Arc::new(Registry {
        cap: limits.max_connections.max(1),
        next_id: AtomicU64::new(0),
        live: Mutex::new(BTreeMap::new()),
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder.http2().timer(TokioTimer::new());
    let builder = Arc::new(builder);
    let tasks = TaskTracker::new();
    let mut last_accept_warning: Option<Instant> = None;
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of descriptors or memory: say so now and then, wait a moment.
                    if last_accept_warning.is_none_or(|at| at.elapsed() > Duration::from_secs(10)) {
                        tracing::warn!(error = %e, "accepting a connection failed");
                        last_accept_warning = Some(Instant::now());
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            _ = shutdown.cancelled() => break,
        };
        let Some(connection) = registry.admit() else {
            // Every slot has a request in flight: refuse by closing at once.
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (router, builder, registry, shutdown) =
            (router.clone(), builder.clone(), registry.clone(), shutdown.clone());
        tasks.spawn(async move {
            let tracked = connection.clone();
            let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(remote));
                let request = request.map(|body| BodyDeadline::new(body, limits.header_read_timeout));
                let in_flight = InFlight::start(tracked.clone());
                let router = router.clone();
                async move {
                    let answer = tokio::time::timeout(REQUEST_TIME_LIMIT, router.oneshot(request)).await;
                    drop(in_flight);
                    Ok::<_, std::convert::Infallible>(match answer {
                        Ok(Ok(response)) => response,
                        Ok(Err(never)) => match never {},
                        Err(_) => timed_out(),
                    })
                }
            });
            let served = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(served);
            let mut draining = false;
            loop {
                tokio::select! {
                    _ = served.as_mut() => break,
                    // Dropping the connection closes the socket.
                    _ = connection.expired(&limits) => break,
                    _ = connection.evict.cancelled() => break,
                    _ = shutdown.cancelled(), if !draining => {
                        served.as_mut().graceful_shutdown();
                        draining = true;
                    }
                }
            }
            registry.release(connection.id);
        });
    }
    tasks.close();
    tasks.wait().await;
}

/// A request body that must arrive within a deadline of its header. Without one, a client
/// that trickles a byte every few seconds into a public route's body keeps a request in
/// flight for the whole request time limit, and a few thousand such connections hold every
/// slot of the connection cap (busy connections are never evicted). Past the deadline the
/// body fails, so the handler answers 400 and the connection closes.
struct BodyDeadline {
    inner: Incoming,
    deadline: std::pin::Pin<Box<tokio::time::Sleep>>,
}

impl BodyDeadline {
    fn new(inner: Incoming, within: Duration) -> Self {
        Self {
            inner,
            deadline: Box::pin(tokio::time::sleep(within)),
        }
    }
}

impl hyper::body::Body for BodyDeadline {
    type Data = axum::body::Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        use std::future::Future as _;
        use std::task::Poll;
        if let Poll::Ready(frame) = std::pin::Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err("the request body did not arrive in time".into())));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// The answer to a request that outran [`REQUEST_TIME_LIMIT`]. It is made outside the router,
/// so it gets the router's `no-store` and `nosniff` here.
fn timed_out() -> axum::response::Response {
    use axum::http::{header, HeaderValue};
    let mut response = axum::response::IntoResponse::into_response(ApiError::new(
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        "timeout",
        "the request took too long",
    ));
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timeout_answer_is_not_cached() {
        let response = timed_out();
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers()["cache-control"], "no-store");
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    }

    #[test]
    fn the_cap_stays_under_the_open_file_limit() {
        assert_eq!(effective_cap(10_000, Some(1_048_576)), 10_000);
        assert_eq!(effective_cap(10_000, Some(4096)), 4096 - 512);
        assert_eq!(effective_cap(10_000, Some(256)), 64);
        assert_eq!(effective_cap(10_000, None), 10_000);
    }

    #[tokio::test]
    async fn deadlines_follow_the_first_header_then_idleness() {
        let limits = ConnectionLimits {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 2,
        };
        let registry = Registry {
            cap: 2,
            next_id: AtomicU64::new(0),
            live: Mutex::new(BTreeMap::new()),
        };
        let first = registry.admit().unwrap();
        assert_eq!(
            first.deadline(&limits),
            Some(first.accepted + limits.header_read_timeout)
        );
        let busy = InFlight::start(first.clone());
        assert_eq!(first.deadline(&limits), None);
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(busy);
        // Idle time counts from the end of the last request.
        let idle_deadline = first.deadline(&limits).unwrap();
        assert!(idle_deadline >= first.accepted + Duration::from_millis(20) + limits.idle_timeout);
        // At the cap the oldest idle connection makes room; busy ones are never closed.
        let second = registry.admit().unwrap();
        let _second_busy = InFlight::start(second.clone());
        let third = registry.admit().unwrap();
        assert!(first.evict.is_cancelled() && !second.evict.is_cancelled());
        let _third_busy = InFlight::start(third.clone());
        assert!(registry.admit().is_none());
    }
}
