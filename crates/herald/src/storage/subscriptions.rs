//! Subscriptions: one row per browser push endpoint, with its owner.
//!
//! The endpoint is unique (through its SHA-256, so that MySQL can index it): registering the
//! same endpoint again for the same owner updates the keys and rotates the secret, so a
//! re-registering service worker always ends up holding the one valid secret. Registering it
//! for another owner replaces the row with a new one (new id, new secret): what was queued for
//! the old owner is never handed to the new one.

use super::rollups::{self, PushService};
use super::subscription_locale::{self, Locale};
use super::{col, is_unique_violation, tags, Backend, Store, StoreError, StoreResult, WriteTx};
use crate::domain::segment::Tag;
use crate::domain::{Owner, OwnerId, OwnerKind};
use crate::secrets;
use aws_lc_rs::digest;
use herald_push::base64url;

/// A validated subscription to store.
#[derive(Debug, Clone)]
pub struct NewSubscription {
    pub owner: Owner,
    pub endpoint: String,
    pub p256dh: String,
    pub auth: String,
    pub user_agent: Option<String>,
    /// Segment tags to add (the owner's tags are added as well).
    pub tags: Vec<Tag>,
    /// The device's languages and time zone, stored with it.
    pub locale: Locale,
}

/// The result of registering: the id, a fresh secret (shown once), and whether it was new.
#[derive(Debug, Clone)]
pub struct Registered {
    pub id: String,
    pub secret: String,
    pub created: bool,
}

/// What authenticating a subscription needs.
#[derive(Debug, Clone)]
pub struct SubscriptionAuth {
    pub secret_hash: String,
    pub owner: Owner,
}

/// A subscription as the admin API lists it.
#[derive(Debug, Clone)]
pub struct SubscriptionView {
    pub id: String,
    pub owner: Owner,
    pub endpoint: String,
    pub push_service: PushService,
    pub created_at: i64,
    pub last_success_at: Option<i64>,
}

pub(super) fn endpoint_hash(endpoint: &str) -> String {
    base64url::encode(digest::digest(&digest::SHA256, endpoint.as_bytes()))
}

/// The owner a row stores. Ids were validated on the way in; one that no longer parses is a
/// decode error, not someone else's id.
fn owner_from(kind: i64, id: String) -> StoreResult<Owner> {
    Ok(Owner {
        kind: OwnerKind::from_db(kind)?,
        id: OwnerId::parse(&id).map_err(|e| StoreError::Decode(format!("owner id: {e}")))?,
    })
}

impl Store {
    /// Registers or re-registers an endpoint. Refuses a new endpoint when its owner already has
    /// `max_per_owner` subscriptions.
    pub async fn register_subscription(
        &self,
        new: &NewSubscription,
        now_ms: i64,
        max_per_owner: u64,
    ) -> StoreResult<Registered> {
        match self.try_register(new, now_ms, max_per_owner).await {
            // Two registrations of one endpoint raced; the second becomes an update.
            Err(StoreError::Database(e)) if is_unique_violation(&e) => {
                self.try_register(new, now_ms, max_per_owner).await
            }
            other => other,
        }
    }

    async fn try_register(&self, new: &NewSubscription, now_ms: i64, max_per_owner: u64) -> StoreResult<Registered> {
        let hash = endpoint_hash(&new.endpoint);
        let (secret, secret_hash) = secrets::new_secret();
        let mut tx = self.begin().await?;
        // One round trip: the row for this endpoint (if any) and how many the owner has.
        let probe = tx
            .query(
                "SELECT s.id, s.owner_kind, s.owner_id, \
                 (SELECT COUNT(*) FROM subscriptions WHERE owner_kind = $1 AND owner_id = $2) AS owned \
                 FROM (SELECT 1 AS one) AS probe LEFT JOIN subscriptions s ON s.endpoint_hash = $3",
            )
            .bind(new.owner.kind.as_db())
            .bind(new.owner.id.as_str())
            .bind(&hash)
            .fetch_one()
            .await?;
        let existing_id: Option<String> = col(&probe, "id")?;
        let moves_owner = match &existing_id {
            Some(_) => owner_from(col(&probe, "owner_kind")?, col(&probe, "owner_id")?)? != new.owner,
            None => true,
        };
        let count: i64 = col(&probe, "owned")?;
        if moves_owner && count as u64 >= max_per_owner {
            return Err(StoreError::Conflict(format!(
                "this owner already has {count} subscriptions, the most allowed; remove one first"
            )));
        }
        let existing_id = match existing_id {
            Some(id) if moves_owner => {
                // Someone else's endpoint changes hands: the old row goes, with its tickle
                // messages (their outbox rows settle as gone), and the new owner starts afresh.
                delete_subscriptions(&mut tx, &[id.as_str()]).await?;
                None
            }
            other => other,
        };
        let registered = if let Some(id) = existing_id {
            tx.query(
                "UPDATE subscriptions SET p256dh = $1, auth = $2, secret_hash = $3, user_agent = $4 WHERE id = $5",
            )
            .bind(&new.p256dh)
            .bind(&new.auth)
            .bind(&secret_hash)
            .bind(new.user_agent.as_deref())
            .bind(&id)
            .execute()
            .await?;
            Registered {
                id,
                secret,
                created: false,
            }
        } else {
            let id = secrets::ordered_id();
            tx.query(
                "INSERT INTO subscriptions (id, owner_kind, owner_id, endpoint, endpoint_hash, p256dh, auth, \
                 secret_hash, user_agent, created_at, push_service) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(&id)
            .bind(new.owner.kind.as_db())
            .bind(new.owner.id.as_str())
            .bind(&new.endpoint)
            .bind(&hash)
            .bind(&new.p256dh)
            .bind(&new.auth)
            .bind(&secret_hash)
            .bind(new.user_agent.as_deref())
            .bind(now_ms)
            .bind(PushService::from_endpoint(&new.endpoint).as_db())
            .execute()
            .await?;
            rollups::add_subscription_day(&mut tx, now_ms, 1, 0).await?;
            Registered {
                id,
                secret,
                created: true,
            }
        };
        subscription_locale::set_locale(&mut tx, &registered.id, &new.locale).await?;
        tags::tag_new_subscription(&mut tx, &registered.id, &new.owner, &new.tags).await?;
        tx.commit().await?;
        Ok(registered)
    }

    /// Points an existing subscription at a new endpoint and keys (the browser replaced its
    /// subscription) and rotates its secret. `None` when the id is unknown.
    pub async fn replace_subscription(
        &self,
        id: &str,
        endpoint: &str,
        p256dh: &str,
        auth: &str,
    ) -> StoreResult<Option<String>> {
        let (secret, secret_hash) = secrets::new_secret();
        let hash = endpoint_hash(endpoint);
        let mut tx = self.begin().await?;
        // The new endpoint may already be registered on its own: this row takes it over.
        // Locked (PostgreSQL, MySQL) so that a registration of the same endpoint waits for
        // this takeover instead of failing it on the unique hash.
        let lock = match tx.backend() {
            Backend::Sqlite => "",
            Backend::Postgres | Backend::MySql => " FOR UPDATE",
        };
        let taken_over: Vec<String> = tx
            .query(format!(
                "SELECT id FROM subscriptions WHERE endpoint_hash = $1 AND id <> $2{lock}"
            ))
            .bind(&hash)
            .bind(id)
            .fetch_all()
            .await?
            .iter()
            .map(|row| col(row, "id"))
            .collect::<StoreResult<_>>()?;
        let taken_over: Vec<&str> = taken_over.iter().map(String::as_str).collect();
        delete_subscriptions(&mut tx, &taken_over).await?;
        let updated = tx
            .query(
                "UPDATE subscriptions SET endpoint = $1, endpoint_hash = $2, p256dh = $3, auth = $4, secret_hash = $5, \
                 push_service = $6 WHERE id = $7",
            )
        .bind(endpoint)
        .bind(&hash)
        .bind(p256dh)
        .bind(auth)
        .bind(&secret_hash)
        .bind(PushService::from_endpoint(endpoint).as_db())
        .bind(id)
        .execute()
        .await?;
        tx.commit().await?;
        Ok((updated == 1).then_some(secret))
    }

    pub async fn subscription_auth(&self, id: &str) -> StoreResult<Option<SubscriptionAuth>> {
        let row = self
            .read("SELECT secret_hash, owner_kind, owner_id FROM subscriptions WHERE id = $1")
            .bind(id)
            .fetch_optional()
            .await?;
        row.map(|r| {
            Ok(SubscriptionAuth {
                secret_hash: col(&r, "secret_hash")?,
                owner: owner_from(col(&r, "owner_kind")?, col(&r, "owner_id")?)?,
            })
        })
        .transpose()
    }

    pub async fn delete_subscription(&self, id: &str) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let done = delete_subscriptions(&mut tx, &[id]).await?;
        tx.commit().await?;
        Ok(done > 0)
    }

    /// A page of subscriptions ordered by id, optionally of one owner, and the total count.
    pub async fn list_subscriptions(
        &self,
        owner: Option<&Owner>,
        limit: i64,
        after: Option<&str>,
    ) -> StoreResult<(Vec<SubscriptionView>, i64)> {
        let after = after.unwrap_or("");
        let (rows, total) = match owner {
            Some(owner) => {
                let rows = self
                    .read(
                        "SELECT s.id, s.owner_kind, s.owner_id, s.endpoint, s.push_service, s.created_at, a.last_success_at \
                         FROM subscriptions s LEFT JOIN subscription_activity a ON a.subscription_id = s.id \
                         WHERE s.owner_kind = $1 AND s.owner_id = $2 AND s.id > $3 ORDER BY s.id LIMIT $4",
                    )
                    .bind(owner.kind.as_db())
                    .bind(owner.id.as_str())
                    .bind(after)
                    .bind(limit)
                    .fetch_all()
                    .await?;
                let total: i64 = self
                    .read("SELECT COUNT(*) FROM subscriptions WHERE owner_kind = $1 AND owner_id = $2")
                    .bind(owner.kind.as_db())
                    .bind(owner.id.as_str())
                    .fetch_scalar()
                    .await?;
                (rows, total)
            }
            None => {
                // The page and the count side by side: the count walks an index of every row.
                let rows = self
                    .read(
                        "SELECT s.id, s.owner_kind, s.owner_id, s.endpoint, s.push_service, s.created_at, a.last_success_at \
                         FROM subscriptions s LEFT JOIN subscription_activity a ON a.subscription_id = s.id \
                         WHERE s.id > $1 ORDER BY s.id LIMIT $2",
                    )
                    .bind(after)
                    .bind(limit)
                    .fetch_all();
                futures::try_join!(rows, self.count_subscriptions())?
            }
        };
        let views = rows
            .iter()
            .map(|r| {
                Ok(SubscriptionView {
                    id: col(r, "id")?,
                    owner: owner_from(col(r, "owner_kind")?, col(r, "owner_id")?)?,
                    endpoint: col(r, "endpoint")?,
                    push_service: PushService::from_db(col(r, "push_service")?)?,
                    created_at: col(r, "created_at")?,
                    last_success_at: col(r, "last_success_at")?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Ok((views, total))
    }

    /// Removes last-success rows whose subscription is gone. Only PostgreSQL can leave them:
    /// there a settle's upsert reads the subscription without waiting for a delete that is not
    /// committed yet (MySQL's `INSERT … SELECT` waits for it; SQLite has one writer). Batched
    /// and read without locks, so settles never wait on it.
    pub async fn prune_orphaned_activity(&self) -> StoreResult<u64> {
        if self.backend() != Backend::Postgres {
            return Ok(0);
        }
        let mut removed = 0;
        loop {
            let deleted = self
                .write(
                    "DELETE FROM subscription_activity WHERE subscription_id IN (SELECT a.subscription_id \
                     FROM subscription_activity a LEFT JOIN subscriptions s ON s.id = a.subscription_id \
                     WHERE s.id IS NULL LIMIT 500) \
                     AND NOT EXISTS (SELECT 1 FROM subscriptions s WHERE s.id = subscription_activity.subscription_id)",
                )
                .execute()
                .await?;
            removed += deleted;
            if deleted == 0 {
                return Ok(removed);
            }
        }
    }

    pub async fn count_subscriptions(&self) -> StoreResult<i64> {
        self.read("SELECT COUNT(*) FROM subscriptions").fetch_scalar().await
    }
}

/// Deletes subscriptions with what hangs off them (tags, last success), in the caller's
/// transaction; returns how many subscriptions were deleted.
pub(crate) async fn delete_subscriptions(tx: &mut WriteTx, ids: &[&str]) -> StoreResult<i64> {
    let mut deleted = 0;
    for chunk in ids.chunks(Store::IN_LIST_MAX) {
        let list = Store::placeholders(1, chunk.len());
        let mut activity = tx.query(format!(
            "DELETE FROM subscription_activity WHERE subscription_id IN ({list})"
        ));
        for id in Store::padded(chunk) {
            activity = activity.bind(*id);
        }
        activity.execute().await?;
        let mut subscriptions = tx.query(format!("DELETE FROM subscriptions WHERE id IN ({list})"));
        for id in Store::padded(chunk) {
            subscriptions = subscriptions.bind(*id);
        }
        deleted += subscriptions.execute().await? as i64;
    }
    tags::delete_tags_of(tx, ids).await?;
    Ok(deleted)
}

/// Records an accepted push for each subscription that still exists, in the caller's
/// transaction. The time lives in the narrow `subscription_activity` table (see its migration):
/// rewriting the wide subscription row for it cost a written page per push.
pub(crate) async fn record_success(tx: &mut WriteTx, ids: &[&str], now_ms: i64) -> StoreResult<()> {
    let upsert = match tx.backend() {
        Backend::MySql => "ON DUPLICATE KEY UPDATE last_success_at = VALUES(last_success_at)",
        Backend::Sqlite | Backend::Postgres => {
            "ON CONFLICT (subscription_id) DO UPDATE SET last_success_at = excluded.last_success_at"
        }
    };
    for chunk in ids.chunks(Store::IN_LIST_MAX) {
        let sql = format!(
            "INSERT INTO subscription_activity (subscription_id, last_success_at) \
             SELECT id, $1 FROM subscriptions WHERE id IN ({}) {upsert}",
            Store::placeholders(2, chunk.len())
        );
        let mut query = tx.query(sql).bind(now_ms);
        for id in Store::padded(chunk) {
            query = query.bind(*id);
        }
        query.execute().await?;
    }
    Ok(())
}

/// A subscription as exported: everything needed to move it to another Herald, including the
/// secret's hash so that the browser's existing secret keeps working.
#[derive(Debug, Clone)]
pub struct ExportedSubscription {
    pub id: String,
    pub owner: Owner,
    pub endpoint: String,
    pub p256dh: String,
    pub auth: String,
    pub secret_hash: String,
    pub created_at: i64,
    /// Tags to add on import; not filled on export.
    pub tags: Vec<Tag>,
}

impl Store {
    /// A page of full subscription rows ordered by id, for export.
    pub async fn export_subscriptions(&self, after: &str, limit: i64) -> StoreResult<Vec<ExportedSubscription>> {
        let rows = self
            .read(
                "SELECT id, owner_kind, owner_id, endpoint, p256dh, auth, secret_hash, created_at FROM subscriptions \
                 WHERE id > $1 ORDER BY id LIMIT $2",
            )
            .bind(after)
            .bind(limit)
            .fetch_all()
            .await?;
        rows.iter()
            .map(|r| {
                Ok(ExportedSubscription {
                    id: col(r, "id")?,
                    owner: owner_from(col(r, "owner_kind")?, col(r, "owner_id")?)?,
                    endpoint: col(r, "endpoint")?,
                    p256dh: col(r, "p256dh")?,
                    auth: col(r, "auth")?,
                    secret_hash: col(r, "secret_hash")?,
                    created_at: col(r, "created_at")?,
                    tags: Vec::new(),
                })
            })
            .collect()
    }

    /// Imports one subscription with its locale, in one transaction. A known endpoint keeps
    /// its row and gets the new owner and keys; a new one keeps the given id and secret hash
    /// when they are supplied. Returns whether a row was created. Too many tags (its own,
    /// the line's and its owner's) is [`StoreError::Invalid`], and nothing is imported.
    pub async fn import_subscription(
        &self,
        s: &ExportedSubscription,
        locale: &Locale,
        now_ms: i64,
    ) -> StoreResult<bool> {
        let hash = endpoint_hash(&s.endpoint);
        let mut tx = self.begin().await?;
        let updated = tx
            .query("UPDATE subscriptions SET owner_kind = $1, owner_id = $2, p256dh = $3, auth = $4 WHERE endpoint_hash = $5")
        .bind(s.owner.kind.as_db())
        .bind(s.owner.id.as_str())
        .bind(&s.p256dh)
        .bind(&s.auth)
        .bind(&hash)
        .execute()
        .await?;
        let created = updated == 0;
        if created {
            tx.query(
                "INSERT INTO subscriptions (id, owner_kind, owner_id, endpoint, endpoint_hash, p256dh, auth, secret_hash, \
                 created_at, push_service) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(&s.id)
            .bind(s.owner.kind.as_db())
            .bind(s.owner.id.as_str())
            .bind(&s.endpoint)
            .bind(&hash)
            .bind(&s.p256dh)
            .bind(&s.auth)
            .bind(&s.secret_hash)
            .bind(s.created_at)
            .bind(PushService::from_endpoint(&s.endpoint).as_db())
            .execute()
            .await?;
            rollups::add_subscription_day(&mut tx, now_ms, 1, 0).await?;
        }
        let id: String = tx
            .query("SELECT id FROM subscriptions WHERE endpoint_hash = $1")
            .bind(&hash)
            .fetch_scalar()
            .await?;
        subscription_locale::set_locale(&mut tx, &id, locale).await?;
        tags::tag_new_subscription(&mut tx, &id, &s.owner, &s.tags).await?;
        tx.commit().await?;
        Ok(created)
    }
}
