//! A field that breaks a rule is answered the same way on every endpoint: 422
//! `invalid_field` with the field's JSON path, whether serde refused it (a wrong type, an
//! unknown field, a typed audience or schedule) or a validation after it did.

use crate::helpers::{assert_error, spawn_app, TestApp};
use serde_json::{json, Value};

/// Sends `body` to `path` with `method` and the admin token (or `bearer`); asserts 422
/// `invalid_field` naming `field`.
async fn assert_field_error(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    bearer: &str,
    body: Value,
    field: &str,
) {
    let response = app
        .http
        .request(method.clone(), app.url(path))
        .bearer_auth(bearer)
        .json(&body)
        .send()
        .await
        .unwrap();
    let error = assert_error(response, 422).await;
    assert_eq!(
        error["error"]["code"], "invalid_field",
        "{method} {path} {body}: {error}"
    );
    assert_eq!(error["error"]["field"], field, "{method} {path} {body}: {error}");
}

const ADMIN: &str = crate::helpers::ADMIN_TOKEN;

#[tokio::test]
async fn messages_name_the_field_down_to_a_list_item() {
    let app = spawn_app().await;
    let post = reqwest::Method::POST;
    for (body, field) in [
        (json!({"to": {"uid": 1}, "title": ""}), "title"),
        (json!({"to": {"uid": 1}, "title": 5}), "title"),
        (json!({"to": {"uids": ["1", "2", "3", ""]}, "title": "t"}), "to.uids[3]"),
        (json!({"to": {"all": "some"}, "title": "t"}), "to.all"),
        (json!({"to": {"gid": 1}, "title": "t"}), "to"),
        (json!({"to": {"uid": 1}, "title": "t", "ttl": -1}), "ttl"),
        (json!({"to": {"uid": 1}, "title": "t", "url": "javascript:x"}), "url"),
        (json!({"to": {"uid": 1}, "title": "t", "colour": "red"}), "colour"),
    ] {
        assert_field_error(&app, post.clone(), "/api/v1/messages", ADMIN, body, field).await;
    }
}

#[tokio::test]
async fn reminders_and_previews_name_the_schedule_field() {
    let app = spawn_app().await;
    let post = reqwest::Method::POST;
    let reminder = |schedule: Value| json!({"to": {"uid": 1}, "title": "t", "schedule": schedule});
    for (body, field) in [
        (reminder(json!({"cron": "not a cron"})), "schedule.cron"),
        (reminder(json!({"daily": "25:00"})), "schedule.daily"),
        (
            reminder(json!({"weekly": {"days": ["mon", "someday"], "time": "09:00"}})),
            "schedule.weekly.days[1]",
        ),
        (reminder(json!({"hourly": 1})), "schedule"),
        (
            json!({"to": {"uid": 1}, "title": "", "schedule": {"daily": "09:00"}}),
            "title",
        ),
        (json!({"to": {"uid": 1}, "title": "t"}), "schedule"),
        (
            json!({"to": {"uid": 1}, "title": "t", "schedule": {"daily": "09:00"}, "paused": "yes"}),
            "paused",
        ),
    ] {
        assert_field_error(&app, post.clone(), "/api/v1/reminders", ADMIN, body, field).await;
    }
    for (body, field) in [
        (json!({"schedule": {"cron": "* *"}}), "schedule.cron"),
        (json!({"schedule": {"daily": "09:00"}, "count": 0}), "count"),
        (
            json!({"schedule": {"daily": "09:00"}, "timezone": "Mars/Olympus"}),
            "timezone",
        ),
    ] {
        assert_field_error(&app, post.clone(), "/api/v1/reminders/preview", ADMIN, body, field).await;
    }
}

#[tokio::test]
async fn subscriptions_keys_and_owner_tokens_name_the_field() {
    let app = spawn_app().await;
    let post = reqwest::Method::POST;
    let (endpoint, browser) = app.push.add_device();
    let subscription = browser.subscription_json(&endpoint);
    let mut bad_key = subscription.clone();
    bad_key["keys"]["p256dh"] = json!("AAAA");
    for (body, field) in [
        (json!({"subscription": subscription, "uid": ""}), "uid"),
        (json!({"subscription": subscription, "uid": 1, "aid": 2}), "aid"),
        (json!({"subscription": bad_key, "uid": 1}), "subscription.keys.p256dh"),
        (
            json!({"subscription": {"endpoint": 5, "keys": subscription["keys"]}, "uid": 1}),
            "subscription.endpoint",
        ),
    ] {
        assert_field_error(&app, post.clone(), "/api/v1/subscriptions", ADMIN, body, field).await;
    }
    for (body, field) in [
        (json!({"name": "", "scopes": ["send"]}), "name"),
        (json!({"name": "billing", "scopes": ["send", "root"]}), "scopes[1]"),
        (json!({"name": "billing", "scopes": "send"}), "scopes"),
    ] {
        assert_field_error(&app, post.clone(), "/api/v1/keys", ADMIN, body, field).await;
    }
    for (body, field) in [
        (json!({"uid": "a\u{200B}b"}), "uid"),
        (json!({"uid": 1, "ttl": 0}), "ttl"),
    ] {
        assert_field_error(&app, post.clone(), "/api/v1/owner-tokens", ADMIN, body, field).await;
    }
}

#[tokio::test]
async fn a_device_s_own_requests_name_the_field() {
    let app = spawn_app().await;
    let device = app.register_device(json!({"uid": 7})).await;
    let post = reqwest::Method::POST;
    let receipts = format!("/api/v1/subscriptions/{}/receipts", device.id);
    for (body, field) in [
        (json!({"messageId": "x", "event": "opened"}), "event"),
        (json!({"messageId": 5, "event": "clicked"}), "messageId"),
    ] {
        assert_field_error(&app, post.clone(), &receipts, &device.secret, body, field).await;
    }
    let replace = format!("/api/v1/subscriptions/{}/replace", device.id);
    let body = json!({"subscription": {"endpoint": "ftp://push.example/x", "keys": {"p256dh": "x", "auth": "y"}}});
    assert_field_error(&app, post, &replace, &device.secret, body, "subscription.endpoint").await;
}

#[tokio::test]
async fn a_reminder_update_names_the_field() {
    let app = spawn_app().await;
    let created = app
        .admin_post(
            "/api/v1/reminders",
            json!({"to": {"uid": 1}, "title": "t", "schedule": {"daily": "09:00"}}),
        )
        .await;
    assert_eq!(created.status().as_u16(), 201);
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/api/v1/reminders/{id}");
    for (body, field) in [
        (json!({"schedule": {"at": "soon"}}), "schedule.at"),
        (json!({"to": {"aids": []}}), "to.aids"),
    ] {
        assert_field_error(&app, reqwest::Method::PATCH, &path, ADMIN, body, field).await;
    }
}

#[tokio::test]
async fn broken_json_and_wrong_content_types_are_not_field_errors() {
    let app = spawn_app().await;
    let send = |body: &'static str, content_type: &'static str| {
        app.http
            .post(app.url("/api/v1/messages"))
            .bearer_auth(ADMIN)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let error = assert_error(send("{\"to\": ", "application/json").await.unwrap(), 400).await;
    assert!(error["error"].get("field").is_none(), "{error}");
    assert_error(send("{}", "text/plain").await.unwrap(), 415).await;
}
