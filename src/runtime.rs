//! The one tokio runtime and the one pooled HTTP client of the process.
//!
//! Every I/O future of the core runs here, whoever awaits it (asyncio, a sync call, a Rust test),
//! because pooled connections belong to the runtime that opened them.
//!
//! Fork safety: tokio's worker threads do not survive `fork()`. The runtime remembers the pid that
//! built it; a child process that touches the core gets a fresh runtime (and, through
//! `transport::shared`, a fresh connection pool). The parent's runtime is leaked in the child on
//! purpose: dropping it would wait for threads that do not exist there.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicPtr, AtomicU32, Ordering};
use std::sync::Once;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::runtime::{Builder, Handle, Runtime};
use tokio::task::JoinHandle;

use crate::error::{ErrorKind, LlmError};

struct Shared {
    pid: u32,
    runtime: Runtime,
    http: reqwest::Client,
    /// Pools for clients with their own connect timeout (reqwest sets it per pool); few exist.
    by_connect_timeout: std::sync::Mutex<Vec<(Duration, reqwest::Client)>>,
}

static SHARED: AtomicPtr<Shared> = AtomicPtr::new(std::ptr::null_mut());

/// This process's id, without a `getpid` system call each time (glibc no longer caches it, and
/// every call asks several times): cached, and forgotten in a forked child.
pub fn pid() -> u32 {
    static PID: AtomicU32 = AtomicU32::new(0);
    static AT_FORK: Once = Once::new();
    extern "C" fn forget_in_child() {
        PID.store(0, Ordering::Relaxed);
    }
    let cached = PID.load(Ordering::Relaxed);
    if cached != 0 {
        return cached;
    }
    // SAFETY: registers a handler that only stores to an atomic, which is fine in a forked
    // child; registered before the first value is cached, so no child can inherit a stale one.
    AT_FORK.call_once(|| unsafe {
        libc::pthread_atfork(None, None, Some(forget_in_child));
    });
    let pid = std::process::id();
    PID.store(pid, Ordering::Relaxed);
    pid
}

fn current() -> Result<&'static Shared, LlmError> {
    let pid = pid();
    let ptr = SHARED.load(Ordering::Acquire);
    // SAFETY: a non-null pointer was produced by `Box::leak` below and is never freed.
    if let Some(shared) = unsafe { ptr.as_ref() } {
        if shared.pid == pid {
            return Ok(shared);
        }
    }
    let runtime = Builder::new_multi_thread()
        .enable_all()
        .thread_name("llmrail-worker")
        .on_thread_start(|| IS_WORKER.set(true))
        .build()
        .map_err(|e| {
            LlmError::new(
                ErrorKind::Internal,
                format!("cannot start the tokio runtime: {e}"),
            )
        })?;
    let http = crate::transport::build_http_client(crate::transport::CONNECT_TIMEOUT)?;
    let fresh: &'static mut Shared = Box::leak(Box::new(Shared {
        pid,
        runtime,
        http,
        by_connect_timeout: std::sync::Mutex::new(Vec::new()),
    }));
    match SHARED.compare_exchange(ptr, fresh, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => Ok(fresh),
        Err(winner) => {
            // Another thread built one first; ours was never used. Shutting it down in the
            // background is safe because none of its threads has any work.
            // SAFETY: `fresh` came from Box::leak just above and nobody else has seen it.
            let ours = unsafe { Box::from_raw(fresh as *mut Shared) };
            ours.runtime.shutdown_background();
            // SAFETY: as above, leaked pointers are never freed.
            unsafe { winner.as_ref() }
                .ok_or_else(|| LlmError::new(ErrorKind::Internal, "runtime pointer vanished"))
        }
    }
}

/// A handle to the shared runtime, built on first use (and again after a fork).
pub fn handle() -> Result<Handle, LlmError> {
    Ok(current()?.runtime.handle().clone())
}

/// The pooled HTTP client of this process for a connect timeout (only `transport` sends with
/// it): the shared one for the default timeout, else one pool per distinct timeout.
pub(crate) fn http_client(connect_timeout: Duration) -> Result<reqwest::Client, LlmError> {
    let shared = current()?;
    if connect_timeout == crate::transport::CONNECT_TIMEOUT {
        return Ok(shared.http.clone());
    }
    let mut pools = shared
        .by_connect_timeout
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some((_, c)) = pools.iter().find(|(d, _)| *d == connect_timeout) {
        return Ok(c.clone());
    }
    let client = crate::transport::build_http_client(connect_timeout)?;
    pools.push((connect_timeout, client.clone()));
    Ok(client)
}

/// Run `fut` on the shared runtime and wait for it from any executor (or none).
///
/// Where it runs is chosen to save thread hops:
/// - inside [`block_on`] (a sync call) or on a worker, it is simply awaited there;
/// - otherwise (an event loop's thread) it is polled once in place: work that finishes without
///   the network (a replayed answer, an argument error) then costs no task and no hop. Work that
///   needs the network steps off at [`leave_caller_thread`] and is spawned, so sockets are
///   driven on workers and never wake the caller's loop, which has its own work to do. The first
///   poll uses a no-op waker; the spawned task polls again at once and registers its own.
///
/// Dropping the returned future aborts the task, so cancellation from the caller reaches the
/// socket: the HTTP request is dropped, not left running.
///
/// The work is boxed at once (not when first polled) so that the caller's future holds a
/// pointer, not the work's whole state: a chat call's state is about 13 KB, and every future
/// that wraps it would otherwise copy it each time it is moved.
pub fn run<F, T>(fut: F) -> impl Future<Output = Result<T, LlmError>> + Send
where
    F: Future<Output = Result<T, LlmError>> + Send + 'static,
    T: Send + 'static,
{
    run_boxed(Box::pin(fut))
}

async fn run_boxed<T: Send + 'static>(
    mut fut: Pin<Box<dyn Future<Output = Result<T, LlmError>> + Send>>,
) -> Result<T, LlmError> {
    if IN_BLOCK_ON.get() || IS_WORKER.get() {
        return fut.await;
    }
    let handle = handle()?;
    let first = {
        let _entered = handle.enter();
        FIRST_POLL.set(true);
        let _reset = Reset(&FIRST_POLL);
        // As a spawned task would, a panic here becomes an internal error, not an unwind into
        // the caller (the future is dropped unpolled after it).
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            fut.as_mut().poll(&mut Context::from_waker(Waker::noop()))
        }))
    };
    match first {
        Ok(Poll::Ready(out)) => return out,
        Ok(Poll::Pending) => {}
        Err(payload) => return Err(internal(payload)),
    }
    let task = AbortOnDrop(handle.spawn(fut));
    task.await
}

thread_local! {
    /// Set while this thread is inside [`block_on`].
    static IN_BLOCK_ON: Cell<bool> = const { Cell::new(false) };
    /// Set on the runtime's worker threads.
    static IS_WORKER: Cell<bool> = const { Cell::new(false) };
    /// Set during [`run`]'s first poll on the caller's thread.
    static FIRST_POLL: Cell<bool> = const { Cell::new(false) };
}

/// Clears a thread-local flag when dropped (also when unwinding).
struct Reset(&'static std::thread::LocalKey<Cell<bool>>);

impl Drop for Reset {
    fn drop(&mut self) {
        self.0.set(false);
    }
}

/// Block the current (non-runtime) thread until `fut` is done.
pub fn block_on<F: Future>(fut: F) -> Result<F::Output, LlmError> {
    let runtime = &current()?.runtime;
    IN_BLOCK_ON.set(true);
    let _reset = Reset(&IN_BLOCK_ON);
    Ok(runtime.block_on(fut))
}

/// Called where work is about to wait on the network: during [`run`]'s first poll on a
/// caller's thread this yields once, so the work is spawned and goes on on a worker.
pub async fn leave_caller_thread() {
    if FIRST_POLL.get() {
        let mut yielded = false;
        std::future::poll_fn(|cx| {
            if yielded {
                Poll::Ready(())
            } else {
                yielded = true;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        })
        .await;
    }
}

/// A spawned task that is aborted when its handle is dropped.
pub struct AbortOnDrop<T>(pub JoinHandle<Result<T, LlmError>>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T> Future for AbortOnDrop<T> {
    type Output = Result<T, LlmError>;
    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0)
            .poll(cx)
            .map(|joined| match joined {
                Ok(result) => result,
                Err(e) if e.is_panic() => Err(internal(e.into_panic())),
                Err(_) => Err(LlmError::new(
                    ErrorKind::Cancelled,
                    "the call was cancelled",
                )),
            })
    }
}

/// A caught panic as the error the caller sees.
pub(crate) fn internal(payload: Box<dyn std::any::Any + Send>) -> LlmError {
    let text = if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic".to_string()
    };
    LlmError::new(
        ErrorKind::Internal,
        format!("internal error (a bug in llmrail, please report it): {text}"),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    fn thread_name() -> Option<String> {
        std::thread::current().name().map(str::to_string)
    }

    /// Awaited from an executor other than ours, as asyncio awaits it.
    fn elsewhere<F: Future>(fut: F) -> F::Output {
        Builder::new_current_thread().build().unwrap().block_on(fut)
    }

    #[test]
    fn ready_work_runs_on_the_callers_thread() {
        let caller = thread_name();
        let ran_on = elsewhere(run(async { Ok(thread_name()) })).unwrap();
        assert_eq!(ran_on, caller);
    }

    #[test]
    fn the_callers_future_holds_the_work_by_pointer() {
        let big = [7u8; 16 * 1024];
        let work = async move {
            tokio::task::yield_now().await;
            Ok(big.iter().map(|&b| u32::from(b)).sum::<u32>())
        };
        assert!(std::mem::size_of_val(&work) > 16 * 1024);
        let handle = run(work);
        assert!(
            std::mem::size_of_val(&handle) < 256,
            "{} bytes",
            std::mem::size_of_val(&handle)
        );
        assert_eq!(elsewhere(handle).unwrap(), 7 * 16 * 1024);
    }

    #[test]
    fn waiting_work_goes_on_on_a_worker() {
        let after_wait = elsewhere(run(async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            Ok(thread_name())
        }))
        .unwrap();
        assert_eq!(after_wait.as_deref(), Some("llmrail-worker"));
    }

    #[test]
    fn network_work_leaves_the_callers_thread() {
        let caller = thread_name();
        let (before, after) = elsewhere(run(async {
            let before = thread_name();
            leave_caller_thread().await;
            Ok((before, thread_name()))
        }))
        .unwrap();
        assert_eq!(before, caller);
        assert_eq!(after.as_deref(), Some("llmrail-worker"));
    }

    #[test]
    fn a_blocking_caller_runs_the_work_itself() {
        let caller = thread_name();
        let ran_on = block_on(run(async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            Ok(thread_name())
        }))
        .unwrap()
        .unwrap();
        assert_eq!(ran_on, caller);
    }

    #[test]
    fn a_panic_in_the_first_poll_is_an_internal_error() {
        let out: Result<(), _> = elsewhere(run(async { panic!("boom") }));
        let err = out.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Internal);
        assert!(err.message.contains("boom"), "{}", err.message);
    }
}
