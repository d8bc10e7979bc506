//! Google Gemini (`generateContent`, `streamGenerateContent?alt=sse`).
//!
//! The key goes in the `x-goog-api-key` header, never in the URL, so it cannot reach a log line
//! or a cassette's URI. Gemini has no tool-call ids of its own on older models and needs a
//! function call's `thoughtSignature` back on the next turn, so both ride inside the unified
//! tool-call id (see [`call_id`]) and come back out when the conversation is sent again.

mod error;
mod images;
mod response;
mod stream;

use http::{HeaderMap, HeaderName, Method};
use serde_json::{json, Map, Value};

use super::{join_url, json_headers, secret_header, to_bytes, Endpoint, Provider, StreamDecoder};
use crate::cache::CachePlan;
use crate::error::{LlmError, Result};
use crate::model::*;
use crate::wire::HttpRequest;

pub struct Gemini;

/// Between a tool call's id and the thought signature it carries.
const SIGNATURE_SEPARATOR: &str = "__thought__";

/// A unified tool-call id: Gemini's own id (or one made up from the response's), with the
/// call's thought signature appended when the model sent one.
pub(crate) fn call_id(id: String, signature: Option<&str>) -> String {
    match signature {
        Some(sig) if !sig.is_empty() => format!("{id}{SIGNATURE_SEPARATOR}{sig}"),
        _ => id,
    }
}

/// The parts of a unified tool-call id: the id to send and the signature, if any.
fn split_call_id(id: &str) -> (&str, Option<&str>) {
    match id.split_once(SIGNATURE_SEPARATOR) {
        Some((id, sig)) => (id, Some(sig)),
        None => (id, None),
    }
}

/// JSON headers with the key in `x-goog-api-key` (never in the URL).
fn headers(ep: &Endpoint) -> Result<HeaderMap> {
    let mut headers = json_headers(ep);
    if let Some(key) = &ep.api_key {
        secret_header(
            &mut headers,
            HeaderName::from_static("x-goog-api-key"),
            key.expose(),
        )?;
    }
    Ok(headers)
}

impl Provider for Gemini {
    fn name(&self) -> &'static str {
        "gemini"
    }
    fn default_base_url(&self) -> &'static str {
        "https://generativelanguage.googleapis.com"
    }
    fn api_key_env(&self) -> &'static [&'static str] {
        // The order Google's own SDK reads them in.
        &["GEMINI_API_KEY", "GOOGLE_API_KEY"]
    }
    fn base_url_env(&self) -> &'static [&'static str] {
        &["GEMINI_BASE_URL"]
    }

    /// `GET v1beta/models`: the cheapest request the key must be good for.
    fn build_models(&self, ep: &Endpoint) -> Option<Result<HttpRequest>> {
        Some(headers(ep).map(|h| super::get(ep, join_url(&ep.base_url, "v1beta/models"), h)))
    }

    fn build_chat_with_cache(
        &self,
        ep: &Endpoint,
        req: &ChatRequest,
        stream: bool,
        // Gemini caches prefixes implicitly; explicit caches are separate `cachedContents`
        // resources, not markers in the request, so the plan has nothing to place here.
        _plan: &CachePlan,
    ) -> Result<HttpRequest> {
        let model = ep.model.strip_prefix("models/").unwrap_or(&ep.model);
        let mut body = Map::new();
        body.insert("model".into(), Value::String(format!("models/{model}")));
        body.insert("contents".into(), Value::Array(contents(req)?));
        if let Some(system) = system(req) {
            body.insert("systemInstruction".into(), system);
        }
        if !req.tools.is_empty() {
            let declarations: Vec<Value> = req
                .tools
                .iter()
                .map(|t| {
                    // `parametersJsonSchema` takes full JSON Schema; `parameters` only
                    // Google's OpenAPI subset, which refuses e.g. `additionalProperties`.
                    json!({
                        "name": t.name,
                        "description": t.description.clone().unwrap_or_default(),
                        "parametersJsonSchema": t.parameters,
                    })
                })
                .collect();
            body.insert(
                "tools".into(),
                json!([{ "functionDeclarations": declarations }]),
            );
        }
        if let Some(choice) = &req.tool_choice {
            let config = match choice {
                ToolChoice::Auto => json!({"mode": "AUTO"}),
                ToolChoice::None => json!({"mode": "NONE"}),
                ToolChoice::Required => json!({"mode": "ANY"}),
                ToolChoice::Tool(name) => json!({"mode": "ANY", "allowedFunctionNames": [name]}),
            };
            body.insert(
                "toolConfig".into(),
                json!({ "functionCallingConfig": config }),
            );
        }
        let mut generation = Map::new();
        if let Some(n) = req.max_tokens {
            generation.insert("maxOutputTokens".into(), json!(n));
        }
        if let Some(t) = req.temperature {
            generation.insert("temperature".into(), json!(t));
        }
        if let Some(p) = req.top_p {
            generation.insert("topP".into(), json!(p));
        }
        if !req.stop.is_empty() {
            generation.insert("stopSequences".into(), json!(req.stop));
        }
        // The caller's (or extraction's) generationConfig in extra_body is merged into this
        // one, its keys winning, rather than replacing the whole object.
        let extra_generation = req.extra_body.get("generationConfig");
        if let Some(Value::Object(extra)) = extra_generation {
            for (k, v) in extra {
                generation.insert(k.clone(), v.clone());
            }
        }
        if !generation.is_empty() {
            body.insert("generationConfig".into(), Value::Object(generation));
        }

        let headers = headers(ep)?;
        check_extra_body(req)?;
        let method = if stream {
            "streamGenerateContent"
        } else {
            "generateContent"
        };
        let mut url = join_url(&ep.base_url, &format!("v1beta/models/{model}:{method}"));
        if stream {
            // Without alt=sse the stream is one JSON array sent in pieces, not server-sent events.
            url.push_str(if url.contains('?') {
                "&alt=sse"
            } else {
                "?alt=sse"
            });
        }
        Ok(HttpRequest {
            method: Method::POST,
            url,
            headers,
            body: match extra_generation {
                Some(Value::Object(_)) => {
                    let rest: Map<String, Value> = req
                        .extra_body
                        .iter()
                        .filter(|(k, _)| *k != "generationConfig")
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    to_bytes(&body, &rest)?
                }
                _ => to_bytes(&body, &req.extra_body)?,
            },
            stream,
            timeout: ep.timeout,
            settings: Default::default(),
        })
    }

    fn parse_chat(&self, body: &[u8]) -> Result<ChatResponse> {
        response::parse(body)
    }

    fn stream_decoder(&self) -> Box<dyn StreamDecoder> {
        Box::new(stream::Decoder::default())
    }

    fn build_images(
        &self,
        ep: &Endpoint,
        req: &crate::images::ImageRequest,
    ) -> Option<Result<HttpRequest>> {
        Some(headers(ep).and_then(|h| images::build(ep, req, h)))
    }

    fn parse_images(&self, body: &[u8]) -> Result<crate::images::ImageResponse> {
        images::parse(body)
    }

    fn request_id(&self, headers: &HeaderMap) -> Option<String> {
        headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    fn parse_error(&self, status: u16, headers: &HeaderMap, body: &[u8]) -> LlmError {
        error::parse(status, self.request_id(headers), headers, body)
    }
}

/// `req.system` and every system or developer message, as one instruction.
fn system(req: &ChatRequest) -> Option<Value> {
    let mut parts: Vec<Value> = Vec::new();
    if let Some(s) = req.system.as_deref().filter(|s| !s.is_empty()) {
        parts.push(json!({"text": s}));
    }
    for m in &req.messages {
        if matches!(m.role, Role::System | Role::Developer) {
            parts.extend(m.content.iter().filter_map(part));
        }
    }
    (!parts.is_empty()).then(|| json!({ "parts": parts }))
}

/// The conversation as `contents`: assistant turns are `model`, tool results are
/// `functionResponse` parts of a `user` turn, and turns of one role in a row are merged (the
/// answers to parallel calls must arrive together).
fn contents(req: &ChatRequest) -> Result<Vec<Value>> {
    let mut out: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for m in &req.messages {
        let (role, parts) = match m.role {
            Role::System | Role::Developer => continue,
            Role::User => ("user", m.content.iter().filter_map(part).collect()),
            Role::Assistant => {
                let mut parts: Vec<Value> = m.content.iter().filter_map(part).collect();
                for c in &m.tool_calls {
                    let (id, signature) = split_call_id(&c.id);
                    let mut p = json!({"functionCall": {"id": id, "name": c.name, "args": c.arguments_or_empty()}});
                    if let (Some(sig), Some(o)) = (signature, p.as_object_mut()) {
                        o.insert("thoughtSignature".into(), Value::String(sig.to_string()));
                    }
                    parts.push(p);
                }
                ("model", parts)
            }
            Role::Tool => {
                let call = m.tool_call_id.as_deref().ok_or_else(|| {
                    LlmError::config("a message with role \"tool\" needs the \"tool_call_id\" of the call it answers")
                })?;
                let name = m
                    .name
                    .clone()
                    .or_else(|| called_name(req, call))
                    .ok_or_else(|| {
                        LlmError::config(format!(
                            "Gemini needs the function name of tool result {call:?}: no earlier \
                             assistant message called it; pass \"name\" on the tool message"
                        ))
                    })?;
                let (id, _) = split_call_id(call);
                let response = tool_response(&m.joined_text());
                (
                    "user",
                    vec![
                        json!({"functionResponse": {"id": id, "name": name, "response": response}}),
                    ],
                )
            }
        };
        if parts.is_empty() {
            continue;
        }
        match out.last_mut() {
            Some((last, existing)) if *last == role => existing.extend(parts),
            _ => out.push((role, parts)),
        }
    }
    Ok(out
        .into_iter()
        .map(|(role, parts)| json!({"role": role, "parts": parts}))
        .collect())
}

/// The name of the function the tool call `id` asked for, from the assistant turns before.
fn called_name(req: &ChatRequest, id: &str) -> Option<String> {
    req.messages
        .iter()
        .flat_map(|m| &m.tool_calls)
        .find(|c| c.id == id)
        .map(|c| c.name.clone())
}

/// A tool's answer as the JSON object `functionResponse.response` must be: an object the tool
/// returned as is, anything else under `"result"`.
fn tool_response(text: &str) -> Value {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(o)) => Value::Object(o),
        Ok(other) => json!({ "result": other }),
        Err(_) => json!({ "result": text }),
    }
}

/// A content part as a Gemini part; empty text is dropped (the API rejects it).
fn part(p: &ContentPart) -> Option<Value> {
    match p {
        ContentPart::Text(t) if t.is_empty() => None,
        ContentPart::Text(t) => Some(json!({"text": t})),
        ContentPart::Image(ImageSource::Base64 { media_type, data }) => {
            Some(json!({"inlineData": {"mimeType": media_type, "data": data}}))
        }
        ContentPart::Image(ImageSource::Url(u)) => {
            let mut file = json!({"fileUri": u});
            if let (Some(mime), Some(o)) = (image_mime(u), file.as_object_mut()) {
                o.insert("mimeType".into(), Value::String(mime.into()));
            }
            Some(json!({ "fileData": file }))
        }
        ContentPart::CacheBreakpoint(_) => None,
    }
}

/// The image type a URL's extension names; Gemini wants one with every `fileData`.
fn image_mime(url: &str) -> Option<&'static str> {
    let path = url.split(['?', '#']).next().unwrap_or_default();
    let ext = path.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "gif" => "image/gif",
        "heic" => "image/heic",
        "heif" => "image/heif",
        _ => return None,
    })
}

#[cfg(test)]
mod tests;
