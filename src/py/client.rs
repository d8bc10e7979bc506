//! `llmrail.Client`: argument conversion around `crate::client::Client` (streams: `stream.rs`).

use std::num::NonZeroUsize;

use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyo3::{IntoPyObjectExt, PyTraverseError};

use super::arg::{opt, Arg};
use super::batch;
use super::bridge;
use super::bridge::coroutine::{self, Coroutine};
use super::cache;
use super::capabilities::PyCapabilities;
use super::convert;
use super::errors::to_py;
use super::extract;
use super::hooks::CallHooks;
use super::options::{ChatOptions, ExtractOptions};
use super::otel;
use super::otel::queue::DivertSpan;
use super::prompts::{prompted, schema_of, PyPrompt};
use super::queued::{PyQueue, PyQueued};
use super::resilience::{self, positive_seconds, PyBreakerStatus, PyRateLimit, PyRetry};
use super::stream::PyChatStream;
use super::types::PyChatResponse;
use crate::client::{Client, ClientConfig};
use crate::error::LlmError;
use crate::queue::{Answer, Diverted, Processing, Queue};

/// `stream()` does not queue: its events go to a caller reading them now, and a queued
/// request is answered later, to nobody reading. Said plainly rather than as an unknown keyword.
fn refuse_queueing(options: Option<&Bound<'_, PyDict>>) -> PyResult<()> {
    let Some(options) = options else {
        return Ok(());
    };
    for name in ["processing", "queue"] {
        if options.contains(name)? {
            return Err(pyo3::exceptions::PyTypeError::new_err(format!(
                "Client.stream() does not queue (got {name}=): a stream is read as it comes, and a \
                 queued request is answered later. Use chat(..., queue=queue, processing=\"auto\") \
                 for an answer or a Queued handle, or queue.submit(...)"
            )));
        }
    }
    Ok(())
}

/// The queue a chat call may go to, and when; `None` for a plain call.
fn routed(
    queue: Option<PyRef<'_, PyQueue>>,
    processing: &str,
) -> PyResult<Option<(Queue, Processing)>> {
    let mode = Processing::parse(processing).map_err(to_py)?;
    match (queue, mode) {
        (None, Processing::Direct) => Ok(None),
        (None, _) => Err(super::errors::config(format!(
            "processing={processing:?} needs a queue: chat(..., queue=llmrail.Queue(...))"
        ))),
        (Some(q), mode) => Ok(Some((q.inner.clone(), mode))),
    }
}

fn answer_to_py(py: Python<'_>, queue: Queue, answer: Answer) -> PyResult<Py<PyAny>> {
    match answer {
        Answer::Direct(r, report) => PyChatResponse::from((*r, report)).into_py_any(py),
        Answer::Queued(id) => PyQueued::new(queue, id).into_py_any(py),
    }
}

/// End a queue-routed call's submission span (if it was traced and queued, or failed being
/// queued) with the item's id or the error; the answer, or the error raised.
fn queued_span<T>(
    py: Python<'_>,
    span: Option<DivertSpan>,
    answer: Result<T, LlmError>,
    id: impl FnOnce(&T) -> Option<&str>,
) -> PyResult<T> {
    if let Some(span) = span {
        match &answer {
            Ok(a) => span.end(py, id(a), None),
            Err(e) => span.end(py, None, Some(e)),
        }
    }
    answer.map_err(to_py)
}

fn diverted_id(d: &Diverted<extract::Outcome>) -> Option<&str> {
    match d {
        Diverted::Queued(id) => Some(id),
        Diverted::Direct(_) => None,
    }
}

/// A queue route for an extraction: one that may be queued takes no `include_raw` (the
/// worker keeps no raw answers) nor `validation_context` (a worker validates by the schema).
fn queueable(
    routed: Option<(Queue, Processing)>,
    o: &ExtractOptions,
) -> PyResult<Option<(Queue, Processing)>> {
    match &routed {
        Some((_, mode)) if *mode != Processing::Direct && (o.include_raw || o.validation_context.is_some()) => {
            Err(super::errors::config(
                "an extraction that may be queued takes no include_raw or validation_context: its value is read back with Queued.result()",
            ))
        }
        _ => Ok(routed),
    }
}

fn diverted_to_py(
    py: Python<'_>,
    queue: Queue,
    diverted: Diverted<extract::Outcome>,
    include_raw: bool,
) -> PyResult<Py<PyAny>> {
    match diverted {
        Diverted::Direct(outcome) => extract::finish(py, outcome, include_raw),
        Diverted::Queued(id) => PyQueued::extraction(queue, id).into_py_any(py),
    }
}

#[pyclass(name = "Client", frozen, weakref, module = "llmrail._core")]
pub struct PyClient {
    inner: Client,
    /// OpenTelemetry was configured when the client was built (`otel.rs`): calls are traced.
    otel: bool,
    /// `llmrail._hooks.Hooks` when any of on_request, on_response, on_error was given. Shown
    /// to the garbage collector (`__traverse__`): a hook that refers to its own client makes a
    /// cycle, which the collector breaks by clearing the `Hooks` object (the client is frozen;
    /// as pyo3's guide says, a cycle through immutable references needs no `__clear__` there).
    hooks: Option<Py<PyAny>>,
    /// "provider/model", built once: formatting it on every call cost ~750 instructions of a
    /// ~90k-instruction call (callgrind, 256 in flight).
    target: String,
}

impl PyClient {
    /// The core client (the queue takes it as a target, or to use for one).
    pub(super) fn core(&self) -> &Client {
        &self.inner
    }

    /// Whether the client traces, and its hooks: what an image call needs to be seen.
    fn seen(&self, py: Python<'_>) -> super::images::Seen {
        super::images::Seen {
            otel: self.otel,
            hooks: self.hooks.as_ref().map(|h| h.clone_ref(py)),
        }
    }

    /// For a traced client, the call's messages (its span may record them); `None` otherwise.
    fn traced(&self, py: Python<'_>, messages: &Py<PyAny>) -> Option<Py<PyAny>> {
        self.otel.then(|| messages.clone_ref(py))
    }

    /// This call's hooks (`on_request` is told now): none for a client without hooks, or for
    /// a call the queue takes (`direct` is false).
    fn hooks_for(
        &self,
        py: Python<'_>,
        direct: bool,
        messages: &Py<PyAny>,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Option<CallHooks>> {
        match direct {
            true => CallHooks::start(
                py,
                self.hooks.as_ref(),
                self.inner.model(),
                messages,
                options,
            ),
            false => Ok(None),
        }
    }
}

#[pymethods]
impl PyClient {
    #[new]
    #[pyo3(signature = (model=None, *, api_key=None, base_url=None, timeout=None, headers=None, retry=None, deadline=None, connect_timeout=None, rate_limit=None, circuit_breaker=None, fallbacks=None, redis_url=None, prompt_cache=None, max_response_bytes=None, max_event_bytes=None, api_version=None, on_request=None, on_response=None, on_error=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        model: Option<Arg<String>>,
        api_key: Option<Arg<String>>,
        base_url: Option<Arg<String>>,
        timeout: Option<Arg<f64>>,
        headers: Option<Arg<Vec<(String, String)>>>,
        retry: Option<PyRef<'_, PyRetry>>,
        deadline: Option<Arg<f64>>,
        connect_timeout: Option<Arg<f64>>,
        rate_limit: Option<PyRef<'_, PyRateLimit>>,
        circuit_breaker: Option<&Bound<'_, PyAny>>,
        fallbacks: Option<&Bound<'_, PyAny>>,
        redis_url: Option<Arg<String>>,
        prompt_cache: Option<Arg<String>>,
        max_response_bytes: Option<Arg<NonZeroUsize>>,
        max_event_bytes: Option<Arg<NonZeroUsize>>,
        api_version: Option<Arg<String>>,
        on_request: Option<Py<PyAny>>,
        on_response: Option<Py<PyAny>>,
        on_error: Option<Py<PyAny>>,
    ) -> PyResult<Self> {
        let hooks = super::hooks::build(py, on_request, on_response, on_error)?;
        let prompt_cache = opt(prompt_cache, "prompt_cache")?;
        let mut cfg = ClientConfig {
            // None: the core reads LLMRAIL_MODEL (and LLMRAIL_FALLBACKS).
            model: opt(model, "model")?.unwrap_or_default(),
            api_key: opt(api_key, "api_key")?,
            base_url: opt(base_url, "base_url")?,
            timeout: positive_seconds("timeout", timeout)?,
            headers: opt(headers, "headers")?.unwrap_or_default(),
            retry: retry.map(|r| r.policy.clone()),
            deadline: positive_seconds("deadline", deadline)?,
            connect_timeout: positive_seconds("connect_timeout", connect_timeout)?,
            rate_limit: rate_limit.map(|r| r.cfg.clone()),
            circuit_breaker: resilience::breaker_setting(circuit_breaker)?,
            fallbacks: resilience::fallbacks(fallbacks)?,
            redis_url: opt(redis_url, "redis_url")?,
            max_response_bytes: opt(max_response_bytes, "max_response_bytes")?
                .map(NonZeroUsize::get),
            max_event_bytes: opt(max_event_bytes, "max_event_bytes")?.map(NonZeroUsize::get),
            api_version: opt(api_version, "api_version")?,
            ..ClientConfig::default()
        };
        cfg.prompt_cache = convert::prompt_cache(prompt_cache.as_deref())?.unwrap_or_default();
        let inner = Client::new(cfg).map_err(to_py)?;
        Ok(Self {
            target: format!("{}/{}", inner.provider(), inner.model()),
            inner,
            otel: otel::wanted(py),
            hooks,
        })
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.hooks)
    }

    #[getter]
    fn provider(&self) -> &'static str {
        self.inner.provider()
    }

    #[getter]
    fn model(&self) -> &str {
        self.inner.model()
    }

    /// Secret parts (userinfo, `key=`-like query values) shown as REDACTED.
    #[getter]
    fn base_url(&self) -> String {
        self.inner.base_url()
    }

    fn __repr__(&self) -> String {
        format!(
            "Client({}/{}, base_url={:?})",
            self.inner.provider(),
            self.inner.model(),
            self.inner.base_url()
        )
    }

    /// Image generation: `await client.images.generate(prompt, ...)`.
    #[getter]
    fn images(&self, py: Python<'_>) -> super::images::PyImages {
        super::images::PyImages::new(self.inner.clone(), self.seen(py))
    }

    /// Image generation, blocking: `client.images_sync.generate(prompt, ...)`.
    #[getter]
    fn images_sync(&self, py: Python<'_>) -> super::images::PyImagesSync {
        super::images::PyImagesSync::new(self.inner.clone(), self.seen(py))
    }

    /// What the model can do, from the provider and the model catalogue.
    #[getter]
    fn capabilities(&self) -> PyCapabilities {
        PyCapabilities(self.inner.capabilities())
    }

    /// One cheap authenticated request (listing the models); await it: the latency in seconds,
    /// or the typed error (`AuthenticationError` for a refused key).
    fn check(&self) -> PyResult<Coroutine> {
        let client = self.inner.clone();
        coroutine::call(
            move |_| Ok(async move { client.check().await }),
            |py, latency| latency.as_secs_f64().into_py_any(py),
        )
    }

    /// The same check, blocking this thread (the GIL is released while waiting).
    fn check_sync(&self, py: Python<'_>) -> PyResult<f64> {
        bridge::block(py, self.inner.check()).map(|latency| latency.as_secs_f64())
    }

    /// Cache totals over this client's calls so far, and its cache hit rate.
    fn cache_stats(&self) -> cache::PyCacheStats {
        self.inner.cache_stats().into()
    }

    /// This client's totals (calls, errors by kind, tokens, cost, latency p50/p95/p99) since
    /// it was built or last reset; `reset=True` starts counting again in the same moment.
    #[pyo3(signature = (*, reset=false))]
    fn stats(&self, reset: bool) -> super::telemetry::PyClientStats {
        self.inner.stats(reset).into()
    }

    /// Each circuit breaker's state (primary first, then fallbacks); read from Redis when the
    /// state is shared.
    fn health(&self, py: Python<'_>) -> PyResult<Vec<PyBreakerStatus>> {
        let snaps = bridge::block(py, self.inner.health())?;
        Ok(snaps.into_iter().map(PyBreakerStatus::from).collect())
    }

    /// One chat call; await it. With `queue=`, `processing` may send it to the queue: always
    /// ("queue") or when the provider is down ("auto"); a `Queued` handle comes back then.
    #[pyo3(signature = (messages=None, *, queue=None, processing="direct", prompt=None, variables=None, **options))]
    #[allow(clippy::too_many_arguments)]
    fn chat<'py>(
        &self,
        py: Python<'py>,
        messages: Option<Py<PyAny>>,
        queue: Option<PyRef<'_, PyQueue>>,
        processing: &str,
        prompt: Option<PyRef<'py, PyPrompt>>,
        variables: Option<&Bound<'py, PyAny>>,
        options: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Coroutine> {
        let target = &self.target;
        let (messages, options, again) =
            prompted(py, target, messages, prompt, variables, options)?;
        let read = ChatOptions::read(options.as_ref(), "Client.chat()")?;
        let routed = routed(queue, processing)?;
        let hooks = self.hooks_for(py, routed.is_none(), &messages, options.as_ref())?;
        let traced = self.traced(py, &messages);
        let (args, overrides) = read.with_messages(messages);
        let overrides = overrides.retargeted(again);
        let client = self.inner.clone();
        match (routed, traced) {
            (None, Some(messages)) => otel::chat(client, args, overrides, messages, hooks),
            (None, None) if hooks.is_some() => coroutine::call(
                move |py| {
                    let req = args.into_request(py)?;
                    let opts = overrides.resolve()?;
                    // The outcome, failed or not, reaches the hooks before the caller.
                    Ok(async move { Ok(client.chat_with(req, opts).await) })
                },
                move |py, out| {
                    let answer = out
                        .map_err(to_py)
                        .and_then(|r| PyChatResponse::from(r).into_py_any(py));
                    CallHooks::settle(hooks, py, answer)
                },
            ),
            (None, None) => coroutine::call(
                move |py| {
                    let req = args.into_request(py)?;
                    let opts = overrides.resolve()?;
                    Ok(async move { client.chat_with(req, opts).await })
                },
                |py, out| PyChatResponse::from(out).into_py_any(py),
            ),
            (Some((queue, mode)), _) => {
                let kept = queue.clone();
                let span = DivertSpan::new(py, target);
                coroutine::call(
                    move |py| {
                        let req = args.into_request(py)?;
                        let opts = overrides.resolve()?;
                        let trace = span.as_ref().map(DivertSpan::on_queue);
                        Ok(async move {
                            let answer = queue.chat_traced(&client, req, opts, mode, trace).await;
                            Ok((answer, span))
                        })
                    },
                    move |py, (answer, span)| {
                        let answer = queued_span(py, span, answer, |a| match a {
                            Answer::Queued(id) => Some(id),
                            Answer::Direct(..) => None,
                        })?;
                        answer_to_py(py, kept, answer)
                    },
                )
            }
        }
    }

    /// The same call, blocking this thread (the GIL is released while waiting).
    #[pyo3(signature = (messages=None, *, queue=None, processing="direct", prompt=None, variables=None, **options))]
    #[allow(clippy::too_many_arguments)]
    fn chat_sync<'py>(
        &self,
        py: Python<'py>,
        messages: Option<Py<PyAny>>,
        queue: Option<PyRef<'_, PyQueue>>,
        processing: &str,
        prompt: Option<PyRef<'py, PyPrompt>>,
        variables: Option<&Bound<'py, PyAny>>,
        options: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Py<PyAny>> {
        let target = &self.target;
        let (messages, options, again) =
            prompted(py, target, messages, prompt, variables, options)?;
        let read = ChatOptions::read(options.as_ref(), "Client.chat_sync()")?;
        let routed = routed(queue, processing)?;
        let hooks = self.hooks_for(py, routed.is_none(), &messages, options.as_ref())?;
        let traced = self.traced(py, &messages);
        let (args, overrides) = read.with_messages(messages);
        let overrides = overrides.retargeted(again);
        if let (None, Some(messages)) = (&routed, traced) {
            return otel::chat_sync(py, &self.inner, args, overrides, messages, hooks);
        }
        let req = args.into_request(py)?;
        let opts = overrides.resolve()?;
        match (routed, hooks) {
            (None, Some(hooks)) => {
                let out = bridge::block(py, async { Ok(self.inner.chat_with(req, opts).await) })?;
                hooks.finish(py, out, |py, out| PyChatResponse::from(out).into_py_any(py))
            }
            (None, None) => bridge::block(py, self.inner.chat_with(req, opts))
                .and_then(|out| PyChatResponse::from(out).into_py_any(py)),
            (Some((queue, mode)), _) => {
                let span = DivertSpan::new(py, target);
                let trace = span.as_ref().map(DivertSpan::on_queue);
                let answer = bridge::block(py, async {
                    Ok(queue.chat_traced(&self.inner, req, opts, mode, trace).await)
                })?;
                let answer = queued_span(py, span, answer, |a| match a {
                    Answer::Queued(id) => Some(id),
                    Answer::Direct(..) => None,
                })?;
                answer_to_py(py, queue, answer)
            }
        }
    }

    /// A streamed call: `async for event in client.stream(...)` or, sync, `for event in ...`.
    /// `prompt=` and `variables=` render a prompt template as `chat` does.
    /// It never queues (the lead's decision on issue 17): `queue=` / `processing=` are refused.
    #[pyo3(signature = (messages=None, *, prompt=None, variables=None, **options))]
    fn stream<'py>(
        &self,
        py: Python<'py>,
        messages: Option<Py<PyAny>>,
        prompt: Option<PyRef<'py, PyPrompt>>,
        variables: Option<&Bound<'py, PyAny>>,
        options: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<PyChatStream> {
        refuse_queueing(options)?;
        let target = &self.target;
        let (messages, options, again) =
            prompted(py, target, messages, prompt, variables, options)?;
        let traced = self.traced(py, &messages);
        let read = ChatOptions::read(options.as_ref(), "Client.stream()")?;
        let hooks = self.hooks_for(py, true, &messages, options.as_ref())?;
        let (args, overrides) = read.with_messages(messages);
        let overrides = overrides.retargeted(again);
        if let Some(messages) = traced {
            let (stream, trace) = otel::stream(py, &self.inner, args, overrides, messages)?;
            return Ok(PyChatStream::traced(stream, trace).hooked(hooks));
        }
        let req = args.into_request(py)?;
        let stream = self
            .inner
            .stream_with(req, overrides.resolve()?)
            .map_err(to_py)?;
        Ok(PyChatStream::new(stream).hooked(hooks))
    }

    /// Submit a batch job; await it for the `BatchJob` (its provider batches are created by
    /// then; in concurrent mode the calls run in `wait()`).
    #[pyo3(signature = (requests, *, store=None, concurrency=None))]
    fn submit_batch(
        &self,
        requests: &Bound<'_, PyAny>,
        store: Option<super::exit::FsPath>,
        concurrency: Option<NonZeroUsize>,
    ) -> PyResult<Coroutine> {
        let pending = batch::read_requests(requests, "Client.submit_batch()")?;
        batch::submit(
            &self.inner,
            pending,
            store.map(Into::into),
            concurrency.map(NonZeroUsize::get),
        )
    }

    /// Submit, wait and collect in one call; await it for one result per request, in order.
    #[pyo3(signature = (requests, *, poll_interval=None, timeout=None, store=None, concurrency=None))]
    fn batch(
        &self,
        requests: &Bound<'_, PyAny>,
        poll_interval: Option<Arg<f64>>,
        timeout: Option<Arg<f64>>,
        store: Option<super::exit::FsPath>,
        concurrency: Option<NonZeroUsize>,
    ) -> PyResult<Coroutine> {
        let pending = batch::read_requests(requests, "Client.batch()")?;
        let wait = batch::wait_options(poll_interval, timeout)?;
        batch::run(
            &self.inner,
            pending,
            store.map(Into::into),
            concurrency.map(NonZeroUsize::get),
            wait,
        )
    }

    /// A batcher: requests from many coroutines grouped into provider batches of up to
    /// `max_items`, each sent once full or once its oldest request has waited `max_wait` s.
    #[pyo3(signature = (max_items=100, max_wait=30.0, *, poll_interval=None, store=None))]
    fn batcher(
        &self,
        max_items: usize,
        max_wait: f64,
        poll_interval: Option<Arg<f64>>,
        store: Option<super::exit::FsPath>,
    ) -> PyResult<batch::PyBatcher> {
        let max_wait = crate::duration::from_secs(max_wait).ok_or_else(|| {
            super::errors::config(format!(
                "max_wait must be a number of seconds >= 0, got {max_wait}"
            ))
        })?;
        let wait = batch::wait_options(poll_interval, None)?;
        batch::PyBatcher::start(
            &self.inner,
            max_items,
            max_wait,
            store.map(Into::into),
            wait,
        )
    }

    /// Extract a pydantic model instance (or, for a JSON Schema dict, a dict); await it. With
    /// `queue=`, `processing` may send it to the queue as `chat` does, its schema with it.
    #[pyo3(signature = (response_model=None, messages=None, *, queue=None, processing="direct", prompt=None, variables=None, **options))]
    #[allow(clippy::too_many_arguments)]
    fn extract<'py>(
        &self,
        py: Python<'py>,
        response_model: Option<Py<PyAny>>,
        messages: Option<Py<PyAny>>,
        queue: Option<PyRef<'_, PyQueue>>,
        processing: &str,
        prompt: Option<PyRef<'py, PyPrompt>>,
        variables: Option<&Bound<'py, PyAny>>,
        options: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Coroutine> {
        let target = &self.target;
        let response_model = schema_of(py, response_model, prompt.as_deref())?;
        // The primary's rendering only: a fallback gets the same messages, since the re-ask
        // loop appends to them and its mode may extend the system prompt.
        let (messages, options, _) = prompted(py, target, messages, prompt, variables, options)?;
        let o = ExtractOptions::read(options.as_ref(), "Client.extract()")?;
        let client = self.inner.clone();
        let traced = self.traced(py, &messages);
        let routed = queueable(routed(queue, processing)?, &o)?;
        let hooks = self.hooks_for(py, routed.is_none(), &messages, options.as_ref())?;
        match (routed, traced) {
            (None, Some(kept)) => {
                let call = extract::prepare(py, &client, response_model, messages, o)?;
                otel::extract::run(client, call, kept, hooks)
            }
            (None, None) => coroutine::call(
                move |py| {
                    let call = extract::prepare(py, &client, response_model, messages, o)?;
                    let include_raw = call.include_raw;
                    Ok(async move { Ok((call.run().await?, include_raw)) })
                },
                |py, (outcome, include_raw)| extract::settle(py, outcome, include_raw, hooks),
            ),
            (Some((queue, mode)), _) => {
                let kept = queue.clone();
                let span = DivertSpan::new(py, target);
                coroutine::call(
                    move |py| {
                        let call = extract::prepare(py, &client, response_model, messages, o)?;
                        let include_raw = call.include_raw;
                        let trace = span.as_ref().map(DivertSpan::on_queue);
                        Ok(
                            async move {
                                Ok((call.divert(queue, mode, trace).await, span, include_raw))
                            },
                        )
                    },
                    move |py, (diverted, span, include_raw)| {
                        let diverted = queued_span(py, span, diverted, diverted_id)?;
                        diverted_to_py(py, kept, diverted, include_raw)
                    },
                )
            }
        }
    }

    /// Extract from each conversation of `list_of_messages` through provider batch jobs (half
    /// the price): each answer validated as `extract` validates it, the failures re-asked in a
    /// follow-up batch up to `max_retries` times; await it for one entry per conversation, in
    /// order: the value, or the exception for that item. With `run_id`, the same extraction run
    /// again against the same store continues where it stopped (see `extract::batch`).
    // The keyword arguments Python callers pass, one parameter each.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (response_model, list_of_messages, *, poll_interval=None, timeout=None, store=None, run_id=None, **options))]
    fn extract_batch(
        &self,
        py: Python<'_>,
        response_model: Py<PyAny>,
        list_of_messages: &Bound<'_, PyAny>,
        poll_interval: Option<Arg<f64>>,
        timeout: Option<Arg<f64>>,
        store: Option<super::exit::FsPath>,
        run_id: Option<String>,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Coroutine> {
        let wait = batch::wait_options(poll_interval, timeout)?;
        let submit = crate::batch::SubmitOptions {
            store: Some(batch::store_path(store.map(Into::into)).map_err(to_py)?),
            concurrency: None,
        };
        let (call, requests) =
            extract::prepare_batch(py, &self.inner, response_model, list_of_messages, options)?;
        let rounds = crate::extract::batch::Rounds {
            submit,
            wait,
            run_id,
        };
        otel::extract::batch(call, requests, rounds)
    }

    /// The same extraction, blocking this thread (the GIL is released while waiting).
    #[pyo3(signature = (response_model=None, messages=None, *, queue=None, processing="direct", prompt=None, variables=None, **options))]
    #[allow(clippy::too_many_arguments)]
    fn extract_sync<'py>(
        &self,
        py: Python<'py>,
        response_model: Option<Py<PyAny>>,
        messages: Option<Py<PyAny>>,
        queue: Option<PyRef<'_, PyQueue>>,
        processing: &str,
        prompt: Option<PyRef<'py, PyPrompt>>,
        variables: Option<&Bound<'py, PyAny>>,
        options: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Py<PyAny>> {
        let target = &self.target;
        let response_model = schema_of(py, response_model, prompt.as_deref())?;
        // The primary's rendering only: a fallback gets the same messages, since the re-ask
        // loop appends to them and its mode may extend the system prompt.
        let (messages, options, _) = prompted(py, target, messages, prompt, variables, options)?;
        let o = ExtractOptions::read(options.as_ref(), "Client.extract_sync()")?;
        let routed = queueable(routed(queue, processing)?, &o)?;
        let traced = self.traced(py, &messages);
        let hooks = self.hooks_for(py, routed.is_none(), &messages, options.as_ref())?;
        let call = extract::prepare(py, &self.inner, response_model, messages, o)?;
        let include_raw = call.include_raw;
        match (routed, traced) {
            (None, Some(messages)) => {
                otel::extract::run_sync(py, &self.inner, call, messages, hooks)
            }
            (None, None) => {
                let outcome = bridge::block(py, call.run())?;
                extract::settle(py, outcome, include_raw, hooks)
            }
            (Some((queue, mode)), _) => {
                let span = DivertSpan::new(py, target);
                let trace = span.as_ref().map(DivertSpan::on_queue);
                let diverted = bridge::block(py, async {
                    Ok(call.divert(queue.clone(), mode, trace).await)
                })?;
                let diverted = queued_span(py, span, diverted, diverted_id)?;
                diverted_to_py(py, queue, diverted, include_raw)
            }
        }
    }

    /// Partial dicts while the answer streams, then the validated value (`async for` or `for`).
    #[pyo3(signature = (response_model, messages, **options))]
    fn extract_stream(
        &self,
        py: Python<'_>,
        response_model: Py<PyAny>,
        messages: Py<PyAny>,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<extract::PyExtractStream> {
        let o = ExtractOptions::read(options, "Client.extract_stream()")?;
        let traced = self.traced(py, &messages);
        let hooks = self.hooks_for(py, true, &messages, options)?;
        let call = extract::prepare(py, &self.inner, response_model, messages, o)?;
        match traced {
            Some(messages) => otel::extract::stream(py, call, messages, hooks),
            None => call.stream(None, hooks),
        }
    }
}
