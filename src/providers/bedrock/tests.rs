//! The Bedrock translation: URLs, auth, request bodies with cache points, answers, stream
//! events (through real event-stream frames) and errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use bytes::Bytes;
use futures_util::{FutureExt, StreamExt};
use serde_json::{json, Value};

use super::*;
use crate::error::ErrorKind;
use crate::model::*;
use crate::providers::event_stream::{feed, EventStream};
use crate::providers::{lookup, Secret};

fn endpoint(model: &str) -> Endpoint {
    Endpoint {
        base_url: "https://bedrock-runtime.us-east-1.amazonaws.com".into(),
        api_key: Some(Secret::new("ABSKsecret")),
        model: model.into(),
        headers: HeaderMap::new(),
        timeout: Duration::from_secs(30),
        aws: None,
    }
}

fn request(messages: Value) -> ChatRequest {
    ChatRequest {
        messages: serde_json::from_value(messages).unwrap(),
        ..Default::default()
    }
}

fn body_with(req: &ChatRequest, model: &str, plan: &CachePlan) -> Value {
    let http = Bedrock
        .build_chat_with_cache(&endpoint(model), req, false, plan)
        .unwrap();
    serde_json::from_slice(&http.body).unwrap()
}

fn body(req: &ChatRequest) -> Value {
    body_with(req, "us.amazon.nova-micro-v1:0", &CachePlan::default())
}

#[test]
fn the_bedrock_prefix_names_the_provider_and_it_asks_to_be_signed() {
    let p = lookup("bedrock").unwrap();
    assert_eq!(p.name(), "bedrock");
    assert_eq!(p.aws_service(), Some("bedrock"));
    assert!(!p.key_required());
    assert_eq!(p.stream_framing(), Framing::EventStream);
    assert!(crate::providers::KNOWN.contains(&"bedrock"));
}

#[test]
fn the_model_id_is_one_percent_encoded_path_segment() {
    let req = request(json!([{"role": "user", "content": "hi"}]));
    let ep = endpoint("us.anthropic.claude-sonnet-4-5-20250929-v1:0");
    let http = Bedrock.build_chat(&ep, &req, false).unwrap();
    assert_eq!(
        http.url,
        "https://bedrock-runtime.us-east-1.amazonaws.com/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse"
    );
    let http = Bedrock.build_chat(&ep, &req, true).unwrap();
    assert!(
        http.url.ends_with("-v1%3A0/converse-stream"),
        "{}",
        http.url
    );
    assert!(http.stream);
    assert_eq!(
        path_segment("arn:aws:bedrock:us-east-1:123:inference-profile/us.amazon.nova-pro-v1:0"),
        "arn%3Aaws%3Abedrock%3Aus-east-1%3A123%3Ainference-profile%2Fus.amazon.nova-pro-v1%3A0"
    );
}

#[test]
fn the_api_key_is_a_sensitive_bearer_token_and_without_one_nothing_is_sent() {
    let req = request(json!([{"role": "user", "content": "hi"}]));
    let http = Bedrock
        .build_chat(&endpoint("amazon.nova-lite-v1:0"), &req, false)
        .unwrap();
    let auth = http.headers.get("authorization").unwrap();
    assert_eq!(auth, "Bearer ABSKsecret");
    assert!(auth.is_sensitive());
    let mut ep = endpoint("amazon.nova-lite-v1:0");
    ep.api_key = None;
    let http = Bedrock.build_chat(&ep, &req, false).unwrap();
    // Left for the pipeline's SigV4 signature.
    assert!(http.headers.get("authorization").is_none());
}

#[test]
fn system_messages_images_and_options_become_converse_fields() {
    let mut req = request(json!([
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/AA=="}},
        ]},
    ]));
    req.system = Some("You are a chatbot.".into());
    req.max_tokens = Some(100);
    req.temperature = Some(0.0);
    req.top_p = Some(0.9);
    req.stop = vec!["END".into()];
    req.extra_body
        .insert("inferenceConfig".into(), json!({"topP": 0.5}));
    req.extra_body
        .insert("additionalModelRequestFields".into(), json!({"top_k": 5}));
    let b = body(&req);
    assert_eq!(
        b["system"],
        json!([{"text": "You are a chatbot."}, {"text": "Be brief."}])
    );
    assert_eq!(
        b["messages"],
        json!([{"role": "user", "content": [
            {"text": "What is this?"},
            {"image": {"format": "jpeg", "source": {"bytes": "/9j/AA=="}}},
        ]}])
    );
    // The caller's inferenceConfig is merged in, its keys winning.
    assert_eq!(
        b["inferenceConfig"],
        json!({"maxTokens": 100, "temperature": 0.0, "topP": 0.5, "stopSequences": ["END"]})
    );
    assert_eq!(b["additionalModelRequestFields"], json!({"top_k": 5}));
    assert!(b.get("modelId").is_none() && b.get("toolConfig").is_none());
}

#[test]
fn a_web_image_url_is_refused_with_what_to_do() {
    let req = request(json!([{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
    ]}]));
    let e = Bedrock
        .build_chat(&endpoint("amazon.nova-pro-v1:0"), &req, false)
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Configuration);
    assert!(e.message.contains("data: URL"), "{}", e.message);
}

#[test]
fn tools_calls_and_results_round_trip_as_tool_use_and_tool_result() {
    let mut req = request(json!([
        {"role": "user", "content": "Weather in Paris and London?"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "tooluse_1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}},
            {"id": "tooluse_2", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"London\"}"}},
        ]},
        {"role": "tool", "tool_call_id": "tooluse_1", "content": "18C"},
        {"role": "tool", "tool_call_id": "tooluse_2", "content": "12C"},
    ]));
    req.tools = vec![ToolSpec {
        name: "weather".into(),
        description: Some("Current weather".into()),
        parameters: json!({"type": "object", "properties": {"city": {"type": "string"}}}),
        strict: None,
        cache_control: None,
    }];
    req.tool_choice = Some(ToolChoice::Required);
    let b = body(&req);
    assert_eq!(
        b["toolConfig"],
        json!({"tools": [{"toolSpec": {"name": "weather", "description": "Current weather",
            "inputSchema": {"json": {"type": "object", "properties": {"city": {"type": "string"}}}}}}],
            "toolChoice": {"any": {}}})
    );
    assert_eq!(
        b["messages"][1],
        json!({"role": "assistant", "content": [
            {"toolUse": {"toolUseId": "tooluse_1", "name": "weather", "input": {"city": "Paris"}}},
            {"toolUse": {"toolUseId": "tooluse_2", "name": "weather", "input": {"city": "London"}}},
        ]})
    );
    // Both answers in one user turn.
    assert_eq!(
        b["messages"][2],
        json!({"role": "user", "content": [
            {"toolResult": {"toolUseId": "tooluse_1", "content": [{"text": "18C"}]}},
            {"toolResult": {"toolUseId": "tooluse_2", "content": [{"text": "12C"}]}},
        ]})
    );
    assert_eq!(b["messages"].as_array().unwrap().len(), 3);
}

#[test]
fn each_tool_choice_has_its_converse_form() {
    let mut req = request(json!([{"role": "user", "content": "hi"}]));
    req.tools = vec![ToolSpec {
        name: "f".into(),
        description: None,
        parameters: json!({"type": "object"}),
        strict: Some(true),
        cache_control: None,
    }];
    for (choice, want) in [
        (ToolChoice::Auto, Some(json!({"auto": {}}))),
        (ToolChoice::Required, Some(json!({"any": {}}))),
        (
            ToolChoice::Tool("f".into()),
            Some(json!({"tool": {"name": "f"}})),
        ),
    ] {
        req.tool_choice = Some(choice);
        let b = body(&req);
        assert_eq!(b["toolConfig"].get("toolChoice").cloned(), want);
        assert_eq!(b["toolConfig"]["tools"][0]["toolSpec"]["strict"], true);
        assert!(b["toolConfig"]["tools"][0]["toolSpec"]
            .get("description")
            .is_none());
    }
    // No "none" on Bedrock: with no tool use yet, the tools are not offered at all.
    req.tool_choice = Some(ToolChoice::None);
    assert!(body(&req).get("toolConfig").is_none());
}

#[test]
fn the_cache_plan_becomes_cache_points_with_ttls_never_increasing() {
    let mut req = request(json!([
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "answer"},
        {"role": "user", "content": "second"},
    ]));
    req.system = Some("long system prompt".into());
    req.tools = vec![ToolSpec {
        name: "f".into(),
        description: Some("d".into()),
        parameters: json!({"type": "object"}),
        strict: None,
        cache_control: None,
    }];
    let plan = CachePlan {
        tools: Some(CacheTtl::OneHour),
        system: Some(CacheTtl::FiveMinutes),
        message: Some((1, CacheTtl::OneHour)),
        ..Default::default()
    };
    let b = body_with(&req, "us.anthropic.claude-sonnet-4-5-20250929-v1:0", &plan);
    assert_eq!(
        b["toolConfig"]["tools"][1],
        json!({"cachePoint": {"type": "default", "ttl": "1h"}})
    );
    assert_eq!(b["system"][1], json!({"cachePoint": {"type": "default"}}));
    // After a 5-minute point, a 1-hour one would be refused: it goes as 5 minutes.
    assert_eq!(
        b["messages"][1]["content"],
        json!([{"text": "answer"}, {"cachePoint": {"type": "default"}}])
    );
    assert_eq!(b["messages"][2]["content"], json!([{"text": "second"}]));
    // Nova caches system and messages, not tools.
    let b = body_with(&req, "us.amazon.nova-pro-v1:0", &plan);
    assert_eq!(b["toolConfig"]["tools"].as_array().unwrap().len(), 1);
    assert_eq!(b["system"][1]["cachePoint"]["type"], "default");
}

#[test]
fn the_callers_own_markers_are_cache_points_where_they_wrote_them() {
    let req = request(json!([
        {"role": "system", "content": [
            {"type": "text", "text": "rules", "cache_control": {"type": "ephemeral", "ttl": "1h"}},
        ]},
        {"role": "user", "content": [
            {"type": "text", "text": "doc", "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": "question"},
        ]},
    ]));
    let b = body(&req);
    assert_eq!(
        b["system"],
        json!([{"text": "rules"}, {"cachePoint": {"type": "default", "ttl": "1h"}}])
    );
    assert_eq!(
        b["messages"][0]["content"],
        json!([{"text": "doc"}, {"cachePoint": {"type": "default"}}, {"text": "question"}])
    );
}

#[test]
fn the_planner_places_at_most_four_points_and_no_automatic_one_for_bedrock() {
    let long = "word ".repeat(6000);
    let mut req = request(json!([
        {"role": "user", "content": long},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "next"},
    ]));
    req.system = Some(long.clone());
    req.prompt_cache = Some(PromptCache::Auto);
    let model = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";
    let plan = crate::cache::plan(&req, "bedrock", model, PromptCache::Auto);
    assert_eq!(plan.automatic, None);
    assert!(plan.system.is_some() && plan.message.is_some());
    let b = body_with(&req, model, &plan);
    let points = b.to_string().matches("cachePoint").count();
    assert!((1..=4).contains(&points), "{points}");
}

fn answer(body: Value) -> ChatResponse {
    Bedrock.parse_chat(body.to_string().as_bytes()).unwrap()
}

#[test]
fn an_answer_gives_text_tool_calls_thinking_finish_and_usage() {
    let r = answer(json!({
        "output": {"message": {"role": "assistant", "content": [
            {"reasoningContent": {"reasoningText": {"text": "Let me look.", "signature": "sig"}}},
            {"text": "Checking."},
            {"toolUse": {"toolUseId": "tooluse_9", "name": "weather", "input": {"city": "Paris"}}},
        ]}},
        "stopReason": "tool_use",
        "usage": {"inputTokens": 10, "outputTokens": 20, "totalTokens": 130,
                  "cacheReadInputTokens": 80, "cacheWriteInputTokens": 20},
        "metrics": {"latencyMs": 300},
    }));
    assert_eq!(r.provider, "bedrock");
    assert_eq!(r.text(), "Checking.");
    assert_eq!(
        r.content[0],
        ContentBlock::Thinking {
            text: "Let me look.".into()
        }
    );
    let call = r.tool_calls()[0];
    assert_eq!(
        (call.id.as_str(), call.name.as_str()),
        ("tooluse_9", "weather")
    );
    assert_eq!(call.raw_arguments, r#"{"city":"Paris"}"#);
    assert_eq!(r.finish_reason, Some(FinishReason::ToolCalls));
    assert_eq!(
        r.usage,
        Usage {
            input_tokens: 110,
            output_tokens: 20,
            cache_read_tokens: 80,
            cache_write_tokens: 20,
            cache_write_1h_tokens: 0,
        }
    );
}

#[test]
fn every_stop_reason_has_its_unified_finish_reason() {
    for (reason, want) in [
        ("end_turn", FinishReason::Stop),
        ("stop_sequence", FinishReason::Stop),
        ("max_tokens", FinishReason::Length),
        ("model_context_window_exceeded", FinishReason::Length),
        ("tool_use", FinishReason::ToolCalls),
        ("guardrail_intervened", FinishReason::ContentFilter),
        ("content_filtered", FinishReason::ContentFilter),
    ] {
        assert_eq!(response::stop_reason(reason), want, "{reason}");
    }
}

#[test]
fn an_unreadable_answer_is_an_invalid_response() {
    let e = Bedrock.parse_chat(b"<html>").unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidResponse);
}

#[test]
fn the_request_id_is_amazons() {
    let mut h = HeaderMap::new();
    h.insert(
        "x-amzn-requestid",
        http::HeaderValue::from_static("63e33e55-4ca9"),
    );
    assert_eq!(Bedrock.request_id(&h).as_deref(), Some("63e33e55-4ca9"));
}

// ---- streams, through real event-stream frames ------------------------------------------------

fn frame(kind: &'static str, name: &'static str, payload: Value) -> Vec<u8> {
    let (type_header, message_type) = match kind {
        "exception" => (":exception-type", "exception"),
        _ => (":event-type", "event"),
    };
    let m = Message::new(Bytes::from(payload.to_string()))
        .add_header(Header::new(type_header, HeaderValue::String(name.into())))
        .add_header(Header::new(
            ":content-type",
            HeaderValue::String("application/json".into()),
        ))
        .add_header(Header::new(
            ":message-type",
            HeaderValue::String(message_type.into()),
        ));
    let mut out = Vec::new();
    write_message_to(&m, &mut out).unwrap();
    out
}

fn event(name: &'static str, payload: Value) -> Vec<u8> {
    frame("event", name, payload)
}

/// The events `body` decodes to when it arrives in pieces of `size` bytes.
fn decode(body: &[u8], size: usize) -> (Vec<StreamEvent>, Option<crate::error::LlmError>) {
    let pieces: Vec<crate::error::Result<Bytes>> = body
        .chunks(size)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let mut frames = EventStream::new(futures_util::stream::iter(pieces), 1 << 20);
    let mut decoder = Bedrock.stream_decoder();
    let mut out = Vec::new();
    loop {
        let next = frames.next().now_or_never().unwrap();
        match feed(&mut *decoder, next, &mut out) {
            Ok(false) => {}
            Ok(true) => return (out, None),
            Err(e) => return (out, Some(e)),
        }
    }
}

fn tool_stream() -> Vec<u8> {
    [
        event("messageStart", json!({"role": "assistant", "p": "abc"})),
        event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "hmm"}}}),
        ),
        event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 1, "delta": {"text": "Let me check."}}),
        ),
        event("contentBlockStop", json!({"contentBlockIndex": 1})),
        event(
            "contentBlockStart",
            json!({"contentBlockIndex": 2, "start": {"toolUse": {"toolUseId": "tooluse_a", "name": "weather"}}}),
        ),
        event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 2, "delta": {"toolUse": {"input": "{\"city\":"}}}),
        ),
        event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 2, "delta": {"toolUse": {"input": "\"Paris\"}"}}}),
        ),
        event("contentBlockStop", json!({"contentBlockIndex": 2})),
        event("messageStop", json!({"stopReason": "tool_use"})),
        event(
            "metadata",
            json!({"usage": {"inputTokens": 5, "outputTokens": 7, "totalTokens": 12},
                   "metrics": {"latencyMs": 100}}),
        ),
    ]
    .concat()
}

#[test]
fn a_stream_decodes_the_same_in_pieces_of_every_size() {
    let body = tool_stream();
    let (whole, error) = decode(&body, body.len());
    assert!(error.is_none(), "{error:?}");
    assert_eq!(
        whole,
        vec![
            StreamEvent::Thinking("hmm".into()),
            StreamEvent::Text("Let me check.".into()),
            StreamEvent::ToolCallDelta {
                index: 0,
                id: Some("tooluse_a".into()),
                name: Some("weather".into()),
                arguments: String::new(),
            },
            StreamEvent::ToolCallDelta {
                index: 0,
                id: None,
                name: None,
                arguments: "{\"city\":".into(),
            },
            StreamEvent::ToolCallDelta {
                index: 0,
                id: None,
                name: None,
                arguments: "\"Paris\"}".into(),
            },
            StreamEvent::Done {
                finish_reason: Some(FinishReason::ToolCalls),
                usage: Usage {
                    input_tokens: 5,
                    output_tokens: 7,
                    ..Default::default()
                },
                model: String::new(),
                request_id: None,
                response_id: None,
            },
        ]
    );
    for size in 1..body.len() {
        let (events, error) = decode(&body, size);
        assert!(error.is_none(), "size {size}: {error:?}");
        assert_eq!(events, whole, "size {size}");
    }
}

#[test]
fn an_exception_frame_is_the_typed_error_of_its_type() {
    let body = [
        event("messageStart", json!({"role": "assistant"})),
        event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"text": "Hel"}}),
        ),
        frame(
            "exception",
            "throttlingException",
            json!({"message": "Too many tokens, please wait before trying again."}),
        ),
    ]
    .concat();
    let (events, error) = decode(&body, 7);
    assert_eq!(events, vec![StreamEvent::Text("Hel".into())]);
    let e = error.unwrap();
    assert_eq!(e.kind, ErrorKind::RateLimit);
    assert!(e.message.contains("Too many tokens"), "{}", e.message);
    for (name, kind) in [
        ("modelStreamErrorException", ErrorKind::Server),
        ("serviceUnavailableException", ErrorKind::Overloaded),
        ("validationException", ErrorKind::BadRequest),
        ("internalServerException", ErrorKind::Server),
    ] {
        let (_, e) = decode(&frame("exception", name, json!({"message": "x"})), 64);
        assert_eq!(e.unwrap().kind, kind, "{name}");
    }
}

#[test]
fn a_stream_without_message_stop_was_cut() {
    let body = event(
        "contentBlockDelta",
        json!({"contentBlockIndex": 0, "delta": {"text": "Hel"}}),
    );
    let (_, e) = decode(&body, 5);
    assert_eq!(e.unwrap().kind, ErrorKind::Connection);
}

#[test]
fn a_corrupt_frame_in_a_stream_is_an_invalid_response() {
    let mut body = tool_stream();
    let at = body.len() / 2;
    body[at] ^= 0x40;
    let (_, e) = decode(&body, 13);
    let e = e.unwrap();
    assert_eq!(e.kind, ErrorKind::InvalidResponse);
    assert!(
        e.message.contains("corrupt event-stream frame"),
        "{}",
        e.message
    );
}

// ---- input meant to break it ------------------------------------------------------------------

#[test]
fn extra_body_cannot_replace_the_conversation_or_the_system_prompt() {
    for key in ["messages", "system"] {
        let mut req = request(json!([{"role": "user", "content": "hi"}]));
        req.extra_body.insert(key.into(), json!("x"));
        let e = Bedrock
            .build_chat(&endpoint("amazon.nova-pro-v1:0"), &req, false)
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Configuration, "{key}");
    }
}

#[test]
fn huge_usage_saturates_and_impossible_usage_is_an_invalid_response() {
    let r = answer(json!({
        "output": {"message": {"role": "assistant", "content": [{"text": "x"}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": u64::MAX, "outputTokens": 1, "cacheReadInputTokens": u64::MAX},
    }));
    assert_eq!(r.usage.input_tokens, u64::MAX);
    let e = Bedrock
        .parse_chat(br#"{"output": {}, "usage": {"inputTokens": -1}}"#)
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidResponse);
}

#[test]
fn tool_input_nested_past_what_serde_follows_is_an_invalid_response() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let body = format!(
        r#"{{"output": {{"message": {{"content": [{{"toolUse": {{"toolUseId": "t", "name": "f", "input": {deep}}}}}]}}}}}}"#
    );
    let e = Bedrock.parse_chat(body.as_bytes()).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidResponse);
    // In a stream, a tool's input arrives as text pieces: kept raw, never parsed deep.
    let piece = json!({"contentBlockIndex": 0, "delta": {"toolUse": {"input": deep}}});
    let mut d = Bedrock.stream_decoder();
    let mut out = Vec::new();
    d.event("contentBlockDelta", &piece.to_string(), &mut out)
        .unwrap();
    assert!(
        matches!(&out[0], StreamEvent::ToolCallDelta { arguments, .. } if arguments.len() == 200_000)
    );
}
