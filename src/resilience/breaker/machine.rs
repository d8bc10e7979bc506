//! The breaker's configuration and its state machine, with time passed in as milliseconds, so
//! every transition is tested without clocks (and the Redis script can mirror it).

use std::time::Duration;

use crate::error::{ErrorKind, LlmError, Result};

use crate::resilience::clock::millis;
use crate::resilience::retry::is_retriable;

#[derive(Debug, Clone, PartialEq)]
pub struct BreakerConfig {
    pub enabled: bool,
    /// Consecutive failures that open the breaker.
    pub failure_threshold: u32,
    /// Share of failed calls over `window` that opens it (once `min_calls` were made).
    pub failure_rate: f64,
    pub min_calls: u32,
    pub window: Duration,
    /// How long it stays open before letting a probe through.
    pub cooldown: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            failure_threshold: 5,
            failure_rate: 0.5,
            min_calls: 20,
            window: Duration::from_secs(60),
            cooldown: Duration::from_secs(30),
        }
    }
}

impl BreakerConfig {
    pub fn disabled() -> Self {
        Self {
            enabled: false,
            ..Self::default()
        }
    }

    pub fn validate(&self) -> Result<()> {
        if self.failure_threshold == 0 {
            return Err(LlmError::config("failure_threshold must be at least 1"));
        }
        if !(self.failure_rate > 0.0 && self.failure_rate <= 1.0) {
            return Err(LlmError::config("failure_rate must be in (0, 1]"));
        }
        if self.window.is_zero() || self.cooldown.is_zero() {
            return Err(LlmError::config("window and cooldown must be positive"));
        }
        Ok(())
    }

    pub(crate) fn window_ms(&self) -> u64 {
        millis(self.window).max(1)
    }

    pub(crate) fn cooldown_ms(&self) -> u64 {
        millis(self.cooldown)
    }
}

/// A half-open probe whose caller vanished (a crashed process) stops blocking others after this.
pub(crate) const PROBE_LEASE_MS: u64 = 60_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Closed,
    Open,
    HalfOpen,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }
}

/// What a caller may do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Allowed,
    /// Allowed as the one half-open probe: its result closes or re-opens the breaker.
    Probe,
    /// Fail fast; `retry_in` is when a probe will be let through (unknown while one runs).
    Rejected {
        retry_in: Option<Duration>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
    /// The call was cancelled: it says nothing about the provider.
    Ignored,
}

impl Outcome {
    /// A failure is what says the provider is unwell; the caller's own mistakes (400, 401, ...)
    /// prove it answered.
    pub fn of<T>(result: &Result<T>) -> Self {
        match result {
            Ok(_) => Self::Success,
            Err(e) if e.kind == ErrorKind::Cancelled => Self::Ignored,
            Err(e) if is_retriable(e) || e.kind == ErrorKind::InvalidResponse => Self::Failure,
            Err(_) => Self::Success,
        }
    }
}

/// What a recorded outcome did to the breaker, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Unchanged,
    Opened,
    Closed,
}

/// A breaker's state as `client.health()` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub name: String,
    pub state: State,
    pub consecutive_failures: u32,
    /// Calls and failures over the last window (weighted, so fractional).
    pub calls: f64,
    pub failures: f64,
    pub retry_in: Option<Duration>,
    /// Whether the state lives in Redis (false also while Redis is unreachable).
    pub shared: bool,
}

/// The breaker's state machine; times are milliseconds on any monotonic clock.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Machine {
    pub(crate) open: bool,
    pub(crate) consecutive: u32,
    /// While open: when a probe may go (half-open from then on).
    pub(crate) open_until: u64,
    /// While half-open: a probe is in flight until then.
    pub(crate) probe_until: u64,
    /// Failure-rate window as two buckets: the current one and the previous one, weighted.
    pub(crate) bucket_start: u64,
    pub(crate) calls: f64,
    pub(crate) failures: f64,
    pub(crate) prev_calls: f64,
    pub(crate) prev_failures: f64,
}

impl Machine {
    pub fn state(&self, now: u64) -> State {
        match (self.open, now >= self.open_until) {
            (false, _) => State::Closed,
            (true, false) => State::Open,
            (true, true) => State::HalfOpen,
        }
    }

    pub fn admit(&mut self, now: u64) -> Admission {
        match self.state(now) {
            State::Closed => Admission::Allowed,
            State::Open => Admission::Rejected {
                retry_in: Some(Duration::from_millis(self.open_until.saturating_sub(now))),
            },
            State::HalfOpen if now < self.probe_until => Admission::Rejected { retry_in: None },
            State::HalfOpen => {
                self.probe_until = now.saturating_add(PROBE_LEASE_MS);
                Admission::Probe
            }
        }
    }

    pub fn record(
        &mut self,
        now: u64,
        cfg: &BreakerConfig,
        outcome: Outcome,
        probe: bool,
    ) -> Transition {
        if outcome == Outcome::Ignored {
            if probe {
                self.probe_until = 0;
            }
            return Transition::Unchanged;
        }
        let failed = outcome == Outcome::Failure;
        if self.open {
            // Only the probe decides; stragglers from before the opening are ignored.
            if !probe {
                return Transition::Unchanged;
            }
            if failed {
                self.trip(now, cfg);
                return Transition::Opened;
            }
            *self = Self::default();
            return Transition::Closed;
        }
        self.roll(now, cfg.window_ms());
        self.calls += 1.0;
        if failed {
            self.failures += 1.0;
            self.consecutive = self.consecutive.saturating_add(1);
        } else {
            self.consecutive = 0;
        }
        let (calls, failures) = self.weighted(now, cfg.window_ms());
        let rate_trips =
            calls >= f64::from(cfg.min_calls.max(1)) && failures / calls >= cfg.failure_rate;
        if failed && (self.consecutive >= cfg.failure_threshold || rate_trips) {
            self.trip(now, cfg);
            return Transition::Opened;
        }
        Transition::Unchanged
    }

    pub fn snapshot(&self, now: u64, cfg: &BreakerConfig, name: &str) -> Snapshot {
        let mut rolled = self.clone();
        rolled.roll(now, cfg.window_ms());
        let (calls, failures) = rolled.weighted(now, cfg.window_ms());
        let state = self.state(now);
        Snapshot {
            name: name.to_string(),
            state,
            consecutive_failures: self.consecutive,
            calls,
            failures,
            retry_in: (state == State::Open)
                .then(|| Duration::from_millis(self.open_until.saturating_sub(now))),
            shared: false,
        }
    }

    fn trip(&mut self, now: u64, cfg: &BreakerConfig) {
        self.open = true;
        self.open_until = now.saturating_add(cfg.cooldown_ms());
        self.probe_until = 0;
    }

    fn roll(&mut self, now: u64, window: u64) {
        let start = now.saturating_sub(now.checked_rem(window).unwrap_or(0));
        if start == self.bucket_start {
            return;
        }
        let adjacent = Some(start) == self.bucket_start.checked_add(window);
        (self.prev_calls, self.prev_failures) = if adjacent {
            (self.calls, self.failures)
        } else {
            (0.0, 0.0)
        };
        (self.calls, self.failures, self.bucket_start) = (0.0, 0.0, start);
    }

    fn weighted(&self, now: u64, window: u64) -> (f64, f64) {
        let into = (now.saturating_sub(self.bucket_start)) as f64 / window as f64;
        let w = (1.0 - into).clamp(0.0, 1.0);
        (
            self.calls + self.prev_calls * w,
            self.failures + self.prev_failures * w,
        )
    }
}

#[cfg(test)]
mod tests;
