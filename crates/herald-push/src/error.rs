//! The crate's one error type: a struct around a `#[non_exhaustive]` kind, so that callers can
//! match on what went wrong while the message stays free to improve.

use std::fmt;

/// What went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A key (VAPID or `p256dh`) is malformed or not on the P-256 curve.
    InvalidKey,
    /// The `auth` secret is not 16 bytes of base64url.
    InvalidAuthSecret,
    /// The endpoint is not an absolute `https` (or allowed `http`) URL.
    InvalidEndpoint,
    /// The VAPID subject is not a `mailto:` address or an `https:` URL.
    InvalidSubject,
    /// The topic is longer than 32 characters or leaves the base64url alphabet.
    InvalidTopic,
    /// The TTL is out of range.
    InvalidTtl,
    /// The urgency is not one of `very-low`, `low`, `normal`, `high`.
    InvalidUrgency,
    /// The payload is larger than one record can carry.
    PayloadTooLarge,
    /// Base64 that does not decode.
    InvalidBase64,
    /// PEM or PKCS#8 that does not parse.
    InvalidPem,
    /// The cryptographic library refused an operation (should not happen with valid input).
    Crypto,
}

/// An error from the protocol crate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// What went wrong, for matching.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The human-readable explanation.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<aws_lc_rs::error::Unspecified> for Error {
    fn from(_: aws_lc_rs::error::Unspecified) -> Self {
        Error::new(ErrorKind::Crypto, "cryptographic operation failed")
    }
}
