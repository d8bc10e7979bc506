//! One connection per origin where one will do: a request that could go direct
//! (`direct.rs`) but finds no idle direct connection of its thread goes through reqwest instead
//! when reqwest may hold an idle connection to that origin (it sent there within its pool's idle
//! time), rather than opening a second connection beside it. A stream (always reqwest's) and
//! the chat after it then share one connection, as they did before the direct path.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long reqwest keeps an idle connection (`pool.rs` builds its pools with the same).
const REQWEST_IDLE_FOR: Duration = Duration::from_secs(90);

/// Origins (`host:port`) reqwest sent to, and when it last did.
static SENT: Mutex<Vec<(String, Instant)>> = Mutex::new(Vec::new());
/// Whether `SENT` may hold anything: the usual case, nothing, costs one load.
static ANY: AtomicBool = AtomicBool::new(false);

fn key(url: &reqwest::Url) -> Option<String> {
    Some(format!(
        "{}:{}",
        url.host_str()?,
        url.port_or_known_default()?
    ))
}

/// reqwest is about to send to `url`.
pub(super) fn reqwest_sends(url: &reqwest::Url) {
    let Some(key) = key(url) else { return };
    let mut sent = SENT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let now = Instant::now();
    match sent.iter_mut().find(|(k, _)| *k == key) {
        Some(entry) => entry.1 = now,
        None => sent.push((key, now)),
    }
    ANY.store(true, Ordering::Release);
}

/// Whether reqwest may hold an idle connection to `url`'s origin.
pub(super) fn reqwest_may_hold(url: &reqwest::Url) -> bool {
    if !ANY.load(Ordering::Acquire) {
        return false;
    }
    let Some(key) = key(url) else { return false };
    let mut sent = SENT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let now = Instant::now();
    sent.retain(|(_, at)| now.duration_since(*at) < REQWEST_IDLE_FOR);
    if sent.is_empty() {
        ANY.store(false, Ordering::Release);
    }
    sent.iter().any(|(k, _)| *k == key)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn an_origin_reqwest_sent_to_is_remembered_and_no_other() {
        let a = reqwest::Url::parse("http://127.0.0.1:9/v1/chat").unwrap();
        let b = reqwest::Url::parse("http://127.0.0.1:10/v1/chat").unwrap();
        reqwest_sends(&a);
        assert!(reqwest_may_hold(&a));
        assert!(!reqwest_may_hold(&b));
    }
}
