//! Every refusal and failure as a JSON error in the shape of the endpoint that was called:
//! OpenAI's `{"error": {"message", "type", "param", "code"}}` or Anthropic's `{"type": "error",
//! "error": {"type", "message"}}`, with the status the official SDKs map to the matching
//! exception. An upstream failure keeps its kind (a 429 stays a 429, with its Retry-After), but
//! nothing of the gateway's own credentials: a provider refusing the gateway's key becomes a
//! 502 that says so without the provider's text (OpenAI's echoes part of the key), and every
//! provider key the config names is scrubbed from every message.

use std::time::Duration;

use http::StatusCode;
use serde_json::{json, Value};

use crate::error::{ErrorKind, LlmError};

/// Which endpoint's shape an error takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    OpenAi,
    Anthropic,
}

/// A failure ready to send.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub status: StatusCode,
    pub message: String,
    pub retry_after: Option<Duration>,
    /// Anthropic's `error.type` (OpenAI's `type` is derived from the status).
    kind: &'static str,
    /// OpenAI's `type` and `code` when the status alone does not say it (a spent budget is
    /// `insufficient_quota`, as OpenAI's own).
    code: Option<&'static str>,
}

impl Refusal {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            retry_after: None,
            kind: anthropic_type(status),
            code: None,
        }
    }

    /// The same refusal with OpenAI's `type` and `code` set to `code`.
    pub fn coded(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    /// The gateway's answer to `e`, with every secret in `secrets` removed from its text.
    pub fn from_error(e: &LlmError, secrets: &[String]) -> Self {
        let (status, message) = match e.kind {
            ErrorKind::BadRequest | ErrorKind::Configuration | ErrorKind::ContentPolicy => {
                (StatusCode::BAD_REQUEST, e.message.clone())
            }
            ErrorKind::NotFound => (StatusCode::NOT_FOUND, e.message.clone()),
            ErrorKind::RateLimit => (StatusCode::TOO_MANY_REQUESTS, e.message.clone()),
            ErrorKind::Overloaded => (overloaded(), e.message.clone()),
            ErrorKind::CircuitOpen | ErrorKind::QueueFull => {
                (StatusCode::SERVICE_UNAVAILABLE, e.message.clone())
            }
            ErrorKind::Timeout | ErrorKind::Expired => {
                (StatusCode::GATEWAY_TIMEOUT, e.message.clone())
            }
            ErrorKind::Server | ErrorKind::Connection | ErrorKind::InvalidResponse => {
                (StatusCode::BAD_GATEWAY, e.message.clone())
            }
            // The provider refused the gateway's own credentials: the caller can do nothing
            // about it, and the provider's text may quote the key.
            ErrorKind::Authentication | ErrorKind::PermissionDenied => (
                StatusCode::BAD_GATEWAY,
                format!(
                    "the upstream provider{} refused the gateway's credentials (HTTP {})",
                    e.provider
                        .as_deref()
                        .map(|p| format!(" {p}"))
                        .unwrap_or_default(),
                    e.status.unwrap_or(401)
                ),
            ),
            ErrorKind::Cancelled
            | ErrorKind::Internal
            | ErrorKind::CassetteMiss
            | ErrorKind::Extraction => (StatusCode::INTERNAL_SERVER_ERROR, e.message.clone()),
        };
        let mut r = Self::new(status, scrub(message, secrets));
        r.retry_after = e.retry_after;
        r
    }

    /// A refusal of the gateway's own (its key checks), kept with its own kind.
    pub fn gateway(e: &LlmError) -> Self {
        let status = match e.kind {
            ErrorKind::Authentication => StatusCode::UNAUTHORIZED,
            ErrorKind::PermissionDenied => StatusCode::FORBIDDEN,
            ErrorKind::RateLimit => StatusCode::TOO_MANY_REQUESTS,
            _ => StatusCode::BAD_REQUEST,
        };
        let mut r = Self::new(status, e.message.clone());
        r.retry_after = e.retry_after;
        r
    }

    /// The body, in the endpoint's shape.
    pub fn body(&self, shape: Shape) -> Value {
        match shape {
            Shape::OpenAi => json!({"error": {
                "message": self.message,
                "type": self.code.unwrap_or_else(|| openai_type(self.status)),
                "param": null,
                "code": self.code.map_or_else(|| openai_code(self.status), Value::from),
            }}),
            Shape::Anthropic => json!({"type": "error", "error": {
                "type": self.kind,
                "message": self.message,
            }}),
        }
    }
}

/// Anthropic's own status for overload (529) is what its SDK retries on; OpenAI's SDK also
/// retries any 5xx, so one status serves both.
fn overloaded() -> StatusCode {
    StatusCode::from_u16(529).unwrap_or(StatusCode::SERVICE_UNAVAILABLE)
}

fn openai_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "invalid_request_error",
        429 => "rate_limit_error",
        400..=499 => "invalid_request_error",
        _ => "api_error",
    }
}

fn openai_code(status: StatusCode) -> Value {
    match status.as_u16() {
        401 => json!("invalid_api_key"),
        404 => json!("model_not_found"),
        413 => json!("request_too_large"),
        429 => json!("rate_limit_exceeded"),
        _ => Value::Null,
    }
}

fn anthropic_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        529 | 503 => "overloaded_error",
        400..=499 => "invalid_request_error",
        504 => "timeout_error",
        _ => "api_error",
    }
}

/// `text` with every secret (4 characters or more) replaced.
pub fn scrub(mut text: String, secrets: &[String]) -> String {
    for s in secrets.iter().filter(|s| s.len() >= 4) {
        if text.contains(s.as_str()) {
            text = text.replace(s.as_str(), "***");
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_provider_refusing_the_gateways_key_is_a_502_without_the_providers_text() {
        let mut e = LlmError::new(
            ErrorKind::Authentication,
            "Incorrect API key provided: sk-proj-****abcd",
        );
        e.provider = Some("openai".into());
        e.status = Some(401);
        let r = Refusal::from_error(&e, &[]);
        assert_eq!(r.status, StatusCode::BAD_GATEWAY);
        assert!(!r.message.contains("abcd"), "{}", r.message);
        assert!(r.message.contains("openai"));
    }

    #[test]
    fn configured_secrets_are_scrubbed_from_every_message() {
        let e = LlmError::new(ErrorKind::Server, "upstream said: bad key sk-secret-123");
        let r = Refusal::from_error(&e, &["sk-secret-123".into()]);
        assert_eq!(r.message, "upstream said: bad key ***");
    }

    #[test]
    fn a_rate_limit_keeps_its_status_and_wait_in_both_shapes() {
        let mut e = LlmError::new(ErrorKind::RateLimit, "slow down");
        e.retry_after = Some(Duration::from_secs(3));
        let r = Refusal::from_error(&e, &[]);
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.retry_after, Some(Duration::from_secs(3)));
        assert_eq!(r.body(Shape::OpenAi)["error"]["type"], "rate_limit_error");
        let a = r.body(Shape::Anthropic);
        assert_eq!(a["type"], "error");
        assert_eq!(a["error"]["type"], "rate_limit_error");
        assert_eq!(a["error"]["message"], "slow down");
    }

    #[test]
    fn the_gateways_own_refusals_keep_their_status() {
        let e = LlmError::new(ErrorKind::Authentication, "no key");
        assert_eq!(Refusal::gateway(&e).status, StatusCode::UNAUTHORIZED);
        let e = LlmError::new(ErrorKind::PermissionDenied, "not yours");
        let r = Refusal::gateway(&e);
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert_eq!(
            r.body(Shape::Anthropic)["error"]["type"],
            "permission_error"
        );
    }
}
