//! The Chat Completions stream: chunks to stream events, usage from the last chunk.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::Value;

use super::{finish_reason, WireUsage};
use crate::error::{ErrorKind, LlmError, Result};
use crate::model::*;
use crate::providers::{parse_json_str, StreamDecoder};

#[derive(Default)]
pub(super) struct Decoder {
    /// The completion's id (every chunk repeats it).
    id: Option<String>,
    finish: Option<FinishReason>,
    usage: Usage,
    model: String,
    done: bool,
}

/// `id`, `model` and `finish_reason` are borrowed from the chunk: every chunk repeats the first
/// two, and only a change (or the first) is kept.
#[derive(Deserialize)]
struct WireChunk<'a> {
    #[serde(default, borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    model: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    choices: Vec<WireChunkChoice<'a>>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Deserialize)]
struct WireChunkChoice<'a> {
    #[serde(default)]
    delta: Option<WireDelta>,
    #[serde(default, borrow)]
    finish_reason: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct WireDelta {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    reasoning: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<WireToolDelta>>,
}

#[derive(Deserialize)]
struct WireToolDelta {
    #[serde(default)]
    index: u32,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<WireFunctionDelta>,
}

#[derive(Deserialize)]
struct WireFunctionDelta {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
}

impl StreamDecoder for Decoder {
    fn event(&mut self, _name: &str, data: &str, out: &mut Vec<StreamEvent>) -> Result<()> {
        let data = data.trim();
        if data == "[DONE]" {
            self.done = true;
            return Ok(());
        }
        if data.is_empty() {
            return Ok(());
        }
        let chunk: WireChunk = parse_json_str(data, "a stream chunk")?;
        if let Some(err) = chunk.error {
            let message = err
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("error in stream");
            return Err(LlmError::new(
                ErrorKind::Server,
                format!("the stream reported an error: {message}"),
            ));
        }
        if let Some(m) = chunk.model {
            if self.model != m {
                self.model = m.into_owned();
            }
        }
        if self.id.is_none() {
            self.id = chunk.id.filter(|id| !id.is_empty()).map(Cow::into_owned);
        }
        if let Some(u) = chunk.usage {
            self.usage = u.unify();
        }
        for choice in chunk.choices {
            if let Some(delta) = choice.delta {
                if let Some(r) = delta.reasoning.filter(|r| !r.is_empty()) {
                    out.push(StreamEvent::Thinking(r));
                }
                if let Some(t) = delta.content.filter(|t| !t.is_empty()) {
                    out.push(StreamEvent::Text(t));
                }
                for call in delta.tool_calls.unwrap_or_default() {
                    let (name, arguments) = match call.function {
                        Some(f) => (f.name, f.arguments.unwrap_or_default()),
                        None => (None, String::new()),
                    };
                    out.push(StreamEvent::ToolCallDelta {
                        index: call.index,
                        id: call.id,
                        name,
                        arguments,
                    });
                }
            }
            if let Some(f) = choice.finish_reason {
                self.finish = Some(finish_reason(&f));
            }
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<()> {
        if !self.done {
            return Err(LlmError::new(
                ErrorKind::Connection,
                "the stream ended before [DONE]: the connection was cut",
            ));
        }
        out.push(StreamEvent::Done {
            finish_reason: self.finish,
            usage: self.usage,
            model: std::mem::take(&mut self.model),
            request_id: None,
            response_id: self.id.take(),
        });
        Ok(())
    }
}
