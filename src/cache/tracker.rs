//! Cache bookkeeping: a client's running totals (and so the hit rate), and the cache-break
//! warning. A request whose cached prefix differs from what the previous call cached pays for
//! a cache write instead of a read; the warning names what changed (a tool, the system prompt,
//! which message) so the timestamp that killed the cache can be found. What the previous calls
//! cached is the target's ([`CacheMemory`]): every client of the same target shares it, as they
//! share the provider's cache.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use serde::Serialize;

use super::measure::{system_text, Fx};
use super::{plan_tracked, CachePlan, Prefix};
use crate::model::{CacheTtl, ChatRequest, PromptCache, Usage};

/// Static prefixes (tools + system) remembered: alternating between a few prompts still reads
/// each one's cache, so switching between them is not a break.
const SEEN: usize = 16;
/// Conversations remembered, so interleaved conversations on one client are compared each with
/// its own previous call.
const THREADS: usize = 64;

/// Running totals for one client, over every successful call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct CacheStats {
    pub requests: u64,
    pub input_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    /// Calls whose cached prefix changed since the previous call (each one logged a warning).
    pub cache_breaks: u64,
}

impl CacheStats {
    /// Share of all input tokens that were read from the cache.
    pub fn hit_rate(&self) -> f64 {
        if self.input_tokens == 0 {
            return 0.0;
        }
        self.cache_read_tokens as f64 / self.input_tokens as f64
    }
}

/// A client's default policy and totals, and the memory of what its target's last cached
/// requests held.
#[derive(Debug, Default)]
pub struct Tracker {
    default: PromptCache,
    stats: Mutex<CacheStats>,
    memory: Arc<CacheMemory>,
}

/// What the last cached requests to one target held.
#[derive(Debug, Default)]
pub struct CacheMemory {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    last_static: Option<Static>,
    seen: VecDeque<(u64, Instant)>,
    threads: VecDeque<Thread>,
}

impl CacheMemory {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Fingerprints stay consistent at every step; a panic elsewhere cannot leave them
        // half-written, so keep using them.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether a fresh memory would judge every request the same: all it holds is older than
    /// the longest TTL, so gone at the provider too.
    pub fn at_rest(&self) -> bool {
        let (now, longest) = (Instant::now(), CacheTtl::OneHour.duration());
        let old = |at: &Instant| now.duration_since(*at) >= longest;
        let st = self.lock();
        st.last_static.as_ref().is_none_or(|s| old(&s.at))
            && st.seen.iter().all(|(_, at)| old(at))
            && st.threads.iter().all(|t| old(&t.at))
    }
}

#[derive(Debug)]
struct Static {
    tools: Vec<u64>,
    system: u64,
    system_text: String,
    at: Instant,
}

#[derive(Debug)]
struct Thread {
    key: u64,
    messages: Vec<u64>,
    cached: usize,
    at: Instant,
}

impl Tracker {
    /// A tracker with a memory of its own.
    pub fn new(default: PromptCache) -> Self {
        Self::sharing(default, Arc::default())
    }

    /// A tracker on `memory`, which other clients of the same target use too.
    pub fn sharing(default: PromptCache, memory: Arc<CacheMemory>) -> Self {
        Self {
            default,
            stats: Mutex::default(),
            memory,
        }
    }

    pub fn default_policy(&self) -> PromptCache {
        self.default
    }

    fn stats_lock(&self) -> MutexGuard<'_, CacheStats> {
        self.stats.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// As [`Tracker::plan`], for a caller that plans by itself.
    pub fn prepare(&self, req: ChatRequest, provider: &str, model: &str) -> ChatRequest {
        self.plan(req, provider, model).0
    }

    /// Settle a request's policy (the call's `prompt_cache`, else the client's), so every
    /// provider that builds it plans the same way, warn if what it caches breaks what the
    /// previous call cached (judged by the client's own provider and model), and return the
    /// plan for `provider`'s `model` (empty when caching is off).
    pub fn plan(
        &self,
        mut req: ChatRequest,
        provider: &str,
        model: &str,
    ) -> (ChatRequest, CachePlan) {
        let policy = req.prompt_cache.unwrap_or(self.default);
        req.prompt_cache = Some(policy);
        if !policy.is_on() {
            return (req, CachePlan::default());
        }
        let plan = plan_tracked(&req, provider, model, policy);
        if let Some(prefix) = &plan.prefix {
            self.check(&req, prefix, &plan);
        }
        (req, plan)
    }

    /// Add one finished call's usage to the totals.
    pub fn record(&self, usage: &Usage) {
        let mut s = self.stats_lock();
        // The server's counts: saturate rather than overflow on absurd values.
        s.requests = s.requests.saturating_add(1);
        s.input_tokens = s.input_tokens.saturating_add(usage.input_tokens);
        s.cache_read_tokens = s.cache_read_tokens.saturating_add(usage.cache_read_tokens);
        s.cache_write_tokens = s
            .cache_write_tokens
            .saturating_add(usage.cache_write_tokens);
    }

    pub fn stats(&self) -> CacheStats {
        *self.stats_lock()
    }

    fn check(&self, req: &ChatRequest, p: &Prefix, plan: &CachePlan) {
        let ttl = plan.policy.ttl().duration();
        let now = Instant::now();
        let fresh = |at: Instant| now.duration_since(at) < ttl;
        let mut broken = Vec::new();
        let mut st = self.memory.lock();

        let mut h = Fx::default();
        p.tools.iter().for_each(|t| h.word(*t));
        h.word(p.system);
        let combined = h.finish();
        st.seen.retain(|(_, at)| fresh(*at));
        if let Some(entry) = st.seen.iter_mut().find(|(k, _)| *k == combined) {
            entry.1 = now;
        } else {
            if let Some(last) = st.last_static.as_ref().filter(|l| fresh(l.at)) {
                broken.push(static_change(last, p, req));
            }
            if st.seen.len() == SEEN {
                st.seen.pop_front();
            }
            st.seen.push_back((combined, now));
        }
        match &mut st.last_static {
            Some(last) if last.system == p.system && last.tools == p.tools => last.at = now,
            last => {
                *last = Some(Static {
                    tools: p.tools.clone(),
                    system: p.system,
                    system_text: system_text(req),
                    at: now,
                })
            }
        }

        if let Some(key) = p.thread {
            let found = st.threads.iter().position(|t| t.key == key && fresh(t.at));
            if let Some(t) = found.and_then(|i| st.threads.remove(i)) {
                if broken.is_empty() {
                    broken.extend(message_change(&t, p, req));
                }
            }
            st.threads.retain(|t| t.key != key);
            if st.threads.len() == THREADS {
                st.threads.pop_front();
            }
            st.threads.push_back(Thread {
                key,
                messages: p.messages.clone(),
                cached: p.cached_messages,
                at: now,
            });
        }
        drop(st);
        if !broken.is_empty() {
            self.stats_lock().cache_breaks += broken.len() as u64;
        }
        for what in broken {
            tracing::warn!(
                "prompt cache broken: {what}; the prefix after it is written to the cache again \
                 (a write costs more than a plain input token) instead of read (0.1x)"
            );
        }
    }
}

/// Which tool changed, or where in the system prompt.
fn static_change(last: &Static, p: &Prefix, req: &ChatRequest) -> String {
    if last.tools != p.tools {
        let changed = last.tools.iter().zip(&p.tools).position(|(a, b)| a != b);
        return match changed.and_then(|i| req.tools.get(i).map(|t| (i, t))) {
            Some((i, t)) => format!(
                "tool {:?} (tools[{i}]) differs from the previous call; tool definitions come \
                 first in the cached prefix, so the whole cache is lost",
                t.name
            ),
            None => format!(
                "the tools changed from {} to {} definitions since the previous call",
                last.tools.len(),
                p.tools.len()
            ),
        };
    }
    let now = system_text(req);
    let (line, column) = first_difference(&last.system_text, &now);
    format!(
        "the system prompt differs from the previous call at line {line}, column {column} \
         (a timestamp or other per-call value there? move it after the cached prefix)"
    )
}

/// The first cached message that is not the same as in this conversation's previous call.
fn message_change(prev: &Thread, p: &Prefix, req: &ChatRequest) -> Option<String> {
    let cached = prev.cached.min(prev.messages.len());
    let changed = prev.messages[..cached]
        .iter()
        .zip(&p.messages)
        .position(|(a, b)| a != b);
    if let Some(i) = changed {
        let role = req
            .messages
            .get(i)
            .and_then(|m| serde_json::to_value(m.role).ok());
        let role = role.as_ref().and_then(|r| r.as_str()).unwrap_or("?");
        return Some(format!(
            "messages[{i}] ({role}) differs from this conversation's previous call; every \
             message before the cache breakpoint must stay identical"
        ));
    }
    (p.messages.len() < cached).then(|| {
        format!(
            "the conversation has {} messages, fewer than the {cached} the previous call cached",
            p.messages.len()
        )
    })
}

/// 1-based line and column (in characters) of the first difference between two texts.
fn first_difference(a: &str, b: &str) -> (usize, usize) {
    let (mut line, mut column) = (1, 1);
    for (x, y) in a.chars().zip(b.chars()) {
        if x != y {
            return (line, column);
        }
        if x == '\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
    }
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_are_located_by_line_and_column() {
        assert_eq!(first_difference("ab\ncd", "ab\nce"), (2, 2));
        assert_eq!(first_difference("abc", "abd"), (1, 3));
        assert_eq!(first_difference("abc", "abcdef"), (1, 4));
    }

    #[test]
    fn hit_rate_is_read_over_input() {
        let s = CacheStats {
            input_tokens: 1000,
            cache_read_tokens: 900,
            ..Default::default()
        };
        assert!((s.hit_rate() - 0.9).abs() < 1e-12);
        assert_eq!(CacheStats::default().hit_rate(), 0.0);
    }
}
