//! The pool against a minimal HTTP/2 push service (h2's server over rustls): stream limits,
//! GOAWAY, REFUSED_STREAM and an origin that speaks only HTTP/1.1.

use super::*;
use crate::endpoint_policy::EndpointPolicy;
use std::collections::HashMap as Map;
use std::sync::atomic::AtomicUsize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// How the test service behaves.
#[derive(Clone, Default)]
struct Behaviour {
    max_streams: Option<u32>,
    latency: Duration,
    /// Graceful GOAWAY after this many streams on a connection.
    goaway_after: Option<usize>,
    /// Refuse (REFUSED_STREAM, unprocessed) the first request for each path.
    refuse_first: bool,
    /// Offer only HTTP/1.1 by ALPN and answer by hand.
    http1_only: bool,
    /// Answer 201 on the headers, without reading the body, then reset the stream with
    /// NO_ERROR (what nginx's `return 201` does).
    answer_on_headers: bool,
    /// Accept the first TCP connection and never start TLS on it.
    hang_first_connection: bool,
    /// Answer 201 and never end the response's body.
    endless_body: bool,
}

#[derive(Default)]
struct Seen {
    connections: AtomicUsize,
    /// Processed requests per path.
    processed: Mutex<Map<String, usize>>,
    refused: Mutex<Map<String, usize>>,
    peak_streams: AtomicUsize,
    open_streams: AtomicUsize,
}

struct TestService {
    url: String,
    cert_pem: String,
    seen: Arc<Seen>,
}

async fn start(behaviour: Behaviour) -> TestService {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let cert_pem = certified.cert.pem();
    let cert = certified.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::try_from(certified.signing_key.serialize_der()).unwrap();
    let mut config =
        rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .unwrap();
    config.alpn_protocols = if behaviour.http1_only {
        vec![b"http/1.1".to_vec()]
    } else {
        vec![b"h2".to_vec()]
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://localhost:{}", listener.local_addr().unwrap().port());
    let seen = Arc::new(Seen::default());
    {
        let seen = seen.clone();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((tcp, _)) = listener.accept().await {
                if seen.connections.fetch_add(1, Ordering::SeqCst) == 0 && behaviour.hang_first_connection {
                    held.push(tcp);
                    continue;
                }
                let acceptor = acceptor.clone();
                let seen = seen.clone();
                let behaviour = behaviour.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else { return };
                    if behaviour.http1_only {
                        serve_http1(tls, &seen).await;
                    } else {
                        serve_h2(tls, behaviour, seen).await;
                    }
                });
            }
        });
    }
    TestService { url, cert_pem, seen }
}

async fn serve_h2(tls: tokio_rustls::server::TlsStream<TcpStream>, behaviour: Behaviour, seen: Arc<Seen>) {
    let mut builder = h2::server::Builder::new();
    if let Some(max) = behaviour.max_streams {
        builder.max_concurrent_streams(max);
    }
    let Ok(mut connection) = builder.handshake::<_, Bytes>(tls).await else {
        return;
    };
    let mut streams = 0;
    while let Some(Ok((request, mut respond))) = connection.accept().await {
        streams += 1;
        if behaviour.goaway_after == Some(streams) {
            connection.graceful_shutdown();
        }
        let seen = seen.clone();
        let behaviour = behaviour.clone();
        tokio::spawn(async move {
            let path = request.uri().path().to_owned();
            if behaviour.answer_on_headers {
                *seen.processed.lock().unwrap().entry(path).or_default() += 1;
                let response = http::Response::builder().status(201).body(()).unwrap();
                // Dropping the unread request then resets the stream with NO_ERROR, after
                // the answer (h2's server does that, as nginx does).
                let _ = respond.send_response(response, true);
                return;
            }
            let open = seen.open_streams.fetch_add(1, Ordering::SeqCst) + 1;
            seen.peak_streams.fetch_max(open, Ordering::SeqCst);
            let mut body = request.into_body();
            while let Some(Ok(chunk)) = body.data().await {
                let _ = body.flow_control().release_capacity(chunk.len());
            }
            let refuse = behaviour.refuse_first && {
                let mut refused = seen.refused.lock().unwrap();
                let n = refused.entry(path.clone()).or_default();
                *n += 1;
                *n == 1
            };
            if refuse {
                seen.open_streams.fetch_sub(1, Ordering::SeqCst);
                respond.send_reset(h2::Reason::REFUSED_STREAM);
                return;
            }
            *seen.processed.lock().unwrap().entry(path).or_default() += 1;
            tokio::time::sleep(behaviour.latency).await;
            seen.open_streams.fetch_sub(1, Ordering::SeqCst);
            let response = http::Response::builder().status(201).body(()).unwrap();
            let open = respond.send_response(response, !behaviour.endless_body);
            if behaviour.endless_body {
                let _open = open;
                std::future::pending::<()>().await;
            }
        });
    }
}

async fn serve_http1(mut tls: tokio_rustls::server::TlsStream<TcpStream>, seen: &Seen) {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let Ok(n) = tls.read(&mut chunk).await else { return };
        if n == 0 {
            return;
        }
        buffer.extend_from_slice(&chunk[..n]);
        let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buffer[..end]).to_string();
        let length: usize = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().parse().unwrap_or(0))
            })
            .unwrap_or(0);
        if buffer.len() < end + 4 + length {
            continue;
        }
        buffer.drain(..end + 4 + length);
        let path = head.split_whitespace().nth(1).unwrap_or("").to_owned();
        *seen.processed.lock().unwrap().entry(path).or_default() += 1;
        let _ = tls
            .write_all(b"HTTP/1.1 201 Created\r\ncontent-length: 0\r\n\r\n")
            .await;
    }
}

fn pool_for(service: &TestService) -> H2Pool {
    let dir = tempfile::tempdir().unwrap();
    let pem = dir.path().join("ca.pem");
    std::fs::write(&pem, &service.cert_pem).unwrap();
    H2Pool::new(
        super::super::tls::client_config(Some(&pem)).unwrap(),
        EndpointPolicy {
            allow_private: true,
            ..Default::default()
        },
        Duration::from_secs(5),
        Arc::new(Metrics::default()),
    )
}

fn request(service: &TestService, device: usize) -> PushRequest {
    PushRequest {
        url: Url::parse(&format!("{}/push/{device}", service.url)).unwrap(),
        headers: HeaderMap::new(),
        body: b"encrypted".to_vec(),
    }
}

/// Sends until answered, as the engine does with unprocessed pushes; returns how many times
/// the push was unprocessed.
async fn send_until_answered(pool: &H2Pool, service: &TestService, device: usize) -> usize {
    let mut unprocessed = 0;
    loop {
        match pool.send(request(service, device)).await {
            Ok(Pooled::Answered(response)) => {
                assert_eq!(response.status, 201);
                return unprocessed;
            }
            Ok(Pooled::Http1(_)) => panic!("the service speaks h2"),
            Err(SendError::Unprocessed(_)) => unprocessed += 1,
            Err(SendError::Failed(e)) => panic!("device {device}: {e}"),
        }
        assert!(unprocessed < 10, "device {device} never processed");
    }
}

#[tokio::test]
async fn a_new_connection_opens_only_when_every_open_one_is_full() {
    let service = start(Behaviour {
        max_streams: Some(10),
        latency: Duration::from_millis(200),
        ..Default::default()
    })
    .await;
    let pool = pool_for(&service);
    let sends = (0..35).map(|device| send_until_answered(&pool, &service, device));
    let unprocessed: usize = futures::future::join_all(sends).await.into_iter().sum();
    assert_eq!(unprocessed, 0);
    // 35 at once over connections of 10 streams: 4 connections, not 35.
    assert_eq!(service.seen.connections.load(Ordering::SeqCst), 4);
    assert!(service.seen.peak_streams.load(Ordering::SeqCst) <= 35);
    // Reused afterwards: another round opens nothing.
    let sends = (35..60).map(|device| send_until_answered(&pool, &service, device));
    futures::future::join_all(sends).await;
    assert_eq!(service.seen.connections.load(Ordering::SeqCst), 4);
    assert_eq!(pool.open_connections(&service.url), 4);
}

#[tokio::test]
async fn refused_streams_are_unprocessed_and_sent_again_once() {
    let service = start(Behaviour {
        refuse_first: true,
        ..Default::default()
    })
    .await;
    let pool = pool_for(&service);
    match pool.send(request(&service, 1)).await {
        Err(SendError::Unprocessed(why)) => assert!(why.contains("refused"), "{why}"),
        Err(SendError::Failed(e)) => panic!("a refused stream is not ambiguous: {e}"),
        Ok(_) => panic!("the first request is refused"),
    }
    let sends = (2..50).map(|device| send_until_answered(&pool, &service, device));
    let unprocessed: Vec<usize> = futures::future::join_all(sends).await;
    assert!(unprocessed.iter().all(|n| *n == 1), "{unprocessed:?}");
    // A refusal does not cost the connection.
    assert_eq!(service.seen.connections.load(Ordering::SeqCst), 1);
    let processed = service.seen.processed.lock().unwrap();
    assert_eq!(processed.len(), 48);
    assert!(processed.values().all(|n| *n == 1));
}

#[tokio::test]
async fn goaway_moves_unprocessed_streams_to_a_new_connection_without_duplicates() {
    let service = start(Behaviour {
        max_streams: Some(20),
        latency: Duration::from_millis(30),
        goaway_after: Some(50),
        ..Default::default()
    })
    .await;
    let pool = pool_for(&service);
    let sends = (0..400).map(|device| send_until_answered(&pool, &service, device));
    futures::future::join_all(sends).await;
    let processed = service.seen.processed.lock().unwrap();
    assert_eq!(processed.len(), 400);
    assert!(processed.values().all(|n| *n == 1), "a device got a duplicate");
    // 400 streams, 50 per connection, up to 20 at a time: at least 8 connections, and the
    // pool opens one only when the others are full or going away.
    let connections = service.seen.connections.load(Ordering::SeqCst);
    assert!((8..=8 + 8).contains(&connections), "{connections} connections");
}

#[tokio::test]
async fn an_answer_that_comes_before_the_body_is_sent_stands() {
    let service = start(Behaviour {
        answer_on_headers: true,
        ..Default::default()
    })
    .await;
    let pool = pool_for(&service);
    for device in 0..20 {
        assert_eq!(send_until_answered(&pool, &service, device).await, 0);
    }
    // The race itself, forced: the answer and the reset arrive between starting the request
    // and sending its body (a worker preempted there, on a busy machine). The body cannot go
    // out any more, but the push was processed: it is answered, not failed (and sent again).
    let url = Url::parse(&format!("{}/push/race", service.url)).unwrap();
    let origin = pool.origin(&url).unwrap();
    let Ok(Acquired::Stream(reserved)) = pool.acquire(&origin).await else {
        panic!("no stream")
    };
    let request = http::Request::builder()
        .method(http::Method::POST)
        .uri(url.as_str())
        .body(())
        .unwrap();
    let mut send = reserved.connection.send.clone().ready().await.unwrap();
    let (response, mut stream) = send.send_request(request, false).unwrap();
    let reason = futures::future::poll_fn(|cx| stream.poll_reset(cx)).await.unwrap();
    assert_eq!(reason, h2::Reason::NO_ERROR);
    match answer(&reserved.connection, response, stream, Bytes::from_static(b"encrypted")).await {
        Ok(response) => assert_eq!(response.status, 201),
        Err(e) => panic!("the service answered 201, the pool says {e:?}"),
    }
    let processed = service.seen.processed.lock().unwrap();
    assert_eq!(processed.len(), 21);
    assert!(processed.values().all(|n| *n == 1));
}

#[tokio::test]
async fn an_origin_without_h2_is_handed_back_for_http1() {
    let service = start(Behaviour {
        http1_only: true,
        ..Default::default()
    })
    .await;
    let pool = pool_for(&service);
    assert!(matches!(pool.send(request(&service, 1)).await, Ok(Pooled::Http1(_))));
    // Remembered: no second TLS handshake to find out again.
    assert!(matches!(pool.send(request(&service, 2)).await, Ok(Pooled::Http1(_))));
    assert_eq!(service.seen.connections.load(Ordering::SeqCst), 1);

    // The transport sends it with the HTTP/1.1 client instead.
    let dir = tempfile::tempdir().unwrap();
    let pem = dir.path().join("ca.pem");
    std::fs::write(&pem, &service.cert_pem).unwrap();
    let policy = EndpointPolicy {
        allow_private: true,
        ..Default::default()
    };
    let transport = crate::delivery::Transport::new(
        &policy,
        Duration::from_secs(5),
        Some(&pem),
        Arc::new(Metrics::default()),
    )
    .unwrap();
    let response = transport
        .send(request(&service, 3), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(response.status, 201);
    assert_eq!(service.seen.processed.lock().unwrap().get("/push/3"), Some(&1));
}

#[tokio::test]
async fn a_private_address_is_never_connected_under_the_default_policy() {
    let service = start(Behaviour::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let pem = dir.path().join("ca.pem");
    std::fs::write(&pem, &service.cert_pem).unwrap();
    let pool = H2Pool::new(
        super::super::tls::client_config(Some(&pem)).unwrap(),
        EndpointPolicy::default(),
        Duration::from_secs(5),
        Arc::new(Metrics::default()),
    );
    match pool.send(request(&service, 1)).await {
        Err(SendError::Failed(why)) => assert!(why.contains("no public address"), "{why}"),
        _ => panic!("localhost must be refused"),
    }
    assert_eq!(service.seen.connections.load(Ordering::SeqCst), 0);
}

/// The push that opens a connection can time out (the engine drops its future) while the
/// handshake hangs; the origin must not stay "connecting" for ever after.
#[tokio::test]
async fn a_connection_attempt_dropped_midway_does_not_block_the_origin() {
    let service = start(Behaviour {
        hang_first_connection: true,
        ..Default::default()
    })
    .await;
    let pool = pool_for(&service);
    let first = tokio::time::timeout(Duration::from_millis(300), pool.send(request(&service, 1))).await;
    assert!(first.is_err(), "the first connection hangs");
    let second = tokio::time::timeout(Duration::from_secs(3), send_until_answered(&pool, &service, 2)).await;
    assert_eq!(second.expect("the origin is usable again"), 0);
    assert_eq!(service.seen.connections.load(Ordering::SeqCst), 2);
    let url = Url::parse(&service.url).unwrap();
    assert_eq!(pool.origin(&url).unwrap().waiting.load(Ordering::SeqCst), 0);
}

/// A request waiting for another's connection attempt that is dropped (its push timed out)
/// is no longer counted as waiting.
#[tokio::test]
async fn a_dropped_waiter_is_not_counted_as_waiting() {
    let service = start(Behaviour {
        hang_first_connection: true,
        ..Default::default()
    })
    .await;
    let pool = pool_for(&service);
    let opener = pool.send(request(&service, 1));
    let waiter = tokio::time::timeout(Duration::from_millis(200), pool.send(request(&service, 2)));
    let (_, waited) = tokio::join!(tokio::time::timeout(Duration::from_millis(400), opener), waiter);
    assert!(waited.is_err(), "the waiter waits for the hanging attempt");
    let url = Url::parse(&service.url).unwrap();
    assert_eq!(pool.origin(&url).unwrap().waiting.load(Ordering::SeqCst), 0);
}

/// A 201 whose body never ends is still a 201, not a timeout that would send it again.
#[tokio::test]
async fn a_success_whose_body_never_ends_counts_as_answered() {
    let service = start(Behaviour {
        endless_body: true,
        ..Default::default()
    })
    .await;
    let pool = pool_for(&service);
    let answered = tokio::time::timeout(Duration::from_secs(3), pool.send(request(&service, 1)))
        .await
        .expect("answered within the body's grace, not the push timeout");
    match answered {
        Ok(Pooled::Answered(response)) => assert_eq!(response.status, 201),
        Ok(Pooled::Http1(_)) => panic!("the service speaks h2"),
        Err(e) => panic!("a 201 is not a failure: {e:?}"),
    }
}
