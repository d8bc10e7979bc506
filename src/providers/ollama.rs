//! Ollama's native chat API (`/api/chat`): a local server, no key, NDJSON streams.
//!
//! Unlike its OpenAI-compatible `/v1`, the native API passes `keep_alive`, `options` (num_ctx,
//! seed, …), `format` (a JSON Schema) and `think` through, and streams one JSON object a line.

mod host;
mod stream;
mod wire;

use std::borrow::Cow;

use http::{HeaderMap, Method};
use serde_json::{json, Map, Value};

use super::{
    join_url, json_headers, parse_json, secret_header, status_error, to_bytes, tool_fields,
    Endpoint, Framing, Provider, StreamDecoder,
};
use crate::cache::CachePlan;
use crate::error::{ErrorKind, LlmError, Result};
use crate::model::*;
use crate::wire::HttpRequest;

pub use host::base_url;

pub struct Ollama;

/// JSON headers, and `OLLAMA_API_KEY` (ollama.com) as a Bearer token when one is set.
fn headers(ep: &Endpoint) -> Result<HeaderMap> {
    let mut headers = json_headers(ep);
    if let Some(key) = &ep.api_key {
        secret_header(
            &mut headers,
            http::header::AUTHORIZATION,
            &format!("Bearer {}", key.expose()),
        )?;
    }
    Ok(headers)
}

impl Provider for Ollama {
    fn name(&self) -> &'static str {
        "ollama"
    }
    fn default_base_url(&self) -> &'static str {
        "http://localhost:11434"
    }
    /// ollama.com's hosted models take a key; a local server takes none.
    fn api_key_env(&self) -> &'static [&'static str] {
        &["OLLAMA_API_KEY"]
    }
    fn base_url_env(&self) -> &'static [&'static str] {
        &["OLLAMA_HOST"]
    }
    fn key_required(&self) -> bool {
        false
    }
    fn normalize_base_url(&self, url: String) -> String {
        base_url(&url)
    }

    /// `GET /api/tags`, the local model list: is the server there, and does the key pass.
    fn build_models(&self, ep: &Endpoint) -> Option<Result<HttpRequest>> {
        Some(headers(ep).map(|h| super::get(ep, join_url(&ep.base_url, "api/tags"), h)))
    }

    fn build_chat_with_cache(
        &self,
        ep: &Endpoint,
        req: &ChatRequest,
        stream: bool,
        // Ollama has no prompt cache to mark: it keeps the model's KV cache by itself.
        _plan: &CachePlan,
    ) -> Result<HttpRequest> {
        // Python callers are refused earlier, when the call is made; this covers the Rust API.
        check_extra_body(req)?;
        let mut body = Map::new();
        body.insert("model".into(), Value::String(ep.model.clone()));
        body.insert("messages".into(), Value::Array(messages(req)?));
        // Ollama has no tool_choice: "none" is honoured by sending no tools; a forced call
        // cannot be asked for, so the model may answer in text (extraction then re-asks).
        if !req.tools.is_empty() && req.tool_choice != Some(ToolChoice::None) {
            body.insert(
                "tools".into(),
                Value::Array(req.tools.iter().map(tool).collect()),
            );
        }
        // Ollama streams unless told not to.
        body.insert("stream".into(), Value::Bool(stream));
        let extra = options(req, &mut body)?;

        let headers = headers(ep)?;
        Ok(HttpRequest {
            method: Method::POST,
            url: join_url(&ep.base_url, "api/chat"),
            headers,
            body: to_bytes(&body, &extra)?,
            stream,
            timeout: ep.timeout,
            // The client sets its own on the request it sends.
            settings: Default::default(),
        })
    }

    fn parse_chat(&self, body: &[u8]) -> Result<ChatResponse> {
        let wire: wire::Response = parse_json(body, "the chat response")?;
        if let Some(message) = wire.error {
            return Err(stream_error(&message).with_body(body));
        }
        let mut content = Vec::new();
        let message = wire.message.unwrap_or_default();
        if let Some(t) = message.thinking.filter(|t| !t.is_empty()) {
            content.push(ContentBlock::Thinking { text: t });
        }
        if let Some(t) = message.content.filter(|t| !t.is_empty()) {
            content.push(ContentBlock::Text { text: t.into() });
        }
        let calls = message.tool_calls.unwrap_or_default();
        let any_calls = !calls.is_empty();
        for (i, call) in calls.into_iter().enumerate() {
            content.push(ContentBlock::ToolCall(call.unify(i)));
        }
        Ok(ChatResponse {
            content,
            finish_reason: Some(finish_reason(wire.done_reason.as_deref(), any_calls)),
            usage: wire::usage(wire.prompt_eval_count, wire.eval_count),
            model: wire.model.unwrap_or_default(),
            provider: "ollama".into(),
            request_id: None,
            latency: Default::default(),
            raw: bytes::Bytes::copy_from_slice(body),
        })
    }

    fn stream_decoder(&self) -> Box<dyn StreamDecoder> {
        Box::new(stream::Decoder::default())
    }

    fn stream_framing(&self) -> Framing {
        Framing::JsonLines
    }

    /// Ollama sends no request id.
    fn request_id(&self, _headers: &HeaderMap) -> Option<String> {
        None
    }

    fn parse_error(&self, status: u16, headers: &HeaderMap, body: &[u8]) -> LlmError {
        let message = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_string));
        let message = match message {
            Some(m) if status == 404 => not_found(&m),
            Some(m) => m,
            // A 404 without Ollama's JSON is not Ollama's "model not found": most likely
            // base_url points at another server or path.
            None => {
                let text = String::from_utf8_lossy(body);
                let text = text.trim();
                if text.is_empty() {
                    format!("HTTP {status} from ollama")
                } else {
                    format!(
                        "HTTP {status} from ollama: {}",
                        text.chars().take(200).collect::<String>()
                    )
                }
            }
        };
        status_error(status, message, None, headers, body)
    }
}

/// Ollama's "model \"x\" not found, try pulling it first", with the command that fixes it.
fn not_found(message: &str) -> String {
    let model = message
        .split('"')
        .nth(1)
        .filter(|m| message.contains("not found") && !m.is_empty());
    match model {
        Some(m) => format!("{message}: run `ollama pull {m}` on the Ollama host"),
        None if message.contains("not found") => {
            format!("{message}: run `ollama pull <model>` on the Ollama host")
        }
        None => message.to_string(),
    }
}

/// An `{"error": …}` in a 200 answer (mid-stream, or a whole body): the server failed after it
/// had started answering.
fn stream_error(message: &str) -> LlmError {
    let kind = if message.contains("not found") {
        ErrorKind::NotFound
    } else {
        ErrorKind::Server
    };
    let message = if kind == ErrorKind::NotFound {
        not_found(message)
    } else {
        message.to_string()
    };
    LlmError::new(kind, format!("ollama reported an error: {message}"))
}

/// Ollama's `done_reason` in OpenAI's words. Ollama says "stop" after a tool call, so calls in
/// the answer decide.
fn finish_reason(done_reason: Option<&str>, any_calls: bool) -> FinishReason {
    match done_reason {
        Some("length") => FinishReason::Length,
        _ if any_calls => FinishReason::ToolCalls,
        _ => FinishReason::Stop,
    }
}

/// The sampling arguments go in `options`, merged with the caller's `extra_body.options`
/// (the caller's keys win there, as everywhere in `extra_body`). Returns the extra body to
/// merge on top, without its `options` when they were merged here.
fn options<'a>(
    req: &'a ChatRequest,
    body: &mut Map<String, Value>,
) -> Result<Cow<'a, Map<String, Value>>> {
    let mut options = Map::new();
    if let Some(n) = req.max_tokens {
        options.insert("num_predict".into(), json!(n));
    }
    if let Some(t) = req.temperature {
        options.insert("temperature".into(), json!(t));
    }
    if let Some(p) = req.top_p {
        options.insert("top_p".into(), json!(p));
    }
    if !req.stop.is_empty() {
        options.insert("stop".into(), json!(req.stop));
    }
    let extra = &req.extra_body;
    // The OpenAI names of sampling knobs, given through extra_body, go where Ollama reads them.
    for key in ["temperature", "top_p", "seed", "stop"] {
        if let Some(v) = extra.get(key) {
            options.insert(key.into(), v.clone());
        }
    }
    let moved = ["temperature", "top_p", "seed", "stop", "options"];
    if !moved.iter().any(|k| extra.contains_key(*k)) {
        if !options.is_empty() {
            body.insert("options".into(), Value::Object(options));
        }
        return Ok(Cow::Borrowed(extra));
    }
    match extra.get("options") {
        None => {}
        Some(Value::Object(theirs)) => {
            options.extend(theirs.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        Some(_) => {
            return Err(LlmError::config(
                "extra_body[\"options\"] must be an object of Ollama model options, e.g. {\"num_ctx\": 8192}",
            ))
        }
    }
    if !options.is_empty() {
        body.insert("options".into(), Value::Object(options));
    }
    let rest = extra
        .iter()
        .filter(|(k, _)| !moved.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(Cow::Owned(rest))
}

/// The system prompt first; each message's text as one string with its images beside it; tool
/// results as `tool` messages naming the tool they answer.
fn messages(req: &ChatRequest) -> Result<Vec<Value>> {
    let mut out = Vec::with_capacity(req.messages.len().saturating_add(1));
    if let Some(system) = &req.system {
        out.push(json!({"role": "system", "content": system}));
    }
    for m in &req.messages {
        let mut msg = Map::new();
        let role = match m.role {
            Role::System | Role::Developer => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        };
        msg.insert("role".into(), Value::String(role.into()));
        msg.insert("content".into(), Value::String(m.joined_text()));
        let images = images(&m.content)?;
        if !images.is_empty() {
            msg.insert("images".into(), Value::Array(images));
        }
        if !m.tool_calls.is_empty() {
            let calls = m.tool_calls.iter().map(
                |c| json!({"function": {"name": c.name, "arguments": c.arguments_or_empty()}}),
            );
            msg.insert("tool_calls".into(), Value::Array(calls.collect()));
        }
        if m.role == Role::Tool {
            if let Some(name) = tool_name(req, m) {
                msg.insert("tool_name".into(), Value::String(name));
            }
        }
        out.push(Value::Object(msg));
    }
    Ok(out)
}

/// The name of the tool a `tool` message answers: its own `name`, or the call it answers.
fn tool_name(req: &ChatRequest, m: &Message) -> Option<String> {
    if let Some(name) = &m.name {
        return Some(name.clone());
    }
    let id = m.tool_call_id.as_deref()?;
    req.messages
        .iter()
        .flat_map(|m| &m.tool_calls)
        .find(|c| c.id == id)
        .map(|c| c.name.clone())
}

/// Ollama takes images inline, as bare base64; it fetches no URLs.
fn images(parts: &[ContentPart]) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    for p in parts {
        match p {
            ContentPart::Image(ImageSource::Base64 { data, .. }) => {
                out.push(Value::String(data.clone()))
            }
            ContentPart::Image(ImageSource::Url(_)) => {
                return Err(LlmError::config(
                    "ollama takes images as base64 data, not URLs: pass a data: URL or the \
                     image's bytes",
                ))
            }
            ContentPart::Text(_) | ContentPart::CacheBreakpoint(_) => {}
        }
    }
    Ok(out)
}

fn tool(t: &ToolSpec) -> Value {
    let mut f = tool_fields(t, "parameters");
    // Ollama's tool has no strict mode.
    f.remove("strict");
    let mut wrapper = Map::new();
    wrapper.insert("type".into(), Value::String("function".into()));
    wrapper.insert("function".into(), Value::Object(f));
    Value::Object(wrapper)
}

#[cfg(test)]
mod tests;
