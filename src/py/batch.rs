//! `llmrail.BatchJob` and the batch methods of `Client`: argument conversion around
//! `crate::batch::BatchJob` (the engine is there; nothing here decides anything).
//!
//! Each request is a dict of `chat()`'s options plus `messages` and an optional `custom_id`,
//! read by the one options contract (`options.rs`), so a typo is the `TypeError` a call would
//! raise. `on_progress` is called on the thread that awaits `wait()`, with the GIL taken for the
//! call only; an exception it raises comes out of `wait()` unchanged. `progress=True` shows
//! `llmrail._progress.Progress` (tqdm, or a line on stderr), fed the same way.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use pyo3::{intern, IntoPyObjectExt};

use super::arg::Arg;
use super::bridge;
use super::bridge::coroutine::{self, Coroutine};
use super::convert::RequestArgs;
use super::errors::{config, to_py};
use super::exit;
use super::options::ChatOptions;
use super::otel::batch::JobSpan;
use super::resilience::positive_seconds;
use super::types::{PyChatResponse, PyUsage};
use crate::batch::{
    self, BatchJob, BatchRequest, Batcher, BatcherOptions, Counts, SubmitOptions, WaitOptions,
};
use crate::client::Client;
use crate::error::{ErrorKind, LlmError};

/// One request as handed over: its custom id and its chat arguments, read but not converted
/// (messages are converted when the call starts, as `chat()` does).
pub(super) struct Pending {
    custom_id: Option<String>,
    args: RequestArgs,
}

/// Read `requests` (a list of dicts) for `method`.
pub(super) fn read_requests(requests: &Bound<'_, PyAny>, method: &str) -> PyResult<Vec<Pending>> {
    let list = requests
        .cast::<PyList>()
        .map_err(|_| config(format!("{method}: requests must be a list of dicts")))?;
    let mut out = Vec::with_capacity(list.len());
    // The keys as interned str objects: made once, not once a request (5 strings an item).
    let py = requests.py();
    let (stream, messages_key, custom_id_key) = (
        intern!(py, "stream"),
        intern!(py, "messages"),
        intern!(py, "custom_id"),
    );
    let per_call = [
        ("retry", intern!(py, "retry")),
        ("deadline", intern!(py, "deadline")),
    ];
    for (i, item) in list.iter().enumerate() {
        let dict = item
            .cast::<PyDict>()
            .map_err(|_| config(format!("{method}: request {i} is not a dict")))?;
        if dict.contains(stream)? {
            return Err(config(format!(
                "{method}: request {i} asks to stream: a batch answers each request whole, \
                 so batch requests cannot stream"
            )));
        }
        for (per_call, key) in per_call {
            if dict.contains(key)? {
                return Err(config(format!(
                    "{method}: request {i} sets {per_call:?}, which is per call: a batch job is \
                     bounded by wait(timeout=...)"
                )));
            }
        }
        let messages = dict
            .get_item(messages_key)?
            .ok_or_else(|| config(format!("{method}: request {i} has no \"messages\"")))?;
        let custom_id = match dict.get_item(custom_id_key)? {
            Some(v) if !v.is_none() => Some(v.extract::<String>().map_err(|_| {
                config(format!("{method}: request {i}: custom_id must be a string"))
            })?),
            _ => None,
        };
        let (args, _) =
            ChatOptions::read_batch_request(dict, method)?.with_messages(messages.unbind());
        out.push(Pending { custom_id, args });
    }
    Ok(out)
}

/// The requests as the core takes them (messages converted now, with the GIL).
fn convert(py: Python<'_>, pending: Vec<Pending>) -> PyResult<Vec<BatchRequest>> {
    pending
        .into_iter()
        .map(|p| {
            Ok(BatchRequest {
                custom_id: p.custom_id,
                request: p.args.into_request(py)?,
            })
        })
        .collect()
}

pub(super) fn store_path(store: Option<PathBuf>) -> Result<PathBuf, LlmError> {
    match store {
        Some(p) => Ok(p),
        None => batch::default_store_path(),
    }
}

/// `submit_batch`'s work: convert, then submit.
pub(super) fn submit(
    client: &Client,
    requests: Vec<Pending>,
    store: Option<PathBuf>,
    concurrency: Option<usize>,
) -> PyResult<Coroutine> {
    let client = client.clone();
    coroutine::call(
        move |py| {
            let requests = convert(py, requests)?;
            let opts = SubmitOptions {
                store: Some(store_path(store).map_err(to_py)?),
                concurrency,
            };
            let span = JobSpan::start(py, "submit", client.provider(), client.model(), None);
            Ok(
                async move {
                    Ok::<_, LlmError>((BatchJob::submit(&client, requests, opts).await, span))
                },
            )
        },
        |py, (job, span)| {
            let inner = span.finish(py, job)?;
            PyBatchJob { inner }.into_py_any(py)
        },
    )
}

/// `batch`'s work: submit, wait, the results.
pub(super) fn run(
    client: &Client,
    requests: Vec<Pending>,
    store: Option<PathBuf>,
    concurrency: Option<usize>,
    wait: WaitOptions,
) -> PyResult<Coroutine> {
    let client = client.clone();
    coroutine::call(
        move |py| {
            let requests = convert(py, requests)?;
            let opts = SubmitOptions {
                store: Some(store_path(store).map_err(to_py)?),
                concurrency,
            };
            let span = JobSpan::start(py, "run", client.provider(), client.model(), None);
            Ok(async move {
                let out = async {
                    let job = BatchJob::submit(&client, requests, opts).await?;
                    job.wait(wait, |info| {
                        span.polled(info);
                        Ok(())
                    })
                    .await?;
                    Ok(job)
                }
                .await;
                Ok::<_, LlmError>((out, span))
            })
        },
        |py, (out, span)| results(py, &span.finish(py, out)?),
    )
}

/// `poll_interval` and `timeout` in seconds.
pub(super) fn wait_options(
    poll_interval: Option<Arg<f64>>,
    timeout: Option<Arg<f64>>,
) -> PyResult<WaitOptions> {
    Ok(WaitOptions {
        poll_interval: positive_seconds("poll_interval", poll_interval)?
            .unwrap_or(batch::DEFAULT_POLL_INTERVAL),
        timeout: positive_seconds("timeout", timeout)?,
    })
}

/// One entry per request, in input order: a `ChatResponse` or the `LLMError` instance.
fn results(py: Python<'_>, job: &BatchJob) -> PyResult<Py<PyAny>> {
    let items = job.results().map_err(to_py)?;
    let list = PyList::empty(py);
    for item in items {
        match item.result {
            Ok(r) => list.append(PyChatResponse::batch_item(
                r,
                item.attempts,
                item.batch_priced,
            ))?,
            Err(e) => list.append(to_py(e).into_value(py))?,
        }
    }
    Ok(list.into_any().unbind())
}

pub(super) fn counts_dict<'py>(py: Python<'py>, c: &Counts) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("pending", c.pending)?;
    d.set_item("succeeded", c.succeeded)?;
    d.set_item("errored", c.errored)?;
    d.set_item("cancelled", c.cancelled)?;
    d.set_item("expired", c.expired)?;
    Ok(d)
}

/// `{"jobs": {status: n, ...}, "items": counts, "provider_batches": n}`.
pub(super) fn stats_dict<'py>(
    py: Python<'py>,
    stats: &batch::Stats,
) -> PyResult<Bound<'py, PyDict>> {
    let jobs = PyDict::new(py);
    for (status, n) in stats.jobs.iter() {
        jobs.set_item(status.as_str(), n)?;
    }
    let d = PyDict::new(py);
    d.set_item("jobs", jobs)?;
    d.set_item("items", counts_dict(py, &stats.items)?)?;
    d.set_item("provider_batches", stats.provider_batches)?;
    Ok(d)
}

/// A provider batch job (or, for a provider without a batch API, concurrent calls).
#[pyclass(name = "BatchJob", frozen, module = "llmrail._core")]
pub struct PyBatchJob {
    inner: BatchJob,
}

#[pymethods]
impl PyBatchJob {
    #[getter]
    fn id(&self) -> String {
        self.inner.info().id
    }

    #[getter]
    fn provider(&self) -> String {
        self.inner.info().provider
    }

    #[getter]
    fn model(&self) -> String {
        self.inner.info().model
    }

    /// submitted, running, finalizing, ended, failed, cancelling, cancelled or expired.
    #[getter]
    fn status(&self) -> &'static str {
        self.inner.info().status.as_str()
    }

    /// "batch" (the provider's batch API) or "concurrent" (real-time calls).
    #[getter]
    fn mode(&self) -> &'static str {
        self.inner.info().mode.as_str()
    }

    #[getter]
    fn counts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        counts_dict(py, &self.inner.info().counts)
    }

    #[getter]
    fn created_at(&self) -> f64 {
        self.inner.info().created_at
    }

    /// The provider's deadline; Gemini's (which its batch does not name) is computed from the
    /// creation time and the guide's 48 hours.
    #[getter]
    fn expires_at(&self) -> Option<f64> {
        self.inner.info().expires_at
    }

    /// The ids of the provider batches made so far.
    #[getter]
    fn provider_batch_ids(&self) -> Vec<String> {
        self.inner.provider_batch_ids()
    }

    /// The requests' custom ids, in input order (as `results()` is).
    #[getter]
    fn custom_ids(&self) -> Vec<String> {
        self.inner.custom_ids()
    }

    /// The jobs this process holds (every `BatchJob` not yet dropped, a batcher's included) by
    /// status, their items by state, and their provider batches.
    #[staticmethod]
    fn process_stats(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
        stats_dict(py, &batch::process_stats())
    }

    /// Usage summed over the items that succeeded (the job must have ended).
    #[getter]
    fn usage(&self) -> PyResult<PyUsage> {
        let (usage, _) = self.inner.usage_and_cost().map_err(to_py)?;
        Ok(usage.into())
    }

    /// USD over the items that succeeded, at the provider's batch price.
    #[getter]
    fn cost_usd(&self) -> PyResult<Option<f64>> {
        Ok(self.inner.usage_and_cost().map_err(to_py)?.1)
    }

    /// Wait until every item has its result; await it.
    #[pyo3(signature = (*, poll_interval=None, timeout=None, on_progress=None, progress=false))]
    fn wait(
        &self,
        py: Python<'_>,
        poll_interval: Option<Arg<f64>>,
        timeout: Option<Arg<f64>>,
        on_progress: Option<Py<PyAny>>,
        progress: bool,
    ) -> PyResult<Coroutine> {
        let opts = wait_options(poll_interval, timeout)?;
        let job = self.inner.clone();
        let bar = progress.then(|| Bar::new(py, &job.info())).transpose()?;
        let raised: Arc<Mutex<Option<PyErr>>> = Arc::default();
        let kept = raised.clone();
        coroutine::call(
            move |py| {
                let info = job.info();
                let span = JobSpan::start(py, "wait", &info.provider, &info.model, Some(&job));
                Ok(async move {
                    let shown = |info: &batch::JobInfo| {
                        span.polled(info);
                        report(on_progress.as_ref(), bar.as_ref(), info, &raised)
                    };
                    let out = match job.wait(opts, shown).await {
                        Err(e) if e.kind == ErrorKind::Cancelled && is_set(&raised) => Ok(()),
                        other => other,
                    };
                    drop(bar);
                    Ok::<_, LlmError>((out, span, job))
                })
            },
            move |py, (out, span, job)| {
                let raised = kept.lock().unwrap_or_else(PoisonError::into_inner).take();
                let out = match (out, raised) {
                    (Err(e), _) => Err(to_py(e)),
                    (Ok(()), Some(e)) => Err(e),
                    (Ok(()), None) => Ok(py.None()),
                };
                span.end(py, Some(&job), out.as_ref().err());
                out
            },
        )
    }

    /// The same wait, blocking this thread (the GIL is released while waiting, and taken for
    /// `on_progress` and the progress display only).
    #[pyo3(signature = (*, poll_interval=None, timeout=None, on_progress=None, progress=false))]
    fn wait_sync(
        &self,
        py: Python<'_>,
        poll_interval: Option<Arg<f64>>,
        timeout: Option<Arg<f64>>,
        on_progress: Option<Py<PyAny>>,
        progress: bool,
    ) -> PyResult<()> {
        let opts = wait_options(poll_interval, timeout)?;
        let bar = progress
            .then(|| Bar::new(py, &self.inner.info()))
            .transpose()?;
        let raised: Mutex<Option<PyErr>> = Mutex::default();
        let info = self.inner.info();
        let span = JobSpan::start(py, "wait", &info.provider, &info.model, Some(&self.inner));
        let shown = |info: &batch::JobInfo| {
            span.polled(info);
            report(on_progress.as_ref(), bar.as_ref(), info, &raised)
        };
        let out = match bridge::block(py, self.inner.wait(opts, shown)) {
            Err(_) if is_set(&raised) => Ok(()),
            other => other,
        };
        drop(bar);
        let out = match raised.into_inner().unwrap_or_else(PoisonError::into_inner) {
            Some(e) => Err(e),
            None => out,
        };
        span.end(py, Some(&self.inner), out.as_ref().err());
        out
    }

    /// Ask the provider to stop; await it. `wait()` then collects what finished.
    fn cancel(&self) -> PyResult<Coroutine> {
        let job = self.inner.clone();
        coroutine::call(
            move |_| Ok(async move { job.cancel().await }),
            |py, ()| Ok(py.None()),
        )
    }

    /// One entry per request, in input order: a `ChatResponse`, or the `LLMError` for that item.
    fn results(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let info = self.inner.info();
        let span = JobSpan::start(
            py,
            "results",
            &info.provider,
            &info.model,
            Some(&self.inner),
        );
        let out = results(py, &self.inner);
        span.end(py, Some(&self.inner), out.as_ref().err());
        out
    }

    /// Continue a job kept in `store` (by another process, say); await it.
    #[staticmethod]
    #[pyo3(signature = (job_id, *, store=None, api_key=None, base_url=None))]
    fn resume(
        job_id: String,
        store: Option<exit::FsPath>,
        api_key: Option<String>,
        base_url: Option<String>,
    ) -> PyResult<Coroutine> {
        coroutine::call(
            move |_| {
                Ok(async move {
                    let path = store_path(store.map(PathBuf::from))?;
                    BatchJob::resume(&job_id, &path, api_key, base_url)
                })
            },
            |py, job| PyBatchJob { inner: job }.into_py_any(py),
        )
    }

    fn __repr__(&self) -> String {
        let info = self.inner.info();
        let c = info.counts;
        format!(
            "BatchJob(id={:?}, provider={:?}, status={:?}, mode={:?}, counts={{'pending': {}, \
             'succeeded': {}, 'errored': {}, 'cancelled': {}, 'expired': {}}})",
            info.id,
            info.provider,
            info.status.as_str(),
            info.mode.as_str(),
            c.pending,
            c.succeeded,
            c.errored,
            c.cancelled,
            c.expired
        )
    }
}

fn is_set(slot: &Mutex<Option<PyErr>>) -> bool {
    slot.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .is_some()
}

/// `wait(progress=True)`'s display (`llmrail._progress.Progress`): updated after each poll,
/// closed when dropped, however the wait ended (a cancelled wait drops it too).
struct Bar(Py<PyAny>);

impl Bar {
    fn new(py: Python<'_>, info: &batch::JobInfo) -> PyResult<Self> {
        let c = &info.counts;
        let total = c.pending + c.succeeded + c.errored + c.cancelled + c.expired;
        // Python code (a tqdm bar writes to stderr) below this Rust frame: through the exit gate.
        let made = exit::callout(|| {
            let class = py.import("llmrail._progress")?.getattr("Progress")?;
            class.call1((info.id.as_str(), total))
        });
        Ok(Self(made.ok_or_else(exit::ending)??.unbind()))
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        exit::attach(|py| {
            if let Err(e) = self.0.call_method0(py, "close") {
                e.write_unraisable(py, None);
            }
        });
    }
}

/// Show the progress and call `on_progress(counts)`; an exception of either is kept for
/// `wait()` to raise, and stops the wait.
fn report(
    callback: Option<&Py<PyAny>>,
    bar: Option<&Bar>,
    info: &batch::JobInfo,
    raised: &Mutex<Option<PyErr>>,
) -> Result<(), LlmError> {
    if callback.is_none() && bar.is_none() {
        return Ok(());
    }
    let outcome = exit::attach(|py| -> PyResult<()> {
        let counts = counts_dict(py, &info.counts)?;
        if let Some(bar) = bar {
            bar.0
                .call_method1(py, "update", (info.status.as_str(), &counts))?;
        }
        if let Some(callback) = callback {
            callback.call1(py, (counts,))?;
        }
        Ok(())
    });
    match outcome {
        Some(Ok(())) | None => Ok(()),
        Some(Err(e)) => {
            *raised.lock().unwrap_or_else(PoisonError::into_inner) = Some(e);
            Err(LlmError::new(ErrorKind::Cancelled, "on_progress raised"))
        }
    }
}

/// `client.batcher(...)`: many coroutines `await batcher.chat(...)`, their requests travel
/// together in provider batches.
#[pyclass(name = "Batcher", frozen, module = "llmrail._core")]
pub struct PyBatcher {
    inner: Arc<Batcher>,
}

impl PyBatcher {
    pub(super) fn start(
        client: &Client,
        max_items: usize,
        max_wait: Duration,
        store: Option<PathBuf>,
        wait: WaitOptions,
    ) -> PyResult<Self> {
        let opts = BatcherOptions {
            max_items,
            max_wait,
            submit: SubmitOptions {
                store: Some(store_path(store).map_err(to_py)?),
                concurrency: None,
            },
            wait,
        };
        Ok(Self {
            inner: Batcher::new(client, opts).map_err(to_py)?,
        })
    }
}

#[pymethods]
impl PyBatcher {
    /// One request; await its answer, which comes when the provider batch carrying it ends.
    #[pyo3(signature = (messages, **options))]
    fn chat(
        &self,
        messages: Py<PyAny>,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Coroutine> {
        let (args, _) = ChatOptions::read(options, "Batcher.chat()")?.with_messages(messages);
        let batcher = self.inner.clone();
        coroutine::call(
            move |py| {
                let req = args.into_request(py)?;
                Ok(async move { batcher.chat(req).await })
            },
            |py, (resp, attempts, priced)| {
                PyChatResponse::batch_item(resp, attempts, priced).into_py_any(py)
            },
        )
    }

    /// Submit what is queued and wait until every batch has ended; await it.
    fn aclose(&self) -> PyResult<Coroutine> {
        let batcher = self.inner.clone();
        coroutine::call(
            move |_| Ok(async move { batcher.close().await }),
            |py, ()| Ok(py.None()),
        )
    }

    fn __aenter__(slf: Py<Self>) -> PyResult<Coroutine> {
        coroutine::call(
            move |_| Ok(async move { Ok(slf) }),
            |py, slf| Ok(slf.into_any().clone_ref(py)),
        )
    }

    fn __aexit__(
        &self,
        _exc_type: Py<PyAny>,
        _exc: Py<PyAny>,
        _tb: Py<PyAny>,
    ) -> PyResult<Coroutine> {
        self.aclose()
    }
}
