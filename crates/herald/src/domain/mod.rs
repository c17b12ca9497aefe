//! Domain types that validate on parse: holding one proves the value was checked.

pub mod language;
pub mod payload;
pub mod quiet_hours;
pub mod segment;
pub mod spread;
pub mod states;

use serde::{Deserialize, Serialize};
use std::fmt;

/// Whose subscription: a client of the host application (`uid`) or an administrator (`aid`).
/// The two id spaces are separate: client 7 and admin 7 are different people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OwnerKind {
    Client,
    Admin,
}

// Its database codes (`as_db`, `from_db`) are in [`states`].
impl OwnerKind {
    /// The JSON field name that carries this kind's id.
    pub fn field(self) -> &'static str {
        match self {
            Self::Client => "uid",
            Self::Admin => "aid",
        }
    }
}

/// A character a one-line text field refuses: a control character, or a Unicode line or
/// paragraph separator (a log line or a notification would break on it).
pub fn breaks_a_line(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}'
}

/// A character a name refuses on top of [`breaks_a_line`]: invisible direction marks,
/// overrides and isolates, and zero-width characters, with which one owner id or key name can
/// be made to look like another.
pub fn disguises_a_name(c: char) -> bool {
    breaks_a_line(c)
        || matches!(c, '\u{061C}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// An owner id: 1 to 128 characters, no control characters and
/// nothing invisible ([`disguises_a_name`]). Billing systems use integers;
/// JSON integers are accepted and kept as their decimal text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OwnerId(String);

impl OwnerId {
    pub const MAX_LEN: usize = 128;

    pub fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Err("an owner id must not be empty".into());
        }
        if text.chars().count() > Self::MAX_LEN {
            return Err(format!("an owner id must be at most {} characters", Self::MAX_LEN));
        }
        if text.chars().any(disguises_a_name) {
            return Err(
                "an owner id must not contain control characters, line separators or invisible formatting characters"
                    .into(),
            );
        }
        Ok(Self(text.to_owned()))
    }

    /// From a JSON string or a non-negative integer.
    pub fn from_json(value: &serde_json::Value) -> Result<Self, String> {
        match value {
            serde_json::Value::String(s) => Self::parse(s),
            serde_json::Value::Number(n) if n.is_u64() || n.is_i64() => Self::parse(&n.to_string()),
            _ => Err("an owner id must be a string or an integer".into()),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OwnerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A subscription's owner.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Owner {
    pub kind: OwnerKind,
    pub id: OwnerId,
}

impl Owner {
    /// The `{"uid": …}` or `{"aid": …}` JSON form.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ self.kind.field(): self.id.as_str() })
    }
}

/// Who a message goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    One(Owner),
    Many(OwnerKind, Vec<OwnerId>),
    /// `None`: clients and admins alike.
    All(Option<OwnerKind>),
}

impl Audience {
    /// Most ids one list may carry.
    pub const MAX_LIST: usize = 10_000;

    /// Parses `{"uid": X}`, `{"aid": X}`, `{"uids": […]}`, `{"aids": […]}` or
    /// `{"all": "clients"|"admins"|"everyone"}`: exactly one key.
    pub fn from_json(value: &serde_json::Value) -> Result<Self, String> {
        let object = value
            .as_object()
            .ok_or("`to` must be an object such as {\"uid\": 42}")?;
        if object.len() != 1 {
            return Err("`to` must have exactly one of uid, aid, uids, aids, all".into());
        }
        let (key, value) = object.iter().next().expect("one entry");
        let list = |kind: OwnerKind| -> Result<Audience, String> {
            let items = value.as_array().ok_or(format!("`{key}` must be an array"))?;
            if items.is_empty() || items.len() > Self::MAX_LIST {
                return Err(format!("`{key}` must list 1 to {} ids", Self::MAX_LIST));
            }
            let mut ids = items.iter().map(OwnerId::from_json).collect::<Result<Vec<_>, _>>()?;
            ids.sort_by(|a, b| a.0.cmp(&b.0));
            ids.dedup();
            Ok(Audience::Many(kind, ids))
        };
        match key.as_str() {
            "uid" => Ok(Self::One(Owner {
                kind: OwnerKind::Client,
                id: OwnerId::from_json(value)?,
            })),
            "aid" => Ok(Self::One(Owner {
                kind: OwnerKind::Admin,
                id: OwnerId::from_json(value)?,
            })),
            "uids" => list(OwnerKind::Client),
            "aids" => list(OwnerKind::Admin),
            "all" => match value.as_str() {
                Some("clients") => Ok(Self::All(Some(OwnerKind::Client))),
                Some("admins") => Ok(Self::All(Some(OwnerKind::Admin))),
                Some("everyone") => Ok(Self::All(None)),
                _ => Err("`all` must be \"clients\", \"admins\" or \"everyone\"".into()),
            },
            other => Err(format!(
                "`to` has an unknown key {other:?}; use uid, aid, uids, aids or all"
            )),
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Self::One(owner) => owner.to_json(),
            Self::Many(kind, ids) => {
                let key = if *kind == OwnerKind::Client { "uids" } else { "aids" };
                serde_json::json!({ key: ids.iter().map(OwnerId::as_str).collect::<Vec<_>>() })
            }
            Self::All(Some(OwnerKind::Client)) => serde_json::json!({"all": "clients"}),
            Self::All(Some(OwnerKind::Admin)) => serde_json::json!({"all": "admins"}),
            Self::All(None) => serde_json::json!({"all": "everyone"}),
        }
    }
}

/// How a message reaches the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum MessageMode {
    /// The text travels encrypted inside the push (Declarative Web Push JSON).
    #[default]
    Payload,
    /// The push is empty; the service worker fetches the text from Herald.
    Tickle,
}

impl MessageMode {
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "payload" => Ok(Self::Payload),
            "tickle" => Ok(Self::Tickle),
            other => Err(format!("mode {other:?} must be \"payload\" or \"tickle\"")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Payload => "payload",
            Self::Tickle => "tickle",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_refuse_what_hides_or_breaks_them() {
        for bad in [
            "a\u{202E}b",
            "a\u{200B}b",
            "\u{FEFF}42",
            "a\u{2066}b",
            "4\u{2028}2",
            "4\n2",
        ] {
            assert!(OwnerId::parse(bad).is_err(), "{bad:?} must be refused");
        }
        for good in ["42", "Олена", "שלום", "client-7"] {
            assert!(OwnerId::parse(good).is_ok(), "{good:?} must be accepted");
        }
        assert!(breaks_a_line('\u{2029}') && !breaks_a_line('\u{202E}'));
    }
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn audiences() {
        assert_eq!(
            Audience::from_json(&json!({"uid": 42})).unwrap(),
            Audience::One(Owner {
                kind: OwnerKind::Client,
                id: OwnerId::parse("42").unwrap()
            })
        );
        assert_eq!(
            Audience::from_json(&json!({"aids": ["2", 1, "2"]})).unwrap(),
            Audience::Many(
                OwnerKind::Admin,
                vec![OwnerId::parse("1").unwrap(), OwnerId::parse("2").unwrap()]
            )
        );
        assert_eq!(
            Audience::from_json(&json!({"all": "everyone"})).unwrap(),
            Audience::All(None)
        );
        for bad in [
            json!({}),
            json!({"uid": 1, "aid": 2}),
            json!({"uid": null}),
            json!({"uids": []}),
            json!({"all": "some"}),
            json!({"gid": 1}),
            json!([1]),
            json!({"uid": -1.5}),
        ] {
            assert!(Audience::from_json(&bad).is_err(), "{bad}");
        }
        let round = json!({"uids": ["1", "2"]});
        assert_eq!(Audience::from_json(&round).unwrap().to_json(), round);
    }

    #[test]
    fn owner_ids() {
        assert!(OwnerId::parse(&"x".repeat(128)).is_ok());
        assert!(OwnerId::parse(&"x".repeat(129)).is_err());
        assert!(OwnerId::parse("").is_err());
        assert!(OwnerId::parse("a\u{0}b").is_err());
        assert_eq!(OwnerId::from_json(&json!(70000)).unwrap().as_str(), "70000");
        assert!(OwnerId::from_json(&json!(true)).is_err());
    }

    proptest! {
        #[test]
        fn owner_id_parse_never_panics(text in ".{0,200}") {
            if let Ok(id) = OwnerId::parse(&text) {
                prop_assert_eq!(id.as_str(), text.as_str());
            }
        }
    }
}
