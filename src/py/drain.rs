//! A drain: records the core makes on a hot path (a gateway request's access record and
//! trace, a queue worker's processed item) handed to one thread of their own, which passes them
//! on to Python in batches, so the hot path never takes the GIL.
//!
//! The hot path only tries a push into a bounded channel: a full channel drops the record and
//! counts it (a stalled logging handler or exporter must not slow serving), and the thread says
//! how many were dropped, at most once per [`REPORT_EVERY`]. [`Drain::flush`] waits until every
//! record pushed before it has been handled (a graceful stop, so the last requests' lines are
//! not lost). The thread ends when the last `Drain` is dropped, or when its handler says the
//! interpreter is exiting.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often, at most, the thread reports records dropped since its last report.
const REPORT_EVERY: Duration = Duration::from_secs(10);

enum Msg<T> {
    Record(T),
    /// Answered once every record before it has been handled.
    Flush(mpsc::Sender<()>),
}

/// The pushing end; see the module comment.
pub(crate) struct Drain<T> {
    tx: SyncSender<Msg<T>>,
    dropped: Arc<AtomicU64>,
}

impl<T: Send + 'static> Drain<T> {
    /// Start the thread `name`: it hands `handle` up to `batch` records at a time, from a
    /// backlog of at most `backlog`; `handle` returns `false` to end the thread (the interpreter
    /// is exiting). Dropped records are reported with `what` naming them. `None` (with a
    /// warning) when no thread can be started.
    pub(crate) fn spawn(
        name: &str,
        what: &'static str,
        backlog: usize,
        batch: usize,
        handle: impl FnMut(Vec<T>) -> bool + Send + 'static,
    ) -> Option<Self> {
        let (tx, rx) = mpsc::sync_channel::<Msg<T>>(backlog);
        let dropped = Arc::new(AtomicU64::new(0));
        let counted = dropped.clone();
        let spawned = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || run(&rx, batch.max(1), handle, &counted, what));
        match spawned {
            Ok(_) => Some(Self { tx, dropped }),
            Err(e) => {
                tracing::warn!(target: "llmrail", "no {name} thread, {what} are not passed on: {e}");
                None
            }
        }
    }

    /// Hand `record` to the thread, or drop it (counted) if the backlog is full; never waits.
    pub(crate) fn push(&self, record: T) {
        if let Err(TrySendError::Full(_)) = self.tx.try_send(Msg::Record(record)) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Records dropped so far because the backlog was full.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Wait (at most `wait`) until every record pushed before this call has been handled;
    /// `false` if the wait ran out. Call it without the GIL: the thread needs it.
    pub(crate) fn flush(&self, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        let (ack, done) = mpsc::channel();
        let mut msg = Msg::Flush(ack);
        loop {
            match self.tx.try_send(msg) {
                Ok(()) => break,
                // The thread is gone (the interpreter is exiting): nothing more will be handled.
                Err(TrySendError::Disconnected(_)) => return true,
                Err(TrySendError::Full(m)) if Instant::now() < deadline => {
                    msg = m;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(TrySendError::Full(_)) => return false,
            }
        }
        match done.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(()) | Err(RecvTimeoutError::Disconnected) => true,
            Err(RecvTimeoutError::Timeout) => false,
        }
    }
}

fn run<T>(
    rx: &mpsc::Receiver<Msg<T>>,
    batch: usize,
    mut handle: impl FnMut(Vec<T>) -> bool,
    dropped: &AtomicU64,
    what: &'static str,
) {
    let mut reported = 0u64;
    let mut last_report: Option<Instant> = None;
    loop {
        let first = match rx.recv_timeout(REPORT_EVERY) {
            Ok(m) => Some(m),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let mut records = Vec::new();
        let mut acks = Vec::new();
        let mut next = first;
        while let Some(m) = next.take() {
            match m {
                Msg::Record(r) => records.push(r),
                // The records before the marker are all in this batch: answered after it.
                Msg::Flush(ack) => {
                    acks.push(ack);
                    break;
                }
            }
            if records.len() < batch {
                next = rx.try_recv().ok();
            }
        }
        if !records.is_empty() && !handle(records) {
            return;
        }
        let total = dropped.load(Ordering::Relaxed);
        let due = last_report.is_none_or(|t| t.elapsed() >= REPORT_EVERY);
        if total > reported && (due || !acks.is_empty()) {
            tracing::warn!(target: "llmrail", dropped = total - reported, total,
                "{} {what} dropped: the backlog was full (the handler could not keep up)",
                total - reported);
            reported = total;
            last_report = Some(Instant::now());
        }
        for ack in acks {
            let _ = ack.send(());
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn records_reach_the_handler_in_order_and_in_batches_of_at_most_the_batch_size() {
        let seen = Arc::new(Mutex::new(Vec::<Vec<u32>>::new()));
        let s = seen.clone();
        let gate = Arc::new(Mutex::new(()));
        let held = gate.lock().unwrap();
        let g = gate.clone();
        let drain = Drain::spawn("t-drain", "records", 64, 4, move |b: Vec<u32>| {
            let _wait = g.lock().unwrap();
            s.lock().unwrap().push(b);
            true
        })
        .unwrap();
        for n in 0..10 {
            drain.push(n);
        }
        drop(held);
        assert!(drain.flush(Duration::from_secs(5)));
        let batches = seen.lock().unwrap().clone();
        assert!(
            batches.iter().all(|b| !b.is_empty() && b.len() <= 4),
            "{batches:?}"
        );
        assert_eq!(batches.concat(), (0..10).collect::<Vec<_>>());
        assert_eq!(drain.dropped(), 0);
    }

    #[test]
    fn a_full_backlog_drops_and_counts_and_flush_waits_for_what_was_kept() {
        let seen = Arc::new(AtomicU64::new(0));
        let s = seen.clone();
        let gate = Arc::new(Mutex::new(()));
        let held = gate.lock().unwrap();
        let g = gate.clone();
        let drain = Drain::spawn("t-drain-full", "records", 3, 100, move |b: Vec<u32>| {
            let _wait = g.lock().unwrap();
            s.fetch_add(b.len() as u64, Ordering::SeqCst);
            true
        })
        .unwrap();
        // The thread holds at most one record (waiting on the gate) and the backlog three.
        for n in 0..10 {
            drain.push(n);
        }
        assert!(drain.dropped() >= 6, "{}", drain.dropped());
        drop(held);
        assert!(drain.flush(Duration::from_secs(5)));
        assert_eq!(seen.load(Ordering::SeqCst) + drain.dropped(), 10);
    }

    #[test]
    fn flush_gives_up_at_its_deadline_while_the_handler_is_stuck() {
        let gate = Arc::new(Mutex::new(()));
        let held = gate.lock().unwrap();
        let g = gate.clone();
        let drain = Drain::spawn("t-drain-stuck", "records", 8, 8, move |_b: Vec<u32>| {
            let _wait = g.lock().unwrap();
            true
        })
        .unwrap();
        drain.push(1);
        assert!(!drain.flush(Duration::from_millis(50)));
        drop(held);
        assert!(drain.flush(Duration::from_secs(5)));
    }

    #[test]
    fn a_handler_that_says_stop_ends_the_thread_and_flush_returns_at_once() {
        let drain = Drain::spawn("t-drain-stop", "records", 8, 8, |_b: Vec<u32>| false).unwrap();
        drain.push(1);
        let started = Instant::now();
        while drain.tx.try_send(Msg::Record(2)).is_ok()
            && started.elapsed() < Duration::from_secs(5)
        {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(drain.flush(Duration::from_secs(5)));
    }
}
