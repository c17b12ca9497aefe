//! The delivery engine: drains the outbox into push services.
//!
//! One loop claims due outbox rows in batches (leased, so a crashed instance's work returns
//! to the pool), and spawns one send per row, bounded by a semaphore. Results flow to a
//! recorder task that settles them in batched transactions, so the database sees a few
//! statements per few hundred pushes instead of one transaction per push.
//!
//! Retries back off exponentially with jitter and honour `Retry-After`. Once a 2xx is
//! recorded the row is never sent again (settling only touches rows still pending); a row
//! whose instance died between the 2xx and the recording is sent again after its lease, so
//! duplicates are bounded by one instance's window: a push holds its slot until its result is
//! recorded.

mod client;
mod connection_gate;
pub mod payload;

pub use client::push_client;

use crate::clock::Clock;
use crate::domain::MessageMode;
use crate::endpoint_policy::EndpointPolicy;
use crate::metrics::Metrics;
use crate::redact;
use crate::storage::outbox::{ClaimedTarget, SettledAs, Settlement};
use crate::storage::Store;
use connection_gate::ConnectionGates;
use herald_push::request::{PushMessage, Topic, Ttl, Urgency};
use herald_push::response::{classify, PushOutcome};
use herald_push::subscription::Subscription;
use herald_push::vapid::VapidSigner;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, Notify, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

const MAX_RETRY_AFTER_MS: i64 = 30 * 86_400_000;

/// Tuning, from configuration.
#[derive(Debug, Clone)]
pub struct DeliverySettings {
    pub concurrency: usize,
    pub lease: Duration,
    pub max_attempts: u32,
    pub retry_base: Duration,
    pub batch_size: i64,
    pub idle_poll: Duration,
}

/// A message ready to send, shared by all its targets.
struct Prepared {
    payload: Option<Vec<u8>>,
    expires_at: i64,
    urgency: Option<Urgency>,
    topic: Option<Topic>,
    sendable: bool,
}

pub struct DeliveryEngine {
    store: Store,
    signer: Arc<VapidSigner>,
    /// Several clients, so pushes to one push service spread over several HTTP/2 connections
    /// (one connection's framing and TLS run on one task, which would cap throughput at one
    /// core).
    clients: Vec<reqwest::Client>,
    gates: ConnectionGates,
    policy: EndpointPolicy,
    settings: DeliverySettings,
    metrics: Arc<Metrics>,
    clock: Arc<dyn Clock>,
    wake: Arc<Notify>,
    prepared: Mutex<HashMap<String, Arc<Prepared>>>,
}

impl DeliveryEngine {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Store,
        signer: Arc<VapidSigner>,
        clients: Vec<reqwest::Client>,
        policy: EndpointPolicy,
        settings: DeliverySettings,
        metrics: Arc<Metrics>,
        clock: Arc<dyn Clock>,
        wake: Arc<Notify>,
    ) -> Self {
        Self {
            store,
            signer,
            clients,
            gates: ConnectionGates::new(),
            policy,
            settings,
            metrics,
            clock,
            wake,
            prepared: Mutex::new(HashMap::new()),
        }
    }

    /// Runs until `shutdown`; then lets in-flight pushes finish and records them.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let (results_tx, results_rx) = mpsc::channel::<(Settlement, OwnedSemaphorePermit)>(8192);
        let recorder = tokio::spawn(record(self.store.clone(), self.clock.clone(), results_rx));
        let permits = Arc::new(Semaphore::new(self.settings.concurrency));
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            // Claim in batches: wait until a quarter of the in-flight window is free, so one
            // claim query serves many pushes, and claim no more than can start right away, so
            // leases do not run out while rows wait.
            let quarter = (self.settings.concurrency as u32 / 4).max(1);
            tokio::select! {
                permit = permits.acquire_many(quarter) => drop(permit),
                _ = shutdown.cancelled() => break,
            }
            let free = permits.available_permits() as i64;
            let now = self.clock.now_ms();
            let lease_until = now + self.settings.lease.as_millis() as i64;
            let batch = match self
                .store
                .claim_due(now, lease_until, free.min(self.settings.batch_size))
                .await
            {
                Ok(batch) => batch,
                Err(e) => {
                    tracing::error!(error = %e, "claiming outbox rows failed; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = shutdown.cancelled() => break,
                    }
                    continue;
                }
            };
            if batch.is_empty() {
                tokio::select! {
                    _ = self.wake.notified() => {}
                    _ = tokio::time::sleep(self.settings.idle_poll) => {}
                    _ = shutdown.cancelled() => break,
                }
                continue;
            }
            let prepared = self.prepare_batch(&batch).await;
            for target in batch {
                // A message that could not be read stays leased and comes back after the lease.
                let Some(message) = prepared.get(&target.message_id).cloned() else {
                    continue;
                };
                let permit = permits
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("semaphore is never closed");
                let engine = self.clone();
                let tx = results_tx.clone();
                tokio::spawn(async move {
                    let settlement = engine.deliver(target, message).await;
                    // The permit goes with the result and is freed once it is recorded: rows
                    // sent but not yet recorded count against the window, so a crash repeats
                    // at most `concurrency` pushes.
                    let _ = tx.send((settlement, permit)).await;
                });
            }
        }
        // Drain: wait until every push is sent and recorded, then stop the recorder.
        let _ = permits.acquire_many(self.settings.concurrency as u32).await;
        drop(results_tx);
        let _ = recorder.await;
    }

    /// Claims one batch, sends it and records the results; returns how many rows it handled.
    /// Tests use this to drain the outbox without sleeping.
    pub async fn deliver_due_once(&self) -> Result<usize, crate::storage::StoreError> {
        let now = self.clock.now_ms();
        let batch = self
            .store
            .claim_due(
                now,
                now + self.settings.lease.as_millis() as i64,
                self.settings.batch_size,
            )
            .await?;
        let count = batch.len();
        let prepared = self.prepare_batch(&batch).await;
        let settlements = futures::future::join_all(batch.into_iter().filter_map(|t| {
            let message = prepared.get(&t.message_id).cloned()?;
            Some(self.deliver(t, message))
        }))
        .await;
        self.store.settle(&settlements, self.clock.now_ms()).await?;
        Ok(count)
    }

    /// Sends one target and decides how it settles. Never fails: every path ends in a
    /// settlement, so nothing is lost.
    async fn deliver(&self, target: ClaimedTarget, message: Option<Arc<Prepared>>) -> Settlement {
        let now = self.clock.now_ms();
        let (result, status) = self.attempt(&target, message, now).await;
        Settlement {
            outbox_id: target.outbox_id,
            message_id: target.message_id,
            subscription_id: target.subscription_id,
            status,
            result,
        }
    }

    async fn attempt(
        &self,
        target: &ClaimedTarget,
        prepared: Option<Arc<Prepared>>,
        now: i64,
    ) -> (SettledAs, Option<u16>) {
        let Some(stored) = &target.subscription else {
            // Unsubscribed after the message was queued.
            return (SettledAs::Gone, None);
        };
        let prepared = match prepared {
            Some(p) if p.sendable => p,
            _ => return (SettledAs::Failed, None),
        };
        if now >= prepared.expires_at {
            return (SettledAs::Failed, None);
        }
        let subscription = match Subscription::parse(&stored.endpoint, &stored.p256dh, &stored.auth) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(subscription = %target.subscription_id, endpoint = %redact::endpoint(&stored.endpoint), error = %redact::scrub(&e.to_string(), &stored.endpoint), "stored subscription no longer parses");
                return (SettledAs::Failed, None);
            }
        };
        if let Err(why) = self.policy.check(&subscription.endpoint) {
            tracing::warn!(subscription = %target.subscription_id, endpoint = %redact::endpoint(&stored.endpoint), why = %redact::scrub(&why, &stored.endpoint), "endpoint refused by policy");
            return (SettledAs::Failed, None);
        }
        // TTL counts down from the message's creation, so a late retry does not extend it.
        let remaining = ((prepared.expires_at - now) / 1000).max(1) as u32;
        let mut message = match &prepared.payload {
            Some(payload) => PushMessage::new(payload.clone(), Ttl::seconds(remaining)),
            None => PushMessage::empty(Ttl::seconds(remaining)),
        };
        if let Some(u) = prepared.urgency {
            message = message.urgency(u);
        }
        if let Some(t) = &prepared.topic {
            message = message.topic(t.clone());
        }
        let wall = UNIX_EPOCH + Duration::from_millis(now.max(0) as u64);
        let request = match message.build_at(&subscription, &self.signer, wall.max(SystemTime::UNIX_EPOCH)) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(message = %target.message_id, endpoint = %redact::endpoint(&stored.endpoint), error = %redact::scrub(&e.to_string(), &stored.endpoint), "building the push failed");
                return (SettledAs::Failed, None);
            }
        };
        let client_index = target.outbox_id.unsigned_abs() as usize % self.clients.len();
        let pass = self.gates.pass(client_index, subscription.endpoint.origin()).await;
        let started = Instant::now();
        let sent = self.clients[client_index]
            .post(request.url)
            .headers(request.headers)
            .body(request.body)
            .send()
            .await;
        pass.done();
        let response = match sent {
            Ok(r) => r,
            Err(e) => {
                self.metrics.push_request("retry", None);
                // reqwest names the URL in its errors; the endpoint is a capability.
                tracing::debug!(endpoint = %redact::endpoint(&stored.endpoint), error = %e.without_url(), "push request failed");
                return (self.retry(target, &prepared, self.clock.now_ms(), None), None);
            }
        };
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = if response.status().is_success() {
            Default::default()
        } else {
            response.bytes().await.unwrap_or_default()
        };
        let outcome = classify(status, &headers, &body, SystemTime::now());
        self.metrics.push_request(outcome.label(), Some(started.elapsed()));
        let settled = match outcome {
            PushOutcome::Accepted { .. } => SettledAs::Accepted,
            PushOutcome::Gone { .. } => SettledAs::Gone,
            PushOutcome::Failed { reason, .. } => {
                let answer = String::from_utf8_lossy(&body[..body.len().min(300)]);
                tracing::warn!(status, ?reason, endpoint = %redact::endpoint(&stored.endpoint), body = %redact::scrub(&answer, &stored.endpoint), "push refused");
                SettledAs::Failed
            }
            // Retry-After counts from the answer, not from when the request left.
            PushOutcome::RetryLater { retry_after, .. } => {
                self.retry(target, &prepared, self.clock.now_ms(), retry_after)
            }
        };
        (settled, Some(status))
    }

    /// The next attempt: exponential back-off with jitter, at least `Retry-After`; failed once
    /// attempts run out or the message would expire first.
    fn retry(&self, target: &ClaimedTarget, message: &Prepared, now: i64, retry_after: Option<Duration>) -> SettledAs {
        let attempts = target.attempts as u32 + 1;
        if attempts >= self.settings.max_attempts {
            return SettledAs::Failed;
        }
        let base = self.settings.retry_base.as_millis() as i64;
        let backoff = base.saturating_mul(1i64 << (attempts - 1).min(20)).min(3_600_000);
        let jittered = backoff / 2 + (jitter() % (backoff / 2 + 1));
        // Capped at 30 days (the longest TTL), so absurd values cannot overflow.
        let asked = retry_after
            .map(|d| d.as_millis().min(MAX_RETRY_AFTER_MS as u128) as i64)
            .unwrap_or(0);
        let delay = jittered.max(asked);
        if now + delay >= message.expires_at {
            SettledAs::Failed
        } else {
            SettledAs::RetryAt(now + delay)
        }
    }

    /// Each distinct message of a claimed batch, prepared once before its sends start (a
    /// broadcast's first batch would otherwise load the message once per target): `None` for
    /// a message that no longer exists. A message the database could not return is left out,
    /// so its targets are not sent now and not failed either.
    async fn prepare_batch(&self, batch: &[ClaimedTarget]) -> HashMap<String, Option<Arc<Prepared>>> {
        let mut prepared = HashMap::new();
        for target in batch {
            if !prepared.contains_key(&target.message_id) {
                match self.prepared(&target.message_id).await {
                    Ok(p) => {
                        prepared.insert(target.message_id.clone(), p);
                    }
                    Err(e) => {
                        tracing::error!(message = %target.message_id, error = %e, "reading a message to send failed; its targets wait for their lease");
                    }
                }
            }
        }
        prepared
    }

    async fn prepared(&self, message_id: &str) -> Result<Option<Arc<Prepared>>, crate::storage::StoreError> {
        if let Some(p) = self.prepared.lock().unwrap_or_else(|p| p.into_inner()).get(message_id) {
            return Ok(Some(p.clone()));
        }
        let Some(message) = self.store.message(message_id).await? else {
            return Ok(None);
        };
        let prepared = Arc::new(Prepared {
            payload: match message.mode {
                MessageMode::Payload => Some(payload::declarative_json(&payload::Notification {
                    id: &message.id,
                    title: &message.title,
                    body: message.body.as_deref(),
                    url: message.url.as_deref(),
                    tag: message.tag.as_deref(),
                    icon: message.icon.as_deref(),
                })),
                MessageMode::Tickle => None,
            },
            expires_at: message.expires_at,
            urgency: message.urgency.as_deref().and_then(|u| Urgency::parse(u).ok()),
            topic: message.topic.as_deref().and_then(|t| Topic::parse(t).ok()),
            sendable: message.status != crate::storage::messages::status::CANCELLED,
        });
        let mut cache = self.prepared.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() > 1024 {
            cache.clear();
        }
        cache.insert(message_id.to_owned(), prepared.clone());
        Ok(Some(prepared))
    }
}

fn jitter() -> i64 {
    let mut bytes = [0u8; 8];
    let _ = aws_lc_rs::rand::fill(&mut bytes);
    (u64::from_le_bytes(bytes) >> 1) as i64
}

/// Settles results in batches: waits for one, then takes whatever else is ready (up to 1000),
/// and frees their permits once they are recorded.
/// A failed write is retried, never dropped: the rows' leases would only re-send them.
async fn record(store: Store, clock: Arc<dyn Clock>, mut rx: mpsc::Receiver<(Settlement, OwnedSemaphorePermit)>) {
    let mut received = Vec::with_capacity(1000);
    while rx.recv_many(&mut received, 1000).await > 0 {
        let (batch, permits): (Vec<Settlement>, Vec<OwnedSemaphorePermit>) = received.drain(..).unzip();
        let mut delay = Duration::from_millis(100);
        while let Err(e) = store.settle(&batch, clock.now_ms()).await {
            tracing::error!(error = %e, "recording delivery results failed; retrying");
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(10));
        }
        drop(permits);
    }
}
