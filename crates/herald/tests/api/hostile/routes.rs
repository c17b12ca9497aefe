//! Wrong methods, made-up methods and routes that do not exist.

use super::harness::{Auth, Case, Seed};
use super::inputs::{long_id, urlencode, SQL};
use reqwest::Method;

/// Every route with the methods it does not take, and routes that do not exist.
pub(super) fn cases(seed: &Seed) -> Vec<Case> {
    let id = &seed.device.id;
    let mut cases = Vec::new();
    let routes: Vec<(String, Vec<Method>)> = vec![
        (
            "/api/v1/vapid-public-key".into(),
            vec![Method::POST, Method::DELETE, Method::PUT],
        ),
        ("/api/v1/openapi.json".into(), vec![Method::POST]),
        ("/api/v1/owner-tokens".into(), vec![Method::GET, Method::DELETE]),
        (
            "/api/v1/subscriptions".into(),
            vec![Method::PUT, Method::DELETE, Method::PATCH],
        ),
        (
            format!("/api/v1/subscriptions/{id}"),
            vec![Method::GET, Method::POST, Method::PUT, Method::PATCH],
        ),
        (
            format!("/api/v1/subscriptions/{id}/messages"),
            vec![Method::POST, Method::DELETE],
        ),
        (
            format!("/api/v1/subscriptions/{id}/receipts"),
            vec![Method::GET, Method::PUT],
        ),
        (
            format!("/api/v1/subscriptions/{id}/replace"),
            vec![Method::GET, Method::PUT],
        ),
        (
            "/api/v1/messages".into(),
            vec![Method::PUT, Method::DELETE, Method::PATCH],
        ),
        (
            "/api/v1/messages/x".into(),
            vec![Method::POST, Method::PUT, Method::PATCH],
        ),
        (
            "/api/v1/reminders".into(),
            vec![Method::PUT, Method::DELETE, Method::PATCH],
        ),
        (
            format!("/api/v1/reminders/{}", seed.reminder_id),
            vec![Method::POST, Method::PUT],
        ),
        ("/api/v1/messages/x/delivery".into(), vec![Method::POST, Method::DELETE]),
        ("/api/v1/overview".into(), vec![Method::POST, Method::DELETE]),
        ("/api/v1/reminders/preview".into(), vec![Method::GET, Method::PUT]),
        ("/healthz".into(), vec![Method::POST, Method::DELETE]),
        ("/metrics".into(), vec![Method::POST]),
    ];
    for (path, methods) in routes {
        for method in methods {
            for auth in [Auth::None, Auth::Admin] {
                cases.push(Case::raw(
                    "wrong method",
                    method.clone(),
                    path.clone(),
                    auth,
                    Some("application/json"),
                    "{}",
                ));
            }
        }
        cases.push(Case::new(
            "made-up method",
            Method::from_bytes(b"BREW").unwrap(),
            path.clone(),
            Auth::Admin,
        ));
    }
    for path in [
        "/api/v1/nope".to_owned(),
        "/api/v2/messages".into(),
        "/api/v1/messages/x/y".into(),
        format!("/api/v1/subscriptions/{id}/nope"),
        "/api/v1/".into(),
        "/api".into(),
        format!("/api/v1/{}", long_id()),
        format!("/api/v1/subscriptions/{id}/receipts/{}", urlencode(SQL[1])),
    ] {
        cases.push(Case::new("no such route", Method::GET, path.clone(), Auth::Admin));
        cases.push(Case::raw(
            "no such route",
            Method::POST,
            path,
            Auth::Admin,
            Some("application/json"),
            "{}",
        ));
    }
    cases
}
