//! The gateway's config checks, and the gateway over real HTTP in front of the mock server.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Value};

use super::*;
use crate::mock::{MockServer, Reply};

pub(super) fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| map.get(name).cloned()
}

const ISSUE_EXAMPLE: &str = "\
models:
  fast:                              # the name clients send as \"model\"
    model: openai/gpt-4o-mini
    base_url: http://127.0.0.1:8080/v1   # optional, as for Client
    api_key: ${OPENAI_API_KEY}
    fallbacks: [anthropic/claude-haiku-4-5]
keys:
  - name: team-a
    key: ${GATEWAY_KEY_TEAM_A}
    models: [fast]                   # optional allow-list
    rate_limit: {rpm: 600}
queue:
  url: sqlite:///var/lib/llmrail/jobs.db
";

#[test]
fn the_issues_example_file_loads_with_its_environment_references_read() {
    let cfg = GatewayConfig::parse(
        "llmrail.yaml",
        ISSUE_EXAMPLE,
        env(&[
            ("OPENAI_API_KEY", "sk-from-env"),
            ("GATEWAY_KEY_TEAM_A", "team-a-secret-0123456789"),
        ]),
    )
    .unwrap();
    let fast = &cfg.models["fast"];
    assert_eq!(fast.model, "openai/gpt-4o-mini");
    assert_eq!(fast.api_key.as_deref(), Some("sk-from-env"));
    assert_eq!(fast.fallbacks[0].model, "anthropic/claude-haiku-4-5");
    assert_eq!(cfg.keys[0].key, "team-a-secret-0123456789");
    assert_eq!(cfg.keys[0].rate_limit.as_ref().unwrap().rpm, Some(600));
    assert!(!cfg.keys[0].rate_limit.as_ref().unwrap().wait);
    assert_eq!(cfg.secrets, vec!["sk-from-env".to_string()]);
    assert_eq!(
        cfg.queue_url.as_deref(),
        Some("sqlite:///var/lib/llmrail/jobs.db")
    );
    assert!(!format!("{:?}", cfg.keys).contains("secret"));
}

#[test]
fn an_unset_environment_variable_is_an_error_naming_its_line() {
    let e = GatewayConfig::parse(
        "llmrail.yaml",
        ISSUE_EXAMPLE,
        env(&[("OPENAI_API_KEY", "sk-x")]),
    )
    .unwrap_err();
    assert!(
        e.message.starts_with(
            "llmrail.yaml: line 9: keys[0].key: the environment variable GATEWAY_KEY_TEAM_A"
        ),
        "{}",
        e.message
    );
}

#[test]
fn a_misspelt_field_is_an_error_naming_its_line() {
    let text = "models:\n  fast:\n    model: openai/gpt-4o-mini\n    fallback: [x/y]\n";
    let e = GatewayConfig::parse("g.yaml", text, env(&[])).unwrap_err();
    assert!(e.message.starts_with("g.yaml: line 4: "), "{}", e.message);
    assert!(
        e.message.contains("unknown field `fallback`"),
        "{}",
        e.message
    );
}

#[test]
fn semantic_mistakes_name_their_lines() {
    let cases = [
        ("models:\n  fast:\n    model: gpt-4o\n", "line 3: models.fast.model"),
        (
            "models:\n  fast:\n    model: openai/m\n    timeout: -1\n",
            "line 4: models.fast.timeout",
        ),
        (
            "models:\n  fast:\n    model: openai/m\nkeys:\n  - name: a\n    key: short\n",
            "line 6: keys[0].key: a gateway key must be at least 16",
        ),
        (
            "models:\n  fast:\n    model: openai/m\nkeys:\n  - name: a\n    key: 0123456789abcdef\n    models: [slow]\n",
            "line 7: keys[0].models: \"slow\" is not one of the models above",
        ),
        (
            "models:\n  fast:\n    model: openai/m\n    rate_limit: {}\n",
            "line 4: models.fast.rate_limit: a RateLimit needs rpm",
        ),
        (
            "server:\n  max_body_bytes: 0\n",
            "line 2: server.max_body_bytes",
        ),
        (
            "queue:\n  url: postgres://db\n",
            "line 2: queue.url: \"postgres://db\" is not a queue URL",
        ),
        (
            "queue:\n  url: memory://\n  low_watermark: 0.9\n",
            "line 1: queue: queue low_watermark (0.9) must not exceed high_watermark",
        ),
        (
            "keys:\n  - name: a\n    key: 0123456789abcdef\n    budget: {usd: -1}\n",
            "line 4: keys[0].budget: usd must be a positive amount",
        ),
        (
            "keys:\n  - name: a\n    key: 0123456789abcdef\n    budget: {usd: 5, period: week}\n",
            "line 4: keys[0].budget: period must be \"day\", \"month\" or \"total\"",
        ),
    ];
    for (text, wanted) in cases {
        let e = GatewayConfig::parse("g.yaml", text, env(&[])).unwrap_err();
        assert!(
            e.message.contains(wanted),
            "{wanted:?} not in {:?}",
            e.message
        );
    }
}

#[test]
fn a_model_whose_client_cannot_be_built_is_named_with_its_line() {
    let text = "models:\n  ok:\n    model: mock/a\n  broken:\n    model: nosuch/model\n";
    let cfg = GatewayConfig::parse("g.yaml", text, env(&[])).unwrap();
    let e = Gateway::with_env(cfg, env(&[])).err().unwrap();
    assert!(
        e.message.starts_with("g.yaml: line 4: models.broken: "),
        "{}",
        e.message
    );
}

#[test]
fn an_empty_file_routes_every_provider_model_directly() {
    let cfg = GatewayConfig::parse("g.yaml", "", env(&[])).unwrap();
    assert!(cfg.models.is_empty() && cfg.keys.is_empty());
    assert_eq!(cfg.server, ServerConfig::default());
}

/// A gateway in front of a fresh mock server, with one key and two virtual models.
pub(super) fn gateway(mock: &MockServer, extra: &str) -> Server {
    let text = format!(
        "models:\n  fast:\n    model: openai/gpt-4o-mini\n    base_url: {url}/v1\n    api_key: sk-upstream-secret\n    retry: {{max_attempts: 1}}\n  claude:\n    model: anthropic/claude-haiku-4-5\n    base_url: {url}\n    api_key: sk-ant-upstream-secret\n    retry: {{max_attempts: 1}}\nkeys:\n  - name: team-a\n    key: gw-key-0123456789abcdef\n    models: [fast, claude]\n  - name: team-b\n    key: gw-key-b-0123456789abcdef\n    models: [claude]\n{extra}",
        url = mock.url()
    );
    let cfg = GatewayConfig::parse("g.yaml", &text, env(&[])).unwrap();
    Server::start(Gateway::with_env(cfg, env(&[])).unwrap(), "127.0.0.1", 0).unwrap()
}

pub(super) async fn post(
    server: &Server,
    path: &str,
    key: &str,
    body: Value,
) -> (u16, HeaderMapLite, String) {
    let r = http()
        .post(format!("{}{path}", server.url()))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let headers = r
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
        .collect();
    (status, headers, r.text().await.unwrap())
}

pub(super) type HeaderMapLite = Vec<(String, String)>;

pub(super) fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().build().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_openai_chat_answered_by_anthropic_comes_back_in_openais_shape() {
    let mock = MockServer::start().unwrap();
    mock.push(Reply::text("hello from claude"));
    let server = gateway(&mock, "");
    let (status, _, body) = post(
        &server,
        "/v1/chat/completions",
        "gw-key-0123456789abcdef",
        json!({"model": "claude", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "claude");
    assert_eq!(v["choices"][0]["message"]["content"], "hello from claude");
    // The upstream got Anthropic's wire with the gateway's provider key.
    let sent = &mock.requests()[0];
    assert_eq!(sent.path, "/v1/messages");
    assert_eq!(sent.header("x-api-key"), Some("sk-ant-upstream-secret"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_come_in_the_endpoints_own_shape() {
    let mock = MockServer::start().unwrap();
    let server = gateway(&mock, "");
    let chat = json!({"model": "fast", "messages": [{"role": "user", "content": "hi"}]});
    let (status, _, body) = post(&server, "/v1/chat/completions", "wrong-key", chat.clone()).await;
    assert_eq!(status, 401);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error"]["type"], "authentication_error");
    let (status, _, body) = post(
        &server,
        "/v1/messages",
        "gw-key-b-0123456789abcdef",
        json!({
        "model": "fast", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(status, 403);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "permission_error");
    assert!(mock.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_failure_keeps_its_kind_and_never_shows_the_provider_key() {
    let mock = MockServer::start().unwrap();
    mock.push_json(json!({"fault": {"status": 429, "retry_after": 2}}))
        .unwrap();
    mock.push_json(json!({"fault": {"status": 401}})).unwrap();
    let server = gateway(&mock, "");
    let chat = json!({"model": "fast", "messages": [{"role": "user", "content": "hi"}]});
    let (status, headers, _) = post(
        &server,
        "/v1/chat/completions",
        "gw-key-0123456789abcdef",
        chat.clone(),
    )
    .await;
    assert_eq!(status, 429);
    assert!(headers.iter().any(|(k, v)| k == "retry-after" && v == "2"));
    let (status, _, body) = post(
        &server,
        "/v1/chat/completions",
        "gw-key-0123456789abcdef",
        chat,
    )
    .await;
    assert_eq!(status, 502, "{body}");
    assert!(!body.contains("sk-upstream"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_limit_is_refused_before_it_is_read() {
    let mock = MockServer::start().unwrap();
    let server = gateway(&mock, "server:\n  max_body_bytes: 100\n");
    let long = "x".repeat(200);
    let (status, _, body) = post(
        &server,
        "/v1/messages",
        "gw-key-0123456789abcdef",
        json!({
        "model": "claude", "max_tokens": 10, "messages": [{"role": "user", "content": long}]}),
    )
    .await;
    assert_eq!(status, 413, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error"]["type"], "request_too_large");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_anthropic_stream_answered_by_openai_is_anthropics_event_sequence() {
    let mock = MockServer::start().unwrap();
    mock.push(Reply::text("one two three"));
    let server = gateway(&mock, "");
    let (status, headers, body) = post(
        &server,
        "/v1/messages",
        "gw-key-0123456789abcdef",
        json!({
        "model": "fast", "max_tokens": 50, "stream": true,
        "messages": [{"role": "user", "content": "count"}]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(headers
        .iter()
        .any(|(k, v)| k == "content-type" && v == "text/event-stream"));
    let names: Vec<&str> = body
        .lines()
        .filter_map(|l| l.strip_prefix("event: "))
        .collect();
    assert_eq!(names.first(), Some(&"message_start"));
    assert_eq!(names.last(), Some(&"message_stop"));
    let text: String = body
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|v| v["delta"]["text"].as_str().map(str::to_string))
        .collect();
    assert_eq!(text, "one two three");
}

#[test]
fn stop_waits_for_a_request_in_flight_to_finish() {
    let mock = MockServer::start().unwrap();
    mock.push_json(json!({"text": "slow answer", "latency": 0.3}))
        .unwrap();
    let server = gateway(&mock, "");
    let url = server.url();
    let call = std::thread::spawn(move || {
        crate::runtime::block_on(async move {
            let r = http()
                .post(format!("{url}/v1/chat/completions"))
                .bearer_auth("gw-key-0123456789abcdef")
                .json(&json!({"model": "fast", "messages": [{"role": "user", "content": "hi"}]}))
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        })
        .unwrap()
    });
    // Stop once the request is in flight (upstream), not before it has connected.
    let started = std::time::Instant::now();
    while mock.requests().is_empty() && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(10));
    }
    server.stop(Duration::from_secs(5));
    let (status, body) = call.join().unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("slow answer"));
    // And the port is closed.
    let refused = std::net::TcpStream::connect(server.addr());
    assert!(refused.is_err());
}
