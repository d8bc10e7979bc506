//! `Client.capabilities`: a frozen view of [`Capabilities`].

use pyo3::prelude::*;

use super::errors::to_py;
use crate::client::Capabilities;

/// What a client's model can do; `None` where the model catalogue does not know.
#[pyclass(name = "Capabilities", frozen, module = "llmrail._core")]
pub struct PyCapabilities(pub Capabilities);

#[pymethods]
impl PyCapabilities {
    /// The capabilities of `"provider/model"`, without a client (no key needed).
    #[staticmethod]
    fn of(model: &str) -> PyResult<Self> {
        Capabilities::of_spec(model).map(Self).map_err(to_py)
    }
    #[getter]
    fn streaming(&self) -> bool {
        self.0.streaming
    }
    #[getter]
    fn tools(&self) -> bool {
        self.0.tools
    }
    #[getter]
    fn structured_output(&self) -> Option<bool> {
        self.0.structured_output
    }
    #[getter]
    fn vision(&self) -> Option<bool> {
        self.0.vision
    }
    #[getter]
    fn prompt_caching(&self) -> Option<bool> {
        self.0.prompt_caching
    }
    #[getter]
    fn batch_api(&self) -> Option<bool> {
        self.0.batch_api
    }
    fn __repr__(&self) -> String {
        let c = &self.0;
        let show = |v: Option<bool>| v.map_or("None", |b| if b { "True" } else { "False" });
        format!(
            "Capabilities(streaming={}, tools={}, structured_output={}, vision={}, \
             prompt_caching={}, batch_api={})",
            show(Some(c.streaming)),
            show(Some(c.tools)),
            show(c.structured_output),
            show(c.vision),
            show(c.prompt_caching),
            show(c.batch_api)
        )
    }
}
