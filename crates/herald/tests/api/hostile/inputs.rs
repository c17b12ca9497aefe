//! Hostile values shared by the per-endpoint cases: SQL-laden strings, malformed JSON bodies,
//! points off the curve, endpoints that are not push services, and the body cases every JSON
//! endpoint must refuse.

use super::harness::{Auth, Case};
use herald_push::base64url;
use reqwest::Method;
use serde_json::{json, Value};

/// `value` with `key` set (or removed, for `None`).
pub(super) fn with(base: &Value, key: &str, value: Option<Value>) -> Value {
    let mut v = base.clone();
    match value {
        Some(x) => v[key] = x,
        None => {
            v.as_object_mut().unwrap().remove(key);
        }
    }
    v
}

pub(super) const SQL: &[&str] = &[
    "' OR '1'='1",
    "1; DROP TABLE subscriptions; --",
    "\"; DELETE FROM messages; --",
    "Robert'); DROP TABLE outbox;--",
    "%",
    "_",
    "\\",
    "' UNION SELECT secret_hash FROM subscriptions --",
];

/// The request body shapes every JSON endpoint must refuse: not JSON, not UTF-8, not an
/// object, nested too deep, and so on.
pub(super) fn malformed_bodies() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("empty", b"".to_vec()),
        ("open brace", b"{".to_vec()),
        ("missing value", br#"{"title":}"#.to_vec()),
        ("trailing garbage", br#"{"title":"t"} xyz"#.to_vec()),
        ("extra close", br#"{"title":"t"}}"#.to_vec()),
        ("single quotes", b"{'title':'t'}".to_vec()),
        ("NaN", br#"{"ttl":NaN}"#.to_vec()),
        ("number out of range", br#"{"ttl":1e999}"#.to_vec()),
        ("lone surrogate", br#"{"title":"\ud800"}"#.to_vec()),
        ("bad escape", br#"{"title":"\q"}"#.to_vec()),
        ("invalid utf-8 in a string", b"{\"title\":\"\xff\xfe\"}".to_vec()),
        ("invalid utf-8 key", b"{\"\xc3\x28\":1}".to_vec()),
        ("utf-16 bom", b"\xff\xfe{\x00}\x00".to_vec()),
        ("nul bytes", b"\x00\x00\x00\x00".to_vec()),
        ("deep arrays", "[".repeat(20_000).into_bytes()),
        ("deep objects", r#"{"a":"#.repeat(5_000).into_bytes()),
        ("array", b"[]".to_vec()),
        ("null", b"null".to_vec()),
        ("string", br#""hello""#.to_vec()),
        ("number", b"42".to_vec()),
        ("boolean", b"true".to_vec()),
        ("empty object", b"{}".to_vec()),
    ]
}

/// A 65-byte uncompressed point encoding that is not on P-256 (or not a point at all).
pub(super) fn bad_points() -> Vec<(&'static str, String)> {
    let mut off_curve = vec![4u8];
    off_curve.extend([0u8; 31]);
    off_curve.push(1);
    off_curve.extend([0u8; 31]);
    off_curve.push(1);
    let mut beyond_field = vec![4u8];
    beyond_field.extend([0xffu8; 64]);
    let zeros = {
        let mut z = vec![4u8];
        z.extend([0u8; 64]);
        z
    };
    let valid = herald_testkit::Browser::generate().p256dh;
    let mut wrong_prefix = valid.to_vec();
    wrong_prefix[0] = 5;
    let compressed = {
        let mut c = vec![2u8 + (valid[64] & 1)];
        c.extend(&valid[1..33]);
        c
    };
    let mut flipped_y = valid.to_vec();
    flipped_y[64] ^= 1;
    vec![
        ("empty", String::new()),
        ("not base64", "!!!not base64!!!".into()),
        ("spaces", "BCD EFG".into()),
        ("one char", "A".into()),
        ("64 bytes", base64url::encode([4u8; 64])),
        ("66 bytes", base64url::encode([4u8; 66])),
        ("off the curve (1,1)", base64url::encode(&off_curve)),
        ("coordinates beyond the field", base64url::encode(&beyond_field)),
        ("all zeros", base64url::encode(&zeros)),
        ("wrong prefix", base64url::encode(&wrong_prefix)),
        ("compressed point", base64url::encode(&compressed)),
        ("flipped y", base64url::encode(&flipped_y)),
        ("a 10 KB key", "A".repeat(10 * 1024)),
    ]
}

pub(super) fn bad_endpoints() -> Vec<(&'static str, String)> {
    vec![
        ("empty", String::new()),
        ("not a url", "not a url".into()),
        ("relative", "/push/relative".into()),
        ("ftp", "ftp://127.0.0.1/push/x".into()),
        ("javascript", "javascript:alert(1)".into()),
        ("file", "file:///etc/passwd".into()),
        ("data", "data:text/plain,hello".into()),
        ("credentials", "http://user:pw@127.0.0.1/push/x".into()),
        ("only scheme", "http://".into()),
        ("bad port", "http://127.0.0.1:99999/push/x".into()),
        ("unclosed ipv6", "http://[::1/push".into()),
        ("3 KB", format!("http://127.0.0.1/{}", "a".repeat(3000))),
    ]
}

pub(super) fn long_id() -> String {
    "A".repeat(10 * 1024)
}

pub(super) fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The cases for the JSON body of one endpoint: malformed JSON, wrong content types, oversize.
pub(super) fn body_cases(method: Method, path: &str, auth: &Auth, valid: &Value) -> Vec<Case> {
    let mut cases = Vec::new();
    for (name, body) in malformed_bodies() {
        if method == Method::PATCH && name == "empty object" {
            continue; // an empty update is a valid no-op
        }
        cases.push(Case::raw(
            format!("malformed: {name}"),
            method.clone(),
            path,
            auth.clone(),
            Some("application/json"),
            body,
        ));
    }
    let text = valid.to_string();
    for ct in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        Some("application/xml"),
        Some("json"),
        Some("application/jsonp"),
    ] {
        cases.push(Case::raw(
            format!("content type {ct:?}"),
            method.clone(),
            path,
            auth.clone(),
            ct,
            text.clone(),
        ));
    }
    // Over 64 KiB: as one long string field, and as 1 MiB of spaces after a valid object.
    let mut big = valid.clone();
    if let Some(o) = big.as_object_mut() {
        o.insert("padding".into(), json!("x".repeat(70 * 1024)));
    }
    cases.push(Case::json("70 KiB body", method.clone(), path, auth.clone(), &big));
    let mut spaced = text.clone().into_bytes();
    spaced.extend(std::iter::repeat_n(b' ', 1024 * 1024));
    cases.push(Case::raw(
        "1 MiB body",
        method.clone(),
        path,
        auth.clone(),
        Some("application/json"),
        spaced,
    ));
    // Unknown fields are refused, not ignored.
    if let Some(o) = valid.as_object() {
        let mut unknown = o.clone();
        unknown.insert("colour".into(), json!("red"));
        cases.push(Case::json(
            "unknown field",
            method.clone(),
            path,
            auth.clone(),
            &Value::Object(unknown),
        ));
    }
    cases
}
