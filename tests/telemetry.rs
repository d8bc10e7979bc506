//! The telemetry of real calls: a client's totals and the process-wide counters after calls to
//! the mock server over real HTTP (retries, a fallback, a failure, a stream).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use llmrail::mock::{MockServer, Reply};
use llmrail::model::{ChatRequest, Message, StreamEvent};
use llmrail::queue::{Queue, QueueConfig, Submission};
use llmrail::resilience::fallback::FallbackConfig;
use llmrail::resilience::retry::RetryPolicy;
use llmrail::{telemetry, Client, ClientConfig, ErrorKind};
use serde_json::json;

fn ask(text: &str) -> ChatRequest {
    ChatRequest {
        messages: vec![Message::user(text)],
        ..ChatRequest::default()
    }
}

fn client(srv: &MockServer, model: &str, extra: ClientConfig) -> Client {
    Client::new(ClientConfig {
        model: model.into(),
        api_key: Some("sk-test".into()),
        base_url: Some(srv.url()),
        retry: Some(RetryPolicy {
            initial_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(10),
            ..RetryPolicy::default()
        }),
        ..extra
    })
    .unwrap()
}

/// The value of one line of the exposition, found by its name and labels.
fn value(text: &str, line_start: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(line_start)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no line {line_start} in\n{text}"))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn calls_show_in_the_clients_stats_and_the_process_counters() {
    let srv = MockServer::start().unwrap();
    let c = client(
        &srv,
        "anthropic/claude-telemetry-a",
        ClientConfig::default(),
    );
    srv.push_json(json!({"fault": {"status": 503}})).unwrap();
    srv.push(Reply::text("one"));
    c.chat(ask("hi")).await.unwrap();
    srv.push_json(json!({"fault": {"status": 401}})).unwrap();
    let e = c.chat(ask("hi")).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Authentication);
    let mut stream = c.stream(ask("hi")).unwrap();
    while let Some(event) = stream.next().await {
        if let StreamEvent::Done { .. } = event.unwrap() {}
    }

    let s = c.stats(false);
    assert_eq!(s.requests, 3);
    assert_eq!(s.errors, vec![("AuthenticationError", 1)]);
    assert!(s.input_tokens > 0 && s.output_tokens > 0, "{s:?}");
    assert!(s.latency_p50.is_some_and(|d| d > Duration::ZERO));

    let text = telemetry::metrics_text().await;
    let labels = "provider=\"anthropic\",model=\"claude-telemetry-a\"";
    assert_eq!(
        value(
            &text,
            &format!("llmrail_requests_total{{{labels},outcome=\"ok\"}}")
        ),
        2.0
    );
    assert_eq!(
        value(
            &text,
            &format!("llmrail_requests_total{{{labels},outcome=\"AuthenticationError\"}}")
        ),
        1.0
    );
    assert_eq!(
        value(&text, &format!("llmrail_retries_total{{{labels}}}")),
        1.0
    );
    assert_eq!(
        value(
            &text,
            &format!("llmrail_request_duration_seconds_count{{{labels}}}")
        ),
        3.0
    );
    assert_eq!(
        value(
            &text,
            &format!("llmrail_tokens_total{{{labels},type=\"input\"}}")
        ),
        s.input_tokens as f64
    );
    assert_eq!(
        value(&text, &format!("llmrail_requests_in_flight{{{labels}}}")),
        0.0
    );
    assert_eq!(
        value(&text, &format!("llmrail_circuit_breaker_state{{{labels}}}")),
        0.0
    );

    let read = c.stats(true);
    assert_eq!(read.requests, 3);
    assert_eq!(c.stats(false).requests, 0);
}

#[tokio::test]
async fn a_fallbacks_answer_counts_for_the_model_that_gave_it() {
    let (primary, backup) = (MockServer::start().unwrap(), MockServer::start().unwrap());
    let c = client(
        &primary,
        "anthropic/claude-telemetry-b",
        ClientConfig {
            fallbacks: vec![FallbackConfig {
                model: "anthropic/claude-telemetry-c".into(),
                api_key: Some("sk-ant".into()),
                base_url: Some(backup.url()),
            }],
            ..ClientConfig::default()
        },
    );
    primary
        .push_json(json!({"fault": {"status": 503}, "times": 4}))
        .unwrap();
    backup.push(Reply::text("from the backup"));
    c.chat(ask("hi")).await.unwrap();
    let text = telemetry::metrics_text().await;
    let ok = |model: &str| {
        format!("llmrail_requests_total{{provider=\"anthropic\",model=\"{model}\",outcome=\"ok\"}}")
    };
    assert_eq!(value(&text, &ok("claude-telemetry-c")), 1.0);
    assert_eq!(value(&text, &ok("claude-telemetry-b")), 0.0);
}

#[tokio::test]
async fn an_open_queue_shows_its_depth_by_state_until_it_is_dropped() {
    let dir = std::env::temp_dir().join(format!("llmrail-telemetry-{}.db", std::process::id()));
    let url = format!("sqlite://{}", dir.display());
    let q = Queue::open(&url, QueueConfig::default()).unwrap();
    for _ in 0..2 {
        let to = Submission {
            target: "anthropic/claude-queued".into(),
            ..Submission::default()
        };
        q.submit(&ask("later"), to).await.unwrap();
    }
    let text = telemetry::metrics_text().await;
    let items = |state: &str| format!("llmrail_queue_items{{queue=\"{url}\",state=\"{state}\"}}");
    assert_eq!(value(&text, &items("queued")), 2.0);
    assert_eq!(value(&text, &items("completed")), 0.0);
    let oldest = value(
        &text,
        &format!("llmrail_queue_oldest_queued_seconds{{queue=\"{url}\"}}"),
    );
    assert!((0.0..60.0).contains(&oldest), "{oldest}");
    drop(q);
    assert!(!telemetry::metrics_text().await.contains(&url));
    let _ = std::fs::remove_file(&dir);
}
