//! The delivery engine: drains the outbox into push services.
//!
//! ## Layout
//! - `mod.rs` (here): claiming, per-push decisions, retries and recording.
//! - `window.rs`: each push service's in-flight window, adapted to its answers (AIMD).
//! - `transport.rs`: which wire a push takes; `pool.rs`: the HTTP/2 connection pool per
//!   origin (and why it is not reqwest's); `coalesce.rs`: its writes, batched; `tls.rs`: its
//!   TLS set-up; `client.rs`: the reqwest client for HTTP/1.1 origins and the CLI.
//!
//! ## Flow
//! One loop claims due outbox rows in batches (leased: a crashed instance's rows return to
//! the pool when their lease ends) and spawns one task per row, so encryption and sending
//! spread over the runtime's workers. Claimed rows are bounded by one global semaphore
//! (`HERALD_DELIVERY_CONCURRENCY`): a row holds its permit until its result is recorded, so a
//! crash repeats at most that many pushes, and the loop claims again as soon as a quarter of
//! the permits is free, while earlier pushes are still on the wire (claims, sends and
//! settlements overlap; the window never waits on the database).
//!
//! Each task encrypts its push, then waits for a slot in its push service's window
//! (`window.rs`, at most `HERALD_DELIVERY_MAX_IN_FLIGHT_PER_ORIGIN`): the claim loop never
//! waits on one origin. A service whose queue would take longer than `MAX_QUEUE_WAIT` (or a
//! quarter of the lease) to drain at its current pace, judged by its answers or by how long
//! it has been silent (one that hangs, say), has the newest waiters shed back to the outbox
//! without counting an attempt, so it holds only a handful of claimed rows and the other
//! services keep the global window. Pushes it already has on the wire time out, count
//! an attempt and come back with back-off until the attempts run out (`failed`).
//!
//! Results flow to a recorder task that settles them in batched transactions (a few
//! statements per few hundred pushes).
//!
//! ## Exactly once, as far as the network allows
//! - A push the service never processed (refused with `REFUSED_STREAM`, above a GOAWAY's
//!   last-stream-id, not started on a connection going away) is encrypted and sent again at
//!   once on another connection, and counts no attempt (`MAX_UNPROCESSED` times, then back to
//!   the outbox).
//! - An answer that arrives before the body could be sent (a service that answers on the
//!   headers and resets the stream, as nginx's `return 201` does) stands: the push is settled
//!   by it, not retried.
//! - A connection reset, an I/O error mid-stream or a timeout is ambiguous: it counts an
//!   attempt and retries with exponential back-off and jitter (at least `Retry-After`).
//! - Once a 2xx is recorded the row is never sent again (settling only touches rows still
//!   pending). A row whose instance died between the 2xx and its recording is sent again after
//!   its lease: duplicates are bounded by one instance's global window.
//! - A push is not started unless its answer (bounded by the push timeout) can arrive before
//!   its lease ends, and its time on the wire ends a second before the lease does, so no
//!   other instance can claim a row while it is on the wire.
//! - A 2xx whose body never ends still counts as the 2xx (the body gets a second).
//! - A result waiting to be recorded (the database is away) keeps its row in hand: a claim
//!   that returns the row after its lease ran out skips it. A late retry or deferral only
//!   moves a row that still holds the lease it ran under.

mod client;
mod coalesce;
mod pool;
mod tls;
mod transport;
mod window;

pub use client::push_client;
pub use pool::{PushResponse, SendError};
pub use transport::{Transport, TransportError};

use crate::app::AppState;
use crate::clock::Clock;
use crate::config::Config;
use crate::domain::quiet_hours::QuietHours;
use crate::domain::rich::{self, RichContent, Texts, VariantKey};
use crate::domain::MessageMode;
use crate::endpoint_policy::EndpointPolicy;
use crate::metrics::{Metrics, OriginMetrics};
use crate::redact;
use crate::storage::outbox::{ClaimedTarget, SettledAs, Settlement};
use crate::storage::rollups::PushService;
use crate::storage::Store;
use herald_push::request::{PushMessage, PushRequest, Topic, Ttl, Urgency};
use herald_push::response::{classify, PushOutcome};
use herald_push::subscription::Subscription;
use herald_push::vapid::VapidSigner;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, Notify, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use window::{Verdict, Window};

const MAX_RETRY_AFTER_MS: i64 = 30 * 86_400_000;
/// Times a push the service did not process is sent again at once before it goes back to
/// the outbox (a service refusing everything must not spin).
const MAX_UNPROCESSED: u32 = 4;
/// The longest a push waits in its service's queue (at the service's pace) before it is
/// shed back to the outbox; a quarter of the lease if that is shorter.
const MAX_QUEUE_WAIT: Duration = Duration::from_secs(2);
/// Origins with a window of their own; beyond, idle ones are forgotten.
const MAX_LANES: usize = 4096;

/// Tuning, from configuration.
#[derive(Debug, Clone)]
pub struct DeliverySettings {
    /// Rows claimed and not yet recorded, across all push services.
    pub concurrency: usize,
    /// The largest in-flight window one push service can earn.
    pub max_in_flight_per_origin: usize,
    pub lease: Duration,
    pub max_attempts: u32,
    pub retry_base: Duration,
    pub batch_size: i64,
    pub idle_poll: Duration,
}

impl DeliverySettings {
    /// The settings `HERALD_*` gives, with the claim batch and idle poll the engine is tuned for.
    pub fn from_config(config: &Config) -> Self {
        Self {
            concurrency: config.delivery_concurrency,
            max_in_flight_per_origin: config.delivery_max_in_flight_per_origin,
            lease: config.delivery_lease,
            max_attempts: config.max_attempts,
            retry_base: config.retry_base,
            batch_size: 500,
            idle_poll: Duration::from_millis(500),
        }
    }
}

/// A message ready to send, shared by all its targets.
struct Prepared {
    /// The payload of a message without translations (`None`: tickle or translated).
    payload: Option<Vec<u8>>,
    /// A translated payload message: encoded once per language variant devices pick.
    translated: Option<Translated>,
    expires_at: i64,
    /// `ttl: 0`: the push service is told not to store it (`TTL: 0`), whatever is left of
    /// Herald's short window for it.
    now_only: bool,
    urgency: Option<Urgency>,
    topic: Option<Topic>,
    sendable: bool,
    quiet_hours: Option<QuietHours>,
}

/// A payload message with titles or bodies by language, and its variants encoded so far.
struct Translated {
    id: String,
    url: Option<String>,
    tag: Option<String>,
    icon: Option<String>,
    content: RichContent,
    texts: Texts,
    encoded: Mutex<HashMap<VariantKey, Arc<Vec<u8>>>>,
}

impl Translated {
    /// The payload for a device with these stored languages, encoded once per variant.
    fn payload_for(&self, languages: Option<&str>) -> Arc<Vec<u8>> {
        let preferred = rich::parse_languages(languages);
        let picked = self.texts.pick(&preferred, &self.content);
        let mut encoded = self.encoded.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(payload) = encoded.get(&picked.key) {
            return payload.clone();
        }
        let common = rich::Common {
            id: &self.id,
            url: self.url.as_deref(),
            tag: self.tag.as_deref(),
            icon: self.icon.as_deref(),
        };
        let payload = Arc::new(rich::encode(&common, &picked, &self.content));
        encoded.insert(picked.key.clone(), payload.clone());
        payload
    }
}

/// One push service origin: its window and gauges.
struct OriginLane {
    window: Arc<Window>,
    metrics: Arc<OriginMetrics>,
}

pub struct DeliveryEngine {
    store: Store,
    signer: Arc<VapidSigner>,
    transport: Transport,
    policy: EndpointPolicy,
    settings: DeliverySettings,
    metrics: Arc<Metrics>,
    clock: Arc<dyn Clock>,
    wake: Arc<Notify>,
    /// Told whenever results are recorded (`?wait=true` listens).
    recorded: Arc<Notify>,
    prepared: Mutex<HashMap<String, Arc<Prepared>>>,
    lanes: Mutex<HashMap<String, Arc<OriginLane>>>,
}

impl DeliveryEngine {
    /// An engine over the shared state's store, keys and signals; `transport` carries the
    /// pushes (tests and benchmarks pass their own trust roots through it).
    pub fn new(state: &AppState, transport: Transport, settings: DeliverySettings) -> Self {
        Self {
            store: state.store.clone(),
            signer: state.signer.clone(),
            transport,
            policy: state.policy.clone(),
            settings,
            metrics: state.metrics.clone(),
            clock: state.clock.clone(),
            wake: state.delivery_wake.clone(),
            recorded: state.delivery_recorded.clone(),
            prepared: Mutex::new(HashMap::new()),
            lanes: Mutex::new(HashMap::new()),
        }
    }

    /// Open HTTP/2 connections to `origin` (`https://host[:port]`); for tests and benchmarks.
    pub fn open_connections(&self, origin: &str) -> usize {
        self.transport.pool().open_connections(origin)
    }

    /// Runs until `shutdown`; then lets in-flight pushes finish and records them.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let (results_tx, results_rx) = mpsc::channel::<(Settlement, OwnedSemaphorePermit)>(8192);
        let in_hand = Arc::new(InHand::default());
        let recorder = tokio::spawn(record(
            self.store.clone(),
            self.clock.clone(),
            results_rx,
            self.recorded.clone(),
            in_hand.clone(),
        ));
        let permits = Arc::new(Semaphore::new(self.settings.concurrency));
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            // Claim in batches: wait until a quarter of the window is free, so one claim
            // query serves many pushes, and claim no more than the window holds.
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
                self.transport.pool().sweep_idle();
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
                let Some(taken) = InHand::take(&in_hand, target.outbox_id) else {
                    continue;
                };
                let permit = permits
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("semaphore is never closed");
                let engine = self.clone();
                let tx = results_tx.clone();
                // Boxed: the task's future is a few kilobytes (encryption, the request, the
                // send), and a task stores its future inline, copying it when spawned and again
                // when it completes; a box copies a pointer instead.
                tokio::spawn(Box::pin(async move {
                    let mut taken = taken;
                    let settlement = engine.deliver(target, message, lease_until).await;
                    // The permit goes with the result and is freed once it is recorded: rows
                    // sent but not yet recorded count against the window, so a crash repeats
                    // at most `concurrency` pushes.
                    if tx.send((settlement, permit)).await.is_ok() {
                        // The recorder releases the row once its result is written.
                        taken.outbox_id = None;
                    }
                }));
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
        let lease_until = now + self.settings.lease.as_millis() as i64;
        let batch = self.store.claim_due(now, lease_until, self.settings.batch_size).await?;
        let count = batch.len();
        let prepared = self.prepare_batch(&batch).await;
        let settlements = futures::future::join_all(batch.into_iter().filter_map(|t| {
            let message = prepared.get(&t.message_id).cloned()?;
            Some(self.deliver(t, message, lease_until))
        }))
        .await;
        self.store.settle(&settlements, self.clock.now_ms()).await?;
        self.recorded.notify_waiters();
        Ok(count)
    }

    /// Sends one target and decides how it settles. Never fails: every path ends in a
    /// settlement, so nothing is lost.
    async fn deliver(&self, target: ClaimedTarget, message: Option<Arc<Prepared>>, lease_until: i64) -> Settlement {
        let (result, status) = self.attempt(&target, message, lease_until).await;
        Settlement {
            push_service: target
                .subscription
                .as_ref()
                .map_or(PushService::Other, |s| s.push_service),
            outbox_id: target.outbox_id,
            message_id: target.message_id,
            subscription_id: target.subscription_id,
            status,
            result,
            lease_until,
        }
    }

    async fn attempt(
        &self,
        target: &ClaimedTarget,
        prepared: Option<Arc<Prepared>>,
        lease_until: i64,
    ) -> (SettledAs, Option<u16>) {
        let Some(stored) = &target.subscription else {
            // Unsubscribed after the message was queued.
            return (SettledAs::Gone, None);
        };
        let prepared = match prepared {
            Some(p) if p.sendable => p,
            _ => return (SettledAs::Failed, None),
        };
        if let (Some(quiet), Some(zone)) = (prepared.quiet_hours, target.time_zone) {
            if let Some(until) = quiet.held_until_ms(self.clock.now_ms(), zone.tz()) {
                // Quiet on this device: back to the outbox until its window ends, unless the
                // message expires first.
                return if until >= prepared.expires_at {
                    (SettledAs::Failed, None)
                } else {
                    (SettledAs::HeldUntil(until), None)
                };
            }
        }
        let subscription = match Subscription::parse(&stored.endpoint, &stored.p256dh, &stored.auth) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(subscription = %target.subscription_id, endpoint = %redact::endpoint(&stored.endpoint), error = %redact::scrub(&e.to_string(), &stored.endpoint), "stored subscription no longer parses");
                return (SettledAs::Failed, None);
            }
        };
        if let Err(why) = self.policy.check(&subscription.endpoint) {
            tracing::warn!(subscription = %target.subscription_id, endpoint = %redact::endpoint(&stored.endpoint), why = %redact::scrub(&why.to_string(), &stored.endpoint), "endpoint refused by policy");
            return (SettledAs::Failed, None);
        }
        let origin = self.origin(subscription.endpoint.origin());
        let mut unprocessed = 0;
        loop {
            let now = self.clock.now_ms();
            if now >= prepared.expires_at {
                return (SettledAs::Failed, None);
            }
            // Encrypted before the wait for a slot: the window holds only time on the wire.
            let translated = prepared
                .translated
                .as_ref()
                .map(|t| t.payload_for(stored.languages.as_deref()));
            let payload = translated.as_deref().or(prepared.payload.as_ref());
            let request = match build_request(&subscription, payload, &prepared, &self.signer, now) {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(message = %target.message_id, endpoint = %redact::endpoint(&stored.endpoint), error = %redact::scrub(&e.to_string(), &stored.endpoint), "building the push failed");
                    return (SettledAs::Failed, None);
                }
            };
            let Some(slot) = origin.window.acquire().await else {
                // This service's queue is long for its pace: back to the outbox for later, so
                // its rows do not hold this instance's window.
                let wait = origin
                    .window
                    .drain_estimate()
                    .clamp(Duration::from_secs(1), Duration::from_secs(30));
                let at = self.clock.now_ms() + wait.as_millis() as i64 + jitter() % 1000;
                return (SettledAs::Deferred(at), None);
            };
            // A push must be answered or abandoned before its lease ends, or another instance
            // could claim and send it too: it starts only with enough lease left, and its
            // time on the wire ends a second before the lease does.
            let now = self.clock.now_ms();
            if now + self.lease_margin_ms() > lease_until {
                drop(slot);
                return (SettledAs::Deferred(now), None);
            }
            let wire_limit = Duration::from_millis((lease_until - now - 1000).max(0) as u64);
            let sent = self.transport.send(request, wire_limit).await;
            let latency = slot.started().elapsed();
            let response = match sent {
                Ok(response) => response,
                Err(SendError::Unprocessed(why)) => {
                    // Never processed by the push service: send again, no attempt counted.
                    slot.finish(Verdict::Neutral);
                    unprocessed += 1;
                    tracing::debug!(endpoint = %redact::endpoint(&stored.endpoint), why = %redact::scrub(&why.to_string(), &stored.endpoint), unprocessed, "push not processed; sending again");
                    if unprocessed >= MAX_UNPROCESSED {
                        let at = self.clock.now_ms() + self.settings.retry_base.as_millis() as i64;
                        return (SettledAs::Deferred(at), None);
                    }
                    continue;
                }
                Err(SendError::Failed(why)) => {
                    slot.finish(Verdict::Overloaded(latency));
                    self.metrics.push_request("retry", None);
                    tracing::debug!(endpoint = %redact::endpoint(&stored.endpoint), error = %redact::scrub(&why.to_string(), &stored.endpoint), "push request failed");
                    return (self.retry(target, &prepared, self.clock.now_ms(), None), None);
                }
            };
            let status = response.status;
            slot.finish(if status == 429 || status >= 500 {
                Verdict::Overloaded(latency)
            } else {
                Verdict::Answered(latency)
            });
            origin.metrics.observe_latency(latency);
            let outcome = classify(status, &response.headers, &response.body, SystemTime::now());
            self.metrics.push_request(outcome.label(), Some(latency));
            let settled = match outcome {
                PushOutcome::Accepted { .. } => SettledAs::Accepted,
                PushOutcome::Gone { .. } => SettledAs::Gone,
                PushOutcome::Failed { reason, .. } => {
                    let body = &response.body;
                    let answer = String::from_utf8_lossy(&body[..body.len().min(300)]);
                    tracing::warn!(status, ?reason, endpoint = %redact::endpoint(&stored.endpoint), body = %redact::scrub(&answer, &stored.endpoint), "push refused");
                    SettledAs::Failed
                }
                // Retry-After counts from the answer, not from when the request left.
                PushOutcome::RetryLater { retry_after, .. } => {
                    self.retry(target, &prepared, self.clock.now_ms(), retry_after)
                }
            };
            return (settled, Some(status));
        }
    }

    /// How much of a lease must be left to start a push: its timeout and a second, or half
    /// the lease if that is shorter (a lease shorter than the timeout is a configuration the
    /// operator chose; the push's time on the wire is then cut to what is left of the lease).
    fn lease_margin_ms(&self) -> i64 {
        let timeout = self.transport.timeout() + Duration::from_secs(1);
        timeout.min(self.settings.lease / 2).as_millis() as i64
    }

    /// The window and gauges of a push service's origin, created on first use.
    fn origin(&self, origin: &str) -> Arc<OriginLane> {
        let mut lanes = self.lanes.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(lane) = lanes.get(origin) {
            return lane.clone();
        }
        if lanes.len() >= MAX_LANES {
            // Origins come from client-supplied endpoints; idle ones are forgotten.
            lanes.retain(|_, lane| lane.window.in_flight() > 0);
        }
        let metrics = self.metrics.origin(origin);
        let lane = Arc::new(OriginLane {
            window: Window::new(
                self.settings.max_in_flight_per_origin,
                (self.settings.lease / 4).min(MAX_QUEUE_WAIT),
                metrics.clone(),
            ),
            metrics,
        });
        lanes.insert(origin.to_owned(), lane.clone());
        lane
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
        let content = &message.content;
        let payload_mode = message.mode == MessageMode::Payload;
        let translated = (payload_mode && content.has_translations()).then(|| Translated {
            id: message.id.clone(),
            url: message.url.clone(),
            tag: message.tag.clone(),
            icon: message.icon.clone(),
            content: content.clone(),
            texts: Texts::new(&message.title, message.body.as_deref(), content),
            encoded: Mutex::new(HashMap::new()),
        });
        let prepared = Arc::new(Prepared {
            // Without translations every device gets the same bytes: encoded once here.
            payload: (payload_mode && translated.is_none()).then(|| {
                let texts = Texts::new(&message.title, message.body.as_deref(), content);
                let common = rich::Common {
                    id: &message.id,
                    url: message.url.as_deref(),
                    tag: message.tag.as_deref(),
                    icon: message.icon.as_deref(),
                };
                rich::encode(&common, &texts.pick(&[], content), content)
            }),
            translated,
            expires_at: message.expires_at,
            now_only: message.ttl_secs == 0,
            urgency: message.urgency.as_deref().and_then(|u| Urgency::parse(u).ok()),
            topic: message.topic.as_deref().and_then(|t| Topic::parse(t).ok()),
            sendable: message.status != crate::storage::messages::MessageStatus::Cancelled,
            quiet_hours: message.quiet_hours,
        });
        let mut cache = self.prepared.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() > 1024 {
            cache.clear();
        }
        cache.insert(message_id.to_owned(), prepared.clone());
        Ok(Some(prepared))
    }
}

/// The encrypted, signed request for one device; TTL counts down from the message's
/// creation, so a late retry does not extend it.
fn build_request(
    subscription: &Subscription,
    payload: Option<&Vec<u8>>,
    prepared: &Prepared,
    signer: &VapidSigner,
    now: i64,
) -> Result<PushRequest, herald_push::Error> {
    let remaining = if prepared.now_only {
        0
    } else {
        ((prepared.expires_at - now) / 1000).max(1) as u32
    };
    let mut message = match payload {
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
    message.build_at(subscription, signer, wall)
}

fn jitter() -> i64 {
    let mut bytes = [0u8; 8];
    let _ = aws_lc_rs::rand::fill(&mut bytes);
    (u64::from_le_bytes(bytes) >> 1) as i64
}

/// The outbox rows this instance has taken from claims and not yet recorded. If recording
/// stalls past their lease (the database went away for longer than it), a later claim returns
/// them again; they are skipped then, not sent a second time.
#[derive(Default)]
struct InHand(Mutex<HashSet<i64>>);

impl InHand {
    /// Takes a claimed row, held until its result is handed to the recorder; `None` if this
    /// instance already holds it.
    fn take(in_hand: &Arc<Self>, outbox_id: i64) -> Option<Taken> {
        let fresh = in_hand.0.lock().unwrap_or_else(|p| p.into_inner()).insert(outbox_id);
        fresh.then(|| Taken {
            in_hand: in_hand.clone(),
            outbox_id: Some(outbox_id),
        })
    }

    fn release(&self, outbox_ids: impl IntoIterator<Item = i64>) {
        let mut held = self.0.lock().unwrap_or_else(|p| p.into_inner());
        for outbox_id in outbox_ids {
            held.remove(&outbox_id);
        }
    }
}

/// A row a push task holds: released if the task ends without handing its result to the
/// recorder (it panicked, or the recorder is gone), so a later claim sends the row again
/// instead of skipping it for ever.
struct Taken {
    in_hand: Arc<InHand>,
    outbox_id: Option<i64>,
}

impl Drop for Taken {
    fn drop(&mut self) {
        self.in_hand.release(self.outbox_id);
    }
}

/// Settles results in batches: waits for one, then takes whatever else is ready (up to 1000),
/// and frees their permits once they are recorded; then tells `recorded`.
/// A failed write is retried, never dropped: the rows' leases would only re-send them.
async fn record(
    store: Store,
    clock: Arc<dyn Clock>,
    mut rx: mpsc::Receiver<(Settlement, OwnedSemaphorePermit)>,
    recorded: Arc<Notify>,
    in_hand: Arc<InHand>,
) {
    let mut received = Vec::with_capacity(1000);
    while rx.recv_many(&mut received, 1000).await > 0 {
        let (batch, permits): (Vec<Settlement>, Vec<OwnedSemaphorePermit>) = received.drain(..).unzip();
        let mut delay = Duration::from_millis(100);
        while let Err(e) = store.settle(&batch, clock.now_ms()).await {
            tracing::error!(error = %e, "recording delivery results failed; retrying");
            tokio::time::sleep(delay).await;
            // At most a second apart: once the database is back, the results go in before
            // other instances' claims find these rows' leases expired.
            delay = (delay * 2).min(Duration::from_secs(1));
        }
        in_hand.release(batch.iter().map(|s| s.outbox_id));
        drop(permits);
        recorded.notify_waiters();
    }
}
