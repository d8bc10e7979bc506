//! A Converse answer (`output.message.content`, `stopReason`, `usage`) in unified terms. The
//! answer does not name the model: the pipeline fills in the one the request went to.

use serde::Deserialize;
use serde_json::Value;

use crate::error::Result;
use crate::model::*;
use crate::providers::parse_json;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireResponse {
    #[serde(default)]
    output: Option<WireOutput>,
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct WireOutput {
    #[serde(default)]
    message: Option<WireMessage>,
}

#[derive(Deserialize)]
struct WireMessage {
    #[serde(default)]
    content: Vec<WireBlock>,
}

/// A content block: a union, of which these members are read (images, documents, citations
/// and the like in an answer are left out).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireBlock {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    tool_use: Option<WireToolUse>,
    #[serde(default)]
    reasoning_content: Option<WireReasoning>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireToolUse {
    tool_use_id: String,
    name: String,
    #[serde(default)]
    input: Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireReasoning {
    #[serde(default)]
    reasoning_text: Option<WireReasoningText>,
}

#[derive(Deserialize)]
struct WireReasoningText {
    #[serde(default)]
    text: String,
}

/// `usage` of an answer or of a stream's `metadata` event.
#[derive(Deserialize, Default, Clone, Copy, Debug)]
#[serde(rename_all = "camelCase")]
pub(super) struct WireUsage {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
    #[serde(default)]
    total_tokens: Option<u64>,
    #[serde(default)]
    cache_read_input_tokens: u64,
    #[serde(default)]
    cache_write_input_tokens: u64,
}

impl WireUsage {
    /// Bedrock's `inputTokens` leave out the cache reads and writes, which `totalTokens`
    /// counts; ours count every input token. Should a total ever show the input already
    /// holding them (total = input + output), they are not added twice.
    pub fn unify(self) -> Usage {
        let read = self.cache_read_input_tokens;
        let write = self.cache_write_input_tokens;
        let cached = read.saturating_add(write);
        let both = self.input_tokens.saturating_add(self.output_tokens);
        let input = match self.total_tokens {
            Some(total) if cached > 0 && total == both => self.input_tokens,
            _ => self.input_tokens.saturating_add(cached),
        };
        Usage {
            input_tokens: input,
            output_tokens: self.output_tokens,
            cache_read_tokens: read,
            cache_write_tokens: write,
            // Bedrock reports writes without their TTL; they are priced as 5-minute ones.
            cache_write_1h_tokens: 0,
        }
    }
}

/// A `stopReason` as the unified finish reason.
pub(super) fn stop_reason(s: &str) -> FinishReason {
    match s {
        "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
        "tool_use" => FinishReason::ToolCalls,
        "guardrail_intervened" | "content_filtered" => FinishReason::ContentFilter,
        // end_turn, stop_sequence, and the malformed_* reasons (the answer is what it is).
        _ => FinishReason::Stop,
    }
}

pub(super) fn parse(body: &[u8]) -> Result<ChatResponse> {
    let wire: WireResponse = parse_json(body, "the Converse response")?;
    let blocks = wire
        .output
        .and_then(|o| o.message)
        .map(|m| m.content)
        .unwrap_or_default();
    let mut content = Vec::with_capacity(blocks.len());
    for b in blocks {
        if let Some(call) = b.tool_use {
            content.push(ContentBlock::ToolCall(ToolCall::from_value(
                call.tool_use_id,
                call.name,
                call.input,
            )));
        } else if let Some(text) = b.text {
            content.push(ContentBlock::Text { text: text.into() });
        } else if let Some(text) = b.reasoning_content.and_then(|r| r.reasoning_text) {
            content.push(ContentBlock::Thinking { text: text.text });
        }
    }
    Ok(ChatResponse {
        content,
        finish_reason: wire.stop_reason.as_deref().map(stop_reason),
        usage: wire.usage.unwrap_or_default().unify(),
        // Filled in by the pipeline with the model (or inference profile) asked for.
        model: String::new(),
        provider: "bedrock".into(),
        request_id: None,
        latency: Default::default(),
        raw: bytes::Bytes::copy_from_slice(body),
    })
}
