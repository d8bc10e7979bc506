//! Group commit of submissions: a submission that arrives while another is being written joins
//! the next write, so many concurrent submitters share one store step (one sqlite transaction
//! and its fsync, one Redis script and round trip) instead of queueing for a step each.
//!
//! A lone submission is written at once by its own caller, as before (no timer, no hop to
//! another task: a one-at-a-time submitter waits for nothing more). While that write runs,
//! later submissions wait in a list; when it ends, a task writes everything that waits in one
//! step (at most `MAX_GROUP` items), then whatever arrived meanwhile, until the list is empty.
//!
//! Durability: each caller gets its item's id only from the outcome of the step that holds its
//! item, after the store confirmed that step as committed (sqlite's COMMIT returned, with
//! `synchronous=FULL`; the Redis script ran and answered). A failed step answers every caller
//! in it with the error, and sqlite rolled it back: nothing is acknowledged that is not stored.
//! A caller that stops waiting before its group is written takes its item out (it is never
//! written); one whose group is being written may find its item stored without having its id,
//! as with a single submission whose answer is lost.

use std::sync::{Mutex, MutexGuard};

use tokio::sync::oneshot;

use super::item::{NewItem, Submitted};
use super::{now_ms, Queue};
use crate::error::{ErrorKind, LlmError, Result};
use crate::runtime;

/// The most submissions one step writes: a Redis script of this many items runs well under a
/// millisecond, so other clients of the server are not held up.
const MAX_GROUP: usize = 256;

/// The submissions waiting for the write in progress to end.
#[derive(Default)]
pub(super) struct Group {
    state: Mutex<Waiting>,
    /// Store steps written, for the tests to see submissions share them.
    #[cfg(test)]
    pub(super) steps: std::sync::atomic::AtomicUsize,
}

#[derive(Default)]
struct Waiting {
    /// A write is in progress (by a caller, or by the task writing the groups).
    writing: bool,
    items: Vec<(NewItem, oneshot::Sender<Result<Submitted>>)>,
}

impl Group {
    fn lock(&self) -> MutexGuard<'_, Waiting> {
        // Plain data: a panic elsewhere cannot leave it half-written.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Queue {
    /// Store `item` (alone, or with the submissions waiting with it); its outcome once the step
    /// that holds it is committed.
    pub(super) async fn store_item(&self, item: NewItem) -> Result<Submitted> {
        let marks = self.inner.cfg.watermarks();
        let waiting = {
            let mut g = self.inner.group.lock();
            if g.writing {
                let (tx, rx) = oneshot::channel();
                g.items.push((item, tx));
                Err(rx)
            } else {
                g.writing = true;
                Ok(item)
            }
        };
        match waiting {
            Ok(item) => {
                // Whatever waits when this write ends (or is cancelled) is written next.
                let _next = HandOver(self.clone());
                #[cfg(test)]
                self.inner.group.steps.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                self.inner.store.submit(item, marks, now_ms()).await
            }
            Err(rx) => rx.await.unwrap_or_else(|_| {
                Err(LlmError::new(
                    ErrorKind::Connection,
                    format!(
                        "the queue {} stopped before confirming the submission: it may not be stored",
                        self.inner.url
                    ),
                ))
            }),
        }
    }
}

/// Held by a write in progress: when it ends, the submissions that waited meanwhile are
/// written by a task (the writer's caller has its answer and goes on).
struct HandOver(Queue);

impl Drop for HandOver {
    fn drop(&mut self) {
        let q = &self.0;
        let mut g = q.inner.group.lock();
        if g.items.is_empty() {
            g.writing = false;
            return;
        }
        match runtime::handle() {
            Ok(handle) => {
                drop(g);
                let q = q.clone();
                handle.spawn(async move { q.write_groups().await });
            }
            Err(_) => {
                // No runtime (the process is ending): the waiters hear their submission was
                // not confirmed.
                g.items.clear();
                g.writing = false;
            }
        }
    }
}

impl Queue {
    /// Write the waiting submissions, a group per step, until none waits.
    async fn write_groups(&self) {
        let marks = self.inner.cfg.watermarks();
        let mut stopped = Stopped(self, false);
        loop {
            let group: Vec<_> = {
                let mut g = self.inner.group.lock();
                // A caller that stopped waiting takes its item out of the queue's hands.
                g.items.retain(|(_, tx)| !tx.is_closed());
                if g.items.is_empty() {
                    g.writing = false;
                    stopped.1 = true;
                    return;
                }
                let n = g.items.len().min(MAX_GROUP);
                g.items.drain(..n).collect()
            };
            let (items, replies): (Vec<NewItem>, Vec<_>) = group.into_iter().unzip();
            #[cfg(test)]
            self.inner
                .group
                .steps
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let step = self.inner.store.submit_many(items, marks, now_ms()).await;
            match step {
                Ok(outcomes) if outcomes.len() == replies.len() => {
                    for (tx, out) in replies.into_iter().zip(outcomes) {
                        let _ = tx.send(Ok(out));
                    }
                }
                Ok(_) => {
                    let e = LlmError::new(
                        ErrorKind::Internal,
                        "the queue store answered a group of submissions with the wrong count",
                    );
                    for tx in replies {
                        let _ = tx.send(Err(e.clone()));
                    }
                }
                Err(e) => {
                    for tx in replies {
                        let _ = tx.send(Err(e.clone()));
                    }
                }
            }
        }
    }
}

/// Held by the task writing the groups: if it ends other than by finding none waiting (the
/// runtime shut down under it), the waiters hear their submissions were not confirmed and the
/// next submission writes again.
struct Stopped<'a>(&'a Queue, bool);

impl Drop for Stopped<'_> {
    fn drop(&mut self) {
        if !self.1 {
            let mut g = self.0.inner.group.lock();
            g.items.clear();
            g.writing = false;
        }
    }
}
