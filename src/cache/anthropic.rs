//! Anthropic's rules: up to 4 breakpoints (the caller's own markers and the automatic one
//! included), each caching `tools`, `system`, `messages` in that order up to its block, only if
//! that prefix reaches the model's minimum, with 1-hour entries before 5-minute ones.
//!
//! llmrail's breakpoints, most valuable first: the end of the stable conversation (the turn
//! before the newest user message, so it moves forward as the conversation grows), the end of
//! the system prompt (shared by every conversation), the end of the tools.

use super::measure::{is_system, Hashes, Mark, Measured, Pos};
use super::models::{has_automatic_caching, min_cacheable_tokens};
use super::{CachePlan, Prefix, MAX_BREAKPOINTS};
use crate::model::{CacheTtl, ChatRequest, PromptCache, Role};

/// Anthropic puts a tool-use system prompt of ~300-350 tokens in front of the tool definitions
/// (its "Tool use" pricing section lists 313-346 for current models); the lower figure.
const TOOL_PROMPT_TOKENS: u64 = 300;

/// A breakpoint llmrail could place: where, the prefix it closes, and what it is.
struct Candidate {
    pos: Pos,
    prefix_tokens: u64,
    spot: Spot,
}

#[derive(Clone, Copy)]
enum Spot {
    Tools,
    System,
    Message(usize),
}

/// Whether the wire has Anthropic's top-level (automatic) breakpoint.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Automatic {
    /// The Claude API: for a model the catalogue says has it.
    IfTheModelHasIt,
    /// Bedrock's Converse, which only has breakpoints in place (`cachePoint` blocks).
    Never,
}

/// With `tracked`, the plan also says what its prefix holds (for the cache-break check);
/// rendering it does not need that, and skipping the hashing halves the cost.
pub fn plan(
    req: &ChatRequest,
    model: &str,
    policy: PromptCache,
    tracked: bool,
    wire: Automatic,
) -> CachePlan {
    let m = Measured::of(req, if tracked { Hashes::All } else { Hashes::None });
    let min = min_cacheable_tokens(model);
    let automatic = policy == PromptCache::Auto
        && wire == Automatic::IfTheModelHasIt
        && has_automatic_caching(model);
    let ttl = policy.ttl();

    let tools_tokens: u64 = m.tools.iter().map(|t| t.tokens).sum::<u64>()
        + if m.tools.is_empty() {
            0
        } else {
            TOOL_PROMPT_TOKENS
        };
    let system_end = tools_tokens + m.system.tokens;
    let mut candidates = Vec::with_capacity(3);
    // With automatic caching the API places the conversation breakpoint itself.
    if !automatic {
        if let Some(k) = stable_end(req) {
            let conversation: u64 = m.messages[..=k].iter().map(|p| p.tokens).sum();
            candidates.push(Candidate {
                pos: (2, k, usize::MAX),
                prefix_tokens: system_end + conversation,
                spot: Spot::Message(k),
            });
        }
    }
    if m.has_system {
        candidates.push(Candidate {
            pos: (1, usize::MAX, usize::MAX),
            prefix_tokens: system_end,
            spot: Spot::System,
        });
    }
    if let Some(last) = m.tools.len().checked_sub(1) {
        candidates.push(Candidate {
            pos: (0, last, usize::MAX),
            prefix_tokens: tools_tokens,
            spot: Spot::Tools,
        });
    }

    let mut plan = CachePlan::default();
    let mut free = MAX_BREAKPOINTS.saturating_sub(m.marks.len());
    // The automatic breakpoint lands on the last block: if the caller marked that block
    // already, the API treats it as that marker (and rejects a different TTL), so skip it.
    if automatic && free > 0 && !last_block_marked(req) {
        plan.automatic = Some(CacheTtl::FiveMinutes);
        free -= 1;
    }
    for c in candidates {
        if free == 0 {
            break;
        }
        if c.prefix_tokens < min {
            continue;
        }
        let ttl = Some(ordered_ttl(ttl, c.pos, &m.marks));
        match c.spot {
            Spot::Tools => plan.tools = ttl,
            Spot::System => plan.system = ttl,
            Spot::Message(k) => plan.message = ttl.map(|t| (k, t)),
        }
        free -= 1;
    }
    if tracked && (plan.breakpoints() > 0 || !m.marks.is_empty()) {
        plan.prefix = Some(prefix(req, &m, &plan));
    }
    plan
}

/// The last message of the stable conversation: the one before the newest user turn (a run
/// of user and tool messages, which the wire merges into one user message). `None` when the
/// conversation has nothing before its newest user turn.
fn stable_end(req: &ChatRequest) -> Option<usize> {
    let msgs = &req.messages;
    let newest_user = msgs.iter().rposition(|m| is_user_turn(m.role))?;
    let mut start = newest_user;
    while start > 0 && (is_user_turn(msgs[start - 1].role) || is_system(msgs[start - 1].role)) {
        start -= 1;
    }
    msgs[..start].iter().rposition(|m| !is_system(m.role))
}

fn is_user_turn(role: Role) -> bool {
    matches!(role, Role::User | Role::Tool)
}

/// 1-hour entries must come before 5-minute ones: a breakpoint after one of the caller's
/// 5-minute markers is 5 minutes, one before a caller's 1-hour marker is 1 hour.
fn ordered_ttl(ttl: CacheTtl, pos: Pos, marks: &[Mark]) -> CacheTtl {
    match ttl {
        CacheTtl::OneHour
            if marks
                .iter()
                .any(|m| m.ttl == CacheTtl::FiveMinutes && m.pos < pos) =>
        {
            CacheTtl::FiveMinutes
        }
        CacheTtl::FiveMinutes
            if marks
                .iter()
                .any(|m| m.ttl == CacheTtl::OneHour && m.pos > pos) =>
        {
            CacheTtl::OneHour
        }
        t => t,
    }
}

/// Whether the caller's marker is on the request's very last block.
fn last_block_marked(req: &ChatRequest) -> bool {
    let Some(last) = req.messages.iter().rev().find(|m| !is_system(m.role)) else {
        return false;
    };
    last.tool_calls.is_empty()
        && matches!(
            last.content.last(),
            Some(crate::model::ContentPart::CacheBreakpoint(_))
        )
}

/// What the breakpoints cover: tools and system always (every breakpoint includes them), and
/// messages up to the last breakpoint among them.
fn prefix(req: &ChatRequest, m: &Measured, plan: &CachePlan) -> Prefix {
    let marked = m
        .marks
        .iter()
        .filter(|mk| mk.pos.0 == 2)
        .map(|mk| mk.pos.1 + 1)
        .max()
        .unwrap_or(0);
    let planned = match (plan.message, plan.automatic) {
        (_, Some(_)) => req.messages.len(),
        (Some((k, _)), None) => k + 1,
        (None, None) => 0,
    };
    Prefix {
        tools: m.tools.iter().map(|t| t.hash).collect(),
        system: m.system.hash,
        messages: m.messages.iter().map(|p| p.hash).collect(),
        cached_messages: marked.max(planned),
        thread: req
            .messages
            .iter()
            .zip(&m.messages)
            .find(|(msg, _)| !is_system(msg.role))
            .map(|(_, p)| p.hash),
    }
}
