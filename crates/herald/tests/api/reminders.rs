use crate::helpers::*;
use serde_json::{json, Value};

const MINUTE: i64 = 60_000;

fn at_utc(text: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(text).unwrap().timestamp_millis()
}

async fn create(app: &TestApp, body: Value) -> Value {
    let r = app.admin_post("/api/v1/reminders", body).await;
    let status = r.status();
    let json: Value = r.json().await.unwrap();
    assert_eq!(status, 201, "{json}");
    json
}

async fn messages_of(app: &TestApp, reminder: &str) -> Vec<Value> {
    let list: Value = app.admin_get("/api/v1/messages?limit=500").await.json().await.unwrap();
    list["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["reminderId"] == reminder)
        .cloned()
        .collect()
}

#[tokio::test]
async fn a_daily_reminder_fires_at_local_time_across_dst_and_once_after_downtime() {
    let app = spawn_app_with(Options {
        manual_clock: true,
        no_workers: true,
        ..Default::default()
    })
    .await;
    let clock = app.clock.clone().unwrap();
    clock.set_ms(at_utc("2026-03-27T12:00:00Z"));
    app.register_device(json!({"aid": 1})).await;
    let r = create(
        &app,
        json!({"to": {"aid": 1}, "title": "Backup at 02:00", "schedule": {"daily": "09:00"}, "timezone": "Europe/Kyiv"}),
    )
    .await;
    let id = r["id"].as_str().unwrap().to_owned();
    assert_eq!(r["nextFireAt"], "2026-03-28T07:00:00.000Z");

    // Just before, nothing; at the time, exactly one message.
    clock.set_ms(at_utc("2026-03-28T07:00:00Z") - 1000);
    app.scheduler.fire_due().await.unwrap();
    assert!(messages_of(&app, &id).await.is_empty());
    clock.set_ms(at_utc("2026-03-28T07:00:00Z"));
    assert_eq!(app.scheduler.fire_due().await.unwrap(), 1);
    assert_eq!(app.scheduler.fire_due().await.unwrap(), 0, "fires once");
    let r: Value = app
        .admin_get(&format!("/api/v1/reminders/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        r["nextFireAt"], "2026-03-29T06:00:00.000Z",
        "09:00 Kyiv is 06:00 UTC after the change"
    );

    // The server is down for three days: one firing on start, then back on schedule.
    clock.set_ms(at_utc("2026-04-01T10:00:00Z"));
    assert_eq!(app.scheduler.fire_due().await.unwrap(), 1);
    assert_eq!(app.scheduler.fire_due().await.unwrap(), 0);
    let r: Value = app
        .admin_get(&format!("/api/v1/reminders/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["nextFireAt"], "2026-04-02T06:00:00.000Z");
    assert_eq!(r["fired"], 2);
    let fired = messages_of(&app, &id).await;
    assert_eq!(fired.len(), 2);
    assert_eq!(fired[0]["title"], "Backup at 02:00");
    assert_eq!(
        fired[0]["targets"], 1,
        "each firing is an ordinary message with targets"
    );
}

#[tokio::test]
async fn paused_and_deleted_reminders_do_not_fire() {
    let app = spawn_app_with(Options {
        manual_clock: true,
        no_workers: true,
        ..Default::default()
    })
    .await;
    let clock = app.clock.clone().unwrap();
    clock.set_ms(at_utc("2026-06-01T00:00:00Z"));
    let r = create(
        &app,
        json!({"to": {"all": "admins"}, "title": "t", "schedule": {"cron": "*/5 * * * *"}}),
    )
    .await;
    let id = r["id"].as_str().unwrap().to_owned();
    let patched = app
        .http
        .patch(app.url(&format!("/api/v1/reminders/{id}")))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"paused": true, "title": "renamed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
    let patched: Value = patched.json().await.unwrap();
    assert_eq!(
        (patched["paused"].as_bool(), patched["title"].as_str()),
        (Some(true), Some("renamed"))
    );
    clock.advance_ms(30 * MINUTE);
    assert_eq!(app.scheduler.fire_due().await.unwrap(), 0);
    // Resuming does not replay what was missed while paused.
    let resumed: Value = app
        .http
        .patch(app.url(&format!("/api/v1/reminders/{id}")))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"paused": false}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(resumed["nextFireAt"], "2026-06-01T00:35:00.000Z");
    let r = app.admin_delete(&format!("/api/v1/reminders/{id}")).await;
    assert_eq!(r.status(), 204);
    clock.advance_ms(60 * MINUTE);
    assert_eq!(app.scheduler.fire_due().await.unwrap(), 0);
    assert_error(app.admin_get(&format!("/api/v1/reminders/{id}")).await, 404).await;
}

#[tokio::test]
async fn a_one_off_reminder_fires_once_and_bad_ones_are_refused() {
    let app = spawn_app_with(Options {
        manual_clock: true,
        no_workers: true,
        ..Default::default()
    })
    .await;
    let clock = app.clock.clone().unwrap();
    clock.set_ms(at_utc("2026-12-01T06:00:00Z"));
    let r = create(&app, json!({"to": {"uid": 1}, "title": "once", "schedule": {"at": "2026-12-01T09:00:00"}, "timezone": "Europe/Kyiv"})).await;
    assert_eq!(r["nextFireAt"], "2026-12-01T07:00:00.000Z");
    clock.set_ms(at_utc("2026-12-01T08:00:00Z"));
    assert_eq!(app.scheduler.fire_due().await.unwrap(), 1);
    clock.advance_ms(24 * 60 * MINUTE);
    assert_eq!(app.scheduler.fire_due().await.unwrap(), 0);
    let r: Value = app
        .admin_get(&format!("/api/v1/reminders/{}", r["id"].as_str().unwrap()))
        .await
        .json()
        .await
        .unwrap();
    assert!(r["nextFireAt"].is_null());

    for body in [
        json!({"to": {"uid": 1}, "title": "t"}),
        json!({"to": {"uid": 1}, "title": "t", "schedule": {"daily": "9am"}}),
        json!({"to": {"uid": 1}, "title": "t", "schedule": {"daily": "09:00"}, "timezone": "Nowhere/City"}),
        json!({"to": {"uid": 1}, "title": "t", "schedule": {"at": "2020-01-01T00:00:00Z"}}),
        json!({"to": {"uid": 1}, "title": "", "schedule": {"daily": "09:00"}}),
        json!({"to": {"uid": 1}, "title": "t", "schedule": {"daily": "09:00"}, "colour": "red"}),
    ] {
        assert_error(app.admin_post("/api/v1/reminders", body).await, 422).await;
    }
    let list: Value = app.admin_get("/api/v1/reminders").await.json().await.unwrap();
    assert_eq!(list["reminders"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn scheduled_messages_survive_a_restart() {
    // A message scheduled on one server instance is sent on time by the next one on the same
    // database; the push service outlives both.
    let push = herald_testkit::MockPushService::start().await;
    let dir = tempfile::tempdir().unwrap();
    let database = fresh_database(dir.path()).await;
    let first = spawn_app_with(Options {
        database_url: Some(database.url.clone()),
        ..Default::default()
    })
    .await;
    let (endpoint, browser) = push.add_device();
    first
        .register_existing(json!({"uid": 1}), endpoint.clone(), browser)
        .await;
    let due = chrono::Utc::now() + chrono::Duration::milliseconds(2000);
    let id = first
        .send(json!({"to": {"uid": 1}, "title": "survivor", "sendAt": due.to_rfc3339()}))
        .await;
    drop(first);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let second = spawn_app_with(Options {
        database_url: Some(database.url.clone()),
        ..Default::default()
    })
    .await;
    let pushes = push.wait_for(1, std::time::Duration::from_secs(30)).await;
    let arrived = chrono::Utc::now();
    assert_eq!(pushes.len(), 1);
    assert_eq!(pushes[0].json()["notification"]["title"], "survivor");
    assert!(arrived >= due, "not before its time");
    // On time give or take the scheduler's half-second sleep; the bound is for a busy machine.
    assert!(
        arrived - due < chrono::Duration::seconds(15),
        "not sent on time: {} late",
        arrived - due
    );
    assert_eq!(second.wait_settled(&id).await["accepted"], 1);
}

/// A reminder stored before a check was tightened (here a topic of 4n + 1 characters) cannot
/// fire any more; it moves on to its next firing instead of staying due and being retried at
/// once, for ever.
#[tokio::test]
async fn a_reminder_that_no_longer_validates_skips_its_firing_instead_of_spinning() {
    let app = spawn_app_with(Options {
        manual_clock: true,
        no_workers: true,
        ..Default::default()
    })
    .await;
    let clock = app.clock.clone().unwrap();
    clock.set_ms(at_utc("2026-12-01T12:00:00Z"));
    let r = create(
        &app,
        json!({"to": {"aid": 1}, "title": "Backup", "topic": "abcd", "schedule": {"daily": "13:00"}}),
    )
    .await;
    let id = r["id"].as_str().unwrap().to_owned();
    let store = &app.app_state.store;
    let mut stored = store.reminder(&id).await.unwrap().unwrap();
    stored.template["topic"] = json!("abcde");
    assert!(store.update_reminder(&stored).await.unwrap());

    clock.set_ms(at_utc("2026-12-01T13:00:00Z"));
    assert_eq!(app.scheduler.fire_due().await.unwrap(), 0);
    let r: Value = app
        .admin_get(&format!("/api/v1/reminders/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["nextFireAt"], "2026-12-02T13:00:00.000Z", "{r}");
    assert!(messages_of(&app, &id).await.is_empty());
}
