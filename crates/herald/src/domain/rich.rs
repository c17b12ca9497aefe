//! A message's rich content (issue 16) as stored in `messages.content`, and how one device's
//! notification is made from it: its language picked, every field in the payload.

use super::language::{LanguageTag, LocalizedText};
use super::payload::{self, Action, Extras, Notification};
use super::validation::RuleBroken;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// Most buttons a message may carry. Chrome shows two, Safari and Firefox fewer (they ignore
/// the rest); three leaves room for browsers that show more without letting a payload fill up.
pub const MAX_ACTIONS: usize = 3;

/// A button as stored and sent: `id` comes back in the click receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredAction {
    pub id: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// Everything a message carries besides title, body, url, icon and tag. The default (a plain
/// message) is stored as NULL.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RichContent {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<StoredAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub badge: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_interaction: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub silent: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub renotify: bool,
    /// The language of the default title and body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lang: Option<LanguageTag>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_badge: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    /// Translations of the title (the default is the message's `title`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub titles: BTreeMap<LanguageTag, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub bodies: BTreeMap<LanguageTag, String>,
}

impl RichContent {
    pub fn is_plain(&self) -> bool {
        *self == Self::default()
    }

    /// The stored form: `None` for a plain message.
    pub fn to_db(&self) -> Option<String> {
        (!self.is_plain()).then(|| serde_json::to_string(self).expect("content serializes"))
    }

    pub fn from_db(text: Option<&str>) -> Result<Self, RuleBroken> {
        match text {
            None | Some("") => Ok(Self::default()),
            Some(text) => serde_json::from_str(text).map_err(|e| RuleBroken(format!("content: {e}"))),
        }
    }

    pub fn has_translations(&self) -> bool {
        !self.titles.is_empty() || !self.bodies.is_empty()
    }

    /// The title in every language, with `default` as the message's own title.
    pub fn title(&self, default: &str) -> LocalizedText {
        localized(default, &self.titles)
    }

    /// The body in every language (`None`: no body in any language).
    pub fn body(&self, default: Option<&str>) -> Option<LocalizedText> {
        default.map(|text| localized(text, &self.bodies))
    }

    /// Writes the rich fields into `into` by their API names, each only when set, with `lang`
    /// as given (the message's own, or the language a device got). Message status and the
    /// tickle inbox both answer in these shapes.
    pub fn write_fields(&self, into: &mut Value, lang: Option<&str>) {
        if !self.actions.is_empty() {
            into["actions"] = serde_json::json!(self.actions);
        }
        let texts = [
            ("image", self.image.as_deref()),
            ("badge", self.badge.as_deref()),
            ("lang", lang),
            ("dir", self.dir.as_deref()),
        ];
        for (key, value) in texts {
            if let Some(value) = value {
                into[key] = value.into();
            }
        }
        let flags = [
            ("requireInteraction", self.require_interaction),
            ("silent", self.silent),
            ("renotify", self.renotify),
        ];
        for (key, on) in flags {
            if on {
                into[key] = true.into();
            }
        }
        if let Some(count) = self.app_badge {
            into["appBadge"] = count.into();
        }
        if let Some(data) = &self.data {
            into["data"] = data.clone();
        }
    }

    /// The payload fields besides title, body and lang.
    pub fn extras(&self) -> Extras<'_> {
        Extras {
            actions: self
                .actions
                .iter()
                .map(|a| Action {
                    id: &a.id,
                    title: &a.title,
                    url: a.url.as_deref(),
                })
                .collect(),
            image: self.image.as_deref(),
            badge: self.badge.as_deref(),
            require_interaction: self.require_interaction,
            silent: self.silent,
            renotify: self.renotify,
            lang: self.lang.as_ref().map(LanguageTag::as_str),
            dir: self.dir.as_deref(),
            app_badge: self.app_badge,
            data: self.data.as_ref(),
        }
    }
}

fn localized(default: &str, languages: &BTreeMap<LanguageTag, String>) -> LocalizedText {
    if languages.is_empty() {
        LocalizedText::One(default.to_owned())
    } else {
        LocalizedText::ByLanguage {
            default: default.to_owned(),
            languages: languages.clone(),
        }
    }
}

/// Which title and body translation a device got (`None`: the default); the key of a cached
/// payload variant.
pub type VariantKey = (Option<LanguageTag>, Option<LanguageTag>);

/// A message's title and body in all their languages, ready to pick from per device.
#[derive(Debug, Clone)]
pub struct Texts {
    pub title: LocalizedText,
    pub body: Option<LocalizedText>,
}

/// One device's title, body and the language to announce.
pub struct Picked<'a> {
    pub key: VariantKey,
    pub title: &'a str,
    pub body: Option<&'a str>,
    /// The translation's tag, or the message's own `lang` when the device got the default.
    pub lang: Option<&'a str>,
}

impl Texts {
    pub fn new(title: &str, body: Option<&str>, content: &RichContent) -> Self {
        Self {
            title: content.title(title),
            body: content.body(body),
        }
    }

    /// RFC 4647 lookup of title and body for a device whose languages are `preferred`.
    pub fn pick<'a>(&'a self, preferred: &[LanguageTag], content: &'a RichContent) -> Picked<'a> {
        self.pick_each(preferred, preferred, content)
    }

    /// The variant with the title in `title` and the body in `body` (`None`: the default),
    /// whichever a device's languages would pick: the size check measures every pairing.
    pub fn variant<'a>(
        &'a self,
        title: Option<&LanguageTag>,
        body: Option<&LanguageTag>,
        content: &'a RichContent,
    ) -> Picked<'a> {
        let only = |tag: Option<&LanguageTag>| tag.cloned().into_iter().collect::<Vec<_>>();
        self.pick_each(&only(title), &only(body), content)
    }

    fn pick_each<'a>(
        &'a self,
        for_title: &[LanguageTag],
        for_body: &[LanguageTag],
        content: &'a RichContent,
    ) -> Picked<'a> {
        let (title_tag, title) = self.title.pick_entry(for_title);
        let (body_tag, body) = match &self.body {
            Some(b) => {
                let (tag, text) = b.pick_entry(for_body);
                (tag, Some(text))
            }
            None => (None, None),
        };
        let lang = title_tag
            .or(body_tag)
            .map(LanguageTag::as_str)
            .or(content.lang.as_ref().map(LanguageTag::as_str));
        Picked {
            key: (title_tag.cloned(), body_tag.cloned()),
            title,
            body,
            lang,
        }
    }
}

/// The fields of a message that every variant shares.
pub struct Common<'a> {
    pub id: &'a str,
    pub url: Option<&'a str>,
    pub tag: Option<&'a str>,
    pub icon: Option<&'a str>,
}

/// The Declarative Web Push JSON for one picked variant.
pub fn encode(common: &Common<'_>, picked: &Picked<'_>, content: &RichContent) -> Vec<u8> {
    let mut extras = content.extras();
    extras.lang = picked.lang;
    payload::declarative_json_with(
        &Notification {
            id: common.id,
            title: picked.title,
            body: picked.body,
            url: common.url,
            tag: common.tag,
            icon: common.icon,
        },
        &extras,
    )
}

/// A device's stored languages (`uk,en-gb`) as tags; unreadable entries are skipped.
pub fn parse_languages(stored: Option<&str>) -> Vec<LanguageTag> {
    stored
        .unwrap_or("")
        .split(',')
        .filter(|s| !s.is_empty())
        .filter_map(|s| LanguageTag::parse(s).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_content_is_stored_as_null_and_round_trips() {
        assert_eq!(RichContent::default().to_db(), None);
        let mut c = RichContent {
            silent: true,
            ..RichContent::default()
        };
        c.titles.insert(LanguageTag::parse("uk").unwrap(), "Привіт".into());
        let stored = c.to_db().unwrap();
        assert_eq!(RichContent::from_db(Some(&stored)).unwrap(), c);
        assert_eq!(RichContent::from_db(None).unwrap(), RichContent::default());
    }

    #[test]
    fn a_device_gets_its_language_and_the_lang_says_which() {
        let mut c = RichContent {
            lang: Some(LanguageTag::parse("en").unwrap()),
            ..RichContent::default()
        };
        c.titles.insert(LanguageTag::parse("uk").unwrap(), "Баланс".into());
        c.bodies.insert(LanguageTag::parse("uk").unwrap(), "Поповніть".into());
        let texts = Texts::new("Balance", Some("Top up"), &c);
        let uk = texts.pick(&parse_languages(Some("uk-ua,en")), &c);
        assert_eq!((uk.title, uk.body, uk.lang), ("Баланс", Some("Поповніть"), Some("uk")));
        let de = texts.pick(&parse_languages(Some("de")), &c);
        assert_eq!(
            (de.title, de.body, de.lang, de.key),
            ("Balance", Some("Top up"), Some("en"), (None, None))
        );
    }
}
