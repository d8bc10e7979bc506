//! Core `tracing`/`log` records go to Python's `logging` under the Rust module path
//! (`llmrail.client`, `llmrail.transport`, ...). Records come from any thread, tokio workers
//! included, so they pass the interpreter-exit gate (`exit::GatedLogger`).

use std::sync::OnceLock;

use pyo3::prelude::*;

use crate::py::exit;

static LOG_RESET: OnceLock<pyo3_log::ResetHandle> = OnceLock::new();

/// Install the logger once per process (at import of the native module).
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
