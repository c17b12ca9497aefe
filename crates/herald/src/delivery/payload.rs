//! What a device receives: Declarative Web Push JSON for payload mode, nothing for tickle.

use crate::storage::messages::MessageView;
use serde_json::json;

/// The Declarative Web Push body (Safari 18.4+ shows it by itself; Herald's service worker
/// shows it everywhere else). `mutable` lets the service worker post receipts first.
pub fn declarative_json(message: &MessageView) -> Vec<u8> {
    let mut notification = json!({ "title": message.title, "data": { "messageId": message.id } });
    for (key, value) in [
        ("body", &message.body),
        ("navigate", &message.url),
        ("tag", &message.tag),
        ("icon", &message.icon),
    ] {
        if let Some(value) = value {
            notification[key] = json!(value);
        }
    }
    json!({ "web_push": 8030, "notification": notification, "mutable": true })
        .to_string()
        .into_bytes()
}
