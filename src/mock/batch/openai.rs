//! OpenAI's files and batches as OpenAI writes them (shapes from the curator recordings): an
//! input file of request lines, a batch over it, and on completion an output file (successes)
//! and an error file (failures, expired and cancelled items), each only when it has lines.

use bytes::Bytes;
use http::{HeaderMap, Method};
use serde_json::{json, Value};

use super::super::render::{random_alnum, random_hex};
use super::super::wire::Wire;
use super::super::Shared;
use super::{json as json_answer, Answer, Fate, MockBatch, Requests, Served, WINDOW};

/// `/v1/files` (upload), `/v1/files/{id}`, `/v1/files/{id}/content`.
pub(super) fn files(
    shared: &Shared,
    method: &Method,
    rest: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Served {
    let parts: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
    let answer = match (method, parts.as_slice()) {
        (&Method::POST, [""]) => upload(shared, headers, body),
        (&Method::GET, [id]) => match shared.lock().batches.files.get(*id) {
            Some(content) => Ok(json_answer(&file_object(id, content.len()))),
            None => Err((404, format!("No such File object: {id}"))),
        },
        (&Method::GET, [id, "content"]) => match shared.lock().batches.files.get(*id) {
            Some(content) => Ok(Served::typed(
                Wire::OpenAi,
                "application/octet-stream",
                content.clone(),
            )),
            None => Err((404, format!("No such File object: {id}"))),
        },
        _ => Err((
            404,
            format!("Unknown request URL: {method} /v1/files{rest}. (llmrail mock server)"),
        )),
    };
    answer.unwrap_or_else(|(status, message)| Served::error(Wire::OpenAi, status, &message))
}

fn file_object(id: &str, bytes: usize) -> Value {
    json!({"object": "file", "id": id, "purpose": "batch", "filename": "batch.jsonl",
           "bytes": bytes, "created_at": super::unix_now(), "status": "processed", "status_details": null})
}

/// A multipart upload with `purpose=batch` and a `file`.
fn upload(shared: &Shared, headers: &HeaderMap, body: &[u8]) -> Answer {
    let kind = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let boundary = kind
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))
        .map(|b| b.trim_matches('"'))
        .ok_or((
            400,
            "expected a multipart/form-data upload with a boundary".to_string(),
        ))?;
    let fields = multipart(body, boundary);
    let purpose = fields
        .iter()
        .find(|(n, _)| n == "purpose")
        .map(|(_, v)| v.as_ref());
    if purpose != Some(&b"batch"[..]) {
        return Err((
            400,
            "purpose must be 'batch' (llmrail mock server)".to_string(),
        ));
    }
    let file = fields
        .into_iter()
        .find(|(n, _)| n == "file")
        .map(|(_, v)| v)
        .ok_or((400, "file: Field required".to_string()))?;
    let id = format!("file-{}", random_alnum(22));
    let len = file.len();
    shared.lock().batches.files.insert(id.clone(), file);
    Ok(json_answer(&file_object(&id, len)))
}

/// The named parts of a multipart body.
fn multipart(body: &[u8], boundary: &str) -> Vec<(String, Bytes)> {
    let delimiter = format!("--{boundary}");
    let text = body;
    let mut out = Vec::new();
    let mut at = 0;
    let find = |hay: &[u8], needle: &[u8], from: usize| {
        hay.get(from..)
            .and_then(|h| h.windows(needle.len()).position(|w| w == needle))
            .map(|p| p + from)
    };
    while let Some(start) = find(text, delimiter.as_bytes(), at) {
        let head_start = start + delimiter.len();
        let Some(head_end) = find(text, b"\r\n\r\n", head_start) else {
            break;
        };
        let head = String::from_utf8_lossy(&text[head_start..head_end]);
        let data_start = head_end + 4;
        let Some(next) = find(text, format!("\r\n{delimiter}").as_bytes(), data_start) else {
            break;
        };
        if let Some(name) = head.split(';').find_map(|p| p.trim().strip_prefix("name=")) {
            let name = name
                .split(['\r', '\n'])
                .next()
                .unwrap_or_default()
                .trim_matches('"');
            out.push((
                name.to_string(),
                Bytes::copy_from_slice(&text[data_start..next]),
            ));
        }
        at = next + 2;
    }
    out
}

/// The lines of an input file as (custom_id, body).
pub(super) fn requests(file: &[u8]) -> Requests {
    let mut out = Vec::new();
    for (n, line) in file.split(|b| *b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let v: Value = serde_json::from_slice(line)
            .map_err(|e| (400, format!("line {}: not JSON: {e}", n + 1)))?;
        let id = v.get("custom_id").and_then(Value::as_str);
        let body = v.get("body").and_then(Value::as_object);
        match (id, body) {
            (Some(id), Some(body)) => out.push((id.to_string(), body.clone())),
            _ => {
                return Err((
                    400,
                    format!("line {}: custom_id and body are required", n + 1),
                ))
            }
        }
    }
    Ok(out)
}

/// The status an error type is answered with in the error file.
fn status_of(kind: &str) -> u16 {
    match kind {
        "invalid_request_error" => 400,
        "authentication_error" => 401,
        "rate_limit_error" | "rate_limit_exceeded" => 429,
        "overloaded_error" => 503,
        _ => 500,
    }
}

/// The batch object; its output and error files are written the first time it shows ended.
pub(super) fn batch(
    b: &mut MockBatch,
    files: &mut std::collections::HashMap<String, Bytes>,
) -> Value {
    let status = match b.cancelled {
        Some(false) => {
            b.cancelled = Some(true);
            "cancelling"
        }
        Some(true) => "cancelled",
        None if !b.ended() => "in_progress",
        None if b.items.iter().any(|i| i.fate == Fate::Expired) => "expired",
        None => "completed",
    };
    let ended = matches!(status, "cancelled" | "expired" | "completed");
    if ended && b.files.is_none() {
        b.files = Some((None, None));
        write_files(b, files);
    }
    let done = |f: fn(&Fate) -> bool| b.items.iter().filter(|i| ended && f(&i.fate)).count();
    json!({
        "id": b.id,
        "object": "batch",
        "endpoint": "/v1/chat/completions",
        "errors": null,
        "input_file_id": b.input_file,
        "completion_window": "24h",
        "status": status,
        "output_file_id": b.files.as_ref().and_then(|f| f.0.clone()),
        "error_file_id": b.files.as_ref().and_then(|f| f.1.clone()),
        "created_at": b.created_unix,
        "expires_at": b.created_unix + WINDOW,
        "request_counts": {
            "total": b.items.len(),
            "completed": done(|f| matches!(f, Fate::Succeeded(_))),
            "failed": done(|f| matches!(f, Fate::Errored(_))),
        },
        "metadata": b.label,
    })
}

/// Write the output and error files of an ended batch into `files`, once.
fn write_files(b: &mut MockBatch, files: &mut std::collections::HashMap<String, Bytes>) {
    if b.files != Some((None, None)) {
        return;
    }
    let (mut output, mut errors) = (String::new(), String::new());
    for item in &b.items {
        let id = format!("batch_req_{}", random_hex(32));
        let request_id = random_hex(32);
        let (line, to) = match &item.fate {
            Fate::Succeeded(body) => (
                json!({"id": id, "custom_id": item.custom_id, "response": {"status_code": 200, "request_id": request_id, "body": body}, "error": null}),
                &mut output,
            ),
            Fate::Errored(kind) => {
                let status = status_of(kind);
                let body = super::super::openai::error_body(
                    status,
                    Some(&format!("{kind} (llmrail mock server)")),
                );
                (
                    json!({"id": id, "custom_id": item.custom_id, "response": {"status_code": status, "request_id": request_id, "body": body}, "error": null}),
                    &mut errors,
                )
            }
            Fate::Expired => (
                json!({"id": id, "custom_id": item.custom_id, "response": null, "error": {"code": "batch_expired", "message": "This request could not be executed before the completion window expired."}}),
                &mut errors,
            ),
            Fate::Cancelled => (
                json!({"id": id, "custom_id": item.custom_id, "response": null, "error": {"code": "batch_cancelled", "message": "This request was not executed because the batch was cancelled."}}),
                &mut errors,
            ),
        };
        to.push_str(&line.to_string());
        to.push('\n');
    }
    let mut put = |content: String| {
        (!content.is_empty()).then(|| {
            let id = format!("file-{}", random_alnum(22));
            files.insert(id.clone(), Bytes::from(content));
            id
        })
    };
    b.files = Some((put(output), put(errors)));
}
