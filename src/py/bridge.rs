//! The one bridge between Python's waiting and the core's futures.
//!
//! Async: methods return a [`Coroutine`](super::coroutine::Coroutine) (`coroutine::call`), a
//! coroutine object, so `asyncio.run(client.chat(...))` works and cancelling the asyncio task drops
//! the Rust future, which the loop thread polls itself (`runtime::run`), so the request and its
//! socket are dropped with it. Wake-ups reach the loop through `loop_wake` without the GIL. Measured
//! against `pyo3_async_runtimes::future_into_py` by `make bench` (the two `bench_noop_*`
//! functions).
//!
//! Where a loop cannot watch a socket, a tokio thread wakes it with `call_soon_threadsafe`
//! under the GIL. That, and every other way back into Python from a thread that released the
//! GIL, passes the interpreter-exit gate (`exit.rs`).
//!
//! Sync: [`block`] releases the GIL and blocks on the same shared runtime, waking every 50 ms to
//! let Python deliver signals, so Ctrl-C raises KeyboardInterrupt promptly.

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::IntoPyObjectExt;

use super::coroutine::{self, Coroutine};
use super::errors::to_py;
use super::exit;
use crate::error::LlmError;
use crate::runtime;

const SIGNAL_CHECK: Duration = Duration::from_millis(50);

/// Run core work to completion from a sync call: GIL released, signals checked.
pub fn block<T, F>(py: Python<'_>, fut: F) -> PyResult<T>
where
    F: Future<Output = Result<T, LlmError>> + Send,
    T: Send,
{
    let outcome: Result<Result<T, LlmError>, PyErr> = exit::detach(py, || {
        let waited = runtime::block_on(async {
            let mut fut = std::pin::pin!(fut);
            let start = tokio::time::Instant::now() + SIGNAL_CHECK;
            let mut tick = tokio::time::interval_at(start, SIGNAL_CHECK);
            loop {
                tokio::select! {
                    out = &mut fut => return Ok(out),
                    _ = tick.tick() => {
                        // Skipped once the program is ending: no signal is delivered then.
                        exit::attach(|py| py.check_signals()).transpose()?;
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
pub fn init_logging(py: Python<'_>) {
    if LOG_RESET.get().is_some() {
        return;
    }
    let Ok(logger) = pyo3_log::Logger::new(py, pyo3_log::Caching::LoggersAndLevels) else {
        return;
    };
    let handle = logger.reset_handle();
    if log::set_boxed_logger(Box::new(exit::GatedLogger(logger))).is_ok() {
        // pyo3-log's own default: records up to DEBUG are handed to Python's `logging`.
        log::set_max_level(log::LevelFilter::Debug);
        let _ = LOG_RESET.set(handle);
    }
}

/// pyo3-log caches logger levels; call after changing Python's logging configuration.
#[pyfunction]
pub fn reset_log_levels() {
    if let Some(h) = LOG_RESET.get() {
        h.reset();
    }
}

/// Benchmark probe: one await of a trivial task through the bridge the methods use.
#[pyfunction]
pub fn bench_noop_native() -> PyResult<Coroutine> {
    // A trivial task on a worker, awaited from the loop: the hop there and back that every
    // real call makes (its connection task is on a worker too).
    coroutine::call(
        |_| {
            Ok(runtime::run(async {
                runtime::AbortOnDrop(tokio::spawn(async { Ok(1u32) })).await
            }))
        },
        |py, n| n.into_py_any(py),
    )
}

/// Benchmark probe: the same await through `pyo3_async_runtimes::future_into_py` (which uses
/// its own runtime; only the bridge cost is compared).
#[pyfunction]
pub fn bench_noop_future_into_py(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    pyo3_async_runtimes::tokio::future_into_py(py, async { Ok(1u32) })
}
