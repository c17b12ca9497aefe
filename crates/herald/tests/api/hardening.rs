//! Regression tests for what an outside probe found (issue 13): connection exhaustion, endpoint
//! takeover carrying waiting messages, a world-readable database, cacheable answers, endpoints
//! in logs, and the public rate limit throttling the host application's own back end.

use crate::helpers::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn with_env(env: &[(&'static str, &str)]) -> Options {
    Options {
        env: env.iter().map(|(k, v)| (*k, v.to_string())).collect(),
        ..Default::default()
    }
}

fn socket_address(app: &TestApp) -> String {
    app.address.trim_start_matches("http://").to_owned()
}

/// Waits up to `limit` for the server to close `stream`; returns how long that took.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buffer = [0u8; 4096];
    loop {
        let left = limit.checked_sub(started.elapsed())?;
        match tokio::time::timeout(left, stream.read(&mut buffer)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            // A response (the 408 some servers send); keep reading until the close.
            Ok(Ok(_)) => continue,
        }
    }
}

#[tokio::test]
async fn half_open_connections_beyond_the_cap_do_not_lock_out_healthz() {
    // Long timeouts: here it is the cap that must keep the server reachable.
    let app = spawn_app_with(with_env(&[
        ("HERALD_MAX_CONNECTIONS", "200"),
        ("HERALD_HEADER_READ_TIMEOUT_SECONDS", "60"),
        ("HERALD_IDLE_TIMEOUT_SECONDS", "60"),
    ]))
    .await;
    herald::api::http_server::raise_open_file_limit();
    let address = socket_address(&app);
    let mut half_open = Vec::new();
    for _ in 0..2000 {
        let mut stream = TcpStream::connect(&address).await.unwrap();
        // Half a request header, never finished.
        let _ = stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await;
        half_open.push(stream);
    }
    let fresh = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let started = Instant::now();
    // Locked out, it would wait for the 60 s header timeout to free a slot; answered, it takes
    // milliseconds. 20 s is generous for a busy machine and still tells the two apart.
    let health = tokio::time::timeout(Duration::from_secs(20), fresh.get(app.url("/healthz")).send())
        .await
        .expect("/healthz answered while 2000 half-open connections were open")
        .unwrap();
    assert_eq!(health.status(), 200);
    eprintln!(
        "/healthz answered in {:?} beside 2000 half-open connections",
        started.elapsed()
    );
    // The server holds at most 200: the oldest half-open connections were closed for room.
    let mut closed = 0;
    for stream in half_open.iter_mut().take(1500) {
        if closed_within(stream, Duration::from_millis(200)).await.is_some() {
            closed += 1;
        }
    }
    assert!(
        closed >= 1300,
        "only {closed} of the 1500 oldest half-open connections were closed"
    );
}

#[tokio::test]
async fn slow_silent_and_idle_clients_are_cut_within_their_timeouts() {
    let app = spawn_app_with(with_env(&[
        ("HERALD_HEADER_READ_TIMEOUT_SECONDS", "1"),
        ("HERALD_IDLE_TIMEOUT_SECONDS", "1"),
    ]))
    .await;
    let address = socket_address(&app);

    // Each timeout is 1 s; uncut, these connections would stay open for good. The bounds are
    // generous for a busy machine.
    let give_up = Duration::from_secs(20);

    // Slowloris: a header that trickles in a line at a time and never ends.
    let mut slow = TcpStream::connect(&address).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let trickle = tokio::spawn(async move {
        let started = Instant::now();
        // A line every 250 ms: 80 lines in 20 s, below the header count a server may refuse,
        // so only the timeout can cut it.
        for i in 0..80 {
            tokio::time::sleep(Duration::from_millis(250)).await;
            if slow.write_all(format!("X-Slow-{i}: y\r\n").as_bytes()).await.is_err() {
                return Some(started.elapsed());
            }
            let mut probe = [0u8; 1024];
            match tokio::time::timeout(Duration::from_millis(1), slow.read(&mut probe)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
                _ => {}
            }
        }
        None
    });

    // A client that connects and says nothing.
    let mut silent = TcpStream::connect(&address).await.unwrap();
    let silent_cut = closed_within(&mut silent, give_up).await;
    assert!(
        silent_cut.is_some(),
        "a silent connection stayed open past the header timeout"
    );

    // A keep-alive client that asks once and then idles.
    let mut idle = TcpStream::connect(&address).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut answer = [0u8; 512];
    let n = idle.read(&mut answer).await.unwrap();
    assert!(String::from_utf8_lossy(&answer[..n]).starts_with("HTTP/1.1 200"));
    let idle_cut = closed_within(&mut idle, give_up).await;
    assert!(
        idle_cut.is_some(),
        "an idle keep-alive connection stayed open past the idle timeout"
    );

    let slow_cut = trickle.await.unwrap();
    assert!(
        slow_cut.is_some(),
        "a trickled header was not cut by the 1 s header timeout within {give_up:?}"
    );
}

#[tokio::test]
async fn an_endpoint_moved_to_another_owner_is_a_new_subscription_without_the_old_messages() {
    let app = spawn_app().await;
    let victim = app.register_device(json!({"uid": "alice"})).await;
    app.send(json!({"to": {"uid": "alice"}, "title": "Your code is 123456", "mode": "tickle"}))
        .await;
    // Someone who can mint owner tokens for bob learns alice's endpoint and registers it.
    let token: Value = app
        .admin_post("/api/v1/owner-tokens", json!({"uid": "bob"}))
        .await
        .json()
        .await
        .unwrap();
    let (_, keys) = app.push.add_device();
    let subscription = keys.subscription_json(&victim.endpoint);
    let response = app
        .http
        .post(app.url("/api/v1/subscriptions"))
        .json(&json!({"subscription": subscription, "ownerToken": token["ownerToken"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "a change of owner registers a new subscription");
    let taken: Value = response.json().await.unwrap();
    let (new_id, new_secret) = (taken["id"].as_str().unwrap(), taken["secret"].as_str().unwrap());
    assert_ne!(new_id, victim.id, "the new owner must not get the old subscription id");

    let inbox = |id: String, secret: String| {
        let app = &app;
        async move {
            app.http
                .get(app.url(&format!("/api/v1/subscriptions/{id}/messages")))
                .bearer_auth(secret)
                .send()
                .await
                .unwrap()
        }
    };
    let own: Value = inbox(new_id.to_owned(), new_secret.to_owned())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(own["messages"], json!([]), "alice's waiting message reached bob: {own}");
    assert_error(inbox(victim.id.clone(), new_secret.to_owned()).await, 401).await;
    assert_error(inbox(victim.id.clone(), victim.secret.clone()).await, 401).await;

    // The same owner re-registering keeps its id (the service worker's normal path).
    let again = app
        .http
        .post(app.url("/api/v1/subscriptions"))
        .json(&json!({"subscription": subscription, "ownerToken": token["ownerToken"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200);
    assert_eq!(again.json::<Value>().await.unwrap()["id"], new_id);
}

#[cfg(unix)]
#[tokio::test]
async fn database_files_are_private_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    if std::env::var("HERALD_TEST_DATABASE").is_ok_and(|d| d != "sqlite") {
        return;
    }
    // The usual umask, which made herald.db -rw-r--r--. (Process-wide, and harmless to the
    // tests running beside this one.)
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o022));
    let app = spawn_app().await;
    app.register_device(json!({"uid": 1})).await;
    let database = app.database_url.trim_start_matches("sqlite://").to_owned();
    let dir = std::path::Path::new(&database).parent().unwrap();
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("herald.db") {
            let mode = entry.metadata().unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{name} is {mode:o}");
            seen.push(name);
        }
    }
    assert!(seen.iter().any(|n| n.ends_with("-wal")), "{seen:?}");
}

#[tokio::test]
async fn no_api_answer_may_be_cached() {
    let app = spawn_app().await;
    let device = app.register_device(json!({"uid": 7})).await;
    let id = app.send(json!({"to": {"uid": 7}, "title": "t"})).await;
    let token = app.admin_post("/api/v1/owner-tokens", json!({"uid": 7})).await;
    let mut answers = vec![("owner token", token)];
    for path in [
        "/api/v1/vapid-public-key".to_owned(),
        format!("/api/v1/messages/{id}"),
        "/api/v1/messages".into(),
        "/api/v1/subscriptions".into(),
        "/api/v1/keys".into(),
        "/api/v1/nowhere".into(),
        "/healthz".into(),
    ] {
        answers.push(("admin GET", app.admin_get(&path).await));
    }
    answers.push((
        "inbox",
        app.http
            .get(app.url(&format!("/api/v1/subscriptions/{}/messages", device.id)))
            .bearer_auth(&device.secret)
            .send()
            .await
            .unwrap(),
    ));
    answers.push((
        "registration",
        app.admin_post(
            "/api/v1/subscriptions",
            json!({"uid": 8, "subscription": app.push.add_device().1.subscription_json(&app.push.add_device().0)}),
        )
        .await,
    ));
    answers.push(("401", app.http.get(app.url("/api/v1/messages")).send().await.unwrap()));
    for (what, response) in answers {
        let url = response.url().clone();
        assert_eq!(
            response.headers().get("cache-control").and_then(|v| v.to_str().ok()),
            Some("no-store"),
            "{what} {url} ({})",
            response.status()
        );
    }
    let asset = app.http.get(app.url("/herald.js")).send().await.unwrap();
    assert_eq!(asset.headers()["cache-control"], "no-cache");
}

/// A `MakeWriter` that keeps everything logged, for reading back.
#[derive(Clone, Default)]
struct CapturedLog(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for CapturedLog {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for CapturedLog {
    type Writer = CapturedLog;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

// One thread: the server's tasks run where the thread-local log subscriber is installed.
#[tokio::test(flavor = "current_thread")]
async fn failed_pushes_log_the_endpoint_as_origin_and_hash_only() {
    let log = CapturedLog::default();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter("herald=debug")
        .with_writer(log.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let app = spawn_app().await;
    // One push service refuses with an answer that echoes the endpoint; another is not there.
    let (refusing, keys) = app
        .push
        .add_device_with(herald_testkit::MockResponse::status(400).body("bad subscription"));
    let refusing_device = app.register_existing(json!({"uid": 1}), refusing.clone(), keys).await;
    app.push.set_default(
        &refusing,
        herald_testkit::MockResponse::status(400).body(&format!("bad subscription {refusing}")),
    );
    let unreachable_endpoint = "http://127.0.0.1:9/push/unreachable-capability-token-0123456789".to_owned();
    let (_, keys) = app.push.add_device();
    app.register_existing(json!({"uid": 2}), unreachable_endpoint.clone(), keys)
        .await;
    let first = app.send(json!({"to": {"uid": 1}, "title": "t"})).await;
    let second = app.send(json!({"to": {"uid": 2}, "title": "t", "ttl": 1})).await;
    app.wait_settled(&first).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !String::from_utf8_lossy(&log.0.lock().unwrap()).contains("push request failed") {
        assert!(Instant::now() < deadline, "the failed connection was never logged");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = second;
    let text = String::from_utf8_lossy(&log.0.lock().unwrap()).into_owned();
    assert!(text.contains("push refused"), "{text}");
    for endpoint in [&refusing, &unreachable_endpoint] {
        let path = url::Url::parse(endpoint).unwrap().path().to_owned();
        assert!(
            !text.contains(path.as_str()),
            "the endpoint {endpoint} was logged in full:\n{text}"
        );
        assert!(
            text.contains(&herald::redact::endpoint(endpoint)),
            "no label for {endpoint}:\n{text}"
        );
    }
    let _ = refusing_device;
}

#[tokio::test]
async fn the_back_end_is_not_throttled_by_the_public_limit_but_anonymous_callers_are() {
    use tower::ServiceExt;
    let app = spawn_app_with(Options {
        no_workers: true,
        env: vec![("HERALD_PUBLIC_RATE_LIMIT_PER_MINUTE", "600".into())],
        ..Default::default()
    })
    .await;
    // Straight into the router, as from one back-end address: no sockets, so it is quick.
    let router = herald::api::router(app.app_state.clone());
    let from = std::net::SocketAddr::from(([203, 0, 113, 7], 40000));
    let keys = herald_testkit::Browser::generate();
    let request = |uri: String, token: Option<&str>, body: Option<Value>| {
        let mut builder = axum::http::Request::builder().uri(uri);
        if let Some(token) = token {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        let body = match body {
            Some(b) => {
                builder = builder.method("POST").header("content-type", "application/json");
                axum::body::Body::from(b.to_string())
            }
            None => axum::body::Body::empty(),
        };
        let mut request = builder.body(body).unwrap();
        request.extensions_mut().insert(axum::extract::ConnectInfo(from));
        request
    };
    use futures::StreamExt;
    let statuses: Vec<_> = futures::stream::iter(0..5000)
        .map(|i| {
            let body =
                json!({"uid": i, "subscription": keys.subscription_json(&format!("http://127.0.0.1:9/push/{i}"))});
            router
                .clone()
                .oneshot(request("/api/v1/subscriptions".into(), Some(ADMIN_TOKEN), Some(body)))
        })
        .buffer_unordered(32)
        .collect()
        .await;
    let mut refused = 0;
    for response in statuses {
        let status = response.unwrap().status();
        assert!(status == 201 || status == 429, "{status}");
        refused += usize::from(status == 429);
    }
    assert_eq!(refused, 0, "{refused} of 5000 back-end registrations were throttled");

    // The anonymous public from that same address is still limited, and so is a made-up key.
    // The budget (600 a minute) is there at once and refills evenly, one request per 100 ms,
    // so what passes beyond 600 is bounded by the time the loop took.
    for token in [None, Some("hk_AAAAAAAAAAAAAAAAAAAAAA.guess")] {
        let started = std::time::Instant::now();
        let mut statuses = Vec::new();
        for _ in 0..700 {
            let response = router
                .clone()
                .oneshot(request("/api/v1/subscriptions/AAAA/messages".into(), token, None))
                .await
                .unwrap();
            statuses.push(response.status().as_u16());
        }
        let refills = started.elapsed().as_millis() as usize / 100 + 2;
        assert!(statuses.iter().all(|s| *s == 401 || *s == 429), "{statuses:?}");
        let passed = statuses.iter().filter(|s| **s == 401).count();
        let budget = if token.is_none() { 600 } else { 0 };
        assert!(
            passed >= budget && passed <= budget + refills,
            "{token:?}: {passed} of 700 passed; budget {budget}, refills at most {refills}"
        );
        if token.is_none() {
            assert!(statuses[..600].iter().all(|s| *s == 401), "{:?}", &statuses[..5]);
        }
    }
}

/// A configured origin may call every method the API has, tags' `PUT` included (it was left
/// out of the preflight's methods); an origin not configured gets no CORS grant.
#[tokio::test]
async fn cors_preflights_grant_every_api_method_to_configured_origins_only() {
    let app = spawn_app_with(with_env(&[("HERALD_CORS_ORIGINS", "https://billing.example")])).await;
    let preflight = |origin: &'static str, method: &'static str| {
        app.http
            .request(
                reqwest::Method::OPTIONS,
                format!("{}/api/v1/subscriptions/abc/tags/vip", app.address),
            )
            .header("Origin", origin)
            .header("Access-Control-Request-Method", method)
            .header("Access-Control-Request-Headers", "authorization, content-type")
            .send()
    };
    for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
        let response = preflight("https://billing.example", method).await.unwrap();
        let headers = response.headers();
        assert_eq!(
            headers.get("access-control-allow-origin").map(|v| v.to_str().unwrap()),
            Some("https://billing.example")
        );
        let allowed = headers
            .get("access-control-allow-methods")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        assert!(
            allowed.split(',').any(|m| m.trim() == method),
            "{method} not in {allowed:?}"
        );
    }
    let response = preflight("https://elsewhere.example", "PUT").await.unwrap();
    assert!(response.headers().get("access-control-allow-origin").is_none());
}
