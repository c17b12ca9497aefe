//! Hostile input over every endpoint: malformed, mistyped, oversize, overlong, off-curve,
//! SQL-laden, not UTF-8, sent with the wrong method or the wrong content type. Every case
//! must be answered with a 4xx and the JSON error object, never a 5xx, and must store nothing.
//! Admin endpoints are called with the admin token, and device endpoints with the device's
//! own secret, so that the body validation is what is reached.

use crate::helpers::*;
use herald_push::base64url;
use reqwest::Method;
use serde_json::{json, Value};

/// Who a hostile request claims to be.
#[derive(Clone)]
enum Auth {
    None,
    Admin,
    Bearer(String),
    Raw(Vec<u8>),
}

#[derive(Clone)]
struct Case {
    name: String,
    method: Method,
    path: String,
    auth: Auth,
    content_type: Option<&'static str>,
    body: Option<Vec<u8>>,
}

impl Case {
    fn new(name: impl Into<String>, method: Method, path: impl Into<String>, auth: Auth) -> Self {
        Self {
            name: name.into(),
            method,
            path: path.into(),
            auth,
            content_type: None,
            body: None,
        }
    }

    fn json(name: impl Into<String>, method: Method, path: impl Into<String>, auth: Auth, body: &Value) -> Self {
        Self::raw(
            name,
            method,
            path,
            auth,
            Some("application/json"),
            body.to_string().into_bytes(),
        )
    }

    fn raw(
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

async fn send(app: &TestApp, case: &Case) -> Result<reqwest::Response, reqwest::Error> {
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
async fn run_cases(app: &TestApp, cases: &[Case]) -> Vec<String> {
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

fn short(text: &str) -> String {
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

fn assert_no_failures(failures: Vec<String>, total: usize) {
    assert!(
        failures.is_empty(),
        "{} of {total} hostile cases were not answered with a 4xx JSON error:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// `value` with `key` set (or removed, for `None`).
fn with(base: &Value, key: &str, value: Option<Value>) -> Value {
    let mut v = base.clone();
    match value {
        Some(x) => v[key] = x,
        None => {
            v.as_object_mut().unwrap().remove(key);
        }
    }
    v
}

const SQL: &[&str] = &[
    "' OR '1'='1",
    "1; DROP TABLE subscriptions; --",
    "\"; DELETE FROM messages; --",
    "Robert'); DROP TABLE outbox;--",
    "%",
    "_",
    "\\",
    "' UNION SELECT secret_hash FROM subscriptions --",
];

/// The request body shapes every JSON endpoint must refuse: not JSON, not UTF-8, not an
/// object, nested too deep, and so on.
fn malformed_bodies() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("empty", b"".to_vec()),
        ("open brace", b"{".to_vec()),
        ("missing value", br#"{"title":}"#.to_vec()),
        ("trailing garbage", br#"{"title":"t"} xyz"#.to_vec()),
        ("extra close", br#"{"title":"t"}}"#.to_vec()),
        ("single quotes", b"{'title':'t'}".to_vec()),
        ("NaN", br#"{"ttl":NaN}"#.to_vec()),
        ("number out of range", br#"{"ttl":1e999}"#.to_vec()),
        ("lone surrogate", br#"{"title":"\ud800"}"#.to_vec()),
        ("bad escape", br#"{"title":"\q"}"#.to_vec()),
        ("invalid utf-8 in a string", b"{\"title\":\"\xff\xfe\"}".to_vec()),
        ("invalid utf-8 key", b"{\"\xc3\x28\":1}".to_vec()),
        ("utf-16 bom", b"\xff\xfe{\x00}\x00".to_vec()),
        ("nul bytes", b"\x00\x00\x00\x00".to_vec()),
        ("deep arrays", "[".repeat(20_000).into_bytes()),
        ("deep objects", r#"{"a":"#.repeat(5_000).into_bytes()),
        ("array", b"[]".to_vec()),
        ("null", b"null".to_vec()),
        ("string", br#""hello""#.to_vec()),
        ("number", b"42".to_vec()),
        ("boolean", b"true".to_vec()),
        ("empty object", b"{}".to_vec()),
    ]
}

/// A 65-byte uncompressed point encoding that is not on P-256 (or not a point at all).
fn bad_points() -> Vec<(&'static str, String)> {
    let mut off_curve = vec![4u8];
    off_curve.extend([0u8; 31]);
    off_curve.push(1);
    off_curve.extend([0u8; 31]);
    off_curve.push(1);
    let mut beyond_field = vec![4u8];
    beyond_field.extend([0xffu8; 64]);
    let zeros = {
        let mut z = vec![4u8];
        z.extend([0u8; 64]);
        z
    };
    let valid = herald_testkit::Browser::generate().p256dh;
    let mut wrong_prefix = valid.to_vec();
    wrong_prefix[0] = 5;
    let compressed = {
        let mut c = vec![2u8 + (valid[64] & 1)];
        c.extend(&valid[1..33]);
        c
    };
    let mut flipped_y = valid.to_vec();
    flipped_y[64] ^= 1;
    vec![
        ("empty", String::new()),
        ("not base64", "!!!not base64!!!".into()),
        ("spaces", "BCD EFG".into()),
        ("one char", "A".into()),
        ("64 bytes", base64url::encode([4u8; 64])),
        ("66 bytes", base64url::encode([4u8; 66])),
        ("off the curve (1,1)", base64url::encode(&off_curve)),
        ("coordinates beyond the field", base64url::encode(&beyond_field)),
        ("all zeros", base64url::encode(&zeros)),
        ("wrong prefix", base64url::encode(&wrong_prefix)),
        ("compressed point", base64url::encode(&compressed)),
        ("flipped y", base64url::encode(&flipped_y)),
        ("a 10 KB key", "A".repeat(10 * 1024)),
    ]
}

fn bad_endpoints() -> Vec<(&'static str, String)> {
    vec![
        ("empty", String::new()),
        ("not a url", "not a url".into()),
        ("relative", "/push/relative".into()),
        ("ftp", "ftp://127.0.0.1/push/x".into()),
        ("javascript", "javascript:alert(1)".into()),
        ("file", "file:///etc/passwd".into()),
        ("data", "data:text/plain,hello".into()),
        ("credentials", "http://user:pw@127.0.0.1/push/x".into()),
        ("only scheme", "http://".into()),
        ("bad port", "http://127.0.0.1:99999/push/x".into()),
        ("unclosed ipv6", "http://[::1/push".into()),
        ("3 KB", format!("http://127.0.0.1/{}", "a".repeat(3000))),
    ]
}

fn long_id() -> String {
    "A".repeat(10 * 1024)
}

struct Seed {
    device: Device,
    subscription: Value,
    reminder_id: String,
    reminder: Value,
}

async fn seed(app: &TestApp) -> Seed {
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
async fn snapshot(app: &TestApp) -> Value {
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

/// The cases for the JSON body of one endpoint: malformed JSON, wrong content types, oversize.
fn body_cases(method: Method, path: &str, auth: &Auth, valid: &Value) -> Vec<Case> {
    let mut cases = Vec::new();
    for (name, body) in malformed_bodies() {
        if method == Method::PATCH && name == "empty object" {
            continue; // an empty update is a valid no-op
        }
        cases.push(Case::raw(
            format!("malformed: {name}"),
            method.clone(),
            path,
            auth.clone(),
            Some("application/json"),
            body,
        ));
    }
    let text = valid.to_string();
    for ct in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        Some("application/xml"),
        Some("json"),
        Some("application/jsonp"),
    ] {
        cases.push(Case::raw(
            format!("content type {ct:?}"),
            method.clone(),
            path,
            auth.clone(),
            ct,
            text.clone(),
        ));
    }
    // Over 64 KiB: as one long string field, and as 1 MiB of spaces after a valid object.
    let mut big = valid.clone();
    if let Some(o) = big.as_object_mut() {
        o.insert("padding".into(), json!("x".repeat(70 * 1024)));
    }
    cases.push(Case::json("70 KiB body", method.clone(), path, auth.clone(), &big));
    let mut spaced = text.clone().into_bytes();
    spaced.extend(std::iter::repeat_n(b' ', 1024 * 1024));
    cases.push(Case::raw(
        "1 MiB body",
        method.clone(),
        path,
        auth.clone(),
        Some("application/json"),
        spaced,
    ));
    // Unknown fields are refused, not ignored.
    if let Some(o) = valid.as_object() {
        let mut unknown = o.clone();
        unknown.insert("colour".into(), json!("red"));
        cases.push(Case::json(
            "unknown field",
            method.clone(),
            path,
            auth.clone(),
            &Value::Object(unknown),
        ));
    }
    cases
}

fn message_cases() -> Vec<Case> {
    let base = json!({"to": {"uid": 1}, "title": "t"});
    let post = |name: String, body: Value| Case::json(name, Method::POST, "/api/v1/messages", Auth::Admin, &body);
    let mut cases = body_cases(Method::POST, "/api/v1/messages", &Auth::Admin, &base);
    let many_ids: Vec<u32> = (0..10_001).collect();
    let bad_to = vec![
        json!(42),
        json!("uid"),
        json!([]),
        json!(null),
        json!({}),
        json!({"uid": null}),
        json!({"uid": 1.5}),
        json!({"uid": true}),
        json!({"uid": ""}),
        json!({"uid": "x".repeat(129)}),
        json!({"uid": "x".repeat(10 * 1024)}),
        json!({"uid": "a\u{0}b"}),
        json!({"uid": "a\u{1b}[31mred"}),
        json!({"uid": 18_446_744_073_709_551_616.0_f64}),
        json!({"uid": [1]}),
        json!({"uid": {"$ne": 1}}),
        json!({"uid": 1, "aid": 2}),
        json!({"uids": []}),
        json!({"uids": "1,2"}),
        json!({"uids": [null]}),
        json!({"uids": [[1]]}),
        json!({"uids": [1, "x".repeat(129)]}),
        json!({"uids": many_ids}),
        json!({"all": "nobody"}),
        json!({"all": 1}),
        json!({"all": null}),
        json!({"gid": 1}),
        json!({"UID": 1}),
    ];
    for to in bad_to {
        cases.push(post(
            format!("to = {}", short(&to.to_string())),
            with(&base, "to", Some(to)),
        ));
    }
    let bad_fields: Vec<(&str, Option<Value>)> = vec![
        ("to", None),
        ("title", None),
        ("title", Some(json!(""))),
        ("title", Some(json!("   "))),
        ("title", Some(json!("x".repeat(257)))),
        ("title", Some(json!(5))),
        ("title", Some(json!(null))),
        ("title", Some(json!(["t"]))),
        ("title", Some(json!("a\u{0}b"))),
        ("title", Some(json!("a\u{7}b"))),
        ("title", Some(json!("line\nbreak"))),
        ("body", Some(json!("x".repeat(16_001)))),
        ("body", Some(json!("x".repeat(4_000)))),
        ("body", Some(json!(5))),
        ("body", Some(json!("a\u{0}b"))),
        ("url", Some(json!("javascript:alert(1)"))),
        ("url", Some(json!("//evil.example/x"))),
        ("url", Some(json!("ftp://example.com/x"))),
        ("url", Some(json!("data:text/html,<script>alert(1)</script>"))),
        ("url", Some(json!("/has space"))),
        ("url", Some(json!(format!("/{}", "a".repeat(2048))))),
        ("url", Some(json!(5))),
        ("icon", Some(json!("javascript:alert(1)"))),
        ("icon", Some(json!("file:///etc/passwd"))),
        ("icon", Some(json!({}))),
        ("tag", Some(json!("x".repeat(129)))),
        ("tag", Some(json!(5))),
        ("ttl", Some(json!(-1))),
        ("ttl", Some(json!(1.5))),
        ("ttl", Some(json!(1e30))),
        ("ttl", Some(json!("60"))),
        ("ttl", Some(json!(2_592_001))),
        ("ttl", Some(json!(u64::MAX))),
        ("ttl", Some(json!(18_446_744_073_709_551_616.0_f64))),
        ("ttl", Some(json!(true))),
        ("urgency", Some(json!("now"))),
        ("urgency", Some(json!(""))),
        ("urgency", Some(json!("HIGH"))),
        ("urgency", Some(json!(5))),
        ("topic", Some(json!("a b"))),
        ("topic", Some(json!("x".repeat(33)))),
        ("topic", Some(json!("é"))),
        ("topic", Some(json!(""))),
        ("topic", Some(json!(SQL[0]))),
        ("mode", Some(json!("loud"))),
        ("mode", Some(json!(""))),
        ("mode", Some(json!(1))),
        ("sendAt", Some(json!("garbage"))),
        ("sendAt", Some(json!("tomorrow"))),
        ("sendAt", Some(json!(""))),
        ("sendAt", Some(json!("2026-13-45T99:99:99Z"))),
        ("sendAt", Some(json!("2026-12-01"))),
        ("sendAt", Some(json!("2026-12-01T09:00:00"))),
        ("sendAt", Some(json!("9999-12-31T23:59:59Z"))),
        (
            "sendAt",
            Some(json!((chrono::Utc::now() + chrono::Duration::days(400)).to_rfc3339())),
        ),
        ("sendAt", Some(json!(1_700_000_000))),
        ("sendAt", Some(json!(SQL[1]))),
        ("sendAt", Some(json!("x".repeat(10 * 1024)))),
        ("send_at", Some(json!("2026-12-01T09:00:00Z"))),
    ];
    for (key, value) in bad_fields {
        let label = match &value {
            Some(v) => format!("{key} = {}", short(&v.to_string())),
            None => format!("{key} missing"),
        };
        cases.push(post(label, with(&base, key, value)));
    }
    for query in ["wait=maybe", "wait=1", "wait=", "unknown=1", "wait=true&wait=false"] {
        cases.push(Case::json(
            format!("query {query}"),
            Method::POST,
            format!("/api/v1/messages?{query}"),
            Auth::Admin,
            &base,
        ));
    }
    cases.push(Case::json(
        "no token",
        Method::POST,
        "/api/v1/messages",
        Auth::None,
        &base,
    ));
    cases.push(Case::json(
        "wrong token",
        Method::POST,
        "/api/v1/messages",
        Auth::Bearer("not-the-admin-token".into()),
        &base,
    ));
    cases.push(Case::json(
        "10 KB token",
        Method::POST,
        "/api/v1/messages",
        Auth::Bearer("t".repeat(10 * 1024)),
        &base,
    ));
    cases.push(Case::json(
        "basic auth",
        Method::POST,
        "/api/v1/messages",
        Auth::Raw(format!("Basic {ADMIN_TOKEN}").into_bytes()),
        &base,
    ));
    cases.push(Case::json(
        "non-ascii token",
        Method::POST,
        "/api/v1/messages",
        Auth::Raw(b"Bearer \xff\xfe".to_vec()),
        &base,
    ));
    cases.push(Case::json(
        "bearer without token",
        Method::POST,
        "/api/v1/messages",
        Auth::Raw(b"Bearer ".to_vec()),
        &base,
    ));
    // Reading.
    for query in [
        "limit=-1",
        "limit=0",
        "limit=501",
        "limit=abc",
        "limit=1.5",
        "limit=99999999999999999999",
        "limit=",
        "before=garbage",
        "before=2026-13-01T00:00:00Z",
        &format!("before={}", "9".repeat(10 * 1024)),
        "after=x",
        "limit=%FF",
    ] {
        cases.push(Case::new(
            format!("list {}", short(query)),
            Method::GET,
            format!("/api/v1/messages?{query}"),
            Auth::Admin,
        ));
    }
    for id in [
        long_id(),
        urlencode(SQL[0]),
        urlencode(SQL[1]),
        "..%2F..%2Fetc%2Fpasswd".into(),
    ] {
        for method in [Method::GET, Method::DELETE] {
            cases.push(Case::new(
                format!("id {}", short(&id)),
                method,
                format!("/api/v1/messages/{id}"),
                Auth::Admin,
            ));
        }
    }
    cases
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn subscription_cases(seed: &Seed) -> Vec<Case> {
    let base = json!({"subscription": seed.subscription, "uid": "hostile"});
    let post =
        |name: String, auth: Auth, body: Value| Case::json(name, Method::POST, "/api/v1/subscriptions", auth, &body);
    let mut cases = body_cases(Method::POST, "/api/v1/subscriptions", &Auth::Admin, &base);
    let sub = &seed.subscription;
    let mut subs: Vec<(String, Value)> = vec![
        ("subscription missing".into(), json!(null)),
        ("subscription string".into(), json!("https://push.example/x")),
        ("subscription array".into(), json!([sub])),
        ("endpoint missing".into(), with(sub, "endpoint", None)),
        ("endpoint number".into(), with(sub, "endpoint", Some(json!(5)))),
        ("keys missing".into(), with(sub, "keys", None)),
        ("keys null".into(), with(sub, "keys", Some(json!(null)))),
        ("keys string".into(), with(sub, "keys", Some(json!("k")))),
        (
            "p256dh missing".into(),
            json!({"endpoint": sub["endpoint"], "keys": {"auth": sub["keys"]["auth"]}}),
        ),
        (
            "auth missing".into(),
            json!({"endpoint": sub["endpoint"], "keys": {"p256dh": sub["keys"]["p256dh"]}}),
        ),
    ];
    for (name, point) in bad_points() {
        let mut s = sub.clone();
        s["keys"]["p256dh"] = json!(point);
        subs.push((format!("p256dh {name}"), s));
    }
    for (name, auth) in [
        ("empty", String::new()),
        ("not base64", "!!!".into()),
        ("15 bytes", base64url::encode([1u8; 15])),
        ("17 bytes", base64url::encode([1u8; 17])),
        ("10 KB", "A".repeat(10 * 1024)),
    ] {
        let mut s = sub.clone();
        s["keys"]["auth"] = json!(auth);
        subs.push((format!("auth {name}"), s));
    }
    let mut s = sub.clone();
    s["keys"]["auth"] = json!(16);
    subs.push(("auth number".into(), s));
    for (name, endpoint) in bad_endpoints() {
        subs.push((format!("endpoint {name}"), with(sub, "endpoint", Some(json!(endpoint)))));
    }
    for (name, s) in subs {
        let body = if s.is_null() {
            json!({"uid": "hostile"})
        } else {
            with(&base, "subscription", Some(s))
        };
        cases.push(post(name, Auth::Admin, body));
    }
    let owners: Vec<(&str, Value)> = vec![
        ("neither uid nor aid", json!({})),
        ("uid and aid", json!({"uid": 1, "aid": 1})),
        ("uid null", json!({"uid": null})),
        ("uid empty", json!({"uid": ""})),
        ("uid 129 chars", json!({"uid": "x".repeat(129)})),
        ("uid 10 KB", json!({"uid": "x".repeat(10 * 1024)})),
        ("aid 129 chars", json!({"aid": "x".repeat(129)})),
        ("uid control", json!({"uid": "a\u{0}b"})),
        ("uid float", json!({"uid": 1.5})),
        ("uid bool", json!({"uid": true})),
        ("uid array", json!({"uid": [1]})),
        ("uid object", json!({"uid": {"$gt": ""}})),
        ("ownerToken number", json!({"uid": 1, "ownerToken": 5})),
        ("ownerToken garbage", json!({"ownerToken": "garbage"})),
        ("ownerToken 10 KB", json!({"ownerToken": "x.y.z".repeat(2048)})),
        ("ownerToken sql", json!({"ownerToken": SQL[3]})),
        (
            "ownerToken alg none",
            json!({"ownerToken": format!("{}.{}.", base64url::encode(r#"{"alg":"none"}"#), base64url::encode(r#"{"uid":"1","exp":99999999999}"#))}),
        ),
    ];
    for (name, owner) in owners {
        let mut body = json!({"subscription": sub});
        for (k, v) in owner.as_object().unwrap() {
            body[k] = v.clone();
        }
        cases.push(post(format!("owner: {name}"), Auth::Admin, body));
    }
    cases.push(post("no auth".into(), Auth::None, base.clone()));
    cases.push(post(
        "wrong token".into(),
        Auth::Bearer("nope-nope-nope-nope".into()),
        base.clone(),
    ));
    cases.push(post(
        "device secret is not admin".into(),
        Auth::Bearer(seed.device.secret.clone()),
        base.clone(),
    ));
    // Listing.
    for query in [
        "limit=-1".to_owned(),
        "limit=0".into(),
        "limit=1001".into(),
        "limit=abc".into(),
        "limit=1e3".into(),
        "limit=99999999999999999999".into(),
        format!("after={}", "A".repeat(10 * 1024)),
        format!("uid={}", "x".repeat(129)),
        format!("aid={}", "x".repeat(10 * 1024)),
        "uid=".into(),
        "uid=a&aid=b".into(),
        "uid=%00".into(),
        "foo=1".into(),
    ] {
        cases.push(Case::new(
            format!("list {}", short(&query)),
            Method::GET,
            format!("/api/v1/subscriptions?{query}"),
            Auth::Admin,
        ));
    }
    cases.push(Case::new(
        "list without token",
        Method::GET,
        "/api/v1/subscriptions",
        Auth::None,
    ));
    cases.push(Case::new(
        "list with a device secret",
        Method::GET,
        "/api/v1/subscriptions",
        Auth::Bearer(seed.device.secret.clone()),
    ));
    // Deleting.
    let id = &seed.device.id;
    cases.push(Case::new(
        "delete without auth",
        Method::DELETE,
        format!("/api/v1/subscriptions/{id}"),
        Auth::None,
    ));
    cases.push(Case::new(
        "delete with a wrong secret",
        Method::DELETE,
        format!("/api/v1/subscriptions/{id}"),
        Auth::Bearer("wrong-secret".into()),
    ));
    for bad in [long_id(), urlencode(SQL[0]), urlencode(SQL[5]), urlencode("%")] {
        cases.push(Case::new(
            format!("delete id {}", short(&bad)),
            Method::DELETE,
            format!("/api/v1/subscriptions/{bad}"),
            Auth::Admin,
        ));
        cases.push(Case::new(
            format!("delete id {} with the seed's secret", short(&bad)),
            Method::DELETE,
            format!("/api/v1/subscriptions/{bad}"),
            Auth::Bearer(seed.device.secret.clone()),
        ));
    }
    cases
}

fn device_cases(seed: &Seed) -> Vec<Case> {
    let id = &seed.device.id;
    let own = Auth::Bearer(seed.device.secret.clone());
    let mut cases = Vec::new();
    // Inbox.
    for (name, path, auth) in [
        ("no auth", format!("/api/v1/subscriptions/{id}/messages"), Auth::None),
        (
            "wrong secret",
            format!("/api/v1/subscriptions/{id}/messages"),
            Auth::Bearer("x".into()),
        ),
        (
            "admin token is not the device",
            format!("/api/v1/subscriptions/{id}/messages"),
            Auth::Admin,
        ),
        (
            "10 KB id",
            format!("/api/v1/subscriptions/{}/messages", long_id()),
            own.clone(),
        ),
        (
            "sql id",
            format!("/api/v1/subscriptions/{}/messages", urlencode(SQL[0])),
            own.clone(),
        ),
        (
            "sql secret",
            format!("/api/v1/subscriptions/{id}/messages"),
            Auth::Bearer(SQL[0].into()),
        ),
    ] {
        cases.push(Case::new(format!("inbox {name}"), Method::GET, path, auth));
    }
    // Receipts.
    let receipts = format!("/api/v1/subscriptions/{id}/receipts");
    let base = json!({"messageId": "m", "event": "displayed"});
    cases.extend(body_cases(Method::POST, &receipts, &own, &base));
    for body in [
        json!({"messageId": "m"}),
        json!({"event": "displayed"}),
        json!({"messageId": "m", "event": "seen"}),
        json!({"messageId": "m", "event": ""}),
        json!({"messageId": "m", "event": "DISPLAYED"}),
        json!({"messageId": 5, "event": "displayed"}),
        json!({"messageId": null, "event": "displayed"}),
        json!({"messageId": "m", "event": 1}),
        json!({"messageId": "x".repeat(10 * 1024), "event": "displayed"}),
        json!({"messageId": SQL[0], "event": "clicked"}),
        json!({"messageId": SQL[6], "event": "clicked"}),
        json!({"messageId": "m", "event": "displayed", "at": 1}),
    ] {
        cases.push(Case::json(
            format!("receipt {}", short(&body.to_string())),
            Method::POST,
            &receipts,
            own.clone(),
            &body,
        ));
    }
    cases.push(Case::json(
        "receipt without auth",
        Method::POST,
        &receipts,
        Auth::None,
        &base,
    ));
    cases.push(Case::json(
        "receipt 10 KB id",
        Method::POST,
        format!("/api/v1/subscriptions/{}/receipts", long_id()),
        own.clone(),
        &base,
    ));
    // Replace.
    let replace = format!("/api/v1/subscriptions/{id}/replace");
    let base = json!({"subscription": seed.subscription});
    cases.extend(body_cases(Method::POST, &replace, &own, &base));
    let sub = &seed.subscription;
    let mut bad_subs = vec![json!(null), json!("x"), with(sub, "keys", None)];
    for (_, point) in bad_points() {
        let mut s = sub.clone();
        s["keys"]["p256dh"] = json!(point);
        bad_subs.push(s);
    }
    for (_, endpoint) in bad_endpoints() {
        bad_subs.push(with(sub, "endpoint", Some(json!(endpoint))));
    }
    for s in bad_subs {
        cases.push(Case::json(
            format!("replace with {}", short(&s.to_string())),
            Method::POST,
            &replace,
            own.clone(),
            &json!({"subscription": s}),
        ));
    }
    cases.push(Case::json(
        "replace with an owner",
        Method::POST,
        &replace,
        own.clone(),
        &json!({"subscription": sub, "uid": "someone-else"}),
    ));
    cases.push(Case::json(
        "replace without auth",
        Method::POST,
        &replace,
        Auth::None,
        &base,
    ));
    cases.push(Case::json(
        "replace with the admin token",
        Method::POST,
        &replace,
        Auth::Admin,
        &base,
    ));
    cases.push(Case::json(
        "replace 10 KB id",
        Method::POST,
        format!("/api/v1/subscriptions/{}/replace", long_id()),
        own.clone(),
        &base,
    ));
    cases
}

fn owner_token_cases() -> Vec<Case> {
    let path = "/api/v1/owner-tokens";
    let mut cases = body_cases(Method::POST, path, &Auth::Admin, &json!({"uid": 1}));
    for body in [
        json!({"uid": 1, "aid": 1}),
        json!({"uid": null}),
        json!({"uid": ""}),
        json!({"uid": "x".repeat(129)}),
        json!({"aid": "x".repeat(10 * 1024)}),
        json!({"uid": "a\u{0}"}),
        json!({"uid": 1.5}),
        json!({"uid": [1]}),
        json!({"uid": 1, "ttl": -1}),
        json!({"uid": 1, "ttl": 0}),
        json!({"uid": 1, "ttl": 86_401}),
        json!({"uid": 1, "ttl": 1.5}),
        json!({"uid": 1, "ttl": "60"}),
        json!({"uid": 1, "ttl": 1e30}),
        json!({"uid": 1, "ttl": i64::MIN}),
        json!({"uid": 1, "ttl": u64::MAX}),
    ] {
        cases.push(Case::json(
            format!("owner token {}", short(&body.to_string())),
            Method::POST,
            path,
            Auth::Admin,
            &body,
        ));
    }
    cases.push(Case::json(
        "owner token without auth",
        Method::POST,
        path,
        Auth::None,
        &json!({"uid": 1}),
    ));
    cases
}

fn reminder_cases(seed: &Seed) -> Vec<Case> {
    let base = json!({"to": {"uid": 1}, "title": "t", "schedule": {"daily": "09:00"}});
    let mut cases = body_cases(Method::POST, "/api/v1/reminders", &Auth::Admin, &base);
    // Reminders take any object; an unknown field is refused by the template's validation,
    // which body_cases covers. Schedules, zones and templates:
    let schedules = vec![
        json!(null),
        json!("daily"),
        json!({}),
        json!([]),
        json!({"daily": "25:00"}),
        json!({"daily": "09:60"}),
        json!({"daily": "9"}),
        json!({"daily": 900}),
        json!({"daily": ""}),
        json!({"weekly": {"days": [], "time": "09:00"}}),
        json!({"weekly": {"days": "mon", "time": "09:00"}}),
        json!({"weekly": {"days": ["someday"], "time": "09:00"}}),
        json!({"weekly": {"days": [1], "time": "09:00"}}),
        json!({"weekly": {"days": ["mon"]}}),
        json!({"weekly": "mon"}),
        json!({"cron": "not a cron"}),
        json!({"cron": ""}),
        json!({"cron": "* * * * * * * *"}),
        json!({"cron": "61 25 32 13 8"}),
        json!({"cron": "x".repeat(201)}),
        json!({"cron": 5}),
        json!({"cron": SQL[1]}),
        json!({"at": "soon"}),
        json!({"at": "2000-01-01T00:00:00Z"}),
        json!({"at": 5}),
        json!({"at": "x".repeat(10 * 1024)}),
        json!({"daily": "09:00", "cron": "* * * * *"}),
        json!({"hourly": 1}),
    ];
    for schedule in schedules {
        let body = with(&base, "schedule", (!schedule.is_null()).then_some(schedule.clone()));
        cases.push(Case::json(
            format!("schedule {}", short(&schedule.to_string())),
            Method::POST,
            "/api/v1/reminders",
            Auth::Admin,
            &body,
        ));
    }
    let fields: Vec<(&str, Option<Value>)> = vec![
        ("timezone", Some(json!("Mars/Olympus"))),
        ("timezone", Some(json!(""))),
        ("timezone", Some(json!(5))),
        ("timezone", Some(json!(SQL[0]))),
        ("timezone", Some(json!("x".repeat(10 * 1024)))),
        ("paused", Some(json!("yes"))),
        ("paused", Some(json!(1))),
        ("sendAt", Some(json!("2026-12-01T09:00:00Z"))),
        ("title", None),
        ("title", Some(json!("x".repeat(257)))),
        ("to", None),
        ("to", Some(json!({"uid": "x".repeat(129)}))),
        ("ttl", Some(json!(-1))),
        ("ttl", Some(json!("60"))),
        ("url", Some(json!("javascript:alert(1)"))),
        ("colour", Some(json!("red"))),
    ];
    for (key, value) in fields {
        let label = match &value {
            Some(v) => format!("{key} = {}", short(&v.to_string())),
            None => format!("{key} missing"),
        };
        cases.push(Case::json(
            format!("reminder {label}"),
            Method::POST,
            "/api/v1/reminders",
            Auth::Admin,
            &with(&base, key, value),
        ));
    }
    // Updating the seed reminder: the same rules, and the seed must stay as it was.
    let path = format!("/api/v1/reminders/{}", seed.reminder_id);
    cases.extend(body_cases(Method::PATCH, &path, &Auth::Admin, &json!({"title": "new"})));
    for body in [
        json!({"schedule": {"daily": "25:00"}}),
        json!({"schedule": null}),
        json!({"timezone": "Mars/Olympus"}),
        json!({"paused": "no"}),
        json!({"title": null}),
        json!({"title": ""}),
        json!({"to": null}),
        json!({"to": {"uid": "x".repeat(129)}}),
        json!({"ttl": -5}),
        json!({"sendAt": "2026-12-01T09:00:00Z"}),
        json!({"colour": "red"}),
        json!({"schedule": {"at": "2000-01-01T00:00:00Z"}, "paused": false}),
    ] {
        cases.push(Case::json(
            format!("patch {}", short(&body.to_string())),
            Method::PATCH,
            &path,
            Auth::Admin,
            &body,
        ));
    }
    for id in [long_id(), urlencode(SQL[0]), urlencode("%")] {
        for method in [Method::GET, Method::DELETE] {
            cases.push(Case::new(
                format!("reminder id {}", short(&id)),
                method,
                format!("/api/v1/reminders/{id}"),
                Auth::Admin,
            ));
        }
        cases.push(Case::json(
            format!("patch reminder id {}", short(&id)),
            Method::PATCH,
            format!("/api/v1/reminders/{id}"),
            Auth::Admin,
            &json!({"title": "x"}),
        ));
    }
    for query in [
        "limit=-1",
        "limit=0",
        "limit=1001",
        "limit=abc",
        "limit=99999999999999999999",
        "foo=1",
    ] {
        cases.push(Case::new(
            format!("list {query}"),
            Method::GET,
            format!("/api/v1/reminders?{query}"),
            Auth::Admin,
        ));
    }
    cases.push(Case::new(
        "list without auth",
        Method::GET,
        "/api/v1/reminders",
        Auth::None,
    ));
    cases.push(Case::json(
        "create without auth",
        Method::POST,
        "/api/v1/reminders",
        Auth::None,
        &base,
    ));
    cases
}

fn method_and_route_cases(seed: &Seed) -> Vec<Case> {
    let id = &seed.device.id;
    let mut cases = Vec::new();
    let routes: Vec<(String, Vec<Method>)> = vec![
        (
            "/api/v1/vapid-public-key".into(),
            vec![Method::POST, Method::DELETE, Method::PUT],
        ),
        ("/api/v1/openapi.json".into(), vec![Method::POST]),
        ("/api/v1/owner-tokens".into(), vec![Method::GET, Method::DELETE]),
        (
            "/api/v1/subscriptions".into(),
            vec![Method::PUT, Method::DELETE, Method::PATCH],
        ),
        (
            format!("/api/v1/subscriptions/{id}"),
            vec![Method::GET, Method::POST, Method::PUT, Method::PATCH],
        ),
        (
            format!("/api/v1/subscriptions/{id}/messages"),
            vec![Method::POST, Method::DELETE],
        ),
        (
            format!("/api/v1/subscriptions/{id}/receipts"),
            vec![Method::GET, Method::PUT],
        ),
        (
            format!("/api/v1/subscriptions/{id}/replace"),
            vec![Method::GET, Method::PUT],
        ),
        (
            "/api/v1/messages".into(),
            vec![Method::PUT, Method::DELETE, Method::PATCH],
        ),
        (
            "/api/v1/messages/x".into(),
            vec![Method::POST, Method::PUT, Method::PATCH],
        ),
        (
            "/api/v1/reminders".into(),
            vec![Method::PUT, Method::DELETE, Method::PATCH],
        ),
        (
            format!("/api/v1/reminders/{}", seed.reminder_id),
            vec![Method::POST, Method::PUT],
        ),
        ("/api/v1/messages/x/delivery".into(), vec![Method::POST, Method::DELETE]),
        ("/api/v1/overview".into(), vec![Method::POST, Method::DELETE]),
        ("/api/v1/reminders/preview".into(), vec![Method::GET, Method::PUT]),
        ("/healthz".into(), vec![Method::POST, Method::DELETE]),
        ("/metrics".into(), vec![Method::POST]),
    ];
    for (path, methods) in routes {
        for method in methods {
            for auth in [Auth::None, Auth::Admin] {
                cases.push(Case::raw(
                    "wrong method",
                    method.clone(),
                    path.clone(),
                    auth,
                    Some("application/json"),
                    "{}",
                ));
            }
        }
        cases.push(Case::new(
            "made-up method",
            Method::from_bytes(b"BREW").unwrap(),
            path.clone(),
            Auth::Admin,
        ));
    }
    for path in [
        "/api/v1/nope".to_owned(),
        "/api/v2/messages".into(),
        "/api/v1/messages/x/y".into(),
        format!("/api/v1/subscriptions/{id}/nope"),
        "/api/v1/".into(),
        "/api".into(),
        format!("/api/v1/{}", long_id()),
        format!("/api/v1/subscriptions/{id}/receipts/{}", urlencode(SQL[1])),
    ] {
        cases.push(Case::new("no such route", Method::GET, path.clone(), Auth::Admin));
        cases.push(Case::raw(
            "no such route",
            Method::POST,
            path,
            Auth::Admin,
            Some("application/json"),
            "{}",
        ));
    }
    cases
}

#[tokio::test]
async fn every_endpoint_refuses_hostile_input_with_a_json_4xx_and_stores_nothing() {
    let app = spawn_app().await;
    let seed = seed(&app).await;
    let before = snapshot(&app).await;
    assert_eq!(before["subscriptions"]["total"], 1);
    assert_eq!(before["messages"]["messages"].as_array().unwrap().len(), 0);
    assert_eq!(before["reminders"]["reminders"].as_array().unwrap().len(), 1);

    let mut cases = message_cases();
    cases.extend(subscription_cases(&seed));
    cases.extend(device_cases(&seed));
    cases.extend(owner_token_cases());
    cases.extend(reminder_cases(&seed));
    cases.extend(method_and_route_cases(&seed));
    let total = cases.len();
    assert!(total > 500, "only {total} cases");
    let failures = run_cases(&app, &cases).await;
    assert_no_failures(failures, total);

    // Nothing was stored, changed, queued or deleted.
    let after = snapshot(&app).await;
    assert_eq!(after, before, "hostile requests changed the stored state");
    assert_eq!(
        app.admin_get(&format!("/api/v1/reminders/{}", seed.reminder_id))
            .await
            .json::<Value>()
            .await
            .unwrap(),
        seed.reminder
    );
    // The seed's secret still works (a refused replace must not rotate it).
    let inbox = app
        .http
        .get(app.url(&format!("/api/v1/subscriptions/{}/messages", seed.device.id)))
        .bearer_auth(&seed.device.secret)
        .send()
        .await
        .unwrap();
    assert_eq!(inbox.status(), 200);
    assert!(app.push.received().is_empty(), "a hostile request caused a push");
}

/// Path parameters are percent-decoded; bytes that do not decode to UTF-8 must still get the
/// JSON error object, like every other refusal.
#[tokio::test]
async fn path_ids_that_are_not_utf8_get_a_json_error() {
    let app = spawn_app().await;
    let seed = seed(&app).await;
    let before = snapshot(&app).await;
    let own = Auth::Bearer(seed.device.secret.clone());
    let cases = vec![
        Case::new("bad utf-8 id", Method::GET, "/api/v1/messages/%FF", Auth::Admin),
        Case::new("bad utf-8 id", Method::DELETE, "/api/v1/messages/%C3%28", Auth::Admin),
        Case::new("bad utf-8 id", Method::DELETE, "/api/v1/subscriptions/%FF", Auth::Admin),
        Case::new(
            "bad utf-8 id",
            Method::GET,
            "/api/v1/subscriptions/%FF/messages",
            own.clone(),
        ),
        Case::json(
            "bad utf-8 id",
            Method::POST,
            "/api/v1/subscriptions/%FF/receipts",
            own.clone(),
            &json!({"messageId": "m", "event": "displayed"}),
        ),
        Case::json(
            "bad utf-8 id",
            Method::POST,
            "/api/v1/subscriptions/%FF/replace",
            own,
            &json!({"subscription": seed.subscription}),
        ),
        Case::new("bad utf-8 id", Method::GET, "/api/v1/reminders/%FF", Auth::Admin),
        Case::new("bad utf-8 id", Method::DELETE, "/api/v1/reminders/%FF", Auth::Admin),
        Case::json(
            "bad utf-8 id",
            Method::PATCH,
            "/api/v1/reminders/%FF",
            Auth::Admin,
            &json!({"title": "x"}),
        ),
    ];
    let total = cases.len();
    let failures = run_cases(&app, &cases).await;
    assert_eq!(snapshot(&app).await, before);
    assert_no_failures(failures, total);
}

/// Bodies sent without a length (chunked), and a declared length the body never reaches.
#[tokio::test]
async fn chunked_and_truncated_bodies_are_refused() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app().await;
    let before = snapshot(&app).await;
    let host = app.address.trim_start_matches("http://").to_owned();
    let raw = |request: Vec<u8>| {
        let host = host.clone();
        async move {
            let mut stream = tokio::net::TcpStream::connect(&host).await.unwrap();
            let _ = stream.write_all(&request).await;
            let _ = stream.shutdown().await;
            let mut answer = Vec::new();
            let _ = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
            String::from_utf8_lossy(&answer).into_owned()
        }
    };
    let head = |extra: &str| {
        format!(
            "POST /api/v1/messages HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n\
             Content-Type: application/json\r\nConnection: close\r\n{extra}\r\n"
        )
    };
    // 200 KiB in 1 KiB chunks.
    let mut chunked = head("Transfer-Encoding: chunked\r\n").into_bytes();
    chunked.extend(b"f\r\n{\"title\":\"t\",\"b\r\n");
    for _ in 0..200 {
        chunked.extend(b"400\r\n");
        chunked.extend([b'x'; 1024]);
        chunked.extend(b"\r\n");
    }
    chunked.extend(b"2\r\n\"}\r\n0\r\n\r\n");
    // A declared length far beyond the limit, with a short body.
    let mut lying = head("Content-Length: 10000000\r\n").into_bytes();
    lying.extend(br#"{"to":{"uid":1},"title":"t"}"#);
    // A declared length longer than the body, which then ends.
    let mut truncated = head("Content-Length: 100\r\n").into_bytes();
    truncated.extend(br#"{"to":{"uid":1},"title":"t"}"#);
    // Invalid chunk framing.
    let mut bad_chunks = head("Transfer-Encoding: chunked\r\n").into_bytes();
    bad_chunks.extend(b"zz\r\n{}\r\n0\r\n\r\n");
    for (name, request) in [
        ("chunked 200 KiB", chunked),
        ("content-length 10 MB", lying),
        ("truncated", truncated),
        ("bad chunks", bad_chunks),
    ] {
        let answer = raw(request).await;
        let status: u16 = answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        // A closed connection without an answer is acceptable for a body that never arrived.
        assert!(
            status == 0 || (400..500).contains(&status),
            "{name}: {}",
            short(&answer)
        );
        if (400..500).contains(&status) && name != "bad chunks" {
            let body = answer.split("\r\n\r\n").nth(1).unwrap_or("");
            // The body may be chunk-framed; the JSON object is inside.
            assert!(
                body.contains(r#""error""#) && body.contains(r#""code""#),
                "{name}: {}",
                short(&answer)
            );
        }
    }
    assert_eq!(snapshot(&app).await, before);
    assert!(app.admin_get("/healthz").await.status().is_success());
}

/// SQL metacharacters in every stored string are data: stored and read back literally, never
/// interpreted, never an error.
#[tokio::test]
async fn sql_metacharacters_are_stored_and_matched_literally() {
    let app = spawn_app().await;
    let plain = app.register_device(json!({"uid": "plain"})).await;
    let mut devices = Vec::new();
    for (i, text) in SQL.iter().enumerate() {
        let owner = if i % 2 == 0 {
            json!({"uid": text})
        } else {
            json!({"aid": text})
        };
        devices.push((owner.clone(), app.register_device(owner).await));
    }
    let listed: Value = app.admin_get("/api/v1/subscriptions").await.json().await.unwrap();
    assert_eq!(listed["total"], SQL.len() + 1);
    for (owner, device) in &devices {
        let (key, value) = owner.as_object().unwrap().iter().next().unwrap();
        let text = value.as_str().unwrap();
        let response = app
            .admin_get(&format!("/api/v1/subscriptions?{key}={}", urlencode(text)))
            .await;
        assert_eq!(response.status(), 200, "{owner}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["total"], 1, "{owner}: {body}");
        assert_eq!(body["subscriptions"][0]["id"].as_str(), Some(device.id.as_str()));
        assert_eq!(body["subscriptions"][0][key], *value);
    }
    // A pattern character never matches anything else.
    for probe in ["pla%", "_lain", "' OR 1=1 --"] {
        let body: Value = app
            .admin_get(&format!("/api/v1/subscriptions?uid={}", urlencode(probe)))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(body["total"], 0, "{probe}: {body}");
    }
    // A cursor that cannot be an id is refused, not passed to the database.
    assert_error(
        app.admin_get(&format!("/api/v1/subscriptions?after={}", urlencode(SQL[0])))
            .await,
        400,
    )
    .await;
    // Messages carry the text literally and reach exactly the named owner.
    for text in SQL {
        let id = app
            .send(json!({"to": {"uid": text}, "title": text, "body": text, "tag": text, "url": format!("/{}", urlencode(text))}))
            .await;
        let m = app.wait_settled(&id).await;
        assert_eq!(m["title"], *text);
        assert_eq!(m["body"], *text);
        assert_eq!(m["tag"], *text);
        let expected_targets = usize::from(SQL.iter().position(|t| t == text).unwrap() % 2 == 0);
        assert_eq!(m["targets"], expected_targets, "{text}: {m}");
    }
    assert!(
        app.push.received_by(&plain.endpoint).is_empty(),
        "a SQL-laden uid reached another owner"
    );
    let response = app
        .admin_post("/api/v1/messages", json!({"to": {"uids": SQL}, "title": "list"}))
        .await;
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["targets"], SQL.len().div_ceil(2), "{body}");
    // Settled before registering more, so that the lists below are stable.
    app.wait_settled(body["id"].as_str().unwrap()).await;
    // Owner tokens and reminders too.
    let token: Value = app
        .admin_post("/api/v1/owner-tokens", json!({"uid": SQL[1]}))
        .await
        .json()
        .await
        .unwrap();
    let (endpoint, browser) = app.push.add_device();
    let response = app
        .http
        .post(app.url("/api/v1/subscriptions"))
        .json(&json!({"subscription": browser.subscription_json(&endpoint), "ownerToken": token["ownerToken"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = app
        .admin_get(&format!("/api/v1/subscriptions?uid={}", urlencode(SQL[1])))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["total"], 1, "{body}");
    let response = app
        .admin_post(
            "/api/v1/reminders",
            json!({"to": {"uid": SQL[3]}, "title": SQL[3], "body": SQL[4], "schedule": {"daily": "09:00"}, "paused": true}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let reminder: Value = response.json().await.unwrap();
    let read: Value = app
        .admin_get(&format!("/api/v1/reminders/{}", reminder["id"].as_str().unwrap()))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (read["title"].as_str(), read["body"].as_str()),
        (Some(SQL[3]), Some(SQL[4]))
    );
    // Every table is still there and whole.
    let listed: Value = app.admin_get("/api/v1/subscriptions").await.json().await.unwrap();
    assert_eq!(listed["total"], SQL.len() + 2);
    let messages: Value = app.admin_get("/api/v1/messages").await.json().await.unwrap();
    assert_eq!(messages["messages"].as_array().unwrap().len(), SQL.len() + 1);
    assert!(app.admin_get("/healthz").await.status().is_success());
}

/// Random JSON values and random strings posted to the two busiest endpoints never cause a
/// server error.
#[test]
fn random_bodies_never_cause_a_server_error() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestCaseError, TestRunner};

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let app = runtime.block_on(spawn_app());
    let seed = runtime.block_on(seed(&app));

    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,40}".prop_map(Value::from),
        prop::sample::select(vec![
            "uid",
            "aid",
            "all",
            "clients",
            "everyone",
            "payload",
            "tickle",
            "high",
            "http://127.0.0.1/push/x",
            "2026-12-01T09:00:00Z",
            "' OR '1'='1",
            "",
        ])
        .prop_map(Value::from),
    ];
    let value = leaf.prop_recursive(4, 48, 6, |inner| {
        let key = prop::sample::select(vec![
            "to",
            "title",
            "body",
            "url",
            "icon",
            "tag",
            "ttl",
            "urgency",
            "topic",
            "mode",
            "sendAt",
            "uid",
            "aid",
            "uids",
            "all",
            "subscription",
            "endpoint",
            "keys",
            "p256dh",
            "auth",
            "ownerToken",
            "x",
        ])
        .prop_map(str::to_owned);
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map(prop_oneof![key, ".{0,8}"], inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    });
    // Mostly-valid bodies with one field replaced by a random value reach deeper validation.
    let valid_message = json!({"to": {"uid": 1}, "title": "t", "body": "b", "ttl": 60, "urgency": "high"});
    let valid_subscription = json!({"subscription": seed.subscription, "uid": "p"});
    let mutated = |base: Value, keys: Vec<&'static str>, v: BoxedStrategy<Value>| {
        (prop::sample::select(keys), v).prop_map(move |(k, v)| {
            let mut b = base.clone();
            b[k] = v;
            b.to_string().into_bytes()
        })
    };
    let value = value.boxed();
    let body = prop_oneof![
        value.clone().prop_map(|v| v.to_string().into_bytes()),
        ".{0,200}".prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>(), 0..200),
        mutated(
            valid_message,
            vec!["to", "title", "body", "url", "icon", "tag", "ttl", "urgency", "topic", "mode", "sendAt"],
            value.clone()
        ),
        mutated(
            valid_subscription,
            vec!["subscription", "uid", "aid", "ownerToken"],
            value
        ),
    ];
    let path = prop::sample::select(vec!["/api/v1/messages", "/api/v1/subscriptions"]);

    let mut runner = TestRunner::new(Config {
        cases: 128,
        failure_persistence: None,
        ..Config::default()
    });
    let statuses = std::cell::RefCell::new(std::collections::BTreeMap::<u16, usize>::new());
    let result = runner.run(&(path, body), |(path, body)| {
        let (status, text) = runtime.block_on(async {
            let response = app
                .http
                .post(app.url(path))
                .bearer_auth(ADMIN_TOKEN)
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
                .unwrap();
            (response.status().as_u16(), response.text().await.unwrap_or_default())
        });
        *statuses.borrow_mut().entry(status).or_default() += 1;
        if status >= 500 {
            return Err(TestCaseError::fail(format!(
                "POST {path} {} -> {status} {text}",
                String::from_utf8_lossy(&body)
            )));
        }
        if status >= 400 {
            let json: Value = serde_json::from_str(&text)
                .map_err(|_| TestCaseError::fail(format!("POST {path}: {status} is not JSON: {text}")))?;
            prop_assert!(json["error"]["code"].is_string(), "{}", text);
        }
        Ok(())
    });
    drop(app);
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    result.unwrap();
    eprintln!("random bodies: statuses {:?}", statuses.borrow());
}

/// Links that a browser would open on another origin are refused. `//host/…` is; but WHATWG
/// URL parsing, which browsers and the service worker's `new URL()` use, reads `\` as `/` in
/// http(s) URLs, so `/\host/…` is the protocol-relative `//host/…` as well.
#[tokio::test]
async fn links_that_leave_the_origin_are_refused() {
    let app = spawn_app().await;
    let mut accepted = Vec::new();
    for link in [
        "//evil.example/x",
        "/\\evil.example/x",
        "/\\/evil.example/x",
        "\\\\evil.example/x",
    ] {
        for field in ["url", "icon"] {
            let mut body = json!({"to": {"uid": 1}, "title": "t"});
            body[field] = json!(link);
            let response = app.admin_post("/api/v1/messages", body).await;
            if response.status().is_success() {
                accepted.push(format!("{field} = {link:?}"));
            } else {
                assert_error(response, 422).await;
            }
        }
    }
    assert!(accepted.is_empty(), "accepted off-origin links: {accepted:?}");
}

/// A NUL character is valid UTF-8 and JSON (`\u0000`), so it reaches the queries in path ids,
/// cursors and body fields that are not otherwise validated. PostgreSQL refuses NUL in text
/// values outright; the API must refuse it (or treat it as "not found") rather than fail.
/// Passes on SQLite and MariaDB; run with HERALD_TEST_DATABASE=postgres to see the bug.
#[tokio::test]
async fn nul_characters_never_cause_a_server_error() {
    let app = spawn_app().await;
    let seed = seed(&app).await;
    let before = snapshot(&app).await;
    let (id, own) = (&seed.device.id, Auth::Bearer(seed.device.secret.clone()));
    let nul_id = format!("{id}%00");
    let receipt = json!({"messageId": "m\u{0}", "event": "displayed"});
    let cases = vec![
        Case::new(
            "nul id",
            Method::DELETE,
            format!("/api/v1/subscriptions/{nul_id}"),
            Auth::Admin,
        ),
        Case::new(
            "nul id",
            Method::DELETE,
            format!("/api/v1/subscriptions/{nul_id}"),
            own.clone(),
        ),
        Case::new(
            "nul id",
            Method::GET,
            format!("/api/v1/subscriptions/{nul_id}/messages"),
            own.clone(),
        ),
        Case::json(
            "nul id",
            Method::POST,
            format!("/api/v1/subscriptions/{nul_id}/receipts"),
            own.clone(),
            &receipt,
        ),
        Case::json(
            "nul id",
            Method::POST,
            format!("/api/v1/subscriptions/{nul_id}/replace"),
            own.clone(),
            &json!({"subscription": seed.subscription}),
        ),
        Case::json(
            "nul messageId",
            Method::POST,
            format!("/api/v1/subscriptions/{id}/receipts"),
            own,
            &receipt,
        ),
        Case::new("nul id", Method::GET, "/api/v1/messages/x%00", Auth::Admin),
        Case::new("nul id", Method::DELETE, "/api/v1/messages/x%00", Auth::Admin),
        Case::new("nul id", Method::GET, "/api/v1/reminders/x%00", Auth::Admin),
        Case::new("nul id", Method::DELETE, "/api/v1/reminders/x%00", Auth::Admin),
        Case::json(
            "nul id",
            Method::PATCH,
            "/api/v1/reminders/x%00",
            Auth::Admin,
            &json!({"title": "x"}),
        ),
        Case::new(
            "nul cursor",
            Method::GET,
            "/api/v1/subscriptions?after=%00",
            Auth::Admin,
        ),
        Case::new("nul cursor", Method::GET, "/api/v1/reminders?after=%00", Auth::Admin),
    ];
    let mut failures = Vec::new();
    for case in &cases {
        let response = send(&app, case).await.unwrap();
        let status = response.status().as_u16();
        if status >= 500 {
            failures.push(format!("{} {} [{}]: {status}", case.method, case.path, case.name));
        }
    }
    assert_eq!(snapshot(&app).await, before);
    assert!(failures.is_empty(), "server errors:\n{}", failures.join("\n"));
}

/// Statuses of `count` inbox requests claiming to come from `forwarded_for`.
async fn inbox_statuses(app: &TestApp, forwarded_for: &str, count: usize) -> Vec<u16> {
    let url = app.url(&format!(
        "/api/v1/subscriptions/{}/messages",
        herald::secrets::random_id()
    ));
    let mut statuses = Vec::new();
    for _ in 0..count {
        let response = app
            .http
            .get(&url)
            .header("x-forwarded-for", forwarded_for)
            .bearer_auth("not-the-secret")
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    statuses
}

#[tokio::test]
async fn the_rate_limit_believes_x_forwarded_for_only_from_trusted_proxies() {
    let limited = |trusted: Option<&str>| {
        let mut env = vec![("HERALD_PUBLIC_RATE_LIMIT_PER_MINUTE", "2".to_owned())];
        if let Some(t) = trusted {
            env.push(("HERALD_TRUSTED_PROXIES", t.to_owned()));
        }
        spawn_app_with(Options {
            env,
            ..Default::default()
        })
    };

    // Behind a trusted proxy (the test client is 127.0.0.1): one budget per real client.
    let app = limited(Some("127.0.0.0/8, ::1")).await;
    let first = inbox_statuses(&app, "198.51.100.1, 203.0.113.1", 3).await;
    assert_eq!(first.iter().filter(|s| **s == 429).count(), 1, "{first:?}");
    assert_ne!(first[0], 429);
    // Another client behind the same proxy still has its budget; the spoofable left part of
    // the header does not matter.
    let second = inbox_statuses(&app, "198.51.100.1, 203.0.113.2", 2).await;
    assert!(!second.contains(&429), "{second:?}");

    // Without trusted proxies the header is ignored: every request counts against the peer.
    let app = limited(None).await;
    let a = inbox_statuses(&app, "203.0.113.1", 2).await;
    let b = inbox_statuses(&app, "203.0.113.2", 1).await;
    assert!(!a.contains(&429), "{a:?}");
    assert_eq!(b, [429]);
    let response = app
        .http
        .get(app.url(&format!(
            "/api/v1/subscriptions/{}/messages",
            herald::secrets::random_id()
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "60");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
}
