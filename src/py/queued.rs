//! The `llmrail.Queue` class and `Queued`, the handle `chat(..., queue=)` returns: apart from
//! the queue's methods (`queue.rs`), so `client.rs` can name them while `queue.rs` names
//! `Client`, without the two importing each other.

use std::time::Duration;

use pyo3::prelude::*;
use pyo3::IntoPyObjectExt;

use super::arg::Arg;
use super::bridge::coroutine::{self, Coroutine};
use super::resilience::seconds;
use super::types::PyChatResponse;
use crate::queue::Queue;

#[pyclass(name = "Queue", frozen, module = "llmrail._core")]
pub struct PyQueue {
    pub(super) inner: Queue,
}

/// What `chat(..., queue=q, processing="auto" | "queue")` returns instead of a response when
/// the request went to the queue.
#[pyclass(name = "Queued", frozen, module = "llmrail._core")]
pub struct PyQueued {
    queue: Queue,
    id: String,
}

impl PyQueued {
    pub(super) fn new(queue: Queue, id: String) -> Self {
        Self { queue, id }
    }
}

#[pymethods]
impl PyQueued {
    #[getter]
    fn queue_id(&self) -> &str {
        &self.id
    }

    /// The response once a worker has it: `queue.result(queue_id, wait=wait)`.
    #[pyo3(signature = (*, wait=None))]
    fn result(&self, wait: Option<Arg<f64>>) -> PyResult<Coroutine> {
        let wait: Option<Duration> = wait.map(|w| seconds("wait", w)).transpose()?;
        let (queue, id) = (self.queue.clone(), self.id.clone());
        coroutine::call(
            move |_| Ok(async move { queue.result(&id, wait).await }),
            |py, r| PyChatResponse::from(r).into_py_any(py),
        )
    }

    fn __repr__(&self) -> String {
        format!("Queued(queue_id={:?})", self.id)
    }
}
