//! `herald-mock-push`: the testkit's mock push service as a process, for tests written in
//! other languages (the ABillS bridge's Perl tests).
//!
//! It starts [`MockPushService`] on loopback plus a small control server, prints one JSON line
//! `{"control": URL, "push": URL}` on stdout, and runs until its stdin closes (so it ends
//! with the test that started it) or it is killed. Control endpoints:
//! - `POST /devices` → a new device answering 201 (or the `status` of an optional JSON body
//!   `{"status": 410}`; a body that is not JSON or a status outside 100..=599 is a 400): `{"device", "endpoint", "subscription"}` where `subscription` is
//!   what the browser's `PushSubscription.toJSON()` would give;
//! - `GET /received` → every push so far, oldest first, decrypted with the device's keys:
//!   `{"device", "ttl", "urgency", "topic", "encoding", "payload"` (UTF-8 text or null for
//!   a push without data)`, "error"` (why decryption failed, else null)`, "vapid"` (null when
//!   the signature verified, else why not)`, "answered"}`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use herald_testkit::{MockPushService, MockResponse};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::sync::Arc;

async fn add_device(
    State(mock): State<Arc<MockPushService>>,
    body: String,
) -> Result<Json<Value>, (StatusCode, String)> {
    let status = device_status(&body).map_err(|why| (StatusCode::BAD_REQUEST, why))?;
    let (endpoint, browser) = mock.add_device_with(MockResponse::status(status));
    let device = endpoint.rsplit('/').next().unwrap_or_default().to_owned();
    Ok(Json(json!({
        "device": device,
        "endpoint": endpoint,
        "subscription": browser.subscription_json(&endpoint),
    })))
}

/// The status a new device answers: 201 for an empty body or no `status`; a number (or a
/// numeric string, as Perl may encode one) from 100 to 599. Anything else is the caller's
/// mistake and refused, rather than quietly becoming 201 or the mock's 500.
fn device_status(body: &str) -> Result<u16, String> {
    if body.trim().is_empty() {
        return Ok(201);
    }
    let value: Value = serde_json::from_str(body).map_err(|e| format!("the body is not JSON: {e}"))?;
    let status = match &value["status"] {
        Value::Null => return Ok(201),
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse::<u64>().ok(),
        _ => None,
    };
    status
        .and_then(|s| u16::try_from(s).ok())
        .filter(|s| (100..=599).contains(s))
        .ok_or_else(|| {
            format!(
                "`status` must be an HTTP status from 100 to 599, not {}",
                value["status"]
            )
        })
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

#[cfg(test)]
mod tests {
    use super::device_status;

    #[test]
    fn device_status_takes_numbers_and_numeric_strings_and_refuses_the_rest() {
        assert_eq!(device_status(""), Ok(201));
        assert_eq!(device_status("{}"), Ok(201));
        assert_eq!(device_status(r#"{"status": 410}"#), Ok(410));
        assert_eq!(device_status(r#"{"status": "429"}"#), Ok(429));
        assert!(device_status(r#"{"status": 1000}"#).is_err());
        assert!(device_status(r#"{"status": 0}"#).is_err());
        assert!(device_status(r#"{"status": "gone"}"#).is_err());
        assert!(device_status("status=410").is_err());
    }
}
