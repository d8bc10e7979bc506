//! The one place a core error becomes a Python exception.
//!
//! The classes live in `python/llmrail/errors.py` (so users can subclass, pickle and read them);
//! [`class_name`] says which class each [`ErrorKind`] is raised as; `to_py` imports the module
//! once and instantiates that class with the error's attributes.

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyModule};

use super::exit;
use crate::error::{ErrorKind, LlmError};

static ERRORS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

/// Writes [`class_name`], one exhaustive `match` (no `_` arm: a new [`ErrorKind`] does not
/// compile until it has its class), and, for the tests, the list of every kind it maps.
macro_rules! classes {
    ($($kind:ident => $class:literal,)*) => {
        /// The class of `llmrail.errors` an error of this kind is raised as.
        fn class_name(kind: ErrorKind) -> &'static str {
            match kind {
                $(ErrorKind::$kind => $class,)*
            }
        }

        #[cfg(test)]
        const EVERY_KIND: &[ErrorKind] = &[$(ErrorKind::$kind),*];
    };
}

classes! {
    Authentication => "AuthenticationError",
    PermissionDenied => "PermissionDeniedError",
    NotFound => "NotFoundError",
    BadRequest => "BadRequestError",
    RateLimit => "RateLimitError",
    Overloaded => "OverloadedError",
    Server => "ServerError",
    Timeout => "TimeoutError",
    Connection => "ConnectionError",
    InvalidResponse => "InvalidResponseError",
    CircuitOpen => "CircuitOpenError",
    Configuration => "ConfigurationError",
    Cancelled => "CancelledError",
    Internal => "InternalError",
    CassetteMiss => "CassetteMissError",
    Extraction => "ExtractionError",
    QueueFull => "QueueFullError",
    Expired => "ExpiredError",
    ContentPolicy => "ContentPolicyError",
}

pub fn to_py(e: LlmError) -> PyErr {
    // The classes' `__init__` is Python code, so building one passes the interpreter-exit gate;
    // once the program is ending, a plain RuntimeError (built by C code alone) says the same.
    exit::attach(|py| build(py, &e).unwrap_or_else(|fallback| fallback))
        .unwrap_or_else(|| PyRuntimeError::new_err(e.message.clone()))
}

fn build(py: Python<'_>, e: &LlmError) -> PyResult<PyErr> {
    let module = ERRORS.get_or_try_init(py, || py.import("llmrail.errors").map(Bound::unbind))?;
    let class = module.bind(py).getattr(class_name(e.kind))?;
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::Arc;

    use pyo3::types::PyString;

    use super::*;
    use crate::error::{ExtractionReport, FailedAttempt};

    /// `python/llmrail/errors.py` from the source tree, loaded once and handed to the cache that
    /// `to_py` reads: `import llmrail.errors` would run the package's `__init__`, which imports
    /// `_core`, and this test binary is not that module.
    fn errors_module(py: Python<'_>) -> PyResult<Bound<'_, PyModule>> {
        let module = ERRORS.get_or_try_init(py, || {
            let path = concat!(env!("CARGO_MANIFEST_DIR"), "/python/llmrail/errors.py");
            let util = py.import("importlib.util")?;
            let spec = util.call_method1("spec_from_file_location", ("llmrail.errors", path))?;
            let module = util.call_method1("module_from_spec", (&spec,))?;
            spec.getattr("loader")?
                .call_method1("exec_module", (&module,))?;
            PyResult::Ok(module.cast_into::<PyModule>()?.unbind())
        })?;
        Ok(module.bind(py).clone())
    }

    /// Runs `f` in an interpreter that has `llmrail.errors` from the source tree.
    fn with_errors(f: impl FnOnce(Python<'_>, &Bound<'_, PyModule>) -> PyResult<()>) {
        Python::initialize();
        Python::attach(|py| {
            let errors = errors_module(py)?;
            f(py, &errors)
        })
        .unwrap();
    }

    #[test]
    fn every_kind_is_raised_as_its_own_exported_subclass_of_llm_error() {
        with_errors(|py, errors| {
            let base = errors.getattr("LLMError")?;
            let exported: Vec<String> = errors.getattr("__all__")?.extract()?;
            let mut seen = Vec::new();
            for &kind in EVERY_KIND {
                let raised = to_py(LlmError::new(kind, "boom"));
                let class = raised.get_type(py);
                assert_eq!(class.name()?.to_str()?, class_name(kind), "{kind:?}");
                assert!(class.is_subclass(&base)?, "{kind:?}");
                assert!(exported.iter().any(|n| n == class_name(kind)), "{kind:?}");
                let message = raised.value(py).getattr("message")?;
                assert_eq!(message.cast::<PyString>()?.to_str()?, "boom");
                assert!(!seen.contains(&class_name(kind)), "{kind:?} shares a class");
                seen.push(class_name(kind));
            }
            Ok(())
        });
    }

    #[test]
    fn messages_name_a_kind_by_the_class_it_is_raised_as() {
        for &kind in EVERY_KIND {
            assert_eq!(kind.name(), class_name(kind));
        }
    }

    #[test]
    fn an_extraction_error_carries_its_failed_attempts_and_what_they_used() {
        with_errors(|py, _| {
            let mut e = LlmError::new(ErrorKind::Extraction, "no valid answer");
            e.attempts = 2;
            e.extraction = Some(Arc::new(ExtractionReport {
                attempts: vec![FailedAttempt {
                    raw: "{}".into(),
                    errors: vec!["name: required".into()],
                }],
                input_tokens: 10,
                output_tokens: 4,
                cost_usd: Some(0.5),
            }));
            let raised = to_py(e);
            let value = raised.value(py);
            let failures = value.getattr("failures")?;
            let (raw, errors): (String, Vec<String>) = failures.get_item(0)?.extract()?;
            assert_eq!(
                (raw.as_str(), errors),
                ("{}", vec!["name: required".to_string()])
            );
            assert_eq!(value.getattr("attempts")?.extract::<u32>()?, 2);
            assert_eq!(value.getattr("input_tokens")?.extract::<u64>()?, 10);
            assert_eq!(value.getattr("cost_usd")?.extract::<f64>()?, 0.5);
            Ok(())
        });
    }
}
