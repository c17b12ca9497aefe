//! Fault injection against the push service: server errors, 429 with Retry-After (seconds and
//! HTTP dates), answers slower than the push timeout, connection resets, and subscriptions
//! that are gone. After every run: each live device has the message exactly once (one push
//! answered 2xx, nothing sent to it after that), gone subscriptions are pruned, the message's
//! counts add up, and Retry-After was respected.

use crate::helpers::*;
use herald_testkit::{Browser, MockResponse, ReceivedPush};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn options(extra: &[(&'static str, &str)]) -> Options {
    let mut env = vec![("HERALD_RETRY_BASE_MS", "20".to_owned())];
    env.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    Options {
        env,
        ..Default::default()
    }
}

fn is_2xx(p: &ReceivedPush) -> bool {
    (200..300).contains(&p.answered)
}

async fn listed_ids(app: &TestApp) -> HashSet<String> {
    let body: Value = app
        .admin_get("/api/v1/subscriptions?limit=1000")
        .await
        .json()
        .await
        .unwrap();
    body["subscriptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Waits for the message to settle, then a little longer to catch late re-sends, and checks
/// the invariants. Returns the message.
async fn check_run(app: &TestApp, id: &str, title: &str, live: &[&Device], gone: &[&Device]) -> Value {
    app.wait_settled(id).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let m = app.message(id).await;
    let count = |k: &str| m[k].as_i64().unwrap_or_else(|| panic!("{k} in {m}"));
    assert_eq!(count("pending"), 0, "{m}");
    assert_eq!(
        count("targets"),
        count("accepted") + count("failed") + count("gone"),
        "the counts do not add up: {m}"
    );
    for d in live {
        let pushes = app.push.received_by(&d.endpoint);
        let ok: Vec<&ReceivedPush> = pushes.iter().filter(|p| is_2xx(p)).collect();
        assert_eq!(
            ok.len(),
            1,
            "{}: {} pushes answered 2xx: {pushes:?}",
            d.endpoint,
            ok.len()
        );
        assert_eq!(ok[0].json()["notification"]["title"], title);
        assert!(ok[0].vapid.is_ok(), "{:?}", ok[0].vapid);
        assert!(
            pushes.iter().all(|p| p.at <= ok[0].at),
            "{}: sent again after a 2xx: {pushes:?}",
            d.endpoint
        );
    }
    let listed = listed_ids(app).await;
    for d in live {
        assert!(listed.contains(&d.id), "live subscription {} was removed", d.endpoint);
    }
    for d in gone {
        assert!(
            !listed.contains(&d.id),
            "gone subscription {} was not pruned",
            d.endpoint
        );
        let pushes = app.push.received_by(&d.endpoint);
        assert!(
            matches!(pushes.last().map(|p| p.answered), Some(404 | 410)),
            "{pushes:?}"
        );
        assert!(!pushes.iter().any(is_2xx));
    }
    m
}

/// How early a retry may come. Herald counts Retry-After from when it started the attempt,
/// not from the answer (see `retry_after_counts_from_the_answer`), so a retry can come early
/// by the request's latency, which is large under a parallel test run on two cores.
const EARLY: Duration = Duration::from_millis(250);

/// Asserts that push `later` came no earlier than `wait` after push `earlier` (less
/// [`EARLY`]).
fn assert_gap(endpoint: &str, earlier: &ReceivedPush, later: &ReceivedPush, wait: Duration) {
    let gap = later.at.duration_since(earlier.at);
    assert!(
        gap + EARLY >= wait,
        "{endpoint}: retried after {gap:?}, but Retry-After asked for {wait:?}"
    );
}

/// Registers a mock device for uid `name` that answers `script`, then `default`.
async fn register_scripted(app: &TestApp, name: String, default: MockResponse, script: Vec<MockResponse>) -> Device {
    let (endpoint, browser) = app.push.add_device_with(default);
    app.push.script(&endpoint, script);
    app.register_existing(json!({"uid": name}), endpoint, browser).await
}

#[tokio::test]
async fn errors_rate_limits_and_gone_subscriptions_in_one_broadcast() {
    let app = spawn_app_with(options(&[])).await;
    let mut healthy = Vec::new();
    for i in 0..8 {
        healthy.push(app.register_device(json!({"uid": format!("healthy{i}")})).await);
    }
    let register = |name: &str, default: MockResponse, script: Vec<MockResponse>| {
        register_scripted(&app, name.to_owned(), default, script)
    };
    let created = MockResponse::created;
    let mut errors = Vec::new();
    for i in 0..4 {
        let s = vec![MockResponse::status(500), MockResponse::status(502).body("bad gateway")];
        errors.push(register(&format!("errors{i}"), created(), s).await);
    }
    let mut limited = Vec::new();
    for i in 0..4 {
        let s = vec![MockResponse::status(429).retry_after("1")];
        limited.push(register(&format!("limited{i}"), created(), s).await);
    }
    // An HTTP date three seconds ahead (whole seconds: the retry is due at that instant).
    let (base_instant, base_wall) = (Instant::now(), SystemTime::now());
    let date = base_wall + Duration::from_secs(3);
    let date_text = httpdate::fmt_http_date(date);
    let date_instant = base_instant
        + httpdate::parse_http_date(&date_text)
            .unwrap()
            .duration_since(base_wall)
            .unwrap_or_default();
    let mut dated = Vec::new();
    for i in 0..4 {
        let s = vec![MockResponse::status(503).retry_after(&date_text)];
        dated.push(register(&format!("dated{i}"), created(), s).await);
    }
    let mut gone = Vec::new();
    for i in 0..4 {
        gone.push(register(&format!("gone{i}"), MockResponse::status(410), vec![]).await);
    }
    for i in 0..2 {
        gone.push(register(&format!("notfound{i}"), MockResponse::status(404), vec![]).await);
    }
    for i in 0..2 {
        let s = vec![MockResponse::status(500), MockResponse::status(503)];
        gone.push(register(&format!("flaky-then-gone{i}"), MockResponse::status(410), s).await);
    }
    let mut refused = Vec::new();
    for i in 0..2 {
        refused.push(register(&format!("refused{i}"), MockResponse::status(400), vec![]).await);
    }

    let id = app.send(json!({"to": {"all": "clients"}, "title": "Faults"})).await;
    let live: Vec<&Device> = healthy.iter().chain(&errors).chain(&limited).chain(&dated).collect();
    let gone_refs: Vec<&Device> = gone.iter().collect();
    let m = check_run(&app, &id, "Faults", &live, &gone_refs).await;
    assert_eq!(
        (
            m["targets"].as_i64(),
            m["accepted"].as_i64(),
            m["gone"].as_i64(),
            m["failed"].as_i64()
        ),
        (Some(30), Some(20), Some(8), Some(2)),
        "{m}"
    );
    for d in &healthy {
        assert_eq!(app.push.received_by(&d.endpoint).len(), 1);
    }
    for d in &errors {
        let p = app.push.received_by(&d.endpoint);
        assert_eq!(p.iter().map(|p| p.answered).collect::<Vec<_>>(), [500, 502, 201]);
    }
    for d in &limited {
        let p = app.push.received_by(&d.endpoint);
        assert_eq!(p.iter().map(|p| p.answered).collect::<Vec<_>>(), [429, 201]);
        assert_gap(&d.endpoint, &p[0], &p[1], Duration::from_secs(1));
    }
    for d in &dated {
        let p = app.push.received_by(&d.endpoint);
        assert_eq!(p.iter().map(|p| p.answered).collect::<Vec<_>>(), [503, 201]);
        assert!(
            p[1].at + EARLY >= date_instant,
            "{}: retried {:?} before the Retry-After date {date_text}",
            d.endpoint,
            date_instant.duration_since(p[1].at)
        );
    }
    for d in &gone[6..] {
        let p = app.push.received_by(&d.endpoint);
        assert_eq!(p.iter().map(|p| p.answered).collect::<Vec<_>>(), [500, 503, 410]);
    }
    for d in &refused {
        // A permanent refusal is not retried and does not remove the subscription.
        assert_eq!(app.push.received_by(&d.endpoint).len(), 1);
    }
    let listed = listed_ids(&app).await;
    assert_eq!(listed.len(), 22);
    assert!(refused.iter().all(|d| listed.contains(&d.id)));
}

#[tokio::test]
async fn answers_slower_than_the_push_timeout_are_retried() {
    let app = spawn_app_with(options(&[
        ("HERALD_PUSH_TIMEOUT_SECONDS", "1"),
        ("HERALD_MAX_ATTEMPTS", "3"),
    ]))
    .await;
    let slow = Duration::from_millis(2500);
    let mut healthy = Vec::new();
    for i in 0..3 {
        healthy.push(app.register_device(json!({"uid": format!("fast{i}")})).await);
    }
    // A gateway that hangs and then fails: Herald gives up at 1 s and tries again.
    let mut hung = Vec::new();
    for i in 0..3 {
        let (endpoint, browser) = app.push.add_device();
        app.push.script(&endpoint, vec![MockResponse::status(504).delay(slow)]);
        hung.push(
            app.register_existing(json!({"uid": format!("hung{i}")}), endpoint, browser)
                .await,
        );
    }
    // Always slower than the timeout: failed after three attempts, still subscribed.
    let mut always_slow = Vec::new();
    for i in 0..2 {
        let (endpoint, browser) = app.push.add_device_with(MockResponse::created().delay(slow));
        always_slow.push(
            app.register_existing(json!({"uid": format!("slow{i}")}), endpoint, browser)
                .await,
        );
    }
    // Slow but accepting: Herald cannot know the first one arrived, so the device may get it
    // twice; at-least-once is the contract here.
    let (endpoint, browser) = app.push.add_device();
    app.push.script(&endpoint, vec![MockResponse::created().delay(slow)]);
    let late = app.register_existing(json!({"uid": "late"}), endpoint, browser).await;

    let id = app.send(json!({"to": {"all": "clients"}, "title": "Slow"})).await;
    // The fast devices are not held up by the slow ones: theirs are answered before any slow
    // push reaches the 1 s timeout (each counts a retry then). The slow ones are answered
    // after 2.5 s, so the first three answers are the fast ones.
    let pushes = app.push.wait_for(3, Duration::from_secs(20)).await;
    let retries_by_then = app.app_state.metrics.pushes("retry");
    for d in &healthy {
        let p: Vec<_> = pushes
            .iter()
            .filter(|p| d.endpoint.ends_with(&format!("/{}", p.device)))
            .collect();
        assert_eq!(p.len(), 1, "{}", d.endpoint);
    }
    assert_eq!(retries_by_then, 0, "the fast devices waited for a slow one's timeout");
    let live: Vec<&Device> = healthy.iter().chain(&hung).collect();
    let m = check_run(&app, &id, "Slow", &live, &[]).await;
    assert_eq!(
        (m["targets"].as_i64(), m["accepted"].as_i64(), m["failed"].as_i64()),
        (Some(9), Some(7), Some(2)),
        "{m}"
    );
    let late_ok = app
        .push
        .received_by(&late.endpoint)
        .iter()
        .filter(|p| is_2xx(p))
        .count();
    assert!((1..=2).contains(&late_ok), "{late_ok}");
    let listed = listed_ids(&app).await;
    assert!(always_slow.iter().all(|d| listed.contains(&d.id)));
    // Each always-slow device was tried exactly three times, never more.
    tokio::time::sleep(slow).await;
    for d in &always_slow {
        let n = app.push.received_by(&d.endpoint).len();
        assert!(n <= 3, "{}: {n} attempts", d.endpoint);
    }
}

/// What a raw endpoint does with connection number `k` (counting from 0).
#[derive(Clone, Copy)]
enum Misbehaviour {
    /// Accept and close at once, before reading anything.
    Close,
    /// Read the whole request, then reset the connection (RST) without answering.
    ResetAfterRequest,
}

/// A plain TCP "push service" that misbehaves on its first `bad` connections and then answers
/// 201 to a well-formed request. Counts connections and 201s.
struct RawEndpoint {
    url: String,
    connections: Arc<AtomicUsize>,
    served: Arc<AtomicUsize>,
}

async fn raw_endpoint(misbehaviour: Misbehaviour, bad: usize) -> RawEndpoint {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/push/raw", listener.local_addr().unwrap());
    let connections = Arc::new(AtomicUsize::new(0));
    let served = Arc::new(AtomicUsize::new(0));
    let (c, s) = (connections.clone(), served.clone());
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let k = c.fetch_add(1, Ordering::SeqCst);
            let s = s.clone();
            tokio::spawn(async move {
                if k < bad {
                    match misbehaviour {
                        Misbehaviour::Close => drop(stream),
                        Misbehaviour::ResetAfterRequest => {
                            let _ = read_request(&mut stream).await;
                            // Linger 0: the close is a reset (RST), not an orderly FIN.
                            #[allow(deprecated)]
                            let _ = stream.set_linger(Some(Duration::ZERO));
                            drop(stream);
                        }
                    }
                    return;
                }
                if read_request(&mut stream).await.is_some() {
                    let answer = "HTTP/1.1 201 Created\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
                    if stream.write_all(answer.as_bytes()).await.is_ok() {
                        s.fetch_add(1, Ordering::SeqCst);
                    }
                    let _ = stream.shutdown().await;
                }
            });
        }
    });
    RawEndpoint {
        url,
        connections,
        served,
    }
}

/// Reads one HTTP/1.1 request with a Content-Length body; `None` if it never completes.
async fn read_request(stream: &mut tokio::net::TcpStream) -> Option<Vec<u8>> {
    let mut data = Vec::new();
    let mut buf = [0u8; 8192];
    let read = async {
        loop {
            if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                if data.len() >= end + 4 + length {
                    return Some(data.clone());
                }
            }
            let n = stream.read(&mut buf).await.ok()?;
            if n == 0 {
                return None;
            }
            data.extend_from_slice(&buf[..n]);
        }
    };
    tokio::time::timeout(Duration::from_secs(5), read).await.ok()?
}

#[tokio::test]
async fn connection_resets_are_retried_and_a_dead_endpoint_fails() {
    let app = spawn_app_with(options(&[("HERALD_MAX_ATTEMPTS", "4")])).await;
    let healthy = [
        app.register_device(json!({"uid": "h1"})).await,
        app.register_device(json!({"uid": "h2"})).await,
    ];
    let endpoints = [
        ("closes-always", raw_endpoint(Misbehaviour::Close, usize::MAX).await),
        (
            "resets-always",
            raw_endpoint(Misbehaviour::ResetAfterRequest, usize::MAX).await,
        ),
        ("closes-twice", raw_endpoint(Misbehaviour::Close, 2).await),
        ("resets-once", raw_endpoint(Misbehaviour::ResetAfterRequest, 1).await),
        (
            "resets-three-times",
            raw_endpoint(Misbehaviour::ResetAfterRequest, 3).await,
        ),
    ];
    for (name, e) in &endpoints {
        app.register_existing(json!({"uid": name}), e.url.clone(), Browser::generate())
            .await;
    }
    let id = app.send(json!({"to": {"all": "clients"}, "title": "Resets"})).await;
    let healthy_refs: Vec<&Device> = healthy.iter().collect();
    let m = check_run(&app, &id, "Resets", &healthy_refs, &[]).await;
    assert_eq!(
        (
            m["targets"].as_i64(),
            m["accepted"].as_i64(),
            m["failed"].as_i64(),
            m["gone"].as_i64()
        ),
        (Some(7), Some(5), Some(2), Some(0)),
        "{m}"
    );
    let counts: Vec<(&str, usize, usize)> = endpoints
        .iter()
        .map(|(name, e)| {
            (
                *name,
                e.connections.load(Ordering::SeqCst),
                e.served.load(Ordering::SeqCst),
            )
        })
        .collect();
    assert_eq!(
        counts,
        [
            ("closes-always", 4, 0),
            ("resets-always", 4, 0),
            ("closes-twice", 3, 1),
            ("resets-once", 2, 1),
            ("resets-three-times", 4, 1),
        ],
        "(endpoint, connections, 201s served)"
    );
    // Failing endpoints are kept: a transport error says nothing about the subscription.
    assert_eq!(listed_ids(&app).await.len(), 7);
}

/// RFC 9110 §10.2.3: Retry-After's delay-seconds count from when the response is received.
#[tokio::test]
async fn retry_after_counts_from_the_answer() {
    let app = spawn_app_with(options(&[])).await;
    let (endpoint, browser) = app.push.add_device();
    app.push.script(
        &endpoint,
        vec![MockResponse::status(429)
            .retry_after("2")
            .delay(Duration::from_millis(1500))],
    );
    let d = app.register_existing(json!({"uid": 1}), endpoint, browser).await;
    let id = app.send(json!({"to": {"uid": 1}, "title": "Later"})).await;
    check_run(&app, &id, "Later", &[&d], &[]).await;
    let p = app.push.received_by(&d.endpoint);
    assert_eq!(p.iter().map(|p| p.answered).collect::<Vec<_>>(), [429, 201]);
    // `at` is when the request arrived; the answer left 1.5 s later, so the retry is due
    // 3.5 s after `at` (the tolerance in assert_gap is far below the 1.5 s at stake).
    assert_gap(&d.endpoint, &p[0], &p[1], Duration::from_millis(1500 + 2000));
}

/// A Retry-After too large for the message's lifetime must neither be ignored (re-sent at
/// once) nor crash the sender; the target waits (or fails, as it would expire first).
#[tokio::test]
async fn huge_retry_after_values_are_not_ignored() {
    let app = spawn_app_with(options(&[("HERALD_DELIVERY_LEASE_SECONDS", "5")])).await;
    let mut devices = Vec::new();
    for (i, value) in ["31536000", "9223372036854775", "18446744073709551615"]
        .iter()
        .enumerate()
    {
        let (endpoint, browser) = app.push.add_device();
        app.push
            .script(&endpoint, vec![MockResponse::status(429).retry_after(value)]);
        devices.push((
            *value,
            app.register_existing(json!({"uid": i}), endpoint, browser).await,
        ));
    }
    let id = app
        .send(json!({"to": {"all": "clients"}, "title": "Never mind", "ttl": 60}))
        .await;
    app.push.wait_for(devices.len(), Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    let mut resent = Vec::new();
    for (value, d) in &devices {
        let n = app.push.received_by(&d.endpoint).len();
        if n != 1 {
            resent.push(format!("Retry-After: {value} -> {n} pushes"));
        }
    }
    // The engine still works.
    let fresh = app.register_device(json!({"uid": "fresh"})).await;
    let id2 = app.send(json!({"to": {"uid": "fresh"}, "title": "Still here"})).await;
    check_run(&app, &id2, "Still here", &[&fresh], &[]).await;
    assert!(resent.is_empty(), "re-sent despite Retry-After: {resent:?}");
    let m = app.message(&id).await;
    assert_eq!(m["accepted"], 0, "{m}");
}

/// Writes from the API (registrations, messages, receipts) while the delivery engine is
/// settling a broadcast never fail with a server error.
#[tokio::test]
async fn registering_while_a_broadcast_is_delivered_never_fails() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("herald=warn")
        .with_test_writer()
        .try_init();
    let app = spawn_app_with(options(&[("HERALD_DELIVERY_CONCURRENCY", "32")])).await;
    let mut devices = Vec::new();
    for i in 0..150 {
        let (endpoint, browser) = app
            .push
            .add_device_with(MockResponse::created().delay(Duration::from_millis(10)));
        devices.push(app.register_existing(json!({"uid": i}), endpoint, browser).await);
    }
    let mut failures = Vec::new();
    for round in 0..3 {
        let id = app
            .send(json!({"to": {"all": "clients"}, "title": format!("Round {round}")}))
            .await;
        // Register new devices and send messages while the broadcast settles.
        let mut statuses = Vec::new();
        for i in 0..60 {
            let (endpoint, browser) = app
                .push
                .add_device_with(MockResponse::created().delay(Duration::from_millis(10)));
            let body = json!({"subscription": browser.subscription_json(&endpoint), "uid": format!("new{round}-{i}")});
            let response = app.admin_post("/api/v1/subscriptions", body).await;
            statuses.push(("register", response.status().as_u16(), response.text().await.unwrap()));
            if i % 10 == 0 {
                let response = app
                    .admin_post("/api/v1/messages", json!({"to": {"uid": i}, "title": "side"}))
                    .await;
                statuses.push(("send", response.status().as_u16(), response.text().await.unwrap()));
            }
        }
        failures.extend(
            statuses
                .into_iter()
                .filter(|(_, s, _)| *s >= 500)
                .map(|(what, s, body)| format!("round {round}: {what} -> {s} {body}")),
        );
        app.wait_settled(&id).await;
    }
    assert!(
        failures.is_empty(),
        "{} server errors:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The simplest form of the same problem: registrations sent in parallel, nothing else
/// running. Each one is a read-then-write transaction.
#[tokio::test]
async fn parallel_registrations_never_fail() {
    use futures::StreamExt;
    let app = spawn_app_with(options(&[])).await;
    let bodies: Vec<Value> = (0..200)
        .map(|i| {
            let (endpoint, browser) = app.push.add_device();
            json!({"subscription": browser.subscription_json(&endpoint), "uid": i})
        })
        .collect();
    let statuses: Vec<u16> = futures::stream::iter(bodies)
        .map(|body| async { app.admin_post("/api/v1/subscriptions", body).await.status().as_u16() })
        .buffer_unordered(16)
        .collect()
        .await;
    let errors = statuses.iter().filter(|s| **s >= 500).count();
    assert_eq!(
        errors,
        0,
        "{errors} of {} parallel registrations failed",
        statuses.len()
    );
    assert_eq!(listed_ids(&app).await.len(), 200);
}
