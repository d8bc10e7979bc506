//! The async bridge: the one door between Python's waiting and the core's futures. Every async
//! method returns a [`Coroutine`](coroutine::Coroutine) (`Call` to Python) built by
//! [`coroutine::call`]; every sync method waits in [`block`]. This comment is the contract with
//! asyncio; the files below say only how they keep it.
//!
//! # Which code runs on which thread
//!
//! - **The awaiting Python thread polls the Rust future.** A `Call` is a coroutine object
//!   (`send`, `throw`, `close`, `__await__`), so `await`, `asyncio.run`, `create_task`, `gather`
//!   and `TaskGroup` take it. Its first step reads the arguments into owned Rust values (bad ones
//!   raise there, as in an `async def`) and builds the `'static` core future; that step and every
//!   later one polls the future on the event loop's thread with the GIL released, inside the
//!   shared runtime's context, so the sockets and timers it opens belong to the process's one
//!   runtime (`runtime::run`). A panic becomes an `LLMError`, and the future is not polled again.
//! - **The loop thread's own sockets.** The loop watches, with one `add_reader`, its thread's
//!   epoll set (`runtime/local/evented.rs`); while the loop thread polls a call, the transport
//!   sends plain requests over that thread's own connections there (`transport/direct.rs`, as
//!   for a sync caller), so the answer wakes the loop's own `epoll_wait` and the parked task
//!   resumes inside that callback, GIL already held ([`waiter`]: the `Waiter` a task is parked
//!   on runs its done callbacks at once instead of scheduling them, one loop turn less per
//!   wake-up). Deadlines of those calls are a timer fd in the same set.
//! - **A call its loop alone waits for waits in place.** When a step leaves the call pending and
//!   asyncio's own epoll loop has nothing else to do (no callback ready, no timer due, watching
//!   only its self-pipe and this set), the step itself sleeps on the loop's epoll set, GIL
//!   released, for at most 2 ms or until the next timer ([`loop_wake::idle`]), and polls the
//!   call again when the set wakes: the loop's next turn would have done only that. Anything
//!   else that wakes the loop (another thread's `call_soon_threadsafe`, a signal, another
//!   socket) ends the wait and goes to the loop. A sequential async call then costs about what
//!   a sync one does.
//! - **Tokio workers move the other bytes.** Connections the direct path does not take (TLS,
//!   DNS names, proxies) are reqwest's, driven by hyper tasks on the runtime's workers
//!   (one by default, `runtime::WORKER_THREADS_VAR`), as are tokio's timers.
//!   On unix a worker wakes a call without the GIL: it queues the waker and writes the set's
//!   eventfd ([`loop_wake`]); the loop thread drains the queue in the same callback.
//! - **The portable wake-up.** A loop that cannot watch a socket (Windows' `ProactorEventLoop`,
//!   any loop whose `add_reader` refuses) and every non-unix build wake the call through
//!   `loop.call_soon_threadsafe` instead ([`loop_wake`]): the worker waits for the GIL for that
//!   one call. Same results and the same cancellation, more CPU per wake-up (figures below).
//!   uvloop watches sockets, so it takes the unix path. The non-unix build is checked with
//!   `cargo check --target x86_64-pc-windows-gnu --lib` (ring and mimalloc need
//!   `gcc-mingw-w64-x86-64` for their C); the portable path is tested on Linux with a loop whose
//!   `add_reader` refuses (`tests_py/test_asyncio_integration.py`).
//! - **Streams are pulled.** `__anext__` awaits the next event, and that wait polls the stream's
//!   call itself (`client/chat_stream.rs`), on the loop thread: its reads go over the loop
//!   thread's own connection as a whole call's do. An event already buffered (one read brings
//!   many) comes back as a finished awaitable, with no poll at all.
//! - **Sync methods** call [`block`]: `py.detach` (GIL released) around `runtime::block_on` of the
//!   same future on the caller's thread, waking every 50 ms to let Python deliver signals, so
//!   Ctrl-C raises `KeyboardInterrupt` and drops the call. One code path for both APIs.
//! - A thread without the GIL re-enters Python only for short callbacks: the portable wake-up, a
//!   log record ([`logging`]), the signal check, an extraction's validator.
//!
//! # Cancellation drops the Rust future
//!
//! `Task.cancel()` first cancels the `Waiter` the task is parked on; the task then wakes and
//! throws `CancelledError` into the `Call`, which drops the core future there and then, on the
//! loop thread. With it go the request and its connection (the server sees it close), a retry's
//! sleep, a rate limiter's wait, and a stream's pump task (aborted when its handle drops).
//! Cancelling the wait for a stream's next event closes that stream (`py/stream.rs`): the
//! stream object may outlive the cancelled task (its traceback keeps the frame that holds it).
//! `close()` (a coroutine closed or collected before it finished) does the same. Core code is
//! written so that any await may be its last (a cassette is never left half-written).
//! A `Call` is awaited once; awaiting it again raises `RuntimeError`, as a spent coroutine does.
//!
//! # Why not `pyo3_async_runtimes::tokio::future_into_py`
//!
//! It spawns the future on a worker; when done, it hands the result to a blocking-pool thread,
//! which takes the GIL and calls `call_soon_threadsafe(future.set_result)`: the loop wakes on its
//! self-pipe, sets the asyncio future's result, and the task resumes one turn later. Three
//! threads, a GIL acquisition off the loop thread, and two loop turns per await. pyo3's own
//! `async fn` (`experimental-async`) wakes through `call_soon_threadsafe` too, whose write to
//! asyncio's self-pipe costs one more loop turn and a failed `recv` (a Python exception) per
//! wake-up. `make bench` measures both doors on one trivial task spawned on a worker
//! (`bench_noop_native`, `bench_noop_future_into_py`: [`probe`]). 50,000 awaits, three runs, on
//! 2 cores shared with other builds (load average 6–8), 2026-12-06:
//!
//! | per await                         | p50         | p95         | CPU         |
//! |-----------------------------------|-------------|-------------|-------------|
//! | this bridge, unix wake-up         | 6.1–6.4 µs  | 7.1–8.8 µs  | 6.7–7.9 µs  |
//! | the same under uvloop             | 6.1 µs      | 6.7–6.8 µs  | 6.5–6.6 µs  |
//! | this bridge, portable wake-up     | 16.8–16.9 µs| 21–74 µs    | 18–24 µs    |
//! | `future_into_py`                  | 55–81 µs    | 118–160 µs  | 71–102 µs   |
//!
//! (The portable row: the probe on a selector loop whose `add_reader` refuses, as Windows'
//! does. The unix rows were measured when the worker wrote to a socket pair; its replacement,
//! the epoll set's eventfd, measured the same: 6.1–6.2 µs p50, 2026-12-07.) Before this door existed, a loopback chat with a 2 KB answer took ~280–370 µs via
//! `future_into_py` and ~215–300 µs via pyo3's `async fn`, against ~85 µs for a plain reqwest
//! client: the door was most of the overhead. `pyo3-async-runtimes` stays a dependency for the
//! probe alone: this comparison is why the bridge exists, and `make bench` repeats it on every
//! machine rather than trusting these figures.
//!
//! # Interpreter exit
//!
//! Every way back into Python from a thread that released the GIL (the end of a poll or of a sync
//! wait, a wake-up, a log record, a signal check) passes the interpreter-exit gate
//! (`py/exit.rs`: a sibling of this folder, since the error map, the mock server and cassettes
//! pass it too, and inside the folder it would close a circle with the error map). Once the
//! `atexit` hook `quiesce` has run, no thread takes the GIL back into the finalising
//! interpreter: a thread that would return to Python parks for good (it is a daemon thread, or
//! finalisation would have waited for it), and one that only wanted to call into Python skips
//! the call. So the process ends cleanly with calls still in flight on daemon threads.

use std::future::Future;
use std::time::Duration;

use pyo3::prelude::*;

use super::errors::to_py;
use super::exit;
use crate::error::LlmError;
use crate::runtime;

pub(super) mod coroutine;
mod logging;
mod loop_wake;
mod probe;
mod waiter;

pub(crate) use logging::AccessLog;
pub use logging::{init_logging, reset_log_levels};
pub use probe::{bench_noop_future_into_py, bench_noop_native};

const SIGNAL_CHECK: Duration = Duration::from_millis(50);

/// Run core work to completion from a sync call: GIL released, signals checked.
pub fn block<T, F>(py: Python<'_>, fut: F) -> PyResult<T>
where
    F: Future<Output = Result<T, LlmError>> + Send,
    T: Send,
{
    let outcome: Result<Result<T, LlmError>, PyErr> = exit::detach(py, || {
        // Skipped once the program is ending: no signal is delivered then.
        let waited = runtime::block_on_checked(fut, Some(SIGNAL_CHECK), || {
            exit::attach(|py| py.check_signals())
                .transpose()
                .map(|_| ())
        });
        match waited {
            Ok(Ok(out)) => Ok(out),
            Ok(Err(interrupted)) => Err(interrupted),
            Err(e) => Ok(Err(e)),
        }
    });
    outcome?.map_err(to_py)
}
