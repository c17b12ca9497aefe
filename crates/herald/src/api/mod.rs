//! The HTTP API: JSON over axum, under `/api/v1`, plus the browser assets.
//!
//! - [`subscriptions`]: register, list, delete (admin or the subscription itself);
//! - [`devices`]: what a service worker does with its own secret (tickle inbox, receipts,
//!   replacing a changed subscription);
//! - [`messages`]: send, inspect, cancel (admin);
//! - [`reminders`]: messages on a schedule (admin);
//! - [`keys`]: scoped API keys (admin);
//! - [`overview`]: the admin console's overview (subscriptions and pushes over time);
//! - [`meta`]: public key, owner tokens, health, metrics, OpenAPI;
//! - [`assets`]: the service worker, page library, demo pages and admin console.

mod assets;
pub mod client_ip;
mod devices;
pub mod error;
mod extract;
pub mod http_server;
mod keys;
pub use keys::key_json;
mod messages;
mod meta;
mod overview;
mod rate_limit;
mod reminders;
pub use rate_limit::RateLimiter;
pub use reminders::reminder_json;
mod subscriptions;
mod tags;

use crate::app::AppState;
use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderValue, Method};
use axum::routing::{get, post};
use axum::Router;
use error::ApiError;
use std::sync::Arc;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;

/// Largest request body accepted: a subscription or a message is a few KB at most.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub fn router(state: Arc<AppState>) -> Router {
    let public = Router::new()
        .route("/api/v1/subscriptions", post(subscriptions::register))
        .route("/api/v1/subscriptions/{id}/messages", get(devices::inbox))
        .route("/api/v1/subscriptions/{id}/receipts", post(devices::receipt))
        .route("/api/v1/subscriptions/{id}/replace", post(devices::replace))
        .layer(axum::middleware::from_fn_with_state(
            (
                state.clone(),
                Arc::new(RateLimiter::new(state.config.public_rate_limit)),
            ),
            rate_limit::limit,
        ));
    let api = Router::new()
        .route("/api/v1/vapid-public-key", get(meta::vapid_public_key))
        .route("/api/v1/openapi.json", get(meta::openapi))
        .route("/api/v1/owner-tokens", post(meta::owner_token))
        .route("/api/v1/subscriptions", get(subscriptions::list))
        .route(
            "/api/v1/subscriptions/{id}",
            axum::routing::delete(subscriptions::delete),
        )
        .route(
            "/api/v1/subscriptions/{id}/tags/{tag}",
            axum::routing::put(tags::put).delete(tags::delete),
        )
        .route("/api/v1/owners/tags", post(tags::change_owner))
        .route("/api/v1/messages", post(messages::create).get(messages::list))
        .route("/api/v1/messages/{id}", get(messages::get).delete(messages::cancel))
        .route("/api/v1/messages/{id}/delivery", get(messages::delivery))
        .route("/api/v1/overview", get(overview::overview))
        .route("/api/v1/reminders/preview", post(reminders::preview))
        .route("/api/v1/reminders", post(reminders::create).get(reminders::list))
        .route(
            "/api/v1/reminders/{id}",
            get(reminders::get).patch(reminders::update).delete(reminders::delete),
        )
        .route("/api/v1/keys", post(keys::create).get(keys::list))
        .route("/api/v1/keys/{id}", axum::routing::delete(keys::revoke))
        .route("/healthz", get(meta::healthz))
        .route("/metrics", get(meta::metrics))
        .merge(public)
        .merge(assets::router())
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "method not allowed here",
            )
        })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(cors(&state.config.cors_origins))
        // Answers carry owner tokens, secrets and message texts: no cache may keep them. The
        // browser assets set their own `no-cache` and keep it.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| {
            axum::response::IntoResponse::into_response(ApiError::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error",
            ))
        }));
    api.with_state(state)
}

fn cors(origins: &[String]) -> CorsLayer {
    let layer = CorsLayer::new()
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE, Method::PATCH])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .max_age(std::time::Duration::from_secs(3600));
    if origins.iter().any(|o| o == "*") {
        layer.allow_origin(AllowOrigin::any())
    } else {
        let list: Vec<HeaderValue> = origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect();
        layer.allow_origin(AllowOrigin::list(list))
    }
}
