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
use std::time::{Duration, Instant};

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyCFunction, PyDict, PyType};

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
    /// Inside [`Notifier::drain`] with wakers still to run after the running one: the wakers it
    /// took run tasks' steps, and the ones after the running step must not wait for it. The
    /// last one may: nothing in the batch is left to wait, and a task resumed there runs on in
    /// the drain (each call it then makes, if one ever parked, would otherwise park too).
    static IN_DRAIN: Cell<bool> = const { Cell::new(false) };
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
        let outer = IN_DRAIN.with(|d| d.replace(true));
        DRAINING.with(|d| d.set(Arc::as_ptr(self) as usize));
        // An error means the thread is ending; the queue still runs.
        for w in local::ready().unwrap_or_default() {
            w.wake();
        }
        DRAINING.with(|d| d.set(0));
        let wakers =
            std::mem::take(&mut *self.queue.lock().unwrap_or_else(PoisonError::into_inner));
        let last = wakers.len().saturating_sub(1);
        for (i, w) in wakers.into_iter().enumerate() {
            IN_DRAIN.with(|d| d.set(outer || i < last));
            w.wake();
        }
        IN_DRAIN.with(|d| d.set(outer));
    }

    fn idle(&self) -> bool {
        self.queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_empty()
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
    /// How to take the loop's wait in place, when the loop is asyncio's own epoll loop.
    in_place: Option<LoopParts>,
}

/// The parts of asyncio's selector loop (its `BaseSelectorEventLoop` over an `EpollSelector`,
/// Linux's default) that say whether it has anything to do besides waiting: its queue of
/// callbacks to run (`_ready`, made once per loop) and what its selector watches
/// (`_fd_to_key`); and its epoll set, the fd its wait sleeps on.
struct LoopParts {
    ready: Py<PyAny>,
    watched: Py<PyAny>,
    epoll: RawFd,
}

/// A call that its loop alone waits for may wait in place at most this long: the answer of a
/// local server (a mock, a model server on the same host) usually comes well within it, and a
/// slower one is waited for by the loop as usual, the in-place wait costing one `poll` more.
pub const IN_PLACE: Duration = Duration::from_millis(2);

/// The wait of an idle loop, taken in place by the step of the one call it waits for (see
/// [`idle`]).
pub struct Idle {
    notifier: Arc<Notifier>,
    epoll: RawFd,
    timeout: Duration,
}

impl Idle {
    /// Sleep as the loop would (its epoll set holds this thread's set); once it has something
    /// to do, take what this thread's set says is ready (the wakers queue, as in
    /// [`Notifier::drain`]) and run `poll`, a poll of the call, as [`polling`] does. The queue
    /// is then the loop's to run, so it is nudged for whatever is left in it: taking the set's
    /// events took the nudge of a wake-up another thread queued meanwhile. `None`: nothing
    /// came in time (or a signal came), so no poll.
    pub fn poll_after<R>(
        &self,
        own: &Waker,
        poll: impl FnOnce() -> R,
        finished: impl FnOnce(&R) -> bool,
    ) -> Option<R> {
        // Inside a drain (the last of its wakers), the batch's held writes, this call's
        // request among them, go now: the answer cannot come before its request.
        if local::is_holding() {
            local::release_held();
        }
        if !local::wait_readable(self.epoll, self.timeout) {
            return None;
        }
        let me = Arc::as_ptr(&self.notifier) as usize;
        let before = POLLING.with(|p| p.replace(me));
        let held = HELD.with(|h| h.replace(false));
        for w in local::ready().unwrap_or_default() {
            w.wake();
        }
        let out = poll();
        POLLING.with(|p| p.set(before));
        HELD.with(|h| h.set(held));
        self.notifier.after_poll(own, finished(&out));
        Some(out)
    }
}

/// Whether a call of `event_loop` (this thread's running loop), pending after a poll, may wait
/// for its answer in place, inside its step, until `until` at the latest: when the loop has
/// nothing else to do (no callback ready, no wake-up queued, no timer due before then, not
/// stopping, no waker of a [`Notifier::drain`] left to run after it) and watches nothing but its own self-pipe and this
/// thread's set, its next turn would only sleep until this set (or the self-pipe) wakes it and
/// then run the call's wake-up. Waiting in place does the same without the turn: the task's
/// suspension, the loop's Python, the drain callback and the task's resumption. A sequential
/// call over the bench's loopback (async, `bench/ab.py`) was ~30 µs of CPU and p50 dearer than
/// its sync twin, which sleeps in the set itself; that was the turn.
pub fn idle(event_loop: &Bound<'_, PyAny>, until: Instant) -> Option<Idle> {
    if IN_DRAIN.with(Cell::get) {
        return None;
    }
    let py = event_loop.py();
    let (notifier, ready, watched, epoll) = CURRENT.with(|c| {
        let c = c.try_borrow().ok()?;
        let w = c.as_ref()?;
        let parts = w.in_place.as_ref()?;
        (w.event_loop.bind(py).is(event_loop) && w.notifier.idle()).then(|| {
            let n = w.notifier.clone();
            (
                n,
                parts.ready.clone_ref(py),
                parts.watched.clone_ref(py),
                parts.epoll,
            )
        })
    })?;
    // Plain attribute reads and `len`s of built-in containers: no Python code runs, but for
    // the loop's clock (`loop.time()`), read only when a timer is pending.
    let busy = ready.bind(py).len().map_or(true, |n| n > 0)
        || watched.bind(py).len().map_or(true, |n| n > 2)
        || event_loop
            .getattr(intern!(py, "_stopping"))
            .and_then(|s| s.is_truthy())
            .unwrap_or(true);
    if busy {
        return None;
    }
    let mut timeout = until.saturating_duration_since(Instant::now());
    let timers = event_loop.getattr(intern!(py, "_scheduled")).ok()?;
    if timers.len().ok()? > 0 {
        let when: f64 = timers
            .get_item(0)
            .and_then(|t| t.getattr(intern!(py, "_when")))
            .and_then(|w| w.extract())
            .ok()?;
        let now: f64 = exit::callout(|| event_loop.call_method0(intern!(py, "time")))?
            .and_then(|t| t.extract())
            .ok()?;
        timeout = timeout.min(Duration::try_from_secs_f64(when - now).unwrap_or_default());
    }
    (!timeout.is_zero()).then_some(Idle {
        notifier,
        epoll,
        timeout,
    })
}

/// When `running` is asyncio's own selector loop over an epoll set, its [`LoopParts`].
fn loop_parts(running: &Bound<'_, PyAny>) -> Option<LoopParts> {
    static KINDS: PyOnceLock<(Py<PyType>, Py<PyType>)> = PyOnceLock::new();
    let py = running.py();
    let (base, epoll_selector) = KINDS
        .get_or_try_init(py, || -> PyResult<_> {
            let base = py
                .import("asyncio.selector_events")?
                .getattr("BaseSelectorEventLoop")?;
            let epoll = py.import("selectors")?.getattr("EpollSelector")?;
            Ok((
                base.cast_into::<PyType>()?.unbind(),
                epoll.cast_into::<PyType>()?.unbind(),
            ))
        })
        .ok()?;
    let selector = running.getattr(intern!(py, "_selector")).ok()?;
    if !running.is_instance(base.bind(py)).ok()? || !selector.get_type().is(epoll_selector.bind(py))
    {
        return None;
    }
    let ready = running.getattr(intern!(py, "_ready")).ok()?;
    let watched = selector.getattr(intern!(py, "_fd_to_key")).ok()?;
    let epoll = selector
        .getattr(intern!(py, "_selector"))
        .ok()?
        .call_method0(intern!(py, "fileno"))
        .ok()?;
    let deque = py.import("collections").ok()?.getattr("deque").ok()?;
    if !ready.get_type().is(&deque) || !watched.is_exact_instance_of::<PyDict>() {
        return None;
    }
    Some(LoopParts {
        ready: ready.unbind(),
        watched: watched.unbind(),
        epoll: epoll.extract().ok()?,
    })
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
    let in_place = loop_parts(running);
    CURRENT.with(|c| {
        *c.borrow_mut() = Some(Watching {
            event_loop: running.clone().unbind(),
            notifier: notifier.clone(),
            fd: set.fd,
            pid: set.pid,
            in_place,
        })
    });
    Ok(Some(notifier))
}
