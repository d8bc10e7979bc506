//! The batch endpoints of the mock server: Anthropic Message Batches (`/v1/messages/batches`,
//! `/{id}`, `/{id}/results`, `/{id}/cancel`) and OpenAI's files and batches (`/v1/files`,
//! `/v1/files/{id}`, `/v1/files/{id}/content`, `/v1/batches`, `/{id}`, `/{id}/cancel`) and
//! Gemini batch mode (`/v1beta/models/{model}:batchGenerateContent`, `/v1beta/batches/{id}`,
//! `/v1beta/batches/{id}:cancel`, and for a batch over a file the Files API's resumable upload
//! and download, shapes from Google's OpenAPI export), with
//! the shapes the real services answer (copied from recorded traffic: the curator cassettes
//! in `tests/data/real-batches/curator/`). A `GET` of each collection lists its batches newest
//! first, paged as each API pages (the list shapes are the specs': Anthropic's curated
//! `ListMessageBatchesResponse`, OpenAI's `ListBatchesResponse`, Google's
//! `ListOperationsResponse`), with the `metadata` (OpenAI) or `displayName` (Gemini) the
//! create gave.
//!
//! A batch is answered when it is created: each item's outcome is taken from
//! [`BatchSettings::outcomes`] by custom id (one entry per submission, so an item can fail the
//! first time and succeed the next), else it succeeds with the server's next scripted reply
//! rendered as its wire's real-time answer. The batch reports `in_progress` until
//! [`BatchSettings::processing`] has passed, then ends; a cancel before that ends every item
//! cancelled. Anthropic's results come in reverse order, as a reminder that the real ones come
//! in any order.

mod anthropic;
mod gemini;
mod openai;

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Method};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::render::{random_alnum, unix_now, Turn};
use super::wire::Wire;
use super::Shared;

/// A whole answer of a batch endpoint; the server (`http.rs`) sends it with its wire's
/// request-id header, as every answer of that wire.
pub(crate) struct Served {
    pub wire: Wire,
    pub status: u16,
    pub content_type: &'static str,
    pub body: Bytes,
    /// How long the server holds the answer back (a create under `create_delay`).
    pub delay: Duration,
    /// Headers beyond the content type and request id (a Gemini upload's URL).
    pub headers: HeaderMap,
}

impl Served {
    fn json(body: Bytes) -> Self {
        Self::typed(Wire::OpenAi, "application/json", body)
    }

    fn typed(wire: Wire, content_type: &'static str, body: Bytes) -> Self {
        Self {
            wire,
            status: 200,
            content_type,
            body,
            delay: Duration::ZERO,
            headers: HeaderMap::new(),
        }
    }

    /// The wire's own error body.
    fn error(wire: Wire, status: u16, message: &str) -> Self {
        let body = wire.error_body(status, Some(message), &wire.new_request_id());
        Self {
            wire,
            status,
            content_type: "application/json",
            body: Bytes::from(body.to_string()),
            delay: Duration::ZERO,
            headers: HeaderMap::new(),
        }
    }
}

/// How batches behave: how long they take, and what becomes of which item.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchSettings {
    /// Seconds from create to ended.
    #[serde(default)]
    pub processing: f64,
    /// custom_id -> one outcome per submission of that id, oldest first: "succeeded",
    /// "expired", or an error type ("overloaded_error", "invalid_request_error", ...).
    #[serde(default)]
    pub outcomes: HashMap<String, VecDeque<String>>,
    /// The server has no batch API: every batch endpoint answers 404, as an OpenAI-compatible
    /// server without one (vLLM, a proxy) does.
    #[serde(default)]
    pub absent: bool,
    /// Seconds a create's answer is held back after its batch exists: a client that dies in
    /// that time has made a batch it never heard of (what a resume must find, not redo).
    #[serde(default)]
    pub create_delay: f64,
}

/// What became of one item.
#[derive(Debug, Clone, PartialEq)]
enum Fate {
    /// The answer's body.
    Succeeded(Value),
    Errored(String),
    Expired,
    Cancelled,
}

struct Item {
    custom_id: String,
    fate: Fate,
}

pub(crate) struct MockBatch {
    /// `http://host:port` as the creating client reached the server.
    origin: String,
    id: String,
    wire: Wire,
    started: Instant,
    created_unix: u64,
    processing: Duration,
    items: Vec<Item>,
    /// When a cancel arrived, and whether a poll has shown the cancelling state since.
    cancelled: Option<bool>,
    /// OpenAI: the batch's output and error files, once written; Gemini: its responses file.
    files: Option<(Option<String>, Option<String>)>,
    /// The file its requests came in (empty for Gemini's inline requests).
    input_file: String,
    /// Its place in creation order (lists show newest first).
    seq: u64,
    /// What the create named it by: OpenAI's `metadata` (an object, or null), Gemini's
    /// `displayName`.
    label: Value,
}

impl MockBatch {
    fn ended(&self) -> bool {
        self.started.elapsed() >= self.processing || self.cancelled == Some(true)
    }
}

/// Every batch and uploaded file of one server.
#[derive(Default)]
pub(crate) struct Batches {
    settings: BatchSettings,
    batches: HashMap<String, MockBatch>,
    files: HashMap<String, Bytes>,
    /// Gemini's resumable uploads started and not yet finalized: upload id -> (display name,
    /// declared length).
    uploads: HashMap<String, (String, usize)>,
    created: u64,
}

impl Shared {
    pub(crate) fn set_batch_settings(&self, settings: BatchSettings) {
        self.lock().batches.settings = settings;
    }
}

/// The answer to a batch request, or `None` for a path that is not one.
pub(crate) fn respond(
    shared: &Shared,
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Option<Served> {
    let path = path.trim_end_matches('/');
    let gemini = path.ends_with(":batchGenerateContent")
        || path.contains("/v1beta/batches")
        || path.contains("/v1beta/files");
    if shared.lock().batches.settings.absent {
        let wire = if gemini {
            Wire::Gemini
        } else if path.contains("/messages/batches") {
            Wire::Anthropic
        } else if path.contains("/batches") || path.contains("/files") {
            Wire::OpenAi
        } else {
            return None;
        };
        let message = format!("Not Found: {method} {path} (llmrail mock server without batches)");
        return Some(Served::error(wire, 404, &message));
    }
    if gemini {
        return Some(gemini::respond(shared, method, path, query, headers, body));
    }
    let (wire, rest) = if let Some(i) = path.find("/messages/batches") {
        (Wire::Anthropic, path.get(i + "/messages/batches".len()..)?)
    } else if let Some(i) = path.find("/batches") {
        (Wire::OpenAi, path.get(i + "/batches".len()..)?)
    } else if let Some(i) = path.find("/files") {
        let rest = path.get(i + "/files".len()..)?;
        if !Wire::OpenAi.authorized(path, headers) {
            return Some(Served::error(Wire::OpenAi, 401, super::openai::MISSING_KEY));
        }
        return Some(openai::files(shared, method, rest, headers, body));
    } else {
        return None;
    };
    if !wire.authorized(path, headers) {
        let message = match wire {
            Wire::Anthropic => super::anthropic::MISSING_KEY,
            _ => super::openai::MISSING_KEY,
        };
        return Some(Served::error(wire, 401, message));
    }
    let parts: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
    let prepared = match (method, parts.as_slice()) {
        (&Method::POST, [""]) => create(shared, wire, headers, body),
        (&Method::GET, [""]) => Ok(list(shared, wire, query)),
        (&Method::GET, [id]) => with_batch(shared, wire, id, |b, files| Ok(show(b, files))),
        (&Method::POST, [id, "cancel"]) => with_batch(shared, wire, id, |b, files| {
            if !b.ended() {
                b.cancelled = Some(false);
                for item in &mut b.items {
                    item.fate = Fate::Cancelled;
                }
            }
            Ok(show(b, files))
        }),
        (&Method::GET, [id, "results"]) if wire == Wire::Anthropic => {
            with_batch(shared, wire, id, |b, _| anthropic::results(b))
        }
        _ => Err((
            404,
            format!("Unknown request URL: {method} {path}. (llmrail mock server)"),
        )),
    };
    Some(prepared.unwrap_or_else(|(status, message)| Served::error(wire, status, &message)))
}

type Answer = Result<Served, (u16, String)>;

/// The requests of a create, as (custom_id, body); or the status and message of a refusal.
type Requests = Result<Vec<(String, Map<String, Value>)>, (u16, String)>;

fn json(value: &Value) -> Served {
    Served::json(Bytes::from(value.to_string()))
}

fn show(b: &mut MockBatch, files: &mut HashMap<String, Bytes>) -> Served {
    match b.wire {
        Wire::Anthropic => json(&anthropic::batch(b)),
        Wire::Gemini => json(&gemini::operation(b, files)),
        _ => json(&openai::batch(b, files)),
    }
}

fn with_batch(
    shared: &Shared,
    wire: Wire,
    id: &str,
    f: impl FnOnce(&mut MockBatch, &mut HashMap<String, Bytes>) -> Answer,
) -> Answer {
    let mut state = shared.lock();
    let all = &mut state.batches;
    match all.batches.get_mut(id).filter(|b| b.wire == wire) {
        Some(b) => f(b, &mut all.files),
        None => Err((404, format!("batch {id} not found"))),
    }
}

/// The requests of a create: Anthropic's `requests` array, or the lines of OpenAI's file.
fn create(shared: &Shared, wire: Wire, headers: &HeaderMap, body: &[u8]) -> Answer {
    let request: Map<String, Value> = serde_json::from_slice(body)
        .map_err(|e| (400, format!("The request body is not a JSON object: {e}")))?;
    let label = match wire {
        Wire::Gemini => request
            .get("batch")
            .and_then(|b| b.get("displayName"))
            .cloned()
            .unwrap_or(Value::Null),
        _ => request.get("metadata").cloned().unwrap_or(Value::Null),
    };
    let (items, input_file) = match wire {
        Wire::Anthropic => (anthropic::requests(&request)?, String::new()),
        Wire::Gemini => (
            gemini::requests(&request, &shared.lock().batches.files)?,
            gemini::input_file(&request).unwrap_or_default().to_string(),
        ),
        _ => {
            let file = request
                .get("input_file_id")
                .and_then(Value::as_str)
                .ok_or((400, "input_file_id is required".to_string()))?
                .to_string();
            let content = shared
                .lock()
                .batches
                .files
                .get(&file)
                .cloned()
                .ok_or((404, format!("No such File object: {file}")))?;
            (openai::requests(&content)?, file)
        }
    };
    let mut seen = std::collections::HashSet::new();
    for (id, _) in &items {
        if !seen.insert(id.clone()) {
            return Err((
                400,
                format!("Duplicate custom_id {id:?}: each request needs its own."),
            ));
        }
    }
    let processing =
        crate::duration::from_secs(shared.lock().batches.settings.processing).unwrap_or_default();
    let mut out = Vec::with_capacity(items.len());
    for (custom_id, params) in items {
        let planned = shared
            .lock()
            .batches
            .settings
            .outcomes
            .get_mut(&custom_id)
            .and_then(VecDeque::pop_front);
        let fate = match planned.as_deref() {
            None | Some("succeeded") => {
                let reply = shared.next_reply(&params).unwrap_or_default();
                let len = serde_json::to_vec(&params).map(|v| v.len()).unwrap_or(0);
                let mut turn = Turn::new(&reply, &params, len, false);
                shared.account_cache(wire, &params, &reply, &mut turn.tokens);
                Fate::Succeeded(wire.complete(&turn))
            }
            Some("expired") => Fate::Expired,
            Some(kind) => Fate::Errored(kind.to_string()),
        };
        out.push(Item { custom_id, fate });
    }
    let id = match wire {
        Wire::Anthropic => format!("msgbatch_01{}", random_alnum(22)),
        Wire::Gemini => random_alnum(40).to_ascii_lowercase(),
        _ => format!("batch_{}", super::render::random_hex(32)),
    };
    // Where this server was reached: the results URL a batch names is on it.
    let host = headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    let mut batch = MockBatch {
        origin: format!("http://{host}"),
        id: id.clone(),
        wire,
        started: Instant::now(),
        created_unix: unix_now(),
        processing,
        items: out,
        cancelled: None,
        files: None,
        input_file,
        seq: 0,
        label,
    };
    let mut state = shared.lock();
    state.batches.created += 1;
    batch.seq = state.batches.created;
    let mut shown = show(&mut batch, &mut state.batches.files);
    shown.delay =
        crate::duration::from_secs(state.batches.settings.create_delay).unwrap_or_default();
    state.batches.batches.insert(id, batch);
    Ok(shown)
}

/// A query's value for `key`, decoded.
fn query_param(query: Option<&str>, key: &str) -> Option<String> {
    query?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == key).then(|| {
            percent_encoding::percent_decode_str(&v.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

/// The list of one wire's batches, newest first, a page at a time: Anthropic's `limit` (20 by
/// default, at most 100) and `after_id`, with `data`, `has_more`, `first_id`, `last_id`;
/// OpenAI's `limit` and `after`, the same plus `"object": "list"`; Gemini's `pageSize` and
/// `pageToken`, with `operations` and `nextPageToken` (a `ListOperationsResponse`).
fn list(shared: &Shared, wire: Wire, query: Option<&str>) -> Served {
    let (size_key, cursor_key) = match wire {
        Wire::Anthropic => ("limit", "after_id"),
        Wire::Gemini => ("pageSize", "pageToken"),
        _ => ("limit", "after"),
    };
    let limit = query_param(query, size_key)
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(20)
        .clamp(1, 100);
    let after = query_param(query, cursor_key);
    let mut state = shared.lock();
    let all = &mut state.batches;
    let mut ids: Vec<(u64, String)> = all
        .batches
        .values()
        .filter(|b| b.wire == wire)
        .map(|b| (b.seq, b.id.clone()))
        .collect();
    ids.sort_by_key(|b| std::cmp::Reverse(b.0));
    let start = match &after {
        Some(after) => ids
            .iter()
            .position(|(_, id)| id == after)
            .map_or(ids.len(), |p| p + 1),
        None => 0,
    };
    let page: Vec<String> = ids
        .iter()
        .skip(start)
        .take(limit)
        .map(|(_, id)| id.clone())
        .collect();
    let has_more = start + page.len() < ids.len();
    let data: Vec<Value> = page
        .iter()
        .filter_map(|id| {
            let b = all.batches.get_mut(id)?;
            Some(match b.wire {
                Wire::Anthropic => anthropic::batch(b),
                Wire::Gemini => gemini::operation(b, &mut all.files),
                _ => openai::batch(b, &mut all.files),
            })
        })
        .collect();
    let (first, last) = (page.first().cloned(), page.last().cloned());
    json(&match wire {
        Wire::Gemini => {
            let mut out = serde_json::json!({"operations": data});
            if let (true, Some(last)) = (has_more, last) {
                out["nextPageToken"] = Value::String(last);
            }
            out
        }
        Wire::Anthropic => {
            serde_json::json!({"data": data, "has_more": has_more, "first_id": first, "last_id": last})
        }
        _ => serde_json::json!({"object": "list", "data": data, "first_id": first, "last_id": last,
                                "has_more": has_more}),
    })
}

/// RFC 3339 in UTC, as Anthropic writes times.
fn rfc3339(unix: u64) -> String {
    let days = i64::try_from(unix / 86_400).unwrap_or(0);
    let secs = unix % 86_400;
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// A day after creation, as both services allow.
const WINDOW: u64 = 86_400;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_written_as_anthropic_writes_them() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_736_661_554), "2025-01-12T05:59:14Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }
}
