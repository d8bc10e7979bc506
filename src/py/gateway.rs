//! `llmrail._core.Gateway`: `llmrail serve` started from Python, in the background of the
//! calling process (the core's runtime serves it; no Python runs per request). The blocking
//! form and the signal handling are `llmrail/_serve.py`'s.
//!
//! Tracing: when OpenTelemetry is configured in the process (`super::otel::wanted`, as for a
//! client), each request's trace (`crate::gateway::RequestSpan`) goes into a bounded channel,
//! and a thread of its own hands them to `llmrail._otel_gateway` in batches, which makes the
//! spans through the process's SDK and its exporters. The request only pushes into the channel
//! (a full channel drops the record: a stalled exporter must not slow the gateway); the core
//! needs no OpenTelemetry crates and the user configures export once, in Python, as for the
//! library's own spans.

use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use pyo3::prelude::*;
use pyo3::types::PyList;
use pyo3::IntoPyObjectExt;

use super::errors::to_py as to_py_err;
use super::exit;
use crate::gateway::{Gateway, GatewayConfig, RequestSpan, Server, SpanSink};

/// Requests' traces waiting for the exporting thread; past this, new ones are dropped.
const SPAN_BACKLOG: usize = 8192;
/// At most this many requests' spans are made per hold of the GIL.
const SPAN_BATCH: usize = 256;

/// A running gateway; stopped by `stop()` or on exit from a `with` block.
#[pyclass(name = "Gateway", frozen, module = "llmrail._core")]
pub struct PyGateway {
    inner: Server,
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
        let spans = super::otel::wanted(py).then(span_sink);
        exit::detach(py, move || {
            let cfg = match (config, config_text) {
                (Some(path), _) => GatewayConfig::load(&path, env)?,
                (None, Some(text)) => GatewayConfig::parse("config_text", &text, env)?,
                (None, None) => GatewayConfig::default(),
            };
            let gateway = Gateway::new(cfg)?;
            let gateway = match spans {
                Some(sink) => gateway.with_spans(sink),
                None => gateway,
            };
            Server::start(gateway, &host, port)
        })
        .map(|inner| Self { inner })
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
        exit::detach(py, || self.inner.stop(wait));
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

/// The sink the gateway's requests push their traces into, and the thread that makes their
/// spans; the thread ends when the gateway (the sink's last holder) is gone.
fn span_sink() -> SpanSink {
    let (tx, rx) = mpsc::sync_channel::<RequestSpan>(SPAN_BACKLOG);
    let spawned = std::thread::Builder::new()
        .name("llmrail-gateway-spans".into())
        .spawn(move || {
            while let Ok(first) = rx.recv() {
                let mut batch = vec![first];
                batch.extend(rx.try_iter().take(SPAN_BATCH - 1));
                if exit::attach(|py| export(py, batch)).is_none() {
                    return; // the interpreter is exiting
                }
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(target: "llmrail::gateway", "llmrail serve: no span thread, requests are not traced: {e}");
    }
    Arc::new(move |span| {
        let _ = tx.try_send(span);
    })
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
