//! What a device does with its own secret: its inbox, receipts and replacing its
//! subscription.

use super::harness::{short, Auth, Case, Seed};
use super::inputs::{bad_endpoints, bad_points, body_cases, long_id, urlencode, with, SQL};
use reqwest::Method;
use serde_json::json;

/// The inbox, receipts and replace, called with the seed device's own secret.
pub(super) fn cases(seed: &Seed) -> Vec<Case> {
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
