//! The one place where bytes leave the process.
//!
//! Providers describe a request as an [`HttpRequest`]; this module sends it with the process's
//! pooled reqwest client and hands back status, headers and a body (buffered, or a stream of
//! chunks for SSE). Record and replay plug in here, so they see every provider, retry and stream
//! without knowing about any of them.

use std::pin::Pin;
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
    crate::runtime::leave_caller_thread().await;
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
    let chunks = resp.bytes_stream();
    let body = futures_util::stream::unfold(Some(chunks), move |state| async move {
        let mut chunks = state?;
        match tokio::time::timeout(timeout, chunks.next()).await {
            Err(_) => Some((Err(timed_out(timeout)), None)),
            Ok(None) => None,
            Ok(Some(Ok(b))) => Some((Ok(b), Some(chunks))),
            Ok(Some(Err(e))) => Some((Err(transport_error(e)), None)),
        }
    });
    Ok(HttpResponse {
        status,
        headers,
        body: Body::Stream(Box::pin(body)),
    })
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
