//! nginx as the neutral push-service stand-in: Debian's nginx, TLS + HTTP/2, one worker,
//! `return 201` (started by `bench/nginx-sink.sh`). It costs almost nothing per request, so
//! what a broadcast against it measures is the sender. Counts come from its access log:
//! one line per request with its time, its connection's serial number and its URI.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct NginxSink {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
}

/// What the access log says since it was last truncated.
#[derive(Debug, Default)]
pub struct LogCounts {
    pub requests: usize,
    /// Answered 201.
    pub delivered: usize,
    pub distinct_delivered: usize,
    pub connections: usize,
    pub http2: usize,
    pub last_unix_ms: f64,
}

impl NginxSink {
    /// Runs `script DIR PORT` and waits until nginx listens.
    pub fn start(script: &Path) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("a temporary directory: {e}"))?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port: {e}"))?
            .port();
        let mut child = Command::new(script)
            .arg(dir.path())
            .arg(port.to_string())
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| format!("{} does not run: {e}", script.display()))?;
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline || matches!(child.try_wait(), Ok(Some(_))) {
                let _ = child.kill();
                // Keep the directory: its error.log says why.
                return Err(format!(
                    "nginx did not start (needs nginx-light and openssl); see {}",
                    dir.keep().display()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Self { child, dir, port })
    }

    pub fn endpoint(&self, i: usize) -> String {
        format!("https://127.0.0.1:{}/push/{i}", self.port)
    }

    pub fn cert_pem(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("cert.pem")).unwrap()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("access.log")
    }

    /// Empties the access log (nginx appends, so it writes on at the start).
    pub fn truncate_log(&self) {
        // Let nginx flush what it buffered from before first.
        std::thread::sleep(Duration::from_millis(300));
        std::fs::write(self.log_path(), b"").unwrap();
    }

    /// Answers 201 per endpoint in the access log.
    pub fn deliveries_by_endpoint(&self) -> HashMap<String, u64> {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let mut counts = HashMap::new();
        for line in text.lines() {
            if let [_, _, _, "201", uri] = line.split(' ').collect::<Vec<_>>()[..] {
                *counts
                    .entry(format!("https://127.0.0.1:{}{uri}", self.port))
                    .or_insert(0) += 1;
            }
        }
        counts
    }

    pub fn read_log(&self) -> LogCounts {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let mut counts = LogCounts::default();
        let mut uris = HashSet::new();
        let mut connections = HashSet::new();
        // `$msec $connection $server_protocol $status $request_uri`
        for line in text.lines() {
            let fields: Vec<&str> = line.split(' ').collect();
            let [msec, connection, protocol, status, uri] = fields[..] else {
                continue;
            };
            counts.requests += 1;
            counts.last_unix_ms = counts.last_unix_ms.max(msec.parse::<f64>().unwrap_or(0.0) * 1000.0);
            connections.insert(connection.to_owned());
            if protocol == "HTTP/2.0" {
                counts.http2 += 1;
            }
            if status == "201" {
                counts.delivered += 1;
                uris.insert(uri.to_owned());
            }
        }
        counts.distinct_delivered = uris.len();
        counts.connections = connections.len();
        counts
    }
}

impl Drop for NginxSink {
    fn drop(&mut self) {
        // SIGTERM, so the master stops its worker too (SIGKILL would orphan it).
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
    }
}
