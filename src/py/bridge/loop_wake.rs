//! How a call parked on an asyncio loop is woken: through the loop thread's epoll set, which the
//! loop watches where it can ([`socket`], unix), else through `loop.call_soon_threadsafe` ([`Threadsafe`]), the
//! portable path every platform and every asyncio loop has.

use std::sync::Arc;
use std::task::{Wake, Waker};

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyCFunction;

use crate::py::exit;

#[cfg(unix)]
mod socket;

#[cfg(unix)]
pub use socket::{idle, polling, Idle, IN_PLACE};

/// Off unix no loop's wait is taken in place.
#[cfg(not(unix))]
pub enum Idle {}

static GET_RUNNING_LOOP: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// The running asyncio loop of this thread, if any.
pub fn running_loop(py: Python<'_>) -> PyResult<Option<Bound<'_, PyAny>>> {
    if let Some(running) = seen::still_running(py) {
        return Ok(Some(running));
    }
    let get = GET_RUNNING_LOOP.get_or_try_init(py, || {
        py.import("asyncio.events")?
            .getattr("_get_running_loop")
            .map(Bound::unbind)
    })?;
    let running = get.bind(py).call0()?;
    if running.is_none() {
        return Ok(None);
    }
    seen::remember(&running);
    Ok(Some(running))
}

/// Before 3.12, asyncio's `_get_running_loop` makes a `getpid` system call each time (its
/// check that the loop is this process's): one a call (`strace -c`), ~0.3 µs here. So the loop found last is kept per thread, and is still the running one while it
/// runs on this thread (`BaseEventLoop._thread_id`, set and cleared with asyncio's own running
/// loop by `run_forever`) in this process (`runtime::pid`, forgotten in a forked child).
mod seen {
    use std::cell::RefCell;

    use pyo3::intern;
    use pyo3::prelude::*;
    use pyo3::sync::PyOnceLock;

    struct Seen {
        event_loop: Py<PyAny>,
        thread: u64,
        pid: u32,
    }

    thread_local! {
        static SEEN: RefCell<Option<Seen>> = const { RefCell::new(None) };
    }

    /// `asyncio.BaseEventLoop` when this Python makes that system call, else `None`.
    static KEPT_FOR: PyOnceLock<Option<Py<PyAny>>> = PyOnceLock::new();

    /// The loop kept by [`remember`] while it still runs this thread; one that stopped is
    /// forgotten, so it is not checked again on every call.
    pub fn still_running(py: Python<'_>) -> Option<Bound<'_, PyAny>> {
        SEEN.with(|s| {
            let mut s = s.try_borrow_mut().ok()?;
            let seen = s.as_ref()?;
            let event_loop = seen.event_loop.bind(py).clone();
            let running = seen.pid == crate::runtime::pid()
                && event_loop
                    .getattr(intern!(py, "_thread_id"))
                    .ok()
                    .filter(|t| !t.is_none())
                    .and_then(|t| t.extract::<u64>().ok())
                    == Some(seen.thread);
            if !running {
                *s = None;
                return None;
            }
            Some(event_loop)
        })
    }

    /// Keeps `running` for the next call on this thread when it can be checked as above; a loop
    /// that cannot (not a `BaseEventLoop`, no `_thread_id`) is asked for each time, as before.
    pub fn remember(running: &Bound<'_, PyAny>) {
        let py = running.py();
        let thread = kept_for(py)
            .filter(|base| running.is_instance(base.bind(py)).unwrap_or(false))
            .and_then(|_| running.getattr(intern!(py, "_thread_id")).ok())
            .and_then(|t| t.extract::<u64>().ok());
        let Some(thread) = thread else {
            return;
        };
        SEEN.with(|s| {
            if let Ok(mut s) = s.try_borrow_mut() {
                *s = Some(Seen {
                    event_loop: running.clone().unbind(),
                    thread,
                    pid: crate::runtime::pid(),
                });
            }
        });
    }

    fn kept_for(py: Python<'_>) -> Option<&Py<PyAny>> {
        KEPT_FOR
            .get_or_init(py, || {
                if py.version_info() >= (3, 12) {
                    return None;
                }
                let base = py
                    .import("asyncio")
                    .and_then(|a| a.getattr("BaseEventLoop"));
                base.ok().map(Bound::unbind)
            })
            .as_ref()
    }
}

/// A waker, callable from any thread, that runs `on_loop` on the thread of `running` (this
/// thread's running loop); and whether that loop watches this thread's epoll set, so that the
/// work it polls may open direct sockets there (`runtime/local/evented.rs`).
pub fn waker_for(running: &Bound<'_, PyAny>, on_loop: Waker) -> (Waker, bool) {
    #[cfg(unix)]
    if let Some(waker) = socket::waker_for(running, &on_loop) {
        return (waker, true);
    }
    let waker = Waker::from(Arc::new(Threadsafe {
        on_loop,
        event_loop: running.clone().unbind(),
    }));
    (waker, false)
}

/// Wakes from any thread through `call_soon_threadsafe`, past the interpreter-exit gate
/// (`py/exit.rs`): the waking thread takes the GIL for that one call. `on_loop` runs on the loop
/// thread, so a wake-up that comes before the task is parked is not lost.
struct Threadsafe {
    on_loop: Waker,
    event_loop: Py<PyAny>,
}

impl Wake for Threadsafe {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Once the program is ending the wake-up is dropped: the loop is going away with it.
        exit::attach(|py| {
            let on_loop = self.on_loop.clone();
            let wake = PyCFunction::new_closure(py, None, None, move |_args, _kwargs| {
                on_loop.wake_by_ref();
            });
            if let Ok(wake) = wake {
                // A closed loop refuses; its task is gone anyway.
                let _ =
                    self.event_loop
                        .call_method1(py, intern!(py, "call_soon_threadsafe"), (wake,));
            }
        });
    }
}
