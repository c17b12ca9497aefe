//! `P256dhKey::parse` (base64url text) and `from_bytes` (raw point): never panic, and an
//! accepted key re-encodes to text that parses to the same key.
#![no_main]
use herald_push::subscription::P256dhKey;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(key) = P256dhKey::from_bytes(data) {
        assert_eq!(key.as_bytes().as_slice(), data);
        assert_eq!(P256dhKey::parse(&key.to_base64url()).unwrap(), key);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(key) = P256dhKey::parse(text) {
            assert_eq!(key.as_bytes()[0], 4);
            assert_eq!(P256dhKey::parse(&key.to_base64url()).unwrap(), key);
        }
    }
});
