//! Webhooks: when a worker finishes an item (COMPLETED or FAILED) that was submitted with a
//! `callback_url`, or a worker or reader first finds it EXPIRED, the final status goes there as a JSON POST, signed so the receiver can tell
//! it came from this queue and refuse a replay:
//!
//! - `x-llmrail-timestamp`: seconds since the Unix epoch when it was signed;
//! - `x-llmrail-signature`: `v1=` and the hex HMAC-SHA256, keyed by the queue's
//!   `webhook_secret`, of `"{timestamp}.{body}"` (a receiver recomputes it over the raw body and
//!   refuses a timestamp older than a few minutes).
//!
//! A delivery that fails (no connection, a non-2xx answer) is tried again with backoff, up to
//! [`ATTEMPTS`] times. Deliveries run in this process after the result is stored: a process
//! that stops before one succeeds loses it (the result itself is kept; `status` still has it).

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method};
use serde_json::{json, Value};

use super::item::State;
use super::record::StoredError;
use crate::error::{LlmError, Result};
use crate::providers::Secret;
use crate::wire::{HttpRequest, Settings};

/// Deliveries per item, the first included.
const ATTEMPTS: u32 = 5;
/// The wait before the first retry; doubled each time (0.25, 0.5, 1, 2 s).
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const TIMEOUT: Duration = Duration::from_secs(10);

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

/// What is POSTed: the item's id, final state, attempts and metadata, and its result (with its
/// text) or its last error.
pub(super) fn payload(
    id: &str,
    state: State,
    attempts: u32,
    metadata: Option<&Value>,
    result: Option<&Value>,
    text: Option<String>,
    error: Option<&StoredError>,
) -> Bytes {
    let body = json!({
        "queue_id": id,
        "state": state.as_str(),
        "attempts": attempts,
        "metadata": metadata,
        "text": text,
        "result": result,
        "error": error,
    });
    Bytes::from(body.to_string())
}

/// POST `body` to `url`, signed, retrying with backoff; the last failure if none succeeded.
pub(super) async fn deliver(url: &str, secret: &Secret, body: Bytes) -> Result<()> {
    let mut wait = FIRST_BACKOFF;
    let mut last = None;
    for attempt in 1..=ATTEMPTS {
        match send(url, secret, body.clone()).await {
            Ok(()) => return Ok(()),
            Err(e) => {
                tracing::warn!(attempt, error = %e, "queue webhook delivery failed");
                last = Some(e);
            }
        }
        if attempt < ATTEMPTS {
            tokio::time::sleep(wait).await;
            wait = wait.saturating_mul(2);
        }
    }
    Err(last.unwrap_or_else(|| LlmError::config("no webhook delivery was made")))
}

async fn send(url: &str, secret: &Secret, body: Bytes) -> Result<()> {
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
