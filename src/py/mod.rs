//! The pyo3 wrappers: argument conversion, the async bridge, exception mapping. No business
//! logic lives here; every method hands owned Rust values to the core and converts the result.

use pyo3::prelude::*;

mod arg;
mod bridge;
mod cache;
mod client;
mod convert;
mod coroutine;
mod errors;
mod exit;
mod extract;
mod json;
mod loop_wake;
mod mock;
mod options;
mod replay;
mod resilience;
mod stream;
mod types;
mod waiter;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    bridge::init_logging(m.py());
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<client::Client>()?;
    m.add_class::<stream::ChatStream>()?;
    types::register(m)?;
    m.add_class::<cache::CacheStats>()?;
    m.add_function(wrap_pyfunction!(cache::plan_prompt_cache, m)?)?;
    mock::register(m)?;
    resilience::register(m)?;
    replay::register(m)?;
    extract::register(m)?;
    m.add_function(wrap_pyfunction!(bridge::reset_log_levels, m)?)?;
    m.add_function(wrap_pyfunction!(exit::quiesce, m)?)?;
    m.add_function(wrap_pyfunction!(bridge::bench_noop_native, m)?)?;
    m.add_function(wrap_pyfunction!(bridge::bench_noop_future_into_py, m)?)?;
    Ok(())
}
