//! Provider batch jobs: many chat requests handed to a provider's batch API at once (half the
//! price, answered within a day), or run as concurrent calls where the provider has none.
//!
//! One job engine (`job.rs`) and one translation per provider's batch API (`anthropic.rs`:
//! Message Batches; `openai.rs`: a JSONL file, then `/v1/batches`, then an output and an error
//! file; `gemini.rs`: `batchGenerateContent`, inline or, past 20 MB, from an uploaded JSONL file, an
//! operation polled until its responses are there), chosen by [`crate::catalog::batch_api_for`]. The engine submits, polls, collects results by `custom_id`
//! (providers answer out of order; results come back in input order), resubmits items that
//! failed for a reason worth retrying, and writes its state to a [`Store`] after every change so
//! that another process can resume it. Each item's body is built by the client's provider
//! (`Provider::build_chat_with_cache`, prompt-cache markers planned as for any call) and each
//! answer is decoded by its `parse_chat` / `parse_error`; every HTTP request of a lifecycle goes
//! through the client's transport, so cassettes record and replay a batch like any call.
//!
//! Which way the arrows point: `batch -> client` (its primary target sends and translates),
//! `batch -> providers` (helpers of the wire files), `batch -> model`, `batch -> catalog` (which
//! providers have a batch API, and its discount). Nothing below knows about batches.

mod anthropic;
mod batcher;
mod concurrent;
mod gemini;
mod job;
mod openai;
mod outcome;
mod recover;
mod state;
mod stats;
mod store;
#[cfg(test)]
mod tests;

pub use batcher::{Batcher, BatcherOptions, ItemAnswer};
pub use job::{BatchJob, SubmitOptions, WaitOptions, DEFAULT_POLL_INTERVAL};
pub use outcome::ItemResult;
pub use stats::{process_stats, JobsByStatus, Stats};
pub use store::{default_store_path, JobSummary, Store};

use serde::{Deserialize, Serialize};

use crate::error::{LlmError, Result};
use crate::model::ChatRequest;

/// Attempts an item gets in all (its first submission included) when it keeps failing for a
/// retryable reason.
pub const MAX_ATTEMPTS: u32 = 3;

/// One request of a job: the options of a chat call, and the id the caller knows it by.
#[derive(Debug, Clone)]
pub struct BatchRequest {
    /// The caller's id for the item; `None` gets its index in the job ("0", "1", ...).
    pub custom_id: Option<String>,
    pub request: ChatRequest,
}

/// Where a job stands, in one vocabulary for every provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Handed over; the provider has not started (OpenAI `validating`).
    Submitted,
    Running,
    /// The provider is writing the results (OpenAI `finalizing`), or llmrail is collecting them.
    Finalizing,
    /// Every item has its answer or its error.
    Ended,
    /// The provider refused the batch as a whole (OpenAI `failed`: its input did not validate).
    Failed,
    Cancelling,
    Cancelled,
    /// The provider's window (24 hours) passed with items still unprocessed.
    Expired,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Submitted => "submitted",
            Self::Running => "running",
            Self::Finalizing => "finalizing",
            Self::Ended => "ended",
            Self::Failed => "failed",
            Self::Cancelling => "cancelling",
            Self::Cancelled => "cancelled",
            Self::Expired => "expired",
        }
    }

    /// Whether the provider is done with a batch in this state.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Ended | Self::Failed | Self::Cancelled | Self::Expired
        )
    }
}

/// How many items are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub pending: u64,
    pub succeeded: u64,
    pub errored: u64,
    pub cancelled: u64,
    pub expired: u64,
}

/// How a job runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Through the provider's batch API.
    Batch,
    /// As concurrent real-time calls through the client's pipeline (retries and rate limits
    /// hold): for a provider without a batch API.
    Concurrent,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Batch => "batch",
            Self::Concurrent => "concurrent",
        }
    }
}

/// A job as it stands: what `BatchJob`'s getters show.
#[derive(Debug, Clone, PartialEq)]
pub struct JobInfo {
    pub id: String,
    pub provider: String,
    pub model: String,
    pub status: Status,
    pub counts: Counts,
    /// Unix seconds.
    pub created_at: f64,
    /// Unix seconds: when the provider gives up on unprocessed items (the earliest of the
    /// job's provider batches); `None` before any was created, and in concurrent mode.
    pub expires_at: Option<f64>,
    pub mode: Mode,
}

/// A provider batch as a poll (or the create, or a cancel) reported it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Polled {
    pub id: String,
    pub status: Status,
    /// The provider's own counts, when it gives them.
    pub counts: Option<Counts>,
    pub created_at: Option<f64>,
    pub expires_at: Option<f64>,
    /// Where the answers (OpenAI's output file, Gemini's `responsesFile`) and the failures
    /// (OpenAI's error file) are, once written.
    pub output_file: Option<String>,
    pub error_file: Option<String>,
    /// What the create left on it to find it by: OpenAI's `metadata.llmrail_token`, Gemini's
    /// `displayName` (Anthropic keeps nothing of the kind).
    pub tag: Option<String>,
}

/// One page of a provider's list of batches, and the cursor of the next page.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Page {
    pub batches: Vec<Polled>,
    pub next: Option<String>,
}

impl Page {
    /// A page as Anthropic and OpenAI both write one (`{"data": [batch, ...], "has_more",
    /// "last_id"}`, the last id being the next page's cursor), each batch read by `parse_batch`.
    pub(crate) fn parse_data(
        body: &[u8],
        what: &str,
        parse_batch: fn(&[u8]) -> Result<Polled>,
    ) -> Result<Self> {
        #[derive(Deserialize)]
        struct WireList {
            data: Vec<Box<serde_json::value::RawValue>>,
            #[serde(default)]
            has_more: bool,
            #[serde(default)]
            last_id: Option<String>,
        }
        let w: WireList = crate::providers::parse_json(body, what)?;
        let batches = w
            .data
            .iter()
            .map(|b| parse_batch(b.get().as_bytes()))
            .collect::<Result<Vec<_>>>()?;
        let next = w.last_id.filter(|_| w.has_more);
        Ok(Self { batches, next })
    }
}

/// A cursor or page token as a query value: everything but unreserved characters escaped.
pub(crate) fn query_value(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// A provider batch API (which providers have one is the catalogue's fact), and its limits per
/// provider batch (a larger job is split).
pub use crate::catalog::BatchApi as Api;

impl Api {
    /// The most requests and bytes one provider batch may hold: Anthropic "Message Batches"
    /// (docs.claude.com/en/docs/build-with-claude/batch-processing, "Batch limitations":
    /// 100,000 requests or 256 MB); OpenAI "Batch API" (platform.openai.com/docs/guides/batch,
    /// "Rate limits": 50,000 requests, an input file of up to 200 MB); Gemini batch mode
    /// (ai.google.dev/gemini-api/docs/batch-api, "Creating a batch job": no count is given;
    /// past 20 MB the requests go in an input file, which the Files API takes up to 2 GB, see
    /// ai.google.dev/gemini-api/docs/files).
    pub fn limits(self) -> (usize, usize) {
        match self {
            Self::Anthropic => (100_000, 256 * 1_000_000),
            Self::OpenAi => (50_000, 200 * 1_000_000),
            Self::Gemini => (usize::MAX, 2_000_000_000),
        }
    }
}

/// Cut items of these sizes (bytes) into consecutive runs of at most `max_items` items and
/// `max_bytes` bytes (an item alone over `max_bytes` is a run of its own: the provider judges).
pub fn split(sizes: &[usize], max_items: usize, max_bytes: usize) -> Vec<std::ops::Range<usize>> {
    let mut runs = Vec::new();
    let (mut start, mut bytes) = (0, 0usize);
    for (i, &size) in sizes.iter().enumerate() {
        let full = i - start >= max_items || bytes.saturating_add(size) > max_bytes;
        if i > start && full {
            runs.push(start..i);
            start = i;
            bytes = 0;
        }
        bytes = bytes.saturating_add(size);
    }
    if start < sizes.len() {
        runs.push(start..sizes.len());
    }
    runs
}

/// The custom ids of `requests` (an index where none is given), refusing duplicates and the
/// options a batch cannot carry.
pub(crate) fn custom_ids(requests: &[BatchRequest]) -> Result<Vec<String>> {
    if requests.is_empty() {
        return Err(LlmError::config("a batch needs at least one request"));
    }
    let mut seen = std::collections::HashMap::with_capacity(requests.len());
    let mut ids = Vec::with_capacity(requests.len());
    for (i, r) in requests.iter().enumerate() {
        let id = r.custom_id.clone().unwrap_or_else(|| i.to_string());
        if id.is_empty() || id.len() > 64 {
            return Err(LlmError::config(format!(
                "request {i}: custom_id must be 1 to 64 characters, got {id:?}"
            )));
        }
        if let Some(first) = seen.insert(id.clone(), i) {
            return Err(LlmError::config(format!(
                "requests {first} and {i} have the same custom_id {id:?}; each request of a \
                 batch needs its own"
            )));
        }
        if r.request.extra_body.contains_key("stream") {
            return Err(LlmError::config(format!(
                "request {i} ({id:?}) asks to stream: a batch answers each request whole, so \
                 batch requests cannot stream"
            )));
        }
        ids.push(id);
    }
    Ok(ids)
}

/// Unix seconds now.
pub(crate) fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}
