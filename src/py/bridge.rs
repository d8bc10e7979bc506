//! The one bridge between Python's waiting and the core's futures.
//!
//! Async: methods are native `async fn`s (pyo3 coroutines), so `asyncio.run(client.chat(...))`
//! works and cancelling the asyncio task drops the Rust future; core futures own their spawned
//! task through `runtime::AbortOnDrop`, so the socket is closed. They await [`run`], which polls
//! the core future on the Python thread inside the shared runtime's context (no second spawn:
//! the core already runs its I/O on the runtime). Measured against
//! `pyo3_async_runtimes::future_into_py` by `make bench` (the two `bench_noop_*` functions).
//!
//! Wakers are tracked: a tokio thread that wakes an asyncio loop calls into Python
//! (`call_soon_threadsafe`), and if the interpreter finalises meanwhile, CPython ends that thread
//! with `pthread_exit`, which aborts the process when it unwinds through Rust frames. The
//! `atexit` hook [`quiesce`] waits for in-flight wakes before Python finalises.
//!
//! Sync: [`block`] releases the GIL and blocks on the same shared runtime, waking every 50 ms to
//! let Python deliver signals, so Ctrl-C raises KeyboardInterrupt promptly.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use pyo3::prelude::*;

use super::errors::to_py;
use crate::error::LlmError;
use crate::runtime;

const SIGNAL_CHECK: Duration = Duration::from_millis(50);
/// How long interpreter exit waits for tokio threads still waking Python.
const QUIESCE_LIMIT: Duration = Duration::from_secs(2);

/// Wakes of Python event loops currently running on non-Python threads.
static WAKES_IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// Await core work from a pyo3 coroutine.
pub async fn run<T, F>(fut: F) -> PyResult<T>
where
    F: Future<Output = Result<T, LlmError>> + Send,
    T: Send,
{
    let handle = runtime::handle().map_err(to_py)?;
    InRuntime {
        handle,
        fut: Box::pin(fut),
        waker: None,
    }
    .await
    .map_err(to_py)
}

/// Polls `fut` with the runtime entered (timers and sockets need it) and a tracked waker.
struct InRuntime<F> {
    handle: tokio::runtime::Handle,
    fut: Pin<Box<F>>,
    /// The tracked wrapper of the last waker pyo3 gave us; rebuilt only when it changes.
    waker: Option<(Waker, Waker)>,
}

impl<F> Future for InRuntime<F>
where
    F: Future + Send,
    F::Output: Send,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        let tracked = match &this.waker {
            Some((original, tracked)) if original.will_wake(cx.waker()) => tracked.clone(),
            _ => {
                let tracked = super::loop_wake::waker_for_running_loop(cx.waker())
                    .unwrap_or_else(|| Waker::from(Arc::new(Tracked(cx.waker().clone()))));
                this.waker = Some((cx.waker().clone(), tracked.clone()));
                tracked
            }
        };
        // Polled with the GIL released: a first poll can run the request's own work here (see
        // `runtime::run`), and that work takes locks (hyper's pool) that tokio threads hold while
        // logging, which goes to Python and needs the GIL: holding it here could deadlock.
        let (handle, fut) = (&this.handle, this.fut.as_mut());
        Python::attach(|py| {
            py.detach(|| {
                let _entered = handle.enter();
                fut.poll(&mut Context::from_waker(&tracked))
            })
        })
    }
}

struct Tracked(Waker);

impl Wake for Tracked {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        WAKES_IN_FLIGHT.fetch_add(1, Ordering::SeqCst);
        self.0.wake_by_ref();
        WAKES_IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Registered with `atexit` by `llmrail/__init__.py`: let in-flight wakes leave Python before
/// the interpreter finalises (see the module comment).
#[pyfunction]
pub fn quiesce(py: Python<'_>) {
    py.detach(|| {
        let deadline = Instant::now() + QUIESCE_LIMIT;
        while WAKES_IN_FLIGHT.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
    });
}

/// Run core work to completion from a sync call: GIL released, signals checked.
pub fn block<T, F>(py: Python<'_>, fut: F) -> PyResult<T>
where
    F: Future<Output = Result<T, LlmError>> + Send,
    T: Send,
{
    let outcome: Result<Result<T, LlmError>, PyErr> = py.detach(|| {
        let waited = runtime::block_on(async {
            let mut fut = std::pin::pin!(fut);
            let start = tokio::time::Instant::now() + SIGNAL_CHECK;
            let mut tick = tokio::time::interval_at(start, SIGNAL_CHECK);
            loop {
                tokio::select! {
                    out = &mut fut => return Ok(out),
                    _ = tick.tick() => {
                        Python::attach(|py| py.check_signals())?;
                    }
                }
            }
        });
        match waited {
            Ok(inner) => inner,
            Err(e) => Ok(Err(e)),
        }
    });
    outcome?.map_err(to_py)
}

static LOG_RESET: OnceLock<pyo3_log::ResetHandle> = OnceLock::new();

/// Core `tracing`/`log` records go to Python's `logging` under the Rust module path
/// (`llmrail.client`, `llmrail.transport`, ...).
pub fn init_logging(_py: Python<'_>) {
    if LOG_RESET.get().is_none() {
        if let Ok(handle) = pyo3_log::try_init() {
            let _ = LOG_RESET.set(handle);
        }
    }
}

/// pyo3-log caches logger levels; call after changing Python's logging configuration.
#[pyfunction]
pub fn reset_log_levels() {
    if let Some(h) = LOG_RESET.get() {
        h.reset();
    }
}

/// Benchmark probe: one await of a trivial task through the native-coroutine bridge.
#[pyfunction]
pub async fn bench_noop_native() -> PyResult<u32> {
    // A task that waits once, as every real call does, so it is spawned and the thread hop
    // back is measured.
    run(runtime::run(async {
        tokio::task::yield_now().await;
        Ok(1)
    }))
    .await
}

/// Benchmark probe: the same await through `pyo3_async_runtimes::future_into_py` (which uses
/// its own runtime; only the bridge cost is compared).
#[pyfunction]
pub fn bench_noop_future_into_py(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    pyo3_async_runtimes::tokio::future_into_py(py, async { Ok(1u32) })
}
