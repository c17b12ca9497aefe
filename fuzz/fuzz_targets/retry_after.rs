//! `parse_retry_after` and `classify` on arbitrary header values and bodies: never panic.
#![no_main]
use herald_push::response::{classify, parse_retry_after};
use libfuzzer_sys::fuzz_target;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fuzz_target!(|data: &[u8]| {
    let now = UNIX_EPOCH + Duration::from_secs(1_795_000_000);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_retry_after(text, now);
        let _ = parse_retry_after(text, UNIX_EPOCH);
        let _ = parse_retry_after(text, SystemTime::now());
    }
    if data.len() >= 2 {
        let status = 100 + u16::from_le_bytes([data[0], data[1]]) % 500;
        let mut headers = http::HeaderMap::new();
        if let Ok(value) = http::HeaderValue::from_bytes(&data[2..data.len().min(64)]) {
            headers.insert(http::header::RETRY_AFTER, value.clone());
            headers.insert(http::header::LOCATION, value);
        }
        let outcome = classify(status, &headers, &data[2..], now);
        assert_eq!(outcome.status(), status);
    }
});
