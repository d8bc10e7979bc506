//! [`ChatStream`], the streamed answer a caller reads events from, and the call (the pump) that
//! runs through the pipeline and feeds it. The last event, `Done`, arrives with the call's
//! report and the last burst's events in one message, so the report is known exactly when
//! `Done` is.
//!
//! The pump is no task of its own: whoever waits for the next event polls it (a sync `for` in
//! its `block_on`, an `async for` on the loop thread, a gateway's task). So the reads happen on
//! the consumer's thread, over its own direct connection where the transport can take that
//! path (`transport/direct.rs`), and no worker or cross-thread hand-off sits between the
//! socket and the consumer. Measured on a 50-chunk stream: see `pump`'s comment in `poll_next`.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::sync::mpsc;

use super::pipeline::Pipeline;
use super::target::{Events, Message};
use crate::cache::{CachePlan, Tracker};
use crate::error::Result;
use crate::model::{ChatRequest, StreamEvent};
use crate::resilience::{AttemptRecord, CallOptions, CallReport};
use crate::runtime;

/// The streamed call, sending its events to the stream's channel.
type Pump = Pin<Box<dyn Future<Output = Result<()>> + Send>>;

/// A streamed answer being received. Dropping it cancels the request.
pub struct ChatStream {
    /// Filled only while `pump` is polled, so read without registering a waker: the pump's own
    /// wakers (its socket, its timers) are the ones that matter.
    rx: mpsc::Receiver<Result<Message>>,
    /// The rest of the last message's events, handed out before the channel is read again.
    ready: VecDeque<StreamEvent>,
    /// `Done` and the report, once its message came, for after the events in `ready`.
    done: Option<(StreamEvent, CallReport)>,
    /// `Done` or the call's error was handed out: nothing follows, and the channel is not
    /// waited on for the task's end.
    over: bool,
    /// The call, until it has ended (it is sent the request at the first wait for an event).
    pump: Option<Pump>,
    /// The pump's own failure (a panic caught), for after the events it sent.
    failed: Option<crate::error::LlmError>,
    cache: Arc<Tracker>,
    /// Came with `Done`.
    report: Option<CallReport>,
}

/// Stream events buffered between the network task and a slow consumer.
const STREAM_BUFFER: usize = 64;

impl ChatStream {
    /// The streamed call, run by whoever waits for its events: they go to the channel as they
    /// come, and `Done` last, with the call's report.
    pub(super) fn start(
        pipe: Arc<Pipeline>,
        req: ChatRequest,
        plan: CachePlan,
        opts: CallOptions,
        cache: Arc<Tracker>,
    ) -> Result<Self> {
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        // Checked now, so that a process that cannot start its runtime fails at `stream()`.
        runtime::handle()?;
        let pump = runtime::run(async move {
            let tx = Events::new(tx);
            let out = pipe.stream(req, plan, opts, &tx).await;
            let tail = tx.take_tail();
            match out {
                (Ok(Some(done)), report) => {
                    let _ = tx.send(Message::Done(tail, done, report)).await;
                }
                (Ok(None), _) => {}
                (Err(e), report) => {
                    // Held for a `Done` that a later step of the pipeline turned into an error.
                    if !tail.is_empty() {
                        let _ = tx.send(Message::Events(tail)).await;
                    }
                    let _ = tx.send(Message::Failed(e, report)).await;
                }
            }
            Ok(())
        });
        Ok(ChatStream {
            rx,
            ready: VecDeque::new(),
            done: None,
            over: false,
            pump: Some(Box::pin(pump)),
            failed: None,
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
        std::future::poll_fn(|cx| self.poll_next(cx)).await
    }

    /// A buffered event, else the pump polled once and what it sent. Only the pump sends, and
    /// only while polled here, so the channel is read with `try_recv`: a waker registered there
    /// would be woken by the pump's own send, in the middle of this poll (on an event loop, a
    /// spurious wake-up of the loop per burst).
    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<StreamEvent>>> {
        if let Some(next) = self.try_next() {
            return Poll::Ready(next);
        }
        let Some(pump) = self.pump.as_mut() else {
            return Poll::Ready(self.ended());
        };
        if let Poll::Ready(out) = pump.as_mut().poll(cx) {
            // Dropped now: its sender with it, so the channel says when it is drained.
            self.pump = None;
            self.failed = out.err();
        }
        match self.try_next() {
            Some(next) => Poll::Ready(next),
            None if self.pump.is_none() => Poll::Ready(self.ended()),
            None => Poll::Pending,
        }
    }

    /// The channel has nothing more: the pump's own failure if it had one, else the end.
    fn ended(&mut self) -> Option<Result<StreamEvent>> {
        self.over = true;
        self.failed.take().map(Err)
    }

    /// What can be handed out without reading the channel: a buffered event, `Done` after the
    /// last of them, or the end once `Done` or an error was handed out.
    fn buffered(&mut self) -> Option<Option<Result<StreamEvent>>> {
        if let Some(event) = self.ready.pop_front() {
            return Some(Some(Ok(event)));
        }
        if let Some((done, report)) = self.done.take() {
            return Some(Some(Ok(self.finish(done, report))));
        }
        self.over.then_some(None)
    }

    /// `Done` handed out: the report and the cache totals are settled.
    fn finish(&mut self, done: StreamEvent, report: CallReport) -> StreamEvent {
        if let StreamEvent::Done { usage, .. } = &done {
            self.cache.record(usage);
        }
        self.report = Some(report);
        self.over = true;
        done
    }

    /// The next event if one is already buffered, without waiting: `None` means wait with
    /// [`ChatStream::next`]; `Some(None)` means the stream has ended.
    pub fn try_next(&mut self) -> Option<Option<Result<StreamEvent>>> {
        if let Some(next) = self.buffered() {
            return Some(next);
        }
        match self.rx.try_recv() {
            Ok(message) => Some(Some(self.event_of(message))),
            Err(mpsc::error::TryRecvError::Empty) => None,
            Err(mpsc::error::TryRecvError::Disconnected) => Some(self.ended()),
        }
    }

    /// The event a message carries; `Done` also settles the report and the cache totals, and
    /// a failure the report.
    fn event_of(&mut self, message: Result<Message>) -> Result<StreamEvent> {
        let message = match message {
            Ok(m) => m,
            Err(e) => {
                self.over = true;
                return Err(e);
            }
        };
        match message {
            Message::Events(events) => {
                self.ready.extend(events);
                // A message is never sent empty.
                self.ready.pop_front().ok_or_else(|| {
                    crate::error::LlmError::new(
                        crate::error::ErrorKind::Internal,
                        "a stream's task sent no events",
                    )
                })
            }
            Message::Done(tail, done, report) => {
                self.ready.extend(tail);
                match self.ready.pop_front() {
                    Some(first) => {
                        self.done = Some((done, report));
                        Ok(first)
                    }
                    None => Ok(self.finish(done, report)),
                }
            }
            Message::Failed(e, report) => {
                self.report = Some(report);
                self.over = true;
                Err(e)
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::error::{ErrorKind, LlmError};

    fn text(s: &str) -> StreamEvent {
        StreamEvent::Text(s.to_owned())
    }

    fn texts(events: &[Option<Result<StreamEvent>>]) -> Vec<String> {
        events
            .iter()
            .map(|e| match e {
                Some(Ok(StreamEvent::Text(t))) => t.clone(),
                Some(Ok(other)) => format!("{other:?}"),
                Some(Err(e)) => format!("error: {}", e.message),
                None => "end".to_owned(),
            })
            .collect()
    }

    /// A stream fed by hand: the messages are in the channel before the first read.
    fn fed(messages: Vec<Result<Message>>) -> ChatStream {
        fed_open(messages).0
    }

    /// As [`fed`], the channel kept open (the stream's task has not ended).
    fn fed_open(messages: Vec<Result<Message>>) -> (ChatStream, mpsc::Sender<Result<Message>>) {
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        for m in messages {
            tx.try_send(m).unwrap();
        }
        let stream = ChatStream {
            rx,
            ready: VecDeque::new(),
            done: None,
            over: false,
            pump: None,
            failed: None,
            cache: Arc::new(Tracker::default()),
            report: None,
        };
        (stream, tx)
    }

    #[tokio::test]
    async fn the_events_of_one_message_come_one_by_one_in_order_before_the_next_message() {
        let mut s = fed(vec![
            Ok(Message::Events(vec![text("a"), text("b"), text("c")])),
            Ok(Message::Events(vec![text("d")])),
        ]);
        let mut got = vec![s.next().await, s.try_next().unwrap()];
        while let Some(next) = s.next().await {
            got.push(Some(next));
        }
        got.push(s.try_next().unwrap());
        assert_eq!(texts(&got), ["a", "b", "c", "d", "end"]);
    }

    #[tokio::test]
    async fn the_events_that_come_with_done_come_before_it_and_the_end_needs_no_wait_for_the_task()
    {
        let done = StreamEvent::Done {
            finish_reason: None,
            usage: crate::model::Usage::default(),
            model: "m".to_owned(),
            request_id: None,
            response_id: None,
        };
        let report = CallReport::recording(false);
        let (mut s, tx) = fed_open(vec![
            Ok(Message::Events(vec![text("a")])),
            Ok(Message::Done(vec![text("b"), text("c")], done, report)),
        ]);
        let mut got = Vec::new();
        for _ in 0..5 {
            // `tx` is still open: the task has not ended, yet the stream has.
            got.push(s.try_next().unwrap());
            assert_eq!(s.report().is_some(), got.len() >= 4);
        }
        assert_eq!(
            texts(&got)[..3],
            ["a".to_owned(), "b".to_owned(), "c".to_owned()]
        );
        assert!(matches!(got[3], Some(Ok(StreamEvent::Done { .. }))));
        assert!(got[4].is_none());
        drop(tx);
    }

    #[tokio::test]
    async fn an_error_after_a_batch_comes_after_every_event_of_it() {
        let failed = LlmError::new(ErrorKind::Connection, "cut");
        let mut s = fed(vec![
            Ok(Message::Events(vec![text("a"), text("b")])),
            Err(failed),
        ]);
        let got = vec![
            s.try_next().unwrap(),
            s.try_next().unwrap(),
            s.try_next().unwrap(),
            s.next().await,
        ];
        assert_eq!(texts(&got), ["a", "b", "error: cut", "end"]);
    }
}
