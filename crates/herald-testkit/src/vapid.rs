//! VAPID verification as a push service does it (RFC 8292).

use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct VapidClaims {
    pub aud: String,
    pub exp: u64,
    pub sub: String,
}

/// Checks an `Authorization` header (`vapid t=…, k=…`, or draft `WebPush <jwt>` with the key
/// from `Crypto-Key: p256ecdsa=…`). Returns the claims and the signing public key.
pub fn verify_vapid(
    authorization: &str,
    crypto_key: Option<&str>,
    expected_audience: &str,
    now_unix: u64,
) -> Result<(VapidClaims, Vec<u8>), String> {
    let (jwt, key) = if let Some(rest) = authorization.strip_prefix("vapid ") {
        let mut t = None;
        let mut k = None;
        for part in rest.split(',') {
            let part = part.trim();
            if let Some(v) = part.strip_prefix("t=") {
                t = Some(v.to_owned());
            } else if let Some(v) = part.strip_prefix("k=") {
                k = Some(v.to_owned());
            }
        }
        (t.ok_or("no t=")?, k.ok_or("no k=")?)
    } else if let Some(jwt) = authorization.strip_prefix("WebPush ") {
        let key = crypto_key
            .and_then(|h| h.split([';', ',']).find_map(|p| p.trim().strip_prefix("p256ecdsa=")))
            .ok_or("WebPush scheme without Crypto-Key p256ecdsa=")?;
        (jwt.to_owned(), key.to_owned())
    } else {
        return Err(format!("unknown authorization scheme: {authorization}"));
    };
    let key_bytes = crate::unb64(&key).ok_or("k is not base64url")?;
    let verifying = VerifyingKey::from_sec1_bytes(&key_bytes).map_err(|_| "k is not a P-256 key")?;
    let mut parts = jwt.split('.');
    let (h, c, s) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(h), Some(c), Some(s), None) => (h, c, s),
        _ => return Err("JWT does not have three parts".into()),
    };
    let header: serde_json::Value =
        serde_json::from_slice(&crate::unb64(h).ok_or("header b64")?).map_err(|e| e.to_string())?;
    if header["alg"] != "ES256" {
        return Err(format!("alg is {} not ES256", header["alg"]));
    }
    let signature =
        Signature::from_slice(&crate::unb64(s).ok_or("sig b64")?).map_err(|_| "signature is not 64 bytes")?;
    verifying
        .verify(format!("{h}.{c}").as_bytes(), &signature)
        .map_err(|_| "signature does not verify")?;
    let claims: VapidClaims =
        serde_json::from_slice(&crate::unb64(c).ok_or("claims b64")?).map_err(|e| format!("claims: {e}"))?;
    if claims.aud != expected_audience {
        return Err(format!("aud {} is not {}", claims.aud, expected_audience));
    }
    if claims.exp <= now_unix || claims.exp > now_unix + 24 * 3600 {
        return Err(format!("exp {} is not within 24 h of {now_unix}", claims.exp));
    }
    if !(claims.sub.starts_with("mailto:") || claims.sub.starts_with("https:")) {
        return Err(format!("sub {} is neither mailto: nor https:", claims.sub));
    }
    Ok((claims, key_bytes))
}
