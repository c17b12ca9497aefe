//! Language tags and text in several languages, picked per device by RFC 4647 lookup.
//!
//! A message's `title` and `body` are either one string or `{"default": "…", "uk": "…"}`;
//! each device's browser languages (`navigator.languages`) choose the best key.

use super::validation::RuleBroken;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::fmt;

/// A well-formed BCP 47 language tag (`uk`, `en-GB`, `zh-Hant-TW`, `x-klingon`), kept in
/// lowercase: tags are case-insensitive, so `en-GB` and `en-gb` are one key.
///
/// The check is the tag's shape, not a registry lookup: subtags of 1 to 8 letters or digits
/// joined by `-`, the first one 2–3 or 5–8 letters, or `x`/`i` followed by more subtags.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LanguageTag(String);

impl LanguageTag {
    /// Longest tag accepted; real tags with a language, script, region and variant fit.
    pub const MAX_LEN: usize = 35;
    /// Most languages one device may record.
    pub const MAX_PREFERRED: usize = 32;

    pub fn parse(text: &str) -> Result<Self, RuleBroken> {
        let refuse = || RuleBroken(format!("{text:?} is not a language tag such as \"uk\" or \"en-GB\""));
        if text.is_empty() || text.len() > Self::MAX_LEN {
            return Err(refuse());
        }
        let subtags: Vec<&str> = text.split('-').collect();
        let well_formed = subtags
            .iter()
            .all(|s| (1..=8).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric()));
        let first = subtags[0];
        let first_ok = first.eq_ignore_ascii_case("x")
            || first.eq_ignore_ascii_case("i")
            || (matches!(first.len(), 2 | 3 | 5..=8) && first.bytes().all(|b| b.is_ascii_alphabetic()));
        // A singleton (`x`, `u`, …) introduces more subtags; it never ends a tag. After the
        // private-use `x`, one-character subtags are ordinary (`zh-x-a-b`).
        let private_use_from = subtags.iter().position(|s| s.eq_ignore_ascii_case("x"));
        let ends_well = subtags.len() > 1 + private_use_from.unwrap_or(usize::MAX - 1)
            || subtags.last().is_some_and(|last| last.len() > 1);
        if !well_formed || !first_ok || !ends_well {
            return Err(refuse());
        }
        Ok(Self(text.to_ascii_lowercase()))
    }

    /// A device's languages, most preferred first: each must be a tag; repeats are dropped.
    pub fn parse_list<S: AsRef<str>>(items: &[S]) -> Result<Vec<Self>, RuleBroken> {
        if items.len() > Self::MAX_PREFERRED {
            return Err(RuleBroken(format!("at most {} languages", Self::MAX_PREFERRED)));
        }
        let mut tags: Vec<Self> = Vec::with_capacity(items.len());
        for item in items {
            let tag = Self::parse(item.as_ref())?;
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        }
        Ok(tags)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for LanguageTag {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LanguageTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for LanguageTag {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for LanguageTag {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(de::Error::custom)
    }
}

/// Text in one language, or in several with a required default.
///
/// JSON: `"Balance low"` or `{"default": "Balance low", "uk": "Баланс низький"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalizedText {
    One(String),
    ByLanguage {
        default: String,
        /// At most [`LocalizedText::MAX_LANGUAGES`] entries besides the default.
        languages: BTreeMap<LanguageTag, String>,
    },
}

impl LocalizedText {
    /// Most languages one text may carry besides `default`.
    pub const MAX_LANGUAGES: usize = 16;

    /// The text for a device whose languages are `preferred` (most preferred first): RFC 4647
    /// §3.4 lookup. Each range in turn is tried whole, then cut from the right one subtag at a
    /// time (a singleton such as `x` left at the end goes too); the first key that matches
    /// wins. Without a match, the default.
    pub fn pick(&self, preferred: &[LanguageTag]) -> &str {
        self.pick_entry(preferred).1
    }

    /// Like [`pick`](Self::pick), also naming the language chosen (`None`: the default), so
    /// the notification's `lang` can say which language the device got.
    pub fn pick_entry(&self, preferred: &[LanguageTag]) -> (Option<&LanguageTag>, &str) {
        let (default, languages) = match self {
            Self::One(text) => return (None, text),
            Self::ByLanguage { default, languages } => (default, languages),
        };
        for range in preferred {
            let mut candidate = range.as_str();
            loop {
                if let Some((tag, text)) = languages.get_key_value(candidate) {
                    return (Some(tag), text);
                }
                let Some(cut) = candidate.rfind('-') else { break };
                candidate = &candidate[..cut];
                // `zh-hant-x-priv` → `zh-hant-x` → `zh-hant`: a trailing singleton is not a tag.
                while let Some(cut) = candidate.rfind('-').filter(|&cut| candidate.len() - cut == 2) {
                    candidate = &candidate[..cut];
                }
            }
        }
        (None, default)
    }

    /// The default text (the only one for a plain string).
    pub fn default_text(&self) -> &str {
        match self {
            Self::One(text) | Self::ByLanguage { default: text, .. } => text,
        }
    }

    /// Every text with the field name an error should use: `title`, then `title.uk`, ….
    pub fn entries<'a>(&'a self, field: &'a str) -> impl Iterator<Item = (String, &'a str)> + 'a {
        let languages = match self {
            Self::One(_) => None,
            Self::ByLanguage { languages, .. } => Some(languages),
        };
        std::iter::once((field.to_owned(), self.default_text())).chain(
            languages
                .into_iter()
                .flatten()
                .map(move |(tag, text)| (format!("{field}.{tag}"), text.as_str())),
        )
    }

    /// Checks every text with the caller's rule, which gets the field name (`body.uk`) and
    /// the text and answers with an error message naming that field.
    pub fn check(&self, field: &str, rule: impl Fn(&str, &str) -> Result<(), RuleBroken>) -> Result<(), RuleBroken> {
        self.entries(field).try_for_each(|(name, text)| rule(&name, text))
    }

    /// The same languages with every text passed through `f` (to trim them, for example).
    pub fn map(&self, mut f: impl FnMut(&str) -> String) -> Self {
        match self {
            Self::One(text) => Self::One(f(text)),
            Self::ByLanguage { default, languages } => Self::ByLanguage {
                default: f(default),
                languages: languages.iter().map(|(tag, text)| (tag.clone(), f(text))).collect(),
            },
        }
    }
}

impl From<&str> for LocalizedText {
    fn from(text: &str) -> Self {
        Self::One(text.to_owned())
    }
}

impl Serialize for LocalizedText {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            Self::One(text) => serializer.serialize_str(text),
            Self::ByLanguage { default, languages } => {
                let mut map = serializer.serialize_map(Some(languages.len() + 1))?;
                map.serialize_entry("default", default)?;
                for (tag, text) in languages {
                    map.serialize_entry(tag.as_str(), text)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for LocalizedText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(LocalizedTextVisitor)
    }
}

struct LocalizedTextVisitor;

impl<'de> Visitor<'de> for LocalizedTextVisitor {
    type Value = LocalizedText;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string, or an object of language tags to strings with a \"default\"")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        Ok(LocalizedText::One(text.to_owned()))
    }

    fn visit_string<E: de::Error>(self, text: String) -> Result<Self::Value, E> {
        Ok(LocalizedText::One(text))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut default = None;
        let mut languages = BTreeMap::new();
        while let Some(key) = map.next_key::<String>()? {
            let text: String = map.next_value()?;
            if key == "default" {
                if default.replace(text).is_some() {
                    return Err(de::Error::custom("\"default\" appears twice"));
                }
                continue;
            }
            // `Default` is shaped like a language tag; read as one it would be a second default.
            if key.eq_ignore_ascii_case("default") {
                return Err(de::Error::custom(format!(
                    "the key {key:?} must be written \"default\" (in lowercase)"
                )));
            }
            let tag = LanguageTag::parse(&key).map_err(de::Error::custom)?;
            // `en-GB` and `en-gb` are one language: two texts for it would be a coin toss.
            if languages.insert(tag, text).is_some() {
                return Err(de::Error::custom(format!("the language {key:?} appears twice")));
            }
            if languages.len() > LocalizedText::MAX_LANGUAGES {
                return Err(de::Error::custom(format!(
                    "at most {} languages besides \"default\"",
                    LocalizedText::MAX_LANGUAGES
                )));
            }
        }
        let default = default.ok_or_else(|| de::Error::custom("a text by language needs a \"default\""))?;
        Ok(LocalizedText::ByLanguage { default, languages })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn tags(list: &[&str]) -> Vec<LanguageTag> {
        LanguageTag::parse_list(list).unwrap()
    }

    fn text(value: serde_json::Value) -> LocalizedText {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn well_formed_tags_are_accepted_and_lowercased() {
        for (input, stored) in [
            ("uk", "uk"),
            ("en-GB", "en-gb"),
            ("zh-Hant-TW", "zh-hant-tw"),
            ("es-419", "es-419"),
            ("sgn-BE-FR", "sgn-be-fr"),
            ("de-CH-1901", "de-ch-1901"),
            ("x-klingon", "x-klingon"),
            ("i-navajo", "i-navajo"),
            ("en-US-x-twain", "en-us-x-twain"),
            ("abcde", "abcde"),
        ] {
            assert_eq!(LanguageTag::parse(input).unwrap().as_str(), stored, "{input}");
        }
    }

    #[test]
    fn malformed_tags_are_refused() {
        for bad in [
            "",
            "e",
            "abcd",
            "123",
            "en_GB",
            "en-",
            "-en",
            "en--gb",
            "en-abcdefghi",
            "x",
            "i",
            "*",
            "en gb",
            "uk\u{0}",
            "ук",
            "a1",
            "en-GB\n",
            "en-x",
            "en-US-u",
            &"a-b".repeat(12),
        ] {
            assert!(LanguageTag::parse(bad).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn lists_drop_repeats_and_have_a_limit() {
        assert_eq!(tags(&["en-GB", "en-gb", "uk"]), tags(&["en-gb", "uk"]));
        let many: Vec<String> = (0..33).map(|i| format!("x-l{i}")).collect();
        assert!(LanguageTag::parse_list(&many).is_err());
        assert!(LanguageTag::parse_list(&many[..32]).is_ok());
        assert!(LanguageTag::parse_list(&["uk", "no_such"]).is_err());
    }

    #[test]
    fn the_issue_case_uk_en_gb_de() {
        let t = text(json!({"default": "Default", "uk": "Українська", "en": "English"}));
        assert_eq!(t.pick(&tags(&["uk"])), "Українська");
        assert_eq!(t.pick(&tags(&["en-GB"])), "English");
        assert_eq!(t.pick(&tags(&["de"])), "Default");
        assert_eq!(t.pick(&[]), "Default");
    }

    #[test]
    fn lookup_truncates_from_the_right() {
        let t = text(json!({"default": "d", "zh-Hant": "traditional", "zh": "chinese", "en-US": "us"}));
        assert_eq!(t.pick(&tags(&["zh-Hant-TW"])), "traditional");
        assert_eq!(t.pick(&tags(&["zh-Hans-CN"])), "chinese");
        // The singleton `x` is dropped together with its subtag.
        assert_eq!(t.pick(&tags(&["zh-Hant-x-private"])), "traditional");
        assert_eq!(t.pick(&tags(&["zh-Hant-CN-x-a-b"])), "traditional");
        // A wider key never matches a narrower range: `en` is not `en-US`.
        assert_eq!(t.pick(&tags(&["en"])), "d");
        assert_eq!(t.pick(&tags(&["en-us"])), "us");
        // Keys are case-insensitive both ways.
        assert_eq!(t.pick(&tags(&["ZH-HANT"])), "traditional");
    }

    #[test]
    fn earlier_preferences_win_even_when_a_later_one_matches_exactly() {
        let t = text(json!({"default": "d", "uk": "uk", "en-GB": "gb"}));
        assert_eq!(t.pick(&tags(&["uk-UA", "en-GB"])), "uk");
        assert_eq!(t.pick(&tags(&["de", "en-GB", "uk"])), "gb");
        let (tag, picked) = t.pick_entry(&tags(&["fr", "en-GB-oxendict"]));
        assert_eq!((tag.map(LanguageTag::as_str), picked), (Some("en-gb"), "gb"));
        assert_eq!(t.pick_entry(&tags(&["fr"])), (None, "d"));
    }

    #[test]
    fn a_plain_string_is_every_language() {
        let t = text(json!("Balance low"));
        assert_eq!(t, LocalizedText::from("Balance low"));
        assert_eq!(t.pick(&tags(&["uk"])), "Balance low");
        assert_eq!(serde_json::to_value(&t).unwrap(), json!("Balance low"));
    }

    #[test]
    fn maps_need_a_default_and_known_tags() {
        for (bad, says) in [
            (json!({"uk": "a"}), "default"),
            (json!({"default": "a", "en_GB": "b"}), "language tag"),
            (json!({"default": "a", "en-GB": "b", "en-gb": "c"}), "twice"),
            (json!({"default": "a", "Default": "b"}), "lowercase"),
            (json!({"Default": "a"}), "lowercase"),
            (json!({"default": 1}), "string"),
            (json!(["a"]), "default"),
            (json!(null), "default"),
            (json!(7), "default"),
        ] {
            let err = serde_json::from_value::<LocalizedText>(bad.clone())
                .unwrap_err()
                .to_string();
            assert!(err.contains(says), "{bad}: {err}");
        }
        // `default` twice can only happen in raw JSON.
        let err = serde_json::from_str::<LocalizedText>(r#"{"default": "a", "default": "b"}"#).unwrap_err();
        assert!(err.to_string().contains("twice"), "{err}");
    }

    #[test]
    fn at_most_sixteen_languages() {
        let mut map = serde_json::Map::new();
        map.insert("default".into(), json!("d"));
        for i in 0..16 {
            map.insert(format!("x-l{i}"), json!("t"));
        }
        assert!(serde_json::from_value::<LocalizedText>(json!(map.clone())).is_ok());
        map.insert("x-l16".into(), json!("t"));
        let err = serde_json::from_value::<LocalizedText>(json!(map)).unwrap_err();
        assert!(err.to_string().contains("at most 16"), "{err}");
    }

    #[test]
    fn the_caller_checks_every_text_by_name() {
        let t = text(json!({"default": "ok", "uk": "ok", "en": "x".repeat(300)}));
        let rule = |name: &str, value: &str| {
            if value.chars().count() > 256 {
                Err(RuleBroken(format!("`{name}` must be at most 256 characters")))
            } else {
                Ok(())
            }
        };
        assert_eq!(
            t.check("title", rule).unwrap_err(),
            "`title.en` must be at most 256 characters".into()
        );
        assert!(text(json!({"default": "ok", "uk": "ok"})).check("title", rule).is_ok());
        let names: Vec<String> = t.entries("body").map(|(name, _)| name).collect();
        assert_eq!(names, ["body", "body.en", "body.uk"]);
    }

    #[test]
    fn serializes_back_with_lowercase_keys() {
        let t = text(json!({"uk": "б", "default": "a", "en-GB": "c"}));
        assert_eq!(
            serde_json::to_value(&t).unwrap(),
            json!({"default": "a", "en-gb": "c", "uk": "б"})
        );
        let trimmed = text(json!({"default": " a ", "uk": " б"})).map(|s| s.trim().to_owned());
        assert_eq!(trimmed, text(json!({"default": "a", "uk": "б"})));
        assert_eq!(trimmed.default_text(), "a");
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_keeps_the_shape(input in "[A-Za-z0-9-]{0,40}") {
            if let Ok(tag) = LanguageTag::parse(&input) {
                prop_assert_eq!(tag.as_str(), input.to_ascii_lowercase());
                prop_assert!(tag.as_str().len() <= LanguageTag::MAX_LEN);
            }
        }

        #[test]
        fn pick_always_answers_one_of_the_texts(ranges in proptest::collection::vec("[a-z]{2}(-[a-z0-9]{1,8}){0,3}", 0..4)) {
            let t = text(json!({"default": "d", "uk": "u", "en": "e", "zh-hant": "z"}));
            let preferred: Vec<LanguageTag> = ranges.iter().filter_map(|r| LanguageTag::parse(r).ok()).collect();
            prop_assert!(["d", "u", "e", "z"].contains(&t.pick(&preferred)));
        }
    }
}
