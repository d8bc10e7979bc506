//! The Gemini translation: requests built, answers and errors read.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use serde_json::{json, Value};

use super::*;
use crate::error::ErrorKind;
use crate::providers::{lookup, Secret};

fn endpoint() -> Endpoint {
    Endpoint {
        base_url: "https://generativelanguage.googleapis.com".into(),
        api_key: Some(Secret::new("AIza-secret")),
        model: "gemini-2.5-flash".into(),
        headers: HeaderMap::new(),
        timeout: Duration::from_secs(30),
        aws: None,
    }
}

fn body(req: &ChatRequest, stream: bool) -> (HttpRequest, Value) {
    let http = Gemini.build_chat(&endpoint(), req, stream).unwrap();
    let body = serde_json::from_slice(&http.body).unwrap();
    (http, body)
}

fn request(messages: Value) -> ChatRequest {
    ChatRequest {
        messages: serde_json::from_value(messages).unwrap(),
        ..Default::default()
    }
}

#[test]
fn both_prefixes_name_the_gemini_provider() {
    assert_eq!(lookup("gemini").unwrap().name(), "gemini");
    assert_eq!(lookup("google").unwrap().name(), "gemini");
}

#[test]
fn the_key_goes_in_a_sensitive_header_and_never_in_the_url() {
    let (http, _) = body(&request(json!([{"role": "user", "content": "hi"}])), false);
    assert_eq!(
        http.url,
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"
    );
    let key = http.headers.get("x-goog-api-key").unwrap();
    assert_eq!(key, "AIza-secret");
    assert!(key.is_sensitive());
    assert!(!http.url.contains("AIza"));
    let (http, _) = body(&request(json!([{"role": "user", "content": "hi"}])), true);
    assert!(http
        .url
        .ends_with("models/gemini-2.5-flash:streamGenerateContent?alt=sse"));
}

#[test]
fn system_roles_and_options_map_to_gemini_fields() {
    let mut req = request(json!([
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": "Bye"},
    ]));
    req.max_tokens = Some(100);
    req.temperature = Some(0.5);
    req.stop = vec!["END".into()];
    let (_, b) = body(&req, false);
    assert_eq!(b["model"], "models/gemini-2.5-flash");
    assert_eq!(
        b["systemInstruction"],
        json!({"parts": [{"text": "Be brief."}]})
    );
    assert_eq!(
        b["contents"],
        json!([
            {"role": "user", "parts": [{"text": "Hi"}]},
            {"role": "model", "parts": [{"text": "Hello"}]},
            {"role": "user", "parts": [{"text": "Bye"}]},
        ])
    );
    assert_eq!(
        b["generationConfig"],
        json!({"maxOutputTokens": 100, "temperature": 0.5, "stopSequences": ["END"]})
    );
}

#[test]
fn tools_choice_calls_and_results_round_trip_with_their_thought_signature() {
    let mut req = request(json!([
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_1__thought__c2lnMQ==", "type": "function",
             "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}},
            {"id": "call_2", "type": "function",
             "function": {"name": "weather", "arguments": "{\"city\":\"Rome\"}"}},
        ]},
        {"role": "tool", "tool_call_id": "call_1__thought__c2lnMQ==", "content": "{\"temp\": 20}"},
        {"role": "tool", "tool_call_id": "call_2", "content": "sunny"},
    ]));
    req.tools = serde_json::from_value(json!([{"type": "function", "function": {
        "name": "weather", "description": "Weather now",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                       "required": ["city"], "additionalProperties": false}}}]))
    .unwrap();
    req.tool_choice = Some(ToolChoice::Tool("weather".into()));
    let (_, b) = body(&req, false);
    assert_eq!(
        b["tools"][0]["functionDeclarations"][0]["parametersJsonSchema"]["additionalProperties"],
        false
    );
    assert_eq!(
        b["toolConfig"],
        json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["weather"]}})
    );
    assert_eq!(
        b["contents"][1],
        json!({"role": "model", "parts": [
            {"functionCall": {"id": "call_1", "name": "weather", "args": {"city": "Paris"}},
             "thoughtSignature": "c2lnMQ=="},
            {"functionCall": {"id": "call_2", "name": "weather", "args": {"city": "Rome"}}},
        ]})
    );
    // Both answers in one user turn, the function names found from the calls.
    assert_eq!(
        b["contents"][2],
        json!({"role": "user", "parts": [
            {"functionResponse": {"id": "call_1", "name": "weather", "response": {"temp": 20}}},
            {"functionResponse": {"id": "call_2", "name": "weather", "response": {"result": "sunny"}}},
        ]})
    );
}

#[test]
fn a_tool_result_whose_call_is_unknown_and_unnamed_is_a_configuration_error() {
    let req = request(json!([{"role": "tool", "tool_call_id": "x", "content": "1"}]));
    let e = Gemini.build_chat(&endpoint(), &req, false).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Configuration);
}

#[test]
fn images_become_inline_data_or_file_data() {
    let req = request(json!([{"role": "user", "content": [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.JPG?x=1"}},
    ]}]));
    let (_, b) = body(&req, false);
    assert_eq!(
        b["contents"][0]["parts"],
        json!([
            {"text": "what is this?"},
            {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
            {"fileData": {"fileUri": "https://example.com/cat.JPG?x=1", "mimeType": "image/jpeg"}},
        ])
    );
}

#[test]
fn function_calls_come_back_with_their_signature_inside_the_id() {
    let r = Gemini
        .parse_chat(
            br#"{"candidates":[{"content":{"role":"model","parts":[
                {"functionCall":{"name":"weather","args":{"city":"Paris"}},"thoughtSignature":"c2ln"}]},
                "finishReason":"STOP"}],"responseId":"r1","modelVersion":"gemini-2.5-flash",
                "usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":5,
                "thoughtsTokenCount":7,"cachedContentTokenCount":4}}"#,
        )
        .unwrap();
    assert_eq!(r.finish_reason, Some(FinishReason::ToolCalls));
    let call = r.tool_calls()[0];
    assert_eq!(call.id, "call_r1_0__thought__c2ln");
    assert_eq!(call.arguments.as_ref().unwrap()["city"], "Paris");
    assert_eq!(
        (
            r.usage.input_tokens,
            r.usage.output_tokens,
            r.usage.cache_read_tokens
        ),
        (10, 12, 4)
    );
    assert_eq!(r.model, "gemini-2.5-flash");
    assert_eq!(r.provider, "gemini");
}

#[test]
fn finish_reasons_map_to_the_unified_ones() {
    for (wire, unified) in [
        ("STOP", FinishReason::Stop),
        ("MAX_TOKENS", FinishReason::Length),
        ("SAFETY", FinishReason::ContentFilter),
        ("RECITATION", FinishReason::ContentFilter),
        ("BLOCKLIST", FinishReason::ContentFilter),
        ("PROHIBITED_CONTENT", FinishReason::ContentFilter),
        ("SPII", FinishReason::ContentFilter),
    ] {
        let body = format!(
            r#"{{"candidates":[{{"content":{{"parts":[{{"text":"x"}}]}},"finishReason":"{wire}"}}]}}"#
        );
        let r = Gemini.parse_chat(body.as_bytes()).unwrap();
        assert_eq!(r.finish_reason, Some(unified), "{wire}");
    }
    // Google's Go SDK asks for enums as numbers.
    let r = Gemini
        .parse_chat(br#"{"candidates":[{"content":{"parts":[{"text":"x"}]},"finishReason":2}]}"#)
        .unwrap();
    assert_eq!(r.finish_reason, Some(FinishReason::Length));
}

#[test]
fn a_blocked_prompt_is_an_error_naming_the_reason() {
    let body = br#"{"promptFeedback":{"blockReason":"PROHIBITED_CONTENT"},"usageMetadata":{"promptTokenCount":9}}"#;
    let e = Gemini.parse_chat(body).unwrap_err();
    assert_eq!(e.kind, ErrorKind::BadRequest);
    assert!(e.message.contains("PROHIBITED_CONTENT"), "{}", e.message);
    let mut d = Gemini.stream_decoder();
    let e = d
        .event("", std::str::from_utf8(body).unwrap(), &mut Vec::new())
        .unwrap_err();
    assert!(e.message.contains("PROHIBITED_CONTENT"));
}

#[test]
fn stream_usage_is_the_last_chunks_and_a_cut_stream_is_an_error() {
    let mut d = Gemini.stream_decoder();
    let mut out = Vec::new();
    d.event("", r#"{"candidates":[{"content":{"parts":[{"text":"Hel"}]}}],"usageMetadata":{"promptTokenCount":15}}"#, &mut out).unwrap();
    d.event("", r#"{"candidates":[{"content":{"parts":[{"text":"lo"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":13,"candidatesTokenCount":2},"modelVersion":"m"}"#, &mut out).unwrap();
    d.finish(&mut out).unwrap();
    assert_eq!(out[0], StreamEvent::Text("Hel".into()));
    let Some(StreamEvent::Done {
        usage,
        finish_reason,
        model,
        ..
    }) = out.last()
    else {
        unreachable!()
    };
    assert_eq!((usage.input_tokens, usage.output_tokens), (13, 2));
    assert_eq!(*finish_reason, Some(FinishReason::Stop));
    assert_eq!(model, "m");

    let mut d = Gemini.stream_decoder();
    d.event(
        "",
        r#"{"candidates":[{"content":{"parts":[{"text":"Hel"}]}}]}"#,
        &mut out,
    )
    .unwrap();
    assert_eq!(d.finish(&mut out).unwrap_err().kind, ErrorKind::Connection);
}

fn error(status: u16, body: Value) -> crate::error::LlmError {
    Gemini.parse_error(status, &HeaderMap::new(), body.to_string().as_bytes())
}

#[test]
fn a_429s_retry_info_is_its_retry_after() {
    let e = error(
        429,
        json!({"error": {"code": 429, "message": "Resource exhausted",
        "status": "RESOURCE_EXHAUSTED", "details": [
            {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [
                {"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                 "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}]},
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "17s"}]}}),
    );
    assert_eq!(e.kind, ErrorKind::RateLimit);
    assert_eq!(e.retry_after, Some(Duration::from_secs(17)));
    assert_eq!(e.message, "Resource exhausted");
}

#[test]
fn a_per_day_quota_waits_until_it_resets_so_it_is_not_retried() {
    let e = error(
        429,
        json!({"error": {"code": 429, "message": "Quota exceeded",
        "details": [
            {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [
                {"quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier"}]},
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "5s"}]}}),
    );
    assert_eq!(e.kind, ErrorKind::RateLimit);
    let wait = e.retry_after.unwrap();
    // Until midnight Pacific: longer than the 5 s asked for and than the 30 s the default retry
    // policy waits at most (so it is not retried), at most a day.
    assert!(
        wait > Duration::from_secs(30) && wait <= Duration::from_secs(86_400),
        "{wait:?}"
    );
    assert!(e.message.contains("per-day quota"));
}

#[test]
fn an_invalid_key_is_an_authentication_error() {
    let e = error(
        400,
        json!({"error": {"code": 400, "message": "API key not valid.",
        "status": "INVALID_ARGUMENT", "details": [
            {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}]}}),
    );
    assert_eq!(e.kind, ErrorKind::Authentication);
    assert_eq!(e.status, Some(400));
}

#[test]
fn an_extra_generation_config_is_merged_into_the_written_one() {
    let mut req = request(json!([{"role": "user", "content": "hi"}]));
    req.max_tokens = Some(10);
    req.extra_body.insert(
        "generationConfig".into(),
        json!({"responseMimeType": "application/json", "maxOutputTokens": 20}),
    );
    req.extra_body.insert("safetySettings".into(), json!([]));
    let (_, b) = body(&req, false);
    assert_eq!(
        b["generationConfig"],
        json!({"maxOutputTokens": 20, "responseMimeType": "application/json"})
    );
    assert_eq!(b["safetySettings"], json!([]));
}

#[test]
fn a_streams_done_event_carries_its_response_id() {
    let mut d = Gemini.stream_decoder();
    let mut out = Vec::new();
    let chunk = r#"{"candidates":[{"content":{"parts":[{"text":"Hi"}]},"finishReason":"STOP"}],"responseId":"r-1"}"#;
    d.event("", chunk, &mut out).unwrap();
    d.finish(&mut out).unwrap();
    assert!(
        matches!(out.last(), Some(StreamEvent::Done { response_id: Some(id), .. }) if id == "r-1"),
        "{out:?}"
    );
}
