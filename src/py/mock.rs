//! `llmrail._core.MockServer`: the mock provider server, for tests and demos; and
//! `llmrail._core.MockProvider`: the script of `mock/<name>`, answered without a socket.

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};
use pythonize::pythonize;

use super::errors::to_py as to_py_err;
use super::exit;
use crate::error::LlmError;
use crate::mock::{Fixtures, MockProvider, MockServer, Reply};

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
    #[pyo3(signature = (port = 0))]
    fn new(py: Python<'_>, port: u16) -> PyResult<Self> {
        exit::detach(py, || MockServer::start_on(port))
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

    /// The requests received, oldest first, as dicts: every one, up to the last 10,000.
    #[getter]
    fn requests<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(pythonize(py, &self.inner.requests())?)
    }

    /// How many requests arrived since start (or `clear`), those no longer kept included.
    #[getter]
    fn received(&self) -> u64 {
        self.inner.received()
    }

    fn clear(&self) {
        self.inner.clear();
    }

    /// How provider batches behave from now on: `processing` seconds from create to ended, and
    /// per custom_id a list of outcomes, one per submission ("succeeded", "expired", or an error
    /// type such as "overloaded_error").
    /// `available=False`: the server has no batch API (every batch endpoint answers 404).
    /// `create_delay`: seconds a create's answer is held back after its batch exists.
    #[pyo3(signature = (*, processing = 0.0, outcomes = None, available = true, create_delay = 0.0))]
    fn batch_settings(
        &self,
        processing: f64,
        outcomes: Option<&Bound<'_, PyAny>>,
        available: bool,
        create_delay: f64,
    ) -> PyResult<()> {
        let outcomes = match outcomes {
            Some(o) if !o.is_none() => super::json::to_value(o, "outcomes")?,
            _ => serde_json::json!({}),
        };
        self.inner
            .set_batch_json(serde_json::json!({
                "processing": processing, "outcomes": outcomes, "absent": !available,
                "create_delay": create_delay
            }))
            .map_err(to_py_err)
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

/// Fixtures from a file path, or from a dict/list already loaded (`None`: remove them).
fn fixtures_from(source: &Bound<'_, PyAny>) -> PyResult<Option<Fixtures>> {
    if source.is_none() {
        return Ok(None);
    }
    // A file is named by text, bytes or an `os.PathLike` (its type has `__fspath__`: looked up
    // without running Python code); anything else is the rules themselves. Asked in this order,
    // a path's own error (or the exit gate's refusal) is the one raised.
    let py = source.py();
    let is_path = source.is_instance_of::<PyString>()
        || source.is_instance_of::<PyBytes>()
        || source.get_type().hasattr(intern!(py, "__fspath__"))?;
    if is_path {
        let exit::FsPath(path) = source.extract()?;
        return Fixtures::load(&path.to_string_lossy())
            .map(Some)
            .map_err(to_py_err);
    }
    let value = super::json::to_value(source, "the mock fixtures")?;
    serde_json::from_value::<Fixtures>(value)
        .map(Some)
        .map_err(|e| to_py_err(LlmError::config(format!("invalid mock fixtures: {e}"))))
}

/// The script of `mock/<name>`: `Client("mock/<name>")` is answered from it in process.
#[pyclass(name = "MockProvider", frozen, module = "llmrail._core")]
pub struct PyMockProvider {
    inner: MockProvider,
}

#[pymethods]
impl PyMockProvider {
    #[new]
    fn new(name: &str) -> PyResult<Self> {
        MockProvider::get(name)
            .map(|inner| Self { inner })
            .map_err(to_py_err)
    }

    #[getter]
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn push(&self, reply: &Bound<'_, PyAny>) -> PyResult<()> {
        self.inner.push(reply_from(reply)?);
        Ok(())
    }

    #[pyo3(signature = (reply))]
    fn set_default(&self, reply: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        let reply = reply.filter(|r| !r.is_none()).map(reply_from).transpose()?;
        self.inner.set_default(reply);
        Ok(())
    }

    fn set_fixtures(&self, source: &Bound<'_, PyAny>) -> PyResult<()> {
        self.inner.set_fixtures(fixtures_from(source)?);
        Ok(())
    }

    #[getter]
    fn requests<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(pythonize(py, &self.inner.requests())?)
    }

    #[getter]
    fn pending(&self) -> usize {
        self.inner.pending()
    }

    fn clear(&self) {
        self.inner.clear();
    }

    fn __repr__(&self) -> String {
        format!("MockProvider(name={:?})", self.inner.name())
    }
}
