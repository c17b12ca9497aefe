//! A fake browser: the keys a real one generates when it subscribes.

use p256::SecretKey;
use rand::RngCore;

/// One device's push subscription keys.
#[derive(Clone)]
pub struct Browser {
    pub(crate) secret: SecretKey,
    pub p256dh: [u8; 65],
    pub auth: [u8; 16],
}

impl Browser {
    pub fn generate() -> Self {
        let mut rng = rand::rng();
        let secret = loop {
            let mut bytes = [0u8; 32];
            rng.fill_bytes(&mut bytes);
            if let Ok(secret) = SecretKey::from_slice(&bytes) {
                break secret;
            }
        };
        let mut auth = [0u8; 16];
        rng.fill_bytes(&mut auth);
        Self::from_parts(secret, auth)
    }

    /// The RFC 8291 Appendix A user agent.
    pub fn from_private(private: &[u8], auth: [u8; 16]) -> Self {
        Self::from_parts(SecretKey::from_slice(private).expect("valid scalar"), auth)
    }

    fn from_parts(secret: SecretKey, auth: [u8; 16]) -> Self {
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        let point = secret.public_key().to_encoded_point(false);
        let p256dh: [u8; 65] = point.as_bytes().try_into().expect("uncompressed point");
        Self { secret, p256dh, auth }
    }

    pub fn p256dh_b64(&self) -> String {
        crate::b64(self.p256dh)
    }

    pub fn auth_b64(&self) -> String {
        crate::b64(self.auth)
    }

    /// `PushSubscription.toJSON()` for this device at `endpoint`.
    pub fn subscription_json(&self, endpoint: &str) -> serde_json::Value {
        serde_json::json!({
            "endpoint": endpoint,
            "expirationTime": null,
            "keys": { "p256dh": self.p256dh_b64(), "auth": self.auth_b64() }
        })
    }
}
