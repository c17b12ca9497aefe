//! URL-safe base64 as browsers and push services write it.
//!
//! Browsers' `PushSubscription.toJSON()` emits unpadded base64url, but keys copied through other
//! tools often arrive padded or in the standard alphabet. Decoding accepts all of those so that
//! a subscription is never refused for cosmetic reasons; encoding always emits the canonical
//! unpadded URL-safe form.

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, URL_SAFE_NO_PAD};
use base64::engine::DecodePaddingMode;
use base64::Engine;

const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Encodes bytes as unpadded URL-safe base64.
pub fn encode(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes URL-safe or standard base64, padded or not. Whitespace is not accepted.
pub fn decode(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    if text.contains(['+', '/']) {
        let normalised: String = text
            .chars()
            .map(|c| match c {
                '+' => '-',
                '/' => '_',
                other => other,
            })
            .collect();
        LENIENT.decode(normalised)
    } else {
        LENIENT.decode(text)
    }
}

/// True when `text` uses only the URL-safe base64 alphabet (no padding).
pub fn is_url_safe_alphabet(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_padding_and_standard_alphabet() {
        let bytes = [0xfbu8, 0xff, 0xfe, 0x01];
        assert_eq!(encode(bytes), "-__-AQ");
        assert_eq!(decode("-__-AQ").unwrap(), bytes);
        assert_eq!(decode("-__-AQ==").unwrap(), bytes);
        assert_eq!(decode("+//+AQ==").unwrap(), bytes);
    }

    #[test]
    fn rejects_garbage() {
        assert!(decode("not base64!").is_err());
        assert!(decode("a").is_err());
        assert!(decode("ab cd").is_err());
    }

    proptest! {
        #[test]
        fn round_trips_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let text = encode(&bytes);
            prop_assert!(is_url_safe_alphabet(&text));
            prop_assert_eq!(decode(&text).unwrap(), bytes);
        }

        #[test]
        fn never_panics_on_arbitrary_text(text in ".{0,200}") {
            let _ = decode(&text);
        }
    }
}
