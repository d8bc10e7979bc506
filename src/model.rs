//! The unified types every provider translates to and from.
//!
//! Requests arrive in the OpenAI chat shape (the lingua franca users already write): messages
//! with `role`/`content`, content parts, assistant `tool_calls`, tool results with
//! `tool_call_id`. They are deserialised once into these types; providers never see Python.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::cache::{CacheControl, CacheTtl, PromptCache};

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

/// A tool call the model asked for, with its arguments parsed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub arguments: Value,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Message {
    pub role: Role,
    #[serde(default, deserialize_with = "content_parts")]
    pub content: Vec<ContentPart>,
    #[serde(default, deserialize_with = "openai_tool_calls")]
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

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    /// Every input token, cached ones included (Anthropic reports them separately; we add).
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    /// The part of `cache_write_tokens` written with a 1-hour TTL (priced higher).
    pub cache_write_1h_tokens: u64,
}

/// Why the model stopped, in OpenAI's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentBlock {
    Text {
        text: String,
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
        let mut out = String::new();
        for block in &self.content {
            if let ContentBlock::Text { text } = block {
                out.push_str(text);
            }
        }
        out
    }

    /// What the call cost in USD, cache writes and reads at their own prices; `None` for a
    /// model the price table does not know.
    pub fn cost_usd(&self) -> Option<f64> {
        crate::pricing::cost_usd(&self.model, &self.usage)
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
    },
}

impl StreamEvent {
    /// For `Done`: what the call cost in USD (see [`ChatResponse::cost_usd`]).
    pub fn cost_usd(&self) -> Option<f64> {
        match self {
            Self::Done { usage, model, .. } => crate::pricing::cost_usd(model, usage),
            _ => None,
        }
    }
}

// ---- deserialisation of the OpenAI input shape --------------------------------------------

fn content_parts<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ContentPart>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Content {
        Text(String),
        Parts(Vec<Part>),
    }
    #[derive(Deserialize)]
    #[serde(tag = "type", rename_all = "snake_case")]
    enum Part {
        Text {
            text: String,
            #[serde(default)]
            cache_control: Option<CacheControl>,
        },
        ImageUrl {
            image_url: ImageUrl,
            #[serde(default)]
            cache_control: Option<CacheControl>,
        },
    }
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ImageUrl {
        Object { url: String },
        Plain(String),
    }
    let parsed: Option<Content> = Option::deserialize(d)?;
    Ok(match parsed {
        None => Vec::new(),
        Some(Content::Text(t)) => vec![ContentPart::Text(t)],
        Some(Content::Parts(parts)) => {
            let mut out = Vec::with_capacity(parts.len());
            for p in parts {
                let marker = match p {
                    Part::Text {
                        text,
                        cache_control,
                    } => {
                        out.push(ContentPart::Text(text));
                        cache_control
                    }
                    Part::ImageUrl {
                        image_url,
                        cache_control,
                    } => {
                        let url = match image_url {
                            ImageUrl::Object { url } | ImageUrl::Plain(url) => url,
                        };
                        out.push(ContentPart::Image(image_source(url)));
                        cache_control
                    }
                };
                if let Some(marker) = marker {
                    out.push(ContentPart::CacheBreakpoint(
                        marker.ttl().map_err(serde::de::Error::custom)?,
                    ));
                }
            }
            out
        }
    })
}

/// `data:image/png;base64,AAAA` becomes inline bytes; anything else stays a URL.
pub fn image_source(url: String) -> ImageSource {
    if let Some(rest) = url.strip_prefix("data:") {
        if let Some((meta, data)) = rest.split_once(',') {
            if let Some(media_type) = meta.strip_suffix(";base64") {
                return ImageSource::Base64 {
                    media_type: media_type.to_string(),
                    data: data.to_string(),
                };
            }
        }
    }
    ImageSource::Url(url)
}

fn openai_tool_calls<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ToolCall>, D::Error> {
    #[derive(Deserialize)]
    struct Wire {
        id: String,
        function: Function,
    }
    #[derive(Deserialize)]
    struct Function {
        name: String,
        #[serde(default)]
        arguments: Value,
    }
    let wire: Option<Vec<Wire>> = Option::deserialize(d)?;
    wire.unwrap_or_default()
        .into_iter()
        .map(|w| {
            // OpenAI sends arguments as a JSON string; users also hand us dicts.
            let arguments = match w.function.arguments {
                Value::String(s) if s.trim().is_empty() => Value::Object(Map::new()),
                Value::String(s) => serde_json::from_str(&s).map_err(|e| {
                    serde::de::Error::custom(format!(
                        "tool call {:?}: arguments are not valid JSON ({e})",
                        w.function.name
                    ))
                })?,
                Value::Null => Value::Object(Map::new()),
                other => other,
            };
            Ok(ToolCall {
                id: w.id,
                name: w.function.name,
                arguments,
            })
        })
        .collect()
}

impl<'de> Deserialize<'de> for ToolSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Flat {
            name: String,
            #[serde(default)]
            description: Option<String>,
            #[serde(default, alias = "input_schema")]
            parameters: Option<Value>,
            #[serde(default)]
            strict: Option<bool>,
            #[serde(default)]
            cache_control: Option<CacheControl>,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Shape {
            OpenAi {
                function: Flat,
                // LiteLLM puts a tool's marker beside "function".
                #[serde(default)]
                cache_control: Option<CacheControl>,
            },
            Flat(Flat),
        }
        let flat = match Shape::deserialize(d)? {
            Shape::OpenAi {
                mut function,
                cache_control,
            } => {
                function.cache_control = function.cache_control.or(cache_control);
                function
            }
            Shape::Flat(f) => f,
        };
        Ok(ToolSpec {
            name: flat.name,
            description: flat.description,
            parameters: flat
                .parameters
                .unwrap_or_else(|| serde_json::json!({"type": "object", "properties": {}})),
            strict: flat.strict,
            cache_control: flat
                .cache_control
                .map(|c| c.ttl())
                .transpose()
                .map_err(serde::de::Error::custom)?,
        })
    }
}

impl<'de> Deserialize<'de> for ToolChoice {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        let named = |v: &Value| -> Option<String> {
            v.pointer("/function/name")
                .or_else(|| v.get("name"))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        match &v {
            Value::String(s) => match s.as_str() {
                "auto" => Ok(Self::Auto),
                "none" => Ok(Self::None),
                "required" | "any" => Ok(Self::Required),
                name => Ok(Self::Tool(name.to_string())),
            },
            Value::Object(_) => match v.get("type").and_then(Value::as_str) {
                Some("auto") => Ok(Self::Auto),
                Some("none") => Ok(Self::None),
                Some("any") | Some("required") => Ok(Self::Required),
                _ => named(&v).map(Self::Tool).ok_or_else(|| {
                    serde::de::Error::custom("tool_choice must be \"auto\", \"none\", \"required\", a tool name, or {\"type\": \"function\", \"function\": {\"name\": ...}}")
                }),
            },
            _ => Err(serde::de::Error::custom("tool_choice must be a string or a dict")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn openai_messages_deserialise() -> Result<(), serde_json::Error> {
        let m: Vec<Message> = serde_json::from_value(json!([
            {"role": "user", "content": [
                {"type": "text", "text": "what is this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                {"type": "image_url", "image_url": {"url": "https://x/y.png"}}
            ]},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"a\": 1}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "42"}
        ]))?;
        assert_eq!(m[0].content.len(), 3);
        assert_eq!(
            m[0].content[1],
            ContentPart::Image(ImageSource::Base64 {
                media_type: "image/png".into(),
                data: "AAAA".into()
            })
        );
        assert_eq!(m[1].tool_calls[0].arguments, json!({"a": 1}));
        assert_eq!(m[2].tool_call_id.as_deref(), Some("call_1"));
        Ok(())
    }

    #[test]
    fn tool_specs_accept_three_shapes() -> Result<(), serde_json::Error> {
        let t: Vec<ToolSpec> = serde_json::from_value(json!([
            {"type": "function", "function": {"name": "a", "parameters": {"type": "object"}}},
            {"name": "b", "description": "d"},
            {"name": "c", "input_schema": {"type": "object", "properties": {"x": {}}}}
        ]))?;
        assert_eq!(t[0].name, "a");
        assert_eq!(t[1].parameters["type"], "object");
        assert!(t[2].parameters["properties"].get("x").is_some());
        Ok(())
    }

    #[test]
    fn tool_choice_shapes() -> Result<(), serde_json::Error> {
        let c: ToolChoice =
            serde_json::from_value(json!({"type": "function", "function": {"name": "f"}}))?;
        assert_eq!(c, ToolChoice::Tool("f".into()));
        let c: ToolChoice = serde_json::from_value(json!("required"))?;
        assert_eq!(c, ToolChoice::Required);
        Ok(())
    }
}
