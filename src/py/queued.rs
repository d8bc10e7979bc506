//! The `llmrail.Queue` class and `Queued`, the handle `chat(..., queue=)` returns: apart from
//! the queue's methods (`queue.rs`), so `client.rs` can name them while `queue.rs` names
//! `Client`, without the two importing each other.

use std::time::Duration;

use pyo3::prelude::*;
use pyo3::IntoPyObjectExt;

use super::arg::Arg;
use super::bridge::coroutine::{self, Coroutine};
use super::errors::to_py;
use super::resilience::seconds;
use super::types::PyChatResponse;
use crate::error::LlmError;
use crate::queue::Queue;

#[pyclass(name = "Queue", frozen, module = "llmrail._core")]
pub struct PyQueue {
    pub(super) inner: Queue,
}

/// What `chat(...)` or `extract(...)` with `queue=q, processing="auto" | "queue"` returns
/// instead of an answer when the request went to the queue.
#[pyclass(name = "Queued", frozen, module = "llmrail._core")]
pub struct PyQueued {
    queue: Queue,
    id: String,
    /// An extraction: `result()` is its validated value, as `queue.extracted()` reads it.
    extraction: bool,
}

impl PyQueued {
    pub(super) fn new(queue: Queue, id: String) -> Self {
        Self {
            queue,
            id,
            extraction: false,
        }
    }

    pub(super) fn extraction(queue: Queue, id: String) -> Self {
        Self {
            queue,
            id,
            extraction: true,
        }
    }
}

#[pymethods]
impl PyQueued {
    #[getter]
    fn queue_id(&self) -> &str {
        &self.id
    }

    /// The response once a worker has it: `queue.result(queue_id, wait=wait)`; for an
    /// extraction its value, as `queue.extracted(queue_id, wait=wait)` gives it.
    #[pyo3(signature = (*, wait=None))]
    fn result(&self, wait: Option<Arg<f64>>) -> PyResult<Coroutine> {
        let wait: Option<Duration> = wait.map(|w| seconds("wait", w)).transpose()?;
        let (queue, id) = (self.queue.clone(), self.id.clone());
        if self.extraction {
            return coroutine::call(
                move |_| Ok(async move { queue.extracted(&id, wait).await }),
                |py, v| {
                    pythonize::pythonize(py, &v)
                        .map(Bound::unbind)
                        .map_err(|e| to_py(LlmError::invalid_response(e.to_string())))
                },
            );
        }
        coroutine::call(
            move |_| Ok(async move { queue.result(&id, wait).await }),
            |py, r| PyChatResponse::from(r).into_py_any(py),
        )
    }

    fn __repr__(&self) -> String {
        format!("Queued(queue_id={:?})", self.id)
    }
}
