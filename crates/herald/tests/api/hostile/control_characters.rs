//! Control characters in every one-line field, and in endpoints at register and replace.

use super::harness::{assert_all_refused, counts, Auth, Case};
use crate::helpers::*;
use reqwest::Method;
use serde_json::json;

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
            cases.push(Case::json(
                format!("message {field} with {what}"),
                Method::POST,
                "/api/v1/messages",
                Auth::Admin,
                &message,
            ));
            let mut reminder = message.clone();
            reminder["schedule"] = json!({"daily": "09:00"});
            cases.push(Case::json(
                format!("reminder {field} with {what}"),
                Method::POST,
                "/api/v1/reminders",
                Auth::Admin,
                &reminder,
            ));
        }
        cases.push(Case::json(
            format!("key name with {what}"),
            Method::POST,
            "/api/v1/keys",
            Auth::Admin,
            &json!({"name": format!("billing{control}"), "scopes": ["send"]}),
        ));
    }
    assert_all_refused(&app, &cases, before).await;
}

#[tokio::test]
async fn endpoints_with_control_characters_are_refused_at_register_and_replace() {
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
        cases.push(Case::json(
            format!("register an endpoint with {what}"),
            Method::POST,
            "/api/v1/subscriptions",
            Auth::Admin,
            &json!({"subscription": subscription, "uid": "ctl"}),
        ));
        cases.push(Case::json(
            format!("replace onto an endpoint with {what}"),
            Method::POST,
            format!("/api/v1/subscriptions/{}/replace", device.id),
            Auth::Bearer(device.secret.clone()),
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
