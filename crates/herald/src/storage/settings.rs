//! Named values the server generates once and keeps: the VAPID key, the admin token's hash,
//! the owner-token secret. Several instances on one database agree on them because the first
//! writer wins and everyone reads the stored value back.

use super::{col, is_unique_violation, Store, StoreError, StoreResult};

pub const VAPID_PRIVATE_KEY: &str = "vapid_private_key";
pub const ADMIN_TOKEN_HASH: &str = "admin_token_hash";
pub const OWNER_TOKEN_SECRET: &str = "owner_token_secret";

impl Store {
    pub async fn setting(&self, name: &str) -> StoreResult<Option<String>> {
        let row = self
            .read("SELECT value FROM settings WHERE name = $1")
            .bind(name)
            .fetch_optional()
            .await?;
        row.map(|r| col(&r, "value")).transpose()
    }

    /// Stores `value` unless `name` already has one; returns the stored value and whether it
    /// was this call that stored it.
    pub async fn setting_or_insert(&self, name: &str, value: &str) -> StoreResult<(String, bool)> {
        if let Some(existing) = self.setting(name).await? {
            return Ok((existing, false));
        }
        let inserted = self
            .write("INSERT INTO settings (name, value) VALUES ($1, $2)")
            .bind(name)
            .bind(value)
            .execute()
            .await;
        match inserted {
            Ok(_) => Ok((value.to_owned(), true)),
            // Another instance stored it first: read theirs back.
            Err(StoreError::Database(e)) if is_unique_violation(&e) => match self.setting(name).await? {
                Some(stored) => Ok((stored, false)),
                None => Err(StoreError::Conflict(format!(
                    "the setting {name} was stored and removed at once"
                ))),
            },
            Err(e) => Err(e),
        }
    }

    pub async fn set_setting(&self, name: &str, value: &str) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        tx.query("DELETE FROM settings WHERE name = $1")
            .bind(name)
            .execute()
            .await?;
        tx.query("INSERT INTO settings (name, value) VALUES ($1, $2)")
            .bind(name)
            .bind(value)
            .execute()
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
