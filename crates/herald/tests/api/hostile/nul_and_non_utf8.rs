//! Path ids and fields that are not UTF-8, or that hold a NUL character.

use super::harness::{assert_no_failures, run_cases, seed, send, snapshot, Auth, Case};
use crate::helpers::*;
use reqwest::Method;
use serde_json::json;

/// Path parameters are percent-decoded; bytes that do not decode to UTF-8 must still get the
/// JSON error object, like every other refusal.
#[tokio::test]
async fn path_ids_that_are_not_utf8_get_a_json_error() {
    let app = spawn_app().await;
    let seed = seed(&app).await;
    let before = snapshot(&app).await;
    let own = Auth::Bearer(seed.device.secret.clone());
    let cases = vec![
        Case::new("bad utf-8 id", Method::GET, "/api/v1/messages/%FF", Auth::Admin),
        Case::new("bad utf-8 id", Method::DELETE, "/api/v1/messages/%C3%28", Auth::Admin),
        Case::new("bad utf-8 id", Method::DELETE, "/api/v1/subscriptions/%FF", Auth::Admin),
        Case::new(
            "bad utf-8 id",
            Method::GET,
            "/api/v1/subscriptions/%FF/messages",
            own.clone(),
        ),
        Case::json(
            "bad utf-8 id",
            Method::POST,
            "/api/v1/subscriptions/%FF/receipts",
            own.clone(),
            &json!({"messageId": "m", "event": "displayed"}),
        ),
        Case::json(
            "bad utf-8 id",
            Method::POST,
            "/api/v1/subscriptions/%FF/replace",
            own,
            &json!({"subscription": seed.subscription}),
        ),
        Case::new("bad utf-8 id", Method::GET, "/api/v1/reminders/%FF", Auth::Admin),
        Case::new("bad utf-8 id", Method::DELETE, "/api/v1/reminders/%FF", Auth::Admin),
        Case::json(
            "bad utf-8 id",
            Method::PATCH,
            "/api/v1/reminders/%FF",
            Auth::Admin,
            &json!({"title": "x"}),
        ),
    ];
    let total = cases.len();
    let failures = run_cases(&app, &cases).await;
    assert_eq!(snapshot(&app).await, before);
    assert_no_failures(failures, total);
}

/// A NUL character is valid UTF-8 and JSON (`\u0000`), so it reaches the queries in path ids,
/// cursors and body fields that are not otherwise validated. PostgreSQL refuses NUL in text
/// values outright; the API must refuse it (or treat it as "not found") rather than fail.
/// Passes on SQLite and MariaDB; run with HERALD_TEST_DATABASE=postgres to see the bug.
#[tokio::test]
async fn nul_characters_never_cause_a_server_error() {
    let app = spawn_app().await;
    let seed = seed(&app).await;
    let before = snapshot(&app).await;
    let (id, own) = (&seed.device.id, Auth::Bearer(seed.device.secret.clone()));
    let nul_id = format!("{id}%00");
    let receipt = json!({"messageId": "m\u{0}", "event": "displayed"});
    let cases = vec![
        Case::new(
            "nul id",
            Method::DELETE,
            format!("/api/v1/subscriptions/{nul_id}"),
            Auth::Admin,
        ),
        Case::new(
            "nul id",
            Method::DELETE,
            format!("/api/v1/subscriptions/{nul_id}"),
            own.clone(),
        ),
        Case::new(
            "nul id",
            Method::GET,
            format!("/api/v1/subscriptions/{nul_id}/messages"),
            own.clone(),
        ),
        Case::json(
            "nul id",
            Method::POST,
            format!("/api/v1/subscriptions/{nul_id}/receipts"),
            own.clone(),
            &receipt,
        ),
        Case::json(
            "nul id",
            Method::POST,
            format!("/api/v1/subscriptions/{nul_id}/replace"),
            own.clone(),
            &json!({"subscription": seed.subscription}),
        ),
        Case::json(
            "nul messageId",
            Method::POST,
            format!("/api/v1/subscriptions/{id}/receipts"),
            own,
            &receipt,
        ),
        Case::new("nul id", Method::GET, "/api/v1/messages/x%00", Auth::Admin),
        Case::new("nul id", Method::DELETE, "/api/v1/messages/x%00", Auth::Admin),
        Case::new("nul id", Method::GET, "/api/v1/reminders/x%00", Auth::Admin),
        Case::new("nul id", Method::DELETE, "/api/v1/reminders/x%00", Auth::Admin),
        Case::json(
            "nul id",
            Method::PATCH,
            "/api/v1/reminders/x%00",
            Auth::Admin,
            &json!({"title": "x"}),
        ),
        Case::new(
            "nul cursor",
            Method::GET,
            "/api/v1/subscriptions?after=%00",
            Auth::Admin,
        ),
        Case::new("nul cursor", Method::GET, "/api/v1/reminders?after=%00", Auth::Admin),
    ];
    let mut failures = Vec::new();
    for case in &cases {
        let response = send(&app, case).await.unwrap();
        let status = response.status().as_u16();
        if status >= 500 {
            failures.push(format!("{} {} [{}]: {status}", case.method, case.path, case.name));
        }
    }
    assert_eq!(snapshot(&app).await, before);
    assert!(failures.is_empty(), "server errors:\n{}", failures.join("\n"));
}
