//! AWS event-stream frames (`application/vnd.amazon.eventstream`, Bedrock's ConverseStream)
//! into a provider's [`StreamDecoder`]: each `event` frame is handed on as
//! `event(:event-type, payload)`, each `exception` frame as `event(:exception-type, payload)`,
//! which the decoder turns into its typed error.
//!
//! A frame is a prelude (total length, headers length, the prelude's CRC32), headers, a payload
//! and the message's CRC32. Frames are cut out of the byte stream here, however the bytes
//! arrive; AWS's own `aws-smithy-eventstream` reads each one and checks both checksums, so a
//! corrupt frame is an `InvalidResponse`, never a misread event. The prelude's checksum is also
//! checked as soon as its 12 bytes are in, before a corrupt length could make the splitter
//! wait for bytes that never come; a frame longer than `max_event_bytes` is refused before it
//! is buffered.

use std::pin::Pin;
use std::task::{Context, Poll};

use aws_smithy_eventstream::frame::read_message_from;
use aws_smithy_types::event_stream::{HeaderValue, Message};
use bytes::{Buf, Bytes, BytesMut};
use futures_util::{Stream, StreamExt};

use super::StreamDecoder;
use crate::error::{ErrorKind, LlmError, Result};
use crate::model::StreamEvent;

/// Total length, headers length, prelude CRC: four bytes each.
const PRELUDE: usize = 12;

/// A byte stream cut into event-stream messages, their checksums verified.
pub struct EventStream<S> {
    chunks: S,
    max: usize,
    /// Bytes of frames not yet complete.
    pending: BytesMut,
    /// The length of the frame at the start of `pending`, once its prelude was checked.
    frame_len: Option<usize>,
    ended: bool,
}

impl<S> EventStream<S> {
    pub fn new(chunks: S, max: usize) -> Self {
        Self {
            chunks,
            max,
            pending: BytesMut::new(),
            frame_len: None,
            ended: false,
        }
    }

    /// The next whole frame in `pending`, if one is there.
    fn next_frame(&mut self) -> Result<Option<Message>> {
        let len = match self.frame_len {
            Some(len) => len,
            None => {
                let Some(prelude) = self.pending.get(..PRELUDE) else {
                    return Ok(None);
                };
                let len = checked_prelude(prelude, self.max)?;
                self.frame_len = Some(len);
                len
            }
        };
        if self.pending.len() < len {
            return Ok(None);
        }
        let frame = self.pending.split_to(len).freeze();
        self.frame_len = None;
        read_message_from(frame.clone())
            .map(Some)
            .map_err(|e| corrupt(&format!("{e}"), &frame))
    }
}

/// The frame length a prelude states, once its checksum holds and the length is one a frame
/// can have and the limit allows.
fn checked_prelude(prelude: &[u8], max: usize) -> Result<usize> {
    let mut p = prelude;
    let total = p.get_u32();
    let headers = p.get_u32();
    let crc = p.get_u32();
    let want = crc32fast::hash(prelude.get(..8).unwrap_or_default());
    if crc != want {
        return Err(corrupt(
            &format!("prelude checksum mismatch (sent {crc:#010x}, computed {want:#010x})"),
            prelude,
        ));
    }
    let total = usize::try_from(total).unwrap_or(usize::MAX);
    let headers = usize::try_from(headers).unwrap_or(usize::MAX);
    // The prelude, the headers and the message CRC must fit in the frame.
    if total < PRELUDE.saturating_add(4).saturating_add(headers) {
        return Err(corrupt(
            "a frame's length is shorter than its parts",
            prelude,
        ));
    }
    if total > max {
        return Err(LlmError::invalid_response(format!(
            "an event-stream frame is larger than max_event_bytes ({max} bytes), so reading \
             stopped there; if events this large are expected, raise Client(max_event_bytes=...)"
        )));
    }
    Ok(total)
}

fn corrupt(what: &str, bytes: &[u8]) -> LlmError {
    LlmError::invalid_response(format!("a corrupt event-stream frame: {what}")).with_body(bytes)
}

impl<S> Stream for EventStream<S>
where
    S: Stream<Item = Result<Bytes>> + Unpin,
{
    type Item = Result<Message>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if this.ended {
                return Poll::Ready(None);
            }
            match this.next_frame() {
                Ok(Some(message)) => return Poll::Ready(Some(Ok(message))),
                Ok(None) => {}
                Err(e) => {
                    // Nothing after a corrupt frame can be trusted to start where it seems to.
                    this.ended = true;
                    return Poll::Ready(Some(Err(e)));
                }
            }
            match this.chunks.poll_next_unpin(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(chunk))) => this.pending.extend_from_slice(&chunk),
                Poll::Ready(Some(Err(e))) => {
                    this.ended = true;
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Ready(None) => {
                    this.ended = true;
                    if !this.pending.is_empty() {
                        return Poll::Ready(Some(Err(LlmError::new(
                            ErrorKind::Connection,
                            format!(
                                "the event stream ended inside a frame ({} bytes of it \
                                 arrived): the connection was cut",
                                this.pending.len()
                            ),
                        ))));
                    }
                }
            }
        }
    }
}

/// A string header of `message`.
fn header<'a>(message: &'a Message, name: &str) -> Option<&'a str> {
    message
        .headers()
        .iter()
        .find(|h| h.name().as_str() == name)
        .and_then(|h| match h.value() {
            HeaderValue::String(s) => Some(s.as_str()),
            _ => None,
        })
}

/// Hand the splitter's next message to `decoder` (`None`: the body ended, so the decoder
/// finishes). Returns whether the stream is over.
pub fn feed(
    decoder: &mut dyn StreamDecoder,
    next: Option<Result<Message>>,
    out: &mut Vec<StreamEvent>,
) -> Result<bool> {
    let message = match next {
        Some(Ok(m)) => m,
        Some(Err(e)) => return Err(e),
        None => {
            decoder.finish(out)?;
            return Ok(true);
        }
    };
    let payload = std::str::from_utf8(message.payload()).map_err(|_| {
        LlmError::invalid_response("an event-stream payload is not UTF-8 text")
            .with_body(message.payload())
    })?;
    match header(&message, ":message-type").unwrap_or("event") {
        "event" => {
            let name = header(&message, ":event-type").unwrap_or("");
            decoder.event(name, payload, out)?;
        }
        "exception" => {
            let name = header(&message, ":exception-type").unwrap_or("exception");
            decoder.event(name, payload, out)?;
            // A decoder that let it pass still must not see the stream go on as if well.
            return Err(LlmError::new(
                ErrorKind::Server,
                format!("the stream reported {name}: {payload}"),
            ));
        }
        "error" => {
            let code = header(&message, ":error-code").unwrap_or("error");
            let text = header(&message, ":error-message").unwrap_or("");
            return Err(LlmError::new(
                ErrorKind::Server,
                format!("the stream reported {code}: {text}"),
            ));
        }
        // Message types added later carry nothing a decoder knows.
        _ => {}
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use aws_smithy_eventstream::frame::write_message_to;
    use aws_smithy_types::event_stream::Header;
    use futures_util::FutureExt;

    fn frame(headers: &[(&'static str, &'static str)], payload: &str) -> Vec<u8> {
        let mut m = Message::new(Bytes::copy_from_slice(payload.as_bytes()));
        for (k, v) in headers {
            m = m.add_header(Header::new(*k, HeaderValue::String((*v).into())));
        }
        let mut out = Vec::new();
        write_message_to(&m, &mut out).unwrap();
        out
    }

    fn messages(max: usize, pieces: Vec<Vec<u8>>) -> Vec<Result<Message>> {
        let chunks = futures_util::stream::iter(pieces.into_iter().map(|p| Ok(Bytes::from(p))));
        EventStream::new(chunks, max)
            .collect()
            .now_or_never()
            .unwrap()
    }

    fn payloads(results: Vec<Result<Message>>) -> Vec<String> {
        results
            .into_iter()
            .map(|r| String::from_utf8(r.unwrap().payload().to_vec()).unwrap())
            .collect()
    }

    #[test]
    fn frames_come_out_whole_however_the_bytes_are_cut() {
        let mut body = frame(&[(":event-type", "a")], "{\"n\":1}");
        body.extend(frame(&[(":event-type", "b")], "{\"n\":\"é\"}"));
        body.extend(frame(&[], ""));
        let want = ["{\"n\":1}", "{\"n\":\"é\"}", ""];
        assert_eq!(payloads(messages(1 << 10, vec![body.clone()])), want);
        for cut in 1..body.len() {
            let (a, b) = body.split_at(cut);
            let got = messages(1 << 10, vec![a.to_vec(), b.to_vec()]);
            assert_eq!(payloads(got), want, "cut at {cut}");
        }
        let bytes: Vec<Vec<u8>> = body.iter().map(|b| vec![*b]).collect();
        assert_eq!(payloads(messages(1 << 10, bytes)), want);
    }

    #[test]
    fn a_flipped_bit_anywhere_is_a_corrupt_frame_error() {
        let body = frame(&[(":event-type", "a")], "{\"text\":\"hello\"}");
        for i in 0..body.len() {
            let mut bad = body.clone();
            bad[i] ^= 0x04;
            let got = messages(1 << 10, vec![bad]);
            let err = got
                .into_iter()
                .find_map(|r| r.err())
                .unwrap_or_else(|| panic!("byte {i} flipped went unnoticed"));
            // A flipped length is caught by the prelude's checksum, not waited for.
            assert_eq!(err.kind, ErrorKind::InvalidResponse, "byte {i}: {err:?}");
            assert!(
                err.message.contains("corrupt event-stream frame"),
                "{i}: {err:?}"
            );
        }
    }

    #[test]
    fn a_frame_over_the_limit_is_refused_before_it_is_read() {
        let body = frame(&[(":event-type", "a")], &"x".repeat(100));
        let got = messages(64, vec![body[..PRELUDE].to_vec()]);
        assert!(got[0]
            .as_ref()
            .is_err_and(|e| e.message.contains("max_event_bytes (64 bytes)")));
    }

    #[test]
    fn a_stream_cut_inside_a_frame_is_a_connection_error() {
        let body = frame(&[(":event-type", "a")], "{}");
        let got = messages(1 << 10, vec![body[..body.len() - 1].to_vec()]);
        assert!(got[0]
            .as_ref()
            .is_err_and(|e| e.kind == ErrorKind::Connection));
    }
}
