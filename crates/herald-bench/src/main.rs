//! `herald-bench`: times one broadcast through a real `herald serve` (release build) into a
//! local TLS push-service sink, and the same fan-out with web-push for Node.
//!
//! ```sh
//! cargo build --release -p herald -p herald-bench
//! target/release/herald-bench --subscriptions 10000 [--node] [--concurrency 256] [--rounds 1]
//! ```
//! With `--rounds N`, Herald sends N broadcasts one after the other to the same subscriptions
//! (each timed on its own; the table gives the median and every round's rate): later rounds
//! run against an outbox that still holds the earlier broadcasts' rows, as in production.
//! See `bench/run.sh` and `docs/benchmarks.md`. `BENCH_HERALD_LOG=sqlx=debug` passes a log
//! filter to the server and shows its log (each statement with its time), for profiling.

mod sink;

use futures::StreamExt;
use herald_testkit::Browser;
use serde_json::{json, Value};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

const ADMIN: &str = "bench-admin-token-0123456789";

struct Args {
    subscriptions: usize,
    herald: String,
    node: bool,
    concurrency: usize,
    rounds: usize,
}

fn args() -> Args {
    let mut args = Args {
        subscriptions: 10_000,
        herald: "target/release/herald".into(),
        node: false,
        concurrency: 256,
        rounds: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--subscriptions" => {
                args.subscriptions = it.next().and_then(|v| v.parse().ok()).expect("--subscriptions N")
            }
            "--herald" => args.herald = it.next().expect("--herald PATH"),
            "--concurrency" => args.concurrency = it.next().and_then(|v| v.parse().ok()).expect("--concurrency N"),
            "--rounds" => {
                args.rounds = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|r| *r > 0)
                    .expect("--rounds N")
            }
            "--node" => args.node = true,
            other => panic!("unknown argument {other}; see the doc comment in crates/herald-bench/src/main.rs"),
        }
    }
    args
}

/// User plus system CPU seconds a process has used.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn peak_rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// Key generation plus ECDH per message, on one core: the cryptographic floor.
fn crypto_floor() -> f64 {
    use aws_lc_rs::agreement::{agree, PrivateKey, UnparsedPublicKey, ECDH_P256};
    let peer = PrivateKey::generate(&ECDH_P256)
        .unwrap()
        .compute_public_key()
        .unwrap()
        .as_ref()
        .to_vec();
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < Duration::from_secs(2) {
        let key = PrivateKey::generate(&ECDH_P256).unwrap();
        agree(&key, UnparsedPublicKey::new(&ECDH_P256, &peer), (), |s| Ok(s[0])).unwrap();
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

async fn wait_for(sink: &sink::Sink, n: u64, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while sink.received.load(Ordering::SeqCst) < n {
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    true
}

#[tokio::main]
async fn main() {
    let args = args();
    let n = args.subscriptions;
    eprintln!("generating {n} browser key pairs");
    let browsers: Vec<Browser> = (0..n).map(|_| Browser::generate()).collect();
    let sink = Arc::new(sink::Sink {
        browsers,
        received: Default::default(),
        sampled_ok: Default::default(),
        sampled_bad: Default::default(),
        http2: Default::default(),
        connections: Default::default(),
        last: Default::default(),
        sample_every: 97,
    });
    let (port, cert) = sink::start(sink.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let cert_path = dir.path().join("sink.pem");
    std::fs::write(&cert_path, &cert).unwrap();

    let herald_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(&args.herald)
        .arg("serve")
        .env("HERALD_CONFIG", "/dev/null")
        .env("HERALD_LISTEN", format!("127.0.0.1:{herald_port}"))
        .env(
            "HERALD_DATABASE_URL",
            format!("sqlite://{}/bench.db", dir.path().display()),
        )
        .env("HERALD_ADMIN_TOKEN", ADMIN)
        .env("HERALD_VAPID_SUBJECT", "mailto:bench@example.com")
        .env("HERALD_ALLOW_PRIVATE_ENDPOINTS", "true")
        .env("HERALD_PUBLIC_RATE_LIMIT_PER_MINUTE", "0")
        .env("HERALD_MAX_SUBSCRIPTIONS_PER_OWNER", "1000000")
        .env("HERALD_DELIVERY_CONCURRENCY", args.concurrency.to_string())
        .env("SSL_CERT_FILE", &cert_path)
        .env("HERALD_LOG", std::env::var("BENCH_HERALD_LOG").unwrap_or("warn".into()))
        .stdout(Stdio::null())
        .stderr(if std::env::var("BENCH_HERALD_LOG").is_ok() {
            Stdio::inherit()
        } else {
            Stdio::null()
        })
        .spawn()
        .expect("start herald (build it with cargo build --release -p herald)");
    let base = format!("http://127.0.0.1:{herald_port}");
    let http = reqwest::Client::new();
    while http.get(format!("{base}/healthz")).send().await.is_err() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Registration rate.
    let started = Instant::now();
    futures::stream::iter(0..n)
        .map(|i| {
            let http = http.clone();
            let body = json!({
                "subscription": sink.browsers[i].subscription_json(&format!("https://127.0.0.1:{port}/push/{i}")),
                "uid": i,
            });
            let url = format!("{base}/api/v1/subscriptions");
            async move {
                let r = http.post(url).bearer_auth(ADMIN).json(&body).send().await.unwrap();
                assert!(r.status().is_success(), "registration failed: {}", r.status());
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await;
    let registration_rate = n as f64 / started.elapsed().as_secs_f64();
    let rss_after_registration = peak_rss_mb(child.id());

    // Broadcasts, each from the API call to the last 201.
    let payload = json!({"to": {"all": "clients"}, "title": "Your balance is low",
        "body": "Top up before the 1st to keep your service.", "url": "https://billing.example.net/pay"});
    let mut rounds = Vec::new(); // (rate, seconds, CPU µs per notification)
    let mut complete = true;
    let mut http2 = 0;
    for _ in 0..args.rounds {
        sink.received.store(0, Ordering::SeqCst);
        sink.http2.store(0, Ordering::SeqCst);
        *sink.last.lock().unwrap() = None;
        eprintln!("broadcast starting");
        let cpu_before = cpu_seconds(child.id());
        let started = Instant::now();
        let r: Value = http
            .post(format!("{base}/api/v1/messages"))
            .bearer_auth(ADMIN)
            .json(&payload)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(r["targets"], n, "{r}");
        complete &= wait_for(&sink, n as u64, Duration::from_secs(600)).await;
        let elapsed = sink
            .last
            .lock()
            .unwrap()
            .map(|t| t - started)
            .unwrap_or(started.elapsed());
        let cpu = cpu_seconds(child.id()) - cpu_before;
        rounds.push((
            n as f64 / elapsed.as_secs_f64(),
            elapsed.as_secs_f64(),
            cpu * 1e6 / n as f64,
        ));
        http2 += sink.http2.load(Ordering::Relaxed);
    }
    let peak = peak_rss_mb(child.id());
    let connections = sink.connections.load(Ordering::Relaxed);
    let median = |column: fn(&(f64, f64, f64)) -> f64| {
        let mut values: Vec<f64> = rounds.iter().map(column).collect();
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    let herald_rate = median(|r| r.0);
    let _ = child.kill();
    let _ = child.wait();

    let mut node_rate = None;
    if args.node {
        sink.reset();
        let subs: Vec<Value> = (0..n)
            .map(|i| sink.browsers[i].subscription_json(&format!("https://127.0.0.1:{port}/push/{i}")))
            .collect();
        let subs_path = dir.path().join("subs.json");
        std::fs::write(&subs_path, serde_json::to_string(&subs).unwrap()).unwrap();
        let payload_text = serde_json::to_string(&json!({"web_push": 8030, "notification": {"title": payload["title"], "body": payload["body"], "navigate": payload["url"]}})).unwrap();
        let started = Instant::now();
        let status = Command::new("node")
            .arg("bench/webpush-node/send.mjs")
            .arg(&subs_path)
            .arg(&payload_text)
            .env("NODE_EXTRA_CA_CERTS", &cert_path)
            .status()
            .expect("node runs (npm ci in bench/webpush-node first)");
        assert!(status.success());
        wait_for(&sink, n as u64, Duration::from_secs(60)).await;
        let elapsed = sink
            .last
            .lock()
            .unwrap()
            .map(|t| t - started)
            .unwrap_or(started.elapsed());
        node_rate = Some(n as f64 / elapsed.as_secs_f64());
    }

    let floor = crypto_floor();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) as f64;
    println!("| subscriptions | {n} |");
    let total = n * rounds.len();
    println!(
        "| broadcasts complete | {complete} ({http2} of {total} pushes over HTTP/2, {connections} TLS connections) |"
    );
    let each: Vec<String> = rounds.iter().map(|r| format!("{:.0}/s in {:.2} s", r.0, r.1)).collect();
    println!(
        "| herald broadcast | {:.0} notifications/s, median of {} ({}) |",
        herald_rate,
        rounds.len(),
        each.join(", ")
    );
    println!("| herald CPU per notification | {:.0} µs (median) |", median(|r| r.2));
    if let Some(node) = node_rate {
        println!("| web-push for Node, 64 in flight | {:.0} notifications/s |", node);
        println!("| ratio herald / web-push | {:.1}x |", herald_rate / node);
    }
    println!(
        "| crypto floor (keygen + ECDH) | {:.0}/s per core, {:.0}/s on {cores} cores |",
        floor,
        floor * cores
    );
    println!(
        "| herald / crypto floor (all cores) | {:.0}% |",
        100.0 * herald_rate / (floor * cores)
    );
    println!("| registration | {:.0} subscriptions/s |", registration_rate);
    println!(
        "| herald peak RSS | {:.1} MB (after registration {:.1} MB) |",
        peak, rss_after_registration
    );
    println!(
        "| sampled decryptions | {} ok, {} failed |",
        sink.sampled_ok.load(Ordering::Relaxed),
        sink.sampled_bad.load(Ordering::Relaxed)
    );
}
