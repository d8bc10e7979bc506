//! Spans of batch jobs: one over `submit_batch`, one over a `wait` (each poll an event on it),
//! one over reading the results, and one over all three for `client.batch(...)`. A batch step
//! is rare and long, so whether it traces is asked each time (`wanted`), not kept per client.
//! The spans are made by `llmrail._otel_jobs.BatchStep`.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyModule;
use pyo3::IntoPyObjectExt;

use super::{tell, unraisable, wanted};
use crate::batch::{BatchJob, JobInfo};
use crate::error::LlmError;
use crate::py::errors::to_py;
use crate::py::exit;

static JOBS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

pub(super) fn jobs(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    JOBS.get_or_try_init(py, || Ok(py.import("llmrail._otel_jobs")?.unbind()))
        .map(|m| m.bind(py))
}

/// A job as `BatchStep` reads it: (id, status, mode, (pending, succeeded, errored, cancelled,
/// expired), provider batch ids).
fn job_args(py: Python<'_>, job: &BatchJob) -> PyResult<Py<PyAny>> {
    let info = job.info();
    (info_args(&info), job.provider_batch_ids()).into_py_any(py)
}

pub(super) type InfoArgs<'a> = (
    &'a str,
    &'static str,
    &'static str,
    (u64, u64, u64, u64, u64),
);

pub(super) fn info_args(info: &JobInfo) -> InfoArgs<'_> {
    let c = &info.counts;
    (
        info.id.as_str(),
        info.status.as_str(),
        info.mode.as_str(),
        (c.pending, c.succeeded, c.errored, c.cancelled, c.expired),
    )
}

/// One step's span while it runs; dropped before it was ended (asyncio cancelled the step), it
/// ends as cancelled. Empty when no tracer or meter provider is configured.
pub(crate) struct JobSpan(Option<Py<PyAny>>);

impl JobSpan {
    /// Open `step`'s span (`"batch {step} {model}"`) under the caller's current span.
    pub(crate) fn start(
        py: Python<'_>,
        step: &'static str,
        provider: &str,
        model: &str,
        job: Option<&BatchJob>,
    ) -> Self {
        if !wanted(py) {
            return Self(None);
        }
        let open = || -> PyResult<Py<PyAny>> {
            let job = job.map(|j| job_args(py, j)).transpose()?;
            let class = jobs(py)?.getattr("BatchStep")?;
            Ok(class.call1((step, provider, model, job))?.unbind())
        };
        Self(exit::callout(open).and_then(|r| r.map(Some).unwrap_or_else(|e| unraisable(py, e))))
    }

    /// A poll's news, as an event on the span (the GIL is taken only when tracing).
    pub(crate) fn polled(&self, info: &JobInfo) {
        if let Some(span) = &self.0 {
            exit::attach(|py| tell(py, span, "polled", (info_args(info),)));
        }
    }

    /// The step is over: the job as it is now, or the step's error.
    pub(crate) fn end(mut self, py: Python<'_>, job: Option<&BatchJob>, error: Option<&PyErr>) {
        let Some(span) = self.0.take() else {
            return;
        };
        let args = || job.map(|j| job_args(py, j)).transpose();
        match args() {
            Ok(job) => tell(py, &span, "end", (job, error.map(|e| e.value(py).clone()))),
            Err(e) => {
                e.write_unraisable(py, Some(span.bind(py)));
                tell(py, &span, "abandon", ());
            }
        }
    }
}

impl JobSpan {
    /// A step that gives the job: the span ends with it, or with the error (as raised).
    pub(crate) fn finish(
        self,
        py: Python<'_>,
        out: Result<BatchJob, LlmError>,
    ) -> PyResult<BatchJob> {
        match out {
            Ok(job) => {
                self.end(py, Some(&job), None);
                Ok(job)
            }
            Err(e) => {
                let e = to_py(e);
                self.end(py, None, Some(&e));
                Err(e)
            }
        }
    }
}

impl JobSpan {
    /// Tell the span what its call did, before it ends.
    pub(crate) fn tell<'py, A>(&self, py: Python<'py>, method: &str, args: A)
    where
        A: pyo3::call::PyCallArgs<'py>,
    {
        if let Some(span) = &self.0 {
            tell(py, span, method, args);
        }
    }

    /// Whether the span is recording (a tracer or meter provider is configured).
    pub(crate) fn is_on(&self) -> bool {
        self.0.is_some()
    }
}

impl Drop for JobSpan {
    fn drop(&mut self) {
        if let Some(span) = self.0.take() {
            exit::attach(|py| tell(py, &span, "abandon", ()));
        }
    }
}
