//! The NDJSON chat stream: each line a partial message, the `done: true` line last with the
//! finish reason and usage. Each tool call arrives whole in one line.

use super::{finish_reason, stream_error, wire};
use crate::error::{ErrorKind, LlmError, Result};
use crate::model::*;
use crate::providers::{parse_json_str, StreamDecoder};

#[derive(Default)]
pub(super) struct Decoder {
    /// Tool calls seen so far: the next one's index.
    calls: u32,
    done: Option<StreamEvent>,
}

impl StreamDecoder for Decoder {
    fn event(&mut self, _name: &str, line: &str, out: &mut Vec<StreamEvent>) -> Result<()> {
        let chunk: wire::Response = parse_json_str(line, "a stream line")?;
        if let Some(message) = chunk.error {
            return Err(stream_error(&message));
        }
        if let Some(m) = chunk.message {
            if let Some(t) = m.thinking.filter(|t| !t.is_empty()) {
                out.push(StreamEvent::Thinking(t));
            }
            if let Some(t) = m.content.filter(|t| !t.is_empty()) {
                out.push(StreamEvent::Text(t));
            }
            for call in m.tool_calls.unwrap_or_default() {
                let call = call.unify(self.calls as usize);
                // The object serialised: the stream's consumer parses argument text, as it
                // does for the providers that stream it in pieces.
                let arguments = call.raw_arguments;
                out.push(StreamEvent::ToolCallDelta {
                    index: self.calls,
                    id: Some(call.id),
                    name: Some(call.name),
                    arguments,
                });
                self.calls = self.calls.saturating_add(1);
            }
        }
        if chunk.done {
            self.done = Some(StreamEvent::Done {
                finish_reason: Some(finish_reason(chunk.done_reason.as_deref(), self.calls > 0)),
                usage: wire::usage(chunk.prompt_eval_count, chunk.eval_count),
                model: chunk.model.unwrap_or_default(),
                request_id: None,
                response_id: None,
            });
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<()> {
        match self.done.take() {
            Some(done) => {
                out.push(done);
                Ok(())
            }
            None => Err(LlmError::new(
                ErrorKind::Connection,
                "the stream ended before its \"done\": true line: the connection was cut",
            )),
        }
    }
}
