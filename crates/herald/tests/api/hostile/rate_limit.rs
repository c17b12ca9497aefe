//! The public rate limit and who it believes a client is.

use crate::helpers::*;
use serde_json::Value;

/// Statuses of `count` inbox requests claiming to come from `forwarded_for`.
async fn inbox_statuses(app: &TestApp, forwarded_for: &str, count: usize) -> Vec<u16> {
    let url = app.url(&format!(
        "/api/v1/subscriptions/{}/messages",
        herald::secrets::random_id()
    ));
    let mut statuses = Vec::new();
    for _ in 0..count {
        let response = app
            .http
            .get(&url)
            .header("x-forwarded-for", forwarded_for)
            .bearer_auth("not-the-secret")
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    statuses
}

#[tokio::test]
async fn the_rate_limit_believes_x_forwarded_for_only_from_trusted_proxies() {
    let limited = |trusted: Option<&str>| {
        let mut env = vec![("HERALD_PUBLIC_RATE_LIMIT_PER_MINUTE", "2".to_owned())];
        if let Some(t) = trusted {
            env.push(("HERALD_TRUSTED_PROXIES", t.to_owned()));
        }
        spawn_app_with(Options {
            env,
            ..Default::default()
        })
    };

    // Behind a trusted proxy (the test client is 127.0.0.1): one budget per real client.
    let app = limited(Some("127.0.0.0/8, ::1")).await;
    let first = inbox_statuses(&app, "198.51.100.1, 203.0.113.1", 3).await;
    assert_eq!(first.iter().filter(|s| **s == 429).count(), 1, "{first:?}");
    assert_ne!(first[0], 429);
    // Another client behind the same proxy still has its budget; the spoofable left part of
    // the header does not matter.
    let second = inbox_statuses(&app, "198.51.100.1, 203.0.113.2", 2).await;
    assert!(!second.contains(&429), "{second:?}");

    // Without trusted proxies the header is ignored: every request counts against the peer.
    let app = limited(None).await;
    let a = inbox_statuses(&app, "203.0.113.1", 2).await;
    let b = inbox_statuses(&app, "203.0.113.2", 1).await;
    assert!(!a.contains(&429), "{a:?}");
    assert_eq!(b, [429]);
    let response = app
        .http
        .get(app.url(&format!(
            "/api/v1/subscriptions/{}/messages",
            herald::secrets::random_id()
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "60");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
}
