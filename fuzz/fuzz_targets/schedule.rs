//! `Schedule::parse` on `{"schedule": …, "timezone": …}` and the next firings: never panics,
//! and firings move strictly forward.
#![no_main]
use herald::reminders::Schedule;
use libfuzzer_sys::fuzz_target;

const NOW: i64 = 1_795_000_000_000;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let zone = value["timezone"].as_str();
    let Ok(schedule) = Schedule::parse(&value["schedule"], zone) else {
        return;
    };
    let mut t = NOW;
    for _ in 0..3 {
        match schedule.next_after(t) {
            Some(next) => {
                assert!(next > t, "{value}: {next} is not after {t}");
                t = next;
            }
            None => break,
        }
    }
    let again = Schedule::parse(&schedule.to_json(), zone).expect("to_json output parses");
    assert_eq!(again.is_repeating(), schedule.is_repeating());
});
