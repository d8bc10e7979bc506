//! The mock's prompt cache, so cache reads and writes are reported the way the real APIs do.
//!
//! Anthropic: each `cache_control` breakpoint (and, for a top-level `cache_control`, the last
//! block) writes the prefix up to it the first time and is read afterwards; a read looks back
//! up to 20 blocks from each breakpoint for a prefix an earlier request wrote; prefixes shorter
//! than the model's minimum are not cached; entries live 5 minutes or 1 hour from last use.
//! OpenAI: every prompt of 1,024+ tokens is cached; a later request with the same
//! `prompt_cache_key` and prefix reads the longest seen prefix, in 128-token steps.
//! Tokens are the mock's usual estimate: four characters of JSON per token.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::Hasher;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use super::render::Tokens;
use super::script::Reply;
use super::wire::Wire;
use crate::cache::models::min_cacheable_tokens;

const LOOKBACK: usize = 20;
const OPENAI_MIN: u64 = 1_024;
const OPENAI_STEP: u64 = 128;
/// OpenAI keeps prefixes 5-10 minutes after last use (up to an hour off-peak).
const OPENAI_TTL: Duration = Duration::from_secs(600);

/// Prefix hash -> (TTL, expiry).
#[derive(Debug, Default)]
pub(crate) struct PromptCache {
    entries: HashMap<u64, (Duration, Instant)>,
}

/// One block of the prompt, with everything before it: hash and tokens are cumulative.
struct Block {
    hash: u64,
    tokens: u64,
    ttl: Option<Duration>,
}

impl PromptCache {
    /// Fill in the cache counts of `tokens` for this request, unless the reply scripts them.
    pub(crate) fn account(
        &mut self,
        wire: Wire,
        request: &Map<String, Value>,
        reply: &Reply,
        tokens: &mut Tokens,
    ) {
        let scripted = reply
            .usage
            .is_some_and(|u| u.cache_read_tokens > 0 || u.cache_write_tokens > 0);
        if scripted {
            return;
        }
        let now = Instant::now();
        self.entries.retain(|_, (_, expiry)| *expiry > now);
        let (read, write_5m, write_1h) = match wire {
            Wire::Anthropic => self.anthropic(request, now),
            Wire::OpenAi => (self.openai(request, now), 0, 0),
            // Ollama reports no cached tokens.
            Wire::Ollama => (0, 0, 0),
            // Gemini's implicit cache is not simulated; a scripted usage sets its counts.
            Wire::Gemini => (0, 0, 0),
            // Bedrock's cache points are not simulated either.
            Wire::Bedrock => (0, 0, 0),
        };
        tokens.cache_read = read;
        tokens.cache_write = write_5m + write_1h;
        tokens.cache_write_1h = write_1h;
        tokens.input = tokens.input.max(read + write_5m + write_1h);
    }

    fn anthropic(&mut self, request: &Map<String, Value>, now: Instant) -> (u64, u64, u64) {
        let blocks = anthropic_blocks(request);
        let model = request.get("model").and_then(Value::as_str).unwrap_or("");
        let min = min_cacheable_tokens(model);
        let marked: Vec<usize> = (0..blocks.len())
            .filter(|&i| blocks[i].ttl.is_some())
            .collect();
        // The highest prefix an earlier request wrote, found by looking back from a breakpoint.
        let hit = marked
            .iter()
            .filter_map(|&b| {
                (b.saturating_sub(LOOKBACK - 1)..=b)
                    .rev()
                    .find(|&p| self.entries.contains_key(&blocks[p].hash))
            })
            .max();
        let read = hit.map_or(0, |p| blocks[p].tokens);
        if let Some((ttl, expiry)) = hit.and_then(|p| self.entries.get_mut(&blocks[p].hash)) {
            *expiry = now + *ttl;
        }
        let writes: Vec<&Block> = marked
            .iter()
            .map(|&i| &blocks[i])
            .filter(|b| b.tokens >= min && b.tokens > read)
            .collect();
        // Billing as documented for mixed TTLs: 1-hour writes up to the last 1-hour breakpoint,
        // 5-minute writes from there to the last breakpoint.
        let last = writes.last().map_or(read, |b| b.tokens);
        let last_1h = writes
            .iter()
            .rev()
            .find(|b| b.ttl == Some(HOUR))
            .map_or(read, |b| b.tokens);
        for b in &writes {
            let ttl = b.ttl.unwrap_or(FIVE_MINUTES);
            self.entries.insert(b.hash, (ttl, now + ttl));
        }
        (read, last - last_1h, last_1h - read)
    }

    fn openai(&mut self, request: &Map<String, Value>, now: Instant) -> u64 {
        let mut h = DefaultHasher::new();
        let key = request.get("prompt_cache_key").and_then(Value::as_str);
        h.write(key.unwrap_or("").as_bytes());
        h.write(
            request
                .get("model")
                .and_then(Value::as_str)
                .unwrap_or("")
                .as_bytes(),
        );
        let mut tokens = 0;
        let mut prefixes = Vec::new();
        let items = list(request.get("tools")).chain(list(request.get("messages")));
        for item in items {
            tokens += add(&mut h, item);
            prefixes.push((h.finish(), tokens));
        }
        let cached = prefixes
            .iter()
            .rev()
            .find(|(hash, _)| self.entries.contains_key(hash))
            .map_or(0, |(_, t)| *t / OPENAI_STEP * OPENAI_STEP);
        for (hash, t) in prefixes {
            if t >= OPENAI_MIN {
                self.entries.insert(hash, (OPENAI_TTL, now + OPENAI_TTL));
            }
        }
        if cached >= OPENAI_MIN {
            cached
        } else {
            0
        }
    }
}

const FIVE_MINUTES: Duration = Duration::from_secs(300);
const HOUR: Duration = Duration::from_secs(3600);

fn list(v: Option<&Value>) -> impl Iterator<Item = &Value> {
    v.and_then(Value::as_array).into_iter().flatten()
}

/// Tools, then system, then each message's content blocks, in the order the API caches them.
fn anthropic_blocks(request: &Map<String, Value>) -> Vec<Block> {
    let mut h = DefaultHasher::new();
    let mut tokens = 0;
    let mut out = Vec::new();
    let mut push = |h: &mut DefaultHasher, item: &Value| {
        tokens += add(h, item);
        out.push(Block {
            hash: h.finish(),
            tokens,
            ttl: item.get("cache_control").map(ttl),
        });
    };
    for tool in list(request.get("tools")) {
        push(&mut h, tool);
    }
    match request.get("system") {
        Some(Value::Array(blocks)) => blocks.iter().for_each(|b| push(&mut h, b)),
        Some(s @ Value::String(_)) => push(&mut h, s),
        _ => {}
    }
    for message in list(request.get("messages")) {
        h.write(
            message
                .get("role")
                .and_then(Value::as_str)
                .unwrap_or("")
                .as_bytes(),
        );
        match message.get("content") {
            Some(Value::Array(blocks)) => blocks.iter().for_each(|b| push(&mut h, b)),
            Some(other) => push(&mut h, other),
            None => {}
        }
    }
    if let (Some(top), Some(last)) = (request.get("cache_control"), out.last_mut()) {
        last.ttl = last.ttl.or(Some(ttl(top)));
    }
    out
}

/// Hash an item without its own `cache_control` (moving a marker does not change the prefix);
/// its token estimate.
fn add(h: &mut DefaultHasher, item: &Value) -> u64 {
    let text = match item {
        Value::Object(o) if o.contains_key("cache_control") => {
            let mut o = o.clone();
            o.remove("cache_control");
            Value::Object(o).to_string()
        }
        other => other.to_string(),
    };
    h.write(text.as_bytes());
    (text.len() as u64).div_ceil(4)
}

fn ttl(control: &Value) -> Duration {
    match control.get("ttl").and_then(Value::as_str) {
        Some("1h") => HOUR,
        _ => FIVE_MINUTES,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(v: Value) -> Map<String, Value> {
        let Value::Object(m) = v else { unreachable!() };
        m
    }

    fn run(cache: &mut PromptCache, wire: Wire, request: &Map<String, Value>) -> Tokens {
        let mut t = Tokens {
            input: 10,
            output: 1,
            cache_read: 0,
            cache_write: 0,
            cache_write_1h: 0,
        };
        cache.account(wire, request, &Reply::default(), &mut t);
        t
    }

    #[test]
    fn anthropic_writes_then_reads_a_marked_prefix() {
        let long = "x".repeat(8_000);
        let req = |question: &str| {
            body(json!({"model": "claude-sonnet-4-5",
                "system": [{"type": "text", "text": long, "cache_control": {"type": "ephemeral"}}],
                "messages": [{"role": "user", "content": question}]}))
        };
        let mut cache = PromptCache::default();
        let first = run(&mut cache, Wire::Anthropic, &req("a?"));
        assert!(
            first.cache_write > 2_000 && first.cache_read == 0,
            "{first:?}"
        );
        let second = run(&mut cache, Wire::Anthropic, &req("b?"));
        assert_eq!(
            (second.cache_read, second.cache_write),
            (first.cache_write, 0)
        );
        assert!(second.input >= second.cache_read);
    }

    #[test]
    fn anthropic_ignores_short_prefixes_and_unmarked_requests() {
        let mut cache = PromptCache::default();
        let short = body(
            json!({"model": "claude-sonnet-4-5", "cache_control": {"type": "ephemeral"},
            "messages": [{"role": "user", "content": "hi"}]}),
        );
        let t = run(&mut cache, Wire::Anthropic, &short);
        assert_eq!((t.cache_read, t.cache_write), (0, 0));
        let plain = body(json!({"model": "m", "system": "y".repeat(9_000), "messages": []}));
        run(&mut cache, Wire::Anthropic, &plain);
        assert_eq!(run(&mut cache, Wire::Anthropic, &plain).cache_read, 0);
    }

    #[test]
    fn openai_reads_repeated_prefixes_in_128_token_steps() {
        let req = |q: &str| {
            body(json!({"model": "gpt-4.1", "prompt_cache_key": "k",
                "messages": [{"role": "system", "content": "z".repeat(6_000)}, {"role": "user", "content": q}]}))
        };
        let mut cache = PromptCache::default();
        assert_eq!(run(&mut cache, Wire::OpenAi, &req("a")).cache_read, 0);
        let hit = run(&mut cache, Wire::OpenAi, &req("b")).cache_read;
        assert!(hit >= 1_024 && hit.is_multiple_of(128), "{hit}");
    }
}
