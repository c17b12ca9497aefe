//! Messages: creation, audience expansion into the outbox, scheduled firing, the tickle inbox
//! and the counters the API reports (receipts bump them: [`super::receipts`]).
//!
//! Expansion is one `INSERT … SELECT` per message, so a broadcast to a million subscriptions
//! never passes through the server's memory. Counters live on the message row and are bumped
//! in the same transaction that settles outbox rows, so reading them is O(1).
//!
//! The tickle inbox is a table of its own (`inbox`, one row per outbox row of a tickle
//! message): its per-subscription index is written in random order, and when it lived on
//! the outbox every payload broadcast paid for it too and slowed the next one down.

use super::{col, Store, StoreError, StoreResult, WriteTx};
use crate::domain::quiet_hours::QuietHours;
use crate::domain::rich::RichContent;
use crate::domain::segment::{Tag, TagAudience};
use crate::domain::states::TargetState;
pub use crate::domain::states::{MessageStatus, ReceiptEvent};
use crate::domain::{Audience, MessageMode, OwnerKind};
use sqlx::any::AnyRow;

/// A validated message to store.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub id: String,
    pub audience: Audience,
    pub title: String,
    pub body: Option<String>,
    pub url: Option<String>,
    pub icon: Option<String>,
    pub tag: Option<String>,
    pub mode: MessageMode,
    pub urgency: Option<String>,
    pub topic: Option<String>,
    pub ttl_secs: i64,
    pub send_at_ms: i64,
    pub reminder_id: Option<String>,
    /// Pushes spread evenly over this long (0: all at once).
    pub spread_over_ms: i64,
    /// The local-time window in which devices get the message only when it ends.
    pub quiet_hours: Option<QuietHours>,
    /// The sender asked to ignore the server's quiet hours (kept to show it back).
    pub ignore_quiet_hours: bool,
    /// The rich fields and translations (issue 16); the default for a plain message.
    pub content: RichContent,
}

/// How long Herald keeps a message with `ttl: 0` deliverable ("now or never" for the push
/// service, which must not store it): long enough for its first attempts and their retries.
pub const NOW_ONLY_WINDOW_MS: i64 = 60_000;

impl NewMessage {
    /// How long the message stays deliverable (and its tickles fetchable) at Herald.
    pub fn lifetime_ms(&self) -> i64 {
        if self.ttl_secs == 0 {
            NOW_ONLY_WINDOW_MS
        } else {
            self.ttl_secs * 1000
        }
    }
}

/// A message with its delivery counters.
#[derive(Debug, Clone)]
pub struct MessageView {
    pub id: String,
    pub audience: serde_json::Value,
    pub title: String,
    pub body: Option<String>,
    pub url: Option<String>,
    pub icon: Option<String>,
    pub tag: Option<String>,
    pub mode: MessageMode,
    pub urgency: Option<String>,
    pub topic: Option<String>,
    pub ttl_secs: i64,
    pub status: MessageStatus,
    pub created_at: i64,
    pub send_at: i64,
    pub expires_at: i64,
    pub reminder_id: Option<String>,
    pub targets: i64,
    pub accepted: i64,
    pub failed: i64,
    pub gone: i64,
    pub displayed: i64,
    pub clicked: i64,
    pub spread_over_ms: i64,
    pub quiet_hours: Option<QuietHours>,
    pub ignore_quiet_hours: bool,
    pub content: RichContent,
}

impl MessageView {
    pub fn pending(&self) -> i64 {
        (self.targets - self.accepted - self.failed - self.gone).max(0)
    }

    /// `scheduled`, `sending`, `done` or `cancelled`.
    pub fn status_label(&self) -> &'static str {
        match self.status {
            MessageStatus::Scheduled => "scheduled",
            MessageStatus::Cancelled => "cancelled",
            MessageStatus::Sending if self.pending() == 0 => "done",
            MessageStatus::Sending => "sending",
        }
    }
}

/// A tickle message handed to its subscription.
#[derive(Debug, Clone)]
pub struct InboxMessage {
    pub id: String,
    pub title: String,
    pub body: Option<String>,
    pub url: Option<String>,
    pub icon: Option<String>,
    pub tag: Option<String>,
    pub created_at: i64,
    pub content: RichContent,
}

/// Which messages a list shows; `None` fields do not filter.
#[derive(Debug, Clone, Default)]
pub struct MessageFilter {
    pub status: Option<StatusFilter>,
    /// Created at or after (Unix ms).
    pub since: Option<i64>,
    /// Created before (Unix ms).
    pub until: Option<i64>,
    /// Text the title contains, in any case.
    pub title: Option<String>,
}

/// The statuses a message list can be filtered by (the API's `status` labels).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    Scheduled,
    Sending,
    Done,
    Cancelled,
}

impl StatusFilter {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "scheduled" => Some(Self::Scheduled),
            "sending" => Some(Self::Sending),
            "done" => Some(Self::Done),
            "cancelled" => Some(Self::Cancelled),
            _ => None,
        }
    }
}

enum Bind {
    Int(i64),
    Text(String),
}

/// What cancelling found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancelled {
    Yes,
    NotFound,
    AlreadySent,
}

const MESSAGE_COLUMNS: &str = "id, audience, title, body, url, icon, tag, mode, urgency, topic, ttl, status, \
     created_at, send_at, expires_at, reminder_id, targets, accepted, failed, gone, displayed, clicked, \
     spread_over_ms, quiet_from, quiet_to, ignore_quiet_hours, content";

fn message_from(row: &AnyRow) -> StoreResult<MessageView> {
    let audience: String = col(row, "audience")?;
    Ok(MessageView {
        id: col(row, "id")?,
        audience: serde_json::from_str(&audience).map_err(|e| StoreError::Decode(format!("audience: {e}")))?,
        title: col(row, "title")?,
        body: col(row, "body")?,
        url: col(row, "url")?,
        icon: col(row, "icon")?,
        tag: col(row, "tag")?,
        mode: MessageMode::from_db(col(row, "mode")?)?,
        urgency: col(row, "urgency")?,
        topic: col(row, "topic")?,
        ttl_secs: col(row, "ttl")?,
        status: MessageStatus::from_db(col(row, "status")?)?,
        created_at: col(row, "created_at")?,
        send_at: col(row, "send_at")?,
        expires_at: col(row, "expires_at")?,
        reminder_id: col(row, "reminder_id")?,
        targets: col(row, "targets")?,
        accepted: col(row, "accepted")?,
        failed: col(row, "failed")?,
        gone: col(row, "gone")?,
        displayed: col(row, "displayed")?,
        clicked: col(row, "clicked")?,
        spread_over_ms: col(row, "spread_over_ms")?,
        quiet_hours: quiet_hours_from(col(row, "quiet_from")?, col(row, "quiet_to")?)?,
        ignore_quiet_hours: col::<i64>(row, "ignore_quiet_hours")? != 0,
        content: content_from(row)?,
    })
}

fn content_from(row: &AnyRow) -> StoreResult<RichContent> {
    let content: Option<String> = col(row, "content")?;
    RichContent::from_db(content.as_deref()).map_err(|e| StoreError::Decode(e.into()))
}

/// The quiet hours a message row stores (minutes after local midnight), if any.
pub(crate) fn quiet_hours_from(from: Option<i64>, to: Option<i64>) -> StoreResult<Option<QuietHours>> {
    match (from, to) {
        (Some(from), Some(to)) => QuietHours::from_minutes(from, to)
            .map(Some)
            .map_err(|e| StoreError::Decode(format!("quiet hours: {e}"))),
        _ => Ok(None),
    }
}

impl Store {
    /// Stores a message. When it is due now, its audience is expanded into the outbox in the
    /// same transaction and the target count is returned; a scheduled message returns `None`.
    pub async fn create_message(&self, m: &NewMessage, now_ms: i64) -> StoreResult<Option<i64>> {
        let mut tx = self.begin().await?;
        let targets = self.insert_message(&mut tx, m, now_ms).await?;
        tx.commit().await?;
        Ok(targets)
    }

    /// [`Self::create_message`] inside a caller's transaction (reminders fire this way, so a
    /// firing and its message commit together).
    pub(crate) async fn insert_message(
        &self,
        tx: &mut WriteTx,
        m: &NewMessage,
        now_ms: i64,
    ) -> StoreResult<Option<i64>> {
        let due = m.send_at_ms <= now_ms;
        tx.query(
            "INSERT INTO messages (id, audience, title, body, url, icon, tag, mode, urgency, topic, ttl, status, \
             created_at, send_at, expires_at, reminder_id, spread_over_ms, quiet_from, quiet_to, ignore_quiet_hours, \
             content) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, \
             $21)",
        )
        .bind(&m.id)
        .bind(m.audience.to_json().to_string())
        .bind(&m.title)
        .bind(m.body.as_deref())
        .bind(m.url.as_deref())
        .bind(m.icon.as_deref())
        .bind(m.tag.as_deref())
        .bind(m.mode.as_db())
        .bind(m.urgency.as_deref())
        .bind(m.topic.as_deref())
        .bind(m.ttl_secs)
        .bind(
            if due {
                MessageStatus::Sending
            } else {
                MessageStatus::Scheduled
            }
            .as_db(),
        )
        .bind(now_ms)
        .bind(m.send_at_ms)
        .bind(m.send_at_ms.max(now_ms) + m.lifetime_ms())
        .bind(m.reminder_id.as_deref())
        .bind(m.spread_over_ms)
        .bind(m.quiet_hours.map(|q| q.as_minutes().0))
        .bind(m.quiet_hours.map(|q| q.as_minutes().1))
        .bind(i64::from(m.ignore_quiet_hours))
        .bind(m.content.to_db())
        .execute()
        .await?;
        if due {
            Ok(Some(expand(tx, &m.id, &m.audience, now_ms).await?))
        } else {
            Ok(None)
        }
    }

    /// Fires scheduled messages whose time has come: each is claimed by flipping its status,
    /// so with several instances exactly one expands it. Returns `(id, targets)` per message.
    pub async fn fire_due_messages(&self, now_ms: i64, limit: i64) -> StoreResult<Vec<(String, i64)>> {
        let rows = self
            .read("SELECT id, audience FROM messages WHERE status = $1 AND send_at <= $2 ORDER BY send_at LIMIT $3")
            .bind(MessageStatus::Scheduled.as_db())
            .bind(now_ms)
            .bind(limit)
            .fetch_all()
            .await?;
        let mut fired = Vec::new();
        for row in rows {
            let id: String = col(&row, "id")?;
            let audience_json: String = col(&row, "audience")?;
            let Ok(audience) = serde_json::from_str::<Audience>(&audience_json) else {
                tracing::error!(message = %id, "stored audience does not parse; cancelling the message");
                self.write("UPDATE messages SET status = $1 WHERE id = $2")
                    .bind(MessageStatus::Cancelled.as_db())
                    .bind(&id)
                    .execute()
                    .await?;
                continue;
            };
            let mut tx = self.begin().await?;
            let claimed = tx
                .query("UPDATE messages SET status = $1 WHERE id = $2 AND status = $3")
                .bind(MessageStatus::Sending.as_db())
                .bind(&id)
                .bind(MessageStatus::Scheduled.as_db())
                .execute()
                .await?;
            if claimed == 1 {
                let targets = expand(&mut tx, &id, &audience, now_ms).await?;
                tx.commit().await?;
                fired.push((id, targets));
            }
        }
        Ok(fired)
    }

    /// The earliest `send_at` of a scheduled message, so the scheduler can sleep until then.
    pub async fn next_scheduled_at(&self) -> StoreResult<Option<i64>> {
        self.read("SELECT MIN(send_at) FROM messages WHERE status = $1")
            .bind(MessageStatus::Scheduled.as_db())
            .fetch_scalar()
            .await
    }

    pub async fn message(&self, id: &str) -> StoreResult<Option<MessageView>> {
        let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = $1");
        let row = self.read(sql).bind(id).fetch_optional().await?;
        row.as_ref().map(message_from).transpose()
    }

    /// A message with its clicks counted by action (`default`: the notification itself), read
    /// in one statement: its counters and the per-action counts are of the same moment.
    pub async fn message_with_clicks(&self, id: &str) -> StoreResult<Option<(MessageView, Vec<(String, i64)>)>> {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS}, c.action AS click_action, c.clicks AS click_count FROM messages \
             LEFT JOIN (SELECT action, COUNT(*) AS clicks FROM click_actions WHERE message_id = $1 GROUP BY action) c \
             ON 1 = 1 WHERE id = $2 ORDER BY c.action"
        );
        let rows = self.read(sql).bind(id).bind(id).fetch_all().await?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let mut clicks = Vec::new();
        for row in &rows {
            let action: Option<String> = col(row, "click_action")?;
            if let Some(action) = action {
                clicks.push((action, col(row, "click_count")?));
            }
        }
        Ok(Some((message_from(first)?, clicks)))
    }

    /// The message, if it was sent to this subscription (a receipt may name only those).
    pub async fn message_sent_to(&self, message_id: &str, subscription_id: &str) -> StoreResult<Option<MessageView>> {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = $1 AND EXISTS \
             (SELECT 1 FROM outbox WHERE message_id = $2 AND subscription_id = $3)"
        );
        let row = self
            .read(sql)
            .bind(message_id)
            .bind(message_id)
            .bind(subscription_id)
            .fetch_optional()
            .await?;
        row.as_ref().map(message_from).transpose()
    }

    /// Newest first, ordered by `(created_at, id)`, filtered. `before` pages from a
    /// `created_at`; with an id too, from that exact message, so messages created in the same
    /// millisecond as the last one of a page are not skipped.
    pub async fn list_messages(
        &self,
        limit: i64,
        before: Option<(i64, Option<&str>)>,
        filter: &MessageFilter,
    ) -> StoreResult<Vec<MessageView>> {
        let mut conditions = Vec::new();
        let mut binds: Vec<Bind> = Vec::new();
        match before {
            Some((created_at, Some(id))) => {
                conditions.push("(created_at < $ OR (created_at = $ AND id < $))");
                binds.extend([Bind::Int(created_at), Bind::Int(created_at), Bind::Text(id.to_owned())]);
            }
            Some((created_at, None)) => {
                conditions.push("created_at < $");
                binds.push(Bind::Int(created_at));
            }
            None => {}
        }
        if let Some(since) = filter.since {
            conditions.push("created_at >= $");
            binds.push(Bind::Int(since));
        }
        if let Some(until) = filter.until {
            conditions.push("created_at < $");
            binds.push(Bind::Int(until));
        }
        // "done" and "sending" are both stored as `MessageStatus::Sending`; they differ by what is left to settle.
        if let Some(wanted) = filter.status {
            let (status, condition) = match wanted {
                StatusFilter::Scheduled => (MessageStatus::Scheduled, "status = $"),
                StatusFilter::Cancelled => (MessageStatus::Cancelled, "status = $"),
                StatusFilter::Sending => (
                    MessageStatus::Sending,
                    "status = $ AND targets > accepted + failed + gone",
                ),
                StatusFilter::Done => (
                    MessageStatus::Sending,
                    "status = $ AND targets <= accepted + failed + gone",
                ),
            };
            conditions.push(condition);
            binds.push(Bind::Int(status.as_db()));
        }
        if let Some(text) = &filter.title {
            // Case-insensitive on every engine; the text's own wildcards match literally.
            let escaped = text
                .to_lowercase()
                .replace('!', "!!")
                .replace('%', "!%")
                .replace('_', "!_");
            conditions.push("LOWER(title) LIKE $ ESCAPE '!'");
            binds.push(Bind::Text(format!("%{escaped}%")));
        }
        let mut sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages");
        if !conditions.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&conditions.join(" AND "));
        }
        sql.push_str(" ORDER BY created_at DESC, id DESC LIMIT $");
        // Number the placeholders in order, as every statement is written.
        let mut numbered = String::with_capacity(sql.len() + 16);
        let mut n = 0;
        for c in sql.chars() {
            numbered.push(c);
            if c == '$' {
                n += 1;
                numbered.push_str(&n.to_string());
            }
        }
        let mut query = self.read(numbered);
        for bind in binds {
            query = match bind {
                Bind::Int(v) => query.bind(v),
                Bind::Text(v) => query.bind(v),
            };
        }
        let rows = query.bind(limit).fetch_all().await?;
        rows.iter().map(message_from).collect()
    }

    /// How many of a spread message's targets its pacing has let go: due by now, attempted
    /// or settled.
    pub async fn released_targets(&self, message_id: &str, now_ms: i64) -> StoreResult<i64> {
        self.read(
            "SELECT COUNT(*) FROM outbox WHERE message_id = $1 AND (next_attempt_at <= $2 OR attempts > 0 OR state <> $3)",
        )
        .bind(message_id)
        .bind(now_ms)
        .bind(TargetState::Pending.as_db())
        .fetch_scalar()
        .await
    }

    /// Cancels a message that has not started sending.
    pub async fn cancel_message(&self, id: &str) -> StoreResult<Cancelled> {
        let done = self
            .write("UPDATE messages SET status = $1 WHERE id = $2 AND status = $3")
            .bind(MessageStatus::Cancelled.as_db())
            .bind(id)
            .bind(MessageStatus::Scheduled.as_db())
            .execute()
            .await?;
        if done == 1 {
            return Ok(Cancelled::Yes);
        }
        Ok(match self.message(id).await? {
            None => Cancelled::NotFound,
            Some(m) if m.status == MessageStatus::Cancelled => Cancelled::Yes,
            Some(_) => Cancelled::AlreadySent,
        })
    }

    /// Hands out the unexpired tickle messages of a subscription, once: the rows are marked
    /// with a random claim first, and exactly the claimed rows are returned.
    ///
    /// A message whose push is still held back (quiet hours on the device, a paced
    /// broadcast's later share) is not handed out with another message's fetch: its push is
    /// due later than one `lease` from now. A push on the wire is due at its lease's end, at
    /// most one `lease` from now, so its text is there when the device asks for it.
    pub async fn take_tickles(
        &self,
        subscription_id: &str,
        now_ms: i64,
        lease: std::time::Duration,
    ) -> StoreResult<Vec<InboxMessage>> {
        let claim = crate::secrets::random_claim();
        // `fetched` is 0 until a fetch claims the row.
        self.write(
            "UPDATE inbox SET fetched = $1 WHERE subscription_id = $2 AND fetched = 0 \
             AND message_id IN (SELECT id FROM messages WHERE mode = $3 AND expires_at > $4) \
             AND EXISTS (SELECT 1 FROM outbox o WHERE o.id = inbox.outbox_id AND o.state <> $5 \
             AND o.next_attempt_at <= $6)",
        )
        .bind(claim)
        .bind(subscription_id)
        .bind(MessageMode::Tickle.as_db())
        .bind(now_ms)
        .bind(TargetState::Gone.as_db())
        .bind(now_ms + lease.as_millis() as i64)
        .execute()
        .await?;
        let rows = self
            .read(
                "SELECT m.id, m.title, m.body, m.url, m.icon, m.tag, m.created_at, m.content FROM inbox i \
                 JOIN messages m ON m.id = i.message_id WHERE i.subscription_id = $1 AND i.fetched = $2 \
                 ORDER BY m.created_at, m.id",
            )
            .bind(subscription_id)
            .bind(claim)
            .fetch_all()
            .await?;
        rows.iter()
            .map(|r| {
                Ok(InboxMessage {
                    id: col(r, "id")?,
                    title: col(r, "title")?,
                    body: col(r, "body")?,
                    url: col(r, "url")?,
                    icon: col(r, "icon")?,
                    tag: col(r, "tag")?,
                    created_at: col(r, "created_at")?,
                    content: content_from(r)?,
                })
            })
            .collect()
    }

    /// Deletes messages whose TTL has ended, with their outbox rows, receipts and breakdowns,
    /// and cancelled messages, and rollups older than the overview shows. Returns how many
    /// messages were removed.
    pub async fn delete_expired_messages(&self, now_ms: i64) -> StoreResult<u64> {
        self.prune_rollups(now_ms).await?;
        if let Err(e) = self.prune_orphaned_activity().await {
            tracing::warn!(error = %e, "removing last-success rows of deleted subscriptions failed; next cleanup tries again");
        }
        let mut removed = 0;
        loop {
            let ids = self
                .read("SELECT id FROM messages WHERE (expires_at <= $1 AND status <> $2) OR status = $3 LIMIT 500")
                .bind(now_ms)
                .bind(MessageStatus::Scheduled.as_db())
                .bind(MessageStatus::Cancelled.as_db())
                .fetch_all()
                .await?
                .iter()
                .map(|r| col::<String>(r, "id"))
                .collect::<StoreResult<Vec<_>>>()?;
            if ids.is_empty() {
                return Ok(removed);
            }
            for id in &ids {
                let mut tx = self.begin().await?;
                for sql in [
                    "DELETE FROM inbox WHERE outbox_id IN (SELECT id FROM outbox WHERE message_id = $1)",
                    "DELETE FROM outbox WHERE message_id = $1",
                    "DELETE FROM receipts WHERE message_id = $1",
                    "DELETE FROM click_actions WHERE message_id = $1",
                    "DELETE FROM message_outcomes WHERE message_id = $1",
                    "DELETE FROM messages WHERE id = $1",
                ] {
                    tx.query(sql).bind(id).execute().await?;
                }
                tx.commit().await?;
                removed += 1;
            }
        }
    }

    pub async fn count_owner_kind(&self, kind: OwnerKind) -> StoreResult<i64> {
        self.read("SELECT COUNT(*) FROM subscriptions WHERE owner_kind = $1")
            .bind(kind.as_db())
            .fetch_scalar()
            .await
    }
}

/// Inserts one outbox row per subscription of the audience (and, for a tickle message, one
/// inbox row per outbox row) and records the count.
async fn expand(tx: &mut WriteTx, message_id: &str, audience: &Audience, now_ms: i64) -> StoreResult<i64> {
    const INSERT: &str =
        "INSERT INTO outbox (message_id, subscription_id, next_attempt_at) SELECT $1, id, $2 FROM subscriptions";
    let inserted = match audience {
        Audience::One(owner) => {
            tx.query(format!("{INSERT} WHERE owner_kind = $3 AND owner_id = $4"))
                .bind(message_id)
                .bind(now_ms)
                .bind(owner.kind.as_db())
                .bind(owner.id.as_str())
                .execute()
                .await?
        }
        Audience::Many(kind, ids) => {
            let sql = format!(
                "{INSERT} WHERE owner_kind = $3 AND owner_id IN ({})",
                Store::placeholders(4, ids.len())
            );
            let mut query = tx.query(sql).bind(message_id).bind(now_ms).bind(kind.as_db());
            for id in Store::padded(ids) {
                query = query.bind(id.as_str());
            }
            query.execute().await?
        }
        Audience::All(Some(kind)) => {
            tx.query(format!("{INSERT} WHERE owner_kind = $3"))
                .bind(message_id)
                .bind(now_ms)
                .bind(kind.as_db())
                .execute()
                .await?
        }
        Audience::All(None) => tx.query(INSERT).bind(message_id).bind(now_ms).execute().await?,
        Audience::Tags(tagged) => expand_tagged(tx, message_id, tagged, now_ms).await?,
    };
    let targets = inserted as i64;
    let message = tx
        .query("SELECT mode, spread_over_ms FROM messages WHERE id = $1")
        .bind(message_id)
        .fetch_one()
        .await?;
    let spread_over_ms: i64 = col(&message, "spread_over_ms")?;
    if spread_over_ms > 0 && targets > 1 {
        spread(tx, message_id, spread_over_ms, now_ms).await?;
    }
    if MessageMode::from_db(col(&message, "mode")?)? == MessageMode::Tickle {
        // Only tickle messages are fetched from the inbox: payload broadcasts leave it
        // (and its per-subscription index) untouched.
        tx.query(
            "INSERT INTO inbox (outbox_id, subscription_id, message_id) \
             SELECT id, subscription_id, message_id FROM outbox WHERE message_id = $1",
        )
        .bind(message_id)
        .execute()
        .await?;
    }
    tx.query("UPDATE messages SET targets = $1 WHERE id = $2")
        .bind(targets)
        .bind(message_id)
        .execute()
        .await?;
    Ok(targets)
}

/// Inserts the outbox rows of a tag audience: one statement, the tags tested per subscription
/// by subqueries on `subscription_tags`, so no id passes through memory.
async fn expand_tagged(tx: &mut WriteTx, message_id: &str, audience: &TagAudience, now_ms: i64) -> StoreResult<u64> {
    let mut sql = String::from(
        "INSERT INTO outbox (message_id, subscription_id, next_attempt_at) SELECT $1, s.id, $2 FROM subscriptions s \
         WHERE 1 = 1",
    );
    let mut next = 3;
    let kind = audience.kind.owner_kind();
    if kind.is_some() {
        sql.push_str(&format!(" AND s.owner_kind = ${next}"));
        next += 1;
    }
    let filter = &audience.tags;
    let tagged = |list: &[Tag], next: usize| {
        format!(
            "SELECT {{}} FROM subscription_tags t WHERE t.subscription_id = s.id AND t.tag IN ({})",
            Store::placeholders(next, list.len())
        )
    };
    if !filter.all.is_empty() {
        let sub = tagged(&filter.all, next).replacen("{}", "COUNT(*)", 1);
        sql.push_str(&format!(" AND ({sub}) = {}", filter.all.len()));
        next += filter.all.len().next_power_of_two();
    }
    if !filter.any.is_empty() {
        let sub = tagged(&filter.any, next).replacen("{}", "1", 1);
        sql.push_str(&format!(" AND EXISTS ({sub})"));
        next += filter.any.len().next_power_of_two();
    }
    if !filter.none.is_empty() {
        let sub = tagged(&filter.none, next).replacen("{}", "1", 1);
        sql.push_str(&format!(" AND NOT EXISTS ({sub})"));
    }
    let mut query = tx.query(sql).bind(message_id).bind(now_ms);
    if let Some(kind) = kind {
        query = query.bind(kind.as_db());
    }
    for list in [&filter.all, &filter.any, &filter.none] {
        if !list.is_empty() {
            for tag in Store::padded(list) {
                query = query.bind(tag.as_str());
            }
        }
    }
    query.execute().await
}

/// Spreads a message's freshly inserted outbox rows evenly over `spread_ms` from `start_ms`,
/// by their ids (consecutive within one `INSERT … SELECT`). The pacing lives in
/// `next_attempt_at`, so a restart keeps it.
async fn spread(tx: &mut WriteTx, message_id: &str, spread_ms: i64, start_ms: i64) -> StoreResult<()> {
    let range = tx
        .query("SELECT MIN(id) AS low, MAX(id) AS high FROM outbox WHERE message_id = $1")
        .bind(message_id)
        .fetch_one()
        .await?;
    let low: i64 = col(&range, "low")?;
    let high: i64 = col(&range, "high")?;
    // MySQL's `/` yields a decimal, rounded on the way into the integer column: a millisecond
    // either way does not matter.
    tx.query("UPDATE outbox SET next_attempt_at = $1 + ((id - $2) * $3) / $4 WHERE message_id = $5")
        .bind(start_ms)
        .bind(low)
        .bind(spread_ms)
        .bind(high - low + 1)
        .bind(message_id)
        .execute()
        .await?;
    Ok(())
}
