//! Who sees an image call besides its caller: the client's hooks (told the call's options, then
//! its `ImagesResponse` or its exception) and, when the client traces, its span.

use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyo3::{IntoPyObjectExt, PyTraverseError};

use super::finished;
use crate::client::Client;
use crate::images::{ImageRequest, ImageResponse};
use crate::py::hooks::CallHooks;
use crate::py::otel::images::ImageSpan;
use crate::resilience::{CallOptions, CallReport};

/// Who sees the client's calls: whether it traces, and its hooks (`llmrail._hooks.Hooks`).
pub(crate) struct Seen {
    pub(crate) otel: bool,
    pub(crate) hooks: Option<Py<PyAny>>,
}

impl Seen {
    /// This call's hooks, `on_request` told now with the call's options (`model`, `prompt` and
    /// each option given); none for a client without hooks.
    pub(super) fn hooks(
        &self,
        py: Python<'_>,
        client: &Client,
        model: Option<&str>,
        req: &ImageRequest,
    ) -> PyResult<Option<CallHooks>> {
        let Some(hooks) = &self.hooks else {
            return Ok(None);
        };
        let options = PyDict::new(py);
        let model = model.map_or(client.model(), |m| m.split_once('/').map_or(m, |(_, n)| n));
        options.set_item("model", model)?;
        options.set_item("prompt", &req.prompt)?;
        for (name, value) in [("n", req.n), ("output_compression", req.output_compression)] {
            if let Some(v) = value {
                options.set_item(name, v)?;
            }
        }
        for (name, v) in req.texts() {
            options.set_item(name, v)?;
        }
        CallHooks::begin(py, hooks, options).map(Some)
    }

    /// The call's span, when the client traces.
    pub(super) fn span(
        &self,
        py: Python<'_>,
        client: &Client,
        model: Option<&str>,
        req: &ImageRequest,
    ) -> Option<ImageSpan> {
        self.otel
            .then(|| ImageSpan::start(py, client, model, req))
            .flatten()
    }

    pub(super) fn traverse(&self, visit: &PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.hooks)
    }
}

/// The caller's options, with each request's records kept for a traced call.
pub(super) fn recorded(opts: CallOptions, span: &Option<ImageSpan>) -> CallOptions {
    CallOptions {
        record: span.is_some(),
        ..opts
    }
}

/// The images (or the error) as the caller gets them, seen first by the span and the hooks.
pub(super) fn settle(
    py: Python<'_>,
    (out, mut report): (crate::error::Result<ImageResponse>, CallReport),
    span: Option<ImageSpan>,
    hooks: Option<CallHooks>,
) -> PyResult<Py<PyAny>> {
    let log = report.log.take();
    let answer = finished((out, report)).and_then(|r| r.into_py_any(py));
    if let Some(span) = span {
        span.end(py, &answer, log);
    }
    CallHooks::settle(hooks, py, answer)
}
