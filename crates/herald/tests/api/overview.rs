//! The admin console's data: the overview's rollups (checked against `/metrics`, also across a
//! restart), a message's delivery breakdown, message filters and keyset paging, reminder
//! previews, and subscriptions by push service.

use crate::helpers::*;
use herald_testkit::MockResponse;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// `herald_push_requests_total` by outcome, with the rollups' names (`retry` is `retried`).
async fn metrics_pushes(app: &TestApp) -> BTreeMap<String, i64> {
    let text = app.metrics_text().await;
    let mut out = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("herald_push_requests_total{outcome=\"") {
            let (outcome, value) = rest.split_once("\"} ").unwrap();
            let name = if outcome == "retry" { "retried" } else { outcome };
            out.insert(name.to_owned(), value.trim().parse().unwrap());
        }
    }
    out
}

/// The overview's push requests over its two hours of minutes, by outcome.
fn overview_pushes(overview: &Value) -> BTreeMap<String, i64> {
    let mut out = BTreeMap::new();
    for bucket in overview["minutes"]["buckets"].as_array().unwrap() {
        for outcome in ["accepted", "retried", "failed", "gone"] {
            *out.entry(outcome.to_owned()).or_insert(0) += bucket[outcome].as_i64().unwrap();
        }
    }
    out
}

async fn overview(app: &TestApp) -> Value {
    let response = app.admin_get("/api/v1/overview").await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

fn expected(accepted: i64, retried: i64, failed: i64, gone: i64) -> BTreeMap<String, i64> {
    [
        ("accepted", accepted),
        ("retried", retried),
        ("failed", failed),
        ("gone", gone),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

#[tokio::test]
async fn overview_agrees_with_metrics_also_after_a_restart() {
    let app = spawn_app().await;
    for _ in 0..3 {
        app.register_device(json!({"uid": "ok"})).await;
    }
    for _ in 0..2 {
        let (endpoint, browser) = app.push.add_device_with(MockResponse::status(410));
        app.register_existing(json!({"uid": "gone"}), endpoint, browser).await;
    }
    let (endpoint, browser) = app.push.add_device_with(MockResponse::status(400));
    app.register_existing(json!({"uid": "bad"}), endpoint, browser).await;
    let flaky = app.register_device(json!({"aid": "flaky"})).await;
    app.push.script(&flaky.endpoint, vec![MockResponse::status(503)]);

    let id = app.send(json!({"to": {"all": "everyone"}, "title": "Mixed"})).await;
    let message = app.wait_settled(&id).await;
    assert_eq!(
        (message["accepted"].as_i64(), message["gone"].as_i64()),
        (Some(4), Some(2))
    );

    let before = overview(&app).await;
    // 4 accepted (one after a 503), one 503 retried, one 400 failed, two 410 gone.
    assert_eq!(metrics_pushes(&app).await, expected(4, 1, 1, 2));
    assert_eq!(overview_pushes(&before), expected(4, 1, 1, 2));
    assert_eq!(
        before["lastHour"],
        json!({"accepted": 4, "retried": 1, "failed": 1, "gone": 2})
    );
    assert_eq!(
        before["lastDay"],
        json!({"accepted": 4, "retried": 1, "failed": 1, "gone": 2})
    );
    // Seven registered today, two pruned as gone; five left (four clients, one admin).
    let today = before["days"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (today["created"].as_i64(), today["pruned"].as_i64()),
        (Some(7), Some(2))
    );
    assert_eq!(before["subscriptions"]["total"], 5);
    assert_eq!(before["subscriptions"]["clients"], 4);
    assert_eq!(before["subscriptions"]["admins"], 1);
    let other = before["subscriptions"]["byService"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["service"] == "other")
        .unwrap()
        .clone();
    assert_eq!(
        other,
        json!({"service": "other", "clients": 4, "admins": 1, "total": 5})
    );
    assert_eq!(before["queueDepth"], 0);
    assert_eq!(before["minutes"]["buckets"].as_array().unwrap().len(), 120);
    assert_eq!(before["hours"]["buckets"].as_array().unwrap().len(), 168);

    // The message's breakdown: by push service, and its failures by last HTTP status.
    let delivery: Value = app
        .admin_get(&format!("/api/v1/messages/{id}/delivery"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        delivery["services"],
        json!([{"service": "other", "accepted": 4, "failed": 1, "gone": 2}])
    );
    let failures = delivery["failures"].as_array().unwrap();
    assert!(failures.contains(&json!({"service": "other", "outcome": "gone", "lastStatus": 410, "targets": 2})));
    assert!(failures.contains(&json!({"service": "other", "outcome": "failed", "lastStatus": 400, "targets": 1})));
    assert_eq!(failures.len(), 2, "{delivery}");

    // A restart: the new instance's metrics start from zero, the rollups carry on, and what
    // the overview adds over the same period is what the new /metrics counts.
    app.stop();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let restarted = spawn_app_with(Options {
        database_url: Some(app.database_url.clone()),
        ..Default::default()
    })
    .await;
    assert_eq!(overview_pushes(&overview(&restarted).await), expected(4, 1, 1, 2));
    let id = restarted
        .send(json!({"to": {"all": "everyone"}, "title": "Again"}))
        .await;
    restarted.wait_settled(&id).await;
    let delta = metrics_pushes(&restarted).await;
    assert_eq!(delta, expected(4, 0, 1, 0));
    let after = overview_pushes(&overview(&restarted).await);
    for (outcome, total) in &after {
        assert_eq!(total - overview_pushes(&before)[outcome], delta[outcome], "{outcome}");
    }
}

#[tokio::test]
async fn overview_counts_subscriptions_by_push_service() {
    let app = spawn_app().await;
    let store = &app.app_state.store;
    let now = chrono::Utc::now().timestamp_millis();
    for (i, (endpoint, owner)) in [
        (
            "https://fcm.googleapis.com/fcm/send/a1",
            herald::domain::OwnerKind::Client,
        ),
        (
            "https://fcm.googleapis.com/fcm/send/a2",
            herald::domain::OwnerKind::Admin,
        ),
        (
            "https://updates.push.services.mozilla.com/wpush/v2/b",
            herald::domain::OwnerKind::Client,
        ),
        ("https://web.push.apple.com/c", herald::domain::OwnerKind::Client),
        (
            "https://wns2-par02p.notify.windows.com/w/?token=d",
            herald::domain::OwnerKind::Admin,
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let record = herald::storage::subscriptions::ExportedSubscription {
            id: format!("imported{i}"),
            owner: herald::domain::Owner {
                kind: owner,
                id: herald::domain::OwnerId::parse(&format!("o{i}")).unwrap(),
            },
            endpoint: endpoint.into(),
            p256dh: "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM".into(),
            auth: "tBHItJI5svbpez7KI4CCXg".into(),
            secret_hash: "x".into(),
            created_at: now,
            tags: Vec::new(),
        };
        let locale = herald::storage::subscription_locale::Locale::default();
        assert!(store.import_subscription(&record, &locale, now).await.unwrap());
    }
    let o = overview(&app).await;
    let by: BTreeMap<String, Value> = o["subscriptions"]["byService"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["service"].as_str().unwrap().to_owned(), s.clone()))
        .collect();
    assert_eq!(
        by["fcm"],
        json!({"service": "fcm", "clients": 1, "admins": 1, "total": 2})
    );
    assert_eq!(by["mozilla"]["clients"], 1);
    assert_eq!(by["apple"]["clients"], 1);
    assert_eq!(by["windows"]["admins"], 1);
    assert_eq!(by["other"]["total"], 0);
    assert_eq!(o["days"].as_array().unwrap().last().unwrap()["created"], 5);

    let list: Value = app
        .admin_get("/api/v1/subscriptions?aid=o4")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["subscriptions"][0]["pushService"], "windows");
    assert_error(app.http.get(app.url("/api/v1/overview")).send().await.unwrap(), 401).await;
}

#[tokio::test]
async fn messages_page_by_keyset_and_filter_by_status_date_and_title() {
    let app = spawn_app().await;
    for i in 1..=45 {
        let title = match i {
            5 => "Invoices due".to_owned(),
            _ if i % 10 == 0 => format!("Invoice_{i} 100%"),
            _ => format!("Notice {i}"),
        };
        app.send(json!({"to": {"uid": "nobody"}, "title": title})).await;
    }
    let later = (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339();
    let scheduled = app
        .send(json!({"to": {"uid": "nobody"}, "title": "Later", "sendAt": later}))
        .await;

    // Every message once, newest first, in pages of 20.
    let mut seen = Vec::new();
    let mut query = String::new();
    loop {
        let page: Value = app
            .admin_get(&format!("/api/v1/messages?limit=20{query}"))
            .await
            .json()
            .await
            .unwrap();
        let messages = page["messages"].as_array().unwrap();
        if messages.is_empty() {
            break;
        }
        seen.extend(messages.iter().map(|m| m["title"].as_str().unwrap().to_owned()));
        let last = messages.last().unwrap();
        query = format!(
            "&before={}&beforeId={}",
            urlencode(last["createdAt"].as_str().unwrap()),
            last["id"].as_str().unwrap()
        );
    }
    // Messages created in the same millisecond order by id, so only the set is certain.
    assert_eq!(seen.len(), 46);
    let distinct: std::collections::BTreeSet<_> = seen.iter().collect();
    assert_eq!(distinct.len(), 46, "no message twice");
    assert!(distinct.contains(&"Later".to_owned()) && distinct.contains(&"Notice 1".to_owned()));

    let titles = |page: Value| -> Vec<String> {
        page["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["title"].as_str().unwrap().to_owned())
            .collect()
    };
    // Title text: any case, wildcards literal (an unescaped `_` would match "Invoices").
    let page: Value = app
        .admin_get("/api/v1/messages?title=INVOICE_")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        titles(page),
        [
            "Invoice_40 100%",
            "Invoice_30 100%",
            "Invoice_20 100%",
            "Invoice_10 100%"
        ]
    );
    let page: Value = app.admin_get("/api/v1/messages?title=e%25").await.json().await.unwrap();
    assert!(titles(page).is_empty());
    let page: Value = app.admin_get("/api/v1/messages?title=0%25").await.json().await.unwrap();
    assert_eq!(titles(page).len(), 4);
    let page: Value = app
        .admin_get("/api/v1/messages?title=no_match")
        .await
        .json()
        .await
        .unwrap();
    assert!(titles(page).is_empty());
    // Status.
    let page: Value = app
        .admin_get("/api/v1/messages?status=scheduled")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["messages"][0]["id"], scheduled.as_str());
    assert_eq!(page["messages"].as_array().unwrap().len(), 1);
    let page: Value = app
        .admin_get("/api/v1/messages?status=done&limit=500")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["messages"].as_array().unwrap().len(), 45);
    let page: Value = app
        .admin_get("/api/v1/messages?status=sending")
        .await
        .json()
        .await
        .unwrap();
    assert!(page["messages"].as_array().unwrap().is_empty());
    // Date: nothing was created before an hour ago or after an hour from now.
    let hour_ago = urlencode(&(chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339());
    let page: Value = app
        .admin_get(&format!("/api/v1/messages?until={hour_ago}"))
        .await
        .json()
        .await
        .unwrap();
    assert!(page["messages"].as_array().unwrap().is_empty());
    let page: Value = app
        .admin_get(&format!("/api/v1/messages?since={hour_ago}&title=notice&limit=500"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["messages"].as_array().unwrap().len(), 40);

    assert_error(app.admin_get("/api/v1/messages?status=lost").await, 400).await;
    assert_error(app.admin_get("/api/v1/messages?since=yesterday").await, 400).await;
    assert_error(
        app.admin_get(&format!("/api/v1/messages?title={}", "x".repeat(201)))
            .await,
        400,
    )
    .await;
    assert_error(
        app.admin_get("/api/v1/messages/nosuchmessage00000000/delivery").await,
        404,
    )
    .await;
}

#[tokio::test]
async fn reminder_preview_lists_the_next_firings_in_their_zone() {
    let app = spawn_app().await;
    let response = app
        .admin_post(
            "/api/v1/reminders/preview",
            json!({"schedule": {"daily": "09:00"}, "timezone": "Europe/Kyiv"}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let preview: Value = response.json().await.unwrap();
    let firings = preview["firings"].as_array().unwrap();
    assert_eq!(firings.len(), 5);
    let mut previous = String::new();
    for firing in firings {
        let local = firing["local"].as_str().unwrap();
        assert!(local.contains("T09:00:00+0"), "{local}");
        let at = firing["at"].as_str().unwrap().to_owned();
        assert!(at > previous, "firings ascend");
        previous = at;
    }

    // The same as the scheduler: a saved reminder's next firing is the preview's first.
    let created: Value = app
        .admin_post(
            "/api/v1/reminders",
            json!({"to": {"uid": 1}, "title": "Standup", "schedule": {"daily": "09:00"}, "timezone": "Europe/Kyiv"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(created["nextFireAt"], firings[0]["at"]);
    assert_eq!(created["nextFireAtLocal"], firings[0]["local"]);

    let once: Value = app
        .admin_post(
            "/api/v1/reminders/preview",
            json!({"schedule": {"at": "2099-01-01T10:00:00"}, "timezone": "Asia/Tokyo", "count": 3}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        once["firings"],
        json!([{"at": "2099-01-01T01:00:00.000Z", "local": "2099-01-01T10:00:00+09:00"}])
    );

    for bad in [
        json!({"schedule": {"daily": "25:00"}}),
        json!({"schedule": {"daily": "09:00"}, "timezone": "Mars/Base"}),
    ] {
        assert_error(app.admin_post("/api/v1/reminders/preview", bad).await, 422).await;
    }
    assert_error(
        app.admin_post(
            "/api/v1/reminders/preview",
            json!({"schedule": {"daily": "09:00"}, "count": 0}),
        )
        .await,
        422,
    )
    .await;
    assert_error(
        app.admin_post(
            "/api/v1/reminders/preview",
            json!({"schedule": {"daily": "09:00"}, "extra": 1}),
        )
        .await,
        422,
    )
    .await;
}

fn urlencode(text: &str) -> String {
    text.replace('+', "%2B").replace(':', "%3A")
}
