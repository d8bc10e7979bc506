//! What prompt-cache planning adds to a call, measured in Rust (run by bench/cache.py):
//! a 20-turn Anthropic conversation with a ~5,000-token system prompt, every turn's request.
//!
//!     cargo run --release --example bench_cache_plan [iterations]
//!
//! Prints one JSON line, microseconds per call: `cache::plan` alone (what the wire renders),
//! with fingerprints (`plan_tracked`), the client's check (`prepare`), building the body with
//! and without caching, and `added_us`: everything a cached call does more than an uncached
//! one (the check, planning for the wire, rendering the markers).

use std::hint::black_box;
use std::time::{Duration, Instant};

use http::HeaderMap;
use llmrail::cache::{self, Tracker};
use llmrail::model::{CacheTtl, ChatRequest, Message, PromptCache};
use llmrail::providers::{self, Endpoint, Secret};
use serde_json::json;

const MODEL: &str = "claude-sonnet-4-5";
const TURNS: usize = 20;

fn system_prompt() -> String {
    let mut s = String::from("You are the support assistant of Example Corp.\n");
    let mut i = 0;
    while s.len() < 20_000 {
        s.push_str(&format!(
            "Rule {i}: answer questions about order {i} politely and cite policy section {}. ",
            i % 17
        ));
        i += 1;
    }
    s
}

/// The request of turn `n` (0-based): n earlier exchanges, then the new question.
fn turn(system: &str, n: usize) -> ChatRequest {
    let mut msgs = Vec::new();
    for i in 0..=n {
        msgs.push(json!({"role": "user", "content": format!("Question {i}: where is my order number {i}?")}));
        if i < n {
            msgs.push(json!({"role": "assistant", "content": format!("Answer {i}: it ships tomorrow. ").repeat(12)}));
        }
    }
    ChatRequest {
        system: Some(system.to_string()),
        messages: serde_json::from_value::<Vec<Message>>(json!(msgs)).unwrap_or_default(),
        max_tokens: Some(300),
        ..Default::default()
    }
}

/// Microseconds per request: `f` runs on each turn in order, `iterations` times; `fresh` is
/// called before each pass (a new conversation on a new client).
fn per_call<S>(
    iterations: u32,
    requests: &[ChatRequest],
    mut fresh: impl FnMut() -> S,
    mut f: impl FnMut(&mut S, &ChatRequest),
) -> f64 {
    let mut state = fresh();
    requests.iter().for_each(|r| f(&mut state, r)); // warm up
    let mut total = Duration::ZERO;
    for _ in 0..iterations {
        let mut state = fresh();
        let start = Instant::now();
        for r in requests {
            f(&mut state, r);
        }
        total += start.elapsed();
    }
    total.as_secs_f64() / (f64::from(iterations) * requests.len() as f64) * 1e6
}

fn main() {
    let iterations: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(500);
    let system = system_prompt();
    let requests: Vec<ChatRequest> = (0..TURNS).map(|n| turn(&system, n)).collect();
    let Some(anthropic) = providers::lookup("anthropic") else {
        eprintln!("no anthropic provider");
        return;
    };
    let ep = Endpoint {
        base_url: "https://api.anthropic.com".into(),
        api_key: Some(Secret::new("sk-ant-bench")),
        model: MODEL.into(),
        headers: HeaderMap::new(),
        timeout: Duration::from_secs(60),
        aws: None,
    };
    let policy = PromptCache::Ttl(CacheTtl::FiveMinutes);
    let plan_us = per_call(
        iterations,
        &requests,
        || (),
        |_, r| {
            black_box(cache::plan(black_box(r), "anthropic", MODEL, policy));
        },
    );
    let tracked_us = per_call(
        iterations,
        &requests,
        || (),
        |_, r| {
            black_box(cache::plan_tracked(
                black_box(r),
                "anthropic",
                MODEL,
                policy,
            ));
        },
    );
    let build = |r: &ChatRequest| {
        black_box(
            anthropic
                .build_chat(&ep, black_box(r), false)
                .map(|h| h.body.len())
                .unwrap_or(0),
        );
    };
    // The client's check (plan with fingerprints, compare): a new client per conversation.
    let clone_us = per_call(
        iterations,
        &requests,
        || (),
        |_, r| {
            black_box(r.clone());
        },
    );
    let mut breaks = 0;
    let prepare_us = per_call(
        iterations,
        &requests,
        || Tracker::new(policy),
        |tracker, r| {
            black_box(tracker.prepare(r.clone(), "anthropic", MODEL));
            breaks = tracker.stats().cache_breaks;
        },
    ) - clone_us;
    // Building the wire body with and without caching, interleaved so drift on a busy machine
    // hits both alike.
    let cached: Vec<ChatRequest> = requests
        .iter()
        .map(|r| ChatRequest {
            prompt_cache: Some(policy),
            ..r.clone()
        })
        .collect();
    let (mut plain, mut marked) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..iterations {
        for (r, c) in requests.iter().zip(&cached) {
            let t0 = Instant::now();
            build(r);
            let t1 = Instant::now();
            build(c);
            plain += t1 - t0;
            marked += t1.elapsed();
        }
    }
    let calls = f64::from(iterations) * requests.len() as f64;
    let uncached_us = plain.as_secs_f64() / calls * 1e6;
    let cached_us = marked.as_secs_f64() / calls * 1e6;
    let tokens = requests.last().map(|r| r.messages.len()).unwrap_or(0);
    println!(
        "{}",
        json!({
            "turns": TURNS, "system_chars": system.len(), "last_turn_messages": tokens,
            "plan_us": plan_us,
            "plan_tracked_us": tracked_us,
            "prepare_us": prepare_us,
            "build_uncached_us": uncached_us,
            "build_cached_us": cached_us,
            "added_us": prepare_us + cached_us - uncached_us,
            "cache_breaks": breaks,
        })
    );
}
