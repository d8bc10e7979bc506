//! The process's pooled HTTP clients: one for the default connect timeout, and one per other
//! connect timeout a client asks for (reqwest sets it per pool; few exist). Forwarded requests
//! (`Settings::passthrough`) have pools of their own, built to add no header and decode no
//! body: what an SDK sends and receives is its own.
//!
//! Fork safety: a pooled connection is driven by a task of the runtime that opened it, and
//! tokio's threads do not survive `fork()`. The pools remember the pid that built them (as the
//! runtime does, see `runtime.rs`); a child process that sends gets fresh pools, so it never
//! waits on a connection whose driver stayed in the parent. The parent's pools are leaked in
//! the child on purpose: dropping them would touch connections the child does not own.

use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use crate::error::{ErrorKind, LlmError, Result};

use super::{redirect, CONNECT_TIMEOUT};

struct Pools {
    pid: u32,
    default: reqwest::Client,
    /// Built on the first forwarded request: most processes never forward one.
    passthrough: OnceLock<reqwest::Client>,
    by_connect_timeout: Mutex<Vec<((Duration, bool), reqwest::Client)>>,
}

static POOLS: AtomicPtr<Pools> = AtomicPtr::new(std::ptr::null_mut());

/// The pooled client of this process for `connect_timeout`. Per call: two atomic loads and a
/// reference count, as when the runtime held it; the lock is taken only for a client with its
/// own connect timeout.
pub(super) fn client(connect_timeout: Duration, passthrough: bool) -> Result<reqwest::Client> {
    let pools = pools_of(&POOLS, crate::runtime::pid())?;
    if connect_timeout == CONNECT_TIMEOUT {
        if !passthrough {
            return Ok(pools.default.clone());
        }
        if let Some(c) = pools.passthrough.get() {
            return Ok(c.clone());
        }
        let built = build(connect_timeout, true)?;
        return Ok(pools.passthrough.get_or_init(|| built).clone());
    }
    let key = (connect_timeout, passthrough);
    let mut others = pools
        .by_connect_timeout
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some((_, c)) = others.iter().find(|(k, _)| *k == key) {
        return Ok(c.clone());
    }
    let client = build(connect_timeout, passthrough)?;
    others.push((key, client.clone()));
    Ok(client)
}

/// The pools in `slot` if process `pid` built them, else new ones put there.
fn pools_of(slot: &AtomicPtr<Pools>, pid: u32) -> Result<&'static Pools> {
    let ptr = slot.load(Ordering::Acquire);
    // SAFETY: a non-null pointer was produced by `Box::leak` below and is never freed.
    if let Some(pools) = unsafe { ptr.as_ref() } {
        if pools.pid == pid {
            return Ok(pools);
        }
    }
    let fresh: &'static mut Pools = Box::leak(Box::new(Pools {
        pid,
        default: build(CONNECT_TIMEOUT, false)?,
        passthrough: OnceLock::new(),
        by_connect_timeout: Mutex::new(Vec::new()),
    }));
    match slot.compare_exchange(ptr, fresh, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => Ok(fresh),
        Err(winner) => {
            // Another thread built them first; ours opened no connection yet.
            // SAFETY: `fresh` came from Box::leak just above and nobody else has seen it.
            drop(unsafe { Box::from_raw(fresh as *mut Pools) });
            // SAFETY: as above, leaked pointers are never freed.
            unsafe { winner.as_ref() }
                .ok_or_else(|| LlmError::new(ErrorKind::Internal, "HTTP pool pointer vanished"))
        }
    }
}

fn build(connect_timeout: Duration, passthrough: bool) -> Result<reqwest::Client> {
    // ring builds faster than aws-lc and needs no cmake; installing twice is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let builder = if passthrough {
        // No `user-agent`, no `accept-encoding` and no decoding: the forwarded request's
        // headers are the SDK's, and so is the answer's encoding. (reqwest's `accept: */*`
        // cannot be taken out; it goes only to a request without one, and httpx sends one.)
        reqwest::Client::builder().no_gzip()
    } else {
        reqwest::Client::builder().user_agent(concat!("llmrail/", env!("CARGO_PKG_VERSION")))
    };
    builder
        .connect_timeout(connect_timeout)
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        .redirect(redirect::policy())
        .build()
        .map_err(|e| {
            LlmError::new(
                ErrorKind::Internal,
                format!("cannot build the HTTP client: {e}"),
            )
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_process_keeps_its_pools_and_a_forked_child_gets_fresh_ones() {
        // A slot of the test's own, so the process's real pools are not disturbed.
        static SLOT: AtomicPtr<Pools> = AtomicPtr::new(std::ptr::null_mut());
        let parent = pools_of(&SLOT, 100).unwrap();
        assert!(std::ptr::eq(parent, pools_of(&SLOT, 100).unwrap()));
        let child = pools_of(&SLOT, 101).unwrap();
        assert!(!std::ptr::eq(parent, child));
        assert_eq!(child.pid, 101);
        assert!(std::ptr::eq(child, pools_of(&SLOT, 101).unwrap()));
    }

    #[test]
    fn each_connect_timeout_has_one_pool() {
        let other = Duration::from_millis(1234);
        client(other, false).unwrap();
        client(other, false).unwrap();
        client(other, true).unwrap();
        let pools = pools_of(&POOLS, crate::runtime::pid()).unwrap();
        let others = pools.by_connect_timeout.lock().unwrap();
        assert_eq!(
            others.iter().filter(|(k, _)| *k == (other, false)).count(),
            1
        );
        assert_eq!(
            others.iter().filter(|(k, _)| *k == (other, true)).count(),
            1
        );
        assert!(others.iter().all(|((d, _), _)| *d != CONNECT_TIMEOUT));
    }
}
