//! Newline-delimited JSON (Ollama's `application/x-ndjson`) into a provider's
//! [`StreamDecoder`]: each line is one event, handed on as `event("", line)`.
//!
//! The splitter holds only the unfinished line, bounded by the same `max_event_bytes` as an SSE
//! event, so a line that never ends cannot grow the process without end.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};

use super::StreamDecoder;
use crate::error::{LlmError, Result};
use crate::model::StreamEvent;

/// A byte stream cut into lines (LF or CRLF ends one; a last line without an end is kept).
pub struct JsonLines<S> {
    chunks: S,
    max: usize,
    /// The bytes after the last line end.
    pending: BytesMut,
    /// Lines already cut from the current chunk, not yet handed on.
    ready: std::collections::VecDeque<Bytes>,
    ended: bool,
    /// A line passed the limit: after the lines before it, the error, then nothing.
    failed: bool,
}

impl<S> JsonLines<S> {
    pub fn new(chunks: S, max: usize) -> Self {
        Self {
            chunks,
            max,
            pending: BytesMut::new(),
            ready: Default::default(),
            ended: false,
            failed: false,
        }
    }

    /// Cut `chunk` at its line ends; `false` once the unfinished line is over the limit.
    fn take_in(&mut self, chunk: &Bytes) -> bool {
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', chunk) {
            let line = if self.pending.is_empty() {
                // The common case, a whole line inside one read: no copy.
                chunk.slice(start..end)
            } else {
                self.pending.extend_from_slice(&chunk[start..end]);
                self.pending.split().freeze()
            };
            if line.len() > self.max {
                return false;
            }
            self.ready.push_back(line);
            // `end` indexes a byte of `chunk`, so one past it cannot overflow.
            start = end.saturating_add(1);
        }
        self.pending.extend_from_slice(&chunk[start..]);
        self.pending.len() <= self.max
    }
}

fn line_too_large(max: usize) -> LlmError {
    LlmError::invalid_response(format!(
        "a line of the JSON-lines stream is larger than max_event_bytes ({max} bytes), so \
         reading stopped there; if events this large are expected, raise \
         Client(max_event_bytes=...)"
    ))
}

/// One line as text, its CR (of a CRLF) dropped.
fn text(line: &[u8]) -> Result<String> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    String::from_utf8(line.to_vec()).map_err(|_| {
        LlmError::invalid_response("a line of the JSON-lines stream is not UTF-8").with_body(line)
    })
}

impl<S> Stream for JsonLines<S>
where
    S: Stream<Item = Result<Bytes>> + Unpin,
{
    type Item = Result<String>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(line) = this.ready.pop_front() {
                return Poll::Ready(Some(text(&line)));
            }
            if this.failed {
                this.failed = false;
                return Poll::Ready(Some(Err(line_too_large(this.max))));
            }
            if this.ended {
                return Poll::Ready(None);
            }
            match this.chunks.poll_next_unpin(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(e))) => {
                    this.ended = true;
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Ready(Some(Ok(chunk))) => {
                    if !this.take_in(&chunk) {
                        this.ended = true;
                        this.failed = true;
                    }
                }
                Poll::Ready(None) => {
                    this.ended = true;
                    if !this.pending.is_empty() {
                        let last = this.pending.split().freeze();
                        this.ready.push_back(last);
                    }
                }
            }
        }
    }
}

/// Hand the splitter's next line to `decoder` (`None`: the body ended, so the decoder finishes);
/// blank lines carry nothing. Returns whether the stream is over.
pub fn feed(
    decoder: &mut dyn StreamDecoder,
    next: Option<Result<String>>,
    out: &mut Vec<StreamEvent>,
) -> Result<bool> {
    match next {
        Some(Ok(line)) => {
            if !line.trim().is_empty() {
                decoder.event("", &line, out)?;
            }
            Ok(false)
        }
        Some(Err(e)) => Err(e),
        None => {
            decoder.finish(out)?;
            Ok(true)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use futures_util::FutureExt;

    fn lines(max: usize, chunks: &[&str]) -> Vec<Result<String>> {
        let chunks: Vec<Result<Bytes>> = chunks
            .iter()
            .map(|c| Ok(Bytes::copy_from_slice(c.as_bytes())))
            .collect();
        let split = JsonLines::new(futures_util::stream::iter(chunks), max);
        // Pieces in memory are always ready.
        split.collect().now_or_never().unwrap()
    }

    fn ok(results: Vec<Result<String>>) -> Vec<String> {
        results.into_iter().map(|r| r.unwrap()).collect()
    }

    #[test]
    fn lines_come_out_whole_however_the_bytes_are_cut() {
        let body = "{\"a\":1}\n{\"b\":\"é\"}\r\n\n{\"c\":3}";
        let want = ["{\"a\":1}", "{\"b\":\"é\"}", "", "{\"c\":3}"];
        assert_eq!(ok(lines(100, &[body])), want);
        for cut in 1..body.len() {
            let bytes = body.as_bytes();
            let (a, b) = bytes.split_at(cut);
            let pieces: Vec<Result<Bytes>> =
                vec![Ok(Bytes::copy_from_slice(a)), Ok(Bytes::copy_from_slice(b))];
            let split = JsonLines::new(futures_util::stream::iter(pieces), 100);
            let got: Vec<Result<String>> = split.collect().now_or_never().unwrap();
            assert_eq!(ok(got), want, "cut at {cut}");
        }
    }

    #[test]
    fn a_line_over_the_limit_fails_even_when_it_never_ends() {
        assert_eq!(ok(lines(7, &["1234567\n"])), ["1234567"]);
        let got = lines(7, &["1234", "5678"]);
        assert_eq!(got.len(), 1);
        assert!(got[0]
            .as_ref()
            .is_err_and(|e| e.message.contains("max_event_bytes (7 bytes)")));
        // Whole lines in one read are bounded too, and nothing after the failure is read.
        let got = lines(3, &["12\n12345\n12\n"]);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].as_ref().unwrap(), "12");
        assert!(got[1].is_err());
    }
}
