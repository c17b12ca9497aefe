//! Segment tags (admin): on one subscription, and on a person (their subscriptions now and
//! the ones they register later).

use super::error::{ApiError, ApiResult};
use super::extract::{Admin, ApiJson};
use super::AppState;
use crate::domain::segment::Tag;
use crate::domain::{Owner, OwnerId, ValidationError};
use axum::extract::path::ErrorKind;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// `{id}` and `{tag}` from the path: an id that cannot name a subscription is 404, a tag that
/// breaks the rules (including percent-encoding that is not UTF-8) is 422.
fn subscription_and_tag(uri: &Uri, path: Result<Path<(String, String)>, PathRejection>) -> ApiResult<(String, Tag)> {
    let (id, tag) = match path {
        Ok(Path(pair)) => pair,
        Err(PathRejection::FailedToDeserializePathParams(e)) if names_the_tag(e.kind()) => {
            // The id is read from the raw path: axum gives no parameter once one is bad.
            let id = uri.path().split('/').nth(4).unwrap_or("");
            if !crate::secrets::is_valid_id(id) {
                return Err(ApiError::not_found("no such subscription"));
            }
            return Err(ValidationError::new(
                "tag",
                "the tag must be UTF-8 text (it is percent-encoded bytes that are not)",
            )
            .into());
        }
        Err(_) => return Err(ApiError::not_found("no such resource")),
    };
    if !crate::secrets::is_valid_id(&id) {
        return Err(ApiError::not_found("no such subscription"));
    }
    let tag = Tag::parse(&tag).map_err(|e| ValidationError::new("tag", e))?;
    Ok((id, tag))
}

/// Whether axum refused the path because `{tag}` is percent-encoded bytes that are not UTF-8.
fn names_the_tag(kind: &ErrorKind) -> bool {
    matches!(kind, ErrorKind::InvalidUtf8InPathParam { key } if key == "tag")
}

/// `PUT /api/v1/subscriptions/{id}/tags/{tag}`: 422 when the subscription has
/// [`Tag::MAX_PER_SUBSCRIPTION`] tags already.
pub async fn put(
    _: Admin,
    State(state): State<Arc<AppState>>,
    uri: Uri,
    path: Result<Path<(String, String)>, PathRejection>,
) -> ApiResult<impl IntoResponse> {
    let (id, tag) = subscription_and_tag(&uri, path)?;
    if !state.store.add_subscription_tag(&id, &tag).await? {
        return Err(ApiError::not_found("no such subscription"));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /api/v1/subscriptions/{id}/tags/{tag}`.
pub async fn delete(
    _: Admin,
    State(state): State<Arc<AppState>>,
    uri: Uri,
    path: Result<Path<(String, String)>, PathRejection>,
) -> ApiResult<impl IntoResponse> {
    let (id, tag) = subscription_and_tag(&uri, path)?;
    if !state.store.remove_subscription_tag(&id, &tag).await? {
        return Err(ApiError::not_found("no such subscription"));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The body of `POST /api/v1/owners/tags`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OwnerTagsRequest {
    uid: Option<OwnerId>,
    aid: Option<OwnerId>,
    #[serde(default)]
    add: Vec<Tag>,
    #[serde(default)]
    remove: Vec<Tag>,
}

/// `POST /api/v1/owners/tags`: adds and removes a person's tags.
pub async fn change_owner(
    _: Admin,
    State(state): State<Arc<AppState>>,
    ApiJson(request): ApiJson<OwnerTagsRequest>,
) -> ApiResult<impl IntoResponse> {
    let owner = Owner::from_uid_or_aid(request.uid, request.aid)?
        .ok_or_else(|| ValidationError::new("uid", "give `uid` or `aid`"))?;
    let add = tag_list("add", request.add)?;
    let remove = tag_list("remove", request.remove)?;
    if add.is_empty() && remove.is_empty() {
        return Err(ValidationError::new("add", "give tags to `add` or `remove`").into());
    }
    if let Some(both) = add.iter().find(|tag| remove.contains(tag)) {
        return Err(ValidationError::new("remove", format!("the tag \"{both}\" is both added and removed")).into());
    }
    let (tags, subscriptions) = state.store.change_owner_tags(&owner, &add, &remove).await?;
    let mut answer = json!({ "tags": tags, "subscriptions": subscriptions });
    answer[owner.kind.field()] = json!(owner.id.as_str());
    Ok(Json(answer))
}

/// A list of at most [`Tag::MAX_PER_SUBSCRIPTION`] tags, sorted, repeats dropped.
pub fn tag_list(field: &str, mut tags: Vec<Tag>) -> Result<Vec<Tag>, ValidationError> {
    if tags.len() > Tag::MAX_PER_SUBSCRIPTION {
        return Err(ValidationError::new(
            field,
            format!("`{field}` must list at most {} tags", Tag::MAX_PER_SUBSCRIPTION),
        ));
    }
    tags.sort();
    tags.dedup();
    Ok(tags)
}
