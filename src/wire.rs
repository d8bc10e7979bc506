//! The vocabulary of HTTP that every layer shares: a request about to leave the process, and the
//! response that comes back (its body whole, or a stream of chunks).
//!
//! Ground floor: this module imports nothing of the crate but its error type. Providers build
//! an [`HttpRequest`] and read an [`HttpResponse`]; `transport` sends one and hands the other
//! back; `replay` answers a request from a cassette, or records a response as it passes, with
//! the same two types and without knowing how bytes travel. Reading a body whole
//! (`HttpResponse::bytes`, `HttpResponse::head`) is the transport's business, because how much
//! a body may hold is a client's limit: those two methods live in `transport.rs`.

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
