//! What a service worker does with its own subscription secret: fetch its tickle messages,
//! report receipts, and re-register after the browser replaced its subscription. A secret
//! opens only its own subscription's data.

use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, SubscriptionSecret};
use super::subscriptions::{validate_subscription, PushSubscriptionJson};
use super::AppState;
use crate::clock::rfc3339;
use crate::domain::language::LanguageTag;
use crate::domain::rich;
use crate::domain::ValidationError;
use crate::storage::messages::{InboxMessage, ReceiptEvent};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// Returns this subscription's pending tickle messages and removes exactly those.
pub async fn inbox(
    State(state): State<Arc<AppState>>,
    SubscriptionSecret(id): SubscriptionSecret,
) -> ApiResult<impl IntoResponse> {
    let messages = state
        .store
        .take_tickles(&id, state.clock.now_ms(), state.config.delivery_lease)
        .await?;
    let languages = if messages.iter().any(|m| m.content.has_translations()) {
        rich::parse_languages(state.store.subscription_languages(&id).await?.as_deref())
    } else {
        Vec::new()
    };
    let messages: Vec<_> = messages.iter().map(|m| inbox_json(m, &languages)).collect();
    Ok((
        [(axum::http::header::CACHE_CONTROL, "no-store")],
        Json(json!({ "messages": messages })),
    ))
}

/// One tickle message as the service worker shows it: title and body in the device's
/// language, every rich field by the name herald-sw.js reads.
fn inbox_json(m: &InboxMessage, languages: &[LanguageTag]) -> serde_json::Value {
    let c = &m.content;
    let texts = rich::Texts::new(&m.title, m.body.as_deref(), c);
    let picked = texts.pick(languages, c);
    let mut v = json!({
        "id": m.id, "title": picked.title, "body": picked.body, "url": m.url, "icon": m.icon, "tag": m.tag,
        "createdAt": rfc3339(m.created_at),
    });
    c.write_fields(&mut v, picked.lang);
    v
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ReceiptRequest {
    message_id: String,
    event: String,
    /// The button clicked (`clicked` only); absent or `default` for the notification itself.
    action: Option<String>,
}

pub async fn receipt(
    State(state): State<Arc<AppState>>,
    SubscriptionSecret(id): SubscriptionSecret,
    ApiJson(req): ApiJson<ReceiptRequest>,
) -> ApiResult<impl IntoResponse> {
    let event = ReceiptEvent::parse(&req.event)
        .ok_or_else(|| ValidationError::new("event", "`event` must be \"displayed\" or \"clicked\""))?;
    let not_sent = || ApiError::not_found("this message was not sent to this subscription");
    if !crate::secrets::is_valid_id(&req.message_id) {
        return Err(not_sent());
    }
    let action = match req.action.as_deref() {
        None => None,
        Some(_) if event != ReceiptEvent::Clicked => {
            return Err(ValidationError::new("action", "`action` goes with the `clicked` event only").into())
        }
        Some("default") => None,
        Some(action) => {
            // The message must be this subscription's before its buttons are looked at: a
            // secret must not learn anything about other messages, their action ids included.
            let message = state
                .store
                .message_sent_to(&req.message_id, &id)
                .await?
                .ok_or_else(not_sent)?;
            // Only the message's own buttons count, so a device cannot add rows of its own.
            if !message.content.actions.iter().any(|a| a.id == action) {
                return Err(ValidationError::new("action", "`action` is not one of this message's actions").into());
            }
            Some(action)
        }
    };
    match state
        .store
        .record_receipt(&req.message_id, &id, event, action, state.clock.now_ms())
        .await?
    {
        None => Err(not_sent()),
        Some(_) => Ok(StatusCode::NO_CONTENT),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplaceRequest {
    subscription: PushSubscriptionJson,
}

/// After `pushsubscriptionchange`: the same Herald subscription, a new browser endpoint.
pub async fn replace(
    State(state): State<Arc<AppState>>,
    SubscriptionSecret(id): SubscriptionSecret,
    ApiJson(req): ApiJson<ReplaceRequest>,
) -> ApiResult<impl IntoResponse> {
    let subscription = validate_subscription(&state, &req.subscription).await?;
    let secret = state
        .store
        .replace_subscription(
            &id,
            subscription.endpoint.as_str(),
            &subscription.p256dh.to_base64url(),
            &subscription.auth.to_base64url(),
        )
        .await?
        .ok_or_else(|| ApiError::not_found("no such subscription"))?;
    Ok(Json(json!({ "id": id, "secret": secret })))
}
