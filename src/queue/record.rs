//! What the queue stores, as JSON: a request in the OpenAI input shape (the shape `chat()`
//! reads, so the existing deserialisers of messages, tools and tool choices read it back and
//! nothing is lost on the way), a finished call's response, and each failed attempt's error.
//!
//! JSON rather than a binary format: a stored item stays readable with `sqlite3` or
//! `redis-cli`, and `python -m llmrail queue show` prints it as it is.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::error::{ErrorKind, LlmError, Result};
use crate::model::{
    CacheTtl, ChatRequest, ChatResponse, ContentBlock, ContentPart, FinishReason, ImageSource,
    Message, PromptCache, ToolChoice, ToolSpec, Usage,
};

/// A structured extraction to run instead of a plain chat call: its JSON Schema travels with
/// the request (a pydantic model as its schema; the value comes back as JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExtractJob {
    pub schema: Value,
    /// The tool / schema name shown to the model.
    pub name: String,
    /// "auto", "tool", "json_schema", "json" or "prompt".
    pub mode: String,
    pub max_retries: u32,
    #[serde(default)]
    pub token_budget: Option<u64>,
}

/// The extraction a stored request carries, if it is one (under `"extract"`).
pub fn extract_job(request: &Value) -> Result<Option<ExtractJob>> {
    match request.get("extract") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => serde_json::from_value(v.clone())
            .map(Some)
            .map_err(|e| LlmError::config(format!("a stored extraction is unreadable: {e}"))),
    }
}

/// A request as JSON in the OpenAI input shape, with every option beside its messages.
pub fn encode_request(req: &ChatRequest) -> Value {
    json!({
        "messages": req.messages.iter().map(message).collect::<Vec<_>>(),
        "system": req.system,
        "max_tokens": req.max_tokens,
        "temperature": req.temperature,
        "top_p": req.top_p,
        "stop": req.stop,
        "tools": req.tools.iter().map(tool).collect::<Vec<_>>(),
        "tool_choice": req.tool_choice.as_ref().map(tool_choice),
        "extra_body": req.extra_body,
        "prompt_cache": req.prompt_cache.map(prompt_cache),
    })
}

/// The request [`encode_request`] wrote.
pub fn decode_request(value: Value) -> Result<ChatRequest> {
    #[derive(Deserialize)]
    struct Wire {
        messages: Vec<Message>,
        #[serde(default)]
        system: Option<String>,
        #[serde(default)]
        max_tokens: Option<u32>,
        #[serde(default)]
        temperature: Option<f64>,
        #[serde(default)]
        top_p: Option<f64>,
        #[serde(default)]
        stop: Vec<String>,
        #[serde(default)]
        tools: Vec<ToolSpec>,
        #[serde(default)]
        tool_choice: Option<ToolChoice>,
        #[serde(default)]
        extra_body: Map<String, Value>,
        #[serde(default)]
        prompt_cache: Option<String>,
    }
    let w: Wire = serde_json::from_value(value)
        .map_err(|e| LlmError::config(format!("a stored request is unreadable: {e}")))?;
    Ok(ChatRequest {
        messages: w.messages,
        system: w.system,
        max_tokens: w.max_tokens,
        temperature: w.temperature,
        top_p: w.top_p,
        stop: w.stop,
        tools: w.tools,
        tool_choice: w.tool_choice,
        extra_body: w.extra_body,
        prompt_cache: w
            .prompt_cache
            .as_deref()
            .map(PromptCache::parse)
            .transpose()?,
    })
}

fn message(m: &Message) -> Value {
    let mut parts: Vec<Value> = Vec::with_capacity(m.content.len());
    for part in &m.content {
        match part {
            ContentPart::Text(text) => parts.push(json!({"type": "text", "text": text})),
            ContentPart::Image(source) => {
                let url = match source {
                    ImageSource::Url(url) => url.clone(),
                    ImageSource::Base64 { media_type, data } => {
                        format!("data:{media_type};base64,{data}")
                    }
                };
                parts.push(json!({"type": "image_url", "image_url": {"url": url}}));
            }
            // A breakpoint is read as the marker of the part before it (it always follows
            // one: that is how it was read in).
            ContentPart::CacheBreakpoint(ttl) => {
                if let Some(Value::Object(last)) = parts.last_mut() {
                    last.insert("cache_control".into(), cache_control(*ttl));
                }
            }
        }
    }
    let calls: Vec<Value> = m
        .tool_calls
        .iter()
        .map(|c| {
            json!({"id": c.id, "type": "function",
                   "function": {"name": c.name, "arguments": c.raw_arguments}})
        })
        .collect();
    json!({
        "role": m.role,
        "content": parts,
        "tool_calls": calls,
        "tool_call_id": m.tool_call_id,
        "name": m.name,
    })
}

fn cache_control(ttl: CacheTtl) -> Value {
    json!({"type": "ephemeral", "ttl": ttl.as_str()})
}

fn tool(t: &ToolSpec) -> Value {
    let mut v = json!({"name": t.name, "description": t.description, "parameters": t.parameters,
                       "strict": t.strict});
    if let (Some(ttl), Value::Object(o)) = (t.cache_control, &mut v) {
        o.insert("cache_control".into(), cache_control(ttl));
    }
    v
}

fn tool_choice(c: &ToolChoice) -> Value {
    match c {
        ToolChoice::Auto => json!("auto"),
        ToolChoice::None => json!("none"),
        ToolChoice::Required => json!("required"),
        // The object form: a tool named "auto" must not read back as the choice "auto".
        ToolChoice::Tool(name) => json!({"type": "function", "function": {"name": name}}),
    }
}

fn prompt_cache(p: PromptCache) -> &'static str {
    match p {
        PromptCache::Off => "off",
        PromptCache::Auto => "auto",
        PromptCache::Ttl(ttl) => ttl.as_str(),
    }
}

/// A finished call's answer as stored; the provider's raw body is kept as text.
#[derive(Debug, Serialize, Deserialize)]
pub struct StoredResponse {
    content: Vec<ContentBlock>,
    finish_reason: Option<FinishReason>,
    usage: Usage,
    model: String,
    provider: String,
    request_id: Option<String>,
    latency_ms: u64,
    raw: String,
}

impl From<&ChatResponse> for StoredResponse {
    fn from(r: &ChatResponse) -> Self {
        Self {
            content: r.content.clone(),
            finish_reason: r.finish_reason,
            usage: r.usage,
            model: r.model.clone(),
            provider: r.provider.clone(),
            request_id: r.request_id.clone(),
            latency_ms: u64::try_from(r.latency.as_millis()).unwrap_or(u64::MAX),
            raw: String::from_utf8_lossy(&r.raw).into_owned(),
        }
    }
}

impl From<StoredResponse> for ChatResponse {
    fn from(s: StoredResponse) -> Self {
        Self {
            content: s.content,
            finish_reason: s.finish_reason,
            usage: s.usage,
            model: s.model,
            provider: s.provider,
            request_id: s.request_id,
            latency: Duration::from_millis(s.latency_ms),
            raw: bytes::Bytes::from(s.raw),
        }
    }
}

/// One failed attempt's error as stored: enough to raise the same typed exception again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredError {
    /// The exception class's name ([`ErrorKind::name`]).
    pub kind: String,
    pub message: String,
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub request_id: Option<String>,
    #[serde(default)]
    pub body: Option<String>,
    /// When it happened, in milliseconds since the Unix epoch.
    pub at_ms: u64,
}

impl StoredError {
    pub fn of(e: &LlmError, at_ms: u64) -> Self {
        Self {
            kind: e.kind.name().to_string(),
            message: e.message.clone(),
            provider: e.provider.clone(),
            model: e.model.clone(),
            status: e.status,
            request_id: e.request_id.clone(),
            body: e.body.clone(),
            at_ms,
        }
    }

    /// A failure of the queue itself (a lost worker, an unreadable item), not of a provider.
    pub fn queue(kind: ErrorKind, message: impl Into<String>, at_ms: u64) -> Self {
        Self::of(&LlmError::new(kind, message), at_ms)
    }

    /// The error again, as its exception class (an unknown name, from a newer llmrail, is an
    /// `InternalError` with the same message).
    pub fn to_error(&self) -> LlmError {
        let kind = ErrorKind::from_name(&self.kind).unwrap_or(ErrorKind::Internal);
        let mut e = LlmError::new(kind, self.message.clone());
        e.provider.clone_from(&self.provider);
        e.model.clone_from(&self.model);
        e.status = self.status;
        e.request_id.clone_from(&self.request_id);
        e.body.clone_from(&self.body);
        e
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::model::{Role, ToolCall};

    #[test]
    fn every_part_of_a_request_survives_the_round_trip() {
        let mut user = Message::user("look");
        user.content
            .push(ContentPart::CacheBreakpoint(CacheTtl::OneHour));
        user.content.push(ContentPart::Image(ImageSource::Base64 {
            media_type: "image/png".into(),
            data: "AAAA".into(),
        }));
        user.content.push(ContentPart::Image(ImageSource::Url(
            "https://x/y.png".into(),
        )));
        let mut assistant = Message::text(Role::Assistant, "");
        assistant.content.clear();
        assistant.tool_calls.push(ToolCall::from_text(
            "c1".into(),
            "f".into(),
            "{\"a\": tru".into(),
        ));
        let mut tool_result = Message::text(Role::Tool, "42");
        tool_result.tool_call_id = Some("c1".into());
        let req = ChatRequest {
            messages: vec![
                Message::text(Role::Developer, "be brief"),
                user,
                assistant,
                tool_result,
            ],
            system: Some("sys".into()),
            max_tokens: Some(10),
            temperature: Some(0.5),
            top_p: Some(0.9),
            stop: vec!["END".into()],
            tools: vec![ToolSpec {
                name: "auto".into(),
                description: Some("d".into()),
                parameters: json!({"type": "object", "properties": {"x": {}}}),
                strict: Some(true),
                cache_control: Some(CacheTtl::FiveMinutes),
            }],
            tool_choice: Some(ToolChoice::Tool("auto".into())),
            extra_body: json!({"seed": 7}).as_object().cloned().unwrap(),
            prompt_cache: Some(PromptCache::Ttl(CacheTtl::OneHour)),
        };
        let text = serde_json::to_string(&encode_request(&req)).unwrap();
        let back = decode_request(serde_json::from_str(&text).unwrap()).unwrap();
        assert_eq!(back, req);
    }

    #[test]
    fn a_response_comes_back_as_it_was_stored() {
        let r = ChatResponse {
            content: vec![
                ContentBlock::Text { text: "hi".into() },
                ContentBlock::ToolCall(ToolCall::from_text("c".into(), "f".into(), "{}".into())),
            ],
            finish_reason: Some(FinishReason::ToolCalls),
            usage: Usage {
                input_tokens: 3,
                output_tokens: 4,
                ..Usage::default()
            },
            model: "m".into(),
            provider: "openai".into(),
            request_id: Some("req".into()),
            latency: Duration::from_millis(12),
            raw: bytes::Bytes::from_static(b"{\"id\":1}"),
        };
        let text = serde_json::to_string(&StoredResponse::from(&r)).unwrap();
        let back: StoredResponse = serde_json::from_str(&text).unwrap();
        assert_eq!(ChatResponse::from(back), r);
    }

    #[test]
    fn a_stored_error_is_raised_again_as_its_own_kind() {
        let mut e = LlmError::new(ErrorKind::Overloaded, "busy").at("anthropic", "claude");
        e.status = Some(529);
        let back = StoredError::of(&e, 5).to_error();
        assert_eq!((back.kind, back.status), (ErrorKind::Overloaded, Some(529)));
        assert_eq!(back.provider.as_deref(), Some("anthropic"));
    }
}
