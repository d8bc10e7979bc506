//! Durations from numbers nobody vouched for: a server's headers, a user's arguments, a
//! cassette's timings.
//!
//! `Duration::from_secs_f64` and `mul_f64` panic on NaN, negatives and anything above
//! `u64::MAX` seconds, and `Instant + Duration` panics past the clock's range; a header such as
//! `retry-after: 1e300` reached the first. Clippy bans those calls (clippy.toml); these helpers
//! take their place and saturate at [`LONGEST`] instead.

use std::time::{Duration, Instant};

/// The longest wait, timeout or deadline llmrail deals in: 10⁹ s, about 31.7 years. Anything
/// longer is a typo or a hostile server, and the bound keeps every value derived from it in
/// range: Python's `time.sleep` and asyncio timers (int64 nanoseconds, ~292 years), instants on
/// every platform's clock, milliseconds in u64 and in Redis's Lua doubles.
pub const LONGEST: Duration = Duration::from_secs(1_000_000_000);

/// [`LONGEST`] in seconds (a test checks they agree), for messages and comparisons.
pub const LONGEST_SECS: f64 = 1e9;

/// `secs` seconds, at most [`LONGEST`]; `None` for NaN and negative numbers.
pub fn from_secs(secs: f64) -> Option<Duration> {
    // NaN fails every comparison; -0.0 passes and is zero.
    if secs.is_nan() || secs < 0.0 {
        return None;
    }
    Some(Duration::try_from_secs_f64(secs.min(LONGEST_SECS)).unwrap_or(Duration::ZERO))
}

/// `ms` milliseconds, at most [`LONGEST`]; `None` for NaN and negative numbers.
pub fn from_millis(ms: f64) -> Option<Duration> {
    from_secs(ms / 1000.0)
}

/// `d` times `factor` (a pace, a multiplier), at most [`LONGEST`]; zero for a NaN or negative
/// factor.
pub fn scaled(d: Duration, factor: f64) -> Duration {
    from_secs(d.as_secs_f64() * factor).unwrap_or(Duration::ZERO)
}

/// The instant `d` after `from`, with `d` cut to [`LONGEST`], so it is always on the clock.
pub fn after(from: Instant, d: Duration) -> Instant {
    from.checked_add(d.min(LONGEST)).unwrap_or(from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_duration_is_the_same_in_both_units() {
        assert_eq!(LONGEST.as_secs_f64(), LONGEST_SECS);
    }

    #[test]
    fn seconds_saturate_at_the_longest_duration_instead_of_panicking() {
        assert_eq!(from_secs(1.5), Some(Duration::from_millis(1500)));
        assert_eq!(from_secs(-0.0), Some(Duration::ZERO));
        assert_eq!(from_secs(1e300), Some(LONGEST));
        assert_eq!(from_secs(18_446_744_073_709_551_616.0), Some(LONGEST));
        assert_eq!(from_secs(f64::INFINITY), Some(LONGEST));
        assert_eq!(from_secs(f64::NAN), None);
        assert_eq!(from_secs(-1.0), None);
        assert_eq!(from_millis(1e300), Some(LONGEST));
        assert_eq!(from_millis(250.0), Some(Duration::from_millis(250)));
    }

    #[test]
    fn scaling_saturates_and_never_goes_negative() {
        let s = Duration::from_secs(2);
        assert_eq!(scaled(s, 0.5), Duration::from_secs(1));
        assert_eq!(scaled(s, 1e300), LONGEST);
        assert_eq!(scaled(Duration::MAX, 2.0), LONGEST);
        assert_eq!(scaled(s, -1.0), Duration::ZERO);
        assert_eq!(scaled(s, f64::NAN), Duration::ZERO);
    }

    #[test]
    fn an_instant_far_in_the_future_stays_on_the_clock() {
        let now = Instant::now();
        assert_eq!(
            after(now, Duration::from_secs(3)),
            now + Duration::from_secs(3)
        );
        assert_eq!(after(now, Duration::MAX), now + LONGEST);
    }
}
