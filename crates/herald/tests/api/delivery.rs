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
