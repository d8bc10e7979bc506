//! How many bytes a server's answer may make us hold.
//!
//! A buffered body is counted as its decompressed chunks arrive, so a 4 MB gzip body that
//! inflates to 4 GiB stops at the limit instead of growing the process until it aborts. A stream
//! is read event by event and never held whole, so what is bounded there is one event (and so
//! one line): the SSE parser buffers an unfinished event, and a line that never ends would
//! otherwise grow without end.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};

use crate::error::{LlmError, Result};

pub(crate) fn too_large(max: usize) -> LlmError {
    LlmError::invalid_response(format!(
        "the response body is larger than max_response_bytes ({max} bytes once decompressed), \
         so reading stopped there; if answers this large are expected, raise \
         Client(max_response_bytes=...)"
    ))
}

fn event_too_large(max: usize) -> LlmError {
    LlmError::invalid_response(format!(
        "a server-sent event is larger than max_event_bytes ({max} bytes), so reading stopped \
         there; if events this large are expected, raise Client(max_event_bytes=...)"
    ))
}

/// The whole body, failing as soon as it passes `max` bytes.
pub(crate) async fn collect(
    mut chunks: impl Stream<Item = Result<Bytes>> + Unpin,
    max: usize,
) -> Result<Bytes> {
    // Kept as received and joined once at the end: a growing buffer would, at each doubling,
    // hold the old and the new copy (1.5x to 2x the limit at its peak before failing).
    let mut parts = Vec::new();
    let mut total = 0usize;
    while let Some(chunk) = chunks.next().await.transpose()? {
        total = total.saturating_add(chunk.len());
        if total > max {
            return Err(too_large(max));
        }
        parts.push(chunk);
    }
    // Most bodies come in one chunk: hand it on without copying.
    if parts.len() == 1 {
        return Ok(parts.swap_remove(0));
    }
    let mut buf = BytesMut::with_capacity(total);
    for part in parts {
        buf.extend_from_slice(&part);
    }
    Ok(buf.freeze())
}

/// The first `max` bytes of the body (fewer if it is shorter); the rest is left unread.
pub(crate) async fn head(
    mut chunks: impl Stream<Item = Result<Bytes>> + Unpin,
    max: usize,
) -> Result<Bytes> {
    let mut buf = BytesMut::new();
    while buf.len() < max {
        let Some(chunk) = chunks.next().await.transpose()? else {
            break;
        };
        let take = chunk.len().min(max - buf.len());
        buf.extend_from_slice(&chunk[..take]);
    }
    Ok(buf.freeze())
}

/// A byte stream of server-sent events that fails once one event passes `max` bytes.
///
/// It follows the SSE framing (lines end in CR, LF or CRLF; a blank line ends an event) just
/// enough to know where events end, counting the bytes of the lines since the last one.
pub struct EventLimit<S> {
    chunks: S,
    max: usize,
    /// Line content (terminators not counted) since the last blank line.
    event_bytes: usize,
    /// The last byte seen ended a line (true at the start: a leading blank line ends nothing).
    at_line_start: bool,
    /// The last byte seen was a CR, so an LF right after it is the rest of the same CRLF.
    after_cr: bool,
    failed: bool,
}

impl<S> EventLimit<S> {
    pub fn new(chunks: S, max: usize) -> Self {
        Self {
            chunks,
            max,
            event_bytes: 0,
            at_line_start: true,
            after_cr: false,
            failed: false,
        }
    }

    /// Count `chunk` into the current event; `false` once an event is over the limit.
    fn take_in(&mut self, chunk: &[u8]) -> bool {
        let mut pos = 0;
        for end in memchr::memchr2_iter(b'\n', b'\r', chunk) {
            if !self.content(end - pos) {
                return false;
            }
            let lf_of_crlf = chunk[end] == b'\n' && self.after_cr;
            self.after_cr = chunk[end] == b'\r';
            pos = end + 1;
            if lf_of_crlf {
                continue;
            }
            if self.at_line_start {
                self.event_bytes = 0;
            }
            self.at_line_start = true;
        }
        self.content(chunk.len() - pos)
    }

    /// Count `len` bytes of line content; `false` if the event is now over the limit.
    fn content(&mut self, len: usize) -> bool {
        if len > 0 {
            self.event_bytes = self.event_bytes.saturating_add(len);
            self.at_line_start = false;
            self.after_cr = false;
        }
        self.event_bytes <= self.max
    }
}

impl<S> Stream for EventLimit<S>
where
    S: Stream<Item = Result<Bytes>> + Unpin,
{
    type Item = Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.failed {
            return Poll::Ready(None);
        }
        match this.chunks.poll_next_unpin(cx) {
            Poll::Ready(Some(Ok(chunk))) if !this.take_in(&chunk) => {
                this.failed = true;
                Poll::Ready(Some(Err(event_too_large(this.max))))
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn counted(max: usize, chunks: &[&str]) -> bool {
        let mut limit = EventLimit::new(futures_util::stream::empty::<Result<Bytes>>(), max);
        chunks.iter().all(|c| limit.take_in(c.as_bytes()))
    }

    #[test]
    fn events_are_counted_one_at_a_time_whatever_the_line_endings() {
        for sep in ["\n", "\r\n", "\r"] {
            let event = format!("data: 12345{sep}{sep}");
            assert!(counted(11, &[&event.repeat(1000)]), "{sep:?}");
            // Split between CR and LF, the CRLF still ends one line, not two.
            assert!(counted(
                11,
                &["data: 12345\r", "\n", "\r", "\ndata: 12345\r\n\r\n"]
            ));
        }
    }

    #[test]
    fn an_event_over_the_limit_fails_even_split_across_lines_and_chunks() {
        assert!(!counted(11, &["data: 123456\n\n"]));
        assert!(!counted(11, &["data: 1\n", "data: 2\n\n"]));
        assert!(!counted(11, &["data: 12", "3456"]));
        // CR LF is one terminator, so "\r\n" after a line is not a blank line.
        assert!(!counted(11, &["data: 1\r\n", "data: 2\r\n\r\n"]));
    }

    #[tokio::test]
    async fn collect_stops_at_the_limit_and_head_reads_only_what_it_needs() {
        let chunks = || {
            futures_util::stream::iter(
                ["abc", "def", "ghi"].map(|s| Ok::<_, LlmError>(Bytes::from(s))),
            )
        };
        assert_eq!(collect(chunks(), 9).await.unwrap(), "abcdefghi");
        assert!(collect(chunks(), 8)
            .await
            .is_err_and(|e| e.message.contains("max_response_bytes (8 bytes")));
        assert_eq!(head(chunks(), 4).await.unwrap(), "abcd");
        assert_eq!(collect(futures_util::stream::empty(), 1).await.unwrap(), "");
    }
}
