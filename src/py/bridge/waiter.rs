//! [`Waiter`]: what a suspended [`Coroutine`](super::coroutine::Coroutine) hands its asyncio task
//! to wait on.
//!
//! It speaks the part of the asyncio future protocol that `Task` uses (`_asyncio_future_blocking`,
//! `get_loop`, `add_done_callback`, `result`, `cancel`), like any "future-like" object. Why not
//! `loop.create_future()`: setting an asyncio future's result only *schedules* the task's
//! wake-up, one more loop turn per await; the core's wake-ups already run on the loop thread, so
//! [`fire`] runs it at once. Cancellation still goes through `call_soon`, since `cancel()` is
//! called from inside other code.

use pyo3::exceptions::asyncio::{CancelledError, InvalidStateError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyDict;

use crate::py::exit;

enum State {
    Pending,
    Done,
    Cancelled(Option<Py<PyAny>>),
}

/// A done callback and the `contextvars.Context` to run it in.
type Callback = (Py<PyAny>, Option<Py<PyAny>>);

#[pyclass(module = "llmrail._core")]
pub struct Waiter {
    /// Read and reset by `Task` (the protocol's marker of a future yielded by `await`).
    #[pyo3(get, set)]
    _asyncio_future_blocking: bool,
    event_loop: Py<PyAny>,
    callbacks: Vec<Callback>,
    state: State,
}

impl Waiter {
    pub fn new(event_loop: Py<PyAny>) -> Self {
        Self {
            _asyncio_future_blocking: true,
            event_loop,
            callbacks: Vec::new(),
            state: State::Pending,
        }
    }

    /// asyncio's rule for callbacks of a future that is already done: the next loop turn.
    fn schedule(&self, py: Python<'_>, waiter: Py<Self>, callback: Callback) -> PyResult<()> {
        let (callback, context) = callback;
        let kwargs = PyDict::new(py);
        if let Some(ctx) = context {
            kwargs.set_item(intern!(py, "context"), ctx)?;
        }
        self.event_loop.call_method(
            py,
            intern!(py, "call_soon"),
            (callback, waiter),
            Some(&kwargs),
        )?;
        Ok(())
    }
}

/// The core work can be polled again: on the loop thread, run the task's wake-up now.
pub fn fire(waiter: &Bound<'_, Waiter>) {
    let callbacks = {
        let mut w = waiter.borrow_mut();
        if !matches!(w.state, State::Pending) {
            return;
        }
        w.state = State::Done;
        std::mem::take(&mut w.callbacks)
    };
    let py = waiter.py();
    // The task's wake-up runs the user's coroutine, with this Rust frame below it.
    exit::callout(|| {
        for (callback, context) in callbacks {
            let ran = match context {
                Some(ctx) => {
                    context_run(py).and_then(|run| run.call1(py, (ctx, &callback, waiter)))
                }
                None => callback.call1(py, (waiter,)),
            };
            if let Err(e) = ran {
                e.write_unraisable(py, Some(callback.bind(py)));
            }
        }
    });
}

/// `contextvars.Context.run`, unbound: `ctx.run` by name would build a bound method each time.
fn context_run(py: Python<'_>) -> PyResult<&Py<PyAny>> {
    static RUN: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    RUN.get_or_try_init(py, || {
        py.import("contextvars")?
            .getattr("Context")?
            .getattr("run")
            .map(Bound::unbind)
    })
}

#[pymethods]
impl Waiter {
    fn get_loop(&self, py: Python<'_>) -> Py<PyAny> {
        self.event_loop.clone_ref(py)
    }

    #[pyo3(signature = (callback, *, context=None))]
    fn add_done_callback(
        slf: Bound<'_, Self>,
        callback: Py<PyAny>,
        context: Option<Py<PyAny>>,
    ) -> PyResult<()> {
        let py = slf.py();
        let mut w = slf.borrow_mut();
        if matches!(w.state, State::Pending) {
            w.callbacks.push((callback, context));
            return Ok(());
        }
        w.schedule(py, slf.clone().unbind(), (callback, context))
    }

    fn remove_done_callback(&mut self, py: Python<'_>, callback: &Bound<'_, PyAny>) -> usize {
        let before = self.callbacks.len();
        self.callbacks
            .retain(|(c, _)| !c.bind(py).eq(callback).unwrap_or(false));
        before - self.callbacks.len()
    }

    fn done(&self) -> bool {
        !matches!(self.state, State::Pending)
    }

    fn cancelled(&self) -> bool {
        matches!(self.state, State::Cancelled(_))
    }

    fn result(&self, py: Python<'_>) -> PyResult<()> {
        match &self.state {
            State::Pending => Err(InvalidStateError::new_err("Result is not ready.")),
            State::Done => Ok(()),
            State::Cancelled(msg) => Err(cancelled(py, msg)),
        }
    }

    fn exception(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        self.result(py).map(|()| None)
    }

    /// `Task.cancel()` asks its waiter first; the task then wakes with CancelledError, which
    /// it throws into the `Coroutine`, and that drops the request.
    #[pyo3(signature = (msg=None))]
    fn cancel(slf: Bound<'_, Self>, msg: Option<Py<PyAny>>) -> PyResult<bool> {
        let py = slf.py();
        let mut w = slf.borrow_mut();
        if !matches!(w.state, State::Pending) {
            return Ok(false);
        }
        w.state = State::Cancelled(msg);
        for callback in std::mem::take(&mut w.callbacks) {
            w.schedule(py, slf.clone().unbind(), callback)?;
        }
        Ok(true)
    }

    fn __repr__(&self) -> &'static str {
        match self.state {
            State::Pending => "<llmrail Waiter pending>",
            State::Done => "<llmrail Waiter done>",
            State::Cancelled(_) => "<llmrail Waiter cancelled>",
        }
    }
}

fn cancelled(py: Python<'_>, msg: &Option<Py<PyAny>>) -> PyErr {
    match msg {
        Some(m) => CancelledError::new_err((m.clone_ref(py),)),
        None => CancelledError::new_err(()),
    }
}
