//! The one place where bytes leave the process.
//!
//! Providers describe a request as an [`HttpRequest`]; this module sends it with the process's
//! pooled reqwest client and hands back status, headers and a body (buffered, or a stream of
//! chunks for SSE). Record and replay plug in here, so they see every provider, retry and stream
//! without knowing about any of them. What a server may do to us is bounded here too: how far a
//! request is redirected (`redirect.rs`) and how many bytes an answer may take (`limits.rs`).

mod limits;
mod redirect;

pub use limits::{EventLimit, DEFAULT_MAX_EVENT_BYTES, DEFAULT_MAX_RESPONSE_BYTES};

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use http::{HeaderMap, Method};

use crate::error::{ErrorKind, LlmError, Result};

/// How long to wait for a TCP/TLS connection before giving up, unless the client says otherwise.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A client's connect timeout and size limits, carried by every request it sends (the client
/// sets them on the request its provider built; providers leave the defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    pub connect_timeout: Duration,
    /// The most bytes a buffered answer (or an error body) may take once decompressed.
    pub max_response_bytes: usize,
    /// The most bytes one server-sent event (or one of its lines) may take.
    pub max_event_bytes: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            connect_timeout: CONNECT_TIMEOUT,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            max_event_bytes: DEFAULT_MAX_EVENT_BYTES,
        }
    }
}

#[derive(Debug, Clone)]
pub struct HttpRequest {
    pub method: Method,
    pub url: String,
    /// Secret headers are marked sensitive (`HeaderValue::set_sensitive`) by the provider, so
    /// every later consumer (logs, cassettes) knows to scrub them.
    pub headers: HeaderMap,
    pub body: Bytes,
    /// Deliver the body as a stream of chunks instead of buffering it.
    pub stream: bool,
    /// Whole request when buffered; time to headers and between chunks when streaming.
    pub timeout: Duration,
    /// The sending client's connect timeout and size limits.
    pub settings: Settings,
}

pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes>> + Send>>;

pub enum Body {
    Full(Bytes),
    Stream(ByteStream),
}

pub struct HttpResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Body,
}

impl HttpResponse {
    /// The whole body (collecting a stream if need be, up to `max` bytes: the request's
    /// `settings.max_response_bytes`).
    pub async fn bytes(self, max: usize) -> Result<Bytes> {
        match self.body {
            Body::Full(b) => Ok(b),
            Body::Stream(s) => limits::collect(s, max).await,
        }
    }

    /// At most the first `max` bytes of the body, for an error's excerpt; the rest is not read.
    pub async fn head(self, max: usize) -> Result<Bytes> {
        match self.body {
            Body::Full(b) => Ok(b.slice(..b.len().min(max))),
            Body::Stream(s) => limits::head(s, max).await,
        }
    }
}

pub(crate) fn build_http_client(connect_timeout: Duration) -> Result<reqwest::Client> {
    // ring builds faster than aws-lc and needs no cmake; installing twice is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .user_agent(concat!("llmrail/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(connect_timeout)
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        .redirect(redirect::policy())
        .build()
        .map_err(|e| {
            LlmError::new(
                ErrorKind::Internal,
                format!("cannot build the HTTP client: {e}"),
            )
        })
}

/// Send one request. Runs on the shared runtime (callers go through `runtime::run`).
///
/// The active cassette (`crate::replay`) may answer it instead, or record what comes back.
pub async fn send(req: HttpRequest) -> Result<HttpResponse> {
    let recorder = match crate::replay::route(&req).await? {
        crate::replay::Route::Replayed(resp) => return Ok(resp),
        crate::replay::Route::Network(recorder) => recorder,
    };
    let resp = send_network(req).await?;
    Ok(match recorder {
        Some(r) => r.watch(resp),
        None => resp,
    })
}

async fn send_network(req: HttpRequest) -> Result<HttpResponse> {
    let settings = req.settings;
    let client = crate::runtime::http_client(settings.connect_timeout)?;
    let timeout = req.timeout;
    let builder = client
        .request(req.method, parsed(&req.url)?)
        .headers(req.headers)
        .body(req.body);
    if !req.stream {
        let resp = builder
            .timeout(timeout)
            .send()
            .await
            .map_err(transport_error)?;
        redirect::refuse_stopped(&resp)?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let max = settings.max_response_bytes;
        if resp.content_length().is_some_and(|n| n > max as u64) {
            return Err(limits::too_large(max));
        }
        // Counted as the decompressed chunks arrive (`resp.bytes()` would hold a gzip bomb
        // whole before anyone could look at its size).
        let chunks = resp.bytes_stream().map(|c| c.map_err(transport_error));
        let body = limits::collect(chunks, max).await?;
        return Ok(HttpResponse {
            status,
            headers,
            body: Body::Full(body),
        });
    }
    let resp = tokio::time::timeout(timeout, builder.send())
        .await
        .map_err(|_| timed_out(timeout))?
        .map_err(transport_error)?;
    redirect::refuse_stopped(&resp)?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    Ok(HttpResponse {
        status,
        headers,
        body: Body::Stream(Box::pin(IdleTimeout::new(resp.bytes_stream(), timeout))),
    })
}

/// A streamed body that fails when the next chunk takes longer than `timeout` to come.
///
/// One timer serves the whole stream and is re-armed only when it fires (to `timeout` after
/// the wait began): a stream of hundreds of small chunks would otherwise add and remove a
/// timer entry for every chunk.
struct IdleTimeout<S> {
    chunks: S,
    timeout: Duration,
    /// When the current wait for a chunk began; `None` right after a chunk was handed out.
    waiting_since: Option<tokio::time::Instant>,
    timer: Pin<Box<tokio::time::Sleep>>,
    finished: bool,
}

impl<S> IdleTimeout<S> {
    fn new(chunks: S, timeout: Duration) -> Self {
        Self {
            chunks,
            timeout,
            waiting_since: None,
            timer: Box::pin(tokio::time::sleep(timeout)),
            finished: false,
        }
    }
}

impl<S> Stream for IdleTimeout<S>
where
    S: Stream<Item = reqwest::Result<Bytes>> + Unpin,
{
    type Item = Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.finished {
            return Poll::Ready(None);
        }
        let since = *this
            .waiting_since
            .get_or_insert_with(tokio::time::Instant::now);
        match this.chunks.poll_next_unpin(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                this.waiting_since = None;
                return Poll::Ready(Some(Ok(chunk)));
            }
            Poll::Ready(other) => {
                this.finished = true;
                return Poll::Ready(other.map(|r| r.map_err(transport_error)));
            }
            Poll::Pending => {}
        }
        while this.timer.as_mut().poll(cx).is_ready() {
            let deadline = since + this.timeout;
            if tokio::time::Instant::now() >= deadline {
                this.finished = true;
                return Poll::Ready(Some(Err(timed_out(this.timeout))));
            }
            this.timer.as_mut().reset(deadline);
        }
        Poll::Pending
    }
}

thread_local! {
    /// The last URL parsed on this thread. A client sends to the same few URLs over and over,
    /// and parsing one (IDNA host processing included) costs more than the rest of building
    /// the request.
    static LAST_URL: std::cell::RefCell<Option<(String, reqwest::Url)>> =
        const { std::cell::RefCell::new(None) };
}

fn parsed(url: &str) -> Result<reqwest::Url> {
    LAST_URL.with(|last| {
        let mut last = last.borrow_mut();
        if let Some((_, parsed)) = last.as_ref().filter(|(text, _)| text == url) {
            return Ok(parsed.clone());
        }
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| LlmError::config(format!("invalid request URL {url:?}: {e}")))?;
        *last = Some((url.to_string(), parsed.clone()));
        Ok(parsed)
    })
}

fn timed_out(after: Duration) -> LlmError {
    LlmError::new(
        ErrorKind::Timeout,
        format!("no answer within {:.1} s", after.as_secs_f64()),
    )
}

/// reqwest's error, classified. Its text may hold the URL but never headers, so no key leaks.
fn transport_error(e: reqwest::Error) -> LlmError {
    let mut text = e.to_string();
    let mut cut_off = false;
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        // A body that stops mid-way surfaces as a "decode" error when it passes through the
        // decompression layer; underneath it is the connection that failed.
        cut_off |= s.is::<hyper::Error>() || s.is::<std::io::Error>();
        source = s.source();
    }
    let kind = if e.is_timeout() {
        ErrorKind::Timeout
    } else if e.is_redirect() || (e.is_decode() && !cut_off) {
        ErrorKind::InvalidResponse
    } else {
        ErrorKind::Connection
    };
    LlmError::new(kind, text)
}
