//! A traced image call (`client.images.generate`, `client.images_sync.generate`): one CLIENT
//! span `"generate_content {model}"` under the caller's current span, a child per request
//! sent, as a chat call has. The GenAI conventions have no image operation; `generate_content`
//! is their value for multimodal content generation, and `gen_ai.output.type` says "image"
//! (`llmrail._otel.ImageCall`).

use pyo3::prelude::*;

use super::{attempts, module, tell, unraisable, Open};
use crate::client::Client;
use crate::images::ImageRequest;
use crate::py::exit;
use crate::resilience::AttemptRecord;

/// An image call's span while it runs; dropped before it ended (asyncio cancelled the call),
/// it ends as cancelled.
pub(crate) struct ImageSpan(Open);

impl ImageSpan {
    /// Open the span; `None` when tracing failed. `model` is the one the call named, if any:
    /// a model of another provider has its server known only from its requests.
    pub(crate) fn start(
        py: Python<'_>,
        client: &Client,
        model: Option<&str>,
        req: &ImageRequest,
    ) -> Option<Self> {
        let own = client.target_info();
        let named = model
            .and_then(|m| m.split_once('/'))
            .filter(|(_, name)| *name != own.model);
        let (provider, name, address, port) = match named {
            None => (
                own.provider,
                own.model.as_str(),
                own.address.as_str(),
                own.port,
            ),
            Some((p, name)) if p == own.provider => (p, name, own.address.as_str(), own.port),
            Some((p, name)) => (p, name, "", None),
        };
        let open = || -> PyResult<Py<PyAny>> {
            let args = (
                provider,
                name,
                address,
                port,
                req.n,
                req.size.as_deref(),
                req.quality.as_deref(),
                req.prompt.as_str(),
            );
            Ok(module(py)?.getattr("ImageCall")?.call1(args)?.unbind())
        };
        let call =
            exit::callout(open).and_then(|r| r.map(Some).unwrap_or_else(|e| unraisable(py, e)));
        call.map(|c| Self(Open(Some(c))))
    }

    /// The call is over: its answer (an `ImagesResponse`) or its exception, with the requests
    /// it sent.
    pub(crate) fn end(
        self,
        py: Python<'_>,
        answer: &PyResult<Py<PyAny>>,
        log: Option<Vec<AttemptRecord>>,
    ) {
        let Some(call) = self.0.take() else {
            return;
        };
        let tried = match attempts(py, log) {
            Ok(tried) => tried,
            Err(e) => {
                e.write_unraisable(py, Some(call.bind(py)));
                return tell(py, &call, "abandon", ());
            }
        };
        match answer {
            Ok(r) => tell(py, &call, "generated", (r.clone_ref(py), tried)),
            Err(e) => tell(py, &call, "fail", (e.value(py).clone(), tried)),
        }
    }
}
