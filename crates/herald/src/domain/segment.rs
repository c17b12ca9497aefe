//! Segments: tags on subscriptions (`district:12`, `tariff:home-100`) and the audience filter
//! `{"tags": {"all": […], "any": […], "none": […]}, "kind": "clients"}` that selects by them.

use super::validation::RuleBroken;
use super::OwnerKind;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use std::borrow::Borrow;
use std::fmt;

/// A tag: 1 to 64 of `A-Z a-z 0-9 : _ . - /`, kept in lowercase.
///
/// Tags are case-insensitive because MySQL's default collation compares text that way while
/// SQLite and PostgreSQL do not: with one spelling stored, a filter selects the same
/// subscriptions on every backend.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tag(String);

impl Tag {
    pub const MAX_LEN: usize = 64;
    /// Most tags one subscription (or one add/remove request) may carry.
    pub const MAX_PER_SUBSCRIPTION: usize = 64;

    pub fn parse(text: &str) -> Result<Self, RuleBroken> {
        let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'.' | b'-' | b'/');
        if text.is_empty() || text.len() > Self::MAX_LEN || !text.bytes().all(allowed) {
            return Err(RuleBroken(format!(
                "the tag {text:?} must be 1 to {} of the characters A-Z a-z 0-9 : _ . - /",
                Self::MAX_LEN
            )));
        }
        // `.` and `..` vanish from URL paths (clients normalise them), so such a tag could not
        // be named in `/subscriptions/{id}/tags/{tag}`.
        if text.bytes().all(|b| b == b'.') {
            return Err(RuleBroken(format!("the tag {text:?} must hold more than dots")));
        }
        Ok(Self(text.to_ascii_lowercase()))
    }

    /// A subscription's tags: at most [`Tag::MAX_PER_SUBSCRIPTION`], sorted, repeats dropped.
    pub fn parse_list<S: AsRef<str>>(items: &[S]) -> Result<Vec<Self>, RuleBroken> {
        if items.len() > Self::MAX_PER_SUBSCRIPTION {
            return Err(RuleBroken(format!("at most {} tags", Self::MAX_PER_SUBSCRIPTION)));
        }
        sorted_unique(items.iter().map(|item| Self::parse(item.as_ref())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn sorted_unique(tags: impl Iterator<Item = Result<Tag, RuleBroken>>) -> Result<Vec<Tag>, RuleBroken> {
    let mut tags = tags.collect::<Result<Vec<_>, _>>()?;
    tags.sort();
    tags.dedup();
    Ok(tags)
}

impl Borrow<str> for Tag {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Tag {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Tag {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Which subscriptions carry the right tags: every tag of `all`, at least one of `any` (when
/// `any` lists some), and none of `none`. Each list is sorted and free of repeats.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct TagFilter {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub all: Vec<Tag>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub any: Vec<Tag>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub none: Vec<Tag>,
}

impl TagFilter {
    /// Most tags one list may name.
    pub const MAX_LIST: usize = 32;

    /// Parses `{"all": […], "any": […], "none": […]}`: any of the three keys, at least one
    /// list not empty, nothing else.
    pub fn from_json(value: &Value) -> Result<Self, RuleBroken> {
        let object = value
            .as_object()
            .ok_or("`tags` must be an object such as {\"any\": [\"district:12\"]}")?;
        let mut filter = Self::default();
        for (key, items) in object {
            let list = match key.as_str() {
                "all" => &mut filter.all,
                "any" => &mut filter.any,
                "none" => &mut filter.none,
                other => {
                    return Err(RuleBroken(format!(
                        "`tags` has an unknown key {other:?}; use all, any or none"
                    )))
                }
            };
            let items = items
                .as_array()
                .ok_or(RuleBroken(format!("`tags.{key}` must be an array of tags")))?;
            if items.len() > Self::MAX_LIST {
                return Err(RuleBroken(format!(
                    "`tags.{key}` must list at most {} tags",
                    Self::MAX_LIST
                )));
            }
            *list = sorted_unique(items.iter().map(|item| {
                item.as_str()
                    .ok_or(RuleBroken(format!("`tags.{key}` must list strings")))
                    .and_then(Tag::parse)
                    .map_err(|e| RuleBroken(format!("`tags.{key}`: {e}")))
            }))?;
        }
        if filter.all.is_empty() && filter.any.is_empty() && filter.none.is_empty() {
            return Err("`tags` must name at least one tag in all, any or none".into());
        }
        // A tag both wanted and excluded is a mistake: in `all` it matches nobody, in `any` it
        // never selects anything.
        for (key, list) in [("all", &filter.all), ("any", &filter.any)] {
            if let Some(tag) = list.iter().find(|tag| filter.none.contains(tag)) {
                return Err(RuleBroken(format!(
                    "`tags.none` names \"{tag}\", which `tags.{key}` names too: a tag cannot be both wanted and excluded"
                )));
            }
        }
        Ok(filter)
    }

    /// Whether a subscription with `tags` passes. `tags` need not be sorted.
    pub fn matches(&self, tags: &[Tag]) -> bool {
        self.all.iter().all(|t| tags.contains(t))
            && (self.any.is_empty() || self.any.iter().any(|t| tags.contains(t)))
            && !self.none.iter().any(|t| tags.contains(t))
    }

    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// Whose subscriptions a tag audience reaches before the tags filter them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AudienceKind {
    Clients,
    Admins,
    #[default]
    Everyone,
}

impl AudienceKind {
    pub fn parse(text: &str) -> Result<Self, RuleBroken> {
        match text {
            "clients" => Ok(Self::Clients),
            "admins" => Ok(Self::Admins),
            "everyone" => Ok(Self::Everyone),
            other => Err(RuleBroken(format!(
                "`kind` {other:?} must be \"clients\", \"admins\" or \"everyone\""
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Clients => "clients",
            Self::Admins => "admins",
            Self::Everyone => "everyone",
        }
    }

    /// The owner kind to select, the same way `Audience::All` says it (`None`: both).
    pub fn owner_kind(self) -> Option<OwnerKind> {
        match self {
            Self::Clients => Some(OwnerKind::Client),
            Self::Admins => Some(OwnerKind::Admin),
            Self::Everyone => None,
        }
    }
}

/// The audience `{"tags": {…}, "kind": "clients"}`: subscriptions of `kind` that pass `tags`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagAudience {
    pub kind: AudienceKind,
    pub tags: TagFilter,
}

impl TagAudience {
    /// Parses the `to` object of a tag audience: `tags` required, `kind` optional (default
    /// everyone), no other key.
    pub fn from_json(value: &Value) -> Result<Self, RuleBroken> {
        let object = value.as_object().ok_or("`to` must be an object")?;
        if let Some(other) = object.keys().find(|k| *k != "tags" && *k != "kind") {
            return Err(RuleBroken(format!(
                "`to` has an unknown key {other:?} next to `tags`; only `kind` may join it"
            )));
        }
        let tags = TagFilter::from_json(object.get("tags").ok_or("`to` needs `tags`")?)?;
        let kind = match object.get("kind") {
            None => AudienceKind::default(),
            Some(Value::String(kind)) => AudienceKind::parse(kind)?,
            Some(_) => return Err("`kind` must be \"clients\", \"admins\" or \"everyone\"".into()),
        };
        Ok(Self { kind, tags })
    }

    /// The `to` object, with `kind` only when it is not the default.
    pub fn to_json(&self) -> Value {
        let mut object = serde_json::json!({ "tags": self.tags.to_json() });
        if self.kind != AudienceKind::Everyone {
            object["kind"] = self.kind.as_str().into();
        }
        object
    }

    /// Whether a subscription of `owner` kind with `tags` is in this audience.
    pub fn matches(&self, owner: OwnerKind, tags: &[Tag]) -> bool {
        self.kind.owner_kind().is_none_or(|kind| kind == owner) && self.tags.matches(tags)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn tags(list: &[&str]) -> Vec<Tag> {
        Tag::parse_list(list).unwrap()
    }

    fn filter(value: Value) -> TagFilter {
        TagFilter::from_json(&value).unwrap()
    }

    #[test]
    fn tags_accept_the_issue_examples_and_fold_case() {
        for good in ["district:12", "tariff:home-100", "a", "plan/gold_v2.1", &"x".repeat(64)] {
            assert_eq!(Tag::parse(good).unwrap().as_str(), good);
        }
        assert_eq!(Tag::parse("District:12").unwrap(), Tag::parse("district:12").unwrap());
        assert_eq!(tags(&["b", "A", "a"]), tags(&["a", "b"]));
    }

    #[test]
    fn tags_refuse_everything_else() {
        for bad in [
            "",
            &"x".repeat(65),
            "a b",
            "a,b",
            "район",
            "a\u{0}",
            "a\n",
            "a\u{200B}b",
            "a*",
            "\"a\"",
            ".",
            "..",
        ] {
            let err = Tag::parse(bad).unwrap_err();
            assert!(err.contains("tag"), "{bad:?}: {err}");
        }
        let many: Vec<String> = (0..65).map(|i| format!("t{i}")).collect();
        assert!(Tag::parse_list(&many).is_err());
        assert!(Tag::parse_list(&many[..64]).is_ok());
    }

    #[test]
    fn filters_parse_sort_and_validate() {
        let f = filter(json!({"any": ["district:12", "District:7", "district:12"], "none": ["blocked"]}));
        assert_eq!(f.any, tags(&["district:12", "district:7"]));
        assert_eq!(f.none, tags(&["blocked"]));
        assert!(f.all.is_empty());
        assert_eq!(
            f.to_json(),
            json!({"any": ["district:12", "district:7"], "none": ["blocked"]})
        );
        assert_eq!(filter(f.to_json()), f);
        let too_many: Vec<String> = (0..33).map(|i| format!("t{i}")).collect();
        for (bad, says) in [
            (json!([]), "object"),
            (json!({}), "at least one"),
            (json!({"any": [], "all": []}), "at least one"),
            (json!({"some": ["a"]}), "unknown key"),
            (json!({"any": "a"}), "array"),
            (json!({"any": [1]}), "strings"),
            (json!({"all": ["a b"]}), "tags.all"),
            (json!({"none": too_many}), "at most 32"),
            (json!({"all": ["a", "b"], "none": ["B"]}), "`tags.all` names too"),
            (json!({"any": ["a", "b"], "none": ["a"]}), "`tags.any` names too"),
        ] {
            let err = TagFilter::from_json(&bad).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn matching_all_any_none() {
        let device = tags(&["district:12", "tariff:home-100"]);
        assert!(filter(json!({"any": ["district:12", "district:7"]})).matches(&device));
        assert!(!filter(json!({"any": ["district:7", "district:8"]})).matches(&device));
        assert!(filter(json!({"all": ["district:12", "tariff:home-100"]})).matches(&device));
        assert!(!filter(json!({"all": ["district:12", "tariff:biz"]})).matches(&device));
        assert!(!filter(json!({"any": ["district:12"], "none": ["tariff:home-100"]})).matches(&device));
        assert!(filter(json!({"none": ["blocked"]})).matches(&device));
        assert!(filter(json!({"none": ["blocked"]})).matches(&[]));
        assert!(!filter(json!({"any": ["district:12"]})).matches(&[]));
        // Order of the device's tags does not matter.
        let reversed: Vec<Tag> = device.iter().rev().cloned().collect();
        assert!(filter(json!({"all": ["district:12", "tariff:home-100"]})).matches(&reversed));
    }

    #[test]
    fn tag_audiences_with_and_without_kind() {
        let a = TagAudience::from_json(&json!({"tags": {"any": ["district:12"]}})).unwrap();
        assert_eq!(a.kind, AudienceKind::Everyone);
        assert_eq!(a.to_json(), json!({"tags": {"any": ["district:12"]}}));
        assert!(a.matches(OwnerKind::Admin, &tags(&["district:12"])));

        let c = TagAudience::from_json(&json!({"tags": {"all": ["x"]}, "kind": "clients"})).unwrap();
        assert_eq!(c.kind.owner_kind(), Some(OwnerKind::Client));
        assert_eq!(TagAudience::from_json(&c.to_json()).unwrap(), c);
        assert!(c.matches(OwnerKind::Client, &tags(&["x"])));
        assert!(!c.matches(OwnerKind::Admin, &tags(&["x"])));
        assert_eq!(
            AudienceKind::parse("admins").unwrap().owner_kind(),
            Some(OwnerKind::Admin)
        );

        for (bad, says) in [
            (json!({"kind": "clients"}), "needs `tags`"),
            (json!({"tags": {"any": ["a"]}, "kind": "some"}), "kind"),
            (json!({"tags": {"any": ["a"]}, "kind": 1}), "kind"),
            (json!({"tags": {"any": ["a"]}, "uid": 1}), "unknown key"),
            (json!({"tags": {}}), "at least one"),
            (json!("tags"), "object"),
        ] {
            let err = TagAudience::from_json(&bad).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
        assert_eq!(
            serde_json::to_value(AudienceKind::default()).unwrap(),
            json!("everyone")
        );
    }

    proptest! {
        #[test]
        fn tag_parse_never_panics(text in ".{0,80}") {
            if let Ok(tag) = Tag::parse(&text) {
                prop_assert_eq!(tag.as_str(), text.to_ascii_lowercase());
            }
        }

        #[test]
        fn matches_agrees_with_set_logic(
            device in proptest::collection::btree_set("[a-d]", 0..4),
            all in proptest::collection::btree_set("[a-d]", 0..3),
            any in proptest::collection::btree_set("[a-d]", 0..3),
            none in proptest::collection::btree_set("[a-d]", 0..3),
        ) {
            let to_tags = |set: &std::collections::BTreeSet<String>| -> Vec<Tag> {
                set.iter().map(|t| Tag::parse(t).unwrap()).collect()
            };
            let f = TagFilter { all: to_tags(&all), any: to_tags(&any), none: to_tags(&none) };
            let expected = all.is_subset(&device)
                && (any.is_empty() || !any.is_disjoint(&device))
                && none.is_disjoint(&device);
            prop_assert_eq!(f.matches(&to_tags(&device)), expected);
        }
    }
}
