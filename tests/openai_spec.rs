//! Request bodies built by the OpenAI provider, validated against the official OpenAI OpenAPI
//! schema `CreateChatCompletionRequest` (tests/data/specs/openai, see SOURCE.md there).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::OnceLock;
use std::time::Duration;

use http::HeaderMap;
use jsonschema::Validator;
use llmrail::model::{ChatRequest, Message, ToolChoice, ToolSpec};
use llmrail::providers::{self, Endpoint, Secret};
use serde_json::{json, Value};

/// The spec's request schema, its `#/components/schemas/...` refs resolved inside the spec itself.
fn validator() -> &'static Validator {
    static V: OnceLock<Validator> = OnceLock::new();
    V.get_or_init(|| {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/specs/openai/openapi.prism.json"
        );
        let spec: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let schema = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$ref": "#/components/schemas/CreateChatCompletionRequest",
            "components": spec["components"],
        });
        jsonschema::draft202012::new(&schema).expect("the spec compiles")
    })
}

fn errors(body: &Value) -> Vec<String> {
    validator()
        .iter_errors(body)
        .map(|e| format!("{}: {e}", e.instance_path))
        .collect()
}

fn endpoint(base_url: &str) -> Endpoint {
    Endpoint {
        base_url: base_url.into(),
        api_key: Some(Secret::new("sk-test")),
        model: "gpt-4o-mini".into(),
        headers: HeaderMap::new(),
        timeout: Duration::from_secs(30),
        aws: None,
    }
}

fn build_at(base_url: &str, req: &ChatRequest, stream: bool) -> Value {
    let http = providers::lookup("openai")
        .unwrap()
        .build_chat(&endpoint(base_url), req, stream)
        .unwrap();
    assert!(http.url.ends_with("/chat/completions"));
    serde_json::from_slice(&http.body).unwrap()
}

fn build(req: &ChatRequest, stream: bool) -> Value {
    build_at("https://api.openai.com/v1", req, stream)
}

fn messages(v: Value) -> Vec<Message> {
    serde_json::from_value(v).unwrap()
}

fn tools() -> Vec<ToolSpec> {
    serde_json::from_value(json!([
        {"type": "function", "function": {
            "name": "get_weather", "description": "Current weather for a city.", "strict": true,
            "parameters": {"type": "object", "additionalProperties": false, "required": ["city"],
                           "properties": {"city": {"type": "string"}}}}},
        {"name": "now"},
    ]))
    .unwrap()
}

fn user(text: &str) -> ChatRequest {
    ChatRequest {
        messages: vec![Message::user(text)],
        ..Default::default()
    }
}

/// Every kind of request llmrail sends, with a name for failure messages.
fn matrix() -> Vec<(&'static str, ChatRequest, bool)> {
    let tool_round = messages(json!([
        {"role": "user", "content": "Weather in Paris and London?"},
        {"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}},
            {"id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "London"}}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "18C, sunny"},
        {"role": "tool", "tool_call_id": "call_2", "content": ""},
        {"role": "assistant", "content": "Let me check the time too.", "tool_calls": [
            {"id": "call_3", "type": "function", "function": {"name": "now", "arguments": ""}}]},
        {"role": "tool", "tool_call_id": "call_3", "content": [{"type": "text", "text": "12:00"}]},
    ]));
    let with_tools = |choice| ChatRequest {
        tools: tools(),
        tool_choice: choice,
        ..user("Weather in Paris?")
    };
    vec![
        ("plain", user("Hello"), false),
        ("plain, streamed", user("Hello"), true),
        (
            "system + multi-turn",
            ChatRequest {
                system: Some("You are terse.".into()),
                messages: messages(json!([
                    {"role": "developer", "content": "Answer in French."},
                    {"role": "user", "content": "Hi", "name": "alice"},
                    {"role": "assistant", "content": "Bonjour."},
                    {"role": "user", "content": [{"type": "text", "text": "How"}, {"type": "text", "text": " are you?"}]},
                ])),
                ..Default::default()
            },
            false,
        ),
        (
            "images by URL and base64",
            ChatRequest {
                messages: messages(json!([{"role": "user", "content": [
                    {"type": "text", "text": "Compare these."},
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
                    {"type": "image_url", "image_url": "data:image/png;base64,iVBORw0KGgo="},
                ]}])),
                ..Default::default()
            },
            false,
        ),
        ("tools, no tool_choice", with_tools(None), false),
        (
            "tool_choice auto",
            with_tools(Some(ToolChoice::Auto)),
            false,
        ),
        (
            "tool_choice none",
            with_tools(Some(ToolChoice::None)),
            false,
        ),
        (
            "tool_choice required",
            with_tools(Some(ToolChoice::Required)),
            false,
        ),
        (
            "tool_choice named",
            with_tools(Some(ToolChoice::Tool("get_weather".into()))),
            true,
        ),
        (
            "assistant tool_calls + tool results",
            ChatRequest {
                messages: tool_round,
                tools: tools(),
                ..Default::default()
            },
            false,
        ),
        (
            "sampling + stop",
            ChatRequest {
                max_tokens: Some(256),
                temperature: Some(0.2),
                top_p: Some(0.9),
                stop: vec!["\n\n".into(), "END".into()],
                ..user("Count to ten.")
            },
            true,
        ),
        (
            "extra_body",
            ChatRequest {
                extra_body:
                    json!({"seed": 7, "response_format": {"type": "json_schema", "json_schema": {
                    "name": "city", "strict": true,
                    "schema": {"type": "object", "properties": {"city": {"type": "string"}}}}}})
                    .as_object()
                    .unwrap()
                    .clone(),
                ..user("Capital of France as JSON.")
            },
            false,
        ),
    ]
}

#[test]
fn every_request_in_the_matrix_matches_the_spec() {
    for (name, req, stream) in matrix() {
        let body = build(&req, stream);
        let errs = errors(&body);
        assert!(errs.is_empty(), "{name}: {errs:#?}\n{body:#}");
    }
}

/// The body carries what was asked for, in the spec's field names.
#[test]
fn bodies_carry_the_request() {
    let find = |n: &str| {
        let (_, req, stream) = matrix().into_iter().find(|(name, ..)| *name == n).unwrap();
        build(&req, stream)
    };

    let b = find("sampling + stop");
    assert_eq!(b["max_completion_tokens"], 256);
    assert_eq!(
        (b["temperature"].as_f64(), b["top_p"].as_f64()),
        (Some(0.2), Some(0.9))
    );
    assert_eq!(b["stop"], json!(["\n\n", "END"]));
    assert_eq!(
        (&b["stream"], &b["stream_options"]),
        (&json!(true), &json!({"include_usage": true}))
    );

    let b = find("system + multi-turn");
    let roles: Vec<&str> = b["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["system", "developer", "user", "assistant", "user"]);
    assert_eq!(b["messages"][2]["name"], "alice");

    let b = find("images by URL and base64");
    let parts = &b["messages"][0]["content"];
    assert_eq!(parts[1]["image_url"]["url"], "https://example.com/cat.png");
    assert_eq!(
        parts[2]["image_url"]["url"],
        "data:image/png;base64,iVBORw0KGgo="
    );

    let b = find("tool_choice named");
    assert_eq!(
        b["tool_choice"],
        json!({"type": "function", "function": {"name": "get_weather"}})
    );
    assert_eq!(b["tools"][0]["function"]["strict"], true);
    assert_eq!(
        b["tools"][1]["function"]["parameters"],
        json!({"type": "object", "properties": {}})
    );

    let b = find("assistant tool_calls + tool results");
    let calls = &b["messages"][1]["tool_calls"];
    assert_eq!(b["messages"][1]["content"], Value::Null);
    // Arguments always go out as a JSON string, whichever form they came in.
    let args: Vec<Value> = (0..2)
        .map(|i| serde_json::from_str(calls[i]["function"]["arguments"].as_str().unwrap()).unwrap())
        .collect();
    assert_eq!(args, [json!({"city": "Paris"}), json!({"city": "London"})]);
    assert_eq!(b["messages"][2]["tool_call_id"], "call_1");
}

/// Compatible servers (vLLM, Ollama, OpenRouter) get `max_tokens`, which the spec still lists.
#[test]
fn max_tokens_for_compatible_servers_matches_the_spec() {
    let req = ChatRequest {
        max_tokens: Some(64),
        ..user("Hi")
    };
    let body = build_at("http://localhost:11434/v1", &req, false);
    assert_eq!(body["max_tokens"], 64);
    assert!(body.get("max_completion_tokens").is_none());
    assert_eq!(errors(&body), Vec::<String>::new());
}

/// The validator really checks: broken variants of valid bodies are rejected.
#[test]
fn wrong_bodies_fail_validation() {
    let (_, req, _) = matrix()
        .into_iter()
        .find(|(n, ..)| *n == "assistant tool_calls + tool results")
        .unwrap();
    let good = build(&req, false);
    assert!(errors(&good).is_empty());
    // (field to set or, with None, remove; where the validator must complain)
    let broken = [
        (
            "/messages",
            Some(json!([])),
            "/messages: [] has less than 1 item",
        ),
        ("/model", None, "\"model\" is a required property"),
        ("/messages/0/role", Some(json!("robot")), "/messages/0:"),
        // Arguments must be a JSON string, not an object.
        (
            "/messages/1/tool_calls/0/function/arguments",
            Some(json!({"city": "Paris"})),
            "/messages/1:",
        ),
        ("/messages/2/tool_call_id", None, "/messages/2:"),
        (
            "/messages/0/content",
            Some(json!([{"type": "image_url", "image_url": "https://x/y.png"}])),
            "/messages/0:",
        ),
        (
            "/tool_choice",
            Some(json!({"type": "any"})),
            "/tool_choice:",
        ),
        ("/temperature", Some(json!(3.5)), "/temperature:"),
    ];
    for (path, value, expected) in broken {
        let mut body = good.clone();
        let (parent, key) = path.rsplit_once('/').unwrap();
        let obj = body
            .pointer_mut(parent)
            .and_then(Value::as_object_mut)
            .unwrap();
        match value {
            Some(v) => drop(obj.insert(key.into(), v)),
            None => drop(obj.remove(key)),
        }
        let errs = errors(&body);
        assert!(
            errs.iter()
                .any(|e| e.starts_with(expected) || e.contains(expected)),
            "{path}: {errs:#?}"
        );
    }
}
