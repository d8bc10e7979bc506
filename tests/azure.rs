//! Azure OpenAI from Rust, against the mock server over real HTTP: the deployment's URL with its
//! `api-version`, the key in `api-key`, buffered and streamed calls, errors. (A recording with
//! the key scrubbed is in `replay.rs`, whose tests take turns with the process-wide cassette.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use llmrail::mock::{Fault, MockServer, Reply};
use llmrail::model::{ChatRequest, Message, StreamEvent};
use llmrail::{Client, ClientConfig, ErrorKind};

const KEY: &str = "azure-key-never-in-a-cassette-0123456789";

fn azure(srv: &MockServer, api_key: Option<&str>) -> Client {
    Client::new(ClientConfig {
        model: "azure/prod-gpt4o".into(),
        api_key: api_key.map(Into::into),
        base_url: Some(srv.url()),
        api_version: Some("2024-10-21".into()),
        ..Default::default()
    })
    .unwrap()
}

fn ask(text: &str) -> ChatRequest {
    ChatRequest {
        messages: vec![Message::user(text)],
        max_tokens: Some(20),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_deployment_is_called_at_its_path_with_the_key_in_api_key() {
    let srv = MockServer::start().unwrap();
    srv.push(Reply::text("Bonjour."));
    let c = azure(&srv, Some(KEY));
    let r = c.chat(ask("hello")).await.unwrap();
    assert_eq!(r.text(), "Bonjour.");
    assert_eq!(r.provider, "azure");
    assert!(r.usage.input_tokens > 0 && r.usage.output_tokens > 0);
    assert!(r.request_id.is_some());

    let sent = &srv.requests()[0];
    assert_eq!(sent.path, "/openai/deployments/prod-gpt4o/chat/completions");
    assert_eq!(sent.query.as_deref(), Some("api-version=2024-10-21"));
    assert_eq!(sent.header("api-key"), Some(KEY));
    assert_eq!(sent.header("authorization"), None);
    assert_eq!(sent.body["max_completion_tokens"], 20);
    assert_eq!(c.provider(), "azure");
    assert_eq!(c.model(), "prod-gpt4o");
}

#[tokio::test]
async fn a_deployment_streams_like_openai() {
    let srv = MockServer::start().unwrap();
    srv.push(Reply {
        chunks: Some(vec!["Bon".into(), "jour".into()]),
        ..Reply::default()
    });
    let c = azure(&srv, Some(KEY));
    let mut stream = c.stream(ask("hello")).unwrap();
    let mut text = String::new();
    let mut done = false;
    while let Some(e) = stream.next().await {
        match e.unwrap() {
            StreamEvent::Text(t) => text.push_str(&t),
            StreamEvent::Done { usage, .. } => done = usage.output_tokens > 0,
            _ => {}
        }
    }
    assert_eq!(text, "Bonjour");
    assert!(done, "the stream ends with its usage");
}

#[tokio::test]
async fn azure_errors_are_typed() {
    let srv = MockServer::start().unwrap();
    srv.push(Reply {
        fault: Some(Fault::Status {
            status: 429,
            retry_after: Some(0.0),
            body: None,
        }),
        ..Reply::default()
    });
    srv.push(Reply::text("after the wait"));
    let r = azure(&srv, Some(KEY)).chat(ask("hi")).await.unwrap();
    assert_eq!(r.text(), "after the wait");

    // A key Azure does not see (the mock answers 401 when `api-key` is empty).
    let e = azure(&srv, Some(" ")).chat(ask("hi")).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Authentication);
    assert_eq!(e.status, Some(401));
}

#[tokio::test]
async fn a_missing_key_endpoint_or_version_is_a_configuration_error_naming_the_variable() {
    let none = |_: &str| None;
    let cfg = |base: Option<&str>, key: Option<&str>| ClientConfig {
        model: "azure/d".into(),
        base_url: base.map(Into::into),
        api_key: key.map(Into::into),
        ..Default::default()
    };
    let message = |cfg, env: &dyn Fn(&str) -> Option<String>| {
        Client::with_env(cfg, env).unwrap_err().message.clone()
    };
    let version = |n: &str| (n == "OPENAI_API_VERSION").then(|| "2024-10-21".to_string());
    assert!(message(cfg(None, Some("k")), &version).contains("AZURE_OPENAI_ENDPOINT"));
    assert!(
        message(cfg(Some("https://r.openai.azure.com"), Some("k")), &none)
            .contains("OPENAI_API_VERSION")
    );
    // An endpoint of the caller's is still Azure's own service: a key is required.
    assert!(
        message(cfg(Some("https://r.openai.azure.com"), None), &version)
            .contains("AZURE_OPENAI_API_KEY")
    );

    let env = |n: &str| match n {
        "AZURE_OPENAI_ENDPOINT" => Some("https://r.openai.azure.com/".to_string()),
        "AZURE_OPENAI_API_KEY" => Some(KEY.to_string()),
        "OPENAI_API_VERSION" => Some("2025-01-01-preview".to_string()),
        _ => None,
    };
    let c = Client::with_env(cfg(None, None), env).unwrap();
    assert_eq!(
        c.base_url(),
        "https://r.openai.azure.com/openai/deployments/d?api-version=2025-01-01-preview"
    );
    assert!(!format!("{c:?}").contains(KEY));

    let not_azure = ClientConfig {
        model: "openai/gpt-4.1".into(),
        api_key: Some("k".into()),
        api_version: Some("2024-10-21".into()),
        ..Default::default()
    };
    let e = Client::with_env(not_azure, none).unwrap_err();
    assert!(e.kind == ErrorKind::Configuration && e.message.contains("api_version"));
}
