//! Rollups for the admin console's overview: push requests per minute and per hour by outcome
//! and push service, subscriptions created and pruned per day, and each message's settled
//! targets by push service and last HTTP status.
//!
//! They are written where the facts are stored (settling a batch in [`super::outbox`],
//! registering in [`super::subscriptions`]), inside the same transaction, as a few upserts per
//! batch. Reading them touches a few thousand small rows at most, never the outbox, so the
//! overview stays fast at a million subscriptions and survives restarts.
//!
//! A push outcome is counted exactly as `/metrics` counts `herald_push_requests_total`: once
//! per request sent to a push service, by how the push service answered (see
//! [`pushed_outcome`]), so the two agree over any period.

use super::outbox::SettledAs;
use super::{col, Backend, Store, StoreResult, WriteTx};
use crate::domain::states::{TargetState, UnknownCode};
use crate::domain::OwnerKind;
use std::collections::BTreeMap;

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;
/// Shards of a day's subscription counters: concurrent registrations pick one at random.
const DAY_SHARDS: u8 = 8;

/// Minute rows older than this are pruned (the overview shows 2 hours).
const KEEP_MINUTES_MS: i64 = 3 * HOUR_MS;
/// Hour rows older than this are pruned (the overview shows 7 days).
const KEEP_HOURS_MS: i64 = 8 * DAY_MS;
/// Day rows older than this are pruned (the overview shows 30 days).
const KEEP_DAYS_MS: i64 = 31 * DAY_MS;

/// The push service behind an endpoint, by its host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PushService {
    Other,
    Fcm,
    Mozilla,
    Apple,
    Windows,
}

impl PushService {
    pub const ALL: [PushService; 5] = [Self::Fcm, Self::Mozilla, Self::Apple, Self::Windows, Self::Other];

    /// Classifies an endpoint URL by its host; anything unknown (a self-hosted autopush, a
    /// test service) is `Other`.
    pub fn from_endpoint(endpoint: &str) -> Self {
        let host = url::Url::parse(endpoint)
            .ok()
            .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
            .unwrap_or_default();
        let under = |domain: &str| host == domain || host.ends_with(&format!(".{domain}"));
        if host == "fcm.googleapis.com" || host == "android.googleapis.com" {
            Self::Fcm
        } else if under("push.services.mozilla.com") {
            Self::Mozilla
        } else if under("push.apple.com") {
            Self::Apple
        } else if under("notify.windows.com") {
            Self::Windows
        } else {
            Self::Other
        }
    }

    pub fn as_db(self) -> i64 {
        match self {
            Self::Other => 0,
            Self::Fcm => 1,
            Self::Mozilla => 2,
            Self::Apple => 3,
            Self::Windows => 4,
        }
    }

    pub fn from_db(code: i64) -> Result<Self, UnknownCode> {
        Self::ALL.into_iter().find(|s| s.as_db() == code).ok_or(UnknownCode {
            what: "push service",
            code,
        })
    }

    /// The name the API uses.
    pub fn label(self) -> &'static str {
        match self {
            Self::Other => "other",
            Self::Fcm => "fcm",
            Self::Mozilla => "mozilla",
            Self::Apple => "apple",
            Self::Windows => "windows",
        }
    }
}

/// How one push request ended, as `/metrics` labels it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PushOutcome {
    Accepted,
    /// `/metrics` says `retry`: a network error, or 408/425/429/5xx.
    Retried,
    Failed,
    Gone,
}

impl PushOutcome {
    pub const ALL: [PushOutcome; 4] = [Self::Accepted, Self::Retried, Self::Failed, Self::Gone];

    fn as_db(self) -> i64 {
        match self {
            Self::Accepted => 0,
            Self::Retried => 1,
            Self::Failed => 2,
            Self::Gone => 3,
        }
    }

    fn from_db(code: i64) -> Result<Self, UnknownCode> {
        Self::ALL.into_iter().find(|o| o.as_db() == code).ok_or(UnknownCode {
            what: "push outcome",
            code,
        })
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Retried => "retried",
            Self::Failed => "failed",
            Self::Gone => "gone",
        }
    }
}

/// The outcome `/metrics` counted for a settled attempt, or `None` when no request was sent
/// (the subscription or message was gone, the message expired, the endpoint was refused).
///
/// An HTTP status means the push service answered: 2xx accepted, 404/410 (and a key mismatch)
/// gone, 408/425/429/5xx retried (also when attempts ran out and the row settles as failed),
/// anything else failed. Without a status, a retry means the request failed on the network.
/// The one case this cannot tell apart: a network error on the last attempt settles as failed
/// without a status, like an attempt never sent, and is not counted here (`/metrics` counts it
/// as a retry); that is at most one request in `HERALD_MAX_ATTEMPTS` of a target that never
/// reached its push service.
pub fn pushed_outcome(status: Option<u16>, result: SettledAs) -> Option<PushOutcome> {
    match (status, result) {
        (Some(_), SettledAs::Accepted) => Some(PushOutcome::Accepted),
        (Some(_), SettledAs::Gone) => Some(PushOutcome::Gone),
        (_, SettledAs::RetryAt(_)) => Some(PushOutcome::Retried),
        // Put back without a request the push service processed: nothing to count.
        (_, SettledAs::Deferred(_) | SettledAs::HeldUntil(_)) => None,
        (Some(408 | 425 | 429 | 500..=599), SettledAs::Failed) => Some(PushOutcome::Retried),
        (Some(_), SettledAs::Failed) => Some(PushOutcome::Failed),
        (None, _) => None,
    }
}

/// Push requests of one settled batch, by (service, outcome).
pub(crate) type PushCounts = BTreeMap<(PushService, PushOutcome), i64>;
/// Settled targets of one batch, by (message, service, final state, last status or -1).
pub(crate) type MessageOutcomes<'a> = BTreeMap<(&'a str, PushService, TargetState, i64), i64>;

/// A random shard of a day's subscription counters.
fn day_shard() -> i64 {
    let mut byte = [0u8; 1];
    let _ = aws_lc_rs::rand::fill(&mut byte);
    i64::from(byte[0] % DAY_SHARDS)
}

/// `INSERT … ON CONFLICT DO UPDATE` adding to counters, with `rows` value tuples.
fn upsert_adding(backend: Backend, table: &str, keys: &[&str], counters: &[&str], rows: usize) -> String {
    let width = keys.len() + counters.len();
    let values = (0..rows)
        .map(|r| {
            let cells: Vec<String> = (1..=width).map(|c| format!("${}", r * width + c)).collect();
            format!("({})", cells.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ");
    let columns = [keys, counters].concat().join(", ");
    let update = match backend {
        Backend::MySql => {
            let sets: Vec<String> = counters.iter().map(|c| format!("{c} = {c} + VALUES({c})")).collect();
            format!("ON DUPLICATE KEY UPDATE {}", sets.join(", "))
        }
        Backend::Sqlite | Backend::Postgres => {
            let sets: Vec<String> = counters
                .iter()
                .map(|c| format!("{c} = {table}.{c} + excluded.{c}"))
                .collect();
            format!("ON CONFLICT ({}) DO UPDATE SET {}", keys.join(", "), sets.join(", "))
        }
    };
    format!("INSERT INTO {table} ({columns}) VALUES {values} {update}")
}

/// Adds a batch's push requests to the minute and hour rollups (two statements).
pub(crate) async fn add_push_counts(tx: &mut WriteTx, counts: &PushCounts, now_ms: i64) -> StoreResult<()> {
    let counts: Vec<_> = counts.iter().filter(|(_, n)| **n > 0).collect();
    if counts.is_empty() {
        return Ok(());
    }
    for (table, bucket_column, bucket) in [
        ("push_minutes", "minute", now_ms.div_euclid(MINUTE_MS)),
        ("push_hours", "hour", now_ms.div_euclid(HOUR_MS)),
    ] {
        let sql = upsert_adding(
            tx.backend(),
            table,
            &[bucket_column, "push_service", "outcome"],
            &["pushes"],
            counts.len(),
        );
        let mut query = tx.query(sql);
        for ((service, outcome), n) in &counts {
            query = query.bind(bucket).bind(service.as_db()).bind(outcome.as_db()).bind(**n);
        }
        query.execute().await?;
    }
    Ok(())
}

/// Adds subscriptions created and pruned to today's counters.
pub(crate) async fn add_subscription_day(tx: &mut WriteTx, now_ms: i64, created: i64, pruned: i64) -> StoreResult<()> {
    if created == 0 && pruned == 0 {
        return Ok(());
    }
    let sql = upsert_adding(
        tx.backend(),
        "subscription_days",
        &["day", "shard"],
        &["created", "pruned"],
        1,
    );
    tx.query(sql)
        .bind(now_ms.div_euclid(DAY_MS))
        .bind(day_shard())
        .bind(created)
        .bind(pruned)
        .execute()
        .await?;
    Ok(())
}

/// Adds a batch's settled targets to their messages' breakdowns.
pub(crate) async fn add_message_outcomes(tx: &mut WriteTx, outcomes: &MessageOutcomes<'_>) -> StoreResult<()> {
    let rows: Vec<_> = outcomes.iter().filter(|(_, n)| **n > 0).collect();
    for chunk in rows.chunks(64) {
        let sql = upsert_adding(
            tx.backend(),
            "message_outcomes",
            &["message_id", "push_service", "state", "last_status"],
            &["targets"],
            chunk.len(),
        );
        let mut query = tx.query(sql);
        for ((message_id, service, state, status), n) in chunk {
            query = query
                .bind(*message_id)
                .bind(service.as_db())
                .bind(state.as_db())
                .bind(*status)
                .bind(**n);
        }
        query.execute().await?;
    }
    Ok(())
}

impl Store {
    /// Deletes rollup rows older than the overview shows (run with the expiry cleanup).
    pub async fn prune_rollups(&self, now_ms: i64) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        for (sql, before) in [
            (
                "DELETE FROM push_minutes WHERE minute < $1",
                (now_ms - KEEP_MINUTES_MS) / MINUTE_MS,
            ),
            (
                "DELETE FROM push_hours WHERE hour < $1",
                (now_ms - KEEP_HOURS_MS) / HOUR_MS,
            ),
            (
                "DELETE FROM subscription_days WHERE day < $1",
                (now_ms - KEEP_DAYS_MS) / DAY_MS,
            ),
        ] {
            tx.query(sql).bind(before).execute().await?;
        }
        tx.commit().await
    }

    /// Everything the overview shows, as of `now_ms`. The five reads run side by side on
    /// separate connections, so the answer takes as long as the slowest (counting the
    /// subscriptions by service over their index), not their sum.
    pub async fn overview(&self, now_ms: i64) -> StoreResult<Overview> {
        let today = now_ms.div_euclid(DAY_MS);
        let first_day = today - 29;
        let (subscriptions, days, minutes, hours, queue_depth) = futures::try_join!(
            self.subscriptions_by_service(),
            self.subscription_days(first_day),
            self.push_series("push_minutes", "minute", now_ms.div_euclid(MINUTE_MS), 120),
            self.push_series("push_hours", "hour", now_ms.div_euclid(HOUR_MS), 168),
            self.queue_depth(),
        )?;
        Ok(Overview {
            subscriptions,
            first_day,
            days,
            minutes,
            hours,
            queue_depth,
        })
    }

    async fn subscriptions_by_service(&self) -> StoreResult<BTreeMap<(PushService, bool), i64>> {
        let mut subscriptions = BTreeMap::new();
        for row in self
            .read("SELECT owner_kind, push_service, COUNT(*) AS n FROM subscriptions GROUP BY owner_kind, push_service")
            .fetch_all()
            .await?
        {
            let kind = OwnerKind::from_db(col(&row, "owner_kind")?)?;
            let service = PushService::from_db(col(&row, "push_service")?)?;
            *subscriptions.entry((service, kind == OwnerKind::Admin)).or_insert(0) += col::<i64>(&row, "n")?;
        }
        Ok(subscriptions)
    }

    /// (created, pruned) for each of the 30 days from `first_day`.
    async fn subscription_days(&self, first_day: i64) -> StoreResult<Vec<(i64, i64)>> {
        let mut days = vec![(0i64, 0i64); 30];
        for row in self
            .read("SELECT day, created, pruned FROM subscription_days WHERE day >= $1")
            .bind(first_day)
            .fetch_all()
            .await?
        {
            let day: i64 = col(&row, "day")?;
            if let Some(slot) = usize::try_from(day - first_day).ok().and_then(|i| days.get_mut(i)) {
                slot.0 += col::<i64>(&row, "created")?;
                slot.1 += col::<i64>(&row, "pruned")?;
            }
        }
        Ok(days)
    }

    /// The last `count` buckets up to and including `current`.
    async fn push_series(&self, table: &str, column: &str, current: i64, count: usize) -> StoreResult<PushSeries> {
        let first = current - count as i64 + 1;
        let mut buckets = vec![BTreeMap::new(); count];
        let sql = format!("SELECT {column} AS bucket, push_service, outcome, pushes FROM {table} WHERE {column} >= $1");
        for row in self.read(sql).bind(first).fetch_all().await? {
            let bucket: i64 = col(&row, "bucket")?;
            let outcome = PushOutcome::from_db(col(&row, "outcome")?)?;
            if let Some(slot) = usize::try_from(bucket - first).ok().and_then(|i| buckets.get_mut(i)) {
                *slot
                    .entry((PushService::from_db(col(&row, "push_service")?)?, outcome))
                    .or_insert(0) += col::<i64>(&row, "pushes")?;
            }
        }
        Ok(PushSeries { first, buckets })
    }

    /// A message's settled targets by push service, final state and last HTTP status.
    pub async fn message_outcomes(&self, message_id: &str) -> StoreResult<Vec<MessageOutcome>> {
        let rows = self
            .read(
                "SELECT push_service, state, last_status, targets FROM message_outcomes WHERE message_id = $1 \
                 ORDER BY push_service, state, last_status",
            )
            .bind(message_id)
            .fetch_all()
            .await?;
        rows.iter()
            .map(|r| {
                let status: i64 = col(r, "last_status")?;
                Ok(MessageOutcome {
                    service: PushService::from_db(col(r, "push_service")?)?,
                    state: TargetState::from_db(col(r, "state")?)?,
                    last_status: (status >= 0).then_some(status),
                    targets: col(r, "targets")?,
                })
            })
            .collect()
    }
}

/// What the overview reads.
#[derive(Debug, Clone)]
pub struct Overview {
    /// Subscriptions by (push service, is an administrator's).
    pub subscriptions: BTreeMap<(PushService, bool), i64>,
    /// The first of the 30 days (Unix days), and (created, pruned) per day.
    pub first_day: i64,
    pub days: Vec<(i64, i64)>,
    pub minutes: PushSeries,
    pub hours: PushSeries,
    pub queue_depth: i64,
}

/// Push requests per bucket (oldest first), by (service, outcome).
#[derive(Debug, Clone)]
pub struct PushSeries {
    /// The first bucket's number (Unix minutes or hours).
    pub first: i64,
    pub buckets: Vec<BTreeMap<(PushService, PushOutcome), i64>>,
}

/// One row of a message's breakdown.
#[derive(Debug, Clone)]
pub struct MessageOutcome {
    pub service: PushService,
    /// Accepted, failed or gone.
    pub state: TargetState,
    pub last_status: Option<i64>,
    pub targets: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_classified_by_host() {
        for (endpoint, service) in [
            ("https://fcm.googleapis.com/fcm/send/abc", PushService::Fcm),
            (
                "https://updates.push.services.mozilla.com/wpush/v2/x",
                PushService::Mozilla,
            ),
            ("https://web.push.apple.com/QGx", PushService::Apple),
            (
                "https://wns2-par02p.notify.windows.com/w/?token=x",
                PushService::Windows,
            ),
            ("https://127.0.0.1:4000/push/1", PushService::Other),
            // A look-alike path or suffix is not the service.
            ("https://evil.example/fcm.googleapis.com/x", PushService::Other),
            ("https://notpush.apple.com.evil.example/x", PushService::Other),
            ("https://evilpush.apple.com/x", PushService::Other),
            ("not a url", PushService::Other),
        ] {
            assert_eq!(PushService::from_endpoint(endpoint), service, "{endpoint}");
            assert_eq!(PushService::from_db(service.as_db()), Ok(service));
        }
    }

    #[test]
    fn outcomes_match_the_metrics_labels() {
        use herald_push::response::classify;
        let now = std::time::SystemTime::now();
        // Every status the way the delivery engine settles it, against the metrics label.
        for status in [200u16, 201, 400, 401, 403, 404, 408, 410, 413, 425, 429, 500, 503] {
            let label = classify(status, &Default::default(), b"", now).label();
            let settled = match label {
                "accepted" => vec![SettledAs::Accepted],
                "gone" => vec![SettledAs::Gone],
                "failed" => vec![SettledAs::Failed],
                // A retry settles as a retry, or as failed once attempts run out.
                _ => vec![SettledAs::RetryAt(1), SettledAs::Failed],
            };
            for result in settled {
                let counted = pushed_outcome(Some(status), result).expect("a push was sent");
                let expected = if label == "retry" { "retried" } else { label };
                assert_eq!(counted.label(), expected, "status {status} settled as {result:?}");
            }
        }
        assert_eq!(pushed_outcome(None, SettledAs::RetryAt(1)), Some(PushOutcome::Retried));
        assert_eq!(pushed_outcome(None, SettledAs::Gone), None);
        assert_eq!(pushed_outcome(None, SettledAs::Failed), None);
    }
}
