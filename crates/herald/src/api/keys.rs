//! Scoped API keys (admin): create (the key is shown once), list, revoke.

use super::error::{ApiError, ApiResult};
use super::extract::{Admin, ApiJson, ApiPath};
use super::AppState;
use crate::access::{self, Scopes};
use crate::clock::rfc3339;
use crate::storage::api_keys::ApiKeyView;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyRequest {
    name: String,
    scopes: Vec<String>,
}

pub fn key_json(k: &ApiKeyView) -> Value {
    json!({
        "id": k.id,
        "name": k.name,
        "scopes": k.scopes.names(),
        "createdAt": rfc3339(k.created_at),
        "lastUsedAt": k.last_used_at.map(rfc3339),
        "revokedAt": k.revoked_at.map(rfc3339),
    })
}

pub async fn create(
    _: Admin,
    State(state): State<Arc<AppState>>,
    ApiJson(req): ApiJson<CreateKeyRequest>,
) -> ApiResult<impl IntoResponse> {
    let name = access::validate_name(&req.name)?;
    let scopes = Scopes::parse_list(req.scopes.iter().map(String::as_str))?;
    let (id, token, hash) = access::new_key();
    let now = state.clock.now_ms();
    state.store.insert_api_key(&id, &name, scopes, &hash, now).await?;
    let mut body = key_json(&ApiKeyView {
        id,
        name,
        scopes,
        created_at: now,
        last_used_at: None,
        revoked_at: None,
    });
    // Shown once: only the hash is kept.
    body["key"] = json!(token);
    Ok((StatusCode::CREATED, Json(body)))
}

pub async fn list(_: Admin, State(state): State<Arc<AppState>>) -> ApiResult<impl IntoResponse> {
    let keys = state.store.list_api_keys().await?;
    Ok(Json(json!({ "keys": keys.iter().map(key_json).collect::<Vec<_>>() })))
}

pub async fn revoke(
    _: Admin,
    State(state): State<Arc<AppState>>,
    ApiPath(id): ApiPath,
) -> ApiResult<impl IntoResponse> {
    if !state.store.revoke_api_key(&id, state.clock.now_ms()).await? {
        return Err(ApiError::not_found("no such key, or it is already revoked"));
    }
    Ok(StatusCode::NO_CONTENT)
}
