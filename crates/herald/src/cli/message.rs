//! The message flags `herald notify` and `herald reminders add` share: one clap struct,
//! flattened into both, so the two commands cannot drift apart. They build the JSON of
//! `POST /api/v1/messages` (a reminder's template is that same JSON).
//!
//! Each value is checked here first, so a refusal names the flag; the server-side rules
//! (link shapes, sizes) still run in [`crate::compose::MessageRequest::validate`].

use super::CliError;
use crate::domain::language::LanguageTag;
use crate::domain::quiet_hours::QuietHours;
use crate::domain::segment::Tag;
use crate::domain::spread::SpreadOver;
use clap::Args;
use serde_json::{json, Map, Value};

/// Who a message is for and what it says. A `--tags-*` audience stands in for
/// `--uid`/`--aid`/`--all`, so the group is not required; [`MessageArgs::to_json`] asks for
/// one of them instead.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("target").args(["uid", "aid", "all"])))]
pub struct MessageArgs {
    /// A client's id.
    #[arg(long)]
    pub uid: Option<String>,
    /// An administrator's id.
    #[arg(long)]
    pub aid: Option<String>,
    /// Everyone of a kind.
    #[arg(long, value_parser = ["clients", "admins", "everyone"])]
    pub all: Option<String>,
    #[arg(long)]
    pub title: String,
    #[arg(long)]
    pub body: Option<String>,
    #[arg(long)]
    pub url: Option<String>,
    /// Seconds the message stays deliverable (default 86400).
    #[arg(long)]
    pub ttl: Option<u64>,
    #[arg(long, value_parser = ["payload", "tickle"])]
    pub mode: Option<String>,
    #[command(flatten)]
    // Boxed: the flags make these the largest commands by far (clippy::large_enum_variant).
    pub rich: Box<RichArgs>,
}

impl MessageArgs {
    /// The message as `POST /api/v1/messages` takes it.
    pub fn to_json(&self) -> Result<Value, CliError> {
        if self.uid.is_none() && self.aid.is_none() && self.all.is_none() && !self.rich.has_tags() {
            return Err(CliError::Refused(
                "say who gets it: --uid, --aid, --all, or --tags-any/--tags-all/--tags-none".into(),
            ));
        }
        let to = match (&self.uid, &self.aid, &self.all) {
            (Some(uid), _, _) => json!({ "uid": uid }),
            (_, Some(aid), _) => json!({ "aid": aid }),
            (_, _, all) => json!({ "all": all.as_deref().unwrap_or("everyone") }),
        };
        let mut body = json!({ "to": to, "title": self.title });
        for (key, value) in [("body", &self.body), ("url", &self.url), ("mode", &self.mode)] {
            if let Some(v) = value {
                body[key] = json!(v);
            }
        }
        if let Some(ttl) = self.ttl {
            body["ttl"] = json!(ttl);
        }
        self.rich.apply(&mut body)?;
        Ok(body)
    }
}

/// The rich fields, languages and audience flags of issue 16.
#[derive(Debug, Default, Args)]
pub struct RichArgs {
    /// A button: `id,title` or `id,title,url` (the URL on your site, e.g. /pay). Split at the
    /// first two commas: the URL may hold commas, the title may not. Repeatable, up to 3.
    #[arg(long = "action", value_name = "ID,TITLE[,URL]")]
    pub actions: Vec<String>,
    /// The notification's icon (http(s) URL or /path).
    #[arg(long)]
    pub icon: Option<String>,
    /// A large picture shown in the notification (http(s) URL or /path).
    #[arg(long)]
    pub image: Option<String>,
    /// A small monochrome icon for the status bar (http(s) URL or /path).
    #[arg(long)]
    pub badge: Option<String>,
    /// A newer notification with the same tag replaces this one on the device.
    #[arg(long)]
    pub tag: Option<String>,
    /// Keep the notification on screen until the person acts on it.
    #[arg(long)]
    pub require_interaction: bool,
    /// Show it without sound or vibration.
    #[arg(long)]
    pub silent: bool,
    /// Alert again when it replaces a notification with the same --tag.
    #[arg(long)]
    pub renotify: bool,
    /// The language of the default title and body (e.g. en).
    #[arg(long)]
    pub lang: Option<String>,
    /// Text direction.
    #[arg(long, value_parser = ["auto", "ltr", "rtl"])]
    pub dir: Option<String>,
    /// The number on the app's icon (0 clears it).
    #[arg(long, value_name = "N", allow_hyphen_values = true,
          value_parser = clap::value_parser!(u64).range(..=crate::compose::MAX_APP_BADGE))]
    pub app_badge: Option<u64>,
    /// Your own JSON object handed to the page (at most 1 KB).
    #[arg(long, value_name = "JSON")]
    pub data: Option<String>,
    /// The title in another language: `uk=Світло вимкнуть`. Repeatable; --title is the default.
    #[arg(long = "title-lang", value_name = "LANG=TEXT")]
    pub title_langs: Vec<String>,
    /// The body in another language: `uk=…`. Repeatable; needs --body as the default.
    #[arg(long = "body-lang", value_name = "LANG=TEXT")]
    pub body_langs: Vec<String>,
    /// Devices with at least one of these tags (comma-separated).
    #[arg(long, value_name = "TAGS", conflicts_with_all = ["uid", "aid", "all"])]
    pub tags_any: Option<String>,
    /// Devices with every one of these tags.
    #[arg(long, value_name = "TAGS", conflicts_with_all = ["uid", "aid", "all"])]
    pub tags_all: Option<String>,
    /// Devices with none of these tags.
    #[arg(long, value_name = "TAGS", conflicts_with_all = ["uid", "aid", "all"])]
    pub tags_none: Option<String>,
    /// With a --tags-* audience: only clients, only administrators, or everyone (default).
    #[arg(long, value_parser = ["clients", "admins", "everyone"])]
    pub kind: Option<String>,
    /// Pace the pushes evenly over this long: 90, 90s, 30m, 2h (at most 24h).
    #[arg(long, value_name = "DURATION")]
    pub spread_over: Option<String>,
    /// Hold pushes for devices whose local time is inside this window: 22:00-08:00.
    #[arg(long, value_name = "FROM-TO", conflicts_with = "ignore_quiet_hours")]
    pub quiet_hours: Option<String>,
    /// Send at once even where the server's quiet hours (HERALD_QUIET_HOURS) hold pushes.
    #[arg(long)]
    pub ignore_quiet_hours: bool,
}

/// Most buttons a message carries (browsers show two or three).
const MAX_ACTIONS: usize = crate::domain::rich::MAX_ACTIONS;

impl RichArgs {
    fn has_tags(&self) -> bool {
        self.tags_any.is_some() || self.tags_all.is_some() || self.tags_none.is_some()
    }

    /// Adds these flags to the message JSON; a tag audience replaces its `to`.
    fn apply(&self, body: &mut Value) -> Result<(), CliError> {
        if !self.actions.is_empty() {
            if self.actions.len() > MAX_ACTIONS {
                return Err(CliError::flag("--action", format!("at most {MAX_ACTIONS} buttons")));
            }
            let actions = self.actions.iter().map(|a| action(a)).collect::<Result<Vec<_>, _>>()?;
            body["actions"] = Value::Array(actions);
        }
        for (key, value) in [
            ("icon", &self.icon),
            ("image", &self.image),
            ("badge", &self.badge),
            ("tag", &self.tag),
        ] {
            if let Some(v) = value {
                body[key] = json!(v);
            }
        }
        if self.renotify && self.tag.as_deref().is_none_or(|t| t.trim().is_empty()) {
            return Err(CliError::flag(
                "--renotify",
                "needs --tag: it alerts again when a newer notification with the same tag replaces one",
            ));
        }
        for (key, on) in [
            ("requireInteraction", self.require_interaction),
            ("silent", self.silent),
            ("renotify", self.renotify),
            ("ignoreQuietHours", self.ignore_quiet_hours),
        ] {
            if on {
                body[key] = json!(true);
            }
        }
        if let Some(lang) = &self.lang {
            let tag = LanguageTag::parse(lang).map_err(|e| CliError::flag("--lang", e))?;
            body["lang"] = json!(tag.as_str());
        }
        if let Some(dir) = &self.dir {
            body["dir"] = json!(dir);
        }
        if let Some(n) = self.app_badge {
            body["appBadge"] = json!(n);
        }
        if let Some(text) = &self.data {
            let data: Value =
                serde_json::from_str(text).map_err(|e| CliError::flag("--data", format!("not JSON: {e}")))?;
            crate::domain::payload::check_data(&data).map_err(|e| CliError::flag("--data", e))?;
            body["data"] = data;
        }
        localized(body, "title", "--title-lang", &self.title_langs)?;
        localized(body, "body", "--body-lang", &self.body_langs)?;
        if self.has_tags() {
            let mut tags = Map::new();
            for (key, flag, value) in [
                ("any", "--tags-any", &self.tags_any),
                ("all", "--tags-all", &self.tags_all),
                ("none", "--tags-none", &self.tags_none),
            ] {
                if let Some(list) = value {
                    tags.insert(key.into(), json!(tag_list(flag, list)?));
                }
            }
            let mut to = json!({ "tags": tags });
            if let Some(kind) = &self.kind {
                to["kind"] = json!(kind);
            }
            body["to"] = to;
        } else if self.kind.is_some() {
            return Err(CliError::flag(
                "--kind",
                "goes with --tags-any, --tags-all or --tags-none",
            ));
        }
        if let Some(text) = &self.spread_over {
            let spread = SpreadOver::parse(text).map_err(|e| CliError::flag("--spread-over", e))?;
            body["spreadOver"] = json!(spread.secs());
        }
        if let Some(text) = &self.quiet_hours {
            let window = QuietHours::parse(text).map_err(|e| CliError::flag("--quiet-hours", e))?;
            body["quietHours"] = json!(window);
        }
        Ok(())
    }
}

/// `id,title` or `id,title,url`, split at the first two commas only: a URL may hold commas
/// and colons (`/pay?ids=1,2`, `https://…`), so everything after the second comma is the URL.
/// The URL must be what the server takes for a button: a path on the host's site or an
/// http(s) URL (`mailto:` and `javascript:` are refused).
fn action(text: &str) -> Result<Value, CliError> {
    let shape = |why: &str| {
        CliError::flag(
            "--action",
            format!("{text:?}: {why}; the form is ID,TITLE or ID,TITLE,URL"),
        )
    };
    let Some((id, rest)) = text.split_once(',') else {
        return Err(shape(if text.contains(':') {
            "parts are separated by commas, not colons"
        } else {
            "no title"
        }));
    };
    let (title, url) = match rest.split_once(',') {
        Some((title, url)) => (title, Some(url.trim())),
        None => (rest, None),
    };
    let (id, title) = (id.trim(), title.trim());
    if id.is_empty() {
        return Err(shape("the id is empty"));
    }
    if title.is_empty() {
        return Err(shape("the title is empty"));
    }
    let mut button = json!({ "id": id, "title": title });
    if let Some(url) = url {
        if url.is_empty() {
            return Err(shape("the URL after the second comma is empty"));
        }
        if !is_link(url) {
            return Err(CliError::flag(
                "--action",
                format!(
                    "{text:?}: the button's URL {url:?} must be a path on your site (/pay) or an http(s) URL; \
                     a title cannot hold a comma (the part after the second comma is the URL)"
                ),
            ));
        }
        button["url"] = json!(url);
    }
    Ok(button)
}

/// The link shapes the server takes for a button (see `compose::link`): a path starting with
/// a single `/`, or an absolute http(s) URL.
fn is_link(url: &str) -> bool {
    if url.starts_with('/') {
        return !url.starts_with("//") && !url.contains(['\\', ' ']);
    }
    url::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
}

/// Turns `body[field]` into `{"default": …, "<lang>": …}` when `--title-lang`/`--body-lang`
/// name other languages.
fn localized(body: &mut Value, field: &str, flag: &'static str, entries: &[String]) -> Result<(), CliError> {
    if entries.is_empty() {
        return Ok(());
    }
    let Some(default) = body.get(field).cloned() else {
        return Err(CliError::flag(
            flag,
            format!("needs --{field}: the text for every other language"),
        ));
    };
    let mut texts = Map::new();
    texts.insert("default".into(), default);
    for entry in entries {
        let (lang, text) = entry
            .split_once('=')
            .ok_or_else(|| CliError::flag(flag, format!("{entry:?} must be LANG=TEXT, e.g. uk=…")))?;
        let tag = LanguageTag::parse(lang.trim()).map_err(|e| CliError::flag(flag, e))?;
        if texts.insert(tag.as_str().into(), json!(text)).is_some() {
            return Err(CliError::flag(flag, format!("{:?} is given twice", tag.as_str())));
        }
    }
    body[field] = Value::Object(texts);
    Ok(())
}

/// A comma-separated list of segment tags, checked and lowercased.
pub fn tag_list(flag: &'static str, list: &str) -> Result<Vec<String>, CliError> {
    let tags: Vec<&str> = list.split(',').map(str::trim).filter(|t| !t.is_empty()).collect();
    if tags.is_empty() {
        return Err(CliError::flag(flag, "name at least one tag, e.g. district:12"));
    }
    Ok(Tag::parse_list(&tags)
        .map_err(|e| CliError::flag(flag, e))?
        .iter()
        .map(|t| t.as_str().to_owned())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn notify(flags: &[&str]) -> Result<Value, String> {
        let argv = ["herald", "notify", "--title", "Outage"].iter().chain(flags);
        let cli = Cli::try_parse_from(argv).map_err(|e| e.to_string())?;
        let Command::Notify(args) = cli.command else {
            panic!("not notify")
        };
        args.message.to_json().map_err(|e| e.to_string())
    }

    /// `reminders add` with the same flags and a schedule: the message part of its JSON.
    fn reminder(flags: &[&str]) -> Result<Value, String> {
        let argv = ["herald", "reminders", "add", "--title", "Outage", "--daily", "09:00"]
            .iter()
            .chain(flags);
        let cli = Cli::try_parse_from(argv).map_err(|e| e.to_string())?;
        let Command::Reminders(crate::cli::reminders::RemindersCommand::Add(args)) = cli.command else {
            panic!("not reminders add")
        };
        args.message.to_json().map_err(|e| e.to_string())
    }

    #[test]
    fn app_badge_takes_what_javascript_holds_exactly() {
        let largest = crate::compose::MAX_APP_BADGE.to_string();
        let body = notify(&["--uid", "1", "--app-badge", &largest]).unwrap();
        assert_eq!(body["appBadge"], crate::compose::MAX_APP_BADGE);
        let too_big = (crate::compose::MAX_APP_BADGE + 1).to_string();
        for bad in [too_big.as_str(), "-1", "many"] {
            let err = notify(&["--uid", "1", "--app-badge", bad]).unwrap_err();
            assert!(err.contains("--app-badge"), "{bad}: {err}");
        }
    }

    #[test]
    fn rich_fields_build_the_api_shapes() {
        let body = notify(&[
            "--uid",
            "42",
            "--body",
            "Tonight",
            "--action",
            "pay,Pay now,/pay",
            "--action",
            "later,Later",
            "--image",
            "/img/map.png",
            "--badge",
            "/b.png",
            "--require-interaction",
            "--silent",
            "--renotify",
            "--tag",
            "balance",
            "--icon",
            "/i.png",
            "--lang",
            "en-GB",
            "--dir",
            "ltr",
            "--app-badge",
            "3",
            "--data",
            r#"{"street":"Main"}"#,
        ])
        .unwrap();
        assert_eq!(
            body,
            json!({
                "to": {"uid": "42"}, "title": "Outage", "body": "Tonight",
                "actions": [{"id": "pay", "title": "Pay now", "url": "/pay"}, {"id": "later", "title": "Later"}],
                "image": "/img/map.png", "badge": "/b.png", "icon": "/i.png", "tag": "balance",
                "requireInteraction": true, "silent": true,
                "renotify": true, "lang": "en-gb", "dir": "ltr", "appBadge": 3, "data": {"street": "Main"}
            })
        );
    }

    #[test]
    fn languages_become_maps_with_the_default() {
        let body = notify(&[
            "--all",
            "clients",
            "--body",
            "Tonight",
            "--title-lang",
            "uk=Аварія",
            "--title-lang",
            "de=Störung",
            "--body-lang",
            "uk=Сьогодні",
        ])
        .unwrap();
        assert_eq!(
            body["title"],
            json!({"default": "Outage", "uk": "Аварія", "de": "Störung"})
        );
        assert_eq!(body["body"], json!({"default": "Tonight", "uk": "Сьогодні"}));
    }

    #[test]
    fn tags_spread_and_quiet_hours() {
        let body = notify(&[
            "--tags-any",
            "district:12,District:13",
            "--tags-none",
            "vip",
            "--kind",
            "clients",
            "--spread-over",
            "30m",
            "--quiet-hours",
            "22:00-08:00",
        ])
        .unwrap();
        assert_eq!(
            body["to"],
            json!({"tags": {"any": ["district:12", "district:13"], "none": ["vip"]}, "kind": "clients"})
        );
        assert_eq!(body["spreadOver"], json!(1800));
        assert_eq!(body["quietHours"], json!({"from": "22:00", "to": "08:00"}));
        let body = notify(&["--tags-all", "a,b", "--ignore-quiet-hours"]).unwrap();
        assert_eq!(body["to"], json!({"tags": {"all": ["a", "b"]}}));
        assert_eq!(body["ignoreQuietHours"], json!(true));
    }

    #[test]
    fn each_bad_value_names_its_flag() {
        for (flags, flag) in [
            (&["--uid", "1", "--action", "pay"][..], "--action"),
            (&["--uid", "1", "--action", ",Pay"], "--action"),
            (
                &[
                    "--uid", "1", "--action", "a,A", "--action", "b,B", "--action", "c,C", "--action", "d,D",
                ],
                "--action",
            ),
            (&["--uid", "1", "--action", "pay:Pay now:mailto:a@b"], "--action"),
            (&["--uid", "1", "--action", "pay,Pay now,mailto:a@b"], "--action"),
            (
                &["--uid", "1", "--action", "pay,Pay now,javascript:alert(1)"],
                "--action",
            ),
            (&["--uid", "1", "--action", "pay,Pay, now,/pay"], "--action"),
            (&["--uid", "1", "--action", "pay,Pay now,"], "--action"),
            (&["--uid", "1", "--action", "pay,,/pay"], "--action"),
            (&["--uid", "1", "--action", "pay,Pay,//evil.example/"], "--action"),
            (&["--uid", "1", "--renotify"], "--renotify"),
            (&["--uid", "1", "--renotify", "--tag", " "], "--renotify"),
            (&["--uid", "1", "--lang", "not a tag"], "--lang"),
            (&["--uid", "1", "--dir", "up"], "--dir"),
            (&["--uid", "1", "--app-badge=-1"], "--app-badge"),
            (&["--uid", "1", "--data", "{nope"], "--data"),
            (&["--uid", "1", "--data", "[1]"], "--data"),
            (&["--uid", "1", "--title-lang", "uk"], "--title-lang"),
            (&["--uid", "1", "--title-lang", "u k=x"], "--title-lang"),
            (
                &["--uid", "1", "--title-lang", "uk=a", "--title-lang", "UK=b"],
                "--title-lang",
            ),
            (&["--uid", "1", "--body-lang", "uk=a"], "--body-lang"),
            (&["--tags-any", "bad tag!"], "--tags-any"),
            (&["--tags-all", ","], "--tags-all"),
            (&["--tags-none", "x", "--uid", "1"], "--tags-none"),
            (&["--uid", "1", "--kind", "clients"], "--kind"),
            (&["--tags-any", "a", "--kind", "robots"], "--kind"),
            (&["--uid", "1", "--spread-over", "2d"], "--spread-over"),
            (&["--uid", "1", "--spread-over", "25h"], "--spread-over"),
            (&["--uid", "1", "--quiet-hours", "22-08"], "--quiet-hours"),
            (
                &["--uid", "1", "--quiet-hours", "22:00-08:00", "--ignore-quiet-hours"],
                "--quiet-hours",
            ),
        ] {
            let error = notify(flags).expect_err(&format!("{flags:?} was accepted"));
            assert!(error.contains(flag), "{flags:?}: {error}");
        }
        let error = notify(&["--body", "x"]).unwrap_err();
        assert!(error.contains("--uid") && error.contains("--tags-any"), "{error}");
    }

    #[test]
    fn an_action_splits_at_the_first_two_commas_only() {
        let body = notify(&[
            "--uid",
            "1",
            "--action",
            "pay,Pay now,https://isp.example/pay?ids=1,2&to=a:b",
            "--action",
            " later , Later ,/remind?at=09:00 ",
        ])
        .unwrap();
        assert_eq!(
            body["actions"],
            json!([
                {"id": "pay", "title": "Pay now", "url": "https://isp.example/pay?ids=1,2&to=a:b"},
                {"id": "later", "title": "Later", "url": "/remind?at=09:00"}
            ])
        );
        let error = notify(&["--uid", "1", "--action", "pay:Pay now:mailto:a@b"]).unwrap_err();
        assert!(error.contains("commas, not colons"), "{error}");
        let error = notify(&["--uid", "1", "--action", "pay,Pay now,mailto:a@b"]).unwrap_err();
        assert!(
            error.contains("\"mailto:a@b\"") && error.contains("http(s) URL"),
            "{error}"
        );
    }

    #[test]
    fn reminders_add_takes_the_same_flags_as_notify() {
        let flags = [
            "--tags-any",
            "district:12",
            "--kind",
            "clients",
            "--body",
            "Tonight",
            "--body-lang",
            "uk=Сьогодні",
            "--action",
            "pay,Pay now,/pay",
            "--image",
            "/img.png",
            "--tag",
            "outage",
            "--renotify",
            "--app-badge",
            "2",
            "--data",
            r#"{"a":1}"#,
            "--spread-over",
            "10m",
            "--quiet-hours",
            "22:00-08:00",
        ];
        let from_notify = notify(&flags).unwrap();
        assert_eq!(reminder(&flags).unwrap(), from_notify);
        assert_eq!(
            from_notify["to"],
            json!({"tags": {"any": ["district:12"]}, "kind": "clients"})
        );
        assert_eq!(from_notify["renotify"], json!(true));
        let error = reminder(&["--uid", "1", "--renotify"]).unwrap_err();
        assert!(error.contains("--renotify") && error.contains("--tag"), "{error}");
        let error = reminder(&["--body", "x"]).unwrap_err();
        assert!(error.contains("--uid") && error.contains("--tags-any"), "{error}");
    }
}
