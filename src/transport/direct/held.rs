//! A direct socket's writes held to the end of its loop thread's batch of ready events
//! (`runtime/local/held.rs` says why), and sent then.
//!
//! The bytes wait here, in order; the socket's next write or read (outside a batch) sends what
//! is left first, so nothing overtakes them. Sent at the end of the batch with one `send`;
//! should the socket take only part (a send buffer full: rare, held writes are small), the rest
//! waits for the call that wrote them, which is woken to send it as an ordinary write would.

use std::io::{self, Write};
use std::mem::ManuallyDrop;
use std::os::fd::{FromRawFd, RawFd};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::Waker;

use crate::runtime::local::Release;

/// Writes larger than this go out at once: a big request is no batch, and a held one must fit a
/// socket's send buffer to leave in one `send`.
pub(super) const MAX_HELD: usize = 16 * 1024;

pub(super) struct Held(Mutex<State>);

pub(super) struct State {
    fd: RawFd,
    pub(super) bytes: Vec<u8>,
    /// Listed for release at the end of the current batch.
    listed: bool,
    /// Whom to wake when a release could not send everything (or failed).
    pub(super) waker: Option<Waker>,
    /// A release's failure, for the socket's next read or write.
    pub(super) failed: Option<io::Error>,
    /// The socket is closing: its descriptor may be another's by the time a release runs.
    closed: bool,
}

impl Held {
    pub(super) fn new(fd: RawFd) -> Self {
        Held(Mutex::new(State {
            fd,
            bytes: Vec::new(),
            listed: false,
            waker: None,
            failed: None,
            closed: false,
        }))
    }

    pub(super) fn state(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Before the socket closes (under the lock a release holds while it sends).
    pub(super) fn close(&self) {
        let mut s = self.state();
        s.closed = true;
        s.bytes = Vec::new();
    }
}

impl State {
    /// Held by the current batch, to go at its end.
    pub(super) fn listed(&self) -> bool {
        self.listed
    }

    /// Keep `bufs` to send later; true if this socket must be listed for release.
    pub(super) fn keep<B: std::ops::Deref<Target = [u8]>>(
        &mut self,
        bufs: &[B],
        waker: &Waker,
    ) -> bool {
        for b in bufs {
            self.bytes.extend_from_slice(b);
        }
        if !self.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
            self.waker = Some(waker.clone());
        }
        !std::mem::replace(&mut self.listed, true)
    }
}

impl Release for Held {
    fn release(&self) {
        let mut s = self.state();
        s.listed = false;
        if s.closed || s.bytes.is_empty() {
            return;
        }
        // SAFETY: the descriptor is open: the socket marks this state closed, under this lock,
        // before it closes it. `ManuallyDrop`: borrowed, never closed here.
        let sock = ManuallyDrop::new(unsafe { std::net::TcpStream::from_raw_fd(s.fd) });
        let mut sent = 0;
        let failed = loop {
            match (&*sock).write(&s.bytes[sent..]) {
                Ok(n) => {
                    sent += n;
                    if sent == s.bytes.len() || n == 0 {
                        break None;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break None,
                Err(e) => break Some(e),
            }
        };
        s.bytes.drain(..sent);
        if failed.is_some() {
            s.bytes.clear();
            s.failed = failed;
        }
        if !s.bytes.is_empty() || s.failed.is_some() {
            let waker = s.waker.take();
            drop(s);
            if let Some(w) = waker {
                w.wake();
            }
        }
    }
}
