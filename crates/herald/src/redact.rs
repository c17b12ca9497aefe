//! How capability URLs appear in logs. A push endpoint is a bearer capability: whoever knows
//! it can register it for themselves (and, before that was closed, read what waited for it),
//! so logs name an endpoint by its origin and a short hash, which is enough to tell endpoints
//! apart and to find one in the database, and never by its path.

use aws_lc_rs::digest;
use herald_push::base64url;

/// `https://push.example#Ab12Cd34`: the origin and the first 48 bits of the endpoint's SHA-256.
pub fn endpoint(endpoint: &str) -> String {
    let origin = url::Url::parse(endpoint)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_else(|_| "invalid-url".into());
    let hash = base64url::encode(digest::digest(&digest::SHA256, endpoint.as_bytes()));
    format!("{origin}#{}", &hash[..8])
}

/// `text` with every appearance of the endpoint, or of its path, replaced by its label; for
/// push-service answers, which may echo what they were sent.
pub fn scrub(text: &str, endpoint_url: &str) -> String {
    let label = endpoint(endpoint_url);
    let mut out = text.replace(endpoint_url, &label);
    if let Ok(url) = url::Url::parse(endpoint_url) {
        for segment in url.path().split('/').filter(|s| s.len() >= 8) {
            out = out.replace(segment, "…");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endpoint_is_named_by_origin_and_hash() {
        let full = "https://fcm.googleapis.com/fcm/send/dQw4w9WgXcQ:APA91bSecretToken";
        let label = endpoint(full);
        assert!(label.starts_with("https://fcm.googleapis.com#"), "{label}");
        assert!(!label.contains("APA91b") && !label.contains("/fcm/send"), "{label}");
        assert_ne!(label, endpoint("https://fcm.googleapis.com/fcm/send/other"));
        assert_eq!(label, endpoint(full));
        let scrubbed = scrub(&format!("bad token dQw4w9WgXcQ:APA91bSecretToken in {full}"), full);
        assert!(!scrubbed.contains("APA91bSecretToken"), "{scrubbed}");
    }
}
