//! Requests another HTTP client built (an SDK's: `openai`, `anthropic`, through
//! `llmrail.httpx`), sent as they are through the transport: pooled, recorded and replayed like
//! llmrail's own calls, with no provider or decoding in between (`guard.rs`: the breaker, rate limit
//! and retries of the target, each when asked).
//!
//! Which way the arrows point: `forward -> transport -> replay -> wire`; `guard.rs` adds the
//! resilience layers of the target a request is for (`forward -> resilience`, and
//! `forward -> client` for the registry of process-wide state). Nothing in this file knows a
//! provider: the method, URL, headers and body go out unchanged (but for the host and the body's
//! framing, which the transport derives from the URL and body as httpx does), with no header of
//! the transport's own, and the status, headers and body bytes come back unchanged: a body the
//! server compressed stays compressed (`Settings::passthrough`), as httpx expects of a
//! transport, since it decodes by `content-encoding` itself. What llmrail reads from an answer
//! (the usage meter, a cassette's recording) reads it decoded (`wire::encoding`). An error
//! status is an answer, not an error: the SDK reads it.
//!
//! Every request is sent as a stream, because only the response says whether it is one: an
//! answer of a streaming content type (SSE, JSON lines, AWS event stream) is handed on chunk by
//! chunk as it arrives; any other is read whole here (bounded by `max_response_bytes`), so the
//! caller awaits it once. The wait for each chunk is bounded by the read timeout, which is what
//! httpx's `read` timeout means.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method};

pub(crate) mod guard;
pub mod usage;

pub use guard::{Forwarder, Policy};

use crate::error::{LlmError, Result};
use crate::transport::{self, Settings};
use crate::wire::{Body, ByteStream, HttpRequest};

/// Headers whose value follows from the URL and the body, which the transport sends itself
/// (with the same values: httpx derives them the same way) and frames the body by; HTTP/2
/// forbids the rest of the connection's headers, and hyper leaves those out there itself.
/// Everything else goes out as the SDK wrote it, `accept-encoding` and `connection` included.
const FRAMING_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "upgrade",
    "proxy-connection",
];

/// Content types whose body is a stream of events, handed on as it arrives.
const STREAMED_TYPES: &[&str] = &[
    "text/event-stream",
    "application/x-ndjson",
    "application/jsonl",
    "application/json-seq",
    "application/vnd.amazon.eventstream",
];

/// No timeout (httpx's `None`): long enough never to matter, short enough that adding it to
/// an `Instant` cannot overflow.
const FOREVER: Duration = Duration::from_secs(365 * 24 * 3600);

/// How long to wait, as httpx's `Timeout` says (`None`: no limit).
#[derive(Debug, Clone, Copy, Default)]
pub struct Timeouts {
    pub connect: Option<Duration>,
    /// For the response's headers, then for each chunk of its body.
    pub read: Option<Duration>,
}

/// What came back: the body whole, or as its chunks arrive when it is a stream of events.
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Body,
    /// What the answer used and cost, once known (`guard.rs` reads known answers): at once
    /// for a whole body, when a stream ends.
    pub spend: Arc<OnceLock<usage::Spend>>,
}

/// The request as the transport sends it: the caller's, less the framing headers.
/// Credential headers are marked sensitive, so no log or `Debug` shows them. With `last`, the
/// headers are the last request's again when it sent the same (see [`LastHeaders`]).
pub fn request<'a, I>(
    method: &[u8],
    url: String,
    headers: I,
    body: Bytes,
    timeouts: Timeouts,
    last: Option<&LastHeaders>,
) -> Result<HttpRequest>
where
    I: ExactSizeIterator<Item = (&'a [u8], &'a [u8])> + Clone,
{
    let method = Method::from_bytes(method)
        .map_err(|_| LlmError::config("an HTTP method must be a token such as GET or POST"))?;
    let map = match last.and_then(|l| l.reuse(headers.clone())) {
        Some(map) => map,
        None => {
            let map = header_map(headers.clone())?;
            if let Some(l) = last {
                l.keep(headers, &map);
            }
            map
        }
    };
    let settings = Settings {
        connect_timeout: timeouts.connect.unwrap_or(FOREVER).min(FOREVER),
        passthrough: true,
        ..Settings::default()
    };
    Ok(HttpRequest {
        method,
        url,
        headers: map,
        body,
        stream: true,
        timeout: timeouts.read.unwrap_or(FOREVER).min(FOREVER),
        settings,
    })
}

fn header_map<'a>(
    headers: impl ExactSizeIterator<Item = (&'a [u8], &'a [u8])>,
) -> Result<HeaderMap> {
    let mut map = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let name = HeaderName::from_bytes(name).map_err(|_| {
            LlmError::config(format!(
                "invalid header name {:?}",
                String::from_utf8_lossy(name)
            ))
        })?;
        if FRAMING_HEADERS.contains(&name.as_str()) {
            continue;
        }
        // The value is not quoted: it may be a key.
        let mut value = HeaderValue::from_bytes(value)
            .map_err(|_| LlmError::config(format!("invalid value for the {name} header")))?;
        if crate::replay::scrub::HEADERS.contains(&name.as_str()) {
            value.set_sensitive(true);
        }
        map.append(name, value);
    }
    Ok(map)
}

/// One client's last request's headers (less the framing ones), as sent and as built. An SDK
/// sends the same ones (its user agent, its `x-stainless-*`, the key) in the same order with
/// every request: one whose headers are the last one's takes a copy of that map instead of
/// parsing, checking and hashing each header again (a name of its own such as
/// `x-stainless-os` is allocated anew each time).
#[derive(Default)]
pub struct LastHeaders(Mutex<Option<Built>>);

/// Raw `(name, value)` pairs and the map built from them.
type Built = (Vec<(Box<[u8]>, Box<[u8]>)>, HeaderMap);

impl LastHeaders {
    fn reuse<'a>(&self, headers: impl Iterator<Item = (&'a [u8], &'a [u8])>) -> Option<HeaderMap> {
        let last = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let (raw, map) = last.as_ref()?;
        let mut kept = raw.iter();
        for (name, value) in headers.filter(|(name, _)| !is_framing(name)) {
            let (n, v) = kept.next()?;
            if **n != *name || **v != *value {
                return None;
            }
        }
        kept.next().is_none().then(|| map.clone())
    }

    fn keep<'a>(&self, headers: impl Iterator<Item = (&'a [u8], &'a [u8])>, map: &HeaderMap) {
        let raw = headers
            .filter(|(name, _)| !is_framing(name))
            .map(|(name, value)| (name.into(), value.into()))
            .collect();
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some((raw, map.clone()));
    }
}

/// A name [`header_map`] leaves out, in any case.
fn is_framing(name: &[u8]) -> bool {
    FRAMING_HEADERS
        .iter()
        .any(|f| f.as_bytes().eq_ignore_ascii_case(name))
}

/// Send `req` (from [`request`]); a body that is not a stream of events is read whole first.
pub async fn send(req: HttpRequest) -> Result<Reply> {
    let max = req.settings.max_response_bytes;
    let mut resp = transport::send(req).await?;
    // The headers are moved out, not copied: reading the body needs none of them.
    let (status, headers) = (resp.status, std::mem::take(&mut resp.headers));
    let body = if is_streamed(&headers) {
        resp.body
    } else {
        Body::Full(resp.bytes(max).await?)
    };
    Ok(Reply {
        status,
        headers,
        body,
        spend: Arc::default(),
    })
}

/// The chunks of a body, whole or streamed, for a caller that pulls them one by one.
pub fn chunks(body: Body) -> ByteStream {
    match body {
        Body::Stream(s) => s,
        Body::Full(b) => Box::pin(futures_util::stream::once(async move { Ok(b) })),
    }
}

fn is_streamed(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(http::header::CONTENT_TYPE) else {
        return false;
    };
    let essence = value
        .to_str()
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim();
    STREAMED_TYPES
        .iter()
        .any(|t| t.eq_ignore_ascii_case(essence))
}

#[cfg(test)]
mod tests;
