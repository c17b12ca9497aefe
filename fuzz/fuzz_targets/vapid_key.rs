//! `VapidKeyPair::parse` (base64url scalar or PEM): never panic; an accepted key exports and
//! re-imports to the same public key.
#![no_main]
use herald_push::keys::VapidKeyPair;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(pair) = VapidKeyPair::parse(text) {
        let public = *pair.public_key_bytes();
        assert_eq!(public[0], 4);
        if let Ok(private) = pair.private_key_base64url() {
            let again = VapidKeyPair::parse(&private).unwrap();
            assert_eq!(*again.public_key_bytes(), public);
        }
        if let Ok(pem) = pair.to_pem() {
            let again = VapidKeyPair::parse(&pem).unwrap();
            assert_eq!(*again.public_key_bytes(), public);
        }
    }
});
