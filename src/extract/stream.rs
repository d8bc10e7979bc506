//! Streamed extraction: each attempt streams, and every time the answer so far shows more of
//! the value, that partial value is sent; the validated value (or the failure) comes last.
//! A traced stream ([`ExtractStream::start_traced`]) also keeps each attempt for its span, read
//! with [`ExtractStream::take_trace`] once the outcome has come.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::Value;
use tokio::sync::mpsc;

use super::{partial::partial, run_with, Check, Extraction, Failure, Spec, TracedAttempt};
use crate::client::{ChatStream, Client};
use crate::error::{ErrorKind, LlmError, Result};
use crate::model::{ChatRequest, ChatResponse, ContentBlock, StreamEvent, ToolCall};
use crate::resilience::{AttemptRecord, CallOptions};
use crate::runtime;

/// Partial values buffered between the network task and a slow consumer.
const BUFFER: usize = 16;

pub enum Item<T, E> {
    Partial(Value),
    Done(Result<Extraction<T>, Failure<E>>),
}

/// A streamed extraction in progress. Dropping it cancels the request.
pub struct ExtractStream<T, E> {
    rx: mpsc::Receiver<Item<T, E>>,
    task: tokio::task::JoinHandle<()>,
    finished: bool,
    /// A traced stream's attempts, put here by its task before it sends the outcome.
    trace: Option<Arc<Mutex<Vec<TracedAttempt>>>>,
}

impl<T: Send + 'static, E: Send + 'static> ExtractStream<T, E> {
    /// Start on the shared runtime.
    pub fn start<C>(
        client: Client,
        req: ChatRequest,
        spec: Spec,
        opts: CallOptions,
        check: Arc<C>,
    ) -> Result<Self>
    where
        C: Check<Output = T, Abort = E> + 'static,
    {
        Self::spawn(client, req, spec, opts, check, None)
    }

    /// As [`ExtractStream::start`], keeping each attempt with the requests it sent (every
    /// streamed call keeps its records: `opts.record` is set).
    pub fn start_traced<C>(
        client: Client,
        req: ChatRequest,
        spec: Spec,
        mut opts: CallOptions,
        check: Arc<C>,
    ) -> Result<Self>
    where
        C: Check<Output = T, Abort = E> + 'static,
    {
        opts.record = true;
        Self::spawn(client, req, spec, opts, check, Some(Arc::default()))
    }

    fn spawn<C>(
        client: Client,
        req: ChatRequest,
        spec: Spec,
        opts: CallOptions,
        check: Arc<C>,
        trace: Option<Arc<Mutex<Vec<TracedAttempt>>>>,
    ) -> Result<Self>
    where
        C: Check<Output = T, Abort = E> + 'static,
    {
        let (tx, rx) = mpsc::channel(BUFFER);
        let kept = trace.clone();
        let task = runtime::handle()?.spawn(async move {
            let mut traced = Vec::new();
            let log = kept.is_some().then_some(&mut traced);
            let out = run_with(&client, req, &spec, opts, check.as_ref(), Some(&tx), log).await;
            if let Some(kept) = kept {
                *kept.lock().unwrap_or_else(|p| p.into_inner()) = traced;
            }
            let _ = tx.send(Item::Done(out)).await;
        });
        Ok(Self {
            rx,
            task,
            finished: false,
            trace,
        })
    }

    /// A traced stream's attempts, once its outcome has been read (`None` before, or untraced).
    pub fn take_trace(&mut self) -> Option<Vec<TracedAttempt>> {
        if !self.finished {
            return None;
        }
        let kept = self.trace.take()?;
        let mut kept = kept.lock().unwrap_or_else(|p| p.into_inner());
        Some(std::mem::take(&mut *kept))
    }

    /// The next partial value, then the outcome; `None` after the outcome.
    pub async fn next(&mut self) -> Option<Item<T, E>> {
        if self.finished {
            return None;
        }
        let item = self.rx.recv().await;
        match item {
            Some(Item::Partial(v)) => Some(Item::Partial(v)),
            Some(done) => {
                self.finished = true;
                Some(done)
            }
            // The task ended without an outcome: it panicked.
            None => {
                self.finished = true;
                Some(Item::Done(Err(Failure::Llm(LlmError::new(
                    ErrorKind::Internal,
                    "internal error (a bug in llmrail, please report it): the extraction task ended early",
                )))))
            }
        }
    }
}

impl<T, E> Drop for ExtractStream<T, E> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One streamed attempt, gathered into a response like a buffered call's; with `log`, the
/// requests its call sent are put there when it ends.
pub(super) async fn attempt<T, E>(
    client: &Client,
    req: ChatRequest,
    opts: CallOptions,
    name: &str,
    tx: &mpsc::Sender<Item<T, E>>,
    log: Option<&mut Vec<AttemptRecord>>,
) -> Result<ChatResponse> {
    let mut stream = client.stream_with(req, opts)?;
    let out = gather(client, &mut stream, name, tx).await;
    if let Some(log) = log {
        *log = stream.take_log().unwrap_or_default();
    }
    out
}

async fn gather<T, E>(
    client: &Client,
    stream: &mut ChatStream,
    name: &str,
    tx: &mpsc::Sender<Item<T, E>>,
) -> Result<ChatResponse> {
    let started = Instant::now();
    let mut text = String::new();
    let mut call: Option<(String, String)> = None;
    let mut args = String::new();
    let mut shown: Option<Value> = None;
    while let Some(event) = stream.next().await {
        let grown = match event? {
            StreamEvent::Text(t) if call.is_none() => {
                text.push_str(&t);
                partial(&text)
            }
            // The first tool call is the answer; a model that calls more is re-asked anyway.
            StreamEvent::ToolCallDelta {
                index: 0,
                id,
                name: called,
                arguments,
            } => {
                let c = call.get_or_insert_with(Default::default);
                if let Some(id) = id {
                    c.0 = id;
                }
                if let Some(n) = called {
                    c.1 = n;
                }
                args.push_str(&arguments);
                partial(&args)
            }
            StreamEvent::Done {
                finish_reason,
                usage,
                model,
                request_id,
                response_id: _,
            } => {
                let content = match call {
                    Some((id, called)) => {
                        let name = if called.is_empty() {
                            name.to_string()
                        } else {
                            called
                        };
                        vec![ContentBlock::ToolCall(ToolCall::from_text(id, name, args))]
                    }
                    None => vec![ContentBlock::Text { text: text.into() }],
                };
                return Ok(ChatResponse {
                    content,
                    finish_reason,
                    usage,
                    model,
                    provider: client.provider().to_string(),
                    request_id,
                    latency: started.elapsed(),
                    raw: bytes::Bytes::new(),
                });
            }
            _ => None,
        };
        if let Some(v) = grown.filter(|v| shown.as_ref() != Some(v)) {
            if tx.send(Item::Partial(v.clone())).await.is_err() {
                return Err(LlmError::new(ErrorKind::Cancelled, "the stream was closed"));
            }
            shown = Some(v);
        }
    }
    Err(LlmError::new(
        ErrorKind::Connection,
        "the stream ended before its last event",
    ))
}
