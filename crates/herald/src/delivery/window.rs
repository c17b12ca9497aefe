//! The in-flight window of one push service: how many of its pushes may wait for an answer
//! at once, adapted to how it answers (AIMD, as TCP does with its congestion window).
//!
//! - It starts at [`INITIAL`] and, while everything succeeds, grows by one per answer
//!   (doubling per round trip) up to the configured cap: a service at latency `L` with a
//!   window `W` serves `W / L` pushes per second (Little's law), so the window must grow
//!   until the cap or the service's own limits stop it.
//! - A 429, a 5xx, a timeout or a broken connection halves it, at most once per round trip
//!   (answers to requests sent before the last decrease do not count again), never below
//!   [`MIN`]. After a decrease it grows by an eighth of a push per answer, about 12% per
//!   round trip, so one bad answer does not cost the rest of a broadcast.
//! - Pushes wait for a slot in order. A queue that would take longer than the wait budget to
//!   drain at the service's current pace is cut: the newest waiters are turned away (shed)
//!   and go back to the outbox, so a service that hangs keeps only a handful of rows claimed
//!   and cannot hold the instance's global window (see `delivery/mod.rs`).

use crate::metrics::OriginMetrics;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// The window of an origin not heard from yet.
pub const INITIAL: usize = 64;
/// The smallest window: a struggling service still gets a few pushes at a time.
pub const MIN: usize = 8;
/// How often waiting pushes re-judge their queue against the service's pace.
const REJUDGE_EVERY: Duration = Duration::from_millis(200);

/// How an exchange ended, for the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// An answer that says nothing about overload (2xx, 4xx other than 429).
    Answered(Duration),
    /// 429, 5xx, a timeout or a broken connection: the service is struggling.
    Overloaded(Duration),
    /// Nothing learnt (the request was never processed, or never sent).
    Neutral,
}

pub struct Window {
    cap: usize,
    /// How long a queue may take to drain before newcomers are shed.
    wait_budget: Duration,
    metrics: Arc<OriginMetrics>,
    state: Mutex<State>,
}

struct State {
    limit: f64,
    in_flight: usize,
    slow_start: bool,
    last_decrease: Option<Instant>,
    /// Smoothed answer time, once there is one.
    latency: Option<Duration>,
    /// While pushes are in flight: since when no answer came (the last answer, or the moment
    /// the first push went out). A service that has said nothing for `t` has a latency of
    /// at least `t`, which is all there is to know about one that hangs.
    quiet_since: Option<Instant>,
    waiters: VecDeque<oneshot::Sender<Slot>>,
}

/// The right to have one push on the wire. Dropped without [`Slot::finish`], it counts as
/// [`Verdict::Neutral`].
pub struct Slot {
    window: Option<Arc<Window>>,
    started: Instant,
}

impl Window {
    pub fn new(cap: usize, wait_budget: Duration, metrics: Arc<OriginMetrics>) -> Arc<Self> {
        let cap = cap.max(1);
        let window = Arc::new(Self {
            cap,
            wait_budget,
            metrics,
            state: Mutex::new(State {
                limit: INITIAL.min(cap) as f64,
                in_flight: 0,
                slow_start: true,
                last_decrease: None,
                latency: None,
                quiet_since: None,
                waiters: VecDeque::new(),
            }),
        });
        window.publish(&window.lock());
        window
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for a slot; `None` when the queue is too long for this service's pace (the push
    /// should go back to the outbox for later).
    pub async fn acquire(self: &Arc<Self>) -> Option<Slot> {
        let waiting = {
            let mut state = self.lock();
            if state.waiters.is_empty() && state.in_flight < state.limit as usize {
                if state.in_flight == 0 {
                    state.quiet_since = Some(Instant::now());
                }
                state.in_flight += 1;
                self.publish(&state);
                return Some(self.slot());
            }
            // The allowance shrinks while the service stays silent: trim the queue to it.
            let allowed = self.backlog_allowed(&state);
            while state.waiters.len() > allowed {
                state.waiters.pop_back();
            }
            if state.waiters.len() >= allowed {
                return None;
            }
            let (tx, rx) = oneshot::channel();
            state.waiters.push_back(tx);
            rx
        };
        // A dropped sender means the waiter was shed. While it waits, the queue is judged
        // again now and then: a service that stays silent earns a shorter queue even when no
        // new push arrives to trigger the cut.
        let mut waiting = waiting;
        let mut slot = loop {
            match tokio::time::timeout(REJUDGE_EVERY, &mut waiting).await {
                Ok(result) => break result.ok()?,
                Err(_) => self.trim(),
            }
        };
        // The wait is not the push's time on the wire.
        slot.started = Instant::now();
        Some(slot)
    }

    /// Sheds the newest waiters beyond what the service's pace allows.
    fn trim(&self) {
        let mut state = self.lock();
        let allowed = self.backlog_allowed(&state);
        while state.waiters.len() > allowed {
            state.waiters.pop_back();
        }
    }

    /// How long the current queue would take to drain (for deferring shed pushes).
    pub fn drain_estimate(&self) -> Duration {
        let state = self.lock();
        latency_estimate(&state).mul_f64((state.waiters.len() as f64 + 1.0) / state.limit.max(1.0))
    }

    #[cfg(test)]
    pub fn limit(&self) -> usize {
        self.lock().limit as usize
    }

    pub fn in_flight(&self) -> usize {
        self.lock().in_flight
    }

    fn slot(self: &Arc<Self>) -> Slot {
        Slot {
            window: Some(self.clone()),
            started: Instant::now(),
        }
    }

    /// Waiters beyond this would wait longer than the budget at the service's pace. In slow
    /// start the window doubles every round trip, so a fresh service is not judged by its
    /// starting window (that would shed most of a broadcast's first claim).
    fn backlog_allowed(&self, state: &State) -> usize {
        let rounds = self.wait_budget.as_secs_f64() / latency_estimate(state).as_secs_f64();
        let window = if state.slow_start {
            (state.limit * rounds.min(30.0).exp2()).min(self.cap as f64)
        } else {
            state.limit
        };
        let allowed = rounds * window;
        if allowed >= usize::MAX as f64 {
            usize::MAX
        } else {
            (allowed as usize).max(MIN)
        }
    }

    fn release(self: &Arc<Self>, started: Instant, verdict: Verdict) {
        let mut state = self.lock();
        state.in_flight -= 1;
        if verdict != Verdict::Neutral {
            state.quiet_since = Some(Instant::now());
        }
        match verdict {
            Verdict::Neutral => {}
            Verdict::Answered(latency) => {
                observe(&mut state, latency);
                state.limit += if state.slow_start { 1.0 } else { 0.125 };
                state.limit = state.limit.min(self.cap as f64);
            }
            Verdict::Overloaded(latency) => {
                observe(&mut state, latency);
                let new_round = state.last_decrease.is_none_or(|at| started > at);
                if new_round {
                    state.limit = (state.limit / 2.0).max(MIN.min(self.cap) as f64);
                    state.slow_start = false;
                    state.last_decrease = Some(Instant::now());
                    let allowed = self.backlog_allowed(&state);
                    while state.waiters.len() > allowed {
                        state.waiters.pop_back();
                    }
                }
            }
        }
        self.grant(&mut state);
        if state.in_flight == 0 {
            state.quiet_since = None;
        }
        self.publish(&state);
    }

    /// Hands free slots to waiters, oldest first.
    fn grant(self: &Arc<Self>, state: &mut State) {
        while state.in_flight < state.limit as usize {
            let Some(waiter) = state.waiters.pop_front() else {
                break;
            };
            if state.in_flight == 0 {
                state.quiet_since = Some(Instant::now());
            }
            state.in_flight += 1;
            if let Err(mut slot) = waiter.send(self.slot()) {
                // The waiter is gone; undo without re-entering the lock.
                slot.window = None;
                state.in_flight -= 1;
            }
        }
    }

    fn publish(&self, state: &State) {
        self.metrics.set_window(state.in_flight, state.limit as usize);
    }
}

/// The smoothed latency, or the time the service has been silent if that is longer.
fn latency_estimate(state: &State) -> Duration {
    let silent = match state.quiet_since {
        Some(since) if state.in_flight > 0 => since.elapsed(),
        _ => Duration::ZERO,
    };
    state
        .latency
        .unwrap_or(Duration::ZERO)
        .max(silent)
        .max(Duration::from_micros(100))
}

fn observe(state: &mut State, latency: Duration) {
    state.latency = Some(match state.latency {
        None => latency,
        Some(old) => old.mul_f64(0.9) + latency.mul_f64(0.1),
    });
}

impl Slot {
    pub fn finish(mut self, verdict: Verdict) {
        if let Some(window) = self.window.take() {
            window.release(self.started, verdict);
        }
    }

    /// When the push went on the wire (after its wait for the slot).
    pub fn started(&self) -> Instant {
        self.started
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(window) = self.window.take() {
            window.release(self.started, Verdict::Neutral);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(cap: usize) -> Arc<Window> {
        Window::new(cap, Duration::from_secs(10), Arc::new(OriginMetrics::default()))
    }

    #[tokio::test]
    async fn grows_while_answers_succeed_up_to_the_cap() {
        let w = window(200);
        assert_eq!(w.limit(), INITIAL);
        for _ in 0..500 {
            let slot = w.acquire().await.unwrap();
            slot.finish(Verdict::Answered(Duration::from_millis(40)));
        }
        assert_eq!(w.limit(), 200);
        assert_eq!(w.in_flight(), 0);
    }

    #[tokio::test]
    async fn overload_halves_once_per_round_trip() {
        let w = window(1000);
        let slots: Vec<Slot> = futures::future::join_all((0..INITIAL).map(|_| w.acquire()))
            .await
            .into_iter()
            .map(Option::unwrap)
            .collect();
        // Every push of the same round fails: one halving, not 64.
        for slot in slots {
            slot.finish(Verdict::Overloaded(Duration::from_millis(50)));
        }
        assert_eq!(w.limit(), INITIAL / 2);
        // A push sent after that decrease fails: another halving.
        w.acquire()
            .await
            .unwrap()
            .finish(Verdict::Overloaded(Duration::from_millis(50)));
        assert_eq!(w.limit(), INITIAL / 4);
        for _ in 0..10 {
            w.acquire()
                .await
                .unwrap()
                .finish(Verdict::Overloaded(Duration::from_millis(50)));
        }
        assert_eq!(w.limit(), MIN);
        // After a decrease, growth is gentle: 8 answers add one slot.
        for _ in 0..8 {
            w.acquire()
                .await
                .unwrap()
                .finish(Verdict::Answered(Duration::from_millis(50)));
        }
        assert_eq!(w.limit(), MIN + 1);
    }

    #[tokio::test]
    async fn waiters_get_slots_in_order_and_a_long_queue_is_shed() {
        let w = Window::new(MIN, Duration::from_secs(2), Arc::new(OriginMetrics::default()));
        // Learn a 1 s latency: the budget of 2 s allows 2 rounds of 8 waiting.
        let first = w.acquire().await.unwrap();
        first.finish(Verdict::Answered(Duration::from_secs(1)));
        let held: Vec<Slot> = futures::future::join_all((0..MIN).map(|_| w.acquire()))
            .await
            .into_iter()
            .map(Option::unwrap)
            .collect();
        let mut waiting = Vec::new();
        for i in 0..2 * MIN {
            let w = w.clone();
            waiting.push(tokio::spawn(async move { (i, w.acquire().await.is_some()) }));
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        // The queue is full: a newcomer is turned away at once.
        assert!(w.acquire().await.is_none());
        // As the held slots free, the waiters are served in order, all of them.
        drop(held);
        let mut granted = 0;
        for task in waiting {
            let (_, got) = task.await.unwrap();
            granted += usize::from(got);
        }
        assert_eq!(granted, 2 * MIN);
        assert_eq!(w.in_flight(), 0);
    }

    /// Takes every slot of a fresh window (`INITIAL` of them) and holds them.
    async fn fill(w: &Arc<Window>) -> Vec<Slot> {
        futures::future::join_all((0..INITIAL).map(|_| w.acquire()))
            .await
            .into_iter()
            .map(Option::unwrap)
            .collect()
    }

    #[tokio::test]
    async fn a_silent_service_gets_a_short_queue_before_any_answer() {
        // Capped at its first window, so slow start cannot promise more.
        let w = Window::new(INITIAL, Duration::from_secs(1), Arc::new(OriginMetrics::default()));
        let _held = fill(&w).await;
        // Silent for 0.5 s: the latency is at least that, so 2 rounds of 64 may wait.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut waiting = Vec::new();
        for _ in 0..300 {
            let w = w.clone();
            waiting.push(tokio::spawn(async move { w.acquire().await.is_some() }));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        let shed = waiting.iter().filter(|t| t.is_finished()).count();
        assert!((300 - 2 * INITIAL..=300 - INITIAL).contains(&shed), "{shed} shed");
        for task in waiting {
            task.abort();
        }
    }

    #[tokio::test]
    async fn a_queue_is_cut_as_the_silence_grows_without_newcomers() {
        let w = Window::new(INITIAL, Duration::from_secs(1), Arc::new(OriginMetrics::default()));
        let _held = fill(&w).await;
        // Queued at once, while the service has been silent for no time at all.
        let mut waiting = Vec::new();
        for _ in 0..1000 {
            let w = w.clone();
            waiting.push(tokio::spawn(async move { w.acquire().await.is_some() }));
        }
        // After a second of silence, at most one round of 64 may still wait.
        tokio::time::sleep(Duration::from_millis(1300)).await;
        let still_waiting = waiting.iter().filter(|t| !t.is_finished()).count();
        assert!(still_waiting <= INITIAL, "{still_waiting} still waiting");
        assert!(still_waiting >= MIN, "{still_waiting}");
        for task in waiting {
            task.abort();
        }
    }

    #[tokio::test]
    async fn a_hung_service_sheds_its_queue() {
        let w = Window::new(1000, Duration::from_secs(2), Arc::new(OriginMetrics::default()));
        let held: Vec<Slot> = futures::future::join_all((0..INITIAL).map(|_| w.acquire()))
            .await
            .into_iter()
            .map(Option::unwrap)
            .collect();
        let mut waiting = Vec::new();
        for _ in 0..200 {
            let w = w.clone();
            waiting.push(tokio::spawn(async move {
                w.acquire().await.map(|s| s.finish(Verdict::Neutral)).is_some()
            }));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        // Every request timed out after 5 s: the window halves to 32 and, at 5 s a round
        // with a 2 s budget, the queue keeps 0.4 rounds of 32 waiters: 12.
        for slot in held {
            slot.finish(Verdict::Overloaded(Duration::from_secs(5)));
        }
        let mut served = 0;
        for task in waiting {
            served += usize::from(task.await.unwrap());
        }
        assert_eq!(served, 12, "{served} of 200 still served");
        assert_eq!(w.in_flight(), 0);
    }
}
