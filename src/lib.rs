//! llmrail: the LLM call layer. Plain-Rust core modules, plus the `_core` Python module.
//!
//! Only `src/py/` (and this file's module declaration) knows about Python; everything else is
//! ordinary Rust, tested by `cargo test` without an interpreter.

pub mod aws;
pub mod batch;
pub mod cache;
pub mod catalog;
pub mod client;
pub mod duration;
pub mod error;
pub mod extract;
pub mod forward;
pub mod gateway;
pub mod images;
pub mod listen;
pub mod mock;
pub mod model;
pub mod prompts;
pub mod providers;
pub mod queue;
pub mod replay;
pub mod resilience;
pub mod runtime;
pub mod telemetry;
pub mod transport;
pub mod wire;

#[cfg(feature = "python")]
mod py;

pub use client::{Client, ClientConfig};
pub use error::{ErrorKind, LlmError};
pub use model::{ChatRequest, ChatResponse, Message, StreamEvent};

/// See Cargo.toml: the core's own allocations only; Python objects use Python's allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The private native module, re-exported by `python/llmrail/__init__.py`.
//
// Every name Python sees, and nothing else (`python/llmrail/_core.pyi` lists the same names;
// stubtest checks both ways). The wrappers live in `src/py/`.
//
// Free-threading: the module does NOT declare support (`gil_used = true`; pyo3 >= 0.28 would
// otherwise declare it by default). For the wheel we ship this changes nothing: it is abi3, which
// a free-threaded CPython cannot load (STACK.md, pitfall 7), and an abi3-py310 build carries no
// `Py_mod_gil` slot at all. It matters for a version-specific build for 3.14t (or an `abi3t`
// one), which would then run with the GIL on until someone does the work that declaring support
// needs: the core's shared state is already plain Rust `Sync` (one runtime, one pooled client,
// breakers and limiters behind mutexes and atomics) and needs nothing; `src/py/` would need an
// audit of what the GIL serialises today (the non-frozen `Call`/`Waiter` objects, stepped by one
// loop thread, would raise "already borrowed" instead of waiting if two threads met there; the
// interpreter-exit gate in `exit.rs` is argued in terms of taking the GIL back), and a 3.14t job
// in CI to show it.
#[cfg(feature = "python")]
#[pyo3::pymodule(gil_used = true)]
mod _core {
    use pyo3::prelude::*;

    #[pymodule_export]
    #[allow(non_upper_case_globals)]
    const __version__: &str = env!("CARGO_PKG_VERSION");

    #[pymodule_export]
    use crate::py::batch::{PyBatchJob, PyBatcher};
    #[pymodule_export]
    use crate::py::batch_store::PyBatchStore;
    #[pymodule_export]
    use crate::py::bridge::{bench_noop_future_into_py, bench_noop_native, reset_log_levels};
    #[pymodule_export]
    use crate::py::cache::{plan_prompt_cache, PyCacheStats};
    #[pymodule_export]
    use crate::py::capabilities::PyCapabilities;
    #[pymodule_export]
    use crate::py::client::PyClient;
    #[pymodule_export]
    use crate::py::exit::quiesce;
    #[pymodule_export]
    use crate::py::extract::{PyExtractStream, PyExtraction, PyJsonSchema};
    #[pymodule_export]
    use crate::py::forward::{PyHttpBody, PyHttpForwarder, PyHttpMeter, PyHttpReply, PyHttpUsage};
    #[pymodule_export]
    use crate::py::gateway::PyGateway;
    #[pymodule_export]
    use crate::py::images::{PyGeneratedImage, PyImages, PyImagesResponse, PyImagesSync};
    #[pymodule_export]
    use crate::py::mock::{PyMockProvider, PyMockServer};
    #[pymodule_export]
    use crate::py::prompts::{check_prompts, PyPrompt, PyPrompts};
    #[pymodule_export]
    use crate::py::queue::{PyQueueItem, PyQueueWorker};
    #[pymodule_export]
    use crate::py::queued::{PyQueue, PyQueued};
    #[pymodule_export]
    use crate::py::register::register_provider;
    #[pymodule_export]
    use crate::py::replay::PyCassette;
    #[pymodule_export]
    use crate::py::resilience::{PyBreakerStatus, PyCircuitBreaker, PyRateLimit, PyRetry};
    #[pymodule_export]
    use crate::py::stream::PyChatStream;
    #[pymodule_export]
    use crate::py::telemetry::{bench_telemetry_overhead, metrics_text, PyClientStats};
    #[pymodule_export]
    use crate::py::types::{PyChatResponse, PyStreamEvent, PyToolCall, PyUsage};

    /// Core `tracing`/`log` records go to Python `logging` from the first import on.
    #[pymodule_init]
    fn init(m: &Bound<'_, PyModule>) -> PyResult<()> {
        crate::py::bridge::init_logging(m.py());
        Ok(())
    }
}
