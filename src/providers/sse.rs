//! Server-sent events into a provider's [`StreamDecoder`]: the one place where sse-stream's
//! blocks meet the wire decoders, shared by the streamed call and the property tests that feed
//! it arbitrary bytes split at arbitrary points.

use sse_stream::Sse;

use super::StreamDecoder;
use crate::error::{ErrorKind, LlmError, Result};
use crate::model::StreamEvent;

/// Hand the SSE parser's next item to `decoder` (`None`: the body ended, so the decoder
/// finishes); the decoded events go to `out`. Returns whether the stream is over.
pub fn feed(
    decoder: &mut dyn StreamDecoder,
    next: Option<std::result::Result<Sse, sse_stream::Error>>,
    out: &mut Vec<StreamEvent>,
) -> Result<bool> {
    match next {
        Some(Ok(ev)) => {
            // A block with no `event:` is a plain message; one with no `data:` carries none.
            let name = ev.event.as_deref().unwrap_or("");
            decoder.event(name, ev.data.as_deref().unwrap_or(""), out)?;
            Ok(false)
        }
        Some(Err(e)) => Err(error(e)),
        None => {
            decoder.finish(out)?;
            Ok(true)
        }
    }
}

/// A failed read of the event stream: the transport's own error (a cut connection, a timeout)
/// comes back as it was; anything else means the bytes are not SSE.
fn error(e: sse_stream::Error) -> LlmError {
    match e {
        sse_stream::Error::Body(inner) => match inner.downcast::<LlmError>() {
            Ok(ours) => *ours,
            Err(other) => LlmError::new(ErrorKind::Connection, other.to_string()),
        },
        other => LlmError::invalid_response(format!("the event stream is malformed: {other}")),
    }
}
