//! Frozen result classes with getters: built once per call, cheap to read.

use pyo3::prelude::*;
use pythonize::pythonize;

use super::errors::to_py;
use crate::error::LlmError;
use crate::model::{self, StreamEvent};
use crate::resilience::CallReport;

#[pyclass(
    name = "Usage",
    frozen,
    module = "llmrail._core",
    get_all,
    skip_from_py_object
)]
#[derive(Clone, Copy)]
pub struct PyUsage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
}

#[pymethods]
impl PyUsage {
    #[getter]
    fn total_tokens(&self) -> u64 {
        // Server-reported counts: saturate rather than overflow.
        self.input_tokens.saturating_add(self.output_tokens)
    }

    fn __repr__(&self) -> String {
        format!(
            "Usage(input_tokens={}, output_tokens={}, cache_read_tokens={}, cache_write_tokens={})",
            self.input_tokens, self.output_tokens, self.cache_read_tokens, self.cache_write_tokens
        )
    }

    fn __eq__(&self, other: &Self) -> bool {
        (
            self.input_tokens,
            self.output_tokens,
            self.cache_read_tokens,
            self.cache_write_tokens,
        ) == (
            other.input_tokens,
            other.output_tokens,
            other.cache_read_tokens,
            other.cache_write_tokens,
        )
    }
}

impl From<model::Usage> for PyUsage {
    fn from(u: model::Usage) -> Self {
        Self {
            input_tokens: u.input_tokens,
            output_tokens: u.output_tokens,
            cache_read_tokens: u.cache_read_tokens,
            cache_write_tokens: u.cache_write_tokens,
        }
    }
}

/// A tool call the model asked for. `raw_arguments` is the text the model sent; `arguments` is
/// that text parsed, or `None` when it is not a JSON object (invalid, or cut off at
/// max_tokens): the call still succeeds, and the caller decides.
#[pyclass(name = "ToolCall", frozen, module = "llmrail._core")]
pub struct PyToolCall {
    inner: model::ToolCall,
}

#[pymethods]
impl PyToolCall {
    #[getter]
    fn id(&self) -> &str {
        &self.inner.id
    }

    #[getter]
    fn name(&self) -> &str {
        &self.inner.name
    }

    /// The parsed arguments (a fresh dict on each access), or `None` when the model's text is
    /// not a JSON object.
    #[getter]
    fn arguments<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.inner
            .arguments
            .as_ref()
            .map(|a| pythonize(py, a))
            .transpose()
            .map_err(|e| to_py(LlmError::invalid_response(e.to_string())))
    }

    /// The arguments exactly as the model sent them.
    #[getter]
    fn raw_arguments(&self) -> &str {
        &self.inner.raw_arguments
    }

    fn __repr__(&self) -> String {
        let c = &self.inner;
        match &c.arguments {
            Some(a) => format!(
                "ToolCall(id={:?}, name={:?}, arguments={})",
                c.id,
                c.name,
                serde_json::to_string(a).unwrap_or_default()
            ),
            None => {
                let short: String = c.raw_arguments.chars().take(200).collect();
                let ellipsis = if short.len() < c.raw_arguments.len() {
                    "..."
                } else {
                    ""
                };
                format!(
                    "ToolCall(id={:?}, name={:?}, arguments=None, raw_arguments={short:?}{ellipsis})",
                    c.id, c.name
                )
            }
        }
    }
}

impl From<&model::ToolCall> for PyToolCall {
    fn from(c: &model::ToolCall) -> Self {
        Self { inner: c.clone() }
    }
}

#[pyclass(name = "ChatResponse", frozen, module = "llmrail._core")]
pub struct PyChatResponse {
    inner: model::ChatResponse,
    report: CallReport,
    /// Sent through the provider's batch API: `cost_usd` is at its batch price.
    batch_priced: bool,
}

impl From<model::ChatResponse> for PyChatResponse {
    fn from(inner: model::ChatResponse) -> Self {
        Self {
            inner,
            report: CallReport {
                attempts: 1,
                ..CallReport::default()
            },
            batch_priced: false,
        }
    }
}

impl From<(model::ChatResponse, CallReport)> for PyChatResponse {
    fn from((inner, report): (model::ChatResponse, CallReport)) -> Self {
        Self {
            inner,
            report,
            batch_priced: false,
        }
    }
}

impl PyChatResponse {
    /// One item of a batch job: `attempts` counts the provider batches (or calls) it took.
    pub(super) fn batch_item(
        inner: model::ChatResponse,
        attempts: u32,
        batch_priced: bool,
    ) -> Self {
        Self {
            inner,
            report: CallReport {
                attempts,
                ..CallReport::default()
            },
            batch_priced,
        }
    }
}

#[pymethods]
impl PyChatResponse {
    /// All text blocks joined.
    #[getter]
    fn text(&self) -> std::borrow::Cow<'_, str> {
        self.inner.text_ref()
    }

    #[getter]
    fn tool_calls(&self) -> Vec<PyToolCall> {
        self.inner
            .tool_calls()
            .into_iter()
            .map(PyToolCall::from)
            .collect()
    }

    /// The answer as blocks: `{"type": "text" | "tool_call" | "thinking", ...}`.
    #[getter]
    fn content<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        pythonize(py, &self.inner.content)
            .map_err(|e| to_py(LlmError::invalid_response(e.to_string())))
    }

    #[getter]
    fn finish_reason(&self) -> Option<&'static str> {
        self.inner.finish_reason.map(|f| f.as_str())
    }

    #[getter]
    fn usage(&self) -> PyUsage {
        self.inner.usage.into()
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
    fn request_id(&self) -> Option<&str> {
        self.inner.request_id.as_deref()
    }

    /// Requests sent for this answer, retries and fallbacks included.
    #[getter]
    fn attempts(&self) -> u32 {
        self.report.attempts
    }

    /// Seconds slept between attempts (backoff and the server's Retry-After).
    #[getter]
    fn retry_wait(&self) -> f64 {
        self.report.retry_wait.as_secs_f64()
    }

    /// Seconds spent waiting for client-side rate-limit capacity.
    #[getter]
    fn rate_limit_wait(&self) -> f64 {
        self.report.rate_limit_wait.as_secs_f64()
    }

    /// Whether a fallback model answered (then `provider` and `model` name it).
    #[getter]
    fn fallback_used(&self) -> bool {
        self.report.fallback.is_some()
    }

    /// Seconds from sending the request to having the whole answer.
    #[getter]
    fn latency(&self) -> f64 {
        self.inner.latency.as_secs_f64()
    }

    /// USD, cache writes and reads at their own prices (at the provider's batch price for an
    /// answer from a batch job); `None` for a model without a price.
    #[getter]
    fn cost_usd(&self) -> Option<f64> {
        if self.batch_priced {
            model::batch_cost_usd(&self.inner.provider, &self.inner.model, &self.inner.usage)
        } else {
            self.inner.cost_usd()
        }
    }

    /// The provider's JSON body, parsed on demand.
    fn raw<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let value: serde_json::Value = serde_json::from_slice(&self.inner.raw).map_err(|e| {
            to_py(LlmError::invalid_response(format!(
                "raw body is not JSON: {e}"
            )))
        })?;
        pythonize(py, &value).map_err(|e| to_py(LlmError::invalid_response(e.to_string())))
    }

    fn __repr__(&self) -> String {
        let text = self.inner.text();
        let short: String = text.chars().take(60).collect();
        let ellipsis = if short.len() < text.len() { "..." } else { "" };
        format!(
            "ChatResponse(provider={:?}, model={:?}, text={:?}{ellipsis}, tool_calls={}, finish_reason={}, usage={})",
            self.inner.provider,
            self.inner.model,
            short,
            self.inner.tool_calls().len(),
            py_str(self.finish_reason()),
            PyUsage::from(self.inner.usage).__repr__(),
        )
    }
}

/// One streamed event. `type` is "text", "thinking", "tool_call_delta" or "done"; `text` is the
/// text delta ("" for other types); tool deltas carry `index`, `id`, `name`, `arguments` (a JSON
/// fragment); the "done" event carries `finish_reason`, `usage`, `model`, `request_id`,
/// `response_id`, `cost_usd`, and how the call went, as a `ChatResponse` does: `attempts`, `retry_wait`,
/// `rate_limit_wait` and `fallback_used`.
#[pyclass(name = "StreamEvent", frozen, module = "llmrail._core", get_all)]
pub struct PyStreamEvent {
    r#type: &'static str,
    text: String,
    index: Option<u32>,
    id: Option<String>,
    name: Option<String>,
    arguments: Option<String>,
    finish_reason: Option<&'static str>,
    usage: Option<PyUsage>,
    model: Option<String>,
    request_id: Option<String>,
    response_id: Option<String>,
    cost_usd: Option<f64>,
    attempts: Option<u32>,
    retry_wait: Option<f64>,
    rate_limit_wait: Option<f64>,
    fallback_used: Option<bool>,
}

#[pymethods]
impl PyStreamEvent {
    fn __repr__(&self) -> String {
        match self.r#type {
            "done" => format!(
                "StreamEvent(type='done', finish_reason={}, usage={})",
                py_str(self.finish_reason),
                self.usage.map(|u| u.__repr__()).unwrap_or_default()
            ),
            "tool_call_delta" => format!(
                "StreamEvent(type='tool_call_delta', index={:?}, id={:?}, name={:?}, arguments={:?})",
                self.index, self.id, self.name, self.arguments
            ),
            t => format!("StreamEvent(type={t:?}, text={:?})", self.text),
        }
    }
}

impl PyStreamEvent {
    pub(super) fn is_done(&self) -> bool {
        self.r#type == "done"
    }

    /// `report` is how the call went; only the "done" event has it.
    pub(super) fn new(e: StreamEvent, report: Option<&CallReport>) -> Self {
        let mut out = PyStreamEvent {
            r#type: "text",
            text: String::new(),
            index: None,
            id: None,
            name: None,
            arguments: None,
            finish_reason: None,
            usage: None,
            model: None,
            request_id: None,
            response_id: None,
            cost_usd: e.cost_usd(),
            attempts: None,
            retry_wait: None,
            rate_limit_wait: None,
            fallback_used: None,
        };
        match e {
            StreamEvent::Text(t) => out.text = t,
            StreamEvent::Thinking(t) => {
                out.r#type = "thinking";
                out.text = t;
            }
            StreamEvent::ToolCallDelta {
                index,
                id,
                name,
                arguments,
            } => {
                out.r#type = "tool_call_delta";
                out.index = Some(index);
                out.id = id;
                out.name = name;
                out.arguments = Some(arguments);
            }
            StreamEvent::Done {
                finish_reason,
                usage,
                model,
                request_id,
                response_id,
            } => {
                out.r#type = "done";
                out.finish_reason = finish_reason.map(|f| f.as_str());
                out.usage = Some(usage.into());
                out.model = Some(model);
                out.request_id = request_id;
                out.response_id = response_id;
                if let Some(r) = report {
                    out.attempts = Some(r.attempts);
                    out.retry_wait = Some(r.retry_wait.as_secs_f64());
                    out.rate_limit_wait = Some(r.rate_limit_wait.as_secs_f64());
                    out.fallback_used = Some(r.fallback.is_some());
                }
            }
        }
        out
    }
}

/// An optional string as Python would print it.
fn py_str(s: Option<&str>) -> String {
    s.map_or_else(|| "None".to_string(), |s| format!("{s:?}"))
}
