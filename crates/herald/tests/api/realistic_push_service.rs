//! Herald against the mock push service in a real service's shape (TLS + HTTP/2, latency,
//! a stream limit, GOAWAY): the harness wiring (`Options::push`, `SSL_CERT_FILE`) works and
//! every device is reached. The engine's own guarantees under these shapes (exactly-once
//! under GOAWAY, the connection bound, isolation from a hung origin) are asserted beside the
//! engine's tests.

use crate::helpers::*;
use herald_testkit::MockOptions;
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn a_broadcast_over_tls_and_http2_reaches_every_device_of_a_realistic_service() {
    let app = spawn_app_with(Options {
        push: Some(
            MockOptions::realistic()
                .latency(Duration::from_millis(5), Duration::from_millis(15))
                .max_concurrent_streams(10)
                .goaway_after_streams(200),
        ),
        ..Default::default()
    })
    .await;
    assert!(app.push.base_url().starts_with("https://"));
    let mut devices = Vec::new();
    for i in 0..40 {
        devices.push(app.register_device(json!({"uid": i})).await);
    }
    let id = app.send(json!({"to": {"all": "clients"}, "title": "Over TLS"})).await;
    let m = app.wait_settled(&id).await;
    assert_eq!(
        (m["targets"].as_i64(), m["accepted"].as_i64()),
        (Some(40), Some(40)),
        "{m}"
    );
    let stats = app.push.stats();
    assert_eq!(stats.http2_requests, stats.requests, "ALPN chose HTTP/2: {stats:?}");
    assert!(stats.tls_connections >= 1);
    assert!(stats.max_concurrent_streams <= 10, "{stats:?}");
    let deliveries = app.push.deliveries_by_endpoint();
    for d in &devices {
        assert!(deliveries[&d.endpoint] >= 1, "{} never reached", d.endpoint);
    }
    let received = app.push.received();
    assert!(received.iter().all(|p| p.json()["notification"]["title"] == "Over TLS"));
}
