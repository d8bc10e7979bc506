//! OpenAI Chat Completions, and every server that speaks it (OpenRouter, Azure OpenAI, vLLM,
//! Ollama's /v1).

pub(crate) mod images;
mod plain;
mod stream;

use http::{HeaderMap, HeaderName, Method};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{
    join_url, json_headers, parse_json, secret_header, status_error, to_bytes, tool_fields,
    Endpoint, LongText, Provider, StreamDecoder,
};
use crate::cache::CachePlan;
use crate::error::{LlmError, Result};
use crate::model::*;
use crate::wire::HttpRequest;

/// One OpenAI-shaped service: the wire is shared, the name, home, key variable and the header
/// the key travels in differ.
pub struct OpenAi {
    name: &'static str,
    base_url: &'static str,
    key_env: &'static [&'static str],
    base_env: &'static [&'static str],
    key_header: KeyHeader,
    /// Default headers read from the environment (see [`Provider::header_env`]).
    header_env: &'static [(&'static str, &'static str)],
}

/// How the key is sent.
#[derive(Clone, Copy, PartialEq, Eq)]
enum KeyHeader {
    /// `Authorization: Bearer <key>` (OpenAI and the servers that copy it).
    Bearer,
    /// `api-key: <key>` (Azure OpenAI's key auth). Azure's API versions since 2024-10-21 also
    /// take `max_completion_tokens`, which its reasoning deployments require.
    AzureApiKey,
    /// No key at all: the in-process mock, which no one can reach but this process.
    NoKey,
}

impl OpenAi {
    pub const OPENAI: OpenAi = OpenAi {
        name: "openai",
        base_url: "https://api.openai.com/v1",
        key_env: &["OPENAI_API_KEY"],
        base_env: &["OPENAI_BASE_URL"],
        key_header: KeyHeader::Bearer,
        header_env: &[],
    };
    pub const OPENROUTER: OpenAi = OpenAi {
        name: "openrouter",
        base_url: "https://openrouter.ai/api/v1",
        key_env: &["OPENROUTER_API_KEY"],
        base_env: &["OPENROUTER_BASE_URL"],
        key_header: KeyHeader::Bearer,
        // App attribution (openrouter.ai/docs/app-attribution): the app's URL and name.
        // OpenRouter names no variables; these follow its header names.
        header_env: &[
            ("http-referer", "OPENROUTER_HTTP_REFERER"),
            ("x-title", "OPENROUTER_X_TITLE"),
        ],
    };
    /// The wire of Azure OpenAI; `super::azure` says where a deployment lives.
    pub const AZURE: OpenAi = OpenAi {
        name: "azure",
        base_url: "",
        key_env: &["AZURE_OPENAI_API_KEY"],
        base_env: &["AZURE_OPENAI_ENDPOINT"],
        key_header: KeyHeader::AzureApiKey,
        header_env: &[],
    };
    /// `mock/<name>`, the scripted provider answered in process (`crate::mock`'s
    /// `inprocess.rs`): OpenAI's wire to `mock://llmrail/v1`, which the transport answers
    /// without a socket. It needs no key, and the name after `mock/` is the model the request
    /// carries, which picks the script that answers.
    pub const MOCK: OpenAi = OpenAi {
        name: "mock",
        base_url: "mock://llmrail/v1",
        key_env: &[],
        base_env: &[],
        key_header: KeyHeader::NoKey,
        header_env: &[],
    };
}

impl Provider for OpenAi {
    fn name(&self) -> &'static str {
        self.name
    }
    fn default_base_url(&self) -> &'static str {
        self.base_url
    }
    fn api_key_env(&self) -> &'static [&'static str] {
        self.key_env
    }
    fn base_url_env(&self) -> &'static [&'static str] {
        self.base_env
    }
    fn key_required(&self) -> bool {
        self.key_header != KeyHeader::NoKey
    }
    fn header_env(&self) -> &'static [(&'static str, &'static str)] {
        self.header_env
    }

    fn build_chat_with_cache(
        &self,
        ep: &Endpoint,
        req: &ChatRequest,
        stream: bool,
        plan: &CachePlan,
    ) -> Result<HttpRequest> {
        // api.openai.com deprecated max_tokens (reasoning models reject it); compatible
        // servers (vLLM, Ollama, OpenRouter) widely understand only max_tokens.
        let max_key = if self.key_header == KeyHeader::AzureApiKey
            || ep.base_url.contains("api.openai.com")
        {
            "max_completion_tokens"
        } else {
            "max_tokens"
        };
        let extras = plain::Extras {
            model: &ep.model,
            max_key,
            stream,
            prompt_cache_key: plan.prompt_cache_key.as_deref(),
        };
        let headers = self.headers(ep)?;
        // Python callers are refused earlier, when the call is made; this covers the Rust API.
        check_extra_body(req)?;
        let body = match plain::body(req, &extras) {
            Some(body) => bytes::Bytes::from(body.map_err(|e| {
                LlmError::config(format!("request body cannot be serialised: {e}"))
            })?),
            None => to_bytes(&tree(req, &extras), &req.extra_body)?,
        };
        Ok(HttpRequest {
            method: Method::POST,
            url: join_url(&ep.base_url, "chat/completions"),
            headers,
            body,
            stream,
            timeout: ep.timeout,
            // The client sets its own on the request it sends.
            settings: Default::default(),
        })
    }

    fn build_models(&self, ep: &Endpoint) -> Option<Result<HttpRequest>> {
        Some(self.list_models(ep, join_url(&ep.base_url, "models")))
    }

    fn parse_chat(&self, body: &[u8]) -> Result<ChatResponse> {
        let wire: WireResponse = parse_json(body, "the chat completion")?;
        let choice = wire.choices.into_iter().next().ok_or_else(|| {
            LlmError::invalid_response("the chat completion has no choices").with_body(body)
        })?;
        let raw = bytes::Bytes::copy_from_slice(body);
        let mut content = Vec::new();
        if let Some(r) = choice.message.reasoning.filter(|r| !r.is_empty()) {
            content.push(ContentBlock::Thinking { text: r });
        }
        if let Some(t) = choice.message.content.filter(|t| !t.is_empty()) {
            content.push(ContentBlock::Text {
                text: t.shared(body, &raw)?,
            });
        }
        for call in choice.message.tool_calls.unwrap_or_default() {
            let call = ToolCall::from_text(
                call.id.unwrap_or_default(),
                call.function.name,
                call.function.arguments,
            );
            if call.arguments.is_none() {
                // A model's slip, or cut off at max_tokens: the caller (extraction's lenient
                // parser and re-ask, or the user) decides what to do, not a failed call.
                tracing::debug!(tool = %call.name, "tool call arguments are not a JSON object");
            }
            content.push(ContentBlock::ToolCall(call));
        }
        Ok(ChatResponse {
            content,
            finish_reason: choice.finish_reason.as_deref().map(finish_reason),
            usage: wire.usage.map(WireUsage::unify).unwrap_or_default(),
            model: wire.model.unwrap_or_default(),
            provider: self.name.to_string(),
            request_id: None,
            latency: Default::default(),
            raw,
        })
    }

    fn stream_decoder(&self) -> Box<dyn StreamDecoder> {
        Box::new(stream::Decoder::default())
    }

    fn build_images(
        &self,
        ep: &Endpoint,
        req: &crate::images::ImageRequest,
    ) -> Option<Result<HttpRequest>> {
        Some(self.headers(ep).and_then(|h| images::build(ep, req, h)))
    }

    fn parse_images(&self, body: &[u8]) -> Result<crate::images::ImageResponse> {
        images::parse(self.name, body)
    }

    fn request_id(&self, headers: &HeaderMap) -> Option<String> {
        // Azure sends its gateway's `apim-request-id`, and `x-request-id` only sometimes.
        ["x-request-id", "apim-request-id"]
            .iter()
            .find_map(|name| headers.get(*name))
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    fn parse_error(&self, status: u16, headers: &HeaderMap, body: &[u8]) -> LlmError {
        let message =
            error_message(body).unwrap_or_else(|| format!("HTTP {status} from {}", self.name));
        let mut e = status_error(status, message, self.request_id(headers), headers, body);
        if images::refused_by_policy(body) {
            e.kind = crate::error::ErrorKind::ContentPolicy;
        }
        e
    }
}

impl OpenAi {
    /// The caller's headers and the key, in the header this service reads it from.
    fn headers(&self, ep: &Endpoint) -> Result<HeaderMap> {
        let mut headers = json_headers(ep);
        match (&ep.api_key, self.key_header) {
            (Some(key), KeyHeader::Bearer) => {
                // Not `format!`: its machinery was half of building these headers.
                let key = key.expose();
                let mut value = String::with_capacity(key.len().saturating_add(7));
                value.push_str("Bearer ");
                value.push_str(key);
                secret_header(&mut headers, http::header::AUTHORIZATION, &value)?
            }
            (Some(key), KeyHeader::AzureApiKey) => secret_header(
                &mut headers,
                HeaderName::from_static("api-key"),
                key.expose(),
            )?,
            (None, _) | (_, KeyHeader::NoKey) => {}
        }
        Ok(headers)
    }

    /// `GET url`, authenticated as a chat call is: the model listing `Client.check()` sends.
    pub(crate) fn list_models(&self, ep: &Endpoint, url: String) -> Result<HttpRequest> {
        Ok(super::get(ep, url, self.headers(ep)?))
    }
}

/// `{"error": {"message": ...}}`, the body of every OpenAI error (and of OpenRouter's).
fn error_message(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let err = v.get("error")?;
    let message = err
        .get("message")
        .and_then(Value::as_str)
        .or_else(|| err.as_str())?;
    // OpenRouter puts the upstream provider's reason in error.metadata.raw.
    Some(match err.pointer("/metadata/raw").and_then(Value::as_str) {
        Some(raw) if !raw.is_empty() => format!("{message}: {raw}"),
        _ => message.to_string(),
    })
}

/// The body as a `Value` tree, for any request (`plain.rs` writes the plain ones directly).
fn tree(req: &ChatRequest, x: &plain::Extras<'_>) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("model".into(), Value::String(x.model.to_string()));
    body.insert("messages".into(), Value::Array(messages(req)));
    if let Some(n) = req.max_tokens {
        body.insert(x.max_key.into(), json!(n));
    }
    if let Some(t) = req.temperature {
        body.insert("temperature".into(), json!(t));
    }
    if let Some(p) = req.top_p {
        body.insert("top_p".into(), json!(p));
    }
    if !req.stop.is_empty() {
        body.insert("stop".into(), json!(req.stop));
    }
    if !req.tools.is_empty() {
        body.insert(
            "tools".into(),
            Value::Array(req.tools.iter().map(tool).collect()),
        );
    }
    if let Some(choice) = &req.tool_choice {
        body.insert("tool_choice".into(), tool_choice(choice));
    }
    if x.stream {
        body.insert("stream".into(), Value::Bool(true));
        body.insert("stream_options".into(), json!({"include_usage": true}));
    }
    if let Some(key) = x.prompt_cache_key {
        body.insert("prompt_cache_key".into(), Value::String(key.to_string()));
    }
    body
}

fn messages(req: &ChatRequest) -> Vec<Value> {
    let mut out = Vec::with_capacity(req.messages.len().saturating_add(1));
    if let Some(system) = &req.system {
        out.push(json!({"role": "system", "content": system}));
    }
    for m in &req.messages {
        let mut msg = Map::new();
        msg.insert(
            "role".into(),
            serde_json::to_value(m.role).unwrap_or(Value::Null),
        );
        let content = content(&m.content);
        if m.role == Role::Assistant && !m.tool_calls.is_empty() && m.content.is_empty() {
            msg.insert("content".into(), Value::Null);
        } else {
            msg.insert("content".into(), content);
        }
        if !m.tool_calls.is_empty() {
            let calls = m.tool_calls.iter().map(|c| {
                // Parsed arguments go out in one normal form; text that was not a JSON object
                // goes back as the model wrote it, so it sees its slip.
                let arguments = match &c.arguments {
                    Some(_) => c.arguments_or_empty().to_string(),
                    None => c.raw_arguments.clone(),
                };
                json!({"id": c.id, "type": "function",
                       "function": {"name": c.name, "arguments": arguments}})
            });
            msg.insert("tool_calls".into(), Value::Array(calls.collect()));
        }
        if let Some(id) = &m.tool_call_id {
            msg.insert("tool_call_id".into(), Value::String(id.clone()));
        }
        if let Some(name) = &m.name {
            msg.insert("name".into(), Value::String(name.clone()));
        }
        out.push(Value::Object(msg));
    }
    out
}

/// A lone text part is sent as a plain string, the form every compatible server accepts.
fn content(parts: &[ContentPart]) -> Value {
    // OpenAI caches by itself: the caller's cache breakpoints have nothing to say here.
    let mut sent = parts
        .iter()
        .filter(|p| !matches!(p, ContentPart::CacheBreakpoint(_)));
    match (sent.next(), sent.next()) {
        (None, _) => return Value::String(String::new()),
        (Some(ContentPart::Text(t)), None) => return Value::String(t.clone()),
        _ => {}
    }
    Value::Array(
        parts
            .iter()
            .filter_map(|p| match p {
                ContentPart::Text(t) => Some(json!({"type": "text", "text": t})),
                ContentPart::Image(ImageSource::Url(u)) => Some(json!({"type": "image_url", "image_url": {"url": u}})),
                ContentPart::Image(ImageSource::Base64 { media_type, data }) => {
                    Some(json!({"type": "image_url", "image_url": {"url": format!("data:{media_type};base64,{data}")}}))
                }
                ContentPart::CacheBreakpoint(_) => None,
            })
            .collect(),
    )
}

fn tool(t: &ToolSpec) -> Value {
    let f = tool_fields(t, "parameters");
    // By hand: `json!` would copy the parameters schema once more through `to_value`.
    let mut wrapper = Map::new();
    wrapper.insert("type".into(), Value::String("function".into()));
    wrapper.insert("function".into(), Value::Object(f));
    Value::Object(wrapper)
}

fn tool_choice(c: &ToolChoice) -> Value {
    match c {
        ToolChoice::Auto => json!("auto"),
        ToolChoice::None => json!("none"),
        ToolChoice::Required => json!("required"),
        ToolChoice::Tool(name) => json!({"type": "function", "function": {"name": name}}),
    }
}

pub(crate) fn finish_reason(s: &str) -> FinishReason {
    match s {
        "length" => FinishReason::Length,
        "tool_calls" | "function_call" => FinishReason::ToolCalls,
        "content_filter" => FinishReason::ContentFilter,
        _ => FinishReason::Stop,
    }
}

#[derive(Deserialize)]
struct WireResponse<'a> {
    #[serde(default)]
    model: Option<String>,
    #[serde(default, borrow)]
    choices: Vec<WireChoice<'a>>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct WireChoice<'a> {
    #[serde(borrow)]
    message: WireMessage<'a>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct WireMessage<'a> {
    /// The answer's text, found with `memchr` (see [`LongText`]).
    #[serde(default, borrow)]
    content: Option<LongText<'a>>,
    #[serde(default)]
    reasoning: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<WireToolCall>>,
}

#[derive(Deserialize)]
struct WireToolCall {
    #[serde(default)]
    id: Option<String>,
    function: WireFunction,
}

#[derive(Deserialize)]
struct WireFunction {
    name: String,
    #[serde(default)]
    arguments: String,
}

#[derive(Deserialize, Default)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
    #[serde(default)]
    prompt_tokens_details: Option<WirePromptDetails>,
}

#[derive(Deserialize, Default)]
struct WirePromptDetails {
    #[serde(default)]
    cached_tokens: Option<u64>,
    /// Tokens written to the prompt cache (newer models report them).
    #[serde(default)]
    cache_write_tokens: Option<u64>,
}

impl WireUsage {
    /// OpenAI's prompt_tokens already include the cached ones.
    fn unify(self) -> Usage {
        let details = self.prompt_tokens_details.unwrap_or_default();
        Usage {
            input_tokens: self.prompt_tokens,
            output_tokens: self.completion_tokens,
            cache_read_tokens: details.cached_tokens.unwrap_or(0),
            cache_write_tokens: details.cache_write_tokens.unwrap_or(0),
            cache_write_1h_tokens: 0,
        }
    }
}
