//! Crash recovery: the real `herald serve` process is killed with SIGKILL in the middle of a
//! broadcast to 2000 devices, then started again on the same SQLite database. Every device
//! must end up with the message, duplicates bounded by the pushes that were in flight when
//! the process died (at most HERALD_DELIVERY_CONCURRENCY), and the message's counts must
//! come out exact: each outbox row is settled once, however often it was sent.

use futures::StreamExt;
use herald_testkit::{MockPushService, MockResponse};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ADMIN: &str = "crash-test-admin-token-0123456789";
const DEVICES: usize = 2000;
const CONCURRENCY: usize = 64;

/// A running `herald serve`; killed (SIGKILL) when dropped.
struct Server {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// SIGKILL, as an OOM killer or a power cut would: no graceful shutdown at all.
    fn kill(mut self) {
        self.child.kill().expect("kill herald");
        self.child.wait().expect("reap herald");
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start(dir: &Path, name: &str) -> Server {
    let port = free_port();
    let log = dir.join(format!("{name}.log"));
    let child = Command::new(env!("CARGO_BIN_EXE_herald"))
        .arg("serve")
        .current_dir(dir)
        .env("HERALD_CONFIG", "/dev/null")
        .env("HERALD_LISTEN", format!("127.0.0.1:{port}"))
        .env("HERALD_DATABASE_URL", format!("sqlite://{}/h.db", dir.display()))
        .env("HERALD_ADMIN_TOKEN", ADMIN)
        .env("HERALD_VAPID_SUBJECT", "mailto:crash@example.com")
        .env("HERALD_ALLOW_PRIVATE_ENDPOINTS", "true")
        .env("HERALD_ALLOW_HTTP_ENDPOINTS", "true")
        .env("HERALD_DELIVERY_LEASE_SECONDS", "5")
        .env("HERALD_DELIVERY_CONCURRENCY", CONCURRENCY.to_string())
        .env("HERALD_PUBLIC_RATE_LIMIT_PER_MINUTE", "0")
        .env("HERALD_LOG", "herald=info,warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("herald starts");
    let server = Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
        log,
    };
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let healthy = http
            .get(format!("{}/healthz", server.base))
            .send()
            .await
            .map(|r| r.status() == 200)
            .unwrap_or(false);
        if healthy {
            return server;
        }
        assert!(
            Instant::now() < deadline,
            "herald did not become healthy:\n{}",
            server.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn message(http: &reqwest::Client, base: &str, id: &str) -> Value {
    http.get(format!("{base}/api/v1/messages/{id}"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcast_survives_sigkill_mid_send() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    let push = MockPushService::start().await;
    let first = start(dir.path(), "first").await;

    // 2000 devices whose push service takes 40 ms to answer, so the broadcast lasts a while.
    let devices: Vec<(String, herald_testkit::Browser)> = (0..DEVICES)
        .map(|_| push.add_device_with(MockResponse::created().delay(Duration::from_millis(40))))
        .collect();
    let results: Vec<(String, String)> = futures::stream::iter(devices.iter().enumerate())
        .map(|(i, (endpoint, browser))| {
            let (http, base) = (&http, &first.base);
            async move {
                let body = json!({"subscription": browser.subscription_json(endpoint), "uid": i % 100});
                let response = http
                    .post(format!("{base}/api/v1/subscriptions"))
                    .bearer_auth(ADMIN)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                let status = response.status();
                let text = response.text().await.unwrap();
                assert!(status.is_success(), "register: {status} {text}");
                let json: Value = serde_json::from_str(&text).unwrap();
                (endpoint.clone(), json["id"].as_str().unwrap().to_owned())
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    assert_eq!(results.len(), DEVICES);
    let registered = started.elapsed();

    let response = http
        .post(format!("{}/api/v1/messages", first.base))
        .bearer_auth(ADMIN)
        .json(&json!({"to": {"all": "clients"}, "title": "Crash test", "body": "delivered once, whatever happens"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let id = json_field(response.json().await.unwrap(), "id");
    let sent_at = Instant::now();

    // Kill the process about a third of the way through.
    let before_kill = push.wait_for(DEVICES / 3, Duration::from_secs(60)).await.len();
    assert!(before_kill >= DEVICES / 3, "the broadcast did not get going");
    assert!(before_kill < DEVICES, "the broadcast finished before the kill");
    let at_kill = message(&http, &first.base, &id).await;
    first.kill();
    let killed_after = sent_at.elapsed();
    // Pushes the dead process had in flight may still complete at the mock.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let received_at_kill = push.received().len();

    let second = start(dir.path(), "second").await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let settled = loop {
        let m = message(&http, &second.base, &id).await;
        if m["pending"] == 0 {
            break m;
        }
        assert!(
            Instant::now() < deadline,
            "never settled after the restart: {m}\n{}",
            second.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let finished_after = sent_at.elapsed();
    // Anything sent late would show up now.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let received = push.received();
    let mut per_device: HashMap<&str, usize> = HashMap::new();
    for p in &received {
        assert_eq!(p.answered, 201);
        assert!(p.vapid.is_ok(), "{:?}", p.vapid);
        assert_eq!(p.json()["notification"]["title"], "Crash test");
        *per_device.entry(p.device.as_str()).or_default() += 1;
    }
    let missing: Vec<&str> = devices
        .iter()
        .map(|(endpoint, _)| endpoint.rsplit('/').next().unwrap())
        .filter(|d| !per_device.contains_key(d))
        .collect();
    let duplicates = received.len() - per_device.len();
    let most = per_device.values().copied().max().unwrap_or(0);
    eprintln!(
        "crash test: registered {DEVICES} in {registered:?}; killed {killed_after:?} after sending \
         with {before_kill} pushes in ({received_at_kill} incl. in-flight, counts then {}/{} accepted); \
         settled {finished_after:?} after sending; {} pushes, {duplicates} duplicates, at most {most} per device",
        at_kill["accepted"],
        at_kill["targets"],
        received.len(),
    );
    assert!(
        missing.is_empty(),
        "{} devices never got the message: {missing:?}",
        missing.len()
    );
    assert!(
        duplicates <= CONCURRENCY,
        "{duplicates} duplicate pushes, more than the {CONCURRENCY} that can be in flight"
    );
    assert!(most <= 2, "a device got the message {most} times");
    let counts = |k: &str| settled[k].as_i64().unwrap();
    assert_eq!(
        (
            counts("targets"),
            counts("accepted"),
            counts("failed"),
            counts("gone"),
            counts("pending")
        ),
        (DEVICES as i64, DEVICES as i64, 0, 0, 0),
        "{settled}"
    );
    assert_eq!(settled["status"], "done", "{settled}");
    // The restarted instance sent only what the first one had not settled.
    let metrics = http
        .get(format!("{}/metrics", second.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let second_sent: usize = metrics
        .lines()
        .find_map(|l| l.strip_prefix("herald_push_requests_total{outcome=\"accepted\"} "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let first_settled = at_kill["accepted"].as_u64().unwrap() as usize;
    assert!(
        second_sent <= DEVICES - first_settled,
        "the restarted instance sent {second_sent}, but only {} were unsettled at the kill",
        DEVICES - first_settled
    );
    // A hang, not a slow machine: the whole run takes well under a minute.
    assert!(
        started.elapsed() < Duration::from_secs(300),
        "took {:?}",
        started.elapsed()
    );
}

fn json_field(value: Value, key: &str) -> String {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} in {value}"))
        .to_owned()
}
