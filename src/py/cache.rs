//! Prompt-cache arguments and `CacheStats`: conversion only, the rules live in `crate::cache`.

use pyo3::prelude::*;

use super::errors::to_py;
use crate::cache::{self as core, PromptCache};

/// `"5m" | "1h" | "auto" | "off"` as a policy; `None` stays `None`.
pub fn policy(value: Option<&str>) -> PyResult<Option<PromptCache>> {
    value.map(PromptCache::parse).transpose().map_err(to_py)
}

/// A client's cache totals since it was built: every successful call counts.
#[pyclass(frozen, module = "llmrail._core", get_all, skip_from_py_object)]
#[derive(Clone, Copy)]
pub struct CacheStats {
    pub requests: u64,
    pub input_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    /// Calls whose cached prefix changed since the previous call (each logged a warning).
    pub cache_breaks: u64,
}

#[pymethods]
impl CacheStats {
    /// Share of all input tokens read from the cache (0.0 before any call).
    #[getter]
    fn hit_rate(&self) -> f64 {
        core::CacheStats::from(*self).hit_rate()
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

impl From<core::CacheStats> for CacheStats {
    fn from(s: core::CacheStats) -> Self {
        Self {
            requests: s.requests,
            input_tokens: s.input_tokens,
            cache_read_tokens: s.cache_read_tokens,
            cache_write_tokens: s.cache_write_tokens,
            cache_breaks: s.cache_breaks,
        }
    }
}

impl From<CacheStats> for core::CacheStats {
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
