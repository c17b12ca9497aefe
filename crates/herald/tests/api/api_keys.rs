//! Scoped API keys: what each scope may do, 403s that name the missing scope, revocation that
//! takes effect at once on every instance, last-used times, and the CLI.

use crate::helpers::*;
use serde_json::{json, Value};

async fn create_key(app: &TestApp, name: &str, scopes: &[&str]) -> (String, String) {
    let response = app
        .admin_post("/api/v1/keys", json!({"name": name, "scopes": scopes}))
        .await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["name"], name);
    (
        body["id"].as_str().unwrap().to_owned(),
        body["key"].as_str().unwrap().to_owned(),
    )
}

async fn call(app: &TestApp, method: reqwest::Method, path: &str, key: &str, body: Option<Value>) -> reqwest::Response {
    let mut request = app.http.request(method, app.url(path)).bearer_auth(key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

async fn assert_forbidden(response: reqwest::Response, scope: &str) {
    let body = assert_error(response, 403).await;
    assert_eq!(body["error"]["code"], "forbidden");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains(&format!("`{scope}`")), "{message}");
}

#[tokio::test]
async fn a_send_key_sends_and_mints_owner_tokens_but_cannot_list_export_or_make_keys() {
    use reqwest::Method;
    let app = spawn_app().await;
    let device = app.register_device(json!({"uid": 42})).await;
    let (_, key) = create_key(&app, "billing sender", &["send"]).await;

    let sent = call(
        &app,
        Method::POST,
        "/api/v1/messages",
        &key,
        Some(json!({"to": {"uid": 42}, "title": "Balance low"})),
    )
    .await;
    assert_eq!(sent.status(), 202);
    let message: Value = sent.json().await.unwrap();
    app.push.wait_for(1, std::time::Duration::from_secs(10)).await;
    let token = call(
        &app,
        Method::POST,
        "/api/v1/owner-tokens",
        &key,
        Some(json!({"uid": 42})),
    )
    .await;
    assert_eq!(token.status(), 201);
    let (endpoint, browser) = app.push.add_device();
    let registered = call(
        &app,
        Method::POST,
        "/api/v1/subscriptions",
        &key,
        Some(json!({"uid": 43, "subscription": browser.subscription_json(&endpoint)})),
    )
    .await;
    assert_eq!(registered.status(), 201);
    let reminder = call(
        &app,
        Method::POST,
        "/api/v1/reminders",
        &key,
        Some(json!({"to": {"uid": 42}, "title": "Backup", "schedule": {"daily": "09:00"}, "timezone": "UTC"})),
    )
    .await;
    assert_eq!(reminder.status(), 201);

    assert_forbidden(
        call(&app, Method::GET, "/api/v1/subscriptions", &key, None).await,
        "admin",
    )
    .await;
    assert_forbidden(call(&app, Method::GET, "/api/v1/keys", &key, None).await, "admin").await;
    assert_forbidden(
        call(
            &app,
            Method::POST,
            "/api/v1/keys",
            &key,
            Some(json!({"name": "mine", "scopes": ["admin"]})),
        )
        .await,
        "admin",
    )
    .await;
    assert_forbidden(
        call(
            &app,
            Method::DELETE,
            &format!("/api/v1/subscriptions/{}", device.id),
            &key,
            None,
        )
        .await,
        "admin",
    )
    .await;
    let status = format!("/api/v1/messages/{}", message["id"].as_str().unwrap());
    assert_forbidden(call(&app, Method::GET, &status, &key, None).await, "read").await;

    // A read key reads and cannot send; an admin key does everything.
    let (_, reader) = create_key(&app, "dashboard", &["read"]).await;
    assert_eq!(call(&app, Method::GET, &status, &reader, None).await.status(), 200);
    assert_eq!(
        call(&app, Method::GET, "/api/v1/messages", &reader, None)
            .await
            .status(),
        200
    );
    assert_eq!(
        call(&app, Method::GET, "/api/v1/reminders", &reader, None)
            .await
            .status(),
        200
    );
    assert_eq!(call(&app, Method::GET, "/metrics", &reader, None).await.status(), 200);
    assert_forbidden(
        call(
            &app,
            Method::POST,
            "/api/v1/messages",
            &reader,
            Some(json!({"to": {"uid": 42}, "title": "x"})),
        )
        .await,
        "send",
    )
    .await;
    let (_, admin) = create_key(&app, "operator", &["admin"]).await;
    assert_eq!(
        call(&app, Method::GET, "/api/v1/subscriptions", &admin, None)
            .await
            .status(),
        200
    );
    assert_eq!(
        call(&app, Method::GET, "/api/v1/keys", &admin, None).await.status(),
        200
    );

    // Listing shows names, scopes and last use, never the key.
    let listed: Value = app.admin_get("/api/v1/keys").await.json().await.unwrap();
    let keys = listed["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 3);
    assert_eq!(keys[0]["scopes"], json!(["send"]));
    assert!(keys[0]["lastUsedAt"].is_string(), "{listed}");
    assert!(!listed.to_string().contains(&key));
}

#[tokio::test]
async fn a_revoked_key_fails_at_once_on_every_instance() {
    use reqwest::Method;
    let first = spawn_app().await;
    // Several instances share PostgreSQL or MySQL; a SQLite file serves one server (its lock
    // refuses a second), so there the check runs on the one instance.
    let second = if first.database_url.starts_with("sqlite") {
        None
    } else {
        Some(
            spawn_app_with(Options {
                database_url: Some(first.database_url.clone()),
                ..Default::default()
            })
            .await,
        )
    };
    let instances: Vec<&TestApp> = std::iter::once(&first).chain(second.as_ref()).collect();
    let (id, key) = create_key(&first, "sender", &["send", "read"]).await;
    for &app in &instances {
        assert_eq!(
            call(app, Method::GET, "/api/v1/messages", &key, None).await.status(),
            200
        );
    }
    let revoked = first
        .http
        .delete(first.url(&format!("/api/v1/keys/{id}")))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 204);
    for &app in &instances {
        assert_error(call(app, Method::GET, "/api/v1/messages", &key, None).await, 401).await;
        let registration = call(
            app,
            Method::POST,
            "/api/v1/subscriptions",
            &key,
            Some(
                json!({"uid": 1, "subscription": app.push.add_device().1.subscription_json("http://127.0.0.1:9/p/x")}),
            ),
        )
        .await;
        assert_error(registration, 401).await;
    }
    let again = first
        .http
        .delete(first.url(&format!("/api/v1/keys/{id}")))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_error(again, 404).await;
    let listed: Value = first.admin_get("/api/v1/keys").await.json().await.unwrap();
    assert!(listed["keys"][0]["revokedAt"].is_string(), "{listed}");
}

#[tokio::test]
async fn bad_key_requests_are_refused_with_named_fields() {
    let app = spawn_app().await;
    for (body, field) in [
        (json!({"name": "", "scopes": ["send"]}), "name"),
        (json!({"name": "x\u{0}", "scopes": ["send"]}), "name"),
        (json!({"name": "x", "scopes": []}), "scope"),
        (json!({"name": "x", "scopes": ["root"]}), "root"),
        (json!({"name": "x"}), "scopes"),
    ] {
        let response = app.admin_post("/api/v1/keys", body.clone()).await;
        let error = assert_error(response, 422).await;
        assert!(
            error["error"]["message"].as_str().unwrap().contains(field),
            "{body}: {error}"
        );
    }
    let forged = app
        .http
        .get(app.url("/api/v1/messages"))
        .bearer_auth("hk_AAAAAAAAAAAAAAAAAAAAAA.not-the-secret")
        .send()
        .await
        .unwrap();
    assert_error(forged, 401).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_creates_lists_and_revokes_keys() {
    let app = spawn_app().await;
    let run = |args: Vec<String>| {
        let url = app.database_url.clone();
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_herald"))
                .args(args)
                .env("HERALD_DATABASE_URL", url)
                .env("HERALD_CONFIG", "/dev/null")
                .output()
                .unwrap()
        })
    };
    let words = |s: &str| s.split(' ').map(str::to_owned).collect::<Vec<_>>();
    let out = run(words("keys create --name billing --scope send,read --json"))
        .await
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(created["scopes"], json!(["send", "read"]));
    let key = created["key"].as_str().unwrap().to_owned();
    // The running server accepts the key made beside it.
    let listed = app
        .http
        .get(app.url("/api/v1/messages"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);
    let out = run(words("keys list --json")).await.unwrap();
    let line: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["name"], "billing");
    assert!(!String::from_utf8_lossy(&out.stdout).contains(&key));
    let out = run(vec![
        "keys".into(),
        "revoke".into(),
        created["id"].as_str().unwrap().into(),
    ])
    .await
    .unwrap();
    assert!(out.status.success());
    let refused = app
        .http
        .get(app.url("/api/v1/messages"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let out = run(words("keys create --name x --scope root")).await.unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--scope"));
    // `keys generate` is unchanged.
    let out = run(words("keys generate --json")).await.unwrap();
    assert!(out.status.success());
}
