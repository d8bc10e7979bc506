//! Answering one request: route, authenticate, script, render (`crate::listen` accepts the
//! connections).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde_json::Value;

use super::body::{Cut, End, Guard, MockBody};
use super::fault::{retry_after_header, Fault};
use super::render::{self, Turn};
use super::wire::Wire;
use super::{anthropic, bedrock, gemini, ollama, openai, Received, Shared};

/// Pieces a slow body is dribbled in.
const SLOW_PIECES: usize = 20;

/// Answer one request of a connection. hyper notices a client that hangs up mid-request (EOF
/// while the response is pending) and drops this future, which is how disconnects are counted.
pub(crate) async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<MockBody>, Cut> {
    let guard = Guard::new(shared.disconnects.clone());
    let (parts, body) = req.into_parts();
    let bytes = body.collect().await.map_err(|_| Cut)?.to_bytes();
    // Packed into a buffer of its own; parsed into a `RecordedRequest` only when asked for.
    shared.record(Received::new(
        &parts.method,
        &parts.uri,
        &parts.headers,
        &bytes,
    ));
    // The batch endpoints (files and batches) are answered apart: their bodies are not chats.
    if let Some(served) = super::batch::respond(
        &shared,
        &parts.method,
        parts.uri.path(),
        parts.uri.query(),
        &parts.headers,
        &bytes,
    ) {
        if !served.delay.is_zero() {
            tokio::time::sleep(served.delay).await;
        }
        let mut prepared = Prepared::typed(served.wire, served.content_type, served.body);
        prepared.headers.extend(served.headers);
        prepared.status =
            StatusCode::from_u16(served.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return Ok(prepared.into_response(guard));
    }
    let json = serde_json::from_slice::<Value>(&bytes).ok();
    let asked = Asked {
        method: &parts.method,
        path: parts.uri.path(),
        query: parts.uri.query(),
        headers: &parts.headers,
        body_len: bytes.len(),
        in_process: false,
    };
    match respond(&shared, &asked, json).await {
        Some(prepared) => Ok(prepared.into_response(guard)),
        None => {
            guard.finish();
            Err(Cut)
        }
    }
}

/// What [`respond`] needs of a request, whether it came over a socket or in process.
pub(crate) struct Asked<'a> {
    pub method: &'a http::Method,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub body_len: usize,
    /// Asked through `mock://` (see `inprocess.rs`): no key is needed, and input tokens are
    /// estimated from the messages the way the rate limiter does, not from the body's size.
    pub in_process: bool,
}

/// The response to send, or `None` to drop the connection without one.
pub(crate) async fn respond(
    shared: &Shared,
    asked: &Asked<'_>,
    json: Option<Value>,
) -> Option<Prepared> {
    if *asked.method == http::Method::GET {
        if let Some(wire) = Wire::models(asked.path, asked.headers) {
            if !asked.in_process && !wire.authorized(asked.path, asked.headers) {
                // Google and AWS refuse a call without a key with 403, as they do a chat.
                let status = if matches!(wire, Wire::Gemini | Wire::Bedrock) {
                    403
                } else {
                    401
                };
                return Some(Prepared::error(wire, status, None));
            }
            let list = Bytes::from(wire.model_list().to_string());
            return Some(
                Prepared::ok(wire, "application/json", vec![list], Duration::ZERO).with_length(),
            );
        }
    }
    let images = super::images::is_images(asked.path);
    let route = if images {
        Some(Wire::OpenAi)
    } else {
        Wire::route(asked.path)
    };
    let Some(wire) = route.filter(|_| *asked.method == http::Method::POST) else {
        let message = format!(
            "Unknown request URL: {} {}. (llmrail mock server)",
            asked.method, asked.path
        );
        return Some(Prepared::error(Wire::OpenAi, 404, Some(&message)));
    };
    if !asked.in_process && !wire.authorized(asked.path, asked.headers) {
        let (status, message) = match wire {
            Wire::OpenAi => (401, openai::MISSING_KEY),
            Wire::Anthropic => (401, anthropic::MISSING_KEY),
            Wire::Ollama => (401, "unauthorized"),
            // Google answers a call without a key with 403 PERMISSION_DENIED.
            Wire::Gemini => (403, gemini::MISSING_KEY),
            // AWS answers an unsigned call (no signature, no API key) with 403.
            Wire::Bedrock => (403, bedrock::exception(403).1),
        };
        return Some(Prepared::error(wire, status, Some(message)));
    }
    // Azure answers a deployment's URL without `api-version` as an unknown resource.
    let versioned = asked
        .query
        .is_some_and(|q| q.split('&').any(|p| p.starts_with("api-version=")));
    if Wire::azure(asked.path) && !versioned {
        return Some(Prepared::error(wire, 404, Some("Resource not found")));
    }
    let Some(Value::Object(mut request)) = json else {
        return Some(Prepared::error(
            wire,
            400,
            Some("The request body is not a JSON object."),
        ));
    };
    let mut reply = shared.next_reply(&request).unwrap_or_default();
    if asked.in_process {
        let usage = reply.usage.get_or_insert_with(Default::default);
        if usage.input_tokens.is_none() {
            usage.input_tokens = Some(render::estimate_input(&request));
        }
    }
    // A zero sleep still waits for the timer's next 1 ms tick: skip it.
    if let Some(wait) = reply
        .latency
        .as_ref()
        .map(|l| l.sample())
        .filter(|d| !d.is_zero())
    {
        tokio::time::sleep(wait).await;
    }
    let mut stream = request
        .get("stream")
        .and_then(Value::as_bool)
        .unwrap_or(wire.streams_by_default());
    // Gemini names the model and whether to stream in the path, not the body.
    if let Some((model, streamed)) = gemini::route(asked.path) {
        stream = streamed;
        request
            .entry("model")
            .or_insert_with(|| Value::String(model.to_owned()));
    }
    // So does Bedrock (`converse` or `converse-stream`).
    if let Some((model, streamed)) = bedrock::route(asked.path) {
        stream = streamed;
        request.entry("model").or_insert(Value::String(model));
    }
    let mut turn = Turn::new(&reply, &request, asked.body_len, stream);
    shared.account_cache(wire, &request, &reply, &mut turn.tokens);
    let gap = reply.chunk_delay.map(|d| d.duration()).unwrap_or_default();
    let mut prepared = if images {
        let body = Bytes::from(super::images::openai(&request).to_string());
        Prepared::ok(wire, "application/json", vec![body], Duration::ZERO).with_length()
    } else if stream {
        Prepared::ok(
            wire,
            wire.stream_content_type(),
            wire.events(&turn, &request),
            gap,
        )
    } else {
        let mut answer = wire.complete(&turn);
        if wire == Wire::Gemini {
            super::images::add_gemini_image(&request, &mut answer);
        }
        let body = Bytes::from(answer.to_string());
        Prepared::ok(wire, "application/json", vec![body], Duration::ZERO).with_length()
    };
    match &reply.fault {
        None => {}
        Some(Fault::Reset) => return None,
        Some(Fault::Status {
            status,
            retry_after,
            body,
        }) => {
            // Ollama's "model not found" names the model asked for.
            let body = body.clone().or_else(|| {
                (wire == Wire::Ollama).then(|| ollama::error_body(*status, None, &turn.model))
            });
            prepared = Prepared::fault(wire, *status, *retry_after, body.as_ref());
        }
        Some(Fault::MalformedJson) => prepared.malform(wire, stream),
        Some(Fault::TruncateAfter(n)) => prepared.truncate(*n, stream),
        Some(Fault::ErrorAfter(n)) if stream => {
            prepared.pieces.truncate(*n);
            prepared.pieces.push(wire.stream_error());
        }
        Some(Fault::ErrorAfter(_)) => prepared = Prepared::fault(wire, 500, None, None),
        Some(Fault::SlowBody(secs)) => prepared.slow(secs.duration()),
    }
    for (name, value) in &reply.headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            prepared.headers.insert(n, v);
        }
    }
    Some(prepared)
}

/// A response not yet tied to its connection.
pub(crate) struct Prepared {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub pieces: Vec<Bytes>,
    /// The pause before each piece after the first.
    pub gap: Duration,
    pub end: End,
}

impl Prepared {
    fn new(wire: Wire, status: StatusCode, content_type: &'static str, pieces: Vec<Bytes>) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        if let (Some(name), Ok(id)) = (
            wire.request_id_header(),
            HeaderValue::from_str(&wire.new_request_id()),
        ) {
            headers.insert(HeaderName::from_static(name), id);
        }
        Self {
            status,
            headers,
            pieces,
            gap: Duration::ZERO,
            end: End::Complete,
        }
    }

    fn ok(wire: Wire, content_type: &'static str, pieces: Vec<Bytes>, gap: Duration) -> Self {
        Self {
            gap,
            ..Self::new(wire, StatusCode::OK, content_type, pieces)
        }
    }

    fn request_id(&self, wire: Wire) -> String {
        wire.request_id_header()
            .and_then(|name| self.headers.get(name))
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }

    /// A whole body of this content type (the batch endpoints' answers).
    fn typed(wire: Wire, content_type: &'static str, body: Bytes) -> Self {
        Self::ok(wire, content_type, vec![body], Duration::ZERO).with_length()
    }

    fn error(wire: Wire, status: u16, message: Option<&str>) -> Self {
        let mut p = Self::new(wire, StatusCode::OK, "application/json", Vec::new());
        p.status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = wire.error_body(status, message, &p.request_id(wire));
        p.pieces = vec![Bytes::from(body.to_string())];
        // AWS names the exception in a header; the body has only the message.
        if wire == Wire::Bedrock {
            if let Ok(v) = HeaderValue::from_str(&bedrock::error_type(status)) {
                p.headers
                    .insert(HeaderName::from_static("x-amzn-errortype"), v);
            }
        }
        p.with_length()
    }

    fn fault(wire: Wire, status: u16, retry_after: Option<f64>, body: Option<&Value>) -> Self {
        let mut p = Self::error(wire, status, None);
        // Gemini sends no Retry-After header: the wait is a RetryInfo detail in the body.
        let retry_after = match wire {
            Wire::Gemini => {
                let body = gemini::error_body(status, None, retry_after);
                p.pieces = vec![Bytes::from(body.to_string())];
                None
            }
            _ => retry_after,
        };
        match body {
            None => {}
            // A string is sent as is, like the HTML error page of a proxy.
            Some(Value::String(raw)) => {
                let kind = if raw.trim_start().starts_with('<') {
                    "text/html"
                } else {
                    "text/plain"
                };
                p.headers
                    .insert(CONTENT_TYPE, HeaderValue::from_static(kind));
                p.pieces = vec![Bytes::from(raw.clone())];
            }
            Some(json) => p.pieces = vec![Bytes::from(json.to_string())],
        }
        if let Some(secs) = retry_after {
            if let Ok(v) = HeaderValue::from_str(&retry_after_header(secs)) {
                p.headers.insert(RETRY_AFTER, v);
            }
        }
        p.with_length()
    }

    /// Announce the full length, so a cut body is visibly short.
    fn with_length(mut self) -> Self {
        self.set_length();
        self
    }

    fn set_length(&mut self) {
        let len: usize = self.pieces.iter().map(Bytes::len).sum();
        self.headers.insert(CONTENT_LENGTH, HeaderValue::from(len));
    }

    fn malform(&mut self, wire: Wire, stream: bool) {
        if stream {
            let at = self.pieces.len().min(1);
            self.pieces.insert(at, wire.broken_event());
        } else {
            let whole: Vec<u8> = self.pieces.concat();
            let half = Bytes::copy_from_slice(&whole[..whole.len() / 2]);
            self.pieces = vec![half];
            self.set_length();
        }
    }

    fn truncate(&mut self, n: usize, stream: bool) {
        if stream {
            self.pieces.truncate(n);
        } else {
            let whole: Vec<u8> = self.pieces.concat();
            self.pieces = vec![Bytes::copy_from_slice(&whole[..n.min(whole.len())])];
        }
        self.end = End::Cut;
    }

    fn slow(&mut self, over: Duration) {
        let whole: Vec<u8> = self.pieces.concat();
        let size = whole.len().div_ceil(SLOW_PIECES).max(1);
        self.pieces = whole.chunks(size).map(Bytes::copy_from_slice).collect();
        let gaps = u32::try_from(self.pieces.len().saturating_sub(1))
            .unwrap_or(u32::MAX)
            .max(1);
        self.gap = over / gaps;
    }

    fn into_response(self, guard: Guard) -> Response<MockBody> {
        let mut resp = Response::new(MockBody::new(self.pieces, self.gap, self.end, guard));
        *resp.status_mut() = self.status;
        *resp.headers_mut() = self.headers;
        resp
    }
}
