//! VAPID (RFC 8292): identifying the application server to the push service.
//!
//! Signing an ES256 JWT costs about as much as encrypting a message, and the token is valid for
//! hours, so [`VapidSigner`] signs one token per push-service origin and reuses it until shortly
//! before it expires. Reference libraries re-sign per message; not doing so halves the cost.

use crate::base64url;
use crate::error::{Error, ErrorKind};
use crate::keys::VapidKeyPair;
use http::HeaderValue;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Default token lifetime: 12 hours, the common choice.
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// Longest lifetime RFC 8292 allows push services to accept.
pub const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// Bound on cached origins; push services are few, so this is only a guard.
const MAX_CACHED_ORIGINS: usize = 1024;

/// The `sub` claim: a contact for the push service's operators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VapidSubject(String);

impl VapidSubject {
    /// Accepts `mailto:user@host` or an `https:` URL with a host.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let text = text.trim();
        let invalid = |why: &str| {
            Error::new(
                ErrorKind::InvalidSubject,
                format!("invalid VAPID subject {text:?}: {why}; use mailto:you@example.com or an https:// URL"),
            )
        };
        if let Some(address) = text.strip_prefix("mailto:") {
            let (local, domain) = address.split_once('@').ok_or_else(|| invalid("the address has no @"))?;
            if local.is_empty() || domain.is_empty() || domain.contains(['@', ' ', '/']) {
                return Err(invalid("the address is not of the form user@host"));
            }
        } else if text.starts_with("https:") {
            let url = url::Url::parse(text).map_err(|e| invalid(&e.to_string()))?;
            if url.host_str().is_none_or(str::is_empty) {
                return Err(invalid("the URL has no host"));
            }
        } else {
            return Err(invalid("it must start with mailto: or https:"));
        }
        Ok(Self(text.to_owned()))
    }

    /// True when the subject names localhost: Apple's push service refuses such tokens.
    pub fn names_localhost(&self) -> bool {
        let host = match self.0.strip_prefix("mailto:") {
            Some(address) => address.rsplit('@').next().unwrap_or_default().to_ascii_lowercase(),
            None => url::Url::parse(&self.0)
                .ok()
                .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
                .unwrap_or_default(),
        };
        host == "localhost" || host.ends_with(".localhost") || host == "127.0.0.1" || host == "[::1]"
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Clone)]
struct CachedToken {
    jwt: Arc<str>,
    /// `vapid t=<jwt>, k=<key>`, built once: a clone shares its bytes.
    header: HeaderValue,
    expires_at: u64,
}

/// Signs and caches VAPID tokens for one key pair and subject.
pub struct VapidSigner {
    key: VapidKeyPair,
    subject: VapidSubject,
    public_key: String,
    lifetime: Duration,
    cache: RwLock<HashMap<String, CachedToken>>,
}

impl VapidSigner {
    /// A signer with the default 12-hour token lifetime.
    pub fn new(key: VapidKeyPair, subject: VapidSubject) -> Self {
        let public_key = key.public_key_base64url();
        Self {
            key,
            subject,
            public_key,
            lifetime: DEFAULT_TOKEN_LIFETIME,
            cache: RwLock::new(HashMap::new()),
        }
    }

    /// Sets the token lifetime; it is clamped to 24 hours, the most RFC 8292 allows.
    pub fn with_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime.clamp(Duration::from_secs(60), MAX_TOKEN_LIFETIME);
        self
    }

    pub fn key(&self) -> &VapidKeyPair {
        &self.key
    }

    pub fn subject(&self) -> &VapidSubject {
        &self.subject
    }

    /// The public key as base64url: the `k=` parameter and the browser's `applicationServerKey`.
    pub fn public_key(&self) -> &str {
        &self.public_key
    }

    /// The RFC 8292 header value: `vapid t=<jwt>, k=<public key>`.
    pub fn authorization(&self, origin: &str, now: SystemTime) -> Result<String, Error> {
        let header = self.authorization_header(origin, now)?;
        Ok(String::from_utf8_lossy(header.as_bytes()).into_owned())
    }

    /// [`Self::authorization`] as a header value, cached with its token: a push to a known
    /// origin copies no bytes for it.
    pub fn authorization_header(&self, origin: &str, now: SystemTime) -> Result<HeaderValue, Error> {
        Ok(self.cached(origin, now)?.header)
    }

    /// A signed JWT for `origin` (the `aud` claim), reused while it has more than a margin of
    /// its lifetime left: the smaller of one hour and half the lifetime.
    pub fn token(&self, origin: &str, now: SystemTime) -> Result<Arc<str>, Error> {
        Ok(self.cached(origin, now)?.jwt)
    }

    fn cached(&self, origin: &str, now: SystemTime) -> Result<CachedToken, Error> {
        let now_secs = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let margin = (self.lifetime / 2).min(Duration::from_secs(3600)).as_secs();
        if let Some(cached) = self.cache.read().unwrap_or_else(|p| p.into_inner()).get(origin) {
            if cached.expires_at > now_secs + margin {
                return Ok(cached.clone());
            }
        }
        let expires_at = now_secs + self.lifetime.as_secs();
        let jwt: Arc<str> = self.sign(origin, expires_at)?.into();
        // Base64url and the key's base64url: always a valid header value.
        let header = HeaderValue::try_from(format!("vapid t={jwt}, k={}", self.public_key))
            .map_err(|_| Error::new(ErrorKind::Crypto, "the VAPID header is not valid ASCII"))?;
        let token = CachedToken {
            jwt,
            header,
            expires_at,
        };
        let mut cache = self.cache.write().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= MAX_CACHED_ORIGINS {
            cache.retain(|_, t| t.expires_at > now_secs + margin);
            if cache.len() >= MAX_CACHED_ORIGINS {
                cache.clear();
            }
        }
        cache.insert(origin.to_owned(), token.clone());
        Ok(token)
    }

    /// Forgets every cached token, so the next request signs afresh.
    pub fn clear_cache(&self) {
        self.cache.write().unwrap_or_else(|p| p.into_inner()).clear();
    }

    fn sign(&self, audience: &str, expires_at: u64) -> Result<String, Error> {
        const HEADER: &str = r#"{"typ":"JWT","alg":"ES256"}"#;
        let claims = serde_json::json!({ "aud": audience, "exp": expires_at, "sub": self.subject.as_str() });
        let mut jwt = base64url::encode(HEADER);
        jwt.push('.');
        jwt.push_str(&base64url::encode(claims.to_string()));
        let signature = self.key.sign(jwt.as_bytes())?;
        jwt.push('.');
        jwt.push_str(&base64url::encode(signature));
        Ok(jwt)
    }
}

impl std::fmt::Debug for VapidSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VapidSigner")
            .field("public_key", &self.public_key)
            .field("subject", &self.subject)
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> VapidSigner {
        VapidSigner::new(
            VapidKeyPair::generate().unwrap(),
            VapidSubject::parse("mailto:ops@example.com").unwrap(),
        )
    }

    fn claims(jwt: &str) -> serde_json::Value {
        let part = jwt.split('.').nth(1).unwrap();
        serde_json::from_slice(&base64url::decode(part).unwrap()).unwrap()
    }

    #[test]
    fn subjects() {
        assert!(VapidSubject::parse("mailto:ops@example.com").is_ok());
        assert!(VapidSubject::parse("https://example.com/contact").is_ok());
        for bad in [
            "",
            "ops@example.com",
            "mailto:",
            "mailto:ops",
            "http://example.com",
            "https://",
            "tel:123",
        ] {
            let err = VapidSubject::parse(bad).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidSubject, "{bad}");
            assert!(err.message().contains("mailto:"), "{bad}");
        }
        assert!(VapidSubject::parse("mailto:me@localhost").unwrap().names_localhost());
        assert!(VapidSubject::parse("https://localhost:8080/")
            .unwrap()
            .names_localhost());
        assert!(!VapidSubject::parse("mailto:me@example.com").unwrap().names_localhost());
    }

    #[test]
    fn claims_are_aud_exp_sub() {
        let s = signer();
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let jwt = s.token("https://push.example.net:8443", now).unwrap();
        let c = claims(&jwt);
        assert_eq!(c["aud"], "https://push.example.net:8443");
        assert_eq!(c["exp"], 1_700_000_000u64 + 12 * 3600);
        assert_eq!(c["sub"], "mailto:ops@example.com");
        let header: serde_json::Value =
            serde_json::from_slice(&base64url::decode(jwt.split('.').next().unwrap()).unwrap()).unwrap();
        assert_eq!(header["alg"], "ES256");
        assert_eq!(base64url::decode(jwt.split('.').nth(2).unwrap()).unwrap().len(), 64);
    }

    #[test]
    fn lifetime_is_clamped_to_24_hours() {
        let s = signer().with_lifetime(Duration::from_secs(7 * 24 * 3600));
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        let c = claims(&s.token("https://a.example", now).unwrap());
        assert_eq!(c["exp"], 1_000u64 + 24 * 3600);
    }

    #[test]
    fn one_token_per_origin_is_reused_until_near_expiry() {
        let s = signer();
        let t0 = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let a = s.token("https://a.example", t0).unwrap();
        let a_later = s
            .token("https://a.example", t0 + Duration::from_secs(10 * 3600))
            .unwrap();
        assert!(Arc::ptr_eq(&a, &a_later), "reused within its lifetime");
        let b = s.token("https://b.example", t0).unwrap();
        assert_ne!(a, b, "each origin has its own audience");
        let renewed = s
            .token("https://a.example", t0 + Duration::from_secs(11 * 3600 + 1))
            .unwrap();
        assert_ne!(a, renewed, "re-signed within the last hour");
        assert_eq!(claims(&renewed)["exp"], 1_000_000u64 + (11 * 3600 + 1) + 12 * 3600);
    }

    #[test]
    fn authorization_header_form() {
        let s = signer();
        let header = s.authorization("https://a.example", SystemTime::now()).unwrap();
        assert!(header.starts_with("vapid t=ey"));
        assert!(header.ends_with(&format!(", k={}", s.public_key())));
    }
}
