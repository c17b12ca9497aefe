//! Spreading a broadcast: `spreadOver` paces a message's pushes evenly over a span of time, so
//! the clicks do not reach the host site in the same minute.
//!
//! Each outbox row gets its own earliest send time when the message fans out
//! ([`not_before_ms`]); the pacing is stored, so it survives a restart without a timer.

use super::validation::RuleBroken;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// When push number `index` (0-based) of `total` may go if they are spread evenly over
/// `spread_ms` from `start_ms`: `start + index × spread / total`, the first at `start`, the
/// last one step before `start + spread`.
pub fn not_before_ms(start_ms: i64, spread_ms: i64, index: u64, total: u64) -> i64 {
    if total == 0 || spread_ms <= 0 {
        return start_ms;
    }
    let index = index.min(total - 1);
    // i128 holds i64 × u64 without overflow; the quotient is below spread_ms, an i64.
    let offset = i128::from(index) * i128::from(spread_ms) / i128::from(total);
    start_ms.saturating_add(offset as i64)
}

/// How long a broadcast takes to go out: 1 second to 24 hours.
///
/// JSON: seconds as an integer (`1800`), or a string with a unit: `"60s"`, `"30m"`, `"2h"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct SpreadOver(u32);

impl SpreadOver {
    pub const MAX_SECS: u32 = 86_400;

    pub fn from_secs(secs: u64) -> Result<Self, RuleBroken> {
        if secs == 0 || secs > u64::from(Self::MAX_SECS) {
            return Err(RuleBroken(format!(
                "`spreadOver` must be 1 to {} seconds (24 hours)",
                Self::MAX_SECS
            )));
        }
        Ok(Self(secs as u32))
    }

    /// `"90"`, `"90s"`, `"30m"` or `"2h"`.
    pub fn parse(text: &str) -> Result<Self, RuleBroken> {
        let refuse = || {
            RuleBroken(format!(
                "`spreadOver` {text:?} must be seconds, or a number with s, m or h such as \"30m\""
            ))
        };
        let (digits, unit) = match text.char_indices().last() {
            Some((at, 's')) => (&text[..at], 1),
            Some((at, 'm')) => (&text[..at], 60),
            Some((at, 'h')) => (&text[..at], 3600),
            _ => (text, 1),
        };
        if digits.is_empty() || digits.len() > 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(refuse());
        }
        let count: u64 = digits.parse().map_err(|_| refuse())?;
        Self::from_secs(count * unit)
    }

    /// An integer of seconds or a string with a unit.
    pub fn from_json(value: &Value) -> Result<Self, RuleBroken> {
        match value {
            Value::Number(n) => match n.as_u64() {
                Some(secs) => Self::from_secs(secs),
                None => Err("`spreadOver` must be a whole, positive number of seconds".into()),
            },
            Value::String(text) => Self::parse(text),
            _ => Err("`spreadOver` must be seconds (1800) or a string such as \"30m\"".into()),
        }
    }

    pub fn secs(self) -> u32 {
        self.0
    }

    pub fn as_ms(self) -> i64 {
        i64::from(self.0) * 1000
    }

    /// When push `index` of `total` may go for a message sent at `start_ms`.
    pub fn not_before_ms(self, start_ms: i64, index: u64, total: u64) -> i64 {
        not_before_ms(start_ms, self.as_ms(), index, total)
    }
}

impl Serialize for SpreadOver {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u32(self.0)
    }
}

impl<'de> Deserialize<'de> for SpreadOver {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::from_json(&Value::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn evenly_from_the_start() {
        assert_eq!(not_before_ms(1000, 60_000, 0, 6), 1000);
        assert_eq!(not_before_ms(1000, 60_000, 1, 6), 11_000);
        assert_eq!(not_before_ms(1000, 60_000, 5, 6), 51_000);
        // Out-of-range indexes stay inside the span; nothing to spread means now.
        assert_eq!(not_before_ms(1000, 60_000, 9, 6), 51_000);
        assert_eq!(not_before_ms(1000, 60_000, 0, 0), 1000);
        assert_eq!(not_before_ms(1000, 0, 3, 6), 1000);
        assert_eq!(not_before_ms(1000, -5, 3, 6), 1000);
        assert_eq!(not_before_ms(1000, 60_000, 0, 1), 1000);
    }

    #[test]
    fn the_issue_case_six_thousand_over_a_minute() {
        // 6,000 devices over 60 s: 1,000 per 10 s window.
        let spread = SpreadOver::parse("60s").unwrap();
        let mut per_window = [0u32; 6];
        for i in 0..6000 {
            let at = spread.not_before_ms(0, i, 6000);
            per_window[(at / 10_000) as usize] += 1;
        }
        assert_eq!(per_window, [1000; 6]);
    }

    #[test]
    fn huge_numbers_do_not_overflow() {
        assert_eq!(not_before_ms(0, i64::MAX, u64::MAX - 1, u64::MAX), i64::MAX - 1);
        assert_eq!(not_before_ms(i64::MAX - 10, 86_400_000, 1, 2), i64::MAX);
        assert_eq!(not_before_ms(i64::MIN, 1000, 1, 2), i64::MIN + 500);
    }

    #[test]
    fn spread_over_forms() {
        for (value, secs) in [
            (json!(1800), 1800),
            (json!(86_400), 86_400),
            (json!("60s"), 60),
            (json!("30m"), 1800),
            (json!("2h"), 7200),
            (json!("24h"), 86_400),
            (json!("90"), 90),
        ] {
            assert_eq!(SpreadOver::from_json(&value).unwrap().secs(), secs, "{value}");
        }
        assert_eq!(SpreadOver::parse("30m").unwrap().as_ms(), 1_800_000);
        assert_eq!(
            serde_json::to_value(SpreadOver::parse("1h").unwrap()).unwrap(),
            json!(3600)
        );
        assert_eq!(serde_json::from_value::<SpreadOver>(json!("5m")).unwrap().secs(), 300);
    }

    #[test]
    fn spread_over_refuses() {
        for bad in [
            json!(0),
            json!(86_401),
            json!("25h"),
            json!("1441m"),
            json!(-1),
            json!(1.5),
            json!("0s"),
            json!(""),
            json!("m"),
            json!("30 m"),
            json!("30M"),
            json!("1d"),
            json!("-5s"),
            json!("+5s"),
            json!("99999999999h"),
            json!(null),
            json!(true),
            json!(["30m"]),
        ] {
            let err = SpreadOver::from_json(&bad).unwrap_err();
            assert!(err.contains("spreadOver"), "{bad}: {err}");
        }
    }

    proptest! {
        #[test]
        fn monotonic_and_inside_the_span(
            start in -1_000_000_000_000i64..1_000_000_000_000,
            spread in 1i64..86_400_000,
            total in 1u64..2_000_000,
            index in 0u64..2_000_000,
        ) {
            let index = index % total;
            let at = not_before_ms(start, spread, index, total);
            prop_assert!(at >= start && at < start + spread);
            if index + 1 < total {
                prop_assert!(not_before_ms(start, spread, index + 1, total) >= at);
            }
        }

        #[test]
        fn parse_never_panics(text in ".{0,12}") {
            if let Ok(s) = SpreadOver::parse(&text) {
                prop_assert!((1..=SpreadOver::MAX_SECS).contains(&s.secs()));
            }
        }
    }
}
