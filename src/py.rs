//! The pyo3 wrappers: argument conversion, the async bridge, exception mapping. No business
//! logic lives here; every method hands owned Rust values to the core and converts the result.
//! What Python sees is declared in one place, the `_core` module in `src/lib.rs`.

mod arg;
pub(crate) mod batch;
pub(crate) mod batch_store;
pub(crate) mod bridge;
pub(crate) mod cache;
pub(crate) mod capabilities;
pub(crate) mod client;
mod convert;
pub(crate) mod drain;
mod errors;
pub(crate) mod exit;
pub(crate) mod extract;
pub(crate) mod forward;
pub(crate) mod gateway;
mod hooks;
pub(crate) mod images;
mod json;
pub(crate) mod mock;
mod options;
mod otel;
pub(crate) mod prompts;
pub(crate) mod queue;
pub(crate) mod queued;
pub(crate) mod register;
pub(crate) mod replay;
pub(crate) mod resilience;
pub(crate) mod stream;
pub(crate) mod telemetry;
pub(crate) mod types;
