#![allow(clippy::unwrap_used, clippy::panic)]
use super::*;
use crate::model::{ChatRequest, Message};

const MIN: u64 = 60_000;

fn limits(rpm: Option<u64>, tpm: Option<u64>) -> Limits {
    Limits {
        rpm,
        tpm,
        window_ms: MIN,
    }
}

fn granted(d: Decision) -> Ticket {
    match d {
        Decision::Granted(t) => t,
        Decision::Wait(w) => panic!("expected a grant, had to wait {w:?}"),
    }
}

#[test]
fn rpm_is_exact_over_any_window() {
    let mut log = Log::default();
    let l = limits(Some(3), None);
    for (i, t) in [0, 10_000, 20_000].into_iter().enumerate() {
        granted(log.reserve(t, l, 10, i as u64));
    }
    // The fourth waits until the first leaves the window, not until a fixed minute ends.
    assert_eq!(
        log.reserve(30_000, l, 10, 9),
        Decision::Wait(Duration::from_millis(30_000))
    );
    granted(log.reserve(60_000, l, 10, 10));
    assert_eq!(
        log.reserve(60_001, l, 10, 11),
        Decision::Wait(Duration::from_millis(9_999))
    );
}

#[test]
fn tpm_counts_tokens_and_settling_gives_back_the_unused() {
    let mut log = Log::default();
    let l = limits(None, Some(1000));
    let a = granted(log.reserve(0, l, 600, 1));
    assert!(matches!(log.reserve(1, l, 600, 2), Decision::Wait(_)));
    log.settle(a, 150);
    granted(log.reserve(2, l, 600, 3));
    assert_eq!(log.usage(), (2, 750));
}

#[test]
fn a_request_larger_than_the_budget_takes_a_whole_empty_window() {
    let mut log = Log::default();
    let l = limits(None, Some(1000));
    let t = granted(log.reserve(0, l, 5000, 1));
    assert_eq!(t.tokens, 1000);
    assert!(matches!(log.reserve(1, l, 1, 2), Decision::Wait(_)));
}

#[test]
fn quota_headers_tighten_until_their_reset() {
    let mut log = Log::default();
    let l = limits(Some(100), Some(10_000));
    granted(log.reserve(0, l, 100, 1));
    let quota = Quota {
        remaining_requests: Some(1),
        reset_requests: Some(Duration::from_secs(5)),
        remaining_tokens: Some(20_000),
        reset_tokens: None,
    };
    log.tighten(0, l, quota, 7);
    granted(log.reserve(1, l, 100, 2));
    // The provider said one request was left: the next waits for its reset (5 s), not 60 s.
    assert_eq!(
        log.reserve(2, l, 100, 3),
        Decision::Wait(Duration::from_millis(4_998))
    );
    granted(log.reserve(5_000, l, 100, 4));
    // More tokens left than configured changes nothing.
    assert_eq!(log.usage().1, 300);
}

#[test]
fn estimates_count_text_tools_and_max_tokens() {
    let req = ChatRequest {
        messages: vec![Message::user("a".repeat(400))],
        system: Some("b".repeat(40)),
        max_tokens: Some(50),
        ..ChatRequest::default()
    };
    assert_eq!(estimate_input_tokens(&req), 4 + 110);
    assert_eq!(reservation_for(&req), 164);
    let open = ChatRequest {
        max_tokens: None,
        ..req
    };
    assert_eq!(reservation_for(&open), 114 + DEFAULT_OUTPUT_RESERVE);
}

#[tokio::test]
async fn a_waiting_call_is_woken_by_a_settlement() {
    let cfg = RateLimitConfig {
        tpm: Some(1000),
        ..RateLimitConfig::default()
    };
    let limiter = Limiter::new(cfg, "k".into(), None);
    let (first, _) = limiter.acquire(900, None).await.unwrap();
    let waiter = {
        let limiter = limiter.clone();
        tokio::spawn(async move { limiter.acquire(500, None).await })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(!waiter.is_finished());
    limiter.settle(first, 100).await;
    let (_, waited) = tokio::time::timeout(Duration::from_secs(2), waiter)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(waited >= Duration::from_millis(20));
}

#[tokio::test]
async fn without_waiting_or_past_the_deadline_it_is_a_rate_limit_error() {
    let cfg = RateLimitConfig {
        rpm: Some(1),
        wait: false,
        ..RateLimitConfig::default()
    };
    let limiter = Limiter::new(cfg, "k".into(), None);
    limiter.acquire(1, None).await.unwrap();
    let e = limiter.acquire(1, None).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::RateLimit);
    assert!(e.retry_after.is_some_and(|d| d > Duration::from_secs(50)));

    let waiting = Limiter::new(
        RateLimitConfig {
            rpm: Some(1),
            ..RateLimitConfig::default()
        },
        "k".into(),
        None,
    );
    waiting.acquire(1, None).await.unwrap();
    let soon = Instant::now() + Duration::from_secs(1);
    let e = waiting.acquire(1, Some(soon)).await.unwrap_err();
    assert!(e.message.contains("deadline"), "{e}");
}
