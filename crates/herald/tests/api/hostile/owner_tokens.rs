//! `POST /api/v1/owner-tokens`: the owner and the token's lifetime.

use super::harness::{short, Auth, Case};
use super::inputs::body_cases;
use reqwest::Method;
use serde_json::json;

/// Minting owner tokens.
pub(super) fn cases() -> Vec<Case> {
    let path = "/api/v1/owner-tokens";
    let mut cases = body_cases(Method::POST, path, &Auth::Admin, &json!({"uid": 1}));
    for body in [
        json!({"uid": 1, "aid": 1}),
        json!({"uid": null}),
        json!({"uid": ""}),
        json!({"uid": "x".repeat(129)}),
        json!({"aid": "x".repeat(10 * 1024)}),
        json!({"uid": "a\u{0}"}),
        json!({"uid": 1.5}),
        json!({"uid": [1]}),
        json!({"uid": 1, "ttl": -1}),
        json!({"uid": 1, "ttl": 0}),
        json!({"uid": 1, "ttl": 86_401}),
        json!({"uid": 1, "ttl": 1.5}),
        json!({"uid": 1, "ttl": "60"}),
        json!({"uid": 1, "ttl": 1e30}),
        json!({"uid": 1, "ttl": i64::MIN}),
        json!({"uid": 1, "ttl": u64::MAX}),
    ] {
        cases.push(Case::json(
            format!("owner token {}", short(&body.to_string())),
            Method::POST,
            path,
            Auth::Admin,
            &body,
        ));
    }
    cases.push(Case::json(
        "owner token without auth",
        Method::POST,
        path,
        Auth::None,
        &json!({"uid": 1}),
    ));
    cases
}
