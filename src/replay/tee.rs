//! Recording a response as it passes through: a buffered body at once, a stream chunk by chunk.
//! An interaction is kept only once its stream completed, so a cancelled or failed call never
//! leaves half an answer in a cassette. A stream let go of at its last event, before its end
//! was read, is read to that end on the runtime; its cassette waits for that (`Session::draining`).

use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
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
                recording: Some(Pending {
                    rec: self,
                    status,
                    headers: headers.clone(),
                    latency,
                    body: Vec::new(),
                    chunks: Vec::new(),
                }),
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
        latency: Duration,
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

/// A stream's recording while it passes: what has arrived so far, kept until its end.
struct Pending {
    rec: Recorder,
    status: u16,
    headers: HeaderMap,
    latency: Duration,
    body: Vec<u8>,
    chunks: Vec<Chunk>,
}

impl Pending {
    fn push(&mut self, bytes: &Bytes) {
        self.chunks.push(Chunk {
            len: bytes.len(),
            at: self.rec.started.elapsed(),
        });
        self.body.extend_from_slice(bytes);
    }

    fn finish(self) {
        let body = Bytes::from(self.body);
        self.rec.finish(
            self.status,
            &self.headers,
            body,
            self.latency,
            Some(self.chunks),
        );
    }

    /// The rest of a stream whose consumer let go before its end, read on the runtime for a
    /// little while (see [`DRAIN_LIMIT`]): recorded if only its end follows, dropped (closing
    /// the connection) as soon as more of the answer arrives.
    fn drain_later(self, inner: ByteStream) {
        // The process's runtime, not whichever the drop happened in: a caller may block its
        // own thread waiting for this recording (`Session::recorded`).
        let Ok(runtime) = crate::runtime::handle() else {
            return;
        };
        let draining = self.rec.session.as_ref().map(|s| s.draining(DRAIN_LIMIT));
        runtime.spawn(async move {
            let _draining = draining;
            let _ = tokio::time::timeout(DRAIN_LIMIT, self.drain(inner)).await;
        });
    }

    async fn drain(mut self, mut inner: ByteStream) {
        let mut more = 0usize;
        while let Some(item) = inner.next().await {
            let Ok(bytes) = item else { return };
            more = more.saturating_add(bytes.len());
            if more > DRAIN_TRAILER_BYTES {
                return;
            }
            self.push(&bytes);
        }
        self.finish();
    }
}

/// How long a stream dropped before its end is still awaited for that end. A consumer that
/// stops at the answer's last event (the `openai` SDK closes the response as it reads
/// `data: [DONE]`) often drops the stream before the body's terminating chunk was read: hyper
/// hands the last data on before it decodes the end, and under load the two are apart long
/// enough to lose the recording (CI recorded 2 interactions of 3). A consumer that really gave
/// up part-way keeps the connection open this long only while the server sends nothing.
pub(crate) const DRAIN_LIMIT: Duration = Duration::from_secs(2);

/// What may still come after a drop for the stream to count as having been at its end: room for
/// a compressed stream's trailer (gzip's is 8 bytes after an empty final block) or a stray
/// blank line, but less than any event (OpenAI's smallest chunk event is ~150 bytes), so that
/// a consumer that stopped part-way is not recorded and its connection closes at the next event.
const DRAIN_TRAILER_BYTES: usize = 64;

struct Tee {
    inner: ByteStream,
    /// `None` once recorded, or once it can no longer be (a failed stream).
    recording: Option<Pending>,
}

impl Stream for Tee {
    type Item = Result<Bytes>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let item = this.inner.as_mut().poll_next(cx);
        match &item {
            Poll::Ready(Some(Ok(bytes))) => {
                if let Some(pending) = &mut this.recording {
                    pending.push(bytes);
                }
            }
            // A failed stream is not an answer worth replaying.
            Poll::Ready(Some(Err(_))) => this.recording = None,
            Poll::Ready(None) => {
                if let Some(pending) = this.recording.take() {
                    pending.finish();
                }
            }
            Poll::Pending => {}
        }
        item
    }
}

impl Drop for Tee {
    /// A consumer that stops right after the last event (say, on the "done" event) may drop the
    /// stream before its end was polled. Whatever has already arrived is read at once: if that
    /// reaches the end, the stream was complete and is recorded now; if not, the rest is
    /// awaited on the runtime, briefly (`Pending::drain_later`).
    fn drop(&mut self) {
        let Some(mut pending) = self.recording.take() else {
            return;
        };
        // Polling may create timers, which need the runtime (always there on its workers).
        if tokio::runtime::Handle::try_current().is_ok() {
            let mut cx = Context::from_waker(Waker::noop());
            loop {
                match self.inner.as_mut().poll_next(&mut cx) {
                    Poll::Ready(Some(Ok(bytes))) => pending.push(&bytes),
                    Poll::Ready(Some(Err(_))) => return,
                    Poll::Ready(None) => return pending.finish(),
                    Poll::Pending => break,
                }
            }
        }
        let inner = std::mem::replace(&mut self.inner, Box::pin(futures_util::stream::empty()));
        pending.drain_later(inner);
    }
}

#[cfg(test)]
mod tests;
