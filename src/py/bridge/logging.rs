//! Core `tracing`/`log` records go to Python's `logging` under the Rust module path
//! (`llmrail.client`, `llmrail.transport`, ...). Records come from any thread, tokio workers
//! included, so they pass the interpreter-exit gate (`exit::GatedLogger`).
//!
//! The gateway's access records are the exception to "written where they are made": one per
//! request, each taking the GIL on the request's task, halved `llmrail serve`'s throughput. They
//! go through a [`Drain`] instead, and its thread writes them a batch per hold of the GIL.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use pyo3::prelude::*;

use crate::gateway::{AccessRecord, AccessSink};
use crate::py::drain::Drain;
use crate::py::exit;

/// Access records waiting for their thread; past this, new ones are dropped (and counted).
const ACCESS_BACKLOG: usize = 16_384;
/// At most this many records are written per hold of the GIL.
const ACCESS_BATCH: usize = 256;

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
    exit::forget_log_levels();
}

/// The gateway's access log, written to Python's `logging` from a thread of its own.
pub(crate) struct AccessLog(Drain<AccessRecord>);

impl AccessLog {
    /// Start its thread; `None` if none could be started (records are then written in place).
    pub(crate) fn start() -> Option<Arc<Self>> {
        let write = |batch: Vec<AccessRecord>| {
            // The GIL is taken once for the batch; pyo3-log's own take of it per record is
            // then only a count.
            exit::attach(|_py| batch.iter().for_each(AccessRecord::write)).is_some()
        };
        Drain::spawn(
            "llmrail-gateway-access",
            "access-log records",
            ACCESS_BACKLOG,
            ACCESS_BATCH,
            write,
        )
        .map(|d| Arc::new(Self(d)))
    }

    /// Wait (at most `wait`, without the GIL) until every record pushed so far is written.
    pub(crate) fn flush(&self, wait: Duration) -> bool {
        self.0.flush(wait)
    }
}

impl AccessSink for AccessLog {
    fn push(&self, record: AccessRecord) {
        self.0.push(record);
    }

    fn dropped(&self) -> u64 {
        self.0.dropped()
    }
}
