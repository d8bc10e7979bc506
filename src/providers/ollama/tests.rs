//! The request Ollama's `/api/chat` gets and what its answers and errors become.
#![allow(clippy::unwrap_used)]

use serde_json::{json, Value};

use super::*;
use crate::providers::Endpoint;

fn ep() -> Endpoint {
    Endpoint {
        base_url: "http://localhost:11434".into(),
        api_key: None,
        model: "llama3.2".into(),
        headers: HeaderMap::new(),
        timeout: std::time::Duration::from_secs(5),
        aws: None,
    }
}

fn body(req: &ChatRequest, stream: bool) -> Value {
    let http = Ollama.build_chat(&ep(), req, stream).unwrap();
    assert_eq!(http.url, "http://localhost:11434/api/chat");
    assert!(http.headers.get("authorization").is_none());
    serde_json::from_slice(&http.body).unwrap()
}

fn weather() -> ToolSpec {
    ToolSpec {
        name: "weather".into(),
        description: Some("The weather in a city".into()),
        parameters: json!({"type": "object", "properties": {"city": {"type": "string"}}}),
        strict: Some(true),
        cache_control: None,
    }
}

#[test]
fn a_conversation_with_tools_images_and_tool_results_is_sent_as_ollama_reads_it() {
    let call = ToolCall::from_value("call_0".into(), "weather".into(), json!({"city": "Paris"}));
    let mut assistant = Message::text(Role::Assistant, "");
    assistant.tool_calls = vec![call];
    let mut result = Message::text(Role::Tool, "sunny");
    result.tool_call_id = Some("call_0".into());
    let mut user = Message::user("What is in this picture?");
    user.content.push(ContentPart::Image(ImageSource::Base64 {
        media_type: "image/png".into(),
        data: "iVBORw0KGgo=".into(),
    }));
    let req = ChatRequest {
        system: Some("Be brief.".into()),
        messages: vec![user, assistant, result],
        tools: vec![weather()],
        max_tokens: Some(64),
        temperature: Some(0.0),
        stop: vec!["\n\n".into()],
        ..Default::default()
    };
    assert_eq!(
        body(&req, false),
        json!({
            "model": "llama3.2",
            "stream": false,
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "What is in this picture?", "images": ["iVBORw0KGgo="]},
                {"role": "assistant", "content": "",
                 "tool_calls": [{"function": {"name": "weather", "arguments": {"city": "Paris"}}}]},
                {"role": "tool", "content": "sunny", "tool_name": "weather"},
            ],
            "tools": [{"type": "function", "function": {
                "name": "weather", "description": "The weather in a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
            "options": {"num_predict": 64, "temperature": 0.0, "stop": ["\n\n"]},
        })
    );
}

#[test]
fn keep_alive_format_think_and_options_pass_through_extra_body() {
    let extra = json!({
        "keep_alive": "1m", "think": true, "seed": 7,
        "format": {"type": "object", "properties": {"a": {"type": "integer"}}},
        "options": {"num_ctx": 8192, "num_predict": 10},
    });
    let req = ChatRequest {
        messages: vec![Message::user("hi")],
        max_tokens: Some(64),
        extra_body: extra.as_object().unwrap().clone(),
        ..Default::default()
    };
    let b = body(&req, true);
    assert_eq!(b["stream"], json!(true));
    assert_eq!(b["keep_alive"], json!("1m"));
    assert_eq!(b["think"], json!(true));
    assert_eq!(b["format"]["properties"]["a"]["type"], json!("integer"));
    // The caller's options win over the arguments', and seed goes where Ollama reads it.
    assert_eq!(
        b["options"],
        json!({"num_ctx": 8192, "num_predict": 10, "seed": 7})
    );
    assert!(b.get("seed").is_none());
}

#[test]
fn an_image_url_is_refused_since_ollama_fetches_none() {
    let mut user = Message::user("look");
    user.content.push(ContentPart::Image(ImageSource::Url(
        "https://x/y.png".into(),
    )));
    let req = ChatRequest {
        messages: vec![user],
        ..Default::default()
    };
    let e = Ollama.build_chat(&ep(), &req, false).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Configuration);
}

#[test]
fn tool_call_arguments_arrive_as_an_object_and_the_finish_reason_says_tool_calls() {
    let body = br#"{"model":"llama3.2","created_at":"2025-01-01T00:00:00Z","message":{"role":"assistant","content":"","tool_calls":[{"function":{"name":"weather","arguments":{"city":"Paris"}}}]},"done":true,"done_reason":"stop","prompt_eval_count":120,"eval_count":18}"#;
    let r = Ollama.parse_chat(body).unwrap();
    let calls = r.tool_calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].id, "call_0");
    assert_eq!(calls[0].name, "weather");
    assert_eq!(
        calls[0].arguments.clone().map(Value::Object),
        Some(json!({"city": "Paris"}))
    );
    assert_eq!(calls[0].raw_arguments, r#"{"city":"Paris"}"#);
    assert_eq!(r.finish_reason, Some(FinishReason::ToolCalls));
    assert_eq!((r.usage.input_tokens, r.usage.output_tokens), (120, 18));
    assert_eq!(r.provider, "ollama");
}

#[test]
fn thinking_and_length_are_read() {
    let body = br#"{"model":"qwen3","message":{"role":"assistant","content":"4","thinking":"2+2"},"done":true,"done_reason":"length","prompt_eval_count":5,"eval_count":9}"#;
    let r = Ollama.parse_chat(body).unwrap();
    assert_eq!(r.text(), "4");
    assert!(matches!(&r.content[0], ContentBlock::Thinking { text } if text == "2+2"));
    assert_eq!(r.finish_reason, Some(FinishReason::Length));
}

#[test]
fn an_unknown_model_is_not_found_and_says_how_to_pull_it() {
    let e = Ollama.parse_error(
        404,
        &HeaderMap::new(),
        br#"{"error":"model \"llama9\" not found, try pulling it first"}"#,
    );
    assert_eq!(e.kind, ErrorKind::NotFound);
    assert_eq!(e.status, Some(404));
    assert!(e.message.contains("`ollama pull llama9`"), "{}", e.message);
    // Another server's 404 page is not a missing model.
    let e = Ollama.parse_error(404, &HeaderMap::new(), b"404 page not found");
    assert_eq!(e.kind, ErrorKind::NotFound);
    assert!(!e.message.contains("ollama pull"), "{}", e.message);
}

#[test]
fn an_error_line_mid_stream_is_a_typed_error_and_a_cut_stream_is_a_connection_error() {
    let mut d = Ollama.stream_decoder();
    let mut out = Vec::new();
    d.event(
        "",
        r#"{"model":"llama3.2","message":{"role":"assistant","content":"Hi"},"done":false}"#,
        &mut out,
    )
    .unwrap();
    assert_eq!(out, [StreamEvent::Text("Hi".into())]);
    let e = d
        .event(
            "",
            r#"{"error":"an error was encountered while running the model: unexpected EOF"}"#,
            &mut out,
        )
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Server);
    assert!(e.message.contains("unexpected EOF"));
    let e = d.finish(&mut out).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Connection);
}

#[test]
fn streamed_tool_calls_are_numbered_across_lines() {
    let mut d = Ollama.stream_decoder();
    let mut out = Vec::new();
    for line in [
        r#"{"model":"m","message":{"role":"assistant","content":"","tool_calls":[{"function":{"name":"a","arguments":{"x":1}}}]},"done":false}"#,
        r#"{"model":"m","message":{"role":"assistant","content":"","tool_calls":[{"id":"call_b","function":{"name":"b","arguments":{}}}]},"done":false}"#,
        r#"{"model":"m","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop","prompt_eval_count":3,"eval_count":4}"#,
    ] {
        d.event("", line, &mut out).unwrap();
    }
    d.finish(&mut out).unwrap();
    assert_eq!(
        out,
        [
            StreamEvent::ToolCallDelta {
                index: 0,
                id: Some("call_0".into()),
                name: Some("a".into()),
                arguments: r#"{"x":1}"#.into()
            },
            StreamEvent::ToolCallDelta {
                index: 1,
                id: Some("call_b".into()),
                name: Some("b".into()),
                arguments: "{}".into()
            },
            StreamEvent::Done {
                finish_reason: Some(FinishReason::ToolCalls),
                usage: Usage {
                    input_tokens: 3,
                    output_tokens: 4,
                    ..Default::default()
                },
                model: "m".into(),
                request_id: None,
                response_id: None
            },
        ]
    );
}
