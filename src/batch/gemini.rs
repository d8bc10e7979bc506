//! Gemini batch mode (ai.google.dev/gemini-api/docs/batch-api; shapes from Google's own
//! OpenAPI export, `specs/gemini/generativelanguage-v1beta.openapi.json`): one
//! `POST v1beta/models/{model}:batchGenerateContent` carries every request inline (the guide's
//! limit: a create of up to 20 MB; a larger one names an uploaded JSONL file instead, see
//! `gemini/file.rs`), the answer is a
//! long-running operation named `batches/{id}`, `GET v1beta/batches/{id}` polls it (its
//! `metadata` is the batch: `state`, `batchStats`, `createTime`, and once done `output`), and
//! `POST v1beta/batches/{id}:cancel` stops it (answering `{}`). The inline responses come in
//! input order; each also carries back the `metadata.key` we sent with its request, which is
//! what they are joined on (position only where no key came back). A batch made from a file
//! names a responses file instead (`output.responsesFile`), read by `gemini/file.rs`. The REST API says
//! `BATCH_STATE_*`; Google's SDKs say `JOB_STATE_*`: both are read. Translation only: the
//! engine (`job.rs`) sends.

use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderMap, Method};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use super::outcome::Outcome;
use super::{Counts, Page, Polled, Status};
use crate::error::{LlmError, Result};
use crate::providers::{join_url, parse_json, Endpoint};
use crate::wire::HttpRequest;

pub(super) mod file;

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

/// The create request: `{"batch": {"displayName", "inputConfig": {"requests": {"requests":
/// [{"request": <the generateContent body>, "metadata": {"key": custom_id}}, ...]}}}}`, each
/// body written as it was built (not parsed and serialised again).
pub(super) fn create(
    ep: &Endpoint,
    headers: &HeaderMap,
    name: &str,
    items: &[(&str, &Bytes)],
) -> Result<HttpRequest> {
    let size: usize = items.iter().map(|(id, b)| id.len() + b.len() + 48).sum();
    let mut body = BytesMut::with_capacity(size + 128);
    let name = serde_json::to_vec(name)
        .map_err(|e| LlmError::config(format!("batch name cannot be serialised: {e}")))?;
    body.put_slice(b"{\"batch\":{\"displayName\":");
    body.put_slice(&name);
    body.put_slice(b",\"inputConfig\":{\"requests\":{\"requests\":[");
    for (n, (id, params)) in items.iter().enumerate() {
        if n > 0 {
            body.put_u8(b',');
        }
        body.put_slice(b"{\"request\":");
        body.put_slice(params);
        body.put_slice(b",\"metadata\":{\"key\":");
        let id = serde_json::to_vec(id)
            .map_err(|e| LlmError::config(format!("custom_id cannot be serialised: {e}")))?;
        body.put_slice(&id);
        body.put_slice(b"}}");
    }
    body.put_slice(b"]}}}}");
    let model = ep.model.strip_prefix("models/").unwrap_or(&ep.model);
    Ok(request(
        ep,
        headers,
        Method::POST,
        &format!("v1beta/models/{model}:batchGenerateContent"),
        body.freeze(),
    ))
}

/// The create of a batch whose requests are in the uploaded file `file` (`files/{id}`):
/// `{"batch": {"displayName", "inputConfig": {"fileName"}}}`.
pub(super) fn create_from_file(
    ep: &Endpoint,
    headers: &HeaderMap,
    name: &str,
    file: &str,
) -> HttpRequest {
    let body = json!({"batch": {"displayName": name, "inputConfig": {"fileName": file}}});
    let model = ep.model.strip_prefix("models/").unwrap_or(&ep.model);
    request(
        ep,
        headers,
        Method::POST,
        &format!("v1beta/models/{model}:batchGenerateContent"),
        Bytes::from(body.to_string()),
    )
}

/// Bytes of the inline create of these items (ids counted unescaped): what is weighed against
/// the inline limit.
pub(super) fn inline_len(name: &str, items: &[(&str, &Bytes)]) -> usize {
    let each: usize = items.iter().map(|(id, b)| id.len() + b.len() + 35).sum();
    each + name.len() + 64
}

pub(super) fn get(ep: &Endpoint, headers: &HeaderMap, id: &str) -> HttpRequest {
    request(
        ep,
        headers,
        Method::GET,
        &format!("v1beta/batches/{id}"),
        Bytes::new(),
    )
}

/// Answered with `{}`: the engine polls afterwards to learn the state.
pub(super) fn cancel(ep: &Endpoint, headers: &HeaderMap, id: &str) -> HttpRequest {
    request(
        ep,
        headers,
        Method::POST,
        &format!("v1beta/batches/{id}:cancel"),
        Bytes::new(),
    )
}

#[derive(Deserialize)]
struct WireOperation<'a> {
    name: String,
    #[serde(default, borrow)]
    metadata: Option<WireBatch<'a>>,
    #[serde(default, borrow)]
    response: Option<WireResponse<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireBatch<'a> {
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    create_time: Option<String>,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    batch_stats: Option<WireStats>,
    #[serde(default, borrow)]
    output: Option<WireOutput<'a>>,
}

/// The operation's `response` (a `BatchGenerateContentResponse`): the output again.
#[derive(Deserialize)]
struct WireResponse<'a> {
    #[serde(default, borrow)]
    output: Option<WireOutput<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireOutput<'a> {
    #[serde(default, borrow)]
    inlined_responses: Option<WireInlined<'a>>,
    /// A batch made from a file: the file of its answers.
    #[serde(default)]
    responses_file: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireInlined<'a> {
    #[serde(default, borrow)]
    inlined_responses: Vec<WireItem<'a>>,
}

/// One inline response; the answer is kept as it came (a slice of the body).
#[derive(Deserialize)]
struct WireItem<'a> {
    #[serde(default, borrow)]
    response: Option<&'a RawValue>,
    #[serde(default)]
    error: Option<Value>,
    #[serde(default)]
    metadata: Option<Value>,
}

/// The counts are int64, which proto3 JSON writes as strings.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireStats {
    #[serde(default)]
    request_count: Option<Value>,
    #[serde(default)]
    successful_request_count: Option<Value>,
    #[serde(default)]
    failed_request_count: Option<Value>,
    #[serde(default)]
    pending_request_count: Option<Value>,
}

fn int64(v: &Option<Value>) -> u64 {
    match v {
        Some(Value::String(s)) => s.parse().unwrap_or(0),
        Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
        _ => 0,
    }
}

/// How long a batch may run or wait before it ends expired. The batch resource names no
/// deadline (`GenerateContentBatch` has `createTime`, `updateTime`, `endTime`, no expiry), so
/// the deadline is computed from `createTime` and the lifetime Google's batch guide gives
/// (ai.google.dev/gemini-api/docs/batch-api: a job running or pending for more than 48 hours
/// expires).
const LIFETIME: f64 = 48.0 * 3600.0;

/// A batch id without the `batches/` of its resource name.
fn id_of(name: &str) -> &str {
    name.strip_prefix("batches/").unwrap_or(name)
}

/// A state word, from the REST API (`BATCH_STATE_*`) or an SDK (`JOB_STATE_*`).
fn status_of_state(state: &str) -> Option<Status> {
    let word = state
        .strip_prefix("BATCH_STATE_")
        .or_else(|| state.strip_prefix("JOB_STATE_"))?;
    Some(match word {
        "UNSPECIFIED" | "PENDING" | "QUEUED" => Status::Submitted,
        // PAUSED is Vertex's: the job resumes by itself.
        "RUNNING" | "PAUSED" | "UPDATING" => Status::Running,
        "SUCCEEDED" | "PARTIALLY_SUCCEEDED" => Status::Ended,
        "FAILED" => Status::Failed,
        "CANCELLING" => Status::Cancelling,
        "CANCELLED" => Status::Cancelled,
        "EXPIRED" => Status::Expired,
        _ => return None,
    })
}

/// The operation (the answer to create and poll).
pub(super) fn parse_batch(body: &[u8]) -> Result<Polled> {
    let w: WireOperation = parse_json(body, "the batch operation")?;
    let id = id_of(&w.name).to_string();
    let meta = w.metadata;
    let state = meta
        .as_ref()
        .and_then(|m| m.state.as_deref())
        .unwrap_or("BATCH_STATE_PENDING");
    let Some(status) = status_of_state(state) else {
        return Err(LlmError::invalid_response(format!(
            "unknown state {state:?} of Gemini batch {id}"
        ))
        .with_body(body));
    };
    let counts = meta.as_ref().and_then(|m| m.batch_stats.as_ref()).map(|s| {
        let total = int64(&s.request_count);
        let succeeded = int64(&s.successful_request_count);
        let errored = int64(&s.failed_request_count);
        let pending = match &s.pending_request_count {
            Some(_) => int64(&s.pending_request_count),
            None => total.saturating_sub(succeeded).saturating_sub(errored),
        };
        Counts {
            pending,
            succeeded,
            errored,
            cancelled: 0,
            expired: 0,
        }
    });
    let created_at = meta
        .as_ref()
        .and_then(|m| m.create_time.as_deref())
        .and_then(super::anthropic::rfc3339);
    let (display_name, output) = match meta {
        Some(m) => (m.display_name, m.output),
        None => (None, None),
    };
    let output_file = output
        .or_else(|| w.response.and_then(|r| r.output))
        .and_then(|o| o.responses_file)
        .filter(|f| !f.is_empty());
    Ok(Polled {
        id,
        status,
        counts,
        created_at,
        expires_at: created_at.map(|t| t + LIFETIME),
        output_file,
        error_file: None,
        tag: display_name,
    })
}

/// One page of the project's batch operations (`pageSize` 100), from `page_token` when given.
pub(super) fn list(ep: &Endpoint, headers: &HeaderMap, page_token: Option<&str>) -> HttpRequest {
    let mut path = "v1beta/batches?pageSize=100".to_string();
    if let Some(token) = page_token {
        path.push_str("&pageToken=");
        path.push_str(&super::query_value(token));
    }
    request(ep, headers, Method::GET, &path, Bytes::new())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireList {
    #[serde(default)]
    operations: Vec<Box<RawValue>>,
    #[serde(default)]
    next_page_token: Option<String>,
}

/// A page of the list (a `ListOperationsResponse`): its batches, and the next page's token.
pub(super) fn parse_list(body: &[u8]) -> Result<Page> {
    let w: WireList = parse_json(body, "the list of batches")?;
    let batches = w
        .operations
        .iter()
        .map(|b| parse_batch(b.get().as_bytes()))
        .collect::<Result<Vec<_>>>()?;
    let next = w.next_page_token.filter(|t| !t.is_empty());
    Ok(Page { batches, next })
}

/// The inline responses of an ended batch's operation, one outcome per item, joined on the
/// `metadata.key` each carries back, else on its position among `ids` (the provider batch's
/// custom ids in input order). Items with no response are left out (the engine decides what
/// became of them from the batch's state).
pub(super) fn parse_results(body: &Bytes, ids: &[String]) -> Result<Vec<(String, Outcome)>> {
    let w: WireOperation = parse_json(body, "the batch operation")?;
    let output = w
        .metadata
        .and_then(|m| m.output)
        .or_else(|| w.response.and_then(|r| r.output));
    let items = output
        .and_then(|o| o.inlined_responses)
        .map(|i| i.inlined_responses)
        .unwrap_or_default();
    let mut out = Vec::with_capacity(items.len());
    for (n, item) in items.into_iter().enumerate() {
        let key = item
            .metadata
            .as_ref()
            .and_then(|m| m.get("key"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| ids.get(n).cloned());
        let Some(key) = key else {
            return Err(LlmError::invalid_response(format!(
                "Gemini batch {} answered {} responses for {} requests",
                id_of(&w.name),
                n + 1,
                ids.len()
            )));
        };
        if let Some(outcome) = outcome(body, item.response, item.error) {
            out.push((key, outcome));
        }
    }
    Ok(out)
}

/// An item's answer (kept as a slice of `body`) or its error as its outcome; `None` with
/// neither (the engine decides what became of it from the batch's state).
fn outcome(body: &Bytes, response: Option<&RawValue>, error: Option<Value>) -> Option<Outcome> {
    match (response, error) {
        (Some(r), _) => Some(Outcome::Succeeded {
            body: body.slice_ref(r.get().as_bytes()),
            request_id: None,
            decoded: Default::default(),
        }),
        (None, Some(error)) => Some(error_outcome(error)),
        (None, None) => None,
    }
}

/// A failed item's `google.rpc.Status` as the outcome a real-time call's error would be.
fn error_outcome(error: Value) -> Outcome {
    let status = http_status(error.get("code").and_then(Value::as_u64));
    // The envelope a real-time call's error body has, which `parse_error` reads.
    let mut error = error;
    if let Some(e) = error.as_object_mut() {
        e.insert("code".into(), json!(status));
    }
    Outcome::Errored {
        status,
        body: Bytes::from(json!({ "error": error }).to_string()),
    }
}

/// The HTTP status a google.rpc.Code stands for (cloud.google.com/apis/design/errors, "Error
/// model"); an unknown or missing code is a server error.
pub(super) fn http_status(code: Option<u64>) -> u16 {
    match code {
        Some(3 | 9 | 11) => 400,
        Some(16) => 401,
        Some(7) => 403,
        Some(5) => 404,
        Some(6 | 10) => 409,
        Some(8) => 429,
        Some(1) => 499,
        Some(12) => 501,
        Some(14) => 503,
        Some(4) => 504,
        _ => 500,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn both_vocabularies_of_state_words_map_to_one_status() {
        for (word, status) in [
            ("BATCH_STATE_PENDING", Status::Submitted),
            ("JOB_STATE_QUEUED", Status::Submitted),
            ("BATCH_STATE_RUNNING", Status::Running),
            ("JOB_STATE_RUNNING", Status::Running),
            ("BATCH_STATE_SUCCEEDED", Status::Ended),
            ("JOB_STATE_PARTIALLY_SUCCEEDED", Status::Ended),
            ("BATCH_STATE_FAILED", Status::Failed),
            ("JOB_STATE_CANCELLING", Status::Cancelling),
            ("BATCH_STATE_CANCELLED", Status::Cancelled),
            ("JOB_STATE_EXPIRED", Status::Expired),
        ] {
            assert_eq!(status_of_state(word), Some(status), "{word}");
        }
        assert_eq!(status_of_state("DONE"), None);
    }

    #[test]
    fn an_unknown_state_is_an_invalid_response_not_a_guess() {
        let body = br#"{"name":"batches/x","metadata":{"state":"BATCH_STATE_MELTED"}}"#;
        assert!(parse_batch(body).is_err());
    }

    #[test]
    fn stats_written_as_strings_are_counted() {
        let body = br#"{"name":"batches/abc","metadata":{"state":"BATCH_STATE_RUNNING",
            "createTime":"2025-01-12T05:59:14Z","batchStats":{"requestCount":"3",
            "successfulRequestCount":"1","failedRequestCount":"1"}}}"#;
        let p = parse_batch(body).unwrap();
        assert_eq!(p.id, "abc");
        assert_eq!(p.status, Status::Running);
        assert_eq!(p.created_at, Some(1_736_661_554.0));
        // Not in the resource: its creation time plus the guide's 48 hours.
        assert_eq!(p.expires_at, Some(1_736_661_554.0 + 48.0 * 3600.0));
        let c = p.counts.unwrap();
        assert_eq!((c.pending, c.succeeded, c.errored), (1, 1, 1));
    }

    #[test]
    fn responses_without_keys_are_joined_by_position_and_errors_get_an_http_status() {
        let body = Bytes::from_static(
            br#"{"name":"batches/abc","done":true,"response":{"output":{"inlinedResponses":
            {"inlinedResponses":[{"response":{"candidates":[]}},
            {"error":{"code":8,"message":"quota"}}]}}}}"#,
        );
        let ids = vec!["a".to_string(), "b".to_string()];
        let out = parse_results(&body, &ids).unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].0, "a");
        assert!(
            matches!(&out[0].1, Outcome::Succeeded { body, .. } if &body[..] == br#"{"candidates":[]}"#)
        );
        assert_eq!(out[1].0, "b");
        assert!(matches!(&out[1].1, Outcome::Errored { status: 429, .. }));
        assert!(out[1].1.retryable());
    }
}
