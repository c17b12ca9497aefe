//! Validated parts of a browser's `PushSubscription`.
//!
//! Each type is built only through `parse`, so holding one proves the value was checked:
//! an [`Endpoint`] is an absolute URL with a host, a [`P256dhKey`] is a point on P-256, and an
//! [`AuthSecret`] is 16 bytes. Whether plain `http` or private addresses are acceptable is the
//! caller's policy, not this crate's; [`Endpoint::parse`] only refuses what is never valid.

use crate::base64url;
use crate::error::{Error, ErrorKind};
use aws_lc_rs::agreement::{ParsedPublicKey, UnparsedPublicKey, ECDH_P256};
use std::borrow::Cow;
use url::{Position, Url};

/// Longest endpoint URL accepted. Real ones are 150–500 characters.
pub const MAX_ENDPOINT_LEN: usize = 2048;

/// `scheme://host[:port]` of an `http(s)` URL, the port only when it is not the scheme's
/// default: the URL's own text up to its path (the parser has already dropped a default port
/// and lowercased the host), so a sender keying its connections by origin copies nothing.
pub fn url_origin(url: &Url) -> Cow<'_, str> {
    let web = matches!(url.scheme(), "https" | "http");
    if web && url.username().is_empty() && url.password().is_none() && url.has_host() {
        Cow::Borrowed(&url[..Position::BeforePath])
    } else {
        Cow::Owned(url.origin().ascii_serialization())
    }
}

/// A push service endpoint URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    url: Url,
    origin: String,
}

impl Endpoint {
    /// Parses an absolute `https` or `http` URL with a host and no user credentials.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let invalid = |why: &str| Error::new(ErrorKind::InvalidEndpoint, format!("invalid endpoint: {why}"));
        if text.len() > MAX_ENDPOINT_LEN {
            return Err(invalid(&format!("longer than {MAX_ENDPOINT_LEN} characters")));
        }
        // The URL parser drops tabs and newlines and percent-encodes other controls, so
        // `…/a\r\nb` would quietly become `…/ab`: a browser never sends such an endpoint.
        if text.chars().any(char::is_control) {
            return Err(invalid("it contains control characters"));
        }
        let url = Url::parse(text).map_err(|e| invalid(&e.to_string()))?;
        if url.scheme() != "https" && url.scheme() != "http" {
            return Err(invalid("the scheme must be https (or http for local push services)"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(invalid("it has no host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid("it must not carry user credentials"));
        }
        let origin = url_origin(&url).into_owned();
        Ok(Self { url, origin })
    }

    /// The URL to `POST` to.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The endpoint as text.
    pub fn as_str(&self) -> &str {
        self.url.as_str()
    }

    /// `scheme://host[:port]`, with the port only when it is not the scheme's default. This is
    /// the VAPID `aud` claim.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// True for `https` endpoints.
    pub fn is_https(&self) -> bool {
        self.url.scheme() == "https"
    }
}

/// The browser's ECDH public key (`keys.p256dh`): an uncompressed P-256 point, 65 bytes.
/// It keeps the point as parsed for key agreement: checking that a point is on the curve is
/// a tenth of an encryption's cost, and it is done once, here.
#[derive(Clone)]
pub struct P256dhKey {
    point: [u8; 65],
    parsed: ParsedPublicKey,
}

impl PartialEq for P256dhKey {
    fn eq(&self, other: &Self) -> bool {
        self.point == other.point
    }
}

impl Eq for P256dhKey {}

impl P256dhKey {
    /// Decodes base64url and checks that the bytes are an uncompressed point on P-256.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let bytes =
            base64url::decode(text).map_err(|_| Error::new(ErrorKind::InvalidKey, "p256dh is not valid base64url"))?;
        Self::from_bytes(&bytes)
    }

    /// Checks raw bytes: 65 bytes, `0x04` prefix, and on the curve.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let point: [u8; 65] = bytes.try_into().map_err(|_| {
            Error::new(
                ErrorKind::InvalidKey,
                format!(
                    "p256dh must be 65 bytes (an uncompressed P-256 point), got {}",
                    bytes.len()
                ),
            )
        })?;
        if point[0] != 0x04 {
            return Err(Error::new(
                ErrorKind::InvalidKey,
                "p256dh must be an uncompressed point (0x04 prefix)",
            ));
        }
        let parsed = ParsedPublicKey::try_from(UnparsedPublicKey::new(&ECDH_P256, &point))
            .map_err(|_| Error::new(ErrorKind::InvalidKey, "p256dh is not a point on the P-256 curve"))?;
        Ok(Self { point, parsed })
    }

    /// The 65 raw bytes.
    pub fn as_bytes(&self) -> &[u8; 65] {
        &self.point
    }

    /// The point, checked, for key agreement.
    pub(crate) fn parsed(&self) -> &ParsedPublicKey {
        &self.parsed
    }

    /// Canonical base64url.
    pub fn to_base64url(&self) -> String {
        base64url::encode(self.point)
    }
}

impl std::fmt::Debug for P256dhKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "P256dhKey({})", self.to_base64url())
    }
}

/// The browser's authentication secret (`keys.auth`): 16 bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthSecret([u8; 16]);

impl AuthSecret {
    /// Decodes base64url and checks the length.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let bytes = base64url::decode(text)
            .map_err(|_| Error::new(ErrorKind::InvalidAuthSecret, "auth is not valid base64url"))?;
        Self::from_bytes(&bytes)
    }

    /// Checks raw bytes: exactly 16.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let secret: [u8; 16] = bytes.try_into().map_err(|_| {
            Error::new(
                ErrorKind::InvalidAuthSecret,
                format!("auth must be 16 bytes, got {}", bytes.len()),
            )
        })?;
        Ok(Self(secret))
    }

    /// The 16 raw bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// Canonical base64url.
    pub fn to_base64url(&self) -> String {
        base64url::encode(self.0)
    }
}

impl std::fmt::Debug for AuthSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuthSecret(..)")
    }
}

/// A complete, validated subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub endpoint: Endpoint,
    pub p256dh: P256dhKey,
    pub auth: AuthSecret,
}

impl Subscription {
    /// Validates the three fields of `PushSubscription.toJSON()`.
    pub fn parse(endpoint: &str, p256dh: &str, auth: &str) -> Result<Self, Error> {
        Ok(Self {
            endpoint: Endpoint::parse(endpoint)?,
            p256dh: P256dhKey::parse(p256dh)?,
            auth: AuthSecret::parse(auth)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // From RFC 8291 Appendix A.
    const UA_PUBLIC: &str = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";

    #[test]
    fn origin_keeps_non_default_ports_only() {
        let e = Endpoint::parse("https://push.example.net/wpush/abc").unwrap();
        assert_eq!(e.origin(), "https://push.example.net");
        let e = Endpoint::parse("https://push.example.net:443/x").unwrap();
        assert_eq!(e.origin(), "https://push.example.net");
        let e = Endpoint::parse("https://push.example.net:8443/x").unwrap();
        assert_eq!(e.origin(), "https://push.example.net:8443");
        let e = Endpoint::parse("http://127.0.0.1:9000/x").unwrap();
        assert_eq!(e.origin(), "http://127.0.0.1:9000");
        assert!(!e.is_https());
    }

    #[test]
    fn url_origin_is_the_origins_serialization() {
        for text in [
            "https://push.example.net/wpush/abc?x=1#f",
            "https://PUSH.Example.NET:443/x",
            "https://push.example.net:8443/x",
            "http://127.0.0.1:80/x",
            "http://127.0.0.1:9000",
            "https://[::1]:8443/x",
            "https://[0:0::1]/x",
            "https://bücher.example/x",
            "https://push.example.net./x",
            "https://user:pw@push.example.net/x",
            "https://user@push.example.net:444/x",
            "foo://push.example.net/x",
        ] {
            let url = Url::parse(text).unwrap();
            assert_eq!(url_origin(&url), url.origin().ascii_serialization(), "{text}");
        }
        let plain = Url::parse("https://push.example.net/x").unwrap();
        assert!(matches!(url_origin(&plain), Cow::Borrowed(_)));
    }

    #[test]
    fn refuses_bad_endpoints() {
        for bad in [
            "",
            "push.example.net/x",
            "ftp://push.example.net/x",
            "file:///etc/passwd",
            "https://user:pw@push.example.net/x",
            "javascript:alert(1)",
            "https://push.example.net/a\r\nb",
            "https://push.example.net/a\tb",
            "https://push.example.net/a\u{0}b",
            "https://push.example.net/a\u{85}b",
        ] {
            let err = Endpoint::parse(bad).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidEndpoint, "{bad}");
        }
        let long = format!("https://push.example.net/{}", "a".repeat(MAX_ENDPOINT_LEN));
        assert!(Endpoint::parse(&long).is_err());
    }

    #[test]
    fn p256dh_must_be_on_the_curve() {
        assert!(P256dhKey::parse(UA_PUBLIC).is_ok());
        let mut bytes = base64url::decode(UA_PUBLIC).unwrap();
        bytes[40] ^= 0x01; // moves the point off the curve
        let err = P256dhKey::from_bytes(&bytes).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidKey);
        assert!(err.message().contains("curve"));
        assert!(P256dhKey::from_bytes(&bytes[..64]).is_err());
        let mut compressed = base64url::decode(UA_PUBLIC).unwrap();
        compressed[0] = 0x02;
        assert!(P256dhKey::from_bytes(&compressed).is_err());
        assert!(P256dhKey::parse("!!!").is_err());
    }

    #[test]
    fn auth_must_be_16_bytes() {
        assert!(AuthSecret::parse("BTBZMqHH6r4Tts7J_aSIgg").is_ok());
        assert!(AuthSecret::parse("BTBZMqHH6r4Tts7J_aSI").is_err());
        assert!(AuthSecret::parse("").is_err());
    }

    proptest! {
        #[test]
        fn parsers_never_panic(text in ".{0,300}") {
            let _ = Endpoint::parse(&text);
            let _ = P256dhKey::parse(&text);
            let _ = AuthSecret::parse(&text);
        }

        #[test]
        fn random_65_bytes_are_almost_never_points(mut bytes in proptest::collection::vec(any::<u8>(), 65)) {
            bytes[0] = 4;
            // Any accepted value must round-trip; rejected ones must say why.
            match P256dhKey::from_bytes(&bytes) {
                Ok(key) => prop_assert_eq!(key.as_bytes().as_slice(), bytes.as_slice()),
                Err(e) => prop_assert_eq!(e.kind(), ErrorKind::InvalidKey),
            }
        }
    }
}
