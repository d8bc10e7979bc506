//! Anthropic Message Batches (docs.claude.com/en/api/creating-message-batches): one
//! `POST /v1/messages/batches` carries every request's body as `params`, `GET .../{id}` polls
//! (`processing_status`: in_progress, canceling, ended), `GET .../{id}/results` is JSON lines
//! in any order, joined on `custom_id`; an `errored` item's type is at
//! `result.error.error.type`. Translation only: the engine (`job.rs`) sends.

use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderMap, Method};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use super::outcome::{status_of, Outcome};
use super::{Counts, Page, Polled, Status};
use crate::error::{LlmError, Result};
use crate::providers::{join_url, parse_json, Endpoint};
use crate::wire::HttpRequest;

const BETA: &str = "anthropic-beta";

/// Add the betas of a real-time request's headers to `betas` (each once).
pub(super) fn betas(headers: &HeaderMap, betas: &mut Vec<String>) {
    let listed = headers.get_all(BETA).iter().filter_map(|v| v.to_str().ok());
    for beta in listed.flat_map(|v| v.split(',')).map(str::trim) {
        if !beta.is_empty() && !betas.iter().any(|b| b == beta) {
            betas.push(beta.to_string());
        }
    }
}

/// `headers` with `betas` in `anthropic-beta`, next to any already there: Message Batches
/// apply the create request's betas to every request of the batch (a 1-hour cache TTL needs
/// its beta there, or the entries are kept for 5 minutes).
pub(super) fn with_betas(mut headers: HeaderMap, betas: &[String]) -> HeaderMap {
    let mut all = Vec::new();
    self::betas(&headers, &mut all);
    for beta in betas {
        if !all.contains(beta) {
            all.push(beta.clone());
        }
    }
    if let Ok(value) = http::HeaderValue::from_str(&all.join(",")) {
        if !all.is_empty() {
            headers.insert(BETA, value);
        }
    }
    headers
}

fn request(
    ep: &Endpoint,
    headers: &HeaderMap,
    method: Method,
    path: &str,
    body: Bytes,
) -> HttpRequest {
    HttpRequest {
        method,
        url: join_url(&ep.base_url, path),
        headers: headers.clone(),
        body,
        stream: false,
        timeout: ep.timeout,
        settings: Default::default(),
    }
}

/// The create request: `{"requests": [{"custom_id", "params": <the Messages body>}, ...]}`,
/// each body written as it was built (not parsed and serialised again).
pub(super) fn create(
    ep: &Endpoint,
    headers: &HeaderMap,
    items: &[(&str, &Bytes)],
) -> Result<HttpRequest> {
    let size: usize = items.iter().map(|(id, b)| id.len() + b.len() + 40).sum();
    let mut body = BytesMut::with_capacity(size + 16);
    body.put_slice(b"{\"requests\":[");
    for (n, (id, params)) in items.iter().enumerate() {
        if n > 0 {
            body.put_u8(b',');
        }
        body.put_slice(b"{\"custom_id\":");
        let id = serde_json::to_vec(id)
            .map_err(|e| LlmError::config(format!("custom_id cannot be serialised: {e}")))?;
        body.put_slice(&id);
        body.put_slice(b",\"params\":");
        body.put_slice(params);
        body.put_u8(b'}');
    }
    body.put_slice(b"]}");
    Ok(request(
        ep,
        headers,
        Method::POST,
        "v1/messages/batches",
        body.freeze(),
    ))
}

pub(super) fn get(ep: &Endpoint, headers: &HeaderMap, id: &str) -> HttpRequest {
    request(
        ep,
        headers,
        Method::GET,
        &format!("v1/messages/batches/{id}"),
        Bytes::new(),
    )
}

/// The results are read from the batch's own path on the configured base URL, not from the
/// `results_url` a reply names: the key is sent only where the caller said.
pub(super) fn results(ep: &Endpoint, headers: &HeaderMap, id: &str) -> HttpRequest {
    request(
        ep,
        headers,
        Method::GET,
        &format!("v1/messages/batches/{id}/results"),
        Bytes::new(),
    )
}

pub(super) fn cancel(ep: &Endpoint, headers: &HeaderMap, id: &str) -> HttpRequest {
    request(
        ep,
        headers,
        Method::POST,
        &format!("v1/messages/batches/{id}/cancel"),
        Bytes::new(),
    )
}

#[derive(Deserialize)]
struct WireBatch {
    id: String,
    processing_status: String,
    #[serde(default)]
    request_counts: Option<WireCounts>,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    expires_at: Option<String>,
    #[serde(default)]
    cancel_initiated_at: Option<String>,
}

#[derive(Deserialize, Default)]
struct WireCounts {
    #[serde(default)]
    processing: u64,
    #[serde(default)]
    succeeded: u64,
    #[serde(default)]
    errored: u64,
    #[serde(default)]
    canceled: u64,
    #[serde(default)]
    expired: u64,
}

/// A batch object (the answer to create, poll and cancel).
pub(super) fn parse_batch(body: &[u8]) -> Result<Polled> {
    let w: WireBatch = parse_json(body, "the message batch")?;
    let status = match w.processing_status.as_str() {
        "in_progress" => Status::Running,
        "canceling" => Status::Cancelling,
        "ended" if w.cancel_initiated_at.is_some() => Status::Cancelled,
        "ended" => Status::Ended,
        other => {
            return Err(LlmError::invalid_response(format!(
                "unknown processing_status {other:?} of message batch {}",
                w.id
            ))
            .with_body(body))
        }
    };
    let counts = w.request_counts.map(|c| Counts {
        pending: c.processing,
        succeeded: c.succeeded,
        errored: c.errored,
        cancelled: c.canceled,
        expired: c.expired,
    });
    Ok(Polled {
        id: w.id,
        status,
        counts,
        created_at: w.created_at.as_deref().and_then(rfc3339),
        expires_at: w.expires_at.as_deref().and_then(rfc3339),
        output_file: None,
        error_file: None,
        tag: None,
    })
}

/// One page of the workspace's batches, newest first (`limit` 100, the most it allows), after
/// the batch `after` when given.
pub(super) fn list(ep: &Endpoint, headers: &HeaderMap, after: Option<&str>) -> HttpRequest {
    let mut path = "v1/messages/batches?limit=100".to_string();
    if let Some(after) = after {
        path.push_str("&after_id=");
        path.push_str(&super::query_value(after));
    }
    request(ep, headers, Method::GET, &path, Bytes::new())
}

/// A page of the list: its batches, and the cursor of the next page when there is one.
pub(super) fn parse_list(body: &[u8]) -> Result<Page> {
    Page::parse_data(body, "the list of message batches", parse_batch)
}

#[derive(Deserialize)]
struct WireLine<'a> {
    custom_id: String,
    #[serde(borrow)]
    result: WireResult<'a>,
}

/// The answer's JSON is kept as it came (a slice of the line), not parsed into a tree: it is
/// decoded once, by the provider, when the results are read. (A struct, not an enum tagged by
/// `type`: serde would buffer a tagged variant's fields, and a raw value cannot be buffered.)
#[derive(Deserialize)]
struct WireResult<'a> {
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
    #[serde(default, borrow)]
    message: Option<&'a RawValue>,
    #[serde(default)]
    error: Option<Value>,
}

/// The results file: one outcome per custom_id, in the file's order; each answer is a slice of
/// `body` (no copy). Lines are found with `memchr` (a byte-by-byte split was a tenth of a
/// 10,000-item job's instructions, counted by callgrind).
pub(super) fn parse_results(body: &Bytes) -> Result<Vec<(String, Outcome)>> {
    let mut out = Vec::new();
    let mut start = 0;
    let ends = memchr::memchr_iter(b'\n', body).chain(std::iter::once(body.len()));
    for end in ends {
        let at = start;
        let line = body.get(start..end).unwrap_or_default();
        start = end + 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if let Some(read) = simdutf8::basic::from_utf8(line)
            .ok()
            .and_then(|text| succeeded(body, at, text))
        {
            out.push(read);
            continue;
        }
        let w: WireLine = parse_json(line, "a line of the batch results")?;
        let outcome = match (&*w.result.kind, w.result.message, w.result.error) {
            ("succeeded", Some(message), _) => Outcome::Succeeded {
                body: body.slice_ref(message.get().as_bytes()),
                request_id: None,
                decoded: Default::default(),
            },
            ("errored", _, error) => {
                let error = error.unwrap_or(Value::Null);
                // `{"type": "error", "error": {"type": "overloaded_error", ...}}`: the envelope
                // a real-time call's error body has, which `parse_error` reads.
                let kind = error
                    .pointer("/error/type")
                    .and_then(Value::as_str)
                    .unwrap_or("api_error");
                Outcome::Errored {
                    status: status_of(kind),
                    body: Bytes::from(error.to_string()),
                }
            }
            ("canceled", _, _) => Outcome::Cancelled,
            ("expired", _, _) => Outcome::Expired,
            (other, _, _) => {
                return Err(LlmError::invalid_response(format!(
                    "unknown result type {other:?} for {:?} in the batch results",
                    w.custom_id
                ))
                .with_body(line))
            }
        };
        out.push((w.custom_id, outcome));
    }
    Ok(out)
}

/// Where a succeeded line's message was, in the rest of the line (see [`succeeded`]).
const PLACEHOLDER: &str = "\"\\u0000llmrail\"";

/// A succeeded line (`text`, at `at` in `body`), its message decoded once: decoded where the
/// first `"message":` key of the line puts it, its end told by the decoder (serde_json's skip of
/// a raw value scans each string 8 bytes at a time, and the message was then decoded again:
/// ~1 µs an item of a 10,000-item job); the rest of the line, a placeholder where the message
/// was, is read for the id and the type. `None` (the line is read the usual way) unless that
/// was the result's message, decoded without error.
fn succeeded(body: &Bytes, at: usize, text: &str) -> Option<(String, Outcome)> {
    let key = memchr::memmem::find(text.as_bytes(), b"\"message\":")?;
    let after = text.get(key + 10..)?;
    let from = key + 10 + (after.len() - after.trim_start().len());
    let message = text.get(from..)?;
    let raw = body.slice(at + from..at + text.len());
    let (answer, len) = crate::providers::anthropic::message_at(message, &raw).ok()?;
    let rest = [text.get(..from)?, PLACEHOLDER, message.get(len..)?].concat();
    let w: WireLine = serde_json::from_str(&rest).ok()?;
    let placed = w.result.message.is_some_and(|m| m.get() == PLACEHOLDER);
    (w.result.kind == "succeeded" && placed).then(|| {
        let outcome = Outcome::Succeeded {
            body: raw.slice(..len),
            request_id: None,
            decoded: super::outcome::Decoded(Some(std::sync::Arc::new(answer))),
        };
        (w.custom_id, outcome)
    })
}

/// Unix seconds of an RFC 3339 time ("2025-01-12T05:59:14.123456+00:00" or "...Z"); the
/// fraction and offset are read too.
pub(super) fn rfc3339(s: &str) -> Option<f64> {
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let whole = crate::providers::quota::unix_time(
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    )?;
    let rest = s.get(19..)?;
    let (frac, zone) = match rest.strip_prefix('.') {
        Some(r) => {
            let end = r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len());
            let digits = r.get(..end)?;
            (
                format!("0.{digits}").parse::<f64>().unwrap_or(0.0),
                r.get(end..)?,
            )
        }
        None => (0.0, rest),
    };
    let offset = match zone {
        "" | "Z" | "z" => 0,
        z => {
            let sign = if z.starts_with('-') { -1 } else { 1 };
            let h = z.get(1..3)?.parse::<i64>().ok()?;
            let m = z.get(4..6)?.parse::<i64>().ok()?;
            sign * (h * 3600 + m * 60)
        }
    };
    Some((whole - offset) as f64 + frac)
}
