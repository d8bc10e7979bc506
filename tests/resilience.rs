//! The client's resilience pipeline from Rust, against the mock server over real HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use llmrail::mock::{MockServer, Reply};
use llmrail::model::{ChatRequest, Message, StreamEvent};
use llmrail::resilience::fallback::FallbackConfig;
use llmrail::resilience::ratelimit::RateLimitConfig;
use llmrail::resilience::retry::RetryPolicy;
use llmrail::resilience::CallOptions;
use llmrail::{Client, ClientConfig, ErrorKind};
use serde_json::json;

fn client(srv: &MockServer, model: &str, extra: ClientConfig) -> Client {
    let base = if model.starts_with("openai/") {
        format!("{}/v1", srv.url())
    } else {
        srv.url()
    };
    Client::new(ClientConfig {
        model: model.into(),
        api_key: Some("sk-test".into()),
        base_url: Some(base),
        ..extra
    })
    .unwrap()
}

fn ask(text: &str) -> ChatRequest {
    ChatRequest {
        messages: vec![Message::user(text)],
        ..ChatRequest::default()
    }
}

fn quick() -> RetryPolicy {
    RetryPolicy {
        initial_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(10),
        ..RetryPolicy::default()
    }
}

/// IMF-fixdate, as servers write Retry-After dates.
fn http_date(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).unwrap().as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Civil from days (Howard Hinnant).
    let z = i64::try_from(days).unwrap() + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(days % 7) as usize];
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{weekday}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        months[usize::try_from(month - 1).unwrap()],
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

#[test]
fn http_dates_are_formatted_like_servers_do() {
    let t = UNIX_EPOCH + Duration::from_secs(784_111_777);
    assert_eq!(http_date(t), "Sun, 06 Nov 1994 08:49:37 GMT");
}

#[tokio::test]
async fn a_retry_after_http_date_is_waited_for() {
    let srv = MockServer::start().unwrap();
    let c = client(&srv, "anthropic/claude-x", ClientConfig::default());
    // Whole seconds only: three seconds ahead is more than two once truncated, and more than one
    // still when a loaded machine takes most of a second over the first attempt.
    let when = http_date(SystemTime::now() + Duration::from_secs(3));
    srv.push_json(json!({"fault": {"status": 529}, "headers": {"retry-after": when}}))
        .unwrap();
    let (r, report) = c
        .chat_with(ask("hi"), CallOptions::default())
        .await
        .unwrap();
    assert!(r.text().starts_with("mock reply"));
    assert_eq!(report.attempts, 2);
    assert!(
        report.retry_wait >= Duration::from_secs(1)
            && report.retry_wait <= Duration::from_millis(3500),
        "{report:?}"
    );
}

#[tokio::test]
async fn a_stream_falls_back_when_the_primary_fails_before_any_event() {
    let (primary, backup) = (MockServer::start().unwrap(), MockServer::start().unwrap());
    let c = client(
        &primary,
        "openai/gpt-x",
        ClientConfig {
            retry: Some(quick()),
            fallbacks: vec![FallbackConfig {
                model: "anthropic/claude-y".into(),
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
    let mut stream = c.stream(ask("hi")).unwrap();
    let mut text = String::new();
    let mut model = String::new();
    while let Some(event) = stream.next().await {
        match event.unwrap() {
            StreamEvent::Text(t) => text.push_str(&t),
            StreamEvent::Done { model: m, .. } => model = m,
            _ => {}
        }
    }
    assert_eq!(text, "from the backup");
    assert_eq!(model, "claude-y");
    assert_eq!(primary.requests().len(), 4);
    let report = stream
        .report()
        .expect("a finished stream reports how it went");
    assert_eq!((report.attempts, report.fallback), (5, Some(0)));
}

#[tokio::test]
async fn a_stream_cut_after_its_first_text_neither_retries_nor_falls_back() {
    let (primary, backup) = (MockServer::start().unwrap(), MockServer::start().unwrap());
    let c = client(
        &primary,
        "openai/gpt-x",
        ClientConfig {
            retry: Some(quick()),
            fallbacks: vec![FallbackConfig {
                model: "openai/gpt-y".into(),
                api_key: Some("sk".into()),
                base_url: Some(format!("{}/v1", backup.url())),
            }],
            ..ClientConfig::default()
        },
    );
    primary
        .push_json(json!({"text": "one two three four five", "fault": {"truncate_after": 3}}))
        .unwrap();
    let mut stream = c.stream(ask("hi")).unwrap();
    let mut text = String::new();
    let mut error = None;
    while let Some(event) = stream.next().await {
        match event {
            Ok(StreamEvent::Text(t)) => text.push_str(&t),
            Ok(_) => {}
            Err(e) => error = Some(e),
        }
    }
    assert!(!text.is_empty());
    assert_eq!(error.map(|e| e.kind), Some(ErrorKind::Connection));
    assert_eq!(primary.requests().len(), 1);
    assert!(
        backup.requests().is_empty(),
        "the caller already saw part of an answer"
    );
}

#[tokio::test]
async fn a_per_call_policy_overrides_the_clients() {
    let srv = MockServer::start().unwrap();
    let c = client(&srv, "openai/gpt-x", ClientConfig::default());
    srv.push_json(json!({"fault": {"status": 500}, "times": 2}))
        .unwrap();
    let opts = CallOptions {
        retry: Some(RetryPolicy::never()),
        ..CallOptions::default()
    };
    let e = c.chat_with(ask("hi"), opts).await.unwrap_err();
    assert_eq!((e.kind, e.attempts), (ErrorKind::Server, 1));
    let opts = CallOptions {
        retry: Some(quick()),
        ..CallOptions::default()
    };
    let (_, report) = c.chat_with(ask("hi"), opts).await.unwrap();
    assert_eq!(report.attempts, 2);
}

/// Text of a stream, or its first error's kind.
async fn stream_text(c: &Client, pause: Duration) -> Result<String, ErrorKind> {
    let mut stream = c.stream(ask("hi")).unwrap();
    let mut text = String::new();
    while let Some(event) = stream.next().await {
        match event {
            Ok(StreamEvent::Text(t)) => text.push_str(&t),
            Ok(_) => {}
            Err(e) => return Err(e.kind),
        }
        tokio::time::sleep(pause).await;
    }
    Ok(text)
}

#[tokio::test]
async fn a_stream_timeout_is_between_chunks_not_for_the_whole_stream() {
    let srv = MockServer::start().unwrap();
    let timeout = Duration::from_millis(300);
    let c = client(
        &srv,
        "openai/gpt-x",
        ClientConfig {
            timeout: Some(timeout),
            // A stream that times out before its first event would be retried.
            retry: Some(RetryPolicy {
                max_attempts: 1,
                ..RetryPolicy::default()
            }),
            ..ClientConfig::default()
        },
    );
    let six = json!(["a", "b", "c", "d", "e", "f"]);
    // Each chunk comes well within the timeout, the whole stream takes longer than it.
    srv.push_json(json!({"chunks": six, "chunk_delay": 0.1}))
        .unwrap();
    assert_eq!(stream_text(&c, Duration::ZERO).await.unwrap(), "abcdef");
    // A consumer slower than the timeout is not the network's fault.
    srv.push_json(json!({"chunks": ["a", "b", "c"]})).unwrap();
    assert_eq!(
        stream_text(&c, Duration::from_millis(400)).await.unwrap(),
        "abc"
    );
    // A chunk that does not come in time ends the stream with a timeout.
    srv.push_json(json!({"chunks": six, "chunk_delay": 2}))
        .unwrap();
    let started = std::time::Instant::now();
    assert_eq!(
        stream_text(&c, Duration::ZERO).await.unwrap_err(),
        ErrorKind::Timeout
    );
    assert!(started.elapsed() < Duration::from_millis(1500));
}

/// Found by tests/properties: a server's token counts are its to choose, and counts near
/// u64::MAX overflowed the sums the rate limiter and the cost are made of.
#[tokio::test]
async fn absurd_token_counts_from_a_server_saturate_instead_of_overflowing() {
    let srv = MockServer::start().unwrap();
    let limited = ClientConfig {
        rate_limit: Some(RateLimitConfig {
            tpm: Some(1_000_000),
            // The first call's count fills the window: a short one lets the second go soon.
            window: Duration::from_millis(100),
            ..RateLimitConfig::default()
        }),
        ..ClientConfig::default()
    };
    let c = client(&srv, "openai/gpt-4o", limited);
    let huge = json!({"text": "hi", "usage": {"input_tokens": u64::MAX, "output_tokens": 7}});
    srv.push_json(huge.clone()).unwrap();
    let r = c.chat(ask("hi")).await.unwrap();
    assert_eq!(r.usage.input_tokens, u64::MAX);
    assert!(r.cost_usd().is_some_and(f64::is_finite));
    srv.push_json(huge).unwrap();
    let mut stream = c.stream(ask("hi")).unwrap();
    let mut usage = None;
    while let Some(event) = stream.next().await {
        if let StreamEvent::Done { usage: u, .. } = event.unwrap() {
            usage = Some(u);
        }
    }
    assert_eq!(usage.unwrap().input_tokens, u64::MAX);
}
