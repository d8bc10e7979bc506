//! Request bodies built by the Bedrock provider, validated against AWS's own model of the
//! Bedrock Runtime API (tests/data/specs/bedrock, see SOURCE.md there): botocore's service
//! model, whose shapes say what a `ConverseRequest` may hold. The model is not JSON Schema, so
//! a small walker checks it as botocore's validator does: every member named by its structure
//! (members bound to the URI do not belong in the body), required members present, exactly one
//! member of a union, enums, list and string bounds, numbers in range, blobs in base64. The
//! model id in the URL is checked against the `modelId` pattern.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::OnceLock;
use std::time::Duration;

use base64::Engine;
use http::HeaderMap;
use llmrail::cache::CachePlan;
use llmrail::model::{CacheTtl, ChatRequest, ToolChoice};
use llmrail::providers::{self, Endpoint, Secret};
use serde_json::{json, Value};

fn model() -> &'static Value {
    static S: OnceLock<Value> = OnceLock::new();
    S.get_or_init(|| {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/specs/bedrock/bedrock-runtime-2023-09-30.service-2.json"
        );
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    })
}

fn shape(name: &str) -> &'static Value {
    let s = &model()["shapes"][name];
    assert!(s.is_object(), "no shape {name}");
    s
}

/// What is wrong with `value` as an instance of the shape `name`.
fn check_shape(name: &str, value: &Value, at: &str, out: &mut Vec<String>) {
    let s = shape(name);
    let bound = |key: &str| s.get(key).and_then(Value::as_f64);
    let mut mine = Vec::new();
    let mut fail = |what: String| mine.push(format!("{at}: {what} ({name})"));
    match s["type"].as_str().unwrap() {
        "structure" if s.get("document") == Some(&Value::Bool(true)) => {}
        "structure" => {
            let Some(obj) = value.as_object() else {
                return fail(format!("expected an object, got {value}"));
            };
            let members = s["members"].as_object().unwrap();
            if s.get("union") == Some(&Value::Bool(true)) && obj.len() != 1 {
                fail(format!(
                    "a union needs exactly one member, got {}",
                    obj.len()
                ));
            }
            for req in s
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let req = req.as_str().unwrap();
                let in_body = members[req].get("location").is_none();
                if in_body && !obj.contains_key(req) {
                    fail(format!("required member {req} is missing"));
                }
            }
            for (k, v) in obj {
                match members.get(k) {
                    None => fail(format!("unknown member {k}")),
                    Some(m) if m.get("location").is_some() => {
                        fail(format!("{k} belongs in the request's {}", m["location"]))
                    }
                    Some(m) => {
                        check_shape(m["shape"].as_str().unwrap(), v, &format!("{at}/{k}"), out)
                    }
                }
            }
        }
        "list" => {
            let Some(items) = value.as_array() else {
                return fail(format!("expected a list, got {value}"));
            };
            let n = items.len() as f64;
            if bound("min").is_some_and(|min| n < min) || bound("max").is_some_and(|max| n > max) {
                fail(format!("{n} items is out of bounds"));
            }
            let member = s["member"]["shape"].as_str().unwrap();
            for (i, v) in items.iter().enumerate() {
                check_shape(member, v, &format!("{at}/{i}"), out);
            }
        }
        "map" => {
            let Some(obj) = value.as_object() else {
                return fail(format!("expected a map, got {value}"));
            };
            let v_shape = s["value"]["shape"].as_str().unwrap();
            for (k, v) in obj {
                check_shape(v_shape, v, &format!("{at}/{k}"), out);
            }
        }
        "string" => {
            let Some(text) = value.as_str() else {
                return fail(format!("expected a string, got {value}"));
            };
            let n = text.chars().count() as f64;
            if bound("min").is_some_and(|min| n < min) || bound("max").is_some_and(|max| n > max) {
                fail(format!("length {n} is out of bounds"));
            }
            if let Some(allowed) = s.get("enum").and_then(Value::as_array) {
                if !allowed.iter().any(|a| a == value) {
                    fail(format!("{text:?} is not one of {allowed:?}"));
                }
            }
        }
        "integer" | "long" | "float" | "double" => {
            let Some(x) = value.as_f64() else {
                return fail(format!("expected a number, got {value}"));
            };
            if matches!(s["type"].as_str(), Some("integer" | "long")) && !value.is_i64() {
                fail(format!("{value} is not an integer"));
            }
            if bound("min").is_some_and(|min| x < min) || bound("max").is_some_and(|max| x > max) {
                fail(format!("{x} is out of range"));
            }
        }
        "boolean" if !value.is_boolean() => fail(format!("expected a boolean, got {value}")),
        "blob" => match value.as_str() {
            Some(b) if base64::engine::general_purpose::STANDARD.decode(b).is_ok() => {}
            _ => fail(format!("expected base64 bytes, got {value}")),
        },
        _ => {}
    }
    out.append(&mut mine);
}

fn problems(body: &Value) -> Vec<String> {
    let mut out = Vec::new();
    check_shape("ConverseRequest", body, "", &mut out);
    out
}

fn check(body: &Value) {
    let errors = problems(body);
    assert!(errors.is_empty(), "{errors:#?}\n{body:#}");
}

/// The model id of a Converse URL, decoded, matches the `modelId` pattern.
fn check_url(url: &str, stream: bool) {
    let action = if stream {
        "/converse-stream"
    } else {
        "/converse"
    };
    let rest = url.split("/model/").nth(1).unwrap();
    let id = rest.strip_suffix(action).unwrap_or_else(|| panic!("{url}"));
    assert!(!id.contains(['/', ':']), "{id} is not one path segment");
    let id = id.replace("%3A", ":").replace("%2F", "/");
    let pattern = shape("ConversationalModelId")["pattern"].as_str().unwrap();
    let re = regex::Regex::new(&format!("^(?:{pattern})$")).unwrap();
    assert!(re.is_match(&id), "{id} does not match the modelId pattern");
}

fn build_with(req: &ChatRequest, model: &str, stream: bool, plan: &CachePlan) -> Value {
    let ep = Endpoint {
        base_url: "https://bedrock-runtime.us-east-1.amazonaws.com".into(),
        api_key: Some(Secret::new("bedrock-api-key")),
        model: model.into(),
        headers: HeaderMap::new(),
        timeout: Duration::from_secs(30),
        aws: None,
    };
    let http = providers::lookup("bedrock")
        .unwrap()
        .build_chat_with_cache(&ep, req, stream, plan)
        .unwrap();
    check_url(&http.url, stream);
    serde_json::from_slice(&http.body).unwrap()
}

fn build(req: &ChatRequest, stream: bool) -> Value {
    build_with(
        req,
        "us.amazon.nova-micro-v1:0",
        stream,
        &CachePlan::default(),
    )
}

fn request(messages: Value) -> ChatRequest {
    ChatRequest {
        messages: serde_json::from_value(messages).unwrap(),
        ..Default::default()
    }
}

#[test]
fn a_plain_chat_with_every_option_validates() {
    let mut req = request(json!([
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": "Bye"},
    ]));
    req.system = Some("You are a chatbot.".into());
    req.max_tokens = Some(50);
    req.temperature = Some(0.2);
    req.top_p = Some(0.9);
    req.stop = vec!["END".into()];
    for stream in [false, true] {
        check(&build(&req, stream));
    }
}

#[test]
fn tools_calls_results_and_images_validate() {
    let mut req = request(json!([
        {"role": "user", "content": [
            {"type": "text", "text": "Weather where this photo was taken?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
            {"type": "image_url", "image_url": {"url": "s3://bucket/photo.webp"}},
        ]},
        {"role": "assistant", "content": null, "tool_calls": [
            {"id": "tooluse_Mj06ft-ITJik1Otgpkc1uA", "type": "function",
             "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}},
            {"id": "tooluse_2", "type": "function",
             "function": {"name": "weather", "arguments": "not json"}}]},
        {"role": "tool", "tool_call_id": "tooluse_Mj06ft-ITJik1Otgpkc1uA", "content": "sunny"},
        {"role": "tool", "tool_call_id": "tooluse_2", "content": ""},
    ]));
    req.tools = serde_json::from_value(json!([{"type": "function", "function": {
        "name": "weather", "description": "Weather now",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                       "required": ["city"], "additionalProperties": false}}}]))
    .unwrap();
    for choice in [
        ToolChoice::Auto,
        ToolChoice::None,
        ToolChoice::Required,
        ToolChoice::Tool("weather".into()),
    ] {
        req.tool_choice = Some(choice);
        check(&build(&req, false));
    }
}

#[test]
fn cache_points_from_the_plan_and_the_caller_validate() {
    let mut req = request(json!([
        {"role": "system", "content": [
            {"type": "text", "text": "rules", "cache_control": {"type": "ephemeral", "ttl": "1h"}}]},
        {"role": "user", "content": [
            {"type": "text", "text": "doc", "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": "question"}]},
        {"role": "assistant", "content": "answer"},
        {"role": "user", "content": "next"},
    ]));
    req.tools =
        serde_json::from_value(json!([{"name": "f", "parameters": {"type": "object"}}])).unwrap();
    let plan = CachePlan {
        tools: Some(CacheTtl::OneHour),
        system: Some(CacheTtl::OneHour),
        message: Some((2, CacheTtl::FiveMinutes)),
        ..Default::default()
    };
    for model in [
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "global.anthropic.claude-haiku-4-5-20251001-v1:0",
        "amazon.nova-pro-v1:0",
    ] {
        let body = build_with(&req, model, false, &plan);
        assert!(body.to_string().contains("cachePoint"));
        check(&body);
    }
}

#[test]
fn an_extraction_request_with_an_output_config_validates() {
    let mut req = request(json!([{"role": "user", "content": "Largest city in Mexico?"}]));
    req.max_tokens = Some(100);
    req.extra_body.insert(
        "outputConfig".into(),
        json!({"textFormat": {"type": "json_schema", "structure": {"jsonSchema": {
            "schema": "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}}",
            "name": "City"}}}}),
    );
    check(&build(&req, false));
}

#[test]
fn the_checker_catches_a_misspelt_field_a_bad_union_and_a_uri_member() {
    let mut body = build(&request(json!([{"role": "user", "content": "x"}])), false);
    body["inferenceConfig"] = json!({"max_tokens": 5, "temperature": 3});
    body["messages"][0]["content"][0] = json!({"text": "a", "cachePoint": {"type": "default"}});
    body["modelId"] = json!("amazon.nova-micro-v1:0");
    let errors = problems(&body);
    assert_eq!(errors.len(), 4, "{errors:#?}");
    assert!(errors
        .iter()
        .any(|e| e.contains("unknown member max_tokens")));
    assert!(errors.iter().any(|e| e.contains("3 is out of range")));
    assert!(errors.iter().any(|e| e.contains("exactly one member")));
    assert!(errors
        .iter()
        .any(|e| e.contains("modelId belongs in the request's \"uri\"")));
}

/// The bodies botocore itself sent in pydantic-ai's recordings pass the checker: it reads the
/// model as AWS's own client does.
#[test]
fn the_checker_accepts_what_botocore_sent() {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/real-cassettes/pydantic-ai/tests/models/cassettes/test_bedrock/"
    );
    let mut seen = 0;
    for name in [
        "test_bedrock_model.yaml",
        "test_bedrock_model_stream.yaml",
        "test_bedrock_model_structured_output.yaml",
    ] {
        let text = std::fs::read_to_string(format!("{dir}{name}")).unwrap();
        let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
        for i in doc["interactions"].as_sequence().unwrap() {
            let body = i["request"]["body"].as_str().unwrap();
            check(&serde_json::from_str(body).unwrap());
            seen += 1;
        }
    }
    assert_eq!(seen, 5);
}
