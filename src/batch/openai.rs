//! OpenAI Batch (platform.openai.com/docs/guides/batch): the requests go up as a JSON-lines
//! file (`POST /v1/files`, `purpose=batch`), `POST /v1/batches` starts the batch on it,
//! `GET /v1/batches/{id}` polls (validating, in_progress, finalizing, completed, failed,
//! expired, cancelling, cancelled), and the answers come back in two files: the output file
//! (successes) and the error file (HTTP-level failures, and `batch_expired` /
//! `batch_cancelled` for unfinished items). A batch can end `completed` with no output file
//! when every item failed. Translation only: the engine (`job.rs`) sends.

use std::collections::HashMap;

use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, Method};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use super::outcome::Outcome;
use super::{Counts, Page, Polled, Status};
use crate::error::{LlmError, Result};
use crate::providers::{join_url, parse_json, Endpoint};
use crate::wire::HttpRequest;

/// The endpoint each line of the input file calls.
const ENDPOINT: &str = "/v1/chat/completions";

fn request(
    ep: &Endpoint,
    headers: HeaderMap,
    method: Method,
    path: &str,
    body: Bytes,
) -> HttpRequest {
    HttpRequest {
        method,
        url: join_url(&ep.base_url, path),
        headers,
        body,
        stream: false,
        timeout: ep.timeout,
        settings: Default::default(),
    }
}

/// The input file: `{"custom_id", "method": "POST", "url": "/v1/chat/completions", "body"}`
/// a line, each body written as it was built.
pub(super) fn input_file(items: &[(&str, &Bytes)]) -> Result<Bytes> {
    let size: usize = items.iter().map(|(id, b)| id.len() + b.len() + 80).sum();
    let mut out = BytesMut::with_capacity(size);
    for (id, body) in items {
        out.put_slice(b"{\"custom_id\":");
        let id = serde_json::to_vec(id)
            .map_err(|e| LlmError::config(format!("custom_id cannot be serialised: {e}")))?;
        out.put_slice(&id);
        out.put_slice(b",\"method\":\"POST\",\"url\":\"");
        out.put_slice(ENDPOINT.as_bytes());
        out.put_slice(b"\",\"body\":");
        out.put_slice(body);
        out.put_slice(b"}\n");
    }
    Ok(out.freeze())
}

/// The upload of `file` as a multipart form (`purpose=batch`, `file`), under `boundary`.
pub(super) fn upload(
    ep: &Endpoint,
    headers: &HeaderMap,
    file: &[u8],
    boundary: &str,
) -> Result<HttpRequest> {
    let mut body = BytesMut::with_capacity(file.len() + 400);
    body.put_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; \
             filename=\"batch.jsonl\"\r\nContent-Type: application/jsonl\r\n\r\n"
        )
        .as_bytes(),
    );
    body.put_slice(file);
    body.put_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let mut headers = headers.clone();
    let kind = HeaderValue::from_str(&format!("multipart/form-data; boundary={boundary}"))
        .map_err(|_| LlmError::config("multipart boundary is not a header value"))?;
    headers.insert(http::header::CONTENT_TYPE, kind);
    Ok(request(ep, headers, Method::POST, "files", body.freeze()))
}

#[derive(Deserialize)]
struct WireFile {
    id: String,
}

/// The id of an uploaded file.
pub(super) fn parse_file(body: &[u8]) -> Result<String> {
    Ok(parse_json::<WireFile>(body, "the uploaded file")?.id)
}

/// The `metadata` key the create's token goes under (OpenAI keeps up to 16 pairs a batch and
/// answers them back on every batch object, the list's included).
const TOKEN_KEY: &str = "llmrail_token";

/// The create, with `token` in its `metadata` (how a resume finds the batch if the answer to
/// this request was never saved).
pub(super) fn create(
    ep: &Endpoint,
    headers: &HeaderMap,
    file_id: &str,
    token: &str,
) -> HttpRequest {
    let body = json!({"input_file_id": file_id, "endpoint": ENDPOINT, "completion_window": "24h",
                      "metadata": {TOKEN_KEY: token}});
    request(
        ep,
        headers.clone(),
        Method::POST,
        "batches",
        Bytes::from(body.to_string()),
    )
}

pub(super) fn get(ep: &Endpoint, headers: &HeaderMap, id: &str) -> HttpRequest {
    request(
        ep,
        headers.clone(),
        Method::GET,
        &format!("batches/{id}"),
        Bytes::new(),
    )
}

pub(super) fn cancel(ep: &Endpoint, headers: &HeaderMap, id: &str) -> HttpRequest {
    request(
        ep,
        headers.clone(),
        Method::POST,
        &format!("batches/{id}/cancel"),
        Bytes::new(),
    )
}

pub(super) fn content(ep: &Endpoint, headers: &HeaderMap, file_id: &str) -> HttpRequest {
    request(
        ep,
        headers.clone(),
        Method::GET,
        &format!("files/{file_id}/content"),
        Bytes::new(),
    )
}

#[derive(Deserialize)]
struct WireBatch {
    id: String,
    status: String,
    #[serde(default)]
    output_file_id: Option<String>,
    #[serde(default)]
    error_file_id: Option<String>,
    #[serde(default)]
    created_at: Option<f64>,
    #[serde(default)]
    expires_at: Option<f64>,
    #[serde(default)]
    request_counts: Option<WireCounts>,
    #[serde(default)]
    metadata: Option<HashMap<String, Value>>,
}

#[derive(Deserialize)]
struct WireCounts {
    #[serde(default)]
    total: u64,
    #[serde(default)]
    completed: u64,
    #[serde(default)]
    failed: u64,
}

pub(super) fn parse_batch(body: &[u8]) -> Result<Polled> {
    let w: WireBatch = parse_json(body, "the batch")?;
    let status = match w.status.as_str() {
        "validating" => Status::Submitted,
        "in_progress" => Status::Running,
        "finalizing" => Status::Finalizing,
        "completed" => Status::Ended,
        "failed" => Status::Failed,
        "expired" => Status::Expired,
        "cancelling" => Status::Cancelling,
        "cancelled" => Status::Cancelled,
        other => {
            return Err(LlmError::invalid_response(format!(
                "unknown status {other:?} of batch {}",
                w.id
            ))
            .with_body(body))
        }
    };
    // OpenAI counts only done and failed; the rest is pending (0 of 0 while validating).
    let counts = w.request_counts.filter(|c| c.total > 0).map(|c| Counts {
        pending: c.total.saturating_sub(c.completed).saturating_sub(c.failed),
        succeeded: c.completed,
        errored: c.failed,
        cancelled: 0,
        expired: 0,
    });
    Ok(Polled {
        id: w.id,
        status,
        counts,
        created_at: w.created_at,
        expires_at: w.expires_at,
        output_file: w.output_file_id,
        error_file: w.error_file_id,
        tag: w
            .metadata
            .as_ref()
            .and_then(|m| m.get(TOKEN_KEY))
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

/// One page of the organisation's batches, newest first (`limit` 100, the most it allows),
/// after the batch `after` when given.
pub(super) fn list(ep: &Endpoint, headers: &HeaderMap, after: Option<&str>) -> HttpRequest {
    let mut path = "batches?limit=100".to_string();
    if let Some(after) = after {
        path.push_str("&after=");
        path.push_str(&super::query_value(after));
    }
    request(ep, headers.clone(), Method::GET, &path, Bytes::new())
}

/// A page of the list: its batches, and the cursor of the next page when there is one.
pub(super) fn parse_list(body: &[u8]) -> Result<Page> {
    Page::parse_data(body, "the list of batches", parse_batch)
}

#[derive(Deserialize)]
struct WireLine<'a> {
    custom_id: String,
    #[serde(default, borrow)]
    response: Option<WireResponse<'a>>,
    #[serde(default)]
    error: Option<Value>,
}

/// The body is kept as it came (a slice of the line), decoded once by the provider later.
#[derive(Deserialize)]
struct WireResponse<'a> {
    status_code: u16,
    #[serde(default)]
    request_id: Option<String>,
    #[serde(borrow)]
    body: &'a RawValue,
}

/// An output or error file: one outcome per custom_id, in the file's order; each answer is a
/// slice of `body` (no copy).
pub(super) fn parse_results(body: &Bytes) -> Result<Vec<(String, Outcome)>> {
    let mut out = Vec::new();
    for line in body.split(|b| *b == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let w: WireLine = parse_json(line, "a line of the batch's output")?;
        let outcome = match (w.response, w.error) {
            (Some(r), _) if r.status_code < 400 => Outcome::Succeeded {
                body: body.slice_ref(r.body.get().as_bytes()),
                request_id: r.request_id,
                decoded: Default::default(),
            },
            (Some(r), _) => Outcome::Errored {
                status: r.status_code,
                body: body.slice_ref(r.body.get().as_bytes()),
            },
            (None, Some(error)) => match error.get("code").and_then(Value::as_str) {
                Some("batch_expired") => Outcome::Expired,
                Some("batch_cancelled") => Outcome::Cancelled,
                _ => Outcome::Errored {
                    status: 500,
                    body: Bytes::from(json!({"error": error}).to_string()),
                },
            },
            (None, None) => {
                return Err(LlmError::invalid_response(format!(
                    "the batch's line for {:?} has neither a response nor an error",
                    w.custom_id
                ))
                .with_body(line))
            }
        };
        out.push((w.custom_id, outcome));
    }
    Ok(out)
}
