//! Prompt caching on the wire: for a matrix of requests, the exact Anthropic bodies llmrail
//! sends (breakpoints planned by src/cache, rendered by the Anthropic wire file), the OpenAI
//! `prompt_cache_key`, and a real recorded request with automatic caching.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use http::HeaderMap;
use llmrail::cache;
use llmrail::model::{CacheTtl, ChatRequest, Message, PromptCache, ToolSpec};
use llmrail::providers::{self, Endpoint, Secret};
use serde_json::{json, Value};

const SONNET: &str = "claude-sonnet-4-5"; // caches prefixes of 1,024+ tokens
const HAIKU: &str = "claude-haiku-4-5"; // 4,096+
const FIVE: PromptCache = PromptCache::Ttl(CacheTtl::FiveMinutes);
const HOUR: PromptCache = PromptCache::Ttl(CacheTtl::OneHour);

/// Text of about `tokens` tokens (four characters each).
fn text(tokens: usize, tag: &str) -> String {
    let mut s = format!("{tag}: ");
    while s.len() < tokens * 4 {
        s.push_str("Answer precisely and cite the policy section. ");
    }
    s
}

fn messages(v: Value) -> Vec<Message> {
    serde_json::from_value(v).unwrap()
}

fn request(system: Option<&str>, msgs: Value, policy: PromptCache) -> ChatRequest {
    ChatRequest {
        system: system.map(str::to_string),
        messages: messages(msgs),
        prompt_cache: Some(policy),
        ..Default::default()
    }
}

fn endpoint(model: &str) -> Endpoint {
    Endpoint {
        base_url: "https://api.anthropic.com".into(),
        api_key: Some(Secret::new("sk-ant-test")),
        model: model.into(),
        headers: HeaderMap::new(),
        timeout: Duration::from_secs(5),
        aws: None,
    }
}

/// The body and headers `provider` sends for `req` (planning from `req.prompt_cache`).
fn sent(provider: &str, model: &str, req: &ChatRequest) -> (Value, HeaderMap) {
    let p = providers::lookup(provider).unwrap();
    let http = p.build_chat(&endpoint(model), req, false).unwrap();
    (serde_json::from_slice(&http.body).unwrap(), http.headers)
}

fn anthropic(model: &str, req: &ChatRequest) -> Value {
    let (body, headers) = sent("anthropic", model, req);
    assert!(
        headers.get("anthropic-beta").is_none(),
        "no beta for 5-minute entries"
    );
    body
}

fn markers(body: &Value) -> usize {
    body.to_string().matches("\"cache_control\"").count()
}

fn five() -> Value {
    json!({"type": "ephemeral"})
}

fn hour() -> Value {
    json!({"type": "ephemeral", "ttl": "1h"})
}

#[test]
fn system_only() {
    let system = text(1_200, "policy");
    let req = request(
        Some(&system),
        json!([{"role": "user", "content": "Hi"}]),
        FIVE,
    );
    assert_eq!(
        anthropic(SONNET, &req),
        json!({
            "model": SONNET, "max_tokens": 4096,
            "system": [{"type": "text", "text": system, "cache_control": five()}],
            "messages": [{"role": "user", "content": "Hi"}],
        })
    );
}

#[test]
fn tools_and_system() {
    let manual = text(1_100, "tool manual");
    let mut req = request(
        Some(&text(400, "persona")),
        json!([{"role": "user", "content": "Weather?"}]),
        FIVE,
    );
    req.tools = serde_json::from_value(json!([
        {"type": "function", "function": {"name": "search", "description": manual,
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}},
        {"name": "now"},
    ]))
    .unwrap();
    let body = anthropic(SONNET, &req);
    assert_eq!(
        body["tools"],
        json!([
            {"name": "search", "description": manual,
             "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}}},
            {"name": "now", "input_schema": {"type": "object", "properties": {}}, "cache_control": five()},
        ])
    );
    assert_eq!(body["system"][0]["cache_control"], five());
    assert_eq!(markers(&body), 2);
    assert_eq!(
        body["messages"],
        json!([{"role": "user", "content": "Weather?"}])
    );
}

/// Ten turns: the breakpoint sits on the last assistant turn before the newest user message,
/// and moves forward when the conversation grows.
#[test]
fn long_multi_turn_conversation() {
    let system = text(1_500, "support");
    let mut turns = Vec::new();
    for i in 0..10 {
        turns.push(json!({"role": "user", "content": format!("question {i}")}));
        turns.push(json!({"role": "assistant", "content": format!("answer {i}")}));
    }
    turns.push(json!({"role": "user", "content": "question 10"}));
    let req = request(Some(&system), Value::Array(turns.clone()), FIVE);
    let body = anthropic(SONNET, &req);
    let mut expected: Vec<Value> = turns.clone();
    expected[19] = json!({"role": "assistant", "content": [
        {"type": "text", "text": "answer 9", "cache_control": five()}]});
    assert_eq!(
        body,
        json!({
            "model": SONNET, "max_tokens": 4096,
            "system": [{"type": "text", "text": system, "cache_control": five()}],
            "messages": expected,
        })
    );

    turns.push(json!({"role": "assistant", "content": "answer 10"}));
    turns.push(json!({"role": "user", "content": "question 11"}));
    let next = anthropic(SONNET, &request(Some(&system), Value::Array(turns), FIVE));
    assert_eq!(next["messages"][19]["content"], "answer 9");
    assert_eq!(next["messages"][21]["content"][0]["cache_control"], five());
    assert_eq!(markers(&next), 2);
}

/// Below the model's minimum nothing is marked: the body is the uncached one, byte for byte.
#[test]
fn prompt_below_the_minimum() {
    let msgs = json!([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"},
                      {"role": "user", "content": "Bye"}]);
    let short = request(Some("Be brief."), msgs.clone(), FIVE);
    let off = request(Some("Be brief."), msgs, PromptCache::Off);
    assert_eq!(anthropic(SONNET, &short), anthropic(SONNET, &off));
    // 1,200 tokens: enough for Sonnet 4.5 (1,024), not for Haiku 4.5 (4,096).
    let mid = request(
        Some(&text(1_200, "x")),
        json!([{"role": "user", "content": "Hi"}]),
        FIVE,
    );
    assert_eq!(markers(&anthropic(SONNET, &mid)), 1);
    assert_eq!(markers(&anthropic(HAIKU, &mid)), 0);
    assert!(anthropic(HAIKU, &mid)["system"].is_string());
}

/// The caller's own markers (LiteLLM's shape) are kept and count toward the four.
#[test]
fn user_markers_already_present() {
    let system = text(1_500, "docs");
    let marked = |t: &str| {
        json!({"role": "user", "content": [
        {"type": "text", "text": t, "cache_control": {"type": "ephemeral"}}]})
    };
    let msgs = json!([
        marked("doc one"), {"role": "assistant", "content": "ok 1"},
        marked("doc two"), {"role": "assistant", "content": "ok 2"},
        marked("doc three"), {"role": "assistant", "content": "ok 3"},
        {"role": "user", "content": "Compare them."},
    ]);
    let body = anthropic(SONNET, &request(Some(&system), msgs.clone(), FIVE));
    let user_block = |t: &str| json!({"role": "user", "content": [{"type": "text", "text": t, "cache_control": five()}]});
    assert_eq!(
        body["messages"],
        json!([
            user_block("doc one"), {"role": "assistant", "content": "ok 1"},
            user_block("doc two"), {"role": "assistant", "content": "ok 2"},
            user_block("doc three"),
            {"role": "assistant", "content": [{"type": "text", "text": "ok 3", "cache_control": five()}]},
            {"role": "user", "content": "Compare them."},
        ])
    );
    // Three of the caller's plus the conversation: no room left for the system prompt.
    assert_eq!(body["system"], json!(system));
    assert_eq!(markers(&body), 4);
    // With caching off the caller's markers still go out, alone.
    let off = anthropic(SONNET, &request(Some(&system), msgs, PromptCache::Off));
    assert_eq!(markers(&off), 3);
}

/// 1-hour entries come before 5-minute ones; a 1-hour TTL sends the beta header.
#[test]
fn one_hour_and_five_minute_mix() {
    let system = text(1_500, "handbook");
    let msgs = json!([
        {"role": "user", "content": [{"type": "text", "text": "contract", "cache_control": {"type": "ephemeral"}}]},
        {"role": "assistant", "content": "read it"},
        {"role": "user", "content": "Summarise."},
    ]);
    let (body, headers) = sent("anthropic", SONNET, &request(Some(&system), msgs, HOUR));
    assert_eq!(body["system"][0]["cache_control"], hour());
    assert_eq!(body["messages"][0]["content"][0]["cache_control"], five());
    // After the caller's 5-minute marker, llmrail's breakpoint must be 5 minutes too.
    assert_eq!(body["messages"][1]["content"][0]["cache_control"], five());
    assert_eq!(headers["anthropic-beta"], "extended-cache-ttl-2025-04-11");

    // A caller's 1-hour marker late in the prompt makes llmrail's earlier ones 1 hour.
    let msgs = json!([
        {"role": "user", "content": "Q1"}, {"role": "assistant", "content": "A1"},
        {"role": "user", "content": [{"type": "text", "text": "Q2", "cache_control": {"type": "ephemeral", "ttl": "1h"}}]},
        {"role": "assistant", "content": "A2"}, {"role": "user", "content": "Q3"},
    ]);
    let (body, headers) = sent("anthropic", SONNET, &request(Some(&system), msgs, FIVE));
    assert_eq!(body["system"][0]["cache_control"], hour());
    assert_eq!(body["messages"][2]["content"][0]["cache_control"], hour());
    assert_eq!(body["messages"][3]["content"][0]["cache_control"], five());
    assert_eq!(headers["anthropic-beta"], "extended-cache-ttl-2025-04-11");
}

/// An image counts toward the prefix (about 1,600 tokens), so a short text conversation with
/// an image is worth caching; the image block is sent unchanged before the breakpoint.
#[test]
fn images_in_the_prefix() {
    let msgs = json!([
        {"role": "user", "content": [
            {"type": "text", "text": "What is in this picture?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]},
        {"role": "assistant", "content": "A cat."},
        {"role": "user", "content": "What colour?"},
    ]);
    let body = anthropic(SONNET, &request(Some("Be brief."), msgs, FIVE));
    assert_eq!(
        body,
        json!({
            "model": SONNET, "max_tokens": 4096, "system": "Be brief.",
            "messages": [
                {"role": "user", "content": [
                    {"type": "text", "text": "What is in this picture?"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}]},
                {"role": "assistant", "content": [{"type": "text", "text": "A cat.", "cache_control": five()}]},
                {"role": "user", "content": "What colour?"},
            ],
        })
    );
}

/// An agent loop: the newest user turn is a run of tool results; the breakpoint goes on the
/// assistant's tool calls before it.
#[test]
fn tool_loop_breakpoint_before_the_results() {
    let msgs = json!([
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {"role": "assistant", "content": null, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\": \"Paris\"}"}},
            {"id": "c2", "type": "function", "function": {"name": "weather", "arguments": "{\"city\": \"Rome\"}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "18C"},
        {"role": "tool", "tool_call_id": "c2", "content": "24C"},
    ]);
    let body = anthropic(SONNET, &request(Some(&text(1_200, "agent")), msgs, FIVE));
    let calls = &body["messages"][1]["content"];
    assert!(calls[0].get("cache_control").is_none());
    assert_eq!(calls[1]["cache_control"], five());
    assert_eq!(body["messages"][2]["content"][1]["type"], "tool_result");
    assert_eq!(markers(&body), 2);
}

/// "auto": the API's top-level marker for the conversation, llmrail's for the system prompt;
/// a model without automatic caching gets explicit breakpoints instead.
#[test]
fn auto_uses_the_top_level_field_where_the_model_has_it() {
    let system = text(1_500, "faq");
    let msgs = json!([{"role": "user", "content": "A?"}, {"role": "assistant", "content": "B."},
                      {"role": "user", "content": "C?"}]);
    let req = request(Some(&system), msgs, PromptCache::Auto);
    let body = anthropic(SONNET, &req);
    assert_eq!(body["cache_control"], five());
    assert_eq!(body["system"][0]["cache_control"], five());
    assert_eq!(markers(&body), 2);
    let proxy = anthropic("my-claude-proxy", &req);
    assert!(proxy.get("cache_control").is_none());
    assert_eq!(proxy["messages"][1]["content"][0]["cache_control"], five());
}

/// pydantic-ai's recording of a real automatic-caching call: the same request built by
/// llmrail with prompt_cache="auto" is the recorded body, up to spelling (the recording sends
/// `stream: false`, a one-block content list and the default `ttl: "5m"` explicitly).
#[test]
fn the_recorded_automatic_caching_request() {
    let path = "tests/data/real-cassettes/pydantic-ai/tests/models/cassettes/test_anthropic/test_anthropic_cache_real_api.yaml";
    let doc: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut recorded: Value =
        serde_json::to_value(&doc["interactions"][0]["request"]["parsed_body"]).unwrap();
    recorded.as_object_mut().unwrap().remove("stream");
    recorded["cache_control"]
        .as_object_mut()
        .unwrap()
        .remove("ttl");
    let question = recorded["messages"][0]["content"][0]["text"].clone();
    recorded["messages"][0]["content"] = question.clone();
    let req = request(
        recorded["system"].as_str(),
        json!([{"role": "user", "content": question}]),
        PromptCache::Auto,
    );
    assert_eq!(anthropic("claude-sonnet-4-5", &req), recorded);
}

#[test]
fn openai_gets_a_stable_prompt_cache_key_unless_the_caller_has_one() {
    let req = |system: &str| {
        request(
            Some(system),
            json!([{"role": "user", "content": "Hi"}]),
            FIVE,
        )
    };
    let key = |r: &ChatRequest| sent("openai", "gpt-4.1", r).0["prompt_cache_key"].clone();
    let a = key(&req("You are a support bot."));
    assert!(
        a.as_str()
            .is_some_and(|k| k.starts_with("llmrail-") && k.len() == 24),
        "{a}"
    );
    assert_eq!(a, key(&req("You are a support bot.")));
    assert_ne!(a, key(&req("You are a sales bot.")));
    let mut own = req("You are a support bot.");
    own.extra_body
        .insert("prompt_cache_key".into(), json!("tenant-42"));
    assert_eq!(key(&own), json!("tenant-42"));
    let mut off = req("You are a support bot.");
    off.prompt_cache = None;
    assert_eq!(key(&off), Value::Null);
    // The caller's markers mean nothing to OpenAI: dropped, the text kept.
    let marked = request(
        None,
        json!([{"role": "user", "content": [
        {"type": "text", "text": "Hi", "cache_control": {"type": "ephemeral"}}]}]),
        FIVE,
    );
    assert_eq!(
        sent("openai", "gpt-4.1", &marked).0["messages"][0]["content"],
        "Hi"
    );
}

#[test]
fn bad_markers_are_configuration_errors() {
    let bad = serde_json::from_value::<Vec<Message>>(json!([{"role": "user", "content": [
        {"type": "text", "text": "x", "cache_control": {"type": "ephemeral", "ttl": "2h"}}]}]));
    assert!(bad.unwrap_err().to_string().contains("\"5m\" or \"1h\""));
    let tool: ToolSpec = serde_json::from_value(
        json!({"name": "t", "cache_control": {"type": "ephemeral", "ttl": "1h"}}),
    )
    .unwrap();
    assert_eq!(tool.cache_control, Some(CacheTtl::OneHour));
    assert!(PromptCache::parse("10m").is_err());
}

/// The planner itself: at most four breakpoints whatever the caller marked.
#[test]
fn never_more_than_four() {
    let marked = json!({"role": "user", "content": [{"type": "text", "text": "doc", "cache_control": {"type": "ephemeral"}}]});
    let msgs = json!([marked, {"role": "assistant", "content": "a"}, marked, {"role": "assistant", "content": "b"},
                      marked, {"role": "assistant", "content": "c"}, marked, {"role": "assistant", "content": "d"},
                      {"role": "user", "content": "?"}]);
    let req = request(Some(&text(2_000, "s")), msgs, FIVE);
    let plan = cache::plan(&req, "anthropic", SONNET, FIVE);
    assert_eq!(plan.breakpoints(), 0);
    assert_eq!(markers(&anthropic(SONNET, &req)), 4);
}

/// The real recording's usage, priced: reads at 0.1x, the 418-token 5-minute write at 1.25x.
#[test]
fn the_recorded_cache_usage_is_priced_at_cache_rates() {
    let path = "tests/data/real-cassettes/pydantic-ai/tests/models/cassettes/test_anthropic/test_anthropic_cache_real_api.yaml";
    let doc: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let body =
        |i: usize| serde_json::to_vec(&doc["interactions"][i]["response"]["parsed_body"]).unwrap();
    let p = providers::lookup("anthropic").unwrap();
    let (a, b) = (
        p.parse_chat(&body(0)).unwrap(),
        p.parse_chat(&body(1)).unwrap(),
    );
    assert_eq!(b.usage.cache_write_tokens, 418);
    assert_eq!(b.usage.cache_write_1h_tokens, 0);
    // claude-sonnet-4-5: $3 input, $3.75 5-minute write, $0.30 read, $15 output per MTok.
    let expect_a = (3.0 * 3.0 + 1111.0 * 0.30 + 406.0 * 15.0) / 1e6;
    let expect_b = (3.0 * 3.0 + 1111.0 * 0.30 + 418.0 * 3.75 + 33.0 * 15.0) / 1e6;
    assert!((a.cost_usd().unwrap() - expect_a).abs() < 1e-12);
    assert!((b.cost_usd().unwrap() - expect_b).abs() < 1e-12);
}

/// The documented mixed-TTL usage: the 1-hour part of the writes is priced at 2x.
#[test]
fn one_hour_writes_are_read_from_usage_and_priced_higher() {
    let body = json!({"model": "claude-sonnet-4-5", "content": [], "stop_reason": "end_turn", "usage": {
        "input_tokens": 2048, "cache_read_input_tokens": 1800, "cache_creation_input_tokens": 248,
        "output_tokens": 503, "cache_creation": {"ephemeral_5m_input_tokens": 148, "ephemeral_1h_input_tokens": 100}}});
    let r = providers::lookup("anthropic")
        .unwrap()
        .parse_chat(body.to_string().as_bytes())
        .unwrap();
    assert_eq!(
        (r.usage.cache_write_tokens, r.usage.cache_write_1h_tokens),
        (248, 100)
    );
    let expect = (2048.0 * 3.0 + 1800.0 * 0.30 + 148.0 * 3.75 + 100.0 * 6.0 + 503.0 * 15.0) / 1e6;
    assert!((r.cost_usd().unwrap() - expect).abs() < 1e-12);
}

/// The cache-break check, without Python: a changed system prompt or an edited message
/// counts as a break; a growing conversation and a second conversation do not.
#[test]
fn cache_breaks_are_counted() {
    let tracker = cache::Tracker::new(FIVE);
    let system = text(1_500, "rules");
    let conv = |edited: bool, n: usize| {
        let mut msgs = vec![json!({"role": "user", "content": "Q0"})];
        for i in 0..n {
            let a = if edited && i == 0 {
                "A0 (edited)".to_string()
            } else {
                format!("A{i}")
            };
            msgs.push(json!({"role": "assistant", "content": a}));
            msgs.push(json!({"role": "user", "content": format!("Q{}", i + 1)}));
        }
        ChatRequest {
            system: Some(system.clone()),
            messages: messages(Value::Array(msgs)),
            ..Default::default()
        }
    };
    let breaks = |req: ChatRequest| {
        let req = tracker.prepare(req, "anthropic", SONNET);
        assert_eq!(req.prompt_cache, Some(FIVE));
        tracker.stats().cache_breaks
    };
    assert_eq!(breaks(conv(false, 1)), 0);
    assert_eq!(breaks(conv(false, 2)), 0);
    assert_eq!(breaks(conv(true, 3)), 1);
    let other = ChatRequest {
        system: Some(format!("{system} Today is Monday.")),
        ..conv(false, 1)
    };
    assert_eq!(breaks(other), 2);
    let stranger = request(
        Some(&system),
        json!([{"role": "user", "content": "Hello"}]),
        FIVE,
    );
    // Back to the first system prompt: still cached (seen recently), so a read, not a break.
    assert_eq!(breaks(stranger), 2);
}
