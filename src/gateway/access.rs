//! The access log: one record per request (method, path, status, model, key name, whether it
//! streamed, latency), never with a key in it, under the `log` target [`ACCESS_TARGET`] (the
//! Python logger `llmrail.gateway.access`).
//!
//! A record is written where it is made, on the request's task, unless the gateway has an
//! [`AccessSink`]: then the request only pushes it there, and whoever installed the sink writes
//! it elsewhere. `llmrail serve` started from Python installs one (`src/py/gateway.rs`): writing
//! a record hands it to Python's `logging`, which takes the GIL, and on the request's task that
//! halved the gateway's throughput (2,715 against 5,356 calls/s, bench/gateway.py).

use std::time::Duration;

use http::Method;

/// The `log` target of the access records (the Python logger `llmrail.gateway.access`).
pub const ACCESS_TARGET: &str = "llmrail::gateway::access";

/// One request as the access log tells it.
#[derive(Debug, Clone)]
pub struct AccessRecord {
    pub method: Method,
    pub path: String,
    pub status: u16,
    /// The model the caller named; `None` before the body was read.
    pub model: Option<String>,
    /// The caller's key by its config name.
    pub key: Option<String>,
    pub stream: bool,
    /// Until the answer (a stream's head) was ready to send.
    pub latency: Duration,
}

impl AccessRecord {
    /// Whether a record would be written at all (the logger's level; no GIL: pyo3-log caches
    /// it), so a request whose record nobody reads makes none.
    pub fn wanted() -> bool {
        log::log_enabled!(target: ACCESS_TARGET, log::Level::Info)
    }

    /// Write the record: its facts as key-values (Python's `extra` fields), as the library's
    /// call records are (`crate::telemetry`): `tracing` would fold them into the text.
    pub fn write(&self) {
        let level = log::Level::Info;
        let model = self.model.as_deref().unwrap_or("-");
        let key = self.key.as_deref().unwrap_or("-");
        let method = self.method.as_str();
        let path = self.path.as_str();
        let status = self.status;
        let stream = self.stream;
        let latency_ms = self.latency.as_secs_f64() * 1e3;
        log::log!(
            target: ACCESS_TARGET,
            level,
            method,
            path,
            status,
            model,
            key,
            stream,
            latency_ms;
            "{method} {path} {status} model={model} key={key} stream={stream} {latency_ms:.1} ms"
        );
    }
}

/// Where a gateway's access records go instead of being written on the request's task.
pub trait AccessSink: Send + Sync {
    /// Take the record, or drop it (and count it) if it cannot be taken at once: it runs on
    /// the request's task and must never wait.
    fn push(&self, record: AccessRecord);

    /// Records dropped so far (`/metrics`: `llmrail_gateway_access_records_dropped_total`).
    fn dropped(&self) -> u64;
}
