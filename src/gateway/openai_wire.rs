//! OpenAI Chat Completions, the inverse of the provider's direction: a request body read into
//! the unified types (the library's own OpenAI-shape readers: `Message`, `ToolSpec`,
//! `ToolChoice`), and an answer written as a `chat.completion` or as `chat.completion.chunk`
//! SSE events, usage in the last chunk.

use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::request::{Format, Incoming, Wire};
use crate::error::{LlmError, Result};
use crate::model::{
    ChatRequest, ChatResponse, ContentBlock, FinishReason, Message, StreamEvent, ToolChoice,
    ToolSpec, Usage,
};

#[derive(Deserialize)]
struct Body {
    model: String,
    messages: Vec<Message>,
    #[serde(default)]
    max_tokens: Option<u32>,
    #[serde(default)]
    max_completion_tokens: Option<u32>,
    #[serde(default)]
    temperature: Option<f64>,
    #[serde(default)]
    top_p: Option<f64>,
    #[serde(default)]
    stop: Option<Stop>,
    #[serde(default)]
    tools: Vec<ToolSpec>,
    #[serde(default)]
    tool_choice: Option<ToolChoice>,
    #[serde(default)]
    stream: bool,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
    #[serde(default)]
    response_format: Option<Value>,
    #[serde(default)]
    n: Option<u32>,
    #[serde(flatten)]
    extras: Map<String, Value>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Stop {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: bool,
}

/// A `/v1/chat/completions` body in unified terms.
pub fn parse(body: &[u8]) -> Result<Incoming> {
    let b: Body = serde_json::from_slice(body)
        .map_err(|e| LlmError::config(format!("the request body is not a chat completion: {e}")))?;
    if b.n.is_some_and(|n| n != 1) {
        return Err(LlmError::config(
            "n must be 1: the gateway answers with one choice",
        ));
    }
    let format = b
        .response_format
        .map(Format::from_openai)
        .transpose()?
        .flatten();
    Ok(Incoming {
        wire: Wire::OpenAi,
        model: b.model,
        request: ChatRequest {
            messages: b.messages,
            max_tokens: b.max_completion_tokens.or(b.max_tokens),
            temperature: b.temperature,
            top_p: b.top_p,
            stop: match b.stop {
                None => Vec::new(),
                Some(Stop::One(s)) => vec![s],
                Some(Stop::Many(v)) => v,
            },
            tools: b.tools,
            tool_choice: b.tool_choice,
            ..ChatRequest::default()
        },
        extras: b.extras,
        format,
        stream: b.stream,
        include_usage: b.stream_options.is_some_and(|o| o.include_usage),
    })
}

fn finish(f: Option<FinishReason>) -> &'static str {
    f.map_or("stop", FinishReason::as_str)
}

fn usage(u: &Usage) -> Value {
    json!({
        "prompt_tokens": u.input_tokens,
        "completion_tokens": u.output_tokens,
        "total_tokens": u.total(),
        "prompt_tokens_details": {"cached_tokens": u.cache_read_tokens},
    })
}

/// A finished answer as a `chat.completion`, named `model` (what the caller asked for).
pub fn completion(r: &ChatResponse, id: &str, created: u64, model: &str) -> Value {
    let text = r.text();
    let mut message = Map::new();
    message.insert("role".into(), json!("assistant"));
    message.insert(
        "content".into(),
        if text.is_empty() && !r.tool_calls().is_empty() {
            Value::Null
        } else {
            Value::String(text)
        },
    );
    message.insert("refusal".into(), Value::Null);
    let calls: Vec<Value> = r
        .content
        .iter()
        .filter_map(|b| match b {
            ContentBlock::ToolCall(c) => Some(json!({
                "id": c.id, "type": "function",
                "function": {"name": c.name, "arguments": c.raw_arguments},
            })),
            _ => None,
        })
        .collect();
    if !calls.is_empty() {
        message.insert("tool_calls".into(), Value::Array(calls));
    }
    json!({
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish(r.finish_reason),
                     "logprobs": null}],
        "usage": usage(&r.usage),
    })
}

/// Writes one streamed answer as `chat.completion.chunk` events.
pub struct ChunkWriter {
    id: String,
    created: u64,
    model: String,
    include_usage: bool,
}

impl ChunkWriter {
    pub fn new(id: String, created: u64, model: String, include_usage: bool) -> Self {
        Self {
            id,
            created,
            model,
            include_usage,
        }
    }

    fn chunk(&self, delta: Value, finish: Option<&str>, usage: Option<Value>) -> Bytes {
        let mut c = json!({
            "id": self.id, "object": "chat.completion.chunk", "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": null}],
        });
        if let Some(u) = usage {
            c["usage"] = u;
        }
        sse(&c)
    }

    /// The first chunk: the assistant's role, as OpenAI opens every stream.
    pub fn start(&self) -> Bytes {
        self.chunk(json!({"role": "assistant", "content": ""}), None, None)
    }

    /// The chunks of one event; `Done` closes the stream (finish reason, usage, `[DONE]`).
    pub fn event(&self, e: &StreamEvent) -> Bytes {
        match e {
            StreamEvent::Text(t) => self.chunk(json!({"content": t}), None, None),
            // Reasoning as OpenRouter and vLLM stream it; clients that do not know it skip it.
            StreamEvent::Thinking(t) => self.chunk(json!({"reasoning": t}), None, None),
            StreamEvent::ToolCallDelta {
                index,
                id,
                name,
                arguments,
            } => {
                let mut call = Map::new();
                call.insert("index".into(), json!(index));
                if let Some(id) = id {
                    call.insert("id".into(), json!(id));
                    call.insert("type".into(), json!("function"));
                }
                let mut function = Map::new();
                if let Some(name) = name {
                    function.insert("name".into(), json!(name));
                }
                function.insert("arguments".into(), json!(arguments));
                call.insert("function".into(), Value::Object(function));
                self.chunk(json!({"tool_calls": [call]}), None, None)
            }
            StreamEvent::Done {
                finish_reason,
                usage: u,
                ..
            } => {
                let reason = Some(finish(*finish_reason));
                let mut out = Vec::new();
                if self.include_usage {
                    // OpenAI's own layout: the finish chunk, then usage with no choices.
                    out.extend_from_slice(&self.chunk(json!({}), reason, None));
                    let c = json!({
                        "id": self.id, "object": "chat.completion.chunk",
                        "created": self.created, "model": self.model,
                        "choices": [], "usage": usage(u),
                    });
                    out.extend_from_slice(&sse(&c));
                } else {
                    out.extend_from_slice(&self.chunk(json!({}), reason, Some(usage(u))));
                }
                out.extend_from_slice(b"data: [DONE]\n\n");
                Bytes::from(out)
            }
        }
    }

    /// A failure after the stream began: an `error` event, which the SDKs raise.
    pub fn error(&self, body: &Value) -> Bytes {
        sse(body)
    }
}

fn sse(v: &Value) -> Bytes {
    Bytes::from(format!("data: {v}\n\n"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::model::{Role, ToolCall};

    #[test]
    fn a_chat_completion_body_reads_into_unified_terms() {
        let body = json!({
            "model": "fast",
            "messages": [{"role": "system", "content": "be brief"},
                         {"role": "user", "content": "hi"}],
            "max_completion_tokens": 50, "stop": "END", "seed": 3, "stream": true,
            "stream_options": {"include_usage": true},
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
            "tool_choice": "required",
        });
        let inc = parse(body.to_string().as_bytes()).unwrap();
        assert_eq!(inc.model, "fast");
        assert_eq!(inc.request.messages[0].role, Role::System);
        assert_eq!(inc.request.max_tokens, Some(50));
        assert_eq!(inc.request.stop, vec!["END"]);
        assert_eq!(inc.request.tools[0].name, "f");
        assert_eq!(inc.request.tool_choice, Some(ToolChoice::Required));
        assert_eq!(inc.extras.keys().collect::<Vec<_>>(), vec!["seed"]);
        assert!(inc.stream && inc.include_usage);
    }

    #[test]
    fn a_body_that_is_not_a_chat_completion_is_refused_with_serdes_reason() {
        let e = parse(br#"{"messages": []}"#).unwrap_err();
        assert!(e.message.contains("model"), "{}", e.message);
        assert!(parse(br#"{"model": "m", "messages": [], "n": 2}"#).is_err());
    }

    #[test]
    fn an_answer_with_a_tool_call_is_a_chat_completion_with_null_content() {
        let r = ChatResponse {
            content: vec![ContentBlock::ToolCall(ToolCall::from_text(
                "call_1".into(),
                "get_weather".into(),
                "{\"city\":\"Paris\"}".into(),
            ))],
            finish_reason: Some(FinishReason::ToolCalls),
            usage: Usage {
                input_tokens: 10,
                output_tokens: 5,
                ..Usage::default()
            },
            model: "gpt-4o-mini".into(),
            provider: "openai".into(),
            request_id: None,
            latency: Default::default(),
            raw: Bytes::new(),
        };
        let v = completion(&r, "chatcmpl-1", 7, "fast");
        let m = &v["choices"][0]["message"];
        assert_eq!(m["content"], Value::Null);
        assert_eq!(
            m["tool_calls"][0]["function"]["arguments"],
            "{\"city\":\"Paris\"}"
        );
        assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(v["usage"]["total_tokens"], 15);
        assert_eq!(v["model"], "fast");
    }

    #[test]
    fn a_stream_ends_with_usage_in_its_last_chunk_then_done() {
        let done = StreamEvent::Done {
            finish_reason: Some(FinishReason::Stop),
            usage: Usage {
                input_tokens: 3,
                output_tokens: 2,
                ..Usage::default()
            },
            model: "m".into(),
            request_id: None,
            response_id: None,
        };
        let w = ChunkWriter::new("c".into(), 1, "fast".into(), false);
        let text = String::from_utf8(w.event(&done).to_vec()).unwrap();
        let events: Vec<&str> = text.split("\n\n").filter(|e| !e.is_empty()).collect();
        assert_eq!(events.last(), Some(&"data: [DONE]"));
        let last: Value = serde_json::from_str(&events[0]["data: ".len()..]).unwrap();
        assert_eq!(last["usage"]["completion_tokens"], 2);
        assert_eq!(last["choices"][0]["finish_reason"], "stop");
        let w = ChunkWriter::new("c".into(), 1, "fast".into(), true);
        let text = String::from_utf8(w.event(&done).to_vec()).unwrap();
        let events: Vec<&str> = text.split("\n\n").filter(|e| !e.is_empty()).collect();
        let usage: Value = serde_json::from_str(&events[1]["data: ".len()..]).unwrap();
        assert_eq!(usage["choices"], json!([]));
        assert_eq!(usage["usage"]["total_tokens"], 5);
    }
}
