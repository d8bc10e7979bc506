//! The methods of `llmrail.Queue`, and `QueueItem` and `QueueWorker`: argument conversion
//! around `crate::queue::Queue`. Every behaviour (storage, leases, watermarks, processing) is
//! the core's; this file reads arguments and shapes results. The `Queue` class itself lives in
//! `queued.rs`, which `client.rs` needs for `chat(..., queue=)` while this file needs `Client`.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};
use pyo3::IntoPyObjectExt;
use pythonize::pythonize;
use serde_json::Value;

use super::arg::{opt, Arg};
use super::bridge;
use super::bridge::coroutine::{self, Coroutine};
use super::client::PyClient;
use super::convert::RequestArgs;
use super::errors::{config, to_py};
use super::json::to_value;
use super::options::{ChatOptions, ExtractOptions};
use super::otel::queue::{trace_items, SubmitSpan};
use super::queued::PyQueue;
use super::resilience::{positive_seconds, seconds};
use super::types::PyChatResponse;
use crate::error::LlmError;
use crate::providers::Secret;
use crate::queue::Workers;
use crate::queue::{
    DeliveryState, ExtractJob, Item, Queue, QueueConfig, State, StoredError, Submission,
};

/// Seconds since the Unix epoch, from the store's milliseconds.
fn epoch(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

/// A Python object from JSON the core holds.
fn py_json(py: Python<'_>, v: &Value) -> PyResult<Py<PyAny>> {
    pythonize(py, v)
        .map(Bound::unbind)
        .map_err(|e| to_py(LlmError::invalid_response(e.to_string())))
}

/// `request` as `submit` takes it: a str (one user message), or a dict of `messages` and chat
/// options. Policy overrides (`retry`, `deadline`) are refused: a worker's client sets those.
fn request_args(request: &Bound<'_, PyAny>) -> PyResult<RequestArgs> {
    if request.is_instance_of::<PyString>() {
        let (args, _) =
            ChatOptions::read(None, "Queue.submit()")?.with_messages(request.clone().unbind());
        return Ok(args);
    }
    let Ok(dict) = request.cast::<PyDict>() else {
        return Err(config(
            "a queued request is a str or a dict of chat options with \"messages\"",
        ));
    };
    let options = dict.copy()?;
    let Some(messages) = options.get_item("messages")? else {
        return Err(config("a queued request needs \"messages\""));
    };
    options.del_item("messages")?;
    let (args, overrides) =
        ChatOptions::read(Some(&options), "Queue.submit()")?.with_messages(messages.unbind());
    if !overrides.is_empty() {
        return Err(config(
            "a queued request takes no retry or deadline: the worker's client sets its policy",
        ));
    }
    Ok(args)
}

/// `request` as `submit(..., response_model=...)` takes it: a str or a dict of `messages` and
/// extraction options; the model's JSON Schema travels with it (its own validators cannot).
fn extraction_args(
    request: &Bound<'_, PyAny>,
    model: &Bound<'_, PyAny>,
) -> PyResult<(RequestArgs, ExtractJob)> {
    let py = request.py();
    let (messages, options) = if request.is_instance_of::<PyString>() {
        (request.clone(), None)
    } else {
        let Ok(dict) = request.cast::<PyDict>() else {
            return Err(config(
                "a queued request is a str or a dict of options with \"messages\"",
            ));
        };
        let options = dict.copy()?;
        let Some(messages) = options.get_item("messages")? else {
            return Err(config("a queued request needs \"messages\""));
        };
        options.del_item("messages")?;
        (messages, Some(options))
    };
    let o = ExtractOptions::read(options.as_ref(), "Queue.submit()")?;
    if o.include_raw || o.validation_context.is_some() {
        return Err(config(
            "a queued extraction takes no include_raw or validation_context: its value is read back with extracted()",
        ));
    }
    let (text, name): (String, String) = {
        let prepared = py
            .import("llmrail._extract")?
            .getattr("prepare")?
            .call1((model, py.None()))?;
        (
            prepared.get_item(0)?.extract()?,
            prepared.get_item(1)?.extract()?,
        )
    };
    let schema: Value = serde_json::from_str(&text)
        .map_err(|e| config(format!("the response model's schema is not JSON: {e}")))?;
    let job = ExtractJob {
        schema,
        name,
        mode: o.mode,
        max_retries: o.max_retries,
        token_budget: o.token_budget,
    };
    let (args, overrides) = o.chat.with_messages(messages.unbind());
    if !overrides.is_empty() {
        return Err(config(
            "a queued request takes no retry or deadline: the worker's client sets its policy",
        ));
    }
    Ok((args, job))
}

/// A target: a model string, or a `Client` (this process's workers then use that client).
fn target(queue: &Queue, target: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(client) = target.cast::<PyClient>() {
        let c = client.get().core().clone();
        let name = format!("{}/{}", c.provider(), c.model());
        queue.use_client(&name, c);
        return Ok(name);
    }
    target.extract::<Arg<String>>()?.get("target")
}

/// Workers of this process use these clients for their "provider/model".
fn use_clients(queue: &Queue, clients: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
    let Some(clients) = clients.filter(|c| !c.is_none()) else {
        return Ok(());
    };
    for c in clients.try_iter()? {
        let c = c?;
        let Ok(client) = c.cast::<PyClient>() else {
            return Err(config("clients must be a list of llmrail.Client"));
        };
        target(queue, client.as_any())?;
    }
    Ok(())
}

fn states(value: Option<Vec<String>>) -> PyResult<Vec<State>> {
    match value {
        None => Ok(vec![State::Completed, State::Failed, State::Expired]),
        Some(names) => names
            .iter()
            .map(|n| State::parse(n))
            .collect::<Result<_, _>>()
            .map_err(to_py),
    }
}

impl PyQueue {
    /// What `submit` and `submit_sync` read: the request's arguments and what goes with it.
    #[allow(clippy::too_many_arguments)]
    fn submission(
        &self,
        request: &Bound<'_, PyAny>,
        target: &Bound<'_, PyAny>,
        response_model: Option<&Bound<'_, PyAny>>,
        callback_url: Option<Arg<String>>,
        metadata: Option<&Bound<'_, PyAny>>,
        idempotency_key: Option<Arg<String>>,
        priority: Arg<i64>,
    ) -> PyResult<(RequestArgs, Submission)> {
        let (args, extract) = match response_model.filter(|m| !m.is_none()) {
            None => (request_args(request)?, None),
            Some(model) => {
                let (args, job) = extraction_args(request, model)?;
                (args, Some(job))
            }
        };
        let sub = Submission {
            target: self::target(&self.inner, target)?,
            metadata: metadata
                .filter(|m| !m.is_none())
                .map(|m| to_value(m, "metadata"))
                .transpose()?,
            idempotency_key: opt(idempotency_key, "idempotency_key")?,
            priority: priority.get("priority")?,
            callback_url: opt(callback_url, "callback_url")?,
            extract,
            traceparent: None,
        };
        Ok((args, sub))
    }
}

#[pymethods]
impl PyQueue {
    #[new]
    #[pyo3(
        signature = (url, *, capacity=Arg::new(1000), high_watermark=Arg::new(0.8), low_watermark=Arg::new(0.6), ttl=Arg::new(14400.0), max_attempts=Arg::new(3), lease=Arg::new(60.0), webhook_secret=None, webhook_attempts=Arg::new(10), webhook_max_age=Arg::new(86400.0)),
        text_signature = "(url, *, capacity=1000, high_watermark=0.8, low_watermark=0.6, ttl=14400.0, max_attempts=3, lease=60.0, webhook_secret=None, webhook_attempts=10, webhook_max_age=86400.0)"
    )]
    #[allow(clippy::too_many_arguments)]
    fn new(
        url: Arg<String>,
        capacity: Arg<u64>,
        high_watermark: Arg<f64>,
        low_watermark: Arg<f64>,
        ttl: Arg<f64>,
        max_attempts: Arg<u32>,
        lease: Arg<f64>,
        webhook_secret: Option<Arg<String>>,
        webhook_attempts: Arg<u32>,
        webhook_max_age: Arg<f64>,
    ) -> PyResult<Self> {
        let ttl = positive_seconds("ttl", Some(ttl))?.unwrap_or_default();
        let webhook_max_age =
            positive_seconds("webhook_max_age", Some(webhook_max_age))?.unwrap_or_default();
        let cfg = QueueConfig {
            capacity: capacity.get("capacity")?,
            high_watermark: high_watermark.get("high_watermark")?,
            low_watermark: low_watermark.get("low_watermark")?,
            ttl,
            max_attempts: max_attempts.get("max_attempts")?,
            lease: seconds("lease", lease)?,
            webhook_secret: opt(webhook_secret, "webhook_secret")?.map(Secret::new),
            webhook_attempts: webhook_attempts.get("webhook_attempts")?,
            webhook_max_age,
        };
        let url = url.get("url")?;
        let inner = Queue::open(&url, cfg).map_err(to_py)?;
        Ok(Self { inner })
    }

    /// The URL (a password redacted).
    #[getter]
    fn url(&self) -> &str {
        self.inner.url()
    }

    fn __repr__(&self) -> String {
        format!("Queue({:?})", self.inner.url())
    }

    /// Store a request (committed before this returns); await it: the item's id.
    #[pyo3(
        signature = (request, *, target, response_model=None, callback_url=None, metadata=None, idempotency_key=None, priority=Arg::new(0)),
        text_signature = "($self, request, *, target, response_model=None, callback_url=None, metadata=None, idempotency_key=None, priority=0)"
    )]
    #[allow(clippy::too_many_arguments)]
    fn submit(
        &self,
        request: &Bound<'_, PyAny>,
        target: &Bound<'_, PyAny>,
        response_model: Option<&Bound<'_, PyAny>>,
        callback_url: Option<Arg<String>>,
        metadata: Option<&Bound<'_, PyAny>>,
        idempotency_key: Option<Arg<String>>,
        priority: Arg<i64>,
    ) -> PyResult<Coroutine> {
        let (args, mut sub) = self.submission(
            request,
            target,
            response_model,
            callback_url,
            metadata,
            idempotency_key,
            priority,
        )?;
        let queue = self.inner.clone();
        coroutine::call(
            move |py| {
                let req = args.into_request(py)?;
                let span = SubmitSpan::start(py, &sub.target);
                sub.traceparent = span.traceparent(py);
                Ok(async move { Ok::<_, LlmError>((queue.submit(&req, sub).await, span)) })
            },
            |py, (id, span)| span.finish(py, id)?.into_py_any(py),
        )
    }

    /// The same submission, blocking this thread (the GIL is released while waiting).
    #[pyo3(
        signature = (request, *, target, response_model=None, callback_url=None, metadata=None, idempotency_key=None, priority=Arg::new(0)),
        text_signature = "($self, request, *, target, response_model=None, callback_url=None, metadata=None, idempotency_key=None, priority=0)"
    )]
    #[allow(clippy::too_many_arguments)]
    fn submit_sync(
        &self,
        py: Python<'_>,
        request: &Bound<'_, PyAny>,
        target: &Bound<'_, PyAny>,
        response_model: Option<&Bound<'_, PyAny>>,
        callback_url: Option<Arg<String>>,
        metadata: Option<&Bound<'_, PyAny>>,
        idempotency_key: Option<Arg<String>>,
        priority: Arg<i64>,
    ) -> PyResult<String> {
        let (args, mut sub) = self.submission(
            request,
            target,
            response_model,
            callback_url,
            metadata,
            idempotency_key,
            priority,
        )?;
        let req = args.into_request(py)?;
        let span = SubmitSpan::start(py, &sub.target);
        sub.traceparent = span.traceparent(py);
        let out = bridge::block(py, async {
            Ok::<_, LlmError>(self.inner.submit(&req, sub).await)
        })?;
        span.finish(py, out)
    }

    /// The item's state, attempts, times and errors; await it.
    fn status(&self, qid: String) -> PyResult<Coroutine> {
        let queue = self.inner.clone();
        coroutine::call(
            move |_| Ok(async move { queue.status(&qid).await }),
            |py, item| PyQueueItem(item).into_py_any(py),
        )
    }

    /// The same, blocking this thread (the GIL is released while waiting).
    fn status_sync(&self, py: Python<'_>, qid: &str) -> PyResult<PyQueueItem> {
        bridge::block(py, self.inner.status(qid)).map(PyQueueItem)
    }

    /// The response once the item has one (waiting up to `wait` seconds, forever when None);
    /// raises the stored error of a FAILED item, `ExpiredError` for an EXPIRED one.
    #[pyo3(signature = (qid, *, wait=None))]
    fn result(&self, qid: String, wait: Option<Arg<f64>>) -> PyResult<Coroutine> {
        let wait = wait.map(|w| seconds("wait", w)).transpose()?;
        let queue = self.inner.clone();
        coroutine::call(
            move |_| Ok(async move { queue.result(&qid, wait).await }),
            |py, r| PyChatResponse::from(r).into_py_any(py),
        )
    }

    /// The same, blocking this thread (the GIL is released while waiting; Ctrl-C stops it).
    #[pyo3(signature = (qid, *, wait=None))]
    fn result_sync(
        &self,
        py: Python<'_>,
        qid: &str,
        wait: Option<Arg<f64>>,
    ) -> PyResult<PyChatResponse> {
        let wait = wait.map(|w| seconds("wait", w)).transpose()?;
        bridge::block(py, self.inner.result(qid, wait)).map(PyChatResponse::from)
    }

    /// An extraction item's validated value (a dict for a model or a schema), waiting as
    /// `result` does.
    #[pyo3(signature = (qid, *, wait=None))]
    fn extracted(&self, qid: String, wait: Option<Arg<f64>>) -> PyResult<Coroutine> {
        let wait = wait.map(|w| seconds("wait", w)).transpose()?;
        let queue = self.inner.clone();
        coroutine::call(
            move |_| Ok(async move { queue.extracted(&qid, wait).await }),
            |py, v| py_json(py, &v),
        )
    }

    /// Process items until cancelled, `concurrency` at a time; `clients` are used for their
    /// "provider/model" (others are built from the model string and the environment).
    #[pyo3(
        signature = (*, concurrency=Arg::new(8), clients=None),
        text_signature = "($self, *, concurrency=8, clients=None)"
    )]
    fn work(
        &self,
        py: Python<'_>,
        concurrency: Arg<u32>,
        clients: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Coroutine> {
        use_clients(&self.inner, clients)?;
        trace_items(py, &self.inner);
        let n = usize::try_from(concurrency.get("concurrency")?).unwrap_or(usize::MAX);
        let queue = self.inner.clone();
        coroutine::call(
            move |_| Ok(async move { queue.work(n).await }),
            |py, ()| Ok(py.None()),
        )
    }

    /// Workers in the background for the length of a `with` / `async with` block.
    #[pyo3(
        signature = (*, concurrency=Arg::new(8), clients=None),
        text_signature = "($self, *, concurrency=8, clients=None)"
    )]
    fn worker(
        &self,
        py: Python<'_>,
        concurrency: Arg<u32>,
        clients: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyQueueWorker> {
        use_clients(&self.inner, clients)?;
        trace_items(py, &self.inner);
        let n = usize::try_from(concurrency.get("concurrency")?).unwrap_or(usize::MAX);
        if n == 0 {
            return Err(config("a queue worker's concurrency must be at least 1"));
        }
        Ok(PyQueueWorker {
            queue: self.inner.clone(),
            concurrency: n,
            task: std::sync::Mutex::new(None),
        })
    }

    /// Counts by state, the oldest waiting item's age and whether submissions are refused.
    fn stats(&self) -> PyResult<Coroutine> {
        let queue = self.inner.clone();
        coroutine::call(
            move |_| Ok(async move { queue.stats().await }),
            |py, s| {
                let d = PyDict::new(py);
                for state in State::ALL {
                    d.set_item(state.as_str().to_lowercase(), s.count(state))?;
                }
                let now = crate::queue::now_ms();
                d.set_item(
                    "oldest_queued_age",
                    s.oldest_queued_ms.map(|t| epoch(now.saturating_sub(t))),
                )?;
                d.set_item("finished_last_minute", s.finished_last_minute)?;
                d.set_item("refusing", s.refusing)?;
                d.set_item("webhooks_pending", s.webhooks_pending)?;
                d.set_item("webhooks_failed", s.webhooks_failed)?;
                Ok(d.into_any().unbind())
            },
        )
    }

    /// Items in `state` (any when None), oldest first.
    #[pyo3(
        signature = (*, state=None, limit=Arg::new(100)),
        text_signature = "($self, *, state=None, limit=100)"
    )]
    fn list(&self, state: Option<Arg<String>>, limit: Arg<u32>) -> PyResult<Coroutine> {
        let state = opt(state, "state")?
            .map(|s| State::parse(&s))
            .transpose()
            .map_err(to_py)?;
        let limit = limit.get("limit")?;
        let queue = self.inner.clone();
        coroutine::call(
            move |_| Ok(async move { queue.list(state, limit).await }),
            |py, items| {
                let list = PyList::empty(py);
                for item in items {
                    list.append(PyQueueItem(item))?;
                }
                Ok(list.into_any().unbind())
            },
        )
    }

    /// Call `callback(event)` on every state change this process makes, from a runtime thread
    /// (keep it short: it holds the GIL). An exception it raises is logged, not raised.
    fn on_event(&self, callback: Py<PyAny>) -> PyResult<()> {
        let mut events = self.inner.subscribe();
        let handle = crate::runtime::handle().map_err(to_py)?;
        handle.spawn(async move {
            loop {
                let event = match events.recv().await {
                    Ok(e) => e,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(missed = n, "a queue on_event callback fell behind");
                        continue;
                    }
                    // Every handle on the queue is gone.
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                };
                let called = super::exit::attach(|py| {
                    let d = PyDict::new(py);
                    d.set_item("queue_id", &event.id)?;
                    d.set_item("state", event.state.as_str())?;
                    d.set_item("target", &event.target)?;
                    d.set_item("attempts", event.attempts)?;
                    d.set_item("at", epoch(event.at_ms))?;
                    callback.call1(py, (d,)).map(drop)
                });
                match called {
                    Some(Ok(())) => {}
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "a queue on_event callback raised");
                    }
                    // The interpreter is ending.
                    None => return,
                }
            }
        });
        Ok(())
    }

    /// Queue a FAILED or EXPIRED item again; whether it was.
    fn retry(&self, qid: String) -> PyResult<Coroutine> {
        let queue = self.inner.clone();
        coroutine::call(
            move |_| Ok(async move { queue.retry(&qid).await }),
            |py, done| done.into_py_any(py),
        )
    }

    /// Delete the items in `states` (finished ones when None); how many.
    #[pyo3(signature = (*, states=None))]
    fn purge(&self, states: Option<Vec<String>>) -> PyResult<Coroutine> {
        let states = self::states(states)?;
        let queue = self.inner.clone();
        coroutine::call(
            move |_| Ok(async move { queue.purge(states).await }),
            |py, n| n.into_py_any(py),
        )
    }
}

/// One item as `status()` shows it.
#[pyclass(name = "QueueItem", frozen, module = "llmrail._core")]
pub struct PyQueueItem(Item);

#[pymethods]
impl PyQueueItem {
    #[getter]
    fn id(&self) -> &str {
        &self.0.id
    }

    /// "QUEUED", "PROCESSING", "COMPLETED", "FAILED" or "EXPIRED".
    #[getter]
    fn state(&self) -> &'static str {
        self.0.state.as_str()
    }

    #[getter]
    fn target(&self) -> &str {
        &self.0.target
    }

    #[getter]
    fn attempts(&self) -> u32 {
        self.0.attempts
    }

    #[getter]
    fn max_attempts(&self) -> u32 {
        self.0.max_attempts
    }

    #[getter]
    fn priority(&self) -> i64 {
        self.0.priority
    }

    /// Where the final status is POSTed, signed.
    #[getter]
    fn callback_url(&self) -> Option<&str> {
        self.0.callback_url.as_deref()
    }

    #[getter]
    fn idempotency_key(&self) -> Option<&str> {
        self.0.idempotency_key.as_deref()
    }

    #[getter]
    fn metadata(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match &self.0.metadata {
            Some(v) => py_json(py, v),
            None => Ok(py.None()),
        }
    }

    /// The request as stored (OpenAI-shaped messages and the chat options).
    #[getter]
    fn request(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        py_json(py, &self.0.request)
    }

    /// Seconds since the Unix epoch.
    #[getter]
    fn created_at(&self) -> f64 {
        epoch(self.0.created_ms)
    }

    #[getter]
    fn updated_at(&self) -> f64 {
        epoch(self.0.updated_ms)
    }

    #[getter]
    fn expires_at(&self) -> f64 {
        epoch(self.0.expires_ms)
    }

    #[getter]
    fn finished_at(&self) -> Option<f64> {
        self.0.finished_ms.map(epoch)
    }

    /// Every failed attempt's error, oldest first: dicts of kind (the exception class's name),
    /// message, status and at (seconds since the epoch).
    #[getter]
    fn errors(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let list = PyList::empty(py);
        for e in &self.0.errors {
            list.append(error_dict(py, e)?)?;
        }
        Ok(list.into_any().unbind())
    }

    /// Its webhook, once it has one: a dict of delivery_id, state ("PENDING", "DELIVERED" or
    /// "GAVE_UP"), attempts, created_at, next_at (while PENDING), settled_at and last_error.
    #[getter]
    fn webhook(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let Some(w) = &self.0.webhook else {
            return Ok(py.None());
        };
        let d = PyDict::new(py);
        d.set_item("delivery_id", &w.id)?;
        d.set_item("state", w.state.as_str())?;
        d.set_item("attempts", w.attempts)?;
        d.set_item("created_at", epoch(w.created_ms))?;
        d.set_item(
            "next_at",
            w.due_ms
                .filter(|_| w.state == DeliveryState::Pending)
                .map(epoch),
        )?;
        d.set_item("settled_at", w.settled_ms.map(epoch))?;
        d.set_item("last_error", &w.last_error)?;
        Ok(d.into_any().unbind())
    }

    /// The last error's "Kind: message", if any.
    #[getter]
    fn last_error(&self) -> Option<String> {
        self.0
            .errors
            .last()
            .map(|e| format!("{}: {}", e.kind, e.message))
    }

    fn __repr__(&self) -> String {
        format!(
            "QueueItem(id={:?}, state={:?}, target={:?}, attempts={})",
            self.0.id,
            self.0.state.as_str(),
            self.0.target,
            self.0.attempts
        )
    }
}

fn error_dict<'py>(py: Python<'py>, e: &StoredError) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("kind", &e.kind)?;
    d.set_item("message", &e.message)?;
    d.set_item("status", e.status)?;
    d.set_item("at", epoch(e.at_ms))?;
    Ok(d)
}

/// Workers running in the background while a `with` / `async with` block runs.
#[pyclass(name = "QueueWorker", frozen, module = "llmrail._core")]
pub struct PyQueueWorker {
    queue: Queue,
    concurrency: usize,
    task: std::sync::Mutex<Option<Workers>>,
}

/// How long leaving a worker block waits for its workers' last store step.
const STOP_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

impl PyQueueWorker {
    fn slot(&self) -> std::sync::MutexGuard<'_, Option<Workers>> {
        self.task.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[pymethods]
impl PyQueueWorker {
    /// Start the workers (a second start while running does nothing).
    fn start(&self) -> PyResult<()> {
        let mut slot = self.slot();
        if slot.is_none() {
            *slot = Some(self.queue.spawn_workers(self.concurrency).map_err(to_py)?);
        }
        Ok(())
    }

    /// Stop them and wait for their last store step: items in progress go back to other
    /// workers once their leases run out; none is taken after this returns.
    fn stop(&self, py: Python<'_>) -> PyResult<()> {
        let Some(workers) = self.slot().take() else {
            return Ok(());
        };
        bridge::block(py, async move {
            workers.stop(STOP_LIMIT).await;
            Ok(())
        })
    }

    #[getter]
    fn running(&self) -> bool {
        self.slot().as_ref().is_some_and(Workers::running)
    }

    fn __enter__(slf: Py<Self>) -> PyResult<Py<Self>> {
        slf.get().start()?;
        Ok(slf)
    }

    fn __exit__(
        &self,
        py: Python<'_>,
        _exc_type: Py<PyAny>,
        _exc: Py<PyAny>,
        _tb: Py<PyAny>,
    ) -> PyResult<bool> {
        self.stop(py)?;
        Ok(false)
    }

    fn __aenter__(slf: Py<Self>) -> PyResult<Coroutine> {
        slf.get().start()?;
        coroutine::call(
            move |_| Ok(async move { Ok(()) }),
            move |py, ()| Ok(slf.into_any().clone_ref(py)),
        )
    }

    fn __aexit__(
        &self,
        _exc_type: Py<PyAny>,
        _exc: Py<PyAny>,
        _tb: Py<PyAny>,
    ) -> PyResult<Coroutine> {
        let workers = self.slot().take();
        coroutine::call(
            move |_| {
                Ok(async move {
                    if let Some(w) = workers {
                        w.stop(STOP_LIMIT).await;
                    }
                    Ok(())
                })
            },
            |py, ()| false.into_py_any(py),
        )
    }
}
