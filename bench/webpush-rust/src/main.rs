//! Sends one payload to every subscription in a JSON file (`PushSubscription.toJSON()`
//! objects) with the `web-push` crate's hyper client, keeping 64 requests in flight as a
//! library loop does; the VAPID key is a raw base64url P-256 scalar in `VAPID_PRIVATE_KEY`.
//! Trust a private push service with `SSL_CERT_FILE` (OpenSSL reads it).
//!
//! Usage: `VAPID_PRIVATE_KEY=… webpush-rust-bench SUBS.json PAYLOAD`

use futures::StreamExt;
use web_push::{
    ContentEncoding, HyperWebPushClient, SubscriptionInfo, VapidSignatureBuilder, WebPushClient,
    WebPushMessageBuilder,
};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (path, payload) = match (args.next(), args.next()) {
        (Some(path), Some(payload)) => (path, payload),
        _ => {
            eprintln!("usage: VAPID_PRIVATE_KEY=… webpush-rust-bench SUBS.json PAYLOAD");
            std::process::exit(2);
        }
    };
    let key = std::env::var("VAPID_PRIVATE_KEY").expect("VAPID_PRIVATE_KEY (raw base64url scalar)");
    let text = std::fs::read_to_string(&path).expect("subscriptions file");
    let subscriptions: Vec<SubscriptionInfo> = serde_json::from_str(&text).expect("subscriptions JSON");
    let client = HyperWebPushClient::new();
    let failed = futures::stream::iter(subscriptions.iter())
        .map(|subscription| {
            let (client, key, payload) = (client.clone(), key.as_str(), payload.as_bytes());
            async move {
                let mut signature = VapidSignatureBuilder::from_base64(key, subscription).ok()?;
                signature.add_claim("sub", "mailto:bench@example.com");
                let mut message = WebPushMessageBuilder::new(subscription);
                message.set_payload(ContentEncoding::Aes128Gcm, payload);
                message.set_ttl(86_400);
                message.set_vapid_signature(signature.build().ok()?);
                client.send(message.build().ok()?).await.ok()
            }
        })
        .buffer_unordered(64)
        .filter(|sent| std::future::ready(sent.is_none()))
        .count()
        .await;
    if failed > 0 {
        eprintln!("{failed} of {} failed", subscriptions.len());
        std::process::exit(1);
    }
}
