use crate::helpers::*;
use serde_json::{json, Value};

async fn inbox(app: &TestApp, id: &str, secret: &str) -> reqwest::Response {
    app.http
        .get(app.url(&format!("/api/v1/subscriptions/{id}/messages")))
        .bearer_auth(secret)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn tickle_pushes_carry_no_text_and_the_owner_fetches_once() {
    let app = spawn_app().await;
    let device = app.register_device(json!({"uid": 3})).await;
    let other = app.register_device(json!({"uid": 4})).await;
    let id = app
        .send(json!({"to": {"uid": 3}, "title": "Ticket #12 assigned", "body": "A long text".repeat(500), "mode": "tickle", "url": "/tickets/12"}))
        .await;
    app.wait_settled(&id).await;
    let pushes = app.push.received_by(&device.endpoint);
    assert_eq!(pushes.len(), 1);
    assert_eq!(pushes[0].payload, Ok(None), "a tickle carries no payload");
    assert!(pushes[0].vapid.is_ok());

    // Another subscription's secret opens nothing of this one.
    assert_error(inbox(&app, &device.id, &other.secret).await, 401).await;
    let theirs: Value = inbox(&app, &other.id, &other.secret).await.json().await.unwrap();
    assert_eq!(theirs["messages"].as_array().unwrap().len(), 0);

    let mine: Value = inbox(&app, &device.id, &device.secret).await.json().await.unwrap();
    let messages = mine["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["id"], id.as_str());
    assert_eq!(messages[0]["title"], "Ticket #12 assigned");
    assert_eq!(messages[0]["url"], "/tickets/12");
    assert!(
        messages[0]["body"].as_str().unwrap().len() > 4000,
        "tickle bodies can exceed a push's size"
    );
    let again: Value = inbox(&app, &device.id, &device.secret).await.json().await.unwrap();
    assert_eq!(again["messages"].as_array().unwrap().len(), 0, "handed out once");

    // Receipts count once, only for messages sent to this subscription.
    let receipt = |sub: &Device, event: &str| {
        app.http
            .post(app.url(&format!("/api/v1/subscriptions/{}/receipts", sub.id)))
            .bearer_auth(&sub.secret)
            .json(&json!({"messageId": id, "event": event}))
            .send()
    };
    assert_eq!(receipt(&device, "displayed").await.unwrap().status(), 204);
    assert_eq!(receipt(&device, "displayed").await.unwrap().status(), 204);
    assert_eq!(receipt(&device, "clicked").await.unwrap().status(), 204);
    assert_error(receipt(&other, "displayed").await.unwrap(), 404).await;
    let error = assert_error(receipt(&device, "opened").await.unwrap(), 422).await;
    assert_eq!(error["error"]["field"], "event");
    let m = app.message(&id).await;
    assert_eq!((m["displayed"].as_i64(), m["clicked"].as_i64()), (Some(1), Some(1)));
}

#[tokio::test]
async fn expired_tickles_are_never_handed_out_and_cleanup_removes_them() {
    let app = spawn_app_with(Options {
        manual_clock: true,
        no_workers: true,
        ..Default::default()
    })
    .await;
    let device = app.register_device(json!({"uid": 3})).await;
    let short = app
        .send(json!({"to": {"uid": 3}, "title": "short", "mode": "tickle", "ttl": 60}))
        .await;
    let long = app
        .send(json!({"to": {"uid": 3}, "title": "long", "mode": "tickle", "ttl": 3600}))
        .await;
    while app.engine.deliver_due_once().await.unwrap() > 0 {}
    app.clock.as_ref().unwrap().advance_ms(61_000);
    let mine: Value = inbox(&app, &device.id, &device.secret).await.json().await.unwrap();
    let titles: Vec<&str> = mine["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, vec!["long"]);
    let removed = app
        .app_state
        .store
        .delete_expired_messages(app.app_state.clock.now_ms())
        .await
        .unwrap();
    assert_eq!(removed, 1);
    assert_error(app.admin_get(&format!("/api/v1/messages/{short}")).await, 404).await;
    assert_eq!(app.message(&long).await["title"], "long");
}

#[tokio::test]
async fn a_replaced_browser_subscription_keeps_its_herald_id() {
    let app = spawn_app().await;
    let device = app.register_device(json!({"uid": 3})).await;
    let (endpoint, browser) = app.push.add_device();
    let r = app
        .http
        .post(app.url(&format!("/api/v1/subscriptions/{}/replace", device.id)))
        .bearer_auth(&device.secret)
        .json(&json!({"subscription": browser.subscription_json(&endpoint)}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["id"], device.id.as_str());
    assert_error(inbox(&app, &device.id, &device.secret).await, 401).await;
    assert_eq!(
        inbox(&app, &device.id, body["secret"].as_str().unwrap()).await.status(),
        200
    );
    let id = app.send(json!({"to": {"uid": 3}, "title": "moved"})).await;
    app.wait_settled(&id).await;
    assert_eq!(app.push.received_by(&endpoint).len(), 1);
    assert!(app.push.received_by(&device.endpoint).is_empty());
}

/// The inbox holds tickle messages only, whichever way they were sent (now, or scheduled and
/// fired later), beside any number of payload messages to the same subscription.
#[tokio::test]
async fn the_inbox_holds_tickles_sent_now_or_scheduled_and_no_payload_messages() {
    let app = spawn_app_with(Options {
        manual_clock: true,
        no_workers: true,
        ..Default::default()
    })
    .await;
    let device = app.register_device(json!({"uid": 3})).await;
    let now = app.app_state.clock.now_ms();
    let later = chrono::DateTime::from_timestamp_millis(now + 60_000)
        .unwrap()
        .to_rfc3339();
    let payload = app.send(json!({"to": {"uid": 3}, "title": "payload one"})).await;
    let tickle = app
        .send(json!({"to": {"uid": 3}, "title": "tickle now", "mode": "tickle"}))
        .await;
    let scheduled = app
        .send(json!({"to": {"all": "clients"}, "title": "tickle later", "mode": "tickle", "sendAt": later}))
        .await;
    app.send(json!({"to": {"all": "clients"}, "title": "payload two"}))
        .await;
    while app.engine.deliver_due_once().await.unwrap() > 0 {}
    let titles = |v: Value| -> Vec<String> {
        v["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["title"].as_str().unwrap().to_owned())
            .collect()
    };
    let mine = inbox(&app, &device.id, &device.secret).await.json().await.unwrap();
    assert_eq!(titles(mine), ["tickle now"]);

    app.clock.as_ref().unwrap().advance_ms(61_000);
    assert_eq!(app.scheduler.fire_due().await.unwrap(), 1);
    while app.engine.deliver_due_once().await.unwrap() > 0 {}
    let mine = inbox(&app, &device.id, &device.secret).await.json().await.unwrap();
    assert_eq!(titles(mine), ["tickle later"]);
    let again = inbox(&app, &device.id, &device.secret).await.json().await.unwrap();
    assert!(titles(again).is_empty(), "handed out once");
    for id in [&payload, &tickle, &scheduled] {
        let m = app.message(id).await;
        assert_eq!(
            (m["targets"].as_i64(), m["accepted"].as_i64()),
            (Some(1), Some(1)),
            "{m}"
        );
    }
    // Receipts still find the tickle sent to this subscription.
    let r = app
        .http
        .post(app.url(&format!("/api/v1/subscriptions/{}/receipts", device.id)))
        .bearer_auth(&device.secret)
        .json(&json!({"messageId": scheduled, "event": "displayed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(app.message(&scheduled).await["displayed"], 1);
}
