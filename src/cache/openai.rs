//! OpenAI caches every prompt of 1,024 tokens or more by itself, in 128-token steps of the
//! longest prefix it has seen. What helps is routing: requests with the same `prompt_cache_key`
//! go to the same cache, so llmrail derives one from the static prefix (tools and system),
//! stable across processes, unless the caller passes their own in `extra_body`.

use super::measure::{Fx, Hashes, Measured};
use super::{CachePlan, Prefix};
use crate::model::ChatRequest;

/// OpenAI caches nothing shorter.
pub const MIN_CACHED_TOKENS: u64 = 1_024;

pub fn plan(req: &ChatRequest, tracked: bool) -> CachePlan {
    let m = Measured::of(req, if tracked { Hashes::All } else { Hashes::Static });
    let mut plan = CachePlan::default();
    if (m.has_system || !m.tools.is_empty()) && !req.extra_body.contains_key("prompt_cache_key") {
        let mut h = Fx::default();
        for t in &m.tools {
            h.word(t.hash);
        }
        h.word(m.system.hash);
        plan.prompt_cache_key = Some(format!("llmrail-{:016x}", h.finish()));
    }
    let total: u64 = m.tools.iter().map(|t| t.tokens).sum::<u64>()
        + m.system.tokens
        + m.messages.iter().map(|p| p.tokens).sum::<u64>();
    if tracked && total >= MIN_CACHED_TOKENS {
        plan.prefix = Some(Prefix {
            tools: m.tools.iter().map(|t| t.hash).collect(),
            system: m.system.hash,
            messages: m.messages.iter().map(|p| p.hash).collect(),
            cached_messages: req.messages.len(),
            thread: req
                .messages
                .iter()
                .zip(&m.messages)
                .find(|(msg, _)| !super::measure::is_system(msg.role))
                .map(|(_, p)| p.hash),
        });
    }
    plan
}
