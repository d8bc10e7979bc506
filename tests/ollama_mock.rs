//! `ollama/<model>` end to end over real HTTP against the mock server's `/api/chat`: chat,
//! NDJSON streams, tool calls, faults and the "not pulled" 404, through the real client.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use llmrail::mock::{Fault, MockServer, Reply};
use llmrail::model::{FinishReason, StreamEvent};
use llmrail::resilience::retry::RetryPolicy;
use llmrail::{ChatRequest, Client, ClientConfig, ErrorKind, Message};
use serde_json::json;

fn client(srv: &MockServer) -> Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::with_env(
        ClientConfig {
            model: "ollama/llama3.2".into(),
            retry: Some(RetryPolicy::never()),
            ..Default::default()
        },
        // OLLAMA_HOST as users set it: a bare host:port.
        |name| (name == "OLLAMA_HOST").then(|| srv.url().trim_start_matches("http://").to_string()),
    )
    .unwrap()
}

fn ask(text: &str) -> ChatRequest {
    ChatRequest {
        messages: vec![Message::user(text)],
        ..Default::default()
    }
}

async fn collect(c: &Client, req: ChatRequest) -> llmrail::error::Result<Vec<StreamEvent>> {
    let mut s = c.stream(req)?;
    let mut out = Vec::new();
    while let Some(e) = s.next().await {
        out.push(e?);
    }
    Ok(out)
}

#[tokio::test]
async fn chat_and_stream_speak_ollama_native() {
    let srv = MockServer::start().unwrap();
    srv.push(Reply::text("Paris is the capital."));
    let c = client(&srv);
    let r = c.chat(ask("Capital of France?")).await.unwrap();
    assert_eq!(r.text(), "Paris is the capital.");
    assert_eq!(r.finish_reason, Some(FinishReason::Stop));
    assert!(r.usage.input_tokens > 0 && r.usage.output_tokens > 0);
    assert_eq!(r.provider, "ollama");
    let sent = srv.requests().pop().unwrap();
    assert_eq!(sent.path, "/api/chat");
    assert_eq!(sent.header("authorization"), None);
    assert_eq!(sent.body["stream"], json!(false));

    srv.push(Reply::text("Paris is the capital."));
    let events = collect(&c, ask("Again?")).await.unwrap();
    let text: String = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(text, "Paris is the capital.");
    assert!(matches!(
        events.last(),
        Some(StreamEvent::Done { finish_reason: Some(FinishReason::Stop), usage, model, .. })
            if usage.output_tokens > 0 && model == "llama3.2"
    ));
    assert_eq!(srv.requests().pop().unwrap().body["stream"], json!(true));
}

#[tokio::test]
async fn tool_calls_arrive_with_object_arguments_buffered_and_streamed() {
    let srv = MockServer::start().unwrap();
    let c = client(&srv);
    srv.push(Reply::tool_call("weather", json!({"city": "Oslo"})));
    let r = c.chat(ask("Weather?")).await.unwrap();
    let calls = r.tool_calls();
    assert_eq!(calls[0].name, "weather");
    assert_eq!(
        calls[0].arguments.clone().map(serde_json::Value::Object),
        Some(json!({"city": "Oslo"}))
    );
    assert_eq!(r.finish_reason, Some(FinishReason::ToolCalls));

    srv.push(Reply::tool_call("weather", json!({"city": "Oslo"})));
    let events = collect(&c, ask("Weather?")).await.unwrap();
    assert!(events.iter().any(|e| matches!(e,
        StreamEvent::ToolCallDelta { name: Some(n), arguments, .. }
            if n == "weather" && arguments == r#"{"city":"Oslo"}"#)));
    assert!(matches!(
        events.last(),
        Some(StreamEvent::Done {
            finish_reason: Some(FinishReason::ToolCalls),
            ..
        })
    ));
}

#[tokio::test]
async fn an_unpulled_model_is_not_found_and_says_ollama_pull() {
    let srv = MockServer::start().unwrap();
    let c = client(&srv);
    srv.push(Reply::fault(Fault::status(404)));
    let e = c.chat(ask("hi")).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound);
    assert!(
        e.message.contains("`ollama pull llama3.2`"),
        "{}",
        e.message
    );
}

#[tokio::test]
async fn broken_and_cut_streams_are_typed_errors() {
    let srv = MockServer::start().unwrap();
    let c = client(&srv);
    srv.push(Reply::fault(Fault::MalformedJson));
    let e = collect(&c, ask("hi")).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidResponse);
    srv.push(Reply {
        fault: Some(Fault::TruncateAfter(2)),
        ..Reply::text("one two three")
    });
    let e = collect(&c, ask("hi")).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Connection, "{e}");
}

#[tokio::test]
async fn an_error_line_mid_stream_ends_the_stream_with_a_server_error() {
    let srv = MockServer::start().unwrap();
    let c = client(&srv);
    srv.push(Reply {
        fault: Some(Fault::ErrorAfter(1)),
        ..Reply::text("one two three")
    });
    let mut s = c.stream(ask("hi")).unwrap();
    assert_eq!(
        s.next().await.unwrap().unwrap(),
        StreamEvent::Text("one".into())
    );
    let e = s.next().await.unwrap().unwrap_err();
    assert_eq!(e.kind, ErrorKind::Server);
    assert!(e.message.contains("unexpected EOF"), "{}", e.message);
}

#[tokio::test]
async fn check_lists_the_local_models_at_api_tags() {
    let srv = MockServer::start().unwrap();
    let c = client(&srv);
    assert!(c.check().await.unwrap() > std::time::Duration::ZERO);
    let req = &srv.requests()[0];
    assert_eq!(
        (req.method.as_str(), req.path.as_str()),
        ("GET", "/api/tags")
    );
    assert_eq!(req.header("authorization"), None);
}
