//! Domain types that validate on parse: holding one proves the value was checked.

pub mod language;
pub mod payload;
pub mod quiet_hours;
pub mod rich;
pub mod segment;
pub mod spread;
pub mod states;
pub mod validation;

use serde::de::{self, Deserializer, MapAccess};
use serde::{Deserialize, Serialize};
use std::fmt;
pub use validation::ValidationError;

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

    /// The error's field is empty: the caller knows which field held the id.
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        let refuse = |message: String| Err(ValidationError::new("", message));
        if text.is_empty() {
            return refuse("an owner id must not be empty".into());
        }
        if text.chars().count() > Self::MAX_LEN {
            return refuse(format!("an owner id must be at most {} characters", Self::MAX_LEN));
        }
        if text.chars().any(disguises_a_name) {
            return refuse(
                "an owner id must not contain control characters, line separators or invisible formatting characters"
                    .into(),
            );
        }
        Ok(Self(text.to_owned()))
    }

    /// From a JSON string or an integer.
    pub fn from_json(value: &serde_json::Value) -> Result<Self, ValidationError> {
        validation::from_json_value(value.clone())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A JSON string or integer; integers keep their decimal text.
impl<'de> Deserialize<'de> for OwnerId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = OwnerId;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an owner id (a string or an integer)")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<OwnerId, E> {
                OwnerId::parse(text).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, number: u64) -> Result<OwnerId, E> {
                self.visit_str(&number.to_string())
            }
            fn visit_i64<E: de::Error>(self, number: i64) -> Result<OwnerId, E> {
                self.visit_str(&number.to_string())
            }
        }
        deserializer.deserialize_any(Visitor)
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
    /// The owner a body names with `uid` or `aid`: `None` when it names neither, an error on
    /// `aid` when it names both.
    pub fn from_uid_or_aid(uid: Option<OwnerId>, aid: Option<OwnerId>) -> Result<Option<Self>, ValidationError> {
        match (uid, aid) {
            (Some(id), None) => Ok(Some(Self {
                kind: OwnerKind::Client,
                id,
            })),
            (None, Some(id)) => Ok(Some(Self {
                kind: OwnerKind::Admin,
                id,
            })),
            (None, None) => Ok(None),
            (Some(_), Some(_)) => Err(ValidationError::new("aid", "give `uid` or `aid`, not both")),
        }
    }

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
    /// Subscriptions of a kind that carry the right tags.
    Tags(segment::TagAudience),
}

impl Audience {
    /// Most ids one list may carry.
    pub const MAX_LIST: usize = 10_000;

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
            Self::Tags(audience) => audience.to_json(),
        }
    }
}

/// `{"uid": X}`, `{"aid": X}`, `{"uids": […]}`, `{"aids": […]}` or
/// `{"all": "clients"|"admins"|"everyone"}`: exactly one key; or `{"tags": {…}}` with an
/// optional `"kind"` next to it.
impl<'de> Deserialize<'de> for Audience {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> de::Visitor<'de> for Visitor {
            type Value = Audience;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object such as {\"uid\": 42}")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Audience, A::Error> {
                const ONE_KEY: &str = "`to` must have exactly one of uid, aid, uids, aids, all, tags";
                let Some(key) = map.next_key::<String>()? else {
                    return Err(de::Error::custom(ONE_KEY));
                };
                if key == "tags" || key == "kind" {
                    return tag_audience(key, map);
                }
                let one = |kind, id| Audience::One(Owner { kind, id });
                let audience = match key.as_str() {
                    "uid" => one(OwnerKind::Client, map.next_value()?),
                    "aid" => one(OwnerKind::Admin, map.next_value()?),
                    "uids" => Audience::Many(OwnerKind::Client, map.next_value::<OwnerIdList>()?.0),
                    "aids" => Audience::Many(OwnerKind::Admin, map.next_value::<OwnerIdList>()?.0),
                    "all" => Audience::All(map.next_value::<AllOf>()?.0),
                    other => {
                        return Err(de::Error::custom(format!(
                            "`to` has an unknown key {other:?}; use uid, aid, uids, aids, all or tags"
                        )))
                    }
                };
                if map.next_key::<de::IgnoredAny>()?.is_some() {
                    return Err(de::Error::custom(ONE_KEY));
                }
                Ok(audience)
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

/// The rest of a `{"tags": …, "kind": …}` audience whose first key was `first`.
fn tag_audience<'de, A: MapAccess<'de>>(first: String, mut map: A) -> Result<Audience, A::Error> {
    let mut tags = None;
    let mut kind = None;
    let mut key = Some(first);
    while let Some(name) = key {
        match name.as_str() {
            "tags" if tags.is_none() => tags = Some(map.next_value::<TagFilterJson>()?.0),
            "kind" if kind.is_none() => kind = Some(map.next_value::<AudienceKindJson>()?.0),
            "tags" | "kind" => return Err(de::Error::custom(format!("`to` repeats {name:?}"))),
            other => {
                return Err(de::Error::custom(format!(
                    "`to` has an unknown key {other:?} next to `tags`; only `kind` may join it"
                )))
            }
        }
        key = map.next_key::<String>()?;
    }
    let Some(tags) = tags else {
        return Err(de::Error::custom("`kind` needs `tags` next to it"));
    };
    Ok(Audience::Tags(segment::TagAudience {
        kind: kind.unwrap_or_default(),
        tags,
    }))
}

/// The value of a tag audience's `tags`.
struct TagFilterJson(segment::TagFilter);

impl<'de> Deserialize<'de> for TagFilterJson {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        segment::TagFilter::from_json(&value)
            .map(Self)
            .map_err(de::Error::custom)
    }
}

/// The value of a tag audience's `kind`.
struct AudienceKindJson(segment::AudienceKind);

impl<'de> Deserialize<'de> for AudienceKindJson {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        segment::AudienceKind::parse(&text).map(Self).map_err(de::Error::custom)
    }
}

/// The ids of `uids` or `aids`: 1 to [`Audience::MAX_LIST`], sorted, duplicates folded.
#[derive(Deserialize)]
#[serde(try_from = "Vec<OwnerId>")]
struct OwnerIdList(Vec<OwnerId>);

impl TryFrom<Vec<OwnerId>> for OwnerIdList {
    type Error = ValidationError;

    fn try_from(mut ids: Vec<OwnerId>) -> Result<Self, ValidationError> {
        if ids.is_empty() || ids.len() > Audience::MAX_LIST {
            return Err(ValidationError::new(
                "",
                format!("a list of owners must hold 1 to {} ids", Audience::MAX_LIST),
            ));
        }
        ids.sort_by(|a, b| a.0.cmp(&b.0));
        ids.dedup();
        Ok(Self(ids))
    }
}

/// The value of `all`: `None` is everyone.
#[derive(Deserialize)]
#[serde(try_from = "String")]
struct AllOf(Option<OwnerKind>);

impl TryFrom<String> for AllOf {
    type Error = ValidationError;

    fn try_from(text: String) -> Result<Self, ValidationError> {
        match text.as_str() {
            "clients" => Ok(Self(Some(OwnerKind::Client))),
            "admins" => Ok(Self(Some(OwnerKind::Admin))),
            "everyone" => Ok(Self(None)),
            _ => Err(ValidationError::new(
                "",
                "`all` must be \"clients\", \"admins\" or \"everyone\"",
            )),
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
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        match text {
            "payload" => Ok(Self::Payload),
            "tickle" => Ok(Self::Tickle),
            other => Err(ValidationError::new(
                "mode",
                format!("mode {other:?} must be \"payload\" or \"tickle\""),
            )),
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

    fn audience(value: serde_json::Value) -> Result<Audience, ValidationError> {
        validation::from_json_value(value)
    }

    #[test]
    fn audiences() {
        assert_eq!(
            audience(json!({"uid": 42})).unwrap(),
            Audience::One(Owner {
                kind: OwnerKind::Client,
                id: OwnerId::parse("42").unwrap()
            })
        );
        assert_eq!(
            audience(json!({"aids": ["2", 1, "2"]})).unwrap(),
            Audience::Many(
                OwnerKind::Admin,
                vec![OwnerId::parse("1").unwrap(), OwnerId::parse("2").unwrap()]
            )
        );
        assert_eq!(audience(json!({"all": "everyone"})).unwrap(), Audience::All(None));
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
            assert!(audience(bad.clone()).is_err(), "{bad}");
        }
        assert_eq!(audience(json!({"uids": [1, "x\u{0}"]})).unwrap_err().field, "uids[1]");
        assert_eq!(audience(json!({"all": "some"})).unwrap_err().field, "all");
        let round = json!({"uids": ["1", "2"]});
        assert_eq!(audience(round.clone()).unwrap().to_json(), round);
    }

    #[test]
    fn tag_audiences() {
        let parsed = audience(json!({"kind": "clients", "tags": {"any": ["B", "a"], "none": ["x"]}})).unwrap();
        assert_eq!(
            parsed.to_json(),
            json!({"tags": {"any": ["a", "b"], "none": ["x"]}, "kind": "clients"})
        );
        assert_eq!(audience(parsed.to_json()).unwrap(), parsed);
        let everyone = json!({"tags": {"all": ["district:12"]}});
        assert_eq!(audience(everyone.clone()).unwrap().to_json(), everyone);
        for (bad, field) in [
            (json!({"tags": {"any": ["bad tag"]}}), "tags"),
            (json!({"tags": {}}), "tags"),
            (json!({"tags": {"any": ["a"]}, "kind": "robots"}), "kind"),
            (json!({"kind": "clients"}), ""),
            (json!({"tags": {"any": ["a"]}, "uid": 1}), ""),
        ] {
            assert_eq!(audience(bad.clone()).unwrap_err().field, field, "{bad}");
        }
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
