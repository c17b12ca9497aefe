//! The body of `POST /api/v1/messages` as the API reads it: JSON into `MessageRequest`, then
//! `validate`. Never panics; an accepted message keeps the rules validate promises.
#![no_main]
use herald::compose::MessageRequest;
use libfuzzer_sys::fuzz_target;

const NOW: i64 = 1_795_000_000_000;

fuzz_target!(|data: &[u8]| {
    let Ok(request) = serde_json::from_slice::<MessageRequest>(data) else {
        return;
    };
    let Ok(message) = request.validate(NOW) else {
        return;
    };
    let title_len = message.title.chars().count();
    assert!((1..=256).contains(&title_len), "title of {title_len} chars");
    assert!(!message.title.chars().any(char::is_control));
    assert!(message.body.as_ref().is_none_or(|b| b.chars().count() <= 16_000));
    assert!(message.tag.as_ref().is_none_or(|t| t.chars().count() <= 128));
    assert!((0..=30 * 86_400).contains(&message.ttl_secs));
    assert!(message.send_at_ms >= NOW && message.send_at_ms <= NOW + 366 * 86_400_000);
    for link in [&message.url, &message.icon].into_iter().flatten() {
        if link.starts_with('/') {
            assert!(!link.starts_with("//") && !link.contains(char::is_whitespace), "{link:?}");
        } else {
            let scheme = link.split(':').next().unwrap_or_default().trim().to_ascii_lowercase();
            assert!(scheme == "http" || scheme == "https", "{link:?}");
        }
    }
});
