//! Interpreter exit: once the program has begun to end, no thread takes the GIL back into a
//! dying interpreter.
//!
//! Daemon threads can be inside llmrail with the GIL released when the program ends: blocked in
//! `chat_sync` or a sync stream, polling a call on a daemon thread's event loop, or a tokio
//! worker handing a log record to Python `logging`. CPython finalises the interpreter after the
//! `atexit` hooks. A thread that asks for the GIL after that is ended with `pthread_exit`, which
//! unwinds through Rust frames, or, once the interpreter is freed, reads freed memory: a SIGSEGV
//! in `PyGILState_Ensure` -> `new_threadstate(interp=NULL)` was seen in 2–5 % of exits of a
//! program whose daemon threads were calling `chat_sync` and iterating sync streams.
//!
//! The same holds for Rust code that holds the GIL and runs Python code (a task's wake-up, a
//! loop's `add_reader`, `llmrail._extract.prepare`, an exception's `__init__`): the interpreter may hand the GIL to another thread between two
//! bytecodes, and a daemon thread that cannot take it back during finalisation is ended with
//! `pthread_exit` through the Rust frames below, which aborts the process (seen about once in
//! 600 exits once the first case was fixed).
//!
//! The gate: every way back into Python from a thread that released the GIL (the end of
//! [`detach`], and [`attach`]), and every [`callout`] to Python code, first takes a [`Ticket`]. The `atexit` hook [`quiesce`] closes
//! the gate and then, with the GIL released, waits until every ticket taken before it closed
//! has been used and given back. A ticket is counted *before* the gate is read (both
//! sequentially consistent), so no thread can be between "the gate was open" and "I hold the
//! GIL" once `quiesce` returns. After that, a thread that would return to Python parks forever
//! (the process is ending; it is a daemon thread, or finalisation would have waited for it),
//! and a thread that only wanted to call into Python (a log record, a loop wake-up, a signal
//! check) skips it.
//!
//! The rule, for any Rust code that Python called: no plain `py.detach` (use [`detach`]), and
//! no Python code run below a Rust frame outside a [`callout`]. Python code hides in more than
//! explicit calls: a hook's hand-over writes to a socket with the GIL released, a
//! `pathlib.Path` argument runs `__fspath__` ([`FsPath`]), a progress bar writes to stderr.
//! The first two, ungated, aborted 2-6 exits in a hundred (tests_py/test_exit_paths.py).
//!
//! The thread that runs `quiesce` is the one finalising the interpreter, and `atexit` hooks
//! registered before `import llmrail` run after ours on that same thread: it keeps its way in.

use std::cell::Cell;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::PyString;

/// How long interpreter exit waits for threads already on their way back into Python.
const QUIESCE_LIMIT: Duration = Duration::from_secs(2);

/// Closed by [`quiesce`] when the program begins to end; never opened again.
static CLOSED: AtomicBool = AtomicBool::new(false);
/// Tickets taken and not yet given back: threads on their way into Python, or inside it.
static TICKETS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Set on the thread that ran `quiesce`: it finalises the interpreter and stays welcome.
    static FINALISING_THREAD: Cell<bool> = const { Cell::new(false) };
    /// The counted tickets this thread holds and has not lent back (see [`detach`]).
    static HELD: Cell<usize> = const { Cell::new(0) };
}

/// Leave to enter Python. Dropped once the holder is back out, or holds the GIL for good.
pub struct Ticket {
    counted: bool,
}

impl Ticket {
    /// A ticket, or `None` once the program has begun to end.
    fn take() -> Option<Ticket> {
        Self::take_with(0)
    }

    /// A ticket, counted together with the `lent` tickets of this thread's callers that
    /// [`detach`] handed back; `None` (all of them given up) once the program has begun to end.
    fn take_with(lent: usize) -> Option<Ticket> {
        if FINALISING_THREAD.with(Cell::get) {
            return Some(Ticket { counted: false });
        }
        TICKETS.fetch_add(lent + 1, Ordering::SeqCst);
        if CLOSED.load(Ordering::SeqCst) {
            TICKETS.fetch_sub(lent + 1, Ordering::SeqCst);
            return None;
        }
        HELD.with(|h| h.set(h.get() + lent + 1));
        Some(Ticket { counted: true })
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if self.counted {
            HELD.with(|h| h.set(h.get() - 1));
            TICKETS.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// `py.detach(f)` that does not return to a dying interpreter: if the program has begun to end
/// by the time `f` is done, this thread parks for good instead of taking the GIL back.
///
/// While `f` runs this thread runs no Python code, so the tickets its callers hold (a task's
/// wake-up, a [`callout`], whose step went on into a sync call) are lent back and counted again
/// with this call's own: otherwise the exit would wait all of [`QUIESCE_LIMIT`] for a call that
/// only ends by parking (its callers' frames never resume then).
pub fn detach<T, F>(py: Python<'_>, f: F) -> T
where
    // pyo3's `Ungil` is `Send` unless its nightly feature is on; the closure below carries both.
    F: Send + FnOnce() -> T,
    T: Send,
{
    let (out, _ticket) = py.detach(|| {
        let mut lent = Lent::lend();
        let out = f();
        let lent = std::mem::take(&mut lent.0);
        (
            out,
            Ticket::take_with(lent).unwrap_or_else(|| park_forever()),
        )
    });
    out
}

/// The tickets [`detach`] lent back: counted again as they were if `f` panics instead of
/// returning, since its callers' frames then resume.
struct Lent(usize);

impl Lent {
    fn lend() -> Self {
        let lent = HELD.with(|h| h.replace(0));
        if lent > 0 {
            TICKETS.fetch_sub(lent, Ordering::SeqCst);
        }
        Self(lent)
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        if self.0 > 0 {
            TICKETS.fetch_add(self.0, Ordering::SeqCst);
            HELD.with(|h| h.set(h.get() + self.0));
        }
    }
}

/// `Python::attach(f)` for a thread that does not hold the GIL (a tokio worker, or a sync call
/// waiting with the GIL released); `None`, without running `f`, once the program has begun to end.
pub fn attach<R>(f: impl FnOnce(Python<'_>) -> R) -> Option<R> {
    let _ticket = Ticket::take()?;
    Some(Python::attach(f))
}

/// Run Python code from Rust that holds the GIL; `None`, without running `f`, once the program
/// has begun to end (see the module comment). The finalising thread always runs `f`.
pub fn callout<R>(f: impl FnOnce() -> R) -> Option<R> {
    let _ticket = Ticket::take()?;
    Some(f())
}

/// A path argument. Reading a `pathlib.Path` (any `os.PathLike`) runs its `__fspath__`, Python
/// code below the method's Rust frame, so it passes the gate; a `str` is read by C code alone.
pub struct FsPath(pub PathBuf);

impl<'a, 'py> FromPyObject<'a, 'py> for FsPath {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        if obj.is_instance_of::<PyString>() {
            return obj.extract::<PathBuf>().map(FsPath);
        }
        callout(|| obj.extract::<PathBuf>())
            .ok_or_else(ending)?
            .map(FsPath)
    }
}

impl From<FsPath> for PathBuf {
    fn from(path: FsPath) -> Self {
        path.0
    }
}

/// The error a [`callout`] that was skipped ends its call with (built without running Python code).
pub fn ending() -> PyErr {
    PyRuntimeError::new_err("the Python interpreter is exiting")
}

fn park_forever() -> ! {
    loop {
        std::thread::park();
    }
}

/// Registered with `atexit` by `llmrail/__init__.py`: close the gate, then let the threads
/// already on their way into Python get there (see the module comment).
#[pyfunction]
pub fn quiesce(py: Python<'_>) {
    FINALISING_THREAD.with(|f| f.set(true));
    CLOSED.store(true, Ordering::SeqCst);
    py.detach(|| {
        let deadline = Instant::now() + QUIESCE_LIMIT;
        while TICKETS.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
    });
}

/// Core `log` records reach Python `logging` through pyo3-log only while the gate is open: a
/// record from a tokio worker during finalisation is dropped instead.
pub struct GatedLogger(pub pyo3_log::Logger);

/// (target, level) pairs pyo3-log said no to since the last [`forget_log_levels`]: a handful
/// (the core's modules that log), bounded all the same.
static OFF: std::sync::Mutex<Vec<(String, log::Level)>> = std::sync::Mutex::new(Vec::new());
const OFF_MAX: usize = 64;

fn off() -> std::sync::MutexGuard<'static, Vec<(String, log::Level)>> {
    OFF.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn known_off(metadata: &log::Metadata<'_>) -> bool {
    let (target, level) = (metadata.target(), metadata.level());
    off().iter().any(|(t, l)| *l == level && t == target)
}

fn remember_off(metadata: &log::Metadata<'_>) {
    let mut off = off();
    if off.len() < OFF_MAX {
        off.push((metadata.target().to_string(), metadata.level()));
    }
}

/// Python's logging configuration changed: ask pyo3-log again.
pub(crate) fn forget_log_levels() {
    off().clear();
}

impl log::Log for GatedLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        // Reads pyo3-log's cache only; it never takes the GIL. Its "no" is remembered until
        // `reset_log_levels`: its lookup (the target's path walked, a hash per segment) was
        // ~2.3k of a sync chat's ~88k instructions (callgrind), for the one debug event of a
        // call that nobody logs.
        if known_off(metadata) {
            return false;
        }
        let on = self.0.enabled(metadata);
        if !on {
            remember_off(metadata);
        }
        on
    }

    fn log(&self, record: &log::Record<'_>) {
        if let Some(_ticket) = Ticket::take() {
            self.0.log(record);
        }
    }

    fn flush(&self) {}
}
