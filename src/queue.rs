//! The durable request queue: a request is stored (committed) before `submit` returns, and a
//! worker runs it later through the normal client pipeline (retries, breakers, fallbacks,
//! limits, replay) when its provider can take it.
//!
//! - `item.rs`: an item and its lifecycle `QUEUED -> PROCESSING -> COMPLETED | FAILED | EXPIRED`;
//! - `record.rs`: what is stored, as JSON: requests (the OpenAI input shape), responses, errors;
//! - `store.rs`: the one trait every backend implements, one atomic step per method;
//! - `group.rs`: group commit: concurrent submissions share one store step;
//! - `sqlite.rs`: `sqlite:///path` (WAL, shared by the processes of one machine) and
//!   `memory://` (the same engine in memory: volatile, one process);
//! - `redis.rs` + `queue.lua`: `redis://host:port/db`, shared by every process and machine;
//! - `worker.rs`: the processor: leases with a heartbeat, breaker-aware claiming, at-least-once;
//! - `divert.rs`: a call's processing mode (`direct`, `queue`, `auto`), chat or extraction;
//! - `webhook.rs`: the signed POST of an item's final status to its `callback_url`;
//! - `delivery.rs`: durable webhook delivery: recorded with the final state, retried with
//!   backoff, taken over by another process after a crash, given up after bounded attempts.
//!
//! Delivery is at-least-once: an item whose worker died is taken again once its lease runs
//! out, so a provider may see a request twice; its result is stored once (the first
//! completion wins, later ones are ignored).

mod delivery;
mod divert;
mod gauges;
mod group;
mod item;
mod record;
mod redis;
mod sqlite;
mod store;
#[cfg(test)]
mod tests;
mod trace;
mod webhook;
mod worker;

pub use divert::{outage, Answer, Diverted, Processing, QueueTrace};
pub use item::{Delivery, DeliveryState, Item, State, Stats};
pub use record::{decode_request, encode_request, ExtractJob, StoredError, StoredResponse};
pub use trace::{ItemCall, ItemSink, ItemSpan};
pub use worker::Workers;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::client::Client;
use crate::error::{ErrorKind, LlmError, Result};
use crate::model::{ChatRequest, ChatResponse};
use crate::providers::Secret;
use crate::runtime;
use item::{NewItem, Submitted, Watermarks};
use store::Store;

/// How a queue behaves; `Queue(url, capacity=..., ...)` in Python.
#[derive(Debug, Clone)]
pub struct QueueConfig {
    /// The depth (queued + processing items) the watermarks are fractions of.
    pub capacity: u64,
    /// Submissions are refused once the depth reaches `high_watermark x capacity`...
    pub high_watermark: f64,
    /// ...until it falls below `low_watermark x capacity`.
    pub low_watermark: f64,
    /// An item not taken by a worker within this long after submission is never processed.
    pub ttl: Duration,
    /// Processings (a dead worker's included) before an item is FAILED.
    pub max_attempts: u32,
    /// How long a worker holds an item without a heartbeat before another may take it.
    pub lease: Duration,
    /// Signs the webhooks (`callback_url`); a submission with a callback needs it.
    pub webhook_secret: Option<Secret>,
    /// POSTs of one webhook before it is given up.
    pub webhook_attempts: u32,
    /// A webhook not delivered this long after its item ended is given up (a receiver is
    /// rarely helped by news that old).
    pub webhook_max_age: Duration,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            capacity: 1000,
            high_watermark: 0.8,
            low_watermark: 0.6,
            ttl: Duration::from_secs(4 * 3600),
            max_attempts: 3,
            lease: Duration::from_secs(60),
            webhook_secret: None,
            webhook_attempts: 10,
            webhook_max_age: Duration::from_secs(24 * 3600),
        }
    }
}

impl QueueConfig {
    pub fn validate(&self) -> Result<()> {
        let fraction = |x: f64| x.is_finite() && x > 0.0 && x <= 1.0;
        if self.capacity == 0 {
            return Err(LlmError::config("queue capacity must be at least 1"));
        }
        if !fraction(self.high_watermark) || !fraction(self.low_watermark) {
            return Err(LlmError::config(
                "queue watermarks are fractions of the capacity: above 0, at most 1",
            ));
        }
        if self.low_watermark > self.high_watermark {
            return Err(LlmError::config(format!(
                "queue low_watermark ({}) must not exceed high_watermark ({})",
                self.low_watermark, self.high_watermark
            )));
        }
        if self.max_attempts == 0 || self.webhook_attempts == 0 {
            return Err(LlmError::config(
                "queue max_attempts and webhook_attempts must be at least 1",
            ));
        }
        if self.webhook_max_age.is_zero() {
            return Err(LlmError::config("queue webhook_max_age must be positive"));
        }
        if self.ttl.is_zero() || self.lease < Duration::from_millis(30) {
            return Err(LlmError::config(
                "queue ttl must be positive and lease at least 0.03 s",
            ));
        }
        Ok(())
    }

    /// The watermarks in items: at least one item is always taken (a capacity of 1 with the
    /// default fractions would otherwise refuse everything).
    fn watermarks(&self) -> Watermarks {
        // Finite and within 0..=capacity: `validate` bounds the fraction. The epsilon keeps
        // 0.6 x 10 (5.9999...) at 6.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let items = |f: f64| {
            let x = (self.capacity as f64 * f - 1e-9).ceil().max(0.0);
            (x as u64).clamp(1, self.capacity)
        };
        let high = items(self.high_watermark);
        Watermarks {
            high,
            low: items(self.low_watermark).min(high),
        }
    }
}

/// A handle on one queue store; cheap to clone (every clone is the same queue).
#[derive(Clone)]
pub struct Queue {
    inner: Arc<Inner>,
}

struct Inner {
    store: Box<dyn Store>,
    cfg: QueueConfig,
    url: String,
    /// The client a worker of this process uses for a target: the ones `submit` was handed,
    /// then any it built from the model string.
    clients: Mutex<HashMap<String, Client>>,
    /// Wakes this process's idle workers when it submits or an item ends; other processes'
    /// submissions wake them through the store's wake-ups (Redis), or are seen by polling.
    changed: tokio::sync::Notify,
    /// This process's `result` waiters by item id: an item's end wakes its own waiters only.
    /// (One shared wake-up made every waiter re-read its item from the store on every
    /// completion: a queue step per waiter per item, most of Redis's work in the benchmark.)
    waiters: Mutex<HashMap<String, Arc<tokio::sync::Notify>>>,
    /// Answers this process's workers stored, by item id, until a `result` here takes one
    /// (or newer ones push it out): a reader in the process that did the work gets it without
    /// reading it back from the store (`Handed`).
    handed: Mutex<HandedAnswers>,
    /// The state changes this process makes, for `on_event` subscribers.
    events: tokio::sync::broadcast::Sender<Event>,
    /// Wakes this process's webhook deliverer (an item with a callback ended here).
    deliver_now: tokio::sync::Notify,
    /// Whether a deliverer runs in this process, and how often one was asked for (`delivery.rs`).
    delivering: std::sync::atomic::AtomicBool,
    kicks: std::sync::atomic::AtomicU64,
    /// Where this process's workers hand each processed item's trace (`trace.rs`); unset,
    /// a worker records nothing (one check per item).
    spans: std::sync::OnceLock<ItemSink>,
    /// Submissions waiting for the write in progress, to go in the next one (`group.rs`).
    group: group::Group,
    /// Tells this process's `result` waiters of items other processes finished (the store's
    /// `finished` signal, Redis): started by the first waiter, stopped with the queue.
    listener: std::sync::OnceLock<runtime::AbortOnDrop<()>>,
    /// The listener is subscribed: waiters then look at the store only as a fallback.
    listening: std::sync::atomic::AtomicBool,
}

/// A state change this process made to an item.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: String,
    pub state: State,
    pub target: String,
    pub attempts: u32,
    pub at_ms: u64,
}

/// Events a slow subscriber may fall behind by before it misses some (it is told how many).
const EVENT_BACKLOG: usize = 4096;

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("url", &self.inner.url)
            .finish_non_exhaustive()
    }
}

/// What goes with a request into the queue.
#[derive(Debug, Clone, Default)]
pub struct Submission {
    /// The model string ("provider/model") a worker calls.
    pub target: String,
    pub metadata: Option<Value>,
    pub idempotency_key: Option<String>,
    /// Higher first; equal priorities in submission order.
    pub priority: i64,
    /// POSTed the final status, signed with the queue's `webhook_secret`, when the item ends.
    pub callback_url: Option<String>,
    /// Run as a structured extraction; `None`: a chat call.
    pub extract: Option<ExtractJob>,
    /// The submitter's W3C `traceparent`, stored with the request so that the item's
    /// processing continues its trace (`trace.rs`).
    pub traceparent: Option<String>,
}

/// Milliseconds since the Unix epoch: the one clock of the queue (stores shared between
/// processes and machines compare these).
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Queue {
    /// Open the queue at `url`: `sqlite://PATH` (everything after `sqlite://` is the path, so
    /// `sqlite:///var/q.db` is absolute), `redis://host:port/db[?queue=NAME]`, or `memory://`.
    pub fn open(url: &str, cfg: QueueConfig) -> Result<Self> {
        cfg.validate()?;
        let store: Box<dyn Store> = if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(LlmError::config(
                    "a sqlite queue URL names a file: sqlite:///path/to/queue.db",
                ));
            }
            Box::new(sqlite::SqliteStore::open(path)?)
        } else if url == "memory://" {
            Box::new(sqlite::SqliteStore::memory()?)
        } else if url.starts_with("redis://") || url.starts_with("rediss://") {
            Box::new(redis::RedisStore::open(url)?)
        } else {
            return Err(LlmError::config(format!(
                "unknown queue URL {:?}: use sqlite:///path/to/queue.db, redis://host:port/db or memory://",
                crate::replay::scrub::url(url)
            )));
        };
        let queue = Self {
            inner: Arc::new(Inner {
                store,
                cfg,
                url: crate::replay::scrub::url(url).into_owned(),
                clients: Mutex::new(HashMap::new()),
                changed: tokio::sync::Notify::new(),
                waiters: Mutex::new(HashMap::new()),
                handed: Mutex::new(HandedAnswers::default()),
                events: tokio::sync::broadcast::channel(EVENT_BACKLOG).0,
                deliver_now: tokio::sync::Notify::new(),
                delivering: std::sync::atomic::AtomicBool::new(false),
                kicks: std::sync::atomic::AtomicU64::new(0),
                spans: std::sync::OnceLock::new(),
                group: group::Group::default(),
                listener: std::sync::OnceLock::new(),
                listening: std::sync::atomic::AtomicBool::new(false),
            }),
        };
        // Its depth by state is shown at each scrape while the queue is open.
        let source: std::sync::Weak<Inner> = Arc::downgrade(&queue.inner);
        crate::telemetry::add_source(source);
        Ok(queue)
    }

    /// Every state change this process makes from now on (submissions, takes, completions,
    /// failures, retries): other processes' changes are theirs to report.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Event> {
        self.inner.events.subscribe()
    }

    fn emit(&self, id: &str, state: State, target: &str, attempts: u32) {
        // No subscriber is the common case: nothing is built then.
        if self.inner.events.receiver_count() > 0 {
            let _ = self.inner.events.send(Event {
                id: id.to_string(),
                state,
                target: target.to_string(),
                attempts,
                at_ms: now_ms(),
            });
        }
    }

    /// Hand each item this process's workers process to `sink` once its outcome is stored
    /// (the first sink set stays).
    pub fn trace_items(&self, sink: ItemSink) {
        let _ = self.inner.spans.set(sink);
    }

    pub fn config(&self) -> &QueueConfig {
        &self.inner.cfg
    }

    /// The URL, as it may be shown (a password redacted).
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// Store `req` for `sub.target`; its id once it is durable. The same idempotency key gives
    /// the first submission's id. A full queue is a `QueueFull` error with a retry-after hint,
    /// and nothing is stored.
    pub async fn submit(&self, req: &ChatRequest, sub: Submission) -> Result<String> {
        if sub.target.is_empty() {
            return Err(LlmError::config(
                "a queued request needs a target: a model string or a Client",
            ));
        }
        if let Some(cb) = &sub.callback_url {
            webhook::check(cb, self.inner.cfg.webhook_secret.as_ref())?;
        }
        let item = NewItem {
            id: format!("q_{:016x}{:08x}", now_ms(), rand::random::<u32>()),
            target: sub.target,
            request: {
                let mut v = encode_request(req);
                if let (Some(job), Value::Object(o)) = (&sub.extract, &mut v) {
                    o.insert(
                        "extract".into(),
                        serde_json::to_value(job).unwrap_or_default(),
                    );
                }
                if let (Some(tp), Value::Object(o)) = (sub.traceparent, &mut v) {
                    o.insert(trace::TRACEPARENT.into(), Value::String(tp));
                }
                v
            },
            metadata: sub.metadata,
            priority: sub.priority,
            idempotency_key: sub.idempotency_key,
            max_attempts: self.inner.cfg.max_attempts,
            ttl_ms: millis(self.inner.cfg.ttl),
            callback_url: sub.callback_url,
        };
        let target = item.target.clone();
        let q = self.clone();
        let submitted = runtime::run(async move { q.store_item(item).await }).await?;
        match submitted {
            Submitted::New(id) => {
                self.emit(&id, State::Queued, &target, 0);
                self.inner.changed.notify_waiters();
                Ok(id)
            }
            Submitted::Existing(id) => Ok(id),
            Submitted::Full {
                depth,
                finished_last_minute,
            } => Err(self.full(depth, finished_last_minute)),
        }
    }

    /// The refusal, with when to try again: the time the workers need, at the rate they
    /// finished items over the last minute, to bring the depth below the low watermark
    /// (between 1 s and 5 min); 30 s when nothing finished lately.
    fn full(&self, depth: u64, finished_last_minute: u64) -> LlmError {
        let marks = self.inner.cfg.watermarks();
        let to_drain = depth.saturating_sub(marks.low).saturating_add(1);
        let wait = match finished_last_minute {
            0 => Duration::from_secs(30),
            n => crate::duration::from_secs(to_drain as f64 * 60.0 / n as f64)
                .unwrap_or(Duration::from_secs(300))
                .clamp(Duration::from_secs(1), Duration::from_secs(300)),
        };
        let mut e = LlmError::new(
            ErrorKind::QueueFull,
            format!(
                "the queue {} is full: {depth} items waiting or processing (capacity {}, refusing until below {}); retry in {:.0} s",
                self.inner.url, self.inner.cfg.capacity, marks.low, wait.as_secs_f64()
            ),
        );
        e.retry_after = Some(wait);
        e
    }

    /// Use `client` for `target` in this process's workers (its key, base URL, breaker and
    /// fallbacks), instead of one built from the model string.
    pub fn use_client(&self, target: &str, client: Client) {
        self.clients().insert(target.to_string(), client);
    }

    fn clients(&self) -> std::sync::MutexGuard<'_, HashMap<String, Client>> {
        // Plain data: a panic elsewhere cannot leave it half-written.
        self.inner.clients.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The item, or a `NotFound` error.
    pub async fn status(&self, id: &str) -> Result<Item> {
        let (q, key) = (self.clone(), id.to_string());
        runtime::run(async move { q.get(key).await }).await
    }

    async fn get(&self, id: String) -> Result<Item> {
        match self.inner.store.get(id.clone(), now_ms()).await? {
            Some(item) => {
                // Reading it may have expired it: report that (once, whoever reads it).
                if item.state == State::Expired {
                    self.report_expired().await;
                }
                Ok(item)
            }
            None => Err(LlmError::new(
                ErrorKind::NotFound,
                format!("the queue {} has no item {id:?}", self.inner.url),
            )),
        }
    }

    /// The item's response once it has one, waiting up to `wait` (forever when `None`); its
    /// last error for a FAILED item, an `Expired` error for an EXPIRED one, a `Timeout` error
    /// if it is still unfinished when the wait is over.
    pub async fn result(&self, id: &str, wait: Option<Duration>) -> Result<ChatResponse> {
        let (q, id) = (self.clone(), id.to_string());
        let (id, answer) = runtime::run(async move { q.wait_result(id, wait).await }).await?;
        let stored = match answer {
            Handed::Chat(r) => return Ok(r),
            Handed::Stored(v) => v,
        };
        if stored.get("extracted").is_some() {
            return Err(LlmError::config(format!(
                "queue item {id} is an extraction: read its value with extracted()"
            )));
        }
        serde_json::from_value::<StoredResponse>(stored)
            .map(ChatResponse::from)
            .map_err(|e| unreadable(&id, &e))
    }

    /// An extraction item's validated value (as JSON), waiting as [`Queue::result`] does.
    pub async fn extracted(&self, id: &str, wait: Option<Duration>) -> Result<Value> {
        let (q, id) = (self.clone(), id.to_string());
        let (id, answer) = runtime::run(async move { q.wait_result(id, wait).await }).await?;
        let chat = || {
            LlmError::config(format!(
                "queue item {id} is a chat call: read its response with result()"
            ))
        };
        let Handed::Stored(mut stored) = answer else {
            return Err(chat());
        };
        match stored.get_mut("extracted") {
            Some(v) => Ok(v.take()),
            None => Err(chat()),
        }
    }

    /// The finished item's id and its answer, or its error.
    async fn wait_result(&self, id: String, wait: Option<Duration>) -> Result<(String, Handed)> {
        let until = wait.map(|w| tokio::time::Instant::now() + w);
        let waiting = Waiting::new(self, &id);
        let mut listen = true;
        loop {
            // Registered before reading, so an end between the read and the wait wakes it.
            let ended = waiting.notify.notified();
            // Stored by this process's workers: no store read (it is committed already).
            if let Some(answer) = self.take_handed(&id) {
                return Ok((id.clone(), answer));
            }
            if std::mem::take(&mut listen) {
                self.listen_for_ends();
            }
            let item = self.get(id.clone()).await?;
            let state = item.state;
            // When the item may end without a step that tells of it: its TTL or its lease
            // running out (seen by the next read, which sweeps).
            let due = match state {
                State::Queued => Some(item.expires_ms),
                _ => item.lease_until_ms,
            };
            if let Some(out) = finished(item) {
                return out;
            }
            let poll = if self
                .inner
                .listening
                .load(std::sync::atomic::Ordering::Acquire)
            {
                let due = due.map_or(LISTENED_POLL, |t| {
                    Duration::from_millis(t.saturating_sub(now_ms()).saturating_add(1))
                });
                tokio::time::Instant::now() + due.min(LISTENED_POLL)
            } else {
                tokio::time::Instant::now() + POLL
            };
            let next = until.map_or(poll, |u| u.min(poll));
            if until.is_some_and(|u| tokio::time::Instant::now() >= u) {
                return Err(LlmError::new(
                    ErrorKind::Timeout,
                    format!(
                        "queue item {id} is still {} after waiting {:.1} s",
                        state.as_str(),
                        wait.unwrap_or_default().as_secs_f64()
                    ),
                ));
            }
            tokio::select! {
                () = ended => {}
                () = tokio::time::sleep_until(next) => {}
            }
        }
    }

    /// Start the listener that wakes this process's waiters on items other processes finish,
    /// where the store tells of those (once per queue; it resubscribes after a lost connection,
    /// waiters polling meanwhile).
    fn listen_for_ends(&self) {
        if self.inner.listener.get().is_some() || self.inner.store.finished().is_none() {
            return;
        }
        let Ok(handle) = runtime::handle() else {
            return;
        };
        let _ = self.inner.listener.get_or_init(|| {
            let weak = Arc::downgrade(&self.inner);
            runtime::AbortOnDrop(handle.spawn(async move {
                listen(weak).await;
                Ok(())
            }))
        });
    }

    /// Keep an answer this process's worker stored, for a reader here.
    pub(crate) fn hand(&self, id: &str, answer: Handed) {
        self.inner
            .handed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .put(id, answer);
    }

    fn take_handed(&self, id: &str) -> Option<Handed> {
        self.inner
            .handed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take(id)
    }

    fn waiters(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<tokio::sync::Notify>>> {
        // Plain data: a panic elsewhere cannot leave it half-written.
        self.inner.waiters.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wake this process's waiters on item `id` (it ended here, or may have).
    pub(crate) fn ended(&self, id: &str) {
        if let Some(n) = self.waiters().get(id) {
            n.notify_waiters();
        }
        self.inner.changed.notify_waiters();
    }

    /// Report the expiries nobody has reported yet, in any process, as `on_event` events (the
    /// store hands each expiry to one caller). Their webhooks were recorded when they expired;
    /// this process delivers them if nobody else does.
    pub(crate) async fn report_expired(&self) {
        let items = match self.inner.store.take_expired(EXPIRED_BATCH, now_ms()).await {
            Ok(items) => items,
            Err(e) => {
                // Still unreported in the store: the next reader or worker tries again.
                tracing::warn!(queue = %self.inner.url, error = %e, "queue could not read its expiries");
                return;
            }
        };
        for item in &items {
            self.ended(&item.id);
            self.emit(&item.id, State::Expired, &item.target, item.attempts);
        }
        if items.iter().any(|i| i.callback_url.is_some()) {
            self.kick_deliveries();
        }
    }

    /// Items in `state` (every state when `None`), oldest first, at most `limit`.
    pub async fn list(&self, state: Option<State>, limit: u32) -> Result<Vec<Item>> {
        let q = self.clone();
        runtime::run(async move { q.inner.store.list(state, limit, now_ms()).await }).await
    }

    pub async fn stats(&self) -> Result<Stats> {
        let q = self.clone();
        runtime::run(async move { q.inner.store.stats(now_ms()).await }).await
    }

    /// Queue a FAILED or EXPIRED item again (attempts and TTL anew, its errors kept).
    pub async fn retry(&self, id: &str) -> Result<bool> {
        let (q, key) = (self.clone(), id.to_string());
        let done = runtime::run(async move { q.inner.store.retry(key, now_ms()).await }).await?;
        if done {
            self.emit(id, State::Queued, "", 0);
            self.inner.changed.notify_waiters();
        }
        Ok(done)
    }

    /// Delete the items in `states`; how many.
    pub async fn purge(&self, states: Vec<State>) -> Result<u64> {
        // A purged answer is not handed out any more (another process's purge is seen by
        // readers here once the answer is taken or pushed out).
        self.inner
            .handed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        let q = self.clone();
        runtime::run(async move { q.inner.store.purge(states, now_ms()).await }).await
    }
}

/// A `result` waiter's registration: the entry goes when its last waiter does.
struct Waiting<'a> {
    queue: &'a Queue,
    id: &'a str,
    notify: Arc<tokio::sync::Notify>,
}

impl<'a> Waiting<'a> {
    fn new(queue: &'a Queue, id: &'a str) -> Self {
        let notify = queue.waiters().entry(id.to_string()).or_default().clone();
        Self { queue, id, notify }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let mut waiters = self.queue.waiters();
        // Only the map's handle and this one: no other waiter on this item. Counts change
        // only under this lock, so no waiter can register in between.
        if Arc::strong_count(&self.notify) == 2 {
            waiters.remove(self.id);
        }
    }
}

/// How often waiters and idle workers look at the store for other processes' changes.
const POLL: Duration = Duration::from_millis(50);

/// How often a waiter looks at the store while the store tells it of other processes'
/// completions (a fallback for a message lost with a connection; an item's TTL or lease
/// running out is waited for on its own).
const LISTENED_POLL: Duration = Duration::from_secs(1);

/// Wake this process's `result` waiters on the items other processes finished, while the
/// queue lives; resubscribing a second after a lost connection.
async fn listen(queue: std::sync::Weak<Inner>) {
    use futures_util::StreamExt;
    use std::sync::atomic::Ordering;
    loop {
        let subscribed = match queue.upgrade() {
            Some(inner) => inner.store.finished(),
            None => return,
        };
        let Some(subscribed) = subscribed else {
            return;
        };
        match subscribed.await {
            Ok(mut ids) => {
                if let Some(inner) = queue.upgrade() {
                    inner.listening.store(true, Ordering::Release);
                }
                while let Some(ids) = ids.next().await {
                    let Some(inner) = queue.upgrade() else {
                        return;
                    };
                    let waiters = inner.waiters.lock().unwrap_or_else(|p| p.into_inner());
                    for id in &ids {
                        if let Some(n) = waiters.get(id) {
                            n.notify_waiters();
                        }
                    }
                }
            }
            Err(e) => tracing::debug!(error = %e, "queue completions unavailable; waiters poll"),
        }
        match queue.upgrade() {
            Some(inner) => inner.listening.store(false, Ordering::Release),
            None => return,
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Expiries reported per step; more wait for the next one.
const EXPIRED_BATCH: u32 = 100;

fn unreadable(id: &str, e: &dyn std::fmt::Display) -> LlmError {
    LlmError::new(
        ErrorKind::Internal,
        format!("queue item {id} is COMPLETED with an unreadable result: {e}"),
    )
}

/// A finished item's stored result; `None` while it is not finished.
fn finished(item: Item) -> Option<Result<(String, Handed)>> {
    match item.state {
        State::Queued | State::Processing => None,
        State::Completed => Some(match item.result {
            Some(v) => Ok((item.id, Handed::Stored(v))),
            None => Err(unreadable(&item.id, &"none stored")),
        }),
        State::Failed => Some(Err(match item.errors.last() {
            Some(last) => {
                let mut e = last.to_error();
                e.attempts = item.attempts;
                e
            }
            None => LlmError::new(
                ErrorKind::Internal,
                format!("queue item {} FAILED", item.id),
            ),
        })),
        State::Expired => Some(Err(LlmError::new(
            ErrorKind::Expired,
            format!(
                "queue item {} expired: no worker took it within its TTL, so it was never sent",
                item.id
            ),
        ))),
    }
}

/// A finished item's answer: the response as this process's worker had it, or as stored.
pub(crate) enum Handed {
    Chat(ChatResponse),
    Stored(Value),
}

/// Answers stored by this process's workers and not yet read here, the newest
/// `HANDED_KEPT` at most (an answer nobody reads here is read from the store, like any other).
#[derive(Default)]
struct HandedAnswers {
    by_id: HashMap<String, Handed>,
    /// Ids in the order they came (some may have been taken since).
    order: std::collections::VecDeque<String>,
}

/// Answers kept for readers in this process: a few MB of responses at most.
const HANDED_KEPT: usize = 4096;

impl HandedAnswers {
    fn put(&mut self, id: &str, answer: Handed) {
        while self.order.len() >= HANDED_KEPT {
            if let Some(old) = self.order.pop_front() {
                self.by_id.remove(&old);
            }
        }
        self.order.push_back(id.to_string());
        self.by_id.insert(id.to_string(), answer);
    }

    fn take(&mut self, id: &str) -> Option<Handed> {
        self.by_id.remove(id)
    }

    fn clear(&mut self) {
        self.by_id.clear();
        self.order.clear();
    }
}
