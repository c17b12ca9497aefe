//! Reminder schedules: once, daily, weekly or a cron expression, in an IANA time zone.
//!
//! Every repeating form is evaluated as a cron pattern in the reminder's zone, so "daily at
//! 09:00 in Europe/Kyiv" stays 09:00 local across daylight-saving changes. A time that falls
//! in a spring-forward gap fires at the first valid instant after it; a time that occurs twice
//! in an autumn fold fires once.

use crate::domain::validation::from_json_value;
use crate::domain::ValidationError;
use crate::storage::reminders::ReminderRecord;
use chrono::{DateTime, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;
use serde::de::{self, Deserializer, MapAccess};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::fmt;
use std::str::FromStr;

/// A validated schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    kind: Kind,
    pub zone: Tz,
}

#[derive(Debug, Clone)]
enum Kind {
    Once(i64),
    Repeating { cron: Box<Cron>, json: Value },
}

const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// A schedule as a request states it: `{"at": time}`, `{"daily": "HH:MM"}`,
/// `{"weekly": {"days": [...], "time": "HH:MM"}}` or `{"cron": pattern}` (five fields
/// `m h dom mon dow`, six with seconds first, seven with a year last, or a nickname like
/// `@daily`). Exactly one key; the time zone travels beside it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleSpec {
    At(String),
    Daily(TimeOfDay),
    Weekly(Weekly),
    Cron(CronPattern),
}

impl<'de> Deserialize<'de> for ScheduleSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> de::Visitor<'de> for Visitor {
            type Value = ScheduleSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object such as {\"daily\": \"09:00\"}")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ScheduleSpec, A::Error> {
                const ONE_KEY: &str = "`schedule` must have exactly one of at, daily, weekly, cron";
                let Some(key) = map.next_key::<String>()? else {
                    return Err(de::Error::custom(ONE_KEY));
                };
                let spec = match key.as_str() {
                    "at" => ScheduleSpec::At(map.next_value()?),
                    "daily" => ScheduleSpec::Daily(map.next_value()?),
                    "weekly" => ScheduleSpec::Weekly(map.next_value()?),
                    "cron" => ScheduleSpec::Cron(map.next_value()?),
                    other => return Err(de::Error::custom(format!("`schedule` has an unknown key {other:?}"))),
                };
                if map.next_key::<de::IgnoredAny>()?.is_some() {
                    return Err(de::Error::custom(ONE_KEY));
                }
                Ok(spec)
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

/// `"HH:MM"`, a time of day.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct TimeOfDay {
    text: String,
    hour: u32,
    minute: u32,
}

impl TryFrom<String> for TimeOfDay {
    type Error = ValidationError;

    fn try_from(text: String) -> Result<Self, ValidationError> {
        use chrono::Timelike;
        let time = NaiveTime::parse_from_str(&text, "%H:%M")
            .map_err(|_| ValidationError::new("", format!("{text:?} is not a time of day like 09:00")))?;
        Ok(Self {
            hour: time.hour(),
            minute: time.minute(),
            text,
        })
    }
}

impl From<TimeOfDay> for String {
    fn from(time: TimeOfDay) -> String {
        time.text
    }
}

/// `{"days": ["mon", "friday"], "time": "HH:MM"}`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Weekly {
    pub days: Weekdays,
    pub time: TimeOfDay,
}

/// At least one weekday.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(try_from = "Vec<Weekday>")]
pub struct Weekdays(Vec<Weekday>);

impl TryFrom<Vec<Weekday>> for Weekdays {
    type Error = ValidationError;

    fn try_from(days: Vec<Weekday>) -> Result<Self, ValidationError> {
        if days.is_empty() {
            return Err(ValidationError::new(
                "",
                "`schedule.weekly.days` must list days such as [\"mon\"]",
            ));
        }
        Ok(Self(days))
    }
}

/// `mon` or `monday` (any case): the text as given and its cron number (Sunday is 0).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct Weekday {
    text: String,
    number: usize,
}

impl TryFrom<String> for Weekday {
    type Error = ValidationError;

    fn try_from(text: String) -> Result<Self, ValidationError> {
        let name = text.to_ascii_lowercase();
        let number = DAYS
            .iter()
            .position(|d| name == *d || name == full_day_name(d))
            .ok_or_else(|| ValidationError::new("", format!("{text:?} is not a weekday")))?;
        Ok(Self { text, number })
    }
}

impl From<Weekday> for String {
    fn from(day: Weekday) -> String {
        day.text
    }
}

/// A cron pattern croner accepts, at most 200 bytes.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct CronPattern(String);

impl TryFrom<String> for CronPattern {
    type Error = ValidationError;

    fn try_from(pattern: String) -> Result<Self, ValidationError> {
        if pattern.len() > 200 {
            return Err(ValidationError::new("", "`schedule.cron` is too long"));
        }
        cron(&pattern)?;
        Ok(Self(pattern))
    }
}

impl From<CronPattern> for String {
    fn from(pattern: CronPattern) -> String {
        pattern.0
    }
}

impl Schedule {
    /// Parses a stored or requested schedule (see [`ScheduleSpec`]) in time zone `zone`
    /// (default UTC).
    pub fn parse(value: &Value, zone: Option<&str>) -> Result<Self, ValidationError> {
        let spec: ScheduleSpec = from_json_value(value.clone()).map_err(|e| e.under("schedule"))?;
        Self::new(&spec, zone)
    }

    /// A schedule from its request form, in time zone `zone` (default UTC).
    pub fn new(spec: &ScheduleSpec, zone: Option<&str>) -> Result<Self, ValidationError> {
        let zone: Tz = match zone {
            Some(z) => z.parse().map_err(|_| {
                ValidationError::new(
                    "timezone",
                    format!("`timezone` {z:?} is not an IANA time zone such as Europe/Kyiv"),
                )
            })?,
            None => Tz::UTC,
        };
        let json = serde_json::to_value(spec).unwrap_or_default();
        let kind = match spec {
            ScheduleSpec::At(text) => Kind::Once(parse_at(text, zone)?),
            ScheduleSpec::Daily(time) => repeating(&format!("{} {} * * *", time.minute, time.hour), json)?,
            ScheduleSpec::Weekly(Weekly { days, time }) => {
                let numbers: Vec<String> = days.0.iter().map(|d| d.number.to_string()).collect();
                repeating(
                    &format!("{} {} * * {}", time.minute, time.hour, numbers.join(",")),
                    json,
                )?
            }
            ScheduleSpec::Cron(pattern) => repeating(&pattern.0, json)?,
        };
        Ok(Self { kind, zone })
    }

    /// The first firing strictly after `after_ms`, or `None` when a one-off is past.
    pub fn next_after(&self, after_ms: i64) -> Option<i64> {
        match &self.kind {
            Kind::Once(at) => (*at > after_ms).then_some(*at),
            Kind::Repeating { cron, .. } => {
                let after = self
                    .zone
                    .from_utc_datetime(&DateTime::<Utc>::from_timestamp_millis(after_ms)?.naive_utc());
                cron.find_next_occurrence(&after, false)
                    .ok()
                    .map(|t| t.timestamp_millis())
            }
        }
    }

    /// The JSON form to store and show.
    pub fn to_json(&self) -> Value {
        match &self.kind {
            Kind::Once(at) => json!({ "at": crate::clock::rfc3339(*at) }),
            Kind::Repeating { json, .. } => json.clone(),
        }
    }

    pub fn is_repeating(&self) -> bool {
        matches!(self.kind, Kind::Repeating { .. })
    }
}

fn full_day_name(short: &str) -> &'static str {
    match short {
        "sun" => "sunday",
        "mon" => "monday",
        "tue" => "tuesday",
        "wed" => "wednesday",
        "thu" => "thursday",
        "fri" => "friday",
        _ => "saturday",
    }
}

fn cron(pattern: &str) -> Result<Cron, ValidationError> {
    Cron::from_str(pattern).map_err(|e| {
        ValidationError::new(
            "schedule",
            format!("`schedule`: {pattern:?} is not a valid cron pattern: {e}"),
        )
    })
}

fn repeating(pattern: &str, json: Value) -> Result<Kind, ValidationError> {
    Ok(Kind::Repeating {
        cron: Box::new(cron(pattern)?),
        json,
    })
}

/// An RFC 3339 time, or a local date-time (`2026-12-01T09:00:00`) read in `zone`.
fn parse_at(text: &str, zone: Tz) -> Result<i64, ValidationError> {
    let refuse = |message: String| ValidationError::new("schedule.at", message);
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.timestamp_millis());
    }
    let local = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M"))
        .map_err(|_| {
            refuse(format!(
                "`schedule.at` {text:?} is not a time such as 2026-12-01T09:00:00"
            ))
        })?;
    match zone.from_local_datetime(&local) {
        chrono::LocalResult::Single(t) => Ok(t.timestamp_millis()),
        chrono::LocalResult::Ambiguous(first, _) => Ok(first.timestamp_millis()),
        // In a spring-forward gap: the same wall-clock reading one hour later.
        chrono::LocalResult::None => zone
            .from_local_datetime(&(local + chrono::Duration::hours(1)))
            .earliest()
            .map(|t| t.timestamp_millis())
            .ok_or_else(|| refuse(format!("`schedule.at` {text:?} does not exist in {zone}"))),
    }
}

/// A reminder as the API and CLI describe it: message fields plus `schedule`, `timezone`
/// and `paused`. For updates every field is optional and replaces the stored one.
#[derive(Debug, Deserialize)]
pub struct ReminderInput {
    /// The message fields, checked as a message when the reminder is saved.
    #[serde(flatten)]
    pub template: serde_json::Map<String, Value>,
    #[serde(default, deserialize_with = "present")]
    pub schedule: Option<ScheduleSpec>,
    #[serde(default, deserialize_with = "present")]
    pub timezone: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub paused: Option<bool>,
}

/// A field a reminder always has: absent leaves it as it is, but `null` cannot remove it, so
/// `null` is refused like any other wrong type.
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(value: D) -> Result<Option<T>, D::Error> {
    T::deserialize(value).map(Some)
}

impl ReminderInput {
    fn check_template(&self) -> Result<(), ValidationError> {
        if self.template.contains_key("sendAt") {
            return Err(ValidationError::new(
                "sendAt",
                "`sendAt` is not a reminder field; use `schedule`",
            ));
        }
        Ok(())
    }
}

/// Checks a template by validating the message it would create.
pub fn validate_template(
    template: &serde_json::Map<String, Value>,
    now_ms: i64,
    server_quiet_hours: Option<crate::domain::quiet_hours::QuietHours>,
) -> Result<crate::storage::messages::NewMessage, ValidationError> {
    let request: crate::compose::MessageRequest = from_json_value(Value::Object(template.clone()))?;
    request.validate(now_ms, server_quiet_hours)
}

/// A new reminder record from an input, with its first firing computed.
pub fn new_record(input: ReminderInput, now_ms: i64) -> Result<ReminderRecord, ValidationError> {
    input.check_template()?;
    let schedule = input
        .schedule
        .ok_or_else(|| ValidationError::new("schedule", "`schedule` is required"))?;
    let mut record = ReminderRecord {
        id: crate::secrets::random_id(),
        template: Value::Object(input.template),
        schedule: serde_json::to_value(&schedule).unwrap_or_default(),
        timezone: input.timezone.unwrap_or_else(|| "UTC".into()),
        paused: input.paused.unwrap_or(false),
        next_fire_at: None,
        last_fired_at: None,
        last_message_id: None,
        fired: 0,
        created_at: now_ms,
    };
    settle(&mut record, now_ms)?;
    Ok(record)
}

/// Applies an update: given message fields replace the stored ones (`null` removes one);
/// schedule, zone and pause state replace theirs. The next firing is recomputed from now,
/// so occurrences missed while paused do not fire.
pub fn apply_update(record: &mut ReminderRecord, input: ReminderInput, now_ms: i64) -> Result<(), ValidationError> {
    input.check_template()?;
    let mut template = record.template.as_object().cloned().unwrap_or_default();
    for (key, value) in input.template {
        if value.is_null() {
            template.remove(&key);
        } else {
            template.insert(key, value);
        }
    }
    record.template = Value::Object(template);
    if let Some(schedule) = input.schedule {
        record.schedule = serde_json::to_value(&schedule).unwrap_or_default();
    }
    if let Some(zone) = input.timezone {
        record.timezone = zone;
    }
    if let Some(paused) = input.paused {
        record.paused = paused;
    }
    settle(record, now_ms)
}

fn settle(record: &mut ReminderRecord, now_ms: i64) -> Result<(), ValidationError> {
    let template = record.template.as_object().cloned().unwrap_or_default();
    validate_template(&template, now_ms, None)?;
    let schedule = Schedule::parse(&record.schedule, Some(&record.timezone))?;
    record.schedule = schedule.to_json();
    record.next_fire_at = schedule.next_after(now_ms);
    if record.next_fire_at.is_none() && !record.paused {
        return Err(match schedule.kind {
            Kind::Once(_) => ValidationError::new("schedule.at", "`schedule.at` is in the past"),
            // Daily and weekly times always come again: only a pattern can run out.
            Kind::Repeating { .. } => ValidationError::new(
                "schedule.cron",
                "the pattern never matches a time from now on (a date that does not exist, or a year gone by)",
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> i64 {
        DateTime::parse_from_rfc3339(text).unwrap().timestamp_millis()
    }

    fn iso(ms: i64) -> String {
        DateTime::<Utc>::from_timestamp_millis(ms).unwrap().to_rfc3339()
    }

    #[test]
    fn a_schedule_that_never_fires_names_its_field() {
        let now = utc("2026-12-01T00:00:00Z");
        for (schedule, field) in [
            (serde_json::json!({"cron": "0 0 30 2 *"}), "schedule.cron"),
            (serde_json::json!({"at": "2020-01-01T00:00:00Z"}), "schedule.at"),
        ] {
            let input: ReminderInput =
                serde_json::from_value(serde_json::json!({"to": {"aid": 1}, "title": "t", "schedule": schedule}))
                    .unwrap();
            let error = new_record(input, now).unwrap_err();
            assert_eq!(error.field, field, "{error:?}");
        }
    }

    #[test]
    fn daily_keeps_local_time_across_kyiv_dst() {
        // Kyiv moves from UTC+2 to UTC+3 on 2026-03-29 and back on 2026-10-25.
        let s = Schedule::parse(&json!({"daily": "09:00"}), Some("Europe/Kyiv")).unwrap();
        let mut t = utc("2026-03-27T12:00:00Z");
        let mut fired = Vec::new();
        for _ in 0..4 {
            t = s.next_after(t).unwrap();
            fired.push(iso(t));
        }
        assert_eq!(
            fired,
            [
                "2026-03-28T07:00:00+00:00",
                "2026-03-29T06:00:00+00:00",
                "2026-03-30T06:00:00+00:00",
                "2026-03-31T06:00:00+00:00"
            ]
        );
        let mut t = utc("2026-10-23T12:00:00Z");
        let mut fired = Vec::new();
        for _ in 0..3 {
            t = s.next_after(t).unwrap();
            fired.push(iso(t));
        }
        assert_eq!(
            fired,
            [
                "2026-10-24T06:00:00+00:00",
                "2026-10-25T07:00:00+00:00",
                "2026-10-26T07:00:00+00:00"
            ]
        );
    }

    #[test]
    fn gap_and_fold_fire_exactly_once_per_day() {
        // 03:30 does not exist in Kyiv on 2026-03-29 and happens twice on 2026-10-25.
        let s = Schedule::parse(&json!({"daily": "03:30"}), Some("Europe/Kyiv")).unwrap();
        let mut t = utc("2026-03-28T12:00:00Z");
        let mut days = Vec::new();
        for _ in 0..2 {
            t = s.next_after(t).unwrap();
            days.push(iso(t));
        }
        assert_eq!(days.len(), 2);
        assert!(days[0].starts_with("2026-03-29"), "the gap day still fires: {days:?}");
        assert!(days[1].starts_with("2026-03-30T00:30"), "{days:?}");
        let mut t = utc("2026-10-24T12:00:00Z");
        let first = s.next_after(t).unwrap();
        t = first;
        let second = s.next_after(t).unwrap();
        assert_eq!(iso(first), "2026-10-25T00:30:00+00:00", "the first of the two 03:30s");
        assert!(
            iso(second).starts_with("2026-10-26"),
            "not again in the fold: {}",
            iso(second)
        );
    }

    #[test]
    fn weekly_cron_and_once() {
        let s = Schedule::parse(
            &json!({"weekly": {"days": ["mon", "fri"], "time": "08:15"}}),
            Some("UTC"),
        )
        .unwrap();
        // 2026-11-29 is a Sunday.
        let next = s.next_after(utc("2026-11-29T12:00:00Z")).unwrap();
        assert_eq!(iso(next), "2026-11-30T08:15:00+00:00");
        assert_eq!(iso(s.next_after(next).unwrap()), "2026-12-04T08:15:00+00:00");
        let c = Schedule::parse(&json!({"cron": "0 2 * * *"}), None).unwrap();
        assert_eq!(
            iso(c.next_after(utc("2026-11-29T12:00:00Z")).unwrap()),
            "2026-11-30T02:00:00+00:00"
        );
        let once = Schedule::parse(&json!({"at": "2026-12-01T09:00:00"}), Some("Europe/Kyiv")).unwrap();
        assert_eq!(
            once.next_after(utc("2026-11-29T00:00:00Z")),
            Some(utc("2026-12-01T07:00:00Z"))
        );
        assert_eq!(once.next_after(utc("2026-12-02T00:00:00Z")), None);
    }

    #[test]
    fn bad_schedules_name_the_problem() {
        for (v, zone) in [
            (json!({"daily": "25:00"}), None),
            (json!({"weekly": {"days": ["someday"], "time": "09:00"}}), None),
            (json!({"weekly": {"days": [], "time": "09:00"}}), None),
            (json!({"weekly": {"days": ["sunshine"], "time": "09:00"}}), None),
            (json!({"cron": "not a cron"}), None),
            (json!({"hourly": 1}), None),
            (json!({"daily": "09:00", "cron": "* * * * *"}), None),
            (json!({"daily": "09:00"}), Some("Mars/Olympus")),
            (json!({"at": "soon"}), None),
        ] {
            assert!(Schedule::parse(&v, zone).is_err(), "{v} {zone:?}");
        }
        for (v, field) in [
            (json!({"cron": "not a cron"}), "schedule.cron"),
            (
                json!({"weekly": {"days": ["mon", "sunshine"], "time": "09:00"}}),
                "schedule.weekly.days[1]",
            ),
            (json!({"daily": "25:00"}), "schedule.daily"),
            (json!({"hourly": 1}), "schedule"),
        ] {
            assert_eq!(Schedule::parse(&v, None).unwrap_err().field, field, "{v}");
        }
    }
}
