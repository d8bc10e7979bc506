//! ConverseStream events, each an event-stream frame whose `:event-type` is the event's name
//! and whose payload is its JSON: `messageStart`, `contentBlockStart` (a tool call's id and
//! name), `contentBlockDelta` (text, a piece of a tool call's input JSON, reasoning),
//! `contentBlockStop`, `messageStop` (the stop reason), then `metadata` (the usage).
//!
//! Payloads carry a padding field `"p"` (its length hides the content's); it is not read.
//! A stream that ends before `messageStop` was cut.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::Value;

use super::response::{stop_reason, WireUsage};
use super::stream_exception;
use crate::error::{ErrorKind, LlmError, Result};
use crate::model::*;
use crate::providers::{parse_json_str, StreamDecoder};

#[derive(Default)]
pub(in crate::providers) struct Decoder {
    /// A tool call's ordinal among the answer's calls, by its content block's index.
    tool_index: HashMap<u64, u32>,
    finish: Option<FinishReason>,
    stopped: bool,
    usage: WireUsage,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BlockStart {
    #[serde(default)]
    content_block_index: u64,
    #[serde(default)]
    start: Option<Start>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Start {
    #[serde(default)]
    tool_use: Option<ToolUseStart>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ToolUseStart {
    tool_use_id: String,
    name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BlockDelta {
    #[serde(default)]
    content_block_index: u64,
    #[serde(default)]
    delta: Option<Delta>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Delta {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    tool_use: Option<ToolUseDelta>,
    #[serde(default)]
    reasoning_content: Option<Value>,
}

#[derive(Deserialize)]
struct ToolUseDelta {
    #[serde(default)]
    input: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MessageStop {
    #[serde(default)]
    stop_reason: Option<String>,
}

#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    usage: Option<WireUsage>,
}

impl StreamDecoder for Decoder {
    fn event(&mut self, name: &str, data: &str, out: &mut Vec<StreamEvent>) -> Result<()> {
        match name {
            "contentBlockStart" => {
                let ev: BlockStart = parse_json_str(data, "a contentBlockStart event")?;
                if let Some(call) = ev.start.and_then(|s| s.tool_use) {
                    // Counts the server's blocks: saturate rather than wrap.
                    let ordinal = u32::try_from(self.tool_index.len()).unwrap_or(u32::MAX);
                    self.tool_index.insert(ev.content_block_index, ordinal);
                    out.push(StreamEvent::ToolCallDelta {
                        index: ordinal,
                        id: Some(call.tool_use_id),
                        name: Some(call.name),
                        arguments: String::new(),
                    });
                }
            }
            "contentBlockDelta" => {
                let ev: BlockDelta = parse_json_str(data, "a contentBlockDelta event")?;
                let Some(delta) = ev.delta else {
                    return Ok(());
                };
                if let Some(text) = delta.text.filter(|t| !t.is_empty()) {
                    out.push(StreamEvent::Text(text));
                } else if let Some(call) = delta.tool_use {
                    out.push(StreamEvent::ToolCallDelta {
                        index: self
                            .tool_index
                            .get(&ev.content_block_index)
                            .copied()
                            .unwrap_or(0),
                        id: None,
                        name: None,
                        arguments: call.input,
                    });
                } else if let Some(text) = delta
                    .reasoning_content
                    .as_ref()
                    .and_then(|r| r.get("text"))
                    .and_then(Value::as_str)
                    .filter(|t| !t.is_empty())
                {
                    out.push(StreamEvent::Thinking(text.to_string()));
                }
            }
            "messageStop" => {
                let ev: MessageStop = parse_json_str(data, "a messageStop event")?;
                self.stopped = true;
                self.finish = ev.stop_reason.as_deref().map(stop_reason);
            }
            "metadata" => {
                let ev: Metadata = parse_json_str(data, "a metadata event")?;
                if let Some(u) = ev.usage {
                    self.usage = u;
                }
            }
            // An exception frame's `:exception-type` (the framing hands those on by name).
            exception if exception.ends_with("Exception") => {
                return Err(stream_exception(exception, data));
            }
            // messageStart, contentBlockStop, and events added later.
            _ => {}
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<()> {
        if !self.stopped {
            return Err(LlmError::new(
                ErrorKind::Connection,
                "the stream ended before messageStop: the connection was cut",
            ));
        }
        out.push(StreamEvent::Done {
            finish_reason: self.finish,
            usage: self.usage.unify(),
            // Filled in by the pipeline with the model (or inference profile) asked for.
            model: String::new(),
            request_id: None,
            // Converse streams carry no id of the answer.
            response_id: None,
        });
        Ok(())
    }
}
