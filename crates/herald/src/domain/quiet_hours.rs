//! Quiet hours: a daily window of the device's local time (22:00–08:00) in which pushes wait,
//! and the IANA time zone each device reports.

use super::validation::RuleBroken;
use chrono::{DateTime, Duration, LocalResult, NaiveDateTime, NaiveTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use std::fmt;

/// A daily window `[from, to)` of local time; `from > to` crosses midnight. Minutes only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    from: NaiveTime,
    to: NaiveTime,
}

impl QuietHours {
    pub fn new(from: NaiveTime, to: NaiveTime) -> Result<Self, RuleBroken> {
        if from == to {
            return Err("quiet hours must not start and end at the same time".into());
        }
        Ok(Self { from, to })
    }

    /// The server setting `HERALD_QUIET_HOURS`: `"22:00-08:00"` (an en dash works too).
    pub fn parse(text: &str) -> Result<Self, RuleBroken> {
        let (from, to) = text
            .split_once('-')
            .or_else(|| text.split_once('–'))
            .ok_or(RuleBroken(format!("quiet hours {text:?} must look like 22:00-08:00")))?;
        Self::new(parse_hhmm(from.trim())?, parse_hhmm(to.trim())?)
    }

    /// The message field `{"from": "22:00", "to": "08:00"}`.
    pub fn from_json(value: &Value) -> Result<Self, RuleBroken> {
        let object = value
            .as_object()
            .ok_or("`quietHours` must be an object such as {\"from\": \"22:00\", \"to\": \"08:00\"}")?;
        if let Some(other) = object.keys().find(|k| *k != "from" && *k != "to") {
            return Err(RuleBroken(format!(
                "`quietHours` has an unknown key {other:?}; use from and to"
            )));
        }
        let time = |key: &str| -> Result<NaiveTime, RuleBroken> {
            let text = object.get(key).and_then(Value::as_str).ok_or(RuleBroken(format!(
                "`quietHours.{key}` must be a time such as \"22:00\""
            )))?;
            parse_hhmm(text).map_err(|e| RuleBroken(format!("`quietHours.{key}`: {e}")))
        };
        Self::new(time("from")?, time("to")?).map_err(|e| RuleBroken(format!("`quietHours`: {e}")))
    }

    /// `from` and `to` in minutes after midnight, as messages store them.
    pub fn as_minutes(&self) -> (i64, i64) {
        let minutes = |t: NaiveTime| i64::from(t.hour() * 60 + t.minute());
        (minutes(self.from), minutes(self.to))
    }

    /// The window [`as_minutes`](Self::as_minutes) stored.
    pub fn from_minutes(from: i64, to: i64) -> Result<Self, RuleBroken> {
        let time = |m: i64| {
            u32::try_from(m)
                .ok()
                .and_then(|m| NaiveTime::from_hms_opt(m / 60, m % 60, 0))
                .filter(|_| m < 24 * 60)
                .ok_or(RuleBroken(format!("{m} is not a minute of the day")))
        };
        Self::new(time(from)?, time(to)?)
    }

    pub fn from(&self) -> NaiveTime {
        self.from
    }

    pub fn to(&self) -> NaiveTime {
        self.to
    }

    /// Whether local time `t` is inside the window.
    pub fn contains(&self, t: NaiveTime) -> bool {
        if self.from < self.to {
            self.from <= t && t < self.to
        } else {
            t >= self.from || t < self.to
        }
    }

    /// When a push to a device in `zone` may go: `None` when the device's local time at `now`
    /// is outside the window, otherwise the instant the window ends there. An end that falls
    /// in a spring-forward gap becomes the first local time that exists after it (the moment
    /// the clocks jump); an end that occurs twice in an autumn fold is the earlier one that is
    /// still ahead.
    pub fn held_until(&self, now: DateTime<Utc>, zone: Tz) -> Option<DateTime<Utc>> {
        let local = now.with_timezone(&zone).naive_local();
        if !self.contains(local.time()) {
            return None;
        }
        // Inside a window that crossed midnight before it: it ends tomorrow.
        let day = if self.from > self.to && local.time() >= self.from {
            local.date() + Duration::days(1)
        } else {
            local.date()
        };
        Some(first_instant_after(day.and_time(self.to), zone, now))
    }

    /// [`held_until`](Self::held_until) in Unix milliseconds, the outbox's unit.
    pub fn held_until_ms(&self, now_ms: i64, zone: Tz) -> Option<i64> {
        let now = DateTime::<Utc>::from_timestamp_millis(now_ms)?;
        self.held_until(now, zone).map(|t| t.timestamp_millis())
    }
}

/// The first instant after `now` whose local time in `zone` is `local` (of two in a fold,
/// the earlier one still ahead) or, when `local` does not exist there, the first minute after
/// it that does.
fn first_instant_after(local: NaiveDateTime, zone: Tz, now: DateTime<Utc>) -> DateTime<Utc> {
    // Gaps last an hour or so; Samoa skipped a whole day in 2011, hence two days of minutes.
    for minutes in 0..=2 * 24 * 60 {
        match zone.from_local_datetime(&(local + Duration::minutes(minutes))) {
            LocalResult::Single(t) => return t.with_timezone(&Utc),
            LocalResult::Ambiguous(first, second) => {
                let first = first.with_timezone(&Utc);
                return if first > now { first } else { second.with_timezone(&Utc) };
            }
            LocalResult::None => {}
        }
    }
    // No zone has such a gap; reading the time as UTC keeps the answer defined.
    Utc.from_utc_datetime(&local)
}

/// `HH:MM`, 00:00 to 23:59, two digits each.
fn parse_hhmm(text: &str) -> Result<NaiveTime, RuleBroken> {
    let refuse = || RuleBroken(format!("{text:?} is not a time of day such as 22:00"));
    let (h, m) = text.split_once(':').ok_or_else(refuse)?;
    if h.len() != 2 || m.len() != 2 || !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return Err(refuse());
    }
    let (h, m) = (h.parse().map_err(|_| refuse())?, m.parse().map_err(|_| refuse())?);
    NaiveTime::from_hms_opt(h, m, 0).ok_or_else(refuse)
}

impl fmt::Display for QuietHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.from.format("%H:%M"), self.to.format("%H:%M"))
    }
}

impl Serialize for QuietHours {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("from", &self.from.format("%H:%M").to_string())?;
        map.serialize_entry("to", &self.to.format("%H:%M").to_string())?;
        map.end()
    }
}

impl<'de> Deserialize<'de> for QuietHours {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::from_json(&Value::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

/// An IANA time zone name a device reported (`Europe/Kyiv`), spelled as the database does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeZoneName(Tz);

impl TimeZoneName {
    /// Longest name accepted; the longest in the database is 32 characters.
    pub const MAX_LEN: usize = 64;

    pub fn parse(text: &str) -> Result<Self, RuleBroken> {
        if text.len() > Self::MAX_LEN {
            return Err(RuleBroken(format!(
                "the time zone must be at most {} characters",
                Self::MAX_LEN
            )));
        }
        text.parse::<Tz>()
            .map(Self)
            .map_err(|_| RuleBroken(format!("{text:?} is not an IANA time zone such as Europe/Kyiv")))
    }

    pub fn tz(self) -> Tz {
        self.0
    }

    pub fn as_str(self) -> &'static str {
        self.0.name()
    }
}

impl fmt::Display for TimeZoneName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for TimeZoneName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for TimeZoneName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn minutes_round_trip() {
        let window = QuietHours::parse("22:30-08:00").unwrap();
        assert_eq!(window.as_minutes(), (1350, 480));
        assert_eq!(QuietHours::from_minutes(1350, 480).unwrap(), window);
        assert!(QuietHours::from_minutes(1440, 0).is_err());
        assert!(QuietHours::from_minutes(-1, 0).is_err());
    }

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    fn zone(name: &str) -> Tz {
        TimeZoneName::parse(name).unwrap().tz()
    }

    fn night() -> QuietHours {
        QuietHours::parse("22:00-08:00").unwrap()
    }

    #[test]
    fn parses_the_setting_and_the_json_form() {
        let q = night();
        assert_eq!(q.to_string(), "22:00-08:00");
        assert_eq!(QuietHours::parse(" 22:00 – 08:00 ").unwrap(), q);
        assert_eq!(
            QuietHours::from_json(&json!({"from": "22:00", "to": "08:00"})).unwrap(),
            q
        );
        assert_eq!(
            serde_json::to_value(q).unwrap(),
            json!({"from": "22:00", "to": "08:00"})
        );
        assert_eq!(
            serde_json::from_value::<QuietHours>(json!({"to": "08:00", "from": "22:00"})).unwrap(),
            q
        );
        assert_eq!(
            QuietHours::parse("13:30-14:45").unwrap().from(),
            NaiveTime::from_hms_opt(13, 30, 0).unwrap()
        );
    }

    #[test]
    fn refuses_bad_windows() {
        for bad in [
            "22:00",
            "22:00-22:00",
            "24:00-08:00",
            "22:60-08:00",
            "2200-0800",
            "22:0-08:00",
            "+1:00-08:00",
            "a-b",
            "",
        ] {
            assert!(QuietHours::parse(bad).is_err(), "{bad:?}");
        }
        for (bad, says) in [
            (json!({"from": "22:00"}), "quietHours.to"),
            (json!({"from": "22:00", "to": 8}), "quietHours.to"),
            (json!({"from": "8:00", "to": "09:00"}), "quietHours.from"),
            (json!({"from": "08:00", "to": "08:00"}), "same time"),
            (json!({"from": "22:00", "to": "08:00", "zone": "UTC"}), "unknown key"),
            (json!("22:00-08:00"), "object"),
        ] {
            let err = QuietHours::from_json(&bad).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn windows_with_and_without_midnight() {
        let at = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap();
        let q = night();
        assert!(q.contains(at(22, 0)) && q.contains(at(23, 59)) && q.contains(at(0, 0)) && q.contains(at(7, 59)));
        assert!(!q.contains(at(8, 0)) && !q.contains(at(12, 0)) && !q.contains(at(21, 59)));
        let lunch = QuietHours::parse("12:00-13:00").unwrap();
        assert!(lunch.contains(at(12, 30)) && !lunch.contains(at(13, 0)) && !lunch.contains(at(11, 59)));
    }

    #[test]
    fn tokyo_inside_waits_for_the_end_and_kyiv_outside_goes_now() {
        // 14:00 UTC is 23:00 in Tokyo (UTC+9) and 16:00 in Kyiv (UTC+2 in winter).
        let now = utc("2026-12-01T14:00:00Z");
        assert_eq!(
            night().held_until(now, zone("Asia/Tokyo")),
            Some(utc("2026-12-01T23:00:00Z"))
        );
        assert_eq!(night().held_until(now, zone("Europe/Kyiv")), None);
        let now_ms = now.timestamp_millis();
        assert_eq!(
            night().held_until_ms(now_ms, zone("Asia/Tokyo")),
            Some(now_ms + 9 * 3_600_000)
        );
    }

    #[test]
    fn after_midnight_the_window_ends_the_same_day() {
        // 19:30 UTC is 04:30 in Tokyo on Dec 2; the window ends at 08:00 that day.
        let now = utc("2026-12-01T19:30:00Z");
        assert_eq!(
            night().held_until(now, zone("Asia/Tokyo")),
            Some(utc("2026-12-01T23:00:00Z"))
        );
        // A window that does not cross midnight.
        let lunch = QuietHours::parse("12:00-13:00").unwrap();
        assert_eq!(
            lunch.held_until(utc("2026-12-01T12:15:00Z"), Tz::UTC),
            Some(utc("2026-12-01T13:00:00Z"))
        );
        assert_eq!(lunch.held_until(utc("2026-12-01T13:00:00Z"), Tz::UTC), None);
    }

    #[test]
    fn kyiv_on_the_spring_forward_night() {
        // 2026-03-29: 03:00 EET becomes 04:00 EEST (01:00 UTC). An end at 03:30 does not
        // exist; the push goes when the clocks jump.
        let q = QuietHours::parse("22:00-03:30").unwrap();
        let now = utc("2026-03-28T21:00:00Z"); // 23:00 EET
        assert_eq!(
            q.held_until(now, zone("Europe/Kyiv")),
            Some(utc("2026-03-29T01:00:00Z"))
        );
        // An end after the jump is read in summer time (UTC+3).
        assert_eq!(
            night().held_until(now, zone("Europe/Kyiv")),
            Some(utc("2026-03-29T05:00:00Z"))
        );
    }

    #[test]
    fn kyiv_on_the_fall_back_night() {
        // 2026-10-25: 04:00 EEST becomes 03:00 EET (01:00 UTC); 03:30 happens twice.
        let q = QuietHours::parse("22:00-03:30").unwrap();
        let now = utc("2026-10-24T20:00:00Z"); // 23:00 EEST
        assert_eq!(
            q.held_until(now, zone("Europe/Kyiv")),
            Some(utc("2026-10-25T00:30:00Z"))
        );
        // 03:10 in the repeated hour (01:10 UTC, after the first 03:30): the second 03:30.
        let late = utc("2026-10-25T01:10:00Z");
        assert_eq!(
            q.held_until(late, zone("Europe/Kyiv")),
            Some(utc("2026-10-25T01:30:00Z"))
        );
    }

    #[test]
    fn samoa_skipped_a_day() {
        // Pacific/Apia went from 2011-12-29 23:59:59 -10:00 to 2011-12-31 00:00 +14:00.
        let q = QuietHours::parse("22:00-10:00").unwrap();
        let now = utc("2011-12-30T08:30:00Z"); // 22:30 on Dec 29 in Apia
        let until = q.held_until(now, zone("Pacific/Apia")).unwrap();
        assert_eq!(until, utc("2011-12-30T10:00:00Z")); // the first local minute: Dec 31 00:00
    }

    #[test]
    fn time_zone_names() {
        assert_eq!(TimeZoneName::parse("Europe/Kyiv").unwrap().as_str(), "Europe/Kyiv");
        assert_eq!(TimeZoneName::parse("UTC").unwrap().tz(), Tz::UTC);
        assert_eq!(
            serde_json::from_value::<TimeZoneName>(json!("Asia/Tokyo"))
                .unwrap()
                .to_string(),
            "Asia/Tokyo"
        );
        for bad in ["", "Mars/Olympus", "europe/kyiv ", "Europe/Kyiv\n", &"A".repeat(65)] {
            assert!(TimeZoneName::parse(bad).is_err(), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn held_until_is_outside_the_window_and_in_the_future(
            secs in 0i64..4_000_000_000,
            from_min in 0u32..1440,
            to_min in 0u32..1440,
            zone_index in 0usize..5,
        ) {
            prop_assume!(from_min != to_min);
            let t = |m: u32| NaiveTime::from_hms_opt(m / 60, m % 60, 0).unwrap();
            let q = QuietHours::new(t(from_min), t(to_min)).unwrap();
            let zone = [Tz::Europe__Kyiv, Tz::Asia__Tokyo, Tz::America__New_York, Tz::Australia__Lord_Howe, Tz::UTC][zone_index];
            let now = Utc.timestamp_opt(secs, 0).unwrap();
            match q.held_until(now, zone) {
                None => prop_assert!(!q.contains(now.with_timezone(&zone).time())),
                Some(until) => {
                    prop_assert!(until > now, "{} {}", now, until);
                    prop_assert!(until <= now + Duration::hours(26), "{} {}", now, until);
                }
            }
        }
    }
}
