//! API keys: name, scopes, the hash of the secret, when made, last used and revoked. Lookups
//! are never cached, so a key revoked on one instance fails on the next request everywhere.

use super::{col, Store, StoreError, StoreResult};
use crate::access::Scopes;

/// A key as listed (never with its secret).
#[derive(Debug, Clone)]
pub struct ApiKeyView {
    pub id: String,
    pub name: String,
    pub scopes: Scopes,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// What checking a presented key needs: the live (unrevoked) key's hash and scopes.
#[derive(Debug, Clone)]
pub struct ApiKeyAuth {
    pub secret_hash: String,
    pub scopes: Scopes,
    pub last_used_at: Option<i64>,
}

/// Stored scopes were validated on the way in: a list that no longer parses is a decode
/// error (the request fails) rather than a key with other rights than it was given.
fn scopes_from(text: String) -> StoreResult<Scopes> {
    Scopes::parse_list(text.split(',')).map_err(|e| StoreError::Decode(format!("api key scopes: {e}")))
}

impl Store {
    pub async fn insert_api_key(
        &self,
        id: &str,
        name: &str,
        scopes: Scopes,
        secret_hash: &str,
        now_ms: i64,
    ) -> StoreResult<()> {
        self.write("INSERT INTO api_keys (id, name, scopes, secret_hash, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(id)
            .bind(name)
            .bind(scopes.to_text())
            .bind(secret_hash)
            .bind(now_ms)
            .execute()
            .await?;
        Ok(())
    }

    /// The unrevoked key with this id.
    pub async fn api_key_auth(&self, id: &str) -> StoreResult<Option<ApiKeyAuth>> {
        let row = self
            .read("SELECT secret_hash, scopes, last_used_at FROM api_keys WHERE id = $1 AND revoked_at IS NULL")
            .bind(id)
            .fetch_optional()
            .await?;
        row.map(|r| {
            Ok(ApiKeyAuth {
                secret_hash: col(&r, "secret_hash")?,
                scopes: scopes_from(col(&r, "scopes")?)?,
                last_used_at: col(&r, "last_used_at")?,
            })
        })
        .transpose()
    }

    pub async fn touch_api_key(&self, id: &str, now_ms: i64) -> StoreResult<()> {
        self.write("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
            .bind(now_ms)
            .bind(id)
            .execute()
            .await?;
        Ok(())
    }

    /// Every key, oldest first.
    pub async fn list_api_keys(&self) -> StoreResult<Vec<ApiKeyView>> {
        let rows = self
            .read("SELECT id, name, scopes, created_at, last_used_at, revoked_at FROM api_keys ORDER BY created_at, id")
            .fetch_all()
            .await?;
        rows.iter()
            .map(|r| {
                Ok(ApiKeyView {
                    id: col(r, "id")?,
                    name: col(r, "name")?,
                    scopes: scopes_from(col(r, "scopes")?)?,
                    created_at: col(r, "created_at")?,
                    last_used_at: col(r, "last_used_at")?,
                    revoked_at: col(r, "revoked_at")?,
                })
            })
            .collect()
    }

    /// Revokes a live key; false when there is no such live key.
    pub async fn revoke_api_key(&self, id: &str, now_ms: i64) -> StoreResult<bool> {
        let done = self
            .write("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now_ms)
            .bind(id)
            .execute()
            .await?;
        Ok(done > 0)
    }
}
