//! The one place where bytes leave the process.
//!
//! Providers describe a request as a [`wire::HttpRequest`](crate::wire::HttpRequest); [`send`]
//! sends it with the process's pooled reqwest client (`pool.rs`, which also keeps a forked child
//! off its parent's connections) and hands back status, headers and a body (buffered, or a
//! stream of chunks for SSE). What a server may do to us is bounded here too: how far a request
//! is redirected (`redirect.rs`) and how many bytes an answer may take (`limits.rs`).
//!
//! Which way the arrows point: `transport -> replay -> wire`, and `transport -> wire`. Record
//! and replay plug in here, above the cassettes: [`send`] asks `replay::route` whether the
//! active cassette answers, and if not hands the real response to the recorder on its way back.
//! So the cassette code never sends anything and knows no socket (it speaks only the `wire`
//! types), and every provider, retry and stream is recorded without knowing about it. A
//! `mock://` URL (the `mock/<name>` provider) is answered in process by `crate::mock` instead of
//! the network, so `transport -> mock` too: the one arrow that lets every layer above treat the
//! scripted mock as a real provider (see `mock/inprocess.rs`). The
//! transport also points down at `runtime`, for the process id its pools are keyed by; the
//! runtime knows nothing of HTTP.

mod direct;
mod limits;
mod pool;
mod redirect;
mod reuse;

pub use crate::wire::{
    Settings, CONNECT_TIMEOUT, DEFAULT_MAX_EVENT_BYTES, DEFAULT_MAX_RESPONSE_BYTES,
};
pub use limits::EventLimit;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};

use crate::error::{ErrorKind, LlmError, Result};
use crate::replay::{self, Route};
use crate::wire::{Body, HttpRequest, HttpResponse};

/// Reading a body whole goes through the transport's bounded readers (`limits.rs`), so these
/// methods of a `wire` type are defined here; the bound is the request's `settings`.
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

/// Send one request. Runs on the shared runtime (callers go through `runtime::run`).
///
/// The active cassette (`crate::replay`) may answer it instead, or record what comes back.
pub async fn send(req: HttpRequest) -> Result<HttpResponse> {
    let recorder = match replay::route(&req).await? {
        Route::Replayed(resp) => return Ok(resp),
        Route::Network(recorder) => recorder,
    };
    // `mock/<name>` is answered in process, below the cassette so it records and replays too.
    let resp = if req.url.starts_with(crate::mock::SCHEME) {
        Box::pin(crate::mock::answer(req)).await?
    } else {
        send_network(req).await?
    };
    Ok(match recorder {
        Some(r) => r.watch(resp),
        None => resp,
    })
}

async fn send_network(req: HttpRequest) -> Result<HttpResponse> {
    let url = parsed(&req.url)?;
    // A sync caller sends plain requests over its own connections (`direct.rs`).
    // Unless reqwest may hold an idle connection to the origin and the thread holds none
    // (`reuse.rs`).
    // Each way is boxed where it starts: the layers above hold this future's place in their
    // state and copy it whole at each start, and the ways' own states are kilobytes.
    if let Some(to) = direct::target(&req, &url) {
        if !reuse::reqwest_may_hold(&url) || direct::has_idle(&to) {
            let sent = if req.stream && !req.settings.passthrough {
                Box::pin(direct::send_stream(&req, to)).await?
            } else {
                Box::pin(direct::send(&req, to)).await?
            };
            if let Some(resp) = sent {
                return Ok(resp);
            }
        }
    }
    Box::pin(send_reqwest(req, url)).await
}

/// Send `req` with the process's pooled reqwest client.
async fn send_reqwest(req: HttpRequest, url: reqwest::Url) -> Result<HttpResponse> {
    let settings = req.settings;
    reuse::reqwest_sends(&url);
    let client = pool::client(settings.connect_timeout, settings.passthrough)?;
    let timeout = req.timeout;
    let builder = client
        .request(req.method, url)
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
    // reqwest words a connect timeout as "operation timed out" (hyper's as "connect timeout"):
    // say which phase failed, so a timeout before any byte was sent reads as one.
    if e.is_connect() {
        text.insert_str(0, "could not connect: ");
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
