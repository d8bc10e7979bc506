//! The one place a core error becomes a Python exception.
//!
//! The classes live in `python/llmrail/errors.py` (so users can subclass, pickle and read them);
//! this module looks them up once and instantiates the right one with its attributes.

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyModule};

use super::exit;
use crate::error::LlmError;

static ERRORS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

pub fn to_py(e: LlmError) -> PyErr {
    // The classes' `__init__` is Python code, so building one passes the interpreter-exit gate;
    // once the program is ending, a plain RuntimeError (built by C code alone) says the same.
    exit::attach(|py| build(py, &e).unwrap_or_else(|fallback| fallback))
        .unwrap_or_else(|| PyRuntimeError::new_err(e.message.clone()))
}

fn build(py: Python<'_>, e: &LlmError) -> PyResult<PyErr> {
    let module = ERRORS.get_or_try_init(py, || py.import("llmrail.errors").map(Bound::unbind))?;
    let class = module.bind(py).getattr(e.kind.class_name())?;
    let kwargs = PyDict::new(py);
    kwargs.set_item("provider", e.provider.as_deref())?;
    kwargs.set_item("model", e.model.as_deref())?;
    kwargs.set_item("status", e.status)?;
    kwargs.set_item("request_id", e.request_id.as_deref())?;
    kwargs.set_item("retry_after", e.retry_after.map(|d| d.as_secs_f64()))?;
    kwargs.set_item("attempts", e.attempts)?;
    kwargs.set_item("body", e.body.as_deref())?;
    kwargs.set_item("retry_wait", e.retry_wait.as_secs_f64())?;
    if let Some(x) = &e.extraction {
        let failures: Vec<(&str, &Vec<String>)> = x
            .attempts
            .iter()
            .map(|a| (a.raw.as_str(), &a.errors))
            .collect();
        kwargs.set_item("failures", failures)?;
        kwargs.set_item("input_tokens", x.input_tokens)?;
        kwargs.set_item("output_tokens", x.output_tokens)?;
        kwargs.set_item("cost_usd", x.cost_usd)?;
    }
    let exc = class.call((e.message.as_str(),), Some(&kwargs))?;
    Ok(PyErr::from_value(exc))
}

/// For errors found while converting Python arguments (a `ConfigurationError`, a `ValueError`).
pub fn config(message: impl Into<String>) -> PyErr {
    to_py(LlmError::config(message))
}
