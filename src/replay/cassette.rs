//! Cassette files in vcrpy's YAML layout, so pytest-recording users can read them and vcrpy can
//! load them:
//!
//! ```yaml
//! interactions:
//! - request:
//!     body: |-            # JSON bodies pretty-printed as a block; other text as is
//!       {"model": ...}
//!     headers: {content-type: [application/json], authorization: [REDACTED]}
//!     method: POST
//!     uri: https://api.openai.com/v1/chat/completions
//!   response:
//!     body: {string: ...}
//!     headers: {...}
//!     status: {code: 200, message: OK}
//!     latency_ms: 412.5    # llmrail: time to the response (to its headers when streamed)
//!     chunks: 93@412.6 120@430.1   # llmrail: streamed chunks, bytes@ms since the request
//! version: 1
//! ```
//!
//! Loading also accepts what other recorders write: pydantic-ai's decoded `parsed_body`, and
//! stock vcrpy's `!!binary` (base64) bodies, gzip-compressed when the response said so; a
//! forwarded answer kept in br or zstd is decoded on loading too.
//!
//! This file reads the layout; `cassette/write.rs` writes it. What one exchange holds is
//! `replay/interaction.rs` (re-exported here), so the scrubber, which the writer uses, needs
//! nothing of this module.

use std::borrow::Cow;
use std::io::Read;
use std::path::Path;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use serde_yaml_ng::Value;

mod write;

pub use super::interaction::{Chunk, Interaction, Request, Response};
pub use write::{to_yaml, write_atomic};

use crate::error::{LlmError, Result};
use crate::wire::{encoding, DEFAULT_MAX_RESPONSE_BYTES};

/// The layout version written and read (vcrpy's).
pub const VERSION: u64 = 1;

/// Recorded times beyond this are not a real exchange (the default timeout is 10 minutes): a
/// corrupt or hand-edited value, refused rather than slept on.
const MAX_MS: f64 = 24.0 * 3600.0 * 1000.0;

/// The interactions of the cassette at `path`; `None` when there is no such file.
pub fn load(path: &Path) -> Result<Option<Vec<Interaction>>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(bad(path, &e.to_string())),
    };
    parse(&text).map(Some).map_err(|e| bad(path, &e))
}

fn bad(path: &Path, why: &str) -> LlmError {
    LlmError::config(format!("cannot read cassette {}: {why}", path.display()))
}

pub fn parse(text: &str) -> std::result::Result<Vec<Interaction>, String> {
    let doc: Value = serde_yaml_ng::from_str(&binary_tags(text, "!!binary", "!binary"))
        .map_err(|e| e.to_string())?;
    if doc.is_null() {
        return Ok(Vec::new());
    }
    // A later layout may mean something else by the same fields: refuse rather than guess.
    match doc.get("version") {
        None => {}
        Some(v) if v.as_u64() == Some(VERSION) => {}
        Some(v) => {
            let v = serde_yaml_ng::to_string(v).unwrap_or_default();
            return Err(format!(
                "cassette version {} is not supported (this llmrail reads version {VERSION}): re-record it, or use the llmrail that wrote it",
                v.trim()
            ));
        }
    }
    let list = doc
        .get("interactions")
        .and_then(Value::as_sequence)
        .ok_or("no `interactions:` list")?;
    list.iter()
        .enumerate()
        .map(|(n, i)| interaction(i).map_err(|e| format!("interaction {n}: {e}")))
        .collect()
}

fn interaction(i: &Value) -> std::result::Result<Interaction, String> {
    let req = i.get("request").ok_or("no request")?;
    let resp = i.get("response").ok_or("no response")?;
    let text = |v: &Value, what: &str| v.get(what).and_then(Value::as_str).map(str::to_string);
    let request = Request {
        method: text(req, "method").ok_or("request without method")?,
        uri: text(req, "uri").ok_or("request without uri")?,
        headers: headers(req.get("headers")),
        body: match req.get("parsed_body") {
            Some(parsed) => json_bytes(parsed)?,
            None => body(req.get("body"), false)?,
        },
    };
    let status = resp.get("status").ok_or("response without status")?;
    let code = status.get("code").unwrap_or(status).as_u64();
    let mut resp_headers = headers(resp.get("headers"));
    let gzip = resp_headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("content-encoding") && v.contains("gzip"));
    let mut body = match resp.get("parsed_body") {
        Some(parsed) => json_bytes(parsed)?,
        None => body(resp.get("body").and_then(|b| b.get("string")), gzip)?,
    };
    // A forwarded answer in another encoding (br, zstd), recorded as it came before llmrail
    // decoded it: decoded here, so that a `Client` replaying it reads JSON as an SDK would.
    let other = resp_headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-encoding"))
        .map(|(_, v)| v.trim())
        .filter(|_| !gzip);
    let decoded = other.and_then(|e| encoding::decode(e, &body, DEFAULT_MAX_RESPONSE_BYTES));
    if let Some(plain) = &decoded {
        body = plain.clone();
    }
    if gzip || decoded.is_some() {
        // The body is stored decoded now; a header saying otherwise would mislead a re-save.
        resp_headers.retain(|(k, _)| {
            !k.eq_ignore_ascii_case("content-encoding") && !k.eq_ignore_ascii_case("content-length")
        });
    }
    Ok(Interaction {
        request,
        response: Response {
            status: code
                .and_then(|c| u16::try_from(c).ok())
                .ok_or("status code is not a number")?,
            headers: resp_headers,
            body,
            latency: match resp.get("latency_ms") {
                None | Some(Value::Null) => None,
                Some(v) => Some(
                    v.as_f64()
                        .and_then(millis)
                        .ok_or_else(|| bad_time("latency_ms", v))?,
                ),
            },
            chunks: match resp.get("chunks") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(parse_chunks(s)?),
                Some(_) => return Err(bad_chunks("(not a string)")),
            },
        },
    })
}

/// vcrpy writes `name: [value, ...]`; a single string is accepted too.
fn headers(map: Option<&Value>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (k, vs) in map.and_then(Value::as_mapping).into_iter().flatten() {
        let Some(name) = k.as_str() else { continue };
        let values = match vs {
            Value::Sequence(s) => s.iter().collect(),
            other => vec![other],
        };
        for v in values {
            let value = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => continue,
            };
            out.push((name.to_string(), value));
        }
    }
    out
}

fn body(v: Option<&Value>, gzip: bool) -> std::result::Result<Bytes, String> {
    let raw = match v {
        None | Some(Value::Null) => return Ok(Bytes::new()),
        Some(Value::String(s)) => return Ok(Bytes::from(s.clone())),
        // Old vcrpy request bodies: `body: {string: ...}`.
        Some(Value::Mapping(m)) => return body(m.get("string"), gzip),
        Some(Value::Tagged(t)) if t.tag == "binary" => t.value.as_str().unwrap_or_default(),
        Some(other) => return Err(format!("unexpected body {other:?}")),
    };
    let b64: String = raw.split_whitespace().collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|e| format!("a !!binary body is not base64: {e}"))?;
    if gzip && bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes.as_slice())
            .read_to_end(&mut out)
            .map_err(|e| format!("a gzip body does not decompress: {e}"))?;
        return Ok(Bytes::from(out));
    }
    Ok(Bytes::from(bytes))
}

fn json_bytes(parsed: &Value) -> std::result::Result<Bytes, String> {
    let json: serde_json::Value =
        serde_json::to_value(parsed).map_err(|e| format!("parsed_body is not JSON: {e}"))?;
    serde_json::to_vec(&json)
        .map(Bytes::from)
        .map_err(|e| e.to_string())
}

/// Milliseconds from 0 to [`MAX_MS`] (NaN, negative and huge values are `None`).
fn millis(ms: f64) -> Option<Duration> {
    (0.0..=MAX_MS)
        .contains(&ms)
        .then(|| crate::duration::from_millis(ms))
        .flatten()
}

fn bad_time(field: &str, v: &Value) -> String {
    let v = serde_yaml_ng::to_string(v).unwrap_or_default();
    format!(
        "response `{field}` is {}: it must be milliseconds from 0 to {MAX_MS}",
        v.trim()
    )
}

fn bad_chunks(entry: &str) -> String {
    format!("response `chunks` entry {entry:?} is not bytes@milliseconds (0 to {MAX_MS} ms)")
}

fn parse_chunks(s: &str) -> std::result::Result<Vec<Chunk>, String> {
    s.split_whitespace()
        .map(|c| {
            let chunk = c.split_once('@').and_then(|(len, at)| {
                Some(Chunk {
                    len: len.parse().ok()?,
                    at: millis(at.parse().ok()?)?,
                })
            });
            chunk.ok_or_else(|| bad_chunks(c))
        })
        .collect()
}

/// serde_yaml_ng resolves the standard `!!binary` tag away (leaving base64 text that looks like
/// any other string) and cannot emit it; a local `!binary` tag survives both ways. So the tag is
/// swapped on the only lines where a body value can carry it.
pub(super) fn binary_tags<'a>(text: &'a str, from: &str, to: &str) -> Cow<'a, str> {
    if !text.contains(from) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let is_body = ["string: ", "body: "].iter().any(|key| {
            trimmed
                .strip_prefix(key)
                .is_some_and(|rest| rest.starts_with(from))
        });
        if is_body {
            out.push_str(&line.replacen(from, to, 1));
        } else {
            out.push_str(line);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests;
