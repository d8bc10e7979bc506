//! One call target: "provider/model" resolved to a provider and an endpoint (where and as whom
//! to call), and what one attempt against it does, buffered or streamed: translate, send
//! through the transport, decode. Retries, limits, breakers and fallbacks are the pipeline's
//! (`pipeline.rs`); a target makes exactly one request per attempt.

use std::time::{Duration, Instant, SystemTime};

use futures_util::StreamExt;
use http::HeaderMap;
use sse_stream::SseByteStream;
use tokio::sync::mpsc;

use super::registry::TargetId;
use crate::aws::{self, Aws};
use crate::cache::CachePlan;
use crate::error::{ErrorKind, LlmError, Result, BODY_EXCERPT_CHARS};
use crate::model::{ChatRequest, ChatResponse, StreamEvent};
use crate::providers::{self, quota::Quota, Endpoint, Framing, Provider, Secret, StreamDecoder};
use crate::resilience::fallback::FallbackConfig;
use crate::resilience::{Attempt, CallReport, TargetInfo};
use crate::transport::{self, EventLimit};
use crate::wire::{Body, HttpRequest};

/// A provider and where and as whom to call it, resolved once when a client is built.
pub(crate) struct Target {
    pub(super) provider: &'static dyn Provider,
    pub(super) endpoint: Endpoint,
    /// Secrets in `base_url` (a `sig=`, a password): an HTTP error quotes the URL.
    url_secrets: Vec<String>,
    /// The client's connect timeout and size limits, set on every request sent.
    pub(super) settings: transport::Settings,
    /// Which process-wide state (breaker, rate-limit bucket, cache memory) is this target's.
    pub(super) id: TargetId,
    /// Provider, model and server, as a trace names this target's attempts.
    pub(super) info: std::sync::Arc<TargetInfo>,
}

/// What a streamed call's task sends its [`ChatStream`](super::ChatStream): events as they
/// come, then `Done` or the call's error, carrying how the call went.
pub(crate) enum Message {
    /// The events decoded since the last message, in order, never none: one message per burst
    /// of the network, so a consumer that waits is woken once per burst (see `pump`).
    Events(Vec<StreamEvent>),
    /// The events decoded after the last `Events` message (possibly none), then `Done`: the
    /// end of a stream comes in one message, so a consumer waiting for it is woken once.
    Done(Vec<StreamEvent>, StreamEvent, CallReport),
    Failed(crate::error::LlmError, CallReport),
}

/// The channel a streamed attempt forwards events to, and the last events of an attempt that
/// finished, held back to go with `Done`. Sent apart, the last burst's events and `Done` woke a
/// waiting consumer twice per stream, as `strace` showed: once for the events, once for `Done`
/// a few microseconds later (the pipeline's bookkeeping in between).
pub(crate) struct Events {
    tx: mpsc::Sender<Result<Message>>,
    tail: std::sync::Mutex<Vec<StreamEvent>>,
}

impl Events {
    pub(super) fn new(tx: mpsc::Sender<Result<Message>>) -> Self {
        Self {
            tx,
            tail: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// Send a message; `Err` when the consumer went away.
    pub(super) async fn send(&self, message: Message) -> std::result::Result<(), ()> {
        self.tx.send(Ok(message)).await.map_err(|_| ())
    }

    /// Whether the consumer went away; completes only then.
    async fn closed(&self) {
        self.tx.closed().await;
    }

    /// Keep `events` to go with `Done`.
    fn hold(&self, events: &mut Vec<StreamEvent>) {
        if let Ok(mut tail) = self.tail.lock() {
            tail.append(events);
        }
    }

    /// The events held back for `Done`.
    pub(super) fn take_tail(&self) -> Vec<StreamEvent> {
        self.tail
            .lock()
            .map(|mut t| std::mem::take(&mut *t))
            .unwrap_or_default()
    }
}

/// What an exchange tells an answer besides its body: the request id from the headers, how long
/// it took, and the model asked for (where the body names none).
pub(super) trait Heard {
    fn heard(&mut self, request_id: Option<String>, latency: Duration, model: &str);
}

/// Chat and image answers keep them in fields of the same names.
macro_rules! heard_in_fields {
    ($($answer:ty),*) => {$(
        impl Heard for $answer {
            fn heard(&mut self, request_id: Option<String>, latency: Duration, model: &str) {
                self.request_id = request_id;
                self.latency = latency;
                if self.model.is_empty() {
                    self.model = model.to_string();
                }
            }
        }
    )*};
}

heard_in_fields!(ChatResponse, crate::images::ImageResponse);

impl Target {
    /// Resolve "provider/model", its key and base URL (from the environment where not given).
    /// `api_version` is the client's (Azure's); without it the provider reads the environment.
    pub(super) fn resolve(
        target: &FallbackConfig,
        api_version: Option<&str>,
        extra_headers: &HeaderMap,
        timeout: Duration,
        settings: transport::Settings,
        env: &impl Fn(&str) -> Option<String>,
    ) -> Result<Self> {
        let (prefix, _) = split_model(&target.model)?;
        let provider = providers::lookup(prefix).ok_or_else(|| {
            LlmError::config(format!(
                "unknown provider {prefix:?} in model {:?}; known providers: {}",
                target.model,
                providers::KNOWN.join(", ")
            ))
        })?;
        Self::resolve_for(
            provider,
            target,
            api_version,
            extra_headers,
            timeout,
            settings,
            env,
        )
    }

    /// As [`Target::resolve`], with the provider already found (tests bring their own).
    pub(super) fn resolve_for(
        provider: &'static dyn Provider,
        target: &FallbackConfig,
        api_version: Option<&str>,
        extra_headers: &HeaderMap,
        timeout: Duration,
        settings: transport::Settings,
        env: &impl Fn(&str) -> Option<String>,
    ) -> Result<Self> {
        let (prefix, model) = split_model(&target.model)?;
        let from_env = |names: &[&str]| names.iter().find_map(|n| env(n));
        let explicit_base = target
            .base_url
            .clone()
            .or_else(|| from_env(provider.base_url_env()));
        let base_url = provider.normalize_base_url(
            explicit_base
                .clone()
                .unwrap_or_else(|| provider.default_base_url().to_string()),
        );
        let api_version = api_version
            .map(str::to_string)
            .or_else(|| env(providers::azure::API_VERSION_ENV));
        let api_key = target
            .api_key
            .clone()
            .or_else(|| from_env(provider.api_key_env()))
            .map(Secret::new);
        let aws = match provider.aws_service() {
            Some(_) => Some(resolve_aws(provider, api_key.is_some(), env)?),
            None => None,
        };
        let base_url = provider.model_base_url(base_url, model, api_version)?;
        let base_url = match &aws {
            Some(aws) => aws.regional_url(base_url, provider.name())?,
            None => base_url,
        };
        check_base_url(&base_url)?;
        // A local server (vLLM, Ollama) needs no key; the provider's own service always does,
        // unless a cassette answers (replaying needs no key). AWS credentials stand for a key.
        if api_key.is_none()
            && aws.is_none()
            && (explicit_base.is_none() || provider.every_base_url_is_own_service())
            && provider.key_required()
            && !crate::replay::is_active()
        {
            return Err(LlmError::config(format!(
                "no API key for {prefix}: pass api_key=... or set {}",
                provider.api_key_env().join(" or ")
            )));
        }
        let mut headers = extra_headers.clone();
        for (name, var) in provider.header_env() {
            if headers.contains_key(*name) {
                continue;
            }
            if let Some(value) = env(var) {
                let value = http::HeaderValue::from_str(&value).map_err(|_| {
                    LlmError::config(format!("{var} is not a valid value for the {name} header"))
                })?;
                headers.insert(*name, value);
            }
        }
        Ok(Self {
            provider,
            info: std::sync::Arc::new(TargetInfo::new(provider.name(), model, &base_url)),
            url_secrets: crate::replay::scrub::url_secrets(&base_url),
            settings,
            id: TargetId::new(
                provider.name(),
                &base_url,
                model,
                api_key.as_ref(),
                aws.as_ref()
                    .and_then(|a| a.credentials.as_ref())
                    .map(aws::Credentials::access_key_id),
            ),
            endpoint: Endpoint {
                base_url,
                api_key,
                model: model.to_string(),
                headers,
                timeout,
                aws,
            },
        })
    }

    /// "provider/model", as breakers and logs name a target.
    pub(super) fn name(&self) -> String {
        format!("{}/{}", self.provider.name(), self.endpoint.model)
    }

    /// Where the prompt-cache breakpoints of `req` go on this target (nothing unless the
    /// request's policy asks for caching). See `Pipeline::walk` for when it is made.
    pub(super) fn plan(&self, req: &ChatRequest) -> CachePlan {
        let policy = req.prompt_cache.unwrap_or_default();
        crate::cache::plan(req, self.provider.name(), &self.endpoint.model, policy)
    }

    /// The request for one attempt: `left` is the time before the call's deadline, which caps
    /// the timeout.
    fn http(
        &self,
        req: &ChatRequest,
        plan: &CachePlan,
        stream: bool,
        left: Option<Duration>,
    ) -> Result<HttpRequest> {
        let http = self
            .provider
            .build_chat_with_cache(&self.endpoint, req, stream, plan)?;
        self.ready(http, left)
    }

    /// A built request made ready for one attempt: its timeout capped by `left` (never wait
    /// past the call's deadline), the client's settings set, signed where the provider speaks
    /// AWS.
    pub(super) fn ready(
        &self,
        mut http: HttpRequest,
        left: Option<Duration>,
    ) -> Result<HttpRequest> {
        if let Some(left) = left {
            http.timeout = http.timeout.min(left.max(Duration::from_millis(1)));
        }
        http.settings = self.settings;
        self.sign(&mut http)?;
        Ok(http)
    }

    /// Send one buffered request and decode its body with `parse`; the quota and status heard
    /// are kept for the rate limiter and the trace even when the call fails. An error status
    /// is the provider's error; every error is annotated, and a body that does not parse
    /// carries the request id. The answer gets the request id, latency and (where the body
    /// names none) model of the exchange. Chat and image attempts share it.
    pub(super) async fn exchange<T: Heard>(
        &self,
        http: HttpRequest,
        quota: &mut Option<Quota>,
        sent_status: &mut Option<u16>,
        parse: impl FnOnce(&[u8]) -> Result<T>,
    ) -> Result<(T, u16)> {
        let started = Instant::now();
        let (status, headers, body) = self
            .receive(http, |status, headers| {
                *quota = providers::quota::quota(headers);
                *sent_status = Some(status);
            })
            .await?;
        let request_id = self.provider.request_id(&headers);
        let mut r = parse(&body).map_err(|e| {
            let mut e = self.annotate(e);
            if e.request_id.is_none() {
                e.request_id.clone_from(&request_id);
            }
            e
        })?;
        r.heard(request_id, started.elapsed(), &self.endpoint.model);
        Ok((r, status))
    }

    /// SigV4-sign a request of a provider that speaks AWS, with the time of this attempt: the
    /// request is built per attempt right before it is sent, so a retry after a long wait (a
    /// signature is valid five minutes) carries a fresh one. Every other provider's request
    /// is untouched; the test is one field read.
    pub(super) fn sign(&self, http: &mut HttpRequest) -> Result<()> {
        let Some(Aws {
            region,
            credentials: Some(creds),
        }) = &self.endpoint.aws
        else {
            return Ok(());
        };
        let (Some(service), Some(region)) = (self.provider.aws_service(), region.as_deref()) else {
            return Ok(());
        };
        aws::sign(
            http,
            creds,
            &aws::Scope::new(service, region),
            SystemTime::now(),
        )
    }

    /// One buffered attempt.
    pub(super) async fn chat(
        &self,
        req: &ChatRequest,
        plan: &CachePlan,
        left: Option<Duration>,
    ) -> Attempt<ChatResponse> {
        let (mut quota, mut status) = (None, None);
        let result = self
            .chat_once(req, plan, left, &mut quota, &mut status)
            .await;
        let used_tokens = result.as_ref().ok().map(|r| r.usage.total());
        Attempt {
            result,
            quota,
            used_tokens,
            started: false,
            status,
        }
    }

    async fn chat_once(
        &self,
        req: &ChatRequest,
        plan: &CachePlan,
        left: Option<Duration>,
        quota: &mut Option<Quota>,
        sent_status: &mut Option<u16>,
    ) -> Result<ChatResponse> {
        let ep = &self.endpoint;
        let http = self.http(req, plan, false, left)?;
        let (r, status) = self
            .exchange(http, quota, sent_status, |body| {
                self.provider.parse_chat(body)
            })
            .await?;
        // An event, not a span: an entered span must not live across an `.await` (the task can
        // move threads), and every poll of an instrumented future would ask `log` again.
        tracing::debug!(
            gen_ai.system = self.provider.name(),
            gen_ai.request.model = %ep.model,
            status,
            latency_ms = r.latency.as_secs_f64() * 1e3,
            "chat finished"
        );
        Ok(r)
    }

    /// One streamed attempt: forward decoded events to `tx` until the end, the consumer going
    /// away (then the connection is dropped) or the call's deadline (`left` from now). The
    /// `Done` event is returned, not sent: the pipeline completes it with the call's report
    /// first. `None` means the consumer went away.
    pub(super) async fn stream(
        &self,
        req: &ChatRequest,
        plan: &CachePlan,
        tx: &Events,
        left: Option<Duration>,
    ) -> Attempt<Option<StreamEvent>> {
        let mut progress = Progress::default();
        let until = left.map(|l| tokio::time::Instant::now() + l);
        let run = self.stream_once(req, plan, tx, left, &mut progress);
        let result = match until {
            None => run.await,
            Some(until) => match tokio::time::timeout_at(until, run).await {
                Ok(r) => r,
                Err(_) => Err(LlmError::new(
                    ErrorKind::Timeout,
                    "the stream did not finish before the call's deadline",
                )),
            },
        };
        Attempt {
            result: result.map_err(|e| self.annotate(e)),
            quota: progress.quota,
            used_tokens: progress.used_tokens,
            started: progress.started,
            status: progress.status,
        }
    }

    async fn stream_once(
        &self,
        req: &ChatRequest,
        plan: &CachePlan,
        tx: &Events,
        left: Option<Duration>,
        progress: &mut Progress,
    ) -> Result<Option<StreamEvent>> {
        let http = self.http(req, plan, true, left)?;
        let resp = transport::send(http).await?;
        progress.quota = providers::quota::quota(&resp.headers);
        progress.status = Some(resp.status);
        let request_id = self.provider.request_id(&resp.headers);
        if resp.status >= 400 {
            let (status, headers) = (resp.status, resp.headers.clone());
            let body = resp.bytes(self.settings.max_response_bytes).await?;
            return Err(self.provider.parse_error(status, &headers, &body));
        }
        let framing = self.provider.stream_framing();
        if let Some(content_type) = not_event_stream(&resp.headers, framing) {
            let status = resp.status;
            let head = resp.head(BODY_EXCERPT_CHARS).await?;
            return Err(LlmError::invalid_response(format!(
                "asked for a stream of {}, the server answered {status} with \
                 content-type {content_type:?}; check that base_url points at an API that \
                 streams (the body's start is in .body)",
                framing.describe()
            ))
            .with_body(&head));
        }
        let chunks = match resp.body {
            Body::Stream(s) => s,
            Body::Full(b) => Box::pin(futures_util::stream::once(async move { Ok(b) })),
        };
        let max = self.settings.max_event_bytes;
        let decoder = self.provider.stream_decoder();
        // Each framing is its own monomorphised loop: SSE's is what it was before JSON lines.
        match framing {
            Framing::Sse => {
                // Bounded before the parser, which holds an unfinished event (and line) whole.
                let events = SseByteStream::new(EventLimit::new(chunks, max));
                let feed = providers::sse::feed;
                self.pump(events, feed, decoder, tx, request_id, progress)
                    .await
            }
            Framing::JsonLines => {
                let lines = providers::json_lines::JsonLines::new(chunks, max);
                let feed = providers::json_lines::feed;
                self.pump(lines, feed, decoder, tx, request_id, progress)
                    .await
            }
            Framing::EventStream => {
                let frames = providers::event_stream::EventStream::new(chunks, max);
                let feed = providers::event_stream::feed;
                self.pump(frames, feed, decoder, tx, request_id, progress)
                    .await
            }
        }
    }

    /// Decode `events` (the framing's items, handed to the decoder by `feed`) and forward them.
    async fn pump<S, T, F>(
        &self,
        mut events: S,
        // A fn item, not a pointer: each framing's feed is called directly, as before.
        feed: F,
        mut decoder: Box<dyn StreamDecoder>,
        tx: &Events,
        request_id: Option<String>,
        progress: &mut Progress,
    ) -> Result<Option<StreamEvent>>
    where
        S: futures_util::Stream<Item = T> + Unpin,
        F: Fn(&mut dyn StreamDecoder, Option<T>, &mut Vec<StreamEvent>) -> Result<bool>,
    {
        let mut out = Vec::new();
        let mut batch = Vec::new();
        let mut done = None;
        loop {
            // Nothing decoded waits in `batch` once the network is idle: what one read brought
            // is decoded and handed over as one message, and the consumer (who polls this pump,
            // `chat_stream.rs`) is given it when the body has nothing more for now.
            let next = match ready(&mut events).await {
                Some(next) => next,
                None => {
                    if send(tx, &mut batch).await.is_err() {
                        return Ok(None);
                    }
                    // Events first: while they keep coming, the consumer's going away is seen
                    // by `send`, and `closed` (which registers a waiter) is only polled when
                    // the network is idle.
                    tokio::select! {
                        biased;
                        next = events.next() => next,
                        _ = tx.closed() => return Ok(None),
                    }
                }
            };
            let finished = match feed(&mut *decoder, next, &mut out) {
                Ok(finished) => finished,
                Err(e) => {
                    // What came before the failure is the caller's, as it was when each event
                    // was sent at once.
                    let _ = send(tx, &mut batch).await;
                    return Err(e);
                }
            };
            for mut event in out.drain(..) {
                if let StreamEvent::Done {
                    request_id: rid,
                    model,
                    usage,
                    ..
                } = &mut event
                {
                    progress.used_tokens = Some(usage.total());
                    rid.clone_from(&request_id);
                    if model.is_empty() {
                        model.clone_from(&self.endpoint.model);
                    }
                    done = Some(event);
                    continue;
                }
                progress.started = true;
                batch.push(event);
            }
            if batch.len() >= BATCH_MAX && send(tx, &mut batch).await.is_err() {
                return Ok(None);
            }
            if finished {
                if done.is_some() {
                    tx.hold(&mut batch);
                } else if send(tx, &mut batch).await.is_err() {
                    return Ok(None);
                }
                return Ok(done);
            }
        }
    }

    /// One `check()`: the provider's cheap authenticated request (listing the models), sent
    /// once, no retries (a start-up check wants the first answer). Its latency, or the typed
    /// error a call would get (401: authentication).
    pub(super) async fn check(&self) -> Result<Duration> {
        let mut http = self.provider.build_models(&self.endpoint).ok_or_else(|| {
            LlmError::config(format!(
                "check() has no request for {} yet",
                self.provider.name()
            ))
        })??;
        self.sign(&mut http)?;
        let started = Instant::now();
        self.send_raw_with_headers(http).await?;
        Ok(started.elapsed())
    }

    /// One request of a provider batch job (create, poll, download, cancel), sent as this
    /// target's calls are: with the client's settings, through the transport (so a cassette
    /// records and replays a whole batch lifecycle), once (the job's next poll is its retry).
    /// The body of a success, or the provider's typed error scrubbed of the key.
    pub(crate) async fn send_raw(&self, http: HttpRequest) -> Result<bytes::Bytes> {
        Ok(self.send_raw_with_headers(http).await?.1)
    }

    /// [`Self::send_raw`], with the answer's headers (a Gemini upload's URL comes in one).
    pub(crate) async fn send_raw_with_headers(
        &self,
        mut http: HttpRequest,
    ) -> Result<(http::HeaderMap, bytes::Bytes)> {
        http.settings = self.settings;
        let (_, headers, body) = self.receive(http, |_, _| {}).await?;
        Ok((headers, body))
    }

    /// Send `http` and read its whole answer (up to the settings' size cap): the status, the
    /// headers and the body of a success. `heard` sees the status and headers first, whatever
    /// they are (a refusal's quota counts too); an error status becomes the provider's typed
    /// error. Every error is annotated (who was called, the key scrubbed).
    async fn receive(
        &self,
        http: HttpRequest,
        heard: impl FnOnce(u16, &http::HeaderMap),
    ) -> Result<(u16, http::HeaderMap, bytes::Bytes)> {
        // Boxed: every layer above (retry, fallback, telemetry) holds this future's place in
        // its own state, and starting each copies it; boxed, they copy a pointer (the transport's
        // state is about 4.7 KB of a chat's).
        let mut resp = Box::pin(transport::send(http))
            .await
            .map_err(|e| self.annotate(e))?;
        let status = resp.status;
        heard(status, &resp.headers);
        // The headers are kept, not copied: the body is read without them.
        let headers = std::mem::take(&mut resp.headers);
        let body = resp
            .bytes(self.settings.max_response_bytes)
            .await
            .map_err(|e| self.annotate(e))?;
        if status >= 400 {
            return Err(self.annotate(self.provider.parse_error(status, &headers, &body)));
        }
        Ok((status, headers, body))
    }

    /// The provider this target speaks to.
    pub(crate) fn provider(&self) -> &'static dyn Provider {
        self.provider
    }

    /// Where and as whom this target's requests go.
    pub(crate) fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The request body of `req` as this target sends it (its prompt-cache markers planned),
    /// for a provider batch, which carries each request's body in a file of its own.
    pub(crate) fn body(
        &self,
        req: &ChatRequest,
        plan: &CachePlan,
    ) -> Result<(bytes::Bytes, http::HeaderMap)> {
        self.provider.batch_body(&self.endpoint, req, plan)
    }

    /// Say who was called and make sure the key (and secrets in the URL) are nowhere in the
    /// error.
    pub(super) fn annotate(&self, e: LlmError) -> LlmError {
        let mut e = e.at(self.provider.name(), &self.endpoint.model);
        if let Some(key) = &self.endpoint.api_key {
            e = e.scrub(key.expose());
        }
        if let Some(creds) = self
            .endpoint
            .aws
            .as_ref()
            .and_then(|a| a.credentials.as_ref())
        {
            e = creds.secrets().fold(e, |e, s| e.scrub(s));
        }
        self.url_secrets.iter().fold(e, |e, s| e.scrub(s))
    }
}

/// The region and credentials of a provider that speaks AWS. With a key (a Bedrock API key,
/// sent as a bearer token) only the region is read; without one the AWS chain must give
/// credentials, unless a cassette answers.
/// The most events a stream's message carries: how far the first of a burst may wait for the
/// rest to be decoded (a few µs each).
const BATCH_MAX: usize = 16;

/// The next item of `events` if it is there now; `None` (the task's waker registered) if not.
async fn ready<S: futures_util::Stream + Unpin>(events: &mut S) -> Option<Option<S::Item>> {
    std::future::poll_fn(|cx| match events.poll_next_unpin(cx) {
        std::task::Poll::Ready(item) => std::task::Poll::Ready(Some(item)),
        std::task::Poll::Pending => std::task::Poll::Ready(None),
    })
    .await
}

/// Send the events gathered in `batch` (nothing when there are none); `Err` when the consumer
/// has gone.
async fn send(tx: &Events, batch: &mut Vec<StreamEvent>) -> std::result::Result<(), ()> {
    if batch.is_empty() {
        return Ok(());
    }
    let events = std::mem::take(batch);
    tx.send(Message::Events(events)).await
}

fn resolve_aws(
    provider: &dyn Provider,
    has_key: bool,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<Aws> {
    let aws = Aws::resolve(env, !has_key)?;
    if aws.credentials.is_some() {
        // Nothing can be signed without a region: say so now, not at the first call.
        aws.require_region(provider.name())?;
    } else if !has_key && !crate::replay::is_active() {
        return Err(LlmError::config(format!(
            "no credentials for {name}: set {keys} (an API key), or AWS_ACCESS_KEY_ID and \
             AWS_SECRET_ACCESS_KEY (with AWS_SESSION_TOKEN for temporary ones), or AWS_PROFILE \
             to a profile with keys in ~/.aws/credentials",
            name = provider.name(),
            keys = provider.api_key_env().join(" or "),
        )));
    }
    Ok(aws)
}

/// What a streamed attempt got to before it ended.
#[derive(Default)]
struct Progress {
    quota: Option<Quota>,
    used_tokens: Option<u64>,
    /// An event reached the caller, so the stream can no longer be retried.
    started: bool,
    status: Option<u16>,
}

/// The content type of an answer that is not a stream in `framing`, if it says so.
///
/// A missing content type is let through: some local servers send SSE without one, and a body
/// that is not SSE then fails as a truncated stream.
fn not_event_stream(headers: &HeaderMap, framing: Framing) -> Option<String> {
    let value = headers.get(http::header::CONTENT_TYPE)?;
    let text = String::from_utf8_lossy(value.as_bytes());
    let essence = text.split(';').next().unwrap_or("").trim();
    (!essence.eq_ignore_ascii_case(framing.content_type()))
        .then(|| text.chars().take(100).collect())
}

/// An http(s) URL with a host; the error shows it without its secrets.
pub(super) fn check_base_url(base_url: &str) -> Result<()> {
    let shown = crate::replay::scrub::url(base_url);
    // `mock://` is answered in process by the transport (the `mock/<name>` provider).
    let in_process = base_url.starts_with(crate::mock::SCHEME);
    if !(base_url.starts_with("http://") || base_url.starts_with("https://") || in_process) {
        return Err(LlmError::config(format!(
            "base_url must start with http:// or https://, got {shown:?}"
        )));
    }
    match url::Url::parse(base_url) {
        Ok(u) if u.host().is_some() => Ok(()),
        Ok(_) => Err(LlmError::config(format!("base_url {shown:?} has no host"))),
        Err(e) => Err(LlmError::config(format!(
            "base_url {shown:?} is not a valid URL: {e}"
        ))),
    }
}

fn split_model(spec: &str) -> Result<(&str, &str)> {
    match spec.split_once('/') {
        Some((p, m)) if !p.is_empty() && !m.trim().is_empty() => Ok((p, m)),
        _ => Err(LlmError::config(format!(
            "model must be \"provider/model\", e.g. \"openai/gpt-4.1-mini\" or \"anthropic/claude-sonnet-4-5\"; got {spec:?}"
        ))),
    }
}
