//! Issue 16: every rich field reaches the device decrypted, sizes and buttons are checked,
//! and clicks are counted per button.

use crate::helpers::*;
use serde_json::{json, Value};

async fn receipt(app: &TestApp, device: &Device, body: Value) -> reqwest::Response {
    app.http
        .post(app.url(&format!("/api/v1/subscriptions/{}/receipts", device.id)))
        .bearer_auth(&device.secret)
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn every_rich_field_reaches_the_device_decrypted() {
    let app = spawn_app().await;
    let device = app.register_device(json!({"uid": 5})).await;
    let response = app
        .admin_post(
            "/api/v1/messages?wait=true",
            json!({"to": {"uid": 5}, "title": "Outage on your street", "body": "Repairs until 18:00",
                   "url": "/status", "tag": "outage", "icon": "/icon.png",
                   "actions": [{"id": "map", "title": "Show the map", "url": "/outage-map"},
                               {"id": "later", "title": "Later"}],
                   "image": "https://isp.example/outage.png", "badge": "/badge.png",
                   "requireInteraction": true, "silent": true, "renotify": true,
                   "lang": "en-GB", "dir": "ltr", "appBadge": 2, "data": {"street": 12, "ticket": "A-7"}}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let result: Value = response.json().await.unwrap();
    assert_eq!(result["accepted"], 1);
    let pushes = app.push.received_by(&device.endpoint);
    assert_eq!(pushes.len(), 1);
    let payload = pushes[0].json();
    assert_eq!(payload["web_push"], 8030);
    assert_eq!(payload["app_badge"], 2);
    let n = &payload["notification"];
    assert_eq!(
        n["actions"],
        json!([{"action": "map", "title": "Show the map", "navigate": "/outage-map"},
               {"action": "later", "title": "Later"}])
    );
    for (key, value) in [
        ("title", json!("Outage on your street")),
        ("body", json!("Repairs until 18:00")),
        ("navigate", json!("/status")),
        ("tag", json!("outage")),
        ("icon", json!("/icon.png")),
        ("image", json!("https://isp.example/outage.png")),
        ("badge", json!("/badge.png")),
        ("require_interaction", json!(true)),
        ("silent", json!(true)),
        ("renotify", json!(true)),
        ("lang", json!("en-gb")),
        ("dir", json!("ltr")),
    ] {
        assert_eq!(n[key], value, "{key}");
    }
    assert_eq!(
        n["data"],
        json!({"messageId": result["id"], "data": {"street": 12, "ticket": "A-7"}})
    );
}

#[tokio::test]
async fn a_tickle_message_hands_every_rich_field_to_the_service_worker() {
    let app = spawn_app().await;
    let device = app.register_device(json!({"uid": 6})).await;
    let id = app
        .send(
            json!({"to": {"uid": 6}, "title": "Invoice", "mode": "tickle", "tag": "inv",
                     "actions": [{"id": "pay", "title": "Pay now", "url": "/pay"}], "image": "/i.png",
                     "badge": "/b.png", "requireInteraction": true, "silent": true, "renotify": true,
                     "lang": "uk", "dir": "rtl", "appBadge": 0, "data": {"invoice": 42}}),
        )
        .await;
    app.wait_settled(&id).await;
    let inbox = app.inbox(&device).await;
    let m = &inbox["messages"][0];
    assert_eq!(m["actions"], json!([{"id": "pay", "title": "Pay now", "url": "/pay"}]));
    for (key, value) in [
        ("image", json!("/i.png")),
        ("badge", json!("/b.png")),
        ("requireInteraction", json!(true)),
        ("silent", json!(true)),
        ("renotify", json!(true)),
        ("lang", json!("uk")),
        ("dir", json!("rtl")),
        ("appBadge", json!(0)),
        ("data", json!({"invoice": 42})),
    ] {
        assert_eq!(m[key], value, "{key}");
    }
}

#[tokio::test]
async fn the_size_check_counts_every_field_and_language_and_says_how_much_is_over() {
    let app = spawn_app().await;
    let data = json!({"k": "d".repeat(1000)});
    // Fits alone, but not with the data.
    let body = "b".repeat(3000);
    let response = app
        .admin_post(
            "/api/v1/messages",
            json!({"to": {"all": "everyone"}, "title": "t", "body": body, "data": data}),
        )
        .await;
    let error = assert_error(response, 422).await;
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("bytes over") && message.contains("default"),
        "{message}"
    );
    // The default fits; the Ukrainian body (two bytes a letter) does not, and the error says so.
    let response = app
        .admin_post(
            "/api/v1/messages",
            json!({"to": {"all": "everyone"}, "title": "t",
                   "body": {"default": "x".repeat(2000), "uk": "ж".repeat(2000)}}),
        )
        .await;
    let error = assert_error(response, 422).await;
    let message = error["error"]["message"].as_str().unwrap();
    assert_eq!(error["error"]["field"], "body");
    assert!(message.contains("`uk`") && message.contains("bytes over"), "{message}");
    let over: usize = message
        .split_whitespace()
        .find_map(|w| w.parse().ok())
        .expect("a byte count");
    assert!(over > 0 && over < 2000, "{message}");
    // Tickle mode carries nothing, so the size is not limited.
    let response = app
        .admin_post(
            "/api/v1/messages",
            json!({"to": {"all": "everyone"}, "title": "t", "mode": "tickle",
                   "body": {"default": "x".repeat(2000), "uk": "ж".repeat(2000)}}),
        )
        .await;
    assert!(response.status().is_success());
}

#[tokio::test]
async fn bad_rich_fields_are_refused_with_their_path() {
    let app = spawn_app().await;
    let action = |id: &str| json!({"id": id, "title": "Go"});
    for (extra, field) in [
        (json!({"actions": [action("default")]}), "actions[0].id"),
        (json!({"actions": [action("Default")]}), "actions[0].id"),
        (json!({"actions": [action("pay"), action("DEFAULT")]}), "actions[1].id"),
        (json!({"actions": [action("pay"), action("pay")]}), "actions[1].id"),
        (json!({"actions": [action("a b")]}), "actions[0].id"),
        (json!({"actions": [action(&"x".repeat(33))]}), "actions[0].id"),
        (
            json!({"actions": [action("a"), action("b"), action("c"), action("d")]}),
            "actions",
        ),
        (json!({"actions": [{"id": "a", "title": ""}]}), "actions[0].title"),
        (
            json!({"actions": [{"id": "a", "title": "two\nlines"}]}),
            "actions[0].title",
        ),
        (
            json!({"actions": [{"id": "a", "title": "x".repeat(65)}]}),
            "actions[0].title",
        ),
        (
            json!({"actions": [{"id": "a", "title": "Go", "url": "javascript:alert(1)"}]}),
            "actions[0].url",
        ),
        (
            json!({"actions": [{"id": "a", "title": "Go", "colour": "red"}]}),
            "actions[0]",
        ),
        (json!({"image": "ftp://x"}), "image"),
        (json!({"badge": "//evil.example/b.png"}), "badge"),
        (json!({"renotify": true}), "renotify"),
        (json!({"dir": "up"}), "dir"),
        (json!({"lang": "not a tag"}), "lang"),
        (json!({"appBadge": -1}), "appBadge"),
        (json!({"appBadge": 9_007_199_254_740_992_u64}), "appBadge"),
        (json!({"title": {"default": "Hi", "Default": "Hey"}}), "title"),
        (json!({"body": {"default": "Hi", "DEFAULT": "Hey"}}), "body"),
        (json!({"data": [1, 2]}), "data"),
        (json!({"data": {"k": "x".repeat(1100)}}), "data"),
        (json!({"title": {"uk": "Привіт"}}), "title"),
        (json!({"title": {"default": "Hi", "uk": ""}}), "title.uk"),
        (json!({"body": {"default": "Hi", "uk": "bell\u{7}"}}), "body.uk"),
    ] {
        let mut body = json!({"to": {"all": "everyone"}, "title": "t"});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let error = assert_error(app.admin_post("/api/v1/messages", body).await, 422).await;
        let got = error["error"]["field"].as_str().unwrap();
        assert!(got.starts_with(field), "{extra}: field {got}, {error}");
    }
}

#[tokio::test]
async fn clicks_are_counted_per_action() {
    let app = spawn_app().await;
    let devices = [
        app.register_device(json!({"uid": 1})).await,
        app.register_device(json!({"uid": 2})).await,
        app.register_device(json!({"uid": 3})).await,
    ];
    let id = app
        .send(json!({"to": {"uids": [1, 2, 3]}, "title": "Balance low",
                     "actions": [{"id": "pay", "title": "Pay now", "url": "/pay"}, {"id": "later", "title": "Later"}]}))
        .await;
    app.wait_settled(&id).await;
    let clicked = |action: Option<&str>| {
        let mut body = json!({"messageId": id, "event": "clicked"});
        if let Some(action) = action {
            body["action"] = json!(action);
        }
        body
    };
    for (device, action) in [
        (&devices[0], Some("pay")),
        (&devices[1], Some("pay")),
        (&devices[1], Some("pay")),
        (&devices[1], None),
        (&devices[2], Some("default")),
    ] {
        assert_eq!(receipt(&app, device, clicked(action)).await.status(), 204);
    }
    // Only the message's own buttons, and only with `clicked`.
    let error = assert_error(receipt(&app, &devices[2], clicked(Some("steal"))).await, 422).await;
    assert_eq!(error["error"]["field"], "action");
    let displayed = json!({"messageId": id, "event": "displayed", "action": "pay"});
    let error = assert_error(receipt(&app, &devices[2], displayed).await, 422).await;
    assert_eq!(error["error"]["field"], "action");
    let m = app.message(&id).await;
    assert_eq!(m["clicked"], 3, "devices that clicked, once each");
    assert_eq!(m["clicks"], json!({"pay": 2, "default": 2}));
    // A message nobody clicked has an empty map.
    let quiet = app.send(json!({"to": {"uid": 1}, "title": "Quiet"})).await;
    assert_eq!(app.message(&quiet).await["clicks"], json!({}));
}

#[tokio::test]
async fn registration_checks_languages_and_time_zone() {
    let app = spawn_app().await;
    for (extra, field) in [
        (json!({"languages": ["uk", "not a tag"]}), "languages"),
        (json!({"languages": "uk"}), "languages"),
        (json!({"timeZone": "Mars/Olympus"}), "timeZone"),
    ] {
        let (endpoint, browser) = app.push.add_device();
        let mut body = json!({"uid": 1, "subscription": browser.subscription_json(&endpoint)});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let error = assert_error(app.admin_post("/api/v1/subscriptions", body).await, 422).await;
        assert_eq!(error["error"]["field"], field, "{extra}");
    }
    let (endpoint, browser) = app.push.add_device();
    let body = json!({"uid": 1, "subscription": browser.subscription_json(&endpoint),
                      "languages": ["uk-UA", "uk", "en"], "timeZone": "Europe/Kyiv"});
    assert_eq!(app.admin_post("/api/v1/subscriptions", body).await.status(), 201);
}

#[tokio::test]
async fn the_largest_exact_app_badge_is_accepted() {
    let app = spawn_app().await;
    let id = app
        .send(json!({"to": {"all": "everyone"}, "title": "t", "appBadge": 9_007_199_254_740_991_u64}))
        .await;
    assert_eq!(app.message(&id).await["appBadge"], 9_007_199_254_740_991_u64);
}

#[tokio::test]
async fn a_receipt_learns_nothing_about_a_message_not_sent_to_its_subscription() {
    let app = spawn_app().await;
    let target = app.register_device(json!({"uid": 1})).await;
    let outsider = app.register_device(json!({"uid": 2})).await;
    let id = app
        .send(json!({"to": {"uid": 1}, "title": "Invoice", "actions": [{"id": "pay", "title": "Pay"}]}))
        .await;
    app.wait_settled(&id).await;
    let clicked = |message: &str, action: &str| json!({"messageId": message, "event": "clicked", "action": action});
    // The same answer whether the action exists on that message, does not, or the message
    // does not exist at all.
    let mut answers = Vec::new();
    for body in [
        clicked(&id, "pay"),
        clicked(&id, "steal"),
        clicked("AAAAAAAAAAAAAAAAAAAAAA", "pay"),
    ] {
        let answer = assert_error(receipt(&app, &outsider, body.clone()).await, 404).await;
        answers.push(answer);
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");
    // The device it was sent to still has its action checked.
    let error = assert_error(receipt(&app, &target, clicked(&id, "steal")).await, 422).await;
    assert_eq!(error["error"]["field"], "action");
    assert_eq!(receipt(&app, &target, clicked(&id, "pay")).await.status(), 204);
    assert_eq!(app.message(&id).await["clicks"], json!({"pay": 1}));
}

#[tokio::test]
async fn status_shows_the_message_as_it_was_sent() {
    let app = spawn_app().await;
    let sent = json!({"to": {"all": "clients"}, "mode": "tickle", "tag": "outage",
        "title": {"default": "Outage", "uk": "Аварія", "en-GB": "Outage here"},
        "body": {"default": "Until 18:00", "uk": "До 18:00"},
        "actions": [{"id": "map", "title": "Map", "url": "/map"}, {"id": "later", "title": "Later"}],
        "image": "https://isp.example/outage.png", "badge": "/badge.png",
        "requireInteraction": true, "silent": true, "renotify": true,
        "lang": "en", "dir": "ltr", "appBadge": 3, "data": {"street": 12},
        "spreadOver": "30m", "ignoreQuietHours": true});
    let id = app.send(sent).await;
    let expected = json!({
        "title": {"default": "Outage", "uk": "Аварія", "en-gb": "Outage here"},
        "body": {"default": "Until 18:00", "uk": "До 18:00"},
        "actions": [{"id": "map", "title": "Map", "url": "/map"}, {"id": "later", "title": "Later"}],
        "image": "https://isp.example/outage.png", "badge": "/badge.png",
        "requireInteraction": true, "silent": true, "renotify": true,
        "lang": "en", "dir": "ltr", "appBadge": 3, "data": {"street": 12},
        "spreadOver": 1800, "ignoreQuietHours": true,
    });
    let status = app.message(&id).await;
    let listed: Value = app.admin_get("/api/v1/messages?limit=1").await.json().await.unwrap();
    for view in [&status, &listed["messages"][0]] {
        for (key, value) in expected.as_object().unwrap() {
            assert_eq!(&view[key], value, "{key}: {view}");
        }
    }
    // Quiet hours given by the message show as given; a plain message shows no rich field.
    let quiet = app
        .send(json!({"to": {"uid": 1}, "title": "Night", "body": "", "quietHours": {"from": "22:00", "to": "07:30"}}))
        .await;
    let status = app.message(&quiet).await;
    assert_eq!(status["quietHours"], json!({"from": "22:00", "to": "07:30"}));
    assert_eq!((&status["title"], &status["body"]), (&json!("Night"), &Value::Null));
    for key in expected
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| !["title", "body"].contains(&k.as_str()))
    {
        assert!(status.get(key).is_none(), "{key}: {status}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn clicked_and_clicks_by_action_are_read_together() {
    let app = spawn_app().await;
    let mut devices = Vec::new();
    for uid in 0..24 {
        devices.push(app.register_device(json!({"uid": uid})).await);
    }
    let id = app
        .send(json!({"to": {"all": "clients"}, "title": "Vote",
                     "actions": [{"id": "yes", "title": "Yes"}, {"id": "no", "title": "No"}]}))
        .await;
    app.wait_settled(&id).await;
    // Each device clicks once, on one button or the notification: at every moment the clicks
    // by action add up to `clicked`.
    let app = std::sync::Arc::new(app);
    let mut clicks = tokio::task::JoinSet::new();
    for (i, device) in devices.into_iter().enumerate() {
        let (app, id) = (app.clone(), id.clone());
        clicks.spawn(async move {
            let action = ["yes", "no", "default"][i % 3];
            let body = json!({"messageId": id, "event": "clicked", "action": action});
            assert_eq!(receipt(&app, &device, body).await.status(), 204);
        });
    }
    let mut reads = 0;
    loop {
        let status = app.message(&id).await;
        let sum: i64 = status["clicks"]
            .as_object()
            .unwrap()
            .values()
            .map(|n| n.as_i64().unwrap())
            .sum();
        assert_eq!(sum, status["clicked"].as_i64().unwrap(), "read {reads}: {status}");
        reads += 1;
        if status["clicked"] == 24 {
            break;
        }
    }
    while let Some(done) = clicks.join_next().await {
        done.unwrap();
    }
    assert_eq!(
        app.message(&id).await["clicks"],
        json!({"yes": 8, "no": 8, "default": 8})
    );
}
