//! Circuit breaker per provider and model: after repeated failures, stop sending for a while and
//! fail fast (or go straight to a fallback), then let one probe through to see if it recovered.
//!
//! [`Machine`] (machine.rs) is the state machine with time passed in, so it is tested without
//! clocks. The Redis variant ([`SharedBreaker`], `breaker/redis.rs`, on the connection of
//! `resilience/redis.rs`) runs the same transitions in a Lua script, so every process sharing
//! the Redis sees one breaker. Time is counted by `resilience/clock.rs`.

use std::sync::{Arc, Mutex};

use crate::error::{ErrorKind, LlmError, Result};

use super::clock::Clock;

mod machine;
mod redis;
pub use machine::*;
pub use redis::SharedBreaker;

/// One breaker: local state, optionally shared through Redis.
pub struct Breaker {
    name: String,
    cfg: BreakerConfig,
    local: Mutex<Machine>,
    clock: Clock,
    shared: Option<SharedBreaker>,
}

impl Breaker {
    pub fn new(name: String, cfg: BreakerConfig, shared: Option<SharedBreaker>) -> Arc<Self> {
        Arc::new(Self {
            name,
            cfg,
            local: Mutex::new(Machine::default()),
            clock: Clock::start(),
            shared,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    fn with_local<T>(&self, f: impl FnOnce(&mut Machine, u64) -> T) -> T {
        let now = self.clock.now_ms();
        // A poisoned lock only means another thread panicked mid-update; the state is plain data.
        let mut m = self.local.lock().unwrap_or_else(|p| p.into_inner());
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
