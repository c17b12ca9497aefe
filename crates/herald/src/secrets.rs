//! Secrets: generation, hashing and constant-time checks, and the owner tokens that host
//! applications sign so a browser can register itself.
//!
//! Subscription secrets and the admin token are 256 random bits, so a plain SHA-256 is a
//! sufficient one-way hash for them (no password stretching is needed for random tokens).

use crate::domain::segment::Tag;
use crate::domain::{Owner, OwnerId, OwnerKind};
use aws_lc_rs::{constant_time, digest, hmac, rand};
use herald_push::base64url;

/// An unguessable identifier: 128 random bits, base64url (22 characters).
pub fn random_id() -> String {
    let mut bytes = [0u8; 16];
    rand::fill(&mut bytes).expect("the OS RNG works");
    base64url::encode(bytes)
}

/// The base64url characters in ASCII order: text written with them sorts as its numbers do.
const ORDERED_ALPHABET: &[u8; 64] = b"-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz";

/// An identifier for a row of a large table (subscriptions, messages): 22 base64url characters
/// like [`random_id`], the first 8 the creation time in milliseconds and the other 14 random
/// (84 bits, still unguessable).
///
/// New ids sort after older ones, so each index that holds them (the subscriptions' own, their
/// activity, the outbox by message and subscription) grows at its end, and a broadcast, which
/// walks subscriptions in the order they were made, reads and writes those indexes page after
/// page instead of one random page per push: a settled batch of hundreds of pushes rewrote
/// about as many pages of the activity table; now a handful.
pub fn ordered_id() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let mut random = [0u8; 14];
    rand::fill(&mut random).expect("the OS RNG works");
    let time = (0..8).rev().map(|i| ((now >> (6 * i)) & 63) as u8);
    // 256 is a multiple of 64: each character of the random part is uniform.
    let chars = time.chain(random.iter().map(|b| b & 63));
    chars.map(|c| char::from(ORDERED_ALPHABET[usize::from(c)])).collect()
}

/// True for strings that can be an id: 1 to 64 URL-safe base64 characters.
pub fn is_valid_id(text: &str) -> bool {
    !text.is_empty() && text.len() <= 64 && base64url::is_url_safe_alphabet(text)
}

/// A random positive integer, for marking rows claimed by one request.
pub fn random_claim() -> i64 {
    let mut bytes = [0u8; 8];
    rand::fill(&mut bytes).expect("the OS RNG works");
    (i64::from_le_bytes(bytes) & i64::MAX).max(1)
}

/// A new secret (256 random bits, base64url) and the hash to store.
pub fn new_secret() -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes).expect("the OS RNG works");
    let secret = base64url::encode(bytes);
    let hash = hash_secret(&secret);
    (secret, hash)
}

/// The stored form of a secret.
pub fn hash_secret(secret: &str) -> String {
    base64url::encode(digest::digest(&digest::SHA256, secret.as_bytes()))
}

/// Compares a presented secret with a stored hash in constant time.
pub fn verify_secret(presented: &str, stored_hash: &str) -> bool {
    constant_time::verify_slices_are_equal(hash_secret(presented).as_bytes(), stored_hash.as_bytes()).is_ok()
}

/// Why an owner token was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum OwnerTokenError {
    #[error("the owner token is malformed")]
    Malformed,
    #[error("the owner token must use alg HS256")]
    Algorithm,
    #[error("the owner token signature is invalid")]
    Signature,
    #[error("the owner token has expired")]
    Expired,
    #[error("the owner token must carry exp no more than 24 hours ahead")]
    Lifetime,
    #[error("the owner token must carry exactly one of uid and aid: {0}")]
    Owner(crate::domain::ValidationError),
    #[error("the owner token's `tags` claim must be an array of at most {max} tags: {0}", max = Tag::MAX_PER_SUBSCRIPTION)]
    Tags(String),
}

/// What a valid owner token says: whose browser may register, and the segment tags that
/// browser may give itself (none unless the token's signer listed them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerClaims {
    pub owner: Owner,
    /// Sorted, repeats dropped; empty when the token has no `tags` claim.
    pub tags: Vec<Tag>,
}

/// Signs and verifies owner tokens: HS256 JWTs whose claims carry `uid` or `aid`, `exp`, and
/// optionally `tags`.
pub struct OwnerTokenKey {
    key: hmac::Key,
}

impl OwnerTokenKey {
    /// Longest lifetime accepted: owner tokens are meant to be short-lived.
    pub const MAX_LIFETIME_SECS: i64 = 24 * 3600;
    /// Longest token read: room for the largest one [`sign`](Self::sign) makes (64 tags of 64
    /// characters come to about 6 KB), while a hostile one costs little to refuse.
    pub const MAX_TOKEN_LEN: usize = 8192;

    pub fn new(secret: &[u8]) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
        }
    }

    /// A token for `owner` valid for `lifetime_secs` from `now_secs`, allowing the browser
    /// that presents it to register with `tags` (the claim is left out when there are none).
    pub fn sign(&self, owner: &Owner, tags: &[Tag], now_secs: i64, lifetime_secs: i64) -> String {
        let header = base64url::encode(r#"{"alg":"HS256","typ":"JWT"}"#);
        let mut claims = owner.to_json();
        if !tags.is_empty() {
            claims["tags"] = tags.iter().map(Tag::as_str).collect::<Vec<_>>().into();
        }
        claims["exp"] = (now_secs + lifetime_secs).into();
        claims["iat"] = now_secs.into();
        let signing_input = format!("{header}.{}", base64url::encode(claims.to_string()));
        let tag = hmac::sign(&self.key, signing_input.as_bytes());
        format!("{signing_input}.{}", base64url::encode(tag.as_ref()))
    }

    /// Checks the signature (constant time), the algorithm, `exp`, the owner claim and the
    /// `tags` claim.
    pub fn verify(&self, token: &str, now_secs: i64) -> Result<OwnerClaims, OwnerTokenError> {
        if token.len() > Self::MAX_TOKEN_LEN {
            return Err(OwnerTokenError::Malformed);
        }
        let mut parts = token.split('.');
        let (Some(header), Some(claims), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(OwnerTokenError::Malformed);
        };
        let decode_json = |part: &str| -> Result<serde_json::Value, OwnerTokenError> {
            let bytes = base64url::decode(part).map_err(|_| OwnerTokenError::Malformed)?;
            serde_json::from_slice(&bytes).map_err(|_| OwnerTokenError::Malformed)
        };
        if decode_json(header)?["alg"] != "HS256" {
            return Err(OwnerTokenError::Algorithm);
        }
        let signature = base64url::decode(signature).map_err(|_| OwnerTokenError::Malformed)?;
        hmac::verify(&self.key, format!("{header}.{claims}").as_bytes(), &signature)
            .map_err(|_| OwnerTokenError::Signature)?;
        let claims = decode_json(claims)?;
        let exp = claims["exp"].as_i64().ok_or(OwnerTokenError::Lifetime)?;
        if exp <= now_secs {
            return Err(OwnerTokenError::Expired);
        }
        if exp > now_secs + Self::MAX_LIFETIME_SECS {
            return Err(OwnerTokenError::Lifetime);
        }
        let owner = match (claims.get("uid"), claims.get("aid")) {
            (Some(uid), None) => Owner {
                kind: OwnerKind::Client,
                id: OwnerId::from_json(uid).map_err(OwnerTokenError::Owner)?,
            },
            (None, Some(aid)) => Owner {
                kind: OwnerKind::Admin,
                id: OwnerId::from_json(aid).map_err(OwnerTokenError::Owner)?,
            },
            _ => {
                return Err(OwnerTokenError::Owner(crate::domain::ValidationError::new(
                    "",
                    "found neither or both",
                )))
            }
        };
        let tags = match claims.get("tags") {
            None => Vec::new(),
            Some(serde_json::Value::Array(items)) => {
                let texts = items
                    .iter()
                    .map(|item| {
                        item.as_str()
                            .ok_or_else(|| OwnerTokenError::Tags("found a non-string".into()))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Tag::parse_list(&texts).map_err(|e| OwnerTokenError::Tags(e.to_string()))?
            }
            Some(_) => return Err(OwnerTokenError::Tags("found a non-array".into())),
        };
        Ok(OwnerClaims { owner, tags })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordered_ids_sort_by_creation_and_stay_unguessable() {
        let mut sorted = *ORDERED_ALPHABET;
        sorted.sort_unstable();
        assert_eq!(&sorted, ORDERED_ALPHABET, "the alphabet is in ASCII order");
        assert!(base64url::is_url_safe_alphabet(
            std::str::from_utf8(ORDERED_ALPHABET).unwrap()
        ));
        let first = ordered_id();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = ordered_id();
        assert!(first < second, "{first} then {second}");
        assert_eq!(first.len(), 22);
        assert!(is_valid_id(&first));
        // Same millisecond, different random parts.
        let ids: std::collections::HashSet<String> = (0..1000).map(|_| ordered_id()).collect();
        assert_eq!(ids.len(), 1000);
        assert!(ids.iter().all(|id| id[..8] >= first[..8]));
    }

    fn owner(kind: OwnerKind, id: &str) -> Owner {
        Owner {
            kind,
            id: OwnerId::parse(id).unwrap(),
        }
    }

    #[test]
    fn ids_and_secrets_are_long_and_distinct() {
        assert_eq!(base64url::decode(&random_id()).unwrap().len(), 16);
        assert_ne!(random_id(), random_id());
        let (secret, hash) = new_secret();
        assert_eq!(base64url::decode(&secret).unwrap().len(), 32);
        assert!(verify_secret(&secret, &hash));
        assert!(!verify_secret("guess", &hash));
        assert_ne!(secret, hash);
    }

    #[test]
    fn the_largest_token_signed_is_read_back() {
        let key = OwnerTokenKey::new(b"0123456789abcdef0123456789abcdef");
        let tags: Vec<crate::domain::segment::Tag> = (0..crate::domain::segment::Tag::MAX_PER_SUBSCRIPTION)
            .map(|i| crate::domain::segment::Tag::parse(&format!("{i:0>64}")).unwrap())
            .collect();
        // Four bytes a character: the longest id in bytes.
        let longest_id = "\u{1F600}".repeat(crate::domain::OwnerId::MAX_LEN);
        let token = key.sign(&owner(OwnerKind::Client, &longest_id), &tags, 1_800_000_000, 600);
        assert_eq!(key.verify(&token, 1_800_000_000).unwrap().tags, tags);
    }

    #[test]
    fn owner_tokens() {
        let key = OwnerTokenKey::new(b"0123456789abcdef0123456789abcdef");
        let now = 1_800_000_000;
        let token = key.sign(&owner(OwnerKind::Admin, "7"), &[], now, 600);
        let claims = key.verify(&token, now).unwrap();
        assert_eq!(claims.owner, owner(OwnerKind::Admin, "7"));
        assert!(claims.tags.is_empty());
        assert_eq!(key.verify(&token, now + 601), Err(OwnerTokenError::Expired));
        let other = OwnerTokenKey::new(b"another-secret-another-secret-xx");
        assert_eq!(other.verify(&token, now), Err(OwnerTokenError::Signature));
        let long = key.sign(&owner(OwnerKind::Client, "1"), &[], now, 7 * 86400);
        assert_eq!(key.verify(&long, now), Err(OwnerTokenError::Lifetime));
        assert_eq!(key.verify("a.b", now), Err(OwnerTokenError::Malformed));
        // alg "none" must never pass.
        let parts: Vec<&str> = token.split('.').collect();
        let none = format!("{}.{}.", base64url::encode(r#"{"alg":"none"}"#), parts[1]);
        assert_eq!(key.verify(&none, now), Err(OwnerTokenError::Algorithm));
        // A tampered claim breaks the signature.
        let forged_claims = base64url::encode(format!(r#"{{"aid":"1","exp":{}}}"#, now + 60));
        let forged = format!("{}.{}.{}", parts[0], forged_claims, parts[2]);
        assert_eq!(key.verify(&forged, now), Err(OwnerTokenError::Signature));
    }

    #[test]
    fn owner_tokens_carry_signed_tags() {
        let key = OwnerTokenKey::new(b"0123456789abcdef0123456789abcdef");
        let now = 1_800_000_000;
        let tags = Tag::parse_list(&["district:12", "vip"]).unwrap();
        let token = key.sign(&owner(OwnerKind::Client, "5"), &tags, now, 600);
        assert_eq!(key.verify(&token, now).unwrap().tags, tags);
        // Adding a tag to the claims breaks the signature.
        let parts: Vec<&str> = token.split('.').collect();
        let claims = base64url::encode(format!(
            r#"{{"uid":"5","tags":["district:12","vip","admin"],"exp":{}}}"#,
            now + 60
        ));
        let forged = format!("{}.{claims}.{}", parts[0], parts[2]);
        assert_eq!(key.verify(&forged, now), Err(OwnerTokenError::Signature));
        // A host application that signs a bad claim itself is told so.
        let sign_claims = |claims: String| {
            let input = format!("{}.{}", parts[0], base64url::encode(claims));
            let tag = hmac::sign(&key.key, input.as_bytes());
            format!("{input}.{}", base64url::encode(tag.as_ref()))
        };
        for bad in [r#""vip""#, r#"["a b"]"#, "[1]"] {
            let token = sign_claims(format!(r#"{{"uid":"5","tags":{bad},"exp":{}}}"#, now + 60));
            assert!(
                matches!(key.verify(&token, now), Err(OwnerTokenError::Tags(_))),
                "{bad}"
            );
        }
    }
}
