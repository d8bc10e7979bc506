//! llmrail's own client talking Gemini to the mock server over real HTTP: chat, stream, a tool
//! loop with the thought-signature id sent back, a 429's RetryInfo honoured, a missing key.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use llmrail::mock::{MockServer, Reply};
use llmrail::model::{ChatRequest, FinishReason, Message, StreamEvent};
use llmrail::resilience::retry::RetryPolicy;
use llmrail::{Client, ClientConfig, ErrorKind};
use serde_json::json;

fn client(srv: &MockServer, model: &str, key: Option<&str>) -> Client {
    Client::new(ClientConfig {
        model: model.into(),
        api_key: key.map(Into::into),
        base_url: Some(srv.url()),
        ..ClientConfig::default()
    })
    .unwrap()
}

fn ask(text: &str) -> ChatRequest {
    ChatRequest {
        messages: vec![Message::user(text)],
        ..ChatRequest::default()
    }
}

#[tokio::test]
async fn a_chat_goes_to_generate_content_with_the_key_in_its_header() {
    let srv = MockServer::start().unwrap();
    srv.push_json(
        json!({"text": "Paris.", "usage": {"input_tokens": 12, "output_tokens": 2,
                                                     "cache_read_tokens": 8}}),
    )
    .unwrap();
    let c = client(&srv, "google/gemini-2.5-flash", Some("AIza-test"));
    let r = c.chat(ask("Capital of France?")).await.unwrap();
    assert_eq!(r.text(), "Paris.");
    assert_eq!(r.provider, "gemini");
    assert_eq!(r.model, "gemini-2.5-flash");
    assert_eq!(r.finish_reason, Some(FinishReason::Stop));
    assert_eq!(
        (
            r.usage.input_tokens,
            r.usage.output_tokens,
            r.usage.cache_read_tokens
        ),
        (12, 2, 8)
    );
    let req = &srv.requests()[0];
    assert_eq!(req.path, "/v1beta/models/gemini-2.5-flash:generateContent");
    assert_eq!(req.query, None);
    assert_eq!(req.header("x-goog-api-key"), Some("AIza-test"));
    assert_eq!(
        req.body["contents"],
        json!([{"role": "user", "parts": [{"text": "Capital of France?"}]}])
    );
}

#[tokio::test]
async fn a_stream_arrives_in_pieces_with_the_last_usage() {
    let srv = MockServer::start().unwrap();
    srv.push_json(json!({"text": "The capital of France is Paris.",
                         "usage": {"input_tokens": 9, "output_tokens": 7}}))
        .unwrap();
    let c = client(&srv, "gemini/gemini-2.5-flash", Some("k"));
    let mut stream = c.stream(ask("Capital?")).unwrap();
    let (mut pieces, mut done) = (Vec::new(), None);
    while let Some(e) = stream.next().await {
        match e.unwrap() {
            StreamEvent::Text(t) => pieces.push(t),
            StreamEvent::Done {
                usage,
                finish_reason,
                ..
            } => done = Some((usage, finish_reason)),
            other => panic!("{other:?}"),
        }
    }
    assert!(pieces.len() > 1);
    assert_eq!(pieces.concat(), "The capital of France is Paris.");
    let (usage, finish) = done.unwrap();
    assert_eq!((usage.input_tokens, usage.output_tokens), (9, 7));
    assert_eq!(finish, Some(FinishReason::Stop));
    let req = &srv.requests()[0];
    assert_eq!(
        req.path,
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    );
    assert_eq!(req.query.as_deref(), Some("alt=sse"));
}

#[tokio::test]
async fn a_tool_loop_sends_the_call_and_its_result_back() {
    let srv = MockServer::start().unwrap();
    srv.push(Reply::tool_call("weather", json!({"city": "Paris"})));
    srv.push(Reply::text("It is sunny."));
    let c = client(&srv, "gemini/gemini-2.5-flash", Some("k"));
    let mut req = ask("Weather in Paris?");
    req.tools = serde_json::from_value(json!([{"type": "function", "function": {
        "name": "weather", "parameters": {"type": "object",
        "properties": {"city": {"type": "string"}}}}}]))
    .unwrap();
    let first = c.chat(req.clone()).await.unwrap();
    assert_eq!(first.finish_reason, Some(FinishReason::ToolCalls));
    let call = first.tool_calls()[0].clone();
    assert_eq!(call.arguments.as_ref().unwrap()["city"], "Paris");

    req.messages.push(
        serde_json::from_value(json!({"role": "assistant", "content": null,
        "tool_calls": [{"id": call.id, "type": "function",
                        "function": {"name": "weather", "arguments": call.raw_arguments}}]}))
        .unwrap(),
    );
    req.messages.push(
        serde_json::from_value(
            json!({"role": "tool", "tool_call_id": call.id, "content": "sunny"}),
        )
        .unwrap(),
    );
    let second = c.chat(req).await.unwrap();
    assert_eq!(second.text(), "It is sunny.");
    let sent = &srv.requests()[1].body["contents"];
    assert_eq!(
        sent[2]["parts"][0]["functionResponse"],
        json!({"id": call.id, "name": "weather", "response": {"result": "sunny"}})
    );
    assert_eq!(sent[1]["role"], "model");
}

#[tokio::test]
async fn a_429s_retry_info_is_waited_for_then_the_call_succeeds() {
    let srv = MockServer::start().unwrap();
    srv.push_json(json!({"fault": {"status": 429, "retry_after": 0.3}}))
        .unwrap();
    srv.push(Reply::text("after the wait"));
    let c = Client::new(ClientConfig {
        model: "gemini/gemini-2.5-flash".into(),
        api_key: Some("k".into()),
        base_url: Some(srv.url()),
        retry: Some(RetryPolicy {
            initial_delay: Duration::from_millis(1),
            ..RetryPolicy::default()
        }),
        ..ClientConfig::default()
    })
    .unwrap();
    let start = Instant::now();
    let r = c.chat(ask("hi")).await.unwrap();
    assert_eq!(r.text(), "after the wait");
    // The only hint of the wait is in the body: the mock sends no Retry-After for Gemini.
    assert!(
        start.elapsed() >= Duration::from_millis(300),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn a_missing_key_is_permission_denied_as_google_says() {
    let srv = MockServer::start().unwrap();
    let c = client(&srv, "gemini/gemini-2.5-flash", None);
    let e = c.chat(ask("hi")).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::PermissionDenied);
    assert!(e.message.contains("unregistered callers"), "{}", e.message);
}

#[tokio::test]
async fn extraction_asks_for_gemini_json_schema_output_and_reads_the_text() {
    use llmrail::extract::{self, Schema, SchemaOnly, Spec};
    let srv = MockServer::start().unwrap();
    srv.push(Reply::text(
        r#"{"city": "Mexico City", "country": "Mexico"}"#,
    ));
    let c = client(&srv, "gemini/gemini-2.5-flash", Some("k"));
    let schema = json!({"type": "object", "required": ["city", "country"],
        "properties": {"city": {"type": "string"}, "country": {"type": "string"}}});
    let spec = Spec {
        schema: Schema::compiled(&schema).unwrap(),
        name: "City".into(),
        mode: None,
        max_retries: 0,
        token_budget: None,
    };
    let Ok(out) = extract::run(
        &c,
        ask("Largest city in Mexico?"),
        &spec,
        Default::default(),
        &SchemaOnly,
    )
    .await
    else {
        panic!("the extraction failed")
    };
    assert_eq!(
        out.value,
        json!({"city": "Mexico City", "country": "Mexico"})
    );
    let sent = &srv.requests()[0].body["generationConfig"];
    assert_eq!(sent["responseMimeType"], "application/json");
    assert_eq!(sent["responseJsonSchema"], schema);
    assert!(srv.requests()[0].body.get("tools").is_none());
}

#[tokio::test]
async fn check_lists_the_models_with_the_key_in_its_header_and_a_missing_key_is_refused() {
    let srv = MockServer::start().unwrap();
    let c = client(&srv, "gemini/gemini-2.5-flash", Some("AIza-test"));
    assert!(c.check().await.unwrap() > Duration::ZERO);
    let req = &srv.requests()[0];
    assert_eq!(
        (req.method.as_str(), req.path.as_str()),
        ("GET", "/v1beta/models")
    );
    assert_eq!(req.header("x-goog-api-key"), Some("AIza-test"));
    assert_eq!(req.query, None);

    let e = client(&srv, "gemini/gemini-2.5-flash", None)
        .check()
        .await
        .unwrap_err();
    assert_eq!((e.kind, e.status), (ErrorKind::PermissionDenied, Some(403)));
    assert_eq!(srv.requests().len(), 2, "a check is not retried");
}
