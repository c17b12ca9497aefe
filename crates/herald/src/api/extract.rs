//! Extractors whose rejections are JSON errors, and bearer authentication: the admin token or
//! a scoped API key (see [`crate::access`]), a subscription's own secret, or the rules for
//! who may register a subscription.

use super::error::ApiError;
use super::AppState;
use crate::access::{Scope, Scopes};
use crate::domain::{Owner, ValidationError};
use crate::secrets;
use crate::secrets::OwnerTokenError;
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use std::sync::Arc;

/// A JSON body: 415 without a JSON content type, 413 when too large, 400 when it is not
/// JSON at all, and 422 `invalid_field` naming the field when a value has the wrong type, an
/// unknown field is present, or a typed field (an audience, a schedule) breaks its rule.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !has_json_content_type(req.headers()) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "the body must be JSON with Content-Type: application/json",
            ));
        }
        let bytes = axum::body::Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    "the request body is too large",
                )
            } else {
                ApiError::bad_request(e.body_text())
            }
        })?;
        parse_json(&bytes).map(Self)
    }
}

/// `application/json` or a `+json` type, as axum's `Json` accepts.
fn has_json_content_type(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    kind == "application" && (subtype == "json" || subtype.ends_with("+json"))
}

/// Syntax errors are 400; data errors are a [`ValidationError`] at the path serde reached.
fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let not_json = |e: &serde_json::Error| ApiError::bad_request(format!("the body is not valid JSON: {e}"));
    // Every body is an object; serde would otherwise read an array as a struct's fields in order.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        serde_json::from_slice::<serde::de::IgnoredAny>(bytes).map_err(|e| not_json(&e))?;
        return Err(ValidationError::new("", "the body must be a JSON object").into());
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value =
        serde_path_to_error::deserialize(&mut deserializer).map_err(|error| match error.inner().classify() {
            serde_json::error::Category::Data => ValidationError::from_json_error(error.path(), error.inner()).into(),
            _ => not_json(error.inner()),
        })?;
    deserializer.end().map_err(|e| not_json(&e))?;
    Ok(value)
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

/// Proof that the request carries subscription `{id}`'s own secret; holds the id. A bad id
/// is 404 as with [`ApiPath`]; a missing or wrong secret is 401.
pub struct SubscriptionSecret(pub String);

impl FromRequestParts<Arc<AppState>> for SubscriptionSecret {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        let ApiPath(id) = ApiPath::from_request_parts(parts, state).await?;
        authorize_subscription(state, bearer(parts), &id, false).await?;
        Ok(Self(id))
    }
}

/// Like [`SubscriptionSecret`], or the admin token or a key with the `admin` scope: who may
/// delete subscription `{id}`.
pub struct SubscriptionSecretOrAdmin(pub String);

impl FromRequestParts<Arc<AppState>> for SubscriptionSecretOrAdmin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        let ApiPath(id) = ApiPath::from_request_parts(parts, state).await?;
        authorize_subscription(state, bearer(parts), &id, true).await?;
        Ok(Self(id))
    }
}

/// The body of `POST /api/v1/subscriptions` and the owner it may register for: with an
/// `ownerToken`, the token's owner (the body's `uid`/`aid`, if given, must match) and only
/// the tags the token carries; otherwise the body's owner and any tags, for a bearer that is
/// the admin token or a key with the `send` scope (which could mint an owner token for the
/// same effect, and may send to everyone anyway).
pub struct Registrant {
    pub owner: Owner,
    pub request: super::subscriptions::RegisterRequest,
}

impl FromRequest<Arc<AppState>> for Registrant {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        let token = bearer_header(req.headers()).map(str::to_owned);
        let ApiJson(request) = ApiJson::<super::subscriptions::RegisterRequest>::from_request(req, state).await?;
        let owner = registrant(state, token.as_deref(), &request).await?;
        Ok(Self { owner, request })
    }
}

async fn registrant(
    state: &AppState,
    bearer: Option<&str>,
    request: &super::subscriptions::RegisterRequest,
) -> Result<Owner, ApiError> {
    let from_body = request.owner()?;
    if let Some(token) = &request.owner_token {
        let claims = state
            .owner_tokens
            .verify(token, state.clock.now_ms() / 1000)
            .map_err(|e| match e {
                OwnerTokenError::Owner(_) | OwnerTokenError::Tags(_) => {
                    ValidationError::new("ownerToken", e.to_string()).into()
                }
                _ => ApiError::unauthorized(e.to_string()),
            })?;
        if from_body.as_ref().is_some_and(|b| *b != claims.owner) {
            return Err(ApiError::forbidden(
                "the owner in the body differs from the owner token",
            ));
        }
        // A browser holds its own token: the tags it may claim are the ones its host signed in,
        // or it could join any segment and read messages meant for others.
        let requested = request.tags.as_deref().unwrap_or_default();
        if let Some(tag) = requested.iter().find(|tag| !claims.tags.contains(tag)) {
            return Err(ApiError::forbidden(format!(
                "the owner token does not allow the tag \"{tag}\": with an owner token, `tags` may only list \
                 tags the token carries (sign them in with `tags` in POST /api/v1/owner-tokens)"
            )));
        }
        return Ok(claims.owner);
    }
    let Some(token) = bearer else {
        return Err(ApiError::unauthorized(
            "send an `ownerToken` or Authorization: Bearer <admin token or an API key with the `send` scope>",
        ));
    };
    match state.authenticate(token).await? {
        Some(scopes) if scopes.allows(Scope::Send) => {
            from_body.ok_or_else(|| ValidationError::new("uid", "give `uid` or `aid`").into())
        }
        Some(_) => Err(ApiError::forbidden(
            "this API key lacks the `send` scope registering needs",
        )),
        None => Err(ApiError::unauthorized(
            "the token is not valid (not the admin token, or an unknown or revoked API key)",
        )),
    }
}
