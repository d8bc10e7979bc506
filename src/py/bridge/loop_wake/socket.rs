//! GIL-free wake-ups of asyncio event loops (unix: a socket pair the loop watches).
//!
//! Waking asyncio from another thread (`loop.call_soon_threadsafe`) needs the GIL. Called from a
//! tokio worker, that makes the worker queue for the GIL behind the Python thread (the cost of
//! every async call and every streamed event, and a throughput ceiling under load). Instead, a
//! tokio thread only pushes the waker onto the loop's queue and writes one byte to a socket the
//! loop watches (`add_reader`); the loop thread then runs the wakers itself, GIL already held.

use std::cell::RefCell;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Wake, Waker};

use pyo3::prelude::*;
use pyo3::types::PyCFunction;

use crate::py::exit;

struct Notifier {
    queue: Mutex<Vec<Waker>>,
    /// Written by any thread, read by the loop thread; both non-blocking.
    tx: UnixStream,
    rx: UnixStream,
}

impl Notifier {
    fn new() -> std::io::Result<Self> {
        let (tx, rx) = UnixStream::pair()?;
        tx.set_nonblocking(true)?;
        rx.set_nonblocking(true)?;
        Ok(Self {
            queue: Mutex::new(Vec::new()),
            tx,
            rx,
        })
    }

    fn push(&self, waker: Waker) {
        let first = {
            let mut q = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
            q.push(waker);
            q.len() == 1
        };
        // One byte per batch: a full socket buffer means a wake-up is already pending.
        if first {
            let _ = (&self.tx).write(&[1]);
        }
    }

    /// On the loop thread: empty the socket, then run every queued waker. Reading before taking
    /// the queue means a push in between is either taken now or writes a fresh byte.
    fn drain(&self) {
        let mut buf = [0u8; 256];
        loop {
            match (&self.rx).read(&mut buf) {
                // A short read emptied the socket: no need to ask again to be told so.
                Ok(n) if n < buf.len() => break,
                Ok(_) => continue,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
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

thread_local! {
    /// The running loop of this thread and its notifier. The loop is held strongly so a new loop
    /// can never be mistaken for an old one at a reused address.
    static CURRENT: RefCell<Option<(Py<PyAny>, Arc<Notifier>)>> = const { RefCell::new(None) };
}

/// A waker that wakes `inner` through the notifier of `running` (this thread's running loop);
/// `None` when that loop cannot watch a socket, so the caller takes the portable path.
pub fn waker_for(running: &Bound<'_, PyAny>, inner: &Waker) -> Option<Waker> {
    let notifier = notifier(running).ok()??;
    Some(Waker::from(Arc::new(LoopWaker {
        notifier,
        inner: inner.clone(),
    })))
}

fn notifier(running: &Bound<'_, PyAny>) -> PyResult<Option<Arc<Notifier>>> {
    let py = running.py();
    let known = CURRENT.with(|c| {
        c.borrow()
            .as_ref()
            .filter(|(lp, _)| lp.bind(py).is(running))
            .map(|(_, n)| n.clone())
    });
    if known.is_some() {
        return Ok(known);
    }
    let Ok(notifier) = Notifier::new().map(Arc::new) else {
        return Ok(None);
    };
    let for_loop = notifier.clone();
    let drain = PyCFunction::new_closure(py, None, None, move |_args, _kwargs| {
        for_loop.drain();
    })?;
    // Python code (the selector loop's); skipped at interpreter exit, which leaves the
    // `call_soon_threadsafe` waker.
    let Some(added) =
        exit::callout(|| running.call_method1("add_reader", (notifier.rx.as_raw_fd(), drain)))
    else {
        return Ok(None);
    };
    added?;
    CURRENT.with(|c| *c.borrow_mut() = Some((running.clone().unbind(), notifier.clone())));
    Ok(Some(notifier))
}
