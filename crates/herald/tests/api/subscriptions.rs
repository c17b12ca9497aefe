use crate::helpers::*;
use herald_testkit::Browser;
use serde_json::{json, Value};

#[tokio::test]
async fn public_key_is_served() {
    let app = spawn_app().await;
    let body: Value = app
        .http
        .get(app.url("/api/v1/vapid-public-key"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = herald_push::base64url::decode(body["publicKey"].as_str().unwrap()).unwrap();
    assert_eq!(key.len(), 65);
    assert_eq!(key[0], 4);
}

#[tokio::test]
async fn reregistering_keeps_the_id_and_a_new_owner_gets_a_new_one() {
    let app = spawn_app().await;
    let (endpoint, browser) = app.push.add_device();
    let first = app
        .register_existing(json!({"uid": 42}), endpoint.clone(), browser.clone())
        .await;
    // The same owner again: same id, rotated secret.
    let response = app
        .admin_post(
            "/api/v1/subscriptions",
            json!({"subscription": browser.subscription_json(&endpoint), "uid": 42}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let same: Value = response.json().await.unwrap();
    assert_eq!(same["id"], first.id.as_str());
    assert_ne!(same["secret"], first.secret.as_str(), "the secret rotates");
    // Another owner: a new subscription (id and secret); the old one is gone.
    let response = app
        .admin_post(
            "/api/v1/subscriptions",
            json!({"subscription": browser.subscription_json(&endpoint), "aid": "7"}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let again: Value = response.json().await.unwrap();
    assert_ne!(again["id"], first.id.as_str());
    assert_ne!(again["secret"], same["secret"]);
    assert!(
        herald_push::base64url::decode(again["secret"].as_str().unwrap())
            .unwrap()
            .len()
            >= 16
    );
    let list: Value = app.admin_get("/api/v1/subscriptions?aid=7").await.json().await.unwrap();
    assert_eq!(list["total"], 1);
    assert_eq!(list["subscriptions"][0]["aid"], "7");
    let list: Value = app
        .admin_get("/api/v1/subscriptions?uid=42")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["total"], 0);
}

#[tokio::test]
async fn a_browser_registers_itself_with_an_owner_token() {
    let app = spawn_app().await;
    let token: Value = app
        .admin_post("/api/v1/owner-tokens", json!({"uid": 5}))
        .await
        .json()
        .await
        .unwrap();
    let (endpoint, browser) = app.push.add_device();
    let body = json!({"subscription": browser.subscription_json(&endpoint), "ownerToken": token["ownerToken"]});
    let response = app
        .http
        .post(app.url("/api/v1/subscriptions"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let list: Value = app.admin_get("/api/v1/subscriptions?uid=5").await.json().await.unwrap();
    assert_eq!(list["total"], 1);

    // A token signed with another secret, a missing token, and a body owner that differs.
    let forged = herald::secrets::OwnerTokenKey::new(b"someone-elses-secret-0123456789abcdef").sign(
        &herald::domain::Owner {
            kind: herald::domain::OwnerKind::Admin,
            id: herald::domain::OwnerId::parse("1").unwrap(),
        },
        &[],
        chrono::Utc::now().timestamp(),
        600,
    );
    let (endpoint2, browser2) = app.push.add_device();
    let sub = browser2.subscription_json(&endpoint2);
    let r = app
        .http
        .post(app.url("/api/v1/subscriptions"))
        .json(&json!({"subscription": sub, "ownerToken": forged}))
        .send()
        .await
        .unwrap();
    assert_error(r, 401).await;
    let r = app
        .http
        .post(app.url("/api/v1/subscriptions"))
        .json(&json!({"subscription": sub, "uid": 5}))
        .send()
        .await
        .unwrap();
    assert_error(r, 401).await;
    let r = app
        .http
        .post(app.url("/api/v1/subscriptions"))
        .json(&json!({"subscription": sub, "uid": 6, "ownerToken": token["ownerToken"]}))
        .send()
        .await
        .unwrap();
    assert_error(r, 403).await;
    let list: Value = app.admin_get("/api/v1/subscriptions").await.json().await.unwrap();
    assert_eq!(list["total"], 1, "nothing was stored by refused requests");
}

#[tokio::test]
async fn invalid_subscriptions_are_refused_and_nothing_is_stored() {
    let app = spawn_app().await;
    let browser = Browser::generate();
    let good = browser.subscription_json(&format!("{}/push/x", app.push.base_url()));
    let mut off_curve = good.clone();
    let mut point = browser.p256dh;
    point[40] ^= 1;
    off_curve["keys"]["p256dh"] = json!(herald_push::base64url::encode(point));
    let mut short_auth = good.clone();
    short_auth["keys"]["auth"] = json!("AAAA");
    let mut bad_b64 = good.clone();
    bad_b64["keys"]["p256dh"] = json!("***");
    let mut ftp = good.clone();
    ftp["endpoint"] = json!("ftp://push.example/x");
    for (sub, field) in [
        (off_curve, "subscription.keys.p256dh"),
        (short_auth, "subscription.keys.auth"),
        (bad_b64, "subscription.keys.p256dh"),
        (ftp, "subscription.endpoint"),
    ] {
        let r = app
            .admin_post("/api/v1/subscriptions", json!({"subscription": sub, "uid": 1}))
            .await;
        assert_eq!(assert_error(r, 422).await["error"]["field"], field);
    }
    let r = app
        .admin_post(
            "/api/v1/subscriptions",
            json!({"subscription": good, "uid": 1, "aid": 2}),
        )
        .await;
    assert_error(r, 422).await;
    let r = app
        .admin_post("/api/v1/subscriptions", json!({"subscription": good}))
        .await;
    assert_error(r, 422).await;
    let r = app
        .admin_post(
            "/api/v1/subscriptions",
            json!({"subscription": good, "uid": "x".repeat(129)}),
        )
        .await;
    assert_eq!(assert_error(r, 422).await["error"]["field"], "uid");
    let list: Value = app.admin_get("/api/v1/subscriptions").await.json().await.unwrap();
    assert_eq!(list["total"], 0);
}

#[tokio::test]
async fn private_and_plain_http_endpoints_are_refused_by_default() {
    let app = spawn_app_with(Options {
        strict_endpoints: true,
        ..Default::default()
    })
    .await;
    let browser = Browser::generate();
    for endpoint in [
        "http://push.example.net/x".to_owned(),
        "https://127.0.0.1/x".to_owned(),
        "https://169.254.169.254/latest/meta-data".to_owned(),
        "https://[::1]:8443/x".to_owned(),
        "https://localhost/x".to_owned(),
        "https://10.0.0.8/x".to_owned(),
    ] {
        let r = app
            .admin_post(
                "/api/v1/subscriptions",
                json!({"subscription": browser.subscription_json(&endpoint), "uid": 1}),
            )
            .await;
        let body = assert_error(r, 422).await;
        assert_eq!(body["error"]["field"], "subscription.endpoint");
        assert!(
            body["error"]["message"].as_str().unwrap().len() > 10,
            "{endpoint}: {body}"
        );
    }
}

#[tokio::test]
async fn delete_needs_the_subscriptions_own_secret_or_the_admin_token() {
    let app = spawn_app().await;
    let a = app.register_device(json!({"uid": 1})).await;
    let b = app.register_device(json!({"uid": 2})).await;
    let r = app
        .http
        .delete(app.url(&format!("/api/v1/subscriptions/{}", a.id)))
        .bearer_auth(&b.secret)
        .send()
        .await
        .unwrap();
    assert_error(r, 401).await;
    let r = app
        .http
        .delete(app.url(&format!("/api/v1/subscriptions/{}", a.id)))
        .send()
        .await
        .unwrap();
    assert_error(r, 401).await;
    let r = app
        .http
        .delete(app.url(&format!("/api/v1/subscriptions/{}", a.id)))
        .bearer_auth(&a.secret)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = app.admin_delete(&format!("/api/v1/subscriptions/{}", b.id)).await;
    assert_eq!(r.status(), 204);
    let r = app.admin_delete("/api/v1/subscriptions/unknown").await;
    assert_error(r, 404).await;
    let list: Value = app.admin_get("/api/v1/subscriptions").await.json().await.unwrap();
    assert_eq!(list["total"], 0);
}

#[tokio::test]
async fn listing_pages_through_subscriptions() {
    let app = spawn_app().await;
    for _ in 0..5 {
        app.register_device(json!({"uid": 9})).await;
    }
    app.register_device(json!({"aid": 9})).await;
    let page1: Value = app
        .admin_get("/api/v1/subscriptions?uid=9&limit=3")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page1["total"], 5);
    assert_eq!(page1["subscriptions"].as_array().unwrap().len(), 3);
    let last = page1["subscriptions"][2]["id"].as_str().unwrap();
    let page2: Value = app
        .admin_get(&format!("/api/v1/subscriptions?uid=9&limit=3&after={last}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page2["subscriptions"].as_array().unwrap().len(), 2);
    let r = app.http.get(app.url("/api/v1/subscriptions")).send().await.unwrap();
    assert_error(r, 401).await;
    assert_error(app.admin_get("/api/v1/subscriptions?limit=0").await, 400).await;
    assert_error(app.admin_get("/api/v1/subscriptions?limit=abc").await, 400).await;
}

#[tokio::test]
async fn owners_have_a_subscription_cap() {
    let app = spawn_app_with(Options {
        env: vec![("HERALD_MAX_SUBSCRIPTIONS_PER_OWNER", "2".into())],
        ..Default::default()
    })
    .await;
    app.register_device(json!({"uid": 1})).await;
    app.register_device(json!({"uid": 1})).await;
    let (endpoint, browser) = app.push.add_device();
    let r = app
        .admin_post(
            "/api/v1/subscriptions",
            json!({"subscription": browser.subscription_json(&endpoint), "uid": 1}),
        )
        .await;
    assert_error(r, 409).await;
    app.register_device(json!({"aid": 1})).await;
}

/// Rows of `subscription_activity` (a subscription's last accepted push) for these ids.
async fn activity_rows(app: &TestApp, ids: &[&str]) -> i64 {
    let list = ids.iter().map(|id| format!("'{id}'")).collect::<Vec<_>>().join(", ");
    let sql = format!("SELECT COUNT(*) FROM subscription_activity WHERE subscription_id IN ({list})");
    sqlx::query_scalar::<_, i64>(&sql)
        .fetch_one(app.app_state.store.pool())
        .await
        .unwrap()
}

/// The last success is kept beside the subscription and leaves with it, on every path that
/// deletes subscriptions.
#[tokio::test]
async fn last_success_is_listed_and_deleted_with_its_subscription() {
    let app = spawn_app().await;
    let kept = app.register_device(json!({"uid": 1})).await;
    let deleted = app.register_device(json!({"uid": 1})).await;
    let (endpoint, browser) = app.push.add_device();
    let moved = app
        .register_existing(json!({"uid": 1}), endpoint, browser.clone())
        .await;
    let id = app.send(json!({"to": {"uid": 1}, "title": "hi"})).await;
    assert_eq!(app.wait_settled(&id).await["accepted"], 3);
    let list: Value = app.admin_get("/api/v1/subscriptions?uid=1").await.json().await.unwrap();
    for s in list["subscriptions"].as_array().unwrap() {
        assert!(s["lastSuccessAt"].is_string(), "{s}");
    }
    assert_eq!(activity_rows(&app, &[&kept.id, &deleted.id, &moved.id]).await, 3);

    // Deleted through the API.
    let r = app.admin_delete(&format!("/api/v1/subscriptions/{}", deleted.id)).await;
    assert_eq!(r.status(), 204);
    assert_eq!(activity_rows(&app, &[&deleted.id]).await, 0);

    // The same endpoint registered for someone else: the old row goes, with its last success.
    let again = app
        .register_existing(json!({"uid": 2}), moved.endpoint.clone(), browser)
        .await;
    assert_ne!(again.id, moved.id);
    assert_eq!(activity_rows(&app, &[&moved.id, &again.id]).await, 0);
    assert_eq!(activity_rows(&app, &[&kept.id]).await, 1);
}

/// A push accepted for a subscription deleted while it was on the wire records no last
/// success for it, and still counts under the push service it was sent to.
#[tokio::test]
async fn a_success_settled_after_the_subscription_went_leaves_nothing_behind() {
    use herald::storage::outbox::{SettledAs, Settlement};
    use herald::storage::rollups::PushService;
    let app = spawn_app_with(Options {
        no_workers: true,
        ..Default::default()
    })
    .await;
    let device = app.register_device(json!({"uid": 3})).await;
    app.send(json!({"to": {"uid": 3}, "title": "hi"})).await;
    let store = &app.app_state.store;
    let now = app.app_state.clock.now_ms();
    let claimed = store.claim_due(now, now + 60_000, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    let target = &claimed[0];
    let stored = target
        .subscription
        .as_ref()
        .expect("the subscription is read with the claim");
    assert_eq!(stored.endpoint, device.endpoint);
    // The mock's endpoints are no known push service.
    assert_eq!(stored.push_service, PushService::Other);
    assert!(store.delete_subscription(&device.id).await.unwrap());
    let settlement = Settlement {
        push_service: stored.push_service,
        outbox_id: target.outbox_id,
        message_id: target.message_id.clone(),
        subscription_id: target.subscription_id.clone(),
        status: Some(201),
        result: SettledAs::Accepted,
        lease_until: now + 60_000,
    };
    store.settle(&[settlement], now).await.unwrap();
    assert_eq!(activity_rows(&app, &[&device.id]).await, 0);
    assert_eq!(app.message(&target.message_id).await["accepted"], 1);
}

/// On PostgreSQL a settle can race a delete and leave a last-success row behind; the daily
/// cleanup removes it. (The other engines cannot leave one: the function does nothing there.)
#[tokio::test]
async fn the_daily_cleanup_removes_last_success_rows_of_deleted_subscriptions() {
    let app = spawn_app().await;
    let device = app.register_device(json!({"uid": 4})).await;
    let id = app.send(json!({"to": {"uid": 4}, "title": "hi"})).await;
    app.wait_settled(&id).await;
    app.raw_sql("INSERT INTO subscription_activity (subscription_id, last_success_at) VALUES ('orphan', 1)")
        .await;
    let store = &app.app_state.store;
    let removed = store.prune_orphaned_activity().await.unwrap();
    let left = activity_rows(&app, &["orphan"]).await;
    if store.backend() == herald::storage::Backend::Postgres {
        assert_eq!((removed, left), (1, 0));
    } else {
        assert_eq!((removed, left), (0, 1));
    }
    assert_eq!(
        activity_rows(&app, &[&device.id]).await,
        1,
        "a live subscription keeps its row"
    );
}
