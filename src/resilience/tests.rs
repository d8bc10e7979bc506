//! The retry loop with scripted attempt outcomes (the HTTP side is covered in tests/ and
//! tests_py/ against the mock server).
#![allow(clippy::unwrap_used)]

use std::collections::VecDeque;
use std::sync::Mutex;

use super::breaker::BreakerConfig;
use super::ratelimit::RateLimitConfig;
use super::retry::Jitter;
use super::*;

fn fast(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        initial_delay: Duration::from_millis(2),
        max_delay: Duration::from_millis(50),
        multiplier: 2.0,
        jitter: Jitter::None,
    }
}

fn status(s: u16) -> LlmError {
    let mut e = LlmError::new(ErrorKind::from_status(s), format!("status {s}"));
    e.status = Some(s);
    e
}

/// An attempt function answering from a script, counting its calls.
fn script(
    outcomes: Vec<Result<&'static str>>,
) -> impl FnMut(Option<Duration>) -> std::future::Ready<Attempt<&'static str>> {
    let queue = Mutex::new(VecDeque::from(outcomes));
    move |_left| {
        let next = queue.lock().unwrap().pop_front().unwrap_or(Ok("spare"));
        std::future::ready(Attempt {
            result: next,
            quota: None,
            used_tokens: Some(10),
            started: false,
            status: Some(200),
        })
    }
}

#[tokio::test]
async fn retriable_failures_are_retried_until_success() {
    let mut report = CallReport::default();
    let attempts = script(vec![Err(status(503)), Err(status(429)), Ok("fine")]);
    let out = run_target(
        &Guards::default(),
        &fast(4),
        None,
        100,
        &mut report,
        attempts,
    )
    .await;
    assert_eq!(out.unwrap(), "fine");
    assert_eq!(report.attempts, 3);
    assert_eq!(report.retry_wait, Duration::from_millis(2 + 4));
}

#[tokio::test]
async fn a_client_error_is_final_and_carries_the_count() {
    let mut report = CallReport::default();
    let attempts = script(vec![Err(status(500)), Err(status(400))]);
    let e = run_target(&Guards::default(), &fast(4), None, 1, &mut report, attempts)
        .await
        .unwrap_err();
    assert_eq!((e.status, e.attempts), (Some(400), 2));
    assert_eq!(e.retry_wait, Duration::from_millis(2));
}

#[tokio::test]
async fn attempts_run_out() {
    let mut report = CallReport::default();
    let attempts = script(vec![Err(status(502)); 5]);
    let e = run_target(&Guards::default(), &fast(3), None, 1, &mut report, attempts)
        .await
        .unwrap_err();
    assert_eq!(e.attempts, 3);
}

#[tokio::test]
async fn the_deadline_stops_retries_instead_of_sleeping_past_it() {
    let mut report = CallReport::default();
    let mut slow = status(429);
    slow.retry_after = Some(Duration::from_secs(5));
    let policy = RetryPolicy {
        max_delay: Duration::from_secs(10),
        ..fast(4)
    };
    let deadline = Some(Instant::now() + Duration::from_millis(500));
    let started = Instant::now();
    let attempts = script(vec![Err(slow)]);
    let e = run_target(
        &Guards::default(),
        &policy,
        deadline,
        1,
        &mut report,
        attempts,
    )
    .await
    .unwrap_err();
    assert_eq!((e.status, e.attempts), (Some(429), 1));
    assert!(started.elapsed() < Duration::from_millis(400));
}

#[tokio::test]
async fn a_started_stream_is_not_retried() {
    let mut report = CallReport::default();
    let attempt = |_| {
        std::future::ready(Attempt::<()> {
            result: Err(LlmError::new(ErrorKind::Connection, "cut")),
            quota: None,
            used_tokens: None,
            started: true,
            status: Some(200),
        })
    };
    let e = run_target(&Guards::default(), &fast(4), None, 1, &mut report, attempt)
        .await
        .unwrap_err();
    assert_eq!(e.attempts, 1);
}

#[tokio::test]
async fn an_open_breaker_fails_fast_and_the_limiter_settles_real_usage() {
    let cfg = BreakerConfig {
        failure_threshold: 2,
        ..BreakerConfig::default()
    };
    let limiter = Limiter::new(
        RateLimitConfig {
            tpm: Some(10_000),
            ..RateLimitConfig::default()
        },
        "k".into(),
        None,
    );
    let guards = Guards {
        breaker: Some(Breaker::new("p/m".into(), cfg, None)),
        limiter: Some(limiter),
    };
    let mut report = CallReport::default();
    let attempts = script(vec![Err(status(500)), Err(status(500)), Err(status(500))]);
    let e = run_target(&guards, &fast(4), None, 1000, &mut report, attempts)
        .await
        .unwrap_err();
    // Two failures opened it; the third attempt was refused, so the last real error comes back.
    assert_eq!((e.status, e.attempts), (Some(500), 2));
    let mut again = CallReport::default();
    let e = run_target(&guards, &fast(4), None, 1000, &mut again, script(vec![]))
        .await
        .unwrap_err();
    assert_eq!((e.kind, e.attempts), (ErrorKind::CircuitOpen, 0));
    assert!(e.retry_after.is_some());
    let snap = guards.breaker.as_ref().unwrap().snapshot().await;
    assert_eq!(snap.state, breaker::State::Open);
}

#[test]
fn a_target_is_named_by_host_and_port_without_its_secrets() {
    let t = TargetInfo::new(
        "openai",
        "gpt-4.1",
        "https://user:pw@api.example.com/v1?key=k",
    );
    assert_eq!((t.address.as_str(), t.port), ("api.example.com", Some(443)));
    let t = TargetInfo::new("ollama", "llama3", "http://127.0.0.1:11434");
    assert_eq!((t.address.as_str(), t.port), ("127.0.0.1", Some(11434)));
    let t = TargetInfo::new("mock", "m", "not a url");
    assert_eq!((t.address.as_str(), t.port), ("", None));
}

#[tokio::test]
async fn a_recording_report_logs_each_attempt_and_the_backoff_before_it() {
    let mut report = CallReport::recording(true);
    let attempts = script(vec![Err(status(503)), Ok("fine")]);
    run_target(&Guards::default(), &fast(3), None, 1, &mut report, attempts)
        .await
        .unwrap();
    let log = report.log.unwrap();
    let seen: Vec<_> = log
        .iter()
        .map(|r| (r.status, r.error, r.retry_wait, r.retry_after))
        .collect();
    assert_eq!(
        seen,
        vec![
            (Some(503), Some(ErrorKind::Server), Duration::ZERO, false),
            (Some(200), None, Duration::from_millis(2), false),
        ]
    );
}
