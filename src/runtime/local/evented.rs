//! The same epoll set, watched by an event loop: an asyncio loop's thread polls its calls itself
//! (`py/bridge`), and its direct connections live in this thread's set as a sync caller's do.
//!
//! The loop watches the set as one file descriptor ([`attach`]: an epoll fd is readable while it
//! holds ready events) and, when it is, runs [`ready`]: a poll with no wait that hands back the
//! wakers of the sockets and deadlines that are due. So an answer wakes the loop thread through
//! the loop's own `epoll_wait`, with no tokio worker and no second thread in between. The
//! loop's wait knows nothing of our deadlines, so while a loop watches, a timer fd in the set
//! stands for the earliest one. Other threads wake the loop through the set's eventfd
//! ([`Nudge`]), the one descriptor the loop needs to watch.
//!
//! While the loop thread polls a call ([`enter`]), the thread counts as [`active`](super::active)
//! and the transport's direct path is open to it.

use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::task::Waker;
use std::time::{Duration, Instant};

use mio::Token;

use super::{with, Signal};
use crate::error::LlmError;

/// The timer fd's token (a socket's is its slot index + 1, the eventfd's 0).
pub(super) const TIMER: Token = Token(usize::MAX);

/// What a watched set adds: the timer for its deadlines, and whether a wake-up for the loop was
/// taken by a sync wait on the loop's thread (a sync call made inside a coroutine).
pub(super) struct LoopSide {
    #[cfg(target_os = "linux")]
    timer: Timer,
    pub(super) missed_nudge: bool,
}

impl LoopSide {
    /// Make sure the timer goes off by `at`.
    pub(super) fn arm(&mut self, at: Instant) {
        #[cfg(target_os = "linux")]
        self.timer.arm(at);
        #[cfg(not(target_os = "linux"))]
        let _ = at;
    }

    pub(super) fn timer_fired(&mut self) {
        #[cfg(target_os = "linux")]
        self.timer.fired();
    }

    /// After the due deadlines were taken: the timer stands for the earliest that is left.
    pub(super) fn rearm(&mut self, first: Option<Instant>) {
        #[cfg(target_os = "linux")]
        if self.timer.armed.is_none() {
            if let Some(at) = first {
                self.timer.arm(at);
            }
        }
        #[cfg(not(target_os = "linux"))]
        let _ = first;
    }
}

/// Wakes the loop that watches a set from any thread: one write to the set's eventfd.
#[derive(Clone)]
pub struct Nudge(Arc<Signal>);

impl Nudge {
    pub fn nudge(&self) {
        let _ = self.0.eventfd.wake();
    }
}

/// This thread's set as an event loop watches it.
pub struct Attached {
    /// The epoll fd to watch for reading.
    pub fd: RawFd,
    pub nudge: Nudge,
    /// The process that made it: a forked child's set is another.
    pub pid: u32,
}

/// This thread's set, made ready to be watched by an event loop.
pub fn attach() -> Result<Attached, LlmError> {
    with(|r| {
        if r.watched.is_none() {
            r.watched = Some(LoopSide {
                #[cfg(target_os = "linux")]
                timer: Timer::new(r.poll.registry())
                    .map_err(|e| super::io_error("cannot create a timer fd", e))?,
                missed_nudge: false,
            });
        }
        Ok(Attached {
            fd: r.poll.as_raw_fd(),
            nudge: Nudge(r.signal.clone()),
            pid: r.pid,
        })
    })?
}

/// On the loop thread, when the set is readable: the wakers of what is ready, without waiting.
pub fn ready() -> Result<Vec<Waker>, LlmError> {
    with(|r| {
        let mut wake = Vec::new();
        match r.poll.poll(&mut r.events, Some(Duration::ZERO)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => return Ok(wake),
            Err(e) => return Err(super::io_error("epoll_wait failed", e)),
        }
        r.collect(&mut wake);
        Ok(wake)
    })?
}

/// Sleep until `fd` (the epoll set of the event loop that watches this thread's set, so it
/// holds this one too) is readable, at most `timeout` (rounded up to whole milliseconds, as the
/// loop's own wait rounds); whether it is. A signal ends the wait early, with `false`, so the
/// caller goes back to Python, which delivers it.
pub fn wait_readable(fd: RawFd, timeout: Duration) -> bool {
    let ms = timeout.as_micros().div_ceil(1000);
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd; `fd` is only read.
    unsafe { libc::poll(&mut p, 1, i32::try_from(ms).unwrap_or(i32::MAX)) == 1 }
}

/// Marks the thread [`active`](super::active) while a loop's call is polled; the previous state
/// comes back on drop (a call polled inside a sync wait leaves it active).
pub struct Enter(bool);

/// Call only on a thread whose set a running loop watches.
pub fn enter() -> Option<Enter> {
    with(|r| Enter(std::mem::replace(&mut r.active, true))).ok()
}

impl Drop for Enter {
    fn drop(&mut self) {
        let was = self.0;
        let _ = with(|r| r.active = was);
    }
}

/// At the end of a sync wait: a wake-up for the watching loop that the wait took is written
/// again, or the loop would never see it.
pub(super) struct PassOn;

impl Drop for PassOn {
    fn drop(&mut self) {
        let _ = with(|r| {
            if let Some(side) = r.watched.as_mut() {
                if std::mem::take(&mut side.missed_nudge) {
                    let _ = r.signal.eventfd.wake();
                }
            }
        });
    }
}

/// A timer fd in the set, armed for the earliest deadline. Armed again only when a deadline
/// comes before the armed one, or after it fires: calls whose deadlines come in order (the
/// usual case, one timeout for all) cost no system call.
#[cfg(target_os = "linux")]
struct Timer {
    fd: std::os::fd::OwnedFd,
    armed: Option<Instant>,
}

#[cfg(target_os = "linux")]
impl Timer {
    fn new(registry: &mio::Registry) -> std::io::Result<Self> {
        use std::os::fd::FromRawFd;
        // SAFETY: a plain system call; the fd it returns is owned below.
        let raw = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if raw < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh fd nobody else owns.
        let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(raw) };
        registry.register(
            &mut mio::unix::SourceFd(&fd.as_raw_fd()),
            TIMER,
            mio::Interest::READABLE,
        )?;
        Ok(Timer { fd, armed: None })
    }

    fn arm(&mut self, at: Instant) {
        if self.armed.is_some_and(|armed| armed <= at) {
            return;
        }
        // Relative to now (Instant is CLOCK_MONOTONIC too, but opaque); never zero, which
        // would disarm it.
        let wait = at
            .saturating_duration_since(Instant::now())
            .max(Duration::from_nanos(1));
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: libc::time_t::try_from(wait.as_secs()).unwrap_or(libc::time_t::MAX),
                tv_nsec: libc::c_long::from(i32::try_from(wait.subsec_nanos()).unwrap_or(0)),
            },
        };
        // SAFETY: `spec` is a valid itimerspec and the fd is ours.
        let set =
            unsafe { libc::timerfd_settime(self.fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) };
        if set == 0 {
            self.armed = Some(at);
        }
    }

    fn fired(&mut self) {
        let mut count = [0u8; 8];
        // SAFETY: reads at most 8 bytes into `count`; the fd is non-blocking.
        let _ = unsafe { libc::read(self.fd.as_raw_fd(), count.as_mut_ptr().cast(), 8) };
        self.armed = None;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::future::Future;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::task::{Context, Poll, Wake};

    use super::super::Deadline;
    use super::*;

    struct Flag(AtomicBool);
    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    /// Whether the set is readable within `ms`, as the event loop's own wait sees it.
    fn readable(fd: RawFd, ms: i32) -> bool {
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(&mut p, 1, ms) == 1 }
    }

    #[test]
    fn a_deadline_makes_the_watched_set_readable_on_time() {
        let set = attach().unwrap();
        let _active = enter();
        assert!(super::super::active());
        let flag = Arc::new(Flag(AtomicBool::new(false)));
        let waker = Waker::from(flag.clone());
        let start = Instant::now();
        let mut deadline = std::pin::pin!(Deadline::new(start + Duration::from_millis(30)));
        let mut cx = Context::from_waker(&waker);
        assert!(deadline.as_mut().poll(&mut cx).is_pending());
        assert!(readable(set.fd, 2000));
        assert!(start.elapsed() >= Duration::from_millis(30));
        for w in ready().unwrap() {
            w.wake();
        }
        assert!(flag.0.load(Ordering::SeqCst));
        assert_eq!(deadline.as_mut().poll(&mut cx), Poll::Ready(()));
        assert!(!readable(set.fd, 0), "the timer's event was taken");
    }

    #[test]
    fn a_nudge_from_another_thread_makes_the_set_readable_once() {
        let set = attach().unwrap();
        assert!(!readable(set.fd, 0));
        let nudge = set.nudge.clone();
        std::thread::spawn(move || nudge.nudge()).join().unwrap();
        assert!(readable(set.fd, 2000));
        assert!(ready().unwrap().is_empty());
        assert!(!readable(set.fd, 0));
    }
}
