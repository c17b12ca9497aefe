//! `POST /api/v1/messages` and reading messages: every field, the audience, the query and the
//! token; links that would leave the origin.

use super::harness::{short, Auth, Case};
use super::inputs::{body_cases, long_id, urlencode, with, SQL};
use crate::helpers::*;
use reqwest::Method;
use serde_json::{json, Value};

/// Sending and reading messages.
pub(super) fn cases() -> Vec<Case> {
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
