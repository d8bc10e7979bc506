//! The sync caller's own wait: a thread that blocks on a call polls it itself and sleeps in an
//! epoll set of its own, where the sockets of its direct connections (`transport/direct.rs`)
//! and its deadlines wake it, with no tokio worker in between.
//!
//! Why: on tokio's `block_on` a pooled connection is driven by a worker, so every sync call
//! crossed threads twice (the request handed to the worker, the answer handed back) and woke the
//! worker two or three times; on a busy machine each wake-up is a wait for a core. Here the
//! caller writes the request, sleeps in `epoll_wait` on its own socket, and is the one thread the
//! answer wakes.
//!
//! Everything else still works as under tokio's `block_on`: the work runs in the shared
//! runtime's context (its timers, its sockets, tasks it spawns), and a wake-up from any other
//! thread (a tokio timer, a spawned task's end) reaches the caller through an eventfd in the
//! same epoll set. What this thread owns is only what it alone polls: the sockets registered
//! here ([`Registration`]) and the deadlines ([`Deadline`]); both are usable only while the
//! thread is inside [`block_on`] ([`active`]), and `transport` takes its direct path only then.
//! An asyncio loop's thread uses the same set, watched by its loop ([`evented`]): there the
//! thread is active while it polls a call.
//!
//! Fork safety: the epoll set of a forking thread is shared with its parent, so a forked child
//! gets a fresh one and leaks the parent's (as the runtime and the pools do).

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use mio::{Events, Interest, Token};

use crate::error::{ErrorKind, LlmError};

#[cfg(unix)]
mod evented;
#[cfg(unix)]
pub use evented::{attach, enter, ready, wait_readable, Nudge};
mod held;
pub use held::{hold, holding, is_holding, release_held, Release};

/// The eventfd's token; a socket's token is its slot index + 1.
const WAKE: Token = Token(0);

/// What this thread's wait owns.
struct Reactor {
    /// From [`REACTORS`], for [`home`].
    id: u64,
    pid: u32,
    poll: mio::Poll,
    events: Events,
    signal: Arc<Signal>,
    /// Per registered socket, the tasks waiting to read and to write.
    slots: Vec<Option<Slot>>,
    deadlines: Deadlines,
    /// True while this thread is inside [`block_on`], or polls a call for an event loop that
    /// watches this epoll set ([`evented`]).
    active: bool,
    /// Set once an event loop watches this epoll set.
    #[cfg(unix)]
    watched: Option<evented::LoopSide>,
}

/// A socket's waiters, and what the epoll set last said of it.
///
/// Why the flags: hyper polls its connection's reads every time the call is polled (after the
/// request is queued, after it is written, for the head, for each body frame, once more to put
/// the connection back), and each poll without data would be a `recv` answering `EAGAIN`: eight
/// such system calls per sync call, measured with `strace -c`. A socket that said `WouldBlock`
/// is not asked again until the epoll set reports it ready (tokio's readiness works the same).
struct Slot {
    read: Option<Waker>,
    write: Option<Waker>,
    readable: bool,
    writable: bool,
}

impl Slot {
    /// A new socket may be ready already (an edge-triggered set reports only changes).
    fn new() -> Self {
        Slot {
            read: None,
            write: None,
            readable: true,
            writable: true,
        }
    }
}

/// The caller's waker: a flag, and the eventfd only when the caller sleeps.
struct Signal {
    woken: AtomicBool,
    parked: AtomicBool,
    eventfd: mio::Waker,
}

impl Wake for Signal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::SeqCst);
        // Only a sleeping caller needs the system call; one that is polling sees the flag.
        if self.parked.load(Ordering::SeqCst) {
            let _ = self.eventfd.wake();
        }
    }
}

thread_local! {
    static REACTOR: RefCell<Option<Reactor>> = const { RefCell::new(None) };
}

fn io_error(what: &str, e: io::Error) -> LlmError {
    LlmError::new(ErrorKind::Internal, format!("{what}: {e}"))
}

/// Runs `f` on this thread's reactor, built on first use (and again in a forked child).
///
/// Fails, rather than panicking, while the thread's locals are being destroyed (a pooled
/// socket closed at thread exit may outlive the reactor).
fn with<R>(f: impl FnOnce(&mut Reactor) -> R) -> Result<R, LlmError> {
    let gone = |_| LlmError::new(ErrorKind::Internal, "the thread is ending");
    REACTOR
        .try_with(|cell| {
            let mut slot = cell.borrow_mut();
            let pid = super::pid();
            if slot.as_ref().is_some_and(|r| r.pid != pid) {
                // The parent's epoll set: leaked, as deregistering would change the parent's.
                std::mem::forget(slot.take());
            }
            if slot.is_none() {
                let poll =
                    mio::Poll::new().map_err(|e| io_error("cannot create an epoll set", e))?;
                let eventfd = mio::Waker::new(poll.registry(), WAKE)
                    .map_err(|e| io_error("cannot create an eventfd", e))?;
                *slot = Some(Reactor {
                    id: REACTORS.fetch_add(1, Ordering::Relaxed),
                    pid,
                    poll,
                    events: Events::with_capacity(64),
                    signal: Arc::new(Signal {
                        woken: AtomicBool::new(false),
                        parked: AtomicBool::new(false),
                        eventfd,
                    }),
                    slots: Vec::new(),
                    deadlines: Deadlines::default(),
                    active: false,
                    #[cfg(unix)]
                    watched: None,
                });
            }
            match slot.as_mut() {
                Some(r) => Ok(f(r)),
                None => Err(LlmError::new(ErrorKind::Internal, "no reactor")),
            }
        })
        .map_err(gone)?
}

/// Numbers the reactors: a thread's address for its locals may be a dead thread's.
static REACTORS: AtomicU64 = AtomicU64::new(1);

/// This thread's reactor, as a number (0: none): a registration is served only by the reactor
/// that made it. Not the address of the thread's locals, which a new thread may reuse after
/// one that ended: a stream's body outlives the thread that opened it when it is handed on.
fn home() -> u64 {
    REACTOR
        .try_with(|cell| {
            cell.try_borrow()
                .ok()
                .and_then(|r| r.as_ref().map(|r| r.id))
        })
        .ok()
        .flatten()
        .unwrap_or(0)
}

/// Whether this thread is inside [`block_on`] (or polls a call for a loop that watches its set,
/// [`evented`]), so that sockets and deadlines made here are polled by it.
pub fn active() -> bool {
    REACTOR.with(|cell| {
        cell.try_borrow().is_ok_and(|r| {
            r.as_ref()
                .is_some_and(|r| r.active && r.pid == super::pid())
        })
    })
}

/// Poll `fut` on this thread until it is done, sleeping in this thread's epoll set between
/// polls; every `every`, `check` runs (a sync call's signal check) and an error from it ends
/// the wait, dropping `fut`.
pub fn block_on<F: Future, E>(
    fut: F,
    every: Option<Duration>,
    mut check: impl FnMut() -> Result<(), E>,
) -> Result<Result<F::Output, E>, LlmError> {
    let (signal, was_active) =
        with(|r| (r.signal.clone(), std::mem::replace(&mut r.active, true)))?;
    // A nested call (a sync call made from inside another's work) leaves the outer one active.
    struct Leave(bool);
    impl Drop for Leave {
        fn drop(&mut self) {
            let was = self.0;
            let _ = with(|r| r.active = was);
        }
    }
    let _leave = Leave(was_active);
    // Its own request must go out for the wait to end.
    let _unheld = held::Suspend::new();
    // A wake-up meant for an event loop that watches this set, taken by this wait, is passed on.
    #[cfg(unix)]
    let _pass_on = evented::PassOn;
    let waker = Waker::from(signal.clone());
    let mut cx = Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    let mut next_check = every.map(|d| Instant::now() + d);
    loop {
        signal.woken.store(false, Ordering::SeqCst);
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return Ok(Ok(out));
        }
        signal.parked.store(true, Ordering::SeqCst);
        if !signal.woken.load(Ordering::SeqCst) {
            let woken = with(|r| r.wait(next_check))?;
            signal.parked.store(false, Ordering::SeqCst);
            // Woken outside the reactor's borrow: a waker may be anyone's.
            for w in woken? {
                w.wake();
            }
        } else {
            signal.parked.store(false, Ordering::SeqCst);
        }
        if let (Some(at), Some(d)) = (next_check, every) {
            let now = Instant::now();
            if now >= at {
                if let Err(e) = check() {
                    return Ok(Err(e));
                }
                next_check = Some(now + d);
            }
        }
    }
}

impl Reactor {
    /// Sleep until an event, a deadline or `until`; then say whom the events concern.
    fn wait(&mut self, until: Option<Instant>) -> Result<Vec<Waker>, LlmError> {
        let first = self.deadlines.first();
        let wake_at = match (first, until) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let timeout = wake_at.map(|at| {
            // Rounded up to whole milliseconds by epoll: never wake before the deadline.
            at.saturating_duration_since(Instant::now())
        });
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(Vec::new()),
            Err(e) => return Err(io_error("epoll_wait failed", e)),
        }
        let mut wake = Vec::new();
        if self.collect(&mut wake) {
            #[cfg(unix)]
            if let Some(side) = self.watched.as_mut() {
                side.missed_nudge = true;
            }
        }
        Ok(wake)
    }

    /// The wakers of the events just polled and of the deadlines that have passed; true if the
    /// eventfd was among the events.
    fn collect(&mut self, wake: &mut Vec<Waker>) -> bool {
        let mut nudged = false;
        for ev in self.events.iter() {
            if ev.token() == WAKE {
                nudged = true;
                continue;
            }
            #[cfg(unix)]
            if ev.token() == evented::TIMER {
                if let Some(side) = self.watched.as_mut() {
                    side.timer_fired();
                }
                continue;
            }
            let Some(i) = ev.token().0.checked_sub(1) else {
                continue;
            };
            if let Some(Some(slot)) = self.slots.get_mut(i) {
                if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                    slot.readable = true;
                    wake.extend(slot.read.take());
                }
                if ev.is_writable() || ev.is_write_closed() || ev.is_error() {
                    slot.writable = true;
                    wake.extend(slot.write.take());
                }
            }
        }
        self.deadlines.take_due(Instant::now(), wake);
        #[cfg(unix)]
        if let Some(side) = self.watched.as_mut() {
            side.rearm(self.deadlines.first());
        }
        nudged
    }
}

/// A socket registered in this thread's epoll set (edge-triggered, read and write).
#[derive(Clone, Copy)]
pub struct Registration {
    token: usize,
    pid: u32,
    home: u64,
}

impl Registration {
    /// Register `source`; fails outside [`block_on`].
    pub fn new(source: &mut impl mio::event::Source) -> Result<Self, LlmError> {
        with(|r| {
            if !r.active {
                return Err(LlmError::new(
                    ErrorKind::Internal,
                    "a direct socket outside a blocking call",
                ));
            }
            r.claim_orphans();
            let i = match r.slots.iter().position(Option::is_none) {
                Some(i) => i,
                None => {
                    r.slots.push(None);
                    r.slots.len() - 1
                }
            };
            r.poll
                .registry()
                .register(
                    source,
                    Token(i + 1),
                    Interest::READABLE | Interest::WRITABLE,
                )
                .map_err(|e| io_error("cannot watch a socket", e))?;
            r.slots[i] = Some(Slot::new());
            Ok(Registration {
                token: i,
                pid: r.pid,
                home: r.id,
            })
        })?
    }

    /// Whether this thread's epoll set is the one that watches the socket: a streamed answer's
    /// body may be read from another thread than the one that opened it (see
    /// `transport/direct.rs`), which must then wait for it some other way.
    pub fn is_home(&self) -> bool {
        home() == self.home && super::pid() == self.pid
    }

    /// Whether the socket may be ready to read (`write`: to write): false from its last
    /// `WouldBlock` ([`Registration::park`]) until the epoll set reports it ready again. True
    /// when the registration is not this thread's (the operation then says what is wrong).
    pub fn ready(&self, write: bool) -> bool {
        let here = home() == self.home;
        if !here {
            return true;
        }
        with(|r| match r.slots.get(self.token) {
            Some(Some(slot)) if r.pid == self.pid => {
                if write {
                    slot.writable
                } else {
                    slot.readable
                }
            }
            _ => true,
        })
        .unwrap_or(true)
    }

    /// Mark the socket readable, so that its next read asks the kernel: for an idle pooled
    /// connection about to be reused, which the server may have closed while no one waited in
    /// the epoll set to hear of it. A copy of the registration does (it names the socket's slot).
    pub fn recheck_read(&self) {
        let _ = with(|r| {
            if r.pid == self.pid {
                if let Some(Some(slot)) = r.slots.get_mut(self.token) {
                    slot.readable = true;
                }
            }
        });
    }

    /// Wake `cx` at the socket's next readiness (`write`: to write, else to read). Call after
    /// the socket said `WouldBlock`: the registration is edge-triggered.
    pub fn park(&self, cx: &Context<'_>, write: bool) -> io::Result<()> {
        let here = home() == self.home;
        let done = with(|r| {
            if r.pid != self.pid || !here {
                return false;
            }
            match r.slots.get_mut(self.token) {
                Some(Some(slot)) => {
                    let (w, ready) = if write {
                        (&mut slot.write, &mut slot.writable)
                    } else {
                        (&mut slot.read, &mut slot.readable)
                    };
                    *w = Some(cx.waker().clone());
                    *ready = false;
                    true
                }
                _ => false,
            }
        });
        match done {
            Ok(true) => Ok(()),
            _ => Err(io::Error::other(
                "a direct socket polled off the thread that opened it",
            )),
        }
    }

    /// Forget the socket; `source` is about to be closed.
    pub fn deregister(&self, source: &mut impl mio::event::Source) {
        if home() != self.home {
            // Another thread's set: closing the socket (and its copies) takes it out of the
            // set, and that thread frees the slot when it next registers one.
            orphan(*self);
            return;
        }
        let _ = with(|r| {
            if r.pid != self.pid {
                return;
            }
            let _ = r.poll.registry().deregister(source);
            if let Some(slot) = r.slots.get_mut(self.token) {
                *slot = None;
            }
        });
    }
}

/// Slots whose socket was closed on another thread than its home's (a stream's body handed
/// on), for the home thread to free: without this, each such stream kept a slot (and its
/// wakers) in its opening thread's set for that thread's life. (pid, home, slot index).
static ORPHANS: std::sync::Mutex<Vec<(u32, u64, usize)>> = std::sync::Mutex::new(Vec::new());
/// How many [`ORPHANS`] there are: a registration looks at the list only when there are some.
static ORPHAN_COUNT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn orphan(reg: Registration) {
    if let Ok(mut list) = ORPHANS.lock() {
        list.push((reg.pid, reg.home, reg.token));
        ORPHAN_COUNT.store(list.len(), Ordering::Release);
    }
}

impl Reactor {
    /// Free this reactor's orphaned slots (and forget those of a parent process, after a fork).
    fn claim_orphans(&mut self) {
        if ORPHAN_COUNT.load(Ordering::Acquire) == 0 {
            return;
        }
        let Ok(mut list) = ORPHANS.lock() else {
            return;
        };
        let (id, pid) = (self.id, self.pid);
        list.retain(|&(p, home, token)| {
            if p != pid {
                return false;
            }
            if home != id {
                return true;
            }
            if let Some(slot) = self.slots.get_mut(token) {
                *slot = None;
            }
            false
        });
        ORPHAN_COUNT.store(list.len(), Ordering::Release);
    }
}

impl Drop for Reactor {
    /// A thread that ends takes its orphans with it.
    fn drop(&mut self) {
        self.slots.clear();
        self.claim_orphans();
    }
}

/// How many sockets this thread's set holds slots for, orphans freed first (for tests).
#[cfg(test)]
pub(crate) fn slots_in_use() -> usize {
    with(|r| {
        r.claim_orphans();
        r.slots.iter().filter(|s| s.is_some()).count()
    })
    .unwrap_or(0)
}

/// A deadline this thread's wait honours; ready once `at` has passed.
pub struct Deadline {
    at: Instant,
    key: Option<DeadlineKey>,
}

impl Deadline {
    pub fn new(at: Instant) -> Self {
        Deadline { at, key: None }
    }
}

impl Future for Deadline {
    type Output = ();
    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.at {
            return Poll::Ready(());
        }
        let (at, key) = (self.at, self.key);
        let registered = with(|r| match key.and_then(|k| r.deadlines.get_mut(k)) {
            Some(waker) => {
                if !waker.will_wake(cx.waker()) {
                    *waker = cx.waker().clone();
                }
                key
            }
            None => {
                let key = r.deadlines.add(at, cx.waker().clone());
                // An event loop's wait has no timeout of ours: a timer fd wakes it.
                #[cfg(unix)]
                if let Some(side) = r.watched.as_mut() {
                    side.arm(at);
                }
                Some(key)
            }
        });
        self.key = registered.ok().flatten();
        Poll::Pending
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            let _ = with(|r| r.deadlines.remove(key));
        }
    }
}

/// A deadline's place in [`Deadlines`]: its slot, and its id there (a slot is reused).
#[derive(Clone, Copy)]
struct DeadlineKey {
    slot: usize,
    id: u64,
}

/// The pending deadlines of a thread, each in a slot of its own: an event loop's thread has a
/// deadline per call in flight, and finding one by a scan (at every poll, and to drop it) cost
/// ~4k instructions per call at 256 in flight (callgrind), growing with the count.
#[derive(Default)]
struct Deadlines {
    /// (id, when, who to wake); `None`: free, its index in `free`.
    slots: Vec<Option<(u64, Instant, Waker)>>,
    free: Vec<usize>,
    next_id: u64,
}

impl Deadlines {
    fn add(&mut self, at: Instant, waker: Waker) -> DeadlineKey {
        self.next_id += 1;
        let id = self.next_id;
        let entry = Some((id, at, waker));
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot] = entry;
                slot
            }
            None => {
                self.slots.push(entry);
                self.slots.len() - 1
            }
        };
        DeadlineKey { slot, id }
    }

    /// The waker of `key`'s deadline, if it is still pending.
    fn get_mut(&mut self, key: DeadlineKey) -> Option<&mut Waker> {
        match self.slots.get_mut(key.slot) {
            Some(Some((id, _, waker))) if *id == key.id => Some(waker),
            _ => None,
        }
    }

    fn remove(&mut self, key: DeadlineKey) {
        if self.get_mut(key).is_some() {
            self.slots[key.slot] = None;
            self.free.push(key.slot);
        }
    }

    fn first(&self) -> Option<Instant> {
        self.slots.iter().flatten().map(|d| d.1).min()
    }

    /// Take the deadlines that have passed by `now`, their wakers into `wake`.
    fn take_due(&mut self, now: Instant, wake: &mut Vec<Waker>) {
        for (i, slot) in self.slots.iter_mut().enumerate() {
            if slot.as_ref().is_some_and(|d| d.1 <= now) {
                if let Some((_, _, waker)) = slot.take() {
                    wake.push(waker);
                    self.free.push(i);
                }
            }
        }
    }

    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.slots.iter().all(Option::is_none)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    fn plain<F: Future>(fut: F) -> F::Output {
        block_on(fut, None, || Ok::<(), ()>(())).unwrap().unwrap()
    }

    #[test]
    fn a_deadline_wakes_the_wait_on_time() {
        let start = Instant::now();
        plain(Deadline::new(start + Duration::from_millis(30)));
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(30), "{took:?}");
        assert!(took < Duration::from_millis(500), "{took:?}");
        assert!(with(|r| r.deadlines.is_empty()).unwrap());
    }

    #[test]
    fn a_dropped_deadline_leaves_nothing_behind() {
        let far = Instant::now() + Duration::from_secs(600);
        plain(async {
            let mut d = std::pin::pin!(Deadline::new(far));
            assert!(futures_util::poll!(d.as_mut()).is_pending());
        });
        assert!(with(|r| r.deadlines.is_empty()).unwrap());
    }

    #[test]
    fn work_woken_from_another_thread_finishes_and_the_check_runs_while_waiting() {
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(60));
            tx.send(7).unwrap();
        });
        let mut checks = 0;
        let got = block_on(rx, Some(Duration::from_millis(10)), || {
            checks += 1;
            Ok::<(), ()>(())
        })
        .unwrap()
        .unwrap()
        .unwrap();
        assert_eq!(got, 7);
        assert!(checks >= 2, "{checks}");
        assert!(!active());
    }

    #[test]
    fn a_failing_check_ends_the_wait() {
        let start = Instant::now();
        let out = block_on(
            std::future::pending::<()>(),
            Some(Duration::from_millis(20)),
            || Err("interrupted"),
        )
        .unwrap();
        assert_eq!(out, Err("interrupted"));
        assert!(start.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn a_socket_wakes_the_thread_that_waits_on_it() {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            std::thread::sleep(Duration::from_millis(30));
            s.write_all(b"hello").unwrap();
        });
        let got = plain(async move {
            let std = std::net::TcpStream::connect(addr).unwrap();
            std.set_nonblocking(true).unwrap();
            let mut sock = mio::net::TcpStream::from_std(std);
            let reg = Registration::new(&mut sock).unwrap();
            let mut buf = [0u8; 5];
            let n = std::future::poll_fn(|cx| match sock.read(&mut buf) {
                Ok(n) => Poll::Ready(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    reg.park(cx, false).unwrap();
                    Poll::Pending
                }
                Err(e) => panic!("{e}"),
            })
            .await;
            reg.deregister(&mut sock);
            buf[..n].to_vec()
        });
        server.join().unwrap();
        assert_eq!(got, b"hello");
    }
}
