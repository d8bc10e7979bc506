//! A traced extraction: one span for the whole `extract` call, a child per extraction attempt
//! (each re-ask visible, with what was wrong with the answer before it), and under each the
//! requests its chat call sent. The core keeps the attempts (`crate::extract::run_traced`); they are
//! handed to `llmrail._otel.Extraction` once the extraction is over, as for a chat call.

use std::time::UNIX_EPOCH;

use pyo3::prelude::*;
use pyo3::types::PyList;
use pyo3::IntoPyObjectExt;

use super::{attempts, module, tell, unraisable, Open};
use crate::client::Client;
use crate::error::LlmError;
use crate::extract::TracedAttempt;
use crate::py::bridge;
use crate::py::bridge::coroutine::{self, Coroutine};
use crate::py::exit;
use crate::py::extract::{self, Outcome, PreparedExtraction};
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
