//! Anthropic Messages as the real API writes it (shapes copied from recorded traffic).

use bytes::Bytes;
use serde_json::{json, Value};

use super::render::{random_alnum, split_fixed, sse_event, Tokens, Turn};

/// Characters per `input_json_delta`.
const ARGUMENT_PIECE: usize = 12;

fn tool_ids(turn: &Turn) -> Vec<String> {
    turn.calls
        .iter()
        .map(|c| {
            c.id.clone()
                .unwrap_or_else(|| format!("toolu_01{}", random_alnum(22)))
        })
        .collect()
}

fn message_id() -> String {
    format!("msg_01{}", random_alnum(22))
}

/// Anthropic counts cache reads and writes apart from `input_tokens`.
fn uncached(t: &Tokens) -> u64 {
    t.input
        .saturating_sub(t.cache_read.saturating_add(t.cache_write))
}

fn usage(t: &Tokens, output: u64) -> Value {
    json!({
        "input_tokens": uncached(t),
        "cache_creation_input_tokens": t.cache_write,
        "cache_read_input_tokens": t.cache_read,
        "cache_creation": {
            "ephemeral_5m_input_tokens": t.cache_write - t.cache_write_1h,
            "ephemeral_1h_input_tokens": t.cache_write_1h,
        },
        "output_tokens": output,
        "service_tier": "standard",
    })
}

/// Text first (when there is any), then one `tool_use` block per call.
fn blocks(turn: &Turn) -> Vec<Value> {
    let mut out = Vec::new();
    match &turn.content {
        Some(text) if !text.is_empty() || turn.calls.is_empty() => {
            out.push(json!({"type": "text", "text": text}));
        }
        _ => {}
    }
    for (call, id) in turn.calls.iter().zip(tool_ids(turn)) {
        // Real inputs are always objects; unparsable scripted arguments pass through as text.
        let input = serde_json::from_str::<Value>(&call.arguments)
            .unwrap_or_else(|_| Value::String(call.arguments.clone()));
        out.push(json!({"type": "tool_use", "id": id, "name": call.name, "input": input}));
    }
    out
}

/// A non-streamed `message` object.
pub(crate) fn message(turn: &Turn) -> Value {
    json!({
        "id": message_id(),
        "type": "message",
        "role": "assistant",
        "model": turn.model,
        "content": blocks(turn),
        "stop_reason": turn.finish.anthropic(),
        "stop_sequence": null,
        "usage": usage(&turn.tokens, turn.tokens.output),
    })
}

/// The typed SSE events of a stream, `message_start` to `message_stop`.
pub(crate) fn events(turn: &Turn) -> Vec<Bytes> {
    let mut out = Vec::new();
    let start = json!({
        "type": "message_start",
        "message": {
            "model": turn.model,
            "id": message_id(),
            "type": "message",
            "role": "assistant",
            "content": [],
            "stop_reason": null,
            "stop_sequence": null,
            "usage": usage(&turn.tokens, 1),
        }
    });
    out.push(sse_event("message_start", &start));

    let mut index = 0usize;
    let mut open = |out: &mut Vec<Bytes>, block: Value| {
        out.push(sse_event(
            "content_block_start",
            &json!({"type": "content_block_start", "index": index, "content_block": block}),
        ));
        if index == 0 {
            out.push(sse_event("ping", &json!({"type": "ping"})));
        }
        index += 1;
        index - 1
    };
    let delta = |i: usize, d: Value| {
        sse_event(
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": i, "delta": d}),
        )
    };
    let stop = |i: usize| {
        sse_event(
            "content_block_stop",
            &json!({"type": "content_block_stop", "index": i}),
        )
    };

    match &turn.content {
        Some(text) if !text.is_empty() || turn.calls.is_empty() => {
            let i = open(&mut out, json!({"type": "text", "text": ""}));
            for piece in &turn.pieces {
                out.push(delta(i, json!({"type": "text_delta", "text": piece})));
            }
            out.push(stop(i));
        }
        _ => {}
    }
    for (call, id) in turn.calls.iter().zip(tool_ids(turn)) {
        let i = open(
            &mut out,
            json!({"type": "tool_use", "id": id, "name": call.name, "input": {}}),
        );
        out.push(delta(
            i,
            json!({"type": "input_json_delta", "partial_json": ""}),
        ));
        for piece in split_fixed(&call.arguments, ARGUMENT_PIECE) {
            out.push(delta(
                i,
                json!({"type": "input_json_delta", "partial_json": piece}),
            ));
        }
        out.push(stop(i));
    }

    let t = &turn.tokens;
    out.push(sse_event(
        "message_delta",
        &json!({
            "type": "message_delta",
            "delta": {"stop_reason": turn.finish.anthropic(), "stop_sequence": null},
            "usage": {
                "input_tokens": uncached(t),
                "cache_creation_input_tokens": t.cache_write,
                "cache_read_input_tokens": t.cache_read,
                "output_tokens": t.output,
            }
        }),
    ));
    out.push(sse_event("message_stop", &json!({"type": "message_stop"})));
    out
}

/// `{"type": "error", "error": {...}, "request_id": ...}` with the real error type for the status.
pub(crate) fn error_body(status: u16, message: Option<&str>, request_id: &str) -> Value {
    let (kind, default_message) = match status {
        400 => ("invalid_request_error", "Invalid request (mock)."),
        401 => ("authentication_error", "invalid x-api-key"),
        403 => (
            "permission_error",
            "Your API key does not have permission to use the specified resource.",
        ),
        404 => (
            "not_found_error",
            "The requested resource could not be found.",
        ),
        413 => (
            "request_too_large",
            "Request exceeds the maximum allowed number of bytes.",
        ),
        429 => (
            "rate_limit_error",
            "Number of request tokens has exceeded your per-minute rate limit (mock).",
        ),
        504 => ("timeout_error", "Request timed out."),
        529 => ("overloaded_error", "Overloaded"),
        _ if status >= 500 => ("api_error", "Internal server error"),
        _ => ("invalid_request_error", "The request was rejected (mock)."),
    };
    json!({
        "type": "error",
        "error": {"type": kind, "message": message.unwrap_or(default_message)},
        "request_id": request_id,
    })
}

/// The 401 message the real API sends when no key was given at all.
pub(crate) const MISSING_KEY: &str = "x-api-key header is required";
