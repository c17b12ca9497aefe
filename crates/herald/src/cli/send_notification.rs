//! `herald send-notification`: one push to one subscription, with web-push for Node's flags.

use super::CliError;
use crate::delivery::push_client;
use crate::endpoint_policy::EndpointPolicy;
use clap::Args;
use herald_push::ece::ContentEncoding;
use herald_push::keys::VapidKeyPair;
use herald_push::request::{PushMessage, Topic, Ttl, Urgency};
use herald_push::response::{classify, FailureReason, GoneReason, PushOutcome};
use herald_push::subscription::{AuthSecret, Endpoint, P256dhKey, Subscription};
use herald_push::vapid::{VapidSigner, VapidSubject};
use std::time::{Duration, SystemTime};

#[derive(Debug, Args)]
pub struct SendArgs {
    /// The subscription's endpoint URL (http:// is allowed here, for local push services).
    #[arg(long)]
    pub endpoint: String,
    /// The subscription's keys.p256dh (needed with --payload).
    #[arg(long)]
    pub key: Option<String>,
    /// The subscription's keys.auth (needed with --payload).
    #[arg(long)]
    pub auth: Option<String>,
    /// The text to send; without it the push carries no data.
    #[arg(long)]
    pub payload: Option<String>,
    /// Seconds the push service keeps the message.
    #[arg(long, default_value_t = 2_419_200)]
    pub ttl: u64,
    #[arg(long, default_value = "aes128gcm", value_parser = ["aes128gcm", "aesgcm"])]
    pub encoding: String,
    #[arg(long, value_parser = ["very-low", "low", "normal", "high"])]
    pub urgency: Option<String>,
    #[arg(long)]
    pub topic: Option<String>,
    /// mailto: address or https: URL of the sender.
    #[arg(long)]
    pub vapid_subject: String,
    /// The VAPID public key (base64url).
    #[arg(long)]
    pub vapid_pubkey: String,
    /// The VAPID private key (base64url).
    #[arg(long)]
    pub vapid_pvtkey: String,
}

pub async fn run(args: SendArgs) -> Result<(), CliError> {
    let endpoint = Endpoint::parse(&args.endpoint).map_err(|e| CliError::Refused(format!("--endpoint: {e}")))?;
    let subject =
        VapidSubject::parse(&args.vapid_subject).map_err(|e| CliError::Refused(format!("--vapid-subject: {e}")))?;
    if subject.names_localhost() {
        eprintln!("warning: --vapid-subject names localhost; Apple's push service refuses such tokens");
    }
    let key = VapidKeyPair::from_base64url(&args.vapid_pvtkey, Some(&args.vapid_pubkey))
        .map_err(|e| CliError::Refused(format!("--vapid-pvtkey/--vapid-pubkey: {e}")))?;
    let ttl = Ttl::try_from_secs(args.ttl).map_err(|e| CliError::Refused(format!("--ttl: {e}")))?;
    let message = match &args.payload {
        Some(payload) => {
            if args.key.is_none() || args.auth.is_none() {
                return Err(CliError::Refused(
                    "--payload needs --key and --auth (the subscription's p256dh and auth)".into(),
                ));
            }
            PushMessage::new(payload.clone().into_bytes(), ttl)
        }
        None => PushMessage::empty(ttl),
    };
    // Without a payload the keys are not used; stand-ins keep the subscription type whole.
    let p256dh = match &args.key {
        Some(k) => P256dhKey::parse(k).map_err(|e| CliError::Refused(format!("--key: {e}")))?,
        None => P256dhKey::from_bytes(key.public_key_bytes()).map_err(CliError::other)?,
    };
    let auth = match &args.auth {
        Some(a) => AuthSecret::parse(a).map_err(|e| CliError::Refused(format!("--auth: {e}")))?,
        None => AuthSecret::from_bytes(&[0; 16]).map_err(CliError::other)?,
    };
    let mut message = message
        .encoding(ContentEncoding::parse(&args.encoding).map_err(|e| CliError::Refused(format!("--encoding: {e}")))?);
    if let Some(u) = &args.urgency {
        message = message.urgency(Urgency::parse(u).map_err(|e| CliError::Refused(format!("--urgency: {e}")))?);
    }
    if let Some(t) = &args.topic {
        message = message.topic(Topic::parse(t).map_err(|e| CliError::Refused(format!("--topic: {e}")))?);
    }
    let subscription = Subscription { endpoint, p256dh, auth };
    let signer = VapidSigner::new(key, subject);
    let request = message
        .build(&subscription, &signer)
        .map_err(|e| CliError::Refused(format!("--payload: {e}")))?;
    let policy = EndpointPolicy {
        allow_private: true,
        allow_http: true,
        host_allowlist: vec![],
    };
    let ssl_cert_file = std::env::var_os("SSL_CERT_FILE").map(std::path::PathBuf::from);
    let client = push_client(&policy, Duration::from_secs(30), ssl_cert_file.as_deref()).map_err(CliError::other)?;
    let response = client
        .post(request.url)
        .headers(request.headers)
        .body(request.body)
        .send()
        .await
        .map_err(|e| CliError::Refused(format!("could not reach the push service: {e}")))?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await.unwrap_or_default();
    let text = String::from_utf8_lossy(&body);
    match classify(status.as_u16(), &headers, &body, SystemTime::now()) {
        PushOutcome::Accepted { .. } => {
            out!("{status}: the push service accepted the message");
            Ok(())
        }
        PushOutcome::Gone { reason, .. } => Err(CliError::Refused(match reason {
            GoneReason::Expired => {
                format!("{status}: the subscription is gone (expired or unsubscribed); delete it. Body: {text}")
            }
            GoneReason::KeyMismatch => format!(
                "{status}: the subscription was made with another VAPID key; it is gone for this key. Body: {text}"
            ),
        })),
        PushOutcome::RetryLater { retry_after, .. } => Err(CliError::Refused(format!(
            "{status}: the push service asks to retry later{}. Body: {text}",
            retry_after
                .map(|d| format!(" (after {} s)", d.as_secs()))
                .unwrap_or_default()
        ))),
        PushOutcome::Failed { reason, .. } => Err(CliError::Refused(format!(
            "{status}: {}. Body: {text}",
            match reason {
                FailureReason::BadRequest => "the push service refused the request",
                FailureReason::Unauthorized => "the push service refused the VAPID credentials",
                FailureReason::PayloadTooLarge => "the payload is too large",
                _ => "the push service refused the message",
            }
        ))),
    }
}
