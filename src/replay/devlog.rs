//! The development recorder: with `LLMRAIL_RECORD_RESPONSES=1`, every call that goes to the
//! network is written as one readable JSON file under `./llm_response_logs/` (or
//! `$LLMRAIL_RESPONSE_LOG_DIR`), scrubbed exactly like a cassette. For looking at what a provider
//! really sent while developing; cassettes are for tests.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{json, Map, Value};

use super::cassette::{write_atomic, Interaction};
use super::scrub;
use crate::error::Result;

pub const ENV: &str = "LLMRAIL_RECORD_RESPONSES";
pub const DIR_ENV: &str = "LLMRAIL_RESPONSE_LOG_DIR";
pub const DEFAULT_DIR: &str = "llm_response_logs";

/// Where to write, when the environment asks for it (read on every call, so it can be toggled).
pub fn dir_from_env() -> Option<PathBuf> {
    let on = std::env::var(ENV).ok()?;
    if matches!(
        on.trim().to_ascii_lowercase().as_str(),
        "" | "0" | "false" | "no" | "off"
    ) {
        return None;
    }
    let dir = std::env::var_os(DIR_ENV).filter(|d| !d.is_empty());
    Some(dir.map_or_else(|| PathBuf::from(DEFAULT_DIR), PathBuf::from))
}

/// Write one (already scrubbed) interaction; returns the file's path.
pub fn write(dir: &Path, i: &Interaction) -> Result<PathBuf> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    let pid = std::process::id();
    let name = format!("{millis}-{pid}-{seq:04}-{}.json", slug(&i.request.uri));
    let path = dir.join(name);
    let text = serde_json::to_string_pretty(&document(i)).unwrap_or_default();
    write_atomic(&path, &(text + "\n"))?;
    Ok(path)
}

fn document(i: &Interaction) -> Value {
    let (req, resp) = (&i.request, &i.response);
    let mut response = json!({
        "status": resp.status,
        "headers": headers(&resp.headers),
        "latency_ms": resp.latency.map(|d| d.as_secs_f64() * 1000.0),
    });
    if let (Some(chunks), Value::Object(m)) = (&resp.chunks, &mut response) {
        m.insert("chunks".into(), chunks.len().into());
    }
    let sse = resp
        .headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("content-type") && v.starts_with("text/event-stream"));
    if let Value::Object(m) = &mut response {
        let body = if sse {
            events(&resp.body)
        } else {
            body(&resp.body)
        };
        m.insert(if sse { "events" } else { "body" }.into(), body);
    }
    json!({
        "request": {
            "method": req.method,
            "url": scrub::url(&req.uri),
            "headers": headers(&req.headers),
            "body": body(&req.body),
        },
        "response": response,
    })
}

fn headers(h: &[(String, String)]) -> Value {
    let mut m = Map::new();
    for (k, v) in h {
        m.insert(k.clone(), Value::String(v.clone()));
    }
    Value::Object(m)
}

/// JSON as JSON; other text as a string.
fn body(b: &[u8]) -> Value {
    if b.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(b).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(b).into()))
}

/// A server-sent-event body as a list of `{"event": ..., "data": ...}`, data parsed when JSON.
fn events(b: &[u8]) -> Value {
    let text = String::from_utf8_lossy(b).replace("\r\n", "\n");
    let mut out = Vec::new();
    for block in text.split("\n\n").filter(|s| !s.trim().is_empty()) {
        let mut event = Map::new();
        let mut data = Vec::new();
        for line in block.lines() {
            if let Some(name) = line.strip_prefix("event:") {
                event.insert("event".into(), name.trim().into());
            } else if let Some(d) = line.strip_prefix("data:") {
                data.push(d.strip_prefix(' ').unwrap_or(d));
            }
        }
        let data = data.join("\n");
        event.insert("data".into(), body(data.as_bytes()));
        out.push(Value::Object(event));
    }
    Value::Array(out)
}

/// `api.openai.com-v1-chat-completions` from a URL, for file names: no userinfo, no query.
fn slug(uri: &str) -> String {
    let uri = match scrub::userinfo_span(uri) {
        Some(span) => Cow::Owned(format!("{}{}", &uri[..span.start], &uri[span.end..])),
        None => Cow::Borrowed(uri),
    };
    let rest = uri.split_once("://").map_or(&*uri, |(_, r)| r);
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let mut s: String = rest
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    s.truncate(80);
    s.trim_matches('-').to_string()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn slugs_and_events_are_readable() {
        assert_eq!(
            slug("https://api.openai.com/v1/chat/completions?key=REDACTED"),
            "api.openai.com-v1-chat-completions"
        );
        assert_eq!(slug("http://user:SECRET@127.0.0.1:8/v1"), "127.0.0.1-8-v1");
        let ev = events(b"event: ping\ndata: {\"a\": 1}\n\ndata: [DONE]\n\n");
        assert_eq!(
            ev,
            json!([{"event": "ping", "data": {"a": 1}}, {"data": "[DONE]"}])
        );
    }
}
