//! The outbox: one row per (message, subscription), the durable record of what is still to
//! send. The delivery engine claims due rows with a lease, sends them, and settles them here.
//!
//! A claim moves the row's `next_attempt_at` to the end of its lease, like a queue's
//! visibility timeout: a row whose instance died becomes due again when the lease runs out,
//! and the claim walks the due index (pending rows only, by `next_attempt_at`) straight to
//! rows that are free. (A separate lease column made every claim step over all rows in
//! flight first.) On PostgreSQL and MySQL the claim uses `FOR UPDATE SKIP LOCKED`, so instances
//! sharing a database never claim the same row; SQLite has a single writer and claims in one
//! short transaction that reads the batch as one row.
//!
//! Statements here write the pending state into their SQL (from [`TargetState::Pending`], with
//! [`with_pending!`]) instead of binding it: the due indexes are partial (`WHERE state = 0`),
//! and SQLite, comparing a bound `state = ?` with them, re-prepares the statement at every run
//! (measured on the claim: 5 µs became 29 µs); PostgreSQL's generic plans cannot use them at all.

use super::rollups::{self, pushed_outcome, MessageOutcomes, PushCounts, PushService};
use super::{col, Backend, Store, StoreError, StoreResult};
use crate::domain::quiet_hours::TimeZoneName;
pub use crate::domain::states::TargetState;
use serde_json::value::RawValue;
use std::collections::HashMap;

/// An outbox statement with `{PENDING}` replaced by the pending state's code, built once.
macro_rules! with_pending {
    ($sql:literal) => {{
        static SQL: std::sync::LazyLock<String> =
            std::sync::LazyLock::new(|| format!($sql, PENDING = TargetState::Pending.as_db()));
        SQL.as_str()
    }};
}

/// A claimed row with what sending it needs. `subscription` is `None` when the subscription
/// was deleted after the message was queued.
#[derive(Debug, Clone)]
pub struct ClaimedTarget {
    pub outbox_id: i64,
    pub message_id: String,
    pub attempts: i64,
    pub subscription_id: String,
    pub subscription: Option<TargetSubscription>,
    /// The device's time zone, when it reported one (for quiet hours).
    pub time_zone: Option<TimeZoneName>,
}

#[derive(Debug, Clone)]
pub struct TargetSubscription {
    pub endpoint: String,
    pub p256dh: String,
    pub auth: String,
    /// The browser's languages as stored (`uk,en-gb`), to pick the message's translation.
    pub languages: Option<String>,
    /// Counted under in the rollups when the push settles.
    pub push_service: PushService,
}

/// A claimed subscription as the claim returns it: endpoint, p256dh, auth, push service,
/// time zone, languages.
type StoredTarget = (String, String, String, i64, Option<String>, Option<String>);

/// How one attempt ended, to be recorded.
#[derive(Debug, Clone)]
pub struct Settlement {
    pub outbox_id: i64,
    pub message_id: String,
    pub subscription_id: String,
    /// The push service the attempt counts under in the rollups: the one the claim read (so a
    /// subscription deleted or moved since still counts where it was pushed); `Other` when the
    /// subscription was already gone at the claim.
    pub push_service: PushService,
    pub status: Option<u16>,
    pub result: SettledAs,
    /// The lease the attempt ran under. A retry or deferral is recorded only while the row
    /// still holds it: a late result of an expired claim must not move the lease of the claim
    /// that took the row over (the row would come due while that one is still sending it).
    pub lease_until: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettledAs {
    Accepted,
    Failed,
    /// The subscription is dead: the row is settled and the subscription deleted.
    Gone,
    /// Try again at this time (Unix ms).
    RetryAt(i64),
    /// Not sent (the push service was busy, or the request was never processed): back to the
    /// outbox until this time (Unix ms), without counting an attempt.
    Deferred(i64),
    /// Inside the message's quiet hours on the device: held until they end there (Unix ms),
    /// without counting an attempt.
    HeldUntil(i64),
}

impl Store {
    /// Claims up to `limit` due rows until `lease_until`.
    pub async fn claim_due(&self, now_ms: i64, lease_until: i64, limit: i64) -> StoreResult<Vec<ClaimedTarget>> {
        let rows = match self.backend() {
            Backend::Sqlite => return self.claim_due_sqlite(now_ms, lease_until, limit).await,
            Backend::Postgres => {
                // One statement claims and returns what sending needs. The subscription's
                // columns come as one JSON array, read with one index lookup instead of one
                // per column. A deleted one reads as NULL.
                let sql = with_pending!(
                    "UPDATE outbox SET next_attempt_at = $1 WHERE id IN (SELECT id FROM outbox \
                     WHERE state = {PENDING} AND next_attempt_at <= $2 ORDER BY next_attempt_at LIMIT $3 \
                     FOR UPDATE SKIP LOCKED) RETURNING id, message_id, attempts, subscription_id, \
                     (SELECT json_build_array(endpoint, p256dh, auth, push_service, time_zone, languages)::text \
                     FROM subscriptions s WHERE s.id = outbox.subscription_id) AS subscription"
                );
                self.write(sql)
                    .bind(lease_until)
                    .bind(now_ms)
                    .bind(limit)
                    .fetch_all()
                    .await?
            }
            Backend::MySql => {
                // No RETURNING: lock the due rows, move their due time, then read them with
                // their subscriptions.
                let mut tx = self.begin().await?;
                let ids = tx
                    .query(with_pending!(
                        "SELECT id FROM outbox WHERE state = {PENDING} AND next_attempt_at <= $1 \
                         ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED"
                    ))
                    .bind(now_ms)
                    .bind(limit)
                    .fetch_all()
                    .await?
                    .iter()
                    .map(|row| col::<i64>(row, "id"))
                    .collect::<StoreResult<Vec<_>>>()?;
                let mut rows = Vec::with_capacity(ids.len());
                for chunk in ids.chunks(Store::IN_LIST_MAX) {
                    let update_sql = format!(
                        "UPDATE outbox SET next_attempt_at = $1 WHERE id IN ({})",
                        Store::placeholders(2, chunk.len())
                    );
                    let mut update = tx.query(update_sql).bind(lease_until);
                    for id in Store::padded(chunk) {
                        update = update.bind(*id);
                    }
                    update.execute().await?;
                    let select_sql = format!(
                        "SELECT o.id, o.message_id, o.attempts, o.subscription_id, IF(s.id IS NULL, NULL, \
                         CAST(JSON_ARRAY(s.endpoint, s.p256dh, s.auth, s.push_service, s.time_zone, s.languages) AS CHAR)) \
                         AS subscription FROM outbox o LEFT JOIN subscriptions s ON s.id = o.subscription_id \
                         WHERE o.id IN ({})",
                        Store::placeholders(1, chunk.len())
                    );
                    let mut select = tx.query(select_sql);
                    for id in Store::padded(chunk) {
                        select = select.bind(*id);
                    }
                    rows.extend(select.fetch_all().await?);
                }
                tx.commit().await?;
                rows
            }
        };
        let mut claimed = Vec::with_capacity(rows.len());
        for row in rows {
            // A row that does not read back stays leased and comes back after its lease; the
            // rest of the batch is sent (failing the claim would hold every row in it).
            match claimed_target(&row) {
                Ok(target) => claimed.push(target),
                Err(e) => unreadable_claim(col(&row, "id").ok(), &e),
            }
        }
        Ok(claimed)
    }

    /// The claim on SQLite: the due rows come back as one JSON array in one row, then their
    /// lease is set by id, in one write transaction.
    ///
    /// The driver runs SQLite on a thread of its own and hands every row over to the runtime
    /// (a channel send, often a thread wake-up, and a row converted and dropped on each
    /// side): one row per claimed push cost about 6 % of a push's CPU against nginx, more than
    /// the two statements and the transaction that replace it. SQLite has no data-modifying
    /// CTE, so `UPDATE … RETURNING` cannot be aggregated in one statement.
    async fn claim_due_sqlite(&self, now_ms: i64, lease_until: i64, limit: i64) -> StoreResult<Vec<ClaimedTarget>> {
        let mut tx = self.begin().await?;
        // [id, message id, attempts, subscription id, subscription's columns or null], as bytes:
        // text that is not UTF-8 (written behind Herald's back) spoils its own row, not the batch.
        let rows: Option<Vec<u8>> = tx
            .query(with_pending!(
                "SELECT CAST(json_group_array(json_array(o.id, o.message_id, o.attempts, o.subscription_id, \
                 CASE WHEN s.id IS NULL THEN NULL ELSE \
                 json_array(s.endpoint, s.p256dh, s.auth, s.push_service, s.time_zone, s.languages) END)) AS BLOB) \
                 FROM (SELECT id, message_id, attempts, subscription_id FROM outbox \
                 WHERE state = {PENDING} AND next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT $2) o \
                 LEFT JOIN subscriptions s ON s.id = o.subscription_id"
            ))
            .bind(now_ms)
            .bind(limit)
            .fetch_scalar()
            .await?;
        let rows = rows.unwrap_or_else(|| b"[]".to_vec());
        let rows = String::from_utf8_lossy(&rows);
        let rows: Vec<Vec<&RawValue>> =
            serde_json::from_str(&rows).map_err(|e| StoreError::Decode(format!("claimed rows: {e}")))?;
        let mut ids = Vec::with_capacity(rows.len());
        let mut claimed = Vec::with_capacity(rows.len());
        for fields in &rows {
            // The id is the integer primary key: it always reads, so every row is leased.
            let id: i64 = field(fields, 0)?;
            ids.push(id);
            match claimed_target_from_json(id, fields) {
                Ok(target) => claimed.push(target),
                Err(e) => unreadable_claim(Some(id), &e),
            }
        }
        if !ids.is_empty() {
            let ids = serde_json::to_string(&ids).map_err(|e| StoreError::Decode(format!("claimed ids: {e}")))?;
            tx.query("UPDATE outbox SET next_attempt_at = $1 WHERE id IN (SELECT value FROM json_each($2))")
                .bind(lease_until)
                .bind(ids)
                .execute()
                .await?;
        }
        tx.commit().await?;
        Ok(claimed)
    }

    /// Records a batch of attempts in one transaction. Only rows still pending are settled,
    /// so a row sent twice (its lease ran out mid-send) is never counted twice.
    pub async fn settle(&self, settlements: &[Settlement], now_ms: i64) -> StoreResult<()> {
        if settlements.is_empty() {
            return Ok(());
        }
        // (message, final state, status, push service) -> outbox ids
        let mut finals: HashMap<(&str, TargetState, Option<u16>, PushService), Vec<i64>> = HashMap::new();
        let mut gone_subscriptions = Vec::new();
        let mut accepted_subscriptions = Vec::new();
        let mut tx = self.begin().await?;
        let mut pushes = PushCounts::new();
        for s in settlements {
            let service = s.push_service;
            if let Some(outcome) = pushed_outcome(s.status, s.result) {
                *pushes.entry((service, outcome)).or_insert(0) += 1;
            }
            let final_state = match s.result {
                SettledAs::Accepted => {
                    accepted_subscriptions.push(s.subscription_id.as_str());
                    TargetState::Accepted
                }
                SettledAs::Failed => TargetState::Failed,
                SettledAs::Gone => {
                    gone_subscriptions.push(s.subscription_id.as_str());
                    TargetState::Gone
                }
                SettledAs::RetryAt(at) => {
                    tx.query(with_pending!(
                        "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = $1, last_status = $2 \
                         WHERE id = $3 AND state = {PENDING} AND next_attempt_at = $4"
                    ))
                    .bind(at)
                    .bind(s.status.map(i64::from))
                    .bind(s.outbox_id)
                    .bind(s.lease_until)
                    .execute()
                    .await?;
                    continue;
                }
                SettledAs::Deferred(at) | SettledAs::HeldUntil(at) => {
                    tx.query(with_pending!(
                        "UPDATE outbox SET next_attempt_at = $1 \
                         WHERE id = $2 AND state = {PENDING} AND next_attempt_at = $3"
                    ))
                    .bind(at)
                    .bind(s.outbox_id)
                    .bind(s.lease_until)
                    .execute()
                    .await?;
                    continue;
                }
            };
            finals
                .entry((s.message_id.as_str(), final_state, s.status, service))
                .or_default()
                .push(s.outbox_id);
        }
        let mut outcomes = MessageOutcomes::new();
        let mut counters: std::collections::BTreeMap<(&str, TargetState), i64> = Default::default();
        for ((message_id, final_state, status, service), ids) in &finals {
            let mut settled = 0;
            for chunk in ids.chunks(Store::IN_LIST_MAX) {
                let sql = format!(
                    "UPDATE outbox SET state = $1, attempts = attempts + 1, last_status = $2 \
                     WHERE state = {pending} AND id IN ({ids})",
                    pending = TargetState::Pending.as_db(),
                    ids = Store::placeholders(3, chunk.len())
                );
                let mut query = tx.query(sql).bind(final_state.as_db()).bind(status.map(i64::from));
                for id in Store::padded(chunk) {
                    query = query.bind(*id);
                }
                settled += query.execute().await? as i64;
            }
            *outcomes
                .entry((*message_id, *service, *final_state, status.map_or(-1, i64::from)))
                .or_insert(0) += settled;
            *counters.entry((*message_id, *final_state)).or_insert(0) += settled;
        }
        for ((message_id, final_state), settled) in counters {
            let counter = match final_state {
                TargetState::Accepted => "UPDATE messages SET accepted = accepted + $1 WHERE id = $2",
                TargetState::Failed => "UPDATE messages SET failed = failed + $1 WHERE id = $2",
                TargetState::Gone => "UPDATE messages SET gone = gone + $1 WHERE id = $2",
                // Never a final state.
                TargetState::Pending => continue,
            };
            tx.query(counter).bind(settled).bind(message_id).execute().await?;
        }
        rollups::add_message_outcomes(&mut tx, &outcomes).await?;
        rollups::add_push_counts(&mut tx, &pushes, now_ms).await?;
        accepted_subscriptions.sort_unstable();
        accepted_subscriptions.dedup();
        super::subscriptions::record_success(&mut tx, &accepted_subscriptions, now_ms).await?;
        gone_subscriptions.sort_unstable();
        gone_subscriptions.dedup();
        let pruned = super::subscriptions::delete_subscriptions(&mut tx, &gone_subscriptions).await?;
        rollups::add_subscription_day(&mut tx, now_ms, 0, pruned).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Rows still to send (for `/metrics`).
    pub async fn queue_depth(&self) -> StoreResult<i64> {
        self.read(with_pending!("SELECT COUNT(*) FROM outbox WHERE state = {PENDING}"))
            .fetch_scalar()
            .await
    }

    /// Targets of a message whose first attempt has not settled yet.
    pub async fn unattempted_targets(&self, message_id: &str) -> StoreResult<i64> {
        self.read(with_pending!(
            "SELECT COUNT(*) FROM outbox WHERE message_id = $1 AND state = {PENDING} AND attempts = 0"
        ))
        .bind(message_id)
        .fetch_scalar()
        .await
    }
}

fn unreadable_claim(outbox_row: Option<i64>, error: &StoreError) {
    tracing::error!(?outbox_row, %error, "a claimed outbox row does not read back; it waits for its lease");
}

/// One claimed row, with its subscription read from the claim's JSON array.
fn claimed_target(row: &sqlx::any::AnyRow) -> StoreResult<ClaimedTarget> {
    let subscription: Option<String> = col(row, "subscription")?;
    let subscription = subscription
        .map(|json| serde_json::from_str(&json))
        .transpose()
        .map_err(|e| StoreError::Decode(format!("claimed subscription: {e}")))?;
    claimed_with(
        col(row, "id")?,
        col(row, "message_id")?,
        col(row, "attempts")?,
        col(row, "subscription_id")?,
        subscription,
    )
}

/// One claimed row as the SQLite claim returns it: a JSON array of the row's fields. An id
/// that was not UTF-8 (read with U+FFFD in place of its bad bytes) would settle under an id
/// that does not exist: the row does not read back instead.
fn claimed_target_from_json(id: i64, fields: &[&RawValue]) -> StoreResult<ClaimedTarget> {
    let message_id: String = field(fields, 1)?;
    let subscription_id: String = field(fields, 3)?;
    if message_id.contains(char::REPLACEMENT_CHARACTER) || subscription_id.contains(char::REPLACEMENT_CHARACTER) {
        return Err(StoreError::Decode("claimed row: an id is not UTF-8".into()));
    }
    claimed_with(id, message_id, field(fields, 2)?, subscription_id, field(fields, 4)?)
}

fn field<'a, T: serde::Deserialize<'a>>(fields: &[&'a RawValue], index: usize) -> StoreResult<T> {
    let raw = fields
        .get(index)
        .ok_or_else(|| StoreError::Decode(format!("claimed row: no field {index}")))?;
    serde_json::from_str(raw.get()).map_err(|e| StoreError::Decode(format!("claimed row, field {index}: {e}")))
}

fn claimed_with(
    outbox_id: i64,
    message_id: String,
    attempts: i64,
    subscription_id: String,
    subscription: Option<StoredTarget>,
) -> StoreResult<ClaimedTarget> {
    let (subscription, time_zone) = match subscription {
        Some((endpoint, p256dh, auth, service, time_zone, languages)) => {
            let target = TargetSubscription {
                endpoint,
                p256dh,
                auth,
                languages,
                push_service: PushService::from_db(service)?,
            };
            (Some(target), time_zone)
        }
        None => (None, None),
    };
    Ok(ClaimedTarget {
        // A zone this build does not know holds nothing back.
        time_zone: time_zone.and_then(|zone| TimeZoneName::parse(&zone).ok()),
        outbox_id,
        message_id,
        attempts,
        subscription_id,
        subscription,
    })
}
