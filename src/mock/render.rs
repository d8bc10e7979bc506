//! What both wire formats share: the answer to render ([`Turn`]), ids, chunking, SSE framing.

use bytes::Bytes;
use rand::distr::Alphanumeric;
use rand::Rng;
use serde_json::{Map, Value};

use super::script::{FinishReason, Reply};

/// A tool call ready for the wire.
pub(crate) struct CallOut {
    pub id: Option<String>,
    pub name: String,
    /// The argument JSON text, exactly as sent.
    pub arguments: String,
}

/// Token counts of one answer; `input` includes the cached tokens.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tokens {
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    pub cache_write: u64,
    /// The part of `cache_write` written with a 1-hour TTL.
    pub cache_write_1h: u64,
}

/// One answer, independent of the wire format.
pub(crate) struct Turn {
    pub model: String,
    pub content: Option<String>,
    pub pieces: Vec<String>,
    pub calls: Vec<CallOut>,
    pub finish: FinishReason,
    pub tokens: Tokens,
}

impl Turn {
    /// `stream` says whether the stream pieces are needed (a whole body does not use them).
    pub(crate) fn new(
        reply: &Reply,
        request: &Map<String, Value>,
        request_len: usize,
        stream: bool,
    ) -> Self {
        let model = reply
            .model
            .clone()
            .or_else(|| {
                request
                    .get("model")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| "mock-model".to_owned());
        let calls: Vec<CallOut> = reply
            .tool_calls
            .iter()
            .map(|c| CallOut {
                id: c.id.clone(),
                name: c.name.clone(),
                arguments: match &c.arguments {
                    Value::String(raw) => raw.clone(),
                    other => other.to_string(),
                },
            })
            .collect();
        // A reply with neither text nor tool calls (only latency, say) still answers something.
        let content = match reply.content() {
            None if calls.is_empty() => Some(echo(request)),
            other => other,
        };
        let pieces = match (&reply.chunks, &content) {
            _ if !stream => Vec::new(),
            (Some(chunks), _) => chunks.clone(),
            (None, Some(text)) => split_words(text),
            (None, None) => Vec::new(),
        };
        let output_chars = content.as_ref().map_or(0, |c| c.chars().count())
            + calls
                .iter()
                .map(|c| c.name.len() + c.arguments.len())
                .sum::<usize>();
        let spec = reply.usage.unwrap_or_default();
        let cached = spec
            .cache_read_tokens
            .saturating_add(spec.cache_write_tokens);
        let tokens = Tokens {
            input: spec
                .input_tokens
                .unwrap_or_else(|| estimate(request_len))
                .max(cached),
            output: spec.output_tokens.unwrap_or_else(|| estimate(output_chars)),
            cache_read: spec.cache_read_tokens,
            cache_write: spec.cache_write_tokens,
            cache_write_1h: 0,
        };
        Self {
            model,
            content,
            pieces,
            calls,
            finish: reply.finish(),
            tokens,
        }
    }
}

/// About four characters per token, never zero.
fn estimate(chars: usize) -> u64 {
    (chars as u64 / 4).max(1)
}

/// Input tokens the way the rate limiter estimates them before sending
/// (`resilience/estimate.rs`): about four characters a token over the system prompt, message
/// texts, tool calls and tool definitions, plus four for each message's framing. So a limit or
/// a budget set in tokens behaves against the in-process mock as its estimate said it would.
pub(crate) fn estimate_input(request: &Map<String, Value>) -> u64 {
    let messages = request
        .get("messages")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    let mut chars: usize = 0;
    for m in messages {
        if let Some(content) = m.get("content") {
            chars = chars.saturating_add(text_of(content).len());
        }
        for call in m
            .get("tool_calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let function = call.get("function");
            for key in ["name", "arguments"] {
                let part = function.and_then(|f| f.get(key)).and_then(Value::as_str);
                chars = chars.saturating_add(part.map_or(0, str::len));
            }
        }
    }
    for tool in request
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let function = tool.get("function").unwrap_or(tool);
        for key in ["name", "description"] {
            let part = function.get(key).and_then(Value::as_str);
            chars = chars.saturating_add(part.map_or(0, str::len));
        }
        chars = chars.saturating_add(
            function
                .get("parameters")
                .map_or(0, |p| p.to_string().len()),
        );
    }
    let framing = u64::try_from(messages.len())
        .unwrap_or(u64::MAX)
        .saturating_mul(4);
    let chars = u64::try_from(chars).unwrap_or(u64::MAX);
    framing.saturating_add(chars.div_ceil(4)).max(1)
}

/// The default answer: `mock reply to: <last user text>`.
pub(crate) fn echo(request: &Map<String, Value>) -> String {
    format!("mock reply to: {}", last_user_text(request))
}

/// The text of the last user message, in any wire format (string or list of text parts;
/// Gemini's `contents` with `parts`).
pub(crate) fn last_user_text(request: &Map<String, Value>) -> String {
    if let Some(contents) = request.get("contents").and_then(Value::as_array) {
        let last = contents.iter().rev().find(|c| {
            c.get("role")
                .and_then(Value::as_str)
                .is_none_or(|r| r == "user")
        });
        return last
            .and_then(|c| c.get("parts"))
            .map(text_of)
            .unwrap_or_default();
    }
    let messages = request.get("messages").and_then(Value::as_array);
    let last = messages.and_then(|m| {
        m.iter()
            .rev()
            .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
    });
    match last.and_then(|m| m.get("content")) {
        Some(content) => text_of(content),
        None => String::new(),
    }
}

fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| match p.get("text") {
                Some(Value::String(t)) => Some(t.clone()),
                // Anthropic tool results nest their content one level down.
                _ => p.get("content").map(text_of),
            })
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

/// Split before each word, the way real streams deliver text (`"The"`, `" capital"`, ...).
pub(crate) fn split_words(text: &str) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut current = String::new();
    let mut seen_word = false;
    for ch in text.chars() {
        if ch.is_whitespace() && seen_word {
            pieces.push(std::mem::take(&mut current));
            seen_word = false;
        }
        if !ch.is_whitespace() {
            seen_word = true;
        }
        current.push(ch);
    }
    if !current.is_empty() {
        pieces.push(current);
    }
    pieces
}

/// Tool-argument deltas: short slices, cut on character boundaries.
pub(crate) fn split_fixed(text: &str, size: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars
        .chunks(size.max(1))
        .map(|c| c.iter().collect())
        .collect()
}

pub(crate) fn random_alnum(len: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

pub(crate) fn random_hex(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(b"0123456789abcdef"[rng.random_range(0..16)]))
        .collect()
}

pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `data: <json>\n\n`
pub(crate) fn sse_data(value: &Value) -> Bytes {
    Bytes::from(format!("data: {value}\n\n"))
}

/// `event: <name>\ndata: <json>\n\n`
pub(crate) fn sse_event(name: &str, value: &Value) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {value}\n\n"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn words_keep_their_leading_space() {
        assert_eq!(
            split_words("The capital  of\nUK."),
            ["The", " capital", "  of", "\nUK."]
        );
        assert_eq!(split_words(" lead"), [" lead"]);
        assert!(split_words("").is_empty());
        assert_eq!(split_fixed("{\"a\":1}", 3), ["{\"a", "\":1", "}"]);
    }

    #[test]
    fn input_is_estimated_like_the_rate_limiter_does() {
        // Two messages (8 framing tokens) and 40 characters of text: 10 more.
        let req = json!({"messages": [
            {"role": "system", "content": "s".repeat(20)},
            {"role": "user", "content": "u".repeat(20)},
        ], "model": "m", "stream": false});
        let Value::Object(map) = req else {
            unreachable!()
        };
        assert_eq!(estimate_input(&map), 18);
    }

    #[test]
    fn echo_finds_the_last_user_text() {
        let req = json!({"messages": [
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "x"},
            {"role": "user", "content": [{"type": "text", "text": "hello"}, {"type": "text", "text": "world"}]},
        ]});
        let Value::Object(map) = req else {
            unreachable!()
        };
        assert_eq!(echo(&map), "mock reply to: hello world");
    }
}
