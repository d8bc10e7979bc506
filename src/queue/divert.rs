//! A chat call's processing mode: `direct` (never queued), `queue` (always), or `auto`: answered
//! directly while the provider is healthy, queued when its breaker is open or the call ends in
//! an outage, so the caller gets a queue id instead of an error. A structured extraction is
//! diverted the same way, its schema going into the queue with the request.

use std::future::Future;

use super::{ExtractJob, Queue, Submission};
use crate::client::Client;
use crate::error::{ErrorKind, LlmError, Result};
use crate::extract::Failure;
use crate::model::{ChatRequest, ChatResponse};
use crate::resilience::{CallOptions, CallReport};

/// `processing=` of a chat call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Processing {
    #[default]
    Direct,
    Queue,
    Auto,
}

impl Processing {
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "direct" => Ok(Self::Direct),
            "queue" => Ok(Self::Queue),
            "auto" => Ok(Self::Auto),
            _ => Err(LlmError::config(format!(
                "processing must be \"direct\", \"queue\" or \"auto\", got {s:?}"
            ))),
        }
    }
}

/// A call's answer, or where it waits.
#[derive(Debug)]
pub enum Answer {
    /// Boxed: a response is ten times the size of a queue id.
    Direct(Box<ChatResponse>, CallReport),
    /// The queue id.
    Queued(String),
}

/// An extraction's outcome as its caller shapes it, or where it waits.
#[derive(Debug)]
pub enum Diverted<T> {
    Direct(T),
    /// The queue id.
    Queued(String),
}

/// Called once, only when a call is about to be queued: the W3C `traceparent` to store with it,
/// so the item's processing continues the caller's trace (`trace.rs`). A traced caller opens
/// its submission span there: a call answered directly opens none.
pub type QueueTrace = Box<dyn FnOnce() -> Option<String> + Send>;

/// The failures that mean the provider is down rather than the request wrong: worth keeping
/// the request for later.
pub fn outage(e: &LlmError) -> bool {
    matches!(
        e.kind,
        ErrorKind::Overloaded
            | ErrorKind::Server
            | ErrorKind::Timeout
            | ErrorKind::Connection
            | ErrorKind::CircuitOpen
    )
}

impl Queue {
    /// Run `req` on `client` as `mode` says. A queued request targets the client's
    /// "provider/model", and this process's workers use `client` itself for it.
    pub async fn chat(
        &self,
        client: &Client,
        req: ChatRequest,
        opts: CallOptions,
        mode: Processing,
    ) -> Result<Answer> {
        self.chat_traced(client, req, opts, mode, None).await
    }

    /// [`Queue::chat`], a queued request carrying the trace `trace` gives.
    pub async fn chat_traced(
        &self,
        client: &Client,
        req: ChatRequest,
        opts: CallOptions,
        mode: Processing,
        trace: Option<QueueTrace>,
    ) -> Result<Answer> {
        match mode {
            Processing::Direct => {
                let (r, report) = client.chat_with(req, opts).await?;
                Ok(Answer::Direct(Box::new(r), report))
            }
            Processing::Queue => Ok(Answer::Queued(
                self.enqueue(client, &req, None, None, trace).await?,
            )),
            Processing::Auto => {
                // Kept for the queue: the call consumes its request.
                let kept = req.clone();
                match client.chat_with(req, opts).await {
                    Ok((r, report)) => Ok(Answer::Direct(Box::new(r), report)),
                    Err(e) if outage(&e) => Ok(Answer::Queued(
                        self.enqueue(client, &kept, None, Some(&e), trace).await?,
                    )),
                    Err(e) => Err(e),
                }
            }
        }
    }

    /// Run an extraction (`run`, the caller's own loop with its validators) as `mode` says; a
    /// queued one carries `job`, so a worker anywhere can validate against the schema.
    pub async fn extract<T, A, F>(
        &self,
        client: &Client,
        req: ChatRequest,
        job: ExtractJob,
        mode: Processing,
        run: impl FnOnce(ChatRequest) -> F,
    ) -> Result<Diverted<std::result::Result<T, Failure<A>>>>
    where
        F: Future<Output = std::result::Result<T, Failure<A>>>,
    {
        self.extract_traced(client, req, job, mode, run, None).await
    }

    /// [`Queue::extract`], a queued request carrying the trace `trace` gives.
    pub async fn extract_traced<T, A, F>(
        &self,
        client: &Client,
        req: ChatRequest,
        job: ExtractJob,
        mode: Processing,
        run: impl FnOnce(ChatRequest) -> F,
        trace: Option<QueueTrace>,
    ) -> Result<Diverted<std::result::Result<T, Failure<A>>>>
    where
        F: Future<Output = std::result::Result<T, Failure<A>>>,
    {
        match mode {
            Processing::Direct => Ok(Diverted::Direct(run(req).await)),
            Processing::Queue => Ok(Diverted::Queued(
                self.enqueue(client, &req, Some(job), None, trace).await?,
            )),
            Processing::Auto => {
                let kept = req.clone();
                match run(req).await {
                    Err(Failure::Llm(e)) if outage(&e) => Ok(Diverted::Queued(
                        self.enqueue(client, &kept, Some(job), Some(&e), trace)
                            .await?,
                    )),
                    other => Ok(Diverted::Direct(other)),
                }
            }
        }
    }

    /// Submit `req` for `client`'s "provider/model" (this process's workers use `client` for
    /// it). `cause`: the outage that sent it here, named in the error if it cannot be queued.
    async fn enqueue(
        &self,
        client: &Client,
        req: &ChatRequest,
        extract: Option<ExtractJob>,
        cause: Option<&LlmError>,
        trace: Option<QueueTrace>,
    ) -> Result<String> {
        let target = format!("{}/{}", client.provider(), client.model());
        self.use_client(&target, client.clone());
        let sub = Submission {
            target,
            extract,
            traceparent: trace.and_then(|t| t()),
            ..Submission::default()
        };
        self.submit(req, sub).await.map_err(|mut full| {
            if let Some(e) = cause {
                full.message = format!(
                    "{} (the call failed with {}: {}, and could not be queued)",
                    full.message,
                    e.kind.name(),
                    e.message
                );
            }
            full
        })
    }
}
