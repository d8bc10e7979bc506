//! Async jobs over the durable queue (`crate::queue`), for callers that would rather not hold a
//! connection open while a provider is slow or down:
//!
//! - `POST /v1/jobs`: a chat-completions body with, beside it, `callback_url` (a signed webhook
//!   of the final status, as the queue sends it), `wait` (seconds to wait for the answer, 0 by
//!   default, at most [`MAX_WAIT`]) and `processing` (`"queue"`, the default; `"auto"`: tried at
//!   once and queued only on an outage; `"direct"`: never queued). `200` with the
//!   `chat.completion` when it is done within `wait`, else `202` with the job's status and a
//!   `Location`; `503` with `Retry-After` while the queue is over its high watermark. An
//!   `Idempotency-Key` header gives a repeated submission the first one's job.
//! - `GET /v1/jobs/{id}`: the status; `GET /v1/jobs/{id}/result[?wait=s]`: the answer (`200`),
//!   the failure in its own status, or `202` with the status while it is not done.
//! - `processing: "queue" | "auto"` on `/v1/chat/completions` and `/v1/messages` (not streamed):
//!   a call whose target is down (breaker open, an outage-class error) answers `202` and a job
//!   instead of the error.
//!
//! A job submitted with a valid W3C `traceparent` header keeps it with its request (as
//! `Queue::submit` stores a traced submitter's), so the worker's processing span continues the
//! caller's trace.
//!
//! An item names the virtual model (or the "provider/model") it calls, and each gateway process
//! runs workers that use its own client for that model: every process working a queue should
//! load the same models. Items keep the name of the key that submitted them; another key is
//! told there is no such job.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderValue, LOCATION, RETRY_AFTER};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming as IncomingBody;
use serde_json::{json, Map, Value};
use tokio::sync::broadcast;

use super::{identify, json_response, options, read_body, Access, Gateway};
use crate::client::Client;
use crate::error::{ErrorKind, LlmError, Result};
use crate::gateway::auth::Caller;
use crate::gateway::body::Body;
use crate::gateway::budget::Budget;
use crate::gateway::errors::{Refusal, Shape};
use crate::gateway::request::Incoming;
use crate::gateway::{anthropic_wire, openai_wire};
use crate::model::ChatResponse;
use crate::queue::{
    outage, Event, Item, Processing, Queue, QueueConfig, State, StoredResponse, Submission,
};
use crate::runtime::AbortOnDrop;

/// The longest `wait` honoured: longer waits are better polled (and proxies commonly cut a
/// request that has been silent for a minute or more).
pub const MAX_WAIT: Duration = Duration::from_secs(300);

/// The metadata field naming the key that submitted an item.
const OWNER: &str = "gateway_key";

/// The queue and this process's workers on it (stopped when the gateway is dropped: what they
/// hold goes back to the queue when its lease runs out).
pub struct Jobs {
    pub(in crate::gateway) queue: Queue,
    _workers: Option<crate::queue::Workers>,
    _charging: Option<AbortOnDrop<()>>,
}

impl Jobs {
    /// Open the queue at `url` and start `workers` workers that call each virtual model with
    /// its own client; a job they complete is charged to its key's budget in `budgets`.
    pub fn start(
        url: &str,
        cfg: QueueConfig,
        workers: usize,
        models: &BTreeMap<String, Client>,
        budgets: HashMap<String, Arc<Budget>>,
    ) -> Result<Self> {
        let queue = Queue::open(url, cfg)?;
        for (name, client) in models {
            queue.use_client(name, client.clone());
        }
        // Subscribed before the workers start, so no completion of theirs is missed.
        let charging = (workers > 0 && !budgets.is_empty())
            .then(|| -> Result<AbortOnDrop<()>> {
                let events = queue.subscribe();
                let q = queue.clone();
                Ok(AbortOnDrop(
                    crate::runtime::handle()?.spawn(charge_completed(q, events, budgets)),
                ))
            })
            .transpose()?;
        let workers = (workers > 0)
            .then(|| queue.spawn_workers(workers))
            .transpose()?;
        Ok(Self {
            queue,
            _workers: workers,
            _charging: charging,
        })
    }

    /// Whether the store answers, with its depth, for `/readyz`.
    pub async fn ready(&self) -> (bool, Value) {
        match self.queue.stats().await {
            Ok(s) => (
                true,
                json!({
                    "reachable": true,
                    "queued": s.count(State::Queued),
                    "processing": s.count(State::Processing),
                    "refusing": s.refusing,
                }),
            ),
            Err(e) => (false, json!({"reachable": false, "error": e.kind.name()})),
        }
    }
}

/// Charge each job this process's workers complete to the budget of the key that sent it (a
/// completion is reported once, by the process whose worker stored it first).
async fn charge_completed(
    queue: Queue,
    mut events: broadcast::Receiver<Event>,
    budgets: HashMap<String, Arc<Budget>>,
) -> Result<()> {
    loop {
        let event = match events.recv().await {
            Ok(e) => e,
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!(target: "llmrail::gateway", missed = n,
                    "llmrail serve: fell behind the queue's events; some jobs' costs were not charged");
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return Ok(()),
        };
        if event.state != State::Completed {
            continue;
        }
        let Ok(item) = queue.status(&event.id).await else {
            continue;
        };
        let owner = item
            .metadata
            .as_ref()
            .and_then(|m| m.get(OWNER))
            .and_then(Value::as_str);
        if let Some(budget) = owner.and_then(|o| budgets.get(o)) {
            if let Some(usd) = response_of(&item).ok().and_then(|r| r.cost_usd()) {
                budget.charge(usd).await;
            }
        }
    }
}

/// The `processing` field of a chat body, taken out of what goes upstream.
pub fn processing(incoming: &mut Incoming) -> std::result::Result<Processing, Refusal> {
    match incoming.extras.remove("processing") {
        None | Some(Value::Null) => Ok(Processing::Direct),
        Some(Value::String(s)) => Processing::parse(&s).map_err(bad_request),
        Some(_) => Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "processing must be \"direct\", \"queue\" or \"auto\"",
        )),
    }
}

fn bad_request(e: LlmError) -> Refusal {
    Refusal::new(StatusCode::BAD_REQUEST, e.message.clone())
}

fn jobs_of(gw: &Gateway) -> std::result::Result<&Jobs, Refusal> {
    gw.jobs.as_ref().ok_or_else(|| {
        Refusal::new(
            StatusCode::NOT_FOUND,
            "this gateway serves no jobs: its config has no `queue: {url: ...}`",
        )
    })
}

/// `/v1/jobs` and `/v1/jobs/...`.
pub async fn route(
    gw: &Gateway,
    req: Request<IncomingBody>,
    access: &mut Access,
) -> std::result::Result<Response<Body>, Refusal> {
    let path = req.uri().path().to_owned();
    let rest = path.strip_prefix("/v1/jobs").unwrap_or_default();
    let parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
    match (req.method(), parts.as_slice()) {
        (&Method::POST, []) => submit(gw, req, access).await,
        (&Method::GET, [id]) => {
            let caller = identify(gw, req.headers(), access)?;
            let item = owned(gw, caller, id).await?;
            Ok(json_response(StatusCode::OK, &status(&item, &gw.secrets)))
        }
        (&Method::GET, [id, "result"]) => {
            let caller = identify(gw, req.headers(), access)?;
            let wait = query_wait(req.uri().query())?;
            let item = owned(gw, caller, id).await?;
            access.model = Some(item.target.clone());
            let item = waited(jobs_of(gw)?, item, wait).await?;
            Ok(answer(gw, &item))
        }
        (_, [] | [_] | [_, "result"]) => Err(Refusal::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "POST /v1/jobs submits a job; GET /v1/jobs/{id} and /v1/jobs/{id}/result read it",
        )),
        _ => Err(Refusal::new(
            StatusCode::NOT_FOUND,
            format!("Unknown request URL: {} {path}", req.method()),
        )),
    }
}

/// `wait=` of a query string, in seconds.
fn query_wait(query: Option<&str>) -> std::result::Result<Duration, Refusal> {
    let value = query
        .unwrap_or_default()
        .split('&')
        .find_map(|kv| kv.strip_prefix("wait="));
    match value {
        None => Ok(Duration::ZERO),
        Some(v) => wait_of(&Value::from(v.parse::<f64>().unwrap_or(f64::NAN))),
    }
}

fn wait_of(v: &Value) -> std::result::Result<Duration, Refusal> {
    v.as_f64()
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .map(|d| d.min(MAX_WAIT))
        .ok_or_else(|| {
            Refusal::new(
                StatusCode::BAD_REQUEST,
                "wait must be a number of seconds, 0 or more",
            )
        })
}

/// The item, if the caller's key submitted it (or the gateway has no keys).
async fn owned(
    gw: &Gateway,
    caller: Option<&Caller>,
    id: &str,
) -> std::result::Result<Item, Refusal> {
    let jobs = jobs_of(gw)?;
    let missing = || Refusal::new(StatusCode::NOT_FOUND, format!("there is no job {id:?}"));
    let item = match jobs.queue.status(id).await {
        Ok(item) => item,
        Err(e) if e.kind == ErrorKind::NotFound => return Err(missing()),
        Err(e) => return Err(Refusal::from_error(&e, &gw.secrets)),
    };
    let owner = item
        .metadata
        .as_ref()
        .and_then(|m| m.get(OWNER))
        .and_then(Value::as_str);
    match caller {
        Some(c) if owner != Some(c.name.as_str()) => Err(missing()),
        _ => Ok(item),
    }
}

/// The item once it is finished, or as it is when `wait` is over.
async fn waited(jobs: &Jobs, item: Item, wait: Duration) -> std::result::Result<Item, Refusal> {
    if item.state.is_final() || wait.is_zero() {
        return Ok(item);
    }
    // Its outcome (a result or a stored error) is read again from the item below, so whether
    // the wait ended in one or ran out is all this needs.
    let _ = jobs.queue.result(&item.id, Some(wait)).await;
    jobs.queue
        .status(&item.id)
        .await
        .map_err(|e| Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, e.message.clone()))
}

/// `POST /v1/jobs`.
async fn submit(
    gw: &Gateway,
    req: Request<IncomingBody>,
    access: &mut Access,
) -> std::result::Result<Response<Body>, Refusal> {
    let jobs = jobs_of(gw)?;
    let caller = identify(gw, req.headers(), access)?;
    let idempotency_key = req
        .headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let traceparent = traceparent(req.headers());
    let body = read_body(gw, req).await?;
    let mut fields: Map<String, Value> = serde_json::from_slice(&body).map_err(|e| {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            format!("the request body is not a JSON object: {e}"),
        )
    })?;
    let callback_url = match fields.remove("callback_url") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(_) => {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                "callback_url must be a URL",
            ))
        }
    };
    let wait = match fields.remove("wait") {
        None | Some(Value::Null) => Duration::ZERO,
        Some(v) => wait_of(&v)?,
    };
    // A job is queued unless the caller says otherwise.
    let named = fields.contains_key("processing");
    let chat = Bytes::from(Value::Object(fields).to_string());
    let mut incoming = openai_wire::parse(&chat).map_err(bad_request)?;
    let mode = match processing(&mut incoming)? {
        Processing::Direct if !named => Processing::Queue,
        mode => mode,
    };
    if incoming.stream {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "a job is not streamed: send it without `stream`",
        ));
    }
    access.model = Some(incoming.model.clone());
    let client = gw.admit(caller, &incoming.model).await?;
    let spec = Spec {
        caller,
        callback_url,
        idempotency_key,
        wait,
        traceparent,
    };
    divert(gw, jobs, client, incoming, Shape::OpenAi, mode, spec).await
}

/// What goes with a diverted call besides its request.
pub struct Spec<'a> {
    pub caller: Option<&'a Caller>,
    pub callback_url: Option<String>,
    pub idempotency_key: Option<String>,
    pub wait: Duration,
    /// The caller's `traceparent`, if valid, for the item's processing span.
    pub traceparent: Option<String>,
}

/// The `traceparent` header, as sent, when it is a valid one (`crate::gateway::trace::parent`):
/// a worker reads the stored one as its span's parent.
pub fn traceparent(headers: &http::HeaderMap) -> Option<String> {
    crate::gateway::trace::parent(headers)?;
    Some(headers.get("traceparent")?.to_str().ok()?.trim().to_owned())
}

/// A chat endpoint's call with `processing` other than direct: queued (`Queue`), or tried
/// and queued on an outage (`Auto`).
pub async fn chat(
    gw: &Gateway,
    caller: Option<&Caller>,
    client: Client,
    (incoming, traceparent): (Incoming, Option<String>),
    shape: Shape,
    mode: Processing,
) -> std::result::Result<Response<Body>, Refusal> {
    let jobs = jobs_of(gw)?;
    if incoming.stream {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "processing \"queue\" and \"auto\" answer whole: send the request without `stream`",
        ));
    }
    let spec = Spec {
        caller,
        callback_url: None,
        idempotency_key: None,
        wait: Duration::ZERO,
        traceparent,
    };
    divert(gw, jobs, client, incoming, shape, mode, spec).await
}

async fn divert(
    gw: &Gateway,
    jobs: &Jobs,
    client: Client,
    incoming: Incoming,
    shape: Shape,
    mode: Processing,
    spec: Spec<'_>,
) -> std::result::Result<Response<Body>, Refusal> {
    let bad = |e: &LlmError| Refusal::from_error(e, &gw.secrets);
    let req = incoming
        .for_target(client.provider())
        .map_err(|e| bad(&e))?;
    let incoming = Arc::new(incoming);
    if mode != Processing::Queue {
        let kept = (mode == Processing::Auto).then(|| req.clone());
        match client.chat_with(req, options(&incoming)).await {
            Ok((answer, _)) => {
                gw.charge(spec.caller, answer.cost_usd()).await;
                return Ok(whole(
                    &answer,
                    &super::new_id(shape),
                    &incoming.model,
                    shape,
                ));
            }
            Err(e) if kept.is_none() || !outage(&e) => return Err(bad(&e)),
            Err(e) => {
                tracing::info!(target: "llmrail::gateway", model = %incoming.model,
                    error = e.kind.name(), "llmrail serve: the call failed with an outage, queued");
                let req = kept.unwrap_or_default();
                return queued(gw, jobs, &incoming.model, &req, spec).await;
            }
        }
    }
    queued(gw, jobs, &incoming.model, &req, spec).await
}

async fn queued(
    gw: &Gateway,
    jobs: &Jobs,
    model: &str,
    req: &crate::model::ChatRequest,
    spec: Spec<'_>,
) -> std::result::Result<Response<Body>, Refusal> {
    let sub = Submission {
        target: model.to_string(),
        metadata: spec.caller.map(|c| json!({ OWNER: c.name })),
        idempotency_key: spec.idempotency_key,
        callback_url: spec.callback_url,
        traceparent: spec.traceparent,
        ..Submission::default()
    };
    let id = jobs.queue.submit(req, sub).await.map_err(|e| {
        if e.kind == ErrorKind::QueueFull {
            Refusal::from_error(&e, &gw.secrets)
        } else {
            // The request or its callback was refused by the queue's checks.
            let mut r = Refusal::from_error(&e, &gw.secrets);
            if e.kind == ErrorKind::Configuration {
                r.status = StatusCode::BAD_REQUEST;
            }
            r
        }
    })?;
    let item = jobs
        .queue
        .status(&id)
        .await
        .map_err(|e| Refusal::from_error(&e, &gw.secrets))?;
    let item = waited(jobs, item, spec.wait).await?;
    Ok(answer(gw, &item))
}

/// What the gateway says of an item: its answer once COMPLETED, its failure once FAILED or
/// EXPIRED (in the failure's own status), `202` with its status while it waits or runs.
fn answer(gw: &Gateway, item: &Item) -> Response<Body> {
    let mut r = match item.state {
        State::Queued | State::Processing => {
            let mut r = json_response(StatusCode::ACCEPTED, &status(item, &gw.secrets));
            let h = r.headers_mut();
            if let Ok(v) = HeaderValue::from_str(&format!("/v1/jobs/{}", item.id)) {
                h.insert(LOCATION, v);
            }
            h.insert(RETRY_AFTER, HeaderValue::from_static("1"));
            r
        }
        State::Completed => match response_of(item) {
            Ok(answer) => {
                let created = item.finished_ms.unwrap_or(item.updated_ms) / 1000;
                let mut body = openai_wire::completion(
                    &answer,
                    &format!("chatcmpl-{}", item.id),
                    created,
                    &item.target,
                );
                if let Value::Object(o) = &mut body {
                    o.insert("queue_id".into(), json!(item.id));
                }
                json_response(StatusCode::OK, &body)
            }
            Err(e) => super::refuse(&Refusal::from_error(&e, &gw.secrets), Shape::OpenAi),
        },
        State::Failed | State::Expired => {
            let e = failure(item);
            super::refuse(&Refusal::from_error(&e, &gw.secrets), Shape::OpenAi)
        }
    };
    if let Ok(v) = HeaderValue::from_str(&item.id) {
        r.headers_mut().insert("x-llmrail-queue-id", v);
    }
    r
}

fn response_of(item: &Item) -> Result<ChatResponse> {
    let stored = item.result.clone().unwrap_or_default();
    serde_json::from_value::<StoredResponse>(stored)
        .map(ChatResponse::from)
        .map_err(|e| {
            LlmError::new(
                ErrorKind::Internal,
                format!(
                    "job {} is COMPLETED with an unreadable result: {e}",
                    item.id
                ),
            )
        })
}

/// Why a finished item has no answer.
fn failure(item: &Item) -> LlmError {
    match (item.state, item.errors.last()) {
        (State::Expired, _) => LlmError::new(
            ErrorKind::Expired,
            format!("job {} expired before a worker took it", item.id),
        ),
        (_, Some(e)) => e.to_error(),
        (_, None) => LlmError::new(ErrorKind::Internal, format!("job {} failed", item.id)),
    }
}

/// A direct answer in the endpoint's shape.
fn whole(answer: &ChatResponse, id: &str, model: &str, shape: Shape) -> Response<Body> {
    let body = match shape {
        Shape::OpenAi => openai_wire::completion(answer, id, super::now_secs(), model),
        Shape::Anthropic => anthropic_wire::message(answer, id, model),
    };
    json_response(StatusCode::OK, &body)
}

/// The status JSON of `GET /v1/jobs/{id}` (and of a `202`).
fn status(item: &Item, secrets: &[String]) -> Value {
    let secs = |ms: u64| ms / 1000;
    let error = item.errors.last().map(|e| {
        // Shown as the gateway shows a direct failure: no provider's text about its key.
        let r = Refusal::from_error(&e.to_error(), secrets);
        json!({"type": e.kind, "message": r.message, "status": r.status.as_u16()})
    });
    json!({
        "object": "llmrail.job",
        "queue_id": item.id,
        "status": item.state.as_str().to_ascii_lowercase(),
        "model": item.target,
        "attempts": item.attempts,
        "max_attempts": item.max_attempts,
        "created_at": secs(item.created_ms),
        "finished_at": item.finished_ms.map(secs),
        "expires_at": secs(item.expires_ms),
        "error": error,
        "webhook": item.webhook.as_ref().map(|d| json!({
            "state": d.state.as_str().to_ascii_lowercase(),
            "attempts": d.attempts,
        })),
        "result_url": format!("/v1/jobs/{}/result", item.id),
    })
}
