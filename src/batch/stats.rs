//! How many batch jobs are in each status and how many of their items in each state, as a
//! snapshot for metrics: the jobs this process holds ([`process_stats`]: every `BatchJob` not yet
//! dropped, the batcher's included), or every job kept in a store (`Store::stats`). Plain
//! numbers; exporting them (Prometheus, OpenTelemetry) is the telemetry layer's business.
//!
//! Cheap: the process's jobs are found through a list of weak references (one push per job
//! made, dead ones swept when the list is read or has doubled), and each job's numbers are the
//! ones its getters show (one pass over its items, no I/O).
//!
//! The process's jobs are also gauges for a scrape (`llmrail.metrics_text()`): jobs by status,
//! their items by outcome, the provider batches made. They are offered once, when the first job
//! is made, so a process that never batches shows no batch families.

use std::sync::{Arc, LazyLock, Mutex, Once, PoisonError, Weak};

use crate::telemetry::{add_source, Family, Sample, Samples, Source};

use super::state::State;
use super::{Counts, JobInfo, Status};

/// Jobs by their unified status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobsByStatus {
    pub submitted: u64,
    pub running: u64,
    pub finalizing: u64,
    pub ended: u64,
    pub failed: u64,
    pub cancelling: u64,
    pub cancelled: u64,
    pub expired: u64,
}

impl JobsByStatus {
    /// Every status, in the order a job goes through them.
    pub const STATUSES: [Status; 8] = [
        Status::Submitted,
        Status::Running,
        Status::Finalizing,
        Status::Ended,
        Status::Failed,
        Status::Cancelling,
        Status::Cancelled,
        Status::Expired,
    ];

    fn slot(&mut self, status: Status) -> &mut u64 {
        match status {
            Status::Submitted => &mut self.submitted,
            Status::Running => &mut self.running,
            Status::Finalizing => &mut self.finalizing,
            Status::Ended => &mut self.ended,
            Status::Failed => &mut self.failed,
            Status::Cancelling => &mut self.cancelling,
            Status::Cancelled => &mut self.cancelled,
            Status::Expired => &mut self.expired,
        }
    }

    pub fn get(&self, status: Status) -> u64 {
        let mut copy = *self;
        *copy.slot(status)
    }

    /// Every status with its number of jobs (zeros included, so a gauge is always set).
    pub fn iter(&self) -> impl Iterator<Item = (Status, u64)> + '_ {
        Self::STATUSES.into_iter().map(|s| (s, self.get(s)))
    }
}

/// A snapshot of some jobs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub jobs: JobsByStatus,
    /// Their items, summed: pending, succeeded, errored, cancelled, expired.
    pub items: Counts,
    /// Provider batches made for them so far (resubmissions included).
    pub provider_batches: u64,
}

impl Stats {
    pub(crate) fn add(&mut self, info: &JobInfo, provider_batches: usize) {
        *self.jobs.slot(info.status) += 1;
        let (a, b) = (&mut self.items, &info.counts);
        a.pending += b.pending;
        a.succeeded += b.succeeded;
        a.errored += b.errored;
        a.cancelled += b.cancelled;
        a.expired += b.expired;
        self.provider_batches += u64::try_from(provider_batches).unwrap_or(u64::MAX);
    }
}

/// The jobs of this process, as weak references (a dropped job leaves the snapshot), and the
/// length at the last sweep.
static LIVE: Mutex<(Vec<Weak<Mutex<State>>>, usize)> = Mutex::new((Vec::new(), 0));

/// Count `state` among this process's jobs until it is dropped.
pub(crate) fn register(state: &Arc<Mutex<State>>) {
    offer();
    let mut live = LIVE.lock().unwrap_or_else(PoisonError::into_inner);
    let (jobs, swept) = &mut *live;
    jobs.push(Arc::downgrade(state));
    if jobs.len() > 2 * (*swept).max(16) {
        jobs.retain(|w| w.strong_count() > 0);
        *swept = jobs.len();
    }
}

/// The jobs this process holds: every `BatchJob` (submitted or resumed here) not yet dropped.
pub fn process_stats() -> Stats {
    let states: Vec<Arc<Mutex<State>>> = {
        let mut live = LIVE.lock().unwrap_or_else(PoisonError::into_inner);
        let (jobs, swept) = &mut *live;
        jobs.retain(|w| w.strong_count() > 0);
        *swept = jobs.len();
        jobs.iter().filter_map(Weak::upgrade).collect()
    };
    let mut stats = Stats::default();
    for state in states {
        let state = state.lock().unwrap_or_else(PoisonError::into_inner);
        stats.add(&state.info(), state.meta.remotes.len());
    }
    stats
}

static JOBS: Family = Family {
    name: "llmrail_batch_jobs",
    help: "Batch jobs held by this process, by status.",
    kind: "gauge",
};

static ITEMS: Family = Family {
    name: "llmrail_batch_items",
    help: "Items of the batch jobs held by this process, by outcome (pending until answered).",
    kind: "gauge",
};

static PROVIDER_BATCHES: Family = Family {
    name: "llmrail_batch_provider_batches",
    help: "Provider batches made for the batch jobs held by this process (resubmissions included).",
    kind: "gauge",
};

/// The process's jobs as a [`Source`]; it lives as long as the process.
struct ProcessJobs;

impl Source for ProcessJobs {
    fn samples(&self) -> Samples<'_> {
        Box::pin(async move {
            let stats = process_stats();
            let mut out: Vec<Sample> = stats
                .jobs
                .iter()
                .map(|(status, n)| Sample {
                    family: &JOBS,
                    labels: vec![("status", status.as_str().to_string())],
                    value: n as f64,
                })
                .collect();
            let c = &stats.items;
            for (outcome, n) in [
                ("pending", c.pending),
                ("succeeded", c.succeeded),
                ("errored", c.errored),
                ("cancelled", c.cancelled),
                ("expired", c.expired),
            ] {
                out.push(Sample {
                    family: &ITEMS,
                    labels: vec![("outcome", outcome.to_string())],
                    value: n as f64,
                });
            }
            out.push(Sample {
                family: &PROVIDER_BATCHES,
                labels: Vec::new(),
                value: stats.provider_batches as f64,
            });
            out
        })
    }
}

static PROCESS: LazyLock<Arc<dyn Source>> = LazyLock::new(|| Arc::new(ProcessJobs));
static OFFERED: Once = Once::new();

/// Offer the process's batch gauges to every scrape from now on (once per process).
fn offer() {
    OFFERED.call_once(|| add_source(Arc::downgrade(&*PROCESS)));
}
