//! A caller's own providers (`register_provider`), OpenRouter's attribution headers and the
//! rule that a client's `headers=` replace a provider's default ones, all seen on the wire of
//! the mock server over real HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use llmrail::client::{register_provider, ProviderSpec};
use llmrail::mock::{MockServer, Reply};
use llmrail::model::{ChatRequest, Message, StreamEvent};
use llmrail::{Client, ClientConfig, ErrorKind};

fn ask() -> ChatRequest {
    ChatRequest {
        messages: vec![Message::user("hi")],
        ..Default::default()
    }
}

fn spec(name: &str, base_url: &str, wire: &str) -> ProviderSpec {
    ProviderSpec {
        name: name.into(),
        base_url: base_url.into(),
        api_key_env: Some("TOGETHER_API_KEY".into()),
        wire: wire.into(),
        headers: vec![("X-Team".into(), "search".into())],
    }
}

fn env(name: &str) -> Option<String> {
    (name == "TOGETHER_API_KEY").then(|| "tg-key-0123456789".to_string())
}

#[tokio::test]
async fn a_registered_openai_speaking_service_is_called_by_its_name() {
    let srv = MockServer::start().unwrap();
    srv.push(Reply::text("hello from together"));
    srv.push(Reply {
        chunks: Some(vec!["str".into(), "eamed".into()]),
        ..Reply::default()
    });
    register_provider(&spec("together-it", &format!("{}/v1", srv.url()), "openai")).unwrap();
    let cfg = ClientConfig {
        model: "together-it/meta-llama/Llama-3.3-70B".into(),
        ..Default::default()
    };
    let c = Client::with_env(cfg, env).unwrap();
    assert_eq!(
        (c.provider(), c.model()),
        ("together-it", "meta-llama/Llama-3.3-70B")
    );
    let r = c.chat(ask()).await.unwrap();
    assert_eq!(
        (r.text().as_str(), r.provider.as_str()),
        ("hello from together", "together-it")
    );
    let mut s = c.stream(ask()).unwrap();
    let mut text = String::new();
    while let Some(e) = s.next().await {
        if let StreamEvent::Text(t) = e.unwrap() {
            text.push_str(&t);
        }
    }
    assert_eq!(text, "streamed");

    let sent = &srv.requests()[0];
    assert_eq!(sent.path, "/v1/chat/completions");
    assert_eq!(
        sent.header("authorization"),
        Some("Bearer tg-key-0123456789")
    );
    assert_eq!(sent.header("x-team"), Some("search"));
    assert_eq!(sent.body["model"], "meta-llama/Llama-3.3-70B");

    // Without the key variable set, the error names it.
    let cfg = ClientConfig {
        model: "together-it/m".into(),
        ..Default::default()
    };
    let e = Client::with_env(cfg, |_| None).unwrap_err();
    assert!(e.kind == ErrorKind::Configuration && e.message.contains("TOGETHER_API_KEY"));
}

#[tokio::test]
async fn default_headers_give_way_to_the_clients_own() {
    let srv = MockServer::start().unwrap();
    register_provider(&ProviderSpec {
        headers: vec![
            ("X-Team".into(), "search".into()),
            ("anthropic-version".into(), "2023-01-01".into()),
        ],
        ..spec("claude-proxy-it", &srv.url(), "anthropic")
    })
    .unwrap();
    let client = |model: &str, headers: Vec<(&str, &str)>| {
        Client::with_env(
            ClientConfig {
                model: model.into(),
                api_key: Some("k".into()),
                base_url: Some(srv.url()),
                headers: headers
                    .into_iter()
                    .map(|(k, v)| (k.into(), v.into()))
                    .collect(),
                ..Default::default()
            },
            |_| None,
        )
        .unwrap()
    };
    let sent = |i: usize, name: &str| srv.requests()[i].header(name).map(str::to_string);

    // The built-in default, then the caller's in its place.
    client("anthropic/claude-sonnet-4-5", vec![])
        .chat(ask())
        .await
        .unwrap();
    client(
        "anthropic/claude-sonnet-4-5",
        vec![("Anthropic-Version", "2024-99-99")],
    )
    .chat(ask())
    .await
    .unwrap();
    assert_eq!(sent(0, "anthropic-version").as_deref(), Some("2023-06-01"));
    assert_eq!(sent(1, "anthropic-version").as_deref(), Some("2024-99-99"));
    assert_eq!(
        srv.requests()[1]
            .headers
            .iter()
            .filter(|(k, _)| k == "anthropic-version")
            .count(),
        1
    );

    // A registration's headers replace the wire's; the client's replace the registration's.
    client("claude-proxy-it/claude-x", vec![])
        .chat(ask())
        .await
        .unwrap();
    client("claude-proxy-it/claude-x", vec![("x-team", "ads")])
        .chat(ask())
        .await
        .unwrap();
    assert_eq!(sent(2, "anthropic-version").as_deref(), Some("2023-01-01"));
    assert_eq!(sent(2, "x-team").as_deref(), Some("search"));
    assert_eq!(sent(3, "x-team").as_deref(), Some("ads"));
    assert_eq!(srv.requests()[3].path, "/v1/messages");
}

#[tokio::test]
async fn openrouter_sends_its_attribution_headers_from_the_environment() {
    let srv = MockServer::start().unwrap();
    let env = |n: &str| match n {
        "OPENROUTER_API_KEY" => Some("or-key".to_string()),
        "OPENROUTER_HTTP_REFERER" => Some("https://grader.example.com".to_string()),
        "OPENROUTER_X_TITLE" => Some("Grader".to_string()),
        _ => None,
    };
    let client = |headers: Vec<(String, String)>| {
        Client::with_env(
            ClientConfig {
                model: "openrouter/openai/gpt-4.1".into(),
                base_url: Some(format!("{}/v1", srv.url())),
                headers,
                ..Default::default()
            },
            env,
        )
        .unwrap()
    };
    client(vec![]).chat(ask()).await.unwrap();
    client(vec![("X-Title".into(), "Grader (staging)".into())])
        .chat(ask())
        .await
        .unwrap();
    let r = srv.requests();
    assert_eq!(
        r[0].header("http-referer"),
        Some("https://grader.example.com")
    );
    assert_eq!(r[0].header("x-title"), Some("Grader"));
    assert_eq!(r[1].header("x-title"), Some("Grader (staging)"));
    assert_eq!(
        r[1].header("http-referer"),
        Some("https://grader.example.com")
    );
}

#[test]
fn bad_registrations_are_configuration_errors_naming_the_argument() {
    let ok = || spec("fine-it", "https://api.together.xyz/v1", "openai");
    let cases = [
        (
            ProviderSpec {
                name: "Bad/Name".into(),
                ..ok()
            },
            "name",
        ),
        (
            ProviderSpec {
                name: "openai".into(),
                ..ok()
            },
            "built-in",
        ),
        (
            ProviderSpec {
                base_url: "ftp://x".into(),
                ..ok()
            },
            "base_url",
        ),
        (
            ProviderSpec {
                api_key_env: Some("1 KEY".into()),
                ..ok()
            },
            "api_key_env",
        ),
        (
            ProviderSpec {
                wire: "gemini".into(),
                ..ok()
            },
            "wire",
        ),
        (
            ProviderSpec {
                headers: vec![("Host".into(), "x".into())],
                ..ok()
            },
            "headers",
        ),
    ];
    for (spec, word) in cases {
        let e = register_provider(&spec).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Configuration);
        assert!(e.message.contains(word), "{word}: {}", e.message);
    }
    assert!(register_provider(&ok()).is_ok());
}

#[tokio::test]
async fn check_lists_the_models_of_each_provider_or_gives_the_typed_error() {
    let srv = MockServer::start().unwrap();
    let client = |model: &str, base: String, key: &str| {
        Client::new(ClientConfig {
            model: model.into(),
            api_key: Some(key.into()),
            base_url: Some(base),
            api_version: model.starts_with("azure/").then(|| "2024-10-21".into()),
            ..Default::default()
        })
        .unwrap()
    };
    let openai = client(
        "openai/gpt-4.1-mini",
        format!("{}/v1", srv.url()),
        "sk-test",
    );
    let anthropic = client("anthropic/claude-sonnet-4-5", srv.url(), "sk-ant");
    let azure = client("azure/prod-gpt4o", srv.url(), "azure-key");
    for c in [&openai, &anthropic, &azure] {
        assert!(c.check().await.unwrap() > std::time::Duration::ZERO);
    }
    let r = srv.requests();
    let seen: Vec<_> = r
        .iter()
        .map(|r| (r.method.as_str(), r.path.as_str(), r.query.as_deref()))
        .collect();
    assert_eq!(
        seen,
        [
            ("GET", "/v1/models", None),
            ("GET", "/v1/models", None),
            ("GET", "/openai/models", Some("api-version=2024-10-21")),
        ]
    );
    assert_eq!(r[0].header("authorization"), Some("Bearer sk-test"));
    assert_eq!(r[1].header("x-api-key"), Some("sk-ant"));
    assert_eq!(r[2].header("api-key"), Some("azure-key"));

    // A key the server refuses: the typed error, once (no retries), with no key in it.
    let refused = client("openai/gpt-4.1-mini", format!("{}/v1", srv.url()), " ");
    let e = refused.check().await.unwrap_err();
    assert_eq!((e.kind, e.status), (ErrorKind::Authentication, Some(401)));
    assert_eq!(srv.requests().len(), 4);
}
