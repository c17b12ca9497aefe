//! `herald-bench`: times broadcasts through real `herald serve` processes (release build) into
//! local TLS push-service stand-ins, and the same fan-out with web-push for Node and the Rust
//! `web-push` crate. The flags are in [`args::USAGE`] (`herald-bench --help` prints them).
//!
//! ```sh
//! cargo build --release -p herald -p herald-bench
//! target/release/herald-bench --subscriptions 10000 --latency-ms 30-60 --max-streams 100 --goaway-after 2000
//! ```
//! The stand-in is herald-testkit's mock push service (TLS + HTTP/2, counters only, one
//! decryption in 97, on a thread of its own), shaped by `--latency-ms`, `--max-streams` and
//! `--goaway-after`; `--origins N` spreads the subscriptions over N such services (N push
//! service origins), and `--hung-subscriptions M` adds M more at one that never answers
//! (the rate and time are then those of the healthy origins). `--nginx` sends to nginx
//! instead (`bench/nginx-sink.sh`, counts from its access log).
//!
//! The servers run on a fresh SQLite file, or with `--database` on a fresh PostgreSQL or
//! MariaDB database, `--instances N` of them sharing it. Each round is timed from the API call
//! to the last delivery; the stand-in counts the TLS connections Herald opened, the duplicate
//! deliveries (a device reached twice in one round) and the devices missed or reached outside
//! the audience (`--tagged`, `--audience tags`), counted once the message has nothing pending.
//! With `--rounds N`, Herald sends N broadcasts one after the other to the same
//! subscriptions, against an outbox that still holds the earlier ones' rows. CPU per push
//! comes from `/proc/<pid>/stat` of the servers, summed. See `bench/run.sh` and
//! `docs/benchmarks.md`.

mod args;
mod nginx;
mod report;
mod servers;
mod sink;

use args::{Args, Audience, Refusal, USAGE};
use futures::StreamExt;
use herald_testkit::Browser;
use serde_json::{json, Value};
use servers::{Database, Instances, ADMIN};
use sink::{Round, Sinks};
use std::process::Command;
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(Refusal::Help) => {
            println!("{USAGE}");
            return;
        }
        Err(Refusal::Bad(why)) => {
            eprintln!("herald-bench: {why}\n{USAGE}");
            std::process::exit(2);
        }
    };
    if let Err(why) = run(args).await {
        eprintln!("herald-bench: {why}");
        std::process::exit(1);
    }
}

/// What the servers did, for the report.
pub struct Measured {
    /// Each round and Herald's CPU µs per push in it.
    pub rounds: Vec<(Round, f64)>,
    pub comparisons: Vec<(String, Round)>,
    pub registration_rate: f64,
    pub registration_how: &'static str,
    pub peak_rss: Vec<f64>,
    pub rss_after_registration: Vec<f64>,
    /// Pushes each instance's push services accepted, with more than one instance.
    pub accepted: Vec<u64>,
    pub load_before: String,
    /// The crypto floor just before the first broadcast and just after the last.
    pub floor_before: report::Floor,
    pub floor_after: report::Floor,
}

async fn run(args: Args) -> Result<(), String> {
    let load_before = load_average();
    let n = args.subscriptions;
    let hung_n = args.hung_subscriptions;
    let sinks = if args.nginx {
        Sinks::Nginx(nginx::NginxSink::start(std::path::Path::new("bench/nginx-sink.sh"))?)
    } else {
        Sinks::mocks(args.origins, &args.shape, hung_n > 0).await
    };
    eprintln!("generating {} browser key pairs", n + hung_n);
    let browsers = generate_browsers(n + hung_n);
    let mut endpoints = sinks.add_healthy(&browsers[..n]);
    if hung_n > 0 {
        endpoints.extend(sinks.add_hung(&browsers[n..]));
    }
    let dir = tempfile::tempdir().map_err(|e| format!("a temporary directory: {e}"))?;
    let cert_path = dir.path().join("sinks.pem");
    std::fs::write(&cert_path, sinks.ca_bundle()).map_err(|e| e.to_string())?;
    // Declared before the servers, so it is dropped after them.
    let database = match &args.database {
        Some(url) => Database::create_on(url).await?,
        None => Database::sqlite(dir.path()),
    };
    let registration = |i: usize| {
        let mut body = json!({ "subscription": browsers[i].subscription_json(&endpoints[i]), "uid": i });
        if let Some(tag) = args.tag_of(i) {
            body["tags"] = json!([tag]);
        }
        body
    };

    let started = Instant::now();
    let registration_how = if args.import {
        import(
            &args,
            &database.url,
            &cert_path,
            (0..n + hung_n).map(registration),
            dir.path(),
        )?;
        "herald subscriptions import"
    } else {
        "the API, 32 requests in flight"
    };
    let mut instances = Instances::start(&args, &database.url, &cert_path).await?;
    if !args.import {
        register(&instances.bases, (0..n + hung_n).map(registration)).await?;
    }
    let registration_rate = (n + hung_n) as f64 / started.elapsed().as_secs_f64();
    let rss_after_registration = instances.peak_rss_mb();

    let mut payload = json!({"title": "Your balance is low",
        "body": "Top up before the 1st to keep your service.", "url": "https://billing.example.net/pay"});
    payload["to"] = match args.audience {
        Audience::All => json!({"all": "clients"}),
        Audience::Tags => json!({"tags": {"any": ["bench:a", "bench:b"]}}),
    };
    let expected = args.healthy_targets() as u64;
    let http = reqwest::Client::new();
    let floor_before = report::Floor::measure();
    let mut rounds = Vec::new();
    for _ in 0..args.rounds {
        let mark = sinks.begin();
        // bench/profile.sh starts perf on this line.
        eprintln!("broadcast starting");
        let cpu_before = instances.cpu_seconds();
        let r: Value = http
            .post(format!("{}/api/v1/messages", instances.bases[0]))
            .bearer_auth(ADMIN)
            .json(&payload)
            .send()
            .await
            .map_err(|e| format!("the broadcast: {e}"))?
            .json()
            .await
            .map_err(|e| format!("the broadcast's answer: {e}"))?;
        if r["targets"] != args.targets() {
            return Err(format!("the broadcast expected {} targets: {r}", args.targets()));
        }
        let mut round = sinks.finish(&mark, expected, Duration::from_secs(1800)).await;
        let cpu = instances.cpu_seconds() - cpu_before;
        // Count again once nothing is pending, so late duplicates and strays are seen too.
        if hung_n == 0 && round.complete {
            let id = r["id"].as_str().unwrap_or_default();
            wait_settled(&http, &instances.bases[0], id).await;
            // nginx writes its access log every 100 ms.
            tokio::time::sleep(Duration::from_millis(300)).await;
            let elapsed = round.elapsed;
            round = sinks.finish(&mark, expected, Duration::ZERO).await;
            round.elapsed = elapsed;
        }
        let reached = sinks.deliveries_by_endpoint();
        for (i, endpoint) in endpoints[..n].iter().enumerate() {
            let count = reached.get(endpoint).copied().unwrap_or(0);
            let in_audience = args.audience == Audience::All || args.tag_of(i).is_some();
            match (in_audience, count) {
                (true, 0) => round.missed += 1,
                (false, 1..) => round.outside_audience += 1,
                _ => {}
            }
        }
        rounds.push((round, cpu * 1e6 / expected as f64));
    }
    let floor_after = report::Floor::measure();
    let peak_rss = instances.peak_rss_mb();
    let accepted = match instances.bases.len() {
        1 => Vec::new(),
        _ => instances.accepted().await,
    };
    instances.stop();
    drop(database);

    // The comparisons, against the same stand-in, to the healthy endpoints.
    let mut comparisons = Vec::new();
    if args.node || args.webpush_rust.is_some() {
        let subs: Vec<Value> = (0..n).map(|i| browsers[i].subscription_json(&endpoints[i])).collect();
        let subs_path = dir.path().join("subs.json");
        std::fs::write(&subs_path, serde_json::to_string(&subs).unwrap_or_default()).map_err(|e| e.to_string())?;
        let payload_text = json!({"web_push": 8030, "notification": {"title": payload["title"],
            "body": payload["body"], "navigate": payload["url"]}})
        .to_string();
        if args.node {
            let mut node = Command::new("node");
            node.arg("bench/webpush-node/send.mjs")
                .arg(&subs_path)
                .arg(&payload_text)
                .env("NODE_EXTRA_CA_CERTS", &cert_path);
            comparisons.push(run_comparison("web-push for Node, 64 in flight", node, &sinks, n).await?);
        }
        if let Some(path) = &args.webpush_rust {
            let key = herald_push::keys::VapidKeyPair::generate()
                .and_then(|k| k.private_key_base64url())
                .map_err(|e| format!("a VAPID key: {e}"))?;
            let mut rust = Command::new(path);
            rust.arg(&subs_path)
                .arg(&payload_text)
                .env("VAPID_PRIVATE_KEY", key)
                .env("SSL_CERT_FILE", &cert_path);
            let label = "Rust web-push crate 0.11 (hyper client), 64 in flight";
            comparisons.push(run_comparison(label, rust, &sinks, n).await?);
        }
    }

    report::print(
        &args,
        &Measured {
            rounds,
            comparisons,
            registration_rate,
            registration_how,
            peak_rss,
            rss_after_registration,
            accepted,
            load_before,
            floor_before,
            floor_after,
        },
    );
    Ok(())
}

/// `n` browsers' key pairs, made on every core (a million take minutes on one).
fn generate_browsers(n: usize) -> Vec<Browser> {
    let threads = std::thread::available_parallelism().map(|t| t.get()).unwrap_or(1);
    std::thread::scope(|scope| {
        let parts: Vec<_> = (0..threads)
            .map(|t| {
                let count = n / threads + usize::from(t < n % threads);
                scope.spawn(move || (0..count).map(|_| Browser::generate()).collect::<Vec<_>>())
            })
            .collect();
        parts
            .into_iter()
            .flat_map(|part| part.join().unwrap_or_default())
            .collect()
    })
}

/// Registers every subscription through the API, spread over the instances.
async fn register(bases: &[String], bodies: impl Iterator<Item = Value>) -> Result<(), String> {
    let http = reqwest::Client::new();
    let failures: Vec<String> = futures::stream::iter(bodies.enumerate())
        .map(|(i, body)| {
            let http = http.clone();
            let url = format!("{}/api/v1/subscriptions", bases[i % bases.len()]);
            async move {
                match http.post(url).bearer_auth(ADMIN).json(&body).send().await {
                    Ok(r) if r.status().is_success() => None,
                    Ok(r) => Some(format!("registration answered {}", r.status())),
                    Err(e) => Some(format!("registration failed: {e}")),
                }
            }
        })
        .buffer_unordered(32)
        .filter_map(|failure| async move { failure })
        .collect()
        .await;
    match failures.first() {
        None => Ok(()),
        Some(first) => Err(format!("{} registrations failed, the first: {first}", failures.len())),
    }
}

/// Registers every subscription with `herald init` and `herald subscriptions import` of a
/// JSON-lines file, before any server starts: the fast path for a million.
fn import(
    args: &Args,
    database_url: &str,
    cert_path: &std::path::Path,
    lines: impl Iterator<Item = Value>,
    dir: &std::path::Path,
) -> Result<(), String> {
    use std::io::Write;
    let path = dir.join("subscriptions.jsonl");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).map_err(|e| e.to_string())?);
    for line in lines {
        writeln!(file, "{line}").map_err(|e| e.to_string())?;
    }
    file.flush().map_err(|e| e.to_string())?;
    drop(file);
    for step in [
        vec!["init"],
        vec!["subscriptions", "import", path.to_str().unwrap_or_default()],
    ] {
        let output = servers::herald_command(args, database_url, cert_path)
            .args(&step)
            .output()
            .map_err(|e| format!("cannot run {}: {e}", args.herald))?;
        if !output.status.success() {
            return Err(format!(
                "herald {} failed: {}",
                step.join(" "),
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        eprint!("{}", String::from_utf8_lossy(&output.stdout));
    }
    Ok(())
}

/// Waits until the message has nothing pending (at most 60 s).
async fn wait_settled(http: &reqwest::Client, base: &str, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let status: Option<Value> = match http
            .get(format!("{base}/api/v1/messages/{id}"))
            .bearer_auth(ADMIN)
            .send()
            .await
        {
            Ok(r) => r.json().await.ok(),
            Err(_) => None,
        };
        if status.is_some_and(|s| s["pending"] == 0) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("message {id} still had pending pushes after 60 s");
}

/// A comparison sender run against the same stand-in: rate and what the stand-in counted.
async fn run_comparison(label: &str, mut command: Command, sinks: &Sinks, n: usize) -> Result<(String, Round), String> {
    let mark = sinks.begin();
    let status = tokio::task::spawn_blocking(move || command.status())
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("{label} does not run: {e}"))?;
    if !status.success() {
        return Err(format!("{label} failed: {status}"));
    }
    let round = sinks.finish(&mark, n as u64, Duration::from_secs(120)).await;
    Ok((label.to_owned(), round))
}

/// The 1, 5 and 15 minute load averages: the machine is shared, and the rates depend on it.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
