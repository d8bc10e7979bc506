//! `CacheStats` and `plan_prompt_cache`: conversion only, the rules live in `crate::cache`. (The
//! `prompt_cache=` argument is read in `convert.rs`, with every other argument.)

use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::convert;
use super::errors::to_py;
use crate::cache::{self, CacheStats};
use crate::model::{CacheTtl, ChatRequest, PromptCache, ToolSpec};

/// A client's cache totals since it was built: every successful call counts.
#[pyclass(
    name = "CacheStats",
    frozen,
    module = "llmrail._core",
    get_all,
    skip_from_py_object
)]
#[derive(Clone, Copy)]
pub struct PyCacheStats {
    pub requests: u64,
    pub input_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    /// Calls whose cached prefix changed since the previous call (each logged a warning).
    pub cache_breaks: u64,
}

#[pymethods]
impl PyCacheStats {
    /// Share of all input tokens read from the cache (0.0 before any call).
    #[getter]
    fn hit_rate(&self) -> f64 {
        CacheStats::from(*self).hit_rate()
    }

    fn __repr__(&self) -> String {
        format!(
            "CacheStats(requests={}, input_tokens={}, cache_read_tokens={}, cache_write_tokens={}, cache_breaks={}, hit_rate={:.3})",
            self.requests,
            self.input_tokens,
            self.cache_read_tokens,
            self.cache_write_tokens,
            self.cache_breaks,
            self.hit_rate()
        )
    }
}

impl From<CacheStats> for PyCacheStats {
    fn from(s: CacheStats) -> Self {
        Self {
            requests: s.requests,
            input_tokens: s.input_tokens,
            cache_read_tokens: s.cache_read_tokens,
            cache_write_tokens: s.cache_write_tokens,
            cache_breaks: s.cache_breaks,
        }
    }
}

impl From<PyCacheStats> for CacheStats {
    fn from(s: PyCacheStats) -> Self {
        Self {
            requests: s.requests,
            input_tokens: s.input_tokens,
            cache_read_tokens: s.cache_read_tokens,
            cache_write_tokens: s.cache_write_tokens,
            cache_breaks: s.cache_breaks,
        }
    }
}

/// Where llmrail's planner would put the prompt-cache breakpoints of a request, for callers
/// that render the markers themselves (the LangChain `optimize()` wrapper): a dict with
/// `tools`, `system` and `automatic` (a TTL or `None`), `message` (`(index, ttl)` or `None`)
/// and `prompt_cache_key`. Conversion only: the rules are `crate::cache::plan`.
#[pyfunction]
#[pyo3(signature = (provider, model, messages, *, system=None, tools=None, prompt_cache="5m"))]
pub fn plan_prompt_cache<'py>(
    py: Python<'py>,
    provider: &str,
    model: &str,
    messages: &Bound<'py, PyAny>,
    system: Option<String>,
    tools: Option<&Bound<'py, PyAny>>,
    prompt_cache: &str,
) -> PyResult<Bound<'py, PyDict>> {
    let req = ChatRequest {
        messages: convert::messages(messages)?,
        system,
        tools: match tools {
            None => Vec::new(),
            Some(t) => convert::parse::<Vec<ToolSpec>>(t, "tools")?,
        },
        ..ChatRequest::default()
    };
    let policy = PromptCache::parse(prompt_cache).map_err(to_py)?;
    let plan = cache::plan(&req, provider, model, policy);
    let ttl = |t: Option<CacheTtl>| t.map(CacheTtl::as_str);
    let out = PyDict::new(py);
    out.set_item("tools", ttl(plan.tools))?;
    out.set_item("system", ttl(plan.system))?;
    out.set_item("message", plan.message.map(|(i, t)| (i, t.as_str())))?;
    out.set_item("automatic", ttl(plan.automatic))?;
    out.set_item("prompt_cache_key", plan.prompt_cache_key)?;
    Ok(out)
}
