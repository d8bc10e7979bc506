//! `llmrail._core.Gateway`: `llmrail serve` started from Python, in the background of the
//! calling process (the core's runtime serves it; no Python runs per request). The blocking
//! form and the signal handling are `llmrail/_serve.py`'s.
//!
//! The access log goes to Python's `logging` from a thread of its own (`bridge::AccessLog`),
//! never from a request's task.
//!
//! Tracing: when OpenTelemetry is configured in the process (`super::otel::wanted`, as for a
//! client), each request's trace (`crate::gateway::RequestSpan`) goes into a [`Drain`], whose
//! thread hands them to `llmrail._otel_gateway` in batches, which makes the spans through the
//! process's SDK and its exporters. The request only pushes (a full backlog drops the record: a
//! stalled exporter must not slow the gateway); the core needs no OpenTelemetry crates and the
//! user configures export once, in Python, as for the library's own spans.
//!
//! The jobs the gateway's own workers process get spans as a `Queue`'s do (`otel::queue`),
//! under the `traceparent` their submitter sent.
//!
//! `stop()` flushes the access log and the request spans once the requests in flight are done,
//! so the last requests' access lines and spans are written before a graceful stop returns.

use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use pyo3::prelude::*;
use pyo3::types::PyList;
use pyo3::IntoPyObjectExt;

use super::bridge::AccessLog;
use super::drain::Drain;
use super::errors::to_py as to_py_err;
use super::exit;
use crate::gateway::{Gateway, GatewayConfig, RequestSpan, Server};

/// Requests' traces waiting for the exporting thread; past this, new ones are dropped.
const SPAN_BACKLOG: usize = 8192;
/// At most this many requests' spans are made per hold of the GIL.
const SPAN_BATCH: usize = 256;

/// A running gateway; stopped by `stop()` or on exit from a `with` block.
#[pyclass(name = "Gateway", frozen, module = "llmrail._core")]
pub struct PyGateway {
    inner: Server,
    access: Option<Arc<AccessLog>>,
    spans: Option<Arc<Drain<RequestSpan>>>,
}

#[pymethods]
impl PyGateway {
    /// Load and check `config` (a path; `None`: every "provider/model" routes directly, or
    /// the YAML given as `config_text`), build every virtual model's client and listen.
    #[new]
    #[pyo3(signature = (config = None, *, host = "127.0.0.1", port = 4000, config_text = None))]
    fn new(
        py: Python<'_>,
        config: Option<String>,
        host: &str,
        port: u16,
        config_text: Option<String>,
    ) -> PyResult<Self> {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let host = host.to_owned();
        let traced = super::otel::wanted(py);
        let spans = traced.then(span_drain).flatten();
        let job_spans = traced.then(super::otel::queue::item_sink).flatten();
        let access = AccessLog::start();
        let (sink, log) = (spans.clone(), access.clone());
        exit::detach(py, move || {
            let cfg = match (config, config_text) {
                (Some(path), _) => GatewayConfig::load(&path, env)?,
                (None, Some(text)) => GatewayConfig::parse("config_text", &text, env)?,
                (None, None) => GatewayConfig::default(),
            };
            let mut gateway = Gateway::new(cfg)?;
            if let Some(drain) = sink {
                gateway = gateway.with_spans(Arc::new(move |span| drain.push(span)));
            }
            if let Some(items) = job_spans {
                gateway = gateway.with_job_spans(items);
            }
            if let Some(log) = log {
                gateway = gateway.with_access_log(log);
            }
            Server::start(gateway, &host, port)
        })
        .map(|inner| Self {
            inner,
            access,
            spans,
        })
        .map_err(to_py_err)
    }

    /// `http://host:port`: Anthropic clients' base URL; OpenAI clients add `/v1`.
    #[getter]
    fn url(&self) -> String {
        self.inner.url()
    }

    #[getter]
    fn port(&self) -> u16 {
        self.inner.addr().port()
    }

    /// Stop accepting, let requests in flight finish (up to the config's
    /// `server.shutdown_timeout`), and wait for that up to `timeout` seconds.
    #[pyo3(signature = (timeout = 60.0))]
    fn stop(&self, py: Python<'_>, timeout: f64) {
        let wait = Duration::try_from_secs_f64(timeout).unwrap_or(Duration::ZERO);
        exit::detach(py, || {
            let deadline = Instant::now() + wait;
            self.inner.stop(wait);
            // Every request has pushed its record by now: write what is still waiting.
            let left = || deadline.saturating_duration_since(Instant::now());
            if let Some(access) = &self.access {
                access.flush(left());
            }
            if let Some(spans) = &self.spans {
                spans.flush(left());
            }
        });
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
        self.stop(py, 60.0);
        false
    }

    fn __repr__(&self) -> String {
        format!("Gateway(url={:?})", self.inner.url())
    }
}

/// The drain the gateway's requests push their traces into, and the thread that makes their
/// spans; the thread ends when the gateway and this wrapper (the drain's holders) are gone.
fn span_drain() -> Option<Arc<Drain<RequestSpan>>> {
    let export = |batch| exit::attach(|py| export(py, batch)).is_some();
    Drain::spawn(
        "llmrail-gateway-spans",
        "request spans",
        SPAN_BACKLOG,
        SPAN_BATCH,
        export,
    )
    .map(Arc::new)
}

fn nanos(t: std::time::SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Hand a batch to `llmrail._otel_gateway.requests`; an exception there is reported as
/// unraisable (tracing never breaks serving).
fn export(py: Python<'_>, batch: Vec<RequestSpan>) {
    let made = || -> PyResult<()> {
        let rows = batch
            .into_iter()
            .map(|r| row(py, r))
            .collect::<PyResult<Vec<_>>>()?;
        py.import("llmrail._otel_gateway")?
            .call_method1("requests", (PyList::new(py, rows)?,))?;
        Ok(())
    };
    if let Some(Err(e)) = exit::callout(made) {
        e.write_unraisable(py, None);
    }
}

/// One request as `llmrail._otel_gateway.Request` reads it.
fn row(py: Python<'_>, r: RequestSpan) -> PyResult<Py<PyAny>> {
    let caller = r.parent.map(|p| {
        (
            u128::from_be_bytes(p.trace_id),
            u64::from_be_bytes(p.span_id),
            p.flags,
            p.state,
        )
    });
    let call = match r.call {
        None => None,
        Some(c) => {
            let (provider, target, address, port) = match &c.target {
                Some(t) => (t.provider, t.model.clone(), t.address.clone(), t.port),
                None => ("", c.model.clone(), String::new(), None),
            };
            Some((
                c.operation,
                c.model,
                provider,
                target,
                address,
                port,
                nanos(c.started),
                c.duration.as_secs_f64(),
                c.error,
                super::otel::attempts(py, Some(c.attempts))?,
                c.usage.map(|u| (u.input_tokens, u.output_tokens)),
            ))
        }
    };
    (
        caller,
        nanos(r.started),
        r.duration.as_secs_f64(),
        r.method,
        r.route,
        r.status,
        r.host,
        r.user_agent,
        call,
    )
        .into_py_any(py)
}
