//! The mock provider without a socket: `Client("mock/<name>")`.
//!
//! Where the in-process answer plugs in: at the transport, the one place bytes leave the process.
//! The `mock` provider (`OpenAi::MOCK` in `providers/openai.rs`) speaks OpenAI Chat Completions to
//! the base URL `mock://llmrail/v1`; `transport::send` hands a request for a `mock://` URL to
//! [`answer`] instead of reqwest, after asking the cassette (so record and replay see it like any
//! other provider). [`answer`] runs the mock server's own request handler (`http::respond`: script,
//! fixtures, latency, faults, rendering) and returns the very bytes the HTTP mock server would
//! send, as a [`HttpResponse`]. Everything above the transport (provider decoding, retries,
//! breakers, rate limits, fallbacks, extraction, streaming, usage and cost) runs unchanged, and a
//! scripted fault reaches it as the same status or the same cut body.
//!
//! What a socket would have done is done here: the request's timeout bounds the time to
//! headers (latency longer than the timeout is a `Timeout`, the way to script one), a whole
//! body's slow delivery and each pause between stream events; a scripted `reset` or a cut
//! body is a `Connection` error, as reqwest reports them.
//!
//! Each name (the model after `mock/`) has its own script, kept for the process's life:
//! [`MockProvider::get`] scripts it from Rust or Python (`llmrail.testing.MockProvider`). The
//! first use of a name loads the fixtures file named by `LLMRAIL_MOCK_FIXTURES`, if set, so a
//! service whose configuration picks `mock/...` from the environment gets scripted answers
//! without code.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream;
use serde_json::Value;

use super::body::End;
use super::fixtures::Fixtures;
use super::http::{respond, Asked, Prepared};
use super::{parse_reply, Received, RecordedRequest, Reply, Shared};
use crate::error::{ErrorKind, LlmError, Result};
use crate::wire::{Body, HttpRequest, HttpResponse};

/// URLs with this scheme are answered in process.
pub const SCHEME: &str = "mock://";

/// The environment variable naming a fixtures file (YAML or JSON) for every mock name.
pub const FIXTURES_ENV: &str = "LLMRAIL_MOCK_FIXTURES";

/// Every name's script, for the life of the process (as a server's would be for its life).
static SCRIPTS: LazyLock<Mutex<HashMap<String, Arc<Shared>>>> = LazyLock::new(Mutex::default);

fn script_of(name: &str) -> Result<Arc<Shared>> {
    let mut scripts = SCRIPTS.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(shared) = scripts.get(name) {
        return Ok(shared.clone());
    }
    let shared = Arc::new(Shared::new());
    if let Some(path) = std::env::var_os(FIXTURES_ENV).filter(|p| !p.is_empty()) {
        let fixtures = Fixtures::load(&path.to_string_lossy())?;
        shared.lock().fixtures = Some(Arc::new(fixtures));
    }
    scripts.insert(name.to_owned(), shared.clone());
    Ok(shared)
}

/// The script of `mock/<name>`: what its next requests are answered with.
#[derive(Clone)]
pub struct MockProvider {
    name: String,
    shared: Arc<Shared>,
}

impl MockProvider {
    /// The script of `mock/<name>`, made on first use (with `LLMRAIL_MOCK_FIXTURES` loaded).
    pub fn get(name: &str) -> Result<Self> {
        if name.trim().is_empty() {
            return Err(LlmError::config(
                "a mock provider needs a name: mock/<name>",
            ));
        }
        Ok(Self {
            name: name.to_owned(),
            shared: script_of(name)?,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Queue a reply; replies are used first in, first out, before any fixture rule.
    pub fn push(&self, reply: Reply) {
        self.shared.push(reply);
    }

    /// Queue a reply given as JSON; a typo is a configuration error naming it.
    pub fn push_json(&self, reply: Value) -> Result<()> {
        self.push(parse_reply(reply)?);
        Ok(())
    }

    /// The reply used when neither the queue nor a fixture rule answers; `None`: echo.
    pub fn set_default(&self, reply: Option<Reply>) {
        self.shared.lock().default = reply;
    }

    /// Replace the fixture rules (`None` removes them).
    pub fn set_fixtures(&self, fixtures: Option<Fixtures>) {
        self.shared.lock().fixtures = fixtures.map(Arc::new);
    }

    /// Every request answered so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.requests()
    }

    /// How many more requests the queued replies will answer.
    pub fn pending(&self) -> usize {
        self.shared.pending()
    }

    /// Forget requests, queued replies and the default reply (the fixtures stay).
    pub fn clear(&self) {
        self.shared.clear();
    }
}

impl std::fmt::Debug for MockProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockProvider")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Answer a request for a `mock://` URL in process, as the mock server would over HTTP.
pub async fn answer(req: HttpRequest) -> Result<HttpResponse> {
    let json = serde_json::from_slice::<Value>(&req.body).ok();
    let name = json
        .as_ref()
        .and_then(|j| j.get("model"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let shared = MockProvider::get(&name)?.shared;
    let uri = ::http::Uri::try_from(req.url.as_str())
        .map_err(|e| LlmError::config(format!("invalid mock URL {:?}: {e}", req.url)))?;
    shared.record(Received::new(&req.method, &uri, &req.headers, &req.body));
    let asked = Asked {
        method: &req.method,
        path: uri.path(),
        query: uri.query(),
        headers: &req.headers,
        body_len: req.body.len(),
        in_process: true,
    };
    let timeout = req.timeout;
    let timed_out = || {
        LlmError::new(
            ErrorKind::Timeout,
            format!("no answer within {:.1} s", timeout.as_secs_f64()),
        )
    };
    let reset = || {
        LlmError::new(
            ErrorKind::Connection,
            format!("mock/{name}: the connection closed without a response (scripted reset)"),
        )
    };
    if !req.stream {
        // As reqwest does for a buffered request, the timeout covers the whole body.
        let whole = async {
            let prepared = respond(&shared, &asked, json).await?;
            let pauses = u32::try_from(prepared.pieces.len().saturating_sub(1)).unwrap_or(0);
            pause(prepared.gap.saturating_mul(pauses)).await;
            Some(prepared)
        };
        let prepared = tokio::time::timeout(timeout, whole)
            .await
            .map_err(|_| timed_out())?
            .ok_or_else(reset)?;
        if prepared.end == End::Cut {
            return Err(cut(&name));
        }
        let body = Bytes::from(prepared.pieces.concat());
        return Ok(HttpResponse {
            status: prepared.status.as_u16(),
            headers: prepared.headers,
            body: Body::Full(body),
        });
    }
    let prepared = tokio::time::timeout(timeout, respond(&shared, &asked, json))
        .await
        .map_err(|_| timed_out())?
        .ok_or_else(reset)?;
    let status = prepared.status.as_u16();
    let headers = prepared.headers.clone();
    Ok(HttpResponse {
        status,
        headers,
        body: Body::Stream(Box::pin(events(prepared, timeout, name))),
    })
}

/// A zero pause would still wait for the timer's next tick: skip it.
async fn pause(d: Duration) {
    if !d.is_zero() {
        tokio::time::sleep(d).await;
    }
}

fn cut(name: &str) -> LlmError {
    LlmError::new(
        ErrorKind::Connection,
        format!("mock/{name}: the connection closed before the body was complete"),
    )
}

/// The pieces of a streamed body with their pauses; a pause longer than the timeout fails as
/// an idle stream does, and a cut body ends in a connection error.
fn events(
    prepared: Prepared,
    timeout: Duration,
    name: String,
) -> impl futures_util::Stream<Item = Result<Bytes>> + Send {
    struct State {
        pieces: std::vec::IntoIter<Bytes>,
        gap: Duration,
        end: End,
        timeout: Duration,
        name: String,
        first: bool,
        done: bool,
    }
    let state = State {
        pieces: prepared.pieces.into_iter(),
        gap: prepared.gap,
        end: prepared.end,
        timeout,
        name,
        first: true,
        done: false,
    };
    stream::unfold(state, |mut s| async move {
        if s.done {
            return None;
        }
        let Some(piece) = s.pieces.next() else {
            s.done = true;
            return (s.end == End::Cut).then(|| (Err(cut(&s.name)), s));
        };
        if !std::mem::take(&mut s.first) {
            if s.gap > s.timeout {
                pause(s.timeout).await;
                s.done = true;
                let err = LlmError::new(
                    ErrorKind::Timeout,
                    format!("no answer within {:.1} s", s.timeout.as_secs_f64()),
                );
                return Some((Err(err), s));
            }
            pause(s.gap).await;
        }
        Some((Ok(piece), s))
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::mock::Fault;
    use futures_util::StreamExt;
    use serde_json::json;

    fn request(model: &str, stream: bool, timeout: Duration) -> HttpRequest {
        let body = json!({"model": model, "stream": stream,
            "messages": [{"role": "user", "content": "hello there"}]});
        HttpRequest {
            method: ::http::Method::POST,
            url: "mock://llmrail/v1/chat/completions".into(),
            headers: ::http::HeaderMap::new(),
            body: Bytes::from(body.to_string()),
            stream,
            timeout,
            settings: crate::wire::Settings::default(),
        }
    }

    fn run<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn a_scripted_reply_comes_back_as_the_servers_openai_bytes() {
        let mock = MockProvider::get("inprocess-reply").unwrap();
        mock.push(Reply::text("Paris."));
        let resp = run(answer(request(
            "inprocess-reply",
            false,
            Duration::from_secs(5),
        )))
        .unwrap();
        assert_eq!(resp.status, 200);
        let Body::Full(body) = resp.body else {
            panic!("a buffered request gets a whole body")
        };
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["choices"][0]["message"]["content"], "Paris.");
        // One message: 4 framing tokens, and 11 characters: 3 more.
        assert_eq!(v["usage"]["prompt_tokens"], 7);
        assert_eq!(mock.requests()[0].path, "/v1/chat/completions");
    }

    #[test]
    fn faults_become_what_a_socket_would_have_given() {
        let mock = MockProvider::get("inprocess-faults").unwrap();
        let ask = |stream, timeout| run(answer(request("inprocess-faults", stream, timeout)));
        let long = Duration::from_secs(5);
        mock.push(Reply::fault(Fault::Reset));
        assert_eq!(ask(false, long).err().unwrap().kind, ErrorKind::Connection);
        mock.push(
            Reply::text("slow").with_latency(crate::mock::Latency::Fixed(
                crate::mock::Seconds::new(1.0).unwrap(),
            )),
        );
        let short = Duration::from_millis(50);
        assert_eq!(ask(false, short).err().unwrap().kind, ErrorKind::Timeout);
        mock.push(Reply::fault(Fault::status(429)));
        assert_eq!(ask(false, long).unwrap().status, 429);
        mock.push(Reply {
            fault: Some(Fault::TruncateAfter(2)),
            ..Reply::text("one two three")
        });
        let resp = ask(true, long).unwrap();
        let Body::Stream(events) = resp.body else {
            panic!("a streamed request gets a stream")
        };
        let items: Vec<Result<Bytes>> = run(events.collect());
        assert_eq!(items.len(), 3);
        assert_eq!(items[2].as_ref().err().unwrap().kind, ErrorKind::Connection);
    }

    #[test]
    fn a_name_is_required() {
        assert!(MockProvider::get(" ").is_err());
    }
}
