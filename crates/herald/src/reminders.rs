//! Reminder schedules: once, daily, weekly or a cron expression, in an IANA time zone.
//!
//! Every repeating form is evaluated as a cron pattern in the reminder's zone, so "daily at
//! 09:00 in Europe/Kyiv" stays 09:00 local across daylight-saving changes. A time that falls
//! in a spring-forward gap fires at the first valid instant after it; a time that occurs twice
//! in an autumn fold fires once.

use crate::storage::reminders::ReminderRecord;
use chrono::{DateTime, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;
use serde_json::{json, Value};
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

impl Schedule {
    /// Parses `{"at": time}`, `{"daily": "HH:MM"}`, `{"weekly": {"days": [...], "time": "HH:MM"}}`
    /// or `{"cron": pattern}` (five fields `m h dom mon dow`, six with seconds first, seven
    /// with a year last, or a nickname like `@daily`) in time zone `zone` (default UTC).
    pub fn parse(value: &Value, zone: Option<&str>) -> Result<Self, String> {
        let zone: Tz = match zone {
            Some(z) => z
                .parse()
                .map_err(|_| format!("`timezone` {z:?} is not an IANA time zone such as Europe/Kyiv"))?,
            None => Tz::UTC,
        };
        let object = value
            .as_object()
            .filter(|o| o.len() == 1)
            .ok_or("`schedule` must have exactly one of at, daily, weekly, cron")?;
        let (key, inner) = object.iter().next().expect("one entry");
        let kind = match key.as_str() {
            "at" => {
                let text = inner.as_str().ok_or("`schedule.at` must be a time string")?;
                Kind::Once(parse_at(text, zone)?)
            }
            "daily" => {
                let (h, m) = parse_hhmm(inner.as_str().ok_or("`schedule.daily` must be \"HH:MM\"")?)?;
                repeating(&format!("{m} {h} * * *"), value.clone())?
            }
            "weekly" => {
                let days = inner["days"]
                    .as_array()
                    .filter(|d| !d.is_empty())
                    .ok_or("`schedule.weekly.days` must list days such as [\"mon\"]")?;
                let mut numbers = Vec::new();
                for day in days {
                    let name = day.as_str().map(|d| d.to_ascii_lowercase()).unwrap_or_default();
                    let n = DAYS
                        .iter()
                        .position(|d| name == *d || name == full_day_name(d))
                        .ok_or(format!("`schedule.weekly.days`: {day} is not a weekday"))?;
                    numbers.push(n.to_string());
                }
                let (h, m) = parse_hhmm(
                    inner["time"]
                        .as_str()
                        .ok_or("`schedule.weekly.time` must be \"HH:MM\"")?,
                )?;
                repeating(&format!("{m} {h} * * {}", numbers.join(",")), value.clone())?
            }
            "cron" => {
                let pattern = inner.as_str().ok_or("`schedule.cron` must be a string")?;
                if pattern.len() > 200 {
                    return Err("`schedule.cron` is too long".into());
                }
                repeating(pattern, value.clone())?
            }
            other => return Err(format!("`schedule` has an unknown key {other:?}")),
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

fn repeating(pattern: &str, json: Value) -> Result<Kind, String> {
    let cron =
        Cron::from_str(pattern).map_err(|e| format!("`schedule`: {pattern:?} is not a valid cron pattern: {e}"))?;
    Ok(Kind::Repeating {
        cron: Box::new(cron),
        json,
    })
}

fn parse_hhmm(text: &str) -> Result<(u32, u32), String> {
    let time =
        NaiveTime::parse_from_str(text, "%H:%M").map_err(|_| format!("{text:?} is not a time of day like 09:00"))?;
    use chrono::Timelike;
    Ok((time.hour(), time.minute()))
}

/// An RFC 3339 time, or a local date-time (`2026-12-01T09:00:00`) read in `zone`.
fn parse_at(text: &str, zone: Tz) -> Result<i64, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.timestamp_millis());
    }
    let local = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M"))
        .map_err(|_| format!("`schedule.at` {text:?} is not a time such as 2026-12-01T09:00:00"))?;
    match zone.from_local_datetime(&local) {
        chrono::LocalResult::Single(t) => Ok(t.timestamp_millis()),
        chrono::LocalResult::Ambiguous(first, _) => Ok(first.timestamp_millis()),
        // In a spring-forward gap: the same wall-clock reading one hour later.
        chrono::LocalResult::None => zone
            .from_local_datetime(&(local + chrono::Duration::hours(1)))
            .earliest()
            .map(|t| t.timestamp_millis())
            .ok_or_else(|| format!("`schedule.at` {text:?} does not exist in {zone}")),
    }
}

/// A reminder as the API and CLI describe it: message fields plus `schedule`, `timezone`
/// and `paused`. For updates every field is optional and replaces the stored one.
pub struct ReminderInput {
    pub template: serde_json::Map<String, Value>,
    pub schedule: Option<Value>,
    pub timezone: Option<String>,
    pub paused: Option<bool>,
}

impl ReminderInput {
    /// Splits a JSON object into the schedule fields and the message template.
    pub fn from_json(value: Value) -> Result<Self, String> {
        let Value::Object(mut map) = value else {
            return Err("the body must be a JSON object".into());
        };
        if map.contains_key("sendAt") {
            return Err("`sendAt` is not a reminder field; use `schedule`".into());
        }
        let schedule = map.remove("schedule");
        let timezone = match map.remove("timezone") {
            Some(Value::String(z)) => Some(z),
            Some(Value::Null) | None => None,
            Some(_) => return Err("`timezone` must be a string".into()),
        };
        let paused = match map.remove("paused") {
            Some(Value::Bool(p)) => Some(p),
            None => None,
            Some(_) => return Err("`paused` must be true or false".into()),
        };
        Ok(Self {
            template: map,
            schedule,
            timezone,
            paused,
        })
    }
}

/// Checks a template by validating the message it would create.
pub fn validate_template(
    template: &serde_json::Map<String, Value>,
    now_ms: i64,
) -> Result<crate::storage::messages::NewMessage, String> {
    let request: crate::compose::MessageRequest =
        serde_json::from_value(Value::Object(template.clone())).map_err(|e| e.to_string())?;
    request.validate(now_ms)
}

/// A new reminder record from an input, with its first firing computed.
pub fn new_record(input: ReminderInput, now_ms: i64) -> Result<ReminderRecord, String> {
    let schedule = input.schedule.ok_or("`schedule` is required")?;
    let mut record = ReminderRecord {
        id: crate::secrets::random_id(),
        template: Value::Object(input.template),
        schedule,
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
pub fn apply_update(record: &mut ReminderRecord, input: ReminderInput, now_ms: i64) -> Result<(), String> {
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
        record.schedule = schedule;
    }
    if let Some(zone) = input.timezone {
        record.timezone = zone;
    }
    if let Some(paused) = input.paused {
        record.paused = paused;
    }
    settle(record, now_ms)
}

fn settle(record: &mut ReminderRecord, now_ms: i64) -> Result<(), String> {
    let template = record.template.as_object().cloned().unwrap_or_default();
    validate_template(&template, now_ms)?;
    let schedule = Schedule::parse(&record.schedule, Some(&record.timezone))?;
    record.schedule = schedule.to_json();
    record.next_fire_at = schedule.next_after(now_ms);
    if record.next_fire_at.is_none() && !record.paused {
        return Err("`schedule.at` is in the past".into());
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
    }
}
