//! `HttpForwarder`, `HttpReply`, `HttpBody`, and `HttpMeter`/`HttpUsage` (what answers used): argument conversion around
//! `crate::forward`, for the httpx transports of `python/llmrail/httpx.py`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use bytes::{Bytes, BytesMut};
use futures_util::{FutureExt, StreamExt};
use http::HeaderMap;
use pyo3::exceptions::{PyStopAsyncIteration, PyStopIteration};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use pyo3::IntoPyObjectExt;
use tokio::sync::{Mutex, Notify};

use super::bridge;
use super::bridge::coroutine::{self, Coroutine};
use super::errors::{config, to_py};
use super::resilience::{self, PyRateLimit, PyRetry};
use crate::duration;
use crate::error::LlmError;
use crate::forward::usage::Spend;
use crate::forward::{self, Forwarder, LastHeaders, Policy, Reply, Timeouts};
use crate::wire::{Body, ByteStream, HttpRequest};

type Headers<'py> = Vec<(Bound<'py, PyBytes>, Bound<'py, PyBytes>)>;

/// One request, as `httpx` describes it: read into owned Rust values at once.
fn request(
    last: &LastHeaders,
    method: &str,
    url: String,
    headers: &Headers<'_>,
    body: &[u8],
    connect_timeout: Option<f64>,
    read_timeout: Option<f64>,
) -> PyResult<HttpRequest> {
    let seconds = |name: &str, value: Option<f64>| match value {
        None => Ok(None),
        Some(s) => duration::from_secs(s)
            .map(Some)
            .ok_or_else(|| config(format!("the {name} timeout must be seconds >= 0, got {s}"))),
    };
    let timeouts = Timeouts {
        connect: seconds("connect", connect_timeout)?,
        read: seconds("read", read_timeout)?,
    };
    let pairs = headers.iter().map(|(k, v)| (k.as_bytes(), v.as_bytes()));
    let body = Bytes::copy_from_slice(body);
    forward::request(method.as_bytes(), url, pairs, body, timeouts, Some(last)).map_err(to_py)
}

/// The transport of one httpx client: its requests go out through the resilience layers it was
/// built with (`crate::forward::Forwarder`), pooled, recorded and replayed by the active cassette.
#[pyclass(name = "HttpForwarder", frozen, module = "llmrail._core")]
pub struct PyHttpForwarder {
    inner: Arc<Forwarder>,
    headers: LastHeaders,
}

#[pymethods]
impl PyHttpForwarder {
    /// `circuit_breaker=None` is the default breaker, as for a `Client`; `False` turns it off.
    #[new]
    #[pyo3(signature = (*, retry=None, rate_limit=None, circuit_breaker=None))]
    fn new(
        retry: Option<PyRef<'_, PyRetry>>,
        rate_limit: Option<PyRef<'_, PyRateLimit>>,
        circuit_breaker: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let breaker = resilience::breaker_setting(circuit_breaker)?.unwrap_or_default();
        let policy = Policy {
            breaker: Some(breaker),
            rate_limit: rate_limit.map(|r| r.cfg.clone()),
            retry: retry.map(|r| r.policy.clone()),
        };
        let inner = Arc::new(Forwarder::new(policy).map_err(to_py)?);
        Ok(Self {
            inner,
            headers: LastHeaders::default(),
        })
    }

    /// What this client's answers used and cost so far.
    #[getter]
    fn usage(&self) -> PyHttpUsage {
        PyHttpUsage(self.inner.total())
    }

    /// Send one request; await it for the status, headers and body.
    #[pyo3(signature = (method, url, headers, body, connect_timeout=None, read_timeout=None))]
    fn send(
        &self,
        method: &str,
        url: String,
        headers: Headers<'_>,
        body: &[u8],
        connect_timeout: Option<f64>,
        read_timeout: Option<f64>,
    ) -> PyResult<Coroutine> {
        let req = request(
            &self.headers,
            method,
            url,
            &headers,
            body,
            connect_timeout,
            read_timeout,
        );
        let fwd = self.inner.clone();
        coroutine::call(
            move |_| {
                let req = req?;
                Ok(async move { fwd.send(req).await })
            },
            |py, reply| PyHttpReply::new(py, reply)?.into_py_any(py),
        )
    }

    /// The same request, blocking this thread (the GIL is released while waiting).
    #[pyo3(signature = (method, url, headers, body, connect_timeout=None, read_timeout=None))]
    #[allow(clippy::too_many_arguments)]
    fn send_sync(
        &self,
        py: Python<'_>,
        method: &str,
        url: String,
        headers: Headers<'_>,
        body: &[u8],
        connect_timeout: Option<f64>,
        read_timeout: Option<f64>,
    ) -> PyResult<PyHttpReply> {
        let req = request(
            &self.headers,
            method,
            url,
            &headers,
            body,
            connect_timeout,
            read_timeout,
        )?;
        let reply = bridge::block(py, self.inner.send(req))?;
        PyHttpReply::new(py, reply)
    }
}

/// A response's status and headers, and its body: `content` when it was read whole, `stream`
/// when it is a stream of events handed on as it arrives.
#[pyclass(name = "HttpReply", frozen, module = "llmrail._core")]
pub struct PyHttpReply {
    #[pyo3(get)]
    status: u16,
    headers: HeaderMap,
    #[pyo3(get)]
    content: Option<Py<PyBytes>>,
    #[pyo3(get)]
    stream: Option<Py<PyHttpBody>>,
    spend: Arc<OnceLock<Spend>>,
}

impl PyHttpReply {
    fn new(py: Python<'_>, reply: Reply) -> PyResult<Self> {
        let (content, stream) = match reply.body {
            Body::Full(b) => (Some(PyBytes::new(py, &b).unbind()), None),
            Body::Stream(s) => (None, Some(Py::new(py, PyHttpBody::new(s))?)),
        };
        Ok(Self {
            status: reply.status,
            headers: reply.headers,
            content,
            stream,
            spend: reply.spend,
        })
    }
}

#[pymethods]
impl PyHttpReply {
    /// What this answer used and cost, read as it passes (see `HttpMeter`).
    #[getter]
    fn meter(&self) -> PyHttpMeter {
        PyHttpMeter {
            slot: self.spend.clone(),
        }
    }

    /// Raw `(name, value)` pairs in the order received, as `httpx.Response(headers=...)` takes.
    #[getter]
    fn headers<'py>(&self, py: Python<'py>) -> Vec<(Bound<'py, PyBytes>, Bound<'py, PyBytes>)> {
        self.headers
            .iter()
            .map(|(k, v)| {
                (
                    PyBytes::new(py, k.as_str().as_bytes()),
                    PyBytes::new(py, v.as_bytes()),
                )
            })
            .collect()
    }

    /// Whether the answer sets a cookie (`Set-Cookie`, `Set-Cookie2`): without one, an httpx
    /// client's cookie jar has nothing to read in it (its reading: ~2 µs of an SDK call).
    #[getter]
    fn sets_cookies(&self) -> bool {
        self.headers.contains_key(http::header::SET_COOKIE)
            || self.headers.contains_key("set-cookie2")
    }

    /// `(name, lower-cased name, value)` triples, as `httpx.Headers` keeps them in `_list`: the
    /// transport's names are lower case already, so the response's headers are these as they
    /// are, not built again pair by pair (`Headers(pairs)`: ~1 µs of an SDK call's Python).
    #[getter]
    fn header_list<'py>(
        &self,
        py: Python<'py>,
    ) -> Vec<(
        Bound<'py, PyBytes>,
        Bound<'py, PyBytes>,
        Bound<'py, PyBytes>,
    )> {
        self.headers
            .iter()
            .map(|(k, v)| {
                let name = PyBytes::new(py, k.as_str().as_bytes());
                (name.clone(), name, PyBytes::new(py, v.as_bytes()))
            })
            .collect()
    }
}

/// One answer's usage, filled in once known: at once for a whole body, when a stream ends.
#[pyclass(name = "HttpMeter", frozen, module = "llmrail._core")]
pub struct PyHttpMeter {
    slot: Arc<OnceLock<Spend>>,
}

#[pymethods]
impl PyHttpMeter {
    /// `None` until the answer's usage is known, or when it reports none.
    #[getter]
    fn usage(&self) -> Option<PyHttpUsage> {
        self.slot.get().copied().map(PyHttpUsage)
    }

    fn __repr__(&self) -> String {
        match self.slot.get() {
            Some(s) => format!("HttpMeter({})", PyHttpUsage(*s).__repr__()),
            None => "HttpMeter(pending)".into(),
        }
    }
}

/// Tokens and USD over `requests` answers (one answer's, or a client's total).
#[pyclass(name = "HttpUsage", frozen, module = "llmrail._core")]
pub struct PyHttpUsage(Spend);

#[pymethods]
impl PyHttpUsage {
    #[getter]
    fn requests(&self) -> u64 {
        self.0.requests
    }
    #[getter]
    fn input_tokens(&self) -> u64 {
        self.0.usage.input_tokens
    }
    #[getter]
    fn output_tokens(&self) -> u64 {
        self.0.usage.output_tokens
    }
    #[getter]
    fn cache_read_tokens(&self) -> u64 {
        self.0.usage.cache_read_tokens
    }
    #[getter]
    fn cache_write_tokens(&self) -> u64 {
        self.0.usage.cache_write_tokens
    }
    #[getter]
    fn cost_usd(&self) -> Option<f64> {
        self.0.cost_usd
    }
    #[getter]
    fn unpriced(&self) -> u64 {
        self.0.unpriced
    }

    fn __repr__(&self) -> String {
        let cost = self.0.cost_usd.map_or("None".into(), |c| format!("{c:.6}"));
        format!(
            "HttpUsage(requests={}, input_tokens={}, output_tokens={}, cost_usd={cost}, unpriced={})",
            self.0.requests, self.0.usage.input_tokens, self.0.usage.output_tokens, self.0.unpriced
        )
    }
}

/// A streamed body's chunks, pulled: each `__anext__`/`__next__` waits for the next bytes from
/// the connection, and hands on at once all that have arrived (up to [`COALESCE`]), as one
/// chunk: an SDK's decoder (and httpx's byte-stream layers above it) pays Python work per
/// chunk, and each chunk here costs an await through the bridge, often a wake-up of this thread
/// by the connection's worker. A 50-event stream from the bench's server came as ~53 chunks (one
/// per chunk of its HTTP framing, as httpx's own transport hands them on), now as ~2.5.
/// `close()` (or dropping it) closes the connection, a read in flight included.
#[pyclass(name = "HttpBody", frozen, module = "llmrail._core")]
pub struct PyHttpBody {
    inner: Arc<Mutex<Reading>>,
    closing: Arc<Closing>,
}

/// The most bytes handed on as one chunk (httpcore reads 64 KiB at a time).
const COALESCE: usize = 64 * 1024;

/// The stream, `None` once finished or closed, so the connection goes as early as possible; and
/// its failure, when it came after bytes that were handed on first.
struct Reading {
    stream: Option<ByteStream>,
    failed: Option<LlmError>,
}

/// `close()` called: a read in flight (which holds the stream) is woken to drop it.
#[derive(Default)]
struct Closing {
    closed: AtomicBool,
    wake: Notify,
}

impl PyHttpBody {
    fn new(stream: ByteStream) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Reading {
                stream: Some(stream),
                failed: None,
            })),
            closing: Arc::default(),
        }
    }

    async fn next_chunk(
        inner: Arc<Mutex<Reading>>,
        closing: Arc<Closing>,
    ) -> Result<Option<Bytes>, LlmError> {
        let mut guard = inner.lock().await;
        let reading = &mut *guard;
        if let Some(e) = reading.failed.take() {
            return Err(e);
        }
        // Registered before the flag is read, so a `close()` between the two still wakes us.
        let woken = closing.wake.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let next = match reading.stream.as_mut() {
            None => return Ok(None),
            Some(_) if closing.closed.load(Ordering::Acquire) => None,
            Some(stream) => tokio::select! {
                next = stream.next() => Some(next.transpose()),
                () = &mut woken => None,
            },
        };
        match next {
            Some(Ok(Some(chunk))) => Ok(Some(Self::and_ready(reading, chunk))),
            // Closed while waiting: the stream goes now, with the connection.
            None => {
                reading.stream = None;
                Ok(None)
            }
            Some(end) => {
                reading.stream = None;
                end
            }
        }
    }

    /// `first` and the chunks that are already there after it, as one; the body's end or
    /// failure, when it is there too, is kept for the next read.
    fn and_ready(reading: &mut Reading, first: Bytes) -> Bytes {
        let Some(stream) = reading.stream.as_mut() else {
            return first;
        };
        let mut all: Option<BytesMut> = None;
        while all.as_ref().map_or(first.len(), BytesMut::len) < COALESCE {
            match stream.next().now_or_never() {
                None => break,
                Some(Some(Ok(more))) => all
                    .get_or_insert_with(|| {
                        let mut b = BytesMut::with_capacity(COALESCE.min(8 * first.len()));
                        b.extend_from_slice(&first);
                        b
                    })
                    .extend_from_slice(&more),
                Some(end) => {
                    reading.stream = None;
                    reading.failed = end.and_then(Result::err);
                    break;
                }
            }
        }
        all.map_or(first, BytesMut::freeze)
    }
}

#[pymethods]
impl PyHttpBody {
    fn __aiter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __anext__(&self) -> PyResult<Coroutine> {
        let (inner, closing) = (self.inner.clone(), self.closing.clone());
        coroutine::call(
            move |_| Ok(Self::next_chunk(inner, closing)),
            |py, chunk| match chunk {
                Some(bytes) => PyBytes::new(py, &bytes).into_py_any(py),
                None => Err(PyStopAsyncIteration::new_err(())),
            },
        )
    }

    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let next = Self::next_chunk(self.inner.clone(), self.closing.clone());
        match bridge::block(py, next)? {
            Some(bytes) => Ok(PyBytes::new(py, &bytes)),
            None => Err(PyStopIteration::new_err(())),
        }
    }

    /// Stop reading and close the connection (a stream not read to its end is not recorded). A
    /// read in flight holds the stream: it is woken, drops it and ends the iteration.
    fn close(&self) {
        self.closing.closed.store(true, Ordering::Release);
        self.closing.wake.notify_waiters();
        if let Ok(mut reading) = self.inner.try_lock() {
            // Inside the runtime: a cassette's recorder, dropped with the stream, reads what has
            // already arrived (an SDK closes right after the last event, often before the end
            // of the body was polled) and records the answer if that completes it; if only the
            // end is missing, it awaits that on the runtime (see `replay::tee`).
            let handle = crate::runtime::handle();
            let _entered = handle.as_ref().map(tokio::runtime::Handle::enter);
            reading.stream = None;
        }
    }
}
