//! Recording a response as it passes through: a buffered body at once, a stream chunk by chunk.
//! An interaction is kept only once its stream completed, so a cancelled or failed call never
//! leaves half an answer in a cassette.

use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use bytes::Bytes;
use futures_util::Stream;
use http::HeaderMap;

use super::devlog;
use super::interaction::{Chunk, Interaction, Request, Response};
use super::scrub::Scrubber;
use super::session::Session;
use crate::error::Result;
use crate::wire::{Body, ByteStream, HttpRequest, HttpResponse};

/// Captures one request on its way out and its response on the way back.
pub(crate) struct Recorder {
    session: Option<Arc<Session>>,
    devlog: Option<PathBuf>,
    scrubber: Scrubber,
    started: Instant,
    request: Request,
    secrets: Vec<String>,
    /// The most bytes a compressed answer is unpacked to for its recording.
    max_body: usize,
}

impl Recorder {
    pub(crate) fn new(
        req: &HttpRequest,
        session: Option<Arc<Session>>,
        devlog: Option<PathBuf>,
    ) -> Self {
        let scrubber = session
            .as_ref()
            .map(|s| s.options().scrubber.clone())
            .unwrap_or_default();
        // Secret header values are dropped here, before anything else holds them.
        let (headers, secrets) = scrubber.headers(&req.headers);
        Self {
            session,
            devlog,
            scrubber,
            started: Instant::now(),
            request: Request {
                method: req.method.as_str().to_string(),
                uri: req.url.clone(),
                headers,
                body: req.body.clone(),
            },
            secrets,
            max_body: req.settings.max_response_bytes,
        }
    }

    /// The same response, recorded when complete.
    pub(crate) fn watch(self, resp: HttpResponse) -> HttpResponse {
        let latency = self.started.elapsed();
        let HttpResponse {
            status,
            headers,
            body,
        } = resp;
        let body = match body {
            Body::Full(bytes) => {
                self.finish(status, &headers, bytes.clone(), latency, None);
                Body::Full(bytes)
            }
            Body::Stream(inner) => Body::Stream(Box::pin(Tee {
                inner,
                recording: Some((self, status, headers.clone(), latency)),
                body: Vec::new(),
                chunks: Vec::new(),
            })),
        };
        HttpResponse {
            status,
            headers,
            body,
        }
    }

    fn finish(
        self,
        status: u16,
        headers: &HeaderMap,
        body: Bytes,
        latency: std::time::Duration,
        mut chunks: Option<Vec<Chunk>>,
    ) {
        // A forwarded answer arrives as the server compressed it. The cassette keeps its text,
        // so that it can be scrubbed, read and replayed to any client; its chunks' sizes were
        // the compressed ones, so the stream replays as one chunk. An encoding not decoded
        // here (see wire::encoding) is kept as it came, header and all (replay hands both back).
        let mut body = body;
        let mut decoded = false;
        if let Some(plain) = crate::wire::encoding::of(headers)
            .and_then(|e| crate::wire::encoding::decode(e, &body, self.max_body))
        {
            (body, decoded, chunks) = (plain, true, None);
        }
        let headers = headers
            .iter()
            .filter(|(k, _)| {
                !decoded
                    || (*k != http::header::CONTENT_ENCODING && *k != http::header::CONTENT_LENGTH)
            })
            .map(|(k, v)| {
                let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
                (k.as_str().to_string(), v)
            })
            .collect();
        let mut interaction = Interaction {
            request: self.request,
            response: Response {
                status,
                headers,
                body,
                latency: Some(latency),
                chunks,
            },
        };
        self.scrubber.interaction(&mut interaction, &self.secrets);
        if let Some(dir) = &self.devlog {
            if let Err(e) = devlog::write(dir, &interaction) {
                tracing::warn!(
                    "LLMRAIL_RECORD_RESPONSES: cannot write to {}: {e}",
                    dir.display()
                );
            }
        }
        if let Some(session) = &self.session {
            session.record(interaction);
        }
    }
}

struct Tee {
    inner: ByteStream,
    recording: Option<(Recorder, u16, HeaderMap, std::time::Duration)>,
    body: Vec<u8>,
    chunks: Vec<Chunk>,
}

impl Tee {
    fn see(&mut self, item: &Poll<Option<Result<Bytes>>>) {
        match item {
            Poll::Ready(Some(Ok(bytes))) => {
                if let Some((rec, ..)) = &self.recording {
                    let at = rec.started.elapsed();
                    self.chunks.push(Chunk {
                        len: bytes.len(),
                        at,
                    });
                    self.body.extend_from_slice(bytes);
                }
            }
            // A failed stream is not an answer worth replaying.
            Poll::Ready(Some(Err(_))) => self.recording = None,
            Poll::Ready(None) => {
                if let Some((rec, status, headers, latency)) = self.recording.take() {
                    let body = Bytes::from(std::mem::take(&mut self.body));
                    let chunks = std::mem::take(&mut self.chunks);
                    rec.finish(status, &headers, body, latency, Some(chunks));
                }
            }
            Poll::Pending => {}
        }
    }
}

impl Stream for Tee {
    type Item = Result<Bytes>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let item = this.inner.as_mut().poll_next(cx);
        this.see(&item);
        item
    }
}

impl Drop for Tee {
    /// A consumer that stops right after the last event (say, on the "done" event) may drop the
    /// stream before its end was polled. Whatever has already arrived is read without waiting:
    /// if that reaches the end, the stream was complete and is recorded; otherwise it is not.
    fn drop(&mut self) {
        // Polling may create timers, which need the runtime (always there on its workers).
        if self.recording.is_none() || tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            let item = self.inner.as_mut().poll_next(&mut cx);
            let more = matches!(item, Poll::Ready(Some(Ok(_))));
            self.see(&item);
            if !more {
                return;
            }
        }
    }
}
