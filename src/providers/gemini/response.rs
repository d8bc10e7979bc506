//! A `GenerateContentResponse` (a whole answer, or one stream chunk) in unified terms.

use serde::Deserialize;
use serde_json::Value;

use super::call_id;
use crate::error::{ErrorKind, LlmError, Result};
use crate::model::*;
use crate::providers::parse_json;

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct WireResponse {
    #[serde(default)]
    pub candidates: Vec<WireCandidate>,
    #[serde(default)]
    pub prompt_feedback: Option<WirePromptFeedback>,
    #[serde(default)]
    pub usage_metadata: Option<WireUsage>,
    #[serde(default)]
    pub model_version: Option<String>,
    #[serde(default)]
    pub response_id: Option<String>,
    /// An error sent inside a 200 stream.
    #[serde(default)]
    pub error: Option<Value>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct WireCandidate {
    #[serde(default)]
    pub content: Option<WireContent>,
    /// A name, or its number under `enum-encoding=int` (Google's Go SDK asks for that).
    #[serde(default)]
    pub finish_reason: Option<Value>,
}

#[derive(Deserialize, Default)]
pub(super) struct WireContent {
    #[serde(default)]
    pub parts: Vec<WirePart>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct WirePart {
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub thought: Option<bool>,
    #[serde(default)]
    pub function_call: Option<WireFunctionCall>,
    #[serde(default)]
    pub thought_signature: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct WireFunctionCall {
    #[serde(default)]
    pub id: Option<String>,
    pub name: String,
    #[serde(default)]
    pub args: Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct WirePromptFeedback {
    #[serde(default)]
    pub block_reason: Option<Value>,
}

#[derive(Deserialize, Default, Clone, Copy)]
#[serde(rename_all = "camelCase")]
pub(super) struct WireUsage {
    #[serde(default)]
    prompt_token_count: u64,
    #[serde(default)]
    candidates_token_count: u64,
    #[serde(default)]
    thoughts_token_count: u64,
    #[serde(default)]
    tool_use_prompt_token_count: u64,
    #[serde(default)]
    cached_content_token_count: u64,
}

impl WireUsage {
    /// Gemini's prompt count already includes the cached tokens; thinking is billed as output.
    pub fn unify(self) -> Usage {
        Usage {
            input_tokens: self
                .prompt_token_count
                .saturating_add(self.tool_use_prompt_token_count),
            output_tokens: self
                .candidates_token_count
                .saturating_add(self.thoughts_token_count),
            cache_read_tokens: self.cached_content_token_count,
            ..Default::default()
        }
    }
}

/// A finishReason, by name or by its number in the spec's enum.
pub(super) fn finish_reason(v: &Value) -> Option<FinishReason> {
    // Only the numbers every version of the proto agrees on; a later one is left unread.
    const BY_NUMBER: [&str; 6] = [
        "FINISH_REASON_UNSPECIFIED",
        "STOP",
        "MAX_TOKENS",
        "SAFETY",
        "RECITATION",
        "OTHER",
    ];
    let name = match v {
        Value::String(s) => s.as_str(),
        Value::Number(n) => BY_NUMBER.get(usize::try_from(n.as_u64()?).ok()?)?,
        _ => return None,
    };
    Some(match name {
        "FINISH_REASON_UNSPECIFIED" => return None,
        "MAX_TOKENS" => FinishReason::Length,
        "SAFETY"
        | "RECITATION"
        | "BLOCKLIST"
        | "PROHIBITED_CONTENT"
        | "SPII"
        | "IMAGE_SAFETY"
        | "IMAGE_PROHIBITED_CONTENT"
        | "IMAGE_RECITATION" => FinishReason::ContentFilter,
        _ => FinishReason::Stop,
    })
}

impl WireResponse {
    /// The error for a prompt Gemini refused to answer, naming the reason.
    pub fn blocked(&self) -> Option<LlmError> {
        let reason = self.prompt_feedback.as_ref()?.block_reason.as_ref()?;
        let reason = match reason {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let mut e = LlmError::new(
            ErrorKind::BadRequest,
            format!("Gemini blocked the prompt (promptFeedback.blockReason: {reason})"),
        );
        e.status = Some(400);
        Some(e)
    }

    /// The error a stream chunk carries instead of an answer.
    pub fn stream_error(&self) -> Option<LlmError> {
        let err = self.error.as_ref()?;
        let message = err
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("error in stream");
        let kind = match err.get("code").and_then(Value::as_u64) {
            Some(429) => ErrorKind::RateLimit,
            Some(503) => ErrorKind::Overloaded,
            _ => ErrorKind::Server,
        };
        Some(LlmError::new(
            kind,
            format!("the stream reported an error: {message}"),
        ))
    }
}

/// A tool call's id: Gemini's own, else one made from the response id and its place.
pub(super) fn tool_call(
    call: WireFunctionCall,
    signature: Option<&str>,
    response_id: Option<&str>,
    ordinal: usize,
) -> ToolCall {
    let id = call
        .id
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| format!("call_{}_{ordinal}", response_id.unwrap_or("gemini")));
    ToolCall::from_value(call_id(id, signature), call.name, call.args)
}

pub(super) fn parse(body: &[u8]) -> Result<ChatResponse> {
    let wire: WireResponse = parse_json(body, "the generateContent response")?;
    if let Some(e) = wire.blocked() {
        return Err(e.with_body(body));
    }
    let mut content = Vec::new();
    let mut finish = None;
    let mut calls = 0_usize;
    if let Some(candidate) = wire.candidates.into_iter().next() {
        finish = candidate.finish_reason.as_ref().and_then(finish_reason);
        for p in candidate.content.map(|c| c.parts).unwrap_or_default() {
            if let Some(call) = p.function_call {
                content.push(ContentBlock::ToolCall(tool_call(
                    call,
                    p.thought_signature.as_deref(),
                    wire.response_id.as_deref(),
                    calls,
                )));
                calls = calls.saturating_add(1);
            } else if let Some(text) = p.text {
                if p.thought == Some(true) {
                    content.push(ContentBlock::Thinking { text });
                } else {
                    content.push(ContentBlock::Text { text: text.into() });
                }
            }
        }
    }
    // Gemini says STOP after a function call; the unified reason says a tool is wanted.
    if calls > 0 && finish == Some(FinishReason::Stop) {
        finish = Some(FinishReason::ToolCalls);
    }
    Ok(ChatResponse {
        content,
        finish_reason: finish,
        usage: wire.usage_metadata.unwrap_or_default().unify(),
        model: wire.model_version.unwrap_or_default(),
        provider: "gemini".into(),
        request_id: None,
        latency: Default::default(),
        raw: bytes::Bytes::copy_from_slice(body),
    })
}
