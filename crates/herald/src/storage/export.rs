//! What `herald subscriptions export` writes beside each subscription row (its languages and
//! time zone), the people's own tags (`owner_tags`), and how an import restores those tags.
//!
//! A person's tags are kept apart from their subscriptions' tags on purpose: an export line
//! carries each subscription's own tags, so restoring a person's tags must not copy them onto
//! the subscriptions again (one whose copy was removed stays without it).

use super::{col, Store, StoreError, StoreResult};
use crate::domain::segment::Tag;
use crate::domain::{Owner, OwnerId, OwnerKind, ValidationError};
use std::collections::HashMap;

/// A subscription's languages (`uk,en-gb`) and IANA time zone, as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredLocale {
    pub languages: Option<String>,
    pub time_zone: Option<String>,
}

/// One row of `owner_tags`.
#[derive(Debug, Clone)]
pub struct OwnerTag {
    pub owner: Owner,
    pub tag: String,
}

impl Store {
    /// The stored locale of each of these subscriptions that has one.
    pub async fn locales_of(&self, subscription_ids: &[&str]) -> StoreResult<HashMap<String, StoredLocale>> {
        let mut locales = HashMap::new();
        if subscription_ids.is_empty() {
            return Ok(locales);
        }
        let sql = format!(
            "SELECT id, languages, time_zone FROM subscriptions WHERE id IN ({}) \
             AND (languages IS NOT NULL OR time_zone IS NOT NULL)",
            Store::placeholders(1, subscription_ids.len())
        );
        let mut query = self.read(sql);
        for id in Store::padded(subscription_ids) {
            query = query.bind(*id);
        }
        for row in query.fetch_all().await? {
            let locale = StoredLocale {
                languages: col::<Option<String>>(&row, "languages")?.filter(|l| !l.is_empty()),
                time_zone: col(&row, "time_zone")?,
            };
            locales.insert(col(&row, "id")?, locale);
        }
        Ok(locales)
    }

    /// A page of people's own tags ordered by kind, id and tag, starting after `after`.
    pub async fn owner_tags_page(&self, after: Option<&OwnerTag>, limit: i64) -> StoreResult<Vec<OwnerTag>> {
        let rows = match after {
            None => {
                self.read(
                    "SELECT owner_kind, owner_id, tag FROM owner_tags ORDER BY owner_kind, owner_id, tag LIMIT $1",
                )
                .bind(limit)
                .fetch_all()
                .await?
            }
            Some(last) => {
                self.read(
                    "SELECT owner_kind, owner_id, tag FROM owner_tags WHERE owner_kind > $1 OR (owner_kind = $2 \
                     AND (owner_id > $3 OR (owner_id = $4 AND tag > $5))) ORDER BY owner_kind, owner_id, tag LIMIT $6",
                )
                .bind(last.owner.kind.as_db())
                .bind(last.owner.kind.as_db())
                .bind(last.owner.id.as_str())
                .bind(last.owner.id.as_str())
                .bind(last.tag.as_str())
                .bind(limit)
                .fetch_all()
                .await?
            }
        };
        rows.iter()
            .map(|row| {
                let id: String = col(row, "owner_id")?;
                Ok(OwnerTag {
                    owner: Owner {
                        kind: OwnerKind::from_db(col(row, "owner_kind")?)?,
                        id: OwnerId::parse(&id).map_err(|e| super::StoreError::Decode(format!("owner id: {e}")))?,
                    },
                    tag: col(row, "tag")?,
                })
            })
            .collect()
    }

    /// Gives a person these tags for the subscriptions they register later, leaving their
    /// current subscriptions' tags as they are (an import restores those from each line).
    pub async fn restore_owner_tags(&self, owner: &Owner, tags: &[Tag]) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        for tag in tags {
            super::tags::add_owner_tag(&mut tx, owner, tag).await?;
        }
        // With the tags the person already has here, still at most the limit.
        let count: i64 = tx
            .query("SELECT COUNT(*) FROM owner_tags WHERE owner_kind = $1 AND owner_id = $2")
            .bind(owner.kind.as_db())
            .bind(owner.id.as_str())
            .fetch_scalar()
            .await?;
        if count as usize > Tag::MAX_PER_SUBSCRIPTION {
            tx.rollback().await?;
            return Err(StoreError::Invalid(ValidationError::new(
                "ownerTags",
                format!(
                    "this person would carry {count} tags; at most {} are allowed; nothing was changed",
                    Tag::MAX_PER_SUBSCRIPTION
                ),
            )));
        }
        tx.commit().await?;
        Ok(())
    }
}
