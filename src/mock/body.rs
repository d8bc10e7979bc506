//! The response body: pieces sent with pauses in between, ending cleanly or by cutting the
//! connection, and a guard that notices when the client walks away first.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame};
use tokio::time::Sleep;

/// Time for hyper to flush what was sent before a deliberate cut: it drops unflushed bytes
/// when a body fails.
const FLUSH_PAUSE: Duration = Duration::from_millis(30);

/// Counts a disconnect when dropped before [`Guard::finish`]: hyper drops the handler future
/// or the body when the client closes the connection early.
pub(crate) struct Guard {
    disconnects: Arc<AtomicU64>,
    armed: bool,
}

impl Guard {
    pub(crate) fn new(disconnects: Arc<AtomicU64>) -> Self {
        Self {
            disconnects,
            armed: true,
        }
    }

    /// The response went out in full (or was cut on purpose): not a disconnect.
    pub(crate) fn finish(mut self) {
        self.armed = false;
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if self.armed {
            self.disconnects.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A deliberate failure; hyper answers it by closing the connection.
#[derive(Debug)]
pub(crate) struct Cut;

impl fmt::Display for Cut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("mock server cut the connection on purpose")
    }
}

impl std::error::Error for Cut {}

/// How a body ends once its pieces are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    Complete,
    Cut,
}

pub(crate) struct MockBody {
    pieces: VecDeque<Bytes>,
    gap: Duration,
    end: End,
    sleep: Option<Pin<Box<Sleep>>>,
    flushed: bool,
    guard: Option<Guard>,
}

impl MockBody {
    pub(crate) fn new(pieces: Vec<Bytes>, gap: Duration, end: End, guard: Guard) -> Self {
        Self {
            pieces: pieces.into(),
            gap,
            end,
            sleep: None,
            flushed: false,
            guard: Some(guard),
        }
    }

    fn finish(&mut self) {
        if let Some(guard) = self.guard.take() {
            guard.finish();
        }
    }

    fn pause(&mut self, d: Duration) {
        if !d.is_zero() {
            self.sleep = Some(Box::pin(tokio::time::sleep(d)));
        }
    }
}

impl Body for MockBody {
    type Data = Bytes;
    type Error = Cut;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Cut>>> {
        let this = self.get_mut();
        loop {
            if let Some(sleep) = this.sleep.as_mut() {
                ready!(sleep.as_mut().poll(cx));
                this.sleep = None;
            }
            if let Some(piece) = this.pieces.pop_front() {
                if this.pieces.is_empty() && this.end == End::Complete {
                    // hyper may stop polling once a Content-Length is satisfied, so the last
                    // piece handed over is the finish line.
                    this.finish();
                } else {
                    this.pause(this.gap);
                }
                return Poll::Ready(Some(Ok(Frame::data(piece))));
            }
            match this.end {
                End::Complete => {
                    this.finish();
                    return Poll::Ready(None);
                }
                End::Cut if !this.flushed => {
                    this.flushed = true;
                    this.pause(FLUSH_PAUSE);
                }
                End::Cut => {
                    this.finish();
                    return Poll::Ready(Some(Err(Cut)));
                }
            }
        }
    }
}
