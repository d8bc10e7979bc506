//! Spans of queue items. A traced `submit` is a PRODUCER span `queue submit {model}` whose
//! W3C `traceparent` is stored with the item; a worker in a traced process hands each item it
//! processed (`crate::queue::ItemSpan`, its outcome stored) to a thread of its own, which makes
//! a CONSUMER span `queue process {model}` under the submitter's span, with the call's span and
//! its requests under it, through `llmrail._otel_jobs` (the gateway's way: built after the fact
//! from records, so the core stays free of Python and the worker loop only pushes into a
//! [`Drain`]; a full backlog drops the record rather than slow the worker). A call that
//! `processing=` sends to the queue gets the same submission span (`DivertSpan`).

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use pyo3::prelude::*;
use pyo3::types::PyList;
use pyo3::IntoPyObjectExt;

use super::batch::jobs;
use super::{tell, unraisable, wanted};
use crate::error::LlmError;
use crate::py::drain::Drain;
use crate::py::errors::to_py;
use crate::py::exit;
use crate::queue::{ItemSink, ItemSpan, Queue, QueueTrace};

/// Processed items waiting for the span thread; past this, new ones are dropped.
const BACKLOG: usize = 8192;
/// At most this many items' spans are made per hold of the GIL.
const BATCH: usize = 256;

/// A submission's span while it runs; empty when no tracer or meter provider is configured.
pub(crate) struct SubmitSpan(Option<Py<PyAny>>);

impl SubmitSpan {
    /// Open `queue submit {target}` under the caller's current span.
    pub(crate) fn start(py: Python<'_>, target: &str) -> Self {
        if !wanted(py) {
            return Self(None);
        }
        let open = || -> PyResult<Py<PyAny>> {
            Ok(jobs(py)?.getattr("QueueSubmit")?.call1((target,))?.unbind())
        };
        Self(exit::callout(open).and_then(|r| r.map(Some).unwrap_or_else(|e| unraisable(py, e))))
    }

    /// The span's context as a W3C `traceparent`, to store with the item.
    pub(crate) fn traceparent(&self, py: Python<'_>) -> Option<String> {
        let span = self.0.as_ref()?;
        let read = || {
            span.getattr(py, "traceparent")?
                .extract::<Option<String>>(py)
        };
        exit::callout(read).and_then(|r| r.unwrap_or_else(|e| unraisable(py, e)))
    }

    /// The submission is over: the item's id, or the error (as raised).
    pub(crate) fn finish(
        mut self,
        py: Python<'_>,
        out: Result<String, LlmError>,
    ) -> PyResult<String> {
        let span = self.0.take();
        match out {
            Ok(id) => {
                if let Some(span) = &span {
                    tell(py, span, "end", (Some(id.as_str()), None::<Py<PyAny>>));
                }
                Ok(id)
            }
            Err(e) => {
                let e = to_py(e);
                if let Some(span) = &span {
                    tell(py, span, "end", (None::<&str>, Some(e.value(py).clone())));
                }
                Err(e)
            }
        }
    }
}

impl Drop for SubmitSpan {
    fn drop(&mut self) {
        if let Some(span) = self.0.take() {
            exit::attach(|py| tell(py, &span, "abandon", ()));
        }
    }
}

/// The `queue submit {target}` span of a call that `processing=` may send to the queue (`chat`
/// or `extract` with `queue=`): opened only if the call is queued, at that moment (the core
/// asks for the traceparent to store just before it stores the item), and ended with the
/// item's id, or the error that kept it out of the queue. `None` unless traced.
pub(crate) struct DivertSpan {
    target: String,
    opened: Arc<Mutex<Option<SubmitSpan>>>,
}

impl DivertSpan {
    pub(crate) fn new(py: Python<'_>, target: &str) -> Option<Self> {
        wanted(py).then(|| Self {
            target: target.to_string(),
            opened: Arc::default(),
        })
    }

    /// What the core calls just before queueing: opens the span (under the caller's current
    /// span: the same thread and context that awaits the call) and gives its traceparent.
    pub(crate) fn on_queue(&self) -> QueueTrace {
        let (target, opened) = (self.target.clone(), self.opened.clone());
        Box::new(move || {
            exit::attach(|py| {
                let span = SubmitSpan::start(py, &target);
                let traceparent = span.traceparent(py);
                *opened.lock().unwrap_or_else(|p| p.into_inner()) = Some(span);
                traceparent
            })
            .flatten()
        })
    }

    /// The call is over: `queued` is the item's id if it went to the queue; `error` what the
    /// call raises (the span records it only if queueing was tried).
    pub(crate) fn end(self, py: Python<'_>, queued: Option<&str>, error: Option<&LlmError>) {
        let opened = self.opened.lock().unwrap_or_else(|p| p.into_inner()).take();
        let Some(span) = opened else {
            return;
        };
        let out = match (queued, error) {
            (_, Some(e)) => Err(e.clone()),
            (Some(id), None) => Ok(id.to_string()),
            // Opened, then neither queued nor failed: the span's drop marks it abandoned.
            (None, None) => return drop(span),
        };
        // The caller raises its own copy of an error: this one only marks the span.
        let _ = span.finish(py, out);
    }
}

/// Have `queue`'s workers in this process hand their items' traces to a span thread, when
/// OpenTelemetry is configured (once per queue: the first sink stays).
pub(crate) fn trace_items(py: Python<'_>, queue: &Queue) {
    if wanted(py) {
        if let Some(sink) = item_sink() {
            queue.trace_items(sink);
        }
    }
}

/// The sink workers push processed items into, and the thread that makes their spans; the
/// thread ends when the queue (the sink's last holder) is gone. The gateway's job queue gets
/// one too (`src/py/gateway.rs`).
pub(crate) fn item_sink() -> Option<ItemSink> {
    let export = |batch| exit::attach(|py| export(py, batch)).is_some();
    let drain = Drain::spawn(
        "llmrail-queue-spans",
        "queue item spans",
        BACKLOG,
        BATCH,
        export,
    )?;
    Some(Arc::new(move |span| drain.push(span)))
}

fn nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Hand a batch to `llmrail._otel_jobs.queue_items`; an exception there is reported as
/// unraisable (tracing never breaks a worker).
fn export(py: Python<'_>, batch: Vec<ItemSpan>) {
    let made = || -> PyResult<()> {
        let rows = batch
            .into_iter()
            .map(|r| row(py, r))
            .collect::<PyResult<Vec<_>>>()?;
        jobs(py)?.call_method1("queue_items", (PyList::new(py, rows)?,))?;
        Ok(())
    };
    if let Some(Err(e)) = exit::callout(made) {
        e.write_unraisable(py, None);
    }
}

/// One item as `llmrail._otel_jobs.Item` reads it.
fn row(py: Python<'_>, r: ItemSpan) -> PyResult<Py<PyAny>> {
    let call = match r.call {
        None => None,
        Some(c) => Some((
            c.operation,
            c.target.provider,
            c.target.model,
            c.target.address,
            c.target.port,
            nanos(c.started),
            c.duration.as_secs_f64(),
            c.error,
            super::attempts(py, Some(c.attempts))?,
        )),
    };
    (
        r.traceparent,
        r.id,
        r.target,
        r.attempt,
        nanos(r.started),
        r.duration.as_secs_f64(),
        r.outcome,
        r.error,
        call,
    )
        .into_py_any(py)
}
