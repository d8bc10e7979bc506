//! A queue item's trace: the submitter's W3C `traceparent`, stored inside the item's request
//! JSON (under `"traceparent"`, as `"extract"` travels: no schema change), and, once a worker's
//! processing of the item is stored, one [`ItemSpan`] handed to the queue's span sink: the
//! processing's facts and the call it made. The core makes no spans itself (as the gateway's
//! `trace.rs`): whoever installed the sink does, off the worker's path (`src/py/otel/queue.rs`
//! hands them to the Python OpenTelemetry SDK). With no sink a worker records nothing.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::resilience::{AttemptRecord, TargetInfo};

/// Where the submitter's trace context travels inside a stored request.
pub const TRACEPARENT: &str = "traceparent";

/// One processing of an item, handed to the sink once its outcome is stored.
#[derive(Debug, Clone)]
pub struct ItemSpan {
    /// The submitter's `traceparent`, as stored (the span's parent); `None`: a new trace.
    pub traceparent: Option<String>,
    pub id: String,
    /// The model string the item was queued for.
    pub target: String,
    /// Which processing of the item this is (1 for the first).
    pub attempt: u32,
    pub started: SystemTime,
    pub duration: Duration,
    /// `completed`, `failed`, `retried` (queued again), `released` (the breaker opened before
    /// the call), `expired`, or `superseded` (another worker's outcome was stored first).
    pub outcome: &'static str,
    /// The failure's kind name, when the call failed.
    pub error: Option<&'static str>,
    /// The call the processing made, if it got that far.
    pub call: Option<ItemCall>,
}

/// The llmrail call under an item's processing span.
#[derive(Debug, Clone)]
pub struct ItemCall {
    /// `chat` or `extract`.
    pub operation: &'static str,
    pub target: TargetInfo,
    pub started: SystemTime,
    pub duration: Duration,
    /// Every request a chat call sent (an extraction's are not kept: empty).
    pub attempts: Vec<AttemptRecord>,
    pub error: Option<&'static str>,
}

/// Where processed items' traces go; must return at once (it runs on the worker loop).
pub type ItemSink = Arc<dyn Fn(ItemSpan) + Send + Sync>;
