//! Registering, listing and deleting subscriptions: the subscription object, its keys and
//! endpoint, the owner and the owner token; IPv6 endpoints that are not global unicast.

use super::harness::{assert_all_refused, counts, short, Auth, Case, Seed};
use super::inputs::{bad_endpoints, bad_points, body_cases, long_id, urlencode, with, SQL};
use crate::helpers::*;
use herald_push::base64url;
use reqwest::Method;
use serde_json::{json, Value};

/// Registering, listing and deleting subscriptions.
pub(super) fn cases(seed: &Seed) -> Vec<Case> {
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

#[tokio::test]
async fn ipv6_endpoints_that_are_not_global_unicast_are_refused() {
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
        cases.push(Case::json(
            format!("endpoint {host}"),
            Method::POST,
            "/api/v1/subscriptions",
            Auth::Admin,
            &json!({"uid": 1, "subscription": subscription}),
        ));
    }
    assert_all_refused(&app, &cases, before).await;
}
