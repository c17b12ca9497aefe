//! SQL metacharacters are data.

use super::inputs::{urlencode, SQL};
use crate::helpers::*;
use serde_json::{json, Value};

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
