//! Delivery against push services shaped like the real ones: TLS + HTTP/2 with latency, a
//! stream limit and GOAWAY every few hundred streams; one that hangs next to healthy ones.

use crate::helpers::*;
use herald_testkit::{MockOptions, MockPushService};
use serde_json::json;
use std::time::{Duration, Instant};

/// Registers `count` devices of `push` (each its own owner, so no per-owner limit applies).
async fn register_many(app: &TestApp, push: &MockPushService, first_uid: usize, count: usize) -> Vec<String> {
    let mut endpoints = Vec::with_capacity(count);
    for chunk in (first_uid..first_uid + count).collect::<Vec<_>>().chunks(50) {
        let registered = futures::future::join_all(chunk.iter().map(|uid| {
            let (endpoint, browser) = push.add_device();
            app.register_existing(json!({ "uid": *uid as u64 }), endpoint, browser)
        }))
        .await;
        endpoints.extend(registered.into_iter().map(|d| d.endpoint));
    }
    endpoints
}

/// Outbox rows of `message` whose attempts are not `expected`.
async fn rows_with_attempts_other_than(app: &TestApp, message: &str, expected: i64) -> i64 {
    let sql = match std::env::var("HERALD_TEST_DATABASE").as_deref() {
        Ok("postgres") => "SELECT COUNT(*) FROM outbox WHERE message_id = $1 AND attempts <> $2",
        _ => "SELECT COUNT(*) FROM outbox WHERE message_id = ? AND attempts <> ?",
    };
    sqlx::query_scalar(sql)
        .bind(message)
        .bind(expected)
        .fetch_one(app.app_state.store.pool())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn goaway_and_stream_limits_deliver_exactly_once_over_few_connections() {
    const DEVICES: usize = 1500;
    const GOAWAY_AFTER: u64 = 150;
    let app = spawn_app_with(Options {
        push: Some(
            MockOptions::new()
                .tls()
                .latency(Duration::from_millis(30), Duration::from_millis(60))
                .max_concurrent_streams(100)
                .goaway_after_streams(GOAWAY_AFTER)
                .decrypt_one_in(50),
        ),
        ..Default::default()
    })
    .await;
    let endpoints = register_many(&app, &app.push, 0, DEVICES).await;
    let id = app
        .send(json!({"to": {"all": "clients"}, "title": "Through GOAWAY"}))
        .await;
    let message = app.wait_settled(&id).await;
    assert_eq!(message["accepted"], DEVICES as u64, "{message}");

    // Every device exactly once.
    let delivered = app.push.deliveries_by_endpoint();
    for endpoint in &endpoints {
        assert_eq!(delivered.get(endpoint), Some(&1), "{endpoint}");
    }
    assert_eq!(app.push.duplicates(), 0);
    let stats = app.push.stats();
    assert_eq!(stats.decrypt_failures, 0);
    // The service closed connections on the way, and nothing was sent twice for it.
    assert!(stats.goaways >= 3, "{stats:?}");
    // A handful of connections per GOAWAY cycle, not one per request.
    let cycles = (DEVICES as u64).div_ceil(GOAWAY_AFTER);
    assert!(
        stats.tls_connections <= 2 * cycles + 16,
        "{} TLS connections for {cycles} GOAWAY cycles",
        stats.tls_connections
    );
    // The stream limit was respected on every connection.
    assert!(stats.max_concurrent_streams <= 100, "{stats:?}");
    // Streams the service never processed (above a GOAWAY's last stream) were sent again
    // without counting an attempt: every row settled on its first.
    assert_eq!(rows_with_attempts_other_than(&app, &id, 1).await, 0);

    // The service's own gauges: its connections, window and answer times.
    let metrics = app.metrics_text().await;
    let origin = app.push.base_url();
    let open = app.engine.open_connections(origin);
    assert!((1..=stats.tls_connections as usize).contains(&open), "{open}");
    for series in [
        format!("herald_origin_connections{{origin=\"{origin}\"}} {open}"),
        format!("herald_origin_in_flight{{origin=\"{origin}\"}} 0"),
        format!("herald_origin_latency_seconds_count{{origin=\"{origin}\"}} {DEVICES}"),
        format!("herald_origin_latency_seconds_bucket{{origin=\"{origin}\",le=\"0.025\"}} 0"),
    ] {
        assert!(metrics.contains(&series), "{series} not in\n{metrics}");
    }
    assert!(metrics.contains(&format!("herald_origin_window{{origin=\"{origin}\"}} ")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_push_service_does_not_hold_up_the_others() {
    const HEALTHY_EACH: usize = 400;
    const HUNG: usize = 40;
    let healthy = || {
        MockOptions::new()
            .tls()
            .latency(Duration::from_millis(30), Duration::from_millis(60))
            .max_concurrent_streams(100)
            .decrypt_one_in(50)
    };
    let first = MockPushService::start_with(healthy()).await;
    let second = MockPushService::start_with(healthy()).await;
    let hung = MockPushService::start_with(MockOptions::new().tls().hang()).await;
    // Herald trusts all three services' certificates.
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("roots.pem");
    let pems: Vec<&str> = [&first, &second, &hung].iter().map(|s| s.cert_pem().unwrap()).collect();
    std::fs::write(&bundle, pems.join("\n")).unwrap();
    let app = spawn_app_with(Options {
        env: vec![
            ("SSL_CERT_FILE", bundle.display().to_string()),
            ("HERALD_PUSH_TIMEOUT_SECONDS", "3".into()),
            ("HERALD_MAX_ATTEMPTS", "2".into()),
        ],
        ..Default::default()
    })
    .await;
    let mut healthy_endpoints = register_many(&app, &first, 0, HEALTHY_EACH).await;
    healthy_endpoints.extend(register_many(&app, &second, HEALTHY_EACH, HEALTHY_EACH).await);
    let hung_endpoints = register_many(&app, &hung, 2 * HEALTHY_EACH, HUNG).await;

    let started = Instant::now();
    let id = app
        .send(json!({"to": {"all": "clients"}, "title": "Three services"}))
        .await;
    // The healthy services get everything at their own pace (400 each at ~45 ms with 100
    // streams: well under a second alone), without waiting for the hung one: all of it
    // arrives before the first push to the hung service times out (3 s).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let done = first.stats().delivered + second.stats().delivered;
        if done >= 2 * HEALTHY_EACH as u64 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "healthy services got {done} of {}",
            2 * HEALTHY_EACH
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let healthy_took = started.elapsed();
    assert_eq!(
        app.app_state.metrics.pushes("retry"),
        0,
        "the healthy services took {healthy_took:?}, longer than the hung one's timeout"
    );
    let mut delivered = first.deliveries_by_endpoint();
    delivered.extend(second.deliveries_by_endpoint());
    for endpoint in &healthy_endpoints {
        assert_eq!(delivered.get(endpoint), Some(&1), "{endpoint}");
    }
    // The hung service's pushes time out, retry once, and end failed.
    let message = app.wait_settled(&id).await;
    assert_eq!(message["accepted"], 2 * HEALTHY_EACH as u64, "{message}");
    assert_eq!(message["failed"], HUNG as u64, "{message}");
    assert_eq!(hung.stats().delivered, 0);
    assert!(hung.stats().requests >= 2 * HUNG as u64, "{:?}", hung.stats());
    assert_eq!(hung_endpoints.len(), HUNG);
    assert_eq!(
        rows_with_attempts_other_than(&app, &id, 2).await,
        2 * HEALTHY_EACH as i64
    );
}
