//! Writes held back while an event loop's thread handles a batch of ready events, and let go
//! together at its end.
//!
//! When a loop thread's set is readable, the loop runs one callback that takes every ready
//! event and resumes each waiting call; each call's task then starts its next call, whose
//! request would go out there and then. At 256 calls in flight the requests so left one by one,
//! ~45 µs apart, and a server between two of them had nothing to do: it slept and was woken
//! for each (the mock server's threads switched 0.4-0.7 times per llmrail call against 0.10
//! per reference-client call, and spent 37 against 24 µs of CPU per call; bench/run.py's
//! throughput rows, load ~4). Held to the end of the batch, the requests reach the server
//! together, so it is woken once for them all, as a client that sends in bursts wakes it.
//!
//! The transport holds the bytes ([`is_holding`] tells it to) and hands this thread a
//! [`Release`] that sends them ([`hold`]); [`holding`] runs the batch and the releases after it.
//! A sync wait on the thread ([`super::block_on`]) holds nothing: its own request must go out
//! for it to end ([`Suspend`]).

use std::cell::{Cell, RefCell};
use std::sync::Arc;

/// What the transport held: sends its bytes.
pub trait Release: Send + Sync {
    fn release(&self);
}

thread_local! {
    static HOLDING: Cell<bool> = const { Cell::new(false) };
    static HELD: RefCell<Vec<Arc<dyn Release>>> = const { RefCell::new(Vec::new()) };
}

/// Whether writes made now on this thread are to be held (see the module comment).
pub fn is_holding() -> bool {
    HOLDING.with(Cell::get)
}

/// `what` is released at the end of the current [`holding`] (call only while [`is_holding`]).
pub fn hold(what: Arc<dyn Release>) {
    HELD.with(|h| h.borrow_mut().push(what));
}

/// Run `batch` with writes held, then release them all, in the order they were held (also when
/// `batch` panics: nothing held is left behind).
pub fn holding<R>(batch: impl FnOnce() -> R) -> R {
    if HOLDING.with(|h| h.replace(true)) {
        return batch(); // nested: the outer one releases
    }
    struct End;
    impl Drop for End {
        fn drop(&mut self) {
            HOLDING.with(|h| h.set(false));
            release_held();
        }
    }
    let _end = End;
    batch()
}

/// Send now what the current batch holds, in order; later writes of the batch are held again.
/// For a call that waits for its answer inside the batch, at its end (nothing after it in the
/// batch to wait for): its own request is among what is held.
pub fn release_held() {
    loop {
        let mut held = HELD.with(|h| std::mem::take(&mut *h.borrow_mut()));
        if held.is_empty() {
            break;
        }
        for h in held.drain(..) {
            h.release();
        }
        // The list's room is kept for the next batch.
        HELD.with(|h| {
            if let Ok(mut h) = h.try_borrow_mut() {
                if h.is_empty() {
                    *h = held;
                }
            }
        });
    }
}

/// Holds nothing while it lives (a sync wait inside a batch); what was held before stays held.
pub(super) struct Suspend(bool);

impl Suspend {
    pub(super) fn new() -> Self {
        Suspend(HOLDING.with(|h| h.replace(false)))
    }
}

impl Drop for Suspend {
    fn drop(&mut self) {
        let was = self.0;
        HOLDING.with(|h| h.set(was));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    struct Log(Arc<Mutex<Vec<&'static str>>>, &'static str);
    impl Release for Log {
        fn release(&self) {
            self.0.lock().unwrap().push(self.1);
        }
    }

    #[test]
    fn what_a_batch_holds_is_released_at_its_end_in_order() {
        let log = Arc::new(Mutex::new(Vec::new()));
        assert!(!is_holding());
        holding(|| {
            assert!(is_holding());
            hold(Arc::new(Log(log.clone(), "a")));
            holding(|| hold(Arc::new(Log(log.clone(), "b"))));
            assert!(log.lock().unwrap().is_empty(), "nothing before the end");
        });
        assert_eq!(*log.lock().unwrap(), ["a", "b"]);
        assert!(!is_holding());
    }

    #[test]
    fn what_a_batch_holds_can_go_before_its_end_and_later_writes_are_held_again() {
        let log = Arc::new(Mutex::new(Vec::new()));
        holding(|| {
            hold(Arc::new(Log(log.clone(), "a")));
            release_held();
            assert_eq!(*log.lock().unwrap(), ["a"]);
            assert!(is_holding());
            hold(Arc::new(Log(log.clone(), "b")));
            assert_eq!(*log.lock().unwrap(), ["a"], "b waits for the end");
        });
        assert_eq!(*log.lock().unwrap(), ["a", "b"]);
    }

    #[test]
    fn a_sync_wait_inside_a_batch_holds_nothing() {
        holding(|| {
            {
                let _s = Suspend::new();
                assert!(!is_holding());
            }
            assert!(is_holding());
        });
    }
}
