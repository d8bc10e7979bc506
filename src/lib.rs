//! llmrail: the LLM call layer. Plain-Rust core modules, plus the `_core` Python module.
//!
//! Only `src/py/` (and this file's module declaration) knows about Python; everything else is
//! ordinary Rust, tested by `cargo test` without an interpreter.

pub mod cache;
pub mod catalog;
pub mod client;
pub mod duration;
pub mod error;
pub mod extract;
pub mod mock;
pub mod model;
pub mod providers;
pub mod replay;
pub mod resilience;
pub mod runtime;
pub mod transport;

mod py;

pub use client::{Client, ClientConfig};
pub use error::{ErrorKind, LlmError};
pub use model::{ChatRequest, ChatResponse, Message, StreamEvent};

use pyo3::prelude::*;

/// See Cargo.toml: the core's own allocations only; Python objects use Python's allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The private native module, re-exported by `python/llmrail/__init__.py`.
#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    py::register(m)
}
