//! Writing cassettes: vcrpy's layout, JSON bodies pretty-printed, files replaced atomically.
//!
//! Stands on the reading side (`cassette.rs`: the layout version, the `!binary` tag swap) and on
//! `scrub` for the one way a URL is written.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine;
use serde::Serialize;
use serde_yaml_ng::value::{Tag, TaggedValue};
use serde_yaml_ng::{Mapping, Value};

use super::{binary_tags, Interaction, VERSION};
use crate::error::{LlmError, Result};
use crate::replay::scrub;

#[derive(Serialize)]
struct FileOut {
    interactions: Vec<InteractionOut>,
    version: u64,
}

#[derive(Serialize)]
struct InteractionOut {
    request: RequestOut,
    response: ResponseOut,
}

#[derive(Serialize)]
struct RequestOut {
    body: Value,
    headers: BTreeMap<String, Vec<String>>,
    method: String,
    uri: String,
}

#[derive(Serialize)]
struct ResponseOut {
    body: Mapping,
    headers: BTreeMap<String, Vec<String>>,
    status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    latency_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    chunks: Option<String>,
}

#[derive(Serialize)]
struct Status {
    code: u16,
    message: String,
}

/// The cassette as YAML text.
pub fn to_yaml(interactions: &[Interaction]) -> Result<String> {
    let file = FileOut {
        interactions: interactions.iter().map(interaction_out).collect(),
        version: VERSION,
    };
    let text = serde_yaml_ng::to_string(&file)
        .map_err(|e| LlmError::config(format!("cannot write a cassette: {e}")))?;
    let text = binary_tags(&text, "!binary", "!!binary");
    Ok(quote_for_yaml_1_1(&text))
}

/// serde_yaml_ng writes YAML 1.2, where `2023-06-01` or `on` are plain strings; PyYAML (so
/// vcrpy) reads YAML 1.1 and would turn them into a date or a bool (an `anthropic-version`
/// header, say). Plain scalars that YAML 1.1 could read as anything but a string are quoted;
/// block scalars (the bodies) are left alone.
fn quote_for_yaml_1_1(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    let mut block: Option<usize> = None;
    for line in text.split_inclusive('\n') {
        let content = line.trim_end_matches('\n');
        let indent = content.len() - content.trim_start().len();
        if let Some(b) = block {
            if content.trim().is_empty() || indent > b {
                out.push_str(line);
                continue;
            }
            block = None;
        }
        let split = content
            .find(": ")
            .map(|i| i + 2)
            .or_else(|| content.trim_start().starts_with("- ").then_some(indent + 2));
        let Some(at) = split else {
            out.push_str(line);
            continue;
        };
        let value = &content[at..];
        if value.starts_with('|') || value.starts_with('>') {
            block = Some(indent);
        }
        // Left plain by serde_yaml_ng and not a string to YAML 1.2 either: a real number.
        let is_string = || {
            matches!(
                serde_yaml_ng::from_str::<Value>(value),
                Ok(Value::String(_))
            )
        };
        if yaml_1_1_non_string(value) && is_string() {
            out.push_str(&content[..at]);
            out.push('\'');
            out.push_str(&value.replace('\'', "''"));
            out.push('\'');
            out.push_str(&line[content.len()..]);
        } else {
            out.push_str(line);
        }
    }
    out
}

/// Whether PyYAML's implicit resolvers could read this plain scalar as a bool, null, number,
/// date or time (a superset: quoting a string that did not need it is harmless).
fn yaml_1_1_non_string(v: &str) -> bool {
    const WORDS: &[&str] = &[
        "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false",
        "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF", "~", "null", "Null", "NULL",
    ];
    let Some(first) = v.chars().next() else {
        return false;
    };
    if WORDS.contains(&v) {
        return true;
    }
    let numeric = |c: char| c.is_ascii_hexdigit() || "+-._:xXoOtTzZ ".contains(c);
    (first.is_ascii_digit() || "+-.".contains(first)) && v.chars().all(numeric)
}

fn interaction_out(i: &Interaction) -> InteractionOut {
    let (req_body, _) = body_out(&i.request.body, true);
    // A streamed body keeps its exact bytes: the chunk lengths refer to them.
    let (resp_body, rewritten) = body_out(&i.response.body, i.response.chunks.is_none());
    let mut resp_headers = grouped(&i.response.headers);
    if let Some(len) = rewritten {
        if let Some(v) = resp_headers.get_mut("content-length") {
            *v = vec![len.to_string()];
        }
    }
    let mut body = Mapping::new();
    body.insert("string".into(), resp_body);
    InteractionOut {
        request: RequestOut {
            body: req_body,
            headers: grouped(&i.request.headers),
            method: i.request.method.clone(),
            // Recorded interactions are scrubbed already; loaded ones may predate that.
            uri: scrub::url(&i.request.uri).into_owned(),
        },
        response: ResponseOut {
            body,
            headers: resp_headers,
            status: Status {
                code: i.response.status,
                message: http::StatusCode::from_u16(i.response.status)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .unwrap_or("")
                    .to_string(),
            },
            latency_ms: i.response.latency.map(ms),
            chunks: i.response.chunks.as_ref().map(|cs| {
                let parts: Vec<String> = cs
                    .iter()
                    .map(|c| format!("{}@{}", c.len, ms(c.at)))
                    .collect();
                parts.join(" ")
            }),
        },
    }
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 10_000.0).round() / 10.0
}

/// A body for the YAML: JSON pretty-printed (when allowed), other text as is, else `!!binary`.
/// Also says the new length when the bytes were rewritten.
fn body_out(body: &[u8], pretty: bool) -> (Value, Option<usize>) {
    if body.is_empty() {
        return (Value::Null, None);
    }
    if pretty {
        if let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) {
            if let Ok(text) = serde_json::to_string_pretty(&json) {
                let len = text.len();
                return (Value::String(text), Some(len));
            }
        }
    }
    match std::str::from_utf8(body) {
        Ok(text) => (Value::String(text.to_string()), None),
        Err(_) => {
            let b64 = base64::engine::general_purpose::STANDARD.encode(body);
            let value = Value::String(b64);
            let tag = Tag::new("binary");
            (Value::Tagged(Box::new(TaggedValue { tag, value })), None)
        }
    }
}

fn grouped(headers: &[(String, String)]) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in headers {
        out.entry(k.to_ascii_lowercase())
            .or_default()
            .push(v.clone());
    }
    out
}

/// Write `text` to `path` so that a reader sees the old file or the new one, never a part.
pub fn write_atomic(path: &Path, text: &str) -> Result<()> {
    let fail =
        |e: std::io::Error| LlmError::config(format!("cannot write {}: {e}", path.display()));
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    let tmp = path.with_file_name(format!(".{name}.{}-{seq}.tmp", std::process::id()));
    let written = std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(fail(e));
    }
    Ok(())
}
