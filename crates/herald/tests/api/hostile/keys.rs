//! API keys: hostile key requests, forged and mangled key tokens, and a scope escalation.

use super::harness::{assert_all_refused, counts, Auth, Case};
use crate::helpers::*;
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test]
async fn hostile_key_requests_and_forged_key_tokens_are_refused() {
    let app = spawn_app().await;
    let send_key = {
        let r: Value = app
            .admin_post("/api/v1/keys", json!({"name": "sender", "scopes": ["send"]}))
            .await
            .json()
            .await
            .unwrap();
        r["key"].as_str().unwrap().to_owned()
    };
    let before = counts(&app).await;
    let (id, secret) = send_key.trim_start_matches("hk_").split_once('.').unwrap();
    let mut cases = Vec::new();
    for (name, body) in [
        ("no name", json!({"scopes": ["send"]})),
        ("no scopes", json!({"name": "x"})),
        ("empty scopes", json!({"name": "x", "scopes": []})),
        ("unknown scope", json!({"name": "x", "scopes": ["root"]})),
        ("scope with spaces", json!({"name": "x", "scopes": [" send "]})),
        ("scopes as a string", json!({"name": "x", "scopes": "send,admin"})),
        ("scope not a string", json!({"name": "x", "scopes": [1]})),
        (
            "SQL in scope",
            json!({"name": "x", "scopes": ["send'); DROP TABLE api_keys;--"]}),
        ),
        (
            "101-character name",
            json!({"name": "n".repeat(101), "scopes": ["send"]}),
        ),
        ("blank name", json!({"name": "   ", "scopes": ["send"]})),
        ("name not a string", json!({"name": ["x"], "scopes": ["send"]})),
        ("unknown field", json!({"name": "x", "scopes": ["send"], "expires": 1})),
        ("array", json!([])),
    ] {
        cases.push(Case::json(name, Method::POST, "/api/v1/keys", Auth::Admin, &body));
    }
    // Forged and mangled key tokens: 401, never a 5xx, on an endpoint any scope could reach.
    for token in [
        format!("hk_{id}.{secret}x"),
        format!("hk_{id}.{}", &secret[1..]),
        format!("hk_{id}."),
        format!("hk_.{secret}"),
        format!("hk_{id}"),
        format!("HK_{id}.{secret}"),
        format!("hk_{}.{secret}", "A".repeat(65)),
        format!("hk_{id}'--.{secret}"),
        format!("hk_{id}.{}", "s".repeat(5000)),
        "hk_".into(),
    ] {
        cases.push(Case::json(
            format!("token {}", &token[..token.len().min(40)]),
            Method::POST,
            "/api/v1/messages",
            Auth::Bearer(token),
            &json!({"to": {"uid": 1}, "title": "t"}),
        ));
    }
    for path in ["/api/v1/keys/nope", "/api/v1/keys/%00", "/api/v1/keys/'%20OR%201=1"] {
        cases.push(Case::new("revoke unknown", Method::DELETE, path, Auth::Admin));
    }
    // A scope escalation attempt: a send key making itself an admin key.
    cases.push(Case::json(
        "send key creates an admin key",
        Method::POST,
        "/api/v1/keys",
        Auth::Bearer(send_key.clone()),
        &json!({"name": "mine", "scopes": ["admin"]}),
    ));
    assert_all_refused(&app, &cases, before).await;
}
