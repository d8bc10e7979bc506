//! Accumulation: many callers each hand over one request and await its own answer, while the
//! requests travel together in provider batches. A batch is submitted when it holds
//! `max_items` requests or its oldest has waited `max_wait`; each batch is then a job of its
//! own ([`BatchJob`]), waited for on the runtime, and every caller gets its item's result.
//! [`Batcher::close`] submits what is queued and waits for every batch to end.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

use super::job::{BatchJob, SubmitOptions, WaitOptions};
use super::BatchRequest;
use crate::client::Client;
use crate::error::{ErrorKind, LlmError, Result};
use crate::model::{ChatRequest, ChatResponse};

/// How a batcher groups requests.
#[derive(Debug, Clone)]
pub struct BatcherOptions {
    pub max_items: usize,
    pub max_wait: Duration,
    pub submit: SubmitOptions,
    pub wait: WaitOptions,
}

/// One caller's request and where its answer goes.
struct Waiting {
    request: ChatRequest,
    answer: oneshot::Sender<ItemAnswer>,
}

/// An answer, the attempts it took, and whether it is priced as a batch request.
pub type ItemAnswer = Result<(ChatResponse, u32, bool)>;

pub struct Batcher {
    queue: Mutex<Option<mpsc::UnboundedSender<Waiting>>>,
    /// The loop that groups requests; it ends once the queue is closed and every batch ended.
    grouping: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Batcher {
    /// Start grouping requests for `client` (on the shared runtime).
    pub fn new(client: &Client, opts: BatcherOptions) -> Result<Arc<Self>> {
        if opts.max_items == 0 {
            return Err(LlmError::config("max_items must be at least 1"));
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let task = crate::runtime::handle()?.spawn(group(client.clone(), opts, rx));
        Ok(Arc::new(Self {
            queue: Mutex::new(Some(tx)),
            grouping: Mutex::new(Some(task)),
        }))
    }

    /// Queue one request and wait for its answer (and the attempts it took), which comes when
    /// the provider batch that carried it ends.
    pub async fn chat(&self, request: ChatRequest) -> ItemAnswer {
        let (answer, rx) = oneshot::channel();
        let sent = self
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(|q| q.send(Waiting { request, answer }).is_ok());
        if sent != Some(true) {
            return Err(LlmError::config("this batcher is closed"));
        }
        rx.await.unwrap_or_else(|_| {
            Err(LlmError::new(
                ErrorKind::Cancelled,
                "the batch carrying this request was dropped",
            ))
        })
    }

    /// Submit what is queued, then wait until every batch has ended. Later `chat` calls fail.
    pub async fn close(&self) -> Result<()> {
        drop(
            self.queue
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        let task = self
            .grouping
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(task) = task {
            task.await.map_err(|e| {
                LlmError::new(
                    ErrorKind::Internal,
                    format!("the batcher's task failed: {e}"),
                )
            })?;
        }
        Ok(())
    }
}

impl Drop for Batcher {
    fn drop(&mut self) {
        // Unclosed: nobody will collect the answers, so stop (running provider batches go on
        // at the provider, as a job dropped without waiting does).
        if let Some(task) = self
            .grouping
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            task.abort();
        }
    }
}

/// Group queued requests into batches until the queue closes, then let every batch finish.
async fn group(client: Client, opts: BatcherOptions, mut rx: mpsc::UnboundedReceiver<Waiting>) {
    let mut batches = JoinSet::new();
    while let Some(first) = rx.recv().await {
        let mut group = vec![first];
        let deadline = tokio::time::Instant::now() + opts.max_wait;
        while group.len() < opts.max_items {
            tokio::select! {
                next = rx.recv() => match next {
                    Some(w) => group.push(w),
                    None => break,
                },
                () = tokio::time::sleep_until(deadline) => break,
            }
        }
        batches.spawn(run(client.clone(), opts.clone(), group));
    }
    while batches.join_next().await.is_some() {}
}

/// One batch: submit, wait, hand each caller its result.
async fn run(client: Client, opts: BatcherOptions, group: Vec<Waiting>) {
    let (requests, answers): (Vec<_>, Vec<_>) = group
        .into_iter()
        .map(|w| {
            let r = BatchRequest {
                custom_id: None,
                request: w.request,
            };
            (r, w.answer)
        })
        .unzip();
    let outcome = async {
        let job = BatchJob::submit(&client, requests, opts.submit.clone()).await?;
        job.wait(opts.wait, |_| Ok(())).await?;
        job.results()
    }
    .await;
    match outcome {
        Ok(results) => {
            for (r, answer) in results.into_iter().zip(answers) {
                let _ = answer.send(r.result.map(|resp| (resp, r.attempts, r.batch_priced)));
            }
        }
        Err(e) => {
            for answer in answers {
                let _ = answer.send(Err(e.clone()));
            }
        }
    }
}
