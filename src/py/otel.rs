//! OpenTelemetry's door: whether a client traces (decided once, when it is built), and the
//! hand-over of each traced call to `llmrail._otel`, which makes the spans and records the
//! metrics through the OpenTelemetry API.
//!
//! The cost without OpenTelemetry is one look into `sys.modules` per client built: a process
//! that never imported `opentelemetry` never imports `llmrail._otel`, and its calls take the
//! plain path (one `bool` read). A traced call asks the core to keep a record per attempt
//! (`CallOptions::record`) and hands them over once it is over, with the answer or the error:
//! the attempt spans are made after the fact, with their real start and end times.
//!
//! Tracing never breaks a call: an exception raised in `llmrail._otel` is reported as
//! unraisable and the call's own outcome goes to the caller unchanged.

pub(super) mod batch;
pub(super) mod extract;
pub(super) mod images;
pub(super) mod queue;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::UNIX_EPOCH;

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyList, PyModule};
use pyo3::IntoPyObjectExt;

use super::bridge;
use super::bridge::coroutine::{self, Coroutine};
use super::convert::RequestArgs;
use super::errors::to_py;
use super::exit;
use super::hooks::CallHooks;
use super::options::Overrides;
use super::types::{PyChatResponse, PyStreamEvent};
use crate::client::Client;
use crate::error::{LlmError, Result};
use crate::model::{ChatRequest, ChatResponse};
use crate::resilience::{AttemptRecord, CallReport};

static OTEL: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

fn module(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    OTEL.get_or_try_init(py, || Ok(py.import("llmrail._otel")?.unbind()))
        .map(|m| m.bind(py))
}

/// Whether a client built now traces: OpenTelemetry is already imported (nothing is imported
/// here) and `llmrail._otel.enabled()` finds a tracer or meter provider configured.
pub(super) fn wanted(py: Python<'_>) -> bool {
    // `sys.modules` is looked up once: an import of `sys` at each call was most of the cost of
    // a queue submission's check (it asks at every submit).
    static MODULES: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let imported =
        || -> PyResult<bool> {
            let modules = MODULES
                .get_or_try_init(py, || {
                    Ok::<_, PyErr>(py.import("sys")?.getattr("modules")?.unbind())
                })?
                .bind(py);
            Ok(modules.contains("opentelemetry.trace")?
                || modules.contains("opentelemetry.metrics")?)
        };
    if !imported().unwrap_or(false) {
        return false;
    }
    let enabled = || -> PyResult<bool> { module(py)?.call_method0("enabled")?.extract() };
    exit::callout(enabled).is_some_and(|on| on.unwrap_or_else(|e| unraisable(py, e)))
}

fn unraisable<T: Default>(py: Python<'_>, e: PyErr) -> T {
    e.write_unraisable(py, None);
    T::default()
}

/// Open the call's span (under the caller's current span); `None` if tracing failed.
/// `messages` are the caller's, recorded only when content capture is on.
fn start(
    py: Python<'_>,
    client: &Client,
    operation: &'static str,
    req: &ChatRequest,
    messages: Py<PyAny>,
) -> Option<Py<PyAny>> {
    let server = client.target_info();
    let open = || -> PyResult<Py<PyAny>> {
        let args = (
            operation,
            server.provider,
            server.model.as_str(),
            server.address.as_str(),
            server.port,
            req.max_tokens,
            req.temperature,
            req.top_p,
            messages,
        );
        Ok(module(py)?.getattr("Call")?.call1(args)?.unbind())
    };
    exit::callout(open).and_then(|r| r.map(Some).unwrap_or_else(|e| unraisable(py, e)))
}

/// Tell the call's span how it ended.
fn tell<'py, A>(py: Python<'py>, call: &Py<PyAny>, method: &str, args: A)
where
    A: pyo3::call::PyCallArgs<'py>,
{
    let sent = || call.call_method1(py, method, args).map(drop);
    if let Some(Err(e)) = exit::callout(sent) {
        e.write_unraisable(py, Some(call.bind(py)));
    }
}

/// The attempts as tuples `_otel` reads: (provider, model, server address, server port,
/// fallback index or None, start in ns since the epoch, duration in s, HTTP status, error kind,
/// retry wait in s, whether the server asked for it, rate-limit wait in s).
pub(super) fn attempts<'py>(
    py: Python<'py>,
    log: Option<Vec<AttemptRecord>>,
) -> PyResult<Bound<'py, PyList>> {
    let rows = log.unwrap_or_default().into_iter().map(|r| {
        let started = r
            .started
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        let (provider, model, address, port) = match &r.target {
            Some(t) => (t.provider, t.model.clone(), t.address.clone(), t.port),
            None => ("", String::new(), String::new(), None),
        };
        (
            provider,
            model,
            address,
            port,
            r.fallback,
            started,
            r.duration.as_secs_f64(),
            r.status,
            r.error.map(|k| k.name()),
            r.retry_wait.as_secs_f64(),
            r.retry_after,
            r.rate_limit_wait.as_secs_f64(),
        )
            .into_py_any(py)
    });
    PyList::new(py, rows.collect::<PyResult<Vec<_>>>()?)
}

/// The answer (or the error) of a traced buffered call, its span ended first.
fn finish_chat(
    py: Python<'_>,
    call: Option<Py<PyAny>>,
    (out, mut report): (Result<ChatResponse>, CallReport),
) -> PyResult<Py<PyAny>> {
    let tried = attempts(py, report.log.take())?;
    match out {
        Ok(r) => {
            let id = r.response_id();
            let answer = PyChatResponse::from((r, report)).into_py_any(py)?;
            if let Some(call) = call {
                tell(py, &call, "succeed", (answer.clone_ref(py), id, tried));
            }
            Ok(answer)
        }
        Err(e) => {
            let err = to_py(e);
            if let Some(call) = call {
                tell(py, &call, "fail", (err.value(py).clone(), tried));
            }
            Err(err)
        }
    }
}

/// A traced call's span while the call runs: dropped before the call finished (asyncio
/// cancelled it), it ends the span as cancelled.
struct Open(Option<Py<PyAny>>);

impl Open {
    fn take(mut self) -> Option<Py<PyAny>> {
        self.0.take()
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        if let Some(call) = self.0.take() {
            exit::attach(|py| tell(py, &call, "abandon", ()));
        }
    }
}

/// `Client.chat()` when the client traces.
pub(super) fn chat(
    client: Client,
    args: RequestArgs,
    overrides: Overrides,
    messages: Py<PyAny>,
    hooks: Option<CallHooks>,
) -> PyResult<Coroutine> {
    coroutine::call(
        move |py| {
            let req = args.into_request(py)?;
            let mut opts = overrides.resolve()?;
            opts.record = true;
            let call = Open(start(py, &client, "chat", &req, messages));
            Ok(async move { Ok::<_, LlmError>((client.chat_reported(req, opts).await, call)) })
        },
        move |py, (out, call)| CallHooks::settle(hooks, py, finish_chat(py, call.take(), out)),
    )
}

/// `Client.chat_sync()` when the client traces.
pub(super) fn chat_sync(
    py: Python<'_>,
    client: &Client,
    args: RequestArgs,
    overrides: Overrides,
    messages: Py<PyAny>,
    hooks: Option<CallHooks>,
) -> PyResult<Py<PyAny>> {
    let req = args.into_request(py)?;
    let mut opts = overrides.resolve()?;
    opts.record = true;
    let call = Open(start(py, client, "chat", &req, messages));
    let out = bridge::block(py, async { Ok(client.chat_reported(req, opts).await) })?;
    CallHooks::settle(hooks, py, finish_chat(py, call.take(), out))
}

/// `Client.stream()` when the client traces: the stream and its span, which ends at the last
/// event.
pub(super) fn stream(
    py: Python<'_>,
    client: &Client,
    args: RequestArgs,
    overrides: Overrides,
    messages: Py<PyAny>,
) -> PyResult<(crate::client::ChatStream, Option<StreamTrace>)> {
    let req = args.into_request(py)?;
    let mut opts = overrides.resolve()?;
    opts.record = true;
    let call = start(py, client, "chat", &req, messages);
    let stream = client.stream_with(req, opts).map_err(to_py)?;
    Ok((stream, call.map(StreamTrace::new)))
}

/// A traced stream's span, told of its first event, and of its end with the attempts' log.
pub(crate) struct StreamTrace {
    call: Py<PyAny>,
    first_seen: AtomicBool,
    ended: AtomicBool,
    /// Taken from the stream when `Done` or the error comes, off the GIL; handed over with it.
    log: Mutex<Option<Vec<AttemptRecord>>>,
}

impl StreamTrace {
    fn new(call: Py<PyAny>) -> Self {
        Self {
            call,
            first_seen: AtomicBool::new(false),
            ended: AtomicBool::new(false),
            log: Mutex::new(None),
        }
    }

    /// Keep the attempts' log the stream holds once its call is over.
    pub(crate) fn keep(&self, stream: &mut crate::client::ChatStream) {
        if let Some(log) = stream.take_log() {
            if let Ok(mut kept) = self.log.lock() {
                *kept = Some(log);
            }
        }
    }

    fn log(&self) -> Option<Vec<AttemptRecord>> {
        self.log.lock().ok().and_then(|mut l| l.take())
    }

    /// What the caller is handed next, seen by the span: the first event marks the time to
    /// first chunk, "done" or an error ends the span.
    pub(crate) fn seen(
        &self,
        py: Python<'_>,
        next: std::result::Result<Option<PyStreamEvent>, LlmError>,
    ) -> PyResult<Option<Py<PyStreamEvent>>> {
        match next {
            Ok(Some(event)) => {
                let done = event.is_done();
                let event = Py::new(py, event)?;
                if !self.first_seen.swap(true, Ordering::Relaxed) {
                    tell(py, &self.call, "first_chunk", ());
                }
                if done && !self.ended.swap(true, Ordering::Relaxed) {
                    let tried = attempts(py, self.log())?;
                    tell(
                        py,
                        &self.call,
                        "succeed_stream",
                        (event.clone_ref(py), tried),
                    );
                }
                Ok(Some(event))
            }
            Ok(None) => Ok(None),
            Err(e) => {
                let err = to_py(e);
                if !self.ended.swap(true, Ordering::Relaxed) {
                    let tried = attempts(py, self.log())?;
                    tell(py, &self.call, "fail", (err.value(py).clone(), tried));
                }
                Err(err)
            }
        }
    }

    /// The consumer stopped before the end (`close()`, or the stream was dropped): the span
    /// ends there, marked as cancelled.
    pub(crate) fn abandon(&self, py: Python<'_>) {
        if !self.ended.swap(true, Ordering::Relaxed) {
            tell(py, &self.call, "abandon", ());
        }
    }
}

impl Drop for StreamTrace {
    /// A stream dropped before its end still ends its span.
    fn drop(&mut self) {
        if !self.ended.load(Ordering::Relaxed) {
            exit::attach(|py| self.abandon(py));
        }
    }
}
