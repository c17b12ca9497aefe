//! Pacing: `spreadOver` spreads a message's pushes over time (also across a restart), and
//! quiet hours hold pushes for devices whose local time is inside them. A manual clock and a
//! hand-driven engine make the timing exact.

use crate::helpers::*;
use herald::clock::Clock;
use herald_testkit::MockPushService;
use serde_json::{json, Value};

const SECOND: i64 = 1000;

/// Sends every row due at the clock's time.
async fn drain(app: &TestApp) {
    while app.engine.deliver_due_once().await.unwrap() > 0 {}
}

fn clock(app: &TestApp) -> &herald::clock::ManualClock {
    app.clock.as_ref().expect("a manual clock")
}

async fn spawn_on(database_url: &str, extra_env: Vec<(&'static str, String)>) -> TestApp {
    spawn_app_with(Options {
        manual_clock: true,
        no_workers: true,
        database_url: Some(database_url.to_owned()),
        env: extra_env,
        ..Default::default()
    })
    .await
}

/// Registers `count` devices of `push` on `app`, a few at a time.
async fn register_many(app: &TestApp, push: &MockPushService, count: usize) {
    for chunk in (0..count).collect::<Vec<_>>().chunks(50) {
        futures::future::join_all(chunk.iter().map(|i| {
            let (endpoint, browser) = push.add_device();
            app.register_existing(json!({"uid": i}), endpoint, browser)
        }))
        .await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_spread_message_goes_out_evenly_and_keeps_its_pace_across_a_restart() {
    // Issue 16: 6,000 devices over 60 s, about 1,000 per 10 s.
    const DEVICES: usize = 6000;
    let push = MockPushService::start().await;
    let dir = tempfile::tempdir().unwrap();
    let database = fresh_database(dir.path()).await;
    let first = spawn_on(&database.url, Vec::new()).await;
    register_many(&first, &push, DEVICES).await;
    let start = clock(&first).now_ms();
    let id = first
        .send(json!({"to": {"all": "clients"}, "title": "paced", "spreadOver": "60s"}))
        .await;
    let status = first.message(&id).await;
    assert_eq!(status["targets"], DEVICES);
    assert_eq!(status["spread"]["overSeconds"], 60);
    assert_eq!(status["spread"]["endsAt"], herald::clock::rfc3339(start + 60 * SECOND));
    assert_eq!(status["spread"]["released"], 1, "only the first push is due at once");

    let mut app = first;
    let mut sent_before = 0;
    for window in 1..=6 {
        if window == 4 {
            // A restart in the middle: the next instance finds the pacing in the outbox.
            app.stop();
            drop(app);
            app = spawn_on(&database.url, Vec::new()).await;
        }
        // The last millisecond of each 10-second window.
        let now = start + window * 10 * SECOND - 1;
        clock(&app).set_ms(now);
        drain(&app).await;
        let sent = push.received().len();
        let in_window = sent - sent_before;
        let expected = DEVICES / 6;
        assert!(
            in_window * 10 >= expected * 8 && in_window * 10 <= expected * 12,
            "window {window}: {in_window} pushes, expected {expected} ± 20%"
        );
        sent_before = sent;
        let status = app.message(&id).await;
        assert_eq!(status["spread"]["released"], sent, "window {window}: {status}");
    }
    assert_eq!(push.received().len(), DEVICES);
    assert_eq!(push.duplicates(), 0);
    let status = app.message(&id).await;
    assert_eq!(status["accepted"], DEVICES, "{status}");
    assert_eq!(status["status"], "done");
}

/// 14:30 UTC: 23:30 in Tokyo (inside 22:00–08:00), 16:30 in Kyiv (outside).
fn afternoon_utc() -> i64 {
    chrono::DateTime::parse_from_rfc3339("2026-12-01T14:30:00Z")
        .unwrap()
        .timestamp_millis()
}

/// Registers a device for `uid` in `zone` (`None`: the browser did not say).
async fn device_in(app: &TestApp, uid: u32, zone: Option<&str>) -> Device {
    let device = app.register_device(json!({"uid": uid})).await;
    // Registration stores the browser's `timeZone` once rich16's migration lands; set here
    // directly so this test depends only on the column.
    app.app_state
        .store
        .write("UPDATE subscriptions SET time_zone = $1 WHERE id = $2")
        .bind(zone)
        .bind(device.id.as_str())
        .execute()
        .await
        .unwrap();
    device
}

async fn attempts(app: &TestApp, message: &str, device: &Device) -> i64 {
    app.app_state
        .store
        .read("SELECT attempts FROM outbox WHERE message_id = $1 AND subscription_id = $2")
        .bind(message)
        .bind(device.id.as_str())
        .fetch_scalar()
        .await
        .unwrap()
}

#[tokio::test]
async fn quiet_hours_hold_a_device_until_its_window_ends() {
    let app = spawn_app_with(Options {
        manual_clock: true,
        no_workers: true,
        ..Default::default()
    })
    .await;
    clock(&app).set_ms(afternoon_utc());
    let tokyo = device_in(&app, 1, Some("Asia/Tokyo")).await;
    let kyiv = device_in(&app, 2, Some("Europe/Kyiv")).await;
    let unknown = device_in(&app, 3, None).await;
    let id = app
        .send(json!({"to": {"all": "clients"}, "title": "night", "quietHours": {"from": "22:00", "to": "08:00"}}))
        .await;
    assert_eq!(
        app.message(&id).await["quietHours"],
        json!({"from": "22:00", "to": "08:00"})
    );
    drain(&app).await;
    assert_eq!(app.push.received_by(&kyiv.endpoint).len(), 1, "outside its quiet hours");
    assert_eq!(
        app.push.received_by(&unknown.endpoint).len(),
        1,
        "no time zone, never held"
    );
    assert!(app.push.received_by(&tokyo.endpoint).is_empty(), "23:30 in Tokyo");
    let status = app.message(&id).await;
    assert_eq!(
        (status["pending"].clone(), status["status"].clone()),
        (json!(1), json!("sending"))
    );

    // 08:00 in Tokyo is 23:00 UTC: a minute before, still held.
    clock(&app).set_ms(afternoon_utc() + (8 * 60 + 29) * 60 * SECOND);
    drain(&app).await;
    assert!(app.push.received_by(&tokyo.endpoint).is_empty(), "07:59 in Tokyo");
    clock(&app).set_ms(afternoon_utc() + (8 * 60 + 30) * 60 * SECOND);
    drain(&app).await;
    assert_eq!(app.push.received_by(&tokyo.endpoint).len(), 1, "08:00 in Tokyo");
    let status = app.message(&id).await;
    assert_eq!(status["accepted"], 3, "{status}");
    assert_eq!(attempts(&app, &id, &tokyo).await, 1, "holding counts no attempt");
}

#[tokio::test]
async fn the_server_default_applies_unless_the_message_ignores_it() {
    let app = spawn_app_with(Options {
        manual_clock: true,
        no_workers: true,
        env: vec![("HERALD_QUIET_HOURS", "22:00-08:00".into())],
        ..Default::default()
    })
    .await;
    clock(&app).set_ms(afternoon_utc());
    let tokyo = device_in(&app, 1, Some("Asia/Tokyo")).await;
    let held = app.send(json!({"to": {"uid": 1}, "title": "default"})).await;
    assert_eq!(
        app.message(&held).await["quietHours"],
        json!({"from": "22:00", "to": "08:00"})
    );
    drain(&app).await;
    assert!(app.push.received_by(&tokyo.endpoint).is_empty());
    let urgent = app
        .send(json!({"to": {"uid": 1}, "title": "outage", "urgency": "high", "ignoreQuietHours": true}))
        .await;
    assert!(app.message(&urgent).await.get("quietHours").is_none());
    drain(&app).await;
    let pushes = app.push.received_by(&tokyo.endpoint);
    assert_eq!(pushes.len(), 1);
    assert_eq!(pushes[0].json()["notification"]["title"], "outage");
    // A message's own window replaces the default: 23:30 is outside 01:00–06:00.
    let own = app
        .send(json!({"to": {"uid": 1}, "title": "own", "quietHours": {"from": "01:00", "to": "06:00"}}))
        .await;
    drain(&app).await;
    assert_eq!(app.message(&own).await["accepted"], 1);
}

#[tokio::test]
async fn bad_pacing_fields_are_refused_with_their_field() {
    let app = spawn_app().await;
    let cases: [(Value, &str); 8] = [
        (json!({"spreadOver": 0}), "spreadOver"),
        (json!({"spreadOver": 86_401}), "spreadOver"),
        (json!({"spreadOver": "1d"}), "spreadOver"),
        (json!({"spreadOver": true}), "spreadOver"),
        (json!({"quietHours": {"from": "22:00"}}), "quietHours"),
        (json!({"quietHours": {"from": "25:00", "to": "08:00"}}), "quietHours"),
        (json!({"quietHours": "22:00-08:00"}), "quietHours"),
        (
            json!({"quietHours": {"from": "22:00", "to": "08:00"}, "ignoreQuietHours": true}),
            "ignoreQuietHours",
        ),
    ];
    for (fields, field) in cases {
        let mut body = json!({"to": {"uid": 1}, "title": "t"});
        for (k, v) in fields.as_object().unwrap() {
            body[k] = v.clone();
        }
        let answer = assert_error(app.admin_post("/api/v1/messages", body.clone()).await, 422).await;
        assert_eq!(answer["error"]["field"], field, "{body}: {answer}");
    }
}

/// The titles a device's service worker fetches after a tickle push.
async fn inbox_titles(app: &TestApp, device: &Device) -> Vec<String> {
    app.inbox(device).await["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["title"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_held_tickle_is_not_handed_out_with_another_messages_fetch() {
    let app = spawn_app_with(Options {
        manual_clock: true,
        no_workers: true,
        env: vec![("HERALD_QUIET_HOURS", "22:00-08:00".into())],
        ..Default::default()
    })
    .await;
    clock(&app).set_ms(afternoon_utc());
    let tokyo = device_in(&app, 1, Some("Asia/Tokyo")).await;
    app.send(json!({"to": {"uid": 1}, "title": "held", "mode": "tickle"}))
        .await;
    drain(&app).await;
    assert!(app.push.received_by(&tokyo.endpoint).is_empty(), "23:30 in Tokyo");
    app.send(json!({"to": {"uid": 1}, "title": "urgent", "mode": "tickle", "ignoreQuietHours": true}))
        .await;
    drain(&app).await;
    assert_eq!(app.push.received_by(&tokyo.endpoint).len(), 1);
    // The urgent push's fetch shows only the urgent text: the held one waits for its own push.
    assert_eq!(inbox_titles(&app, &tokyo).await, ["urgent"]);
    clock(&app).set_ms(afternoon_utc() + (8 * 60 + 30) * 60 * SECOND);
    drain(&app).await;
    assert_eq!(app.push.received_by(&tokyo.endpoint).len(), 2, "08:00 in Tokyo");
    assert_eq!(inbox_titles(&app, &tokyo).await, ["held"]);
}
