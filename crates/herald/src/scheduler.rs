//! Periodic work owned by the server: firing scheduled messages and reminders on time, and
//! the cleanup job.
//! The loop sleeps until the next deadline or until woken (a message was scheduled), so a
//! message scheduled for 09:00:00 fires within a fraction of a second of it.

use crate::app::AppState;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Longest sleep, so that work another instance scheduled is noticed promptly.
const MAX_SLEEP: Duration = Duration::from_millis(500);

pub struct Scheduler {
    state: Arc<AppState>,
}

impl Scheduler {
    pub fn new(state: Arc<AppState>) -> Self {
        Self { state }
    }

    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let cleanup_every = self.state.config.cleanup_interval.as_millis() as i64;
        let mut next_cleanup = self.state.clock.now_ms() + cleanup_every;
        loop {
            if let Err(e) = self.fire_due().await {
                tracing::error!(error = %e, "firing scheduled messages failed");
            }
            let now = self.state.clock.now_ms();
            if now >= next_cleanup {
                match self.state.store.delete_expired_messages(now).await {
                    Ok(n) => tracing::info!(removed = n, "cleanup: expired messages removed"),
                    Err(e) => tracing::error!(error = %e, "cleanup failed"),
                }
                next_cleanup = now + cleanup_every;
            }
            let next_message = self.state.store.next_scheduled_at().await.ok().flatten();
            let next_reminder = self.state.store.next_reminder_at().await.ok().flatten();
            let next_due = next_message.into_iter().chain(next_reminder).min();
            let mut sleep = MAX_SLEEP;
            if let Some(at) = next_due {
                sleep = sleep.min(Duration::from_millis((at - now).max(0) as u64));
            }
            tokio::select! {
                _ = tokio::time::sleep(sleep) => {}
                _ = self.state.scheduler_wake.notified() => {}
                _ = shutdown.cancelled() => return,
            }
        }
    }

    /// Fires every due scheduled message and reminder; returns how many fired. Tests call this
    /// directly instead of sleeping.
    pub async fn fire_due(&self) -> Result<usize, crate::storage::StoreError> {
        let mut total = self.fire_reminders().await?;
        loop {
            let fired = self
                .state
                .store
                .fire_due_messages(self.state.clock.now_ms(), 100)
                .await?;
            if fired.is_empty() {
                break;
            }
            total += fired.len();
            for (id, targets) in &fired {
                tracing::info!(message = %id, targets, "scheduled message fired");
            }
            self.state.delivery_wake.notify_one();
        }
        Ok(total)
    }

    /// Each due reminder fires once, however many occurrences passed while the server was
    /// down: its next firing is computed from now, not from the missed one.
    async fn fire_reminders(&self) -> Result<usize, crate::storage::StoreError> {
        let mut fired = 0;
        let now = self.state.clock.now_ms();
        for reminder in self.state.store.due_reminders(now, 100).await? {
            let Some(expected) = reminder.next_fire_at else {
                continue;
            };
            let template = reminder.template.as_object().cloned().unwrap_or_default();
            let schedule = crate::reminders::Schedule::parse(&reminder.schedule, Some(&reminder.timezone));
            let message = crate::reminders::validate_template(&template, now, self.state.config.quiet_hours);
            // One that cannot fire is moved past this firing: left due, it would be retried at
            // once, for ever (a reminder stored before a check was tightened).
            let schedule = match schedule {
                Ok(schedule) => schedule,
                Err(e) => {
                    self.skip_firing(&reminder.id, expected, None, &e).await?;
                    continue;
                }
            };
            let mut message = match message {
                Ok(message) => message,
                Err(e) => {
                    self.skip_firing(&reminder.id, expected, schedule.next_after(now), &e)
                        .await?;
                    continue;
                }
            };
            message.reminder_id = Some(reminder.id.clone());
            let next = schedule.next_after(now);
            if let Some(targets) = self
                .state
                .store
                .fire_reminder(&reminder.id, expected, next, &message, now)
                .await?
            {
                tracing::info!(reminder = %reminder.id, message = %message.id, targets, "reminder fired");
                fired += 1;
                self.state.delivery_wake.notify_one();
            }
        }
        Ok(fired)
    }

    async fn skip_firing(
        &self,
        reminder_id: &str,
        expected: i64,
        next: Option<i64>,
        error: &crate::domain::ValidationError,
    ) -> Result<(), crate::storage::StoreError> {
        tracing::error!(reminder = %reminder_id, %error, "reminder no longer valid; skipping this firing");
        self.state.store.skip_reminder_firing(reminder_id, expected, next).await
    }
}
