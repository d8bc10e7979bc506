//! Time as the resilience layers count it: whole milliseconds on a monotonic clock.
//!
//! The breaker's state machine, the rate limiter's sliding log and the Redis scripts all take
//! time as a plain `u64` of milliseconds (so the machines are tested without clocks, and the
//! same numbers travel to Lua). This is the one place that turns an `Instant` or a `Duration`
//! into that number; everything in `resilience` may point down at it, it points at nothing.

use std::time::{Duration, Instant};

/// A monotonic clock that reads milliseconds since it was started.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    epoch: Instant,
}

impl Clock {
    pub(crate) fn start() -> Self {
        Self {
            epoch: Instant::now(),
        }
    }

    /// Milliseconds since [`Clock::start`].
    pub(crate) fn now_ms(&self) -> u64 {
        millis(self.epoch.elapsed())
    }
}

/// `d` in whole milliseconds, saturating (a `Duration` may hold more than a `u64` of them).
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_duration_too_long_for_u64_milliseconds_saturates() {
        assert_eq!(millis(Duration::from_millis(1500)), 1500);
        assert_eq!(millis(Duration::MAX), u64::MAX);
    }

    #[test]
    fn a_clock_reads_the_milliseconds_since_it_started() {
        let clock = Clock::start();
        std::thread::sleep(Duration::from_millis(5));
        assert!(clock.now_ms() >= 5);
    }
}
