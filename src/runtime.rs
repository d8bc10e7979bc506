//! The one tokio runtime of the process.
//!
//! Every I/O future of the core runs here, whoever awaits it (asyncio, a sync call, a Rust test),
//! because pooled connections belong to the runtime that opened them.
//!
//! Ground floor: the runtime knows nothing of HTTP or of the mock server; `transport` (which
//! owns the pooled HTTP client) and the mock server point down at it, never the reverse.
//!
//! Fork safety: tokio's worker threads do not survive `fork()`. The runtime remembers the pid that
//! built it; a child process that touches the core gets a fresh runtime. The transport's
//! connection pools follow the same rule with the same [`pid`]. The parent's runtime is leaked in
//! the child on purpose: dropping it would wait for threads that do not exist there.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicPtr, AtomicU32, Ordering};
use std::task::{Context, Poll};

use tokio::runtime::{Builder, Handle, Runtime};
use tokio::task::JoinHandle;

use crate::error::{ErrorKind, LlmError};

pub mod local;

struct Shared {
    pid: u32,
    runtime: Runtime,
}

static SHARED: AtomicPtr<Shared> = AtomicPtr::new(std::ptr::null_mut());

/// This process's id, without a `getpid` system call each time (glibc no longer caches it, and
/// every call asks several times): cached, and forgotten in a forked child.
pub fn pid() -> u32 {
    static PID: AtomicU32 = AtomicU32::new(0);
    let cached = PID.load(Ordering::Relaxed);
    if cached != 0 {
        return cached;
    }
    // Only unix forks: elsewhere a process keeps its id, and the cached one stays true.
    #[cfg(unix)]
    {
        static AT_FORK: std::sync::Once = std::sync::Once::new();
        extern "C" fn forget_in_child() {
            PID.store(0, Ordering::Relaxed);
        }
        // SAFETY: registers a handler that only stores to an atomic, which is fine in a forked
        // child; registered before the first value is cached, so no child can inherit a stale one.
        AT_FORK.call_once(|| unsafe {
            libc::pthread_atfork(None, None, Some(forget_in_child));
        });
    }
    let pid = std::process::id();
    PID.store(pid, Ordering::Relaxed);
    pid
}

/// Environment variable: how many tokio worker threads drive the process's sockets and timers.
pub const WORKER_THREADS_VAR: &str = "LLMRAIL_WORKER_THREADS";

/// One by default. Calls and streams are polled by their callers (see [`run`]), so a worker only
/// moves reqwest's bytes. With two, tokio wakes the second, idle one to look for work whenever
/// a task arrives from outside the runtime: one more thread wake-up per call. In an A/B on 2
/// cores, one worker made a sequential call ~5% faster and a 50-chunk stream ~20% cheaper in CPU,
/// for ~11% less throughput at 256 calls in flight. Raise it when one process runs thousands of
/// concurrent streams.
fn worker_threads(setting: Option<String>) -> Result<usize, LlmError> {
    let Some(text) = setting else { return Ok(1) };
    match text.trim().parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(LlmError::config(format!(
            "{WORKER_THREADS_VAR} must be a whole number of threads, 1 or more; got {text:?}"
        ))),
    }
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
        .worker_threads(worker_threads(std::env::var(WORKER_THREADS_VAR).ok())?)
        .enable_all()
        .thread_name("llmrail-worker")
        .build()
        .map_err(|e| {
            LlmError::new(
                ErrorKind::Internal,
                format!("cannot start the tokio runtime: {e}"),
            )
        })?;
    let fresh: &'static mut Shared = Box::leak(Box::new(Shared { pid, runtime }));
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

/// Run `fut` in the shared runtime's context and wait for it from any executor (or none).
///
/// The work is polled where it is awaited: on an event loop's thread (with the GIL released,
/// see `py::coroutine`), on a sync caller's thread inside [`block_on`], or on a worker. Only
/// the runtime's own tasks (hyper's connection tasks, timers) live on the worker.
/// Spawning the call as a task was slower in an A/B of one build with one worker (sequential
/// p50 264 vs 249 µs; at 256 in flight 99 vs 96 µs per call): the call's state then changes
/// threads twice, and the task's completion is one more handoff.
///
/// Each poll enters the shared runtime, so sockets and timers the work opens belong to it,
/// whoever polls (pooled connections must outlive any one caller's executor). A panic becomes
/// an internal error, as in a task, and the work is not polled again. Dropping the returned
/// future drops the work: cancellation from the caller reaches the socket.
///
/// The work is boxed at once so that the caller's future holds a pointer, not the work's whole
/// state: a chat call's state is about 5 KB (a test in `client/tests.rs` keeps it small), and
/// every future that wraps it would otherwise copy it each time it is moved.
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
    let handle = handle()?;
    // Ready (a value or a caught panic) ends this async fn, so `fut` is never polled again.
    std::future::poll_fn(move |cx| {
        let _entered = handle.enter();
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fut.as_mut().poll(cx)))
            .unwrap_or_else(|payload| Poll::Ready(Err(internal(payload))))
    })
    .await
}

/// Block the current (non-runtime) thread until `fut` is done.
pub fn block_on<F: Future>(fut: F) -> Result<F::Output, LlmError> {
    block_on_checked(fut, None, || Ok::<(), LlmError>(()))?
}

/// Block the current (non-runtime) thread until `fut` is done, running `check` every `every`
/// while it waits; an error from `check` ends the wait and drops `fut`.
///
/// The thread polls `fut` itself, in the shared runtime's context, and sleeps in an epoll set
/// of its own (`local.rs`): the sockets of the transport's direct connections wake it there
/// without a worker, and anything else (timers, tasks) through an eventfd in the same set.
pub fn block_on_checked<F: Future, E>(
    fut: F,
    every: Option<std::time::Duration>,
    check: impl FnMut() -> Result<(), E>,
) -> Result<Result<F::Output, E>, LlmError> {
    let _entered = current()?.runtime.enter();
    local::block_on(fut, every, check)
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
    use std::time::Duration;

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

    /// An executor with no timer and no I/O driver of its own: work that sleeps or opens a
    /// socket there works only if it uses the shared runtime's.
    fn bare<F: Future>(fut: F) -> F::Output {
        Builder::new_current_thread().build().unwrap().block_on(fut)
    }

    #[test]
    fn waiting_work_stays_on_the_callers_thread() {
        let caller = thread_name();
        let after_wait = bare(run(async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            Ok(thread_name())
        }))
        .unwrap();
        assert_eq!(after_wait, caller);
    }

    #[test]
    fn tasks_the_work_spawns_run_on_the_shared_runtime() {
        let spawned_on = bare(run(async {
            tokio::spawn(async { thread_name() })
                .await
                .map_err(|e| LlmError::new(ErrorKind::Internal, e.to_string()))
        }))
        .unwrap();
        assert_eq!(spawned_on.as_deref(), Some("llmrail-worker"));
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
    fn a_panic_is_an_internal_error() {
        let out: Result<(), _> = elsewhere(run(async { panic!("boom") }));
        let err = out.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Internal);
        assert!(err.message.contains("boom"), "{}", err.message);

        let out: Result<(), _> = elsewhere(run(async {
            tokio::time::sleep(Duration::from_millis(1)).await;
            panic!("after a wait")
        }));
        assert!(out.unwrap_err().message.contains("after a wait"));
    }

    #[test]
    fn the_worker_count_is_checked() {
        assert_eq!(worker_threads(None).unwrap(), 1);
        assert_eq!(worker_threads(Some(" 4 ".into())).unwrap(), 4);
        for bad in ["0", "-1", "two", ""] {
            let err = worker_threads(Some(bad.into())).unwrap_err();
            assert!(err.message.contains(WORKER_THREADS_VAR), "{}", err.message);
            assert!(err.message.contains("1 or more"), "{}", err.message);
        }
    }
}
