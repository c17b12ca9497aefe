//! The OpenAPI document against the server: every operation is driven at least once to a
//! success and to the error answers that can be provoked generically (no credential, an
//! unknown id, a malformed, wrongly typed, oversized or non-JSON body), and every answer must
//! be documented for its operation, with the documented content type and a body that fits the
//! documented schema. The routes the router serves and the document's paths must be the same.
//! A change to a handler or to the document that makes them disagree fails here.

mod document;

use crate::helpers::*;
use document::{Answer, OpenApi, Operation, SOURCE};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// The router's source: its `.route(…)` calls are the endpoints the document must list.
const ROUTER_SOURCE: &str = include_str!("../../src/api/mod.rs");

#[test]
fn the_document_is_structurally_valid_openapi() {
    let api = OpenApi::parse(SOURCE);
    assert!(api.doc["info"]["title"].is_string() && api.doc["info"]["version"].is_string());
    let problems = api.structural_problems();
    assert!(problems.is_empty(), "OpenAPI problems:\n{}", problems.join("\n"));
}

#[test]
fn the_router_and_the_document_list_the_same_endpoints() {
    let api = OpenApi::parse(SOURCE);
    let documented: BTreeSet<String> = api.operations().iter().map(Operation::key).collect();
    let routed = router_routes();
    assert!(routed.len() > 10, "the router's routes were not found: {routed:?}");
    let missing: Vec<_> = routed.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&routed).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "served but not documented: {missing:?}; documented but not served: {extra:?}"
    );
}

/// `METHOD /path` for each method handler given to each `.route("/path", …)` in the router.
fn router_routes() -> BTreeSet<String> {
    let mut routes = BTreeSet::new();
    for chunk in ROUTER_SOURCE.split(".route(").skip(1) {
        let path = chunk.split('"').nth(1).expect("a route starts with its path");
        // The call ends at the parenthesis that closes `.route(`.
        let mut depth = 1;
        let end = chunk
            .char_indices()
            .find(|&(_, c)| {
                depth += match c {
                    '(' => 1,
                    ')' => -1,
                    _ => 0,
                };
                depth == 0
            })
            .map_or(chunk.len(), |(i, _)| i);
        let call = &chunk[..end];
        for method in ["get", "post", "put", "patch", "delete"] {
            let used = call
                .match_indices(&format!("{method}("))
                .any(|(i, _)| !call[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_'));
            if used {
                routes.insert(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    routes
}

#[tokio::test]
async fn the_served_document_is_the_shipped_one() {
    let app = spawn_app().await;
    let answer = call(&app, Method::GET, "/api/v1/openapi.json", Auth::None, None).await;
    assert_eq!(answer.status, 200);
    let served = answer.json().expect("JSON");
    assert_eq!(served, serde_json::from_str::<Value>(SOURCE).unwrap());
}

#[tokio::test]
async fn every_operation_answers_as_documented() {
    let app = spawn_app().await;
    let answer = call(&app, Method::GET, "/api/v1/openapi.json", Auth::None, None).await;
    let api = OpenApi::parse(std::str::from_utf8(&answer.body).unwrap());
    let mut run = Run::new(&api);
    let fixture = Fixture::create(&app).await;
    for step in success_steps(&fixture) {
        run.step(&app, step).await;
    }
    for step in generic_error_steps(&api, &fixture) {
        run.step(&app, step).await;
    }
    run.finish();
}

/// Records of a run: the failures, and which operation reached which status.
struct Run<'a> {
    api: &'a OpenApi,
    failures: Vec<String>,
    reached: BTreeSet<(String, u16)>,
}

impl<'a> Run<'a> {
    fn new(api: &'a OpenApi) -> Self {
        Run {
            api,
            failures: Vec::new(),
            reached: BTreeSet::new(),
        }
    }

    async fn step(&mut self, app: &TestApp, step: Step) {
        let operation_path = step.template.split('?').next().unwrap_or_default();
        let op = self.api.operation(step.method.as_str(), operation_path);
        let path = step.template.replace("{id}", &step.id).replace("{tag}", "district:12");
        let label = format!("{} {path} ({})", op.method, step.what);
        if let (Some(Body::Json(body)), Some(schema), true) = (
            &step.body,
            self.api.request_schema(&op),
            step.expect.is_some_and(|s| s < 300),
        ) {
            if let Err(e) = self.api.validate_with(schema, body, false) {
                self.failures.push(format!(
                    "{label}: the server accepts a body the request schema refuses: {e}"
                ));
            }
        }
        let answer = call(app, step.method.clone(), &path, step.auth, step.body).await;
        if let Some(expected) = step.expect {
            if answer.status != expected {
                self.failures.push(format!(
                    "{label}: expected {expected}, got {}: {}",
                    answer.status,
                    answer.text()
                ));
            }
        }
        if answer.status == 404 || answer.status == 405 {
            let body = answer.json().unwrap_or_default();
            if answer.status == 405 || body["error"]["message"] == "no such endpoint" {
                self.failures
                    .push(format!("{label}: the router does not serve it: {}", answer.text()));
            }
        }
        if let Err(e) = self.api.check(&op, &answer) {
            self.failures.push(format!("{label}: {e}"));
        }
        self.reached.insert((op.key(), answer.status));
    }

    /// Fails with every disagreement at once, and when an operation never succeeded.
    fn finish(mut self) {
        for op in self.api.operations() {
            let key = op.key();
            if !self.reached.iter().any(|(k, s)| *k == key && *s < 300) {
                self.failures.push(format!("{key}: no step reached a success"));
            }
        }
        assert!(
            self.failures.is_empty(),
            "the server and the OpenAPI document disagree:\n{}",
            self.failures.join("\n")
        );
    }
}

#[derive(Clone)]
enum Auth {
    None,
    Admin,
    Bearer(String),
}

enum Body {
    Json(Value),
    Raw(&'static str, Vec<u8>),
}

struct Step {
    what: &'static str,
    method: Method,
    template: String,
    id: String,
    auth: Auth,
    body: Option<Body>,
    /// The status this step must get; `None` when any documented one will do.
    expect: Option<u16>,
}

fn step(what: &'static str, method: Method, template: &str, auth: Auth) -> Step {
    Step {
        what,
        method,
        template: template.to_owned(),
        id: String::new(),
        auth,
        body: None,
        expect: None,
    }
}

impl Step {
    fn id(mut self, id: &str) -> Self {
        self.id = id.to_owned();
        self
    }
    fn json(mut self, body: Value) -> Self {
        self.body = Some(Body::Json(body));
        self
    }
    fn raw(mut self, content_type: &'static str, body: Vec<u8>) -> Self {
        self.body = Some(Body::Raw(content_type, body));
        self
    }
    fn expect(mut self, status: u16) -> Self {
        self.expect = Some(status);
        self
    }
}

async fn call(app: &TestApp, method: Method, path: &str, auth: Auth, body: Option<Body>) -> Answer {
    let mut request = app.http.request(method, app.url(path));
    request = match auth {
        Auth::None => request,
        Auth::Admin => request.bearer_auth(ADMIN_TOKEN),
        Auth::Bearer(token) => request.bearer_auth(token),
    };
    request = match body {
        None => request,
        Some(Body::Json(v)) => request.json(&v),
        Some(Body::Raw(content_type, bytes)) => request.header("content-type", content_type).body(bytes),
    };
    let response = request.send().await.expect("the server answers");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = response.bytes().await.expect("a whole body").to_vec();
    Answer {
        status,
        content_type,
        body,
    }
}

/// What the steps act on: subscriptions (one kept, one to delete, one to replace and
/// register again, and one not yet registered), a sent message, a scheduled one, a reminder
/// and an API key.
struct Fixture {
    kept: Device,
    doomed: Device,
    spare: Device,
    spare_subscription: Value,
    new_subscription: Value,
    sent: String,
    scheduled: String,
    reminder: String,
    key: String,
}

impl Fixture {
    async fn create(app: &TestApp) -> Self {
        let kept = app.register_device(json!({"uid": 1})).await;
        let (endpoint, browser) = app.push.add_device();
        let spare_subscription = browser.subscription_json(&endpoint);
        let spare = app.register_existing(json!({"uid": 3}), endpoint, browser).await;
        let (endpoint, browser) = app.push.add_device();
        let new_subscription = browser.subscription_json(&endpoint);
        let doomed = app.register_device(json!({"aid": "2"})).await;
        // Every field a message view can show back, so the status and the list are checked
        // against the document with all of them.
        let sent = app
            .send(
                json!({"to": {"uid": 1}, "title": {"default": "tickled", "uk": "лоскіт"}, "mode": "tickle",
                         "body": {"default": "text", "uk": "текст"}, "tag": "t", "renotify": true,
                         "actions": [{"id": "pay", "title": "Pay", "url": "/pay"}, {"id": "later", "title": "Later"}],
                         "image": "/i.png", "badge": "/b.png", "requireInteraction": true, "silent": true,
                         "lang": "en", "dir": "ltr", "appBadge": 2, "data": {"k": 1},
                         "spreadOver": 60, "ignoreQuietHours": true}),
            )
            .await;
        let scheduled = app
            .send(json!({"to": {"all": "clients"}, "title": "later", "sendAt": in_a_month()}))
            .await;
        let reminder: Value = app
            .admin_post(
                "/api/v1/reminders",
                json!({"to": {"uid": 1}, "title": "daily", "schedule": {"daily": "09:00"}}),
            )
            .await
            .json()
            .await
            .unwrap();
        let key: Value = app
            .admin_post("/api/v1/keys", json!({"name": "fixture", "scopes": ["read"]}))
            .await
            .json()
            .await
            .unwrap();
        Fixture {
            kept,
            doomed,
            spare,
            spare_subscription,
            new_subscription,
            sent,
            scheduled,
            reminder: reminder["id"].as_str().expect("a reminder id").to_owned(),
            key: key["id"].as_str().expect("a key id").to_owned(),
        }
    }
}

/// One or more successes for every operation, in an order where each finds what it needs.
fn success_steps(f: &Fixture) -> Vec<Step> {
    use Method as M;
    let device = Auth::Bearer(f.kept.secret.clone());
    let doomed = Auth::Bearer(f.doomed.secret.clone());
    let spare = Auth::Bearer(f.spare.secret.clone());
    vec![
        step("public key", M::GET, "/api/v1/vapid-public-key", Auth::None).expect(200),
        step("document", M::GET, "/api/v1/openapi.json", Auth::None).expect(200),
        step("health", M::GET, "/healthz", Auth::None).expect(200),
        step("metrics", M::GET, "/metrics", Auth::None).expect(200),
        step("overview", M::GET, "/api/v1/overview", Auth::Admin).expect(200),
        step("owner token", M::POST, "/api/v1/owner-tokens", Auth::Admin)
            .json(json!({"uid": 7, "ttl": 60, "tags": ["district:12"]}))
            .expect(201),
        step("list", M::GET, "/api/v1/subscriptions", Auth::Admin).expect(200),
        step("list one owner", M::GET, "/api/v1/subscriptions?uid=1&limit=5", Auth::Admin).expect(200),
        step("register", M::POST, "/api/v1/subscriptions", Auth::Admin)
            .json(json!({"subscription": f.new_subscription, "aid": "4"}))
            .expect(201),
        step("send now", M::POST, "/api/v1/messages", Auth::Admin)
            .json(json!({"to": {"aid": "2"}, "title": "now", "body": "text", "urgency": "high"}))
            .expect(202),
        step("send and wait", M::POST, "/api/v1/messages?wait=true", Auth::Admin)
            .json(json!({"to": {"aid": "2"}, "title": "waited", "ttl": 60}))
            .expect(200),
        step("schedule", M::POST, "/api/v1/messages", Auth::Admin)
            .json(json!({"to": {"all": "clients"}, "title": "later", "sendAt": in_a_month()}))
            .expect(202),
        step("list", M::GET, "/api/v1/messages", Auth::Admin).expect(200),
        step("list scheduled", M::GET, "/api/v1/messages?status=scheduled&limit=2", Auth::Admin).expect(200),
        step("sent", M::GET, "/api/v1/messages/{id}", Auth::Admin).id(&f.sent).expect(200),
        step("scheduled", M::GET, "/api/v1/messages/{id}", Auth::Admin).id(&f.scheduled).expect(200),
        step("delivery", M::GET, "/api/v1/messages/{id}/delivery", Auth::Admin)
            .id(&f.sent)
            .expect(200),
        step("inbox", M::GET, "/api/v1/subscriptions/{id}/messages", device.clone())
            .id(&f.kept.id)
            .expect(200),
        step("receipt", M::POST, "/api/v1/subscriptions/{id}/receipts", device)
            .id(&f.kept.id)
            .json(json!({"messageId": f.sent, "event": "displayed"}))
            .expect(204),
        step("replace", M::POST, "/api/v1/subscriptions/{id}/replace", spare)
            .id(&f.spare.id)
            .json(json!({"subscription": f.spare_subscription}))
            .expect(200),
        // The same subscription and owner: the same id (and a new secret).
        step("register again", M::POST, "/api/v1/subscriptions", Auth::Admin)
            .json(json!({"subscription": f.spare_subscription, "uid": 3}))
            .expect(200),
        step("tag", M::PUT, "/api/v1/subscriptions/{id}/tags/{tag}", Auth::Admin)
            .id(&f.kept.id)
            .expect(204),
        step("owner tags", M::POST, "/api/v1/owners/tags", Auth::Admin)
            .json(json!({"uid": 1, "add": ["tariff:home-100"]}))
            .expect(200),
        step("send to a segment", M::POST, "/api/v1/messages", Auth::Admin)
            .json(json!({"to": {"tags": {"any": ["district:12"]}, "kind": "clients"}, "title": "paced", "spreadOver": "1m", "quietHours": {"from": "22:00", "to": "08:00"}}))
            .expect(202),
        step("untag", M::DELETE, "/api/v1/subscriptions/{id}/tags/{tag}", Auth::Admin)
            .id(&f.kept.id)
            .expect(204),
        step("cancel", M::DELETE, "/api/v1/messages/{id}", Auth::Admin)
            .id(&f.scheduled)
            .expect(204),
        step("cancel again", M::DELETE, "/api/v1/messages/{id}", Auth::Admin).id(&f.scheduled),
        step("preview", M::POST, "/api/v1/reminders/preview", Auth::Admin)
            .json(json!({"schedule": {"weekly": {"days": ["mon", "fri"], "time": "08:30"}}, "timezone": "Europe/Kyiv", "count": 3}))
            .expect(200),
        step("create", M::POST, "/api/v1/reminders", Auth::Admin)
            .json(json!({"to": {"all": "admins"}, "title": "t", "schedule": {"cron": "*/5 * * * *"}, "url": "https://example.com/x"}))
            .expect(201),
        step("list", M::GET, "/api/v1/reminders", Auth::Admin).expect(200),
        step("get", M::GET, "/api/v1/reminders/{id}", Auth::Admin).id(&f.reminder).expect(200),
        step("pause", M::PATCH, "/api/v1/reminders/{id}", Auth::Admin)
            .id(&f.reminder)
            .json(json!({"paused": true, "title": "renamed"}))
            .expect(200),
        step("delete", M::DELETE, "/api/v1/reminders/{id}", Auth::Admin)
            .id(&f.reminder)
            .expect(204),
        step("create", M::POST, "/api/v1/keys", Auth::Admin)
            .json(json!({"name": "sender", "scopes": ["send"]}))
            .expect(201),
        step("list", M::GET, "/api/v1/keys", Auth::Admin).expect(200),
        step("revoke", M::DELETE, "/api/v1/keys/{id}", Auth::Admin).id(&f.key).expect(204),
        step("by itself", M::DELETE, "/api/v1/subscriptions/{id}", doomed)
            .id(&f.doomed.id)
            .expect(204),
    ]
}

/// The errors every operation can be driven to from the document alone: without a
/// credential, with an unknown id, and with bodies that are malformed, of the wrong shape, too
/// large or not JSON. Each must be a documented answer of that operation.
fn generic_error_steps(api: &OpenApi, f: &Fixture) -> Vec<Step> {
    let mut steps = Vec::new();
    for op in api.operations() {
        let template = op.path;
        let method = Method::from_bytes(op.method.as_bytes()).unwrap();
        let security = op.object.get("security").unwrap_or(&api.doc["security"]);
        let schemes: Vec<&str> = security
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|r| r.as_object().into_iter().flat_map(|o| o.keys().map(String::as_str)))
            .collect();
        let anonymous_allowed = security
            .as_array()
            .is_none_or(|a| a.is_empty() || a.iter().any(|r| r.as_object().is_some_and(|o| o.is_empty())));
        let auth = if schemes.contains(&"adminToken") {
            Auth::Admin
        } else {
            Auth::Bearer(f.kept.secret.clone())
        };
        let id = if schemes.contains(&"adminToken") {
            "unknown-id-0000000000"
        } else {
            f.kept.id.as_str()
        };
        let body = api.request_schema(&op).map(|_| json!({}));
        if !anonymous_allowed {
            let mut s = step("no credential", method.clone(), template, Auth::None).id(id);
            s.body = body.clone().map(Body::Json);
            // Some handlers read the body before the credential: any documented answer.
            steps.push(if s.body.is_none() { s.expect(401) } else { s });
        }
        if template.contains("{id}") && schemes.contains(&"adminToken") {
            let mut s = step("unknown id", method.clone(), template, auth.clone()).id(id);
            s.body = body.clone().map(Body::Json);
            if api.documents(&op, 404) && body.is_none() {
                s = s.expect(404);
            }
            steps.push(s);
        }
        if template.contains("{id}") {
            // Not URL-safe base64: refused before any credential or database is consulted.
            let mut s = step("an id that cannot be one", method.clone(), template, auth.clone()).id("not~an~id");
            s.body = body.clone().map(Body::Json);
            steps.push(s);
        }
        if body.is_some() {
            let bodies: [(&'static str, &'static str, Vec<u8>); 5] = [
                ("malformed JSON", "application/json", b"{\"to\":".to_vec()),
                ("a JSON array", "application/json", b"[1,2]".to_vec()),
                (
                    "an unknown field",
                    "application/json",
                    br#"{"surely-not-a-field":1}"#.to_vec(),
                ),
                ("not JSON", "text/plain", b"hello".to_vec()),
                ("too large", "application/json", vec![b' '; 70 * 1024]),
            ];
            for (what, content_type, bytes) in bodies {
                let s = step(what, method.clone(), template, auth.clone()).id(id);
                let s = s.raw(content_type, bytes);
                steps.push(match what {
                    "not JSON" => s.expect(415),
                    "too large" => s.expect(413),
                    _ => s,
                });
            }
        }
    }
    steps
}

/// A send time inside the year ahead that the server accepts.
fn in_a_month() -> String {
    (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339()
}
