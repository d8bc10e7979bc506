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
use std::time::{Duration, Instant, SystemTime};

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
    /// Keep one [`AttemptRecord`] per request in the report (for tracing): off, a call
    /// allocates nothing for it.
    pub record: bool,
    /// The request for each fallback target made again (a prompt template's variant).
    pub retarget: Option<fallback::Retarget>,
}

/// How a call went, beyond its answer.
#[derive(Debug, Clone, Default, PartialEq)]
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
    /// Every request sent, in order, when the call asked for them ([`CallOptions::record`]).
    pub log: Option<Vec<AttemptRecord>>,
}

impl CallReport {
    /// An empty report that keeps a log of the attempts if `record`.
    pub fn recording(record: bool) -> Self {
        Self {
            log: record.then(Vec::new),
            ..Self::default()
        }
    }

    /// How many attempts the log holds (0 when not recording).
    pub fn logged(&self) -> usize {
        self.log.as_ref().map_or(0, Vec::len)
    }

    /// Name the target of the attempts logged since `from`: the walk over the targets knows
    /// it, the retry loop does not.
    pub fn stamp(&mut self, from: usize, fallback: Option<usize>, target: &Arc<TargetInfo>) {
        if let Some(log) = &mut self.log {
            for record in log.iter_mut().skip(from) {
                record.fallback = fallback;
                record.target = Some(target.clone());
            }
        }
    }
}

/// Where a target's requests go, as a trace names it: no key, no path, no query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetInfo {
    pub provider: &'static str,
    pub model: String,
    /// The server's host name or IP address.
    pub address: String,
    pub port: Option<u16>,
}

impl TargetInfo {
    /// From a target's base URL; the port is the scheme's default when the URL names none.
    pub fn new(provider: &'static str, model: &str, base_url: &str) -> Self {
        let url = url::Url::parse(base_url).ok();
        Self {
            provider,
            model: model.to_string(),
            address: url
                .as_ref()
                .and_then(|u| u.host_str().map(str::to_string))
                .unwrap_or_default(),
            port: url.as_ref().and_then(url::Url::port_or_known_default),
        }
    }
}

/// One request of a call: which target, when, how long, how it ended, and what was waited
/// before it.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptRecord {
    /// `None` for the primary target, else which fallback (0 is the first).
    pub fallback: Option<usize>,
    /// Set by the walk over the targets once the target's attempts are over.
    pub target: Option<Arc<TargetInfo>>,
    /// Wall-clock time the request was started (a trace's spans need it).
    pub started: SystemTime,
    pub duration: Duration,
    /// The HTTP status, when an answer came (none for a connection failure or timeout).
    pub status: Option<u16>,
    /// How it failed; `None` for the attempt that answered.
    pub error: Option<ErrorKind>,
    /// Slept before it, after the previous attempt failed.
    pub retry_wait: Duration,
    /// That sleep was the server's Retry-After (or rate-limit reset), not the backoff.
    pub retry_after: bool,
    /// Waited before it for rate-limit capacity.
    pub rate_limit_wait: Duration,
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
    /// The HTTP status of the answer, when one came.
    pub status: Option<u16>,
}

impl<T> Attempt<T> {
    pub fn failed(e: LlmError) -> Self {
        Self {
            result: Err(e),
            quota: None,
            used_tokens: None,
            started: false,
            status: None,
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
    // What was slept before the next attempt, for its record: (wait, the server asked for it).
    let mut slept = (Duration::ZERO, false);
    for n in 1..=policy.max_attempts.max(1) {
        let mut rate_limit_wait = Duration::ZERO;
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
                    rate_limit_wait = waited;
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
        let clock = report
            .log
            .is_some()
            .then(|| (SystemTime::now(), Instant::now()));
        let out = attempt(left).await;
        if let (Some(log), Some((started, t0))) = (&mut report.log, clock) {
            let (status, error) = match &out.result {
                Ok(_) => (out.status, None),
                Err(e) => (e.status.or(out.status), Some(e.kind)),
            };
            log.push(AttemptRecord {
                fallback: None,
                target: None,
                started,
                duration: t0.elapsed(),
                status,
                error,
                retry_wait: slept.0,
                retry_after: slept.1,
                rate_limit_wait,
            });
        }
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
        slept = (wait, e.retry_after.is_some());
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
