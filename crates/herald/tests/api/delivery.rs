use crate::helpers::*;
use serde_json::json;

#[tokio::test]
async fn a_broadcast_reaches_everyone_exactly_once_when_drained_by_hand() {
    let app = spawn_app_with(Options {
        no_workers: true,
        ..Default::default()
    })
    .await;
    let mut devices = Vec::new();
    for i in 0..60 {
        devices.push(app.register_device(json!({"uid": i % 20})).await);
    }
    let id = app
        .send(json!({"to": {"all": "clients"}, "title": "Outage tonight"}))
        .await;
    let mut handled = 0;
    loop {
        let n = app.engine.deliver_due_once().await.unwrap();
        if n == 0 {
            break;
        }
        handled += n;
    }
    assert_eq!(handled, 60);
    for d in &devices {
        let pushes = app.push.received_by(&d.endpoint);
        assert_eq!(pushes.len(), 1);
        assert_eq!(pushes[0].json()["notification"]["title"], "Outage tonight");
    }
    let m = app.message(&id).await;
    assert_eq!(
        (m["targets"].as_i64(), m["accepted"].as_i64(), m["status"].as_str()),
        (Some(60), Some(60), Some("done"))
    );
}

#[tokio::test]
async fn an_unreachable_push_service_is_retried_then_failed() {
    let app = spawn_app_with(Options {
        env: vec![("HERALD_MAX_ATTEMPTS", "3".into())],
        ..Default::default()
    })
    .await;
    let browser = herald_testkit::Browser::generate();
    // A port nobody listens on: connection refused.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}/push/x", listener.local_addr().unwrap());
    drop(listener);
    app.register_existing(json!({"uid": 1}), endpoint, browser).await;
    let id = app.send(json!({"to": {"uid": 1}, "title": "hi"})).await;
    let m = app.wait_settled(&id).await;
    assert_eq!((m["failed"].as_i64(), m["accepted"].as_i64()), (Some(1), Some(0)));
    let metrics = app.metrics_text().await;
    assert!(
        metrics.contains("herald_push_requests_total{outcome=\"retry\"} 3"),
        "{metrics}"
    );
}

/// A claimed row that does not read back (here an unknown push-service code) does not hold
/// up the rest of its batch: the others are handed out, it waits for its lease.
#[tokio::test]
async fn a_row_that_does_not_read_back_does_not_hold_its_batch() {
    let app = spawn_app_with(Options {
        no_workers: true,
        ..Default::default()
    })
    .await;
    let good = app.register_device(json!({"uid": 5})).await;
    let bad = app.register_device(json!({"uid": 5})).await;
    app.raw_sql(&format!(
        "UPDATE subscriptions SET push_service = 99 WHERE id = '{}'",
        bad.id
    ))
    .await;
    app.send(json!({"to": {"uid": 5}, "title": "hi"})).await;
    let store = &app.app_state.store;
    let now = app.app_state.clock.now_ms();
    let claimed = store.claim_due(now, now + 60_000, 10).await.unwrap();
    let ids: Vec<&str> = claimed.iter().map(|t| t.subscription_id.as_str()).collect();
    assert_eq!(ids, [good.id.as_str()]);
    // Leased, not lost: it is due again once the lease has run out.
    assert!(store.claim_due(now, now + 60_000, 10).await.unwrap().is_empty());
    // Both leases have run out (neither row was settled): the good row comes back, the bad
    // one again does not read back and is leased once more.
    let again = store.claim_due(now + 60_000, now + 120_000, 10).await.unwrap();
    let ids: Vec<&str> = again.iter().map(|t| t.subscription_id.as_str()).collect();
    assert_eq!(ids, [good.id.as_str()]);
    let pending: i64 = sqlx::query_scalar(&format!(
        "SELECT COUNT(*) FROM outbox WHERE subscription_id = '{}' AND state = 0",
        bad.id
    ))
    .fetch_one(app.app_state.store.pool())
    .await
    .unwrap();
    assert_eq!(pending, 1);
}

/// On SQLite the claim reads its batch as one row: text that is not UTF-8 (written behind
/// Herald's back) spoils its own row only. The batch is handed out, and that row's endpoint
/// no longer parses, so it fails instead of coming back for ever.
#[tokio::test]
async fn text_that_is_not_utf8_spoils_only_its_own_row() {
    let app = spawn_app_with(Options {
        no_workers: true,
        ..Default::default()
    })
    .await;
    if app.app_state.store.backend() != herald::storage::Backend::Sqlite {
        return;
    }
    let good = app.register_device(json!({"uid": 6})).await;
    let bad = app.register_device(json!({"uid": 6})).await;
    app.raw_sql(&format!(
        "UPDATE subscriptions SET endpoint = CAST(x'68747470733a2f2fff' AS TEXT) WHERE id = '{}'",
        bad.id
    ))
    .await;
    let id = app.send(json!({"to": {"uid": 6}, "title": "hi"})).await;
    assert_eq!(app.engine.deliver_due_once().await.unwrap(), 2, "both rows are claimed");
    assert_eq!(app.push.received_by(&good.endpoint).len(), 1);
    let m = app.message(&id).await;
    assert_eq!(
        (m["accepted"].as_i64(), m["failed"].as_i64(), m["status"].as_str()),
        (Some(1), Some(1), Some("done"))
    );
}
