//! Webhooks: when an item that was submitted with a `callback_url` ends (COMPLETED, FAILED or
//! EXPIRED), its final status goes there as a JSON POST, signed so the receiver can tell it came
//! from this queue and refuse a replay:
//!
//! - `x-llmrail-timestamp`: seconds since the Unix epoch when it was signed;
//! - `x-llmrail-signature`: `v1=` and the hex HMAC-SHA256, keyed by the queue's
//!   `webhook_secret`, of `"{timestamp}.{body}"` (a receiver recomputes it over the raw body and
//!   refuses a timestamp older than a few minutes);
//! - `x-llmrail-delivery`: the delivery's id, the same on every attempt (also `delivery_id` in
//!   the body): delivery is at-least-once, so a receiver drops an id it has seen.
//!
//! This file signs and sends one POST; `delivery.rs` makes the delivery durable (recorded with
//! the final state, retried with backoff, taken over by another process after a crash).

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method};
use serde_json::json;

use super::item::{Item, State};
use super::record::{StoredError, StoredResponse};
use crate::error::{LlmError, Result};
use crate::providers::Secret;
use crate::wire::{HttpRequest, Settings};

/// How long one POST may take; a delivery's lease outlasts it (`delivery::LEASE`).
pub(super) const TIMEOUT: Duration = Duration::from_secs(10);

/// A callback needs an http(s) URL and a secret to sign with: an unsigned webhook could be
/// forged by anyone who can reach the receiver.
pub(super) fn check(url: &str, secret: Option<&Secret>) -> Result<()> {
    let parsed = url::Url::parse(url)
        .map_err(|e| LlmError::config(format!("callback_url is not a valid URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(LlmError::config(
            "callback_url must be an http:// or https:// URL",
        ));
    }
    if secret.is_none() {
        return Err(LlmError::config(
            "a callback_url needs the queue's webhook_secret: Queue(url, webhook_secret=...) signs every delivery",
        ));
    }
    Ok(())
}

/// The hex HMAC-SHA256 of `"{timestamp}.{body}"` under `secret`.
pub fn signature(secret: &str, timestamp: u64, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let mut ctx = ring::hmac::Context::with_key(&key);
    ctx.update(timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    ctx.sign()
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What is POSTed for a finished item: its id, the delivery's id, final state, attempts and
/// metadata, and its result (with its text) or its last error. Built from the stored item, so
/// every attempt (from any process) sends the same body. `None` while it is not finished.
pub(super) fn payload(item: &Item, delivery_id: &str) -> Option<Bytes> {
    let (result, text, error) = match item.state {
        State::Queued | State::Processing => return None,
        State::Completed => {
            // A chat's text; an extraction's value is its result.
            let text = item
                .result
                .as_ref()
                .filter(|r| r.get("extracted").is_none())
                .and_then(|r| serde_json::from_value::<StoredResponse>(r.clone()).ok())
                .map(|r| crate::model::ChatResponse::from(r).text());
            (item.result.clone(), text, None)
        }
        State::Failed => (None, None, item.errors.last().cloned()),
        State::Expired => (
            None,
            None,
            Some(StoredError::queue(
                crate::error::ErrorKind::Expired,
                format!(
                    "queue item {} expired: no worker took it within its TTL",
                    item.id
                ),
                item.finished_ms.unwrap_or(item.updated_ms),
            )),
        ),
    };
    let body = json!({
        "queue_id": item.id,
        "delivery_id": delivery_id,
        "state": item.state.as_str(),
        "attempts": item.attempts,
        "metadata": item.metadata,
        "text": text,
        "result": result,
        "error": error,
    });
    Some(Bytes::from(body.to_string()))
}

/// POST `body` to `url` once, signed; an error for no answer or a non-2xx one.
pub(super) async fn send(url: &str, secret: &Secret, delivery_id: &str, body: Bytes) -> Result<()> {
    let timestamp = super::now_ms() / 1000;
    let mut sig = HeaderValue::try_from(format!(
        "v1={}",
        signature(secret.expose(), timestamp, &body)
    ))
    .map_err(|e| LlmError::config(e.to_string()))?;
    // Sensitive: logs and cassettes scrub it.
    sig.set_sensitive(true);
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    headers.insert("x-llmrail-timestamp", HeaderValue::from(timestamp));
    headers.insert("x-llmrail-signature", sig);
    headers.insert(
        "x-llmrail-delivery",
        HeaderValue::try_from(delivery_id).map_err(|e| LlmError::config(e.to_string()))?,
    );
    let req = HttpRequest {
        method: Method::POST,
        url: url.to_string(),
        headers,
        body,
        stream: false,
        timeout: TIMEOUT,
        settings: Settings::default(),
    };
    let resp = crate::transport::send(req).await?;
    if (200..300).contains(&resp.status) {
        Ok(())
    } else {
        Err(LlmError::new(
            crate::error::ErrorKind::from_status(resp.status),
            format!("the webhook receiver answered {}", resp.status),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_the_hmac_sha256_of_timestamp_dot_body() {
        // Computed independently: Python's hmac.new(b"Jefe", b"12.{}", hashlib.sha256).
        assert_eq!(
            signature("Jefe", 12, b"{}"),
            "920d401f4879de198b71e775f802db6e3364de1e84bd18ca56903b6593a32642"
        );
    }

    #[test]
    fn a_callback_needs_a_secret_and_an_http_url() {
        let s = Secret::new("k");
        assert!(check("https://app/hook", Some(&s)).is_ok());
        assert!(check("https://app/hook", None).is_err());
        assert!(check("ftp://app/hook", Some(&s)).is_err());
    }
}
