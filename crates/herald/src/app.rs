//! The state every part of the server shares: the store, configuration, keys, metrics, the
//! clock and the wake-up signals between the API, the delivery engine and the scheduler.
//!
//! It lives below the HTTP layer on purpose: the scheduler and the CLI use it without
//! touching `api`, and the API adds only what is HTTP's own (the public rate limiter).

use crate::access::{self, Scopes};
use crate::clock::Clock;
use crate::config::Config;
use crate::endpoint_policy::EndpointPolicy;
use crate::metrics::Metrics;
use crate::secrets::{self, OwnerTokenKey};
use crate::storage::Store;
use herald_push::vapid::VapidSigner;
use std::sync::Arc;
use tokio::sync::Notify;

/// Everything the API, the engine and the scheduler share.
pub struct AppState {
    pub store: Store,
    pub config: Arc<Config>,
    pub signer: Arc<VapidSigner>,
    pub admin_token_hash: String,
    /// When set, `/metrics` needs this token (or the admin token).
    pub metrics_token_hash: Option<String>,
    pub owner_tokens: OwnerTokenKey,
    pub policy: EndpointPolicy,
    pub metrics: Arc<Metrics>,
    pub clock: Arc<dyn Clock>,
    /// Wakes the delivery engine when new outbox rows exist.
    pub delivery_wake: Arc<Notify>,
    /// Notified (all waiters) each time the delivery engine has recorded a batch of results.
    pub delivery_recorded: Arc<Notify>,
    /// Wakes the scheduler when a scheduled message or reminder changes.
    pub scheduler_wake: Arc<Notify>,
}

/// A key's last-used time is written at most this often, so that a busy key costs one write
/// a minute, not one per request.
const LAST_USED_RESOLUTION_MS: i64 = 60_000;

impl AppState {
    pub fn is_admin_token(&self, token: &str) -> bool {
        secrets::verify_secret(token, &self.admin_token_hash)
    }

    /// The scopes `token` holds: all of them for the admin token, a live API key's own, or
    /// `None` for anything else. Keys are looked up on every request (by primary key) and
    /// never cached, so a revocation takes effect at once on every instance.
    pub async fn authenticate(&self, token: &str) -> Result<Option<Scopes>, crate::storage::StoreError> {
        if self.is_admin_token(token) {
            return Ok(Some(Scopes::full()));
        }
        let Some((id, secret)) = access::parse_key(token) else {
            return Ok(None);
        };
        let Some(key) = self.store.api_key_auth(id).await? else {
            // Spend the same hashing work as a real check.
            let _ = secrets::verify_secret(secret, "");
            return Ok(None);
        };
        if !secrets::verify_secret(secret, &key.secret_hash) {
            return Ok(None);
        }
        let now = self.clock.now_ms();
        if key.last_used_at.is_none_or(|at| now - at >= LAST_USED_RESOLUTION_MS) {
            if let Err(e) = self.store.touch_api_key(id, now).await {
                tracing::warn!(key = id, error = %e, "recording an API key's last use failed");
            }
        }
        Ok(Some(key.scopes))
    }
}
