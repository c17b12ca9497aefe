//! The servers under test: a fresh database (a SQLite file, or a database created on a
//! PostgreSQL or MariaDB server and dropped at the end) and the `herald serve` processes on it,
//! with their CPU time and peak RSS read from `/proc`.

use crate::args::Args;
use sqlx::Connection;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const ADMIN: &str = "bench-admin-token-0123456789";

/// A database that exists while this value does.
pub struct Database {
    pub url: String,
    /// The administrative URL and the name to drop; `None` for SQLite (it goes with its
    /// directory).
    dropped_from: Option<(String, String)>,
}

impl Database {
    pub fn sqlite(dir: &Path) -> Self {
        Self {
            url: format!("sqlite://{}/bench.db", dir.display()),
            dropped_from: None,
        }
    }

    /// Creates `herald_bench_<pid>_<ms>` on the server at `server_url`. A database named in the
    /// URL is the one connected to for that (default `postgres`, or `mysql` for MariaDB).
    pub async fn create_on(server_url: &str) -> Result<Self, String> {
        let mut url = url::Url::parse(server_url).map_err(|e| format!("--database {server_url}: {e}"))?;
        let mysql = url.scheme() == "mysql";
        if url.path().trim_matches('/').is_empty() {
            url.set_path(if mysql { "/mysql" } else { "/postgres" });
        }
        let admin = url.to_string();
        let name = format!("herald_bench_{}_{}", std::process::id(), crate::sink::unix_ms() as u64);
        execute(&admin, &format!("CREATE DATABASE {name}"))
            .await
            .map_err(|e| format!("creating a database on {server_url}: {e}"))?;
        url.set_path(&format!("/{name}"));
        Ok(Self {
            url: url.to_string(),
            dropped_from: Some((admin, name)),
        })
    }
}

async fn execute(admin_url: &str, statement: &str) -> Result<(), sqlx::Error> {
    if admin_url.starts_with("mysql:") {
        let mut c = sqlx::MySqlConnection::connect(admin_url).await?;
        sqlx::query(statement).execute(&mut c).await?;
    } else {
        let mut c = sqlx::PgConnection::connect(admin_url).await?;
        sqlx::query(statement).execute(&mut c).await?;
    }
    Ok(())
}

impl Drop for Database {
    fn drop(&mut self) {
        let Some((admin, name)) = self.dropped_from.take() else {
            return;
        };
        // The servers are stopped by now; FORCE ends any connection PostgreSQL still counts.
        let statement = match admin.starts_with("mysql:") {
            true => format!("DROP DATABASE IF EXISTS {name}"),
            false => format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        };
        // Drop may run inside the bench's runtime: a thread with a runtime of its own waits.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(execute(&admin, &statement)).map_err(|e| e.to_string())
        })
        .join()
        .unwrap_or_else(|_| Err("the dropping thread panicked".into()));
        if let Err(e) = dropped {
            eprintln!("could not drop the bench database {name}: {e}");
        }
    }
}

/// A `herald` command with the bench's settings (database, admin token, the stand-ins'
/// certificates, `--env`).
pub fn herald_command(args: &Args, database_url: &str, cert_path: &Path) -> Command {
    let mut command = Command::new(&args.herald);
    command
        .env("HERALD_CONFIG", "/dev/null")
        .env("HERALD_DATABASE_URL", database_url)
        .env("HERALD_ADMIN_TOKEN", ADMIN)
        .env("HERALD_VAPID_SUBJECT", "mailto:bench@example.com")
        .env("HERALD_ALLOW_PRIVATE_ENDPOINTS", "true")
        .env("HERALD_PUBLIC_RATE_LIMIT_PER_MINUTE", "0")
        .env("HERALD_MAX_SUBSCRIPTIONS_PER_OWNER", "1000000")
        .env("HERALD_DELIVERY_CONCURRENCY", args.concurrency.to_string())
        .env("SSL_CERT_FILE", cert_path)
        .env("HERALD_LOG", std::env::var("BENCH_HERALD_LOG").unwrap_or("warn".into()))
        .envs(args.env.iter().map(|(k, v)| (k, v)));
    command
}

/// The running `herald serve` processes; killed when dropped.
pub struct Instances {
    children: Vec<Child>,
    pub bases: Vec<String>,
}

impl Instances {
    /// Starts `args.instances` servers, the first alone (it runs the migrations), and waits
    /// until each answers `/healthz`.
    pub async fn start(args: &Args, database_url: &str, cert_path: &Path) -> Result<Self, String> {
        let mut instances = Self {
            children: Vec::new(),
            bases: Vec::new(),
        };
        for _ in 0..args.instances {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map_err(|e| format!("no free port: {e}"))?
                .port();
            let logs = std::env::var("BENCH_HERALD_LOG").is_ok();
            let child = herald_command(args, database_url, cert_path)
                .arg("serve")
                .env("HERALD_LISTEN", format!("127.0.0.1:{port}"))
                .stdout(Stdio::null())
                .stderr(if logs { Stdio::inherit() } else { Stdio::null() })
                .spawn()
                .map_err(|e| {
                    format!(
                        "cannot start {} ({e}); build it with cargo build --release -p herald",
                        args.herald
                    )
                })?;
            instances.children.push(child);
            let base = format!("http://127.0.0.1:{port}");
            instances.wait_healthy(&base).await?;
            instances.bases.push(base);
        }
        Ok(instances)
    }

    async fn wait_healthy(&mut self, base: &str) -> Result<(), String> {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok(r) = http.get(format!("{base}/healthz")).send().await {
                if r.status().is_success() {
                    return Ok(());
                }
            }
            let child = self.children.last_mut().expect("a child");
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "herald serve exited at start ({status}); BENCH_HERALD_LOG=info shows why"
                ));
            }
            if Instant::now() > deadline {
                return Err(format!("herald serve on {base} did not become healthy in 120 s"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// User plus system CPU seconds, summed over the instances.
    pub fn cpu_seconds(&self) -> f64 {
        self.children.iter().map(|c| cpu_seconds(c.id())).sum()
    }

    /// Each instance's peak RSS in MB.
    pub fn peak_rss_mb(&self) -> Vec<f64> {
        self.children.iter().map(|c| peak_rss_mb(c.id())).collect()
    }

    /// Pushes each instance's push services accepted so far (its `/metrics`).
    pub async fn accepted(&self) -> Vec<u64> {
        let mut counts = Vec::new();
        for base in &self.bases {
            let text = match reqwest::get(format!("{base}/metrics")).await {
                Ok(r) => r.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            counts.push(
                text.lines()
                    .find_map(|l| l.strip_prefix("herald_push_requests_total{outcome=\"accepted\"} "))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0),
            );
        }
        counts
    }

    pub fn stop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Instances {
    fn drop(&mut self) {
        self.stop();
    }
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
