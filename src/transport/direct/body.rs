//! A streamed answer's body on a direct connection: its chunks as the connection brings them,
//! read by whoever polls the body (the stream's consumer, `client/chat_stream.rs`), and the
//! connection back in its thread's pool once the body has ended.
//!
//! The wait for each chunk is bounded by the request's timeout, counted from the first poll that
//! found no chunk, as `transport::IdleTimeout` counts it for reqwest's streams; the deadline is
//! one of the thread's own (`runtime/local.rs`), set again only when it passes early, so a
//! stream arms it about once.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::Stream;
use hyper::body::{Body as _, Incoming};

use super::{checkin, failed_at, Conn};
use crate::error::Result;
use crate::runtime::local::Deadline;
use crate::wire::HttpRequest;

pub(super) struct DirectBody {
    /// `None` once the body has failed or ended (the connection is then back in the pool, or
    /// closed).
    conn: Option<Conn>,
    body: Incoming,
    key: String,
    url: String,
    timeout: Duration,
    /// Since when the consumer has waited for the next chunk.
    waiting_since: Option<Instant>,
    deadline: Option<Deadline>,
    finished: bool,
}

impl DirectBody {
    pub(super) fn new(conn: Conn, body: Incoming, key: String, req: &HttpRequest) -> Self {
        DirectBody {
            conn: Some(conn),
            body,
            key,
            url: req.url.clone(),
            timeout: req.timeout,
            waiting_since: None,
            deadline: None,
            finished: false,
        }
    }

    /// Poll the connection and the body together: the body's next data, its end (`None`), or
    /// `Pending`.
    fn poll_data(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes>>> {
        loop {
            if let Some(conn) = self.conn.as_mut() {
                if let Some(d) = conn.driver.as_mut() {
                    // Its end (closed, or failed) reaches the body as hyper's error or the end.
                    if d.as_mut().poll(cx).is_ready() {
                        conn.driver = None;
                    }
                }
            }
            match Pin::new(&mut self.body).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) if !data.is_empty() => return Poll::Ready(Some(Ok(data))),
                    _ => continue, // trailers, or nothing
                },
                Poll::Ready(Some(Err(e))) => {
                    self.conn = None;
                    return Poll::Ready(Some(Err(failed_at(&self.url, &e))));
                }
                Poll::Ready(None) => {
                    self.put_back(cx);
                    return Poll::Ready(None);
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// The body has ended: the connection goes back to its thread's pool if it is open and
    /// ready for the next request (one more poll lets it take in the end of this one), and this
    /// is its thread (the pool and the epoll set that watches it are the thread's).
    fn put_back(&mut self, cx: &mut Context<'_>) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        if let Some(d) = conn.driver.as_mut() {
            if d.as_mut().poll(cx).is_ready() {
                conn.driver = None;
            }
        }
        if conn.driver.is_some() && conn.sender.is_ready() && conn.reg.is_home() {
            checkin(std::mem::take(&mut self.key), conn);
        }
    }

    /// Whether the wait for the next chunk has lasted the timeout; else the deadline is armed.
    fn timed_out(&mut self, cx: &mut Context<'_>) -> bool {
        let since = *self.waiting_since.get_or_insert_with(Instant::now);
        let at = since + self.timeout;
        loop {
            let deadline = self.deadline.get_or_insert_with(|| Deadline::new(at));
            if Pin::new(deadline).poll(cx).is_pending() {
                return false;
            }
            // Set for an earlier wait, which a chunk ended: set again for this one.
            self.deadline = None;
            if Instant::now() >= at {
                return true;
            }
        }
    }
}

impl Stream for DirectBody {
    type Item = Result<Bytes>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.finished {
            return Poll::Ready(None);
        }
        match this.poll_data(cx) {
            Poll::Ready(Some(Ok(data))) => {
                this.waiting_since = None;
                Poll::Ready(Some(Ok(data)))
            }
            Poll::Ready(other) => {
                this.finished = true;
                Poll::Ready(other)
            }
            Poll::Pending if this.timed_out(cx) => {
                this.finished = true;
                this.conn = None;
                Poll::Ready(Some(Err(crate::transport::timed_out(this.timeout))))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// A body dropped unfinished: a decoder that stopped at its last event (SSE's `[DONE]`) leaves
/// the body's end unread, though it is usually in the bytes read already. Taken in now when it
/// is, so the connection is kept; otherwise (a stream closed midway) the connection is closed
/// and the server sees the request end.
impl Drop for DirectBody {
    fn drop(&mut self) {
        let home = self.conn.as_ref().is_some_and(|c| c.reg.is_home());
        if self.finished || !home {
            return;
        }
        let mut cx = Context::from_waker(std::task::Waker::noop());
        // A few frames at most: a body cut off midway is not read to its end here.
        for _ in 0..4 {
            match self.poll_data(&mut cx) {
                Poll::Ready(Some(Ok(_))) => continue,
                _ => return,
            }
        }
    }
}
