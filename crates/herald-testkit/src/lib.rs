//! Test support for Herald: a mock push service and fake browsers.
//!
//! The mock verifies the VAPID signature and decrypts every push with RustCrypto — an
//! implementation independent of the `aws-lc-rs` code Herald sends with — so a test that
//! passes proves interoperability, not agreement with itself.
//!
//! - [`Browser`]: a device's subscription keys (what `PushSubscription.toJSON()` holds);
//! - [`decrypt`]: RFC 8291 `aes128gcm` and legacy `aesgcm` decryption;
//! - [`verify_vapid`]: ES256 JWT checks as a push service does them;
//! - [`MockPushService`]: an HTTP server that records every push and answers as scripted;
//!   [`MockOptions`] give it a real push service's shape (TLS + HTTP/2, latency, a stream
//!   limit, GOAWAY, hangs, resets, throttling) and [`MockStats`] count what happened.

mod browser;
mod decrypt;
mod mock;
mod mock_options;
mod tls;
mod vapid;

pub use browser::Browser;
pub use decrypt::{decrypt, DecryptError};
pub use mock::{MockPushService, MockResponse, ReceivedPush};
pub use mock_options::{MockOptions, MockStats};
pub use vapid::{verify_vapid, VapidClaims};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

pub(crate) fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub(crate) fn unb64(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok()
}
