//! Turning a request to send ("this title, to uid 42, at 9:00") into a validated message.
//! The HTTP API, the CLI and reminders all go through [`MessageRequest::validate`], so the
//! rules are the same whichever way a message arrives.

use crate::domain::language::{LanguageTag, LocalizedText};
use crate::domain::payload;
use crate::domain::quiet_hours::QuietHours;
use crate::domain::rich::{self, RichContent, StoredAction, Texts, MAX_ACTIONS};
use crate::domain::spread::SpreadOver;
use crate::domain::{Audience, MessageMode, ValidationError};
use crate::secrets;
use crate::storage::messages::NewMessage;
use herald_push::request::{Topic, Urgency, MAX_TTL_SECONDS};
use serde::Deserialize;

pub const DEFAULT_TTL_SECS: u64 = 86_400;

/// The largest `appBadge`: the service worker reads it as a JavaScript number, exact only up
/// to 2^53 - 1.
pub const MAX_APP_BADGE: u64 = (1 << 53) - 1;

/// The body of `POST /api/v1/messages`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MessageRequest {
    pub to: Audience,
    pub title: LocalizedText,
    pub body: Option<LocalizedText>,
    pub url: Option<String>,
    pub icon: Option<String>,
    pub tag: Option<String>,
    pub ttl: Option<u64>,
    pub urgency: Option<String>,
    pub topic: Option<String>,
    pub mode: Option<String>,
    pub send_at: Option<String>,
    /// Seconds, or `"30m"`: see [`SpreadOver`].
    pub spread_over: Option<serde_json::Value>,
    /// `{"from": "22:00", "to": "08:00"}` of each device's local time.
    pub quiet_hours: Option<serde_json::Value>,
    /// Sent at once even inside the (server's default) quiet hours.
    pub ignore_quiet_hours: Option<bool>,
    pub actions: Option<Vec<ActionRequest>>,
    pub image: Option<String>,
    pub badge: Option<String>,
    pub require_interaction: Option<bool>,
    pub silent: Option<bool>,
    pub renotify: Option<bool>,
    pub lang: Option<LanguageTag>,
    pub dir: Option<String>,
    pub app_badge: Option<u64>,
    pub data: Option<serde_json::Value>,
}

/// A button: `{"id": "pay", "title": "Pay now", "url": "/pay"}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionRequest {
    pub id: String,
    pub title: String,
    pub url: Option<String>,
}

impl MessageRequest {
    /// Checks every field; the error names the field and the rule. `server_quiet_hours`
    /// (`HERALD_QUIET_HOURS`) applies unless the message names its own or ignores them.
    pub fn validate(&self, now_ms: i64, server_quiet_hours: Option<QuietHours>) -> Result<NewMessage, ValidationError> {
        let audience = self.to.clone();
        let mut titles = std::collections::BTreeMap::new();
        for (field, text) in self.title.entries("title") {
            let trimmed = check_title(&field, text)?;
            if let Some(tag) = field.strip_prefix("title.") {
                titles.insert(tag.to_owned(), trimmed);
            }
        }
        let title = self.title.default_text().trim().to_owned();
        // Only the body is multi-line text; every other field is one line.
        let text = |name: &str,
                    value: &Option<String>,
                    max: usize,
                    multiline: bool|
         -> Result<Option<String>, ValidationError> {
            match value {
                Some(v) if v.chars().count() > max => Err(ValidationError::new(
                    name,
                    format!("`{name}` must be at most {max} characters"),
                )),
                Some(v)
                    if v.chars().any(|c| {
                        if multiline {
                            c.is_control() && c != '\n' && c != '\t'
                        } else {
                            crate::domain::breaks_a_line(c)
                        }
                    }) =>
                {
                    Err(ValidationError::new(
                        name,
                        format!("`{name}` must not contain control characters or line separators"),
                    ))
                }
                Some(v) if !v.is_empty() => Ok(Some(v.clone())),
                _ => Ok(None),
            }
        };
        let mut bodies = std::collections::BTreeMap::new();
        let body = match &self.body {
            None => None,
            Some(localized) => {
                for (field, value) in localized.entries("body") {
                    let checked = text(&field, &Some(value.to_owned()), 16_000, true)?;
                    // An empty (or blank) translation falls back to the default body.
                    let checked = checked.filter(|c| !c.trim().is_empty());
                    if let (Some(tag), Some(checked)) = (field.strip_prefix("body."), checked) {
                        bodies.insert(tag.to_owned(), checked);
                    }
                }
                text("body", &Some(localized.default_text().to_owned()), 16_000, true)?
            }
        };
        let url = link("url", &self.url)?;
        let icon = link("icon", &self.icon)?;
        let tag = text("tag", &self.tag, 128, false)?;
        let ttl = self.ttl.unwrap_or(DEFAULT_TTL_SECS);
        if ttl > u64::from(MAX_TTL_SECONDS) {
            return Err(ValidationError::new(
                "ttl",
                format!("`ttl` must be at most {MAX_TTL_SECONDS} seconds (30 days)"),
            ));
        }
        let urgency = match &self.urgency {
            Some(u) => Some(
                Urgency::parse(u)
                    .map_err(|e| ValidationError::new("urgency", format!("`urgency`: {e}")))?
                    .as_str()
                    .to_owned(),
            ),
            None => None,
        };
        let topic = match &self.topic {
            Some(t) => Some(
                Topic::parse(t)
                    .map_err(|e| ValidationError::new("topic", format!("`topic`: {e}")))?
                    .as_str()
                    .to_owned(),
            ),
            None => None,
        };
        let mode = match &self.mode {
            Some(m) => MessageMode::parse(m).map_err(|e| ValidationError::new("mode", format!("`mode`: {e}")))?,
            None => MessageMode::Payload,
        };
        let send_at_ms = match &self.send_at {
            Some(when) => {
                let at = chrono::DateTime::parse_from_rfc3339(when).map_err(|_| {
                    ValidationError::new(
                        "sendAt",
                        format!("`sendAt` {when:?} is not an RFC 3339 time such as 2026-12-01T09:00:00Z"),
                    )
                })?;
                let at_ms = at.timestamp_millis();
                if at_ms > now_ms + 366 * 86_400_000 {
                    return Err(ValidationError::new("sendAt", "`sendAt` must be within a year"));
                }
                at_ms.max(now_ms)
            }
            None => now_ms,
        };
        let spread_over_ms = match &self.spread_over {
            Some(value) => SpreadOver::from_json(value)
                .map_err(|e| ValidationError::new("spreadOver", e))?
                .as_ms(),
            None => 0,
        };
        let quiet_hours = match (&self.quiet_hours, self.ignore_quiet_hours) {
            (Some(_), Some(true)) => {
                return Err(ValidationError::new(
                    "ignoreQuietHours",
                    "give `quietHours` or `ignoreQuietHours`, not both",
                ))
            }
            (_, Some(true)) => None,
            (Some(value), _) => Some(QuietHours::from_json(value).map_err(|e| ValidationError::new("quietHours", e))?),
            (None, _) => server_quiet_hours,
        };
        let content = self.rich_content(titles, bodies, tag.is_some())?;
        let message = NewMessage {
            id: secrets::ordered_id(),
            audience,
            title,
            body,
            url,
            icon,
            tag,
            mode,
            urgency,
            topic,
            ttl_secs: ttl as i64,
            send_at_ms,
            reminder_id: None,
            spread_over_ms,
            quiet_hours,
            ignore_quiet_hours: self.ignore_quiet_hours == Some(true),
            content,
        };
        if mode == MessageMode::Payload {
            check_size(&message)?;
        }
        Ok(message)
    }

    /// The rich fields, each checked; `titles`/`bodies` are the translations by tag.
    fn rich_content(
        &self,
        titles: std::collections::BTreeMap<String, String>,
        bodies: std::collections::BTreeMap<String, String>,
        tagged: bool,
    ) -> Result<RichContent, ValidationError> {
        let actions = self.actions.as_deref().unwrap_or_default();
        if actions.len() > MAX_ACTIONS {
            return Err(ValidationError::new(
                "actions",
                format!("at most {MAX_ACTIONS} actions (browsers show two or fewer)"),
            ));
        }
        let mut stored = Vec::with_capacity(actions.len());
        for (i, action) in actions.iter().enumerate() {
            let at = |member: &str| format!("actions[{i}].{member}");
            let id = action.id.as_str();
            if !is_action_id(id) {
                return Err(ValidationError::new(
                    at("id"),
                    "an action `id` is 1 to 32 letters, digits, `_` or `-`",
                ));
            }
            // Any case: MySQL compares the stored ids without it, and a reader would too.
            if id.eq_ignore_ascii_case("default") {
                return Err(ValidationError::new(
                    at("id"),
                    "the action id `default` (in any case) is taken: it stands for a click on the notification itself",
                ));
            }
            if stored.iter().any(|a: &StoredAction| a.id == id) {
                return Err(ValidationError::new(
                    at("id"),
                    format!("the action id {id:?} appears twice"),
                ));
            }
            let title = action.title.trim();
            if title.is_empty() || title.chars().count() > 64 || action.title.chars().any(crate::domain::breaks_a_line)
            {
                return Err(ValidationError::new(
                    at("title"),
                    "an action `title` is one line of 1 to 64 characters",
                ));
            }
            stored.push(StoredAction {
                id: id.to_owned(),
                title: title.to_owned(),
                url: link(&at("url"), &action.url)?,
            });
        }
        let renotify = self.renotify.unwrap_or(false);
        if renotify && !tagged {
            return Err(ValidationError::new(
                "renotify",
                "`renotify` needs a `tag`: it alerts again when a notification with the same tag is replaced",
            ));
        }
        let dir = match self.dir.as_deref() {
            None => None,
            Some(d @ ("auto" | "ltr" | "rtl")) => Some(d.to_owned()),
            Some(_) => {
                return Err(ValidationError::new(
                    "dir",
                    "`dir` must be \"auto\", \"ltr\" or \"rtl\"",
                ))
            }
        };
        if self.app_badge.is_some_and(|n| n > MAX_APP_BADGE) {
            return Err(ValidationError::new(
                "appBadge",
                format!("`appBadge` must be at most {MAX_APP_BADGE} (2^53 - 1, the largest integer JavaScript holds exactly)"),
            ));
        }
        if let Some(data) = &self.data {
            payload::check_data(data).map_err(|e| ValidationError::new("data", e))?;
        }
        let tags = |map: std::collections::BTreeMap<String, String>| {
            map.into_iter()
                .filter_map(|(tag, text)| Some((LanguageTag::parse(&tag).ok()?, text)))
                .collect()
        };
        Ok(RichContent {
            actions: stored,
            image: link("image", &self.image)?,
            badge: link("badge", &self.badge)?,
            require_interaction: self.require_interaction.unwrap_or(false),
            silent: self.silent.unwrap_or(false),
            renotify,
            lang: self.lang.clone(),
            dir,
            app_badge: self.app_badge,
            data: self.data.clone(),
            titles: tags(titles),
            bodies: tags(bodies),
        })
    }
}

/// A title in one language: one line of 1 to 256 characters; returned trimmed.
fn check_title(field: &str, text: &str) -> Result<String, ValidationError> {
    let trimmed = text.trim();
    if trimmed.is_empty() || trimmed.chars().count() > 256 {
        return Err(ValidationError::new(
            field,
            format!("`{field}` must be 1 to 256 characters"),
        ));
    }
    // Checked before trimming too: a trailing newline or vertical tab is a control character.
    if text.chars().any(crate::domain::breaks_a_line) {
        return Err(ValidationError::new(
            field,
            format!("`{field}` must not contain control characters or line separators"),
        ));
    }
    Ok(trimmed.to_owned())
}

fn is_action_id(id: &str) -> bool {
    (1..=32).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Every language a device could get must fit in one push: each pairing of a title and a body
/// translation (a device may match the title in one language and the body in another).
fn check_size(message: &NewMessage) -> Result<(), ValidationError> {
    let content = &message.content;
    let texts = Texts::new(&message.title, message.body.as_deref(), content);
    let common = rich::Common {
        id: &message.id,
        url: message.url.as_deref(),
        tag: message.tag.as_deref(),
        icon: message.icon.as_deref(),
    };
    let mut title_tags: Vec<Option<&LanguageTag>> = vec![None];
    title_tags.extend(content.titles.keys().map(Some));
    let mut body_tags: Vec<Option<&LanguageTag>> = vec![None];
    body_tags.extend(content.bodies.keys().map(Some));
    let mut worst: Option<(usize, String)> = None;
    for t in &title_tags {
        for b in &body_tags {
            // Lookup can pair any title with any body (`en-gb` picks the title's `en-gb` and
            // the body's `en`), so every pairing is measured, not only those one list picks.
            let picked = texts.variant(*t, *b, content);
            let size = rich::encode(&common, &picked, content).len();
            if let Some(over) = payload::bytes_over_limit(size) {
                if worst.as_ref().is_none_or(|(w, _)| over > *w) {
                    let which = match (t, b) {
                        (None, None) => "in the default language".to_owned(),
                        (Some(t), Some(b)) if t == b => format!("in `{t}`"),
                        _ => format!(
                            "with the title in `{}` and the body in `{}`",
                            t.map_or("default", |t| t.as_str()),
                            b.map_or("default", |b| b.as_str())
                        ),
                    };
                    worst = Some((over, which));
                }
            }
        }
    }
    match worst {
        None => Ok(()),
        Some((over, which)) => Err(ValidationError::new(
            "body",
            format!(
                "the notification {which} is {over} bytes over the limit: a push carries at most {} bytes (as JSON, \
                 every field counted); shorten it or use \"mode\": \"tickle\"",
                payload::MAX_PAYLOAD_BYTES
            ),
        )),
    }
}

/// A link: an absolute http(s) URL or a path on the host application's origin.
fn link(name: &str, value: &Option<String>) -> Result<Option<String>, ValidationError> {
    let refuse = |message: String| Err(ValidationError::new(name, message));
    let Some(value) = value.as_deref().filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if value.chars().count() > 2048 {
        return refuse(format!("`{name}` must be at most 2048 characters"));
    }
    // The URL parser strips tabs and newlines and keeps other controls percent-encoded or raw;
    // a link is one line of visible text, so any control character is refused outright.
    if value.chars().any(char::is_control) {
        return refuse(format!("`{name}` must not contain control characters"));
    }
    // Browsers read `\` as `/`, so `/\evil.example` would leave the origin like `//evil.example`.
    if value.starts_with('/') && !value.starts_with("//") && !value.contains(['\\', ' ', '\t', '\n', '\r']) {
        return Ok(Some(value.to_owned()));
    }
    match url::Url::parse(value) {
        Ok(u) if u.scheme() == "https" || u.scheme() == "http" => Ok(Some(value.to_owned())),
        _ => refuse(format!("`{name}` must be an http(s) URL or a path starting with /")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::validation::RuleBroken;
    use serde_json::json;

    fn request(v: serde_json::Value) -> Result<NewMessage, RuleBroken> {
        let r: MessageRequest = serde_json::from_value(v).map_err(|e| RuleBroken(e.to_string()))?;
        r.validate(1_000_000, None).map_err(|e| RuleBroken(e.to_string()))
    }

    fn field_of(v: serde_json::Value) -> String {
        let r: MessageRequest = crate::domain::validation::from_json_value(v.clone()).unwrap();
        r.validate(1_000_000, None).unwrap_err().field
    }

    #[test]
    fn errors_carry_their_json_field() {
        for (v, field) in [
            (json!({"to": {"uid": 1}, "title": ""}), "title"),
            (json!({"to": {"uid": 1}, "title": "t", "icon": "ftp://x"}), "icon"),
            (json!({"to": {"uid": 1}, "title": "t", "sendAt": "soon"}), "sendAt"),
            (
                json!({"to": {"uid": 1}, "title": "t", "body": "x".repeat(5000)}),
                "body",
            ),
        ] {
            assert_eq!(field_of(v.clone()), field, "{v}");
        }
        let error = crate::domain::validation::from_json_value::<MessageRequest>(
            json!({"to": {"uids": ["1", "2", "3", ""]}, "title": "t"}),
        )
        .unwrap_err();
        assert_eq!(error.field, "to.uids[3]");
    }

    #[test]
    fn accepts_a_full_message() {
        let m = request(
            json!({"to": {"uid": 42}, "title": "Balance low", "body": "Top up", "url": "/pay",
            "ttl": 60, "urgency": "high", "topic": "balance", "mode": "tickle", "sendAt": "2100-01-01T00:00:00Z"}),
        );
        assert!(m.unwrap_err().contains("within a year"));
        let m =
            request(json!({"to": {"uid": 42}, "title": "Balance low", "url": "https://billing.example/pay"})).unwrap();
        assert_eq!(m.ttl_secs, 86_400);
        assert_eq!(m.send_at_ms, 1_000_000);
    }

    #[test]
    fn refuses_bad_fields_with_their_names() {
        for (v, field) in [
            (json!({"to": {"uid": 1}, "title": ""}), "title"),
            (json!({"to": {"uid": 1}, "title": "t", "ttl": 2_600_000}), "ttl"),
            (json!({"to": {"uid": 1}, "title": "t", "urgency": "now"}), "urgency"),
            (json!({"to": {"uid": 1}, "title": "t", "topic": "a b"}), "topic"),
            (json!({"to": {"uid": 1}, "title": "t", "mode": "loud"}), "mode"),
            (json!({"to": {"uid": 1}, "title": "t", "sendAt": "tomorrow"}), "sendAt"),
            (
                json!({"to": {"uid": 1}, "title": "t", "url": "javascript:alert(1)"}),
                "url",
            ),
            (
                json!({"to": {"uid": 1}, "title": "t", "body": "x".repeat(5000)}),
                "tickle",
            ),
        ] {
            let err = request(v.clone()).unwrap_err();
            assert!(err.contains(field), "{v}: {err}");
        }
        assert!(request(json!({"to": {"uid": 1}, "title": "t", "colour": "red"}))
            .unwrap_err()
            .contains("colour"));
        assert!(request(json!({"to": {"uid": 1}, "title": "t", "mode": "tickle", "body": "x".repeat(5000)})).is_ok());
    }

    #[test]
    fn control_characters_are_refused_in_every_one_line_field() {
        for field in ["url", "icon", "tag"] {
            for bad in [
                "/\u{0}x",
                "/\u{b}/evil",
                "/a\tb",
                "/a\nb",
                "/\u{7f}",
                "/\u{85}x",
                "https://a.example/\u{1b}[31m",
            ] {
                let err = request(json!({"to": {"uid": 1}, "title": "t", field: bad})).unwrap_err();
                assert!(err.contains(field) && err.contains("control"), "{field}={bad:?}: {err}");
            }
        }
        let err = request(json!({"to": {"uid": 1}, "title": "t", "topic": "a\u{0}"})).unwrap_err();
        assert!(err.contains("topic"), "{err}");
        // The body alone is multi-line.
        assert!(request(json!({"to": {"uid": 1}, "title": "t", "body": "line 1\n\tline 2"})).is_ok());
        assert!(request(json!({"to": {"uid": 1}, "title": "t", "body": "bell\u{7}"})).is_err());
    }
    #[test]
    fn the_size_check_measures_every_title_and_body_pairing() {
        // A device with `fr, en-GB` gets the title's `en-gb` and the body's `fr`: a pairing
        // no single language list in order (`en-gb` then `fr`) would pick for both texts.
        let message = |n: usize| {
            json!({"to": {"uid": 1},
                "title": {"default": "a", "en-gb": "\u{1F600}".repeat(256)},
                "body": {"default": "b", "en": "c", "fr": "x".repeat(n)}})
        };
        let err = request(message(3864)).unwrap_err();
        assert!(err.contains("title in `en-gb` and the body in `fr`"), "{err}");
        assert!(request(message(2000)).is_ok());
    }
    #[test]
    fn a_blank_body_translation_falls_back_to_the_default() {
        let m =
            request(json!({"to": {"uid": 1}, "title": "t", "body": {"default": "b", "uk": "   ", "en": "e"}})).unwrap();
        let languages: Vec<&str> = m.content.bodies.keys().map(|t| t.as_str()).collect();
        assert_eq!(languages, ["en"]);
    }
}
