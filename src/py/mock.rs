//! `llmrail._core.MockServer`: the mock provider server, for tests and demos.

use pyo3::prelude::*;
use pythonize::pythonize;

use super::errors::to_py as to_py_err;
use super::exit;
use crate::error::LlmError;
use crate::mock::{MockServer, Reply};

fn reply_from(reply: &Bound<'_, PyAny>) -> PyResult<Reply> {
    let value = super::json::to_value(reply, "the mock reply")?;
    serde_json::from_value::<Reply>(value)
        .map_err(|e| to_py_err(LlmError::config(format!("invalid mock reply: {e}"))))
}

/// A mock OpenAI / Anthropic server on 127.0.0.1; started on construction.
#[pyclass(name = "MockServer", frozen, module = "llmrail._core")]
pub struct PyMockServer {
    inner: MockServer,
}

#[pymethods]
impl PyMockServer {
    #[new]
    fn new(py: Python<'_>) -> PyResult<Self> {
        exit::detach(py, MockServer::start)
            .map(|inner| Self { inner })
            .map_err(to_py_err)
    }

    #[getter]
    fn url(&self) -> String {
        self.inner.url()
    }

    #[getter]
    fn port(&self) -> u16 {
        self.inner.addr().port()
    }

    /// Queue a reply (a dict in the `Reply` shape).
    fn push(&self, reply: &Bound<'_, PyAny>) -> PyResult<()> {
        self.inner.push(reply_from(reply)?);
        Ok(())
    }

    /// The reply used when the queue is empty; `None` goes back to echoing.
    #[pyo3(signature = (reply))]
    fn set_default(&self, reply: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        let reply = reply.filter(|r| !r.is_none()).map(reply_from).transpose()?;
        self.inner.set_default(reply);
        Ok(())
    }

    /// Every request received, oldest first, as dicts.
    #[getter]
    fn requests<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(pythonize(py, &self.inner.requests())?)
    }

    fn clear(&self) {
        self.inner.clear();
    }

    #[getter]
    fn disconnects(&self) -> u64 {
        self.inner.disconnects()
    }

    #[getter]
    fn connections(&self) -> u64 {
        self.inner.connections()
    }

    #[getter]
    fn pending(&self) -> usize {
        self.inner.pending()
    }

    fn shutdown(&self, py: Python<'_>) {
        exit::detach(py, || self.inner.shutdown());
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
        self.shutdown(py);
        false
    }

    fn __repr__(&self) -> String {
        format!("MockServer(url={:?})", self.inner.url())
    }
}
