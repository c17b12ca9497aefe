//! Decryption as a browser does it, written against RustCrypto.

use crate::browser::Browser;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes128Gcm, Nonce};
use hkdf::Hkdf;
use p256::PublicKey;
use sha2::Sha256;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecryptError(pub String);

impl std::fmt::Display for DecryptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn err(why: &str) -> DecryptError {
    DecryptError(why.to_owned())
}

fn hkdf<const N: usize>(salt: &[u8], ikm: &[u8], info: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    Hkdf::<Sha256>::new(Some(salt), ikm)
        .expand(info, &mut out)
        .expect("length");
    out
}

fn ecdh(browser: &Browser, server_public: &[u8]) -> Result<[u8; 32], DecryptError> {
    let public = PublicKey::from_sec1_bytes(server_public).map_err(|_| err("sender key is not a P-256 point"))?;
    let shared = p256::ecdh::diffie_hellman(browser.secret.to_nonzero_scalar(), public.as_affine());
    Ok((*shared.raw_secret_bytes()).into())
}

/// Decrypts a push body. `encoding` is the `Content-Encoding` header; for `aesgcm`, `salt` and
/// `dh` come from the `Encryption` and `Crypto-Key` headers.
pub fn decrypt(
    browser: &Browser,
    encoding: &str,
    body: &[u8],
    salt: Option<&[u8]>,
    dh: Option<&[u8]>,
) -> Result<Vec<u8>, DecryptError> {
    match encoding {
        "aes128gcm" => decrypt_aes128gcm(browser, body),
        "aesgcm" => decrypt_aesgcm(
            browser,
            body,
            salt.ok_or_else(|| err("no salt"))?,
            dh.ok_or_else(|| err("no dh"))?,
        ),
        other => Err(DecryptError(format!("unknown content encoding {other:?}"))),
    }
}

fn decrypt_aes128gcm(browser: &Browser, body: &[u8]) -> Result<Vec<u8>, DecryptError> {
    if body.len() < 21 {
        return Err(err("body shorter than the aes128gcm header"));
    }
    let salt = &body[..16];
    let rs = u32::from_be_bytes(body[16..20].try_into().unwrap()) as usize;
    let idlen = body[20] as usize;
    if body.len() < 21 + idlen || rs < 18 {
        return Err(err("truncated header"));
    }
    let server_public = &body[21..21 + idlen];
    let shared = ecdh(browser, server_public)?;
    let key_info = [b"WebPush: info\0".as_slice(), &browser.p256dh, server_public].concat();
    let ikm: [u8; 32] = hkdf(&browser.auth, &shared, &key_info);
    let cek: [u8; 16] = hkdf(salt, &ikm, b"Content-Encoding: aes128gcm\0");
    let base_nonce: [u8; 12] = hkdf(salt, &ikm, b"Content-Encoding: nonce\0");
    let cipher = Aes128Gcm::new_from_slice(&cek).unwrap();

    let records: Vec<&[u8]> = body[21 + idlen..].chunks(rs).collect();
    if records.is_empty() {
        return Err(err("no records"));
    }
    let mut plaintext = Vec::new();
    for (seq, record) in records.iter().enumerate() {
        let mut nonce = base_nonce;
        for (n, s) in nonce[4..].iter_mut().zip((seq as u64).to_be_bytes()) {
            *n ^= s;
        }
        let mut clear = cipher
            .decrypt(&Nonce::from(nonce), Payload { msg: record, aad: b"" })
            .map_err(|_| err("record authentication failed"))?;
        let end = clear
            .iter()
            .rposition(|&b| b != 0)
            .ok_or_else(|| err("record has no delimiter"))?;
        let expected = if seq + 1 == records.len() { 2 } else { 1 };
        if clear[end] != expected {
            return Err(DecryptError(format!(
                "record {seq} delimiter is {} not {expected}",
                clear[end]
            )));
        }
        clear.truncate(end);
        plaintext.extend_from_slice(&clear);
    }
    Ok(plaintext)
}

fn decrypt_aesgcm(browser: &Browser, body: &[u8], salt: &[u8], server_public: &[u8]) -> Result<Vec<u8>, DecryptError> {
    let shared = ecdh(browser, server_public)?;
    let ikm: [u8; 32] = hkdf(&browser.auth, &shared, b"Content-Encoding: auth\0");
    let context = [
        b"P-256\0".as_slice(),
        &[0, 65],
        &browser.p256dh,
        &[0, 65],
        server_public,
    ]
    .concat();
    let cek: [u8; 16] = hkdf(
        salt,
        &ikm,
        &[b"Content-Encoding: aesgcm\0".as_slice(), &context].concat(),
    );
    let nonce: [u8; 12] = hkdf(
        salt,
        &ikm,
        &[b"Content-Encoding: nonce\0".as_slice(), &context].concat(),
    );
    let cipher = Aes128Gcm::new_from_slice(&cek).unwrap();
    let clear = cipher
        .decrypt(&Nonce::from(nonce), Payload { msg: body, aad: b"" })
        .map_err(|_| err("aesgcm authentication failed"))?;
    if clear.len() < 2 {
        return Err(err("aesgcm record too short"));
    }
    let pad = u16::from_be_bytes([clear[0], clear[1]]) as usize;
    if clear.len() < 2 + pad || clear[2..2 + pad].iter().any(|&b| b != 0) {
        return Err(err("aesgcm padding is malformed"));
    }
    Ok(clear[2 + pad..].to_vec())
}
