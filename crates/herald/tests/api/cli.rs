use crate::helpers::*;
use serde_json::{json, Value};
use std::process::Command;

fn herald() -> Command {
    Command::new(env!("CARGO_BIN_EXE_herald"))
}

#[test]
fn keys_generate_prints_web_push_json() {
    let out = herald().args(["keys", "generate", "--json"]).output().unwrap();
    assert!(out.status.success());
    let keys: Value = serde_json::from_slice(&out.stdout).unwrap();
    let public = herald_push::base64url::decode(keys["publicKey"].as_str().unwrap()).unwrap();
    let private = herald_push::base64url::decode(keys["privateKey"].as_str().unwrap()).unwrap();
    assert_eq!((public.len(), private.len()), (65, 32));
    let pair = herald_push::keys::VapidKeyPair::from_base64url(keys["privateKey"].as_str().unwrap(), keys["publicKey"].as_str()).unwrap();
    assert_eq!(pair.public_key_bytes().as_slice(), public.as_slice());
}

fn vapid() -> (String, String) {
    let pair = herald_push::keys::VapidKeyPair::generate().unwrap();
    (pair.public_key_base64url(), pair.private_key_base64url().unwrap())
}

fn send(endpoint: &str, browser: &herald_testkit::Browser, extra: &[&str]) -> std::process::Output {
    let (public, private) = vapid();
    let mut cmd = herald();
    cmd.args(["send-notification", &format!("--endpoint={endpoint}"), &format!("--key={}", browser.p256dh_b64())])
        .arg(format!("--auth={}", browser.auth_b64()))
        .args(["--vapid-subject=mailto:ops@example.com", &format!("--vapid-pubkey={public}"), &format!("--vapid-pvtkey={private}")])
        .args(extra);
    cmd.output().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn send_notification_both_encodings_oversize_and_gone() {
    let push = herald_testkit::MockPushService::start().await;
    let (endpoint, browser) = push.add_device();
    for encoding in ["aes128gcm", "aesgcm"] {
        let (e, b) = (endpoint.clone(), browser.clone());
        let out = tokio::task::spawn_blocking(move || send(&e, &b, &["--payload=hello", &format!("--encoding={encoding}"), "--ttl=60"]))
            .await
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stdout).contains("201"));
    }
    let pushes = push.received_by(&endpoint);
    assert_eq!(pushes.len(), 2);
    for p in &pushes {
        assert!(p.vapid.is_ok(), "{:?}", p.vapid);
        assert_eq!(p.payload.as_ref().unwrap().as_deref(), Some(&b"hello"[..]));
        assert_eq!(p.ttl, Some(60));
    }
    let (e, b) = (endpoint.clone(), browser.clone());
    let big = "x".repeat(4000);
    let out = tokio::task::spawn_blocking(move || send(&e, &b, &[&format!("--payload={big}")])).await.unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("3993"), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(push.received_by(&endpoint).len(), 2, "oversize payloads are refused before any request");

    let (gone, gone_browser) = push.add_device_with(herald_testkit::MockResponse::status(410));
    let out = tokio::task::spawn_blocking(move || send(&gone, &gone_browser, &["--payload=hi"])).await.unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("410") && stderr.contains("gone"), "{stderr}");

    let out = herald().args(["send-notification", "--endpoint=https://x.example/1", "--vapid-subject=me", "--vapid-pubkey=a", "--vapid-pvtkey=b"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--vapid-subject"));
}

#[tokio::test(flavor = "multi_thread")]
async fn notify_queues_through_the_shared_database_and_waits() {
    let app = spawn_app().await;
    let device = app.register_device(json!({"aid": 2})).await;
    let url = app.database_url.clone();
    let out = tokio::task::spawn_blocking(move || {
        herald()
            .args(["notify", "--aid", "2", "--title", "Reminder: backup at 02:00", "--body", "Check the tapes", "--wait"])
            .env("HERALD_DATABASE_URL", url)
            .env("HERALD_CONFIG", "/dev/null")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("queued for 1 device") && stdout.contains("accepted 1"), "{stdout}");
    let pushes = app.push.received_by(&device.endpoint);
    assert_eq!(pushes.len(), 1);
    assert_eq!(pushes[0].json()["notification"]["title"], "Reminder: backup at 02:00");

    let out = herald().args(["notify", "--title", "x"]).env("HERALD_CONFIG", "/dev/null").output().unwrap();
    assert!(!out.status.success());
    let out = herald().args(["cleanup"]).env("HERALD_DATABASE_URL", &app.database_url).env("HERALD_CONFIG", "/dev/null").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}
