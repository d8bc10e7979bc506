//! A traced extraction: one span for the whole `extract` call, a child per extraction attempt
//! (each re-ask visible, with what was wrong with the answer before it), and under each the
//! requests its chat call sent. The core keeps the attempts (`crate::extract::run_traced`); they are
//! handed to `llmrail._otel.Extraction` once the extraction is over, as for a chat call.
//! `extract_stream` has the same span, open from the stream's start to its last item
//! ([`StreamSpan`]), with the time to its first item. `extract_batch` is a batch step's span
//! (`batch extract {model}`) with a child per round ([`batch`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::UNIX_EPOCH;

use pyo3::prelude::*;
use pyo3::types::PyList;
use pyo3::IntoPyObjectExt;

use super::batch::{info_args, JobSpan};
use super::{attempts, module, tell, unraisable, Open};
use crate::client::Client;
use crate::error::LlmError;
use crate::extract::batch::{self as extract_batch, Rounds, TracedRound};
use crate::extract::TracedAttempt;
use crate::model::ChatRequest;
use crate::py::bridge;
use crate::py::bridge::coroutine::{self, Coroutine};
use crate::py::errors::to_py;
use crate::py::exit;
use crate::py::extract::{self, Outcome, PreparedExtraction, PyExtractStream, Watch};
use crate::py::hooks::CallHooks;

/// Open the extraction's span under the caller's current span; `None` if tracing failed.
fn start(py: Python<'_>, client: &Client, call: &PreparedExtraction, messages: Py<PyAny>) -> Open {
    let server = client.target_info();
    let req = &call.req;
    let open = || -> PyResult<Py<PyAny>> {
        let args = (
            server.provider,
            server.model.as_str(),
            server.address.as_str(),
            server.port,
            req.max_tokens,
            req.temperature,
            req.top_p,
            messages,
            call.spec.name.as_str(),
            call.spec.max_retries,
        );
        Ok(module(py)?.getattr("Extraction")?.call1(args)?.unbind())
    };
    Open(exit::callout(open).and_then(|r| r.map(Some).unwrap_or_else(|e| unraisable(py, e))))
}

/// The attempts as tuples `_otel` reads: (start in ns since the epoch, duration in s, the
/// requests (as `attempts` gives them), raw answer or None, errors, usage (input, output, cache
/// read, cache write), finish reason, response id, response model, the call's error kind or None).
fn rows<'py>(py: Python<'py>, traced: Vec<TracedAttempt>) -> PyResult<Bound<'py, PyList>> {
    let rows = traced.into_iter().map(|t| {
        let started = t
            .started
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        let requests = attempts(py, Some(t.log))?;
        let (raw, errors, usage, finish) = match t.answer {
            Some(a) => (
                Some(a.raw),
                a.errors,
                a.usage,
                a.finish_reason.map(|f| f.as_str()),
            ),
            None => (None, Vec::new(), Default::default(), None),
        };
        (
            started,
            t.duration.as_secs_f64(),
            requests,
            raw,
            errors,
            (
                usage.input_tokens,
                usage.output_tokens,
                usage.cache_read_tokens,
                usage.cache_write_tokens,
            ),
            finish,
            t.response_id,
            t.model,
            t.error.map(|k| k.name()),
        )
            .into_py_any(py)
    });
    PyList::new(py, rows.collect::<PyResult<Vec<_>>>()?)
}

/// The extraction's value (or its exception) after the hooks had it, its span ended then.
fn settle(
    py: Python<'_>,
    call: Option<Py<PyAny>>,
    (outcome, traced): (Outcome, Vec<TracedAttempt>),
    include_raw: bool,
    hooks: Option<CallHooks>,
) -> PyResult<Py<PyAny>> {
    let tried = rows(py, traced)?;
    let mode = outcome.as_ref().ok().map(|x| x.mode.as_str());
    let answer = extract::settle(py, outcome, include_raw, hooks);
    if let Some(call) = call {
        match &answer {
            Ok(_) => tell(py, &call, "extracted", (mode, tried)),
            Err(e) => tell(py, &call, "failed", (e.value(py).clone(), tried)),
        }
    }
    answer
}

/// `Client.extract()` when the client traces (a call the queue may take is not traced here).
pub(crate) fn run(
    client: Client,
    call: PreparedExtraction,
    messages: Py<PyAny>,
    hooks: Option<CallHooks>,
) -> PyResult<Coroutine> {
    coroutine::call(
        move |py| {
            let include_raw = call.include_raw;
            let span = start(py, &client, &call, messages);
            Ok(async move { Ok::<_, LlmError>((call.run_traced().await, span, include_raw)) })
        },
        move |py, (out, span, include_raw)| settle(py, span.take(), out, include_raw, hooks),
    )
}

/// `Client.extract_sync()` when the client traces.
pub(crate) fn run_sync(
    py: Python<'_>,
    client: &Client,
    call: PreparedExtraction,
    messages: Py<PyAny>,
    hooks: Option<CallHooks>,
) -> PyResult<Py<PyAny>> {
    let include_raw = call.include_raw;
    let span = start(py, client, &call, messages);
    let out = bridge::block(py, async { Ok(call.run_traced().await) })?;
    settle(py, span.take(), out, include_raw, hooks)
}

/// `Client.extract_stream()` when the client traces.
pub(crate) fn stream(
    py: Python<'_>,
    call: PreparedExtraction,
    messages: Py<PyAny>,
    hooks: Option<CallHooks>,
) -> PyResult<PyExtractStream> {
    let span = start(py, &call.client, &call, messages).take();
    let watch = span.map(|call| {
        Box::new(StreamSpan {
            call: Mutex::new(Some(call)),
            first_seen: AtomicBool::new(false),
        }) as Box<dyn Watch>
    });
    call.stream(watch, hooks)
}

/// A traced extraction stream's span: the first item marks the time to first chunk, the
/// outcome ends it (with every attempt as a child, as `extract` has), and a stream closed or
/// dropped before its outcome ends it as cancelled.
struct StreamSpan {
    call: Mutex<Option<Py<PyAny>>>,
    first_seen: AtomicBool,
}

impl StreamSpan {
    fn take(&self) -> Option<Py<PyAny>> {
        self.call.lock().ok().and_then(|mut c| c.take())
    }
}

impl Watch for StreamSpan {
    fn item(&self, py: Python<'_>) {
        if self.first_seen.swap(true, Ordering::Relaxed) {
            return;
        }
        // Told outside the lock: Python code runs there.
        let call = self
            .call
            .lock()
            .ok()
            .and_then(|c| c.as_ref().map(|c| c.clone_ref(py)));
        if let Some(call) = call {
            tell(py, &call, "first_chunk", ());
        }
    }

    fn done(
        &self,
        py: Python<'_>,
        outcome: Outcome,
        traced: Vec<TracedAttempt>,
        include_raw: bool,
        hooks: Option<CallHooks>,
    ) -> PyResult<Py<PyAny>> {
        settle(py, self.take(), (outcome, traced), include_raw, hooks)
    }

    fn abandon(&self, py: Python<'_>) {
        if let Some(call) = self.take() {
            tell(py, &call, "abandon", ());
        }
    }
}

impl Drop for StreamSpan {
    fn drop(&mut self) {
        if let Some(call) = self.take() {
            exit::attach(|py| tell(py, &call, "abandon", ()));
        }
    }
}

/// The rounds as tuples `llmrail._otel_jobs.BatchStep.rounds` reads: (start in ns since the
/// epoch, submit in s, resumed, wait in s, polls (ns, job info), duration in s, the job or
/// None, sent, valid, re-asked, failed, error kind or None).
fn round_rows<'py>(py: Python<'py>, rounds: Vec<TracedRound>) -> PyResult<Bound<'py, PyList>> {
    let ns = |t: std::time::SystemTime| {
        t.duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
    };
    let rows = rounds.into_iter().map(|r| {
        let polls = r
            .polls
            .iter()
            .map(|(at, info)| (ns(*at), info_args(info)))
            .collect::<Vec<_>>();
        let job = r.job.as_ref().map(|(info, ids)| (info_args(info), ids));
        (
            ns(r.started),
            r.submit.as_secs_f64(),
            r.resumed,
            r.wait.as_secs_f64(),
            polls,
            r.duration.as_secs_f64(),
            job,
            (r.sent, r.valid, r.reasked, r.failed),
            r.error.map(|k| k.name()),
        )
            .into_py_any(py)
    });
    PyList::new(py, rows.collect::<PyResult<Vec<_>>>()?)
}

/// `Client.extract_batch()`: the rounds run through batch jobs; when a tracer or meter provider
/// is configured, one `batch extract {model}` span over them, each round a child with its
/// job's submit and wait.
pub(crate) fn batch(
    call: PreparedExtraction,
    requests: Vec<ChatRequest>,
    rounds: Rounds,
) -> PyResult<Coroutine> {
    coroutine::call(
        move |py| {
            let span = JobSpan::start(
                py,
                "extract",
                call.client.provider(),
                call.client.model(),
                None,
            );
            Ok(async move {
                let run = (
                    &call.client,
                    requests,
                    &call.spec,
                    call.check.as_ref(),
                    rounds,
                );
                let (out, traced) = if span.is_on() {
                    extract_batch::run_traced(run.0, run.1, run.2, run.3, run.4).await
                } else {
                    (
                        extract_batch::run(run.0, run.1, run.2, run.3, run.4).await,
                        Vec::new(),
                    )
                };
                Ok::<_, LlmError>((out, traced, span, call.include_raw, call.spec.name))
            })
        },
        |py, (out, traced, span, include_raw, schema)| {
            if span.is_on() {
                span.tell(py, "rounds", (schema, round_rows(py, traced)?));
            }
            match out {
                Ok(items) => {
                    span.end(py, None, None);
                    extract::batch_items(py, items, include_raw)
                }
                Err(e) => {
                    let e = to_py(e);
                    span.end(py, None, Some(&e));
                    Err(e)
                }
            }
        },
    )
}
