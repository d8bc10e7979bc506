//! Anthropic Messages.

mod cache;
mod plain;
mod stream;

use std::borrow::Cow;

use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{
    join_url, json_headers, parse_json, secret_header, status_error, to_bytes, Endpoint, LongText,
    Provider, StreamDecoder,
};
use crate::cache::CachePlan;
use crate::error::{ErrorKind, LlmError, Result};
use crate::model::*;
use crate::wire::HttpRequest;
use cache::{add_beta, control, system, tools, Marker, EXTENDED_TTL_BETA};

/// The API version every current model accepts; sent as `anthropic-version`.
const API_VERSION: &str = "2023-06-01";
/// Anthropic requires max_tokens; this is used when the caller gives none.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

pub struct Anthropic;

impl Provider for Anthropic {
    fn name(&self) -> &'static str {
        "anthropic"
    }
    fn default_base_url(&self) -> &'static str {
        "https://api.anthropic.com"
    }
    fn api_key_env(&self) -> &'static [&'static str] {
        &["ANTHROPIC_API_KEY"]
    }
    fn base_url_env(&self) -> &'static [&'static str] {
        &["ANTHROPIC_BASE_URL"]
    }

    fn build_chat_with_cache(
        &self,
        ep: &Endpoint,
        req: &ChatRequest,
        stream: bool,
        plan: &CachePlan,
    ) -> Result<HttpRequest> {
        let (body, any_1h) = body(ep, req, stream, plan)?;
        let mut headers = headers(ep)?;
        if any_1h {
            add_beta(&mut headers, EXTENDED_TTL_BETA);
        }
        Ok(HttpRequest {
            method: Method::POST,
            url: join_url(&ep.base_url, "v1/messages"),
            headers,
            body,
            stream,
            timeout: ep.timeout,
            // The client sets its own on the request it sends.
            settings: Default::default(),
        })
    }

    /// Only the beta a request's body needs: the batch create sends the endpoint's headers
    /// (its key, its betas) once, so they are not built for each of 10,000 requests (a
    /// quarter of the instructions of building a body, counted by callgrind).
    fn batch_body(
        &self,
        ep: &Endpoint,
        req: &ChatRequest,
        plan: &CachePlan,
    ) -> Result<(bytes::Bytes, HeaderMap)> {
        let (body, any_1h) = body(ep, req, false, plan)?;
        let mut headers = HeaderMap::new();
        if any_1h {
            add_beta(&mut headers, EXTENDED_TTL_BETA);
        }
        Ok((body, headers))
    }

    fn build_models(&self, ep: &Endpoint) -> Option<Result<HttpRequest>> {
        Some(headers(ep).map(|h| super::get(ep, join_url(&ep.base_url, "v1/models"), h)))
    }

    fn parse_chat(&self, body: &[u8]) -> Result<ChatResponse> {
        message(body, || bytes::Bytes::copy_from_slice(body))
    }

    fn parse_chat_shared(&self, body: &bytes::Bytes) -> Result<ChatResponse> {
        message(body, || body.clone())
    }

    fn stream_decoder(&self) -> Box<dyn StreamDecoder> {
        Box::new(stream::Decoder::default())
    }

    fn request_id(&self, headers: &HeaderMap) -> Option<String> {
        headers
            .get("request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    fn parse_error(&self, status: u16, headers: &HeaderMap, body: &[u8]) -> LlmError {
        let parsed: Option<Value> = serde_json::from_slice(body).ok();
        let err = parsed.as_ref().and_then(|v| v.get("error"));
        let message = err
            .and_then(|e| e.get("message"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| format!("HTTP {status} from anthropic"));
        let request_id = self.request_id(headers).or_else(|| {
            parsed
                .as_ref()
                .and_then(|v| v.get("request_id"))
                .and_then(Value::as_str)
                .map(str::to_string)
        });
        let mut e = status_error(status, message, request_id, headers, body);
        // Anthropic signals overload with 529, and sometimes only in the error type.
        if err.and_then(|e| e.get("type")).and_then(Value::as_str) == Some("overloaded_error") {
            e.kind = ErrorKind::Overloaded;
        }
        e
    }
}

/// The Messages body of `req` (the plan's cache markers on it), and whether a marker asks for
/// the 1-hour TTL (whose beta the request then needs). A plain request's is written straight
/// from its strings (`plain.rs`).
fn body(
    ep: &Endpoint,
    req: &ChatRequest,
    stream: bool,
    plan: &CachePlan,
) -> Result<(bytes::Bytes, bool)> {
    match plain::body(ep, req, stream, plan) {
        Some(plain) => Ok((
            plain
                .map_err(|e| LlmError::config(format!("request body cannot be serialised: {e}")))?
                .into(),
            false,
        )),
        None => general_body(ep, req, stream, plan),
    }
}

/// Any request's body, built as a tree of JSON values.
fn general_body(
    ep: &Endpoint,
    req: &ChatRequest,
    stream: bool,
    plan: &CachePlan,
) -> Result<(bytes::Bytes, bool)> {
    let mut body = Map::new();
    body.insert("model".into(), Value::String(ep.model.clone()));
    body.insert(
        "max_tokens".into(),
        json!(req.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS)),
    );
    // Markers go on in prompt order (tools, system, messages): the TTL rule depends on it.
    let mut marker = Marker::default();
    if !req.tools.is_empty() {
        body.insert("tools".into(), tools(req, plan, &mut marker));
    }
    let (system, messages) = messages(req, plan, &mut marker)?;
    if let Some(s) = system {
        body.insert("system".into(), s);
    }
    body.insert("messages".into(), Value::Array(messages));
    if let Some(ttl) = plan.automatic {
        body.insert("cache_control".into(), control(ttl));
        marker.any_1h |= ttl == CacheTtl::OneHour;
    }
    if let Some(t) = req.temperature {
        body.insert("temperature".into(), json!(t));
    }
    if let Some(p) = req.top_p {
        body.insert("top_p".into(), json!(p));
    }
    if !req.stop.is_empty() {
        body.insert("stop_sequences".into(), json!(req.stop));
    }
    if let Some(choice) = &req.tool_choice {
        body.insert(
            "tool_choice".into(),
            match choice {
                ToolChoice::Auto => json!({"type": "auto"}),
                ToolChoice::None => json!({"type": "none"}),
                ToolChoice::Required => json!({"type": "any"}),
                ToolChoice::Tool(name) => json!({"type": "tool", "name": name}),
            },
        );
    }
    if stream {
        body.insert("stream".into(), Value::Bool(true));
    }
    // Python callers are refused earlier, when the call is made; this covers the Rust API.
    check_extra_body(req)?;
    Ok((to_bytes(&body, &req.extra_body)?, marker.any_1h))
}

/// System text split out; tool results become user turns; same-role turns merged, as the
/// Messages API requires strictly alternating roles. Cache markers (the caller's, then the
/// plan's end of the stable conversation) land on the block they follow.
/// The caller's headers, the API version and the key.
fn headers(ep: &Endpoint) -> Result<HeaderMap> {
    let mut headers = json_headers(ep);
    // A default: the caller's `anthropic-version` (already in, from `ep.headers`) wins.
    headers
        .entry(HeaderName::from_static("anthropic-version"))
        .or_insert(HeaderValue::from_static(API_VERSION));
    if let Some(key) = &ep.api_key {
        secret_header(
            &mut headers,
            HeaderName::from_static("x-api-key"),
            key.expose(),
        )?;
    }
    Ok(headers)
}

fn messages(
    req: &ChatRequest,
    plan: &CachePlan,
    marker: &mut Marker,
) -> Result<(Option<Value>, Vec<Value>)> {
    let system = system(req, plan, marker);
    let mut out: Vec<(Role, Vec<Value>)> = Vec::new();
    for (i, m) in req.messages.iter().enumerate() {
        let (role, mut blocks) = match m.role {
            Role::System | Role::Developer => continue,
            Role::Tool => {
                let id = m.tool_call_id.clone().ok_or_else(|| {
                    LlmError::config("a message with role \"tool\" needs the \"tool_call_id\" of the call it answers")
                })?;
                let inner: Vec<Value> = m.content.iter().filter_map(part).collect();
                let mut result =
                    json!({"type": "tool_result", "tool_use_id": id, "content": inner});
                // A marker inside a tool result marks the result block itself.
                for p in &m.content {
                    if let ContentPart::CacheBreakpoint(ttl) = p {
                        marker.mark(&mut result, *ttl);
                    }
                }
                (Role::User, vec![result])
            }
            Role::User | Role::Assistant => {
                let mut blocks: Vec<Value> =
                    Vec::with_capacity(m.content.len().saturating_add(m.tool_calls.len()));
                for p in &m.content {
                    match p {
                        ContentPart::CacheBreakpoint(ttl) => marker.mark_last(&mut blocks, *ttl),
                        p => blocks.extend(part(p)),
                    }
                }
                for c in &m.tool_calls {
                    blocks.push(json!({"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments_or_empty()}));
                }
                (m.role, blocks)
            }
        };
        if let Some((k, ttl)) = plan.message.filter(|(k, _)| *k == i) {
            // An empty message has no block of its own: its prefix ends where the last one did.
            match blocks
                .last_mut()
                .or_else(|| out.last_mut().and_then(|(_, b)| b.last_mut()))
            {
                Some(last) => marker.mark(last, ttl),
                None => tracing::debug!(message = k, "no block to put the cache breakpoint on"),
            }
        }
        match out.last_mut() {
            Some((last, existing)) if *last == role => existing.append(&mut blocks),
            _ => out.push((role, blocks)),
        }
    }
    let messages = out
        .into_iter()
        .map(|(role, blocks)| {
            let role = if role == Role::Assistant {
                "assistant"
            } else {
                "user"
            };
            // A single unmarked text block is sent as the plain string form.
            let content = match blocks.as_slice() {
                [b] if b.get("type") == Some(&json!("text"))
                    && b.get("cache_control").is_none() =>
                {
                    b.get("text").cloned().unwrap_or(Value::Null)
                }
                _ => Value::Array(blocks),
            };
            json!({"role": role, "content": content})
        })
        .collect();
    Ok((system, messages))
}

/// A content part as an Anthropic block; empty text is dropped (the API rejects it).
fn part(p: &ContentPart) -> Option<Value> {
    match p {
        ContentPart::Text(t) if t.is_empty() => None,
        ContentPart::Text(t) => Some(json!({"type": "text", "text": t})),
        ContentPart::Image(ImageSource::Url(u)) => {
            Some(json!({"type": "image", "source": {"type": "url", "url": u}}))
        }
        ContentPart::Image(ImageSource::Base64 { media_type, data }) => Some(
            json!({"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}),
        ),
        ContentPart::CacheBreakpoint(_) => None,
    }
}

fn stop_reason(s: &str) -> FinishReason {
    match s {
        "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
        "tool_use" => FinishReason::ToolCalls,
        "refusal" => FinishReason::ContentFilter,
        _ => FinishReason::Stop,
    }
}

/// A Messages answer; `raw` gives the body it keeps.
fn message(body: &[u8], raw: impl FnOnce() -> bytes::Bytes) -> Result<ChatResponse> {
    let wire: WireMessage = parse_json(body, "the message")?;
    answer(wire, body, raw())
}

/// The Messages answer at the start of `text` (a batch results line from its message on), and
/// where it ends there: the decoder finds the end, so a line's message is read once, not
/// skipped over to find its end (serde_json's scan of every string, 8 bytes at a time) and then
/// read. `raw` is `text` as shared bytes; the answer keeps its message's part.
pub(crate) fn message_at(text: &str, raw: &bytes::Bytes) -> Result<(ChatResponse, usize)> {
    let mut values = serde_json::Deserializer::from_str(text).into_iter::<WireMessage>();
    let wire = values
        .next()
        .unwrap_or_else(|| Err(serde::de::Error::custom("no message")))
        .map_err(|e| {
            LlmError::invalid_response(format!("the message is not the JSON expected: {e}"))
        })?;
    let end = values.byte_offset();
    let body = text.as_bytes().get(..end).unwrap_or_default();
    if raw.len() != text.len() {
        return Err(LlmError::new(
            ErrorKind::Internal,
            "a message's bytes are not its text",
        ));
    }
    Ok((answer(wire, body, raw.slice(..end))?, end))
}

/// The answer of a decoded Messages body (`body`, kept as `raw`).
fn answer(wire: WireMessage<'_>, body: &[u8], raw: bytes::Bytes) -> Result<ChatResponse> {
    let mut content = Vec::with_capacity(wire.content.len());
    for block in wire.content {
        let missing = |field: &str| {
            LlmError::invalid_response(format!(
                "the message is not the JSON expected: a {} block with no {field}",
                block.kind
            ))
            .with_body(body)
        };
        match &*block.kind {
            "text" => content.push(ContentBlock::Text {
                text: block
                    .text
                    .ok_or_else(|| missing("text"))?
                    .shared(body, &raw)?,
            }),
            "thinking" => content.push(ContentBlock::Thinking {
                text: block
                    .thinking
                    .ok_or_else(|| missing("thinking"))?
                    .into_string()?,
            }),
            "tool_use" => {
                let id = block.id.ok_or_else(|| missing("id"))?;
                let name = block.name.ok_or_else(|| missing("name"))?;
                let input = block.input.ok_or_else(|| missing("input"))?;
                content.push(ContentBlock::ToolCall(ToolCall::from_value(
                    id, name, input,
                )))
            }
            _ => {}
        }
    }
    Ok(ChatResponse {
        content,
        finish_reason: wire.stop_reason.as_deref().map(stop_reason),
        usage: wire.usage.unify(),
        model: wire.model,
        provider: "anthropic".into(),
        request_id: None,
        latency: Default::default(),
        raw,
    })
}

#[derive(Deserialize)]
struct WireMessage<'a> {
    #[serde(default)]
    model: String,
    #[serde(default, borrow)]
    content: Vec<WireBlock<'a>>,
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    usage: WireUsage,
}

/// A content block: text, thinking or tool_use; other types are skipped. A struct with its
/// `type` as a field, not an enum tagged by it: serde buffers a tagged enum's fields into a tree
/// of their own before it knows the variant, a copy of every answer's text (a tenth of the
/// instructions of decoding a 10,000-item batch's answers, counted by callgrind).
#[derive(Deserialize)]
struct WireBlock<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    text: Option<LongText<'a>>,
    #[serde(default, borrow)]
    thinking: Option<LongText<'a>>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    input: Option<Value>,
}

#[derive(Deserialize, Default, Clone, Copy)]
struct WireUsage {
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
    #[serde(default)]
    cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    cache_read_input_tokens: Option<u64>,
    /// The writes by TTL: `{"ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens"}`.
    #[serde(default)]
    cache_creation: Option<WireCacheCreation>,
}

#[derive(Deserialize, Default, Clone, Copy)]
struct WireCacheCreation {
    #[serde(default)]
    ephemeral_1h_input_tokens: Option<u64>,
}

impl WireUsage {
    fn unify(self) -> Usage {
        unified_usage(
            self.input_tokens.unwrap_or(0),
            self.output_tokens.unwrap_or(0),
            self.cache_read_input_tokens.unwrap_or(0),
            self.cache_creation_input_tokens.unwrap_or(0),
            self.cache_creation
                .and_then(|c| c.ephemeral_1h_input_tokens)
                .unwrap_or(0),
        )
    }

    /// Later usage reports (message_delta) repeat or update earlier fields.
    fn update(&mut self, newer: WireUsage) {
        self.input_tokens = newer.input_tokens.or(self.input_tokens);
        self.output_tokens = newer.output_tokens.or(self.output_tokens);
        self.cache_creation_input_tokens = newer
            .cache_creation_input_tokens
            .or(self.cache_creation_input_tokens);
        self.cache_read_input_tokens = newer
            .cache_read_input_tokens
            .or(self.cache_read_input_tokens);
        self.cache_creation = newer.cache_creation.or(self.cache_creation);
    }
}

/// Anthropic's usage counts as ours: its `input_tokens` exclude cache reads and writes, ours count
/// every input token. The counts are the server's to choose: the sum saturates rather than
/// overflows. Also what the SDK transport reads from Anthropic answers (`forward/usage.rs`).
pub(crate) fn unified_usage(
    input: u64,
    output: u64,
    read: u64,
    write: u64,
    write_1h: u64,
) -> Usage {
    Usage {
        input_tokens: input.saturating_add(read).saturating_add(write),
        output_tokens: output,
        cache_read_tokens: read,
        cache_write_tokens: write,
        cache_write_1h_tokens: write_1h,
    }
}
