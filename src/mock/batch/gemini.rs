//! Gemini batch mode as Google's OpenAPI export shapes it
//! (`specs/gemini/generativelanguage-v1beta.openapi.json`): the create answers a long-running
//! operation named `batches/{id}` whose `metadata` is the batch (`state` in `BATCH_STATE_*`
//! words, `batchStats` counts written as strings), polled at `/v1beta/batches/{id}`; once done
//! the inline responses, in input order, are in `metadata.output` and again in the
//! operation's `response.output`. A cancel answers `{}`.

use http::{HeaderMap, Method};
use serde_json::{json, Map, Value};

use super::super::wire::Wire;
use super::super::Shared;
use super::Served;
use super::{create, json as json_answer, rfc3339, show, with_batch, Fate, MockBatch, Requests};

const BATCH_TYPE: &str =
    "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch";
const RESPONSE_TYPE: &str =
    "type.googleapis.com/google.ai.generativelanguage.v1main.BatchGenerateContentResponse";

/// `POST .../models/{model}:batchGenerateContent`, `GET .../batches` (the list),
/// `GET .../batches/{id}`, `POST .../batches/{id}:cancel`.
pub(super) fn respond(
    shared: &Shared,
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Served {
    if !Wire::Gemini.authorized(path, headers) {
        return Served::error(Wire::Gemini, 403, super::super::gemini::MISSING_KEY);
    }
    let batch = path
        .find("/batches/")
        .and_then(|i| path.get(i + "/batches/".len()..));
    let answer = match (method, batch) {
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

/// `{"batch": {"inputConfig": {"requests": {"requests": [{"request", "metadata"}]}}}}` as
/// (the request's `metadata.key`, else its index; the request).
pub(super) fn requests(body: &Map<String, Value>) -> Requests {
    let list = body
        .get("batch")
        .and_then(|b| b.pointer("/inputConfig/requests/requests"))
        .and_then(Value::as_array)
        .ok_or((
            400,
            "batch.inputConfig.requests.requests is required (this mock takes inline requests only)"
                .to_string(),
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
/// word), one with an expired item shows expired.
pub(super) fn operation(b: &mut MockBatch) -> Value {
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
        let responses: Vec<Value> = b
            .items
            .iter()
            .filter_map(|item| {
                let key = json!({"key": item.custom_id});
                match &item.fate {
                    Fate::Succeeded(body) => Some(json!({"response": body, "metadata": key})),
                    Fate::Errored(kind) => {
                        let (code, status) = rpc_code(kind);
                        Some(json!({"error": {
                            "code": code,
                            "message": format!("{kind} (llmrail mock server)"),
                            "status": status,
                        }, "metadata": key}))
                    }
                    Fate::Expired | Fate::Cancelled => None,
                }
            })
            .collect();
        let output = json!({"inlinedResponses": {"inlinedResponses": responses}});
        metadata["output"] = output.clone();
        metadata["endTime"] = json!(rfc3339(b.created_unix));
        op["response"] = json!({"@type": RESPONSE_TYPE, "output": output});
    }
    op["metadata"] = metadata;
    op
}
