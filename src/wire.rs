//! The vocabulary of HTTP that every layer shares: a request about to leave the process, and the
//! response that comes back (its body whole, or a stream of chunks).
//!
//! Ground floor: this module imports nothing of the crate but its error type (`encoding.rs`:
//! a compressed body, decoded for reading). Providers build
//! an [`HttpRequest`] and read an [`HttpResponse`]; `transport` sends one and hands the other
//! back; `replay` answers a request from a cassette, or records a response as it passes, with
//! the same two types and without knowing how bytes travel. A request carries its client's
//! [`Settings`] (connect timeout, size limits), so nothing rides beside it in a task-local.
//! Reading a body whole (`HttpResponse::bytes`, `HttpResponse::head`) uses the transport's
//! bounded readers, so those two methods live in `transport.rs`.

pub mod encoding;

use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use http::{HeaderMap, Method};

use crate::error::Result;

#[derive(Debug, Clone)]
pub struct HttpRequest {
    pub method: Method,
    pub url: String,
    /// Secret headers are marked sensitive (`HeaderValue::set_sensitive`) by the provider, so
    /// every later consumer (logs, cassettes) knows to scrub them.
    pub headers: HeaderMap,
    pub body: Bytes,
    /// Deliver the body as a stream of chunks instead of buffering it.
    pub stream: bool,
    /// Whole request when buffered; time to headers and between chunks when streaming.
    pub timeout: Duration,
    /// The sending client's connect timeout and size limits.
    pub settings: Settings,
}

pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes>> + Send>>;

pub enum Body {
    Full(Bytes),
    Stream(ByteStream),
}

pub struct HttpResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Body,
}

/// The largest real answers are far smaller: 128k output tokens of JSON are about 1 MB, and
/// with logprobs for every token about 30 MB. 64 MiB leaves room for those and still stops a
/// decompression bomb long before it threatens a worker's memory.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 64 << 20;

/// A streamed event is one delta (a few hundred bytes); the biggest real ones carry a whole
/// message or tool call at once (servers that do not chunk), about the size of a full answer.
/// 16 MiB is far above that and bounds what a line that never ends can hold.
pub const DEFAULT_MAX_EVENT_BYTES: usize = 16 << 20;

/// How long to wait for a TCP/TLS connection before giving up, unless the client says otherwise.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A client's connect timeout and size limits, carried by every request it sends (the client
/// sets them on the request its provider built; providers leave the defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    pub connect_timeout: Duration,
    /// The most bytes a buffered answer (or an error body) may take once decompressed.
    pub max_response_bytes: usize,
    /// The most bytes one server-sent event (or one of its lines) may take.
    pub max_event_bytes: usize,
    /// Another client's request, forwarded (`crate::forward`): its headers go out as they are
    /// (the transport adds no `user-agent` or `accept-encoding` of its own; reqwest's `accept:
    /// */*` only to a request with none, and httpx always sends one) and the
    /// answer's body comes back as the server sent it, compressed if it was, for the caller to
    /// decode (as httpx does).
    pub passthrough: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            connect_timeout: CONNECT_TIMEOUT,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            max_event_bytes: DEFAULT_MAX_EVENT_BYTES,
            passthrough: false,
        }
    }
}
