//! Property-based: random bodies on the two busiest endpoints.

use super::harness::seed;
use crate::helpers::*;
use serde_json::{json, Value};

/// Random JSON values and random strings posted to the two busiest endpoints never cause a
/// server error.
#[test]
fn random_bodies_never_cause_a_server_error() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestCaseError, TestRunner};

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let app = runtime.block_on(spawn_app());
    let seed = runtime.block_on(seed(&app));

    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,40}".prop_map(Value::from),
        prop::sample::select(vec![
            "uid",
            "aid",
            "all",
            "clients",
            "everyone",
            "payload",
            "tickle",
            "high",
            "http://127.0.0.1/push/x",
            "2026-12-01T09:00:00Z",
            "' OR '1'='1",
            "",
        ])
        .prop_map(Value::from),
    ];
    let value = leaf.prop_recursive(4, 48, 6, |inner| {
        let key = prop::sample::select(vec![
            "to",
            "title",
            "body",
            "url",
            "icon",
            "tag",
            "ttl",
            "urgency",
            "topic",
            "mode",
            "sendAt",
            "uid",
            "aid",
            "uids",
            "all",
            "subscription",
            "endpoint",
            "keys",
            "p256dh",
            "auth",
            "ownerToken",
            "x",
        ])
        .prop_map(str::to_owned);
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map(prop_oneof![key, ".{0,8}"], inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    });
    // Mostly-valid bodies with one field replaced by a random value reach deeper validation.
    let valid_message = json!({"to": {"uid": 1}, "title": "t", "body": "b", "ttl": 60, "urgency": "high"});
    let valid_subscription = json!({"subscription": seed.subscription, "uid": "p"});
    let mutated = |base: Value, keys: Vec<&'static str>, v: BoxedStrategy<Value>| {
        (prop::sample::select(keys), v).prop_map(move |(k, v)| {
            let mut b = base.clone();
            b[k] = v;
            b.to_string().into_bytes()
        })
    };
    let value = value.boxed();
    let body = prop_oneof![
        value.clone().prop_map(|v| v.to_string().into_bytes()),
        ".{0,200}".prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>(), 0..200),
        mutated(
            valid_message,
            vec!["to", "title", "body", "url", "icon", "tag", "ttl", "urgency", "topic", "mode", "sendAt"],
            value.clone()
        ),
        mutated(
            valid_subscription,
            vec!["subscription", "uid", "aid", "ownerToken"],
            value
        ),
    ];
    let path = prop::sample::select(vec!["/api/v1/messages", "/api/v1/subscriptions"]);

    let mut runner = TestRunner::new(Config {
        cases: 128,
        failure_persistence: None,
        ..Config::default()
    });
    let statuses = std::cell::RefCell::new(std::collections::BTreeMap::<u16, usize>::new());
    let result = runner.run(&(path, body), |(path, body)| {
        let (status, text) = runtime.block_on(async {
            let response = app
                .http
                .post(app.url(path))
                .bearer_auth(ADMIN_TOKEN)
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
                .unwrap();
            (response.status().as_u16(), response.text().await.unwrap_or_default())
        });
        *statuses.borrow_mut().entry(status).or_default() += 1;
        if status >= 500 {
            return Err(TestCaseError::fail(format!(
                "POST {path} {} -> {status} {text}",
                String::from_utf8_lossy(&body)
            )));
        }
        if status >= 400 {
            let json: Value = serde_json::from_str(&text)
                .map_err(|_| TestCaseError::fail(format!("POST {path}: {status} is not JSON: {text}")))?;
            prop_assert!(json["error"]["code"].is_string(), "{}", text);
        }
        Ok(())
    });
    drop(app);
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    result.unwrap();
    eprintln!("random bodies: statuses {:?}", statuses.borrow());
}
