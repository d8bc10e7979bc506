//! `llmrail.ChatStream`: a streamed answer's events, for `async for` and `for`.

use std::sync::Arc;

use pyo3::exceptions::{PyStopAsyncIteration, PyStopIteration};
use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::PyTraverseError;
use tokio::sync::{Mutex, OwnedMutexGuard};

use super::bridge;
use super::bridge::coroutine;
use super::errors::to_py;
use super::hooks::StreamHooks;
use super::otel::StreamTrace;
use super::types::PyStreamEvent;
use crate::client::ChatStream;

/// Pull-based: each `__anext__`/`__next__` awaits the next event from the network task.
#[pyclass(name = "ChatStream", frozen, module = "llmrail._core")]
pub struct PyChatStream {
    /// `None` once finished or closed, so the network task is dropped as early as possible.
    inner: Arc<Mutex<Option<ChatStream>>>,
    /// The call's span, when its client traces.
    trace: Option<Arc<StreamTrace>>,
    /// The client's hooks, told of the stream's end.
    hooks: Option<Arc<StreamHooks>>,
}

impl PyChatStream {
    pub(super) fn new(stream: ChatStream) -> Self {
        Self::traced(stream, None)
    }

    pub(super) fn traced(stream: ChatStream, trace: Option<StreamTrace>) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Some(stream))),
            trace: trace.map(Arc::new),
            hooks: None,
        }
    }

    /// With the client's hooks (`on_request` was told already).
    pub(super) fn hooked(mut self, hooks: Option<super::hooks::CallHooks>) -> Self {
        self.hooks = hooks.map(|h| Arc::new(StreamHooks::new(h)));
        self
    }

    /// The next outcome as the caller gets it, seen first by the span and the hooks if there
    /// are any.
    fn hand(
        py: Python<'_>,
        trace: Option<&StreamTrace>,
        hooks: Option<&StreamHooks>,
        next: Result<Option<PyStreamEvent>, crate::LlmError>,
    ) -> PyResult<Option<Py<PyStreamEvent>>> {
        let out = match trace {
            Some(t) => t.seen(py, next),
            None => next
                .map_err(to_py)
                .and_then(|n| n.map(|e| Py::new(py, e)).transpose()),
        };
        match hooks {
            Some(h) => h.seen(py, out, |e| e.get().is_done()),
            None => out,
        }
    }

    /// Once the call is over (`Done` or its error came), a traced stream's span takes the
    /// attempts' log.
    fn settle(trace: Option<&StreamTrace>, stream: &mut ChatStream) {
        if let Some(t) = trace {
            if stream.report().is_some() {
                t.keep(stream);
            }
        }
    }

    /// The next event when it is already buffered (the common case mid-stream: one network read
    /// brings many events), so no thread hop is needed; `None` when we must wait.
    fn ready_event(&self) -> Option<Result<Option<PyStreamEvent>, crate::LlmError>> {
        let mut guard = self.inner.try_lock().ok()?;
        let Some(stream) = guard.as_mut() else {
            return Some(Ok(None));
        };
        let next = stream.try_next()?;
        Self::settle(self.trace.as_deref(), stream);
        match next {
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
        trace: Option<Arc<StreamTrace>>,
    ) -> Result<Option<PyStreamEvent>, crate::LlmError> {
        let mut waiting = CloseIfDropped(Some(inner.lock_owned().await));
        let next = match waiting.stream() {
            Some(stream) => stream.next().await,
            None => return Ok(None),
        };
        let Some(mut guard) = waiting.defuse() else {
            return Ok(None);
        };
        let Some(stream) = guard.as_mut() else {
            return Ok(None);
        };
        Self::settle(trace.as_deref(), stream);
        match next {
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

/// The stream, locked while its next event is awaited; if that wait is dropped unfinished (its
/// task cancelled, `asyncio.wait_for` timed out, Ctrl-C in a sync loop) the stream is closed,
/// as `close()` does: the request ends there, as a cancelled `chat` does. Otherwise it would
/// run on for as long as Python keeps the stream object, which a cancelled task's traceback
/// does (its frame holds the stream): 300 streams cancelled that way kept streaming, and the
/// server dropping them later counted 300 failures and opened the circuit breaker.
struct CloseIfDropped(Option<OwnedMutexGuard<Option<ChatStream>>>);

impl CloseIfDropped {
    fn stream(&mut self) -> Option<&mut ChatStream> {
        self.0.as_mut().and_then(|g| g.as_mut())
    }

    /// The wait finished: the lock, with the stream left open.
    fn defuse(mut self) -> Option<OwnedMutexGuard<Option<ChatStream>>> {
        self.0.take()
    }
}

impl Drop for CloseIfDropped {
    fn drop(&mut self) {
        if let Some(guard) = self.0.as_mut() {
            **guard = None;
        }
    }
}

#[pymethods]
impl PyChatStream {
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        match &self.hooks {
            Some(h) => h.visit(&visit),
            None => Ok(()),
        }
    }

    fn __aiter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// An already-finished awaitable when the event is buffered, else a call that waits for it.
    fn __anext__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let trace = slf.get().trace.clone();
        let hooks = slf.get().hooks.clone();
        let outcome = match slf.get().ready_event() {
            None => {
                let inner = slf.get().inner.clone();
                let kept = trace.clone();
                let waiting = coroutine::call(
                    move |_| Ok(async move { Ok(Self::next_event(inner, kept).await) }),
                    move |py, next| match Self::hand(py, trace.as_deref(), hooks.as_deref(), next)?
                    {
                        Some(event) => Ok(event.into_any()),
                        None => Err(PyStopAsyncIteration::new_err(())),
                    },
                )?;
                return Ok(Bound::new(py, waiting)?.into_any());
            }
            Some(next) => match Self::hand(py, trace.as_deref(), hooks.as_deref(), next) {
                Ok(Some(event)) => Ok(event.into_any()),
                Ok(None) => Err(PyStopAsyncIteration::new_err(())),
                Err(e) => Err(e),
            },
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

    fn __next__(&self, py: Python<'_>) -> PyResult<Py<PyStreamEvent>> {
        let next = match self.ready_event() {
            Some(ready) => ready,
            None => {
                let waited = Self::next_event(self.inner.clone(), self.trace.clone());
                bridge::block(py, async { Ok(waited.await) })?
            }
        };
        match Self::hand(py, self.trace.as_deref(), self.hooks.as_deref(), next)? {
            Some(event) => Ok(event),
            None => Err(PyStopIteration::new_err(())),
        }
    }

    /// Stop receiving and drop the connection.
    fn close(&self, py: Python<'_>) {
        if let Ok(mut guard) = self.inner.try_lock() {
            *guard = None;
        }
        if let Some(t) = &self.trace {
            t.abandon(py);
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

    fn __next__(&mut self, py: Python<'_>) -> PyResult<()> {
        match self.outcome.take() {
            Some(Ok(value)) => Err(coroutine::stop_iteration(py, value)),
            Some(Err(e)) => Err(e),
            None => Err(PyStopIteration::new_err(())),
        }
    }
}
