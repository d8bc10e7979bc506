//! The unified types every provider translates to and from.
//!
//! Requests arrive in the OpenAI chat shape (the lingua franca users already write): messages
//! with `role`/`content`, content parts, assistant `tool_calls`, tool results with
//! `tool_call_id`. They are deserialised once into these types; providers never see Python.
//!
//! Ground floor, with `crate::catalog` below it: the prompt-cache vocabulary requests carry
//! ([`CacheTtl`], [`PromptCache`], [`CacheControl`]) lives here, in `cache`, so the planner in
//! `crate::cache` reads the unified types and nothing here reads the planner; [`cost_usd`]
//! prices a [`Usage`] at the catalogue's prices.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

mod cache;
mod cost;
mod extra_body;
mod openai_input;
pub use cache::{CacheControl, CacheTtl, PromptCache};
pub use cost::{batch_cost_usd, cost_usd};
pub use extra_body::check_extra_body;
pub use openai_input::image_source;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    /// OpenAI's newer name for system instructions; treated as system.
    Developer,
    User,
    Assistant,
    Tool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum ImageSource {
    Url(String),
    Base64 { media_type: String, data: String },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum ContentPart {
    Text(String),
    Image(ImageSource),
    /// The caller's own prompt-cache breakpoint after the part before it: a part carrying
    /// `"cache_control": {"type": "ephemeral"}` (LiteLLM's convention). Providers without
    /// breakpoints skip it.
    CacheBreakpoint(CacheTtl),
}

/// A tool call the model asked for: its arguments as the model wrote them, and parsed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// The arguments as a JSON object; `None` when the model's text is not one (a slip, or cut
    /// off at max_tokens): the caller decides, from `raw_arguments`, rather than the call failing.
    pub arguments: Option<Map<String, Value>>,
    /// The arguments exactly as the model sent them (Anthropic's `input` object serialised).
    pub raw_arguments: String,
}

impl ToolCall {
    /// From the argument text a model sent. Blank text is no arguments: OpenAI-compatible
    /// servers send `""` for a tool without parameters.
    pub fn from_text(id: String, name: String, raw: String) -> Self {
        let arguments = if raw.trim().is_empty() {
            Some(Map::new())
        } else {
            match serde_json::from_str(&raw) {
                Ok(Value::Object(m)) => Some(m),
                _ => None,
            }
        };
        Self {
            id,
            name,
            arguments,
            raw_arguments: raw,
        }
    }

    /// From arguments already parsed (Anthropic's `input`); a string is taken as the text.
    pub fn from_value(id: String, name: String, value: Value) -> Self {
        match value {
            Value::String(raw) => Self::from_text(id, name, raw),
            Value::Null => Self::from_text(id, name, String::new()),
            Value::Object(m) => Self {
                id,
                name,
                raw_arguments: Value::Object(m.clone()).to_string(),
                arguments: Some(m),
            },
            other => Self {
                id,
                name,
                raw_arguments: other.to_string(),
                arguments: None,
            },
        }
    }

    /// The arguments to send back in a request: the object, or `{}` for text that was not one
    /// (providers refuse anything else).
    pub fn arguments_or_empty(&self) -> Value {
        Value::Object(self.arguments.clone().unwrap_or_default())
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Message {
    pub role: Role,
    #[serde(default, deserialize_with = "openai_input::content_parts")]
    pub content: Vec<ContentPart>,
    #[serde(default, deserialize_with = "openai_input::openai_tool_calls")]
    pub tool_calls: Vec<ToolCall>,
    #[serde(default)]
    pub tool_call_id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

impl Message {
    pub fn user(text: impl Into<String>) -> Self {
        Self::text(Role::User, text)
    }

    pub fn text(role: Role, text: impl Into<String>) -> Self {
        Self {
            role,
            content: vec![ContentPart::Text(text.into())],
            tool_calls: Vec::new(),
            tool_call_id: None,
            name: None,
        }
    }

    /// The text parts joined, ignoring images.
    pub fn joined_text(&self) -> String {
        let mut out = String::new();
        for part in &self.content {
            if let ContentPart::Text(t) = part {
                out.push_str(t);
            }
        }
        out
    }
}

/// A tool the model may call. Accepts the OpenAI shape
/// (`{"type": "function", "function": {...}}`), the flat shape (`{"name", "description",
/// "parameters"}`) and Anthropic's (`input_schema`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolSpec {
    pub name: String,
    pub description: Option<String>,
    pub parameters: Value,
    pub strict: Option<bool>,
    /// The caller's own cache breakpoint on this tool (Anthropic's tool `cache_control`).
    pub cache_control: Option<CacheTtl>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum ToolChoice {
    Auto,
    None,
    Required,
    Tool(String),
}

/// One chat call, provider-neutral.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ChatRequest {
    pub messages: Vec<Message>,
    pub system: Option<String>,
    pub max_tokens: Option<u32>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub stop: Vec<String>,
    pub tools: Vec<ToolSpec>,
    pub tool_choice: Option<ToolChoice>,
    /// Merged last into the provider body: the escape hatch for fields llmrail does not model.
    pub extra_body: Map<String, Value>,
    /// This call's prompt caching; `None` uses the client's setting.
    pub prompt_cache: Option<PromptCache>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Every input token, cached ones included (Anthropic reports them separately; we add).
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    /// The part of `cache_write_tokens` written with a 1-hour TTL (priced higher).
    pub cache_write_1h_tokens: u64,
}

impl Usage {
    /// Input plus output tokens. The counts are a server's to choose, so sums of them saturate
    /// rather than overflow.
    pub fn total(&self) -> u64 {
        self.input_tokens.saturating_add(self.output_tokens)
    }

    /// Add `other`'s counts to these (the attempts of one extraction), saturating.
    pub fn add(&mut self, other: &Usage) {
        self.input_tokens = self.input_tokens.saturating_add(other.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(other.output_tokens);
        self.cache_read_tokens = self
            .cache_read_tokens
            .saturating_add(other.cache_read_tokens);
        self.cache_write_tokens = self
            .cache_write_tokens
            .saturating_add(other.cache_write_tokens);
        self.cache_write_1h_tokens = self
            .cache_write_1h_tokens
            .saturating_add(other.cache_write_1h_tokens);
    }
}

/// Why the model stopped, in OpenAI's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    Stop,
    Length,
    ToolCalls,
    ContentFilter,
}

impl FinishReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stop => "stop",
            Self::Length => "length",
            Self::ToolCalls => "tool_calls",
            Self::ContentFilter => "content_filter",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentBlock {
    Text {
        /// Shared, not copied, with the body the answer keeps (`raw`) where the provider's
        /// JSON holds it without escapes (see `providers::LongText`).
        text: bytestring::ByteString,
    },
    ToolCall(ToolCall),
    /// Reasoning the provider chose to show (Anthropic thinking, OpenRouter reasoning).
    Thinking {
        text: String,
    },
}

/// One finished chat call.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatResponse {
    pub content: Vec<ContentBlock>,
    pub finish_reason: Option<FinishReason>,
    pub usage: Usage,
    pub model: String,
    pub provider: String,
    pub request_id: Option<String>,
    pub latency: Duration,
    /// The provider's body as received; parsed again only when asked for.
    pub raw: bytes::Bytes,
}

impl ChatResponse {
    pub fn text(&self) -> String {
        self.text_ref().into_owned()
    }

    /// [`ChatResponse::text`], borrowed when one block holds it all (the usual answer): no
    /// copy on the way to a Python str.
    pub fn text_ref(&self) -> std::borrow::Cow<'_, str> {
        let mut texts = self.content.iter().filter_map(|block| match block {
            ContentBlock::Text { text } => Some(&**text),
            _ => None,
        });
        let Some(first) = texts.next() else {
            return std::borrow::Cow::Borrowed("");
        };
        match texts.next() {
            None => std::borrow::Cow::Borrowed(first),
            Some(second) => {
                let mut out = String::from(first);
                out.push_str(second);
                texts.for_each(|t| out.push_str(t));
                std::borrow::Cow::Owned(out)
            }
        }
    }

    /// What the call cost in USD, cache writes and reads at their own prices; `None` for a
    /// model the catalogue has no price for.
    pub fn cost_usd(&self) -> Option<f64> {
        cost_usd(&self.model, &self.usage)
    }

    /// The provider's id of this answer (`id` in OpenAI's and Anthropic's bodies, `responseId`
    /// in Gemini's), read from the raw body only when asked (a trace's `gen_ai.response.id`).
    pub fn response_id(&self) -> Option<String> {
        #[derive(Deserialize)]
        struct Ids {
            id: Option<String>,
            #[serde(rename = "responseId")]
            response_id: Option<String>,
        }
        let ids: Ids = serde_json::from_slice(&self.raw).ok()?;
        ids.id.or(ids.response_id)
    }

    pub fn tool_calls(&self) -> Vec<&ToolCall> {
        self.content
            .iter()
            .filter_map(|b| match b {
                ContentBlock::ToolCall(c) => Some(c),
                _ => None,
            })
            .collect()
    }
}

/// A piece of a streamed answer.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    Text(String),
    Thinking(String),
    /// A fragment of a tool call; `id`/`name` arrive on the first fragment of each `index`.
    ToolCallDelta {
        index: u32,
        id: Option<String>,
        name: Option<String>,
        arguments: String,
    },
    /// Always the last event of a successful stream.
    Done {
        finish_reason: Option<FinishReason>,
        usage: Usage,
        model: String,
        request_id: Option<String>,
        /// The provider's id of the answer (`msg_...`, `chatcmpl-...`, Gemini's `responseId`),
        /// when its stream gives one.
        response_id: Option<String>,
    },
}

impl StreamEvent {
    /// For `Done`: what the call cost in USD (see [`ChatResponse::cost_usd`]).
    pub fn cost_usd(&self) -> Option<f64> {
        match self {
            Self::Done { usage, model, .. } => cost_usd(model, usage),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests;
