//! [`ChatStream`], the streamed answer a caller reads events from, and the task that runs the
//! call through the pipeline and feeds it. The last event, `Done`, arrives with the call's
//! report in the same message, so the report is known exactly when `Done` is.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::pipeline::Pipeline;
use super::target::Message;
use crate::cache::{CachePlan, Tracker};
use crate::error::Result;
use crate::model::{ChatRequest, StreamEvent};
use crate::resilience::{AttemptRecord, CallOptions, CallReport};
use crate::runtime::{self, AbortOnDrop};

/// A streamed answer being received. Dropping it cancels the request.
pub struct ChatStream {
    rx: mpsc::Receiver<Result<Message>>,
    _task: AbortOnDrop<()>,
    cache: Arc<Tracker>,
    /// Came with `Done`.
    report: Option<CallReport>,
}

/// Stream events buffered between the network task and a slow consumer.
const STREAM_BUFFER: usize = 64;

impl ChatStream {
    /// Run the streamed call on a task of its own: events go to the channel as they come, and
    /// `Done` last, with the call's report.
    pub(super) fn start(
        pipe: Arc<Pipeline>,
        req: ChatRequest,
        plan: CachePlan,
        opts: CallOptions,
        cache: Arc<Tracker>,
    ) -> Result<Self> {
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        let task = runtime::handle()?.spawn(async move {
            match pipe.stream(req, plan, opts, &tx).await {
                (Ok(Some(done)), report) => {
                    let _ = tx.send(Ok(Message::Done(done, report))).await;
                }
                (Ok(None), _) => {}
                (Err(e), report) => {
                    let _ = tx.send(Ok(Message::Failed(e, report))).await;
                }
            }
            Ok(())
        });
        Ok(ChatStream {
            rx,
            _task: AbortOnDrop(task),
            cache,
            report: None,
        })
    }

    /// How the call went (attempts, waits, which fallback answered), once `Done` or the
    /// call's error has arrived.
    pub fn report(&self) -> Option<&CallReport> {
        self.report.as_ref()
    }

    /// The attempts' log (kept when the call asked for it), once the call is over.
    pub fn take_log(&mut self) -> Option<Vec<AttemptRecord>> {
        self.report.as_mut().and_then(|r| r.log.take())
    }

    /// The next event; `None` after `Done` or after an error has been returned.
    pub async fn next(&mut self) -> Option<Result<StreamEvent>> {
        let message = self.rx.recv().await?;
        Some(self.event_of(message))
    }

    /// The next event if one is already buffered, without waiting: `None` means wait with
    /// [`ChatStream::next`]; `Some(None)` means the stream has ended.
    pub fn try_next(&mut self) -> Option<Option<Result<StreamEvent>>> {
        match self.rx.try_recv() {
            Ok(message) => Some(Some(self.event_of(message))),
            Err(mpsc::error::TryRecvError::Empty) => None,
            Err(mpsc::error::TryRecvError::Disconnected) => Some(None),
        }
    }

    /// The event a message carries; `Done` also settles the report and the cache totals, and
    /// a failure the report.
    fn event_of(&mut self, message: Result<Message>) -> Result<StreamEvent> {
        match message? {
            Message::Event(event) => Ok(event),
            Message::Done(done, report) => {
                if let StreamEvent::Done { usage, .. } = &done {
                    self.cache.record(usage);
                }
                self.report = Some(report);
                Ok(done)
            }
            Message::Failed(e, report) => {
                self.report = Some(report);
                Err(e)
            }
        }
    }
}
