//! What a device receives: Declarative Web Push JSON for payload mode, nothing for tickle.

use serde_json::json;

/// The fields a notification shows. Borrowed from a stored message, or from one being
/// validated (to check its size before it is stored).
pub struct Notification<'a> {
    pub id: &'a str,
    pub title: &'a str,
    pub body: Option<&'a str>,
    pub url: Option<&'a str>,
    pub tag: Option<&'a str>,
    pub icon: Option<&'a str>,
}

/// The Declarative Web Push body (Safari 18.4+ shows it by itself; Herald's service worker
/// shows it everywhere else). `mutable` lets the service worker post receipts first.
pub fn declarative_json(message: &Notification<'_>) -> Vec<u8> {
    let mut notification = json!({ "title": message.title, "data": { "messageId": message.id } });
    for (key, value) in [
        ("body", message.body),
        ("navigate", message.url),
        ("tag", message.tag),
        ("icon", message.icon),
    ] {
        if let Some(value) = value {
            notification[key] = json!(value);
        }
    }
    json!({ "web_push": 8030, "notification": notification, "mutable": true })
        .to_string()
        .into_bytes()
}
