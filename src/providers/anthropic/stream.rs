//! Anthropic's Messages stream: SSE events to stream events, usage from start and delta.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::{json, Value};

use super::{stop_reason, WireUsage};
use crate::error::{ErrorKind, LlmError, Result};
use crate::model::*;
use crate::providers::{parse_json_str, StreamDecoder};

#[derive(Default)]
pub(super) struct Decoder {
    /// The message's id, from `message_start`.
    id: Option<String>,
    usage: WireUsage,
    model: String,
    finish: Option<FinishReason>,
    /// Content-block index -> tool-call ordinal, so tool deltas are numbered 0, 1, ...
    tool_index: HashMap<u64, u32>,
    stopped: bool,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireEvent {
    MessageStart {
        message: StartMessage,
    },
    ContentBlockStart {
        index: u64,
        content_block: Value,
    },
    ContentBlockDelta {
        index: u64,
        delta: Value,
    },
    MessageDelta {
        delta: Value,
        #[serde(default)]
        usage: WireUsage,
    },
    MessageStop,
    Error {
        error: Value,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct StartMessage {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    model: String,
    #[serde(default)]
    usage: WireUsage,
}

impl StreamDecoder for Decoder {
    fn event(&mut self, _name: &str, data: &str, out: &mut Vec<StreamEvent>) -> Result<()> {
        if data.trim().is_empty() {
            return Ok(());
        }
        let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        match parse_json_str::<WireEvent>(data, "a stream event")? {
            WireEvent::MessageStart { message } => {
                self.model = message.model;
                self.id = message.id;
                self.usage.update(message.usage);
            }
            WireEvent::ContentBlockStart {
                index,
                content_block,
            } => {
                if content_block.get("type") == Some(&json!("tool_use")) {
                    // Counts the server's blocks: saturate rather than wrap (clippy bans the cast).
                    let ordinal = u32::try_from(self.tool_index.len()).unwrap_or(u32::MAX);
                    self.tool_index.insert(index, ordinal);
                    out.push(StreamEvent::ToolCallDelta {
                        index: ordinal,
                        id: text(&content_block, "id"),
                        name: text(&content_block, "name"),
                        arguments: String::new(),
                    });
                }
            }
            WireEvent::ContentBlockDelta { index, delta } => {
                match delta.get("type").and_then(Value::as_str) {
                    Some("text_delta") => {
                        out.push(StreamEvent::Text(text(&delta, "text").unwrap_or_default()))
                    }
                    Some("thinking_delta") => out.push(StreamEvent::Thinking(
                        text(&delta, "thinking").unwrap_or_default(),
                    )),
                    Some("input_json_delta") => out.push(StreamEvent::ToolCallDelta {
                        index: self.tool_index.get(&index).copied().unwrap_or(0),
                        id: None,
                        name: None,
                        arguments: text(&delta, "partial_json").unwrap_or_default(),
                    }),
                    _ => {}
                }
            }
            WireEvent::MessageDelta { delta, usage } => {
                if let Some(r) = delta.get("stop_reason").and_then(Value::as_str) {
                    self.finish = Some(stop_reason(r));
                }
                self.usage.update(usage);
            }
            WireEvent::MessageStop => self.stopped = true,
            WireEvent::Error { error } => {
                let kind = match error.get("type").and_then(Value::as_str) {
                    Some("overloaded_error") => ErrorKind::Overloaded,
                    Some("rate_limit_error") => ErrorKind::RateLimit,
                    _ => ErrorKind::Server,
                };
                let message = text(&error, "message").unwrap_or_else(|| "error in stream".into());
                return Err(LlmError::new(
                    kind,
                    format!("the stream reported an error: {message}"),
                ));
            }
            WireEvent::Other => {}
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<()> {
        if !self.stopped {
            return Err(LlmError::new(
                ErrorKind::Connection,
                "the stream ended before message_stop: the connection was cut",
            ));
        }
        out.push(StreamEvent::Done {
            finish_reason: self.finish,
            usage: self.usage.unify(),
            model: std::mem::take(&mut self.model),
            request_id: None,
            response_id: self.id.take(),
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::providers::lookup;

    /// Found by tests/properties (anthropic_stream_bytes_decode_the_same_however_they_are_cut):
    /// input tokens plus cache reads and writes overflowed when a server sent counts near
    /// u64::MAX. The counts are the server's to choose; the sum saturates.
    #[test]
    fn token_counts_near_the_maximum_saturate() {
        let start = r#"{"type":"message_start","message":{"model":"claude","usage":{
            "input_tokens":18446744073709551615,"cache_read_input_tokens":1,
            "cache_creation_input_tokens":2,"output_tokens":1}}}"#;
        let mut d = Decoder::default();
        let mut out = Vec::new();
        d.event("message_start", start, &mut out).unwrap();
        d.event("message_stop", r#"{"type":"message_stop"}"#, &mut out)
            .unwrap();
        d.finish(&mut out).unwrap();
        let Some(StreamEvent::Done { usage, .. }) = out.pop() else {
            unreachable!("a finished stream ends with Done")
        };
        assert_eq!(usage.input_tokens, u64::MAX);
        assert_eq!(usage.cache_read_tokens, 1);

        let body = br#"{"model":"claude","content":[],"usage":{"input_tokens":18446744073709551615,
            "cache_read_input_tokens":5}}"#;
        let anthropic = lookup("anthropic").unwrap();
        assert_eq!(
            anthropic.parse_chat(body).unwrap().usage.input_tokens,
            u64::MAX
        );
    }
}
