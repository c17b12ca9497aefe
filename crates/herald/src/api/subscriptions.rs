//! Registering, listing and deleting subscriptions.

use super::error::{ApiError, ApiResult};
use super::extract::{authorize_subscription, bearer, ApiJson, ApiPath, ApiQuery};
use super::AppState;
use crate::access::Scope;
use crate::clock::rfc3339;
use crate::domain::{Owner, OwnerId, OwnerKind};
use crate::secrets::OwnerTokenError;
use crate::storage::subscriptions::NewSubscription;
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use herald_push::subscription::Subscription;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// `PushSubscription.toJSON()`. Unknown members are ignored: browsers add fields over time.
#[derive(Debug, Deserialize)]
pub struct PushSubscriptionJson {
    pub endpoint: String,
    pub keys: PushSubscriptionKeys,
}

#[derive(Debug, Deserialize)]
pub struct PushSubscriptionKeys {
    pub p256dh: String,
    pub auth: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RegisterRequest {
    subscription: PushSubscriptionJson,
    uid: Option<serde_json::Value>,
    aid: Option<serde_json::Value>,
    owner_token: Option<String>,
    // Sent by herald.js; accepted and not yet stored (issue 16 integrates them).
    #[allow(dead_code)]
    languages: Option<serde_json::Value>,
    #[allow(dead_code)]
    time_zone: Option<serde_json::Value>,
    #[allow(dead_code)]
    tags: Option<serde_json::Value>,
}

/// Validates a browser subscription: well-formed keys and an endpoint the policy allows.
pub async fn validate_subscription(state: &AppState, json: &PushSubscriptionJson) -> ApiResult<Subscription> {
    let subscription = Subscription::parse(&json.endpoint, &json.keys.p256dh, &json.keys.auth)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    state
        .policy
        .check_resolving(&subscription.endpoint)
        .await
        .map_err(ApiError::bad_request)?;
    Ok(subscription)
}

fn owner_from_body(req: &RegisterRequest) -> ApiResult<Option<Owner>> {
    match (&req.uid, &req.aid) {
        (Some(uid), None) => Ok(Some(Owner {
            kind: OwnerKind::Client,
            id: OwnerId::from_json(uid).map_err(ApiError::bad_request)?,
        })),
        (None, Some(aid)) => Ok(Some(Owner {
            kind: OwnerKind::Admin,
            id: OwnerId::from_json(aid).map_err(ApiError::bad_request)?,
        })),
        (None, None) => Ok(None),
        (Some(_), Some(_)) => Err(ApiError::bad_request("give `uid` or `aid`, not both")),
    }
}

pub async fn register(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<RegisterRequest>,
) -> ApiResult<impl IntoResponse> {
    let from_body = owner_from_body(&req)?;
    // A back end registers with the admin token or a key that may send (which could mint an
    // owner token for the same effect).
    let bearer = super::extract::bearer_header(&headers).filter(|_| req.owner_token.is_none());
    let authorized = match bearer {
        Some(token) => Some(match state.authenticate(token).await? {
            Some(scopes) if scopes.allows(Scope::Send) => true,
            Some(_) => {
                return Err(ApiError::forbidden(
                    "this API key lacks the `send` scope registering needs",
                ))
            }
            None => false,
        }),
        None => None,
    };
    let owner = match (&req.owner_token, authorized) {
        (Some(token), _) => {
            let owner = state
                .owner_tokens
                .verify(token, state.clock.now_ms() / 1000)
                .map_err(|e| match e {
                    OwnerTokenError::Owner(_) => ApiError::bad_request(e.to_string()),
                    _ => ApiError::unauthorized(e.to_string()),
                })?;
            if from_body.as_ref().is_some_and(|b| *b != owner) {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    "the owner in the body differs from the owner token",
                ));
            }
            owner
        }
        (None, Some(true)) => from_body.ok_or_else(|| ApiError::bad_request("give `uid` or `aid`"))?,
        (None, Some(false)) => {
            return Err(ApiError::unauthorized(
                "the token is not valid (not the admin token, or an unknown or revoked API key)",
            ))
        }
        (None, None) => {
            return Err(ApiError::unauthorized(
                "send an `ownerToken` or Authorization: Bearer <admin token or an API key with the `send` scope>",
            ))
        }
    };
    let subscription = validate_subscription(&state, &req.subscription).await?;
    let user_agent = headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| ua.chars().take(256).collect());
    let new = NewSubscription {
        owner,
        endpoint: subscription.endpoint.as_str().to_owned(),
        p256dh: subscription.p256dh.to_base64url(),
        auth: subscription.auth.to_base64url(),
        user_agent,
    };
    let registered = state
        .store
        .register_subscription(&new, state.clock.now_ms(), state.config.max_subscriptions_per_owner)
        .await?;
    state.metrics.subscription_registered();
    let status = if registered.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(json!({ "id": registered.id, "secret": registered.secret })),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    uid: Option<String>,
    aid: Option<String>,
    limit: Option<i64>,
    after: Option<String>,
}

pub async fn list(
    _: super::extract::Admin,
    State(state): State<Arc<AppState>>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<impl IntoResponse> {
    let owner = match (&q.uid, &q.aid) {
        (Some(uid), None) => Some(Owner {
            kind: OwnerKind::Client,
            id: OwnerId::parse(uid).map_err(ApiError::bad_request)?,
        }),
        (None, Some(aid)) => Some(Owner {
            kind: OwnerKind::Admin,
            id: OwnerId::parse(aid).map_err(ApiError::bad_request)?,
        }),
        (None, None) => None,
        _ => return Err(ApiError::bad_request("filter by `uid` or `aid`, not both")),
    };
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request("`limit` must be 1 to 1000"));
    }
    if q.after.as_ref().is_some_and(|a| !crate::secrets::is_valid_id(a)) {
        return Err(ApiError::bad_request("`after` is not a subscription id"));
    }
    let (rows, total) = state
        .store
        .list_subscriptions(owner.as_ref(), limit, q.after.as_deref())
        .await?;
    let subscriptions: Vec<_> = rows
        .iter()
        .map(|s| {
            let mut item = json!({
                "id": s.id,
                "endpoint": s.endpoint,
                "pushService": s.push_service.label(),
                "createdAt": rfc3339(s.created_at),
                "lastSuccessAt": s.last_success_at.map(rfc3339),
            });
            item[s.owner.kind.field()] = json!(s.owner.id.as_str());
            item
        })
        .collect();
    Ok(Json(json!({ "subscriptions": subscriptions, "total": total })))
}

pub async fn delete(
    State(state): State<Arc<AppState>>,
    ApiPath(id): ApiPath,
    parts: Parts,
) -> ApiResult<impl IntoResponse> {
    authorize_subscription(&state, bearer(&parts), &id, true).await?;
    if !state.store.delete_subscription(&id).await? {
        return Err(ApiError::not_found("no such subscription"));
    }
    Ok(StatusCode::NO_CONTENT)
}
