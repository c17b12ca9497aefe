//! The mock push service: `POST /push/{device}` verifies, decrypts, records and answers.

use crate::{decrypt, unb64, verify_vapid, Browser, VapidClaims};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::Notify;

/// How the mock answers one push.
#[derive(Debug, Clone)]
pub struct MockResponse {
    pub status: u16,
    pub retry_after: Option<String>,
    pub delay: Option<Duration>,
    pub body: String,
}

impl MockResponse {
    pub fn status(status: u16) -> Self {
        Self {
            status,
            retry_after: None,
            delay: None,
            body: String::new(),
        }
    }

    pub fn created() -> Self {
        Self::status(201)
    }

    pub fn retry_after(mut self, value: &str) -> Self {
        self.retry_after = Some(value.to_owned());
        self
    }

    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }

    pub fn body(mut self, body: &str) -> Self {
        self.body = body.to_owned();
        self
    }
}

/// One push as the mock saw it.
#[derive(Debug, Clone)]
pub struct ReceivedPush {
    pub device: String,
    pub ttl: Option<u32>,
    pub urgency: Option<String>,
    pub topic: Option<String>,
    pub encoding: Option<String>,
    pub content_type: Option<String>,
    /// `Ok(None)` for a push without data.
    pub payload: Result<Option<Vec<u8>>, String>,
    pub vapid: Result<VapidClaims, String>,
    pub vapid_key: Option<Vec<u8>>,
    pub answered: u16,
    pub at: Instant,
}

impl ReceivedPush {
    /// The decrypted payload as JSON; panics with the reason when it is not.
    pub fn json(&self) -> serde_json::Value {
        let bytes = self.payload.clone().expect("decrypts").expect("has a payload");
        serde_json::from_slice(&bytes).expect("payload is JSON")
    }
}

struct Device {
    browser: Browser,
    script: VecDeque<MockResponse>,
    default: MockResponse,
}

#[derive(Default)]
struct Inner {
    devices: Mutex<HashMap<String, Device>>,
    received: Mutex<Vec<ReceivedPush>>,
    arrived: Notify,
    next_id: AtomicU64,
    origin: Mutex<String>,
}

/// A running mock push service on `127.0.0.1` with a random port. It stops when dropped.
pub struct MockPushService {
    inner: Arc<Inner>,
    base_url: String,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl MockPushService {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let inner = Arc::new(Inner::default());
        *inner.origin.lock().unwrap() = base_url.clone();
        let app = Router::new()
            .route("/push/{device}", post(receive))
            .with_state(inner.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Self {
            inner,
            base_url,
            _shutdown: tx,
        }
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// A new device that answers 201; returns its endpoint and keys.
    pub fn add_device(&self) -> (String, Browser) {
        self.add_device_with(MockResponse::created())
    }

    /// A new device whose every answer is `default` unless scripted otherwise.
    pub fn add_device_with(&self, default: MockResponse) -> (String, Browser) {
        let id = format!("d{}", self.inner.next_id.fetch_add(1, Ordering::Relaxed));
        let browser = Browser::generate();
        self.inner.devices.lock().unwrap().insert(
            id.clone(),
            Device {
                browser: browser.clone(),
                script: VecDeque::new(),
                default,
            },
        );
        (format!("{}/push/{id}", self.base_url), browser)
    }

    /// Answers the next pushes to `endpoint` with `responses`, in order, then the default.
    pub fn script(&self, endpoint: &str, responses: Vec<MockResponse>) {
        let id = endpoint.rsplit('/').next().unwrap_or_default();
        if let Some(device) = self.inner.devices.lock().unwrap().get_mut(id) {
            device.script.extend(responses);
        }
    }

    /// Changes the default answer of `endpoint` (for example to 410 once "unsubscribed").
    pub fn set_default(&self, endpoint: &str, response: MockResponse) {
        let id = endpoint.rsplit('/').next().unwrap_or_default();
        if let Some(device) = self.inner.devices.lock().unwrap().get_mut(id) {
            device.default = response;
        }
    }

    pub fn received(&self) -> Vec<ReceivedPush> {
        self.inner.received.lock().unwrap().clone()
    }

    pub fn received_by(&self, endpoint: &str) -> Vec<ReceivedPush> {
        let id = endpoint.rsplit('/').next().unwrap_or_default();
        self.received().into_iter().filter(|p| p.device == id).collect()
    }

    /// Waits until at least `count` pushes arrived, or `timeout` passed; returns them all.
    pub async fn wait_for(&self, count: usize, timeout: Duration) -> Vec<ReceivedPush> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.inner.arrived.notified();
            if self.inner.received.lock().unwrap().len() >= count {
                break;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                break;
            }
        }
        self.received()
    }
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

fn param(header: Option<&str>, name: &str) -> Option<Vec<u8>> {
    header?
        .split([';', ','])
        .find_map(|p| p.trim().strip_prefix(name))
        .and_then(unb64)
}

async fn receive(
    State(inner): State<Arc<Inner>>,
    Path(device): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let (browser, planned) = {
        let mut devices = inner.devices.lock().unwrap();
        match devices.get_mut(&device) {
            Some(d) => {
                let planned = d.script.pop_front().unwrap_or_else(|| d.default.clone());
                (Some(d.browser.clone()), planned)
            }
            None => (None, MockResponse::status(404)),
        }
    };
    let origin = inner.origin.lock().unwrap().clone();
    let authorization = header(&headers, "authorization").unwrap_or_default();
    let crypto_key = header(&headers, "crypto-key");
    let vapid = verify_vapid(&authorization, crypto_key.as_deref(), &origin, now);
    let encoding = header(&headers, "content-encoding");
    let payload = match (&browser, body.is_empty(), &encoding) {
        (_, true, _) => Ok(None),
        (None, false, _) => Err("unknown device".to_owned()),
        (Some(_), false, None) => Err("a body without Content-Encoding".to_owned()),
        (Some(b), false, Some(enc)) => {
            let salt = param(header(&headers, "encryption").as_deref(), "salt=");
            let dh = param(crypto_key.as_deref(), "dh=");
            decrypt(b, enc, &body, salt.as_deref(), dh.as_deref())
                .map(Some)
                .map_err(|e| e.0)
        }
    };
    let ttl = header(&headers, "ttl").and_then(|v| v.parse().ok());
    // A real push service refuses a missing TTL or a bad signature before anything else.
    let answer = if ttl.is_none() {
        MockResponse::status(400).body(r#"{"errno":111,"message":"Missing TTL header"}"#)
    } else if vapid.is_err() {
        MockResponse::status(401).body(r#"{"errno":109,"message":"invalid VAPID"}"#)
    } else {
        planned
    };
    let record = ReceivedPush {
        device,
        ttl,
        urgency: header(&headers, "urgency"),
        topic: header(&headers, "topic"),
        encoding,
        content_type: header(&headers, "content-type"),
        payload,
        vapid_key: vapid.as_ref().ok().map(|(_, k)| k.clone()),
        vapid: vapid.map(|(c, _)| c),
        answered: answer.status,
        at: Instant::now(),
    };
    if let Some(delay) = answer.delay {
        tokio::time::sleep(delay).await;
    }
    inner.received.lock().unwrap().push(record);
    inner.arrived.notify_waiters();
    let mut response = (
        StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        answer.body,
    )
        .into_response();
    if let Some(retry_after) = answer.retry_after {
        if let Ok(v) = HeaderValue::from_str(&retry_after) {
            response.headers_mut().insert("retry-after", v);
        }
    }
    if (200..300).contains(&answer.status) {
        response
            .headers_mut()
            .insert("location", HeaderValue::from_static("/m/1"));
    }
    response
}
