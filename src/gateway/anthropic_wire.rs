//! Anthropic Messages, the inverse of the provider's direction: a request's blocks (text,
//! images, `tool_use`, `tool_result`, cache markers) read into unified messages, and an answer
//! written as a `message` or as the Messages stream's events (`message_start`, content blocks
//! opened, filled and closed, `message_delta` with the stop reason and usage, `message_stop`).

use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::request::{Format, Incoming, Wire};
use crate::error::{LlmError, Result};
use crate::model::{
    CacheControl, ChatRequest, ChatResponse, ContentBlock, ContentPart, FinishReason, ImageSource,
    Message, Role, StreamEvent, ToolCall, ToolChoice, ToolSpec, Usage,
};
use crate::providers::anthropic::DEFAULT_MAX_TOKENS;

#[derive(Deserialize)]
struct Body {
    model: String,
    #[serde(default)]
    max_tokens: Option<u32>,
    messages: Vec<WireMessage>,
    #[serde(default)]
    system: Option<System>,
    #[serde(default)]
    temperature: Option<f64>,
    #[serde(default)]
    top_p: Option<f64>,
    #[serde(default)]
    stop_sequences: Vec<String>,
    #[serde(default)]
    tools: Vec<ToolSpec>,
    #[serde(default)]
    tool_choice: Option<ToolChoice>,
    #[serde(default)]
    stream: bool,
    #[serde(flatten)]
    extras: Map<String, Value>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum System {
    Text(String),
    Blocks(Vec<Block>),
}

#[derive(Deserialize)]
struct WireMessage {
    role: WireRole,
    content: Content,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum WireRole {
    User,
    Assistant,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Blocks(Vec<Block>),
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block {
    Text {
        text: String,
        #[serde(default)]
        cache_control: Option<CacheControl>,
    },
    Image {
        source: ImageWire,
        #[serde(default)]
        cache_control: Option<CacheControl>,
    },
    ToolUse {
        id: String,
        name: String,
        #[serde(default)]
        input: Value,
    },
    ToolResult {
        tool_use_id: String,
        #[serde(default)]
        content: Option<Content>,
        #[serde(default)]
        cache_control: Option<CacheControl>,
    },
    /// Earlier thinking handed back: its signature is the provider's, so it cannot travel to
    /// another target; dropped, as the library's own requests never carry it.
    Thinking {},
    RedactedThinking {},
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ImageWire {
    Base64 { media_type: String, data: String },
    Url { url: String },
}

/// Text and image blocks as unified parts (cache markers after the part they follow).
fn parts(blocks: Vec<Block>, out: &mut Vec<ContentPart>, calls: &mut Vec<ToolCall>) -> Result<()> {
    let marker = |c: Option<CacheControl>, out: &mut Vec<ContentPart>| -> Result<()> {
        if let Some(c) = c {
            out.push(ContentPart::CacheBreakpoint(
                c.ttl().map_err(LlmError::config)?,
            ));
        }
        Ok(())
    };
    for b in blocks {
        match b {
            Block::Text {
                text,
                cache_control,
            } => {
                out.push(ContentPart::Text(text));
                marker(cache_control, out)?;
            }
            Block::Image {
                source,
                cache_control,
            } => {
                out.push(ContentPart::Image(match source {
                    ImageWire::Base64 { media_type, data } => {
                        ImageSource::Base64 { media_type, data }
                    }
                    ImageWire::Url { url } => ImageSource::Url(url),
                }));
                marker(cache_control, out)?;
            }
            Block::ToolUse { id, name, input } => {
                calls.push(ToolCall::from_value(id, name, input));
            }
            Block::ToolResult { .. } => {
                return Err(LlmError::config(
                    "a tool_result block belongs in a user message's content",
                ))
            }
            Block::Thinking {} | Block::RedactedThinking {} => {}
        }
    }
    Ok(())
}

/// One Anthropic message as unified messages: each `tool_result` becomes a `tool` message (in
/// order, before the user's own text, as Anthropic requires them first).
fn messages(m: WireMessage, out: &mut Vec<Message>) -> Result<()> {
    let blocks = match m.content {
        Content::Text(t) => vec![Block::Text {
            text: t,
            cache_control: None,
        }],
        Content::Blocks(b) => b,
    };
    let role = match m.role {
        WireRole::User => Role::User,
        WireRole::Assistant => Role::Assistant,
    };
    let mut rest = Vec::new();
    for b in blocks {
        match b {
            Block::ToolResult {
                tool_use_id,
                content,
                cache_control,
            } if role == Role::User => {
                let inner = match content {
                    None => Vec::new(),
                    Some(Content::Text(t)) => vec![ContentPart::Text(t)],
                    Some(Content::Blocks(b)) => {
                        let mut inner = Vec::new();
                        parts(b, &mut inner, &mut Vec::new())?;
                        inner
                    }
                };
                let mut content = inner;
                if let Some(c) = cache_control {
                    content.push(ContentPart::CacheBreakpoint(
                        c.ttl().map_err(LlmError::config)?,
                    ));
                }
                out.push(Message {
                    role: Role::Tool,
                    content,
                    tool_calls: Vec::new(),
                    tool_call_id: Some(tool_use_id),
                    name: None,
                });
            }
            other => rest.push(other),
        }
    }
    let mut content = Vec::new();
    let mut tool_calls = Vec::new();
    parts(rest, &mut content, &mut tool_calls)?;
    if !content.is_empty() || !tool_calls.is_empty() {
        out.push(Message {
            role,
            content,
            tool_calls,
            tool_call_id: None,
            name: None,
        });
    }
    Ok(())
}

/// A `/v1/messages` body in unified terms.
pub fn parse(body: &[u8]) -> Result<Incoming> {
    let b: Body = serde_json::from_slice(body).map_err(|e| {
        LlmError::config(format!("the request body is not a Messages request: {e}"))
    })?;
    let mut unified = Vec::with_capacity(b.messages.len().saturating_add(1));
    match b.system {
        None => {}
        Some(System::Text(t)) => unified.push(Message::text(Role::System, t)),
        Some(System::Blocks(blocks)) => {
            let mut content = Vec::new();
            parts(blocks, &mut content, &mut Vec::new())?;
            unified.push(Message {
                role: Role::System,
                content,
                tool_calls: Vec::new(),
                tool_call_id: None,
                name: None,
            });
        }
    }
    for m in b.messages {
        messages(m, &mut unified)?;
    }
    let mut extras = b.extras;
    // Structured output: translated for other targets, rebuilt for Anthropic ones.
    let mut format = None;
    if let Some(Value::Object(mut config)) = extras.remove("output_config") {
        if let Some(f) = config.remove("format") {
            format = Some(Format::from_anthropic(&f)?);
        }
        if !config.is_empty() {
            extras.insert("output_config".into(), Value::Object(config));
        }
    }
    Ok(Incoming {
        wire: Wire::Anthropic,
        model: b.model,
        request: ChatRequest {
            messages: unified,
            max_tokens: Some(b.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS)),
            temperature: b.temperature,
            top_p: b.top_p,
            stop: b.stop_sequences,
            tools: b.tools,
            tool_choice: b.tool_choice,
            ..ChatRequest::default()
        },
        extras,
        format,
        stream: b.stream,
        include_usage: false,
    })
}

fn stop_reason(f: Option<FinishReason>) -> &'static str {
    match f {
        None | Some(FinishReason::Stop) => "end_turn",
        Some(FinishReason::Length) => "max_tokens",
        Some(FinishReason::ToolCalls) => "tool_use",
        Some(FinishReason::ContentFilter) => "refusal",
    }
}

/// Anthropic's usage: its `input_tokens` exclude cache reads and writes, ours include them.
fn usage(u: &Usage) -> Value {
    let uncached = u
        .input_tokens
        .saturating_sub(u.cache_read_tokens)
        .saturating_sub(u.cache_write_tokens);
    json!({
        "input_tokens": uncached,
        "output_tokens": u.output_tokens,
        "cache_creation_input_tokens": u.cache_write_tokens,
        "cache_read_input_tokens": u.cache_read_tokens,
    })
}

fn block(b: &ContentBlock) -> Value {
    match b {
        ContentBlock::Text { text } => json!({"type": "text", "text": text}),
        ContentBlock::Thinking { text } => {
            json!({"type": "thinking", "thinking": text, "signature": ""})
        }
        ContentBlock::ToolCall(c) => json!({
            "type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments_or_empty(),
        }),
    }
}

/// A finished answer as a `message`, named `model` (what the caller asked for).
pub fn message(r: &ChatResponse, id: &str, model: &str) -> Value {
    json!({
        "id": id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": r.content.iter().map(block).collect::<Vec<_>>(),
        "stop_reason": stop_reason(r.finish_reason),
        "stop_sequence": null,
        "usage": usage(&r.usage),
    })
}

/// The block being streamed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Open {
    Text,
    Thinking,
    Tool(u32),
}

/// Writes one streamed answer as the Messages stream's events, opening and closing a content
/// block whenever the kind of event changes.
pub struct EventWriter {
    id: String,
    model: String,
    open: Option<Open>,
    /// The index of the open block (or of the next one).
    index: u32,
}

impl EventWriter {
    pub fn new(id: String, model: String) -> Self {
        Self {
            id,
            model,
            open: None,
            index: 0,
        }
    }

    /// `message_start`. Usage is not known yet; `message_delta` carries it at the end.
    pub fn start(&self) -> Bytes {
        event(
            "message_start",
            &json!({"type": "message_start", "message": {
                "id": self.id, "type": "message", "role": "assistant", "model": self.model,
                "content": [], "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": 0, "output_tokens": 0},
            }}),
        )
    }

    fn close(&mut self, out: &mut Vec<u8>) {
        if self.open.take().is_some() {
            out.extend_from_slice(&event(
                "content_block_stop",
                &json!({"type": "content_block_stop", "index": self.index}),
            ));
            self.index = self.index.saturating_add(1);
        }
    }

    fn open(&mut self, kind: Open, block: Value, out: &mut Vec<u8>) {
        if self.open == Some(kind) {
            return;
        }
        self.close(out);
        out.extend_from_slice(&event(
            "content_block_start",
            &json!({"type": "content_block_start", "index": self.index, "content_block": block}),
        ));
        self.open = Some(kind);
    }

    fn delta(&self, delta: Value, out: &mut Vec<u8>) {
        out.extend_from_slice(&event(
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": self.index, "delta": delta}),
        ));
    }

    /// The events of one stream event; `Done` ends the message.
    pub fn event(&mut self, e: &StreamEvent) -> Bytes {
        let mut out = Vec::new();
        match e {
            StreamEvent::Text(t) => {
                self.open(Open::Text, json!({"type": "text", "text": ""}), &mut out);
                self.delta(json!({"type": "text_delta", "text": t}), &mut out);
            }
            StreamEvent::Thinking(t) => {
                let start = json!({"type": "thinking", "thinking": "", "signature": ""});
                self.open(Open::Thinking, start, &mut out);
                self.delta(json!({"type": "thinking_delta", "thinking": t}), &mut out);
            }
            StreamEvent::ToolCallDelta {
                index,
                id,
                name,
                arguments,
            } => {
                let start = json!({"type": "tool_use", "id": id.clone().unwrap_or_default(),
                                   "name": name.clone().unwrap_or_default(), "input": {}});
                self.open(Open::Tool(*index), start, &mut out);
                if !arguments.is_empty() {
                    self.delta(
                        json!({"type": "input_json_delta", "partial_json": arguments}),
                        &mut out,
                    );
                }
            }
            StreamEvent::Done {
                finish_reason,
                usage: u,
                ..
            } => {
                self.close(&mut out);
                out.extend_from_slice(&event(
                    "message_delta",
                    &json!({"type": "message_delta",
                            "delta": {"stop_reason": stop_reason(*finish_reason),
                                      "stop_sequence": null},
                            "usage": usage(u)}),
                ));
                out.extend_from_slice(&event("message_stop", &json!({"type": "message_stop"})));
            }
        }
        Bytes::from(out)
    }

    /// A failure after the stream began: Anthropic's `error` event, which the SDK raises.
    pub fn error(&self, body: &Value) -> Bytes {
        event("error", body)
    }
}

fn event(name: &str, data: &Value) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn tool_results_become_tool_messages_before_the_users_text() {
        let body = json!({
            "model": "fast", "max_tokens": 100,
            "system": [{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}],
            "messages": [
                {"role": "user", "content": "weather?"},
                {"role": "assistant", "content": [
                    {"type": "text", "text": "checking"},
                    {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"},
                    {"type": "text", "text": "and tomorrow?"}]},
            ],
            "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}],
            "tool_choice": {"type": "any"}, "top_k": 5,
        });
        let inc = parse(body.to_string().as_bytes()).unwrap();
        let m = &inc.request.messages;
        assert_eq!(m[0].role, Role::System);
        assert!(matches!(m[0].content[1], ContentPart::CacheBreakpoint(_)));
        assert_eq!(
            m[2].tool_calls[0].arguments_or_empty(),
            json!({"city": "Paris"})
        );
        assert_eq!(m[3].role, Role::Tool);
        assert_eq!(m[3].tool_call_id.as_deref(), Some("toolu_1"));
        assert_eq!(m[3].joined_text(), "sunny");
        assert_eq!(m[4].joined_text(), "and tomorrow?");
        assert_eq!(inc.request.tool_choice, Some(ToolChoice::Required));
        assert_eq!(inc.extras["top_k"], 5);
    }

    #[test]
    fn output_config_format_becomes_structured_output() {
        let body = json!({"model": "m", "max_tokens": 5, "messages": [],
            "output_config": {"format": {"type": "json_schema", "schema": {"type": "object"}}}});
        let inc = parse(body.to_string().as_bytes()).unwrap();
        assert!(matches!(inc.format, Some(Format::JsonSchema { .. })));
        assert!(!inc.extras.contains_key("output_config"));
    }

    #[test]
    fn usage_is_written_with_cache_tokens_apart_as_anthropic_counts_them() {
        let u = Usage {
            input_tokens: 100,
            output_tokens: 7,
            cache_read_tokens: 60,
            cache_write_tokens: 30,
            cache_write_1h_tokens: 0,
        };
        let v = usage(&u);
        assert_eq!(v["input_tokens"], 10);
        assert_eq!(v["cache_read_input_tokens"], 60);
    }

    #[test]
    fn a_stream_opens_and_closes_one_block_per_kind_of_content() {
        let mut w = EventWriter::new("msg_1".into(), "fast".into());
        let mut all = String::from_utf8(w.start().to_vec()).unwrap();
        for e in [
            StreamEvent::Text("Hel".into()),
            StreamEvent::Text("lo".into()),
            StreamEvent::ToolCallDelta {
                index: 0,
                id: Some("call_1".into()),
                name: Some("f".into()),
                arguments: String::new(),
            },
            StreamEvent::ToolCallDelta {
                index: 0,
                id: None,
                name: None,
                arguments: "{\"a\":1}".into(),
            },
            StreamEvent::Done {
                finish_reason: Some(FinishReason::ToolCalls),
                usage: Usage::default(),
                model: "m".into(),
                request_id: None,
                response_id: None,
            },
        ] {
            all.push_str(std::str::from_utf8(&w.event(&e)).unwrap());
        }
        let names: Vec<&str> = all
            .lines()
            .filter_map(|l| l.strip_prefix("event: "))
            .collect();
        assert_eq!(
            names,
            [
                "message_start",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        assert!(all.contains("\"stop_reason\":\"tool_use\""));
        assert!(all.contains("\"index\":1"));
    }
}
