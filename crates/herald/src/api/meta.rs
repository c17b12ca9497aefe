//! Public key, owner tokens, health, metrics and the OpenAPI document.

use super::error::{ApiError, ApiResult};
use super::extract::{bearer_header, ApiJson, Sender};
use super::AppState;
use crate::access::Scope;
use crate::domain::segment::Tag;
use crate::domain::{Owner, OwnerId, ValidationError};
use crate::secrets::verify_secret;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

pub async fn vapid_public_key(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    Json(json!({ "publicKey": state.signer.public_key() }))
}

pub async fn openapi() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        include_str!("openapi.json"),
    )
}

pub async fn healthz(State(state): State<Arc<AppState>>) -> ApiResult<impl IntoResponse> {
    state.store.ping().await?;
    Ok(Json(json!({ "status": "ok" })))
}

/// Public unless `HERALD_METRICS_TOKEN` is set: then the scraper shows that token (or the
/// admin token, or an API key with the `read` scope), so the queue depth and push outcomes are not everyone's to read.
pub async fn metrics(State(state): State<Arc<AppState>>, headers: HeaderMap) -> ApiResult<impl IntoResponse> {
    if let Some(hash) = &state.metrics_token_hash {
        match bearer_header(&headers) {
            Some(token) if verify_secret(token, hash) => {}
            Some(token) => match state.authenticate(token).await? {
                Some(scopes) if scopes.allows(Scope::Read) => {}
                Some(_) => return Err(ApiError::forbidden("this API key lacks the `read` scope metrics need")),
                None => return Err(ApiError::unauthorized("the metrics token is not valid")),
            },
            None => {
                return Err(ApiError::unauthorized(
                    "this endpoint needs Authorization: Bearer <metrics token>",
                ))
            }
        }
    }
    let depth = state.store.queue_depth().await?;
    let subscriptions = state.store.count_subscriptions().await?;
    Ok((
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(depth, subscriptions),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OwnerTokenRequest {
    uid: Option<OwnerId>,
    aid: Option<OwnerId>,
    /// Seconds; default 600, at most 24 hours.
    ttl: Option<i64>,
    /// The segment tags a browser presenting the token may give itself at registration.
    #[serde(default)]
    tags: Vec<Tag>,
}

/// Signs an owner token for a host application that would rather not implement HS256. The
/// tags it lists are the only ones a browser registering with it may set on itself.
pub async fn owner_token(
    _: Sender,
    State(state): State<Arc<AppState>>,
    ApiJson(req): ApiJson<OwnerTokenRequest>,
) -> ApiResult<impl IntoResponse> {
    let owner = Owner::from_uid_or_aid(req.uid, req.aid)
        .ok()
        .flatten()
        .ok_or_else(|| ValidationError::new("uid", "give exactly one of `uid` and `aid`"))?;
    let ttl = req.ttl.unwrap_or(600);
    if !(1..=crate::secrets::OwnerTokenKey::MAX_LIFETIME_SECS).contains(&ttl) {
        return Err(ValidationError::new("ttl", "`ttl` must be 1 to 86400 seconds").into());
    }
    let tags = super::tags::tag_list("tags", req.tags)?;
    let now = state.clock.now_ms() / 1000;
    let token = state.owner_tokens.sign(&owner, &tags, now, ttl);
    Ok((
        StatusCode::CREATED,
        Json(json!({ "ownerToken": token, "expiresAt": crate::clock::rfc3339((now + ttl) * 1000) })),
    ))
}
