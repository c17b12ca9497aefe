//! Request bodies that arrive chunked, truncated, with a lying length, or a byte at a time.

use super::harness::{short, snapshot};
use crate::helpers::*;
use serde_json::json;

/// Bodies sent without a length (chunked), and a declared length the body never reaches.
#[tokio::test]
async fn chunked_and_truncated_bodies_are_refused() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app().await;
    let before = snapshot(&app).await;
    let host = app.address.trim_start_matches("http://").to_owned();
    let raw = |request: Vec<u8>| {
        let host = host.clone();
        async move {
            let mut stream = tokio::net::TcpStream::connect(&host).await.unwrap();
            let _ = stream.write_all(&request).await;
            let _ = stream.shutdown().await;
            let mut answer = Vec::new();
            let _ = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
            String::from_utf8_lossy(&answer).into_owned()
        }
    };
    let head = |extra: &str| {
        format!(
            "POST /api/v1/messages HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n\
             Content-Type: application/json\r\nConnection: close\r\n{extra}\r\n"
        )
    };
    // 200 KiB in 1 KiB chunks.
    let mut chunked = head("Transfer-Encoding: chunked\r\n").into_bytes();
    chunked.extend(b"f\r\n{\"title\":\"t\",\"b\r\n");
    for _ in 0..200 {
        chunked.extend(b"400\r\n");
        chunked.extend([b'x'; 1024]);
        chunked.extend(b"\r\n");
    }
    chunked.extend(b"2\r\n\"}\r\n0\r\n\r\n");
    // A declared length far beyond the limit, with a short body.
    let mut lying = head("Content-Length: 10000000\r\n").into_bytes();
    lying.extend(br#"{"to":{"uid":1},"title":"t"}"#);
    // A declared length longer than the body, which then ends.
    let mut truncated = head("Content-Length: 100\r\n").into_bytes();
    truncated.extend(br#"{"to":{"uid":1},"title":"t"}"#);
    // Invalid chunk framing.
    let mut bad_chunks = head("Transfer-Encoding: chunked\r\n").into_bytes();
    bad_chunks.extend(b"zz\r\n{}\r\n0\r\n\r\n");
    for (name, request) in [
        ("chunked 200 KiB", chunked),
        ("content-length 10 MB", lying),
        ("truncated", truncated),
        ("bad chunks", bad_chunks),
    ] {
        let answer = raw(request).await;
        let status: u16 = answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        // A closed connection without an answer is acceptable for a body that never arrived.
        assert!(
            status == 0 || (400..500).contains(&status),
            "{name}: {}",
            short(&answer)
        );
        if (400..500).contains(&status) && name != "bad chunks" {
            let body = answer.split("\r\n\r\n").nth(1).unwrap_or("");
            // The body may be chunk-framed; the JSON object is inside.
            assert!(
                body.contains(r#""error""#) && body.contains(r#""code""#),
                "{name}: {}",
                short(&answer)
            );
        }
    }
    assert_eq!(snapshot(&app).await, before);
    assert!(app.admin_get("/healthz").await.status().is_success());
}

#[tokio::test]
async fn a_trickled_request_body_is_cut_at_the_header_timeout() {
    use std::time::{Duration, Instant};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app_with(Options {
        env: vec![("HERALD_HEADER_READ_TIMEOUT_SECONDS", "1".into())],
        ..Default::default()
    })
    .await;
    let address = app.address.trim_start_matches("http://").to_owned();
    // A public route that reads its body before any credential: a byte every 200 ms would
    // keep the request (and its connection slot, which busy connections never give up) for
    // the whole 90 s request time limit.
    let mut slow = tokio::net::TcpStream::connect(&address).await.unwrap();
    slow.write_all(
        b"POST /api/v1/subscriptions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{",
    )
    .await
    .unwrap();
    // The cut is due after about 1 s; far less than the 90 s limit, and generous for a busy
    // machine.
    let give_up = Duration::from_secs(30);
    let started = Instant::now();
    let mut answer = Vec::new();
    let mut buffer = [0u8; 1024];
    while started.elapsed() < give_up {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if slow.write_all(b" ").await.is_err() {
            break;
        }
        match tokio::time::timeout(Duration::from_millis(1), slow.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => answer.extend_from_slice(&buffer[..n]),
            Err(_) => {}
        }
    }
    let cut_after = started.elapsed();
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        cut_after < give_up,
        "a trickled body kept its request for {cut_after:?}; answer so far: {answer:?}"
    );
    assert!(answer.starts_with("HTTP/1.1 4"), "{answer:?}");

    // A body that arrives at once is served as before.
    let waited = app
        .http
        .post(app.url("/api/v1/messages?wait=true"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"to": {"uid": "nobody"}, "title": "t"}))
        .send()
        .await
        .unwrap();
    assert_eq!(waited.status(), 200);
}
