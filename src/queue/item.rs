//! A queued item and its lifecycle: `QUEUED -> PROCESSING -> COMPLETED | FAILED | EXPIRED`
//! (and back to `QUEUED` when an attempt fails in a way a later one may not).

use serde_json::Value;

use super::record::StoredError;
use crate::error::{LlmError, Result};

/// Where an item is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    Queued,
    Processing,
    Completed,
    Failed,
    Expired,
}

impl State {
    pub const ALL: [Self; 5] = [
        Self::Queued,
        Self::Processing,
        Self::Completed,
        Self::Failed,
        Self::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "QUEUED",
            Self::Processing => "PROCESSING",
            Self::Completed => "COMPLETED",
            Self::Failed => "FAILED",
            Self::Expired => "EXPIRED",
        }
    }

    /// Case-insensitive: the CLI's `--state failed` and the stored `FAILED` alike.
    pub fn parse(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                LlmError::config(format!(
                    "unknown queue state {s:?}: one of QUEUED, PROCESSING, COMPLETED, FAILED, EXPIRED"
                ))
            })
    }

    /// Whether the item's life is over (nothing will change it but `retry`).
    pub fn is_final(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Expired)
    }
}

/// A stored item as `status()` shows it. Times are milliseconds since the Unix epoch, so every
/// process (and machine) sharing a store reads them alike.
#[derive(Debug, Clone)]
pub struct Item {
    pub id: String,
    pub state: State,
    /// The model string ("provider/model") the request goes to.
    pub target: String,
    /// The request as [`super::record::encode_request`] wrote it.
    pub request: Value,
    pub metadata: Option<Value>,
    pub priority: i64,
    pub idempotency_key: Option<String>,
    /// Processings started so far (a worker that died mid-way counts).
    pub attempts: u32,
    pub max_attempts: u32,
    pub created_ms: u64,
    pub updated_ms: u64,
    /// Not processed at or after this time: it becomes EXPIRED instead.
    pub expires_ms: u64,
    pub finished_ms: Option<u64>,
    /// While PROCESSING: when the worker's lease ends unless it renews it.
    pub lease_until_ms: Option<u64>,
    /// Every failed attempt's error, oldest first.
    pub errors: Vec<StoredError>,
    /// For COMPLETED: the response as [`super::record::StoredResponse`].
    pub result: Option<Value>,
    /// Where the final status is POSTed (signed) when the item ends in a worker.
    pub callback_url: Option<String>,
    /// The webhook of its final state, once it has one (a finished item with a
    /// `callback_url`). Read by `status` (and `list` on sqlite); `None` otherwise.
    pub webhook: Option<Delivery>,
}

/// Where a finished item's webhook stands: recorded in the step that finished the item, then
/// PENDING until a POST is answered 2xx (DELIVERED) or attempts / age run out (GAVE_UP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    Pending,
    Delivered,
    GaveUp,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Delivered => "DELIVERED",
            Self::GaveUp => "GAVE_UP",
        }
    }

    /// What a store wrote; an unknown word reads as given up (never sent again).
    pub fn parse(s: &str) -> Self {
        match s {
            "PENDING" => Self::Pending,
            "DELIVERED" => Self::Delivered,
            _ => Self::GaveUp,
        }
    }
}

/// An item's webhook delivery as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// Stable across every attempt (the `x-llmrail-delivery` header), so a receiver can drop
    /// a repeat: `whd_<item id>_<finished ms>`.
    pub id: String,
    pub state: DeliveryState,
    /// POSTs started (a process that died mid-way counts).
    pub attempts: u32,
    /// When the item finished and the delivery was recorded.
    pub created_ms: u64,
    /// While PENDING: when it is next due (a retry's backoff, or the lease of the process
    /// sending it now).
    pub due_ms: Option<u64>,
    /// When it was DELIVERED or given up.
    pub settled_ms: Option<u64>,
    pub last_error: Option<String>,
}

/// How a delivery attempt ended, as the sender records it.
#[derive(Debug, Clone, PartialEq)]
pub enum Settle {
    Delivered,
    /// Failed; try again at `at`.
    Retry {
        at: u64,
        error: String,
    },
    /// Failed for the last time (attempts or age ran out).
    GiveUp {
        error: String,
    },
}

/// What `submit` stores.
#[derive(Debug, Clone)]
pub struct NewItem {
    pub id: String,
    pub target: String,
    pub request: Value,
    pub metadata: Option<Value>,
    pub priority: i64,
    pub idempotency_key: Option<String>,
    pub max_attempts: u32,
    pub ttl_ms: u64,
    pub callback_url: Option<String>,
}

/// The depths at which the queue stops taking items, and starts again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watermarks {
    /// Refuse once this many items are queued or processing.
    pub high: u64,
    /// Having refused, take items again only below this many.
    pub low: u64,
}

/// How a submission went.
#[derive(Debug, Clone, PartialEq)]
pub enum Submitted {
    /// Stored (committed) under this id.
    New(String),
    /// The idempotency key was seen before: the first submission's id, nothing stored.
    Existing(String),
    /// Refused: the queue is at its high watermark (or has not drained below the low one).
    Full {
        depth: u64,
        /// Items finished over the last minute, for the retry-after hint.
        finished_last_minute: u64,
    },
}

/// A taken item, and the token that proves this worker holds its lease.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub item: Item,
    pub token: String,
}

/// How a worker's attempt at an item ended, as it hands it back to the store.
#[derive(Debug, Clone)]
pub enum End {
    /// Answered (the result as JSON text, written as it is): stored unless another
    /// completion of the item came first.
    Complete(String),
    /// Failed: QUEUED again if `retry` and attempts are left, else FAILED.
    Fail { error: StoredError, retry: bool },
    /// Put back without counting the attempt (its target's breaker opened before the send).
    Release,
}

/// One item's [`End`], with the lease token of the worker that held it.
#[derive(Debug, Clone)]
pub struct Ended {
    pub id: String,
    pub token: String,
    pub end: End,
}

/// Counts by state and the age of the oldest waiting item: what `queue stats` prints and the
/// metrics read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    /// Items per state, in [`State::ALL`]'s order.
    pub counts: [u64; 5],
    pub oldest_queued_ms: Option<u64>,
    pub finished_last_minute: u64,
    /// Whether submissions are refused until the depth falls below the low watermark.
    pub refusing: bool,
    /// Webhooks recorded and not yet delivered (retrying included).
    pub webhooks_pending: u64,
    /// Webhooks given up after their attempts or age ran out.
    pub webhooks_failed: u64,
}

impl Stats {
    pub fn count(&self, state: State) -> u64 {
        let i = State::ALL.iter().position(|s| *s == state).unwrap_or(0);
        self.counts[i]
    }
}
