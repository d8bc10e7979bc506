//! One recorded exchange: what was sent and what came back, as a cassette holds it.
//!
//! The floor of `replay`: the file format (`cassette`), the scrubber, the recorder and the
//! session all speak these types, and they speak nothing back.

use std::time::Duration;

use bytes::Bytes;

#[derive(Debug, Clone, PartialEq)]
pub struct Interaction {
    pub request: Request,
    pub response: Response,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub method: String,
    pub uri: String,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// The decoded body, exactly as the client received it.
    pub body: Bytes,
    /// From sending the request to the response (to its headers, when streamed).
    pub latency: Option<Duration>,
    /// How a streamed body arrived; `None` for a buffered one.
    pub chunks: Option<Vec<Chunk>>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Chunk {
    pub len: usize,
    /// Since the request was sent.
    pub at: Duration,
}
