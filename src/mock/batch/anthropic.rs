//! Message Batches as Anthropic writes them (shapes from the curator recordings).

use serde_json::{json, Map, Value};

use super::super::wire::Wire;
use super::{rfc3339, Answer, Fate, MockBatch, Requests, Served, WINDOW};

/// `{"requests": [{"custom_id", "params"}, ...]}` as (custom_id, params).
pub(super) fn requests(body: &Map<String, Value>) -> Requests {
    let list = body
        .get("requests")
        .and_then(Value::as_array)
        .ok_or((400, "requests: Field required".to_string()))?;
    list.iter()
        .enumerate()
        .map(|(i, r)| {
            let id = r.get("custom_id").and_then(Value::as_str);
            let params = r.get("params").and_then(Value::as_object);
            match (id, params) {
                (Some(id), Some(p)) => Ok((id.to_string(), p.clone())),
                _ => Err((
                    400,
                    format!("requests.{i}: custom_id and params are required"),
                )),
            }
        })
        .collect()
}

/// The batch object; a cancelled batch shows `canceling` once, then `ended`.
pub(super) fn batch(b: &mut MockBatch) -> Value {
    let status = match b.cancelled {
        Some(false) => {
            b.cancelled = Some(true);
            "canceling"
        }
        _ if b.ended() => "ended",
        _ => "in_progress",
    };
    let ended = status == "ended";
    let count = |f: fn(&Fate) -> bool| b.items.iter().filter(|i| ended && f(&i.fate)).count();
    let processing = if ended { 0 } else { b.items.len() };
    let created = rfc3339(b.created_unix);
    json!({
        "id": b.id,
        "type": "message_batch",
        "processing_status": status,
        "request_counts": {
            "processing": processing,
            "succeeded": count(|f| matches!(f, Fate::Succeeded(_))),
            "errored": count(|f| matches!(f, Fate::Errored(_))),
            "canceled": count(|f| *f == Fate::Cancelled),
            "expired": count(|f| *f == Fate::Expired),
        },
        "ended_at": if ended { Value::String(created.clone()) } else { Value::Null },
        "created_at": created,
        "expires_at": rfc3339(b.created_unix + WINDOW),
        "cancel_initiated_at": if b.cancelled.is_some() { Value::String(rfc3339(b.created_unix)) } else { Value::Null },
        "results_url": if ended { Value::String(format!("{}/v1/messages/batches/{}/results", b.origin, b.id)) } else { Value::Null },
    })
}

/// The results, one JSON line an item, last item first.
pub(super) fn results(b: &mut MockBatch) -> Answer {
    if !b.ended() {
        return Err((
            400,
            format!(
                "Message batch {} is still in progress; results are not available.",
                b.id
            ),
        ));
    }
    let mut out = String::new();
    for item in b.items.iter().rev() {
        let result = match &item.fate {
            Fate::Succeeded(message) => json!({"type": "succeeded", "message": message}),
            Fate::Errored(kind) => json!({"type": "errored", "error": {
                "type": "error",
                "error": {"type": kind, "message": format!("{kind} (llmrail mock server)")},
            }}),
            Fate::Expired => json!({"type": "expired"}),
            Fate::Cancelled => json!({"type": "canceled"}),
        };
        out.push_str(&json!({"custom_id": item.custom_id, "result": result}).to_string());
        out.push('\n');
    }
    Ok(Served::typed(
        Wire::Anthropic,
        "application/binary",
        out.into(),
    ))
}
