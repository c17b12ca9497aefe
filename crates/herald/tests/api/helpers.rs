//! The test harness: each test gets the real server on a random port, a fresh database (SQLite
//! by default; PostgreSQL or MariaDB when `HERALD_TEST_DATABASE` says so) and its own mock
//! push service that verifies VAPID and decrypts every push independently.

pub use crate::test_database::{DatabaseServer, TestDatabase};
use herald::clock::{Clock, ManualClock, SystemClock};
use herald::config::Config;
use herald::startup::Application;
use herald_testkit::{Browser, MockOptions, MockPushService};
use serde_json::{json, Value};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";
pub const OWNER_SECRET: &str = "test-owner-token-secret-0123456789abcdef";

pub struct TestApp {
    pub address: String,
    pub database_url: String,
    pub http: reqwest::Client,
    pub push: MockPushService,
    pub app_state: Arc<herald::app::AppState>,
    pub engine: Arc<herald::delivery::DeliveryEngine>,
    pub scheduler: Arc<herald::scheduler::Scheduler>,
    pub clock: Option<ManualClock>,
    shutdown: CancellationToken,
    /// The database this app made, dropped after the app stops; `None` on a database given
    /// in [`Options::database_url`], which its maker drops.
    _database: Option<TestDatabase>,
    _dir: tempfile::TempDir,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

#[derive(Default, Clone)]
pub struct Options {
    /// Use a manual clock instead of the system clock.
    pub manual_clock: bool,
    /// Do not run the delivery engine and scheduler loops (tests drive them).
    pub no_workers: bool,
    /// Keep the default SSRF policy (no private or http endpoints).
    pub strict_endpoints: bool,
    pub env: Vec<(&'static str, String)>,
    /// Start on this database instead of a fresh one (a second instance, or a restart).
    pub database_url: Option<String>,
    /// The shape of the mock push service (default: plain `http://`, answers at once). With
    /// TLS, Herald trusts its certificate through `SSL_CERT_FILE`.
    pub push: Option<MockOptions>,
}

/// A fresh database for the backend chosen by `HERALD_TEST_DATABASE`, dropped with the value.
pub async fn fresh_database(dir: &std::path::Path) -> TestDatabase {
    let server = match std::env::var("HERALD_TEST_DATABASE").as_deref() {
        Ok("postgres") => DatabaseServer::Postgres,
        Ok("mysql") => DatabaseServer::MySql,
        _ => return TestDatabase::sqlite(dir),
    };
    TestDatabase::create(server, "herald_test").await.unwrap_or_else(|e| match server {
        DatabaseServer::Postgres => panic!("HERALD_TEST_DATABASE=postgres needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust; scripts/services.sh sets it up): {e}"),
        DatabaseServer::MySql => panic!("HERALD_TEST_DATABASE=mysql needs MariaDB on 127.0.0.1:3306 (user root, no password; scripts/services.sh sets it up): {e}"),
    })
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default()).await
}

pub async fn spawn_app_with(options: Options) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let (database_url, database) = match &options.database_url {
        Some(url) => (url.clone(), None),
        None => {
            let made = fresh_database(dir.path()).await;
            (made.url.clone(), Some(made))
        }
    };
    let mut env: Vec<(&str, String)> = vec![
        ("HERALD_LISTEN", "127.0.0.1:0".into()),
        ("HERALD_DATABASE_URL", database_url.clone()),
        ("HERALD_ADMIN_TOKEN", ADMIN_TOKEN.into()),
        ("HERALD_OWNER_TOKEN_SECRET", OWNER_SECRET.into()),
        ("HERALD_VAPID_SUBJECT", "mailto:tests@example.com".into()),
        ("HERALD_RETRY_BASE_MS", "50".into()),
        ("HERALD_PUBLIC_RATE_LIMIT_PER_MINUTE", "0".into()),
    ];
    if !options.strict_endpoints {
        env.push(("HERALD_ALLOW_PRIVATE_ENDPOINTS", "true".into()));
        env.push(("HERALD_ALLOW_HTTP_ENDPOINTS", "true".into()));
    }
    // The mock starts first: Herald reads the certificate it must trust when it starts.
    let push = MockPushService::start_with(options.push.clone().unwrap_or_default()).await;
    if let Some(ca_file) = push.ca_file() {
        env.push(("SSL_CERT_FILE", ca_file.display().to_string()));
    }
    env.extend(options.env.iter().cloned());
    let config = Config::load_from(Some(std::path::Path::new("/dev/null")), |k| {
        env.iter().rev().find(|(name, _)| *name == k).map(|(_, v)| v.clone())
    })
    .expect("valid test configuration");
    let manual = options
        .manual_clock
        .then(|| ManualClock::new(chrono::Utc::now().timestamp_millis()));
    let clock: Arc<dyn Clock> = match &manual {
        Some(m) => Arc::new(m.clone()),
        None => Arc::new(SystemClock),
    };
    let app = Application::build_with_clock(config, clock).await.expect("app builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let (app_state, engine, scheduler) = (app.state(), app.engine(), app.scheduler());
    let shutdown = CancellationToken::new();
    let address = if options.no_workers {
        // The API alone: tests drive the engine and the scheduler by hand.
        let router = herald::api::router(app_state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(herald::api::http_server::serve(
            listener,
            router,
            app.connection_limits(),
            shutdown.clone(),
        ));
        address
    } else {
        tokio::spawn(app.run_until_stopped(shutdown.clone()));
        address
    };
    TestApp {
        address,
        database_url,
        http: reqwest::Client::new(),
        push,
        app_state,
        engine,
        scheduler,
        clock: manual,
        shutdown,
        _database: database,
        _dir: dir,
    }
}

impl TestApp {
    /// Stops the server and its workers, as a shutdown would; the database stays.
    pub fn stop(&self) {
        self.shutdown.cancel();
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// A request with the admin token and no body.
    pub async fn admin(&self, method: reqwest::Method, path: &str) -> reqwest::Response {
        self.http
            .request(method, self.url(path))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap()
    }

    pub async fn admin_get(&self, path: &str) -> reqwest::Response {
        self.admin(reqwest::Method::GET, path).await
    }

    /// The tags of each subscription the admin list gives for `query` (`uid=7`, `aid=3`).
    pub async fn owner_subscription_tags(&self, query: &str) -> Vec<Value> {
        let list: Value = self
            .admin_get(&format!("/api/v1/subscriptions?{query}"))
            .await
            .json()
            .await
            .unwrap();
        list["subscriptions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["tags"].clone())
            .collect()
    }

    /// What a device's service worker fetches after a tickle push (`{"messages": […]}`).
    pub async fn inbox(&self, device: &Device) -> Value {
        let response = self
            .http
            .get(self.url(&format!("/api/v1/subscriptions/{}/messages", device.id)))
            .bearer_auth(&device.secret)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "the inbox of {}", device.id);
        response.json().await.unwrap()
    }

    pub async fn admin_delete(&self, path: &str) -> reqwest::Response {
        self.admin(reqwest::Method::DELETE, path).await
    }

    /// Runs SQL on the database directly, behind Herald's back (to plant a row it would never
    /// write itself, or a trigger).
    pub async fn raw_sql(&self, sql: &str) {
        sqlx::raw_sql(sql).execute(self.app_state.store.pool()).await.unwrap();
    }

    pub async fn admin_post(&self, path: &str, body: Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Registers a new mock device for `owner` (`{"uid": …}` or `{"aid": …}`) with the admin
    /// token; returns the endpoint, the keys, and Herald's id and secret.
    pub async fn register_device(&self, owner: Value) -> Device {
        let (endpoint, browser) = self.push.add_device();
        self.register_existing(owner, endpoint, browser).await
    }

    pub async fn register_existing(&self, owner: Value, endpoint: String, browser: Browser) -> Device {
        let mut body = json!({ "subscription": browser.subscription_json(&endpoint) });
        for (k, v) in owner.as_object().unwrap() {
            body[k] = v.clone();
        }
        let response = self.admin_post("/api/v1/subscriptions", body).await;
        assert!(response.status().is_success(), "register: {}", response.status());
        let json: Value = response.json().await.unwrap();
        Device {
            endpoint,
            id: json["id"].as_str().unwrap().to_owned(),
            secret: json["secret"].as_str().unwrap().to_owned(),
        }
    }

    /// Sends a message as admin and returns its id.
    pub async fn send(&self, body: Value) -> String {
        let response = self.admin_post("/api/v1/messages", body).await;
        let status = response.status();
        let json: Value = response.json().await.unwrap();
        assert!(status.is_success(), "send: {status} {json}");
        json["id"].as_str().unwrap().to_owned()
    }

    pub async fn message(&self, id: &str) -> Value {
        self.admin_get(&format!("/api/v1/messages/{id}"))
            .await
            .json()
            .await
            .unwrap()
    }

    /// The Prometheus text `/metrics` answers (no token: the tests that set one ask by hand).
    pub async fn metrics_text(&self) -> String {
        self.http
            .get(self.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Polls the message until nothing is pending.
    pub async fn wait_settled(&self, id: &str) -> Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let m = self.message(id).await;
            if m["pending"] == 0 && m["status"] != "scheduled" {
                return m;
            }
            assert!(std::time::Instant::now() < deadline, "message never settled: {m}");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

pub struct Device {
    pub endpoint: String,
    pub id: String,
    pub secret: String,
}

/// Asserts a JSON error body with the given status.
pub async fn assert_error(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status().as_u16(), status);
    let body: Value = response.json().await.expect("error bodies are JSON");
    assert!(
        body["error"]["code"].is_string() && body["error"]["message"].is_string(),
        "{body}"
    );
    body
}
