//! Streamed calls: the [`ChatStream`] the caller reads events from, the task that runs the call
//! through the pipeline, and one attempt's pump from the network to the caller's channel.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures_util::StreamExt;
use sse_stream::SseByteStream;
use tokio::sync::mpsc;

use super::pipeline::Pipeline;
use super::{cap_timeout, Inner};
use crate::cache::Tracker;
use crate::error::{ErrorKind, LlmError, Result, BODY_EXCERPT_CHARS};
use crate::model::{ChatRequest, StreamEvent};
use crate::providers;
use crate::resilience::{Attempt, CallOptions, CallReport};
use crate::runtime::{self, AbortOnDrop};
use crate::transport::{self, Body, EventLimit};

impl Inner {
    /// One streamed attempt: forward decoded events until the end, the consumer going away
    /// (then the connection is dropped) or the call's deadline (`left` from now). The `Done`
    /// event is returned, not sent: the pipeline completes it with the call's report first.
    /// `None` means the consumer went away.
    pub(super) async fn pump(
        &self,
        req: &ChatRequest,
        tx: &mpsc::Sender<Result<StreamEvent>>,
        left: Option<Duration>,
    ) -> Attempt<Option<StreamEvent>> {
        let mut progress = Progress::default();
        let until = left.map(|l| tokio::time::Instant::now() + l);
        let run = self.pump_once(req, tx, left, &mut progress);
        let result = match until {
            None => run.await,
            Some(until) => match tokio::time::timeout_at(until, run).await {
                Ok(r) => r,
                Err(_) => Err(LlmError::new(
                    ErrorKind::Timeout,
                    "the stream did not finish before the call's deadline",
                )),
            },
        };
        Attempt {
            result: result.map_err(|e| self.annotate(e)),
            quota: progress.quota,
            used_tokens: progress.used_tokens,
            started: progress.started,
        }
    }

    async fn pump_once(
        &self,
        req: &ChatRequest,
        tx: &mpsc::Sender<Result<StreamEvent>>,
        left: Option<Duration>,
        progress: &mut Progress,
    ) -> Result<Option<StreamEvent>> {
        let mut http = self.provider.build_chat(&self.endpoint, req, true)?;
        cap_timeout(&mut http.timeout, left);
        http.settings = self.settings;
        let resp = transport::send(http).await?;
        progress.quota = providers::quota::quota(&resp.headers);
        let request_id = self.provider.request_id(&resp.headers);
        if resp.status >= 400 {
            let (status, headers) = (resp.status, resp.headers.clone());
            let body = resp.bytes(self.settings.max_response_bytes).await?;
            return Err(self.provider.parse_error(status, &headers, &body));
        }
        if let Some(content_type) = not_event_stream(&resp.headers) {
            let status = resp.status;
            let head = resp.head(BODY_EXCERPT_CHARS).await?;
            return Err(LlmError::invalid_response(format!(
                "asked for a stream of server-sent events, the server answered {status} with \
                 content-type {content_type:?}; check that base_url points at an API that \
                 streams (the body's start is in .body)"
            ))
            .with_body(&head));
        }
        let chunks = match resp.body {
            Body::Stream(s) => s,
            Body::Full(b) => Box::pin(futures_util::stream::once(async move { Ok(b) })),
        };
        // Bounded before the parser, which holds an unfinished event (and line) whole.
        let chunks = EventLimit::new(chunks, self.settings.max_event_bytes);
        let mut events = SseByteStream::new(chunks);
        let mut decoder = self.provider.stream_decoder();
        let mut out = Vec::new();
        let mut done = None;
        loop {
            // Events first: while they keep coming, the consumer's going away is seen by `send`,
            // and `closed` (which registers a waiter) is only polled when the network is idle.
            let next = tokio::select! {
                biased;
                next = events.next() => next,
                _ = tx.closed() => return Ok(None),
            };
            let finished = providers::sse::feed(&mut *decoder, next, &mut out)?;
            for mut event in out.drain(..) {
                if let StreamEvent::Done {
                    request_id: rid,
                    model,
                    usage,
                    ..
                } = &mut event
                {
                    progress.used_tokens = Some(usage.total());
                    rid.clone_from(&request_id);
                    if model.is_empty() {
                        model.clone_from(&self.endpoint.model);
                    }
                    done = Some(event);
                    continue;
                }
                progress.started = true;
                if tx.send(Ok(event)).await.is_err() {
                    return Ok(None);
                }
            }
            if finished {
                return Ok(done);
            }
        }
    }
}

/// What a streamed attempt got to before it ended.
#[derive(Default)]
struct Progress {
    quota: Option<providers::quota::Quota>,
    used_tokens: Option<u64>,
    /// An event reached the caller, so the stream can no longer be retried.
    started: bool,
}

/// The content type of an answer that is not an event stream, if it says so.
///
/// A missing content type is let through: some local servers send SSE without one, and a body
/// that is not SSE then fails as a truncated stream.
fn not_event_stream(headers: &http::HeaderMap) -> Option<String> {
    let value = headers.get(http::header::CONTENT_TYPE)?;
    let text = String::from_utf8_lossy(value.as_bytes());
    let essence = text.split(';').next().unwrap_or("").trim();
    (!essence.eq_ignore_ascii_case("text/event-stream")).then(|| text.chars().take(100).collect())
}

/// A streamed answer being received. Dropping it cancels the request.
pub struct ChatStream {
    rx: mpsc::Receiver<Result<StreamEvent>>,
    _task: AbortOnDrop<()>,
    cache: Arc<Tracker>,
    /// Set by the stream's task just before it sends `Done`.
    report: Arc<OnceLock<CallReport>>,
}

/// Stream events buffered between the network task and a slow consumer.
const STREAM_BUFFER: usize = 64;

impl ChatStream {
    /// Run the streamed call on a task of its own: events go to the channel as they come; the
    /// `Done` event goes last, after the call's report is stored.
    pub(super) fn start(
        pipe: Arc<Pipeline>,
        req: ChatRequest,
        opts: CallOptions,
        cache: Arc<Tracker>,
    ) -> Result<Self> {
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        let report = Arc::new(OnceLock::new());
        let reported = report.clone();
        let task = runtime::handle()?.spawn(async move {
            match pipe.stream(req, opts, &tx).await {
                Ok((Some(done), call)) => {
                    let _ = reported.set(call);
                    let _ = tx.send(Ok(done)).await;
                }
                Ok((None, _)) => {}
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                }
            }
            Ok(())
        });
        Ok(ChatStream {
            rx,
            _task: AbortOnDrop(task),
            cache,
            report,
        })
    }

    /// How the call went (attempts, waits, which fallback answered), once `Done` has arrived.
    pub fn report(&self) -> Option<&CallReport> {
        self.report.get()
    }

    /// The next event; `None` after `Done` or after an error has been returned.
    pub async fn next(&mut self) -> Option<Result<StreamEvent>> {
        let event = self.rx.recv().await;
        if let Some(Ok(StreamEvent::Done { usage, .. })) = &event {
            self.cache.record(usage);
        }
        event
    }

    /// The next event if one is already buffered, without waiting: `None` means wait with
    /// [`ChatStream::next`]; `Some(None)` means the stream has ended.
    pub fn try_next(&mut self) -> Option<Option<Result<StreamEvent>>> {
        match self.rx.try_recv() {
            Ok(event) => {
                if let Ok(StreamEvent::Done { usage, .. }) = &event {
                    self.cache.record(usage);
                }
                Some(Some(event))
            }
            Err(mpsc::error::TryRecvError::Empty) => None,
            Err(mpsc::error::TryRecvError::Disconnected) => Some(None),
        }
    }
}
