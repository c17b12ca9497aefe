//! What herald-push produces, checked by an independent implementation (RustCrypto, in
//! herald-testkit): browsers decrypt our bodies and push services accept our tokens.

use herald_push::ece::{self, ContentEncoding};
use herald_push::keys::VapidKeyPair;
use herald_push::request::{PushMessage, Ttl};
use herald_push::subscription::{AuthSecret, P256dhKey, Subscription};
use herald_push::vapid::{VapidSigner, VapidSubject};
use herald_testkit::{decrypt, verify_vapid, Browser};
use proptest::prelude::*;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn keys_of(browser: &Browser) -> (P256dhKey, AuthSecret) {
    (
        P256dhKey::from_bytes(&browser.p256dh).unwrap(),
        AuthSecret::from_bytes(&browser.auth).unwrap(),
    )
}

fn header_param(value: &str, name: &str) -> Vec<u8> {
    let b64 = value.split(';').find_map(|p| p.strip_prefix(name)).unwrap();
    herald_push::base64url::decode(b64).unwrap()
}

#[test]
fn rfc8291_vector_decrypts_with_the_user_agent_private_key() {
    let ua = Browser::from_private(
        &herald_push::base64url::decode("q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94").unwrap(),
        herald_push::base64url::decode("BTBZMqHH6r4Tts7J_aSIgg")
            .unwrap()
            .try_into()
            .unwrap(),
    );
    let (p256dh, auth) = keys_of(&ua);
    let out = ece::encrypt(
        ContentEncoding::Aes128Gcm,
        &p256dh,
        &auth,
        b"When I grow up, I want to be a watermelon",
        0,
    )
    .unwrap();
    assert_eq!(
        decrypt(&ua, "aes128gcm", &out.body, None, None).unwrap(),
        b"When I grow up, I want to be a watermelon"
    );
}

#[test]
fn full_request_round_trip_both_encodings() {
    let browser = Browser::generate();
    let sub = Subscription::parse(
        "https://push.example.net:8443/w/1",
        &browser.p256dh_b64(),
        &browser.auth_b64(),
    )
    .unwrap();
    let signer = VapidSigner::new(
        VapidKeyPair::generate().unwrap(),
        VapidSubject::parse("mailto:ops@example.com").unwrap(),
    );
    let now = SystemTime::now();
    let now_unix = now.duration_since(UNIX_EPOCH).unwrap().as_secs();

    let req = PushMessage::new(b"{\"title\":\"hi\"}".to_vec(), Ttl::seconds(60))
        .build_at(&sub, &signer, now)
        .unwrap();
    let auth = req.headers["authorization"].to_str().unwrap();
    let (claims, key) = verify_vapid(auth, None, "https://push.example.net:8443", now_unix).unwrap();
    assert_eq!(claims.sub, "mailto:ops@example.com");
    assert!(claims.exp <= now_unix + 12 * 3600);
    assert_eq!(&key, signer.key().public_key_bytes());
    assert_eq!(
        decrypt(&browser, "aes128gcm", &req.body, None, None).unwrap(),
        b"{\"title\":\"hi\"}"
    );

    let req = PushMessage::new(b"legacy".to_vec(), Ttl::seconds(60))
        .encoding(ContentEncoding::AesGcm)
        .padding(17)
        .build_at(&sub, &signer, now)
        .unwrap();
    let crypto_key = req.headers["crypto-key"].to_str().unwrap();
    let auth = req.headers["authorization"].to_str().unwrap();
    verify_vapid(auth, Some(crypto_key), "https://push.example.net:8443", now_unix).unwrap();
    let salt = header_param(req.headers["encryption"].to_str().unwrap(), "salt=");
    let dh = header_param(crypto_key, "dh=");
    assert_eq!(
        decrypt(&browser, "aesgcm", &req.body, Some(&salt), Some(&dh)).unwrap(),
        b"legacy"
    );
}

#[test]
fn a_tampered_token_is_refused_by_the_verifier() {
    let signer = VapidSigner::new(
        VapidKeyPair::generate().unwrap(),
        VapidSubject::parse("https://example.com").unwrap(),
    );
    let now = SystemTime::now();
    let now_unix = now.duration_since(UNIX_EPOCH).unwrap().as_secs();
    let header = signer.authorization("https://a.example", now).unwrap();
    assert!(
        verify_vapid(&header, None, "https://b.example", now_unix).is_err(),
        "wrong audience"
    );
    let other = VapidKeyPair::generate().unwrap().public_key_base64url();
    let forged = format!("{}k={other}", &header[..header.find("k=").unwrap()]);
    assert!(
        verify_vapid(&forged, None, "https://a.example", now_unix).is_err(),
        "wrong key"
    );
    let late = now_unix + 25 * 3600;
    assert!(
        verify_vapid(&header, None, "https://a.example", late).is_err(),
        "expired"
    );
    let _ = Duration::ZERO;
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn any_payload_and_padding_decrypts(
        payload in proptest::collection::vec(any::<u8>(), 0..3993),
        padding in 0usize..200,
        legacy in any::<bool>(),
    ) {
        let browser = Browser::generate();
        let (p256dh, auth) = keys_of(&browser);
        let encoding = if legacy { ContentEncoding::AesGcm } else { ContentEncoding::Aes128Gcm };
        let padding = padding.min(encoding.max_plaintext() - payload.len().min(encoding.max_plaintext()));
        let out = ece::encrypt(encoding, &p256dh, &auth, &payload, padding).unwrap();
        prop_assert!(out.body.len() <= 4096);
        let clear = decrypt(&browser, encoding.as_str(), &out.body, Some(&out.salt), Some(&out.sender_public)).unwrap();
        prop_assert_eq!(clear, payload);
    }
}
