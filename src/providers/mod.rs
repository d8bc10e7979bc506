//! Providers translate; they do not retry, sleep, log secrets or open sockets.
//!
//! Each wire protocol is one file that turns a [`ChatRequest`] into an [`HttpRequest`] and the
//! provider's bytes back into unified types. Everything else (sending, retrying, recording) is a
//! layer that works for every provider.

use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Map, Value};

use crate::cache::CachePlan;
use crate::error::{ErrorKind, LlmError, Result};
use crate::model::{ChatRequest, ChatResponse, StreamEvent, ToolSpec};
use crate::transport::HttpRequest;

pub mod anthropic;
pub mod openai;
pub mod quota;

/// Where and as whom to call: resolved once when a client is built.
#[derive(Clone)]
pub struct Endpoint {
    pub base_url: String,
    pub api_key: Option<Secret>,
    pub model: String,
    /// Extra headers the caller asked for, sent with every request.
    pub headers: HeaderMap,
    pub timeout: Duration,
}

/// A credential. Its `Debug` never shows the value, so it cannot leak through a repr or a log.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Turns a provider's stream of server-sent events into unified events.
pub trait StreamDecoder: Send {
    /// One SSE event (`event:` name, may be empty, and its `data:`).
    fn event(&mut self, name: &str, data: &str, out: &mut Vec<StreamEvent>) -> Result<()>;
    /// The byte stream ended; emit `Done` or report a truncated stream.
    fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<()>;
}

pub trait Provider: Send + Sync {
    /// The prefix users write in "provider/model".
    fn name(&self) -> &'static str;
    fn default_base_url(&self) -> &'static str;
    /// Environment variables read for the key and base URL, as the official SDK names them.
    fn api_key_env(&self) -> &'static [&'static str];
    fn base_url_env(&self) -> &'static [&'static str];
    /// Whether a call without a key is allowed (local servers).
    fn key_required(&self) -> bool {
        true
    }

    /// The HTTP request of a chat call, with its prompt-cache plan (see `crate::cache`) rendered.
    fn build_chat_with_cache(
        &self,
        ep: &Endpoint,
        req: &ChatRequest,
        stream: bool,
        plan: &CachePlan,
    ) -> Result<HttpRequest>;
    /// As [`Provider::build_chat_with_cache`], planning from `req.prompt_cache` (off if unset).
    fn build_chat(&self, ep: &Endpoint, req: &ChatRequest, stream: bool) -> Result<HttpRequest> {
        let policy = req.prompt_cache.unwrap_or_default();
        let plan = crate::cache::plan(req, self.name(), &ep.model, policy);
        self.build_chat_with_cache(ep, req, stream, &plan)
    }
    fn parse_chat(&self, body: &[u8]) -> Result<ChatResponse>;
    fn stream_decoder(&self) -> Box<dyn StreamDecoder>;
    /// The request id a provider puts in its response headers.
    fn request_id(&self, headers: &HeaderMap) -> Option<String>;
    /// An error status turned into a typed error, with the provider's own message.
    fn parse_error(&self, status: u16, headers: &HeaderMap, body: &[u8]) -> LlmError;
}

static OPENAI: openai::OpenAi = openai::OpenAi::OPENAI;
static OPENROUTER: openai::OpenAi = openai::OpenAi::OPENROUTER;
static ANTHROPIC: anthropic::Anthropic = anthropic::Anthropic;

/// The provider for a "provider/model" prefix.
pub fn lookup(name: &str) -> Option<&'static dyn Provider> {
    match name {
        "openai" => Some(&OPENAI),
        "openrouter" => Some(&OPENROUTER),
        "anthropic" => Some(&ANTHROPIC),
        _ => None,
    }
}

pub const KNOWN: &[&str] = &["openai", "anthropic", "openrouter"];

// ---- helpers shared by the wire files -----------------------------------------------------------

/// `base` + `path` without doubled or missing slashes.
/// A tool's name, description, JSON schema (under `schema_key`: the wire protocols name it
/// differently) and strict flag, as one JSON object.
pub(crate) fn tool_fields(t: &ToolSpec, schema_key: &str) -> Map<String, Value> {
    let mut o = Map::new();
    o.insert("name".into(), Value::String(t.name.clone()));
    if let Some(d) = &t.description {
        o.insert("description".into(), Value::String(d.clone()));
    }
    o.insert(schema_key.into(), t.parameters.clone());
    if let Some(s) = t.strict {
        o.insert("strict".into(), Value::Bool(s));
    }
    o
}

pub(crate) fn join_url(base: &str, path: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

pub(crate) fn json_headers(ep: &Endpoint) -> HeaderMap {
    let mut h = HeaderMap::with_capacity(ep.headers.len() + 4);
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    for (k, v) in &ep.headers {
        h.insert(k.clone(), v.clone());
    }
    h
}

/// Insert a credential header, marked sensitive so recorders and logs scrub it.
pub(crate) fn secret_header(h: &mut HeaderMap, name: HeaderName, value: &str) -> Result<()> {
    let mut v = HeaderValue::from_str(value).map_err(|_| {
        LlmError::config("the API key contains characters that cannot go in an HTTP header")
    })?;
    v.set_sensitive(true);
    h.insert(name, v);
    Ok(())
}

/// The request body: the provider's fields with the caller's `extra_body` on top (its keys win;
/// the ones an argument writes are refused first by [`crate::model::check_extra_body`]).
/// Written as one merged view, so extra values, which can be kilobytes of JSON Schema, are
/// serialised in place rather than copied into the body first.
pub(crate) fn to_bytes(
    body: &Map<String, Value>,
    extra: &Map<String, Value>,
) -> Result<bytes::Bytes> {
    struct Merged<'a>(&'a Map<String, Value>, &'a Map<String, Value>);
    impl serde::Serialize for Merged<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
            use serde::ser::SerializeMap;
            let mut map = s.serialize_map(None)?;
            for (k, v) in self.0.iter().filter(|(k, _)| !self.1.contains_key(*k)) {
                map.serialize_entry(k, v)?;
            }
            for (k, v) in self.1 {
                map.serialize_entry(k, v)?;
            }
            map.end()
        }
    }
    serde_json::to_vec(&Merged(body, extra))
        .map(bytes::Bytes::from)
        .map_err(|e| LlmError::config(format!("request body cannot be serialised: {e}")))
}

pub(crate) fn parse_json<'a, T: serde::Deserialize<'a>>(body: &'a [u8], what: &str) -> Result<T> {
    serde_json::from_slice(body).map_err(|e| {
        LlmError::invalid_response(format!("{what} is not the JSON expected: {e}")).with_body(body)
    })
}

/// An error for an HTTP status, with the provider's message and request id filled in.
pub(crate) fn status_error(
    status: u16,
    message: String,
    request_id: Option<String>,
    headers: &HeaderMap,
    body: &[u8],
) -> LlmError {
    let mut e = LlmError::new(ErrorKind::from_status(status), message).with_body(body);
    e.status = Some(status);
    e.request_id = request_id;
    // Without a Retry-After, a 429's rate-limit reset headers say how long to back off.
    e.retry_after = retry_after(headers).or_else(|| {
        (status == 429)
            .then(|| quota::quota(headers).and_then(|q| q.reset_hint()))
            .flatten()
    });
    e
}

/// `retry-after-ms` (OpenAI), then `retry-after` in seconds or as an HTTP date.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(ms) = text("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        if ms.is_finite() && ms >= 0.0 {
            return Some(Duration::from_secs_f64(ms / 1000.0));
        }
    }
    let value = text("retry-after")?;
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let when = httpdate_to_unix(value)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?;
    Some(when.saturating_sub(now))
}

/// IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"), the only form RFC 9110 lets servers send.
fn httpdate_to_unix(s: &str) -> Option<Duration> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    if parts.len() != 6 || parts[5] != "GMT" {
        return None;
    }
    let day: i64 = parts[1].parse().ok()?;
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| *m == parts[2])? as i64
        + 1;
    let year: i64 = parts[3].parse().ok()?;
    let hms: Vec<i64> = parts[4].split(':').filter_map(|x| x.parse().ok()).collect();
    if hms.len() != 3 {
        return None;
    }
    // Days from civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hms[0] * 3600 + hms[1] * 60 + hms[2];
    u64::try_from(secs).ok().map(Duration::from_secs)
}

#[cfg(test)]
mod hostile_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("2"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert("retry-after-ms", HeaderValue::from_static("1500"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(1500)));
        assert_eq!(
            httpdate_to_unix("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(Duration::from_secs(784_111_777))
        );
    }

    #[test]
    fn urls_join_cleanly() {
        assert_eq!(
            join_url("http://x/v1/", "/chat/completions"),
            "http://x/v1/chat/completions"
        );
    }

    #[test]
    fn secrets_do_not_debug_print() {
        assert_eq!(format!("{:?}", Secret::new("sk-abc")), "Secret(***)");
    }
}
