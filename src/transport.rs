//! The one place where bytes leave the process.
//!
//! Providers describe a request as an [`HttpRequest`]; this module sends it with the process's
//! pooled reqwest client and hands back status, headers and a body (buffered, or a stream of
//! chunks for SSE). Record and replay plug in here, so they see every provider, retry and stream
//! without knowing about any of them.

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

tokio::task_local! {
    /// A client's own connect timeout for the requests sent inside [`with_connect_timeout`].
    /// Carried beside the request rather than in it, so providers (which build requests) stay
    /// unaware of connection settings.
    static CONNECT: Duration;
}

/// Run `fut` with every request it sends connecting within `timeout`.
pub async fn with_connect_timeout<F: std::future::Future>(timeout: Duration, fut: F) -> F::Output {
    CONNECT.scope(timeout, fut).await
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
    /// The whole body (collecting a stream if need be).
    pub async fn bytes(self) -> Result<Bytes> {
        match self.body {
            Body::Full(b) => Ok(b),
            Body::Stream(mut s) => {
                let mut buf = Vec::new();
                while let Some(chunk) = s.next().await {
                    buf.extend_from_slice(&chunk?);
                }
                Ok(Bytes::from(buf))
            }
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
    let connect = CONNECT.try_with(|d| *d).unwrap_or(CONNECT_TIMEOUT);
    let client = crate::runtime::http_client(connect)?;
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
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.map_err(transport_error)?;
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
    } else if e.is_decode() && !cut_off {
        ErrorKind::InvalidResponse
    } else {
        ErrorKind::Connection
    };
    LlmError::new(kind, text)
}
