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
pub use socket::polling;

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
    seen::remember(&running)?;
    Ok(Some(running))
}

/// Before 3.12, asyncio's `_get_running_loop` makes a `getpid` system call each time (its
/// check that the loop is this process's): one a call, ~2% of a call's client CPU at 256 in
/// flight. So the loop found last is kept per thread, and is still the running one while it
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

    pub fn still_running(py: Python<'_>) -> Option<Bound<'_, PyAny>> {
        SEEN.with(|s| {
            let s = s.try_borrow().ok()?;
            let seen = s.as_ref()?;
            if seen.pid != crate::runtime::pid() {
                return None;
            }
            let event_loop = seen.event_loop.bind(py);
            let thread = event_loop.getattr(intern!(py, "_thread_id")).ok()?;
            (thread.extract::<u64>().ok()? == seen.thread).then(|| event_loop.clone())
        })
    }

    pub fn remember(running: &Bound<'_, PyAny>) -> PyResult<()> {
        let py = running.py();
        let kept_for = KEPT_FOR.get_or_try_init(py, || -> PyResult<_> {
            if py.version_info() >= (3, 12) {
                return Ok(None);
            }
            Ok(Some(
                py.import("asyncio")?.getattr("BaseEventLoop")?.unbind(),
            ))
        })?;
        let Some(base) = kept_for else {
            return Ok(());
        };
        if !running.is_instance(base.bind(py))? {
            return Ok(());
        }
        let thread = running
            .getattr(intern!(py, "_thread_id"))?
            .extract::<u64>()?;
        SEEN.with(|s| {
            if let Ok(mut s) = s.try_borrow_mut() {
                *s = Some(Seen {
                    event_loop: running.clone().unbind(),
                    thread,
                    pid: crate::runtime::pid(),
                });
            }
        });
        Ok(())
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
