//! OpenAI Chat Completions as the real API writes it (shapes copied from recorded traffic).

use bytes::Bytes;
use serde_json::{json, Map, Value};

use super::render::{random_alnum, random_hex, split_fixed, sse_data, unix_now, Tokens, Turn};

/// Characters per tool-argument delta; real streams send a JSON token or two at a time.
const ARGUMENT_PIECE: usize = 8;

struct Ids {
    id: String,
    created: u64,
    fingerprint: String,
}

impl Ids {
    fn new() -> Self {
        Self {
            id: format!("chatcmpl-{}", random_alnum(29)),
            created: unix_now(),
            fingerprint: format!("fp_{}", random_hex(10)),
        }
    }
}

fn call_ids(turn: &Turn) -> Vec<String> {
    turn.calls
        .iter()
        .map(|c| {
            c.id.clone()
                .unwrap_or_else(|| format!("call_{}", random_alnum(24)))
        })
        .collect()
}

fn usage(t: &Tokens) -> Value {
    json!({
        "prompt_tokens": t.input,
        "completion_tokens": t.output,
        "total_tokens": t.input.saturating_add(t.output),
        "prompt_tokens_details": {"cached_tokens": t.cache_read, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0, "audio_tokens": 0,
            "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0
        }
    })
}

/// A non-streamed `chat.completion` object.
pub(crate) fn completion(turn: &Turn) -> Value {
    let ids = Ids::new();
    let mut message = json!({
        "role": "assistant",
        "content": turn.content,
        "refusal": null,
        "annotations": [],
    });
    if !turn.calls.is_empty() {
        let calls: Vec<Value> = turn
            .calls
            .iter()
            .zip(call_ids(turn))
            .map(|(c, id)| {
                json!({"id": id, "type": "function",
                       "function": {"name": c.name, "arguments": c.arguments}})
            })
            .collect();
        message["tool_calls"] = Value::Array(calls);
    }
    json!({
        "id": ids.id,
        "object": "chat.completion",
        "created": ids.created,
        "model": turn.model,
        "choices": [{
            "index": 0,
            "message": message,
            "logprobs": null,
            "finish_reason": turn.finish.openai(),
        }],
        "usage": usage(&turn.tokens),
        "service_tier": "default",
        "system_fingerprint": ids.fingerprint,
    })
}

/// The `chat.completion.chunk` events of a stream, then `data: [DONE]`.
pub(crate) fn events(turn: &Turn, request: &Map<String, Value>) -> Vec<Bytes> {
    let include_usage = request
        .get("stream_options")
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let ids = Ids::new();
    let chunk = |delta: Value, finish: Option<&str>| {
        let mut c = json!({
            "id": ids.id,
            "object": "chat.completion.chunk",
            "created": ids.created,
            "model": turn.model,
            "service_tier": "default",
            "system_fingerprint": ids.fingerprint,
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
        });
        // The real API only sends the `usage` key when usage was asked for.
        if include_usage {
            c["usage"] = Value::Null;
        }
        sse_data(&c)
    };

    let mut out = Vec::new();
    let text_first = turn.content.is_some() || turn.calls.is_empty();
    if text_first {
        out.push(chunk(
            json!({"role": "assistant", "content": "", "refusal": null}),
            None,
        ));
        for piece in &turn.pieces {
            out.push(chunk(json!({"content": piece}), None));
        }
    }
    for (index, (call, id)) in turn.calls.iter().zip(call_ids(turn)).enumerate() {
        let start = json!({"index": index, "id": id, "type": "function",
                           "function": {"name": call.name, "arguments": ""}});
        let delta = if index == 0 && !text_first {
            json!({"role": "assistant", "content": null, "tool_calls": [start], "refusal": null})
        } else {
            json!({"tool_calls": [start]})
        };
        out.push(chunk(delta, None));
        for piece in split_fixed(&call.arguments, ARGUMENT_PIECE) {
            let delta = json!({"tool_calls": [{"index": index, "function": {"arguments": piece}}]});
            out.push(chunk(delta, None));
        }
    }
    out.push(chunk(json!({}), Some(turn.finish.openai())));
    if include_usage {
        let last = json!({
            "id": ids.id,
            "object": "chat.completion.chunk",
            "created": ids.created,
            "model": turn.model,
            "service_tier": "default",
            "system_fingerprint": ids.fingerprint,
            "choices": [],
            "usage": usage(&turn.tokens),
        });
        out.push(sse_data(&last));
    }
    out.push(Bytes::from_static(b"data: [DONE]\n\n"));
    out
}

/// `{"error": {...}}` with the type and code the real API uses for this status.
pub(crate) fn error_body(status: u16, message: Option<&str>) -> Value {
    let (kind, code, default_message) = match status {
        400 => ("invalid_request_error", Value::Null, "Invalid request (mock)."),
        401 => (
            "invalid_request_error",
            json!("invalid_api_key"),
            "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
        ),
        403 => ("invalid_request_error", json!("unsupported_country_region_territory"), "Country, region, or territory not supported."),
        404 => ("invalid_request_error", json!("model_not_found"), "The model does not exist or you do not have access to it."),
        429 => (
            "requests",
            json!("rate_limit_exceeded"),
            "Rate limit reached for requests (mock). Please try again later.",
        ),
        500 => ("server_error", Value::Null, "The server had an error while processing your request. Sorry about that!"),
        502..=504 | 529 => ("server_error", Value::Null, "The server is overloaded or not ready yet."),
        _ if status >= 500 => ("server_error", Value::Null, "The server had an error processing your request."),
        _ => ("invalid_request_error", Value::Null, "The request was rejected (mock)."),
    };
    json!({"error": {
        "message": message.unwrap_or(default_message),
        "type": kind,
        "param": null,
        "code": code,
    }})
}

/// The 401 the real API sends when no key was given at all.
pub(crate) const MISSING_KEY: &str = "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).";
