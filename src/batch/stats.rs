//! How many batch jobs are in each status and how many of their items in each state, as a
//! snapshot for metrics: the jobs this process holds ([`process_stats`]: every `BatchJob` not yet
//! dropped, the batcher's included), or every job kept in a store (`Store::stats`). Plain
//! numbers; exporting them (Prometheus, OpenTelemetry) is the telemetry layer's business.
//!
//! Cheap: the process's jobs are found through a list of weak references (one push per job
//! made, dead ones swept when the list is read or has doubled), and each job's numbers are the
//! ones its getters show (one pass over its items, no I/O).

use std::sync::{Arc, Mutex, PoisonError, Weak};

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
