//! `herald-bench`: times broadcasts through a real `herald serve` (release build) into local
//! TLS push-service stand-ins, and the same fan-out with web-push for Node and the Rust
//! `web-push` crate.
//!
//! ```sh
//! cargo build --release -p herald -p herald-bench
//! target/release/herald-bench --subscriptions 10000 [--rounds 1] [--concurrency 4096]
//!     [--latency-ms 30-60] [--max-streams 100] [--goaway-after 2000]   # the mock's shape
//!     [--origins 1] [--hung-subscriptions 0]                            # spread, a hung origin
//!     [--nginx]                                                         # nginx instead of the mock
//!     [--node] [--webpush-rust PATH]                                    # comparisons
//!     [--env HERALD_X=value ...]                                        # more server settings
//! ```
//! The stand-in is herald-testkit's mock push service (TLS + HTTP/2, counters only, one
//! decryption in 97, on a thread of its own), shaped by `--latency-ms`, `--max-streams` and
//! `--goaway-after`; `--origins N` spreads the subscriptions over N such services (N push
//! service origins), and `--hung-subscriptions M` adds M more at one that never answers
//! (the rate and time are then those of the healthy origins). `--nginx` sends to nginx
//! instead (`bench/nginx-sink.sh`, counts from its access log).
//!
//! Each round is timed from the API call to the last delivery; the stand-in counts the TLS
//! connections Herald opened and the duplicate deliveries (a device reached twice in one
//! round). With `--rounds N`, Herald sends N broadcasts one after the other to the same
//! subscriptions, against an outbox that still holds the earlier ones' rows. CPU per push
//! comes from `/proc/<pid>/stat` of the server. See `bench/run.sh` and `docs/benchmarks.md`.
//! `BENCH_HERALD_LOG=sqlx=debug` passes a log filter to the server and shows its log.

mod nginx;
mod sink;

use futures::StreamExt;
use herald_testkit::Browser;
use serde_json::{json, Value};
use sink::{Round, Shape, Sinks};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ADMIN: &str = "bench-admin-token-0123456789";

struct Args {
    subscriptions: usize,
    herald: String,
    node: bool,
    webpush_rust: Option<String>,
    concurrency: usize,
    rounds: usize,
    shape: Shape,
    origins: usize,
    hung_subscriptions: usize,
    nginx: bool,
    env: Vec<(String, String)>,
}

fn args() -> Args {
    let mut args = Args {
        subscriptions: 10_000,
        herald: "target/release/herald".into(),
        node: false,
        webpush_rust: None,
        concurrency: 4096,
        rounds: 1,
        shape: Shape::default(),
        origins: 1,
        hung_subscriptions: 0,
        nginx: false,
        env: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    fn number<T: std::str::FromStr>(v: Option<String>, flag: &str) -> T {
        v.and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{flag} needs a number"))
    }
    while let Some(a) = it.next() {
        match a.as_str() {
            "--subscriptions" => args.subscriptions = number(it.next(), &a),
            "--herald" => args.herald = it.next().expect("--herald PATH"),
            "--concurrency" => args.concurrency = number(it.next(), &a),
            "--rounds" => args.rounds = number::<usize>(it.next(), &a).max(1),
            "--node" => args.node = true,
            "--webpush-rust" => args.webpush_rust = Some(it.next().expect("--webpush-rust PATH")),
            "--latency-ms" => {
                let v = it.next().expect("--latency-ms MIN-MAX");
                let (min, max) = v.split_once('-').unwrap_or((&v, &v));
                let ms = |t: &str| Duration::from_millis(t.parse().expect("--latency-ms MIN-MAX"));
                args.shape.latency = Some((ms(min), ms(max)));
            }
            "--max-streams" => args.shape.max_streams = Some(number(it.next(), &a)),
            "--goaway-after" => args.shape.goaway_after = Some(number(it.next(), &a)),
            "--origins" => args.origins = number::<usize>(it.next(), &a).max(1),
            "--hung-subscriptions" => args.hung_subscriptions = number(it.next(), &a),
            "--nginx" => args.nginx = true,
            "--env" => {
                let v = it.next().expect("--env NAME=VALUE");
                let (k, v) = v.split_once('=').expect("--env NAME=VALUE");
                args.env.push((k.to_owned(), v.to_owned()));
            }
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

/// A comparison sender run against the same stand-in: rate and what the stand-in counted.
async fn run_comparison(label: &str, mut command: Command, sinks: &Sinks, n: usize) -> (String, Round) {
    let mark = sinks.begin();
    let status = tokio::task::spawn_blocking(move || command.status())
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("{label} runs: {e}"));
    assert!(status.success(), "{label} failed");
    let round = sinks.finish(&mark, n as u64, Duration::from_secs(120)).await;
    (label.to_owned(), round)
}

#[tokio::main]
async fn main() {
    let args = args();
    let n = args.subscriptions;
    let hung_n = args.hung_subscriptions;
    let sinks = if args.nginx {
        assert!(hung_n == 0, "--hung-subscriptions needs the mock stand-in");
        Sinks::Nginx(nginx::NginxSink::start(std::path::Path::new("bench/nginx-sink.sh")))
    } else {
        Sinks::mocks(args.origins, &args.shape, hung_n > 0).await
    };
    eprintln!("generating {} browser key pairs", n + hung_n);
    let browsers: Vec<Browser> = (0..n + hung_n).map(|_| Browser::generate()).collect();
    let mut endpoints = sinks.add_healthy(&browsers[..n]);
    if hung_n > 0 {
        endpoints.extend(sinks.add_hung(&browsers[n..]));
    }
    let dir = tempfile::tempdir().unwrap();
    let cert_path = dir.path().join("sinks.pem");
    std::fs::write(&cert_path, sinks.ca_bundle()).unwrap();

    let herald_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = Command::new(&args.herald);
    server
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
        .envs(args.env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::null())
        .stderr(if std::env::var("BENCH_HERALD_LOG").is_ok() {
            Stdio::inherit()
        } else {
            Stdio::null()
        });
    let mut child = server
        .spawn()
        .expect("start herald (build it with cargo build --release -p herald)");
    let base = format!("http://127.0.0.1:{herald_port}");
    let http = reqwest::Client::new();
    while http.get(format!("{base}/healthz")).send().await.is_err() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Registration rate.
    let started = Instant::now();
    futures::stream::iter(0..n + hung_n)
        .map(|i| {
            let http = http.clone();
            let body = json!({
                "subscription": browsers[i].subscription_json(&endpoints[i]),
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
    let registration_rate = (n + hung_n) as f64 / started.elapsed().as_secs_f64();
    let rss_after_registration = peak_rss_mb(child.id());

    // Broadcasts, each from the API call to the last delivery.
    let payload = json!({"to": {"all": "clients"}, "title": "Your balance is low",
        "body": "Top up before the 1st to keep your service.", "url": "https://billing.example.net/pay"});
    let mut rounds = Vec::new(); // (round, CPU µs per notification)
    for _ in 0..args.rounds {
        eprintln!("broadcast starting");
        let cpu_before = cpu_seconds(child.id());
        let mark = sinks.begin();
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
        assert_eq!(r["targets"], n + hung_n, "{r}");
        let round = sinks.finish(&mark, n as u64, Duration::from_secs(1800)).await;
        let cpu = cpu_seconds(child.id()) - cpu_before;
        rounds.push((round, cpu * 1e6 / n as f64));
    }
    let peak = peak_rss_mb(child.id());
    let _ = child.kill();
    let _ = child.wait();

    // The comparisons, against the same stand-in, to the healthy endpoints.
    let mut comparisons = Vec::new();
    if !args.node && args.webpush_rust.is_none() {
        report(
            &args,
            &rounds,
            &comparisons,
            registration_rate,
            peak,
            rss_after_registration,
        );
        return;
    }
    let subs: Vec<Value> = (0..n).map(|i| browsers[i].subscription_json(&endpoints[i])).collect();
    let subs_path = dir.path().join("subs.json");
    std::fs::write(&subs_path, serde_json::to_string(&subs).unwrap()).unwrap();
    let payload_text = serde_json::to_string(&json!({"web_push": 8030, "notification": {"title": payload["title"], "body": payload["body"], "navigate": payload["url"]}})).unwrap();
    if args.node {
        let mut node = Command::new("node");
        node.arg("bench/webpush-node/send.mjs")
            .arg(&subs_path)
            .arg(&payload_text)
            .env("NODE_EXTRA_CA_CERTS", &cert_path);
        comparisons.push(run_comparison("web-push for Node, 64 in flight", node, &sinks, n).await);
    }
    if let Some(path) = &args.webpush_rust {
        let key = herald_push::keys::VapidKeyPair::generate()
            .unwrap()
            .private_key_base64url()
            .unwrap();
        let mut rust = Command::new(path);
        rust.arg(&subs_path)
            .arg(&payload_text)
            .env("VAPID_PRIVATE_KEY", key)
            .env("SSL_CERT_FILE", &cert_path);
        comparisons
            .push(run_comparison("Rust web-push crate 0.11 (hyper client), 64 in flight", rust, &sinks, n).await);
    }

    report(
        &args,
        &rounds,
        &comparisons,
        registration_rate,
        peak,
        rss_after_registration,
    );
}

fn report(
    args: &Args,
    rounds: &[(Round, f64)],
    comparisons: &[(String, Round)],
    registration_rate: f64,
    peak: f64,
    rss_after_registration: f64,
) {
    let n = args.subscriptions;
    let rate = |r: &Round| n as f64 / r.elapsed.as_secs_f64();
    let median = |column: &dyn Fn(&(Round, f64)) -> f64| {
        let mut values: Vec<f64> = rounds.iter().map(column).collect();
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    let herald_rate = median(&|r| rate(&r.0));
    let stand_in = if args.nginx {
        "nginx (bench/nginx-sink.sh)".to_owned()
    } else {
        let s = &args.shape;
        format!(
            "mock, {} origin(s){}{}{}{}",
            args.origins,
            s.latency
                .map(|(a, b)| format!(", {}-{} ms", a.as_millis(), b.as_millis()))
                .unwrap_or_default(),
            s.max_streams.map(|v| format!(", {v} streams")).unwrap_or_default(),
            s.goaway_after
                .map(|v| format!(", GOAWAY after {v}"))
                .unwrap_or_default(),
            match args.hung_subscriptions {
                0 => String::new(),
                h => format!(", +{h} subscriptions at a hung origin"),
            }
        )
    };
    println!("| stand-in | {stand_in} |");
    println!("| subscriptions | {n} |");
    for (i, (r, cpu)) in rounds.iter().enumerate() {
        println!(
            "| herald round {} | {:.0}/s in {:.2} s, complete: {}, {} delivered, {} duplicates, {} TLS connections, {} over HTTP/2, {:.0} µs CPU per push{} |",
            i + 1,
            rate(r),
            r.elapsed.as_secs_f64(),
            r.complete,
            r.delivered,
            r.duplicates,
            r.tls_connections,
            r.http2,
            cpu,
            if args.hung_subscriptions > 0 {
                format!(", hung origin received {} requests", r.hung_requests)
            } else {
                String::new()
            }
        );
    }
    println!(
        "| herald broadcast | {:.0} notifications/s (median of {}) |",
        herald_rate,
        rounds.len()
    );
    println!("| herald CPU per notification | {:.0} µs (median) |", median(&|r| r.1));
    for (label, r) in comparisons {
        println!(
            "| {label} | {:.0}/s in {:.2} s, complete: {}, {} duplicates, {} TLS connections; herald is {:.1}x |",
            rate(r),
            r.elapsed.as_secs_f64(),
            r.complete,
            r.duplicates,
            r.tls_connections,
            herald_rate / rate(r)
        );
    }
    let floor = crypto_floor();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) as f64;
    println!(
        "| crypto floor (keygen + ECDH) | {:.0}/s per core, {:.0}/s on {cores} cores |",
        floor,
        floor * cores
    );
    println!("| registration | {:.0} subscriptions/s |", registration_rate);
    println!(
        "| herald peak RSS | {:.1} MB (after registration {:.1} MB) |",
        peak, rss_after_registration
    );
    if !args.nginx {
        let (ok, bad) = rounds
            .iter()
            .fold((0, 0), |(o, b), (r, _)| (o + r.decrypted, b + r.decrypt_failures));
        println!("| sampled decryptions | {ok} ok, {bad} failed |");
    }
}
