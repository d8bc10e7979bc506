//! `llmrail.Retry`, `llmrail.RateLimit`, `llmrail.CircuitBreaker` and `BreakerStatus`: frozen
//! value classes that only check and carry `crate::resilience` settings.

use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyMapping, PyString};

use super::arg::{opt, Arg};
use super::errors::{config, to_py};
use crate::duration::{self, LONGEST_SECS};
use crate::resilience::breaker::{BreakerConfig, Snapshot};
use crate::resilience::fallback::FallbackConfig;
use crate::resilience::ratelimit::RateLimitConfig;
use crate::resilience::retry::{Jitter, RetryPolicy};

/// Seconds from Python, checked: from 0 to [`LONGEST_SECS`] (about 31 years; longer is a typo
/// and would not fit the clocks and timers it ends up in).
pub fn seconds(name: &str, value: Arg<f64>) -> PyResult<Duration> {
    let value = value.get(name)?;
    match duration::from_secs(value) {
        Some(d) if value <= LONGEST_SECS => Ok(d),
        _ => Err(config(format!(
            "{name} must be a number of seconds from 0 to {LONGEST_SECS:e} (about 31 years), got {value:?}"
        ))),
    }
}

/// Optional seconds that must be above zero when given (timeouts, deadlines).
pub fn positive_seconds(name: &str, value: Option<Arg<f64>>) -> PyResult<Option<Duration>> {
    let Some(value) = opt(value, name)? else {
        return Ok(None);
    };
    match duration::from_secs(value) {
        Some(d) if value > 0.0 && value <= LONGEST_SECS => Ok(Some(d)),
        _ => Err(config(format!(
            "{name} must be a number of seconds above 0 and at most {LONGEST_SECS:e} (about 31 years), got {value:?}"
        ))),
    }
}

/// How failed calls are retried: backoff with jitter, Retry-After honoured up to `max_delay`.
#[pyclass(name = "Retry", frozen, eq, module = "llmrail._core")]
#[derive(PartialEq)]
pub struct PyRetry {
    pub(crate) policy: RetryPolicy,
}

#[pymethods]
impl PyRetry {
    #[new]
    #[pyo3(
        signature = (max_attempts=Arg::new(4), *, initial_delay=Arg::new(0.5), max_delay=Arg::new(30.0), multiplier=Arg::new(2.0), jitter=Arg::new(String::from("full"))),
        text_signature = "(max_attempts=4, *, initial_delay=0.5, max_delay=30.0, multiplier=2.0, jitter='full')"
    )]
    fn new(
        max_attempts: Arg<u32>,
        initial_delay: Arg<f64>,
        max_delay: Arg<f64>,
        multiplier: Arg<f64>,
        jitter: Arg<String>,
    ) -> PyResult<Self> {
        let policy = RetryPolicy {
            max_attempts: max_attempts.get("max_attempts")?,
            initial_delay: seconds("initial_delay", initial_delay)?,
            max_delay: seconds("max_delay", max_delay)?,
            multiplier: multiplier.get("multiplier")?,
            jitter: Jitter::parse(&jitter.get("jitter")?).map_err(to_py)?,
        };
        policy.validate().map_err(to_py)?;
        Ok(Self { policy })
    }

    #[getter]
    fn max_attempts(&self) -> u32 {
        self.policy.max_attempts
    }
    #[getter]
    fn initial_delay(&self) -> f64 {
        self.policy.initial_delay.as_secs_f64()
    }
    #[getter]
    fn max_delay(&self) -> f64 {
        self.policy.max_delay.as_secs_f64()
    }
    #[getter]
    fn multiplier(&self) -> f64 {
        self.policy.multiplier
    }
    #[getter]
    fn jitter(&self) -> &'static str {
        self.policy.jitter.as_str()
    }

    fn __repr__(&self) -> String {
        let p = &self.policy;
        format!(
            "Retry(max_attempts={}, initial_delay={}, max_delay={}, multiplier={}, jitter={:?})",
            p.max_attempts,
            p.initial_delay.as_secs_f64(),
            p.max_delay.as_secs_f64(),
            p.multiplier,
            p.jitter.as_str()
        )
    }
}

/// A token-aware limit: at most `rpm` requests and `tpm` tokens in any 60 s, shared by every
/// call with the same `key` (through Redis with the client's `redis_url`).
#[pyclass(name = "RateLimit", frozen, eq, module = "llmrail._core")]
#[derive(PartialEq)]
pub struct PyRateLimit {
    pub(crate) cfg: RateLimitConfig,
}

#[pymethods]
impl PyRateLimit {
    #[new]
    #[pyo3(signature = (rpm=None, tpm=None, *, key=None, wait=true))]
    fn new(
        rpm: Option<Arg<u64>>,
        tpm: Option<Arg<u64>>,
        key: Option<Arg<String>>,
        wait: bool,
    ) -> PyResult<Self> {
        let cfg = RateLimitConfig {
            rpm: opt(rpm, "rpm")?,
            tpm: opt(tpm, "tpm")?,
            key: opt(key, "key")?,
            wait,
            ..RateLimitConfig::default()
        };
        cfg.validate().map_err(to_py)?;
        Ok(Self { cfg })
    }

    #[getter]
    fn rpm(&self) -> Option<u64> {
        self.cfg.rpm
    }
    #[getter]
    fn tpm(&self) -> Option<u64> {
        self.cfg.tpm
    }
    #[getter]
    fn key(&self) -> Option<&str> {
        self.cfg.key.as_deref()
    }
    #[getter]
    fn wait(&self) -> bool {
        self.cfg.wait
    }

    fn __repr__(&self) -> String {
        let opt = |v: Option<u64>| v.map_or_else(|| "None".to_string(), |v| v.to_string());
        let key = self
            .cfg
            .key
            .as_ref()
            .map_or_else(|| "None".to_string(), |k| format!("{k:?}"));
        let wait = if self.cfg.wait { "True" } else { "False" };
        format!(
            "RateLimit(rpm={}, tpm={}, key={key}, wait={wait})",
            opt(self.cfg.rpm),
            opt(self.cfg.tpm)
        )
    }
}

/// When a target's breaker opens (a streak of failures, or a failure rate over a
/// window), and how long it stays open before one probe call is let through.
#[pyclass(name = "CircuitBreaker", frozen, eq, module = "llmrail._core")]
#[derive(PartialEq)]
pub struct PyCircuitBreaker {
    pub(crate) cfg: BreakerConfig,
}

#[pymethods]
impl PyCircuitBreaker {
    #[new]
    #[pyo3(
        signature = (failure_threshold=Arg::new(5), *, failure_rate=Arg::new(0.5), min_calls=Arg::new(20), window=Arg::new(60.0), cooldown=Arg::new(30.0)),
        text_signature = "(failure_threshold=5, *, failure_rate=0.5, min_calls=20, window=60.0, cooldown=30.0)"
    )]
    fn new(
        failure_threshold: Arg<u32>,
        failure_rate: Arg<f64>,
        min_calls: Arg<u32>,
        window: Arg<f64>,
        cooldown: Arg<f64>,
    ) -> PyResult<Self> {
        let cfg = BreakerConfig {
            enabled: true,
            failure_threshold: failure_threshold.get("failure_threshold")?,
            failure_rate: failure_rate.get("failure_rate")?,
            min_calls: min_calls.get("min_calls")?,
            window: seconds("window", window)?,
            cooldown: seconds("cooldown", cooldown)?,
        };
        cfg.validate().map_err(to_py)?;
        Ok(Self { cfg })
    }

    #[getter]
    fn failure_threshold(&self) -> u32 {
        self.cfg.failure_threshold
    }
    #[getter]
    fn failure_rate(&self) -> f64 {
        self.cfg.failure_rate
    }
    #[getter]
    fn min_calls(&self) -> u32 {
        self.cfg.min_calls
    }
    #[getter]
    fn window(&self) -> f64 {
        self.cfg.window.as_secs_f64()
    }
    #[getter]
    fn cooldown(&self) -> f64 {
        self.cfg.cooldown.as_secs_f64()
    }

    fn __repr__(&self) -> String {
        let c = &self.cfg;
        format!(
            "CircuitBreaker(failure_threshold={}, failure_rate={}, min_calls={}, window={}, cooldown={})",
            c.failure_threshold,
            c.failure_rate,
            c.min_calls,
            c.window.as_secs_f64(),
            c.cooldown.as_secs_f64()
        )
    }
}

/// One breaker's state, from `client.health()`.
#[pyclass(name = "BreakerStatus", frozen, get_all, module = "llmrail._core")]
pub struct PyBreakerStatus {
    /// "provider/model".
    name: String,
    /// "closed", "open" or "half_open".
    state: &'static str,
    consecutive_failures: u32,
    /// Calls and failures over the last window (weighted toward the present).
    calls: f64,
    failures: f64,
    /// Seconds until a probe is let through, while open.
    retry_in: Option<f64>,
    /// Whether this state is the one shared through Redis.
    shared: bool,
}

#[pymethods]
impl PyBreakerStatus {
    fn __repr__(&self) -> String {
        format!(
            "BreakerStatus(name={:?}, state={:?}, consecutive_failures={}, shared={})",
            self.name,
            self.state,
            self.consecutive_failures,
            if self.shared { "True" } else { "False" }
        )
    }
}

impl From<Snapshot> for PyBreakerStatus {
    fn from(s: Snapshot) -> Self {
        Self {
            name: s.name,
            state: s.state.as_str(),
            consecutive_failures: s.consecutive_failures,
            calls: s.calls,
            failures: s.failures,
            retry_in: s.retry_in.map(|d| d.as_secs_f64()),
            shared: s.shared,
        }
    }
}

/// `circuit_breaker=`: a `CircuitBreaker`, `False` (none), or `None` (the default one).
pub fn breaker_setting(value: Option<&Bound<'_, PyAny>>) -> PyResult<Option<BreakerConfig>> {
    let Some(v) = value.filter(|v| !v.is_none()) else {
        return Ok(None);
    };
    if let Ok(b) = v.cast::<PyBool>() {
        return if b.is_true() {
            Ok(None)
        } else {
            Ok(Some(BreakerConfig::disabled()))
        };
    }
    match v.cast::<PyCircuitBreaker>() {
        Ok(cb) => Ok(Some(cb.get().cfg.clone())),
        Err(_) => Err(config(
            "circuit_breaker must be a llmrail.CircuitBreaker, False or None",
        )),
    }
}

/// `fallbacks=`: each a "provider/model" string or a mapping with `model` and optionally
/// `api_key` and `base_url`.
pub fn fallbacks(value: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<FallbackConfig>> {
    let Some(v) = value.filter(|v| !v.is_none()) else {
        return Ok(Vec::new());
    };
    if v.is_instance_of::<PyString>() {
        return Err(config(
            "fallbacks must be a list, e.g. fallbacks=[\"openai/gpt-4.1\"]",
        ));
    }
    let mut out = Vec::new();
    for (i, item) in v.try_iter()?.enumerate() {
        let item = item?;
        if let Ok(s) = item.cast::<PyString>() {
            let model = s.to_str().map_err(|_| {
                config(format!(
                    "fallbacks[{i}] must be valid Unicode text (it has a lone surrogate)"
                ))
            })?;
            out.push(FallbackConfig::new(model));
            continue;
        }
        let Ok(m) = item.cast::<PyMapping>() else {
            return Err(config(format!(
                "fallbacks[{i}] must be \"provider/model\" or {{\"model\": ..., \"api_key\": ..., \"base_url\": ...}}"
            )));
        };
        let field =
            |name: &str| -> PyResult<Option<String>> {
                match m.get_item(name) {
                    Ok(v) if !v.is_none() => Ok(Some(v.extract::<String>().map_err(|_| {
                        config(format!("fallbacks[{i}][{name:?}] must be a string"))
                    })?)),
                    _ => Ok(None),
                }
            };
        let model =
            field("model")?.ok_or_else(|| config(format!("fallbacks[{i}] needs a \"model\"")))?;
        out.push(FallbackConfig {
            model,
            api_key: field("api_key")?,
            base_url: field("base_url")?,
        });
    }
    Ok(out)
}
