//! What the mock answers: a scripted [`Reply`], deserialized from JSON (or a Python dict).

use serde::Deserialize;
use serde_json::Value;

use super::fault::Fault;
use super::timing::{Latency, Seconds};

/// One scripted answer. Every field is optional; an empty reply echoes the last user message.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(try_from = "RawReply")]
pub struct Reply {
    pub text: Option<String>,
    pub tool_calls: Vec<ToolCall>,
    /// Sent as the text content, serialized (structured-output answers).
    pub json: Option<Value>,
    /// The pieces a stream sends; by default the text is split before each word.
    pub chunks: Option<Vec<String>>,
    pub finish_reason: Option<FinishReason>,
    pub usage: Option<UsageSpec>,
    /// Overrides the model name echoed from the request.
    pub model: Option<String>,
    /// Delay before the response headers.
    pub latency: Option<Latency>,
    /// Delay between stream events.
    pub chunk_delay: Option<Seconds>,
    pub fault: Option<Fault>,
    /// Extra response headers (rate-limit headers, `retry-after-ms`, ...), sent with the reply
    /// or with its fault's error status.
    pub headers: Vec<(String, String)>,
    /// How many requests this reply answers; 0 counts as 1.
    pub times: u32,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolCall {
    pub name: String,
    /// Any JSON; a string is sent as the raw argument text (so malformed arguments can be tested).
    #[serde(default = "empty_object")]
    pub arguments: Value,
    /// Defaults to a fresh `call_...` (OpenAI) or `toolu_...` (Anthropic) id.
    #[serde(default)]
    pub id: Option<String>,
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

/// Token counts to report. `input_tokens` counts every input token, cached ones included (the
/// llmrail convention); missing counts are estimated at four characters per token.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageSpec {
    #[serde(default)]
    pub input_tokens: Option<u64>,
    #[serde(default)]
    pub output_tokens: Option<u64>,
    #[serde(default)]
    pub cache_read_tokens: u64,
    #[serde(default)]
    pub cache_write_tokens: u64,
}

/// Why the model stopped, in OpenAI's words (translated for Anthropic).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    Stop,
    Length,
    ToolCalls,
    ContentFilter,
}

impl FinishReason {
    pub fn openai(self) -> &'static str {
        match self {
            Self::Stop => "stop",
            Self::Length => "length",
            Self::ToolCalls => "tool_calls",
            Self::ContentFilter => "content_filter",
        }
    }

    /// Gemini says STOP after a function call too.
    pub fn gemini(self) -> &'static str {
        match self {
            Self::Stop | Self::ToolCalls => "STOP",
            Self::Length => "MAX_TOKENS",
            Self::ContentFilter => "SAFETY",
        }
    }

    pub fn anthropic(self) -> &'static str {
        match self {
            Self::Stop => "end_turn",
            Self::Length => "max_tokens",
            Self::ToolCalls => "tool_use",
            Self::ContentFilter => "refusal",
        }
    }

    /// Bedrock Converse's `stopReason`.
    pub fn bedrock(self) -> &'static str {
        match self {
            Self::Stop => "end_turn",
            Self::Length => "max_tokens",
            Self::ToolCalls => "tool_use",
            Self::ContentFilter => "content_filtered",
        }
    }
}

impl Reply {
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            text: Some(text.into()),
            ..Self::default()
        }
    }

    pub fn tool_call(name: impl Into<String>, arguments: Value) -> Self {
        let call = ToolCall {
            name: name.into(),
            arguments,
            id: None,
        };
        Self {
            tool_calls: vec![call],
            ..Self::default()
        }
    }

    pub fn fault(fault: Fault) -> Self {
        Self {
            fault: Some(fault),
            ..Self::default()
        }
    }

    pub fn with_latency(mut self, latency: Latency) -> Self {
        self.latency = Some(latency);
        self
    }

    pub fn with_times(mut self, times: u32) -> Self {
        self.times = times;
        self
    }

    /// The text content this reply sends, if any.
    pub(crate) fn content(&self) -> Option<String> {
        if let Some(json) = &self.json {
            return Some(json.to_string());
        }
        if let Some(text) = &self.text {
            return Some(text.clone());
        }
        self.chunks.as_ref().map(|c| c.concat())
    }

    pub(crate) fn finish(&self) -> FinishReason {
        self.finish_reason.unwrap_or(if self.tool_calls.is_empty() {
            FinishReason::Stop
        } else {
            FinishReason::ToolCalls
        })
    }
}

/// The wire shape, checked for contradictions before it becomes a [`Reply`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReply {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    tool_calls: Vec<ToolCall>,
    #[serde(default)]
    json: Option<Value>,
    #[serde(default)]
    chunks: Option<Vec<String>>,
    #[serde(default)]
    finish_reason: Option<FinishReason>,
    #[serde(default)]
    usage: Option<UsageSpec>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    latency: Option<Latency>,
    #[serde(default)]
    chunk_delay: Option<Seconds>,
    #[serde(default)]
    fault: Option<Fault>,
    #[serde(default)]
    headers: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    times: Option<u32>,
}

impl TryFrom<RawReply> for Reply {
    type Error = String;

    fn try_from(raw: RawReply) -> Result<Self, String> {
        if raw.text.is_some() && raw.json.is_some() {
            return Err("give either \"text\" or \"json\", not both".into());
        }
        if raw.times == Some(0) {
            return Err("\"times\" must be at least 1".into());
        }
        for (name, value) in &raw.headers {
            if http::HeaderName::from_bytes(name.as_bytes()).is_err()
                || http::HeaderValue::from_str(value).is_err()
            {
                return Err(format!("header {name:?}: {value:?} is not valid HTTP"));
            }
        }
        let reply = Reply {
            text: raw.text,
            tool_calls: raw.tool_calls,
            json: raw.json,
            chunks: None,
            finish_reason: raw.finish_reason,
            usage: raw.usage,
            model: raw.model,
            latency: raw.latency,
            chunk_delay: raw.chunk_delay,
            fault: raw.fault,
            headers: raw.headers.into_iter().collect(),
            times: raw.times.unwrap_or(1),
        };
        if let (Some(chunks), Some(content)) = (&raw.chunks, reply.content()) {
            if chunks.concat() != content {
                return Err("\"chunks\" must join up to the reply's text".into());
            }
        }
        Ok(Reply {
            chunks: raw.chunks,
            ..reply
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<Reply, String> {
        serde_json::from_value(v).map_err(|e| e.to_string())
    }

    #[test]
    fn full_reply_parses() {
        let r = parse(json!({
            "text": "hi there", "chunks": ["hi", " there"], "finish_reason": "length",
            "usage": {"input_tokens": 10, "cache_read_tokens": 4}, "model": "m",
            "latency": {"uniform": [0, 0.1]}, "chunk_delay": 0.01, "times": 3,
            "tool_calls": [{"name": "f", "arguments": {"a": 1}, "id": "call_1"}],
            "fault": {"status": 529}
        }))
        .unwrap();
        assert_eq!(r.content().as_deref(), Some("hi there"));
        assert_eq!(r.finish(), FinishReason::Length);
        assert_eq!(r.times, 3);
        assert_eq!(r.usage.unwrap().cache_read_tokens, 4);
    }

    #[test]
    fn defaults_and_derived_fields() {
        let r = parse(json!({"chunks": ["a", "b"]})).unwrap();
        assert_eq!(r.content().as_deref(), Some("ab"));
        assert_eq!(r.times, 1);
        let r = parse(json!({"json": {"x": 1}})).unwrap();
        assert_eq!(r.content().as_deref(), Some(r#"{"x":1}"#));
        let r = parse(json!({"tool_calls": [{"name": "f"}]})).unwrap();
        assert_eq!(r.finish(), FinishReason::ToolCalls);
        assert_eq!(r.tool_calls[0].arguments, json!({}));
    }

    #[test]
    fn typos_and_contradictions_are_errors() {
        assert!(parse(json!({"txt": "a"})).unwrap_err().contains("txt"));
        assert!(parse(json!({"usage": {"input": 1}}))
            .unwrap_err()
            .contains("input"));
        assert!(parse(json!({"tool_calls": [{"name": "f", "args": {}}]}))
            .unwrap_err()
            .contains("args"));
        assert!(parse(json!({"text": "a", "json": 1}))
            .unwrap_err()
            .contains("not both"));
        assert!(parse(json!({"text": "ab", "chunks": ["a"]}))
            .unwrap_err()
            .contains("chunks"));
        assert!(parse(json!({"times": 0})).unwrap_err().contains("times"));
        assert!(parse(json!({"finish_reason": "done"}))
            .unwrap_err()
            .contains("done"));
    }
}
