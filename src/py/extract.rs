//! Structured extraction from Python: the pydantic (or plain JSON Schema) side of
//! `crate::extract`. `llmrail._extract.prepare` turns the caller's model into a schema, a name and
//! a validator; the core loop calls that validator once per attempt under the GIL ([`PyCheck`]),
//! so pydantic's custom validators run inside the re-ask loop and see the attempt number.

use std::sync::Arc;

use pyo3::exceptions::{PyStopAsyncIteration, PyStopIteration};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::IntoPyObjectExt;
use pythonize::pythonize;
use serde_json::Value;
use tokio::sync::Mutex;

use super::bridge;
use super::bridge::coroutine;
use super::errors::to_py;
use super::exit;
use super::hooks::CallHooks;
use super::json::to_value;
use super::options::ExtractOptions;
use super::types::PyUsage;
use crate::client::Client;
use crate::error::LlmError;
use crate::extract::{self, Check, Failure, Mode, Spec, Verdict};
use crate::queue::{Diverted, ExtractJob, Processing, Queue, QueueTrace};
use crate::resilience::CallOptions;

/// Validation in Python after the schema's: `validate(json_text, attempt) -> (ok, value | errors)`.
pub struct PyCheck {
    validate: Option<Py<PyAny>>,
}

impl Check for PyCheck {
    type Output = Py<PyAny>;
    type Abort = PyErr;

    fn check(&self, attempt: u32, value: Value) -> Result<Py<PyAny>, Verdict<PyErr>> {
        let bad = |e: String| Verdict::Abort(to_py(LlmError::invalid_response(e)));
        // Runs on a thread that released the GIL (a sync call, or a call polled by its loop).
        exit::attach(|py| {
            let Some(validate) = &self.validate else {
                return Ok(pythonize(py, &value)
                    .map_err(|e| bad(e.to_string()))?
                    .unbind());
            };
            // A pydantic model reads the JSON text itself (`model_validate_json`): faster than
            // building Python objects first, and JSON-mode validation is what an answer needs
            // (a strict model accepts a date as a string there).
            let text = serde_json::to_string(&value).map_err(|e| bad(e.to_string()))?;
            let out = validate
                .call1(py, (text, attempt))
                .map_err(Verdict::Abort)?;
            let (ok, payload): (bool, Bound<'_, PyAny>) =
                out.extract(py).map_err(Verdict::Abort)?;
            if ok {
                Ok(payload.unbind())
            } else {
                Err(Verdict::Invalid(payload.extract().map_err(Verdict::Abort)?))
            }
        })
        .unwrap_or_else(|| Err(Verdict::Abort(exit::ending())))
    }
}

/// Everything one extraction needs, as owned values.
pub struct PreparedExtraction {
    pub client: Client,
    pub req: crate::model::ChatRequest,
    pub spec: Spec,
    pub opts: CallOptions,
    pub check: Arc<PyCheck>,
    pub include_raw: bool,
    /// The schema as JSON text: what a queued extraction stores.
    schema_text: String,
}

static PREPARE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

pub fn prepare(
    py: Python<'_>,
    client: &Client,
    response_model: Py<PyAny>,
    messages: Py<PyAny>,
    o: ExtractOptions,
) -> PyResult<PreparedExtraction> {
    let (args, overrides) = o.chat.with_messages(messages);
    let opts = overrides.resolve()?;
    let prep = PREPARE.get_or_try_init(py, || {
        py.import("llmrail._extract")?
            .getattr("prepare")
            .map(Bound::unbind)
    })?;
    // The schema arrives as JSON text: a model's text is built once and cached by
    // `llmrail._extract`, and text is also the cache key of the compiled schema, so a repeated
    // extraction costs one hash instead of a dict conversion and a compile.
    let (text, name, validate): (String, String, Option<Py<PyAny>>) =
        exit::callout(|| prep.call1(py, (response_model, o.validation_context)))
            .ok_or_else(exit::ending)??
            .extract(py)?;
    let schema = extract::Schema::from_json(&text).map_err(to_py)?;
    Ok(PreparedExtraction {
        client: client.clone(),
        req: args.into_request(py)?,
        spec: Spec {
            schema,
            name,
            mode: Mode::parse(&o.mode).map_err(to_py)?,
            max_retries: o.max_retries,
            token_budget: o.token_budget,
        },
        opts,
        check: Arc::new(PyCheck { validate }),
        include_raw: o.include_raw,
        schema_text: text,
    })
}

pub type Outcome = Result<extract::Extraction<Py<PyAny>>, Failure<PyErr>>;

impl PreparedExtraction {
    pub async fn run(self) -> Result<Outcome, LlmError> {
        Ok(extract::run(
            &self.client,
            self.req,
            &self.spec,
            self.opts,
            self.check.as_ref(),
        )
        .await)
    }

    /// Run directly, keeping each attempt for a trace (`otel::extract`).
    pub async fn run_traced(self) -> (Outcome, Vec<extract::TracedAttempt>) {
        extract::run_traced(
            &self.client,
            self.req,
            &self.spec,
            self.opts,
            self.check.as_ref(),
        )
        .await
    }

    /// Run as `mode` says: directly (validators and all), or into `queue` with the schema.
    pub async fn divert(
        self,
        queue: Queue,
        mode: Processing,
        trace: Option<QueueTrace>,
    ) -> Result<Diverted<Outcome>, LlmError> {
        let job = ExtractJob {
            schema: serde_json::from_str(&self.schema_text)
                .map_err(|e| LlmError::config(format!("the schema is not JSON: {e}")))?,
            name: self.spec.name.clone(),
            mode: self.spec.mode.map_or("auto", Mode::as_str).to_string(),
            max_retries: self.spec.max_retries,
            token_budget: self.spec.token_budget,
        };
        let Self {
            client,
            req,
            spec,
            opts,
            check,
            ..
        } = self;
        let run = |req| extract::run(&client, req, &spec, opts, check.as_ref());
        queue
            .extract_traced(&client, req, job, mode, run, trace)
            .await
    }

    /// Start streaming; with `watch` (its span, when traced) each attempt is kept for it. The
    /// outcome reaches `hooks` as `extract`'s does.
    pub fn stream(
        self,
        watch: Option<Box<dyn Watch>>,
        hooks: Option<CallHooks>,
    ) -> PyResult<PyExtractStream> {
        let start = match watch {
            Some(_) => CoreStream::start_traced,
            None => CoreStream::start,
        };
        let s = start(self.client, self.req, self.spec, self.opts, self.check).map_err(to_py)?;
        Ok(PyExtractStream {
            inner: Arc::new(Mutex::new(Some(s))),
            include_raw: self.include_raw,
            watch,
            hooks: std::sync::Mutex::new(hooks),
        })
    }
}

/// `client.extract_batch(...)`: every conversation prepared as `extract` prepares one (the
/// first one's call kept for the rest: schema, mode, options), to be run through batch jobs
/// (`extract::batch::run`, by `otel::extract::batch`).
pub fn prepare_batch(
    py: Python<'_>,
    client: &Client,
    response_model: Py<PyAny>,
    list_of_messages: &Bound<'_, PyAny>,
    options: Option<&Bound<'_, pyo3::types::PyDict>>,
) -> PyResult<(PreparedExtraction, Vec<crate::model::ChatRequest>)> {
    let mut requests = Vec::new();
    let mut first: Option<PreparedExtraction> = None;
    for messages in list_of_messages.try_iter()? {
        let o = ExtractOptions::read(options, "Client.extract_batch()")?;
        let mut call = prepare(
            py,
            client,
            response_model.clone_ref(py),
            messages?.unbind(),
            o,
        )?;
        requests.push(std::mem::take(&mut call.req));
        first.get_or_insert(call);
    }
    match first {
        Some(call) => Ok((call, requests)),
        None => Err(to_py(LlmError::config(
            "extract_batch needs at least one conversation",
        ))),
    }
}

/// The outcome of `extract_batch` as the caller gets it: one entry per conversation, in order:
/// the value (or its `Extraction`, with `include_raw`), or the exception instance for that item.
pub fn batch_items(
    py: Python<'_>,
    out: Vec<extract::batch::ItemExtraction<PyCheck>>,
    include_raw: bool,
) -> PyResult<Py<PyAny>> {
    let items = out
        .into_iter()
        .map(|outcome| match finish(py, outcome, include_raw) {
            Ok(value) => value,
            Err(e) => e.into_value(py).into_any(),
        })
        .collect::<Vec<_>>();
    items.into_py_any(py)
}

/// As [`finish`], the outcome handed to the client's hooks first: `on_response` gets the
/// `Extraction` (value, attempts, usage, cost) whether or not the caller asked for it.
pub fn settle(
    py: Python<'_>,
    outcome: Outcome,
    include_raw: bool,
    hooks: Option<CallHooks>,
) -> PyResult<Py<PyAny>> {
    if hooks.is_none() {
        return finish(py, outcome, include_raw);
    }
    let full = CallHooks::settle(hooks, py, finish(py, outcome, true))?;
    if include_raw {
        return Ok(full);
    }
    let x = full.bind(py).cast::<PyExtraction>()?;
    Ok(x.get().value.clone_ref(py))
}

/// The value, or the `Extraction` around it when the caller asked for the accounting.
pub fn finish(py: Python<'_>, outcome: Outcome, include_raw: bool) -> PyResult<Py<PyAny>> {
    let x = match outcome {
        Ok(x) => x,
        Err(Failure::Abort(e)) => return Err(e),
        Err(Failure::Llm(e)) => return Err(to_py(e)),
    };
    if !include_raw {
        return Ok(x.value);
    }
    let out = PyExtraction {
        value: x.value,
        attempts: x.attempts.len(),
        usage: x.usage.into(),
        cost_usd: x.cost_usd,
        raw: x.attempts.iter().map(|a| a.raw.clone()).collect(),
        errors: x.attempts.into_iter().map(|a| a.errors).collect(),
        mode: x.mode.as_str(),
        provider: x.provider,
        model: x.model,
    };
    Ok(Py::new(py, out)?.into_any())
}

/// A validated value and what it took: attempts, tokens and cost summed over all of them, and
/// each attempt's raw answer and errors.
#[pyclass(name = "Extraction", frozen, module = "llmrail._core", get_all)]
pub struct PyExtraction {
    value: Py<PyAny>,
    attempts: usize,
    usage: PyUsage,
    cost_usd: Option<f64>,
    raw: Vec<String>,
    errors: Vec<Vec<String>>,
    mode: &'static str,
    provider: String,
    model: String,
}

#[pymethods]
impl PyExtraction {
    fn __repr__(&self, py: Python<'_>) -> String {
        let value = self
            .value
            .bind(py)
            .repr()
            .map(|r| r.to_string())
            .unwrap_or_default();
        format!(
            "Extraction(value={value}, attempts={}, mode={:?}, usage={:?}, cost_usd={:?})",
            self.attempts,
            self.mode,
            (self.usage.input_tokens, self.usage.output_tokens),
            self.cost_usd
        )
    }
}

type CoreStream = extract::ExtractStream<Py<PyAny>, PyErr>;
type Item = extract::stream::Item<Py<PyAny>, PyErr>;
/// The next item, and with the last one of a traced stream, its attempts.
type Next = (Option<Item>, Option<Vec<extract::TracedAttempt>>);

/// What sees a stream's items before the caller does: its span, when the client traces
/// (`otel::extract::StreamSpan`).
pub trait Watch: Send + Sync {
    /// An item is about to be handed over (the first marks the time to first chunk).
    fn item(&self, py: Python<'_>);
    /// The outcome, with the attempts that led to it: the value (or the `Extraction`) or the
    /// exception, after the hooks had it.
    fn done(
        &self,
        py: Python<'_>,
        outcome: Outcome,
        traced: Vec<extract::TracedAttempt>,
        include_raw: bool,
        hooks: Option<CallHooks>,
    ) -> PyResult<Py<PyAny>>;
    /// The consumer stopped before the outcome.
    fn abandon(&self, py: Python<'_>);
}

/// `async for partial in client.extract_stream(...)`: partial dicts, then the validated value.
#[pyclass(name = "ExtractStream", frozen, module = "llmrail._core")]
pub struct PyExtractStream {
    inner: Arc<Mutex<Option<CoreStream>>>,
    include_raw: bool,
    watch: Option<Box<dyn Watch>>,
    /// Told by the outcome; a stream closed before it tells them nothing more.
    hooks: std::sync::Mutex<Option<CallHooks>>,
}

impl PyExtractStream {
    async fn next_item(inner: Arc<Mutex<Option<CoreStream>>>) -> Result<Next, LlmError> {
        let mut guard = inner.lock().await;
        let Some(stream) = guard.as_mut() else {
            return Ok((None, None));
        };
        let item = stream.next().await;
        if matches!(item, Some(Item::Partial(_))) {
            return Ok((item, None));
        }
        let traced = stream.take_trace();
        *guard = None;
        Ok((item, traced))
    }

    fn convert(&self, py: Python<'_>, (item, traced): Next, stop: PyErr) -> PyResult<Py<PyAny>> {
        if let (Some(watch), Some(_)) = (&self.watch, &item) {
            watch.item(py);
        }
        match (item, &self.watch) {
            (Some(Item::Partial(v)), _) => Ok(pythonize(py, &v)
                .map_err(|e| to_py(LlmError::invalid_response(e.to_string())))?
                .unbind()),
            (Some(Item::Done(outcome)), watch) => {
                let hooks = self.hooks.lock().ok().and_then(|mut h| h.take());
                match watch {
                    Some(w) => w.done(
                        py,
                        outcome,
                        traced.unwrap_or_default(),
                        self.include_raw,
                        hooks,
                    ),
                    None => settle(py, outcome, self.include_raw, hooks),
                }
            }
            (None, _) => Err(stop),
        }
    }
}

#[pymethods]
impl PyExtractStream {
    fn __aiter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __anext__(slf: Py<Self>) -> PyResult<coroutine::Coroutine> {
        let inner = slf.get().inner.clone();
        coroutine::call(
            move |_| Ok(Self::next_item(inner)),
            move |py, item| {
                slf.get()
                    .convert(py, item, PyStopAsyncIteration::new_err(()))
            },
        )
    }

    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __traverse__(&self, visit: pyo3::gc::PyVisit<'_>) -> Result<(), pyo3::PyTraverseError> {
        // Skipped while another thread holds them: a traversal must not block.
        if let Ok(held) = self.hooks.try_lock() {
            if let Some(h) = held.as_ref() {
                h.visit(&visit)?;
            }
        }
        Ok(())
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let item = bridge::block(py, Self::next_item(self.inner.clone()))?;
        self.convert(py, item, PyStopIteration::new_err(()))
    }

    /// Stop receiving and drop the connection.
    fn close(&self, py: Python<'_>) {
        if let Ok(mut guard) = self.inner.try_lock() {
            *guard = None;
        }
        if let Some(watch) = &self.watch {
            watch.abandon(py);
        }
    }
}

/// A compiled JSON Schema with llmrail's lenient parser in front: what extraction does with each
/// answer, usable on its own (and measured by `make bench`).
#[pyclass(name = "JsonSchema", frozen, module = "llmrail._core")]
pub struct PyJsonSchema {
    compiled: Arc<extract::Schema>,
}

#[pymethods]
impl PyJsonSchema {
    #[new]
    fn new(schema: &Bound<'_, PyAny>) -> PyResult<Self> {
        let schema = to_value(schema, "the schema")?;
        let compiled = extract::Schema::compiled(&schema).map_err(to_py)?;
        Ok(Self { compiled })
    }

    /// Parse `text` leniently and validate it: the value, or a `ValueError` listing every
    /// problem ("field: problem").
    fn validate_json<'py>(&self, py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyAny>> {
        let value = extract::parse::lenient(text)
            .map_err(|e| pyo3::exceptions::PyValueError::new_err(e.message))?;
        let value = extract::parse::fit_shape(value, &self.compiled.value);
        let errors = self.compiled.errors(&value);
        if !errors.is_empty() {
            return Err(pyo3::exceptions::PyValueError::new_err(errors.join("\n")));
        }
        pythonize(py, &value).map_err(|e| to_py(LlmError::invalid_response(e.to_string())))
    }

    /// Every problem with a value (already parsed), as "field: problem".
    fn errors(&self, value: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
        let value = to_value(value, "the value")?;
        Ok(self.compiled.errors(&value))
    }
}
