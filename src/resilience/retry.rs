//! Which failures deserve another attempt, and how long to wait before it.

use std::time::Duration;

use rand::Rng;

use crate::error::{ErrorKind, LlmError, Result};

/// HTTP statuses worth retrying: timeouts, conflicts (OpenAI's lock timeouts), rate limits,
/// server failures and Anthropic's 529 "overloaded". Every other 4xx is the caller's to fix.
pub const RETRIABLE_STATUSES: [u16; 8] = [408, 409, 429, 500, 502, 503, 504, 529];

/// How the backoff delay is randomised, so that many clients failing together do not retry
/// together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jitter {
    /// Uniform in `[0, delay]` (AWS's "full jitter": the least synchronised).
    Full,
    /// Uniform in `[delay / 2, delay]`.
    Equal,
    /// Exactly `delay`.
    None,
}

impl Jitter {
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "full" => Ok(Self::Full),
            "equal" => Ok(Self::Equal),
            "none" => Ok(Self::None),
            other => Err(LlmError::config(format!(
                "jitter must be \"full\", \"equal\" or \"none\", got {other:?}"
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::Equal => "equal",
            Self::None => "none",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included: 1 means no retry.
    pub max_attempts: u32,
    /// The backoff before the first retry (before jitter).
    pub initial_delay: Duration,
    /// No wait is longer than this. A server asking for longer (a 429 with `Retry-After: 3600`)
    /// is not retried: the error, with its `retry_after`, goes to the caller, who decides.
    pub max_delay: Duration,
    /// Growth of the backoff from one retry to the next.
    pub multiplier: f64,
    pub jitter: Jitter,
}

impl Default for RetryPolicy {
    /// Three retries, 0.5 s, 1 s, 2 s before jitter, as the official SDKs do; a server's
    /// Retry-After of up to 30 s is waited for, a longer one ends the retries.
    fn default() -> Self {
        Self {
            max_attempts: 4,
            initial_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            multiplier: 2.0,
            jitter: Jitter::Full,
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn never() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    pub fn validate(&self) -> Result<()> {
        if self.max_attempts == 0 {
            return Err(LlmError::config("max_attempts must be at least 1"));
        }
        if !(self.multiplier.is_finite() && self.multiplier >= 1.0) {
            return Err(LlmError::config(format!(
                "multiplier must be a number >= 1, got {}",
                self.multiplier
            )));
        }
        if self.initial_delay > self.max_delay {
            return Err(LlmError::config(
                "initial_delay must not be longer than max_delay",
            ));
        }
        Ok(())
    }

    /// The jittered backoff before retry number `retry` (1 for the first retry).
    pub fn backoff(&self, retry: u32, rng: &mut impl Rng) -> Duration {
        let exp = i32::try_from(retry.saturating_sub(1)).unwrap_or(i32::MAX);
        // `min` also maps the NaN of 0 s times an overflowed power to the cap.
        let base = self.initial_delay.as_secs_f64() * self.multiplier.powi(exp);
        let cap = base.min(self.max_delay.as_secs_f64());
        let secs = match self.jitter {
            Jitter::Full => rng.random_range(0.0..=cap),
            Jitter::Equal => rng.random_range(cap / 2.0..=cap),
            Jitter::None => cap,
        };
        crate::duration::from_secs(secs).unwrap_or(Duration::ZERO)
    }

    /// The wait before retry number `retry` after `e`: what the server asked for (Retry-After,
    /// retry-after-ms, rate-limit reset headers), else the backoff. `None` when the server asks
    /// for longer than `max_delay`: sleeping a shorter time and asking again would only be
    /// refused again, so the caller gets the error and its `retry_after` at once.
    pub fn delay(&self, e: &LlmError, retry: u32, rng: &mut impl Rng) -> Option<Duration> {
        match e.retry_after {
            Some(asked) if asked > self.max_delay => None,
            Some(asked) => Some(asked),
            None => Some(self.backoff(retry, rng)),
        }
    }
}

/// Whether another attempt could succeed where this one failed.
pub fn is_retriable(e: &LlmError) -> bool {
    match e.status {
        Some(status) => RETRIABLE_STATUSES.contains(&status),
        // No status: a transport failure, or an error event inside a 200 stream (Anthropic
        // sends overloaded_error that way).
        None => matches!(
            e.kind,
            ErrorKind::Connection
                | ErrorKind::Timeout
                | ErrorKind::RateLimit
                | ErrorKind::Overloaded
                | ErrorKind::Server
        ),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use rand::SeedableRng;

    fn status(s: u16) -> LlmError {
        let mut e = LlmError::new(ErrorKind::from_status(s), "x");
        e.status = Some(s);
        e
    }

    #[test]
    fn classification_follows_the_issue() {
        for s in RETRIABLE_STATUSES {
            assert!(is_retriable(&status(s)), "{s}");
        }
        for s in [400, 401, 403, 404, 413, 422, 501] {
            assert!(!is_retriable(&status(s)), "{s}");
        }
        assert!(is_retriable(&LlmError::new(ErrorKind::Connection, "reset")));
        assert!(is_retriable(&LlmError::new(ErrorKind::Timeout, "slow")));
        assert!(!is_retriable(&LlmError::invalid_response("junk")));
        assert!(!is_retriable(&LlmError::config("bad")));
        assert!(!is_retriable(&LlmError::new(ErrorKind::Cancelled, "x")));
    }

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let p = RetryPolicy {
            jitter: Jitter::None,
            max_delay: Duration::from_secs(3),
            ..RetryPolicy::default()
        };
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let waits: Vec<_> = (1..=5).map(|n| p.backoff(n, &mut rng)).collect();
        assert_eq!(waits[0], Duration::from_millis(500));
        assert_eq!(waits[1], Duration::from_secs(1));
        assert_eq!(waits[2], Duration::from_secs(2));
        assert_eq!(waits[3], Duration::from_secs(3));
        let full = RetryPolicy::default();
        for n in 1..50 {
            assert!(full.backoff(3, &mut rng) <= Duration::from_secs(2), "{n}");
        }
        let equal = RetryPolicy {
            jitter: Jitter::Equal,
            ..RetryPolicy::default()
        };
        assert!(equal.backoff(1, &mut rng) >= Duration::from_millis(250));
    }

    #[test]
    fn server_hints_win_and_one_beyond_max_delay_ends_the_retries() {
        let p = RetryPolicy::default();
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let mut e = status(429);
        e.retry_after = Some(Duration::from_secs(2));
        assert_eq!(p.delay(&e, 1, &mut rng), Some(Duration::from_secs(2)));
        e.retry_after = Some(Duration::from_secs(30));
        assert_eq!(p.delay(&e, 1, &mut rng), Some(Duration::from_secs(30)));
        e.retry_after = Some(Duration::from_secs(3600));
        assert_eq!(p.delay(&e, 1, &mut rng), None);
        e.retry_after = None;
        assert!(p.delay(&e, 1, &mut rng).is_some());
    }

    #[test]
    fn backoff_stays_in_range_for_extreme_policies() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let p = RetryPolicy {
            initial_delay: Duration::ZERO,
            max_delay: crate::duration::LONGEST,
            multiplier: 1e300,
            jitter: Jitter::None,
            ..RetryPolicy::default()
        };
        for retry in [1, 2, 3, u32::MAX] {
            assert!(p.backoff(retry, &mut rng) <= crate::duration::LONGEST);
        }
        let p = RetryPolicy {
            initial_delay: crate::duration::LONGEST,
            ..p
        };
        assert_eq!(p.backoff(u32::MAX, &mut rng), crate::duration::LONGEST);
    }

    #[test]
    fn bad_policies_are_refused() {
        assert!(RetryPolicy {
            max_attempts: 0,
            ..RetryPolicy::default()
        }
        .validate()
        .is_err());
        assert!(RetryPolicy {
            multiplier: 0.5,
            ..RetryPolicy::default()
        }
        .validate()
        .is_err());
        assert!(Jitter::parse("some").is_err());
        assert_eq!(Jitter::parse("full").unwrap(), Jitter::Full);
    }
}
