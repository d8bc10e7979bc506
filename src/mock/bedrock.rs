//! Bedrock Runtime's Converse and ConverseStream as the real service writes them (shapes from
//! the Smithy model in `../shared/specs/bedrock/` and recorded traffic: pydantic-ai's
//! `test_bedrock` cassettes, langchaingo's Bedrock traces).
//!
//! The model id is in the path (`/model/{id}/converse`, `:` sent as `%3A`), not the body. A
//! stream is `application/vnd.amazon.eventstream`: binary frames with CRC-checked preludes and
//! messages, written by AWS's own `aws-smithy-eventstream`; each event's JSON carries the
//! padding field `"p"` the real service adds. Errors are an HTTP status, the
//! `x-amzn-ErrorType` header naming the exception, and `{"message": …}`; an error in the
//! middle of a stream is a frame of `:message-type` `exception`.

use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use bytes::Bytes;
use serde_json::{json, Value};

use super::render::{random_alnum, random_hex, split_fixed, Turn};

/// The content type of a ConverseStream answer.
pub(crate) const EVENT_STREAM: &str = "application/vnd.amazon.eventstream";

/// `/model/{id}/converse` or `/model/{id}/converse-stream`: the model id (percent-decoded) and
/// whether the answer streams.
pub(crate) fn route(path: &str) -> Option<(String, bool)> {
    let (_, rest) = path.split_once("/model/")?;
    let (id, streamed) = match rest.strip_suffix("/converse-stream") {
        Some(id) => (id, true),
        None => (rest.strip_suffix("/converse")?, false),
    };
    if id.is_empty() || id.contains('/') {
        return None;
    }
    let id = percent_encoding::percent_decode_str(id).decode_utf8_lossy();
    Some((id.into_owned(), streamed))
}

/// Bedrock takes a SigV4 signature or a Bedrock API key (a bearer token). The mock checks the
/// form, not the signature: it cannot know the secret.
pub(crate) fn authorized(headers: &http::HeaderMap) -> bool {
    let Some(auth) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return false;
    };
    if let Some(token) = auth.strip_prefix("Bearer ") {
        return !token.trim().is_empty();
    }
    let signed = auth.strip_prefix("AWS4-HMAC-SHA256 ").is_some_and(|rest| {
        ["Credential=", "SignedHeaders=", "Signature="]
            .iter()
            .all(|part| rest.contains(part))
    });
    signed && headers.contains_key("x-amz-date")
}

/// A request id as Bedrock writes one (a UUID).
pub(crate) fn new_request_id() -> String {
    let h = random_hex(32);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

fn usage(turn: &Turn) -> Value {
    let t = &turn.tokens;
    // `inputTokens` counts what was neither read from nor written to the cache.
    let cached = t.cache_read.saturating_add(t.cache_write);
    let input = t.input.saturating_sub(cached);
    let mut u = json!({
        "inputTokens": input,
        "outputTokens": t.output,
        "totalTokens": t.input.saturating_add(t.output),
    });
    if cached > 0 {
        u["cacheReadInputTokens"] = json!(t.cache_read);
        u["cacheWriteInputTokens"] = json!(t.cache_write);
    }
    u
}

/// A scripted call's id, or one as Bedrock writes them.
fn tool_use_id(id: Option<&String>) -> String {
    id.cloned()
        .unwrap_or_else(|| format!("tooluse_{}", random_alnum(22)))
}

/// Real inputs are always objects; unparsable scripted arguments pass through as text.
fn input(arguments: &str) -> Value {
    serde_json::from_str::<Value>(arguments).unwrap_or_else(|_| Value::String(arguments.into()))
}

/// A non-streamed Converse response.
pub(crate) fn response(turn: &Turn) -> Value {
    let mut content = Vec::new();
    match &turn.content {
        Some(text) if !text.is_empty() || turn.calls.is_empty() => {
            content.push(json!({ "text": text }));
        }
        _ => {}
    }
    for c in &turn.calls {
        content.push(json!({"toolUse": {
            "toolUseId": tool_use_id(c.id.as_ref()),
            "name": c.name,
            "input": input(&c.arguments),
        }}));
    }
    json!({
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": turn.finish.bedrock(),
        "usage": usage(turn),
        "metrics": {"latencyMs": 268},
    })
}

/// The padding the real service adds to every event: a run of the alphabet of varying length,
/// so a frame's size says nothing about its content.
fn padded(mut event: Value) -> Value {
    const ALPHABET: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let n = random_hex(2)
        .bytes()
        .fold(0usize, |a, b| a.wrapping_add(usize::from(b)))
        % ALPHABET.len();
    event["p"] = json!(&ALPHABET[..n.max(2)]);
    event
}

fn string(value: &str) -> HeaderValue {
    HeaderValue::String(value.to_string().into())
}

/// One event frame: `:event-type`, `:content-type`, `:message-type` `event`, a JSON payload.
pub(crate) fn event_frame(event_type: &str, payload: &Value) -> Bytes {
    frame(
        vec![
            Header::new(":event-type", string(event_type)),
            Header::new(":content-type", string("application/json")),
            Header::new(":message-type", string("event")),
        ],
        Bytes::from(payload.to_string()),
    )
}

/// An exception in the middle of a stream, as the service sends one.
pub(crate) fn exception_frame(exception_type: &str, message: &str) -> Bytes {
    frame(
        vec![
            Header::new(":exception-type", string(exception_type)),
            Header::new(":content-type", string("application/json")),
            Header::new(":message-type", string("exception")),
        ],
        Bytes::from(json!({ "message": message }).to_string()),
    )
}

fn frame(headers: Vec<Header>, payload: Bytes) -> Bytes {
    let message = Message::new_from_parts(headers, payload);
    let mut out = Vec::new();
    // Writing fails only past the format's limits (16 MiB a message), which no scripted
    // answer reaches; an empty piece then leaves the stream short, which a client sees.
    match aws_smithy_eventstream::frame::write_message_to(&message, &mut out) {
        Ok(()) => Bytes::from(out),
        Err(_) => Bytes::new(),
    }
}

/// The frames of a ConverseStream answer: messageStart; the text as deltas of block 0; each
/// tool call as its own block (a start with its id and name, the input JSON in slices, a
/// stop); messageStop with the stop reason; metadata with the usage.
pub(crate) fn events(turn: &Turn) -> Vec<Bytes> {
    let mut out = vec![event_frame(
        "messageStart",
        &padded(json!({"role": "assistant"})),
    )];
    let mut index = 0u64;
    let stop = |index: u64| {
        event_frame(
            "contentBlockStop",
            &padded(json!({"contentBlockIndex": index})),
        )
    };
    if !turn.pieces.is_empty() || turn.calls.is_empty() {
        for piece in &turn.pieces {
            let delta = json!({"contentBlockIndex": index, "delta": {"text": piece}});
            out.push(event_frame("contentBlockDelta", &padded(delta)));
        }
        out.push(stop(index));
        index = index.saturating_add(1);
    }
    for c in &turn.calls {
        let start = json!({"contentBlockIndex": index, "start": {"toolUse": {
            "toolUseId": tool_use_id(c.id.as_ref()),
            "name": c.name,
        }}});
        out.push(event_frame("contentBlockStart", &padded(start)));
        for slice in split_fixed(&c.arguments, 16) {
            let delta = json!({"contentBlockIndex": index, "delta": {"toolUse": {"input": slice}}});
            out.push(event_frame("contentBlockDelta", &padded(delta)));
        }
        out.push(stop(index));
        index = index.saturating_add(1);
    }
    let end = json!({"stopReason": turn.finish.bedrock()});
    out.push(event_frame("messageStop", &padded(end)));
    let metadata = json!({"usage": usage(turn), "metrics": {"latencyMs": 268}});
    out.push(event_frame("metadata", &padded(metadata)));
    out
}

/// A well-formed frame (checksums right) whose JSON payload is cut off.
pub(crate) fn broken_event() -> Bytes {
    frame(
        vec![
            Header::new(":event-type", string("contentBlockDelta")),
            Header::new(":content-type", string("application/json")),
            Header::new(":message-type", string("event")),
        ],
        Bytes::from_static(b"{\"contentBlockIndex\":0,\"delta\":{\"text\":"),
    )
}

/// The failure in the middle of a stream (`error_after`): the service's internal error.
pub(crate) fn stream_error() -> Bytes {
    exception_frame("internalServerException", exception(500).1)
}

/// The exception Bedrock names for a status, and its message.
pub(crate) fn exception(status: u16) -> (&'static str, &'static str) {
    match status {
        400 => (
            "ValidationException",
            "The provided model identifier is invalid.",
        ),
        401 | 403 => (
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ),
        404 => (
            "ResourceNotFoundException",
            "Could not resolve the foundation model from the provided model identifier. (mock)",
        ),
        408 => (
            "ModelTimeoutException",
            "The model took too long to respond. (mock)",
        ),
        424 => ("ModelErrorException", "The model returned an error. (mock)"),
        429 => (
            "ThrottlingException",
            "Too many requests, please wait before trying again.",
        ),
        503 => (
            "ServiceUnavailableException",
            "Bedrock is unable to process your request.",
        ),
        _ if status >= 500 => (
            "InternalServerException",
            "The system encountered an unexpected error during processing. Try your request again.",
        ),
        _ => ("ValidationException", "The request was rejected. (mock)"),
    }
}

/// `{"message": …}`, the body of every Bedrock error (the type is in a header).
pub(crate) fn error_body(status: u16, message: Option<&str>) -> Value {
    json!({ "message": message.unwrap_or(exception(status).1) })
}

/// The `x-amzn-ErrorType` header of a status, as the service writes it.
pub(crate) fn error_type(status: u16) -> String {
    format!(
        "{}:http://internal.amazon.com/coral/com.amazon.bedrock/",
        exception(status).0
    )
}

/// The control plane's foundation-model listing (`GET /foundation-models`), one model.
pub(crate) fn model_list() -> Value {
    json!({"modelSummaries": [{
        "modelArn": "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0",
        "modelId": "anthropic.claude-3-haiku-20240307-v1:0",
        "modelName": "Claude 3 Haiku",
        "providerName": "Anthropic",
        "inputModalities": ["TEXT", "IMAGE"],
        "outputModalities": ["TEXT"],
        "responseStreamingSupported": true,
    }]})
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn the_model_id_and_the_stream_come_from_the_path() {
        assert_eq!(
            route("/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"),
            Some(("anthropic.claude-3-haiku-20240307-v1:0".into(), false))
        );
        assert_eq!(
            route("/model/us.amazon.nova-micro-v1%3A0/converse-stream"),
            Some(("us.amazon.nova-micro-v1:0".into(), true))
        );
        assert_eq!(route("/model//converse"), None);
        assert_eq!(route("/model/a/b/converse"), None);
        assert_eq!(route("/model/x/invoke"), None);
    }

    #[test]
    fn a_bearer_key_or_a_sigv4_signature_is_accepted_and_nothing_else() {
        let with = |pairs: &[(&'static str, &'static str)]| {
            let mut h = http::HeaderMap::new();
            for (k, v) in pairs {
                h.insert(*k, http::HeaderValue::from_static(v));
            }
            authorized(&h)
        };
        assert!(with(&[("authorization", "Bearer bedrock-api-key")]));
        assert!(with(&[
            (
                "authorization",
                "AWS4-HMAC-SHA256 Credential=AKID/20261206/us-east-1/bedrock/aws4_request, \
                 SignedHeaders=host;x-amz-date, Signature=abc"
            ),
            ("x-amz-date", "20261206T120000Z"),
        ]));
        assert!(!with(&[]));
        assert!(!with(&[("authorization", "Bearer ")]));
        assert!(!with(&[(
            "authorization",
            "AWS4-HMAC-SHA256 Signature=abc"
        )]));
        assert!(!with(&[("x-api-key", "k")]));
    }
}
