//! The one bridge between Python's waiting and the core's futures.
//!
//! Async: methods are native `async fn`s (pyo3 coroutines), so `asyncio.run(client.chat(...))`
//! works and cancelling the asyncio task drops the Rust future, which aborts the spawned task and
//! closes the socket. They await [`run`]. Measured against `pyo3_async_runtimes::future_into_py`
//! by `make bench` (the two `bench_noop_*` functions): the native coroutine hops threads once less.
//!
//! Sync: [`block`] releases the GIL and blocks on the same shared runtime, waking every 50 ms to
//! let Python deliver signals, so Ctrl-C raises KeyboardInterrupt promptly.

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use pyo3::prelude::*;

use super::errors::to_py;
use crate::error::LlmError;
use crate::runtime;

const SIGNAL_CHECK: Duration = Duration::from_millis(50);

/// Await core work from a pyo3 coroutine.
pub async fn run<T, F>(fut: F) -> PyResult<T>
where
    F: Future<Output = Result<T, LlmError>> + Send + 'static,
    T: Send + 'static,
{
    runtime::run(fut).await.map_err(to_py)
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
    run(async { Ok(1) }).await
}

/// Benchmark probe: the same await through `pyo3_async_runtimes::future_into_py` (which uses
/// its own runtime; only the bridge cost is compared).
#[pyfunction]
pub fn bench_noop_future_into_py(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    pyo3_async_runtimes::tokio::future_into_py(py, async { Ok(1u32) })
}
