//! `llmrail.ChatStream`: a streamed answer's events, for `async for` and `for`.

use std::sync::Arc;

use pyo3::exceptions::{PyStopAsyncIteration, PyStopIteration};
use pyo3::prelude::*;
use pyo3::IntoPyObjectExt;
use tokio::sync::Mutex;

use super::bridge;
use super::bridge::coroutine;
use super::errors::to_py;
use super::types::PyStreamEvent;
use crate::client::ChatStream;

/// Pull-based: each `__anext__`/`__next__` awaits the next event from the network task.
#[pyclass(name = "ChatStream", frozen, module = "llmrail._core")]
pub struct PyChatStream {
    /// `None` once finished or closed, so the network task is dropped as early as possible.
    inner: Arc<Mutex<Option<ChatStream>>>,
}

impl PyChatStream {
    pub(super) fn new(stream: ChatStream) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Some(stream))),
        }
    }

    /// The next event when it is already buffered (the common case mid-stream: one network read
    /// brings many events), so no thread hop is needed; `None` when we must wait.
    fn ready_event(&self) -> Option<Result<Option<PyStreamEvent>, crate::LlmError>> {
        let mut guard = self.inner.try_lock().ok()?;
        let Some(stream) = guard.as_mut() else {
            return Some(Ok(None));
        };
        match stream.try_next()? {
            Some(Ok(event)) => Some(Ok(Some(PyStreamEvent::new(event, stream.report())))),
            Some(Err(e)) => {
                *guard = None;
                Some(Err(e))
            }
            None => {
                *guard = None;
                Some(Ok(None))
            }
        }
    }

    async fn next_event(
        inner: Arc<Mutex<Option<ChatStream>>>,
    ) -> Result<Option<PyStreamEvent>, crate::LlmError> {
        let mut guard = inner.lock().await;
        let Some(stream) = guard.as_mut() else {
            return Ok(None);
        };
        match stream.next().await {
            Some(Ok(event)) => Ok(Some(PyStreamEvent::new(event, stream.report()))),
            Some(Err(e)) => {
                *guard = None;
                Err(e)
            }
            None => {
                *guard = None;
                Ok(None)
            }
        }
    }
}

#[pymethods]
impl PyChatStream {
    fn __aiter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// An already-finished awaitable when the event is buffered, else a call that waits for it.
    fn __anext__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let outcome = match slf.get().ready_event() {
            None => {
                let inner = slf.get().inner.clone();
                let waiting = coroutine::call(
                    move |_| Ok(Self::next_event(inner)),
                    |py, next| match next {
                        Some(event) => event.into_py_any(py),
                        None => Err(PyStopAsyncIteration::new_err(())),
                    },
                )?;
                return Ok(Bound::new(py, waiting)?.into_any());
            }
            Some(Ok(Some(event))) => Ok(Bound::new(py, event)?.into_any().unbind()),
            Some(Ok(None)) => Err(PyStopAsyncIteration::new_err(())),
            Some(Err(e)) => Err(to_py(e)),
        };
        Ok(Bound::new(
            py,
            Ready {
                outcome: Some(outcome),
            },
        )?
        .into_any())
    }

    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<PyStreamEvent> {
        let next = match self.ready_event() {
            Some(ready) => ready.map_err(to_py)?,
            None => bridge::block(py, Self::next_event(self.inner.clone()))?,
        };
        match next {
            Some(event) => Ok(event),
            None => Err(PyStopIteration::new_err(())),
        }
    }

    /// Stop receiving and drop the connection.
    fn close(&self) {
        if let Ok(mut guard) = self.inner.try_lock() {
            *guard = None;
        }
    }
}

/// An awaitable that is already done: `await` gives the value (or raises) without suspending.
#[pyclass(module = "llmrail._core")]
struct Ready {
    outcome: Option<PyResult<Py<PyAny>>>,
}

#[pymethods]
impl Ready {
    fn __await__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(&mut self) -> PyResult<()> {
        match self.outcome.take() {
            Some(Ok(value)) => Err(PyStopIteration::new_err((value,))),
            Some(Err(e)) => Err(e),
            None => Err(PyStopIteration::new_err(())),
        }
    }
}
