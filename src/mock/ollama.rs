//! Ollama's native `/api/chat` as a local server writes it (shapes copied from recorded
//! traffic, tests/data/real-traces): one JSON object, or one a line (NDJSON) when streaming,
//! the `done: true` line last with `done_reason` and the token counts.

use bytes::Bytes;
use serde_json::{json, Map, Value};

use super::render::{unix_now, Turn};
use super::script::FinishReason;

/// `created_at` in RFC 3339, as Ollama stamps every line.
fn created_at() -> String {
    let secs = unix_now();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Days since 1970-01-01 to a civil date (H. Hinnant's algorithm).
    let z = days.saturating_add(719_468);
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.000000Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Ollama says "stop" after tool calls too; only a cut-off answer says "length".
fn done_reason(finish: FinishReason) -> &'static str {
    match finish {
        FinishReason::Length => "length",
        _ => "stop",
    }
}

/// Tool calls as Ollama sends them: the arguments an object, not text.
fn tool_calls(turn: &Turn) -> Vec<Value> {
    turn.calls
        .iter()
        .map(|c| {
            let arguments = serde_json::from_str::<Value>(&c.arguments)
                .unwrap_or_else(|_| Value::String(c.arguments.clone()));
            let mut call = json!({"function": {"name": c.name, "arguments": arguments}});
            if let Some(id) = &c.id {
                call["id"] = Value::String(id.clone());
            }
            call
        })
        .collect()
}

fn line(turn: &Turn, message: Value, done: Option<&Map<String, Value>>) -> Value {
    let mut v = json!({
        "model": turn.model,
        "created_at": created_at(),
        "message": message,
        "done": done.is_some(),
    });
    if let (Some(done), Value::Object(o)) = (done, &mut v) {
        o.extend(done.iter().map(|(k, val)| (k.clone(), val.clone())));
    }
    v
}

/// `done_reason` and the counts of the last line (durations in nanoseconds, made up).
fn done_fields(turn: &Turn) -> Map<String, Value> {
    let fields = json!({
        "done_reason": done_reason(turn.finish),
        "total_duration": 250_000_000u64,
        "load_duration": 40_000_000u64,
        "prompt_eval_count": turn.tokens.input,
        "prompt_eval_duration": 20_000_000u64,
        "eval_count": turn.tokens.output,
        "eval_duration": 180_000_000u64,
    });
    match fields {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// The whole answer of `"stream": false`.
pub(crate) fn chat(turn: &Turn) -> Value {
    let mut message =
        json!({"role": "assistant", "content": turn.content.clone().unwrap_or_default()});
    if !turn.calls.is_empty() {
        message["tool_calls"] = Value::Array(tool_calls(turn));
    }
    line(turn, message, Some(&done_fields(turn)))
}

/// The NDJSON lines of a streamed answer: a line per text piece, the tool calls whole in one
/// line, then the `done` line.
pub(crate) fn lines(turn: &Turn) -> Vec<Bytes> {
    let as_line = |v: Value| Bytes::from(format!("{v}\n"));
    let mut out = Vec::with_capacity(turn.pieces.len().saturating_add(2));
    for piece in &turn.pieces {
        out.push(as_line(line(
            turn,
            json!({"role": "assistant", "content": piece}),
            None,
        )));
    }
    if !turn.calls.is_empty() {
        out.push(as_line(line(
            turn,
            json!({"role": "assistant", "content": "", "tool_calls": tool_calls(turn)}),
            None,
        )));
    }
    out.push(as_line(line(
        turn,
        json!({"role": "assistant", "content": ""}),
        Some(&done_fields(turn)),
    )));
    out
}

/// `{"error": "…"}`, Ollama's error body for every status; a 404 names the model as Ollama
/// does when it is not pulled.
pub(crate) fn error_body(status: u16, message: Option<&str>, model: &str) -> Value {
    let default = match status {
        400 => "invalid request (mock)".to_string(),
        404 => format!("model \"{model}\" not found, try pulling it first"),
        500 => "an error was encountered while running the model (mock)".to_string(),
        _ if status >= 500 => "server busy, please try again (mock)".to_string(),
        _ => "the request was rejected (mock)".to_string(),
    };
    json!({"error": message.map_or(default, str::to_string)})
}

/// A line cut off mid-JSON.
pub(crate) const BROKEN_LINE: &[u8] = b"{\"model\":\"mock\",\"message\":{\"role\":\n";

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn created_at_is_an_rfc3339_utc_time() {
        let t = created_at();
        assert_eq!(t.len(), 27, "{t}");
        assert!(
            t.starts_with("20") && t.ends_with('Z') && t.contains('T'),
            "{t}"
        );
    }
}
