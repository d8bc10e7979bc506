//! GIL-free wake-ups of asyncio event loops (unix: the loop watches the loop thread's epoll set).
//!
//! Waking asyncio from another thread (`loop.call_soon_threadsafe`) needs the GIL. Called from a
//! tokio worker, that makes the worker queue for the GIL behind the Python thread (the cost of
//! every streamed event, and a throughput ceiling under load). Instead the loop watches, with
//! one `add_reader`, the epoll set of its own thread (`runtime/local/evented.rs`): there the
//! sockets of the calls it polls (the transport's direct connections) and their deadlines wake
//! it with no other thread involved, and a tokio thread only pushes the waker onto the loop's
//! queue and writes the set's eventfd. The loop thread then runs the wakers itself, GIL already
//! held, in that one callback.

use std::cell::{Cell, RefCell};
use std::os::fd::RawFd;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Wake, Waker};

use pyo3::prelude::*;
use pyo3::types::PyCFunction;

use crate::py::exit;
use crate::runtime::local;

struct Notifier {
    queue: Mutex<Vec<Waker>>,
    nudge: local::Nudge,
}

thread_local! {
    /// The notifier whose [`Notifier::drain`] is taking this thread's ready sockets: its wakers
    /// queue without a nudge, since the queue is taken right after.
    static DRAINING: Cell<usize> = const { Cell::new(0) };
    /// The notifier of the loop whose call this thread is polling ([`polling`]): a wake-up
    /// queued during the poll nudges after it, and only if still needed.
    static POLLING: Cell<usize> = const { Cell::new(0) };
    /// A nudge [`POLLING`] held back.
    static HELD: Cell<bool> = const { Cell::new(false) };
}

impl Notifier {
    fn push(self: &Arc<Self>, waker: Waker) {
        let first = {
            let mut q = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
            q.push(waker);
            q.len() == 1
        };
        // One nudge per batch: a non-empty queue has had its nudge.
        let me = Arc::as_ptr(self) as usize;
        if !first || DRAINING.with(Cell::get) == me {
            return;
        }
        if POLLING.with(Cell::get) == me {
            HELD.with(|h| h.set(true));
        } else {
            self.nudge.nudge();
        }
    }

    /// After a poll that held back a nudge: a finished call's own wake-ups are stale (hyper's
    /// connection wakes the request it is answering, in the same poll, on every call); the
    /// nudge goes only for what is left, so a finished call costs no eventfd write, and the
    /// loop no turn that finds nothing to do.
    fn after_poll(&self, own: &Waker, finished: bool) {
        let waiting = {
            let mut q = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
            if finished {
                q.retain(|w| !w.will_wake(own));
            }
            !q.is_empty()
        };
        if waiting {
            self.nudge.nudge();
        }
    }

    /// On the loop thread, the set readable: take what is ready in it (sockets, deadlines: their
    /// wakers queue here), then run every queued waker. The set is polled before the queue is
    /// taken, so a push in between is either taken now or nudges again.
    /// The requests its calls write go out together at its end (`runtime/local/held.rs`).
    fn drain(self: &Arc<Self>) {
        local::holding(|| self.drain_held());
    }

    fn drain_held(self: &Arc<Self>) {
        DRAINING.with(|d| d.set(Arc::as_ptr(self) as usize));
        // An error means the thread is ending; the queue still runs.
        for w in local::ready().unwrap_or_default() {
            w.wake();
        }
        DRAINING.with(|d| d.set(0));
        let wakers =
            std::mem::take(&mut *self.queue.lock().unwrap_or_else(PoisonError::into_inner));
        for w in wakers {
            w.wake();
        }
    }
}

struct LoopWaker {
    notifier: Arc<Notifier>,
    inner: Waker,
}

impl Wake for LoopWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.notifier.push(self.inner.clone());
    }
}

/// Run `poll`, one poll of a call on its loop's thread (`own`: the waker its wake-ups run),
/// with the nudges of that loop's wake-ups held until it returns (see [`Notifier::after_poll`]);
/// `finished`: whether the call is done with.
pub fn polling<R>(own: &Waker, poll: impl FnOnce() -> R, finished: impl FnOnce(&R) -> bool) -> R {
    let notifier = CURRENT.with(|c| {
        c.try_borrow()
            .ok()
            .and_then(|w| w.as_ref().map(|w| w.notifier.clone()))
    });
    let Some(notifier) = notifier else {
        return poll();
    };
    let before = POLLING.with(|p| p.replace(Arc::as_ptr(&notifier) as usize));
    let held = HELD.with(|h| h.replace(false));
    let out = poll();
    POLLING.with(|p| p.set(before));
    if HELD.with(|h| h.replace(held)) {
        notifier.after_poll(own, finished(&out));
    }
    out
}

/// The loop that watches this thread's set, and the set as it was then.
struct Watching {
    event_loop: Py<PyAny>,
    notifier: Arc<Notifier>,
    fd: RawFd,
    pid: u32,
}

thread_local! {
    /// The loop is held strongly so a new loop can never be mistaken for an old one at a reused
    /// address.
    static CURRENT: RefCell<Option<Watching>> = const { RefCell::new(None) };
}

/// A waker that wakes `inner` through the notifier of `running` (this thread's running loop);
/// `None` when that loop cannot watch a file descriptor, so the caller takes the portable path.
/// With a waker, the loop watches this thread's epoll set, so direct sockets may be opened.
pub fn waker_for(running: &Bound<'_, PyAny>, inner: &Waker) -> Option<Waker> {
    let notifier = notifier(running).ok()??;
    Some(Waker::from(Arc::new(LoopWaker {
        notifier,
        inner: inner.clone(),
    })))
}

fn notifier(running: &Bound<'_, PyAny>) -> PyResult<Option<Arc<Notifier>>> {
    let py = running.py();
    let Ok(set) = local::attach() else {
        return Ok(None);
    };
    let (known, stale) = CURRENT.with(|c| match c.borrow().as_ref() {
        Some(w) if w.event_loop.bind(py).is(running) => {
            if w.fd == set.fd && w.pid == set.pid {
                (Some(w.notifier.clone()), None)
            } else {
                // A forked child's new set: the loop stops watching the parent's.
                (None, Some(w.fd))
            }
        }
        _ => (None, None),
    });
    if known.is_some() {
        return Ok(known);
    }
    if let Some(fd) = stale {
        let _ = exit::callout(|| running.call_method1("remove_reader", (fd,)));
    }
    let notifier = Arc::new(Notifier {
        queue: Mutex::new(Vec::new()),
        nudge: set.nudge,
    });
    let for_loop = notifier.clone();
    let drain = PyCFunction::new_closure(py, None, None, move |_args, _kwargs| {
        for_loop.drain();
    })?;
    // Python code (the selector loop's); skipped at interpreter exit, which leaves the
    // `call_soon_threadsafe` waker.
    let Some(added) = exit::callout(|| running.call_method1("add_reader", (set.fd, drain))) else {
        return Ok(None);
    };
    added?;
    CURRENT.with(|c| {
        *c.borrow_mut() = Some(Watching {
            event_loop: running.clone().unbind(),
            notifier: notifier.clone(),
            fd: set.fd,
            pid: set.pid,
        })
    });
    Ok(Some(notifier))
}
