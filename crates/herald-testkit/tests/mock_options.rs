//! The realistic mock push service behaves as its options say: real pushes (built by
//! `herald-push`, sent by reqwest over TLS + HTTP/2) see the latency, the stream limit, the
//! GOAWAYs, the hang, the resets and the throttling, and the counters report them.

use herald_push::keys::VapidKeyPair;
use herald_push::request::{PushMessage, Ttl};
use herald_push::subscription::Subscription;
use herald_push::vapid::{VapidSigner, VapidSubject};
use herald_testkit::{Browser, MockOptions, MockPushService, MockResponse};
use std::time::{Duration, Instant, SystemTime};

fn signer() -> VapidSigner {
    VapidSigner::new(
        VapidKeyPair::generate().unwrap(),
        VapidSubject::parse("mailto:tests@example.com").unwrap(),
    )
}

/// A client that trusts the mock's certificate and speaks HTTP/2 when offered.
fn client(mock: &MockPushService, timeout: Duration) -> reqwest::Client {
    let pem = mock.cert_pem().expect("a TLS mock");
    reqwest::Client::builder()
        .tls_certs_merge(reqwest::Certificate::from_pem_bundle(pem.as_bytes()).unwrap())
        .timeout(timeout)
        .build()
        .unwrap()
}

async fn push(
    http: &reqwest::Client,
    signer: &VapidSigner,
    endpoint: &str,
    browser: &Browser,
    text: &str,
) -> Result<reqwest::Response, reqwest::Error> {
    let subscription = Subscription::parse(endpoint, &browser.p256dh_b64(), &browser.auth_b64()).unwrap();
    let request = PushMessage::new(text.as_bytes().to_vec(), Ttl::seconds(60))
        .build_at(&subscription, signer, SystemTime::now())
        .unwrap();
    http.post(request.url.as_str())
        .headers(request.headers)
        .body(request.body)
        .send()
        .await
}

#[tokio::test]
async fn tls_http2_latency_and_stream_limit() {
    let mock = MockPushService::start_with(
        MockOptions::new()
            .tls()
            .latency(Duration::from_millis(30), Duration::from_millis(60))
            .max_concurrent_streams(4),
    )
    .await;
    assert!(mock.base_url().starts_with("https://127.0.0.1:"));
    assert!(mock.ca_file().unwrap().exists());
    let (http, signer) = (client(&mock, Duration::from_secs(10)), signer());
    let devices: Vec<_> = (0..12).map(|_| mock.add_device()).collect();
    let started = Instant::now();
    let answers = futures::future::join_all(
        devices
            .iter()
            .map(|(endpoint, browser)| push(&http, &signer, endpoint, browser, r#"{"n":1}"#)),
    )
    .await;
    let elapsed = started.elapsed();
    for answer in answers {
        assert_eq!(answer.unwrap().status(), 201);
    }
    let stats = mock.stats();
    assert_eq!(stats.requests, 12);
    assert_eq!(stats.http2_requests, 12, "ALPN chose HTTP/2");
    assert_eq!(stats.delivered, 12);
    assert_eq!(stats.tls_connections, stats.connections);
    assert!(stats.tls_connections >= 1);
    assert!(
        (1..=4).contains(&stats.max_concurrent_streams),
        "h2 enforces the advertised limit: {stats:?}"
    );
    // At most 4 at a time per connection, each ≥ 30 ms.
    let connections = stats.tls_connections as u32;
    assert!(elapsed >= Duration::from_millis(30) * (12 / (4 * connections)).max(1));
    assert_eq!(mock.duplicates(), 0);
    let received = mock.received();
    assert_eq!(received.len(), 12);
    assert!(received.iter().all(|p| p.json()["n"] == 1 && p.vapid.is_ok()));
    assert_eq!(mock.stats().decrypted, 12);
}

#[tokio::test]
async fn goaway_after_streams_closes_connections_and_answers_accepted_streams() {
    let mock = MockPushService::start_with(MockOptions::new().tls().goaway_after_streams(5)).await;
    let (http, signer) = (client(&mock, Duration::from_secs(10)), signer());
    let (endpoint, browser) = mock.add_device();
    let mut delivered = 0;
    let mut attempts = 0;
    while delivered < 20 {
        attempts += 1;
        assert!(attempts < 60, "pushes keep failing: {:?}", mock.stats());
        // A push sent on a connection the server is draining may be refused; send it again.
        if let Ok(answer) = push(&http, &signer, &endpoint, &browser, "x").await {
            assert_eq!(answer.status(), 201);
            delivered += 1;
        }
    }
    let stats = mock.stats();
    assert!(stats.goaways >= 3, "{stats:?}");
    assert!(stats.tls_connections >= 4, "{stats:?}");
    // Every connection that reached the limit was told to go away; none served many more.
    assert!(
        stats.per_connection.iter().all(|(requests, _)| *requests <= 7),
        "{stats:?}"
    );
    assert_eq!(stats.delivered, 20);
    assert_eq!(mock.deliveries_by_endpoint()[&endpoint], 20);
    assert_eq!(mock.duplicates(), 19, "one device, twenty deliveries");
}

#[tokio::test]
async fn hung_service_never_answers_until_released() {
    let mock = MockPushService::start_with(MockOptions::new().tls().hang()).await;
    let (http, signer) = (client(&mock, Duration::from_millis(300)), signer());
    let (endpoint, browser) = mock.add_device();
    let error = push(&http, &signer, &endpoint, &browser, "x").await.unwrap_err();
    assert!(error.is_timeout(), "{error}");
    let stats = mock.stats();
    assert!(stats.requests >= 1, "{stats:?}");
    // The client's RST_STREAM(CANCEL) ends the hung handler; only then release the hang,
    // or the hung push would be answered after all.
    let deadline = Instant::now() + Duration::from_secs(5);
    while mock.stats().in_flight > 0 {
        assert!(Instant::now() < deadline, "the cancelled stream is still held");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!((stats.answered, stats.delivered), (0, 0));

    mock.set_hang(false);
    let answer = push(&http, &signer, &endpoint, &browser, "y").await.unwrap();
    assert_eq!(answer.status(), 201);
    assert_eq!(mock.stats().delivered, 1);
}

#[tokio::test]
async fn reset_streams_deliver_nothing() {
    let mock = MockPushService::start_with(MockOptions::new().tls().reset_fraction(1.0)).await;
    let (http, signer) = (client(&mock, Duration::from_secs(5)), signer());
    let (endpoint, browser) = mock.add_device();
    for _ in 0..3 {
        assert!(push(&http, &signer, &endpoint, &browser, "x").await.is_err());
    }
    let stats = mock.stats();
    assert_eq!((stats.requests, stats.resets, stats.delivered), (3, 3, 0));
    assert_eq!(mock.deliveries_by_endpoint()[&endpoint], 0);

    mock.set_reset_fraction(0.0);
    assert_eq!(
        push(&http, &signer, &endpoint, &browser, "x").await.unwrap().status(),
        201
    );
}

#[tokio::test]
async fn answer_override_throttles_every_device_until_cleared() {
    let mock = MockPushService::start_with(
        MockOptions::new()
            .tls()
            .answer(MockResponse::status(429).retry_after("7")),
    )
    .await;
    let (http, signer) = (client(&mock, Duration::from_secs(5)), signer());
    let (endpoint, browser) = mock.add_device();
    let answer = push(&http, &signer, &endpoint, &browser, "x").await.unwrap();
    assert_eq!(answer.status(), 429);
    assert_eq!(answer.headers()["retry-after"], "7");
    assert_eq!(mock.stats().delivered, 0);

    mock.set_answer(None);
    assert_eq!(
        push(&http, &signer, &endpoint, &browser, "x").await.unwrap().status(),
        201
    );
    assert_eq!(mock.stats().delivered, 1);
}

#[tokio::test]
async fn bad_vapid_is_refused_even_when_a_good_one_was_remembered() {
    let mock = MockPushService::start_with(MockOptions::new().tls().record(false).decrypt_one_in(2)).await;
    let http = client(&mock, Duration::from_secs(5));
    let (endpoint, browser) = mock.add_device();
    let good = signer();
    for _ in 0..4 {
        assert_eq!(
            push(&http, &good, &endpoint, &browser, "x").await.unwrap().status(),
            201
        );
    }
    // A signature for another audience fails, although the signer's key is the same.
    let subscription = Subscription::parse(&endpoint, &browser.p256dh_b64(), &browser.auth_b64()).unwrap();
    let mut request = PushMessage::new(b"x".to_vec(), Ttl::seconds(60))
        .build(&subscription, &good)
        .unwrap();
    let wrong = good
        .authorization("https://elsewhere.example", SystemTime::now())
        .unwrap();
    request.headers.insert("authorization", wrong.parse().unwrap());
    let answer = http
        .post(request.url.as_str())
        .headers(request.headers)
        .body(request.body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 401);
    let stats = mock.stats();
    assert_eq!((stats.delivered, stats.answered), (4, 5));
    assert_eq!((stats.decrypted, stats.decrypt_failures), (3, 0), "one in two of 5");
    assert!(mock.received().is_empty(), "record(false) keeps counters only");
}
