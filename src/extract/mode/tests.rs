#![allow(clippy::unwrap_used)]
use super::*;
use crate::model::{ContentBlock, FinishReason, Message, ToolCall, Usage};

fn person() -> Value {
    json!({"title": "Person", "type": "object",
           "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
           "required": ["name", "age"]})
}

fn request() -> ChatRequest {
    ChatRequest {
        messages: vec![Message::user("Ann, 31")],
        system: Some("Be exact.".into()),
        ..Default::default()
    }
}

#[test]
fn auto_picks_per_provider_and_model() {
    let openai = "https://api.openai.com/v1";
    assert_eq!(Mode::auto("anthropic", "claude-sonnet-4-5", ""), Mode::Tool);
    assert_eq!(
        Mode::auto("openai", "gpt-4.1-mini", openai),
        Mode::JsonSchema
    );
    assert_eq!(Mode::auto("openai", "gpt-3.5-turbo", openai), Mode::Tool);
    assert_eq!(
        Mode::auto("openai", "llama3.2", "http://localhost:11434/v1"),
        Mode::JsonSchema
    );
    assert_eq!(
        Mode::auto("openrouter", "meta/llama", "https://openrouter.ai/api/v1"),
        Mode::Tool
    );
    assert!(Mode::parse("xml").is_err_and(|e| e.message.contains("json_schema")));
}

#[test]
fn tool_mode_forces_the_call() {
    let mut req = request();
    shape(
        &mut req,
        Mode::Tool,
        "openai",
        "Person",
        &Schema::new(person().clone()).unwrap(),
    );
    assert_eq!(req.tool_choice, Some(ToolChoice::Tool("Person".into())));
    assert_eq!(req.tools[0].strict, Some(true));
    assert_eq!(req.tools[0].parameters["additionalProperties"], false);
    let mut req = request();
    shape(
        &mut req,
        Mode::Tool,
        "anthropic",
        "Person",
        &Schema::new(person().clone()).unwrap(),
    );
    assert_eq!(
        (req.tools[0].strict, &req.tools[0].parameters),
        (None, &person())
    );
}

#[test]
fn json_schema_mode_is_strict_only_where_the_schema_allows() {
    let mut req = request();
    shape(
        &mut req,
        Mode::JsonSchema,
        "openai",
        "Person",
        &Schema::new(person().clone()).unwrap(),
    );
    let rf = &req.extra_body["response_format"];
    assert_eq!(
        (rf["type"].as_str(), rf["json_schema"]["strict"].as_bool()),
        (Some("json_schema"), Some(true))
    );
    let mut loose = person();
    loose["required"] = json!(["name"]);
    let mut req = request();
    shape(
        &mut req,
        Mode::JsonSchema,
        "openai",
        "Person",
        &Schema::new(loose.clone()).unwrap(),
    );
    assert!(req.extra_body["response_format"]["json_schema"]
        .get("strict")
        .is_none());
    let mut req = request();
    shape(
        &mut req,
        Mode::JsonSchema,
        "anthropic",
        "Person",
        &Schema::new(person().clone()).unwrap(),
    );
    assert_eq!(
        req.extra_body["output_config"]["format"]["type"],
        "json_schema"
    );
}

#[test]
fn strictness_follows_the_schema() {
    assert!(strict_schema(&person()).is_some());
    let mut bounded = person();
    bounded["properties"]["name"]["minLength"] = json!(1);
    assert!(strict_schema(&bounded).is_none());
    assert!(strict_schema(&json!({"type": "object"})).is_none());
}

#[test]
fn prompt_modes_put_the_schema_in_the_system_prompt() {
    let mut req = request();
    shape(
        &mut req,
        Mode::Json,
        "openai",
        "Person",
        &Schema::new(person().clone()).unwrap(),
    );
    let system = req.system.clone().unwrap();
    assert!(system.starts_with("Be exact.") && system.contains("\"required\":[\"name\",\"age\"]"));
    assert_eq!(req.extra_body["response_format"]["type"], "json_object");
    let mut req = request();
    shape(
        &mut req,
        Mode::Prompt,
        "openai",
        "Person",
        &Schema::new(person().clone()).unwrap(),
    );
    assert!(req.extra_body.is_empty() && req.tools.is_empty());
}

#[test]
fn answers_come_from_the_tool_call_or_the_text() {
    let resp = |content| ChatResponse {
        content,
        finish_reason: Some(FinishReason::Stop),
        usage: Usage::default(),
        model: String::new(),
        provider: String::new(),
        request_id: None,
        latency: Default::default(),
        raw: bytes::Bytes::new(),
    };
    let call = ContentBlock::ToolCall(ToolCall::from_value(
        "c1".into(),
        "Person".into(),
        json!({"name": "Ann"}),
    ));
    let a = answer(
        &resp(vec![ContentBlock::Text { text: "ok".into() }, call]),
        "Person",
    );
    assert_eq!(a.raw(), r#"{"name":"Ann"}"#);
    let t = answer(
        &resp(vec![ContentBlock::Text {
            text: "{\"a\": 1}".into(),
        }]),
        "Person",
    );
    assert_eq!(t, Answer::Text("{\"a\": 1}".into()));
}

#[test]
fn ollama_native_gets_the_schema_in_format() {
    assert_eq!(
        Mode::auto("ollama", "llama3.2", "http://localhost:11434"),
        Mode::JsonSchema
    );
    let compiled = Schema::new(person()).unwrap();
    let mut req = request();
    shape(&mut req, Mode::JsonSchema, "ollama", "Person", &compiled);
    assert_eq!(req.extra_body.get("format"), Some(&person()));
    assert!(!req.extra_body.contains_key("response_format"));
    let mut req = request();
    shape(&mut req, Mode::Json, "ollama", "Person", &compiled);
    assert_eq!(req.extra_body.get("format"), Some(&json!("json")));
    assert!(req.system.unwrap().contains("JSON Schema"));
}

#[test]
fn gemini_extraction_uses_its_json_schema_response_or_tools() {
    let base = "https://generativelanguage.googleapis.com";
    assert_eq!(
        Mode::auto("gemini", "gemini-2.5-flash", base),
        Mode::JsonSchema
    );
    assert_eq!(Mode::auto("gemini", "gemini-9-unknown", base), Mode::Tool);

    let schema = Schema::new(person()).unwrap();
    let mut req = request();
    req.extra_body
        .insert("generationConfig".into(), json!({"seed": 7}));
    shape(&mut req, Mode::JsonSchema, "gemini", "Person", &schema);
    assert_eq!(
        req.extra_body["generationConfig"],
        json!({"seed": 7, "responseMimeType": "application/json", "responseJsonSchema": person()})
    );
    assert!(!req.extra_body.contains_key("response_format"));

    let mut req = request();
    shape(&mut req, Mode::Json, "gemini", "Person", &schema);
    assert_eq!(
        req.extra_body["generationConfig"],
        json!({"responseMimeType": "application/json"})
    );
    assert!(req.system.unwrap().contains("JSON Schema"));
}

#[test]
fn bedrock_extracts_through_tools_unless_the_model_has_native_output() {
    // Nova is not among the models AWS lists for structured outputs; Claude goes by tools as
    // on Anthropic's own API.
    assert_eq!(
        Mode::auto("bedrock", "us.amazon.nova-pro-v1:0", ""),
        Mode::Tool
    );
    assert_eq!(
        Mode::auto("bedrock", "anthropic.claude-3-5-haiku-20241022-v1:0", ""),
        Mode::Tool
    );
    let mut req = request();
    shape(
        &mut req,
        Mode::Tool,
        "bedrock",
        "Person",
        &Schema::new(person()).unwrap(),
    );
    // No strict flag: Bedrock refuses it on models without strict tool use.
    assert_eq!(req.tools[0].strict, None);
    assert_eq!(req.tools[0].parameters, person());
}

#[test]
fn bedrock_json_schema_mode_is_output_config_with_the_schema_as_text() {
    let mut req = request();
    shape(
        &mut req,
        Mode::JsonSchema,
        "bedrock",
        "Person",
        &Schema::new(person()).unwrap(),
    );
    let format = &req.extra_body["outputConfig"]["textFormat"];
    assert_eq!(format["type"], "json_schema");
    let schema = format["structure"]["jsonSchema"]["schema"]
        .as_str()
        .unwrap();
    assert_eq!(serde_json::from_str::<Value>(schema).unwrap(), person());
    assert_eq!(format["structure"]["jsonSchema"]["name"], "Person");
    // JSON mode has no Bedrock field: the schema goes in the prompt only.
    let mut req = request();
    shape(
        &mut req,
        Mode::Json,
        "bedrock",
        "Person",
        &Schema::new(person()).unwrap(),
    );
    assert!(req.extra_body.is_empty());
    assert!(req.system.unwrap().contains("JSON Schema"));
}
