//! One client's totals (`client.stats()`): calls, errors by kind, tokens, cost, and latency
//! quantiles from a DDSketch (relative error 1 %, constant memory, mergeable), since the
//! client was built or since it was last read with `reset`.
//!
//! The totals sit behind one mutex, held for a few additions per call: a read (or a read that
//! resets) sees one consistent moment, with no call counted in one total and not another, and
//! none lost between a read and its reset. The process-wide counters (`counters.rs`) are the
//! lock-free ones.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use sketches_ddsketch::DDSketch;

use super::{outcome_index, outcome_label, CallEnd, OUTCOMES};

/// A client's totals as read.
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    /// Calls finished, successful or not.
    pub requests: u64,
    /// Failed calls per error kind, by the exception's class name (`RateLimitError`).
    pub errors: Vec<(&'static str, u64)>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    pub cost_usd: f64,
    /// Latency quantiles over every call (failed ones too); `None` before the first call.
    pub latency_p50: Option<Duration>,
    pub latency_p95: Option<Duration>,
    pub latency_p99: Option<Duration>,
    /// When counting began: the client's creation or the last reset.
    pub since: SystemTime,
}

struct Totals {
    outcomes: [u64; OUTCOMES],
    tokens: [u64; 4],
    cost_usd: f64,
    latency: DDSketch,
    since: SystemTime,
}

impl Default for Totals {
    fn default() -> Self {
        Self {
            outcomes: [0; OUTCOMES],
            tokens: [0; 4],
            cost_usd: 0.0,
            // Relative error 1 % (a 2.0 s p99 reads between 1.98 and 2.02 s), at most 2048 bins.
            latency: DDSketch::new(sketches_ddsketch::Config::new(0.01, 2048, 1.0e-9)),
            since: SystemTime::now(),
        }
    }
}

/// One client's totals, updated at the end of each of its calls.
#[derive(Default)]
pub struct ClientStats {
    totals: Mutex<Totals>,
}

impl ClientStats {
    pub(super) fn record(&self, end: &CallEnd<'_>, latency: Duration) {
        let mut t = self.totals.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = t.outcomes.get_mut(outcome_index(end.outcome)) {
            *n = n.saturating_add(1);
        }
        if let Some(u) = end.usage {
            let add = [
                u.input_tokens,
                u.output_tokens,
                u.cache_read_tokens,
                u.cache_write_tokens,
            ];
            for (n, a) in t.tokens.iter_mut().zip(add) {
                *n = n.saturating_add(a);
            }
        }
        if let Some(c) = end.cost_usd.filter(|c| c.is_finite()) {
            t.cost_usd += c;
        }
        t.latency.add(latency.as_secs_f64());
    }

    /// The totals so far; with `reset`, counting starts again from zero in the same moment.
    pub fn read(&self, reset: bool) -> Stats {
        let mut guard = self.totals.lock().unwrap_or_else(|p| p.into_inner());
        let t = if reset {
            std::mem::take(&mut *guard)
        } else {
            Totals {
                outcomes: guard.outcomes,
                tokens: guard.tokens,
                cost_usd: guard.cost_usd,
                latency: guard.latency.clone(),
                since: guard.since,
            }
        };
        drop(guard);
        let quantile = |q: f64| {
            t.latency
                .quantile(q)
                .ok()
                .flatten()
                .and_then(crate::duration::from_secs)
        };
        Stats {
            requests: t.outcomes.iter().fold(0u64, |a, n| a.saturating_add(*n)),
            errors: t
                .outcomes
                .iter()
                .enumerate()
                .skip(1)
                .filter(|(_, n)| **n > 0)
                .map(|(i, n)| (outcome_label(i), *n))
                .collect(),
            input_tokens: t.tokens[0],
            output_tokens: t.tokens[1],
            cache_read_tokens: t.tokens[2],
            cache_write_tokens: t.tokens[3],
            cost_usd: t.cost_usd,
            latency_p50: quantile(0.5),
            latency_p95: quantile(0.95),
            latency_p99: quantile(0.99),
            since: t.since,
        }
    }
}
