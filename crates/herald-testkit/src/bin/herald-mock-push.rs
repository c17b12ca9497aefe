//! `herald-mock-push`: the testkit's mock push service as a process, for tests written in
//! other languages (the ABillS bridge's Perl tests).
//!
//! It starts [`MockPushService`] on loopback plus a small control server, prints one JSON line
//! `{"control": URL, "push": URL}` on stdout, and runs until its stdin closes (so it ends
//! with the test that started it) or it is killed. Control endpoints:
//! - `POST /devices` → a new device answering 201 (or the `status` of an optional JSON body
//!   `{"status": 410}`): `{"device", "endpoint", "subscription"}` where `subscription` is
//!   what the browser's `PushSubscription.toJSON()` would give;
//! - `GET /received` → every push so far, oldest first, decrypted with the device's keys:
//!   `{"device", "ttl", "urgency", "topic", "encoding", "payload"` (UTF-8 text or null for
//!   a push without data)`, "error"` (why decryption failed, else null)`, "vapid"` (null when
//!   the signature verified, else why not)`, "answered"}`.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use herald_testkit::{MockPushService, MockResponse};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::sync::Arc;

async fn add_device(State(mock): State<Arc<MockPushService>>, body: String) -> Json<Value> {
    let status = serde_json::from_str::<Value>(&body)
        .ok()
        .and_then(|v| v["status"].as_u64())
        .and_then(|s| u16::try_from(s).ok())
        .unwrap_or(201);
    let (endpoint, browser) = mock.add_device_with(MockResponse::status(status));
    let device = endpoint.rsplit('/').next().unwrap_or_default().to_owned();
    Json(json!({
        "device": device,
        "endpoint": endpoint,
        "subscription": browser.subscription_json(&endpoint),
    }))
}

async fn received(State(mock): State<Arc<MockPushService>>) -> Json<Value> {
    let pushes: Vec<Value> = mock
        .received()
        .into_iter()
        .map(|push| {
            let (payload, error) = match &push.payload {
                Ok(Some(bytes)) => match String::from_utf8(bytes.clone()) {
                    Ok(text) => (Value::String(text), Value::Null),
                    Err(_) => (Value::Null, json!("payload is not UTF-8")),
                },
                Ok(None) => (Value::Null, Value::Null),
                Err(why) => (Value::Null, json!(why)),
            };
            json!({
                "device": push.device,
                "ttl": push.ttl,
                "urgency": push.urgency,
                "topic": push.topic,
                "encoding": push.encoding,
                "payload": payload,
                "error": error,
                "vapid": push.vapid.as_ref().err(),
                "answered": push.answered,
            })
        })
        .collect();
    Json(Value::Array(pushes))
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mock = Arc::new(MockPushService::start().await);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the control port");
    let control = format!("http://{}", listener.local_addr().expect("local address"));
    let app = Router::new()
        .route("/devices", post(add_device))
        .route("/received", get(received))
        .with_state(mock.clone());

    let mut stdout = std::io::stdout();
    writeln!(stdout, "{}", json!({ "control": control, "push": mock.base_url() })).expect("stdout");
    stdout.flush().expect("stdout");

    // The parent holds our stdin; when it exits (or closes it), so do we.
    let (closed_tx, closed_rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin();
        let mut buf = [0u8; 256];
        while let Ok(n) = stdin.read(&mut buf) {
            if n == 0 {
                break;
            }
        }
        let _ = closed_tx.send(());
    });
    let stdin_closed = async {
        let _ = closed_rx.await;
    };
    axum::serve(listener, app)
        .with_graceful_shutdown(stdin_closed)
        .await
        .expect("control server");
}
