//! Extraction through a provider batch job: every request goes out with the schema put in, as
//! one job; each answer is read and checked exactly as [`super::run`] does, and the ones that
//! failed validation are re-asked (their own answer and errors added, as a real-time re-ask
//! does) in a follow-up job, up to `max_retries` times. An item whose call failed (its typed
//! error, after the job's own per-item retries) is not re-asked: that is the job's decision.
//! Cost is at the provider's batch price.
//!
//! Resumable: given a `run_id`, each round's job gets an id derived from it and from the
//! run's inputs (provider, model, and every request as first sent, schema included), so a
//! process that restarts and runs the same extraction again against the same store finds
//! each round's job there: a finished round's answers are read back and validated again (the
//! same answers give the same verdicts, so the same re-asks), the round that was running is
//! waited for, and nothing is submitted twice. Other inputs give other ids: a fresh run.
//!
//! [`run_traced`] also keeps each round as a trace shows it ([`TracedRound`]).

use std::time::{Duration, Instant, SystemTime};

use crate::batch::{BatchJob, BatchRequest, JobInfo, SubmitOptions, WaitOptions};
use crate::client::Client;
use crate::error::{ErrorKind, LlmError, Result};
use crate::model::ChatRequest;

use super::{
    mode, read, reask, Accounts, AttemptRecord, Check, Extraction, Failure, Mode, Spec, Verdict,
};

/// One item's end: the value and what it took, or why there is none.
pub type ItemExtraction<C> =
    std::result::Result<Extraction<<C as Check>::Output>, Failure<<C as Check>::Abort>>;

/// How an extraction's batch rounds run: where their jobs are kept, how each is waited for, and
/// the name under which a rerun of the same extraction finds them (`None`: not resumable).
#[derive(Debug, Clone, Default)]
pub struct Rounds {
    pub submit: SubmitOptions,
    pub wait: WaitOptions,
    pub run_id: Option<String>,
}

/// One round as a trace shows it: its job, how long submitting (or finding) it and waiting for
/// it took, each poll, and what became of its items.
#[derive(Debug, Clone)]
pub struct TracedRound {
    /// Wall-clock start (a span's start time).
    pub started: SystemTime,
    /// Submitting the job, or finding it in the store (`resumed`).
    pub submit: Duration,
    pub resumed: bool,
    /// The wait, from the end of the submit.
    pub wait: Duration,
    /// When each poll came, and the job as it stood then.
    pub polls: Vec<(SystemTime, JobInfo)>,
    /// The whole round, the answers read and checked.
    pub duration: Duration,
    /// The job at the round's end, with its provider batch ids; `None` if it was never made.
    pub job: Option<(JobInfo, Vec<String>)>,
    /// Items sent; of them, valid values, answers re-asked in the next round, and items that
    /// ended without a value (their call failed, or the caller's check raised).
    pub sent: usize,
    pub valid: usize,
    pub reasked: usize,
    pub failed: usize,
    /// Why the round (and so the run) stopped, when it did.
    pub error: Option<ErrorKind>,
}

/// Extract from each of `requests` through batch jobs; one result per request, in input order.
/// An error is returned only when a job as a whole cannot go on (it cannot be submitted, or a
/// wait fails or times out).
pub async fn run<C: Check>(
    client: &Client,
    requests: Vec<ChatRequest>,
    spec: &Spec,
    check: &C,
    rounds: Rounds,
) -> Result<Vec<ItemExtraction<C>>> {
    run_with(client, requests, spec, check, rounds, None).await
}

/// As [`run`], with one [`TracedRound`] per round that started (the one that failed too).
pub async fn run_traced<C: Check>(
    client: &Client,
    requests: Vec<ChatRequest>,
    spec: &Spec,
    check: &C,
    rounds: Rounds,
) -> (Result<Vec<ItemExtraction<C>>>, Vec<TracedRound>) {
    let mut traced = Vec::new();
    let out = run_with(client, requests, spec, check, rounds, Some(&mut traced)).await;
    (out, traced)
}

async fn run_with<C: Check>(
    client: &Client,
    requests: Vec<ChatRequest>,
    spec: &Spec,
    check: &C,
    rounds: Rounds,
    mut trace: Option<&mut Vec<TracedRound>>,
) -> Result<Vec<ItemExtraction<C>>> {
    let Rounds {
        submit,
        wait,
        run_id,
    } = rounds;
    let run_id = run_id.as_deref();
    let mode = spec
        .mode
        .unwrap_or_else(|| Mode::auto(client.provider(), client.model(), &client.base_url()));
    let run = match (run_id, &submit.store) {
        (Some(name), Some(_)) => Some(run_key(client, name, &requests, spec, mode)?),
        _ => None,
    };
    let n = requests.len();
    let mut convos = requests;
    let mut accounts: Vec<Accounts> = (0..n).map(|_| Accounts::default()).collect();
    let mut done: Vec<Option<ItemExtraction<C>>> = (0..n).map(|_| None).collect();
    let mut pending: Vec<usize> = (0..n).collect();
    for attempt in 1..=spec.max_retries.saturating_add(1) {
        if pending.is_empty() {
            break;
        }
        let batch: Vec<BatchRequest> = pending
            .iter()
            .filter_map(|&i| convos.get(i).map(|req| (i, req)))
            .map(|(i, req)| {
                let mut sent = req.clone();
                mode::shape(&mut sent, mode, client.provider(), &spec.name, &spec.schema);
                BatchRequest {
                    custom_id: Some(i.to_string()),
                    request: sent,
                }
            })
            .collect();
        // The clock is read only for a trace: an untraced run pays nothing for it.
        let mut round = trace.is_some().then(|| Round::new(batch.len()));
        let mut resumed = false;
        let submitted = match (&run, &submit.store) {
            (Some(key), Some(path)) => {
                let id = format!("batchjob_x{key}_{attempt}");
                match BatchJob::find(client, &id, path) {
                    Ok(Some(job)) => {
                        resumed = true;
                        Ok(job)
                    }
                    Ok(None) => BatchJob::submit_as(client, id, batch, submit.clone()).await,
                    Err(e) => Err(e),
                }
            }
            _ => BatchJob::submit(client, batch, submit.clone()).await,
        };
        if let Some(r) = round.as_mut() {
            r.submitted(resumed);
        }
        let job = match submitted {
            Ok(job) => job,
            Err(e) => {
                Round::keep(round, trace, None, Some(&e));
                return Err(e);
            }
        };
        let mut polls = Vec::new();
        let waited = job
            .wait(wait, |info| {
                if round.is_some() {
                    polls.push((SystemTime::now(), info.clone()));
                }
                Ok(())
            })
            .await;
        if let Some(r) = round.as_mut() {
            r.waited(polls);
        }
        let results = waited.and_then(|()| job.results());
        let results = match results {
            Ok(results) => results,
            Err(e) => {
                Round::keep(round, trace, Some(&job), Some(&e));
                return Err(e);
            }
        };
        let mut again = Vec::new();
        for (&i, item) in pending.iter().zip(results) {
            let (Some(acc), Some(slot), Some(req)) =
                (accounts.get_mut(i), done.get_mut(i), convos.get_mut(i))
            else {
                continue;
            };
            let resp = match item.result {
                Ok(resp) => resp,
                Err(e) => {
                    *slot = Some(Err(Failure::Llm(e)));
                    if let Some(r) = round.as_mut() {
                        r.t.failed += 1;
                    }
                    continue;
                }
            };
            let cost = if item.batch_priced {
                crate::model::batch_cost_usd(&resp.provider, &resp.model, &resp.usage)
            } else {
                resp.cost_usd()
            };
            acc.add_priced(&resp, cost);
            let answer = mode::answer(&resp, &spec.name);
            let mut record = AttemptRecord {
                raw: answer.raw(),
                errors: Vec::new(),
                usage: resp.usage,
                finish_reason: resp.finish_reason,
            };
            let verdict = read(&answer, &resp, &spec.schema)
                .map_err(Verdict::Invalid)
                .and_then(|value| check.check(attempt, value));
            if let Some(r) = round.as_mut() {
                match &verdict {
                    Ok(_) => r.t.valid += 1,
                    Err(Verdict::Abort(_)) => r.t.failed += 1,
                    Err(Verdict::Invalid(_)) => r.t.reasked += 1,
                }
            }
            match verdict {
                Ok(value) => {
                    acc.records.push(record);
                    *slot = Some(Ok(std::mem::take(acc).finish(value, mode)));
                }
                Err(Verdict::Abort(e)) => *slot = Some(Err(Failure::Abort(e))),
                Err(Verdict::Invalid(errors)) => {
                    record.errors = errors;
                    reask(req, &answer, &record.errors, &spec.name);
                    acc.records.push(record);
                    again.push(i);
                }
            }
        }
        // The last round's re-asks are not sent: they end without a value.
        if let Some(r) = round.as_mut().filter(|_| attempt > spec.max_retries) {
            r.t.failed += r.t.reasked;
            r.t.reasked = 0;
        }
        Round::keep(round, trace.as_deref_mut(), Some(&job), None);
        pending = again;
    }
    Ok(done
        .into_iter()
        .zip(accounts)
        .map(|(slot, acc)| {
            slot.unwrap_or_else(|| {
                let n = acc.records.len();
                Err(acc.fail(format!("no valid answer after {n} attempt(s)")))
            })
        })
        .collect())
}

/// A round being traced: its record, and the clock it is timed by.
struct Round {
    t: TracedRound,
    t0: Instant,
}

impl Round {
    fn new(sent: usize) -> Self {
        Self {
            t: TracedRound {
                started: SystemTime::now(),
                submit: Duration::ZERO,
                resumed: false,
                wait: Duration::ZERO,
                polls: Vec::new(),
                duration: Duration::ZERO,
                job: None,
                sent,
                valid: 0,
                reasked: 0,
                failed: 0,
                error: None,
            },
            t0: Instant::now(),
        }
    }

    fn submitted(&mut self, resumed: bool) {
        self.t.submit = self.t0.elapsed();
        self.t.resumed = resumed;
    }

    fn waited(&mut self, polls: Vec<(SystemTime, JobInfo)>) {
        self.t.wait = self.t0.elapsed().saturating_sub(self.t.submit);
        self.t.polls = polls;
    }

    /// The round is over (with `error`, the run too): kept in the trace.
    fn keep(
        round: Option<Self>,
        trace: Option<&mut Vec<TracedRound>>,
        job: Option<&BatchJob>,
        error: Option<&LlmError>,
    ) {
        if let (Some(mut r), Some(trace)) = (round, trace) {
            r.t.duration = r.t0.elapsed();
            r.t.job = job.map(|j| (j.info(), j.provider_batch_ids()));
            r.t.error = error.map(|e| e.kind);
            trace.push(r.t);
        }
    }
}

/// What names one run: SHA-256 over the caller's run id, the provider and model, and each
/// request as the first round sends it (the schema is in it), first 16 bytes in hex.
fn run_key(
    client: &Client,
    run_id: &str,
    requests: &[ChatRequest],
    spec: &Spec,
    mode: Mode,
) -> Result<String> {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for part in [run_id, client.provider(), client.model()] {
        ctx.update(part.as_bytes());
        ctx.update(&[0]);
    }
    for req in requests {
        let mut sent = req.clone();
        mode::shape(&mut sent, mode, client.provider(), &spec.name, &spec.schema);
        let json = serde_json::to_vec(&sent).map_err(|e| {
            crate::error::LlmError::config(format!("a request cannot be serialised: {e}"))
        })?;
        ctx.update(&json);
        ctx.update(&[0]);
    }
    Ok(ctx
        .finish()
        .as_ref()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect())
}
