//! What both wire protocols do with input meant to break them: `extra_body` keys that would
//! replace an argument, tool-call arguments that are not JSON, and JSON nested far deeper than
//! any parser should follow.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use http::HeaderMap;
use serde_json::{json, Value};

use super::*;
use crate::error::ErrorKind;
use crate::model::{ChatRequest, Message};

fn endpoint() -> Endpoint {
    Endpoint {
        base_url: "http://127.0.0.1:9".into(),
        api_key: None,
        model: "m".into(),
        headers: HeaderMap::new(),
        timeout: Duration::from_secs(1),
        aws: None,
    }
}

fn both() -> [&'static dyn Provider; 2] {
    [lookup("openai").unwrap(), lookup("anthropic").unwrap()]
}

#[test]
fn extra_body_cannot_replace_what_an_argument_writes() {
    for p in both() {
        for key in [
            "model",
            "messages",
            "system",
            "max_tokens",
            "stream",
            "tools",
        ] {
            let mut req = ChatRequest {
                messages: vec![Message::user("hi")],
                ..ChatRequest::default()
            };
            req.extra_body.insert(key.into(), json!("x"));
            let e = p.build_chat(&endpoint(), &req, false).unwrap_err();
            assert_eq!(e.kind, ErrorKind::Configuration, "{}: {key}", p.name());
            assert!(e.message.contains(key), "{}", e.message);
        }
        let mut req = ChatRequest {
            messages: vec![Message::user("hi")],
            ..ChatRequest::default()
        };
        req.extra_body
            .insert("metadata".into(), json!({"user_id": "u"}));
        let sent = p.build_chat(&endpoint(), &req, false).unwrap();
        let body: Value = serde_json::from_slice(&sent.body).unwrap();
        assert_eq!(body["metadata"]["user_id"], "u");
        assert_eq!(body["model"], "m");
    }
}

fn openai_reply(arguments: &str) -> Vec<u8> {
    serde_json::to_vec(
        &json!({"model": "m", "choices": [{"finish_reason": "tool_calls",
        "message": {"tool_calls": [{"id": "c1", "type": "function",
            "function": {"name": "f", "arguments": arguments}}]}}]}),
    )
    .unwrap()
}

#[test]
fn invalid_argument_text_is_kept_raw_and_parsed_as_none() {
    let p = lookup("openai").unwrap();
    let r = p.parse_chat(&openai_reply(r#"{"city": "Par"#)).unwrap();
    let call = r.tool_calls()[0];
    assert_eq!(call.arguments, None);
    assert_eq!(call.raw_arguments, r#"{"city": "Par"#);
    // Valid JSON that is not an object is not arguments either.
    let r = p.parse_chat(&openai_reply("[1, 2]")).unwrap();
    assert_eq!(r.tool_calls()[0].arguments, None);
    let r = p.parse_chat(&openai_reply(r#"{"city": "Paris"}"#)).unwrap();
    let call = r.tool_calls()[0];
    assert_eq!(call.arguments.as_ref().unwrap()["city"], "Paris");
    assert_eq!(call.raw_arguments, r#"{"city": "Paris"}"#);
}

#[test]
fn anthropic_input_is_parsed_and_serialised_as_raw_text() {
    let body = json!({"model": "m", "stop_reason": "tool_use", "usage": {"input_tokens": 1, "output_tokens": 1},
        "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {"city": "Paris"}}]});
    let r = lookup("anthropic")
        .unwrap()
        .parse_chat(&serde_json::to_vec(&body).unwrap())
        .unwrap();
    let call = r.tool_calls()[0];
    assert_eq!(call.arguments.as_ref().unwrap()["city"], "Paris");
    assert_eq!(call.raw_arguments, r#"{"city":"Paris"}"#);
}

#[test]
fn arguments_nested_100_000_deep_are_raw_text_not_a_stack_overflow() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let r = lookup("openai")
        .unwrap()
        .parse_chat(&openai_reply(&deep))
        .unwrap();
    assert_eq!(r.tool_calls()[0].arguments, None);
    assert_eq!(r.tool_calls()[0].raw_arguments.len(), 200_000);
    // Anthropic's input is part of the body: the body is refused, as serde_json stops at 128.
    let body = format!(
        r#"{{"model": "m", "usage": {{"input_tokens": 1, "output_tokens": 1}}, "content": [{{"type": "tool_use", "id": "t1", "name": "f", "input": {{"a": {deep}}}}}]}}"#
    );
    let e = lookup("anthropic")
        .unwrap()
        .parse_chat(body.as_bytes())
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidResponse);
}
