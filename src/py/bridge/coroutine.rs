//! [`Coroutine`] (`Call` to Python): the coroutine object every async method returns (its contract with asyncio is in
//! `bridge.rs`). Each step polls the core future with the GIL released; a pending poll parks the
//! task on a fresh [`Waiter`], which the waker from [`loop_wake`] fires on the loop thread.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
#[cfg(unix)]
use std::time::Instant;

use futures_util::FutureExt;
use pyo3::exceptions::{PyRuntimeError, PyStopIteration};
use pyo3::prelude::*;
use pyo3::PyTypeInfo;

use super::loop_wake;
use super::waiter::{self, Waiter};
use crate::error::LlmError;
use crate::py::errors::to_py;
use crate::py::exit;
use crate::runtime;

type Finish = Box<dyn FnOnce(Python<'_>) -> PyResult<Py<PyAny>> + Send>;
type Work = Pin<Box<dyn Future<Output = Result<Finish, LlmError>> + Send>>;
type Start = Box<dyn FnOnce(Python<'_>) -> PyResult<Work> + Send>;
/// A poll's outcome; `Err`: it panicked.
type Polled = std::thread::Result<Poll<Result<Finish, LlmError>>>;

/// Await core work from Python. At the first `await`, as with an `async def`, `start` reads the
/// arguments (so bad ones raise there) and gives the core future; the loop thread polls it with
/// the GIL released (see `runtime::run`), then `finish` turns its value into the Python result,
/// GIL held.
pub fn call<T, F, S, G>(start: S, finish: G) -> PyResult<Coroutine>
where
    S: FnOnce(Python<'_>) -> PyResult<F> + Send + 'static,
    F: Future<Output = Result<T, LlmError>> + Send + 'static,
    T: Send + 'static,
    G: FnOnce(Python<'_>, T) -> PyResult<Py<PyAny>> + Send + 'static,
{
    // `map` polls `fut` where it lies in the box; an `async` block awaiting it would first move
    // the whole core future (several KB) into its own state, a memcpy per call.
    let start = move |py: Python<'_>| -> PyResult<Work> {
        let fut = start(py)?;
        Ok(Box::pin(fut.map(move |out| {
            out.map(|value| Box::new(move |py: Python<'_>| finish(py, value)) as Finish)
        })))
    };
    Ok(Coroutine {
        handle: runtime::handle().map_err(to_py)?,
        start: Mutex::new(Some(Box::new(start))),
        work: Mutex::new(None),
        slot: Arc::new(Slot::default()),
        waker: None,
        event_loop: None,
        evented: false,
    })
}

#[pyclass(name = "Call", module = "llmrail._core")]
pub struct Coroutine {
    handle: tokio::runtime::Handle,
    /// Taken at the first step. (Mutexes only because a pyclass must be `Sync`; each step has
    /// `&mut self`, so they are never contended.)
    start: Mutex<Option<Start>>,
    /// `None` once finished, thrown into or closed: dropping it cancels the request.
    work: Mutex<Option<Work>>,
    slot: Arc<Slot>,
    /// Built at the first suspension, for the loop that awaits us.
    waker: Option<Waker>,
    event_loop: Option<Py<PyAny>>,
    /// The loop watches this thread's epoll set: the work may use direct connections.
    evented: bool,
}

/// The waiter the awaiting task is parked on, if it is parked.
#[derive(Default)]
struct Slot {
    waiter: Mutex<Option<Py<Waiter>>>,
}

impl Slot {
    fn take(&self) -> Option<Py<Waiter>> {
        self.waiter
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

/// Runs on the loop thread: `loop_wake` drains its queue there.
impl Wake for Slot {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if let Some(waiter) = self.take() {
            Python::attach(|py| waiter::fire(waiter.bind(py)));
        }
    }
}

impl Coroutine {
    fn step(&mut self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let work = self.work.get_mut().unwrap_or_else(PoisonError::into_inner);
        if let Some(start) = self
            .start
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            *work = Some(start(py)?);
        }
        if work.is_none() {
            return Err(PyRuntimeError::new_err(
                "cannot reuse an already awaited llmrail call; call the method again",
            ));
        }
        let waker = match &self.waker {
            Some(w) => w.clone(),
            None => self.make_waker(py)?,
        };
        let own = Waker::from(self.slot.clone());
        #[allow(unused_mut)]
        let mut polled = self
            .poll(py, &waker, &own, None)
            .unwrap_or(Ok(Poll::Pending));
        // A call its loop alone waits for waits in place (see `loop_wake::idle`), once: if
        // what woke the loop was not its answer, the loop runs as usual (and an fd that stays
        // readable, the loop's self-pipe, does not keep the step spinning).
        #[cfg(unix)]
        if self.evented && matches!(polled, Ok(Poll::Pending)) {
            let until = Instant::now() + loop_wake::IN_PLACE;
            let idle = match &self.event_loop {
                Some(l) => loop_wake::idle(l.bind(py), until),
                None => None,
            };
            if let Some(again) = idle.and_then(|idle| self.poll(py, &waker, &own, Some(idle))) {
                polled = again;
            }
        }
        match polled {
            Ok(Poll::Pending) => self.park(py).map(Py::into_any),
            Ok(Poll::Ready(out)) => {
                self.stop();
                let value = out.map_err(to_py)?(py)?;
                Err(stop_iteration(py, value))
            }
            Err(payload) => {
                self.stop();
                Err(to_py(runtime::internal(payload)))
            }
        }
    }

    /// One poll of the work, GIL released, inside the runtime's context (and the thread's
    /// epoll set, for a loop that watches it); after `idle`'s wait when given (`None`: that
    /// wait ended with nothing to do, so no poll).
    fn poll(
        &mut self,
        py: Python<'_>,
        waker: &Waker,
        own: &Waker,
        idle: Option<loop_wake::Idle>,
    ) -> Option<Polled> {
        let handle = &self.handle;
        let evented = self.evented;
        let work = self.work.get_mut().unwrap_or_else(PoisonError::into_inner);
        exit::detach(py, || {
            let _entered = handle.enter();
            let mut poll = || {
                catch_unwind(AssertUnwindSafe(|| match work {
                    Some(w) => w.as_mut().poll(&mut Context::from_waker(waker)),
                    None => Poll::Pending,
                }))
            };
            let done = |p: &Polled| !matches!(p, Ok(Poll::Pending));
            #[cfg(unix)]
            if evented {
                let _direct = runtime::local::enter();
                return match idle {
                    Some(idle) => idle.poll_after(own, poll, done),
                    None => Some(loop_wake::polling(own, poll, done)),
                };
            }
            let _ = (evented, own, idle, done);
            Some(poll())
        })
    }

    /// The waker for the running loop; asyncio is required.
    fn make_waker(&mut self, py: Python<'_>) -> PyResult<Waker> {
        let Some(event_loop) = loop_wake::running_loop(py)? else {
            return Err(PyRuntimeError::new_err(
                "llmrail's async methods need a running asyncio event loop; use the *_sync methods otherwise",
            ));
        };
        let (waker, evented) = loop_wake::waker_for(&event_loop, Waker::from(self.slot.clone()));
        self.evented = evented;
        self.event_loop = Some(event_loop.unbind());
        self.waker = Some(waker.clone());
        Ok(waker)
    }

    /// Park the awaiting task on a fresh waiter, fired by the waker.
    fn park(&mut self, py: Python<'_>) -> PyResult<Py<Waiter>> {
        let Some(event_loop) = &self.event_loop else {
            return Err(PyRuntimeError::new_err("no event loop to wait on"));
        };
        let waiter = Py::new(py, Waiter::new(event_loop.clone_ref(py)))?;
        *self
            .slot
            .waiter
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(waiter.clone_ref(py));
        Ok(waiter)
    }

    fn stop(&mut self) {
        *self.start.get_mut().unwrap_or_else(PoisonError::into_inner) = None;
        *self.work.get_mut().unwrap_or_else(PoisonError::into_inner) = None;
        self.slot.take();
    }
}

/// The end of a call: `StopIteration(value)`, built as an instance. pyo3's `new_err((value,))`
/// is lazy: a boxed closure, then raise, fetch and normalise on the way out, ~1.6k instructions
/// a call where building the instance is a fraction of it.
pub fn stop_iteration(py: Python<'_>, value: Py<PyAny>) -> PyErr {
    match PyStopIteration::type_object(py).call1((value,)) {
        Ok(stop) => PyErr::from_value(stop),
        Err(e) => e,
    }
}

#[pymethods]
impl Coroutine {
    fn __await__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(&mut self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.step(py)
    }

    fn send(&mut self, py: Python<'_>, _value: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.step(py)
    }

    /// Cancellation (asyncio throws CancelledError in) drops the work, so the request with it.
    #[pyo3(signature = (typ, value=None, _traceback=None))]
    fn throw(
        &mut self,
        typ: Bound<'_, PyAny>,
        value: Option<Bound<'_, PyAny>>,
        _traceback: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        self.stop();
        Err(match value {
            Some(v) if !v.is_none() => PyErr::from_value(v),
            _ => PyErr::from_value(typ),
        })
    }

    fn close(&mut self) {
        self.stop();
    }
}
