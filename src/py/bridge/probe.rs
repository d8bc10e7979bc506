//! Benchmark probes: one await of a trivial task through this bridge and through
//! `pyo3_async_runtimes::future_into_py`. `make bench` prints both, so the reason the bridge
//! exists (its module comment) is measured again on every machine.

use pyo3::prelude::*;
use pyo3::IntoPyObjectExt;

use super::coroutine::{self, Coroutine};
use crate::runtime;

/// One await of a trivial task through the bridge the methods use.
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

/// The same await through `pyo3_async_runtimes::future_into_py` (which uses its own runtime;
/// only the bridge cost is compared).
#[pyfunction]
pub fn bench_noop_future_into_py(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    pyo3_async_runtimes::tokio::future_into_py(py, async { Ok(1u32) })
}
