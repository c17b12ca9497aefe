//! VAPID application-server keys.
//!
//! A key pair is a P-256 ECDSA key. Two interchange formats are supported: the raw base64url
//! pair that web-push for Node prints (`publicKey` is the 65-byte uncompressed point,
//! `privateKey` the 32-byte scalar) and PKCS#8 PEM, which OpenSSL and most key stores speak.

use crate::base64url;
use crate::error::{Error, ErrorKind};
use aws_lc_rs::agreement;
use aws_lc_rs::encoding::AsBigEndian;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::Engine;

const PEM_LABEL: &str = "PRIVATE KEY";

/// A VAPID signing key pair. Its `Debug` never shows the private half.
pub struct VapidKeyPair {
    signing: EcdsaKeyPair,
    public: [u8; 65],
}

impl VapidKeyPair {
    /// Generates a fresh key pair from the operating system's RNG.
    pub fn generate() -> Result<Self, Error> {
        let signing = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)?;
        Self::from_signing_key(signing)
    }

    /// Imports the 32-byte private scalar; the public point is derived from it.
    pub fn from_private_bytes(private: &[u8]) -> Result<Self, Error> {
        let invalid = || {
            Error::new(
                ErrorKind::InvalidKey,
                "the VAPID private key must be a 32-byte P-256 scalar",
            )
        };
        if private.len() != 32 {
            return Err(invalid());
        }
        let public = agreement::PrivateKey::from_private_key(&agreement::ECDH_P256, private)
            .map_err(|_| invalid())?
            .compute_public_key()
            .map_err(|_| invalid())?;
        let signing =
            EcdsaKeyPair::from_private_key_and_public_key(&ECDSA_P256_SHA256_FIXED_SIGNING, private, public.as_ref())
                .map_err(|_| invalid())?;
        Self::from_signing_key(signing)
    }

    /// Imports the base64url private scalar (web-push's `privateKey`). When `public` is given it
    /// must match the private key.
    pub fn from_base64url(private: &str, public: Option<&str>) -> Result<Self, Error> {
        let bytes = base64url::decode(private.trim())
            .map_err(|_| Error::new(ErrorKind::InvalidBase64, "the VAPID private key is not valid base64url"))?;
        let pair = Self::from_private_bytes(&bytes)?;
        if let Some(public) = public {
            let expected = base64url::decode(public.trim())
                .map_err(|_| Error::new(ErrorKind::InvalidBase64, "the VAPID public key is not valid base64url"))?;
            if expected != pair.public {
                return Err(Error::new(
                    ErrorKind::InvalidKey,
                    "the VAPID public key does not belong to the private key",
                ));
            }
        }
        Ok(pair)
    }

    /// Imports a PEM `PRIVATE KEY` (PKCS#8) or `EC PRIVATE KEY` (SEC 1) block.
    pub fn from_pem(pem: &str) -> Result<Self, Error> {
        let der = pem_body(pem)?;
        let signing = EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_FIXED_SIGNING, &der)
            .map_err(|_| Error::new(ErrorKind::InvalidPem, "the PEM block is not a P-256 private key"))?;
        Self::from_signing_key(signing)
    }

    /// Reads either format: PEM when the text has a `-----BEGIN` line, else base64url raw.
    pub fn parse(text: &str) -> Result<Self, Error> {
        if text.contains("-----BEGIN") {
            Self::from_pem(text)
        } else {
            Self::from_base64url(text, None)
        }
    }

    fn from_signing_key(signing: EcdsaKeyPair) -> Result<Self, Error> {
        let public: [u8; 65] = signing
            .public_key()
            .as_ref()
            .try_into()
            .map_err(|_| Error::new(ErrorKind::Crypto, "unexpected public key length"))?;
        Ok(Self { signing, public })
    }

    /// The uncompressed public point, as browsers take it for `applicationServerKey`.
    pub fn public_key_bytes(&self) -> &[u8; 65] {
        &self.public
    }

    /// The public key as base64url (web-push's `publicKey`).
    pub fn public_key_base64url(&self) -> String {
        base64url::encode(self.public)
    }

    /// The private scalar as base64url (web-push's `privateKey`). Handle with care.
    pub fn private_key_base64url(&self) -> Result<String, Error> {
        let scalar = self.signing.private_key().as_be_bytes()?;
        Ok(base64url::encode(scalar.as_ref()))
    }

    /// The key pair as a PKCS#8 PEM block. Handle with care.
    pub fn to_pem(&self) -> Result<String, Error> {
        let der = self.signing.to_pkcs8v1()?;
        let body = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
        let mut pem = format!("-----BEGIN {PEM_LABEL}-----\n");
        for line in body.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).unwrap_or_default());
            pem.push('\n');
        }
        pem.push_str(&format!("-----END {PEM_LABEL}-----\n"));
        Ok(pem)
    }

    /// ES256 signature (`r || s`, 64 bytes) over `message`.
    pub(crate) fn sign(&self, message: &[u8]) -> Result<Vec<u8>, Error> {
        let signature = self.signing.sign(&SystemRandom::new(), message)?;
        Ok(signature.as_ref().to_vec())
    }
}

impl std::fmt::Debug for VapidKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VapidKeyPair")
            .field("public", &self.public_key_base64url())
            .finish_non_exhaustive()
    }
}

/// Extracts the DER bytes between the first `-----BEGIN …-----` and `-----END …-----` lines.
fn pem_body(pem: &str) -> Result<Vec<u8>, Error> {
    let invalid = || {
        Error::new(
            ErrorKind::InvalidPem,
            "not a PEM block (expected -----BEGIN PRIVATE KEY-----)",
        )
    };
    let mut lines = pem.lines().map(str::trim).skip_while(|l| !l.starts_with("-----BEGIN"));
    lines.next().ok_or_else(invalid)?;
    let mut body = String::new();
    for line in lines {
        if line.starts_with("-----END") {
            return base64::engine::general_purpose::STANDARD
                .decode(body)
                .map_err(|_| Error::new(ErrorKind::InvalidPem, "the PEM body is not valid base64"));
        }
        body.push_str(line);
    }
    Err(invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_round_trip() {
        let pair = VapidKeyPair::generate().unwrap();
        let private = pair.private_key_base64url().unwrap();
        let public = pair.public_key_base64url();
        assert_eq!(base64url::decode(&public).unwrap().len(), 65);
        assert_eq!(base64url::decode(&private).unwrap().len(), 32);
        let again = VapidKeyPair::from_base64url(&private, Some(&public)).unwrap();
        assert_eq!(again.public_key_bytes(), pair.public_key_bytes());
    }

    #[test]
    fn pem_round_trip() {
        let pair = VapidKeyPair::generate().unwrap();
        let pem = pair.to_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        let again = VapidKeyPair::parse(&pem).unwrap();
        assert_eq!(again.public_key_bytes(), pair.public_key_bytes());
        assert_eq!(
            again.private_key_base64url().unwrap(),
            pair.private_key_base64url().unwrap()
        );
    }

    #[test]
    fn rfc8291_application_server_key_derives_its_public_point() {
        let pair = VapidKeyPair::from_base64url("yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw", None).unwrap();
        assert_eq!(
            pair.public_key_base64url(),
            "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8"
        );
    }

    #[test]
    fn mismatched_public_key_is_refused() {
        let a = VapidKeyPair::generate().unwrap();
        let b = VapidKeyPair::generate().unwrap();
        let err = VapidKeyPair::from_base64url(&a.private_key_base64url().unwrap(), Some(&b.public_key_base64url()))
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidKey);
    }

    #[test]
    fn bad_input_names_the_problem() {
        assert_eq!(VapidKeyPair::parse("%%%").unwrap_err().kind(), ErrorKind::InvalidBase64);
        assert_eq!(VapidKeyPair::parse("AAAA").unwrap_err().kind(), ErrorKind::InvalidKey);
        // The zero scalar is not a valid private key.
        assert!(VapidKeyPair::from_private_bytes(&[0u8; 32]).is_err());
        assert_eq!(
            VapidKeyPair::parse("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----")
                .unwrap_err()
                .kind(),
            ErrorKind::InvalidPem
        );
        assert_eq!(
            VapidKeyPair::parse("-----BEGIN PRIVATE KEY-----\n").unwrap_err().kind(),
            ErrorKind::InvalidPem
        );
    }

    #[test]
    fn debug_hides_the_private_key() {
        let pair = VapidKeyPair::generate().unwrap();
        let shown = format!("{pair:?}");
        assert!(!shown.contains(&pair.private_key_base64url().unwrap()));
    }
}
