//! llmrail: the LLM call layer. Plain-Rust core modules, plus the `_core` Python module.
//!
//! Only `src/py/` (and this file's module declaration) knows about Python; everything else is
//! ordinary Rust, tested by `cargo test` without an interpreter.

pub mod aws;
pub mod batch;
pub mod cache;
pub mod catalog;
pub mod client;
pub mod duration;
pub mod error;
pub mod extract;
pub mod forward;
pub mod gateway;
pub mod images;
pub mod listen;
pub mod mock;
pub mod model;
pub mod prompts;
pub mod providers;
pub mod queue;
pub mod replay;
pub mod resilience;
pub mod runtime;
pub mod telemetry;
pub mod transport;
pub mod wire;

#[cfg(feature = "python")]
mod py;

pub use client::{Client, ClientConfig};
pub use error::{ErrorKind, LlmError};
pub use model::{ChatRequest, ChatResponse, Message, StreamEvent};

/// See Cargo.toml: the core's own allocations only; Python objects use Python's allocator.
#[global_allocator]
static ALLOCATOR: alloc::CoreAlloc = alloc::CoreAlloc;

/// mimalloc without transparent huge pages for its arenas.
///
/// By default mimalloc asks the kernel for huge pages (`madvise(MADV_HUGEPAGE)`) over each 1 GiB
/// arena it reserves, so the first touch of any 4 KiB of it makes the kernel clear a whole 2 MiB
/// page: in a 10,000-item batch job (about 100 MB allocated and freed) that clearing was two
/// thirds of the process's CPU, and the peak memory grew with it (measured, bench/batch.py).
/// The option is set before the first allocation reserves an arena (mimalloc reads it at each
/// reservation); it is not set through its environment variable, which mimalloc would take as
/// the whole process's THP setting (Python's and every other library's memory too).
mod alloc {
    use std::alloc::{GlobalAlloc, Layout};
    use std::sync::atomic::{AtomicBool, Ordering};

    use mimalloc::MiMalloc;

    /// `mi_option_allow_thp` in mimalloc v3's `mi_option_t` (libmimalloc-sys 0.1.49, its
    /// `v3` sources); `tests::core_memory_is_not_backed_by_huge_pages` checks the effect.
    const MI_OPTION_ALLOW_THP: std::ffi::c_int = 44;

    extern "C" {
        fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
        fn mi_malloc(size: usize) -> *mut std::ffi::c_void;
        fn mi_free(p: *mut std::ffi::c_void);
    }

    static CONFIGURED: AtomicBool = AtomicBool::new(false);

    #[inline]
    fn configure() {
        if !CONFIGURED.load(Ordering::Relaxed) {
            CONFIGURED.store(true, Ordering::Relaxed);
            // SAFETY: sets one option word; mimalloc allocates nothing doing it. Two threads
            // racing here set the same value twice.
            unsafe { mi_option_set(MI_OPTION_ALLOW_THP, 0) };
            #[cfg(target_os = "linux")]
            unadvise_first_arena();
        }
    }

    /// mimalloc reserves its first arena (1 GiB of address space) while the library loads,
    /// before any Rust code runs, and asks for huge pages over it then. That arena holds a
    /// block it hands out now, so the 1 GiB on either side of that block covers it: the advice
    /// is taken back there. (mimalloc places its arenas at addresses of its own choosing, from
    /// 2 TiB up, away from the heap and the libraries; the kernel skips the unmapped parts.)
    #[cfg(target_os = "linux")]
    fn unadvise_first_arena() {
        const ARENA: usize = 1 << 30;
        // SAFETY: mimalloc's own malloc and free, called directly (not through this allocator).
        let block = unsafe { mi_malloc(16) };
        if block.is_null() {
            return;
        }
        let start = (block as usize).saturating_sub(ARENA) & !0xfff;
        // SAFETY: advice only (no mapping changes); an error (ENOMEM for the holes) is ignored.
        unsafe {
            libc::madvise(
                start as *mut std::ffi::c_void,
                2 * ARENA,
                libc::MADV_NOHUGEPAGE,
            );
            mi_free(block);
        }
    }

    pub struct CoreAlloc;

    // SAFETY: every call is MiMalloc's, unchanged.
    unsafe impl GlobalAlloc for CoreAlloc {
        #[inline]
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            configure();
            // SAFETY: the caller's contract, passed on.
            unsafe { MiMalloc.alloc(layout) }
        }

        #[inline]
        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            configure();
            // SAFETY: the caller's contract, passed on.
            unsafe { MiMalloc.alloc_zeroed(layout) }
        }

        #[inline]
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: the caller's contract, passed on.
            unsafe { MiMalloc.dealloc(ptr, layout) }
        }

        #[inline]
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            // SAFETY: the caller's contract, passed on.
            unsafe { MiMalloc.realloc(ptr, layout, new_size) }
        }
    }

    #[cfg(all(test, target_os = "linux"))]
    mod tests {
        /// Kilobytes of `AnonHugePages` in the mapping of /proc/self/smaps holding `addr`.
        fn huge_kb_at(addr: usize) -> Option<u64> {
            let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
            let mut inside = false;
            for line in smaps.lines() {
                if let Some((range, _)) = line.split_once(' ') {
                    if let Some((lo, hi)) = range.split_once('-') {
                        if let (Ok(lo), Ok(hi)) =
                            (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16))
                        {
                            inside = lo <= addr && addr < hi;
                            continue;
                        }
                    }
                }
                if inside {
                    if let Some(kb) = line.strip_prefix("AnonHugePages:") {
                        return kb.trim().trim_end_matches("kB").trim().parse().ok();
                    }
                }
            }
            None
        }

        #[test]
        fn core_memory_is_not_backed_by_huge_pages() {
            // 64 MiB touched page by page: under mimalloc's default, all of it is huge pages on
            // a machine whose THP setting is `madvise` or `always` (64 MiB of them, measured).
            let mut big = vec![0u8; 64 << 20];
            for b in big.iter_mut().step_by(4096) {
                *b = 1;
            }
            let at = big.as_ptr() as usize;
            // mimalloc's own start-up touched a few MiB before the advice was taken back.
            let huge_kb = huge_kb_at(at).unwrap_or(0);
            assert!(huge_kb < 8 << 10, "{huge_kb} kB of huge pages");
            assert_eq!(big.iter().step_by(4096).filter(|b| **b == 1).count(), 16384);
        }
    }
}

/// The private native module, re-exported by `python/llmrail/__init__.py`.
//
// Every name Python sees, and nothing else (`python/llmrail/_core.pyi` lists the same names;
// stubtest checks both ways). The wrappers live in `src/py/`.
//
// Free-threading: the module does NOT declare support (`gil_used = true`; pyo3 >= 0.28 would
// otherwise declare it by default). For the wheel we ship this changes nothing: it is abi3, which
// a free-threaded CPython cannot load (STACK.md, pitfall 7), and an abi3-py310 build carries no
// `Py_mod_gil` slot at all. It matters for a version-specific build for 3.14t (or an `abi3t`
// one), which would then run with the GIL on until someone does the work that declaring support
// needs: the core's shared state is already plain Rust `Sync` (one runtime, one pooled client,
// breakers and limiters behind mutexes and atomics) and needs nothing; `src/py/` would need an
// audit of what the GIL serialises today (the non-frozen `Call`/`Waiter` objects, stepped by one
// loop thread, would raise "already borrowed" instead of waiting if two threads met there; the
// interpreter-exit gate in `exit.rs` is argued in terms of taking the GIL back), and a 3.14t job
// in CI to show it.
#[cfg(feature = "python")]
#[pyo3::pymodule(gil_used = true)]
mod _core {
    use pyo3::prelude::*;

    #[pymodule_export]
    #[allow(non_upper_case_globals)]
    const __version__: &str = env!("CARGO_PKG_VERSION");

    #[pymodule_export]
    use crate::py::batch::{PyBatchJob, PyBatcher};
    #[pymodule_export]
    use crate::py::batch_store::PyBatchStore;
    #[pymodule_export]
    use crate::py::bridge::{bench_noop_future_into_py, bench_noop_native, reset_log_levels};
    #[pymodule_export]
    use crate::py::cache::{plan_prompt_cache, PyCacheStats};
    #[pymodule_export]
    use crate::py::capabilities::PyCapabilities;
    #[pymodule_export]
    use crate::py::client::PyClient;
    #[pymodule_export]
    use crate::py::exit::quiesce;
    #[pymodule_export]
    use crate::py::extract::{PyExtractStream, PyExtraction, PyJsonSchema};
    #[pymodule_export]
    use crate::py::forward::{PyHttpBody, PyHttpForwarder, PyHttpMeter, PyHttpReply, PyHttpUsage};
    #[pymodule_export]
    use crate::py::gateway::PyGateway;
    #[pymodule_export]
    use crate::py::images::{PyGeneratedImage, PyImages, PyImagesResponse, PyImagesSync};
    #[pymodule_export]
    use crate::py::mock::{PyMockProvider, PyMockServer};
    #[pymodule_export]
    use crate::py::prompts::{check_prompts, PyPrompt, PyPrompts};
    #[pymodule_export]
    use crate::py::queue::{PyQueueItem, PyQueueWorker};
    #[pymodule_export]
    use crate::py::queued::{PyQueue, PyQueued};
    #[pymodule_export]
    use crate::py::register::register_provider;
    #[pymodule_export]
    use crate::py::replay::PyCassette;
    #[pymodule_export]
    use crate::py::resilience::{PyBreakerStatus, PyCircuitBreaker, PyRateLimit, PyRetry};
    #[pymodule_export]
    use crate::py::stream::PyChatStream;
    #[pymodule_export]
    use crate::py::telemetry::{bench_telemetry_overhead, metrics_text, PyClientStats};
    #[pymodule_export]
    use crate::py::types::{PyChatResponse, PyStreamEvent, PyToolCall, PyUsage};

    /// Core `tracing`/`log` records go to Python `logging` from the first import on.
    #[pymodule_init]
    fn init(m: &Bound<'_, PyModule>) -> PyResult<()> {
        crate::py::bridge::init_logging(m.py());
        Ok(())
    }
}
