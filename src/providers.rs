//! Providers translate; they do not retry, sleep, log secrets or open sockets.
//!
//! Each wire protocol is one file that turns a [`ChatRequest`] into an [`HttpRequest`] and the
//! provider's bytes back into unified types. Everything else (sending, retrying, recording) is a
//! layer that works for every provider.

// Every number here may come from a server's reply or a user's argument: integer overflow and
// `Instant`/`Duration` arithmetic are checked or saturating, never a panic (issue 13).
#![deny(clippy::arithmetic_side_effects)]

use std::time::Duration;

use bytestring::ByteString;
use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Map, Value};

use crate::cache::CachePlan;
use crate::error::{ErrorKind, LlmError, Result};
use crate::images::{ImageRequest, ImageResponse};
use crate::model::{ChatRequest, ChatResponse, StreamEvent, ToolSpec};
use crate::wire::HttpRequest;

pub mod anthropic;
pub mod azure;
pub mod bedrock;
pub mod event_stream;
pub mod gemini;
pub mod json_lines;
pub mod ollama;
pub mod openai;
pub mod quota;
pub mod registered;
pub mod sse;

/// Where and as whom to call: resolved once when a client is built.
#[derive(Clone)]
pub struct Endpoint {
    pub base_url: String,
    pub api_key: Option<Secret>,
    pub model: String,
    /// Extra headers the caller asked for, sent with every request.
    pub headers: HeaderMap,
    pub timeout: Duration,
    /// For a provider whose [`Provider::aws_service`] is `Some`: its region (for its URL) and
    /// the credentials the pipeline signs each attempt with (none with a bearer key). `None`
    /// for every other provider.
    pub aws: Option<crate::aws::Aws>,
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

/// Turns a provider's stream of events into unified events.
pub trait StreamDecoder: Send {
    /// One event: for SSE its `event:` name (may be empty) and its `data:`; for JSON lines an
    /// empty name and one line; for AWS event streams the frame's `:event-type` (or, for an
    /// exception frame, its `:exception-type`) and its payload.
    fn event(&mut self, name: &str, data: &str, out: &mut Vec<StreamEvent>) -> Result<()>;
    /// The byte stream ended; emit `Done` or report a truncated stream.
    fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<()>;
}

/// How a provider's stream is cut into the events its [`StreamDecoder`] reads: the one place
/// that choice is made (the streamed call picks its splitter by it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// Server-sent events (`text/event-stream`), through [`sse::feed`].
    Sse,
    /// One JSON object a line (`application/x-ndjson`, Ollama), through [`json_lines::feed`].
    JsonLines,
    /// AWS event-stream binary frames (`application/vnd.amazon.eventstream`, Bedrock), through
    /// [`event_stream::feed`].
    EventStream,
}

impl Framing {
    /// The content type a stream in this framing comes with.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Sse => "text/event-stream",
            Self::JsonLines => "application/x-ndjson",
            Self::EventStream => "application/vnd.amazon.eventstream",
        }
    }

    /// What the stream is, as an error message names it.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Sse => "server-sent events",
            Self::JsonLines => "JSON lines",
            Self::EventStream => "AWS event-stream frames",
        }
    }
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
    /// The base URL as this provider's own tools read it (Ollama's bare `host:port`).
    fn normalize_base_url(&self, url: String) -> String {
        url
    }
    /// Whether every base URL is the provider's own service, so a key is required even with
    /// one given (Azure: each resource has its own endpoint). Otherwise a base URL of the
    /// caller's choosing may be a local server that needs none.
    fn every_base_url_is_own_service(&self) -> bool {
        false
    }
    /// Headers sent by default from environment variables, as (header, variable): the
    /// caller's `headers=` replace them (OpenRouter's app attribution).
    fn header_env(&self) -> &'static [(&'static str, &'static str)] {
        &[]
    }
    /// The base URL the requests for `model` go to, from the configured one. Most providers
    /// use it as it is; Azure puts the deployment and the API version (`api_version`, read from
    /// the client or the environment) in it.
    fn model_base_url(
        &self,
        base_url: String,
        _model: &str,
        _api_version: Option<String>,
    ) -> Result<String> {
        Ok(base_url)
    }

    /// The AWS service name to SigV4-sign this provider's requests for (Bedrock: `bedrock`), or
    /// `None` for a provider that authenticates with a key header. Signing is not translation:
    /// the pipeline signs each attempt as it is sent (a signature expires after five minutes,
    /// so a retry after a long wait must not reuse one), with the credentials resolved for the
    /// client from the AWS chain.
    fn aws_service(&self) -> Option<&'static str> {
        None
    }

    /// The HTTP request of a chat call, with its prompt-cache plan (see `crate::cache`) rendered.
    fn build_chat_with_cache(
        &self,
        ep: &Endpoint,
        req: &ChatRequest,
        stream: bool,
        plan: &CachePlan,
    ) -> Result<HttpRequest>;
    /// The body of a chat call as a provider batch carries it, and the headers it would have
    /// been sent with (a batch create takes the betas among them). A batch builds one for each
    /// of its requests: a provider may skip what only a sent request needs (URL, key).
    fn batch_body(
        &self,
        ep: &Endpoint,
        req: &ChatRequest,
        plan: &CachePlan,
    ) -> Result<(bytes::Bytes, HeaderMap)> {
        let http = self.build_chat_with_cache(ep, req, false, plan)?;
        Ok((http.body, http.headers))
    }
    /// As [`Provider::build_chat_with_cache`], planning from `req.prompt_cache` (off if unset).
    fn build_chat(&self, ep: &Endpoint, req: &ChatRequest, stream: bool) -> Result<HttpRequest> {
        let policy = req.prompt_cache.unwrap_or_default();
        let plan = crate::cache::plan(req, self.name(), &ep.model, policy);
        self.build_chat_with_cache(ep, req, stream, &plan)
    }
    /// A cheap authenticated request (listing the models) that `Client.check()` sends to test
    /// the key and the connection; `None` where the provider has none yet.
    fn build_models(&self, _ep: &Endpoint) -> Option<Result<HttpRequest>> {
        None
    }
    fn parse_chat(&self, body: &[u8]) -> Result<ChatResponse>;
    /// [`Provider::parse_chat`] of a body held in shared bytes: a provider whose answer keeps
    /// its body as `raw` can keep a reference to it instead of a copy (a 10,000-item batch's
    /// answers are slices of one 20 MB download).
    fn parse_chat_shared(&self, body: &bytes::Bytes) -> Result<ChatResponse> {
        self.parse_chat(body)
    }
    fn stream_decoder(&self) -> Box<dyn StreamDecoder>;
    /// How this provider's stream is framed.
    fn stream_framing(&self) -> Framing {
        Framing::Sse
    }
    /// The HTTP request of an image-generation call (see `crate::images`); `None` where the
    /// provider has no image API llmrail speaks.
    fn build_images(&self, _ep: &Endpoint, _req: &ImageRequest) -> Option<Result<HttpRequest>> {
        None
    }
    /// An image-generation answer in unified terms (only asked of a provider whose
    /// [`Provider::build_images`] built the request).
    fn parse_images(&self, _body: &[u8]) -> Result<ImageResponse> {
        Err(LlmError::config(format!(
            "{} has no image generation in llmrail",
            self.name()
        )))
    }
    /// The request id a provider puts in its response headers.
    fn request_id(&self, headers: &HeaderMap) -> Option<String>;
    /// An error status turned into a typed error, with the provider's own message.
    fn parse_error(&self, status: u16, headers: &HeaderMap, body: &[u8]) -> LlmError;
}

static OPENAI: openai::OpenAi = openai::OpenAi::OPENAI;
static OPENROUTER: openai::OpenAi = openai::OpenAi::OPENROUTER;
static ANTHROPIC: anthropic::Anthropic = anthropic::Anthropic;
static MOCK: openai::OpenAi = openai::OpenAi::MOCK;
static OLLAMA: ollama::Ollama = ollama::Ollama;
static GEMINI: gemini::Gemini = gemini::Gemini;
static AZURE: azure::Azure = azure::Azure;
static BEDROCK: bedrock::Bedrock = bedrock::Bedrock;

/// The provider for a "provider/model" prefix.
pub fn lookup(name: &str) -> Option<&'static dyn Provider> {
    match name {
        "openai" => Some(&OPENAI),
        "openrouter" => Some(&OPENROUTER),
        "anthropic" => Some(&ANTHROPIC),
        "mock" => Some(&MOCK),
        "ollama" => Some(&OLLAMA),
        // Google's own name for the same API; both prefixes reach one provider.
        "gemini" | "google" => Some(&GEMINI),
        "azure" => Some(&AZURE),
        "bedrock" => Some(&BEDROCK),
        _ => registered::get(name),
    }
}

/// Whether `name` is a provider llmrail has built in (which `register_provider` may not replace).
pub fn is_builtin(name: &str) -> bool {
    KNOWN.contains(&name)
}

pub const KNOWN: &[&str] = &[
    "openai",
    "anthropic",
    "openrouter",
    "azure",
    "gemini",
    "google",
    "ollama",
    "bedrock",
    "mock",
];

// ---- helpers shared by the wire files -----------------------------------------------------------

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

/// A bodiless `GET` (the model listing `Client.check()` sends), authenticated as a chat is.
pub(crate) fn get(ep: &Endpoint, url: String, headers: HeaderMap) -> HttpRequest {
    HttpRequest {
        method: http::Method::GET,
        url,
        headers,
        body: bytes::Bytes::new(),
        stream: false,
        timeout: ep.timeout,
        // The client sets its own on the request it sends.
        settings: Default::default(),
    }
}

/// `base` + `path` without doubled or missing slashes. The path joins before the base's query,
/// which is kept (Azure's `?api-version=`); a fragment is never sent, so it is dropped.
pub(crate) fn join_url(base: &str, path: &str) -> String {
    let base = base.split('#').next().unwrap_or_default();
    let (base, query) = base.split_at(base.find('?').unwrap_or(base.len()));
    let (base, path) = (base.trim_end_matches('/'), path.trim_start_matches('/'));
    // By hand: `format!` was ~0.9k of this function's ~1.25k instructions, once per attempt.
    let parts = [base, "/", path, query];
    let mut url =
        String::with_capacity(parts.iter().map(|p| p.len()).fold(0, usize::saturating_add));
    for part in parts {
        url.push_str(part);
    }
    url
}

pub(crate) fn json_headers(ep: &Endpoint) -> HeaderMap {
    let mut h = HeaderMap::with_capacity(ep.headers.len().saturating_add(4));
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

/// The body checked as UTF-8 first, whole, with SIMD (`simdutf8`), then parsed as a `str`:
/// serde_json then checks no string again, where from bytes it checks each one as it goes
/// at about a byte an instruction (a seventh of decoding a 10,000-item batch's answers,
/// counted by callgrind). A body that is not UTF-8 is left to serde_json, for its own error.
pub(crate) fn parse_json<'a, T: serde::Deserialize<'a>>(body: &'a [u8], what: &str) -> Result<T> {
    let parsed = match simdutf8::basic::from_utf8(body) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(body),
    };
    parsed.map_err(|e| {
        LlmError::invalid_response(format!("{what} is not the JSON expected: {e}")).with_body(body)
    })
}

/// [`parse_json`] of text (a stream's event data, which its framing has read as UTF-8 already):
/// `serde_json::from_str` does not check each string's UTF-8 again, as `from_slice` does. On a
/// 50-chunk OpenAI stream that check was ~80k instructions (callgrind), a tenth of the stream.
pub(crate) fn parse_json_str<'a, T: serde::Deserialize<'a>>(
    text: &'a str,
    what: &str,
) -> Result<T> {
    serde_json::from_str(text).map_err(|e| {
        LlmError::invalid_response(format!("{what} is not the JSON expected: {e}"))
            .with_body(text.as_bytes())
    })
}

/// A long string of an answer (a message's text), read as serde_json reads a byte string:
/// its end found with `memchr` (SIMD), where a `String` field is scanned eight bytes at a time
/// for control characters too (a tenth of the instructions of a 10,000-item batch job,
/// counted by callgrind). Except that a raw control character (which JSON forbids, and no
/// provider sends) is taken as it is rather than refused, what it holds is what a `String`
/// field would.
///
/// Without an escape in it, it is a slice of the body it was read from (`InBody`), which
/// [`LongText::shared`] turns into a slice of the body the answer keeps (`raw`): no copy of the
/// text (a 10,000-item batch's answers are 20 MB, each page of a copy touched for the first
/// time: a fifth of the job's page faults, counted by `perf record -e page-faults`).
pub(crate) enum LongText<'a> {
    /// Its bytes in the body, not yet checked as UTF-8.
    InBody(&'a [u8]),
    /// Decoded (its escapes undone), checked.
    Decoded(String),
}

impl LongText<'_> {
    /// The text as an owned string.
    pub(crate) fn into_string(self) -> Result<String> {
        match self {
            Self::InBody(v) => utf8(v).map(str::to_owned),
            Self::Decoded(s) => Ok(s),
        }
    }

    /// The text as a slice of `raw`, the copy of `body` (the bytes it was read from) that
    /// the answer keeps; a decoded one (escapes undone) as it is.
    pub(crate) fn shared(self, body: &[u8], raw: &bytes::Bytes) -> Result<ByteString> {
        let v = match self {
            Self::Decoded(s) => return Ok(s.into()),
            Self::InBody(v) => v,
        };
        let at = (v.as_ptr() as usize).checked_sub(body.as_ptr() as usize);
        let span = at.and_then(|at| Some(at..at.checked_add(v.len())?));
        let kept = span
            .filter(|span| raw.len() == body.len() && span.end <= body.len())
            .map(|span| raw.slice(span));
        match kept {
            // Checked as UTF-8 here, once (with the standard library's check, which is what
            // makes a `ByteString` without `unsafe`).
            Some(kept) => ByteString::try_from(kept).map_err(|_| not_utf8()),
            None => utf8(v).map(ByteString::from),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        match self {
            Self::InBody(v) => v.is_empty(),
            Self::Decoded(s) => s.is_empty(),
        }
    }
}

fn not_utf8() -> LlmError {
    LlmError::invalid_response("the answer's text is not UTF-8")
}

fn utf8(v: &[u8]) -> Result<&str> {
    simdutf8::basic::from_utf8(v).map_err(|_| not_utf8())
}

impl<'de: 'a, 'a> serde::Deserialize<'de> for LongText<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Visitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Visitor<'a> {
            type Value = LongText<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> std::result::Result<Self::Value, E> {
                Ok(LongText::InBody(v.as_bytes()))
            }
            fn visit_str<E>(self, v: &str) -> std::result::Result<Self::Value, E> {
                Ok(LongText::Decoded(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> std::result::Result<Self::Value, E> {
                Ok(LongText::Decoded(v))
            }
            fn visit_borrowed_bytes<E>(self, v: &'de [u8]) -> std::result::Result<Self::Value, E> {
                Ok(LongText::InBody(v))
            }
            fn visit_bytes<E: serde::de::Error>(
                self,
                v: &[u8],
            ) -> std::result::Result<Self::Value, E> {
                simdutf8::basic::from_utf8(v)
                    .map(|s| LongText::Decoded(s.to_owned()))
                    .map_err(|_| E::custom("a string that is not UTF-8"))
            }
        }
        d.deserialize_bytes(Visitor(std::marker::PhantomData))
    }
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

/// `retry-after-ms` (OpenAI), then `retry-after` in seconds or as an HTTP date. A huge value
/// saturates at [`LONGEST`](crate::duration::LONGEST); a negative or unreadable one is ignored.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let ms = text("retry-after-ms").and_then(|v| v.parse::<f64>().ok());
    if let Some(wait) = ms.and_then(crate::duration::from_millis) {
        return Some(wait);
    }
    let value = text("retry-after")?;
    if let Ok(secs) = value.parse::<f64>() {
        return crate::duration::from_secs(secs);
    }
    let when = httpdate_to_unix(value)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?;
    Some(when.saturating_sub(now).min(crate::duration::LONGEST))
}

/// IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"), the only form RFC 9110 lets servers send.
fn httpdate_to_unix(s: &str) -> Option<Duration> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    let [_, day, month, year, clock, "GMT"] = parts.as_slice() else {
        return None;
    };
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .zip(1..)
    .find_map(|(name, n)| (name == month).then_some(n))?;
    let hms: Vec<i64> = clock.split(':').filter_map(|x| x.parse().ok()).collect();
    let [hour, minute, second] = hms.as_slice() else {
        return None;
    };
    let secs = quota::unix_time(
        year.parse().ok()?,
        month,
        day.parse().ok()?,
        *hour,
        *minute,
        *second,
    )?;
    u64::try_from(secs).ok().map(Duration::from_secs)
}

#[cfg(test)]
mod hostile_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::unwrap_used)]
    fn a_long_text_reads_as_a_string_field_would() {
        let read = |json: &str| {
            let t: LongText = parse_json(json.as_bytes(), "t")?;
            t.into_string()
        };
        // Shared with the body's copy, as an answer keeps it.
        let shared = |json: &str| {
            let raw = bytes::Bytes::copy_from_slice(json.as_bytes());
            let t: LongText = parse_json(json.as_bytes(), "t")?;
            t.shared(json.as_bytes(), &raw).map(|t| t.to_string())
        };
        let read_string = |json: &str| parse_json::<String>(json.as_bytes(), "t");
        for json in [
            r#""plain""#,
            r#""""#,
            r#""line\nbreak, \"quoted\", \u00e9 \ud83d\ude00 \\ \/""#,
            "\"caf\u{e9} \u{1f600}\"",
        ] {
            assert_eq!(read(json).unwrap(), read_string(json).unwrap(), "{json}");
            assert_eq!(shared(json).unwrap(), read_string(json).unwrap(), "{json}");
        }
        assert_eq!(
            <LongText as serde::Deserialize>::deserialize(serde_json::json!("v"))
                .unwrap()
                .into_string()
                .unwrap(),
            "v"
        );
        for bad in [r#""\ud800 alone""#, "12", "[104, 105]", r#""unended"#] {
            assert!(read(bad).is_err(), "{bad}");
            assert!(shared(bad).is_err(), "{bad}");
        }
        // Bytes that are not UTF-8 between the quotes: refused, both ways.
        let raw = b"\"caf\xe9\"";
        let t: LongText = serde_json::from_slice(raw).unwrap();
        assert!(t.shared(raw, &bytes::Bytes::from_static(raw)).is_err());
        let t: LongText = serde_json::from_slice(raw).unwrap();
        assert!(t.into_string().is_err());
    }

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
    fn huge_retry_after_values_saturate_instead_of_panicking() {
        let longest = Some(crate::duration::LONGEST);
        for (name, value) in [
            ("retry-after", "1e300"),
            ("retry-after", "18446744073709551616"),
            ("retry-after", "inf"),
            ("retry-after-ms", "1e300"),
            ("retry-after-ms", "18446744073709551616000"),
            ("retry-after", "Fri, 31 Dec 9999 23:59:59 GMT"),
        ] {
            let mut h = HeaderMap::new();
            h.insert(name, HeaderValue::from_static(value));
            assert_eq!(retry_after(&h), longest, "{name}: {value}");
        }
    }

    #[test]
    fn unreadable_retry_after_values_are_ignored() {
        for value in [
            "-1",
            "NaN",
            "soon",
            "Sun, 06 Nov 99999999999999999 08:49:37 GMT",
            "Sun, 06 Nov -9223372036854775808 08:49:37 GMT",
            "Sun, 99 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 99:49:37 GMT",
            "Sun, 06 Nov 1994 08:49 GMT",
        ] {
            let mut h = HeaderMap::new();
            h.insert("retry-after", HeaderValue::from_static(value));
            assert_eq!(retry_after(&h), None, "{value}");
        }
        // A bad retry-after-ms falls through to retry-after.
        let mut h = HeaderMap::new();
        h.insert("retry-after-ms", HeaderValue::from_static("-5"));
        h.insert("retry-after", HeaderValue::from_static("2"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
    }

    #[test]
    fn a_past_http_date_means_no_wait() {
        let mut h = HeaderMap::new();
        h.insert(
            "retry-after",
            HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
    }

    #[test]
    fn urls_join_cleanly() {
        assert_eq!(
            join_url("http://x/v1/", "/chat/completions"),
            "http://x/v1/chat/completions"
        );
        assert_eq!(
            join_url(
                "http://x/openai/v1/?api-version=2024-10-21#top",
                "chat/completions"
            ),
            "http://x/openai/v1/chat/completions?api-version=2024-10-21"
        );
    }

    #[test]
    fn secrets_do_not_debug_print() {
        assert_eq!(format!("{:?}", Secret::new("sk-abc")), "Secret(***)");
    }
}
