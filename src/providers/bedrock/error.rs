//! Bedrock's errors: the type in the `X-Amzn-Errortype` header (`ThrottlingException:http://
//! internal.amazon.com/coral/...`, the part before the `:`) or the body's `__type`, the message
//! in the body's `message` (or `Message`). The same types name the exceptions a ConverseStream
//! sends as event-stream frames (`:exception-type`, in camel case there), so one table maps
//! both.

use http::HeaderMap;
use serde_json::Value;

use crate::error::{ErrorKind, LlmError};
use crate::providers::status_error;

/// The kind an error type means; `None` for a type this table does not know (the HTTP status
/// decides then).
fn kind(error_type: &str) -> Option<ErrorKind> {
    // `com.amazon.coral.service#ThrottlingException` in some `__type`s; streams say
    // `throttlingException`.
    let name = error_type.rsplit('#').next().unwrap_or(error_type);
    let is = |want: &str| name.eq_ignore_ascii_case(want);
    Some(
        if is("ThrottlingException") || is("ServiceQuotaExceededException") {
            ErrorKind::RateLimit
        } else if is("ValidationException") {
            ErrorKind::BadRequest
        } else if is("AccessDeniedException") {
            ErrorKind::PermissionDenied
        } else if is("UnrecognizedClientException")
            || is("InvalidSignatureException")
            || is("ExpiredTokenException")
            || is("IncompleteSignatureException")
            || is("MissingAuthenticationTokenException")
        {
            ErrorKind::Authentication
        } else if is("ResourceNotFoundException") {
            ErrorKind::NotFound
        } else if is("ModelTimeoutException") {
            ErrorKind::Timeout
        } else if is("ServiceUnavailableException") || is("ModelNotReadyException") {
            // Both are "try again shortly": Bedrock answers ModelNotReady with 429 while a model
            // is loaded, ServiceUnavailable with 503.
            ErrorKind::Overloaded
        } else if is("InternalServerException")
            || is("ModelErrorException")
            || is("ModelStreamErrorException")
        {
            ErrorKind::Server
        } else {
            return None;
        },
    )
}

/// The error type an answer names: the header's, else the body's `__type`.
fn error_type<'a>(headers: &'a HeaderMap, body: Option<&'a Value>) -> Option<&'a str> {
    let header = headers
        .get("x-amzn-errortype")
        .and_then(|v| v.to_str().ok());
    header
        .or_else(|| body?.get("__type")?.as_str())
        .map(|t| t.split(':').next().unwrap_or(t).trim())
        .filter(|t| !t.is_empty())
}

fn message(body: Option<&Value>) -> Option<&str> {
    let body = body?;
    body.get("message")
        .or_else(|| body.get("Message"))
        .and_then(Value::as_str)
}

/// An error answer (status 4xx/5xx) as a typed error.
pub(super) fn parse(
    status: u16,
    request_id: Option<String>,
    headers: &HeaderMap,
    body: &[u8],
) -> LlmError {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let error_type = error_type(headers, parsed.as_ref());
    let message = match (error_type, message(parsed.as_ref())) {
        (Some(t), Some(text)) => format!("{t}: {text}"),
        (None, Some(text)) => text.to_string(),
        (Some(t), None) => format!("{t} (HTTP {status} from bedrock)"),
        (None, None) => format!("HTTP {status} from bedrock"),
    };
    let mut e = status_error(status, message, request_id, headers, body);
    if let Some(kind) = error_type.and_then(kind) {
        e.kind = kind;
    }
    e
}

/// An exception frame of a ConverseStream (`:exception-type` and its JSON payload, which
/// holds the `message`) as a typed error.
pub(crate) fn exception(exception_type: &str, payload: &str) -> LlmError {
    let parsed: Option<Value> = serde_json::from_str(payload).ok();
    let text = message(parsed.as_ref()).unwrap_or("no message");
    LlmError::new(
        kind(exception_type).unwrap_or(ErrorKind::Server),
        format!("the stream reported {exception_type}: {text}"),
    )
    .with_body(payload.as_bytes())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use http::HeaderValue;

    fn answer(status: u16, header: Option<&'static str>, body: &str) -> LlmError {
        let mut h = HeaderMap::new();
        if let Some(t) = header {
            h.insert("x-amzn-errortype", HeaderValue::from_static(t));
        }
        parse(status, Some("req-1".into()), &h, body.as_bytes())
    }

    #[test]
    fn the_header_type_decides_the_kind_and_the_body_gives_the_message() {
        let e = answer(
            429,
            Some("ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/"),
            r#"{"message":"Too many requests, please wait before trying again."}"#,
        );
        assert_eq!(e.kind, ErrorKind::RateLimit);
        assert_eq!(
            e.message,
            "ThrottlingException: Too many requests, please wait before trying again."
        );
        assert_eq!(e.status, Some(429));
        assert_eq!(e.request_id.as_deref(), Some("req-1"));
    }

    #[test]
    fn every_documented_type_has_its_kind() {
        for (t, want) in [
            ("ThrottlingException", ErrorKind::RateLimit),
            ("ValidationException", ErrorKind::BadRequest),
            ("AccessDeniedException", ErrorKind::PermissionDenied),
            ("UnrecognizedClientException", ErrorKind::Authentication),
            ("ResourceNotFoundException", ErrorKind::NotFound),
            ("ModelTimeoutException", ErrorKind::Timeout),
            ("ServiceUnavailableException", ErrorKind::Overloaded),
            ("ModelNotReadyException", ErrorKind::Overloaded),
            ("InternalServerException", ErrorKind::Server),
            ("throttlingException", ErrorKind::RateLimit),
            ("modelStreamErrorException", ErrorKind::Server),
        ] {
            assert_eq!(kind(t), Some(want), "{t}");
        }
        assert_eq!(kind("SomethingNewException"), None);
    }

    #[test]
    fn the_body_type_counts_when_the_header_is_missing() {
        let e = answer(
            400,
            None,
            r#"{"__type":"com.amazon.coral.validate#ValidationException","Message":"bad"}"#,
        );
        assert_eq!(e.kind, ErrorKind::BadRequest);
        assert!(
            e.message.ends_with("ValidationException: bad"),
            "{}",
            e.message
        );
        // ModelNotReady arrives as a 429 but is not a quota: still retryable, as overload.
        let e = answer(
            429,
            None,
            r#"{"__type":"ModelNotReadyException","message":"loading"}"#,
        );
        assert_eq!(e.kind, ErrorKind::Overloaded);
    }

    #[test]
    fn an_unknown_type_or_no_body_falls_back_on_the_status() {
        let e = answer(503, Some("BrandNewException"), "");
        assert_eq!(e.kind, ErrorKind::Server);
        let e = answer(
            400,
            None,
            r#"{"message":"The provided model identifier is invalid."}"#,
        );
        assert_eq!(e.kind, ErrorKind::BadRequest);
        assert_eq!(e.message, "The provided model identifier is invalid.");
        let e = answer(500, None, "");
        assert_eq!(e.message, "HTTP 500 from bedrock");
    }

    #[test]
    fn retry_after_is_read_when_bedrock_sends_it() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-amzn-errortype",
            HeaderValue::from_static("ThrottlingException"),
        );
        h.insert("retry-after", HeaderValue::from_static("3"));
        let e = parse(429, None, &h, b"{}");
        assert_eq!(e.retry_after, Some(std::time::Duration::from_secs(3)));
    }

    #[test]
    fn a_stream_exception_is_the_typed_error_of_its_type() {
        let e = exception("throttlingException", r#"{"message":"slow down"}"#);
        assert_eq!(e.kind, ErrorKind::RateLimit);
        assert_eq!(
            e.message,
            "the stream reported throttlingException: slow down"
        );
        let e = exception("whatIsThisException", "not json");
        assert_eq!(e.kind, ErrorKind::Server);
    }
}
