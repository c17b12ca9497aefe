//! More hostile input (issue 13): control characters in every one-line message field, IPv6
//! endpoints that are not global unicast, hostile API-key requests and forged key tokens.
//! As in `hostile.rs`, every case must get a 4xx with the JSON error object and store nothing.

use crate::helpers::*;
use serde_json::{json, Value};

struct Case {
    name: String,
    method: reqwest::Method,
    path: String,
    token: Option<String>,
    body: Option<Vec<u8>>,
}

fn json_case(name: impl Into<String>, method: reqwest::Method, path: &str, token: Option<&str>, body: &Value) -> Case {
    Case {
        name: name.into(),
        method,
        path: path.to_owned(),
        token: token.map(str::to_owned),
        body: Some(body.to_string().into_bytes()),
    }
}

async fn failures(app: &TestApp, cases: &[Case]) -> Vec<String> {
    let mut failed = Vec::new();
    for case in cases {
        let mut request = app.http.request(case.method.clone(), app.url(&case.path));
        if let Some(token) = &case.token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        if let Some(body) = &case.body {
            request = request.header("content-type", "application/json").body(body.clone());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        let shaped = serde_json::from_str::<Value>(&text)
            .is_ok_and(|b| b["error"]["code"].is_string() && b["error"]["message"].is_string());
        if !(400..500).contains(&status) || !shaped {
            failed.push(format!(
                "{} {} [{}]: {status} {text}",
                case.method, case.path, case.name
            ));
        }
    }
    failed
}

/// Rows that hostile requests must not have created.
async fn counts(app: &TestApp) -> Value {
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

const CONTROLS: &[(&str, &str)] = &[
    ("NUL", "\u{0}"),
    ("vertical tab", "\u{b}"),
    ("escape", "\u{1b}[31m"),
    ("DEL", "\u{7f}"),
    ("C1 NEL", "\u{85}"),
    ("newline", "\n"),
    ("carriage return", "\r"),
    ("tab", "\t"),
];

#[tokio::test]
async fn control_characters_are_refused_in_every_one_line_field() {
    use reqwest::Method;
    let app = spawn_app().await;
    let before = counts(&app).await;
    let mut cases = Vec::new();
    for (what, control) in CONTROLS {
        for (field, value) in [
            ("url", format!("/{control}x")),
            ("url", format!("/{control}/evil")),
            ("url", format!("https://app.example/{control}")),
            ("icon", format!("/{control}x")),
            ("icon", format!("https://cdn.example/i{control}.png")),
            ("tag", format!("t{control}")),
            ("topic", format!("t{control}")),
            ("title", format!("t{control}")),
        ] {
            let message = json!({"to": {"uid": 1}, "title": "t", field: value});
            cases.push(json_case(
                format!("message {field} with {what}"),
                Method::POST,
                "/api/v1/messages",
                Some(ADMIN_TOKEN),
                &message,
            ));
            let mut reminder = message.clone();
            reminder["schedule"] = json!({"daily": "09:00"});
            cases.push(json_case(
                format!("reminder {field} with {what}"),
                Method::POST,
                "/api/v1/reminders",
                Some(ADMIN_TOKEN),
                &reminder,
            ));
        }
        cases.push(json_case(
            format!("key name with {what}"),
            Method::POST,
            "/api/v1/keys",
            Some(ADMIN_TOKEN),
            &json!({"name": format!("billing{control}"), "scopes": ["send"]}),
        ));
    }
    assert_all_refused(&app, &cases, before).await;
}

#[tokio::test]
async fn ipv6_endpoints_that_are_not_global_unicast_are_refused() {
    use reqwest::Method;
    let app = spawn_app_with(Options {
        strict_endpoints: true,
        ..Default::default()
    })
    .await;
    let before = counts(&app).await;
    let keys = herald_testkit::Browser::generate();
    let mut cases = Vec::new();
    for host in [
        "[::127.0.0.1]",
        "[::7f00:1]",
        "[::a00:1]",
        "[::8.8.8.8]",
        "[2002:7f00:1::]",
        "[2002:a00:1::1]",
        "[2002:a9fe:a9fe::1]",
        "[fec0::1]",
        "[fed0::1]",
        "[2001::1]",
        "[2001:0:4136:e378:8000:63bf:3fff:fdd2]",
        "[2001:2::1]",
        "[2001:db8::1]",
        "[3fff::1]",
        "[64:ff9b::7f00:1]",
        "[64:ff9b::a9fe:a9fe]",
        "[64:ff9b:1::a00:1]",
        "[100::1]",
        "[::ffff:7f00:1]",
        "[::ffff:169.254.169.254]",
        "[::]",
        "[ff05::1]",
        "[4000::1]",
    ] {
        let subscription = keys.subscription_json(&format!("https://{host}/push/x"));
        cases.push(json_case(
            format!("endpoint {host}"),
            Method::POST,
            "/api/v1/subscriptions",
            Some(ADMIN_TOKEN),
            &json!({"uid": 1, "subscription": subscription}),
        ));
    }
    assert_all_refused(&app, &cases, before).await;
}

#[tokio::test]
async fn hostile_key_requests_and_forged_key_tokens_are_refused() {
    use reqwest::Method;
    let app = spawn_app().await;
    let (_, send_key) = {
        let r: Value = app
            .admin_post("/api/v1/keys", json!({"name": "sender", "scopes": ["send"]}))
            .await
            .json()
            .await
            .unwrap();
        (
            r["id"].as_str().unwrap().to_owned(),
            r["key"].as_str().unwrap().to_owned(),
        )
    };
    let before = counts(&app).await;
    let (id, secret) = send_key.trim_start_matches("hk_").split_once('.').unwrap();
    let mut cases = Vec::new();
    for (name, body) in [
        ("no name", json!({"scopes": ["send"]})),
        ("no scopes", json!({"name": "x"})),
        ("empty scopes", json!({"name": "x", "scopes": []})),
        ("unknown scope", json!({"name": "x", "scopes": ["root"]})),
        ("scope with spaces", json!({"name": "x", "scopes": [" send "]})),
        ("scopes as a string", json!({"name": "x", "scopes": "send,admin"})),
        ("scope not a string", json!({"name": "x", "scopes": [1]})),
        (
            "SQL in scope",
            json!({"name": "x", "scopes": ["send'); DROP TABLE api_keys;--"]}),
        ),
        (
            "101-character name",
            json!({"name": "n".repeat(101), "scopes": ["send"]}),
        ),
        ("blank name", json!({"name": "   ", "scopes": ["send"]})),
        ("name not a string", json!({"name": ["x"], "scopes": ["send"]})),
        ("unknown field", json!({"name": "x", "scopes": ["send"], "expires": 1})),
        ("array", json!([])),
    ] {
        cases.push(json_case(name, Method::POST, "/api/v1/keys", Some(ADMIN_TOKEN), &body));
    }
    // Forged and mangled key tokens: 401, never a 5xx, on an endpoint any scope could reach.
    for token in [
        format!("hk_{id}.{secret}x"),
        format!("hk_{id}.{}", &secret[1..]),
        format!("hk_{id}."),
        format!("hk_.{secret}"),
        format!("hk_{id}"),
        format!("HK_{id}.{secret}"),
        format!("hk_{}.{secret}", "A".repeat(65)),
        format!("hk_{id}'--.{secret}"),
        format!("hk_{id}.{}", "s".repeat(5000)),
        "hk_".into(),
    ] {
        cases.push(json_case(
            format!("token {}", &token[..token.len().min(40)]),
            Method::POST,
            "/api/v1/messages",
            Some(&token),
            &json!({"to": {"uid": 1}, "title": "t"}),
        ));
    }
    for path in ["/api/v1/keys/nope", "/api/v1/keys/%00", "/api/v1/keys/'%20OR%201=1"] {
        cases.push(Case {
            name: "revoke unknown".into(),
            method: Method::DELETE,
            path: path.into(),
            token: Some(ADMIN_TOKEN.into()),
            body: None,
        });
    }
    // A scope escalation attempt: a send key making itself an admin key.
    cases.push(json_case(
        "send key creates an admin key",
        Method::POST,
        "/api/v1/keys",
        Some(&send_key),
        &json!({"name": "mine", "scopes": ["admin"]}),
    ));
    assert_all_refused(&app, &cases, before).await;
}

#[tokio::test]
async fn endpoints_with_control_characters_are_refused_at_register_and_replace() {
    use reqwest::Method;
    let app = spawn_app().await;
    let device = app.register_device(json!({"uid": "ctl"})).await;
    let (endpoint, browser) = app.push.add_device();
    let before = counts(&app).await;
    let mut cases = Vec::new();
    for (what, control) in CONTROLS {
        // The URL parser would drop the tab or newline, or percent-encode the rest, and store a
        // different endpoint from the one sent.
        let hostile = format!("{endpoint}{control}x");
        let subscription = browser.subscription_json(&hostile);
        cases.push(json_case(
            format!("register an endpoint with {what}"),
            Method::POST,
            "/api/v1/subscriptions",
            Some(ADMIN_TOKEN),
            &json!({"subscription": subscription, "uid": "ctl"}),
        ));
        cases.push(json_case(
            format!("replace onto an endpoint with {what}"),
            Method::POST,
            &format!("/api/v1/subscriptions/{}/replace", device.id),
            Some(&device.secret),
            &json!({ "subscription": subscription }),
        ));
    }
    assert_all_refused(&app, &cases, before).await;
    // The device still has its own endpoint and secret.
    let inbox = app
        .http
        .get(app.url(&format!("/api/v1/subscriptions/{}/messages", device.id)))
        .bearer_auth(&device.secret)
        .send()
        .await
        .unwrap();
    assert_eq!(inbox.status(), 200);
}

#[tokio::test]
async fn a_trickled_request_body_is_cut_at_the_header_timeout() {
    use std::time::{Duration, Instant};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app_with(Options {
        env: vec![("HERALD_HEADER_READ_TIMEOUT_SECONDS", "1".into())],
        ..Default::default()
    })
    .await;
    let address = app.address.trim_start_matches("http://").to_owned();
    // A public route that reads its body before any credential: a byte every 200 ms would
    // keep the request (and its connection slot, which busy connections never give up) for
    // the whole 90 s request time limit.
    let mut slow = tokio::net::TcpStream::connect(&address).await.unwrap();
    slow.write_all(
        b"POST /api/v1/subscriptions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{",
    )
    .await
    .unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    let mut buffer = [0u8; 1024];
    while started.elapsed() < Duration::from_secs(6) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if slow.write_all(b" ").await.is_err() {
            break;
        }
        match tokio::time::timeout(Duration::from_millis(1), slow.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => answer.extend_from_slice(&buffer[..n]),
            Err(_) => {}
        }
    }
    let cut_after = started.elapsed();
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        cut_after < Duration::from_secs(4),
        "a trickled body kept its request for {cut_after:?}; answer so far: {answer:?}"
    );
    assert!(answer.starts_with("HTTP/1.1 4"), "{answer:?}");

    // A body that arrives at once is served as before.
    let waited = app
        .http
        .post(app.url("/api/v1/messages?wait=true"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"to": {"uid": "nobody"}, "title": "t"}))
        .send()
        .await
        .unwrap();
    assert_eq!(waited.status(), 200);
}

/// Every case got its JSON 4xx, and nothing was stored: the counts are what they were.
async fn assert_all_refused(app: &TestApp, cases: &[Case], before: Value) {
    let failed = failures(app, cases).await;
    assert!(
        failed.is_empty(),
        "{} of {} cases:\n{}",
        failed.len(),
        cases.len(),
        failed.join("\n")
    );
    assert_eq!(counts(app).await, before);
}
