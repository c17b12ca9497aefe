//! `Audience::from_json`: never panics; an accepted audience round-trips through `to_json`.
#![no_main]
use herald::domain::Audience;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    if let Ok(audience) = Audience::from_json(&value) {
        let again = Audience::from_json(&audience.to_json()).expect("to_json output parses");
        assert_eq!(again, audience);
    }
});
