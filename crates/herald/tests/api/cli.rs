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

/// `herald doctor | head -1`: output cut short ends the command as SIGPIPE would, without a
/// panic (it used to print "failed printing to stdout: Broken pipe" from a panic).
#[test]
fn output_to_a_closed_pipe_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = herald()
        .args(["doctor", "--timeout", "1"])
        .current_dir(dir.path())
        .env("HERALD_CONFIG", "/dev/null")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(141), "{stderr}");
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
    // Lines from another system, one good, and three bad ones (the last with a misspelt field).
    let browser = herald_testkit::Browser::generate();
    let other = herald_testkit::Browser::generate();
    text.push_str(&format!(
        "{}\n{{not json\n{}\n{}\n",
        json!({"uid": 70000, "endpoint": format!("{}/push/ext", source.push.base_url()), "keys": {"p256dh": browser.p256dh_b64(), "auth": browser.auth_b64()}}),
        json!({"uid": 1, "endpoint": "https://push.example/x", "keys": {"p256dh": "AAAA", "auth": browser.auth_b64()}}),
        json!({"uid": 70001, "endpoint": format!("{}/push/ext2", source.push.base_url()), "keys": {"p256dh": other.p256dh_b64(), "auth": other.auth_b64()}, "timezone": "Europe/Kyiv"}),
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
    assert!(stderr.contains("line 6: unknown field(s) `timezone`"), "{stderr}");
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

/// Runs `herald ARGS` on `database_url` off the async runtime; (success, stdout, stderr).
async fn run_herald(database_url: &str, args: &[&str]) -> (bool, String, String) {
    let url = database_url.to_owned();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let out = tokio::task::spawn_blocking(move || {
        herald_on(&url)
            .env("HERALD_ALLOW_PRIVATE_ENDPOINTS", "true")
            .env("HERALD_ALLOW_HTTP_ENDPOINTS", "true")
            .args(&args)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Export → import into a fresh database keeps every subscription's tags, languages and time
/// zone and every person's own tags; a second export is the same file. An older export's line
/// (without those fields) is still taken.
#[tokio::test(flavor = "multi_thread")]
async fn subscriptions_round_trip_keeps_tags_languages_time_zones_and_owner_tags() {
    let source = spawn_app().await;
    let body = |owner: Value, extra: Value| {
        let (endpoint, browser) = source.push.add_device();
        let mut b = json!({ "subscription": browser.subscription_json(&endpoint) });
        for (k, v) in owner.as_object().unwrap().iter().chain(extra.as_object().unwrap()) {
            b[k] = v.clone();
        }
        b
    };
    let kyiv = body(
        json!({"uid": 7}),
        json!({"tags": ["tariff:home-100"], "languages": ["uk-UA", "uk", "en"], "timeZone": "Europe/Kyiv"}),
    );
    let tokyo = body(
        json!({"uid": 7}),
        json!({"languages": ["ja"], "timeZone": "Asia/Tokyo"}),
    );
    let plain = body(json!({"aid": 2}), json!({}));
    let mut ids = Vec::new();
    for b in [kyiv, tokyo, plain] {
        let r = source.admin_post("/api/v1/subscriptions", b).await;
        assert_eq!(r.status(), 201);
        ids.push(r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned());
    }
    // uid 7's own tag reaches both devices; one device then loses its copy. uid 900 has tags
    // but no device yet.
    for (owner, tags) in [
        (json!({"uid": 7}), json!(["district:12"])),
        (json!({"uid": 900}), json!(["vip", "district:3"])),
    ] {
        let mut request = json!({ "add": tags });
        request
            .as_object_mut()
            .unwrap()
            .extend(owner.as_object().unwrap().clone());
        assert_eq!(source.admin_post("/api/v1/owners/tags", request).await.status(), 200);
    }
    let r = source
        .http
        .delete(source.url(&format!("/api/v1/subscriptions/{}/tags/district:12", ids[1])))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("subs.jsonl");
    let file_arg = file.to_str().unwrap();
    let (ok, _, stderr) = run_herald(&source.database_url, &["subscriptions", "export", file_arg]).await;
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains("exported 3 subscription(s) and the tags of 2 person(s)"),
        "{stderr}"
    );
    let exported = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<Value> = exported.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let line_of = |id: &str| lines.iter().find(|l| l["id"] == id).unwrap().clone();
    let first = line_of(&ids[0]);
    assert_eq!(first["tags"], json!(["district:12", "tariff:home-100"]));
    assert_eq!(first["languages"], json!(["uk-ua", "uk", "en"]));
    assert_eq!(first["timeZone"], "Europe/Kyiv");
    assert_eq!(line_of(&ids[1])["timeZone"], "Asia/Tokyo");
    assert!(line_of(&ids[1]).get("tags").is_none(), "{exported}");
    assert!(line_of(&ids[2]).get("languages").is_none(), "{exported}");
    assert_eq!(lines[3], json!({"uid": "7", "ownerTags": ["district:12"]}));
    assert_eq!(lines[4], json!({"uid": "900", "ownerTags": ["district:3", "vip"]}));

    // An older export's line: no tags, languages, timeZone or owner lines.
    let older = source.push.add_device();
    let older_line = json!({"id": "olderExportLine1", "uid": "8", "secretHash": "A".repeat(43),
        "createdAt": "2026-11-01T10:00:00Z", "subscription": older.1.subscription_json(&older.0)});
    let target = spawn_app().await;
    std::fs::write(&file, format!("{exported}{older_line}\n")).unwrap();
    let (ok, stdout, stderr) = run_herald(&target.database_url, &["subscriptions", "import", file_arg]).await;
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("imported 4 new and 0 existing subscription(s), the tags of 2 person(s); 0 invalid"),
        "{stdout}"
    );

    let store = &target.app_state.store;
    let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let locales = store.locales_of(&id_refs).await.unwrap();
    assert_eq!(locales[&ids[0]].languages.as_deref(), Some("uk-ua,uk,en"));
    assert_eq!(locales[&ids[0]].time_zone.as_deref(), Some("Europe/Kyiv"));
    assert_eq!(locales[&ids[1]].time_zone.as_deref(), Some("Asia/Tokyo"));
    assert!(!locales.contains_key(&ids[2]));
    let tags = store.tags_of(&id_refs).await.unwrap();
    assert_eq!(tags[&ids[0]], ["district:12", "tariff:home-100"]);
    assert!(!tags.contains_key(&ids[1]), "the removed copy stays removed: {tags:?}");
    // The people's tags page by page (the export reads 1000 rows a page): one row at a time.
    let (mut rows, mut after) = (Vec::new(), None);
    loop {
        let page = store.owner_tags_page(after.as_ref(), 1).await.unwrap();
        let Some(row) = page.into_iter().next() else { break };
        rows.push(format!(
            "{}:{}={}",
            row.owner.kind.field(),
            row.owner.id.as_str(),
            row.tag
        ));
        after = Some(row);
    }
    assert_eq!(rows, ["uid:7=district:12", "uid:900=district:3", "uid:900=vip"]);
    // uid 900's tags were restored: a device they register now inherits them.
    target.register_device(json!({"uid": 900})).await;
    assert_eq!(
        target.owner_subscription_tags("uid=900").await,
        [json!(["district:3", "vip"])]
    );

    // The same file again, less the line the target lacks on the source and uid 900's device.
    let again = dir.path().join("again.jsonl");
    let (ok, _, stderr) = run_herald(
        &target.database_url,
        &["subscriptions", "export", again.to_str().unwrap()],
    )
    .await;
    assert!(ok, "{stderr}");
    let again: Vec<Value> = std::fs::read_to_string(&again)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|l: &Value| l["uid"] != "900" || l.get("ownerTags").is_some())
        .filter(|l: &Value| l["id"] != "olderExportLine1")
        .collect();
    assert_eq!(again, lines);
}

#[tokio::test(flavor = "multi_thread")]
async fn tags_from_the_command_line() {
    let app = spawn_app().await;
    let device = app.register_device(json!({"uid": 7})).await;
    app.register_device(json!({"uid": 7})).await;
    let other = app.register_device(json!({"aid": 3})).await;

    let (ok, stdout, stderr) =
        run_herald(&app.database_url, &["tags", "add", "--uid", "7", "District:12", "vip"]).await;
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("uid 7: tags district:12, vip (on 2 subscription(s))"),
        "{stdout}"
    );
    assert_eq!(
        app.owner_subscription_tags("uid=7").await,
        [json!(["district:12", "vip"]), json!(["district:12", "vip"])]
    );
    let (ok, stdout, stderr) = run_herald(&app.database_url, &["tags", "remove", "--uid", "7", "vip"]).await;
    assert!(ok, "{stderr}");
    assert!(stdout.contains("uid 7: tags district:12 (on 2"), "{stdout}");
    // A person's tags reach devices they register later.
    let (ok, _, stderr) = run_herald(&app.database_url, &["tags", "add", "--aid", "4", "night-shift"]).await;
    assert!(ok, "{stderr}");
    app.register_device(json!({"aid": 4})).await;
    assert_eq!(app.owner_subscription_tags("aid=4").await, [json!(["night-shift"])]);

    // One subscription, by id; a tag with `/`.
    let (ok, stdout, stderr) = run_herald(
        &app.database_url,
        &["tags", "add", "--subscription", &other.id, "floor/2", "lab"],
    )
    .await;
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains(&format!("subscription {}: added floor/2, lab", other.id)),
        "{stdout}"
    );
    let (ok, _, stderr) = run_herald(
        &app.database_url,
        &["tags", "remove", "--subscription", &other.id, "lab"],
    )
    .await;
    assert!(ok, "{stderr}");
    assert_eq!(app.owner_subscription_tags("aid=3").await, [json!(["floor/2"])]);
    // The tag audience reaches exactly the tagged device.
    let id = app
        .send(json!({"to": {"tags": {"any": ["floor/2"]}}, "title": "Lab"}))
        .await;
    assert_eq!(app.wait_settled(&id).await["accepted"], 1);
    assert_eq!(app.push.received_by(&other.endpoint).len(), 1);
    assert!(app.push.received_by(&device.endpoint).is_empty());
    // The API takes the same tag with its `/` as %2F (README).
    let r = app
        .admin_delete(&format!("/api/v1/subscriptions/{}/tags/floor%2F2", other.id))
        .await;
    assert_eq!(r.status(), 204);
    assert_eq!(app.owner_subscription_tags("aid=3").await, [json!([])]);

    for (args, says) in [
        (
            vec!["tags", "add", "--subscription", "nosuchsubscription", "x"],
            "no subscription with id",
        ),
        (vec!["tags", "add", "--subscription", "bad id!", "x"], "--subscription"),
        (vec!["tags", "add", "--uid", "7", "bad tag!"], "bad tag!"),
        (vec!["tags", "add", "--uid", "7"], "TAG"),
        (vec!["tags", "add", "x"], "--uid"),
        (vec!["tags", "add", "--uid", "7", "--aid", "1", "x"], "--aid"),
    ] {
        let (ok, _, stderr) = run_herald(&app.database_url, &args).await;
        assert!(!ok, "{args:?} succeeded");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}

/// `--renotify` needs `--tag`; with it, both reach the device. `reminders add` takes the same
/// rich flags and stores them in its template.
#[tokio::test(flavor = "multi_thread")]
async fn notify_and_reminders_take_the_rich_flags() {
    let app = spawn_app().await;
    let device = app.register_device(json!({"uid": 42})).await;
    let (ok, _, stderr) = run_herald(
        &app.database_url,
        &["notify", "--uid", "42", "--title", "Balance", "--renotify"],
    )
    .await;
    assert!(!ok);
    assert!(stderr.contains("--renotify: needs --tag"), "{stderr}");
    assert!(app.push.received_by(&device.endpoint).is_empty());
    let (ok, _, stderr) = run_herald(
        &app.database_url,
        &[
            "notify",
            "--uid",
            "42",
            "--title",
            "Balance",
            "--tag",
            "balance",
            "--renotify",
            "--action",
            "pay,Pay now,/pay?ids=1,2",
            "--wait",
        ],
    )
    .await;
    assert!(ok, "{stderr}");
    let pushes = app.push.received_by(&device.endpoint);
    assert_eq!(pushes.len(), 1);
    let n = &pushes[0].json()["notification"];
    assert_eq!((&n["tag"], &n["renotify"]), (&json!("balance"), &json!(true)));
    assert_eq!(
        n["actions"],
        json!([{"action": "pay", "title": "Pay now", "navigate": "/pay?ids=1,2"}])
    );

    let (ok, stdout, stderr) = run_herald(
        &app.database_url,
        &[
            "reminders",
            "add",
            "--tags-any",
            "district:12",
            "--kind",
            "clients",
            "--title",
            "Meter",
            "--body",
            "Send the reading",
            "--body-lang",
            "uk=Надішліть показник",
            "--action",
            "send,Send it,/meter",
            "--image",
            "/meter.png",
            "--tag",
            "meter",
            "--renotify",
            "--app-badge",
            "1",
            "--data",
            r#"{"meter":3}"#,
            "--quiet-hours",
            "22:00-08:00",
            "--spread-over",
            "5m",
            "--cron",
            "0 10 25 * *",
            "--timezone",
            "Europe/Kyiv",
        ],
    )
    .await;
    assert!(ok, "{stderr}");
    let id = stdout.split_whitespace().nth(1).unwrap();
    let reminder: Value = app
        .admin_get(&format!("/api/v1/reminders/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        reminder["to"],
        json!({"tags": {"any": ["district:12"]}, "kind": "clients"})
    );
    assert_eq!(
        reminder["body"],
        json!({"default": "Send the reading", "uk": "Надішліть показник"})
    );
    assert_eq!(
        reminder["actions"],
        json!([{"id": "send", "title": "Send it", "url": "/meter"}])
    );
    for (key, value) in [
        ("image", json!("/meter.png")),
        ("tag", json!("meter")),
        ("renotify", json!(true)),
        ("appBadge", json!(1)),
        ("data", json!({"meter": 3})),
        ("quietHours", json!({"from": "22:00", "to": "08:00"})),
        ("spreadOver", json!(300)),
        ("timezone", json!("Europe/Kyiv")),
    ] {
        assert_eq!(reminder[key], value, "{key}: {reminder}");
    }
    let (ok, _, stderr) = run_herald(
        &app.database_url,
        &[
            "reminders",
            "add",
            "--uid",
            "1",
            "--title",
            "x",
            "--daily",
            "09:00",
            "--renotify",
        ],
    )
    .await;
    assert!(!ok);
    assert!(stderr.contains("--renotify: needs --tag"), "{stderr}");
}

/// A person's `ownerTags` line that would take them past 64 tags with the tags they already
/// have here is refused by line number and changes nothing; the import goes on.
#[tokio::test(flavor = "multi_thread")]
async fn importing_owner_tags_keeps_the_limit() {
    let app = spawn_app().await;
    let (ok, _, stderr) = run_herald(&app.database_url, &["tags", "add", "--uid", "8", "already:here"]).await;
    assert!(ok, "{stderr}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("owners.jsonl");
    let full: Vec<String> = (0..64).map(|i| format!("t:{i}")).collect();
    std::fs::write(
        &file,
        format!(
            "{}\n{}\n",
            json!({"uid": "8", "ownerTags": full}),
            json!({"uid": "9", "ownerTags": ["vip"]})
        ),
    )
    .unwrap();
    let (ok, stdout, stderr) =
        run_herald(&app.database_url, &["subscriptions", "import", file.to_str().unwrap()]).await;
    assert!(!ok, "the refused line makes the exit status fail");
    assert!(stderr.contains("line 1:") && stderr.contains("65 tags"), "{stderr}");
    assert!(stdout.contains("the tags of 1 person"), "{stdout}");
    let tags = |uid: &'static str| {
        let store = app.app_state.store.clone();
        async move {
            store
                .read("SELECT tag FROM owner_tags WHERE owner_id = $1 ORDER BY tag")
                .bind(uid)
                .fetch_all()
                .await
                .unwrap()
                .len()
        }
    };
    assert_eq!(tags("8").await, 1, "nothing of the refused line was stored");
    assert_eq!(tags("9").await, 1);
}
