//! Real recorded provider traffic (tests/data/real-cassettes, see SOURCE.md there) decoded through
//! llmrail's providers: every OpenAI Chat Completions (incl. OpenRouter and Ollama's /v1) and
//! Anthropic Messages response, and every Gemini and Bedrock one (in detail in tests/real_gemini.rs
//! and tests/real_bedrock.rs), checked against the values read from the recordings.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "common/cassette.rs"]
mod cassette;

use std::collections::BTreeMap;

use cassette::{load, Interaction};
use futures_util::StreamExt;
use llmrail::error::{ErrorKind, LlmError};
use llmrail::model::{ChatResponse, ContentBlock, FinishReason, StreamEvent, Usage};
use llmrail::providers::{self, Provider};
use serde_json::{json, Value};
use sse_stream::SseByteStream;

const OPENAI: &str = "pydantic-ai/tests/models/cassettes/test_openai/";
const ANTHROPIC: &str = "pydantic-ai/tests/models/cassettes/test_anthropic/";
const SUGGEST: &str = "pydantic-ai/tests/cassettes/test_model_name_suggestions/";
const OPENROUTER: &str = "pydantic-ai/tests/models/cassettes/test_openrouter/";
const OLLAMA: &str = "pydantic-ai/tests/models/cassettes/test_ollama/";
const LLM_ANTHROPIC: &str = "llm-anthropic/tests/cassettes/test_anthropic/";

// ---- helpers -------------------------------------------------------------------------------------

fn provider(name: &str) -> &'static dyn Provider {
    providers::lookup(name).expect("a known provider")
}

fn usage(
    input_tokens: u64,
    output_tokens: u64,
    cache_read_tokens: u64,
    cache_write_tokens: u64,
) -> Usage {
    Usage {
        input_tokens,
        output_tokens,
        cache_read_tokens,
        cache_write_tokens,
        ..Default::default()
    }
}

fn file(dir: &str, name: &str) -> Vec<Interaction> {
    load(&format!("{dir}{name}"))
}

/// Each interaction of a non-streamed cassette, decoded with `parse_chat`.
fn chats(p: &str, dir: &str, name: &str) -> Vec<ChatResponse> {
    file(dir, name)
        .iter()
        .map(|i| {
            assert_eq!(i.status, 200, "{name}");
            let r = provider(p)
                .parse_chat(&i.body)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(r.provider, p);
            r
        })
        .collect()
}

/// Each interaction of an error cassette, decoded with `parse_error`.
fn errors(p: &str, dir: &str, name: &str) -> Vec<LlmError> {
    file(dir, name)
        .iter()
        .map(|i| provider(p).parse_error(i.status, &i.headers, &i.body))
        .collect()
}

fn call(r: &ChatResponse) -> (String, String, Value) {
    let calls = r.tool_calls();
    assert_eq!(calls.len(), 1, "one tool call expected: {:?}", r.content);
    (
        calls[0].id.clone(),
        calls[0].name.clone(),
        Value::Object(
            calls[0]
                .arguments
                .clone()
                .expect("arguments are a JSON object"),
        ),
    )
}

fn thinking(r: &ChatResponse) -> String {
    r.content
        .iter()
        .filter_map(|b| match b {
            ContentBlock::Thinking { text } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

/// The SSE events of a body, split by the same crate the client uses, the bytes arriving in
/// pieces of `chunk` bytes (so events and UTF-8 characters straddle reads).
async fn sse(body: &[u8], chunk: usize) -> Vec<(String, String)> {
    let pieces: Vec<Result<bytes::Bytes, std::io::Error>> = body
        .chunks(chunk)
        .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
        .collect();
    SseByteStream::new(futures_util::stream::iter(pieces))
        .map(|e| {
            let e = e.expect("well-formed SSE");
            (e.event.unwrap_or_default(), e.data.unwrap_or_default())
        })
        .collect()
        .await
}

fn decode(p: &str, events: &[(String, String)]) -> llmrail::error::Result<Vec<StreamEvent>> {
    let mut decoder = provider(p).stream_decoder();
    let mut out = Vec::new();
    for (name, data) in events {
        decoder.event(name, data, &mut out)?;
    }
    decoder.finish(&mut out)?;
    Ok(out)
}

/// A streamed answer put back together from its events.
#[derive(Debug)]
struct Streamed {
    text: String,
    thinking: String,
    /// (id, name, parsed arguments) per tool-call index.
    calls: Vec<(String, String, Value)>,
    finish: Option<FinishReason>,
    usage: Usage,
    model: String,
}

/// Decode a recorded SSE body; also checks that chunking does not matter and that the same
/// stream cut before its last event is reported as truncated.
async fn stream(p: &str, i: &Interaction) -> Streamed {
    assert_eq!(i.status, 200);
    let whole = sse(&i.body, i.body.len()).await;
    let events = decode(p, &whole).unwrap_or_else(|e| panic!("{}: {e}", i.uri));
    assert_eq!(
        decode(p, &sse(&i.body, 7).await).unwrap(),
        events,
        "chunking changed the events"
    );
    let cut = decode(p, &whole[..whole.len() - 1]).expect_err("a truncated stream must fail");
    assert_eq!(cut.kind, ErrorKind::Connection);

    let (mut text, mut thinking) = (String::new(), String::new());
    let mut calls: BTreeMap<u32, (String, String, String)> = BTreeMap::new();
    let (last, rest) = events.split_last().expect("events");
    for e in rest {
        match e {
            StreamEvent::Text(t) => text.push_str(t),
            StreamEvent::Thinking(t) => thinking.push_str(t),
            StreamEvent::ToolCallDelta {
                index,
                id,
                name,
                arguments,
            } => {
                let c = calls.entry(*index).or_default();
                if let Some(id) = id {
                    assert!(c.0.is_empty(), "id sent twice for call {index}");
                    c.0.clone_from(id);
                }
                if let Some(name) = name {
                    c.1.clone_from(name);
                }
                c.2.push_str(arguments);
            }
            StreamEvent::Done { .. } => panic!("Done before the end"),
        }
    }
    let StreamEvent::Done {
        finish_reason,
        usage,
        model,
        ..
    } = last.clone()
    else {
        panic!("the last event is not Done: {last:?}");
    };
    let calls = calls
        .into_values()
        .map(|(id, name, args)| {
            let args = if args.is_empty() {
                json!({})
            } else {
                serde_json::from_str(&args).expect("arguments JSON")
            };
            (id, name, args)
        })
        .collect();
    Streamed {
        text,
        thinking,
        calls,
        finish: finish_reason,
        usage,
        model,
    }
}

fn is_stream(i: &Interaction) -> bool {
    let ct = i
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    ct.starts_with("text/event-stream")
}

// ---- every file, generically -----------------------------------------------------------------------

fn yaml_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            yaml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml") {
            out.push(path);
        }
    }
}

/// Every copied interaction decodes (or maps to the error kind its status means) with the provider
/// its host implies; counts guard against files silently going missing.
#[tokio::test]
async fn every_recorded_interaction_decodes() {
    let mut paths = Vec::new();
    yaml_files(&cassette::root(), &mut paths);
    let (mut interactions, mut streams, mut failures) = (0, 0, 0);
    for path in &paths {
        let rel = path
            .strip_prefix(cassette::root())
            .unwrap()
            .to_str()
            .unwrap();
        for i in load(rel) {
            // OpenAI's Responses API is no chat provider of llmrail's: those recordings are read
            // only by the SDK transport's usage meter (src/forward/usage.rs tests them).
            if i.uri.ends_with("/v1/responses") {
                continue;
            }
            let p = if i.uri.contains("api.anthropic.com/v1/messages") {
                "anthropic"
            } else if i.uri.contains("openrouter.ai/api/v1/chat/completions") {
                "openrouter"
            } else if i
                .uri
                .contains("generativelanguage.googleapis.com/v1beta/models/")
            {
                "gemini"
            } else if i.uri.contains(".amazonaws.com/model/") && i.uri.ends_with("/invoke") {
                // Claude through Bedrock's InvokeModel: an Anthropic Messages body.
                "anthropic"
            } else if i.uri.contains(".amazonaws.com/model/") {
                "bedrock"
            } else {
                assert!(
                    i.uri.ends_with("/v1/chat/completions"),
                    "out of scope: {}",
                    i.uri
                );
                "openai"
            };
            interactions += 1;
            if i.status >= 400 {
                failures += 1;
                let e = provider(p).parse_error(i.status, &i.headers, &i.body);
                assert_eq!(e.kind, ErrorKind::from_status(i.status), "{rel}");
                assert_eq!(e.status, Some(i.status));
                assert!(
                    !e.message.starts_with("HTTP "),
                    "{rel}: provider message lost: {}",
                    e.message
                );
            } else if p == "gemini" && i.body.trim_ascii_start().starts_with(b"[") {
                // Gemini without alt=sse streams one JSON array (tests/real_gemini.rs has more).
                streams += 1;
                let chunks: Vec<Value> = serde_json::from_slice(&i.body).unwrap();
                let mut decoder = provider(p).stream_decoder();
                let mut out = Vec::new();
                for c in &chunks {
                    decoder.event("", &c.to_string(), &mut out).unwrap();
                }
                decoder.finish(&mut out).unwrap();
                let Some(StreamEvent::Done { usage, model, .. }) = out.last() else {
                    panic!("{rel}: no Done")
                };
                assert!(usage.output_tokens > 0 && !model.is_empty(), "{rel}");
            } else if p == "bedrock" && i.uri.ends_with("/converse-stream") {
                // Event-stream frames, base64 in the YAML (tests/real_bedrock.rs has more).
                streams += 1;
                let b64: String = std::str::from_utf8(&i.body)
                    .unwrap()
                    .split_whitespace()
                    .collect();
                let frames =
                    base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64)
                        .unwrap();
                let chunks = futures_util::stream::iter([Ok(bytes::Bytes::from(frames))]);
                let mut split = providers::event_stream::EventStream::new(chunks, 1 << 20);
                let mut decoder = provider(p).stream_decoder();
                let mut out = Vec::new();
                while !providers::event_stream::feed(&mut *decoder, split.next().await, &mut out)
                    .unwrap()
                {}
                let Some(StreamEvent::Done { usage, .. }) = out.last() else {
                    panic!("{rel}: no Done")
                };
                assert!(usage.output_tokens > 0, "{rel}");
            } else if is_stream(&i) {
                streams += 1;
                let s = stream(p, &i).await;
                assert!(
                    s.usage.output_tokens > 0 && !s.model.is_empty(),
                    "{rel}: {s:?}"
                );
            } else {
                let r = provider(p)
                    .parse_chat(&i.body)
                    .unwrap_or_else(|e| panic!("{rel}: {e}"));
                assert!(
                    r.usage.input_tokens > 0 && r.finish_reason.is_some(),
                    "{rel}: {r:?}"
                );
                assert!(!r.content.is_empty(), "{rel}: no content");
            }
        }
    }
    // 36 files: 34 chat recordings and the two OpenAI Responses ones skipped above.
    assert_eq!(
        (paths.len(), interactions, streams, failures),
        (36, 51, 15, 8)
    );
}

// ---- OpenAI Chat Completions -----------------------------------------------------------------------

#[test]
fn openai_plain_response() {
    let [r] = &chats("openai", OPENAI, "test_valid_response.yaml")[..] else {
        panic!()
    };
    assert_eq!(r.text(), "The capital of France is Paris.");
    assert!(r.tool_calls().is_empty());
    assert_eq!(r.finish_reason, Some(FinishReason::Stop));
    assert_eq!(r.usage, usage(14, 7, 0, 0));
    assert_eq!(r.model, "gpt-4o-2024-08-06");
}

#[test]
fn openai_tool_call_then_structured_text() {
    let [a, b] = &chats("openai", OPENAI, "test_openai_native_output.yaml")[..] else {
        panic!()
    };
    assert_eq!(
        call(a),
        (
            "call_PkRGedQNRFUzJp2R7dO7avWR".into(),
            "get_user_country".into(),
            json!({})
        )
    );
    assert_eq!(a.text(), "");
    assert_eq!(a.finish_reason, Some(FinishReason::ToolCalls));
    assert_eq!(a.usage, usage(71, 12, 0, 0));
    let answer: Value = serde_json::from_str(&b.text()).unwrap();
    assert_eq!(answer, json!({"city": "Mexico City", "country": "Mexico"}));
    assert_eq!(b.finish_reason, Some(FinishReason::Stop));
    assert_eq!(b.usage, usage(92, 15, 0, 0));
}

#[test]
fn openai_tool_calls_round_trip() {
    let [a, b] = &chats("openai", OPENAI, "test_openai_tool_output.yaml")[..] else {
        panic!()
    };
    assert_eq!(
        call(a),
        (
            "call_iXFttys57ap0o16JSlC8yhYo".into(),
            "get_user_country".into(),
            json!({})
        )
    );
    assert_eq!(a.finish_reason, Some(FinishReason::ToolCalls));
    assert_eq!(a.usage, usage(68, 12, 0, 0));
    let args = json!({"city": "Mexico City", "country": "Mexico"});
    assert_eq!(
        call(b),
        (
            "call_gmD2oUZUzSoCkmNmp3JPUF7R".into(),
            "final_result".into(),
            args
        )
    );
    assert_eq!(b.text(), "");
    assert_eq!(b.finish_reason, Some(FinishReason::ToolCalls));
    assert_eq!(b.usage, usage(89, 36, 0, 0));
}

/// prompt_tokens include the cached ones; the first call writes 4012 tokens, the second reads them.
#[test]
fn openai_prompt_cache_usage() {
    let [a, b] = &chats(
        "openai",
        "pydantic-ai/tests/models/cassettes/test_openai_prompt_cache/",
        "test_openai_chat_prompt_cache_e2e.yaml",
    )[..] else {
        panic!()
    };
    for r in [a, b] {
        assert_eq!(r.text(), "OK");
        assert_eq!(r.finish_reason, Some(FinishReason::Stop));
        assert_eq!(r.model, "gpt-5.6-sol");
    }
    assert_eq!(a.usage, usage(4020, 4, 0, 4012));
    assert_eq!(b.usage, usage(4020, 4, 4012, 0));
}

#[tokio::test]
async fn openai_streamed_text() {
    let [i] = &file(
        "pydantic-ai/tests/cassettes/test_dbos/",
        "test_dbos_model_stream_direct.yaml",
    )[..] else {
        panic!()
    };
    let s = stream("openai", i).await;
    assert_eq!(s.text, "The capital of Mexico is Mexico City.");
    assert!(s.calls.is_empty() && s.thinking.is_empty());
    assert_eq!(s.finish, Some(FinishReason::Stop));
    assert_eq!(s.usage, usage(14, 8, 0, 0));
    assert_eq!(s.model, "gpt-4o-2024-08-06");
}

#[tokio::test]
async fn openai_streamed_tool_call_then_text() {
    let [a, b] = &file(OPENAI, "test_run_stream_sync_streams_real_model.yaml")[..] else {
        panic!()
    };
    let a = stream("openai", a).await;
    assert_eq!(
        a.calls,
        [(
            "call_ZR5UUuTt3pf61kjwAJIYdVMj".into(),
            "get_capital".into(),
            json!({"country": "UK"})
        )]
    );
    assert_eq!(a.text, "");
    assert_eq!(a.finish, Some(FinishReason::ToolCalls));
    assert_eq!(a.usage, usage(53, 15, 0, 0));
    assert_eq!(a.model, "gpt-4o-mini-2024-07-18");
    let b = stream("openai", b).await;
    assert_eq!(b.text, "The capital of the UK is London.");
    assert!(b.calls.is_empty());
    assert_eq!(b.finish, Some(FinishReason::Stop));
    assert_eq!(b.usage, usage(78, 9, 0, 0));
}

#[test]
fn openai_errors() {
    let [e] = &errors(
        "openai",
        OPENAI,
        "test_openai_o1_mini_system_role[developer].yaml",
    )[..] else {
        panic!()
    };
    assert_eq!(e.kind, ErrorKind::BadRequest);
    assert_eq!(e.status, Some(400));
    assert_eq!(
        e.message,
        "Unsupported value: 'messages[0].role' does not support 'developer' with this model."
    );
    assert_eq!(e.retry_after, None);

    let [e] = &errors(
        "openai",
        SUGGEST,
        "test_model_name_suggestion[openai-chat].yaml",
    )[..] else {
        panic!()
    };
    assert_eq!(e.kind, ErrorKind::NotFound);
    assert_eq!(e.status, Some(404));
    assert_eq!(
        e.message,
        "The model `gpt-5.2-proo` does not exist or you do not have access to it."
    );
}

// ---- OpenRouter and Ollama (OpenAI-compatible) -----------------------------------------------------

#[test]
fn openrouter_tool_call() {
    let [r] = &chats(
        "openrouter",
        OPENROUTER,
        "test_openrouter_tool_calling.yaml",
    )[..] else {
        panic!()
    };
    let args = json!({"numerator": 123, "denominator": 456, "on_inf": "infinity"});
    assert_eq!(call(r), ("3sniiMddS".into(), "divide".into(), args));
    assert_eq!(r.text(), "");
    assert_eq!(r.finish_reason, Some(FinishReason::ToolCalls));
    assert_eq!(r.usage, usage(134, 43, 0, 0));
    assert_eq!(r.model, "mistralai/mistral-small");
}

/// `: OPENROUTER PROCESSING` comments, reasoning deltas, then usage in a chunk after the finish.
#[tokio::test]
async fn openrouter_streamed_reasoning() {
    let [i] = &file(OPENROUTER, "test_openrouter_streaming_reasoning.yaml")[..] else {
        panic!()
    };
    let s = stream("openrouter", i).await;
    assert_eq!(
        s.thinking,
        "This is a simple arithmetic question. 2+2 equals 4."
    );
    assert_eq!(s.text, "2 + 2 = 4");
    assert_eq!(s.finish, Some(FinishReason::Stop));
    assert_eq!(s.usage, usage(43, 36, 0, 0));
    assert_eq!(s.model, "anthropic/claude-sonnet-4.5");
}

#[test]
fn openrouter_rate_limited() {
    let errs = errors(
        "openrouter",
        OPENROUTER,
        "test_openrouter_errors_raised.yaml",
    );
    assert_eq!(errs.len(), 3);
    for e in errs {
        assert_eq!(e.kind, ErrorKind::RateLimit);
        assert_eq!(e.status, Some(429));
        assert!(
            e.message.starts_with("Provider returned error"),
            "{}",
            e.message
        );
        // The upstream reason lives in error.metadata.raw.
        assert!(
            e.message
                .contains("google/gemini-2.0-flash-exp:free is temporarily rate-limited upstream"),
            "{}",
            e.message
        );
        assert_eq!(e.retry_after, None);
    }
}

#[test]
fn ollama_local_json_schema_output() {
    let [r] = &chats(
        "openai",
        OLLAMA,
        "test_ollama_local_native_output_uses_json_schema.yaml",
    )[..] else {
        panic!()
    };
    let answer: Value = serde_json::from_str(&r.text()).unwrap();
    assert_eq!(answer, json!({"city": "Paris", "country": "France"}));
    assert!(thinking(r).starts_with("Okay, the user is asking for the capital of France."));
    assert!(r.tool_calls().is_empty());
    assert_eq!(r.finish_reason, Some(FinishReason::Stop));
    assert_eq!(r.usage, usage(136, 15, 0, 0));
    assert_eq!(r.model, "qwen3:0.6b");
}

#[test]
fn ollama_cloud_text_then_tool_call() {
    let [a, b] = &chats("openai", OLLAMA, "test_ollama_cloud_tool_output.yaml")[..] else {
        panic!()
    };
    assert_eq!(a.text(), "Paris.");
    assert!(
        thinking(a).starts_with("We need to answer question: \"What is the capital of France?\"")
    );
    assert_eq!(a.finish_reason, Some(FinishReason::Stop));
    assert_eq!(a.usage, usage(134, 122, 0, 0));
    assert_eq!(a.model, "gpt-oss:20b");
    let args = json!({"city": "Paris", "country": "France"});
    assert_eq!(
        call(b),
        ("call_o2vnpxrw".into(), "final_result".into(), args)
    );
    assert_eq!(b.text(), "");
    assert!(thinking(b).ends_with("We need to provide answer in JSON format. Let's do that."));
    assert_eq!(b.finish_reason, Some(FinishReason::ToolCalls));
    assert_eq!(b.usage, usage(206, 194, 0, 0));
}

// ---- Anthropic Messages ----------------------------------------------------------------------------

#[test]
fn anthropic_plain_message() {
    let [r] = &chats(
        "anthropic",
        ANTHROPIC,
        "test_anthropic_model_instructions.yaml",
    )[..] else {
        panic!()
    };
    assert_eq!(r.text(), "The capital of France is Paris.");
    assert_eq!(r.finish_reason, Some(FinishReason::Stop));
    assert_eq!(r.usage, usage(20, 10, 0, 0));
    assert_eq!(r.model, "claude-3-opus-20240229");
}

#[test]
fn anthropic_tool_use_round_trip() {
    let [a, b] = &chats("anthropic", ANTHROPIC, "test_anthropic_tool_output.yaml")[..] else {
        panic!()
    };
    assert_eq!(
        call(a),
        (
            "toolu_01X9wcHKKAZD9tBC711xipPa".into(),
            "get_user_country".into(),
            json!({})
        )
    );
    assert_eq!(a.finish_reason, Some(FinishReason::ToolCalls));
    assert_eq!(a.usage, usage(445, 23, 0, 0));
    let args = json!({"city": "Mexico City", "country": "Mexico"});
    assert_eq!(
        call(b),
        (
            "toolu_01LZABsgreMefH2Go8D5PQbW".into(),
            "final_result".into(),
            args
        )
    );
    assert_eq!(b.text(), "");
    assert_eq!(b.usage, usage(497, 56, 0, 0));
    assert_eq!(b.model, "claude-sonnet-4-5-20250929");
}

/// input_tokens count everything: 3 uncached + 1111 read (+ 418 written on the second call).
#[test]
fn anthropic_prompt_cache_usage() {
    let [a, b] = &chats("anthropic", ANTHROPIC, "test_anthropic_cache_real_api.yaml")[..] else {
        panic!()
    };
    assert!(a.text().starts_with(
        "# What is Python?\n\nPython is a high-level, interpreted programming language"
    ));
    assert_eq!(a.finish_reason, Some(FinishReason::Stop));
    assert_eq!(a.usage, usage(3 + 1111, 406, 1111, 0));
    assert_eq!(
        b.text(),
        "Python is a beginner-friendly, versatile programming language widely used for web development, \
         data science, machine learning, automation, and scientific computing."
    );
    assert_eq!(b.finish_reason, Some(FinishReason::Stop));
    assert_eq!(b.usage, usage(3 + 1111 + 418, 33, 1111, 418));
}

#[test]
fn anthropic_strict_tool_then_json_text() {
    let dir = "pydantic-ai/tests/models/anthropic/cassettes/test_output/";
    let [a, b] = &chats("anthropic", dir, "test_strict_true_tool_native_output.yaml")[..] else {
        panic!()
    };
    assert_eq!(
        call(a),
        (
            "toolu_01PPTvKs3rE6VohQPGEwqsTZ".into(),
            "lookup_country".into(),
            json!({"city": "Paris"})
        )
    );
    assert_eq!(a.finish_reason, Some(FinishReason::ToolCalls));
    assert_eq!(a.usage, usage(744, 53, 0, 0));
    let answer: Value = serde_json::from_str(&b.text()).unwrap();
    assert_eq!(
        answer,
        json!({"city": "Paris", "country": "France", "population": 2161000})
    );
    assert_eq!(b.finish_reason, Some(FinishReason::Stop));
    assert_eq!(b.usage, usage(811, 23, 0, 0));
}

#[tokio::test]
async fn anthropic_streamed_thinking_and_text() {
    let [i] = &file(ANTHROPIC, "test_anthropic_model_thinking_part_stream.yaml")[..] else {
        panic!()
    };
    let s = stream("anthropic", i).await;
    assert_eq!(
        s.thinking,
        "This is a straightforward question about pedestrian safety. I should provide clear, helpful \
         advice about how to safely cross a street. This is basic safety information that could help \
         prevent accidents."
    );
    assert!(s.text.starts_with(
        "Here are the basic steps for safely crossing the street:\n\n**At intersections"
    ));
    assert!(s
        .text
        .ends_with("Always prioritize safety over speed when crossing streets."));
    assert_eq!(s.text.chars().count(), 1021);
    assert!(s.calls.is_empty());
    assert_eq!(s.finish, Some(FinishReason::Stop));
    assert_eq!(s.usage, usage(43, 282, 0, 0));
    assert_eq!(s.model, "claude-sonnet-4-20250514");
}

#[test]
fn anthropic_not_found() {
    let [e] = &errors(
        "anthropic",
        SUGGEST,
        "test_model_name_suggestion[anthropic].yaml",
    )[..] else {
        panic!()
    };
    assert_eq!(e.kind, ErrorKind::NotFound);
    assert_eq!(e.status, Some(404));
    assert_eq!(e.message, "model: claude-sonet-4-5");
    assert_eq!(
        e.request_id.as_deref(),
        Some("req_011CdufXo8Y2LVfY2veyuQWG")
    );
}

/// Stock vcrpy recordings: plain-text body, request-id header.
#[tokio::test]
async fn anthropic_streamed_text_llm_plugin() {
    let [i] = &file(LLM_ANTHROPIC, "test_prompt.yaml")[..] else {
        panic!()
    };
    assert_eq!(
        provider("anthropic").request_id(&i.headers).as_deref(),
        Some("req_011CYEXg9iLMo4YhB4XfkXBw")
    );
    let s = stream("anthropic", i).await;
    assert_eq!(s.text, "- Captain\n- Scoop");
    assert_eq!(s.finish, Some(FinishReason::Stop));
    assert_eq!(s.usage, usage(17, 10, 0, 0));
    assert_eq!(s.model, "claude-sonnet-4-5-20250929");
}

/// gzip `!!binary` bodies: two parallel argument-less tool calls, then the answer.
#[tokio::test]
async fn anthropic_streamed_tool_calls_llm_plugin() {
    let [a, b] = &file(LLM_ANTHROPIC, "test_tools.yaml")[..] else {
        panic!()
    };
    assert_eq!(
        provider("anthropic").request_id(&a.headers).as_deref(),
        Some("req_011CZkTfmdQovVWg8SG5f6Lq")
    );
    let a = stream("anthropic", a).await;
    assert_eq!(
        a.calls,
        [
            (
                "toolu_01LtHJmixrs9NcWQkK8hu8hj".into(),
                "pelican_name_generator".into(),
                json!({})
            ),
            (
                "toolu_01N8a4jWyf116qKTMqKKmjyt".into(),
                "pelican_name_generator".into(),
                json!({})
            ),
        ]
    );
    assert_eq!(a.text, "");
    assert_eq!(a.finish, Some(FinishReason::ToolCalls));
    assert_eq!(a.usage, usage(542, 62, 0, 0));
    assert_eq!(a.model, "claude-haiku-4-5-20251001");

    assert_eq!(
        provider("anthropic").request_id(&b.headers).as_deref(),
        Some("req_011CZkTfpqPnYcgCs7qMz1za")
    );
    let b = stream("anthropic", b).await;
    assert!(b
        .text
        .starts_with("Here are two great names for your pet pelican:\n\n1. **Charles**"));
    assert!(b.text.contains("2. **Sammy**"));
    assert!(b.text.ends_with("feathered friend! 🦅"));
    assert!(b.calls.is_empty());
    assert_eq!(b.finish, Some(FinishReason::Stop));
    assert_eq!(b.usage, usage(678, 82, 0, 0));
}

#[tokio::test]
async fn anthropic_streamed_structured_output_llm_plugin() {
    let [i] = &file(LLM_ANTHROPIC, "test_schema_prompt.yaml")[..] else {
        panic!()
    };
    let s = stream("anthropic", i).await;
    let dog: Value = serde_json::from_str(&s.text).unwrap();
    assert_eq!((&dog["name"], &dog["age"]), (&json!("Biscuit"), &json!(4)));
    let bio = dog["bio"].as_str().unwrap();
    assert!(bio.starts_with("Biscuit is a golden retriever with a gentle soul"));
    assert!(bio.ends_with("stealing socks to add to his secret collection under the bed."));
    assert_eq!(s.finish, Some(FinishReason::Stop));
    assert_eq!(s.usage, usage(230, 94, 0, 0));
    assert_eq!(s.model, "claude-sonnet-4-5-20250929");
}
