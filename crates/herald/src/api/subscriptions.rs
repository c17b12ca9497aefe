//! Registering, listing and deleting subscriptions.

use super::error::{ApiError, ApiResult};
use super::extract::{ApiQuery, Registrant, SubscriptionSecretOrAdmin};
use super::AppState;
use crate::clock::rfc3339;
use crate::domain::segment::Tag;
use crate::domain::{Owner, OwnerId, OwnerKind, ValidationError};
use crate::storage::subscription_locale::Locale;
use crate::storage::subscriptions::NewSubscription;
use axum::extract::State;
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
    uid: Option<OwnerId>,
    aid: Option<OwnerId>,
    pub owner_token: Option<String>,
    /// The browser's languages, most preferred first (`navigator.languages`).
    languages: Option<Vec<String>>,
    /// The device's IANA time zone (`Europe/Kyiv`).
    time_zone: Option<String>,
    /// Segments this device belongs to (`district:12`), beside its owner's. With an owner
    /// token, only tags the token carries.
    pub tags: Option<Vec<Tag>>,
}

impl RegisterRequest {
    /// The device's languages and time zone, each checked.
    pub fn locale(&self) -> Result<Locale, ValidationError> {
        Locale::parse(self.languages.as_deref(), self.time_zone.as_deref())
    }

    /// The owner the body names, if any.
    pub fn owner(&self) -> Result<Option<Owner>, ValidationError> {
        Owner::from_uid_or_aid(self.uid.clone(), self.aid.clone())
    }
}

/// Validates a browser subscription: well-formed keys and an endpoint the policy allows.
pub async fn validate_subscription(state: &AppState, json: &PushSubscriptionJson) -> ApiResult<Subscription> {
    let subscription = Subscription::parse(&json.endpoint, &json.keys.p256dh, &json.keys.auth)
        .map_err(|e| ValidationError::new(subscription_field(&e), e.to_string()))?;
    state
        .policy
        .check_resolving(&subscription.endpoint)
        .await
        .map_err(|e| ValidationError::new("subscription.endpoint", e.to_string()))?;
    Ok(subscription)
}

/// Which member of `subscription` a parse error is about.
fn subscription_field(error: &herald_push::Error) -> &'static str {
    match error.kind() {
        herald_push::ErrorKind::InvalidKey => "subscription.keys.p256dh",
        herald_push::ErrorKind::InvalidAuthSecret => "subscription.keys.auth",
        _ => "subscription.endpoint",
    }
}

pub async fn register(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Registrant { owner, request }: Registrant,
) -> ApiResult<impl IntoResponse> {
    let subscription = validate_subscription(&state, &request.subscription).await?;
    let locale = request.locale()?;
    let tags = super::tags::tag_list("tags", request.tags.unwrap_or_default())?;
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
        tags,
        locale,
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
            id: OwnerId::parse(uid).map_err(|e| ApiError::bad_request(format!("`uid`: {e}")))?,
        }),
        (None, Some(aid)) => Some(Owner {
            kind: OwnerKind::Admin,
            id: OwnerId::parse(aid).map_err(|e| ApiError::bad_request(format!("`aid`: {e}")))?,
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
    let ids: Vec<&str> = rows.iter().map(|s| s.id.as_str()).collect();
    let mut tags = state.store.tags_of(&ids).await?;
    let subscriptions: Vec<_> = rows
        .iter()
        .map(|s| {
            let mut item = json!({
                "id": s.id,
                "endpoint": s.endpoint,
                "pushService": s.push_service.label(),
                "createdAt": rfc3339(s.created_at),
                "lastSuccessAt": s.last_success_at.map(rfc3339),
                "tags": tags.remove(&s.id).unwrap_or_default(),
            });
            item[s.owner.kind.field()] = json!(s.owner.id.as_str());
            item
        })
        .collect();
    Ok(Json(json!({ "subscriptions": subscriptions, "total": total })))
}

pub async fn delete(
    State(state): State<Arc<AppState>>,
    SubscriptionSecretOrAdmin(id): SubscriptionSecretOrAdmin,
) -> ApiResult<impl IntoResponse> {
    if !state.store.delete_subscription(&id).await? {
        return Err(ApiError::not_found("no such subscription"));
    }
    Ok(StatusCode::NO_CONTENT)
}
