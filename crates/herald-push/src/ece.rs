//! Message encryption for Web Push (RFC 8291) over the `aes128gcm` content coding (RFC 8188),
//! plus the legacy `aesgcm` coding that pre-2018 browsers and web-push for Node still speak.
//!
//! Each message gets a fresh ephemeral P-256 key and a fresh 16-byte salt ([`SenderKeys`]).
//! The body is built in one allocation: header, then plaintext sealed in place, then the tag.

use crate::error::{Error, ErrorKind};
use crate::subscription::{AuthSecret, P256dhKey};
use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_128_GCM};
use aws_lc_rs::agreement::{self, ECDH_P256};
use aws_lc_rs::hkdf::{KeyType, Prk, Salt, HKDF_SHA256};

/// Largest body a push service must accept (RFC 8030 §7.2).
pub const MAX_BODY: usize = 4096;
/// Record size Web Push uses.
pub const WEB_PUSH_RECORD_SIZE: u32 = 4096;
const TAG_LEN: usize = 16;
/// `salt(16) || rs(4) || idlen(1) || keyid(65)`.
const AES128GCM_HEADER_LEN: usize = 16 + 4 + 1 + 65;
/// Largest plaintext in one Web Push `aes128gcm` record: 4096 − 86 header − 1 delimiter − 16 tag.
pub const AES128GCM_MAX_PLAINTEXT: usize = MAX_BODY - AES128GCM_HEADER_LEN - 1 - TAG_LEN;
/// Largest plaintext in one `aesgcm` record: 4096 − 2 padding length − 16 tag.
pub const AESGCM_MAX_PLAINTEXT: usize = MAX_BODY - 2 - TAG_LEN;

/// The content coding of an encrypted push.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ContentEncoding {
    /// RFC 8291 / RFC 8188: what every current browser speaks.
    #[default]
    Aes128Gcm,
    /// draft-ietf-webpush-encryption-04: only for very old browsers.
    AesGcm,
}

impl ContentEncoding {
    pub fn parse(text: &str) -> Result<Self, Error> {
        match text {
            "aes128gcm" => Ok(Self::Aes128Gcm),
            "aesgcm" => Ok(Self::AesGcm),
            other => Err(Error::new(
                ErrorKind::Crypto,
                format!("unknown content encoding {other:?}; use aes128gcm or aesgcm"),
            )),
        }
    }

    /// The `Content-Encoding` header value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Aes128Gcm => "aes128gcm",
            Self::AesGcm => "aesgcm",
        }
    }

    /// Largest plaintext (payload plus padding) one push can carry.
    pub fn max_plaintext(self) -> usize {
        match self {
            Self::Aes128Gcm => AES128GCM_MAX_PLAINTEXT,
            Self::AesGcm => AESGCM_MAX_PLAINTEXT,
        }
    }
}

/// The application server's per-message ephemeral key pair and salt.
pub struct SenderKeys {
    private: agreement::PrivateKey,
    public: [u8; 65],
    salt: [u8; 16],
}

impl SenderKeys {
    /// A fresh key pair and salt from the operating system's RNG.
    pub fn generate() -> Result<Self, Error> {
        let private = agreement::PrivateKey::generate(&ECDH_P256)?;
        let mut salt = [0u8; 16];
        aws_lc_rs::rand::fill(&mut salt)?;
        Self::assemble(private, salt)
    }

    /// Fixed keys, for reproducing published test vectors only: reusing a key or salt across
    /// messages weakens the encryption.
    pub fn from_fixed(private_scalar: &[u8], salt: [u8; 16]) -> Result<Self, Error> {
        let private = agreement::PrivateKey::from_private_key(&ECDH_P256, private_scalar)
            .map_err(|_| Error::new(ErrorKind::InvalidKey, "not a P-256 private scalar"))?;
        Self::assemble(private, salt)
    }

    fn assemble(private: agreement::PrivateKey, salt: [u8; 16]) -> Result<Self, Error> {
        let public: [u8; 65] = private
            .compute_public_key()?
            .as_ref()
            .try_into()
            .map_err(|_| Error::new(ErrorKind::Crypto, "unexpected public key length"))?;
        Ok(Self { private, public, salt })
    }

    pub fn public_key(&self) -> &[u8; 65] {
        &self.public
    }

    pub fn salt(&self) -> &[u8; 16] {
        &self.salt
    }
}

/// An encrypted message and what the request headers need to describe it.
#[derive(Debug, Clone)]
pub struct EncryptedPayload {
    pub encoding: ContentEncoding,
    pub body: Vec<u8>,
    /// Needed for the `aesgcm` `Encryption: salt=` header; inside the body for `aes128gcm`.
    pub salt: [u8; 16],
    /// Needed for the `aesgcm` `Crypto-Key: dh=` header; inside the body for `aes128gcm`.
    pub sender_public: [u8; 65],
}

/// Encrypts `plaintext` for a subscription with fresh keys. `padding` zero bytes are added
/// to hide the length; plaintext plus padding must fit [`ContentEncoding::max_plaintext`].
pub fn encrypt(
    encoding: ContentEncoding,
    p256dh: &P256dhKey,
    auth: &AuthSecret,
    plaintext: &[u8],
    padding: usize,
) -> Result<EncryptedPayload, Error> {
    encrypt_with(&SenderKeys::generate()?, encoding, p256dh, auth, plaintext, padding)
}

/// Encrypts with the given sender keys (see [`SenderKeys::from_fixed`] for test vectors).
pub fn encrypt_with(
    keys: &SenderKeys,
    encoding: ContentEncoding,
    p256dh: &P256dhKey,
    auth: &AuthSecret,
    plaintext: &[u8],
    padding: usize,
) -> Result<EncryptedPayload, Error> {
    check_size(encoding, plaintext.len(), padding)?;
    let ua_public = p256dh.as_bytes();
    let ecdh_secret = agreement::agree(
        &keys.private,
        p256dh.parsed().clone(),
        Error::new(ErrorKind::InvalidKey, "key agreement with p256dh failed"),
        |shared| Ok(<[u8; 32]>::try_from(shared).unwrap_or_default()),
    )?;
    let body = match encoding {
        ContentEncoding::Aes128Gcm => {
            // RFC 8291 §3.4: IKM = HKDF(auth, ecdh, "WebPush: info" || 0 || ua || as, 32).
            let prk_key = Salt::new(HKDF_SHA256, auth.as_bytes()).extract(&ecdh_secret);
            let ikm: [u8; 32] = expand(&prk_key, &[b"WebPush: info\0", ua_public, &keys.public])?;
            let record: &[(&[u8], usize)] = &[(plaintext, padding)];
            aes128gcm_encode(&ikm, &keys.salt, WEB_PUSH_RECORD_SIZE, &keys.public, record)?
        }
        ContentEncoding::AesGcm => aesgcm_encode(keys, ua_public, auth, &ecdh_secret, plaintext, padding)?,
    };
    Ok(EncryptedPayload {
        encoding,
        body,
        salt: keys.salt,
        sender_public: keys.public,
    })
}

fn check_size(encoding: ContentEncoding, len: usize, padding: usize) -> Result<(), Error> {
    let max = encoding.max_plaintext();
    if len.saturating_add(padding) > max {
        return Err(Error::new(
            ErrorKind::PayloadTooLarge,
            format!(
                "payload too large: {len} bytes{} but one {} push carries at most {max} bytes",
                if padding > 0 {
                    format!(" plus {padding} padding")
                } else {
                    String::new()
                },
                encoding.as_str()
            ),
        ));
    }
    Ok(())
}

/// The RFC 8188 `aes128gcm` coding. `records` lists each record's data and padding length;
/// every record but the last ends with delimiter 0x01, the last with 0x02. Web Push uses one.
pub fn aes128gcm_encode(
    ikm: &[u8],
    salt: &[u8; 16],
    record_size: u32,
    keyid: &[u8],
    records: &[(&[u8], usize)],
) -> Result<Vec<u8>, Error> {
    let keyid_len =
        u8::try_from(keyid.len()).map_err(|_| Error::new(ErrorKind::Crypto, "keyid longer than 255 bytes"))?;
    let rs = record_size as usize;
    if rs < TAG_LEN + 2 {
        return Err(Error::new(ErrorKind::Crypto, "record size must be at least 18"));
    }
    let prk = Salt::new(HKDF_SHA256, salt).extract(ikm);
    let cek: [u8; 16] = expand(&prk, &[b"Content-Encoding: aes128gcm\0"])?;
    let base_nonce: [u8; 12] = expand(&prk, &[b"Content-Encoding: nonce\0"])?;
    let key = LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &cek)?);

    let content: usize = records.iter().map(|(data, pad)| data.len() + 1 + pad + TAG_LEN).sum();
    let mut body = Vec::with_capacity(16 + 4 + 1 + keyid.len() + content);
    body.extend_from_slice(salt);
    body.extend_from_slice(&record_size.to_be_bytes());
    body.push(keyid_len);
    body.extend_from_slice(keyid);

    for (seq, (data, pad)) in records.iter().enumerate() {
        if data.len() + 1 + pad + TAG_LEN > rs {
            return Err(Error::new(
                ErrorKind::PayloadTooLarge,
                format!("record {seq} does not fit the record size {rs}"),
            ));
        }
        let start = body.len();
        body.extend_from_slice(data);
        body.push(if seq + 1 == records.len() { 2 } else { 1 });
        body.resize(body.len() + pad, 0);
        let mut nonce = base_nonce;
        for (n, s) in nonce[4..].iter_mut().zip((seq as u64).to_be_bytes()) {
            *n ^= s;
        }
        let tag =
            key.seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut body[start..])?;
        body.extend_from_slice(tag.as_ref());
    }
    Ok(body)
}

/// The legacy `aesgcm` coding (draft-ietf-webpush-encryption-04): a two-byte padding length
/// and the padding come first, and the key schedule mixes in a P-256 context block.
fn aesgcm_encode(
    keys: &SenderKeys,
    ua_public: &[u8; 65],
    auth: &AuthSecret,
    ecdh_secret: &[u8],
    plaintext: &[u8],
    padding: usize,
) -> Result<Vec<u8>, Error> {
    let prk_auth = Salt::new(HKDF_SHA256, auth.as_bytes()).extract(ecdh_secret);
    let ikm: [u8; 32] = expand(&prk_auth, &[b"Content-Encoding: auth\0"])?;
    let prk = Salt::new(HKDF_SHA256, &keys.salt).extract(&ikm);
    // info = label || "P-256" || 0 || len(ua) || ua || len(as) || as
    let context: [&[u8]; 5] = [b"P-256\0", &[0, 65], ua_public, &[0, 65], &keys.public];
    let cek_info: [&[u8]; 6] = [
        b"Content-Encoding: aesgcm\0",
        context[0],
        context[1],
        context[2],
        context[3],
        context[4],
    ];
    let nonce_info: [&[u8]; 6] = [
        b"Content-Encoding: nonce\0",
        context[0],
        context[1],
        context[2],
        context[3],
        context[4],
    ];
    let cek: [u8; 16] = expand(&prk, &cek_info)?;
    let nonce: [u8; 12] = expand(&prk, &nonce_info)?;
    let key = LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &cek)?);

    let pad_len = u16::try_from(padding).map_err(|_| Error::new(ErrorKind::PayloadTooLarge, "padding too large"))?;
    let mut body = Vec::with_capacity(2 + padding + plaintext.len() + TAG_LEN);
    body.extend_from_slice(&pad_len.to_be_bytes());
    body.resize(2 + padding, 0);
    body.extend_from_slice(plaintext);
    key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut body)?;
    Ok(body)
}

struct Len(usize);

impl KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

fn expand<const N: usize>(prk: &Prk, info: &[&[u8]]) -> Result<[u8; N], Error> {
    let mut out = [0u8; N];
    prk.expand(info, Len(N))?.fill(&mut out)?;
    Ok(out)
}

/// Fixed browser keys for documentation examples and tests (the RFC 8291 user agent).
#[doc(hidden)]
pub mod tests_support {
    pub struct BrowserKeys {
        pub p256dh_b64: String,
        pub auth_b64: String,
    }

    pub fn browser_keys() -> BrowserKeys {
        BrowserKeys {
            p256dh_b64: "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
                .into(),
            auth_b64: "BTBZMqHH6r4Tts7J_aSIgg".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base64url::{decode, encode};

    fn ua() -> (P256dhKey, AuthSecret) {
        let b = tests_support::browser_keys();
        (
            P256dhKey::parse(&b.p256dh_b64).unwrap(),
            AuthSecret::parse(&b.auth_b64).unwrap(),
        )
    }

    #[test]
    fn rfc8291_appendix_a_byte_for_byte() {
        let (p256dh, auth) = ua();
        let salt: [u8; 16] = decode("DGv6ra1nlYgDCS1FRnbzlw").unwrap().try_into().unwrap();
        let keys =
            SenderKeys::from_fixed(&decode("yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw").unwrap(), salt).unwrap();
        let out = encrypt_with(
            &keys,
            ContentEncoding::Aes128Gcm,
            &p256dh,
            &auth,
            b"When I grow up, I want to be a watermelon",
            0,
        )
        .unwrap();
        assert_eq!(
            encode(&out.body),
            concat!(
                "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27ml",
                "mlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPT",
                "pK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN"
            )
        );
    }

    #[test]
    fn rfc8188_example_1_single_record() {
        let salt: [u8; 16] = decode("I1BsxtFttlv3u_Oo94xnmw").unwrap().try_into().unwrap();
        let ikm = decode("yqdlZ-tYemfogSmv7Ws5PQ").unwrap();
        let body = aes128gcm_encode(&ikm, &salt, 4096, b"", &[(b"I am the walrus", 0)]).unwrap();
        assert_eq!(
            encode(body),
            "I1BsxtFttlv3u_Oo94xnmwAAEAAA-NAVub2qFgBEuQKRapoZu-IxkIva3MEB1PD-ly8Thjg"
        );
    }

    #[test]
    fn rfc8188_example_2_two_records_with_padding() {
        let salt: [u8; 16] = decode("uNCkWiNYzKTnBN9ji3-qWA").unwrap().try_into().unwrap();
        let ikm = decode("BO3ZVPxUlnLORbVGMpbT1Q").unwrap();
        let text = b"I am the walrus";
        let body = aes128gcm_encode(&ikm, &salt, 25, b"a1", &[(&text[..7], 1), (&text[7..], 0)]).unwrap();
        assert_eq!(
            encode(body),
            "uNCkWiNYzKTnBN9ji3-qWAAAABkCYTHOG8chz_gnvgOqdGYovxyjuqRyJFjEDyoF1Fvkj6hQPdPHI51OEUKEpgz3SsLWIqS_uA"
        );
    }

    #[test]
    fn the_largest_payload_fits_4096_bytes_and_one_more_is_refused() {
        let (p256dh, auth) = ua();
        let max = vec![b'x'; AES128GCM_MAX_PLAINTEXT];
        assert_eq!(AES128GCM_MAX_PLAINTEXT, 3993);
        let out = encrypt(ContentEncoding::Aes128Gcm, &p256dh, &auth, &max, 0).unwrap();
        assert_eq!(out.body.len(), 4096);
        let err = encrypt(ContentEncoding::Aes128Gcm, &p256dh, &auth, &[0; 3994], 0).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::PayloadTooLarge);
        assert!(err.message().contains("3993"), "{}", err.message());

        let out = encrypt(
            ContentEncoding::AesGcm,
            &p256dh,
            &auth,
            &vec![0; AESGCM_MAX_PLAINTEXT],
            0,
        )
        .unwrap();
        assert_eq!(out.body.len(), 4096);
        assert!(encrypt(
            ContentEncoding::AesGcm,
            &p256dh,
            &auth,
            &[0; AESGCM_MAX_PLAINTEXT + 1],
            0
        )
        .is_err());
        let err = encrypt(ContentEncoding::Aes128Gcm, &p256dh, &auth, &[0; 3000], 1000).unwrap_err();
        assert!(err.message().contains("padding"));
    }

    #[test]
    fn padding_lengthens_the_body() {
        let (p256dh, auth) = ua();
        let plain = encrypt(ContentEncoding::Aes128Gcm, &p256dh, &auth, b"hi", 0).unwrap();
        let padded = encrypt(ContentEncoding::Aes128Gcm, &p256dh, &auth, b"hi", 100).unwrap();
        assert_eq!(padded.body.len(), plain.body.len() + 100);
    }

    #[test]
    fn every_message_gets_fresh_keys_and_salt() {
        let (p256dh, auth) = ua();
        let a = encrypt(ContentEncoding::Aes128Gcm, &p256dh, &auth, b"same", 0).unwrap();
        let b = encrypt(ContentEncoding::Aes128Gcm, &p256dh, &auth, b"same", 0).unwrap();
        assert_ne!(a.salt, b.salt);
        assert_ne!(a.sender_public, b.sender_public);
        assert_ne!(a.body, b.body);
        assert_eq!(&a.body[..16], &a.salt);
        assert_eq!(&a.body[21..86], &a.sender_public);
    }
}
