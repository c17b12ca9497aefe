//! What a device receives: Declarative Web Push JSON for payload mode, nothing for tickle.
//!
//! The format (Push API "declarative push message", Notifications API members):
//! `{"web_push": 8030, "notification": {title, dir, lang, body, navigate, tag, image, icon,
//! badge, renotify, silent, require_interaction, data, actions: [{action, title, navigate}]},
//! "app_badge": n, "mutable": true}`. Safari 18.4+ shows it by itself; Herald's service worker
//! shows it everywhere else, reading the same members.
//!
//! `notification.data` is `{"messageId": …, "data": <the sender's object>}`: Herald's id and the
//! sender's JSON side by side, so nothing the sender writes can replace the id receipts use.

use super::validation::RuleBroken;
use herald_push::ece::AES128GCM_MAX_PLAINTEXT;
use serde_json::{json, Value};

/// The fields a notification shows. Borrowed from a stored message, or from one being
/// validated (to check its size before it is stored). Title and body are already in the
/// device's language.
pub struct Notification<'a> {
    pub id: &'a str,
    pub title: &'a str,
    pub body: Option<&'a str>,
    pub url: Option<&'a str>,
    pub tag: Option<&'a str>,
    pub icon: Option<&'a str>,
}

/// The richer fields of a notification (issue 16), all optional: the default adds nothing to
/// the JSON.
#[derive(Debug, Clone, Default)]
pub struct Extras<'a> {
    /// Buttons, in order; browsers show as many as they can (`Notification.maxActions`).
    pub actions: Vec<Action<'a>>,
    pub image: Option<&'a str>,
    pub badge: Option<&'a str>,
    pub require_interaction: bool,
    pub silent: bool,
    /// Alert again when replacing a notification with the same tag; sent only with a tag,
    /// because browsers refuse `renotify` without one.
    pub renotify: bool,
    /// The language of the title and body as sent (the one picked for this device).
    pub lang: Option<&'a str>,
    /// `auto`, `ltr` or `rtl`.
    pub dir: Option<&'a str>,
    /// The number on the app's icon; 0 clears it.
    pub app_badge: Option<u64>,
    /// The sender's own JSON object (at most [`MAX_DATA_BYTES`] serialized).
    pub data: Option<&'a Value>,
}

/// A button: `id` comes back in the click receipt, `url` (a path or same-origin URL) opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Action<'a> {
    pub id: &'a str,
    pub title: &'a str,
    pub url: Option<&'a str>,
}

/// Largest `data` object, serialized.
pub const MAX_DATA_BYTES: usize = 1024;

/// Largest JSON a push can carry: one `aes128gcm` record (the padding delimiter is already
/// counted; Herald adds no padding). The legacy `aesgcm` coding allows more, so this binds.
pub const MAX_PAYLOAD_BYTES: usize = AES128GCM_MAX_PLAINTEXT;

/// The Declarative Web Push body. `mutable` lets the service worker post receipts first.
pub fn declarative_json(message: &Notification<'_>) -> Vec<u8> {
    declarative_json_with(message, &Extras::default())
}

/// The Declarative Web Push body with the richer fields.
pub fn declarative_json_with(message: &Notification<'_>, extras: &Extras<'_>) -> Vec<u8> {
    let mut data = json!({ "messageId": message.id });
    if let Some(sender) = extras.data {
        data["data"] = sender.clone();
    }
    let mut notification = json!({ "title": message.title, "data": data });
    let texts = [
        ("body", message.body),
        ("navigate", message.url),
        ("tag", message.tag),
        ("icon", message.icon),
        ("image", extras.image),
        ("badge", extras.badge),
        ("lang", extras.lang),
        ("dir", extras.dir),
    ];
    for (key, value) in texts {
        if let Some(value) = value {
            notification[key] = json!(value);
        }
    }
    let flags = [
        ("require_interaction", extras.require_interaction),
        ("silent", extras.silent),
        ("renotify", extras.renotify && message.tag.is_some()),
    ];
    for (key, on) in flags {
        if on {
            notification[key] = json!(true);
        }
    }
    if !extras.actions.is_empty() {
        let actions: Vec<Value> = extras
            .actions
            .iter()
            .map(|a| {
                let mut action = json!({ "action": a.id, "title": a.title });
                if let Some(url) = a.url {
                    action["navigate"] = json!(url);
                }
                action
            })
            .collect();
        notification["actions"] = Value::Array(actions);
    }
    let mut body = json!({ "web_push": 8030, "notification": notification, "mutable": true });
    if let Some(count) = extras.app_badge {
        body["app_badge"] = json!(count);
    }
    body.to_string().into_bytes()
}

/// The size of the JSON this notification travels as.
pub fn encoded_size(message: &Notification<'_>, extras: &Extras<'_>) -> usize {
    declarative_json_with(message, extras).len()
}

/// How many bytes a payload of `size` is over what a push carries (`None`: it fits).
pub fn bytes_over_limit(size: usize) -> Option<usize> {
    size.checked_sub(MAX_PAYLOAD_BYTES).filter(|&over| over > 0)
}

/// The sender's `data`: a JSON object of at most [`MAX_DATA_BYTES`] serialized.
pub fn check_data(data: &Value) -> Result<(), RuleBroken> {
    if !data.is_object() {
        return Err("`data` must be a JSON object".into());
    }
    let size = data.to_string().len();
    if size > MAX_DATA_BYTES {
        return Err(RuleBroken(format!(
            "`data` is {size} bytes as JSON, {} over the {MAX_DATA_BYTES} allowed",
            size - MAX_DATA_BYTES
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain() -> Notification<'static> {
        Notification {
            id: "m1",
            title: "Balance low",
            body: Some("Top up"),
            url: Some("/billing"),
            tag: Some("balance"),
            icon: Some("/icon.png"),
        }
    }

    fn parsed(bytes: Vec<u8>) -> Value {
        serde_json::from_slice(&bytes).unwrap()
    }

    #[test]
    fn the_plain_form_is_unchanged() {
        let v = parsed(declarative_json(&plain()));
        assert_eq!(
            v,
            json!({"web_push": 8030, "mutable": true, "notification": {
                "title": "Balance low", "body": "Top up", "navigate": "/billing", "tag": "balance",
                "icon": "/icon.png", "data": {"messageId": "m1"}}})
        );
        let minimal = Notification {
            id: "m2",
            title: "t",
            body: None,
            url: None,
            tag: None,
            icon: None,
        };
        assert_eq!(
            parsed(declarative_json(&minimal)),
            json!({"web_push": 8030, "mutable": true, "notification": {"title": "t", "data": {"messageId": "m2"}}})
        );
    }

    #[test]
    fn every_rich_field_has_its_declarative_member() {
        let sender = json!({"invoice": 42, "messageId": "forged"});
        let extras = Extras {
            actions: vec![
                Action {
                    id: "pay",
                    title: "Pay now",
                    url: Some("/pay"),
                },
                Action {
                    id: "later",
                    title: "Later",
                    url: None,
                },
            ],
            image: Some("/outage-map.png"),
            badge: Some("/badge.png"),
            require_interaction: true,
            silent: true,
            renotify: true,
            lang: Some("uk"),
            dir: Some("ltr"),
            app_badge: Some(3),
            data: Some(&sender),
        };
        let v = parsed(declarative_json_with(&plain(), &extras));
        assert_eq!(v["web_push"], 8030);
        assert_eq!(v["mutable"], true);
        assert_eq!(v["app_badge"], 3);
        let n = &v["notification"];
        assert_eq!(
            n["actions"],
            json!([{"action": "pay", "title": "Pay now", "navigate": "/pay"}, {"action": "later", "title": "Later"}])
        );
        for (key, value) in [
            ("image", json!("/outage-map.png")),
            ("badge", json!("/badge.png")),
            ("require_interaction", json!(true)),
            ("silent", json!(true)),
            ("renotify", json!(true)),
            ("lang", json!("uk")),
            ("dir", json!("ltr")),
        ] {
            assert_eq!(n[key], value, "{key}");
        }
        // The sender's object sits beside Herald's id and cannot replace it.
        assert_eq!(
            n["data"],
            json!({"messageId": "m1", "data": {"invoice": 42, "messageId": "forged"}})
        );
        // Nothing lands in the wrong place.
        assert!(n.get("app_badge").is_none() && v.get("actions").is_none());
    }

    #[test]
    fn false_flags_and_renotify_without_tag_are_left_out() {
        let extras = Extras {
            renotify: true,
            app_badge: Some(0),
            ..Extras::default()
        };
        let untagged = Notification { tag: None, ..plain() };
        let v = parsed(declarative_json_with(&untagged, &extras));
        let n = v["notification"].as_object().unwrap();
        for key in [
            "renotify",
            "silent",
            "require_interaction",
            "actions",
            "image",
            "badge",
            "lang",
            "dir",
        ] {
            assert!(!n.contains_key(key), "{key}");
        }
        assert_eq!(v["app_badge"], 0);
        assert_eq!(
            parsed(declarative_json_with(&plain(), &Extras::default())),
            parsed(declarative_json(&plain()))
        );
    }

    #[test]
    fn size_counts_every_field_and_says_how_much_is_over() {
        let small = encoded_size(&plain(), &Extras::default());
        let sender = json!({"k": "v".repeat(500)});
        let with_data = Extras {
            data: Some(&sender),
            ..Extras::default()
        };
        assert!(encoded_size(&plain(), &with_data) > small + 500);
        assert_eq!(bytes_over_limit(small), None);
        assert_eq!(bytes_over_limit(MAX_PAYLOAD_BYTES), None);
        assert_eq!(bytes_over_limit(MAX_PAYLOAD_BYTES + 7), Some(7));
        // Escaping counts: a quote or a control character takes more than one byte in JSON.
        let quoted = Notification {
            title: "\"\"\"",
            ..plain()
        };
        assert_eq!(
            encoded_size(&quoted, &Extras::default()),
            small - "Balance low".len() + r#"\"\"\""#.len()
        );
        // The limit is one aes128gcm record of Web Push: 4096 minus header, delimiter and tag.
        assert_eq!(MAX_PAYLOAD_BYTES, 4096 - 86 - 1 - 16);
    }

    #[test]
    fn data_must_be_a_small_object() {
        assert!(check_data(&json!({"a": 1})).is_ok());
        assert!(check_data(&json!([1])).unwrap_err().contains("object"));
        assert!(check_data(&json!("x")).unwrap_err().contains("object"));
        // {"k":"…"} is 8 bytes around the text.
        assert!(check_data(&json!({"k": "x".repeat(MAX_DATA_BYTES - 8)})).is_ok());
        let err = check_data(&json!({"k": "x".repeat(MAX_DATA_BYTES - 6)})).unwrap_err();
        assert!(err.contains("2 over"), "{err}");
    }
}
