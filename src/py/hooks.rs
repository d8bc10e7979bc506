//! `Client(on_request=..., on_response=..., on_error=...)`: the hooks of one call, handed to
//! `llmrail._hooks`, which runs them on a thread of its own (a slow hook never delays a call,
//! one that raises is logged there). Here only the call's options are gathered and the outcome
//! passed on; a client without hooks takes none of these paths. `chat` hands on its
//! `ChatResponse`, `stream` its "done" event (`StreamHooks`), `extract` and `extract_stream` its `Extraction`,
//! an image call its `ImagesResponse`.
//!
//! Handing the hooks their arguments is Python code run from Rust that releases the GIL (the
//! write that wakes the hooks' loop), so it passes the interpreter-exit gate (`exit::callout`,
//! see `py/exit.rs`): once the program is ending the hooks are not told.

use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::errors::to_py;
use super::exit;
use crate::error::LlmError;

/// A client's `llmrail._hooks.Hooks`, built when any hook is given.
pub fn build(
    py: Python<'_>,
    on_request: Option<Py<PyAny>>,
    on_response: Option<Py<PyAny>>,
    on_error: Option<Py<PyAny>>,
) -> PyResult<Option<Py<PyAny>>> {
    if on_request.is_none() && on_response.is_none() && on_error.is_none() {
        return Ok(None);
    }
    let hooks = py.import("llmrail._hooks")?.getattr("Hooks")?.call1((
        on_request,
        on_response,
        on_error,
    ))?;
    Ok(Some(hooks.unbind()))
}

/// One call's hooks: the client's, and this call's options as they are handed to each.
pub struct CallHooks {
    hooks: Py<PyAny>,
    options: Py<PyDict>,
}

impl CallHooks {
    /// The call's options (`model`, `messages` and its keyword arguments, as a new dict) go to
    /// `on_request` now; `None` for a client without hooks.
    pub fn start(
        py: Python<'_>,
        hooks: Option<&Py<PyAny>>,
        model: &str,
        messages: &Py<PyAny>,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Option<Self>> {
        let Some(hooks) = hooks else {
            return Ok(None);
        };
        let dict = match options {
            Some(o) => o.copy()?,
            None => PyDict::new(py),
        };
        dict.set_item("model", model)?;
        dict.set_item("messages", messages.bind(py))?;
        Self::begin(py, hooks, dict).map(Some)
    }

    /// A call whose options are already gathered (an image call's: `model`, `prompt` and the
    /// options given): `on_request` is told now.
    pub fn begin(py: Python<'_>, hooks: &Py<PyAny>, options: Bound<'_, PyDict>) -> PyResult<Self> {
        exit::callout(|| hooks.call_method1(py, "request", (&options,)).map(drop)).transpose()?;
        Ok(Self {
            hooks: hooks.clone_ref(py),
            options: options.unbind(),
        })
    }

    /// The Python result of the call (`convert`ed), or its exception, handed to `on_response`
    /// or `on_error` before it is returned unchanged.
    pub fn finish<T>(
        self,
        py: Python<'_>,
        out: Result<T, LlmError>,
        convert: impl FnOnce(Python<'_>, T) -> PyResult<Py<PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let answer = out.map_err(to_py).and_then(|v| convert(py, v));
        Self::settle(Some(self), py, answer)
    }

    /// A call's Python outcome handed to the hooks, if any, and returned unchanged.
    pub fn settle(
        hooks: Option<Self>,
        py: Python<'_>,
        answer: PyResult<Py<PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let Some(this) = hooks else {
            return answer;
        };
        match answer {
            Ok(r) => {
                this.tell(py, "response", r.bind(py))?;
                Ok(r)
            }
            Err(e) => {
                this.tell(py, "error", e.value(py).as_any())?;
                Err(e)
            }
        }
    }
}

impl CallHooks {
    /// Hand `on_<what>` the call's options and `outcome`, unless the program is ending.
    fn tell(&self, py: Python<'_>, what: &str, outcome: &Bound<'_, PyAny>) -> PyResult<()> {
        let told = exit::callout(|| {
            self.hooks
                .call_method1(py, what, (&self.options, outcome))
                .map(drop)
        });
        told.transpose().map(drop)
    }

    /// The Python objects held, for the garbage collector.
    pub fn visit(&self, visit: &pyo3::gc::PyVisit<'_>) -> Result<(), pyo3::PyTraverseError> {
        visit.call(&self.hooks)?;
        visit.call(&self.options)
    }
}

/// A stream's hooks: told once, by the event that ends the stream ("done": its usage, model and
/// finish reason) or by its error. A stream closed before either tells them nothing more.
pub struct StreamHooks(std::sync::Mutex<Option<CallHooks>>);

impl StreamHooks {
    pub fn new(hooks: CallHooks) -> Self {
        Self(std::sync::Mutex::new(Some(hooks)))
    }

    /// What the caller is handed next, seen by the hooks if it ends the stream; returned unchanged.
    pub fn seen<T>(
        &self,
        py: Python<'_>,
        next: PyResult<Option<Py<T>>>,
        is_done: impl FnOnce(&Py<T>) -> bool,
    ) -> PyResult<Option<Py<T>>> {
        let ends = match &next {
            Ok(Some(event)) => is_done(event),
            Ok(None) => false,
            Err(_) => true,
        };
        if !ends {
            return next;
        }
        let hooks = self.0.lock().ok().and_then(|mut h| h.take());
        match next {
            Ok(Some(event)) => {
                CallHooks::settle(hooks, py, Ok(event.clone_ref(py).into_any()))?;
                Ok(Some(event))
            }
            Err(e) => CallHooks::settle(hooks, py, Err(e)).map(|_| None),
            Ok(None) => Ok(None),
        }
    }

    /// The Python objects held, for the garbage collector (skipped while another thread holds
    /// them, as a traversal must not block).
    pub fn visit(&self, visit: &pyo3::gc::PyVisit<'_>) -> Result<(), pyo3::PyTraverseError> {
        if let Ok(held) = self.0.try_lock() {
            if let Some(h) = held.as_ref() {
                h.visit(visit)?;
            }
        }
        Ok(())
    }
}
