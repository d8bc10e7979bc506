//! A mock LLM provider: OpenAI Chat Completions, Anthropic Messages, Gemini generateContent,
//! Ollama's `/api/chat` and Bedrock's Converse and ConverseStream (and OpenAI's and Gemini's
//! image generation, `images.rs`) on 127.0.0.1, answering
//! from a script, with realistic latency and faults. The project's tests talk to it over real
//! HTTP, and users get it as `llmrail.testing.MockServer`. The same answers come without a
//! socket for `Client("mock/<name>")` (`inprocess.rs`), optionally chosen by the rules of a
//! fixtures file (`fixtures.rs`).
//!
//! ```no_run
//! use llmrail::mock::{MockServer, Reply};
//! let server = MockServer::start()?;
//! server.push(Reply::text("hello"));
//! let base_url = format!("{}/v1", server.url()); // OpenAI clients; Anthropic clients use url()
//! # Ok::<(), llmrail::LlmError>(())
//! ```

mod anthropic;
mod batch;
mod bedrock;
mod body;
mod cache;
mod fault;
mod fixtures;
mod gemini;
mod http;
mod images;
mod inprocess;
mod ollama;
mod openai;
mod render;
mod script;
mod timing;
mod wire;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::error::{ErrorKind, LlmError};
use crate::listen::Listening;
use serde::Serialize;
use serde_json::Value;

pub use batch::BatchSettings;
pub use fault::Fault;
pub use fixtures::Fixtures;
pub use inprocess::{answer, MockProvider, FIXTURES_ENV, SCHEME};
pub use script::{FinishReason, Reply, ToolCall, UsageSpec};
pub use timing::{Latency, Seconds};

/// How long a `shutdown` called outside any runtime waits for the port to be released.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(2);

/// One request as the server received it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// Lower-case names, in the order received.
    pub headers: Vec<(String, String)>,
    /// The JSON body, or the raw text as a string when it is not JSON.
    pub body: Value,
}

impl RecordedRequest {
    /// The first value of a header (name in any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// How many requests a server keeps for [`MockServer::requests`]: the most recent ones (all of
/// them are counted, [`MockServer::received`]). A mock that serves a benchmark receives millions;
/// kept without bound, its memory grew with every request, and each fresh 2 MB of it (a
/// transparent huge page) is zeroed on first touch while the one worker waits: ~20 ms on this
/// 2-core VM, once every ~4,000 requests, which was the 14-18 ms p99 of a direct call at 500
/// requests/s in bench/gateway.py. Past this many, an old record's memory is reused.
pub const KEPT_REQUESTS: usize = 10_000;

/// A request as it arrived, packed into one allocation of its own: `METHOD path[?query]\n`,
/// `name: value\n` per header, `\n`, then the body. Its parts as hyper hands them over (header
/// values, URI, body) are slices of the connection's whole read buffer: kept, each request held
/// on to ~9 KB. [`Received::recorded`] makes the parsed copy when someone asks for it, not on
/// the serving path. A header value never holds a line break (hyper and `http` refuse one).
pub(crate) struct Received {
    packed: Box<[u8]>,
    /// Where the body starts.
    body_at: usize,
}

impl Received {
    pub(crate) fn new(
        method: &::http::Method,
        uri: &::http::Uri,
        headers: &::http::HeaderMap,
        body: &[u8],
    ) -> Self {
        let query = uri.query().map_or(0, |q| q.len() + 1);
        let head = method.as_str().len() + 1 + uri.path().len() + query + 1;
        let fields: usize = headers
            .iter()
            .map(|(k, v)| k.as_str().len() + 2 + v.len() + 1)
            .sum();
        let mut packed = Vec::with_capacity(head + fields + 1 + body.len());
        packed.extend_from_slice(method.as_str().as_bytes());
        packed.push(b' ');
        packed.extend_from_slice(uri.path().as_bytes());
        if let Some(q) = uri.query() {
            packed.push(b'?');
            packed.extend_from_slice(q.as_bytes());
        }
        packed.push(b'\n');
        for (k, v) in headers {
            packed.extend_from_slice(k.as_str().as_bytes());
            packed.extend_from_slice(b": ");
            packed.extend_from_slice(v.as_bytes());
            packed.push(b'\n');
        }
        packed.push(b'\n');
        let body_at = packed.len();
        packed.extend_from_slice(body);
        Self {
            packed: packed.into_boxed_slice(),
            body_at,
        }
    }

    fn recorded(&self) -> RecordedRequest {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let (head, body) = self.packed.split_at(self.body_at);
        let mut lines = head.split(|&b| b == b'\n');
        let first = lines.next().unwrap_or_default();
        let (method, target) = split_once(first, b' ');
        let (path, query) = match target.iter().position(|&b| b == b'?') {
            Some(at) => (&target[..at], Some(text(&target[at + 1..]))),
            None => (target, None),
        };
        RecordedRequest {
            method: text(method),
            path: text(path),
            query,
            headers: lines
                .take_while(|line| !line.is_empty())
                .map(|line| {
                    let (k, v) = split_once(line, b':');
                    (text(k), text(v.strip_prefix(b" ").unwrap_or(v)))
                })
                .collect(),
            body: serde_json::from_slice(body).unwrap_or_else(|_| Value::String(text(body))),
        }
    }
}

/// `line` cut at the first `sep` (which is left out), or whole with nothing after it.
fn split_once(line: &[u8], sep: u8) -> (&[u8], &[u8]) {
    match line.iter().position(|&b| b == sep) {
        Some(at) => (&line[..at], &line[at + 1..]),
        None => (line, &[]),
    }
}

struct Scripted {
    reply: Reply,
    remaining: u32,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Scripted>,
    default: Option<Reply>,
    /// Rules consulted when the queue is empty, before `default`.
    fixtures: Option<Arc<Fixtures>>,
    /// The last [`KEPT_REQUESTS`] requests, oldest first.
    requests: VecDeque<Received>,
    /// Every request since start or `clear`, kept or not.
    received: u64,
    /// What the mock has cached, so repeated prefixes report cache reads.
    prompt_cache: cache::PromptCache,
    /// Provider batches and uploaded files (`batch.rs`).
    batches: batch::Batches,
}

pub(crate) struct Shared {
    state: Mutex<State>,
    disconnects: Arc<AtomicU64>,
    /// TCP connections accepted: tells tests whether clients reuse pooled connections.
    connections: AtomicU64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the script half-updated; keep serving.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Cache reads and writes for this request, as the real API would report them.
    fn account_cache(
        &self,
        wire: wire::Wire,
        request: &serde_json::Map<String, Value>,
        reply: &Reply,
        tokens: &mut render::Tokens,
    ) {
        self.lock()
            .prompt_cache
            .account(wire, request, reply, tokens);
    }

    fn record(&self, request: Received) {
        let mut state = self.lock();
        if state.requests.len() >= KEPT_REQUESTS {
            state.requests.pop_front();
        }
        state.requests.push_back(request);
        state.received += 1;
    }

    /// The next scripted reply, else the fixtures' answer, else the default; `None` means echo.
    fn next_reply(&self, request: &serde_json::Map<String, Value>) -> Option<Reply> {
        let mut state = self.lock();
        if let Some(front) = state.queue.front_mut() {
            front.remaining = front.remaining.saturating_sub(1);
            if front.remaining > 0 {
                return Some(front.reply.clone());
            }
            return state.queue.pop_front().map(|s| s.reply);
        }
        let model = request
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let picked = state.fixtures.as_ref().and_then(|f| f.pick(model, request));
        picked.or_else(|| state.default.clone())
    }

    fn new() -> Self {
        Self {
            state: Mutex::default(),
            disconnects: Arc::default(),
            connections: AtomicU64::new(0),
        }
    }

    fn push(&self, reply: Reply) {
        let remaining = reply.times.max(1);
        self.lock().queue.push_back(Scripted { reply, remaining });
    }

    fn requests(&self) -> Vec<RecordedRequest> {
        self.lock()
            .requests
            .iter()
            .map(Received::recorded)
            .collect()
    }

    fn pending(&self) -> usize {
        self.lock().queue.iter().map(|s| s.remaining as usize).sum()
    }

    /// Forget requests, queued replies, the default and the counters (the fixtures stay).
    fn clear(&self) {
        let mut state = self.lock();
        state.requests.clear();
        state.received = 0;
        state.queue.clear();
        state.default = None;
        state.prompt_cache = cache::PromptCache::default();
        self.disconnects.store(0, Ordering::Relaxed);
        self.connections.store(0, Ordering::Relaxed);
    }
}

/// A running mock server; stops on [`MockServer::shutdown`] or drop.
pub struct MockServer {
    shared: Arc<Shared>,
    listening: Listening,
}

/// Bind 127.0.0.1 on a free port that no earlier mock server of this process had. Clients share
/// breakers, rate limits and cache memory per base URL across the whole process
/// (`client/registry.rs`), so a server on an earlier one's port would inherit its test's state.
fn bind_unused_port() -> std::io::Result<std::net::TcpListener> {
    static USED: std::sync::LazyLock<Mutex<std::collections::HashSet<u16>>> =
        std::sync::LazyLock::new(Mutex::default);
    // Ports already had stay bound here until a new one comes, so the OS offers another.
    let mut had = Vec::new();
    loop {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
        let port = listener.local_addr()?.port();
        let mut used = USED.lock().unwrap_or_else(PoisonError::into_inner);
        if used.insert(port) || had.len() >= 64 {
            return Ok(listener);
        }
        had.push(listener);
    }
}

impl MockServer {
    /// Bind 127.0.0.1 on a free port and serve on the shared runtime. Works from any thread,
    /// with or without a runtime of its own.
    pub fn start() -> Result<Self, LlmError> {
        Self::start_on(0)
    }

    /// As [`MockServer::start`], on this port of 127.0.0.1 (0: a free one). A port in use is
    /// an error naming it.
    pub fn start_on(port: u16) -> Result<Self, LlmError> {
        let io_err = |what: &str, e: std::io::Error| {
            LlmError::new(
                ErrorKind::Internal,
                format!("mock server: cannot {what}: {e}"),
            )
        };
        let std_listener = if port == 0 {
            bind_unused_port().map_err(|e| io_err("bind", e))?
        } else {
            std::net::TcpListener::bind(("127.0.0.1", port))
                .map_err(|e| io_err(&format!("bind 127.0.0.1:{port}"), e))?
        };
        let shared = Arc::new(Shared::new());
        let for_connections = shared.clone();
        let options = crate::listen::Options {
            header_timeout: None,
            // A stop closes every connection at once, as a server that goes away does.
            grace: Duration::ZERO,
            label: "mock server",
        };
        let listening = Listening::start(std_listener, options, move || {
            for_connections.connections.fetch_add(1, Ordering::Relaxed);
            let shared = for_connections.clone();
            hyper::service::service_fn(move |req| http::handle(shared.clone(), req))
        })?;
        Ok(Self { shared, listening })
    }

    /// `http://127.0.0.1:PORT`. OpenAI clients use `url() + "/v1"` as base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr())
    }

    pub fn addr(&self) -> SocketAddr {
        self.listening.addr()
    }

    /// Queue a reply; replies are used first in, first out.
    pub fn push(&self, reply: Reply) {
        self.shared.push(reply);
    }

    /// Queue a reply given as JSON; a typo or a bad value is a configuration error naming it.
    pub fn push_json(&self, reply: Value) -> Result<(), LlmError> {
        self.push(parse_reply(reply)?);
        Ok(())
    }

    /// The reply used when the queue is empty; `None` goes back to echoing.
    pub fn set_default(&self, reply: Option<Reply>) {
        self.shared.lock().default = reply;
    }

    /// The requests received so far, oldest first: every one, up to the last
    /// [`KEPT_REQUESTS`].
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.requests()
    }

    /// How many requests were received since start (or `clear`), including those no longer kept.
    pub fn received(&self) -> u64 {
        self.shared.lock().received
    }

    /// How provider batches behave from now on: processing time and per-item outcomes.
    pub fn set_batch_settings(&self, settings: BatchSettings) {
        self.shared.set_batch_settings(settings);
    }

    /// As [`MockServer::set_batch_settings`], from JSON (`{"processing": 0.5, "outcomes":
    /// {"b": ["overloaded_error", "succeeded"]}}`); a typo is a configuration error naming it.
    pub fn set_batch_json(&self, settings: Value) -> Result<(), LlmError> {
        let s = serde_json::from_value(settings)
            .map_err(|e| LlmError::config(format!("invalid mock batch settings: {e}")))?;
        self.set_batch_settings(s);
        Ok(())
    }

    /// Answer from these rules when the queue is empty (before the default reply).
    pub fn set_fixtures(&self, fixtures: Option<Fixtures>) {
        self.shared.lock().fixtures = fixtures.map(Arc::new);
    }

    /// Forget recorded requests, queued replies, the default reply and the disconnect count
    /// (the fixtures stay).
    pub fn clear(&self) {
        self.shared.clear();
    }

    /// TCP connections accepted so far (since start or `clear`).
    pub fn connections(&self) -> u64 {
        self.shared.connections.load(Ordering::Relaxed)
    }

    /// Requests the client abandoned before the response was complete.
    pub fn disconnects(&self) -> u64 {
        self.shared.disconnects.load(Ordering::Relaxed)
    }

    /// How many more requests the queued replies will answer.
    pub fn pending(&self) -> usize {
        self.shared.pending()
    }

    /// Stop accepting and close every connection. Outside a runtime this waits (briefly) until
    /// the port is released; inside one it only signals, since blocking a runtime thread on
    /// the accept task could stall it.
    pub fn shutdown(&self) {
        self.listening.stop(SHUTDOWN_WAIT);
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl std::fmt::Debug for MockServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockServer")
            .field("url", &self.url())
            .finish_non_exhaustive()
    }
}

/// A reply from JSON, with serde's message (which names the bad field) as a config error.
pub fn parse_reply(reply: Value) -> Result<Reply, LlmError> {
    serde_json::from_value(reply).map_err(|e| LlmError::config(format!("invalid mock reply: {e}")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn received(path_and_query: &str, headers: &[(&str, &str)], body: &[u8]) -> Received {
        let uri: ::http::Uri = path_and_query.parse().unwrap();
        let mut map = ::http::HeaderMap::new();
        for (k, v) in headers {
            map.append(
                ::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                ::http::HeaderValue::from_str(v).unwrap(),
            );
        }
        Received::new(&::http::Method::POST, &uri, &map, body)
    }

    #[test]
    fn a_packed_request_reads_back_as_it_came_and_holds_only_its_own_bytes() {
        let body = b"{\"model\": \"m\",\n \"x\": 1}";
        let r = received(
            "/v1/messages?beta=true&a=b",
            &[
                ("authorization", "Bearer a:b c"),
                ("x-twice", "one"),
                ("x-twice", "two"),
                ("x-empty", ""),
            ],
            body,
        );
        let heads = "POST /v1/messages?beta=true&a=b\n".len()
            + "authorization: Bearer a:b c\nx-twice: one\nx-twice: two\nx-empty: \n\n".len();
        assert_eq!(r.packed.len(), heads + body.len());
        let rec = r.recorded();
        assert_eq!(rec.method, "POST");
        assert_eq!(rec.path, "/v1/messages");
        assert_eq!(rec.query.as_deref(), Some("beta=true&a=b"));
        assert_eq!(
            rec.headers,
            [
                ("authorization", "Bearer a:b c"),
                ("x-twice", "one"),
                ("x-twice", "two"),
                ("x-empty", ""),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
        assert_eq!(rec.body, serde_json::json!({"model": "m", "x": 1}));
    }

    #[test]
    fn a_request_without_query_headers_or_json_body_reads_back_too() {
        let rec = received("/v1/chat/completions", &[], b"not\njson").recorded();
        assert_eq!(rec.path, "/v1/chat/completions");
        assert_eq!(rec.query, None);
        assert!(rec.headers.is_empty());
        assert_eq!(rec.body, Value::String("not\njson".into()));
        assert_eq!(
            received("/p?", &[], b"").recorded().query.as_deref(),
            Some("")
        );
    }

    #[test]
    fn the_last_requests_are_kept_and_every_one_is_counted() {
        let shared = Shared::new();
        for n in 0..KEPT_REQUESTS + 3 {
            shared.record(received(&format!("/r/{n}"), &[], b""));
        }
        let kept = shared.requests();
        assert_eq!(kept.len(), KEPT_REQUESTS);
        assert_eq!(kept[0].path, "/r/3");
        assert_eq!(
            kept[KEPT_REQUESTS - 1].path,
            format!("/r/{}", KEPT_REQUESTS + 2)
        );
        assert_eq!(shared.lock().received, KEPT_REQUESTS as u64 + 3);
        shared.clear();
        assert!(shared.requests().is_empty());
        assert_eq!(shared.lock().received, 0);
    }
}
