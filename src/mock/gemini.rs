//! Gemini `generateContent` / `streamGenerateContent?alt=sse` as the real API writes it (shapes
//! copied from recorded traffic: pydantic-ai's and llm-gemini's cassettes, langchaingo's traces).
//!
//! The model is in the path, not the body; a stream's chunks each repeat the usage so far and the
//! last carries the finishReason; a function call arrives whole in one part; errors are Google's
//! `{"error": {"code", "message", "status", "details"}}` envelope, a 429's wait in a `RetryInfo`
//! detail rather than a Retry-After header.

use bytes::Bytes;
use serde_json::{json, Value};

use super::render::{random_alnum, Tokens, Turn};

/// `/v1beta/models/{model}:generateContent` or `:streamGenerateContent`: the model and whether
/// the answer streams.
pub(crate) fn route(path: &str) -> Option<(&str, bool)> {
    let (_, rest) = path.split_once("/models/")?;
    if let Some(model) = rest.strip_suffix(":generateContent") {
        Some((model, false))
    } else {
        rest.strip_suffix(":streamGenerateContent")
            .map(|model| (model, true))
    }
}

fn model(turn: &Turn) -> &str {
    turn.model.strip_prefix("models/").unwrap_or(&turn.model)
}

fn usage(t: &Tokens, output: u64) -> Value {
    let mut u = json!({
        "promptTokenCount": t.input,
        "candidatesTokenCount": output,
        "totalTokenCount": t.input.saturating_add(output),
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": t.input}],
    });
    if t.cache_read > 0 {
        u["cachedContentTokenCount"] = json!(t.cache_read);
    }
    u
}

/// One `functionCall` part per scripted call; a scripted id is sent as Gemini 3 does.
fn call_parts(turn: &Turn) -> Vec<Value> {
    turn.calls
        .iter()
        .map(|c| {
            // Real args are always objects; unparsable scripted arguments pass through as text.
            let args = serde_json::from_str::<Value>(&c.arguments)
                .unwrap_or_else(|_| Value::String(c.arguments.clone()));
            let mut call = json!({"name": c.name, "args": args});
            if let Some(id) = &c.id {
                call["id"] = json!(id);
            }
            json!({ "functionCall": call })
        })
        .collect()
}

fn finish(turn: &Turn) -> &'static str {
    turn.finish.gemini()
}

fn chunk(turn: &Turn, response_id: &str, parts: Vec<Value>, end: bool, output: u64) -> Value {
    let mut candidate = json!({"content": {"parts": parts, "role": "model"}, "index": 0});
    if end {
        candidate["finishReason"] = json!(finish(turn));
    }
    json!({
        "candidates": [candidate],
        "usageMetadata": usage(&turn.tokens, output),
        "modelVersion": model(turn),
        "responseId": response_id,
    })
}

/// A non-streamed `GenerateContentResponse`.
pub(crate) fn response(turn: &Turn) -> Value {
    let mut parts = Vec::new();
    match &turn.content {
        Some(text) if !text.is_empty() || turn.calls.is_empty() => {
            parts.push(json!({"text": text}));
        }
        _ => {}
    }
    parts.extend(call_parts(turn));
    chunk(turn, &random_alnum(22), parts, true, turn.tokens.output)
}

/// The SSE events of a stream: one chunk per text piece, the calls whole, the last chunk with
/// the finishReason and the final usage.
pub(crate) fn events(turn: &Turn) -> Vec<Bytes> {
    let id = random_alnum(22);
    let mut chunks: Vec<Vec<Value>> = turn
        .pieces
        .iter()
        .map(|p| vec![json!({ "text": p })])
        .collect();
    let calls = call_parts(turn);
    if !calls.is_empty() {
        chunks.push(calls);
    }
    if chunks.is_empty() {
        chunks.push(vec![json!({"text": ""})]);
    }
    let last = chunks.len().saturating_sub(1);
    chunks
        .into_iter()
        .enumerate()
        .map(|(i, parts)| {
            // Earlier chunks count the output so far; the last one the whole answer.
            let output = if i == last { turn.tokens.output } else { 0 };
            let c = chunk(turn, &id, parts, i == last, output);
            // The real API ends events with CRLF pairs.
            Bytes::from(format!("data: {c}\r\n\r\n"))
        })
        .collect()
}

pub(crate) fn broken_event() -> Bytes {
    Bytes::from_static(b"data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \r\n\r\n")
}

/// Google's error envelope, with the status name the real API gives each code.
pub(crate) fn error_body(status: u16, message: Option<&str>, retry_after: Option<f64>) -> Value {
    let (name, default_message) = match status {
        400 => (
            "INVALID_ARGUMENT",
            "Request contains an invalid argument. (mock)",
        ),
        401 => (
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials. (mock)",
        ),
        403 => ("PERMISSION_DENIED", MISSING_KEY),
        404 => ("NOT_FOUND", "Requested entity was not found. (mock)"),
        429 => (
            "RESOURCE_EXHAUSTED",
            "You exceeded your current quota, please check your plan and billing details. (mock)",
        ),
        503 => (
            "UNAVAILABLE",
            "The model is overloaded. Please try again later.",
        ),
        504 => (
            "DEADLINE_EXCEEDED",
            "Deadline expired before operation could complete.",
        ),
        _ if status >= 500 => ("INTERNAL", "An internal error has occurred. (mock)"),
        _ => ("FAILED_PRECONDITION", "The request was rejected. (mock)"),
    };
    let mut error = json!({
        "code": status,
        "message": message.unwrap_or(default_message),
        "status": name,
    });
    if let Some(secs) = retry_after {
        error["details"] = json!([{
            "@type": "type.googleapis.com/google.rpc.RetryInfo",
            "retryDelay": format!("{}s", super::fault::retry_after_header(secs)),
        }]);
    }
    json!({ "error": error })
}

/// The 403 message the real API sends when no key was given (recorded in langchaingo's trace).
pub(crate) const MISSING_KEY: &str = "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.";
