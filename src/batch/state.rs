//! One job's state: its items (custom id, body, attempts, where each is), its provider
//! batches, and the bookkeeping over them (counts, the unified status, joining results on
//! custom id, requeueing retryable failures). Plain data and plain functions: the engine
//! (`job.rs`) does the I/O, the store (`store.rs`) keeps it, concurrent mode (`concurrent.rs`)
//! takes and finishes items through it.

use std::collections::HashMap;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::outcome::Outcome;
use super::{Api, Counts, JobInfo, Mode, Status, MAX_ATTEMPTS};
use crate::error::{LlmError, Result};
use crate::model::ChatRequest;

/// Where one item is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub(crate) enum Place {
    Pending,
    /// In the job's provider batch of this index.
    Submitted {
        remote: usize,
    },
    Done {
        outcome: Outcome,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub custom_id: String,
    /// The request's body as the provider's real-time API takes it.
    pub body: Bytes,
    /// Provider batches (or calls) the item was sent in so far.
    pub attempts: u32,
    pub place: Place,
    /// Changed since the store last saw it.
    pub dirty: bool,
    /// The store has its row (so a save updates its state without writing its body again).
    pub stored: bool,
}

/// One provider batch of the job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Remote {
    pub id: String,
    /// The job's items it carries.
    pub items: Vec<usize>,
    pub status: Status,
    pub counts: Option<Counts>,
    pub output_file: Option<String>,
    pub error_file: Option<String>,
    /// Its results are in the items.
    pub collected: bool,
}

/// Everything about a job but its items: one row of the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Meta {
    pub id: String,
    pub provider: String,
    pub model: String,
    /// The client's base URL (secrets redacted: a resume from such a URL must be given it).
    pub base_url: String,
    pub api: Option<Api>,
    pub mode: Mode,
    pub created_at: f64,
    pub expires_at: Option<f64>,
    pub remotes: Vec<Remote>,
    pub cancel_requested: bool,
    /// Anthropic betas the items' real-time requests would carry (the 1-hour cache TTL's):
    /// Message Batches take them on the create request.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub betas: Vec<String>,
    /// A provider batch create that was (or was about to be) sent and whose answer is not
    /// saved yet: written before the request goes, cleared with the answer's save. A resume
    /// that finds one looks for that batch at the provider before creating another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creating: Option<Creating>,
}

/// A provider batch create in flight, as the store keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Creating {
    /// Unique to this create; sent where the provider keeps it (OpenAI's batch `metadata`,
    /// Gemini's `displayName`), so the batch can be found by it.
    pub token: String,
    /// The job's items the batch carries.
    pub items: Vec<usize>,
    /// Unix seconds (this machine's clock) just before the request was sent.
    pub at: f64,
}

pub(crate) struct State {
    pub meta: Meta,
    pub items: Vec<Item>,
    /// custom_id -> index, for joining results.
    index: HashMap<String, usize>,
    /// Concurrent mode: the requests (a provider batch carries bodies instead), and errors
    /// kept as they came (with their retry history).
    pub(super) requests: Vec<Option<ChatRequest>>,
    pub(crate) local_errors: HashMap<usize, LlmError>,
    /// Concurrent mode: a `wait` is running the calls.
    pub(super) running: bool,
    /// Results files downloaded for provider batch `.0` (its answers are slices of them), not
    /// yet written by the store, which keeps each whole, once (see `store.rs`).
    pub(crate) downloads: Vec<(usize, Vec<Bytes>)>,
    /// Provider batches collected since the store last saved (it records their items' ends).
    pub(crate) collected: Vec<usize>,
}

impl State {
    pub(crate) fn new(meta: Meta, items: Vec<Item>) -> Self {
        let index = items
            .iter()
            .enumerate()
            .map(|(i, it)| (it.custom_id.clone(), i))
            .collect();
        Self {
            meta,
            items,
            index,
            requests: Vec::new(),
            local_errors: HashMap::new(),
            running: false,
            downloads: Vec::new(),
            collected: Vec::new(),
        }
    }

    pub(super) fn set(&mut self, i: usize, place: Place) {
        if let Some(item) = self.items.get_mut(i) {
            item.place = place;
            item.dirty = true;
        }
    }

    pub(super) fn counts(&self) -> Counts {
        let mut c = Counts::default();
        let mut live = vec![false; self.meta.remotes.len()];
        for (n, r) in self.meta.remotes.iter().enumerate() {
            if !r.collected {
                if let Some(rc) = r.counts {
                    live[n] = true;
                    c.pending += rc.pending;
                    c.succeeded += rc.succeeded;
                    c.errored += rc.errored;
                    c.cancelled += rc.cancelled;
                    c.expired += rc.expired;
                }
            }
        }
        for item in &self.items {
            match &item.place {
                Place::Pending => c.pending += 1,
                Place::Submitted { remote } if !live.get(*remote).copied().unwrap_or(false) => {
                    c.pending += 1
                }
                Place::Submitted { .. } => {}
                Place::Done { outcome } => match outcome {
                    Outcome::Succeeded { .. } => c.succeeded += 1,
                    Outcome::Errored { .. } => c.errored += 1,
                    Outcome::Expired => c.expired += 1,
                    Outcome::Cancelled => c.cancelled += 1,
                },
            }
        }
        c
    }

    /// Every item has its end and every provider batch is collected; a create whose answer
    /// was never saved may have made a batch still to be found (and, in a cancelled job,
    /// cancelled), so a job with one is not finished.
    pub(super) fn finished(&self) -> bool {
        self.meta.creating.is_none()
            && self
                .items
                .iter()
                .all(|i| matches!(i.place, Place::Done { .. }))
            && self.meta.remotes.iter().all(|r| r.collected)
    }

    pub(super) fn status(&self) -> Status {
        let m = &self.meta;
        if self.finished() {
            let all = |f: fn(&Outcome) -> bool| {
                self.items.iter().all(|i| match &i.place {
                    Place::Done { outcome } => f(outcome),
                    _ => false,
                })
            };
            return if m.cancel_requested {
                Status::Cancelled
            } else if !m.remotes.is_empty() && m.remotes.iter().all(|r| r.status == Status::Failed)
            {
                Status::Failed
            } else if all(|o| *o == Outcome::Expired) {
                Status::Expired
            } else {
                Status::Ended
            };
        }
        if m.cancel_requested {
            return Status::Cancelling;
        }
        if self.running {
            return Status::Running;
        }
        let live: Vec<Status> = m
            .remotes
            .iter()
            .filter(|r| !r.collected)
            .map(|r| r.status)
            .collect();
        if live.contains(&Status::Running) || live.contains(&Status::Cancelling) {
            Status::Running
        } else if live
            .iter()
            .any(|s| *s == Status::Finalizing || s.is_terminal())
        {
            Status::Finalizing
        } else {
            Status::Submitted
        }
    }

    pub(crate) fn info(&self) -> JobInfo {
        JobInfo {
            id: self.meta.id.clone(),
            provider: self.meta.provider.clone(),
            model: self.meta.model.clone(),
            status: self.status(),
            counts: self.counts(),
            created_at: self.meta.created_at,
            expires_at: self.meta.expires_at,
            mode: self.meta.mode,
        }
    }

    /// Items back to pending that failed for a retryable reason and have attempts left.
    pub(super) fn requeue(&mut self) {
        if self.meta.cancel_requested {
            return;
        }
        for item in &mut self.items {
            if let Place::Done { outcome } = &item.place {
                if outcome.retryable() && item.attempts < MAX_ATTEMPTS {
                    item.place = Place::Pending;
                    item.dirty = true;
                }
            }
        }
    }

    /// Record a provider batch's results; items it carried with no line get `missing`.
    pub(super) fn apply(
        &mut self,
        remote: usize,
        lines: Vec<(String, Outcome)>,
        missing: &Outcome,
    ) {
        let carried: Vec<usize> = self
            .meta
            .remotes
            .get(remote)
            .map(|r| r.items.clone())
            .unwrap_or_default();
        for (id, outcome) in lines {
            match self.index.get(&id).copied() {
                // A line for an item of another batch (or none) is not this batch's to set.
                Some(i)
                    if self.items.get(i).map(|it| &it.place)
                        == Some(&Place::Submitted { remote }) =>
                {
                    self.set(i, Place::Done { outcome })
                }
                _ => tracing::debug!(custom_id = %id, "batch result for no item of this batch"),
            }
        }
        for i in carried {
            if self.items.get(i).map(|it| &it.place) == Some(&Place::Submitted { remote }) {
                self.set(
                    i,
                    Place::Done {
                        outcome: missing.clone(),
                    },
                );
            }
        }
        if let Some(r) = self.meta.remotes.get_mut(remote) {
            r.collected = true;
            self.collected.push(remote);
        }
    }

    // ---- concurrent mode -------------------------------------------------------------------

    /// The next item to call, marked running; `None` when none is left (or the job was
    /// cancelled: then the rest end cancelled).
    pub(super) fn take_next(&mut self) -> Option<(usize, ChatRequest)> {
        self.running = true;
        if self.meta.cancel_requested {
            return None;
        }
        let i = self
            .items
            .iter()
            .position(|it| it.place == Place::Pending)?;
        // Cloned, not taken: a call dropped mid-way (a cancelled wait) is made again by the
        // next wait, which returns such items to pending first.
        let req = self.requests.get(i)?.clone()?;
        if let Some(item) = self.items.get_mut(i) {
            item.attempts = 1;
        }
        self.set(i, Place::Submitted { remote: usize::MAX });
        Some((i, req))
    }

    /// One call's end.
    pub(super) fn finish_call(
        &mut self,
        i: usize,
        result: Result<(crate::model::ChatResponse, crate::resilience::CallReport)>,
    ) {
        let outcome = match result {
            Ok((resp, report)) => {
                if let Some(item) = self.items.get_mut(i) {
                    item.attempts = report.attempts.max(1);
                }
                Outcome::Succeeded {
                    body: resp.raw.clone(),
                    request_id: resp.request_id.clone(),
                    decoded: Default::default(),
                }
            }
            Err(e) => {
                if let Some(item) = self.items.get_mut(i) {
                    item.attempts = e.attempts.max(1);
                }
                let status = e.status.unwrap_or(500);
                self.local_errors.insert(i, e);
                Outcome::Errored {
                    status,
                    body: Bytes::new(),
                }
            }
        };
        self.set(i, Place::Done { outcome });
    }

    /// Items whose call a dropped wait left unfinished go back to pending.
    pub(super) fn restart_calls(&mut self) {
        for i in 0..self.items.len() {
            let stale = self.items.get(i).map(|it| &it.place)
                == Some(&Place::Submitted { remote: usize::MAX });
            if stale {
                self.set(i, Place::Pending);
            }
        }
    }

    /// The concurrent calls are over: anything not called ends cancelled.
    pub(super) fn end_calls(&mut self) {
        self.running = false;
        for i in 0..self.items.len() {
            if matches!(
                self.items.get(i).map(|it| &it.place),
                Some(Place::Pending | Place::Submitted { .. })
            ) {
                self.set(
                    i,
                    Place::Done {
                        outcome: Outcome::Cancelled,
                    },
                );
            }
        }
    }
}
