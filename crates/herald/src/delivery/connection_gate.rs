//! Lets one request through first to a push service that has no open connection.
//!
//! The HTTP client learns that a push service speaks HTTP/2 only when a connection's TLS
//! handshake is done, so a burst of requests to a cold origin would each open a connection
//! of their own and all but one would be closed unused. A broadcast starting with 256 sends
//! in flight paid for ~190 TLS handshakes on each side that way (measured with the bench's
//! sink). Behind the gate, the first request opens the connection alone and the rest then
//! share it. They wait for its answer at most `HOLD_AT_MOST`, so one slow device cannot hold
//! up the others for long; after one such wait, the origin counts as warm and nobody waits.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long an origin stays warm after its last answer: less than the client's idle-pool
/// timeout, so a warm origin still has its connection open.
const WARM_FOR: Duration = Duration::from_secs(60);
/// The longest the others wait for the first request; a handshake takes a few round trips.
const HOLD_AT_MOST: Duration = Duration::from_millis(250);
/// Origins come from client-supplied endpoints; the map is bounded by clearing it.
const MAX_ORIGINS: usize = 4096;

#[derive(Default)]
struct Gate {
    /// Milliseconds since `ConnectionGates::started` until which the origin is warm.
    warm_until: AtomicU64,
    first: Arc<tokio::sync::Mutex<()>>,
}

pub struct ConnectionGates {
    started: Instant,
    gates: Mutex<HashMap<(usize, String), Arc<Gate>>>,
}

/// Held while the first request to a cold origin is in flight; the others wait for it.
pub struct Pass {
    _first: Option<tokio::sync::OwnedMutexGuard<()>>,
    gate: Arc<Gate>,
    started: Instant,
}

impl ConnectionGates {
    pub fn new() -> Self {
        Self {
            started: Instant::now(),
            gates: Mutex::new(HashMap::new()),
        }
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Waits until a request to `origin` over client `client` may go. Warm origins pass at
    /// once; on a cold one, the first caller passes and the rest wait until it is answered
    /// (or `HOLD_AT_MOST`).
    pub async fn pass(&self, client: usize, origin: &str) -> Pass {
        let gate = {
            let key = (client, origin.to_owned());
            let mut gates = self.gates.lock().unwrap_or_else(|p| p.into_inner());
            if gates.len() >= MAX_ORIGINS && !gates.contains_key(&key) {
                gates.clear();
            }
            gates.entry(key).or_default().clone()
        };
        let cold = || gate.warm_until.load(Ordering::Acquire) <= self.now_ms();
        let mut first = None;
        if cold() {
            match tokio::time::timeout(HOLD_AT_MOST, gate.first.clone().lock_owned()).await {
                // Whoever held the lock before may have warmed the origin meanwhile.
                Ok(guard) if cold() => first = Some(guard),
                Ok(_) => {}
                // The first request is slow: nobody else waits for it any more.
                Err(_) => {
                    let until = self.now_ms() + WARM_FOR.as_millis() as u64;
                    gate.warm_until.fetch_max(until, Ordering::AcqRel);
                }
            }
        }
        Pass {
            _first: first,
            gate,
            started: self.started,
        }
    }
}

impl Pass {
    /// Marks the origin warm: called after any answer or failure, so that a push service
    /// that is down does not make every waiting request time out one after the other.
    pub fn done(self) {
        let until = (self.started.elapsed() + WARM_FOR).as_millis() as u64;
        self.gate.warm_until.fetch_max(until, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_first_request_to_a_cold_origin_goes_alone() {
        let gates = Arc::new(ConnectionGates::new());
        let first = gates.pass(0, "https://push.example").await;
        let waiting = {
            let gates = gates.clone();
            tokio::spawn(async move {
                let started = Instant::now();
                gates.pass(0, "https://push.example").await.done();
                started.elapsed()
            })
        };
        // Another client or origin is not held up.
        let other = Instant::now();
        gates.pass(1, "https://push.example").await.done();
        gates.pass(0, "https://other.example").await.done();
        assert!(other.elapsed() < HOLD_AT_MOST);

        tokio::time::sleep(Duration::from_millis(80)).await;
        first.done();
        let waited = waiting.await.unwrap();
        assert!(
            waited >= Duration::from_millis(70) && waited < HOLD_AT_MOST,
            "{waited:?}"
        );

        // Warm now: everyone passes at once.
        let started = Instant::now();
        let a = gates.pass(0, "https://push.example").await;
        let b = gates.pass(0, "https://push.example").await;
        assert!(started.elapsed() < HOLD_AT_MOST);
        a.done();
        b.done();
    }

    #[tokio::test]
    async fn a_slow_first_request_holds_the_others_only_briefly() {
        let gates = ConnectionGates::new();
        let _slow = gates.pass(0, "https://push.example").await;
        let started = Instant::now();
        gates.pass(0, "https://push.example").await.done();
        let waited = started.elapsed();
        assert!(waited >= HOLD_AT_MOST && waited < Duration::from_secs(5), "{waited:?}");
        // After one such wait, later requests do not wait for the slow one at all.
        let started = Instant::now();
        gates.pass(0, "https://push.example").await.done();
        assert!(started.elapsed() < HOLD_AT_MOST, "{:?}", started.elapsed());
    }
}
