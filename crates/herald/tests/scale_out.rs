//! Two `herald serve` processes on one PostgreSQL database share a broadcast: every device gets
//! it exactly once and both instances send. Then one instance is killed mid-broadcast and the
//! other finishes, taking over the dead one's leased rows after the lease timeout.
//!
//! Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust), as `scripts/test` provides;
//! without it the test fails saying so, or is skipped when `HERALD_TEST_SKIP_POSTGRES` is set.

use futures::StreamExt;
use herald_testkit::{MockPushService, MockResponse};
use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

// Shared with the API suite, which also uses the parts for MariaDB and SQLite.
#[allow(dead_code)]
#[path = "api/test_database.rs"]
mod test_database;

use test_database::{DatabaseServer, TestDatabase};

const ADMIN: &str = "scale-out-admin-token-0123456789";

struct Instance {
    child: Child,
    base: String,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start(database_url: &str) -> Instance {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_herald"))
        .arg("serve")
        .env("HERALD_CONFIG", "/dev/null")
        .env("HERALD_LISTEN", format!("127.0.0.1:{port}"))
        .env("HERALD_DATABASE_URL", database_url)
        .env("HERALD_ADMIN_TOKEN", ADMIN)
        .env("HERALD_VAPID_SUBJECT", "mailto:scale@example.com")
        .env("HERALD_ALLOW_PRIVATE_ENDPOINTS", "true")
        .env("HERALD_ALLOW_HTTP_ENDPOINTS", "true")
        .env("HERALD_DELIVERY_LEASE_SECONDS", "5")
        .env("HERALD_DELIVERY_CONCURRENCY", "64")
        .env("HERALD_PUBLIC_RATE_LIMIT_PER_MINUTE", "0")
        .env("HERALD_MAX_SUBSCRIPTIONS_PER_OWNER", "100000")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("herald starts");
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while http
        .get(format!("{base}/healthz"))
        .send()
        .await
        .map(|r| r.status() != 200)
        .unwrap_or(true)
    {
        assert!(Instant::now() < deadline, "instance did not become healthy");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Instance { child, base }
}

async fn accepted_by(base: &str) -> u64 {
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("herald_push_requests_total{outcome=\"accepted\"} "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

async fn message(base: &str, id: &str) -> Value {
    reqwest::Client::new()
        .get(format!("{base}/api/v1/messages/{id}"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn broadcast(base: &str, title: &str) -> String {
    let r: Value = reqwest::Client::new()
        .post(format!("{base}/api/v1/messages"))
        .bearer_auth(ADMIN)
        .json(&json!({"to": {"all": "clients"}, "title": title}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_a_broadcast_and_survive_losing_one() {
    // Dropped at the end of the test, whether it passes or fails.
    let database = match TestDatabase::create(DatabaseServer::Postgres, "herald_scale").await {
        Ok(database) => database,
        // scripts/test sets this, after saying loudly why, when it cannot provide PostgreSQL.
        Err(e) if std::env::var_os("HERALD_TEST_SKIP_POSTGRES").is_some() => {
            eprintln!("SKIPPED two_instances_share_a_broadcast_and_survive_losing_one: no PostgreSQL ({e})");
            return;
        }
        Err(e) => panic!(
            "this test needs PostgreSQL on 127.0.0.1:5432 with user postgres and trust \
             authentication, and cannot reach it: {e}. ./scripts/test installs, configures and \
             starts it (scripts/services.sh); HERALD_TEST_SKIP_POSTGRES=1 skips this test."
        ),
    };
    let url = database.url.clone();

    let push = MockPushService::start().await;
    let a = start(&url).await;
    let b = start(&url).await;

    const DEVICES: usize = 3000;
    let http = reqwest::Client::new();
    let endpoints: Vec<String> = futures::stream::iter(0..DEVICES)
        .map(|i| {
            let (endpoint, browser) = push.add_device_with(MockResponse::created().delay(Duration::from_millis(3)));
            let http = http.clone();
            let base = if i % 2 == 0 { a.base.clone() } else { b.base.clone() };
            async move {
                let r = http
                    .post(format!("{base}/api/v1/subscriptions"))
                    .bearer_auth(ADMIN)
                    .json(&json!({"subscription": browser.subscription_json(&endpoint), "uid": i}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 201);
                endpoint
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;

    // 1. Both instances send; every device exactly once.
    let id = broadcast(&a.base, "shared").await;
    let pushes = push.wait_for(DEVICES, Duration::from_secs(120)).await;
    assert_eq!(pushes.len(), DEVICES);
    let mut per_device = std::collections::HashMap::new();
    for p in &pushes {
        *per_device.entry(p.device.clone()).or_insert(0) += 1;
    }
    assert_eq!(per_device.len(), DEVICES);
    assert!(per_device.values().all(|&n| n == 1), "a device got the broadcast twice");
    let deadline = Instant::now() + Duration::from_secs(30);
    while message(&b.base, &id).await["pending"] != 0 {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (sent_a, sent_b) = (accepted_by(&a.base).await, accepted_by(&b.base).await);
    assert_eq!(sent_a + sent_b, DEVICES as u64);
    assert!(sent_a > 0 && sent_b > 0, "both instances sent: {sent_a} + {sent_b}");
    assert_eq!(message(&a.base, &id).await["accepted"], DEVICES);

    // 2. Kill one instance mid-broadcast; the other finishes.
    let id = broadcast(&b.base, "survives").await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while push.received().len() < DEVICES + DEVICES / 4 {
        assert!(Instant::now() < deadline, "the second broadcast did not start");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop(a); // SIGKILL
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let m = message(&b.base, &id).await;
        if m["pending"] == 0 {
            assert_eq!(m["accepted"], DEVICES, "{m}");
            break;
        }
        assert!(Instant::now() < deadline, "the surviving instance did not finish: {m}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let second: Vec<_> = push.received().into_iter().skip(DEVICES).collect();
    let mut per_device = std::collections::HashMap::new();
    for p in &second {
        *per_device.entry(p.device.clone()).or_insert(0) += 1;
    }
    assert_eq!(per_device.len(), DEVICES, "every device got the second broadcast");
    let duplicates: usize = per_device.values().map(|n| n - 1).sum();
    assert!(
        duplicates <= 64,
        "duplicates bounded by the killed instance's in-flight window: {duplicates}"
    );
    let _ = endpoints;
    drop(b);
}
