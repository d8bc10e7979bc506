//! Resilience layers that wrap any provider: retry, rate limit, circuit breaker, fallback and
//! deadlines. Providers never see them; the client's pipeline (`client/pipeline.rs`) runs every
//! call through [`run_target`] for each target in turn (the primary model, then the fallbacks),
//! and keeps the state of breakers and limits per target for the whole process
//! (`client/registry.rs`).
//!
//! Per attempt, outermost first: the call's deadline, the breaker (fail fast while open), the
//! rate limiter (reserve tokens, maybe wait), then the attempt itself; its result settles the
//! reservation, feeds the breaker, and decides whether and when to retry.
//!
//! Which way the arrows point inside: `clock` (time as milliseconds) and `redis` (the one
//! connection per Redis server) are the floor and know no layer; `breaker` and `ratelimit` each
//! stand on them, with their own Redis script beside them (`breaker/redis.rs`,
//! `ratelimit/redis.rs`) and no arrow between the two; this file composes the layers.

// Every number here may come from a server's reply or a user's argument: integer overflow and
// `Instant`/`Duration` arithmetic are checked or saturating, never a panic (issue 13).
#![deny(clippy::arithmetic_side_effects)]

pub mod breaker;
mod clock;
pub mod estimate;
pub mod fallback;
pub mod ratelimit;
pub mod redis;
pub mod retry;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{ErrorKind, LlmError, Result};
use crate::providers::quota::Quota;

use breaker::{Breaker, Outcome};
use ratelimit::Limiter;
use retry::{is_retriable, RetryPolicy};

/// Per-call overrides of the client's policy.
#[derive(Debug, Clone, Default)]
pub struct CallOptions {
    pub retry: Option<RetryPolicy>,
    /// The whole call, all retries and waits included.
    pub deadline: Option<Duration>,
    /// The request for each fallback target made again (a prompt template's variant).
    pub retarget: Option<fallback::Retarget>,
}

/// How a call went, beyond its answer.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CallReport {
    /// Requests sent, over every target.
    pub attempts: u32,
    /// Time slept between attempts (backoff and server-requested waits).
    pub retry_wait: Duration,
    /// Time spent waiting for rate-limit capacity.
    pub rate_limit_wait: Duration,
    /// Which fallback answered (0 is the first fallback); `None` for the primary model.
    pub fallback: Option<usize>,
    /// A stream delivered events before failing: neither a retry nor a fallback may follow.
    pub delivered: bool,
}

/// The layers guarding one target (provider + model).
#[derive(Clone, Default)]
pub struct Guards {
    pub breaker: Option<Arc<Breaker>>,
    pub limiter: Option<Arc<Limiter>>,
}

/// What one attempt produced, with what the layers need to learn from it.
pub struct Attempt<T> {
    pub result: Result<T>,
    /// The provider's rate-limit headers, if it sent any.
    pub quota: Option<Quota>,
    /// Tokens really used (input + output), when the provider said.
    pub used_tokens: Option<u64>,
    /// A stream that already delivered events cannot be retried: the caller has seen them.
    pub started: bool,
}

impl<T> Attempt<T> {
    pub fn failed(e: LlmError) -> Self {
        Self {
            result: Err(e),
            quota: None,
            used_tokens: None,
            started: false,
        }
    }
}

/// Run attempts against one target until one succeeds, the error is final, the policy's
/// attempts are spent, or the deadline would pass. `attempt` gets the time left before the
/// deadline, to cap its own timeout with.
pub async fn run_target<T, F, Fut>(
    guards: &Guards,
    policy: &RetryPolicy,
    deadline: Option<Instant>,
    reserve_tokens: u64,
    report: &mut CallReport,
    mut attempt: F,
) -> Result<T>
where
    F: FnMut(Option<Duration>) -> Fut,
    Fut: Future<Output = Attempt<T>>,
{
    let mut last: Option<LlmError> = None;
    for n in 1..=policy.max_attempts.max(1) {
        // A later failure of the guards ends the call with the last real error, which says more.
        let permit = match &guards.breaker {
            Some(b) => match b.admit().await {
                Ok(p) => Some(p),
                Err(open) => return Err(finish(last.unwrap_or(open), report)),
            },
            None => None,
        };
        let ticket = match &guards.limiter {
            Some(l) => match l.acquire(reserve_tokens, deadline).await {
                Ok((ticket, waited)) => {
                    report.rate_limit_wait = report.rate_limit_wait.saturating_add(waited);
                    Some(ticket)
                }
                Err(limited) => return Err(finish(last.unwrap_or(limited), report)),
            },
            None => None,
        };
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if left.is_some_and(|l| l.is_zero()) {
            return Err(finish(last.unwrap_or_else(deadline_passed), report));
        }
        report.attempts = report.attempts.saturating_add(1);
        let out = attempt(left).await;
        if let (Some(l), Some(t)) = (&guards.limiter, ticket) {
            // A failed attempt still counted as a request; its tokens are mostly not billed.
            l.settle(t, out.used_tokens.unwrap_or(reserve_tokens)).await;
            if let Some(q) = out.quota {
                l.tighten(q).await;
            }
        }
        if let Some(p) = permit {
            p.record(Outcome::of(&out.result)).await;
        }
        let mut e = match out.result {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        if deadline.is_some_and(|d| Instant::now() >= d) && e.kind == ErrorKind::Timeout {
            e.message = format!("{} (the call's deadline passed)", e.message);
        }
        report.delivered |= out.started;
        if out.started || !is_retriable(&e) || n == policy.max_attempts {
            return Err(finish(e, report));
        }
        // A server asking for longer than the policy waits, or than the deadline leaves, gets
        // no retry: the caller has the error with its `retry_after` at once.
        let Some(wait) = policy.delay(&e, n, &mut rand::rng()) else {
            let asked = e.retry_after.unwrap_or_default().as_secs_f64();
            e.message = format!(
                "{} (not retried: the server asks to wait {asked:.0} s, longer than the retry policy's max_delay of {} s)",
                e.message,
                policy.max_delay.as_secs_f64()
            );
            return Err(finish(e, report));
        };
        if deadline.is_some_and(|d| crate::duration::after(Instant::now(), wait) >= d) {
            return Err(finish(e, report));
        }
        tracing::debug!(attempt = n, wait_ms = clock::millis(wait), error = %e, "retrying");
        // A replayed failure is followed by a replayed retry: wait at the cassette's pace.
        let wait = crate::replay::paced(wait);
        tokio::time::sleep(wait).await;
        report.retry_wait = report.retry_wait.saturating_add(wait);
        last = Some(e);
    }
    Err(finish(last.unwrap_or_else(deadline_passed), report))
}

/// Stamp the totals of the call on its final error.
fn finish(mut e: LlmError, report: &CallReport) -> LlmError {
    e.attempts = report.attempts;
    e.retry_wait = report.retry_wait;
    e
}

fn deadline_passed() -> LlmError {
    LlmError::new(
        ErrorKind::Timeout,
        "the call's deadline passed before a request could be sent",
    )
}

/// When the call must be over, from the client's and the call's settings (the call's wins).
pub fn deadline_from(client: Option<Duration>, call: Option<Duration>) -> Option<Instant> {
    call.or(client)
        .map(|d| crate::duration::after(Instant::now(), d))
}

#[cfg(test)]
mod tests;
