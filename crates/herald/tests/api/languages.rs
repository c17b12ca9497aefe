//! Issue 16: a message in three languages reaches devices with `uk`, `en-GB` and `de`
//! browsers as `uk`, `en` and the default, in payload mode and in tickle mode.

use crate::helpers::*;
use serde_json::{json, Value};

const TITLE: &str = "Outage on your street";

fn message(mode: &str) -> Value {
    json!({"to": {"all": "clients"}, "mode": mode, "lang": "en",
           "title": {"default": TITLE, "uk": "Аварія на вашій вулиці", "en": "Outage in your area"},
           "body": {"default": "Repairs until 18:00", "uk": "Ремонт до 18:00", "en": "Fixed by 6 pm"}})
}

/// Devices whose browsers prefer Ukrainian, British English and German.
async fn three_devices(app: &TestApp) -> [Device; 3] {
    let mut devices = Vec::new();
    for (uid, languages) in [
        (1, json!(["uk", "ru"])),
        (2, json!(["en-GB"])),
        (3, json!(["de-DE", "de"])),
    ] {
        devices.push(
            app.register_device(json!({"uid": uid, "languages": languages, "timeZone": "Europe/Kyiv"}))
                .await,
        );
    }
    devices.try_into().ok().unwrap()
}

/// What each device should see: title, body, lang.
fn expected() -> [(&'static str, &'static str, &'static str); 3] {
    [
        ("Аварія на вашій вулиці", "Ремонт до 18:00", "uk"),
        ("Outage in your area", "Fixed by 6 pm", "en"),
        (TITLE, "Repairs until 18:00", "en"),
    ]
}

#[tokio::test]
async fn each_device_gets_its_best_language_in_the_payload() {
    let app = spawn_app().await;
    let devices = three_devices(&app).await;
    let response = app.admin_post("/api/v1/messages?wait=true", message("payload")).await;
    assert_eq!(response.status(), 200);
    let result: Value = response.json().await.unwrap();
    assert_eq!(result["accepted"], 3);
    for (device, (title, body, lang)) in devices.iter().zip(expected()) {
        let pushes = app.push.received_by(&device.endpoint);
        assert_eq!(pushes.len(), 1);
        let n = &pushes[0].json()["notification"];
        assert_eq!((n["title"].as_str(), n["body"].as_str()), (Some(title), Some(body)));
        assert_eq!(n["lang"], lang);
        assert_eq!(n["data"]["messageId"], result["id"]);
    }
}

#[tokio::test]
async fn each_device_fetches_its_best_language_in_tickle_mode() {
    let app = spawn_app().await;
    let devices = three_devices(&app).await;
    let id = app.send(message("tickle")).await;
    app.wait_settled(&id).await;
    for (device, (title, body, lang)) in devices.iter().zip(expected()) {
        assert_eq!(app.push.received_by(&device.endpoint)[0].payload, Ok(None));
        let inbox = app.inbox(device).await;
        let m = &inbox["messages"][0];
        assert_eq!((m["title"].as_str(), m["body"].as_str()), (Some(title), Some(body)));
        assert_eq!(m["lang"], lang);
    }
}

#[tokio::test]
async fn a_device_without_languages_and_a_plain_message_get_the_default() {
    let app = spawn_app().await;
    let device = app.register_device(json!({"uid": 9})).await;
    let id = app.send(message("payload")).await;
    app.wait_settled(&id).await;
    let n = &app.push.received_by(&device.endpoint)[0].json()["notification"];
    assert_eq!(n["title"], TITLE);
    assert_eq!(n["lang"], "en");
    let id = app.send(json!({"to": {"uid": 9}, "title": "Plain"})).await;
    app.wait_settled(&id).await;
    let n = &app.push.received_by(&device.endpoint)[1].json()["notification"];
    assert_eq!(n["title"], "Plain");
    assert!(n.get("lang").is_none());
}

/// Makes the database refuse to record the time zone `Asia/Tokyo` on a subscription, as a
/// crash between two writes would leave it: what was written before must not stay.
async fn refuse_tokyo(app: &TestApp) {
    use herald::storage::Backend;
    let statements: &[&str] = match app.app_state.store.backend() {
        Backend::Sqlite => &["CREATE TRIGGER refuse_tokyo BEFORE UPDATE ON subscriptions \
              WHEN NEW.time_zone = 'Asia/Tokyo' BEGIN SELECT RAISE(ABORT, 'injected failure'); END"],
        Backend::Postgres => &[
            "CREATE FUNCTION refuse_tokyo() RETURNS trigger AS $$ BEGIN \
             IF NEW.time_zone = 'Asia/Tokyo' THEN RAISE EXCEPTION 'injected failure'; END IF; \
             RETURN NEW; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER refuse_tokyo BEFORE UPDATE ON subscriptions FOR EACH ROW EXECUTE FUNCTION refuse_tokyo()",
        ],
        Backend::MySql => &[
            "CREATE TRIGGER refuse_tokyo BEFORE UPDATE ON subscriptions FOR EACH ROW BEGIN \
              IF NEW.time_zone = 'Asia/Tokyo' THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'injected failure'; \
              END IF; END",
        ],
    };
    for sql in statements {
        app.raw_sql(sql).await;
    }
}

async fn subscription_count(app: &TestApp) -> i64 {
    app.app_state.store.count_subscriptions().await.unwrap()
}

#[tokio::test]
async fn a_registration_stores_its_locale_with_it_or_not_at_all() {
    let app = spawn_app().await;
    refuse_tokyo(&app).await;
    let (endpoint, browser) = app.push.add_device();
    let body = json!({"uid": 1, "subscription": browser.subscription_json(&endpoint),
                      "languages": ["ja"], "timeZone": "Asia/Tokyo"});
    assert_error(app.admin_post("/api/v1/subscriptions", body).await, 500).await;
    assert_eq!(subscription_count(&app).await, 0, "no subscription without its locale");
    // The same registration with another zone goes through, locale and all.
    let body = json!({"uid": 1, "subscription": browser.subscription_json(&endpoint),
                      "languages": ["ja"], "timeZone": "Asia/Seoul"});
    let answer: Value = app
        .admin_post("/api/v1/subscriptions", body)
        .await
        .json()
        .await
        .unwrap();
    let stored = app
        .app_state
        .store
        .subscription_languages(answer["id"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(stored.as_deref(), Some("ja"));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_import_stores_each_locale_with_its_subscription_or_not_at_all() {
    let app = spawn_app().await;
    refuse_tokyo(&app).await;
    let browser = herald_testkit::Browser::generate();
    let line = json!({"uid": 8, "endpoint": format!("{}/push/imported", app.push.base_url()),
                      "keys": {"p256dh": browser.p256dh_b64(), "auth": browser.auth_b64()},
                      "languages": ["ja"], "timeZone": "Asia/Tokyo"});
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("subs.jsonl");
    std::fs::write(&file, format!("{line}\n")).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .env("HERALD_DATABASE_URL", &app.database_url)
        .env("HERALD_CONFIG", "/dev/null")
        .env("HERALD_ALLOW_PRIVATE_ENDPOINTS", "true")
        .env("HERALD_ALLOW_HTTP_ENDPOINTS", "true")
        .args(["subscriptions", "import"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(subscription_count(&app).await, 0, "no subscription without its locale");
}
