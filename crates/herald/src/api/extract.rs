//! Extractors whose rejections are JSON errors, and bearer authentication: the admin token or
//! a scoped API key (see [`crate::access`]), or a subscription's own secret.

use super::error::ApiError;
use super::AppState;
use crate::access::{Scope, Scopes};
use crate::secrets;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use std::sync::Arc;

/// `Json<T>` that answers malformed, oversize or mistyped bodies with a JSON error.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "the body must be JSON with Content-Type: application/json",
        ),
        JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            "the request body is too large",
        ),
        JsonRejection::JsonSyntaxError(e) => {
            ApiError::bad_request(format!("the body is not valid JSON: {}", e.body_text()))
        }
        JsonRejection::JsonDataError(e) => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", e.body_text())
        }
        other => ApiError::bad_request(other.body_text()),
    }
}

/// `Query<T>` with JSON errors.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => Err(ApiError::bad_request(e.body_text())),
            Err(other) => Err(ApiError::bad_request(other.body_text())),
        }
    }
}

/// A resource id from the path. Ids are URL-safe base64 of at most 64 characters; anything
/// else (bad UTF-8, NUL, SQL, 10 KB strings) cannot name a resource and is answered 404 before
/// it reaches the database.
pub struct ApiPath(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ApiPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<String>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(id)) if crate::secrets::is_valid_id(&id) => Ok(Self(id)),
            _ => Err(ApiError::not_found("no such resource")),
        }
    }
}

/// The bearer token of a request, if any.
pub fn bearer(parts: &Parts) -> Option<&str> {
    bearer_header(&parts.headers)
}

/// The bearer token in `Authorization`, with the scheme matched case-insensitively.
pub fn bearer_header(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Checks that the request's bearer token is the admin token or a live API key holding
/// `scope`: 401 without a valid token, 403 (naming the scope) with one that lacks it.
pub async fn require_scope(parts: &Parts, state: &AppState, scope: Scope) -> Result<Scopes, ApiError> {
    let Some(token) = bearer(parts) else {
        return Err(ApiError::unauthorized(format!(
            "this endpoint needs Authorization: Bearer <admin token or an API key with the `{}` scope>",
            scope.as_str()
        )));
    };
    match state.authenticate(token).await? {
        Some(scopes) if scopes.allows(scope) => Ok(scopes),
        Some(_) => Err(ApiError::forbidden(format!(
            "this API key lacks the `{}` scope this endpoint needs",
            scope.as_str()
        ))),
        None => Err(ApiError::unauthorized(
            "the token is not valid (not the admin token, or an unknown or revoked API key)",
        )),
    }
}

macro_rules! scope_extractor {
    ($(#[$doc:meta])* $name:ident, $scope:expr) => {
        $(#[$doc])*
        pub struct $name;

        impl FromRequestParts<Arc<AppState>> for $name {
            type Rejection = ApiError;

            async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
                require_scope(parts, state, $scope).await.map(|_| $name)
            }
        }
    };
}

scope_extractor!(
    /// Proof that the request carries the admin token or a key with the `admin` scope.
    Admin,
    Scope::Admin
);
scope_extractor!(
    /// Proof that the request may send: the `send` scope (or `admin`).
    Sender,
    Scope::Send
);
scope_extractor!(
    /// Proof that the request may read status and lists: the `read` scope (or `admin`).
    Reader,
    Scope::Read
);

/// Checks that `token` is the secret of subscription `id` (or the admin token, when
/// `admin_may` is set). Unknown ids and wrong secrets get the same answer, so ids cannot be
/// probed.
pub async fn authorize_subscription(
    state: &AppState,
    parts_token: Option<&str>,
    id: &str,
    admin_may: bool,
) -> Result<(), ApiError> {
    let token = parts_token
        .ok_or_else(|| ApiError::unauthorized("this endpoint needs Authorization: Bearer <subscription secret>"))?;
    if admin_may {
        match state.authenticate(token).await? {
            Some(scopes) if scopes.allows(Scope::Admin) => return Ok(()),
            Some(_) => {
                return Err(ApiError::forbidden(
                    "this API key lacks the `admin` scope that acting on another's subscription needs",
                ))
            }
            None => {}
        }
    }
    let refused = || ApiError::unauthorized("the subscription id or secret is not valid");
    if !crate::secrets::is_valid_id(id) {
        return Err(refused());
    }
    let auth = state.store.subscription_auth(id).await?;
    match auth {
        Some(auth) if secrets::verify_secret(token, &auth.secret_hash) => Ok(()),
        Some(_) => Err(refused()),
        None => {
            // Spend the same hashing work as a real check.
            let _ = secrets::verify_secret(token, "");
            Err(refused())
        }
    }
}
