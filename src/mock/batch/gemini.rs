//! Gemini batch mode as Google's OpenAPI export shapes it
//! (`specs/gemini/generativelanguage-v1beta.openapi.json`): the create answers a long-running
//! operation named `batches/{id}` whose `metadata` is the batch (`state` in `BATCH_STATE_*`
//! words, `batchStats` counts written as strings), polled at `/v1beta/batches/{id}`; once done
//! the inline responses, in input order, are in `metadata.output` and again in the
//! operation's `response.output`. A cancel answers `{}`.
//!
//! A batch too big to go inline names an uploaded file (`inputConfig.fileName`) of
//! `{"key", "request"}` lines. The Files API's resumable upload is served as Google's guide
//! shows it: `POST /upload/v1beta/files` with `X-Goog-Upload-Command: start` answers an
//! `X-Goog-Upload-URL` (on this server, with an `upload_id`), where one `upload, finalize` of the
//! declared length stores the file and answers `{"file": File}`. Such a batch answers in a
//! responses file (`output.responsesFile`) of `{"key", "response" | "error"}` lines, in input
//! order, at `GET /download/v1beta/{file}:download?alt=media`.

use std::collections::HashMap;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method};
use serde_json::{json, Map, Value};

use super::super::render::random_alnum;
use super::super::wire::Wire;
use super::super::Shared;
use super::Served;
use super::{
    create, json as json_answer, query_param, rfc3339, show, with_batch, Fate, MockBatch, Requests,
};

const BATCH_TYPE: &str =
    "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch";
const RESPONSE_TYPE: &str =
    "type.googleapis.com/google.ai.generativelanguage.v1main.BatchGenerateContentResponse";

/// `POST .../models/{model}:batchGenerateContent`, `GET .../batches` (the list),
/// `GET .../batches/{id}`, `POST .../batches/{id}:cancel`; the upload and download of files.
pub(super) fn respond(
    shared: &Shared,
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Served {
    // The upload's URL is its own credential (Google's upload step needs no key).
    if let (true, Some(upload)) = (
        path.ends_with("/upload/v1beta/files"),
        query_param(query, "upload_id"),
    ) {
        return finalize(shared, &upload, headers, body)
            .unwrap_or_else(|(status, message)| Served::error(Wire::Gemini, status, &message));
    }
    if !Wire::Gemini.authorized(path, headers) {
        return Served::error(Wire::Gemini, 403, super::super::gemini::MISSING_KEY);
    }
    let batch = path
        .find("/batches/")
        .and_then(|i| path.get(i + "/batches/".len()..));
    let answer = match (method, batch) {
        (&Method::POST, None) if path.ends_with("/upload/v1beta/files") => {
            start_upload(shared, headers, body)
        }
        (&Method::GET, None) if path.contains("/download/v1beta/files/") => {
            download(shared, path, query)
        }
        (&Method::GET, None) if path.ends_with("/batches") => {
            Ok(super::list(shared, Wire::Gemini, query))
        }
        (&Method::POST, None) => create(shared, Wire::Gemini, headers, body),
        (&Method::POST, Some(rest)) if rest.ends_with(":cancel") => {
            let id = rest.trim_end_matches(":cancel");
            with_batch(shared, Wire::Gemini, id, |b, _| {
                if !b.ended() {
                    b.cancelled = Some(true);
                    for item in &mut b.items {
                        item.fate = Fate::Cancelled;
                    }
                }
                Ok(json_answer(&json!({})))
            })
        }
        (&Method::GET, Some(id)) => {
            with_batch(shared, Wire::Gemini, id, |b, files| Ok(show(b, files)))
        }
        _ => Err((
            404,
            format!("Unknown request URL: {method} {path}. (llmrail mock server)"),
        )),
    };
    answer.unwrap_or_else(|(status, message)| Served::error(Wire::Gemini, status, &message))
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// `X-Goog-Upload-Command: start` with the file's metadata: the upload's URL in
/// `X-Goog-Upload-URL`, on the origin the client reached.
fn start_upload(shared: &Shared, headers: &HeaderMap, body: &[u8]) -> super::Answer {
    if header(headers, "x-goog-upload-protocol") != "resumable"
        || header(headers, "x-goog-upload-command") != "start"
    {
        return Err((
            400,
            "expected X-Goog-Upload-Protocol: resumable and X-Goog-Upload-Command: start              (llmrail mock server)"
                .to_string(),
        ));
    }
    let len: usize = header(headers, "x-goog-upload-header-content-length")
        .parse()
        .map_err(|_| {
            (
                400,
                "X-Goog-Upload-Header-Content-Length is required".to_string(),
            )
        })?;
    let meta: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let name = meta
        .pointer("/file/displayName")
        .or_else(|| meta.pointer("/file/display_name"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let id = random_alnum(32);
    let host = header(headers, "host");
    let host = if host.is_empty() { "127.0.0.1" } else { host };
    let url = format!("http://{host}/upload/v1beta/files?upload_id={id}&upload_protocol=resumable");
    shared.lock().batches.uploads.insert(id, (name, len));
    let mut served = Served::typed(Wire::Gemini, "text/plain", Bytes::new());
    for (k, v) in [
        ("x-goog-upload-url", url.as_str()),
        ("x-goog-upload-status", "active"),
    ] {
        if let Ok(v) = HeaderValue::from_str(v) {
            served.headers.insert(k, v);
        }
    }
    Ok(served)
}

/// `X-Goog-Upload-Command: upload, finalize` at offset 0 with every declared byte: the file is
/// stored and described.
fn finalize(shared: &Shared, upload: &str, headers: &HeaderMap, body: &[u8]) -> super::Answer {
    let command = header(headers, "x-goog-upload-command");
    let words: Vec<&str> = command.split(',').map(str::trim).collect();
    if !words.contains(&"upload") || !words.contains(&"finalize") {
        return Err((
            400,
            format!("expected X-Goog-Upload-Command: upload, finalize, got {command:?}"),
        ));
    }
    if header(headers, "x-goog-upload-offset") != "0" {
        return Err((
            400,
            "this mock takes a file in one piece, at offset 0".into(),
        ));
    }
    let mut state = shared.lock();
    let all = &mut state.batches;
    let Some((display, len)) = all.uploads.remove(upload) else {
        return Err((404, format!("no upload {upload} in progress")));
    };
    if body.len() != len {
        return Err((
            400,
            format!("the upload declared {len} bytes and sent {}", body.len()),
        ));
    }
    let name = format!("files/{}", random_alnum(12).to_ascii_lowercase());
    all.files.insert(name.clone(), Bytes::copy_from_slice(body));
    let now = super::unix_now();
    let file = json!({"file": {
        "name": name,
        "displayName": display,
        "mimeType": header(headers, "content-type"),
        "sizeBytes": len.to_string(),
        "createTime": rfc3339(now),
        "updateTime": rfc3339(now),
        "expirationTime": rfc3339(now + 48 * 3600),
        "uri": format!("http://{}/v1beta/{name}", header(headers, "host")),
        "state": "ACTIVE",
        "source": "UPLOADED",
    }});
    drop(state);
    let mut served = json_answer(&file);
    served
        .headers
        .insert("x-goog-upload-status", HeaderValue::from_static("final"));
    Ok(served)
}

/// `GET /download/v1beta/files/{id}:download?alt=media`: the file's bytes.
fn download(shared: &Shared, path: &str, query: Option<&str>) -> super::Answer {
    let name = path
        .find("/download/v1beta/")
        .and_then(|i| path.get(i + "/download/v1beta/".len()..))
        .unwrap_or_default()
        .trim_end_matches(":download");
    if query_param(query, "alt").as_deref() != Some("media") {
        return Err((
            400,
            "a download takes alt=media (llmrail mock server)".into(),
        ));
    }
    match shared.lock().batches.files.get(name) {
        Some(content) => Ok(Served::typed(
            Wire::Gemini,
            "application/octet-stream",
            content.clone(),
        )),
        None => Err((404, format!("File {name} not found."))),
    }
}

/// The uploaded file a create names (`batch.inputConfig.fileName`), if it names one.
pub(super) fn input_file(body: &Map<String, Value>) -> Option<&str> {
    body.get("batch")?
        .pointer("/inputConfig/fileName")?
        .as_str()
}

/// A create's requests as (the request's key, else its index; the request):
/// `{"batch": {"inputConfig": {"requests": {"requests": [{"request", "metadata": {"key"}}]}}}}`,
/// or the lines `{"key", "request"}` of the uploaded file its `inputConfig.fileName` names.
pub(super) fn requests(body: &Map<String, Value>, files: &HashMap<String, Bytes>) -> Requests {
    let input = body.get("batch").and_then(|b| b.get("inputConfig"));
    if let Some(file) = input_file(body) {
        let content = files
            .get(file)
            .ok_or((404, format!("File {file} not found.")))?;
        return file_requests(content);
    }
    let list = input
        .and_then(|i| i.pointer("/requests/requests"))
        .and_then(Value::as_array)
        .ok_or((
            400,
            "batch.inputConfig needs requests.requests or fileName".to_string(),
        ))?;
    list.iter()
        .enumerate()
        .map(|(i, r)| {
            let key = r
                .pointer("/metadata/key")
                .and_then(Value::as_str)
                .map_or_else(|| i.to_string(), str::to_string);
            match r.get("request").and_then(Value::as_object) {
                Some(request) => Ok((key, request.clone())),
                None => Err((
                    400,
                    format!("batch.inputConfig.requests.requests[{i}].request is required"),
                )),
            }
        })
        .collect()
}

/// The lines of an input file: `{"key", "request"}` each.
fn file_requests(content: &[u8]) -> Requests {
    content
        .split(|b| *b == b'\n')
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .enumerate()
        .map(|(i, line)| {
            let line: Value = serde_json::from_slice(line)
                .map_err(|e| (400, format!("line {} of the input file: {e}", i + 1)))?;
            let key = line
                .get("key")
                .and_then(Value::as_str)
                .map_or_else(|| i.to_string(), str::to_string);
            match line.get("request").and_then(Value::as_object) {
                Some(request) => Ok((key, request.clone())),
                None => Err((
                    400,
                    format!("line {} of the input file has no request", i + 1),
                )),
            }
        })
        .collect()
}

/// The google.rpc code an error type is reported with, and its name.
fn rpc_code(kind: &str) -> (u16, &'static str) {
    match kind {
        "invalid_request_error" => (3, "INVALID_ARGUMENT"),
        "authentication_error" => (16, "UNAUTHENTICATED"),
        "rate_limit_error" | "rate_limit_exceeded" => (8, "RESOURCE_EXHAUSTED"),
        "overloaded_error" => (14, "UNAVAILABLE"),
        "timeout_error" => (4, "DEADLINE_EXCEEDED"),
        _ => (13, "INTERNAL"),
    }
}

/// The operation; a cancelled batch shows cancelled at once (the REST API has no cancelling
/// word), one with an expired item shows expired. A batch over a file answers in a file,
/// written the first time it shows done.
pub(super) fn operation(b: &mut MockBatch, files: &mut HashMap<String, Bytes>) -> Value {
    let state = match b.cancelled {
        Some(_) => "BATCH_STATE_CANCELLED",
        None if !b.ended() => "BATCH_STATE_RUNNING",
        None if b.items.iter().any(|i| i.fate == Fate::Expired) => "BATCH_STATE_EXPIRED",
        None => "BATCH_STATE_SUCCEEDED",
    };
    let done = state != "BATCH_STATE_RUNNING";
    let count = |f: fn(&Fate) -> bool| b.items.iter().filter(|i| done && f(&i.fate)).count();
    let succeeded = count(|f| matches!(f, Fate::Succeeded(_)));
    let failed = count(|f| matches!(f, Fate::Errored(_)));
    let total = b.items.len();
    let name = format!("batches/{}", b.id);
    let mut metadata = json!({
        "@type": BATCH_TYPE,
        "model": "models/gemini-2.5-flash",
        "name": name,
        "displayName": b.label.as_str().unwrap_or("llmrail mock batch"),
        "createTime": rfc3339(b.created_unix),
        "updateTime": rfc3339(b.created_unix),
        "batchStats": {
            "requestCount": total.to_string(),
            "successfulRequestCount": succeeded.to_string(),
            "failedRequestCount": failed.to_string(),
            "pendingRequestCount": total.saturating_sub(succeeded + failed).to_string(),
        },
        "state": state,
    });
    let mut op = json!({"name": name, "done": done});
    if done && b.cancelled.is_none() {
        let answer = |item: &super::Item| match &item.fate {
            Fate::Succeeded(body) => Some(("response", body.clone())),
            Fate::Errored(kind) => {
                let (code, status) = rpc_code(kind);
                Some((
                    "error",
                    json!({
                        "code": code,
                        "message": format!("{kind} (llmrail mock server)"),
                        "status": status,
                    }),
                ))
            }
            Fate::Expired | Fate::Cancelled => None,
        };
        let output = if b.input_file.is_empty() {
            let responses: Vec<Value> = b
                .items
                .iter()
                .filter_map(|item| {
                    let (field, value) = answer(item)?;
                    Some(json!({field: value, "metadata": {"key": item.custom_id}}))
                })
                .collect();
            json!({"inlinedResponses": {"inlinedResponses": responses}})
        } else {
            let file = format!("files/batch-{}", b.id);
            if b.files.is_none() {
                let mut content = String::new();
                for item in &b.items {
                    if let Some((field, value)) = answer(item) {
                        content.push_str(&json!({"key": item.custom_id, field: value}).to_string());
                        content.push('\n');
                    }
                }
                files.insert(file.clone(), Bytes::from(content));
                b.files = Some((Some(file.clone()), None));
            }
            json!({"responsesFile": file})
        };
        metadata["output"] = output.clone();
        metadata["endTime"] = json!(rfc3339(b.created_unix));
        op["response"] = json!({"@type": RESPONSE_TYPE, "output": output});
    }
    op["metadata"] = metadata;
    op
}
