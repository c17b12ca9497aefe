//! What a service worker does with its own subscription secret: fetch its tickle messages,
//! report receipts, and re-register after the browser replaced its subscription. A secret
//! opens only its own subscription's data.

use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, SubscriptionSecret};
use super::subscriptions::{validate_subscription, PushSubscriptionJson};
use super::AppState;
use crate::clock::rfc3339;
use crate::domain::ValidationError;
use crate::storage::messages::ReceiptEvent;
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
    let messages = state.store.take_tickles(&id, state.clock.now_ms()).await?;
    let messages: Vec<_> = messages
        .iter()
        .map(|m| {
            json!({
                "id": m.id, "title": m.title, "body": m.body, "url": m.url, "icon": m.icon, "tag": m.tag,
                "createdAt": rfc3339(m.created_at),
            })
        })
        .collect();
    Ok((
        [(axum::http::header::CACHE_CONTROL, "no-store")],
        Json(json!({ "messages": messages })),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ReceiptRequest {
    message_id: String,
    event: String,
}

pub async fn receipt(
    State(state): State<Arc<AppState>>,
    SubscriptionSecret(id): SubscriptionSecret,
    ApiJson(req): ApiJson<ReceiptRequest>,
) -> ApiResult<impl IntoResponse> {
    let event = ReceiptEvent::parse(&req.event)
        .ok_or_else(|| ValidationError::new("event", "`event` must be \"displayed\" or \"clicked\""))?;
    if !crate::secrets::is_valid_id(&req.message_id) {
        return Err(ApiError::not_found("this message was not sent to this subscription"));
    }
    match state
        .store
        .record_receipt(&req.message_id, &id, event, state.clock.now_ms())
        .await?
    {
        None => Err(ApiError::not_found("this message was not sent to this subscription")),
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
