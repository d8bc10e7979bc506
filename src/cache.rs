//! Prompt-cache planning: where the cache breakpoints go, with which TTL, by each provider's
//! rules. Plain Rust: the planner reads the provider-neutral [`ChatRequest`] and returns a
//! [`CachePlan`]; the provider's wire file only renders it (Anthropic `cache_control` markers,
//! OpenAI `prompt_cache_key`). [`tracker`] keeps per-client statistics and warns when a change
//! in the request throws the cache away.
//!
//! The vocabulary (TTLs, the caller's policy, their own markers) is `crate::model`'s, since
//! requests carry it; what a model caches (its minimum prefix, automatic caching) is a fact of
//! `crate::catalog`, read through [`models`] with the defaults for a model it does not know.
//!
//! Nothing changes in a request unless caching is asked for (`PromptCache::Off` plans nothing),
//! except that markers the caller wrote themselves are always kept.

mod anthropic;
mod hash;
mod measure;
pub mod models;
mod openai;
pub mod tracker;

use crate::model::{CacheTtl, ChatRequest, PromptCache};

use anthropic::Automatic;
pub use hash::Fx;
pub use measure::system_text;
pub use tracker::{CacheMemory, CacheStats, Tracker};

/// Anthropic accepts at most this many `cache_control` breakpoints per request, counting the
/// automatic one.
pub const MAX_BREAKPOINTS: usize = 4;

/// Where llmrail puts its own breakpoints. Markers the caller wrote (`cache_control` on a
/// content part or a tool) are not listed: the wire file renders them where they are.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CachePlan {
    /// A breakpoint on the last tool definition.
    pub tools: Option<CacheTtl>,
    /// A breakpoint on the last block of the system prompt.
    pub system: Option<CacheTtl>,
    /// A breakpoint on the last block of `messages[i]`: the end of the stable conversation.
    pub message: Option<(usize, CacheTtl)>,
    /// Anthropic's top-level `cache_control` (the API picks the last cacheable block).
    pub automatic: Option<CacheTtl>,
    /// OpenAI: requests with the same key are routed to the same cache.
    pub prompt_cache_key: Option<String>,
    /// What the cached prefix holds, for the cache-break warning; `None` when nothing is cached
    /// or the plan was made for the wire only ([`plan`]).
    pub prefix: Option<Prefix>,
    /// The policy this plan was made for.
    pub policy: PromptCache,
}

impl CachePlan {
    /// How many breakpoints llmrail adds (the caller's own markers not counted).
    pub fn breakpoints(&self) -> usize {
        usize::from(self.tools.is_some())
            + usize::from(self.system.is_some())
            + usize::from(self.message.is_some())
            + usize::from(self.automatic.is_some())
    }
}

/// Content hashes of what a request's cache breakpoints cover.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Prefix {
    /// One hash per tool definition.
    pub tools: Vec<u64>,
    /// The whole system prompt (the `system` argument and every system message).
    pub system: u64,
    /// One hash per message, all of them.
    pub messages: Vec<u64>,
    /// How many leading messages the breakpoints cover (0: only tools and system).
    pub cached_messages: usize,
    /// The first non-system message: tells one conversation from another.
    pub thread: Option<u64>,
}

/// The plan for one request to `provider`'s `model` under `policy`, as the wire renders it
/// (`prefix` is left out: see [`plan_tracked`]).
pub fn plan(req: &ChatRequest, provider: &str, model: &str, policy: PromptCache) -> CachePlan {
    make(req, provider, model, policy, false)
}

/// As [`plan`], with `prefix` filled in for the cache-break check.
pub fn plan_tracked(
    req: &ChatRequest,
    provider: &str,
    model: &str,
    policy: PromptCache,
) -> CachePlan {
    make(req, provider, model, policy, true)
}

fn make(
    req: &ChatRequest,
    provider: &str,
    model: &str,
    policy: PromptCache,
    tracked: bool,
) -> CachePlan {
    if !policy.is_on() {
        return CachePlan::default();
    }
    let mut plan = match provider {
        "anthropic" => anthropic::plan(req, model, policy, tracked, Automatic::IfTheModelHasIt),
        // Bedrock's Converse places `cachePoint` blocks by Anthropic's rules (at most four,
        // tools then system then messages, each prefix past the model's minimum), and has no
        // top-level automatic breakpoint.
        "bedrock" => anthropic::plan(req, model, policy, tracked, Automatic::Never),
        "openai" => openai::plan(req, tracked),
        // OpenRouter and other compatible servers: no caching rules known to plan by.
        _ => CachePlan::default(),
    };
    plan.policy = policy;
    plan
}
