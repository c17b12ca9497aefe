//! How a hostile case is sent and judged: every refusal must be a 4xx with the JSON error
//! object, and a snapshot of what the API stores shows that nothing changed.

use crate::helpers::*;
use reqwest::Method;
use serde_json::{json, Value};

/// Who a hostile request claims to be.
#[derive(Clone)]
pub(super) enum Auth {
    None,
    Admin,
    Bearer(String),
    Raw(Vec<u8>),
}

/// One hostile request.
#[derive(Clone)]
pub(super) struct Case {
    pub(super) name: String,
    pub(super) method: Method,
    pub(super) path: String,
    pub(super) auth: Auth,
    pub(super) content_type: Option<&'static str>,
    pub(super) body: Option<Vec<u8>>,
}

impl Case {
    pub(super) fn new(name: impl Into<String>, method: Method, path: impl Into<String>, auth: Auth) -> Self {
        Self {
            name: name.into(),
            method,
            path: path.into(),
            auth,
            content_type: None,
            body: None,
        }
    }

    pub(super) fn json(
        name: impl Into<String>,
        method: Method,
        path: impl Into<String>,
        auth: Auth,
        body: &Value,
    ) -> Self {
        Self::raw(
            name,
            method,
            path,
            auth,
            Some("application/json"),
            body.to_string().into_bytes(),
        )
    }

    pub(super) fn raw(
        name: impl Into<String>,
        method: Method,
        path: impl Into<String>,
        auth: Auth,
        content_type: Option<&'static str>,
        body: impl Into<Vec<u8>>,
    ) -> Self {
        Self {
            content_type,
            body: Some(body.into()),
            ..Self::new(name, method, path, auth)
        }
    }
}

pub(super) async fn send(app: &TestApp, case: &Case) -> Result<reqwest::Response, reqwest::Error> {
    let mut request = app.http.request(case.method.clone(), app.url(&case.path));
    request = match &case.auth {
        Auth::None => request,
        Auth::Admin => request.bearer_auth(ADMIN_TOKEN),
        Auth::Bearer(token) => request.bearer_auth(token),
        Auth::Raw(bytes) => request.header(
            reqwest::header::AUTHORIZATION,
            reqwest::header::HeaderValue::from_bytes(bytes).expect("a header value"),
        ),
    };
    if let Some(ct) = case.content_type {
        request = request.header(reqwest::header::CONTENT_TYPE, ct);
    }
    if let Some(body) = &case.body {
        request = request.body(body.clone());
    }
    request.send().await
}

/// Runs every case and returns a description of each that was not a 4xx JSON error.
pub(super) async fn run_cases(app: &TestApp, cases: &[Case]) -> Vec<String> {
    let mut failures = Vec::new();
    for case in cases {
        let response = match send(app, case).await {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!(
                    "{} {} [{}]: request failed: {e}",
                    case.method,
                    short(&case.path),
                    case.name
                ));
                continue;
            }
        };
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let text = response.text().await.unwrap_or_default();
        let shape_ok = serde_json::from_str::<Value>(&text)
            .map(|b| b["error"]["code"].is_string() && b["error"]["message"].is_string())
            .unwrap_or(false);
        if !(400..500).contains(&status) || !shape_ok {
            failures.push(format!(
                "{} {} [{}]: {status} {content_type:?} {}",
                case.method,
                short(&case.path),
                case.name,
                short(&text)
            ));
        }
    }
    failures
}

pub(super) fn short(text: &str) -> String {
    if text.len() > 160 {
        let mut end = 160;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…({} bytes)", &text[..end], text.len())
    } else {
        text.to_owned()
    }
}

pub(super) fn assert_no_failures(failures: Vec<String>, total: usize) {
    assert!(
        failures.is_empty(),
        "{} of {total} hostile cases were not answered with a 4xx JSON error:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

pub(super) struct Seed {
    pub(super) device: Device,
    pub(super) subscription: Value,
    pub(super) reminder_id: String,
    pub(super) reminder: Value,
}

pub(super) async fn seed(app: &TestApp) -> Seed {
    let device = app.register_device(json!({"uid": "seed"})).await;
    let (endpoint, browser) = app.push.add_device();
    let subscription = browser.subscription_json(&endpoint);
    let response = app
        .admin_post(
            "/api/v1/reminders",
            json!({"to": {"uid": "seed"}, "title": "Backup", "schedule": {"daily": "09:00"}, "paused": true}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let reminder: Value = response.json().await.unwrap();
    Seed {
        device,
        subscription,
        reminder_id: reminder["id"].as_str().unwrap().to_owned(),
        reminder,
    }
}

/// Everything the API stores, to compare before and after.
pub(super) async fn snapshot(app: &TestApp) -> Value {
    let subscriptions: Value = app.admin_get("/api/v1/subscriptions").await.json().await.unwrap();
    let messages: Value = app.admin_get("/api/v1/messages").await.json().await.unwrap();
    let reminders: Value = app.admin_get("/api/v1/reminders").await.json().await.unwrap();
    let metrics = app.metrics_text().await;
    let counters: Vec<&str> = metrics
        .lines()
        .filter(|l| {
            l.starts_with("herald_queue_depth ")
                || l.starts_with("herald_subscriptions ")
                || l.starts_with("herald_messages_created_total ")
                || l.starts_with("herald_subscriptions_registered_total ")
        })
        .collect();
    assert_eq!(counters.len(), 4, "{metrics}");
    json!({"subscriptions": subscriptions, "messages": messages, "reminders": reminders, "metrics": counters})
}

/// How many rows of each kind the API lists: hostile requests must not have added any.
pub(super) async fn counts(app: &TestApp) -> Value {
    let messages: Value = app.admin_get("/api/v1/messages?limit=500").await.json().await.unwrap();
    let reminders: Value = app.admin_get("/api/v1/reminders").await.json().await.unwrap();
    let keys: Value = app.admin_get("/api/v1/keys").await.json().await.unwrap();
    let subscriptions: Value = app.admin_get("/api/v1/subscriptions").await.json().await.unwrap();
    json!({
        "messages": messages["messages"].as_array().map(Vec::len),
        "reminders": reminders["reminders"].as_array().map(Vec::len),
        "keys": keys["keys"].as_array().map(Vec::len),
        "subscriptions": subscriptions["total"],
    })
}

/// Every case got its JSON 4xx, and nothing was stored: the counts are what they were.
pub(super) async fn assert_all_refused(app: &TestApp, cases: &[Case], before: Value) {
    assert_no_failures(run_cases(app, cases).await, cases.len());
    assert_eq!(counts(app).await, before);
}
