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

use crate::batch::{BatchJob, BatchRequest, SubmitOptions, WaitOptions};
use crate::client::Client;
use crate::error::Result;
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
        let job = match (&run, &submit.store) {
            (Some(key), Some(path)) => {
                let id = format!("batchjob_x{key}_{attempt}");
                match BatchJob::find(client, &id, path)? {
                    Some(job) => job,
                    None => BatchJob::submit_as(client, id, batch, submit.clone()).await?,
                }
            }
            _ => BatchJob::submit(client, batch, submit.clone()).await?,
        };
        job.wait(wait, |_| Ok(())).await?;
        let mut again = Vec::new();
        for (&i, item) in pending.iter().zip(job.results()?) {
            let (Some(acc), Some(slot), Some(req)) =
                (accounts.get_mut(i), done.get_mut(i), convos.get_mut(i))
            else {
                continue;
            };
            let resp = match item.result {
                Ok(resp) => resp,
                Err(e) => {
                    *slot = Some(Err(Failure::Llm(e)));
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
