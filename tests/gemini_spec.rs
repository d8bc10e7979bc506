//! Request bodies built by the Gemini provider, validated against Google's own OpenAPI export of
//! the Generative Language API (tests/data/specs/gemini, see SOURCE.md there): its
//! `GenerateContentRequest` schema, and, since that schema allows unknown fields, a walk that
//! checks every field llmrail writes is one the spec names (a typo would otherwise pass).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::OnceLock;
use std::time::Duration;

use http::HeaderMap;
use jsonschema::Validator;
use llmrail::model::{ChatRequest, ToolChoice};
use llmrail::providers::{self, Endpoint, Secret};
use serde_json::{json, Value};

fn spec() -> &'static Value {
    static S: OnceLock<Value> = OnceLock::new();
    S.get_or_init(|| {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/specs/gemini/generativelanguage-v1beta.openapi.json"
        );
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    })
}

fn validator() -> &'static Validator {
    static V: OnceLock<Validator> = OnceLock::new();
    V.get_or_init(|| {
        let schema = json!({
            "$ref": "#/components/schemas/GenerateContentRequest",
            "components": spec()["components"],
        });
        jsonschema::draft4::new(&schema).expect("the spec compiles")
    })
}

/// Fields of `body` that the schema at `schema` (following `$ref`s) does not name.
fn unknown_fields(schema: &Value, body: &Value, at: &str, out: &mut Vec<String>) {
    // `{"allOf": [{"$ref": ...}]}` is how the export annotates a reference with a description.
    let schema = match schema.get("allOf").and_then(|a| a.get(0)) {
        Some(inner) => inner,
        None => schema,
    };
    let schema = match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r.rsplit('/').next().unwrap();
            &spec()["components"]["schemas"][name]
        }
        None => schema,
    };
    match body {
        Value::Object(o) => {
            // A free-form object (a Struct: function args, JSON Schemas) has no properties.
            let Some(props) = schema.get("properties").and_then(Value::as_object) else {
                return;
            };
            for (k, v) in o {
                match props.get(k) {
                    Some(s) => unknown_fields(s, v, &format!("{at}/{k}"), out),
                    None => out.push(format!("{at}/{k}")),
                }
            }
        }
        Value::Array(items) => {
            if let Some(s) = schema.get("items") {
                for (i, v) in items.iter().enumerate() {
                    unknown_fields(s, v, &format!("{at}/{i}"), out);
                }
            }
        }
        _ => {}
    }
}

fn check(body: &Value) {
    let errors: Vec<String> = validator()
        .iter_errors(body)
        .map(|e| format!("{}: {e}", e.instance_path))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\n{body:#}");
    let mut unknown = Vec::new();
    let root = json!({"$ref": "#/components/schemas/GenerateContentRequest"});
    unknown_fields(&root, body, "", &mut unknown);
    assert!(
        unknown.is_empty(),
        "fields the spec does not name: {unknown:?}"
    );
}

fn build(req: &ChatRequest, stream: bool) -> Value {
    let ep = Endpoint {
        base_url: "https://generativelanguage.googleapis.com".into(),
        api_key: Some(Secret::new("AIza-test")),
        model: "gemini-2.5-flash".into(),
        headers: HeaderMap::new(),
        timeout: Duration::from_secs(30),
        aws: None,
    };
    let http = providers::lookup("gemini")
        .unwrap()
        .build_chat(&ep, req, stream)
        .unwrap();
    serde_json::from_slice(&http.body).unwrap()
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
            {"type": "image_url", "image_url": {"url": "https://example.com/photo.jpg"}},
        ]},
        {"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_1__thought__c2lnMQ==", "type": "function",
             "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}}]},
        {"role": "tool", "tool_call_id": "call_1__thought__c2lnMQ==", "content": "sunny"},
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
fn the_checker_catches_a_misspelt_field() {
    let mut body = build(&request(json!([{"role": "user", "content": "x"}])), false);
    body["generationConfig"] = json!({"maxTokens": 5});
    let mut unknown = Vec::new();
    let root = json!({"$ref": "#/components/schemas/GenerateContentRequest"});
    unknown_fields(&root, &body, "", &mut unknown);
    assert_eq!(unknown, ["/generationConfig/maxTokens"]);
}

#[test]
fn an_extraction_request_with_a_response_json_schema_validates() {
    let mut req = request(json!([{"role": "user", "content": "Largest city in Mexico?"}]));
    req.max_tokens = Some(100);
    req.extra_body.insert(
        "generationConfig".into(),
        json!({"responseMimeType": "application/json",
               "responseJsonSchema": {"type": "object", "properties": {"city": {"type": "string"}}}}),
    );
    check(&build(&req, false));
}
