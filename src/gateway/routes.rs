//! One request, start to end: route by method and path, check the key (and what it may call and
//! how often), read the body within its size and time limits, run the chat through the virtual
//! model's [`Client`] (its fallbacks, retries, limits and breakers), and answer in the
//! endpoint's wire, whole or streamed. Each request ends in one access-log record
//! (`super::access`). The jobs endpoints, and a chat sent with `processing`, are
//! `routes/jobs.rs`'s.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming as IncomingBody;
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};

mod jobs;

use super::access::{AccessRecord, AccessSink};
use super::auth::{Caller, Keys};
use super::body::Body;
use super::config::{GatewayConfig, ServerConfig};
use super::errors::{Refusal, Shape};
use super::request::Incoming;
use super::trace::{self, CallSpan, RequestSpan, SpanSink, StreamEnd};
use super::{anthropic_wire, openai_wire};
use crate::client::{Client, ClientConfig};
use crate::error::{ErrorKind, Result};
use crate::model::StreamEvent;
use crate::queue::Processing;
use crate::resilience::fallback::Retarget;
use crate::resilience::CallOptions;
use jobs::Jobs;

/// Clients built on first use for "provider/model" names when the config has no models; past
/// this many, a name's client is built for its one request and not kept (a caller cycling
/// through made-up names must not grow the process without bound).
const DIRECT_CLIENTS: usize = 1024;

/// Streamed pieces buffered between a stream's task and a slow reader.
const STREAM_BUFFER: usize = 32;

/// Everything the server needs, built once at start.
pub struct Gateway {
    /// Virtual models; empty: every "provider/model" routes directly.
    models: BTreeMap<String, Client>,
    direct: Mutex<HashMap<String, Client>>,
    keys: Keys,
    pub(super) secrets: Vec<String>,
    server: ServerConfig,
    /// Where each request's trace goes (`super::trace`); `None`: nothing is recorded.
    spans: Option<SpanSink>,
    /// Where the access records go; `None`: written on the request's task (`super::access`).
    access: Option<Arc<dyn AccessSink>>,
    /// The async jobs' queue and this process's workers, when the config has a queue.
    pub(super) jobs: Option<Jobs>,
}

impl Gateway {
    /// Build every virtual model's client (an error names the model's line) and hash the keys.
    pub fn new(cfg: GatewayConfig) -> Result<Self> {
        Self::with_env(cfg, |name| {
            std::env::var(name).ok().filter(|v| !v.is_empty())
        })
    }

    /// As [`Gateway::new`], the environment given as a lookup (for tests).
    pub fn with_env(cfg: GatewayConfig, env: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let mut models = BTreeMap::new();
        for (name, client_cfg) in &cfg.models {
            let client = Client::with_env(client_cfg.clone(), &env)
                .map_err(|e| cfg.model_error(name, &e))?;
            models.insert(name.clone(), client);
        }
        let shared = cfg
            .redis_url
            .as_deref()
            .map(crate::resilience::redis::connect)
            .transpose()?;
        let mut secrets = cfg.secrets.clone();
        // Keys the providers read from the environment (direct routes, fallbacks without a key).
        for var in [
            "OPENAI_API_KEY",
            "ANTHROPIC_API_KEY",
            "OPENROUTER_API_KEY",
            "AZURE_OPENAI_API_KEY",
            "GEMINI_API_KEY",
            "GOOGLE_API_KEY",
            "AWS_SECRET_ACCESS_KEY",
        ] {
            secrets.extend(env(var).filter(|v| v.len() >= 4));
        }
        let keys = Keys::new(&cfg.keys, shared);
        let jobs = cfg
            .queue_url
            .as_deref()
            .map(|url| {
                let budgets = keys.budgets();
                Jobs::start(url, cfg.queue.clone(), cfg.queue_workers, &models, budgets)
            })
            .transpose()?;
        Ok(Self {
            models,
            direct: Mutex::default(),
            keys,
            secrets,
            server: cfg.server,
            spans: None,
            access: None,
            jobs,
        })
    }

    /// Hand every request's trace to `sink` once its answer is sent (see `super::trace`).
    pub fn with_spans(mut self, sink: SpanSink) -> Self {
        self.spans = Some(sink);
        self
    }

    /// Hand the spans of the jobs this process's workers process to `sink` (`crate::queue`'s
    /// item spans); nothing without a queue.
    pub fn with_job_spans(self, sink: crate::queue::ItemSink) -> Self {
        if let Some(jobs) = &self.jobs {
            jobs.queue.trace_items(sink);
        }
        self
    }

    /// Push every access record to `sink` instead of writing it on the request's task.
    pub fn with_access_log(mut self, sink: Arc<dyn AccessSink>) -> Self {
        self.access = Some(sink);
        self
    }

    pub(super) fn shutdown_timeout(&self) -> Duration {
        self.server.shutdown_timeout
    }

    pub(super) fn header_timeout(&self) -> Duration {
        self.server.header_timeout
    }

    /// Let `caller` call `model` (its allow-list, rate limit and budget), and the client for it.
    pub(super) async fn admit(
        &self,
        caller: Option<&Caller>,
        model: &str,
    ) -> std::result::Result<Client, Refusal> {
        if let Some(c) = caller {
            c.may_call(model).map_err(|e| Refusal::gateway(&e))?;
            c.admit().await.map_err(|e| Refusal::gateway(&e))?;
            c.within_budget()
                .await
                .map_err(|e| Refusal::gateway(&e).coded("insufficient_quota"))?;
        }
        self.client(model)
    }

    /// Charge a call's cost to the caller's budget.
    pub(super) async fn charge(&self, caller: Option<&Caller>, usd: Option<f64>) {
        if let Some(c) = caller {
            c.charge(usd).await;
        }
    }

    /// The client for the name a caller sent.
    fn client(&self, model: &str) -> std::result::Result<Client, Refusal> {
        let unknown = || {
            Refusal::new(
                StatusCode::NOT_FOUND,
                format!("The model `{model}` does not exist or you do not have access to it."),
            )
        };
        if !self.models.is_empty() {
            return self.models.get(model).cloned().ok_or_else(unknown);
        }
        if !model.contains('/') {
            return Err(unknown());
        }
        let mut direct = self.direct.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(c) = direct.get(model) {
            return Ok(c.clone());
        }
        let client = Client::new(ClientConfig {
            model: model.to_string(),
            ..ClientConfig::default()
        })
        .map_err(|e| Refusal::from_error(&e, &self.secrets))?;
        if direct.len() < DIRECT_CLIENTS {
            direct.insert(model.to_string(), client.clone());
        }
        Ok(client)
    }
}

/// What the access log says of a request.
pub(super) struct Access {
    pub(super) model: Option<String>,
    key: Option<String>,
    stream: bool,
    /// The chat call, for the request's trace (only when the gateway has a span sink).
    call: Option<CallSpan>,
    /// A traced stream's task, which ends the request's span when the stream ends.
    stream_end: Option<oneshot::Sender<StreamEnd>>,
}

impl Access {
    /// The request's access record: written here, or pushed to the gateway's sink.
    fn log(&self, gw: &Gateway, method: &Method, path: &str, status: u16, latency: Duration) {
        if !AccessRecord::wanted() {
            return;
        }
        let record = AccessRecord {
            method: method.clone(),
            path: path.to_owned(),
            status,
            model: self.model.clone(),
            key: self.key.clone(),
            stream: self.stream,
            latency,
        };
        match &gw.access {
            Some(sink) => sink.push(record),
            None => record.write(),
        }
    }
}

/// Answer one request; never fails (every failure is a response).
pub async fn handle(gw: &Gateway, req: Request<IncomingBody>) -> Response<Body> {
    let started = Instant::now();
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    let traced = gw
        .spans
        .as_ref()
        .map(|_| (SystemTime::now(), Traced::of(&req)));
    let mut access = Access {
        model: None,
        key: None,
        stream: false,
        call: None,
        stream_end: None,
    };
    let shape = if path == "/v1/messages" || req.headers().contains_key("anthropic-version") {
        Shape::Anthropic
    } else {
        Shape::OpenAi
    };
    let resp = match route(gw, req, shape, &mut access).await {
        Ok(r) => r,
        Err(refusal) => refuse(&refusal, shape),
    };
    access.log(
        gw,
        &method,
        &path,
        resp.status().as_u16(),
        started.elapsed(),
    );
    if let (Some(sink), Some((at, t))) = (&gw.spans, traced) {
        let span = RequestSpan {
            parent: t.parent,
            started: at,
            duration: started.elapsed(),
            method: method.as_str().to_owned(),
            route: path,
            status: resp.status().as_u16(),
            host: t.host,
            user_agent: t.user_agent,
            call: access.call.take(),
        };
        match access.stream_end.take() {
            Some(end) => {
                let _ = end.send(StreamEnd { span, started });
            }
            None => sink(span),
        }
    }
    resp
}

/// What a traced request's span takes from its headers.
struct Traced {
    parent: Option<trace::Parent>,
    host: Option<String>,
    user_agent: Option<String>,
}

impl Traced {
    fn of(req: &Request<IncomingBody>) -> Self {
        let header = |name: http::header::HeaderName| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        Self {
            parent: trace::parent(req.headers()),
            host: header(http::header::HOST),
            user_agent: header(http::header::USER_AGENT),
        }
    }
}

async fn route(
    gw: &Gateway,
    req: Request<IncomingBody>,
    shape: Shape,
    access: &mut Access,
) -> std::result::Result<Response<Body>, Refusal> {
    let path = req.uri().path().to_owned();
    match (req.method(), path.as_str()) {
        (&Method::GET, "/healthz") => Ok(json_response(StatusCode::OK, &json!({"status": "ok"}))),
        (&Method::GET, "/readyz") => Ok(ready(gw).await),
        (&Method::GET, "/metrics") => {
            let mut text = crate::telemetry::metrics_text().await;
            if let Some(sink) = &gw.access {
                text.push_str(&format!(
                    "# HELP llmrail_gateway_access_records_dropped_total Access-log records dropped \
                     because the log's backlog was full.\n\
                     # TYPE llmrail_gateway_access_records_dropped_total counter\n\
                     llmrail_gateway_access_records_dropped_total {}\n",
                    sink.dropped()
                ));
            }
            let mut r = Response::new(Body::Full(Some(Bytes::from(text))));
            r.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            Ok(r)
        }
        (&Method::GET, "/v1/models") => {
            let caller = identify(gw, req.headers(), access)?;
            Ok(models(gw, caller, shape))
        }
        (&Method::POST, "/v1/chat/completions" | "/v1/messages") => {
            let caller = identify(gw, req.headers(), access)?;
            let traceparent = jobs::traceparent(req.headers());
            let body = read_body(gw, req).await?;
            let mut incoming = match shape {
                Shape::OpenAi => openai_wire::parse(&body),
                Shape::Anthropic => anthropic_wire::parse(&body),
            }
            .map_err(|e| Refusal::new(StatusCode::BAD_REQUEST, e.message.clone()))?;
            access.model = Some(incoming.model.clone());
            access.stream = incoming.stream;
            let mode = jobs::processing(&mut incoming)?;
            let client = gw.admit(caller, &incoming.model).await?;
            if mode != Processing::Direct {
                jobs::chat(gw, caller, client, (incoming, traceparent), shape, mode).await
            } else if incoming.stream {
                stream(gw, caller, client, incoming, shape, access).await
            } else {
                chat(gw, caller, client, incoming, shape, access).await
            }
        }
        (_, p) if p == "/v1/jobs" || p.starts_with("/v1/jobs/") => {
            jobs::route(gw, req, access).await
        }
        (_, "/healthz" | "/readyz" | "/metrics" | "/v1/models") => Err(Refusal::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "this endpoint answers GET only",
        )),
        (_, "/v1/chat/completions" | "/v1/messages") => Err(Refusal::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "this endpoint answers POST only",
        )),
        _ => Err(Refusal::new(
            StatusCode::NOT_FOUND,
            format!("Unknown request URL: {} {path}", req.method()),
        )),
    }
}

pub(super) fn identify<'g>(
    gw: &'g Gateway,
    headers: &HeaderMap,
    access: &mut Access,
) -> std::result::Result<Option<&'g Caller>, Refusal> {
    let caller = gw
        .keys
        .identify(headers)
        .map_err(|e| Refusal::gateway(&e))?;
    access.key = caller.map(|c| c.name.clone());
    Ok(caller)
}

/// The body, refused if it is larger than the limit or slower than the body timeout.
pub(super) async fn read_body(
    gw: &Gateway,
    req: Request<IncomingBody>,
) -> std::result::Result<Bytes, Refusal> {
    let limit = gw.server.max_body_bytes;
    let too_large = || {
        Refusal::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request body is larger than the gateway's limit of {limit} bytes"),
        )
    };
    let announced = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let body = Limited::new(req.into_body(), limit);
    match tokio::time::timeout(gw.server.body_timeout, body.collect()).await {
        Err(_) => Err(Refusal::new(
            StatusCode::REQUEST_TIMEOUT,
            "the request body did not arrive within the gateway's body timeout",
        )),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Ok(Err(_)) => Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "the request body could not be read",
        )),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
    }
}

/// The call's options: each fallback gets the request made again for its own provider.
pub(super) fn options(incoming: &Arc<Incoming>) -> CallOptions {
    let incoming = incoming.clone();
    CallOptions {
        retarget: Some(Retarget(Arc::new(move |target: &str, _primary| {
            let provider = target.split('/').next().unwrap_or(target);
            incoming.for_target(provider)
        }))),
        ..CallOptions::default()
    }
}

pub(super) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

pub(super) fn new_id(shape: Shape) -> String {
    let n: u128 = rand::random();
    match shape {
        Shape::OpenAi => format!("chatcmpl-{n:032x}"),
        Shape::Anthropic => format!("msg_{n:032x}"),
    }
}

async fn chat(
    gw: &Gateway,
    caller: Option<&Caller>,
    client: Client,
    incoming: Incoming,
    shape: Shape,
    access: &mut Access,
) -> std::result::Result<Response<Body>, Refusal> {
    let bad = |e: crate::error::LlmError| Refusal::from_error(&e, &gw.secrets);
    let req = incoming.for_target(client.provider()).map_err(bad)?;
    let incoming = Arc::new(incoming);
    let mut opts = options(&incoming);
    opts.record = gw.spans.is_some();
    let (at, t0) = (SystemTime::now(), Instant::now());
    let result = client.chat_with(req, opts).await;
    if gw.spans.is_some() {
        let mut call = CallSpan::ended("chat", &incoming.model, &client, (at, t0));
        match &result {
            Ok((answer, report)) => {
                call.attempts = report.log.clone().unwrap_or_default();
                call.usage = Some(answer.usage);
            }
            Err(e) => call.error = Some(e.kind.name()),
        }
        access.call = Some(call);
    }
    let (answer, _) = result.map_err(bad)?;
    gw.charge(caller, answer.cost_usd()).await;
    let id = new_id(shape);
    let body = match shape {
        Shape::OpenAi => openai_wire::completion(&answer, &id, now_secs(), &incoming.model),
        Shape::Anthropic => anthropic_wire::message(&answer, &id, &incoming.model),
    };
    Ok(json_response(StatusCode::OK, &body))
}

/// Writes one stream in an endpoint's wire.
enum Writer {
    OpenAi(openai_wire::ChunkWriter),
    Anthropic(anthropic_wire::EventWriter),
}

impl Writer {
    fn start(&self) -> Bytes {
        match self {
            Self::OpenAi(w) => w.start(),
            Self::Anthropic(w) => w.start(),
        }
    }
    fn event(&mut self, e: &StreamEvent) -> Bytes {
        match self {
            Self::OpenAi(w) => w.event(e),
            Self::Anthropic(w) => w.event(e),
        }
    }
    fn error(&self, refusal: &Refusal) -> Bytes {
        match self {
            Self::OpenAi(w) => w.error(&refusal.body(Shape::OpenAi)),
            Self::Anthropic(w) => w.error(&refusal.body(Shape::Anthropic)),
        }
    }
}

/// A streamed chat: the first event is awaited before answering, so a call that fails before
/// anything arrived is an ordinary HTTP error; afterwards a failure is the wire's error event.
async fn stream(
    gw: &Gateway,
    caller: Option<&Caller>,
    client: Client,
    incoming: Incoming,
    shape: Shape,
    access: &mut Access,
) -> std::result::Result<Response<Body>, Refusal> {
    let (at, t0) = (SystemTime::now(), Instant::now());
    let secrets = gw.secrets.clone();
    let bad = |e: crate::error::LlmError| Refusal::from_error(&e, &secrets);
    let req = incoming.for_target(client.provider()).map_err(bad)?;
    let incoming = Arc::new(incoming);
    let mut events = client.stream_with(req, options(&incoming)).map_err(bad)?;
    let first = events.next().await;
    // A traced stream's spans end with the stream, in its task: the head is only its start.
    let mut traced = None;
    if let Some(sink) = &gw.spans {
        let mut call = CallSpan::ended("stream", &incoming.model, &client, (at, t0));
        if let Some(Err(e)) = &first {
            call.error = Some(e.kind.name());
        }
        access.call = Some(call);
        let (end, ended) = oneshot::channel();
        access.stream_end = Some(end);
        traced = Some((sink.clone(), ended));
    }
    let first = match first {
        Some(Ok(e)) => e,
        Some(Err(e)) => return Err(bad(e)),
        None => {
            return Err(Refusal::new(
                StatusCode::BAD_GATEWAY,
                "the upstream stream ended before it began",
            ))
        }
    };
    let id = new_id(shape);
    let mut writer = match shape {
        Shape::OpenAi => Writer::OpenAi(openai_wire::ChunkWriter::new(
            id,
            now_secs(),
            incoming.model.clone(),
            incoming.include_usage,
        )),
        Shape::Anthropic => {
            Writer::Anthropic(anthropic_wire::EventWriter::new(id, incoming.model.clone()))
        }
    };
    let (tx, rx) = mpsc::channel(STREAM_BUFFER);
    let mut head = writer.start().to_vec();
    head.extend_from_slice(&writer.event(&first));
    let mut outcome = StreamOutcome::default();
    outcome.saw(&first);
    // The key's budget is charged the stream's cost when its last event arrives.
    let budget = caller.and_then(|c| c.budget.clone());
    if outcome.done {
        if let (Some(b), Some(usd)) = (&budget, first.cost_usd()) {
            b.charge(usd).await;
        }
    }
    tokio::spawn(async move {
        // A reader that went away closes the channel: the stream (and the upstream request)
        // is dropped with this task.
        let sent = tx.send(Bytes::from(head)).await.is_ok();
        if !sent {
            outcome.error = Some(ErrorKind::Cancelled.name());
        } else if !outcome.done {
            outcome = forward(events, writer, &tx, budget, &secrets, outcome).await;
        }
        if let Some((sink, ended)) = traced {
            let end = t0.elapsed();
            // Sent by `handle` as soon as the head is ready; an error: the request was dropped.
            if let Ok(StreamEnd { mut span, started }) = ended.await {
                span.duration = started.elapsed();
                if let Some(call) = &mut span.call {
                    call.duration = end;
                    call.usage = outcome.usage;
                    call.error = call.error.or(outcome.error);
                }
                sink(span);
            }
        }
        drop(tx);
    });
    let mut r = Response::new(Body::Channel(rx));
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert("cache-control", HeaderValue::from_static("no-cache"));
    Ok(r)
}

/// How a stream went, for its spans.
#[derive(Default)]
struct StreamOutcome {
    /// Its last event has come.
    done: bool,
    usage: Option<crate::model::Usage>,
    /// Why it ended early: the upstream's error kind, or `CancelledError` when the reader left.
    error: Option<&'static str>,
}

impl StreamOutcome {
    fn saw(&mut self, e: &StreamEvent) {
        if let StreamEvent::Done { usage, .. } = e {
            self.done = true;
            self.usage = Some(*usage);
        }
    }
}

/// The rest of a stream after its first event, written to `tx` until its last event, an
/// error (the wire's error event) or a reader that went away.
async fn forward(
    mut events: crate::client::ChatStream,
    mut writer: Writer,
    tx: &mpsc::Sender<Bytes>,
    budget: Option<Arc<super::budget::Budget>>,
    secrets: &[String],
    mut outcome: StreamOutcome,
) -> StreamOutcome {
    while let Some(next) = events.next().await {
        match next {
            Ok(e) => {
                outcome.saw(&e);
                if let (Some(b), Some(usd)) = (&budget, e.cost_usd()) {
                    b.charge(usd).await;
                }
                if tx.send(writer.event(&e)).await.is_err() {
                    outcome.error = Some(ErrorKind::Cancelled.name());
                    return outcome;
                }
                if outcome.done {
                    return outcome;
                }
            }
            Err(e) => {
                outcome.error = Some(e.kind.name());
                let _ = tx
                    .send(writer.error(&Refusal::from_error(&e, secrets)))
                    .await;
                return outcome;
            }
        }
    }
    outcome
}

async fn ready(gw: &Gateway) -> Response<Body> {
    let mut all_ready = true;
    let mut report = serde_json::Map::new();
    for (name, client) in &gw.models {
        let states = client.health().await.unwrap_or_default();
        // Ready while some target of the model would be tried.
        let usable = states
            .iter()
            .any(|s| s.state != crate::resilience::breaker::State::Open);
        all_ready &= usable || states.is_empty();
        let targets: Vec<Value> = states
            .iter()
            .map(|s| json!({"name": s.name, "breaker": s.state.as_str()}))
            .collect();
        report.insert(name.clone(), json!({"ready": usable, "targets": targets}));
    }
    let mut body = json!({"ready": all_ready, "models": report});
    if let Some(jobs) = &gw.jobs {
        let (reachable, queue) = jobs.ready().await;
        all_ready &= reachable;
        body["ready"] = json!(all_ready);
        body["queue"] = queue;
    }
    let status = if all_ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json_response(status, &body)
}

/// The virtual models the caller may call, in the shape of the SDK asking.
fn models(gw: &Gateway, caller: Option<&Caller>, shape: Shape) -> Response<Body> {
    let names: Vec<&String> = gw
        .models
        .keys()
        .filter(|m| caller.is_none_or(|c| c.may_call(m).is_ok()))
        .collect();
    let body = match shape {
        Shape::OpenAi => json!({"object": "list", "data": names.iter().map(|n| json!({
            "id": n, "object": "model", "created": 0, "owned_by": "llmrail",
        })).collect::<Vec<_>>()}),
        Shape::Anthropic => json!({
            "data": names.iter().map(|n| json!({
                "id": n, "type": "model", "display_name": n,
                "created_at": "1970-01-01T00:00:00Z",
            })).collect::<Vec<_>>(),
            "has_more": false,
            "first_id": names.first(),
            "last_id": names.last(),
        }),
    };
    json_response(StatusCode::OK, &body)
}

pub(super) fn json_response(status: StatusCode, body: &Value) -> Response<Body> {
    let bytes = Bytes::from(body.to_string());
    let mut r = Response::new(Body::Full(Some(bytes)));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

pub(super) fn refuse(refusal: &Refusal, shape: Shape) -> Response<Body> {
    let mut r = json_response(refusal.status, &refusal.body(shape));
    if let Some(wait) = refusal.retry_after {
        let secs = wait.as_secs_f64().ceil().max(1.0);
        if let Ok(v) = HeaderValue::from_str(&format!("{secs:.0}")) {
            r.headers_mut().insert(RETRY_AFTER, v);
        }
    }
    r
}
