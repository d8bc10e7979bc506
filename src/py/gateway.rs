//! `llmrail._core.Gateway`: `llmrail serve` started from Python, in the background of the
//! calling process (the core's runtime serves it; no Python runs per request). The blocking
//! form and the signal handling are `llmrail/_serve.py`'s.

use std::time::Duration;

use pyo3::prelude::*;

use super::errors::to_py as to_py_err;
use super::exit;
use crate::gateway::{Gateway, GatewayConfig, Server};

/// A running gateway; stopped by `stop()` or on exit from a `with` block.
#[pyclass(name = "Gateway", frozen, module = "llmrail._core")]
pub struct PyGateway {
    inner: Server,
}

#[pymethods]
impl PyGateway {
    /// Load and check `config` (a path; `None`: every "provider/model" routes directly, or
    /// the YAML given as `config_text`), build every virtual model's client and listen.
    #[new]
    #[pyo3(signature = (config = None, *, host = "127.0.0.1", port = 4000, config_text = None))]
    fn new(
        py: Python<'_>,
        config: Option<String>,
        host: &str,
        port: u16,
        config_text: Option<String>,
    ) -> PyResult<Self> {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let host = host.to_owned();
        exit::detach(py, move || {
            let cfg = match (config, config_text) {
                (Some(path), _) => GatewayConfig::load(&path, env)?,
                (None, Some(text)) => GatewayConfig::parse("config_text", &text, env)?,
                (None, None) => GatewayConfig::default(),
            };
            Server::start(Gateway::new(cfg)?, &host, port)
        })
        .map(|inner| Self { inner })
        .map_err(to_py_err)
    }

    /// `http://host:port`: Anthropic clients' base URL; OpenAI clients add `/v1`.
    #[getter]
    fn url(&self) -> String {
        self.inner.url()
    }

    #[getter]
    fn port(&self) -> u16 {
        self.inner.addr().port()
    }

    /// Stop accepting, let requests in flight finish (up to the config's
    /// `server.shutdown_timeout`), and wait for that up to `timeout` seconds.
    #[pyo3(signature = (timeout = 60.0))]
    fn stop(&self, py: Python<'_>, timeout: f64) {
        let wait = Duration::try_from_secs_f64(timeout).unwrap_or(Duration::ZERO);
        exit::detach(py, || self.inner.stop(wait));
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __exit__(
        &self,
        py: Python<'_>,
        _exc_type: &Bound<'_, PyAny>,
        _exc: &Bound<'_, PyAny>,
        _tb: &Bound<'_, PyAny>,
    ) -> bool {
        self.stop(py, 60.0);
        false
    }

    fn __repr__(&self) -> String {
        format!("Gateway(url={:?})", self.inner.url())
    }
}
