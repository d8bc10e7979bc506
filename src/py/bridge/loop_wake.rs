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
    let get = GET_RUNNING_LOOP.get_or_try_init(py, || {
        py.import("asyncio.events")?
            .getattr("_get_running_loop")
            .map(Bound::unbind)
    })?;
    let running = get.bind(py).call0()?;
    Ok((!running.is_none()).then_some(running))
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
