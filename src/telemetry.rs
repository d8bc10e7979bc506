//! What every call leaves behind for operators: process-wide counters per provider and model
//! (`counters.rs`: atomics, read by `metrics_text()` and the Prometheus collector), each
//! client's own totals with latency quantiles (`stats.rs`: `client.stats()`), gauges that
//! other layers offer for a scrape (`sources.rs`: breaker states, queue depths), and the
//! Prometheus text exposition of all of it (`exposition.rs`).
//!
//! The call path touches this module once: the client's pipeline wraps each call in
//! [`Recorder::observe`], which counts it in flight, and at its end records its [`CallEnd`] in
//! the target's counters and the client's totals. A call dropped before its end (cancelled by
//! the caller) is recorded as `Cancelled`. Nothing here knows Python, a client or a breaker:
//! the layers above hand over plain numbers, and offer their gauges as [`Source`]s. Each call's
//! end is also one log record with its facts as key-values (`log.rs`).

mod counters;
mod exposition;
mod log;
mod sources;
mod stats;
#[cfg(test)]
mod tests;

pub use counters::{Series, DURATION_BUCKETS};
pub use exposition::metrics_text;
pub use sources::{add_source, Family, Sample, Samples, Source};
pub use stats::{ClientStats, Stats};

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::ErrorKind;
use crate::model::Usage;

/// How one call ended, as the counters need it.
#[derive(Debug, Clone, Copy)]
pub struct CallEnd<'a> {
    /// Which of the recorder's targets answered (or failed last): 0 is the primary.
    pub target: usize,
    pub outcome: Result<(), ErrorKind>,
    /// The HTTP status of a failed call's last answer, when there was one.
    pub http_status: Option<u16>,
    /// What the answer used; `None` for a failed call.
    pub usage: Option<&'a Usage>,
    pub cost_usd: Option<f64>,
    /// Requests sent, over every target.
    pub attempts: u32,
    pub retry_wait: Duration,
    pub rate_limit_wait: Duration,
}

/// One client's share of the telemetry: the counters of each of its targets (primary first),
/// resolved when the client is built so that a call looks nothing up, and its own totals.
pub struct Recorder {
    targets: Vec<Arc<Series>>,
    stats: Arc<ClientStats>,
}

impl Recorder {
    /// `targets`: (provider, model) of each target, primary first.
    pub fn new<'a>(targets: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self {
            targets: targets
                .into_iter()
                .map(|(provider, model)| counters::series(provider, model))
                .collect(),
            stats: Arc::new(ClientStats::default()),
        }
    }

    /// Count into `other`'s client totals instead of a fresh set: a client's image calls that
    /// name a model of their own have their own targets but are still that client's calls.
    pub fn sharing_stats(mut self, other: &Recorder) -> Self {
        self.stats = other.stats.clone();
        self
    }

    /// This client's totals since it was built or last reset.
    pub fn stats(&self) -> &ClientStats {
        &self.stats
    }

    /// Run one call: in flight while `call` runs, then recorded as `end` describes its output.
    /// `end` is a function, not a closure, so that it may borrow from the output it reads.
    ///
    /// `call` comes pinned in the caller's state, not by value: an async fn keeps an argument
    /// twice in its own state (once as given, once where it is awaited), and a chat's whole
    /// pipeline passes through here; by value, a chat call's state was 18 KB, and every layer
    /// that starts it copies that much.
    pub async fn observe<F, O>(&self, call: Pin<&mut F>, end: fn(&O) -> CallEnd<'_>) -> O
    where
        F: Future<Output = O>,
    {
        let watch = Watch::start(self);
        let out = call.await;
        watch.finish(&end(&out));
        out
    }

    fn record(&self, end: &CallEnd<'_>, latency: Duration) {
        // A target index out of range would be a bug in the caller; the primary is counted.
        let series = self.targets.get(end.target).or(self.targets.first());
        if let Some(s) = series {
            s.record(end, latency);
            log::call_finished(&s.provider, &s.model, end, latency);
        }
        self.stats.record(end, latency);
    }
}

/// For `make bench`: `n` calls (ready futures, with a chat's usage and cost) run through
/// [`Recorder::observe`] and `n` run bare, timed in turns on this thread: (with, without). Their
/// difference is what the telemetry adds to each call.
pub fn overhead(n: u32) -> (Duration, Duration) {
    use futures_util::FutureExt;
    use std::hint::black_box;

    fn end(usage: &Usage) -> CallEnd<'_> {
        CallEnd {
            target: 0,
            outcome: Ok(()),
            http_status: None,
            usage: Some(usage),
            cost_usd: Some(0.000_35),
            attempts: 1,
            retry_wait: Duration::ZERO,
            rate_limit_wait: Duration::ZERO,
        }
    }
    let rec = Recorder::new([("bench", "telemetry-overhead")]);
    let usage = Usage {
        input_tokens: 100,
        output_tokens: 20,
        ..Usage::default()
    };
    let started = Instant::now();
    for _ in 0..n {
        black_box(
            rec.observe(std::pin::pin!(std::future::ready(black_box(usage))), end)
                .now_or_never(),
        );
    }
    let with = started.elapsed();
    let started = Instant::now();
    for _ in 0..n {
        black_box(std::future::ready(black_box(usage)).now_or_never());
    }
    (with, started.elapsed())
}

/// A call in flight: counted on the primary's series until [`Watch::finish`], or until dropped
/// unfinished (the caller cancelled), which records the call as `Cancelled`.
struct Watch<'r> {
    recorder: &'r Recorder,
    started: Instant,
    done: bool,
}

impl<'r> Watch<'r> {
    fn start(recorder: &'r Recorder) -> Self {
        if let Some(s) = recorder.targets.first() {
            s.enter();
        }
        Self {
            recorder,
            started: Instant::now(),
            done: false,
        }
    }

    fn finish(mut self, end: &CallEnd<'_>) {
        self.done = true;
        self.recorder.record(end, self.started.elapsed());
    }
}

impl Drop for Watch<'_> {
    fn drop(&mut self) {
        if let Some(s) = self.recorder.targets.first() {
            s.leave();
        }
        if !self.done {
            let end = CallEnd {
                target: 0,
                outcome: Err(ErrorKind::Cancelled),
                http_status: None,
                usage: None,
                cost_usd: None,
                attempts: 0,
                retry_wait: Duration::ZERO,
                rate_limit_wait: Duration::ZERO,
            };
            self.recorder.record(&end, self.started.elapsed());
        }
    }
}

/// The index of an outcome in per-outcome arrays: 0 for success, then [`ErrorKind::ALL`]'s order.
fn outcome_index(outcome: Result<(), ErrorKind>) -> usize {
    match outcome {
        Ok(()) => 0,
        Err(kind) => ErrorKind::ALL
            .iter()
            .position(|k| *k == kind)
            .map_or(0, |i| i.saturating_add(1)),
    }
}

/// The label of an outcome: `ok`, or the error's class name (`RateLimitError`), the words of
/// the exception tree users catch.
fn outcome_label(index: usize) -> &'static str {
    match index.checked_sub(1) {
        None => "ok",
        Some(i) => ErrorKind::ALL.get(i).map_or("ok", |k| k.name()),
    }
}

/// Successes and each error kind.
const OUTCOMES: usize = ErrorKind::ALL.len() + 1;
