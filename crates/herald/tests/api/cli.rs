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
    let pair = herald_push::keys::VapidKeyPair::from_base64url(
        keys["privateKey"].as_str().unwrap(),
        keys["publicKey"].as_str(),
    )
    .unwrap();
    assert_eq!(pair.public_key_bytes().as_slice(), public.as_slice());
}

fn vapid() -> (String, String) {
    let pair = herald_push::keys::VapidKeyPair::generate().unwrap();
    (pair.public_key_base64url(), pair.private_key_base64url().unwrap())
}

fn send(endpoint: &str, browser: &herald_testkit::Browser, extra: &[&str]) -> std::process::Output {
    let (public, private) = vapid();
    let mut cmd = herald();
    cmd.args([
        "send-notification",
        &format!("--endpoint={endpoint}"),
        &format!("--key={}", browser.p256dh_b64()),
    ])
    .arg(format!("--auth={}", browser.auth_b64()))
    .args([
        "--vapid-subject=mailto:ops@example.com",
        &format!("--vapid-pubkey={public}"),
        &format!("--vapid-pvtkey={private}"),
    ])
    .args(extra);
    cmd.output().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn send_notification_both_encodings_oversize_and_gone() {
    let push = herald_testkit::MockPushService::start().await;
    let (endpoint, browser) = push.add_device();
    for encoding in ["aes128gcm", "aesgcm"] {
        let (e, b) = (endpoint.clone(), browser.clone());
        let out = tokio::task::spawn_blocking(move || {
            send(
                &e,
                &b,
                &["--payload=hello", &format!("--encoding={encoding}"), "--ttl=60"],
            )
        })
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
    let out = tokio::task::spawn_blocking(move || send(&e, &b, &[&format!("--payload={big}")]))
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("3993"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        push.received_by(&endpoint).len(),
        2,
        "oversize payloads are refused before any request"
    );

    let (gone, gone_browser) = push.add_device_with(herald_testkit::MockResponse::status(410));
    let out = tokio::task::spawn_blocking(move || send(&gone, &gone_browser, &["--payload=hi"]))
        .await
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("410") && stderr.contains("gone"), "{stderr}");

    let out = herald()
        .args([
            "send-notification",
            "--endpoint=https://x.example/1",
            "--vapid-subject=me",
            "--vapid-pubkey=a",
            "--vapid-pvtkey=b",
        ])
        .output()
        .unwrap();
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
            .args([
                "notify",
                "--aid",
                "2",
                "--title",
                "Reminder: backup at 02:00",
                "--body",
                "Check the tapes",
                "--wait",
            ])
            .env("HERALD_DATABASE_URL", url)
            .env("HERALD_CONFIG", "/dev/null")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("queued for 1 device") && stdout.contains("accepted 1"),
        "{stdout}"
    );
    let pushes = app.push.received_by(&device.endpoint);
    assert_eq!(pushes.len(), 1);
    assert_eq!(pushes[0].json()["notification"]["title"], "Reminder: backup at 02:00");

    let out = herald()
        .args(["notify", "--title", "x"])
        .env("HERALD_CONFIG", "/dev/null")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let out = herald()
        .args(["cleanup"])
        .env("HERALD_DATABASE_URL", &app.database_url)
        .env("HERALD_CONFIG", "/dev/null")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn herald_on(database_url: &str) -> Command {
    let mut cmd = herald();
    cmd.env("HERALD_DATABASE_URL", database_url)
        .env("HERALD_CONFIG", "/dev/null");
    cmd
}

#[tokio::test(flavor = "multi_thread")]
async fn reminders_from_the_command_line() {
    let app = spawn_app().await;
    let out = herald_on(&app.database_url)
        .args([
            "reminders",
            "add",
            "--aid",
            "1",
            "--title",
            "Backup",
            "--weekly",
            "mon,fri@02:00",
            "--timezone",
            "Europe/Kyiv",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let id = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_owned();
    let listed: Value = app
        .admin_get(&format!("/api/v1/reminders/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["schedule"]["weekly"]["time"], "02:00");
    assert_eq!(listed["timezone"], "Europe/Kyiv");
    let out = herald_on(&app.database_url)
        .args(["reminders", "list", "--json"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains(&id));
    let out = herald_on(&app.database_url)
        .args(["reminders", "add", "--uid", "1", "--title", "x", "--daily", "9am"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("9am"));
    let out = herald_on(&app.database_url)
        .args(["reminders", "rm", &id])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = herald_on(&app.database_url)
        .args(["reminders", "rm", &id])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn subscriptions_export_and_import_report_bad_lines_and_keep_the_rest() {
    let source = spawn_app().await;
    let kept = source.register_device(json!({"uid": 5})).await;
    source.register_device(json!({"aid": 6})).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("subs.jsonl");
    // An earlier file that others may read: the export must not keep that mode.
    std::fs::write(&file, "old\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let out = herald_on(&source.database_url)
        .args(["subscriptions", "export"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the export holds every endpoint; it is {mode:o}");
    }
    #[cfg(unix)]
    {
        // A symlink in the export's place is refused, and what it points at stays untouched.
        let elsewhere = dir.path().join("elsewhere");
        std::fs::write(&elsewhere, "untouched\n").unwrap();
        let link = dir.path().join("link.jsonl");
        std::os::unix::fs::symlink(&elsewhere, &link).unwrap();
        let out = herald_on(&source.database_url)
            .args(["subscriptions", "export"])
            .arg(&link)
            .output()
            .unwrap();
        assert!(!out.status.success(), "an export through a symlink must fail");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("symbolic link"), "{stderr}");
        assert_eq!(std::fs::read_to_string(&elsewhere).unwrap(), "untouched\n");
    }
    let mut text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(text.lines().count(), 2);
    // Lines from another system, one good, and two bad ones.
    let browser = herald_testkit::Browser::generate();
    text.push_str(&format!(
        "{}\n{{not json\n{}\n",
        json!({"uid": 70000, "endpoint": format!("{}/push/ext", source.push.base_url()), "keys": {"p256dh": browser.p256dh_b64(), "auth": browser.auth_b64()}}),
        json!({"uid": 1, "endpoint": "https://push.example/x", "keys": {"p256dh": "AAAA", "auth": browser.auth_b64()}}),
    ));
    std::fs::write(&file, text).unwrap();

    let target = spawn_app().await;
    let out = herald_on(&target.database_url)
        .env("HERALD_ALLOW_PRIVATE_ENDPOINTS", "true")
        .env("HERALD_ALLOW_HTTP_ENDPOINTS", "true")
        .args(["subscriptions", "import"])
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "invalid lines make the exit status fail");
    assert!(stderr.contains("line 4:") && stderr.contains("line 5:"), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("imported 3 new"));
    let list: Value = target.admin_get("/api/v1/subscriptions").await.json().await.unwrap();
    assert_eq!(list["total"], 3);
    // The moved subscription keeps its id and its secret still opens its inbox.
    let r = target
        .http
        .get(target.url(&format!("/api/v1/subscriptions/{}/messages", kept.id)))
        .bearer_auth(&kept.secret)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// A database the server never set up (an empty PostgreSQL/MariaDB database, or no SQLite
/// file): commands refuse it by name and create nothing in it.
#[tokio::test(flavor = "multi_thread")]
async fn commands_refuse_a_database_without_herald_tables() {
    let dir = tempfile::tempdir().unwrap();
    let database = fresh_database(dir.path()).await;
    let url = &database.url;
    let out = herald_on(url)
        .args(["notify", "--uid", "42", "--title", "hi"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("has no Herald tables") || stderr.contains("no Herald database at"),
        "{stderr}"
    );
    assert!(stderr.contains("HERALD_DATABASE_URL"), "{stderr}");
    // Still empty: the server's first start (or `herald init`) sets it up, and then it works.
    let out = herald_on(url).arg("init").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("created the Herald database"));
    let out = herald_on(url)
        .args(["notify", "--uid", "42", "--title", "hi"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}
