//! `streamGenerateContent?alt=sse`: each event is a whole `GenerateContentResponse` chunk.
//!
//! Text arrives in pieces, a function call whole in one part. Every chunk repeats the usage so
//! far, so the last one is the answer's usage (summing would count the prompt once a chunk).
//! The stream has no end marker: a finishReason seen means it ended, none means it was cut.

use super::response::{finish_reason, tool_call, WireResponse, WireUsage};
use crate::error::{ErrorKind, LlmError, Result};
use crate::model::*;
use crate::providers::{parse_json_str, StreamDecoder};

#[derive(Default)]
pub(in crate::providers) struct Decoder {
    usage: WireUsage,
    model: String,
    /// The answer's `responseId` (every chunk repeats it).
    id: Option<String>,
    finish: Option<FinishReason>,
    calls: u32,
    finished: bool,
}

impl StreamDecoder for Decoder {
    fn event(&mut self, _name: &str, data: &str, out: &mut Vec<StreamEvent>) -> Result<()> {
        if data.trim().is_empty() {
            return Ok(());
        }
        let chunk: WireResponse = parse_json_str(data, "a stream chunk")?;
        if let Some(e) = chunk.stream_error().or_else(|| chunk.blocked()) {
            return Err(e);
        }
        if let Some(u) = chunk.usage_metadata {
            self.usage = u;
        }
        if let Some(m) = chunk.model_version {
            self.model = m;
        }
        let response_id = chunk.response_id;
        if self.id.is_none() {
            self.id.clone_from(&response_id);
        }
        let Some(candidate) = chunk.candidates.into_iter().next() else {
            return Ok(());
        };
        for p in candidate.content.map(|c| c.parts).unwrap_or_default() {
            if let Some(call) = p.function_call {
                let ordinal = self.calls;
                let call = tool_call(
                    call,
                    p.thought_signature.as_deref(),
                    response_id.as_deref(),
                    usize::try_from(ordinal).unwrap_or(usize::MAX),
                );
                self.calls = self.calls.saturating_add(1);
                out.push(StreamEvent::ToolCallDelta {
                    index: ordinal,
                    id: Some(call.id),
                    name: Some(call.name),
                    arguments: call.raw_arguments,
                });
            } else if let Some(text) = p.text.filter(|t| !t.is_empty()) {
                if p.thought == Some(true) {
                    out.push(StreamEvent::Thinking(text));
                } else {
                    out.push(StreamEvent::Text(text));
                }
            }
        }
        if let Some(reason) = candidate.finish_reason {
            self.finished = true;
            self.finish = finish_reason(&reason);
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<()> {
        if !self.finished {
            return Err(LlmError::new(
                ErrorKind::Connection,
                "the stream ended before a finishReason: the connection was cut",
            ));
        }
        let finish = match self.finish {
            Some(FinishReason::Stop) if self.calls > 0 => Some(FinishReason::ToolCalls),
            other => other,
        };
        out.push(StreamEvent::Done {
            finish_reason: finish,
            usage: self.usage.unify(),
            model: std::mem::take(&mut self.model),
            request_id: None,
            response_id: self.id.take(),
        });
        Ok(())
    }
}
