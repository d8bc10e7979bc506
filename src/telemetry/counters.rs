//! The process-wide counters: one [`Series`] per provider and model, shared by every client of
//! the process that calls it, each number an atomic (a call's end is a handful of relaxed
//! adds, no lock, nothing allocated). Series are looked up when a client is built, never per
//! call, and kept for the life of the process: a counter must never go back, and there are as
//! many as models called.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use super::{outcome_index, CallEnd, OUTCOMES};

/// Upper bounds (seconds) of the latency histogram's buckets: the OpenTelemetry GenAI
/// conventions' boundaries for `gen_ai.client.operation.duration`, so both views agree.
pub const DURATION_BUCKETS: [f64; 14] = [
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];

/// Token types, in the order of [`Series::tokens`] and of the `type` label.
pub const TOKEN_TYPES: [&str; 4] = ["input", "output", "cache_read", "cache_write"];

/// The counters of one provider and model.
#[derive(Debug)]
pub struct Series {
    pub provider: String,
    pub model: String,
    /// Finished calls: successes, then each error kind.
    requests: [AtomicU64; OUTCOMES],
    /// Calls per latency bucket (not cumulative; the last is beyond the largest bound).
    buckets: [AtomicU64; DURATION_BUCKETS.len() + 1],
    latency_micros: AtomicU64,
    tokens: [AtomicU64; TOKEN_TYPES.len()],
    /// Nano-dollars: an integer adds atomically, and a billion calls at $10 each still fit.
    cost_nano_usd: AtomicU64,
    /// Requests sent beyond each call's first.
    retries: AtomicU64,
    retry_wait_micros: AtomicU64,
    rate_limit_wait_micros: AtomicU64,
    in_flight: AtomicI64,
}

/// Every series of the process, in the order they were first used.
static SERIES: LazyLock<Mutex<Vec<Arc<Series>>>> = LazyLock::new(Mutex::default);

/// The series of `provider` and `model`, made on first use.
pub(super) fn series(provider: &str, model: &str) -> Arc<Series> {
    let mut all = SERIES.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(s) = all
        .iter()
        .find(|s| s.provider == provider && s.model == model)
    {
        return s.clone();
    }
    let s = Arc::new(Series::new(provider, model));
    all.push(s.clone());
    s
}

/// A copy of the list of series, so a scrape reads them without holding the lock.
pub(super) fn all() -> Vec<Arc<Series>> {
    SERIES.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl Series {
    fn new(provider: &str, model: &str) -> Self {
        Self {
            provider: provider.to_string(),
            model: model.to_string(),
            requests: Default::default(),
            buckets: Default::default(),
            latency_micros: AtomicU64::new(0),
            tokens: Default::default(),
            cost_nano_usd: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            retry_wait_micros: AtomicU64::new(0),
            rate_limit_wait_micros: AtomicU64::new(0),
            in_flight: AtomicI64::new(0),
        }
    }

    pub(super) fn enter(&self) {
        self.in_flight.fetch_add(1, Relaxed);
    }

    pub(super) fn leave(&self) {
        self.in_flight.fetch_sub(1, Relaxed);
    }

    pub(super) fn record(&self, end: &CallEnd<'_>, latency: Duration) {
        if let Some(n) = self.requests.get(outcome_index(end.outcome)) {
            n.fetch_add(1, Relaxed);
        }
        let secs = latency.as_secs_f64();
        let bucket = DURATION_BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(DURATION_BUCKETS.len());
        if let Some(b) = self.buckets.get(bucket) {
            b.fetch_add(1, Relaxed);
        }
        self.latency_micros.fetch_add(micros(latency), Relaxed);
        if let Some(u) = end.usage {
            let counts = [
                u.input_tokens,
                u.output_tokens,
                u.cache_read_tokens,
                u.cache_write_tokens,
            ];
            for (n, add) in self.tokens.iter().zip(counts) {
                if add > 0 {
                    n.fetch_add(add, Relaxed);
                }
            }
        }
        if let Some(cost) = end.cost_usd.filter(|c| c.is_finite() && *c > 0.0) {
            // Rounded to the nano-dollar; the float-to-int cast saturates.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let nano = (cost * 1e9).round() as u64;
            self.cost_nano_usd.fetch_add(nano, Relaxed);
        }
        if end.attempts > 1 {
            self.retries
                .fetch_add(u64::from(end.attempts.saturating_sub(1)), Relaxed);
        }
        if !end.retry_wait.is_zero() {
            self.retry_wait_micros
                .fetch_add(micros(end.retry_wait), Relaxed);
        }
        if !end.rate_limit_wait.is_zero() {
            self.rate_limit_wait_micros
                .fetch_add(micros(end.rate_limit_wait), Relaxed);
        }
    }

    /// Finished calls per outcome index (see `outcome_label`).
    pub fn requests(&self) -> [u64; OUTCOMES] {
        std::array::from_fn(|i| self.requests.get(i).map_or(0, |n| n.load(Relaxed)))
    }

    /// Calls per latency bucket, cumulative as Prometheus wants them (`le`), the last `+Inf`.
    pub fn cumulative_buckets(&self) -> [u64; DURATION_BUCKETS.len() + 1] {
        let mut total = 0u64;
        std::array::from_fn(|i| {
            total = total.saturating_add(self.buckets.get(i).map_or(0, |n| n.load(Relaxed)));
            total
        })
    }

    pub fn latency_sum(&self) -> f64 {
        seconds(self.latency_micros.load(Relaxed))
    }

    /// Tokens per type, in [`TOKEN_TYPES`]' order.
    pub fn tokens(&self) -> [u64; TOKEN_TYPES.len()] {
        std::array::from_fn(|i| self.tokens.get(i).map_or(0, |n| n.load(Relaxed)))
    }

    pub fn cost_usd(&self) -> f64 {
        nano_to_usd(self.cost_nano_usd.load(Relaxed))
    }

    pub fn retries(&self) -> u64 {
        self.retries.load(Relaxed)
    }

    pub fn retry_wait(&self) -> f64 {
        seconds(self.retry_wait_micros.load(Relaxed))
    }

    pub fn rate_limit_wait(&self) -> f64 {
        seconds(self.rate_limit_wait_micros.load(Relaxed))
    }

    pub fn in_flight(&self) -> i64 {
        self.in_flight.load(Relaxed)
    }
}

// Counters read as floats for the exposition: exact up to 2^53, beyond any real total.
#[allow(clippy::cast_precision_loss)]
fn seconds(micros: u64) -> f64 {
    micros as f64 / 1e6
}

#[allow(clippy::cast_precision_loss)]
pub(super) fn nano_to_usd(nano: u64) -> f64 {
    nano as f64 / 1e9
}
