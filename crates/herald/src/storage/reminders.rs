//! Reminders: a message template and a schedule. Firing compares and sets `next_fire_at` in
//! the same transaction that creates the message, so across instances each occurrence fires
//! exactly once, and a crash either fires it fully or not at all.

use super::messages::NewMessage;
use super::{col, Store, StoreError, StoreResult};
use sqlx::any::AnyRow;

#[derive(Debug, Clone)]
pub struct ReminderRecord {
    pub id: String,
    /// The message fields as JSON (a `MessageRequest` without `sendAt`).
    pub template: serde_json::Value,
    pub schedule: serde_json::Value,
    pub timezone: String,
    pub paused: bool,
    pub next_fire_at: Option<i64>,
    pub last_fired_at: Option<i64>,
    pub last_message_id: Option<String>,
    pub fired: i64,
    pub created_at: i64,
}

const COLUMNS: &str =
    "id, template, schedule, timezone, paused, next_fire_at, last_fired_at, last_message_id, fired, created_at";

/// A JSON column, which Herald wrote itself: text that does not parse is a decode error.
fn json(row: &AnyRow, name: &str) -> StoreResult<serde_json::Value> {
    let text: String = col(row, name)?;
    serde_json::from_str(&text).map_err(|e| StoreError::Decode(format!("{name}: {e}")))
}

fn from_row(row: &AnyRow) -> StoreResult<ReminderRecord> {
    Ok(ReminderRecord {
        id: col(row, "id")?,
        template: json(row, "template")?,
        schedule: json(row, "schedule")?,
        timezone: col(row, "timezone")?,
        paused: col::<i64>(row, "paused")? != 0,
        next_fire_at: col(row, "next_fire_at")?,
        last_fired_at: col(row, "last_fired_at")?,
        last_message_id: col(row, "last_message_id")?,
        fired: col(row, "fired")?,
        created_at: col(row, "created_at")?,
    })
}

impl Store {
    pub async fn insert_reminder(&self, r: &ReminderRecord) -> StoreResult<()> {
        self.write(
            "INSERT INTO reminders (id, template, schedule, timezone, paused, next_fire_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&r.id)
        .bind(r.template.to_string())
        .bind(r.schedule.to_string())
        .bind(&r.timezone)
        .bind(i64::from(r.paused))
        .bind(r.next_fire_at)
        .bind(r.created_at)
        .execute()
        .await?;
        Ok(())
    }

    /// Overwrites the editable fields.
    pub async fn update_reminder(&self, r: &ReminderRecord) -> StoreResult<bool> {
        let done = self
            .write(
                "UPDATE reminders SET template = $1, schedule = $2, timezone = $3, paused = $4, next_fire_at = $5 \
                 WHERE id = $6",
            )
            .bind(r.template.to_string())
            .bind(r.schedule.to_string())
            .bind(&r.timezone)
            .bind(i64::from(r.paused))
            .bind(r.next_fire_at)
            .bind(&r.id)
            .execute()
            .await?;
        Ok(done == 1)
    }

    pub async fn reminder(&self, id: &str) -> StoreResult<Option<ReminderRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM reminders WHERE id = $1");
        let row = self.read(sql).bind(id).fetch_optional().await?;
        row.as_ref().map(from_row).transpose()
    }

    pub async fn list_reminders(&self, limit: i64, after: Option<&str>) -> StoreResult<Vec<ReminderRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM reminders WHERE id > $1 ORDER BY id LIMIT $2");
        let rows = self.read(sql).bind(after.unwrap_or("")).bind(limit).fetch_all().await?;
        rows.iter().map(from_row).collect()
    }

    pub async fn delete_reminder(&self, id: &str) -> StoreResult<bool> {
        let done = self
            .write("DELETE FROM reminders WHERE id = $1")
            .bind(id)
            .execute()
            .await?;
        Ok(done == 1)
    }

    /// Active reminders whose next firing is due.
    pub async fn due_reminders(&self, now_ms: i64, limit: i64) -> StoreResult<Vec<ReminderRecord>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM reminders WHERE paused = 0 AND next_fire_at IS NOT NULL AND next_fire_at <= $1 \
             ORDER BY next_fire_at LIMIT $2"
        );
        let rows = self.read(sql).bind(now_ms).bind(limit).fetch_all().await?;
        rows.iter().map(from_row).collect()
    }

    /// The earliest next firing of an active reminder.
    pub async fn next_reminder_at(&self) -> StoreResult<Option<i64>> {
        self.read("SELECT MIN(next_fire_at) FROM reminders WHERE paused = 0")
            .fetch_scalar()
            .await
    }

    /// Moves a reminder that cannot fire (its stored template or schedule no longer passes
    /// today's checks) past this firing without a message: to `next`, or off (`None`).
    pub async fn skip_reminder_firing(&self, reminder_id: &str, expected: i64, next: Option<i64>) -> StoreResult<()> {
        self.write("UPDATE reminders SET next_fire_at = $1 WHERE id = $2 AND next_fire_at = $3")
            .bind(next)
            .bind(reminder_id)
            .bind(expected)
            .execute()
            .await?;
        Ok(())
    }

    /// Fires `reminder` if its `next_fire_at` is still `expected` (no other instance fired it):
    /// moves it to `next`, and stores and expands `message`, in one transaction. Returns the
    /// target count, or `None` when another instance won.
    pub async fn fire_reminder(
        &self,
        reminder_id: &str,
        expected: i64,
        next: Option<i64>,
        message: &NewMessage,
        now_ms: i64,
    ) -> StoreResult<Option<i64>> {
        let mut tx = self.begin().await?;
        let claimed = tx
            .query(
                "UPDATE reminders SET next_fire_at = $1, last_fired_at = $2, last_message_id = $3, fired = fired + 1 \
                 WHERE id = $4 AND next_fire_at = $5 AND paused = 0",
            )
            .bind(next)
            .bind(now_ms)
            .bind(&message.id)
            .bind(reminder_id)
            .bind(expected)
            .execute()
            .await?;
        if claimed != 1 {
            return Ok(None);
        }
        // A message scheduled for later has no targets yet.
        let targets = self.insert_message(&mut tx, message, now_ms).await?.unwrap_or(0);
        tx.commit().await?;
        Ok(Some(targets))
    }
}
