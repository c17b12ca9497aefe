//! Cost per message: encrypt-and-sign every time (what web-push libraries do) against
//! encrypt with the cached VAPID token (what Herald does), next to one bare P-256 ECDH.
//!
//! Run: `cargo bench -p herald-push --bench per_message`

use criterion::{criterion_group, criterion_main, Criterion};
use herald_push::keys::VapidKeyPair;
use herald_push::request::{PushMessage, Ttl};
use herald_push::subscription::Subscription;
use herald_push::vapid::{VapidSigner, VapidSubject};
use std::hint::black_box;

fn subscription() -> Subscription {
    Subscription::parse(
        "https://fcm.googleapis.com/fcm/send/abc",
        "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
        "BTBZMqHH6r4Tts7J_aSIgg",
    )
    .unwrap()
}

fn signer() -> VapidSigner {
    VapidSigner::new(
        VapidKeyPair::generate().unwrap(),
        VapidSubject::parse("mailto:ops@example.com").unwrap(),
    )
}

fn per_message(c: &mut Criterion) {
    let sub = subscription();
    let payload = br#"{"web_push":8030,"notification":{"title":"Your balance is low","body":"Top up before the 1st to keep your service.","navigate":"https://billing.example.net/pay"}}"#.to_vec();
    let message = PushMessage::new(payload, Ttl::seconds(86400));

    let mut group = c.benchmark_group("per_message");
    let uncached = signer();
    group.bench_function("encrypt+sign (fresh JWT each time)", |b| {
        b.iter(|| {
            // An emptied cache: the JWT is signed for this message, as web-push libraries do.
            uncached.clear_cache();
            black_box(message.build(&sub, &uncached).unwrap())
        })
    });
    let cached = signer();
    group.bench_function("encrypt (cached JWT)", |b| {
        b.iter(|| black_box(message.build(&sub, &cached).unwrap()))
    });
    group.bench_function("P-256 ECDH alone (keygen + agree)", |b| {
        use aws_lc_rs::agreement::{agree, PrivateKey, UnparsedPublicKey, ECDH_P256};
        let peer = sub.p256dh.as_bytes().to_vec();
        b.iter(|| {
            let key = PrivateKey::generate(&ECDH_P256).unwrap();
            agree(&key, UnparsedPublicKey::new(&ECDH_P256, &peer), (), |s| {
                Ok(black_box(s[0]))
            })
            .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, per_message);
criterion_main!(benches);
