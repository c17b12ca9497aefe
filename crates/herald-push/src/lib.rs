//! The Web Push protocol, with no I/O policy.
//!
//! Everything a sender needs to turn "this text, to this browser subscription" into an HTTP
//! request that every major push service accepts, and to understand the answer:
//!
//! - [`keys`]: VAPID application-server keys (generate, import, export as raw base64url or PEM);
//! - [`vapid`]: the RFC 8292 `Authorization` header, with one signed JWT cached per origin;
//! - [`ece`]: RFC 8291 message encryption over RFC 8188 `aes128gcm`, and the legacy `aesgcm`;
//! - [`subscription`]: validated subscription parts (endpoint, `p256dh`, `auth`);
//! - [`request`]: TTL, urgency, topic and the assembled [`request::PushRequest`];
//! - [`response`]: a push service's answer classified as a typed [`response::PushOutcome`].
//!
//! The crate opens no sockets and spawns nothing: callers bring their own HTTP client. The
//! cryptographic primitives (P-256, ECDSA, HKDF, AES-GCM) come from `aws-lc-rs`; this crate
//! only composes them as the RFCs say.
//!
//! ```
//! use herald_push::{keys::VapidKeyPair, vapid::{VapidSigner, VapidSubject}};
//! use herald_push::request::{PushMessage, Ttl};
//! use herald_push::subscription::Subscription;
//!
//! let key = VapidKeyPair::generate().unwrap();
//! let signer = VapidSigner::new(key, VapidSubject::parse("mailto:ops@example.com").unwrap());
//! # let browser = herald_push::ece::tests_support::browser_keys();
//! let subscription = Subscription::parse(
//!     "https://updates.push.services.mozilla.com/wpush/v2/abc",
//!     &browser.p256dh_b64, &browser.auth_b64,
//! ).unwrap();
//! let request = PushMessage::new(b"hello".to_vec(), Ttl::seconds(60))
//!     .build(&subscription, &signer)
//!     .unwrap();
//! assert_eq!(request.headers.get("content-encoding").unwrap(), "aes128gcm");
//! ```

pub mod base64url;
pub mod ece;
pub mod error;
pub mod keys;
pub mod request;
pub mod response;
pub mod subscription;
pub mod vapid;

pub use error::{Error, ErrorKind};
