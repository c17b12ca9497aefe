//! Assembling a push request: the headers every push service expects, in one place.
//!
//! `TTL` is always sent (autopush refuses requests without it). `Topic` is validated here
//! because a bad one costs a 400 from the push service. Encrypted bodies carry
//! `Content-Type: application/octet-stream`, as the reference libraries send.

use crate::base64url;
use crate::ece::{self, ContentEncoding};
use crate::error::{Error, ErrorKind};
use crate::subscription::Subscription;
use crate::vapid::VapidSigner;
use http::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE};
use std::time::SystemTime;
use url::Url;

/// Longest TTL the push services honour (autopush caps at 30 days).
pub const MAX_TTL_SECONDS: u32 = 30 * 24 * 3600;

/// How long the push service should keep an undelivered message, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ttl(u32);

impl Ttl {
    /// Any number of seconds up to [`MAX_TTL_SECONDS`]; larger values are clamped.
    pub fn seconds(seconds: u32) -> Self {
        Self(seconds.min(MAX_TTL_SECONDS))
    }

    /// Parses a number of seconds, refusing negative, non-numeric and over-long values.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let seconds: u64 = text.trim().parse().map_err(|_| {
            Error::new(
                ErrorKind::InvalidTtl,
                format!("TTL {text:?} is not a whole number of seconds"),
            )
        })?;
        Self::try_from_secs(seconds)
    }

    /// Refuses values above [`MAX_TTL_SECONDS`] instead of clamping them.
    pub fn try_from_secs(seconds: u64) -> Result<Self, Error> {
        if seconds > u64::from(MAX_TTL_SECONDS) {
            return Err(Error::new(
                ErrorKind::InvalidTtl,
                format!("TTL {seconds} is longer than 30 days ({MAX_TTL_SECONDS} seconds)"),
            ));
        }
        Ok(Self(seconds as u32))
    }

    pub fn as_secs(self) -> u32 {
        self.0
    }
}

/// RFC 8030 §5.3 urgency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Urgency {
    VeryLow,
    Low,
    Normal,
    High,
}

impl Urgency {
    pub fn parse(text: &str) -> Result<Self, Error> {
        match text {
            "very-low" => Ok(Self::VeryLow),
            "low" => Ok(Self::Low),
            "normal" => Ok(Self::Normal),
            "high" => Ok(Self::High),
            other => Err(Error::new(
                ErrorKind::InvalidUrgency,
                format!("urgency {other:?} must be very-low, low, normal or high"),
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::VeryLow => "very-low",
            Self::Low => "low",
            Self::Normal => "normal",
            Self::High => "high",
        }
    }
}

/// RFC 8030 §5.4 topic: at most 32 characters of the URL-safe base64 alphabet. A pending
/// message with the same topic is replaced by the newer one. A length of 4n + 1 is refused
/// too: no base64 text has it, and Apple's push service answers 400 to such topics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topic(String);

impl Topic {
    pub const MAX_LEN: usize = 32;

    pub fn parse(text: &str) -> Result<Self, Error> {
        if text.is_empty() || text.len() > Self::MAX_LEN || !base64url::is_url_safe_alphabet(text) {
            return Err(Error::new(
                ErrorKind::InvalidTopic,
                format!("topic {text:?} must be 1 to 32 characters of A-Z a-z 0-9 - _"),
            ));
        }
        if text.len() % 4 == 1 {
            return Err(Error::new(
                ErrorKind::InvalidTopic,
                format!(
                    "topic {text:?} has {} character{}; Apple refuses lengths of 4n + 1 (1, 5, 9 … 29): add or drop one",
                    text.len(),
                    if text.len() == 1 { "" } else { "s" }
                ),
            ));
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What to send: a payload (or none), and how the push service should treat it.
#[derive(Debug, Clone)]
pub struct PushMessage {
    payload: Option<Vec<u8>>,
    ttl: Ttl,
    urgency: Option<Urgency>,
    topic: Option<Topic>,
    encoding: ContentEncoding,
    padding: usize,
}

impl PushMessage {
    /// A message with an encrypted payload.
    pub fn new(payload: Vec<u8>, ttl: Ttl) -> Self {
        Self {
            payload: Some(payload),
            ttl,
            urgency: None,
            topic: None,
            encoding: ContentEncoding::Aes128Gcm,
            padding: 0,
        }
    }

    /// A push with no data (a "tickle"): the service worker wakes up and fetches the content.
    pub fn empty(ttl: Ttl) -> Self {
        Self {
            payload: None,
            ..Self::new(Vec::new(), ttl)
        }
    }

    pub fn urgency(mut self, urgency: Urgency) -> Self {
        self.urgency = Some(urgency);
        self
    }

    pub fn topic(mut self, topic: Topic) -> Self {
        self.topic = Some(topic);
        self
    }

    pub fn encoding(mut self, encoding: ContentEncoding) -> Self {
        self.encoding = encoding;
        self
    }

    /// Zero bytes added to the plaintext to hide its length.
    pub fn padding(mut self, padding: usize) -> Self {
        self.padding = padding;
        self
    }

    pub fn ttl(&self) -> Ttl {
        self.ttl
    }

    /// Encrypts and signs for `subscription`, using the current time for VAPID.
    pub fn build(&self, subscription: &Subscription, signer: &VapidSigner) -> Result<PushRequest, Error> {
        self.build_at(subscription, signer, SystemTime::now())
    }

    /// As [`Self::build`], at a given time (for tests and for callers with their own clock).
    pub fn build_at(
        &self,
        subscription: &Subscription,
        signer: &VapidSigner,
        now: SystemTime,
    ) -> Result<PushRequest, Error> {
        // Room for six: TTL, the two content headers, authorization, and a sender's
        // content-length and user-agent. Asking for eight reserves twelve, an allocation too
        // large for the allocator's per-thread cache; urgency and topic grow the map when set.
        let mut headers = HeaderMap::with_capacity(6);
        headers.insert(HeaderName::from_static("ttl"), HeaderValue::from(self.ttl.as_secs()));
        if let Some(urgency) = self.urgency {
            headers.insert(
                HeaderName::from_static("urgency"),
                HeaderValue::from_static(urgency.as_str()),
            );
        }
        if let Some(topic) = &self.topic {
            headers.insert(HeaderName::from_static("topic"), header_value(topic.as_str())?);
        }
        let origin = subscription.endpoint.origin();
        let body = match &self.payload {
            None => {
                self.insert_authorization(&mut headers, signer, origin, now, None)?;
                Vec::new()
            }
            Some(payload) => {
                let encrypted = ece::encrypt(
                    self.encoding,
                    &subscription.p256dh,
                    &subscription.auth,
                    payload,
                    self.padding,
                )?;
                headers.insert(CONTENT_ENCODING, HeaderValue::from_static(self.encoding.as_str()));
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
                self.insert_authorization(&mut headers, signer, origin, now, Some(&encrypted))?;
                encrypted.body
            }
        };
        Ok(PushRequest {
            url: subscription.endpoint.url().clone(),
            headers,
            body,
        })
    }

    /// `aes128gcm` uses RFC 8292's `vapid` scheme; `aesgcm` the draft-era `WebPush` scheme with
    /// the key (and the ECDH share and salt, when there is a payload) in separate headers.
    fn insert_authorization(
        &self,
        headers: &mut HeaderMap,
        signer: &VapidSigner,
        origin: &str,
        now: SystemTime,
        encrypted: Option<&ece::EncryptedPayload>,
    ) -> Result<(), Error> {
        match self.encoding {
            ContentEncoding::Aes128Gcm => {
                headers.insert(AUTHORIZATION, signer.authorization_header(origin, now)?);
            }
            ContentEncoding::AesGcm => {
                let jwt = signer.token(origin, now)?;
                headers.insert(AUTHORIZATION, header_value(&format!("WebPush {jwt}"))?);
                let crypto_key = match encrypted {
                    Some(e) => format!(
                        "dh={};p256ecdsa={}",
                        base64url::encode(e.sender_public),
                        signer.public_key()
                    ),
                    None => format!("p256ecdsa={}", signer.public_key()),
                };
                headers.insert(HeaderName::from_static("crypto-key"), header_value(&crypto_key)?);
                if let Some(e) = encrypted {
                    headers.insert(
                        HeaderName::from_static("encryption"),
                        header_value(&format!("salt={}", base64url::encode(e.salt)))?,
                    );
                }
            }
        }
        Ok(())
    }
}

fn header_value(text: &str) -> Result<HeaderValue, Error> {
    HeaderValue::from_str(text).map_err(|_| Error::new(ErrorKind::Crypto, "header value is not valid ASCII"))
}

/// A ready-to-send push: `POST` `body` to `url` with `headers`.
#[derive(Debug, Clone)]
pub struct PushRequest {
    pub url: Url,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::VapidKeyPair;
    use crate::vapid::VapidSubject;
    use proptest::prelude::*;

    fn fixtures() -> (Subscription, VapidSigner) {
        let b = ece::tests_support::browser_keys();
        let sub = Subscription::parse("https://push.example.net/wpush/v2/abc", &b.p256dh_b64, &b.auth_b64).unwrap();
        let signer = VapidSigner::new(
            VapidKeyPair::generate().unwrap(),
            VapidSubject::parse("mailto:a@example.com").unwrap(),
        );
        (sub, signer)
    }

    #[test]
    fn aes128gcm_headers() {
        let (sub, signer) = fixtures();
        let req = PushMessage::new(b"hi".to_vec(), Ttl::seconds(60))
            .urgency(Urgency::High)
            .topic(Topic::parse("balance-low").unwrap())
            .build(&sub, &signer)
            .unwrap();
        let h = &req.headers;
        assert_eq!(h["ttl"], "60");
        assert_eq!(h["urgency"], "high");
        assert_eq!(h["topic"], "balance-low");
        assert_eq!(h["content-encoding"], "aes128gcm");
        assert_eq!(h["content-type"], "application/octet-stream");
        assert!(h["authorization"].to_str().unwrap().starts_with("vapid t="));
        assert!(h.get("crypto-key").is_none() && h.get("encryption").is_none());
        assert_eq!(req.body.len(), 86 + 2 + 1 + 16);
    }

    #[test]
    fn aesgcm_headers() {
        let (sub, signer) = fixtures();
        let req = PushMessage::new(b"hi".to_vec(), Ttl::seconds(60))
            .encoding(ContentEncoding::AesGcm)
            .build(&sub, &signer)
            .unwrap();
        let h = &req.headers;
        assert_eq!(h["content-encoding"], "aesgcm");
        assert!(h["authorization"].to_str().unwrap().starts_with("WebPush ey"));
        let crypto_key = h["crypto-key"].to_str().unwrap();
        assert!(crypto_key.starts_with("dh=B"));
        assert!(crypto_key.ends_with(&format!(";p256ecdsa={}", signer.public_key())));
        assert!(h["encryption"].to_str().unwrap().starts_with("salt="));
    }

    #[test]
    fn empty_push_has_ttl_and_vapid_but_no_body() {
        let (sub, signer) = fixtures();
        let req = PushMessage::empty(Ttl::seconds(0)).build(&sub, &signer).unwrap();
        assert!(req.body.is_empty());
        assert_eq!(req.headers["ttl"], "0");
        assert!(req.headers.get("content-encoding").is_none());
        assert!(req.headers.contains_key("authorization"));
    }

    #[test]
    fn oversize_payload_is_refused_before_any_request() {
        let (sub, signer) = fixtures();
        let err = PushMessage::new(vec![0; 4000], Ttl::seconds(60))
            .build(&sub, &signer)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::PayloadTooLarge);
    }

    #[test]
    fn ttl_urgency_topic_validation() {
        assert_eq!(Ttl::parse("86400").unwrap().as_secs(), 86400);
        assert!(Ttl::parse("-1").is_err());
        assert!(Ttl::parse("1.5").is_err());
        assert!(Ttl::parse(&(MAX_TTL_SECONDS as u64 + 1).to_string()).is_err());
        assert_eq!(Ttl::seconds(u32::MAX).as_secs(), MAX_TTL_SECONDS);
        assert!(Urgency::parse("urgent").is_err());
        assert!(Topic::parse(&"a".repeat(32)).is_ok());
        assert!(Topic::parse(&"a".repeat(33)).is_err());
        assert!(Topic::parse("has space").is_err());
        assert!(Topic::parse("a=b").is_err());
        assert!(Topic::parse("").is_err());
        assert!(Topic::parse("news1").is_err());
        assert!(Topic::parse("news").is_ok());
    }

    proptest! {
        #[test]
        fn topic_accepts_exactly_short_url_safe_strings(text in ".{0,40}") {
            let valid = !text.is_empty()
                && text.len() <= 32
                && text.len() % 4 != 1
                && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            prop_assert_eq!(Topic::parse(&text).is_ok(), valid);
        }

        #[test]
        fn ttl_parse_never_panics(text in ".{0,30}") {
            let _ = Ttl::parse(&text);
        }
    }
}
