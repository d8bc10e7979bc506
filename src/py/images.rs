//! `client.images` and `client.images_sync`: argument conversion around
//! `crate::client::Client::images_reported`, and the frozen result classes. A call is traced
//! (`otel::images`) and handed to the client's hooks as a chat call is (`seen.rs`).

mod seen;

use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use pyo3::PyTraverseError;

use super::arg::Arg;
use super::bridge;
use super::bridge::coroutine::{self, Coroutine};
use super::errors::to_py;
use super::otel::images::ImageSpan;
use super::resilience::{positive_seconds, PyRetry};
use super::types::PyUsage;
use crate::client::Client;
use crate::images::{Image, ImageRequest, ImageResponse};
use crate::resilience::{CallOptions, CallReport};
pub(super) use seen::Seen;
use seen::{recorded, settle};

/// `client.images`: `await client.images.generate(prompt, ...)`.
#[pyclass(name = "Images", frozen, module = "llmrail._core")]
pub struct PyImages {
    client: Client,
    seen: Seen,
}

/// `client.images_sync`: the same calls, blocking the thread (the GIL released while waiting).
#[pyclass(name = "ImagesSync", frozen, module = "llmrail._core")]
pub struct PyImagesSync {
    client: Client,
    seen: Seen,
}

impl PyImages {
    pub(super) fn new(client: Client, seen: Seen) -> Self {
        Self { client, seen }
    }
}

impl PyImagesSync {
    pub(super) fn new(client: Client, seen: Seen) -> Self {
        Self { client, seen }
    }
}

/// The keyword arguments of `generate`, as one request.
#[allow(clippy::too_many_arguments)]
fn request(
    prompt: String,
    n: Option<u32>,
    size: Option<String>,
    quality: Option<String>,
    background: Option<String>,
    output_format: Option<String>,
    output_compression: Option<u32>,
    style: Option<String>,
    response_format: Option<String>,
    moderation: Option<String>,
    aspect_ratio: Option<String>,
    user: Option<String>,
) -> ImageRequest {
    ImageRequest {
        prompt,
        n,
        size,
        quality,
        background,
        output_format,
        output_compression,
        style,
        response_format,
        moderation,
        aspect_ratio,
        user,
    }
}

/// The call's own retry policy and deadline, as `chat` takes them (`deadline` is a
/// `ConfigurationError` unless positive seconds).
fn call_options(
    retry: Option<PyRef<'_, PyRetry>>,
    deadline: Option<Arg<f64>>,
) -> PyResult<CallOptions> {
    Ok(CallOptions {
        retry: retry.map(|r| r.policy.clone()),
        deadline: positive_seconds("deadline", deadline)?,
        ..CallOptions::default()
    })
}

/// What comes out of the core: the images with how the call went, or its error.
fn finished(out: (crate::error::Result<ImageResponse>, CallReport)) -> PyResult<PyImagesResponse> {
    let (out, report) = out;
    out.map(|inner| PyImagesResponse { inner, report })
        .map_err(to_py)
}

#[pymethods]
impl PyImages {
    /// Generate images; await it. See `llmrail._core.pyi` for the parameters.
    #[pyo3(signature = (prompt, *, model=None, n=None, size=None, quality=None, background=None, output_format=None, output_compression=None, style=None, response_format=None, moderation=None, aspect_ratio=None, user=None, retry=None, deadline=None))]
    #[allow(clippy::too_many_arguments)]
    fn generate(
        &self,
        py: Python<'_>,
        prompt: String,
        model: Option<String>,
        n: Option<u32>,
        size: Option<String>,
        quality: Option<String>,
        background: Option<String>,
        output_format: Option<String>,
        output_compression: Option<u32>,
        style: Option<String>,
        response_format: Option<String>,
        moderation: Option<String>,
        aspect_ratio: Option<String>,
        user: Option<String>,
        retry: Option<PyRef<'_, PyRetry>>,
        deadline: Option<Arg<f64>>,
    ) -> PyResult<Coroutine> {
        let req = request(
            prompt,
            n,
            size,
            quality,
            background,
            output_format,
            output_compression,
            style,
            response_format,
            moderation,
            aspect_ratio,
            user,
        );
        let opts = call_options(retry, deadline)?;
        let client = self.client.clone();
        let hooks = self.seen.hooks(py, &client, model.as_deref(), &req)?;
        let traced = self.seen.otel;
        coroutine::call(
            move |py| {
                let span = traced
                    .then(|| ImageSpan::start(py, &client, model.as_deref(), &req))
                    .flatten();
                let opts = recorded(opts, &span);
                Ok(async move {
                    let out = client.images_reported(req, model.as_deref(), opts).await;
                    Ok((out, span))
                })
            },
            move |py, (out, span)| settle(py, out, span, hooks),
        )
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        self.seen.traverse(&visit)
    }
}

#[pymethods]
impl PyImagesSync {
    /// Generate images, blocking this thread. See `llmrail._core.pyi` for the parameters.
    #[pyo3(signature = (prompt, *, model=None, n=None, size=None, quality=None, background=None, output_format=None, output_compression=None, style=None, response_format=None, moderation=None, aspect_ratio=None, user=None, retry=None, deadline=None))]
    #[allow(clippy::too_many_arguments)]
    fn generate(
        &self,
        py: Python<'_>,
        prompt: String,
        model: Option<String>,
        n: Option<u32>,
        size: Option<String>,
        quality: Option<String>,
        background: Option<String>,
        output_format: Option<String>,
        output_compression: Option<u32>,
        style: Option<String>,
        response_format: Option<String>,
        moderation: Option<String>,
        aspect_ratio: Option<String>,
        user: Option<String>,
        retry: Option<PyRef<'_, PyRetry>>,
        deadline: Option<Arg<f64>>,
    ) -> PyResult<Py<PyAny>> {
        let req = request(
            prompt,
            n,
            size,
            quality,
            background,
            output_format,
            output_compression,
            style,
            response_format,
            moderation,
            aspect_ratio,
            user,
        );
        let opts = call_options(retry, deadline)?;
        let client = &self.client;
        let hooks = self.seen.hooks(py, client, model.as_deref(), &req)?;
        let span = self.seen.span(py, client, model.as_deref(), &req);
        let opts = recorded(opts, &span);
        let out = bridge::block(py, async move {
            Ok(client.images_reported(req, model.as_deref(), opts).await)
        })?;
        settle(py, out, span, hooks)
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        self.seen.traverse(&visit)
    }
}

/// The images of one call, what they used and cost, and how the call went.
#[pyclass(name = "ImagesResponse", frozen, module = "llmrail._core")]
pub struct PyImagesResponse {
    inner: ImageResponse,
    report: CallReport,
}

#[pymethods]
impl PyImagesResponse {
    #[getter]
    fn images(&self) -> Vec<PyGeneratedImage> {
        self.inner
            .images
            .iter()
            .cloned()
            .map(|inner| PyGeneratedImage { inner })
            .collect()
    }

    #[getter]
    fn usage(&self) -> PyUsage {
        self.inner.usage.into()
    }

    /// USD at the catalogue's price per image for the quality and size made; `None` for a
    /// model (or a quality and size) without a price.
    #[getter]
    fn cost_usd(&self) -> Option<f64> {
        self.inner.cost_usd
    }

    #[getter]
    fn model(&self) -> &str {
        &self.inner.model
    }

    #[getter]
    fn provider(&self) -> &str {
        &self.inner.provider
    }

    #[getter]
    fn created(&self) -> Option<u64> {
        self.inner.created
    }

    #[getter]
    fn size(&self) -> Option<&str> {
        self.inner.size.as_deref()
    }

    #[getter]
    fn quality(&self) -> Option<&str> {
        self.inner.quality.as_deref()
    }

    #[getter]
    fn text(&self) -> Option<&str> {
        self.inner.text.as_deref()
    }

    #[getter]
    fn request_id(&self) -> Option<&str> {
        self.inner.request_id.as_deref()
    }

    #[getter]
    fn latency(&self) -> f64 {
        self.inner.latency.as_secs_f64()
    }

    #[getter]
    fn attempts(&self) -> u32 {
        self.report.attempts
    }

    #[getter]
    fn fallback_used(&self) -> bool {
        self.report.fallback.is_some()
    }

    fn __len__(&self) -> usize {
        self.inner.images.len()
    }

    fn __repr__(&self) -> String {
        format!(
            "ImagesResponse(provider={:?}, model={:?}, images={}, cost_usd={})",
            self.inner.provider,
            self.inner.model,
            self.inner.images.len(),
            self.inner
                .cost_usd
                .map_or_else(|| "None".to_string(), |c| c.to_string()),
        )
    }
}

/// One generated image.
#[pyclass(name = "GeneratedImage", frozen, module = "llmrail._core")]
pub struct PyGeneratedImage {
    inner: Image,
}

#[pymethods]
impl PyGeneratedImage {
    /// The image's bytes (decoded from `b64_json`); `None` for an image given only as a URL.
    #[getter]
    fn data<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        match self.inner.data() {
            None => Ok(None),
            Some(Ok(bytes)) => Ok(Some(PyBytes::new(py, &bytes))),
            Some(Err(e)) => Err(to_py(e)),
        }
    }

    #[getter]
    fn b64_json(&self) -> Option<&str> {
        self.inner.b64_json.as_deref()
    }

    #[getter]
    fn url(&self) -> Option<&str> {
        self.inner.url.as_deref()
    }

    #[getter]
    fn revised_prompt(&self) -> Option<&str> {
        self.inner.revised_prompt.as_deref()
    }

    #[getter]
    fn mime_type(&self) -> Option<&str> {
        self.inner.mime_type.as_deref()
    }

    fn __repr__(&self) -> String {
        let what = match (&self.inner.b64_json, &self.inner.url) {
            (Some(b), _) => format!("{} base64 chars", b.len()),
            (None, Some(u)) => format!("url={u:?}"),
            (None, None) => "empty".to_string(),
        };
        format!(
            "GeneratedImage({what}, mime_type={:?})",
            self.inner.mime_type.as_deref().unwrap_or("")
        )
    }
}
