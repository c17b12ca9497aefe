//! Segment tags: on subscriptions (`subscription_tags`), and on people (`owner_tags`) so that
//! a person's new subscriptions inherit them.
//!
//! Audiences read `subscription_tags` only: writing a person's tags also writes them on that
//! person's current subscriptions, and a new subscription copies its owner's tags. Inserts
//! test `NOT EXISTS` first instead of relying on a dialect's "insert or ignore".
//!
//! No subscription (and no person) carries more than [`Tag::MAX_PER_SUBSCRIPTION`] tags,
//! whichever way they arrive: each change counts inside its transaction, with the rows it
//! changes locked, and is undone whole when it would go over.

use super::{col, Backend, Store, StoreError, StoreResult, WriteTx};
use crate::domain::segment::Tag;
use crate::domain::{Owner, ValidationError};
use std::collections::HashMap;

const MAX: usize = Tag::MAX_PER_SUBSCRIPTION;

impl Store {
    /// Adds a tag to a subscription. `false` when there is no such subscription.
    pub async fn add_subscription_tag(&self, subscription_id: &str, tag: &Tag) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        if !subscription_exists(&mut tx, subscription_id).await? {
            return Ok(false);
        }
        let others: i64 = tx
            .query("SELECT COUNT(*) FROM subscription_tags WHERE subscription_id = $1 AND tag <> $2")
            .bind(subscription_id)
            .bind(tag.as_str())
            .fetch_scalar()
            .await?;
        if others as usize >= MAX {
            tx.rollback().await?;
            return Err(StoreError::Invalid(ValidationError::new(
                "tag",
                format!("a subscription carries at most {MAX} tags and this one has {others}; remove one first"),
            )));
        }
        tag_subscription(&mut tx, subscription_id, tag).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Removes a tag from a subscription. `false` when there is no such subscription.
    pub async fn remove_subscription_tag(&self, subscription_id: &str, tag: &Tag) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        if !subscription_exists(&mut tx, subscription_id).await? {
            return Ok(false);
        }
        tx.query("DELETE FROM subscription_tags WHERE subscription_id = $1 AND tag = $2")
            .bind(subscription_id)
            .bind(tag.as_str())
            .execute()
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Adds and removes a person's tags, on the person and on every subscription they have
    /// now. Returns the person's tags after the change and how many subscriptions they have.
    /// [`StoreError::Invalid`] (and no change) when the person or one of their subscriptions
    /// would carry more than [`Tag::MAX_PER_SUBSCRIPTION`] tags.
    pub async fn change_owner_tags(
        &self,
        owner: &Owner,
        add: &[Tag],
        remove: &[Tag],
    ) -> StoreResult<(Vec<String>, i64)> {
        let mut tx = self.begin().await?;
        if tx.backend() != Backend::Sqlite {
            // A concurrent tag on one of these subscriptions waits, so the counts below hold.
            tx.query("SELECT id FROM subscriptions WHERE owner_kind = $1 AND owner_id = $2 FOR UPDATE")
                .bind(owner.kind.as_db())
                .bind(owner.id.as_str())
                .fetch_all()
                .await?;
        }
        for tag in add {
            add_owner_tag(&mut tx, owner, tag).await?;
            tx.query(
                "INSERT INTO subscription_tags (subscription_id, tag) SELECT s.id, $1 FROM subscriptions s \
                 WHERE s.owner_kind = $2 AND s.owner_id = $3 AND NOT EXISTS \
                 (SELECT 1 FROM subscription_tags t WHERE t.subscription_id = s.id AND t.tag = $4)",
            )
            .bind(tag.as_str())
            .bind(owner.kind.as_db())
            .bind(owner.id.as_str())
            .bind(tag.as_str())
            .execute()
            .await?;
        }
        for tag in remove {
            tx.query("DELETE FROM owner_tags WHERE owner_kind = $1 AND owner_id = $2 AND tag = $3")
                .bind(owner.kind.as_db())
                .bind(owner.id.as_str())
                .bind(tag.as_str())
                .execute()
                .await?;
            tx.query(
                "DELETE FROM subscription_tags WHERE tag = $1 AND subscription_id IN \
                 (SELECT id FROM subscriptions WHERE owner_kind = $2 AND owner_id = $3)",
            )
            .bind(tag.as_str())
            .bind(owner.kind.as_db())
            .bind(owner.id.as_str())
            .execute()
            .await?;
        }
        let subscriptions: i64 = tx
            .query("SELECT COUNT(*) FROM subscriptions WHERE owner_kind = $1 AND owner_id = $2")
            .bind(owner.kind.as_db())
            .bind(owner.id.as_str())
            .fetch_scalar()
            .await?;
        let tags = tx
            .query("SELECT tag FROM owner_tags WHERE owner_kind = $1 AND owner_id = $2 ORDER BY tag")
            .bind(owner.kind.as_db())
            .bind(owner.id.as_str())
            .fetch_all()
            .await?
            .iter()
            .map(|row| col::<String>(row, "tag"))
            .collect::<StoreResult<Vec<_>>>()?;
        let fullest = tx
            .query(
                "SELECT COUNT(*) AS n FROM subscription_tags t JOIN subscriptions s ON s.id = t.subscription_id \
                 WHERE s.owner_kind = $1 AND s.owner_id = $2 GROUP BY t.subscription_id ORDER BY n DESC LIMIT 1",
            )
            .bind(owner.kind.as_db())
            .bind(owner.id.as_str())
            .fetch_optional()
            .await?
            .map(|row| col::<i64>(&row, "n"))
            .transpose()?
            .unwrap_or(0);
        let too_many = if tags.len() > MAX {
            Some(format!("this person would carry {} tags", tags.len()))
        } else if fullest as usize > MAX {
            Some(format!("one of this person's subscriptions would carry {fullest} tags"))
        } else {
            None
        };
        if let Some(why) = too_many {
            tx.rollback().await?;
            return Err(StoreError::Invalid(ValidationError::new(
                "add",
                format!("{why}; at most {MAX} are allowed (a person's tags are copied onto their subscriptions); nothing was changed"),
            )));
        }
        tx.commit().await?;
        Ok((tags, subscriptions))
    }

    /// The tags of these subscriptions, each list sorted.
    pub async fn tags_of(&self, subscription_ids: &[&str]) -> StoreResult<HashMap<String, Vec<String>>> {
        let mut tags: HashMap<String, Vec<String>> = HashMap::new();
        if subscription_ids.is_empty() {
            return Ok(tags);
        }
        let sql = format!(
            "SELECT subscription_id, tag FROM subscription_tags WHERE subscription_id IN ({}) \
             ORDER BY subscription_id, tag",
            Store::placeholders(1, subscription_ids.len())
        );
        let mut query = self.read(sql);
        for id in Store::padded(subscription_ids) {
            query = query.bind(*id);
        }
        for row in query.fetch_all().await? {
            tags.entry(col(&row, "subscription_id")?)
                .or_default()
                .push(col(&row, "tag")?);
        }
        Ok(tags)
    }
}

/// Gives a subscription its owner's tags and `tags` (a registration or an import), in the
/// caller's transaction.
pub(crate) async fn tag_new_subscription(
    tx: &mut WriteTx,
    subscription_id: &str,
    owner: &Owner,
    tags: &[Tag],
) -> StoreResult<()> {
    tx.query(
        "INSERT INTO subscription_tags (subscription_id, tag) SELECT $1, o.tag FROM owner_tags o \
         WHERE o.owner_kind = $2 AND o.owner_id = $3 AND NOT EXISTS \
         (SELECT 1 FROM subscription_tags t WHERE t.subscription_id = $4 AND t.tag = o.tag)",
    )
    .bind(subscription_id)
    .bind(owner.kind.as_db())
    .bind(owner.id.as_str())
    .bind(subscription_id)
    .execute()
    .await?;
    for tag in tags {
        tag_subscription(tx, subscription_id, tag).await?;
    }
    let count: i64 = tx
        .query("SELECT COUNT(*) FROM subscription_tags WHERE subscription_id = $1")
        .bind(subscription_id)
        .fetch_scalar()
        .await?;
    if count as usize > MAX {
        // The caller's transaction is dropped on this error: nothing of the registration stays.
        return Err(StoreError::Invalid(ValidationError::new(
            "tags",
            format!(
                "the subscription would carry {count} tags (the ones it has, the new ones and its owner's); \
                 at most {MAX} are allowed"
            ),
        )));
    }
    Ok(())
}

/// Deletes the tags of subscriptions that are being deleted, in the caller's transaction.
pub(crate) async fn delete_tags_of(tx: &mut WriteTx, subscription_ids: &[&str]) -> StoreResult<()> {
    for chunk in subscription_ids.chunks(Store::IN_LIST_MAX) {
        let sql = format!(
            "DELETE FROM subscription_tags WHERE subscription_id IN ({})",
            Store::placeholders(1, chunk.len())
        );
        let mut query = tx.query(sql);
        for id in Store::padded(chunk) {
            query = query.bind(*id);
        }
        query.execute().await?;
    }
    Ok(())
}

async fn tag_subscription(tx: &mut WriteTx, subscription_id: &str, tag: &Tag) -> StoreResult<()> {
    tx.query(
        "INSERT INTO subscription_tags (subscription_id, tag) SELECT $1, $2 \
         FROM (SELECT 1 AS one) AS probe WHERE NOT EXISTS (SELECT 1 FROM subscription_tags WHERE subscription_id = $3 AND tag = $4)",
    )
    .bind(subscription_id)
    .bind(tag.as_str())
    .bind(subscription_id)
    .bind(tag.as_str())
    .execute()
    .await?;
    Ok(())
}

/// Whether the subscription exists, read inside the transaction that changes its tags. The
/// row stays locked until the transaction ends, so concurrent changes count one after the
/// other (SQLite has one writer at a time anyway).
/// Gives a person a tag of their own, once.
pub(super) async fn add_owner_tag(tx: &mut WriteTx, owner: &Owner, tag: &Tag) -> StoreResult<()> {
    tx.query(
        "INSERT INTO owner_tags (owner_kind, owner_id, tag) SELECT $1, $2, $3 \
         FROM (SELECT 1 AS one) AS probe WHERE NOT EXISTS \
         (SELECT 1 FROM owner_tags WHERE owner_kind = $4 AND owner_id = $5 AND tag = $6)",
    )
    .bind(owner.kind.as_db())
    .bind(owner.id.as_str())
    .bind(tag.as_str())
    .bind(owner.kind.as_db())
    .bind(owner.id.as_str())
    .bind(tag.as_str())
    .execute()
    .await?;
    Ok(())
}

async fn subscription_exists(tx: &mut WriteTx, subscription_id: &str) -> StoreResult<bool> {
    let sql = match tx.backend() {
        Backend::Sqlite => "SELECT id FROM subscriptions WHERE id = $1",
        _ => "SELECT id FROM subscriptions WHERE id = $1 FOR UPDATE",
    };
    Ok(tx.query(sql).bind(subscription_id).fetch_optional().await?.is_some())
}
