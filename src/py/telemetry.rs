//! `ClientStats` (`client.stats()`) and `metrics_text()`: conversion only; the counters and
//! the exposition live in `crate::telemetry`.

use std::collections::HashMap;

use pyo3::prelude::*;

use super::bridge;
use crate::telemetry::{self, Stats};

/// A client's totals since it was built or last read with `stats(reset=True)`.
#[pyclass(
    name = "ClientStats",
    frozen,
    module = "llmrail._core",
    get_all,
    skip_from_py_object
)]
pub struct PyClientStats {
    pub requests: u64,
    pub errors: HashMap<&'static str, u64>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    pub cost_usd: f64,
    pub latency_p50: Option<f64>,
    pub latency_p95: Option<f64>,
    pub latency_p99: Option<f64>,
    pub since: f64,
}

#[pymethods]
impl PyClientStats {
    fn __repr__(&self) -> String {
        let ms = |s: Option<f64>| s.map_or("None".to_string(), |s| format!("{:.1}ms", s * 1e3));
        let mut errors: Vec<_> = self.errors.iter().collect();
        errors.sort();
        format!(
            "ClientStats(requests={}, errors={errors:?}, input_tokens={}, output_tokens={}, cache_read_tokens={}, cache_write_tokens={}, cost_usd={:.6}, latency_p50={}, latency_p95={}, latency_p99={})",
            self.requests,
            self.input_tokens,
            self.output_tokens,
            self.cache_read_tokens,
            self.cache_write_tokens,
            self.cost_usd,
            ms(self.latency_p50),
            ms(self.latency_p95),
            ms(self.latency_p99),
        )
    }
}

impl From<Stats> for PyClientStats {
    fn from(s: Stats) -> Self {
        let secs = |d: Option<std::time::Duration>| d.map(|d| d.as_secs_f64());
        Self {
            requests: s.requests,
            errors: s.errors.into_iter().collect(),
            input_tokens: s.input_tokens,
            output_tokens: s.output_tokens,
            cache_read_tokens: s.cache_read_tokens,
            cache_write_tokens: s.cache_write_tokens,
            cost_usd: s.cost_usd,
            latency_p50: secs(s.latency_p50),
            latency_p95: secs(s.latency_p95),
            latency_p99: secs(s.latency_p99),
            since: s
                .since
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
        }
    }
}

/// The process's counters in the Prometheus text format (version 0.0.4).
#[pyfunction]
pub fn metrics_text(py: Python<'_>) -> PyResult<String> {
    bridge::block(py, async { Ok(telemetry::metrics_text().await) })
}

/// For `make bench` (bench/telemetry.py): nanoseconds for `n` calls recorded by the telemetry
/// and for `n` calls not, timed in the core with the GIL released.
#[pyfunction]
pub fn bench_telemetry_overhead(py: Python<'_>, n: u32) -> (u128, u128) {
    let (with, without) = super::exit::detach(py, || telemetry::overhead(n));
    (with.as_nanos(), without.as_nanos())
}
