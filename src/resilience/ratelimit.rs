//! Token-aware rate limiting: at most `rpm` requests and `tpm` tokens in any window of 60 s.
//!
//! The limit is a sliding log of reservations (exact, unlike fixed windows that allow twice the
//! limit across a boundary). Before an attempt the estimated input tokens plus `max_tokens` are
//! reserved; afterwards the reservation is settled to the real usage. The log lives in this
//! process ([`LocalStore`]) or in Redis ([`RedisStore`], `ratelimit/redis.rs`, on the connection
//! of `resilience/redis.rs`), behind one [`Store`] trait; a Redis outage falls back to the local
//! log with a warning instead of failing calls. Time is counted by `resilience/clock.rs`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use tokio::sync::Notify;

use crate::error::{ErrorKind, LlmError, Result};
use crate::providers::quota::Quota;

use super::clock::{millis, Clock};
pub use super::estimate::{estimate_input_tokens, reservation_for, DEFAULT_OUTPUT_RESERVE};

mod redis;
pub use redis::RedisStore;

/// A waiting call re-checks at least this often (capacity freed by other processes is not
/// announced).
const MAX_NAP: Duration = Duration::from_millis(250);

#[derive(Debug, Clone, PartialEq)]
pub struct RateLimitConfig {
    pub rpm: Option<u64>,
    pub tpm: Option<u64>,
    /// The bucket's name; calls with the same key share the limit. Default: "provider/model".
    pub key: Option<String>,
    /// Wait for capacity (bounded by the call's deadline) instead of failing at once.
    pub wait: bool,
    /// The sliding window; 60 s for per-minute limits.
    pub window: Duration,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            rpm: None,
            tpm: None,
            key: None,
            wait: true,
            window: Duration::from_secs(60),
        }
    }
}

impl RateLimitConfig {
    pub fn validate(&self) -> Result<()> {
        if self.rpm.is_none() && self.tpm.is_none() {
            return Err(LlmError::config("a RateLimit needs rpm, tpm or both"));
        }
        if self.rpm == Some(0) || self.tpm == Some(0) || self.window.is_zero() {
            return Err(LlmError::config("rpm, tpm and the window must be positive"));
        }
        Ok(())
    }

    pub fn limits(&self) -> Limits {
        Limits {
            rpm: self.rpm,
            tpm: self.tpm,
            window_ms: millis(self.window).max(1),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub rpm: Option<u64>,
    pub tpm: Option<u64>,
    pub window_ms: u64,
}

/// A granted reservation, to be settled with the real usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    pub id: u64,
    /// When the reservation leaves the window (store clock, milliseconds).
    pub expiry: u64,
    pub tokens: u64,
    /// Made in the shared store (so it is settled there).
    pub shared: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Granted(Ticket),
    /// Capacity comes back in this long (or sooner, if a reservation settles for less).
    Wait(Duration),
}

/// The shared store could not be reached; the caller falls back to the local one.
#[derive(Debug)]
pub struct Unavailable;

/// Where the log lives.
pub trait Store: Send + Sync {
    fn reserve<'a>(
        &'a self,
        key: &'a str,
        limits: Limits,
        tokens: u64,
        id: u64,
    ) -> BoxFuture<'a, Result<Decision, Unavailable>>;
    fn settle<'a>(
        &'a self,
        key: &'a str,
        ticket: Ticket,
        tokens: u64,
    ) -> BoxFuture<'a, Result<(), Unavailable>>;
    fn tighten<'a>(
        &'a self,
        key: &'a str,
        limits: Limits,
        quota: Quota,
    ) -> BoxFuture<'a, Result<(), Unavailable>>;
}

/// The sliding log itself, with time passed in (milliseconds on a monotonic clock).
#[derive(Debug, Default)]
pub struct Log {
    /// (expiry, id) -> (requests, tokens). Keyed by when an entry leaves the window, so phantom
    /// entries from quota headers can leave early (at the provider's reset). They hold several
    /// requests or only tokens.
    entries: BTreeMap<(u64, u64), (u64, u64)>,
    requests: u64,
    tokens: u64,
}

impl Log {
    fn expire(&mut self, now: u64) {
        while let Some(entry) = self.entries.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let (r, t) = entry.remove();
            self.requests = self.requests.saturating_sub(r);
            self.tokens = self.tokens.saturating_sub(t);
        }
    }

    /// How long until `excess` units of one dimension have left the window.
    fn freed_in(&self, now: u64, window: u64, excess: u64, tokens: bool) -> u64 {
        let mut freed: u64 = 0;
        for (&(expiry, _), &(r, t)) in &self.entries {
            freed = freed.saturating_add(if tokens { t } else { r });
            if freed >= excess {
                return expiry.saturating_sub(now).max(1);
            }
        }
        window
    }

    pub fn reserve(&mut self, now: u64, limits: Limits, tokens: u64, id: u64) -> Decision {
        let window = limits.window_ms;
        self.expire(now);
        // A request larger than the whole budget waits for an empty window, then takes it all.
        let need = limits.tpm.map_or(tokens, |tpm| tokens.min(tpm));
        // Counts saturate: usage settles to what the server reported, whatever it says.
        let requests = self.requests.saturating_add(1);
        let tokens = self.tokens.saturating_add(need);
        let mut wait = 0;
        if let Some(rpm) = limits.rpm.filter(|&rpm| requests > rpm) {
            wait = wait.max(self.freed_in(now, window, requests.saturating_sub(rpm), false));
        }
        if let Some(tpm) = limits.tpm.filter(|&tpm| tokens > tpm) {
            wait = wait.max(self.freed_in(now, window, tokens.saturating_sub(tpm), true));
        }
        if wait > 0 {
            return Decision::Wait(Duration::from_millis(wait));
        }
        let expiry = now.saturating_add(window);
        self.insert(expiry, id, 1, need);
        Decision::Granted(Ticket {
            id,
            expiry,
            tokens: need,
            shared: false,
        })
    }

    pub fn settle(&mut self, ticket: Ticket, tokens: u64) {
        if let Some(entry) = self.entries.get_mut(&(ticket.expiry, ticket.id)) {
            self.tokens = self.tokens.saturating_sub(entry.1).saturating_add(tokens);
            entry.1 = tokens;
        }
    }

    /// The provider says less is left than we think: hold the difference until its reset.
    pub fn tighten(&mut self, now: u64, limits: Limits, quota: Quota, id: u64) {
        let window = limits.window_ms;
        self.expire(now);
        let until = |reset: Option<Duration>| {
            now.saturating_add(reset.map_or(window, |r| millis(r).min(window)))
        };
        if let (Some(rpm), Some(left)) = (limits.rpm, quota.remaining_requests) {
            let ours = rpm.saturating_sub(self.requests);
            if ours > left {
                self.insert(
                    until(quota.reset_requests),
                    id,
                    ours.saturating_sub(left),
                    0,
                );
            }
        }
        if let (Some(tpm), Some(left)) = (limits.tpm, quota.remaining_tokens) {
            let ours = tpm.saturating_sub(self.tokens);
            if ours > left {
                self.insert(
                    until(quota.reset_tokens),
                    id ^ 1,
                    0,
                    ours.saturating_sub(left),
                );
            }
        }
    }

    fn insert(&mut self, expiry: u64, id: u64, requests: u64, tokens: u64) {
        let slot = self.entries.entry((expiry, id)).or_insert((0, 0));
        slot.0 = slot.0.saturating_add(requests);
        slot.1 = slot.1.saturating_add(tokens);
        self.requests = self.requests.saturating_add(requests);
        self.tokens = self.tokens.saturating_add(tokens);
    }

    pub fn usage(&self) -> (u64, u64) {
        (self.requests, self.tokens)
    }
}

/// Logs kept in this process, one per key.
pub struct LocalStore {
    logs: Mutex<std::collections::HashMap<String, Log>>,
    clock: Clock,
}

impl Default for LocalStore {
    fn default() -> Self {
        Self {
            logs: Mutex::new(std::collections::HashMap::new()),
            clock: Clock::start(),
        }
    }
}

impl LocalStore {
    fn with_log<T>(&self, key: &str, f: impl FnOnce(&mut Log, u64) -> T) -> T {
        let now = self.clock.now_ms();
        let mut logs = self.logs.lock().unwrap_or_else(|p| p.into_inner());
        f(logs.entry(key.to_string()).or_default(), now)
    }

    pub fn usage(&self, key: &str) -> (u64, u64) {
        self.with_log(key, |log, _| log.usage())
    }

    /// Whether every log is empty once what left the window is dropped.
    fn at_rest(&self) -> bool {
        let now = self.clock.now_ms();
        let mut logs = self.logs.lock().unwrap_or_else(|p| p.into_inner());
        logs.values_mut().all(|log| {
            log.expire(now);
            log.entries.is_empty()
        })
    }
}

impl Store for LocalStore {
    fn reserve<'a>(
        &'a self,
        key: &'a str,
        limits: Limits,
        tokens: u64,
        id: u64,
    ) -> BoxFuture<'a, Result<Decision, Unavailable>> {
        let d = self.with_log(key, |log, now| log.reserve(now, limits, tokens, id));
        Box::pin(async move { Ok(d) })
    }

    fn settle<'a>(
        &'a self,
        key: &'a str,
        ticket: Ticket,
        tokens: u64,
    ) -> BoxFuture<'a, Result<(), Unavailable>> {
        self.with_log(key, |log, _| log.settle(ticket, tokens));
        Box::pin(async { Ok(()) })
    }

    fn tighten<'a>(
        &'a self,
        key: &'a str,
        limits: Limits,
        quota: Quota,
    ) -> BoxFuture<'a, Result<(), Unavailable>> {
        let id = rand::random();
        self.with_log(key, |log, now| log.tighten(now, limits, quota, id));
        Box::pin(async { Ok(()) })
    }
}

/// A rate limit's in-process state: its log and the calls waiting for capacity. Every client
/// naming the same bucket shares it (`client/registry.rs`), as processes share the Redis log:
/// the log is the bucket's, each client checks it against its own limits.
#[derive(Default)]
pub struct LocalBucket {
    store: LocalStore,
    /// Wakes local waiters when a settlement gives capacity back.
    freed: Notify,
}

impl LocalBucket {
    /// Whether a fresh bucket would behave the same from now on: nothing left in the window.
    pub fn at_rest(&self) -> bool {
        self.store.at_rest()
    }
}

/// One rate limit as a client uses it: the shared store if any, the local one otherwise or
/// while the shared one is down.
pub struct Limiter {
    cfg: RateLimitConfig,
    key: String,
    shared: Option<Arc<dyn Store>>,
    local: Arc<LocalBucket>,
}

impl Limiter {
    /// A limiter with an in-process bucket of its own.
    pub fn new(cfg: RateLimitConfig, key: String, shared: Option<Arc<dyn Store>>) -> Arc<Self> {
        Self::sharing(cfg, key, Arc::default(), shared)
    }

    /// A limiter on `local`, the in-process bucket other clients naming it use too.
    pub fn sharing(
        cfg: RateLimitConfig,
        key: String,
        local: Arc<LocalBucket>,
        shared: Option<Arc<dyn Store>>,
    ) -> Arc<Self> {
        Arc::new(Self {
            cfg,
            key,
            shared,
            local,
        })
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    async fn reserve(&self, tokens: u64) -> Decision {
        let (limits, id) = (self.cfg.limits(), rand::random());
        if let Some(s) = &self.shared {
            if let Ok(d) = s.reserve(&self.key, limits, tokens, id).await {
                return d;
            }
        }
        match self
            .local
            .store
            .reserve(&self.key, limits, tokens, id)
            .await
        {
            Ok(d) => d,
            Err(Unavailable) => Decision::Wait(MAX_NAP),
        }
    }

    /// Reserve capacity for one attempt, waiting for it unless configured not to. Returns the
    /// ticket and how long it waited.
    pub async fn acquire(
        &self,
        tokens: u64,
        deadline: Option<Instant>,
    ) -> Result<(Ticket, Duration)> {
        let started = Instant::now();
        loop {
            let wait = match self.reserve(tokens).await {
                Decision::Granted(t) => return Ok((t, started.elapsed())),
                Decision::Wait(w) => w,
            };
            let too_late =
                deadline.is_some_and(|d| crate::duration::after(Instant::now(), wait) > d);
            if !self.cfg.wait || too_late {
                return Err(self.limited(wait, too_late));
            }
            let nap = wait.min(MAX_NAP);
            tokio::select! {
                () = tokio::time::sleep(nap) => {}
                () = self.local.freed.notified() => {}
            }
        }
    }

    /// Replace the reservation with what the attempt really used.
    pub async fn settle(&self, ticket: Ticket, used_tokens: u64) {
        // The count is the server's. As in `reserve`, one call takes at most the whole budget,
        // which also keeps the window's sums far from overflowing.
        let used_tokens = self.cfg.tpm.map_or(used_tokens, |tpm| used_tokens.min(tpm));
        if ticket.shared {
            if let Some(s) = &self.shared {
                let _ = s.settle(&self.key, ticket, used_tokens).await;
            }
        } else {
            let _ = self
                .local
                .store
                .settle(&self.key, ticket, used_tokens)
                .await;
        }
        if used_tokens < ticket.tokens {
            self.local.freed.notify_waiters();
        }
    }

    pub async fn tighten(&self, quota: Quota) {
        let limits = self.cfg.limits();
        if let Some(s) = &self.shared {
            if s.tighten(&self.key, limits, quota).await.is_ok() {
                return;
            }
        }
        let _ = self.local.store.tighten(&self.key, limits, quota).await;
    }

    fn limited(&self, wait: Duration, deadline: bool) -> LlmError {
        let why = if deadline {
            "which is past the call's deadline"
        } else {
            "and waiting is off"
        };
        let mut e = LlmError::new(
            ErrorKind::RateLimit,
            format!(
                "client-side rate limit {:?} ({}) has capacity again in {:.1} s, {why}",
                self.key,
                self.describe(),
                wait.as_secs_f64()
            ),
        );
        e.retry_after = Some(wait);
        e
    }

    fn describe(&self) -> String {
        let parts: Vec<String> = [("rpm", self.cfg.rpm), ("tpm", self.cfg.tpm)]
            .iter()
            .filter_map(|(n, v)| v.map(|v| format!("{n}={v}")))
            .collect();
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests;
