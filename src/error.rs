//! The one error type of the core. `src/py/errors.rs` is the only place it becomes a Python
//! exception; the Python classes live in `python/llmrail/errors.py`.

use std::fmt;
use std::time::Duration;

/// What went wrong, in the words of the Python exception tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    Authentication,
    PermissionDenied,
    NotFound,
    BadRequest,
    RateLimit,
    Overloaded,
    Server,
    Timeout,
    Connection,
    InvalidResponse,
    /// A circuit breaker is open: the provider failed repeatedly, so the call was not sent.
    CircuitOpen,
    /// The caller handed over something unusable (bad model string, missing key, bad message).
    Configuration,
    Cancelled,
    /// A bug in llmrail (a caught panic, an impossible state).
    Internal,
    /// Replaying from a cassette, a request had no recorded answer and may not be recorded.
    CassetteMiss,
    /// Structured extraction found no valid answer within its retries or token budget.
    Extraction,
    /// The durable queue holds too many items to take another (`retry_after` says when to try).
    QueueFull,
    /// A queued request outlived its TTL before a worker ran it: it was never sent.
    Expired,
    /// The provider refused the prompt or its result under its content policy (OpenAI's
    /// `content_policy_violation` and `moderation_blocked`, Gemini's safety blocks): the same
    /// request will be refused again, so it is never retried.
    ContentPolicy,
}

impl ErrorKind {
    /// How messages name the kind (a fallback's history names each earlier failure by it): the
    /// words of the exception tree users catch, so a message and a traceback agree. Which class
    /// is raised is decided in `src/py/errors.rs` alone; its tests check the two agree.
    pub fn name(self) -> &'static str {
        match self {
            Self::Authentication => "AuthenticationError",
            Self::PermissionDenied => "PermissionDeniedError",
            Self::NotFound => "NotFoundError",
            Self::BadRequest => "BadRequestError",
            Self::RateLimit => "RateLimitError",
            Self::Overloaded => "OverloadedError",
            Self::Server => "ServerError",
            Self::Timeout => "TimeoutError",
            Self::Connection => "ConnectionError",
            Self::InvalidResponse => "InvalidResponseError",
            Self::CircuitOpen => "CircuitOpenError",
            Self::Configuration => "ConfigurationError",
            Self::Cancelled => "CancelledError",
            Self::Internal => "InternalError",
            Self::CassetteMiss => "CassetteMissError",
            Self::Extraction => "ExtractionError",
            Self::QueueFull => "QueueFullError",
            Self::Expired => "ExpiredError",
            Self::ContentPolicy => "ContentPolicyError",
        }
    }

    /// The kind [`ErrorKind::name`] names: how an error stored by the durable queue comes back.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Every kind, for [`ErrorKind::from_name`] and the counters of each (`crate::telemetry`).
    pub const ALL: [Self; 19] = [
        Self::Authentication,
        Self::PermissionDenied,
        Self::NotFound,
        Self::BadRequest,
        Self::RateLimit,
        Self::Overloaded,
        Self::Server,
        Self::Timeout,
        Self::Connection,
        Self::InvalidResponse,
        Self::CircuitOpen,
        Self::Configuration,
        Self::Cancelled,
        Self::Internal,
        Self::CassetteMiss,
        Self::Extraction,
        Self::QueueFull,
        Self::Expired,
        Self::ContentPolicy,
    ];

    /// The kind an HTTP error status means, as the official SDKs classify it.
    pub fn from_status(status: u16) -> Self {
        match status {
            400 | 409 | 413 | 422 => Self::BadRequest,
            401 => Self::Authentication,
            403 => Self::PermissionDenied,
            404 => Self::NotFound,
            408 => Self::Timeout,
            429 => Self::RateLimit,
            529 => Self::Overloaded,
            500..=599 => Self::Server,
            _ => Self::BadRequest,
        }
    }
}

/// An error with everything a caller needs to decide what to do next. Boxed, so a `Result`
/// stays one pointer wide on the happy path; fields are read and set through `Deref`.
#[derive(Debug, Clone)]
pub struct LlmError(Box<ErrorDetails>);

#[derive(Debug, Clone)]
pub struct ErrorDetails {
    pub kind: ErrorKind,
    pub message: String,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub status: Option<u16>,
    pub request_id: Option<String>,
    pub retry_after: Option<Duration>,
    pub attempts: u32,
    /// Time spent sleeping between attempts (backoff and Retry-After) before giving up.
    pub retry_wait: Duration,
    /// The start of the response body, for debugging; already scrubbed of secrets.
    pub body: Option<String>,
    /// For `Extraction` errors: every attempt's answer and errors, and what they used.
    pub extraction: Option<std::sync::Arc<ExtractionReport>>,
}

/// The attempts of a failed structured extraction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExtractionReport {
    pub attempts: Vec<FailedAttempt>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: Option<f64>,
}

/// One attempt's raw answer and what was wrong with it ("field: problem").
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FailedAttempt {
    pub raw: String,
    pub errors: Vec<String>,
}

/// How much of an error body is kept.
pub const BODY_EXCERPT_CHARS: usize = 500;

impl LlmError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self(Box::new(ErrorDetails {
            kind,
            message: message.into(),
            provider: None,
            model: None,
            status: None,
            request_id: None,
            retry_after: None,
            attempts: 1,
            retry_wait: Duration::ZERO,
            body: None,
            extraction: None,
        }))
    }

    pub fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Configuration, message)
    }

    pub fn invalid_response(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidResponse, message)
    }

    pub fn with_body(mut self, body: &[u8]) -> Self {
        let text = String::from_utf8_lossy(body);
        self.body = Some(text.chars().take(BODY_EXCERPT_CHARS).collect());
        self
    }

    /// Attach who was called, unless a more specific value is already set.
    pub fn at(mut self, provider: &str, model: &str) -> Self {
        self.provider.get_or_insert_with(|| provider.to_string());
        self.model.get_or_insert_with(|| model.to_string());
        self
    }

    /// Remove every occurrence of `secret` from the texts this error carries.
    pub fn scrub(mut self, secret: &str) -> Self {
        if secret.len() >= 4 {
            self.message = self.message.replace(secret, "***");
            if let Some(body) = self.body.as_mut() {
                *body = body.replace(secret, "***");
            }
        }
        self
    }
}

impl std::ops::Deref for LlmError {
    type Target = ErrorDetails;
    fn deref(&self) -> &ErrorDetails {
        &self.0
    }
}

impl std::ops::DerefMut for LlmError {
    fn deref_mut(&mut self) -> &mut ErrorDetails {
        &mut self.0
    }
}

impl std::error::Error for LlmError {}

impl fmt::Display for LlmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        let mut extra = Vec::new();
        if let Some(p) = &self.provider {
            extra.push(format!("provider={p}"));
        }
        if let Some(m) = &self.model {
            extra.push(format!("model={m}"));
        }
        if let Some(s) = self.status {
            extra.push(format!("status={s}"));
        }
        if let Some(r) = &self.request_id {
            extra.push(format!("request_id={r}"));
        }
        if !extra.is_empty() {
            write!(f, " ({})", extra.join(", "))?;
        }
        Ok(())
    }
}

pub type Result<T, E = LlmError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_classes_follow_the_sdks() {
        assert_eq!(ErrorKind::from_status(401), ErrorKind::Authentication);
        assert_eq!(ErrorKind::from_status(429), ErrorKind::RateLimit);
        assert_eq!(ErrorKind::from_status(529), ErrorKind::Overloaded);
        assert_eq!(ErrorKind::from_status(503), ErrorKind::Server);
    }

    #[test]
    fn every_kind_is_found_again_by_its_name() {
        for kind in ErrorKind::ALL {
            assert_eq!(ErrorKind::from_name(kind.name()), Some(kind));
        }
        assert_eq!(ErrorKind::from_name("NoSuchError"), None);
    }

    #[test]
    fn scrub_removes_the_key_everywhere() {
        let e = LlmError::new(ErrorKind::Authentication, "bad key sk-secret-123")
            .with_body(b"{\"error\": \"sk-secret-123 is invalid\"}")
            .scrub("sk-secret-123");
        assert!(!e.to_string().contains("sk-secret"));
        assert!(!e.body.clone().unwrap_or_default().contains("sk-secret"));
    }
}
