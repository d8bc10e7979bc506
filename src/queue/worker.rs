//! The processor: `concurrency` items at a time, each run through its target's client (the
//! normal pipeline: retries, breaker, fallbacks, limits, replay) under a lease that a
//! heartbeat renews every third of the lease. A worker that dies stops renewing; once the
//! lease runs out another worker takes the item (at-least-once).
//!
//! A target whose breaker is open is skipped when claiming, so an outage leaves its items
//! QUEUED with their attempts intact; the first claim after the cooldown is the breaker's probe.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

use tokio::sync::watch;
use tokio::task::JoinSet;

use super::item::{Claimed, End, Ended, State};
use super::record::{decode_request, extract_job, ExtractJob, StoredError, StoredResponse};
use super::trace::{ItemCall, ItemSpan, TRACEPARENT};
use super::{delivery, millis, now_ms, Handed, Queue, POLL};
use crate::client::{Client, ClientConfig};
use crate::error::{ErrorKind, LlmError, Result};
use crate::extract::{self, Failure, Mode, Schema, SchemaOnly, Spec};
use crate::resilience::breaker::State as BreakerState;
use crate::resilience::CallOptions;
use crate::runtime::{self, AbortOnDrop};

/// Failures a later attempt may not meet: the provider's outages, and limits that pass.
pub(super) fn transient(e: &LlmError) -> bool {
    super::divert::outage(e) || matches!(e.kind, ErrorKind::RateLimit | ErrorKind::InvalidResponse)
}

/// Run a queued extraction (its schema alone validates: a pydantic model's own validators run
/// where the model is, when the value is read); the value and what it took, as stored.
async fn extracted(
    client: &Client,
    req: crate::model::ChatRequest,
    job: ExtractJob,
) -> Result<serde_json::Value> {
    let spec = Spec {
        schema: Schema::from_json(&job.schema.to_string())?,
        name: job.name,
        mode: Mode::parse(&job.mode)?,
        max_retries: job.max_retries,
        token_budget: job.token_budget,
    };
    match extract::run(client, req, &spec, CallOptions::default(), &SchemaOnly).await {
        Ok(x) => Ok(serde_json::json!({
            "extracted": x.value,
            "provider": x.provider,
            "model": x.model,
            "usage": x.usage,
            "attempts": x.attempts.len(),
            "cost_usd": x.cost_usd,
        })),
        Err(Failure::Llm(e) | Failure::Abort(e)) => Err(e),
    }
}

/// The most items one claim takes: enough to fill a typical worker's free slots in one step,
/// few enough that one process does not lease a deep queue's whole head at once.
const CLAIM_BATCH: usize = 32;

/// Workers running as a task of the shared runtime ([`Queue::spawn_workers`]).
pub struct Workers {
    task: AbortOnDrop<()>,
    stop: watch::Sender<bool>,
}

impl Workers {
    /// Stop after the current store step, and wait for that (at most `limit`; then abort).
    /// Items in progress go back to other workers once their leases run out; items ended or
    /// taken but not started are stored as such first, so none is held by a stopped worker.
    pub async fn stop(self, limit: Duration) {
        let Self { task, stop } = self;
        let _ = stop.send(true);
        let _ = tokio::time::timeout(limit, task).await;
    }

    /// Whether the workers still run.
    pub fn running(&self) -> bool {
        !self.task.0.is_finished()
    }
}

impl Queue {
    /// Process items until the returned future is dropped (that is how a worker stops: items
    /// it holds go back to other workers when their leases run out).
    pub async fn work(&self, concurrency: usize) -> Result<()> {
        if concurrency == 0 {
            return Err(LlmError::config(
                "a queue worker's concurrency must be at least 1",
            ));
        }
        let q = self.clone();
        runtime::run(async move {
            // Never signalled: this form stops when its future is dropped.
            let (_never, stop) = watch::channel(false);
            q.run_workers(concurrency, stop).await
        })
        .await
    }

    /// [`Queue::work`] as a task of the shared runtime: [`Workers::stop`] ends it after its
    /// current store step; dropping the handle aborts it.
    pub fn spawn_workers(&self, concurrency: usize) -> Result<Workers> {
        if concurrency == 0 {
            return Err(LlmError::config(
                "a queue worker's concurrency must be at least 1",
            ));
        }
        let q = self.clone();
        let (stop, stopped) = watch::channel(false);
        Ok(Workers {
            task: AbortOnDrop(
                runtime::handle()?.spawn(async move { q.run_workers(concurrency, stopped).await }),
            ),
            stop,
        })
    }

    /// One loop per worker: it alone talks to the store for the processing tasks, so whatever
    /// ended since its last step and the items that take their slots go in one step
    /// (`settle_and_claim`: one round trip, one commit), however many tasks run.
    async fn run_workers(&self, concurrency: usize, mut stop: watch::Receiver<bool>) -> Result<()> {
        // Webhooks: this process's own, and what stopped processes left (stopped with the
        // workers: what it holds is taken again when its leases run out).
        let _deliverer = match &self.inner.cfg.webhook_secret {
            Some(_) => {
                let weak = Arc::downgrade(&self.inner);
                Some(AbortOnDrop(runtime::handle()?.spawn(async move {
                    delivery::deliver(weak, true).await;
                    Ok(())
                })))
            }
            None => None,
        };
        // Other processes' submissions, where the store can tell of them (Redis).
        let _woken = match self.inner.store.wake_ups() {
            Some(_) => {
                let weak = Arc::downgrade(&self.inner);
                Some(AbortOnDrop(runtime::handle()?.spawn(async move {
                    wake_ups(weak).await;
                    Ok(())
                })))
            }
            None => None,
        };
        let mut running: JoinSet<Option<Outcome>> = JoinSet::new();
        // Outcomes not yet stored: the store was unreachable at the last step, or they ended
        // while it ran. An item whose outcome is never stored is taken again once its lease
        // runs out (at-least-once).
        let mut pending: Vec<Outcome> = Vec::new();
        let lease = millis(self.inner.cfg.lease);
        let mut reported = tokio::time::Instant::now();
        loop {
            while let Some(joined) = running.try_join_next() {
                pending.extend(joined.ok().flatten());
            }
            if *stop.borrow() {
                break;
            }
            let free = concurrency.saturating_sub(running.len()).min(CLAIM_BATCH);
            if free == 0 && pending.is_empty() {
                tokio::select! {
                    Some(joined) = running.join_next() => pending.extend(joined.ok().flatten()),
                    _ = stop.changed() => {}
                }
                continue;
            }
            // Claims expire what is due; report those at most once per poll interval, so a
            // busy worker pays one extra store step per interval, not one per item.
            if reported.elapsed() >= POLL {
                reported = tokio::time::Instant::now();
                self.report_expired().await;
            }
            // Registered before claiming, so a submission between the two wakes this loop.
            let changed = self.inner.changed.notified();
            let blocked = if free > 0 {
                self.blocked().await
            } else {
                Vec::new()
            };
            let ended: Vec<Ended> = pending.iter().map(|o| o.ended.clone()).collect();
            let step = self
                .inner
                .store
                .settle_and_claim(ended, blocked, free, lease, now_ms())
                .await;
            match step {
                Ok((after, claimed)) => {
                    for (outcome, state) in std::mem::take(&mut pending).into_iter().zip(after) {
                        self.settled(outcome, state);
                    }
                    let short = claimed.len() < free;
                    if *stop.borrow() {
                        // Stopped during the step: what it took goes straight back.
                        pending.extend(claimed.into_iter().map(Outcome::released));
                        break;
                    }
                    for c in claimed {
                        let q = self.clone();
                        running.spawn(async move { q.process(c).await });
                    }
                    if short {
                        // Nothing more to take now: wait for a submission here, a task's end,
                        // or the next look at the store (other processes' submissions).
                        tokio::select! {
                            () = changed => {}
                            _ = stop.changed() => {}
                            () = tokio::time::sleep(POLL) => {}
                            Some(joined) = running.join_next(), if !running.is_empty() => {
                                pending.extend(joined.ok().flatten());
                            }
                        }
                    }
                }
                Err(e) => {
                    // The store is unreachable (a locked file, Redis down): keep trying; what it
                    // holds is safe, nothing was taken, and the outcomes wait for the next step.
                    tracing::warn!(queue = %self.inner.url, error = %e, "queue worker cannot reach its store");
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = stop.changed() => {}
                    }
                }
            }
        }
        // Stopped: the items in progress are dropped with `running` (they go back once their
        // leases run out); what has ended, and what was just taken, is stored in one last step.
        drop(running);
        if !pending.is_empty() {
            let ended: Vec<Ended> = pending.iter().map(|o| o.ended.clone()).collect();
            if let Ok((after, _)) = self
                .inner
                .store
                .settle_and_claim(ended, Vec::new(), 0, lease, now_ms())
                .await
            {
                for (outcome, state) in pending.into_iter().zip(after) {
                    self.settled(outcome, state);
                }
            }
        }
        Ok(())
    }

    /// What follows a stored outcome: the event, the webhook, the answer to this process's
    /// readers, and their wake-up.
    fn settled(&self, outcome: Outcome, state: Option<State>) {
        let Outcome {
            ended,
            target,
            attempts,
            has_callback,
            answer,
            span,
        } = outcome;
        if let (Some(mut span), Some(sink)) = (span, self.inner.spans.get()) {
            span.outcome = match (&ended.end, state) {
                (_, None) => "superseded",
                (End::Release, _) => "released",
                (_, Some(State::Expired)) => "expired",
                (End::Complete(_), Some(State::Completed)) => "completed",
                (End::Fail { .. }, Some(State::Failed)) => "failed",
                (End::Fail { .. }, Some(State::Queued)) => "retried",
                _ => "superseded",
            };
            sink(*span);
        }
        let id = ended.id;
        match (ended.end, state) {
            (End::Complete(_), Some(State::Completed)) => {
                if let Some(answer) = answer {
                    self.hand(&id, answer);
                }
                self.emit(&id, State::Completed, &target, attempts);
                if has_callback {
                    self.kick_deliveries();
                }
            }
            (End::Release, Some(state)) => {
                self.emit(&id, state, &target, attempts.saturating_sub(1));
            }
            (End::Fail { .. }, Some(state)) => {
                self.emit(&id, state, &target, attempts);
                if state == State::Failed && has_callback {
                    self.kick_deliveries();
                }
            }
            _ => {}
        }
        self.ended(&id);
    }

    /// Targets whose every breaker (primary and fallbacks) is open and still cooling down.
    async fn blocked(&self) -> Vec<String> {
        let clients: Vec<(String, Client)> = self
            .clients()
            .iter()
            .map(|(t, c)| (t.clone(), c.clone()))
            .collect();
        let mut out = Vec::new();
        for (target, client) in clients {
            let Ok(health) = client.health().await else {
                continue;
            };
            let open = !health.is_empty()
                && health.iter().all(|s| {
                    s.state == BreakerState::Open && s.retry_in.is_some_and(|d| !d.is_zero())
                });
            if open {
                out.push(target);
            }
        }
        out
    }

    fn client_for(&self, target: &str) -> Result<Client> {
        if let Some(c) = self.clients().get(target) {
            return Ok(c.clone());
        }
        let client = Client::new(ClientConfig {
            model: target.to_string(),
            ..ClientConfig::default()
        })?;
        Ok(self
            .clients()
            .entry(target.to_string())
            .or_insert(client)
            .clone())
    }

    /// Run one taken item; how it ended, for the worker loop to store (`None` only if the
    /// heartbeat ended first, which it does not: a lost lease stops the renewals, not the call).
    async fn process(&self, claimed: Claimed) -> Option<Outcome> {
        let Claimed { item, token } = claimed;
        let store = &self.inner.store;
        let id = item.id.clone();
        let (has_callback, attempts) = (item.callback_url.is_some(), item.attempts);
        let target = item.target.clone();
        self.emit(&id, State::Processing, &target, attempts);
        // Traced only when this process installed a span sink: one check otherwise.
        let traced = self.inner.spans.get().is_some();
        let traceparent = traced
            .then(|| item.request.get(TRACEPARENT).and_then(Value::as_str))
            .flatten()
            .map(str::to_owned);
        let begun = traced.then(|| (SystemTime::now(), Instant::now()));
        let call = self.call(&item.target, item.request, traced);
        let lease = self.inner.cfg.lease;
        let heartbeat = async {
            loop {
                tokio::time::sleep(lease / 3).await;
                let until = now_ms().saturating_add(millis(lease));
                match store.heartbeat(id.clone(), token.clone(), until).await {
                    Ok(true) => {}
                    // Another worker holds it now (this one was too slow to renew): finish
                    // anyway; the first completion is kept, a later one ignored.
                    Ok(false) => std::future::pending::<()>().await,
                    Err(e) => tracing::warn!(item = %id, error = %e, "queue heartbeat failed"),
                }
            }
        };
        let (outcome, call) = tokio::select! {
            out = call => out,
            () = heartbeat => return None,
        };
        let span = begun.map(|(started, t0)| {
            Box::new(ItemSpan {
                traceparent,
                id: id.clone(),
                target: target.clone(),
                attempt: attempts,
                started,
                duration: t0.elapsed(),
                outcome: "",
                error: outcome.as_ref().err().map(|e| e.kind.name()),
                call,
            })
        });
        let (end, answer) = match outcome {
            Ok(answer) => {
                // Written straight to JSON text, as the store keeps it.
                let stored = match &answer {
                    Handed::Chat(r) => {
                        serde_json::to_string(&StoredResponse::from(r)).unwrap_or_default()
                    }
                    Handed::Stored(v) => v.to_string(),
                };
                (End::Complete(stored), Some(answer))
            }
            // The breaker opened between the claim and the call: nothing was sent.
            Err(e) if e.kind == ErrorKind::CircuitOpen => (End::Release, None),
            Err(e) => (
                End::Fail {
                    retry: transient(&e),
                    error: StoredError::of(&e, now_ms()),
                },
                None,
            ),
        };
        Some(Outcome {
            ended: Ended { id, token, end },
            target,
            attempts,
            has_callback,
            answer,
            span,
        })
    }

    /// The item's call through its target's client; with `traced`, what it did for the
    /// item's trace (a chat call's requests are kept then).
    async fn call(
        &self,
        target: &str,
        request: Value,
        traced: bool,
    ) -> (Result<Handed>, Option<ItemCall>) {
        let prepared = || -> Result<_> {
            let client = self.client_for(target)?;
            let job = extract_job(&request)?;
            Ok((client, job, decode_request(request)?))
        };
        let (client, job, req) = match prepared() {
            Ok(p) => p,
            Err(e) => return (Err(e), None),
        };
        let begun = (SystemTime::now(), Instant::now());
        let (out, operation, attempts) = match job {
            None => {
                let opts = CallOptions {
                    record: traced,
                    ..CallOptions::default()
                };
                let (out, report) = client.chat_reported(req, opts).await;
                let log = report.log.unwrap_or_default();
                (out.map(Handed::Chat), "chat", log)
            }
            Some(job) => {
                let out = extracted(&client, req, job).await.map(Handed::Stored);
                (out, "extract", Vec::new())
            }
        };
        let call = traced.then(|| ItemCall {
            operation,
            target: client.target_info().clone(),
            started: begun.0,
            duration: begun.1.elapsed(),
            attempts,
            error: out.as_ref().err().map(|e| e.kind.name()),
        });
        (out, call)
    }
}

/// Wake this process's idle workers whenever the store says some process queued items, so they
/// claim at once instead of at their next poll; reconnecting after a lost connection (the
/// poll covers the gap). Ends when the queue is gone.
async fn wake_ups(queue: std::sync::Weak<super::Inner>) {
    use futures_util::StreamExt;
    loop {
        let subscribed = match queue.upgrade() {
            Some(inner) => inner.store.wake_ups(),
            None => return,
        };
        let Some(subscribed) = subscribed else {
            return;
        };
        match subscribed.await {
            Ok(mut signals) => {
                while signals.next().await.is_some() {
                    let Some(inner) = queue.upgrade() else {
                        return;
                    };
                    inner.changed.notify_waiters();
                }
            }
            Err(e) => tracing::debug!(error = %e, "queue wake-ups unavailable; workers poll"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// How a processing task ended, handed to its worker loop to store.
struct Outcome {
    ended: Ended,
    target: String,
    attempts: u32,
    has_callback: bool,
    /// The answer, for this process's readers once it is stored.
    answer: Option<Handed>,
    /// The processing's trace, when this process traces items (its outcome is set once
    /// stored).
    span: Option<Box<ItemSpan>>,
}

impl Outcome {
    /// An item taken but not started (its worker stopped): back to the queue, the attempt
    /// not counted.
    fn released(c: Claimed) -> Self {
        let Claimed { item, token } = c;
        Self {
            ended: Ended {
                id: item.id,
                token,
                end: End::Release,
            },
            target: item.target,
            attempts: item.attempts,
            has_callback: item.callback_url.is_some(),
            answer: None,
            span: None,
        }
    }
}
