//! Circuit breaker per target (provider, base URL, model, key): after repeated failures, stop
//! sending for a while and fail fast (or go straight to a fallback), then let one probe through
//! to see if it recovered. Its in-process state ([`LocalBreaker`]) is shared by every client of
//! the target; each [`Breaker`] is one client's settings over it.
//!
//! [`Machine`] (machine.rs) is the state machine with time passed in, so it is tested without
//! clocks. The Redis variant ([`SharedBreaker`], `breaker/redis.rs`, on the connection of
//! `resilience/redis.rs`) runs the same transitions in a Lua script, so every process sharing
//! the Redis sees one breaker. Time is counted by `resilience/clock.rs`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::error::{ErrorKind, LlmError, Result};

use super::clock::Clock;

mod machine;
mod redis;
pub use machine::*;
pub use redis::SharedBreaker;

/// A breaker's in-process state. Every client of one target shares it (`client/registry.rs`),
/// as processes share the Redis one: the state is the target's, each client judges it by its
/// own [`BreakerConfig`].
pub struct LocalBreaker {
    machine: Mutex<Machine>,
    clock: Clock,
    /// The longest failure-rate window of the clients sharing it, for [`LocalBreaker::at_rest`].
    window_ms: AtomicU64,
}

impl Default for LocalBreaker {
    fn default() -> Self {
        Self {
            machine: Mutex::new(Machine::default()),
            clock: Clock::start(),
            window_ms: AtomicU64::new(0),
        }
    }
}

impl LocalBreaker {
    /// Whether a fresh state would behave the same from now on: closed, no failure in a row,
    /// and no call left in any sharer's failure-rate window.
    pub fn at_rest(&self) -> bool {
        let now = self.clock.now_ms();
        let window = self.window_ms.load(Ordering::Relaxed);
        let m = self.machine.lock().unwrap_or_else(|p| p.into_inner());
        let counted = m.calls > 0.0 || m.prev_calls > 0.0;
        let window_over = now >= m.bucket_start.saturating_add(window.saturating_mul(2));
        !m.open && m.consecutive == 0 && (!counted || window_over)
    }
}

/// One client's breaker for one target: the target's state (in process, optionally shared
/// through Redis) judged by this client's settings.
pub struct Breaker {
    name: String,
    cfg: BreakerConfig,
    local: Arc<LocalBreaker>,
    shared: Option<SharedBreaker>,
}

impl Breaker {
    /// A breaker with in-process state of its own.
    pub fn new(name: String, cfg: BreakerConfig, shared: Option<SharedBreaker>) -> Arc<Self> {
        Self::sharing(name, cfg, Arc::default(), shared)
    }

    /// A breaker on `local`, the in-process state other clients of the same target use too.
    pub fn sharing(
        name: String,
        cfg: BreakerConfig,
        local: Arc<LocalBreaker>,
        shared: Option<SharedBreaker>,
    ) -> Arc<Self> {
        local
            .window_ms
            .fetch_max(cfg.window_ms(), Ordering::Relaxed);
        Arc::new(Self {
            name,
            cfg,
            local,
            shared,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    fn with_local<T>(&self, f: impl FnOnce(&mut Machine, u64) -> T) -> T {
        let now = self.local.clock.now_ms();
        // A poisoned lock only means another thread panicked mid-update; the state is plain data.
        let mut m = self.local.machine.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut m, now)
    }

    /// Ask to send; a [`Permit`] to report the outcome with, or a `CircuitOpenError`.
    pub async fn admit(self: &Arc<Self>) -> Result<Permit> {
        let admission = match &self.shared {
            Some(s) => match s.admit(&self.cfg).await {
                Some(a) => a,
                None => self.with_local(|m, now| m.admit(now)),
            },
            None => self.with_local(|m, now| m.admit(now)),
        };
        match admission {
            Admission::Allowed => Ok(Permit::new(self.clone(), false)),
            Admission::Probe => Ok(Permit::new(self.clone(), true)),
            Admission::Rejected { retry_in } => {
                let wait = retry_in
                    .map(|d| format!("; a probe call goes through in {:.1} s", d.as_secs_f64()))
                    .unwrap_or_else(|| "; a probe call is testing it".to_string());
                let mut e = LlmError::new(
                    ErrorKind::CircuitOpen,
                    format!(
                        "the circuit breaker for {} is open after repeated failures{wait}",
                        self.name
                    ),
                );
                e.retry_after = retry_in;
                Err(e)
            }
        }
    }

    async fn record(&self, outcome: Outcome, probe: bool) {
        let shared = match &self.shared {
            Some(s) => s.record(&self.cfg, outcome, probe).await,
            None => None,
        };
        let change = match shared {
            Some(change) => change,
            None => self.with_local(|m, now| m.record(now, &self.cfg, outcome, probe)),
        };
        match change {
            Transition::Opened => tracing::warn!(
                breaker = %self.name,
                cooldown_s = self.cfg.cooldown.as_secs_f64(),
                "circuit breaker opened: calls fail fast (or go to the fallback) until a probe succeeds"
            ),
            Transition::Closed => tracing::info!(breaker = %self.name, "circuit breaker closed"),
            Transition::Unchanged => {}
        }
    }

    pub async fn snapshot(&self) -> Snapshot {
        if let Some(s) = &self.shared {
            if let Some(mut snap) = s.snapshot(&self.cfg).await {
                snap.name.clone_from(&self.name);
                return snap;
            }
        }
        self.with_local(|m, now| m.snapshot(now, &self.cfg, &self.name))
    }
}

/// Leave to make one attempt; report how it went with [`Permit::record`]. Dropped unreported
/// (the call was cancelled), it frees the half-open probe slot.
pub struct Permit {
    breaker: Arc<Breaker>,
    probe: bool,
    done: bool,
}

impl Permit {
    fn new(breaker: Arc<Breaker>, probe: bool) -> Self {
        Self {
            breaker,
            probe,
            done: false,
        }
    }

    pub async fn record(mut self, outcome: Outcome) {
        self.done = true;
        self.breaker.record(outcome, self.probe).await;
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if self.done || !self.probe {
            return;
        }
        let breaker = self.breaker.clone();
        match &breaker.shared {
            Some(_) => {
                // Releasing a shared probe is a Redis call; it cannot be awaited in `drop`.
                if let Ok(handle) = tokio::runtime::Handle::try_current() {
                    handle.spawn(async move { breaker.record(Outcome::Ignored, true).await });
                }
            }
            None => {
                breaker.with_local(|m, now| m.record(now, &breaker.cfg, Outcome::Ignored, true));
            }
        }
    }
}
