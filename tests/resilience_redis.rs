//! The Redis side of the resilience layers against a real redis-server: the Lua scripts must
//! behave like the in-process log and breaker they stand in for.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "common/redis_server.rs"]
mod redis_server;

use std::sync::Arc;
use std::time::{Duration, Instant};

use llmrail::providers::quota::Quota;
use llmrail::resilience::breaker::{
    Admission, Breaker, BreakerConfig, Machine, Outcome, SharedBreaker, State,
};
use llmrail::resilience::ratelimit::{
    Decision, Limiter, Limits, RateLimitConfig, RedisStore, Store, Ticket,
};
use llmrail::resilience::redis::connect;
use redis_server::{free_port, RedisServer};

fn store(server: &RedisServer) -> RedisStore {
    RedisStore::new(connect(&server.url()).unwrap())
}

fn limits(rpm: Option<u64>, tpm: Option<u64>, window_ms: u64) -> Limits {
    Limits {
        rpm,
        tpm,
        window_ms,
    }
}

async fn granted(s: &RedisStore, key: &str, l: Limits, tokens: u64) -> Ticket {
    match s.reserve(key, l, tokens, rand::random()).await.unwrap() {
        Decision::Granted(t) => t,
        Decision::Wait(w) => panic!("expected a grant, told to wait {w:?}"),
    }
}

async fn wait_of(s: &RedisStore, key: &str, l: Limits, tokens: u64) -> Duration {
    match s.reserve(key, l, tokens, rand::random()).await.unwrap() {
        Decision::Granted(t) => panic!("expected to wait, granted {t:?}"),
        Decision::Wait(w) => w,
    }
}

#[tokio::test]
async fn requests_leave_the_window_when_it_slides() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let s = store(&server);
    let l = limits(Some(3), None, 400);
    for _ in 0..3 {
        let t = granted(&s, "rpm", l, 10).await;
        assert!(t.shared && t.tokens == 10);
    }
    let w = wait_of(&s, "rpm", l, 10).await;
    assert!(
        w > Duration::ZERO && w <= Duration::from_millis(400),
        "{w:?}"
    );
    tokio::time::sleep(w + Duration::from_millis(5)).await;
    granted(&s, "rpm", l, 10).await;
}

#[tokio::test]
async fn tokens_are_reserved_then_settled_to_real_usage() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let s = store(&server);
    let l = limits(None, Some(1000), 60_000);
    let first = granted(&s, "tpm", l, 600).await;
    let w = wait_of(&s, "tpm", l, 600).await;
    assert!(w > Duration::from_secs(59), "{w:?}");
    s.settle("tpm", first, 150).await.unwrap();
    granted(&s, "tpm", l, 600).await;
    // Too big for the whole budget: waits for an empty window, then takes all of it.
    let w = wait_of(&s, "tpm", l, 5000).await;
    assert!(w > Duration::from_secs(59));
    let t = granted(&s, "other", l, 5000).await;
    assert_eq!(t.tokens, 1000);
}

#[tokio::test]
async fn quota_headers_tighten_the_shared_log_until_their_reset() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let s = store(&server);
    let l = limits(Some(100), Some(10_000), 60_000);
    granted(&s, "q", l, 10).await;
    let quota = Quota {
        remaining_requests: Some(0),
        reset_requests: Some(Duration::from_millis(300)),
        remaining_tokens: Some(5_000),
        reset_tokens: None,
    };
    s.tighten("q", l, quota).await.unwrap();
    let w = wait_of(&s, "q", l, 10).await;
    assert!(
        w <= Duration::from_millis(300) && w > Duration::from_millis(200),
        "{w:?}"
    );
    tokio::time::sleep(w + Duration::from_millis(5)).await;
    // Requests are back; the 5000 tokens held until the window ends are still held.
    granted(&s, "q", l, 4_000).await;
    let w = wait_of(&s, "q", l, 2_000).await;
    assert!(w > Duration::from_secs(50), "{w:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_reservations_never_exceed_the_limit() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let s = Arc::new(store(&server));
    let l = limits(Some(50), None, 60_000);
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move { s.reserve("burst", l, 1, rand::random()).await.unwrap() })
        })
        .collect();
    let mut grants = 0;
    for t in tasks {
        if matches!(t.await.unwrap(), Decision::Granted(_)) {
            grants += 1;
        }
    }
    assert_eq!(grants, 50);
}

fn breaker_cfg(cooldown_ms: u64) -> BreakerConfig {
    BreakerConfig {
        failure_threshold: 3,
        failure_rate: 0.5,
        min_calls: 10,
        window: Duration::from_secs(60),
        cooldown: Duration::from_millis(cooldown_ms),
        enabled: true,
    }
}

#[tokio::test]
async fn the_lua_breaker_follows_the_rust_state_machine() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let conn = connect(&server.url()).unwrap();
    let cfg = breaker_cfg(60_000);
    // Alternate failure and success (never three in a row), then keep failing: the failure rate
    // trips first. Both implementations must agree after every step.
    let shared = SharedBreaker::new(conn, "openai/m@x");
    let mut local = Machine::default();
    let epoch = Instant::now();
    for step in 0..14u64 {
        let outcome = if step < 10 && step % 2 == 1 {
            Outcome::Success
        } else {
            Outcome::Failure
        };
        let now = u64::try_from(epoch.elapsed().as_millis()).unwrap();
        let (a, b) = (shared.admit(&cfg).await.unwrap(), local.admit(now));
        // The clocks differ by a few milliseconds, so compare the decision, not its wait.
        assert_eq!(
            std::mem::discriminant(&a),
            std::mem::discriminant(&b),
            "admission at step {step}: {a:?} vs {b:?}"
        );
        if a == Admission::Allowed {
            let change = shared.record(&cfg, outcome, false).await;
            assert_eq!(
                change,
                Some(local.record(now, &cfg, outcome, false)),
                "step {step}"
            );
        }
        let snap = shared.snapshot(&cfg).await.unwrap();
        assert_eq!(snap.state, local.state(now), "state after step {step}");
        assert_eq!(
            snap.consecutive_failures,
            local.snapshot(now, &cfg, "").consecutive_failures
        );
    }
    assert_eq!(local.state(0), State::Open);
}

#[tokio::test]
async fn a_shared_breaker_opens_half_opens_and_closes_for_everyone() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let cfg = breaker_cfg(200);
    let conn = connect(&server.url()).unwrap();
    // Two processes' breakers for the same target, meeting in Redis.
    let a = Breaker::new(
        "p/m".into(),
        cfg.clone(),
        Some(SharedBreaker::new(conn.clone(), "p/m@u")),
    );
    let b = Breaker::new("p/m".into(), cfg, Some(SharedBreaker::new(conn, "p/m@u")));
    for _ in 0..3 {
        a.admit().await.unwrap().record(Outcome::Failure).await;
    }
    let e = b.admit().await.err().unwrap();
    assert!(e.retry_after.is_some());
    let snap = b.snapshot().await;
    assert_eq!(
        (snap.state, snap.shared, snap.name.as_str()),
        (State::Open, true, "p/m")
    );
    tokio::time::sleep(Duration::from_millis(220)).await;
    let probe = b.admit().await.unwrap();
    assert!(
        a.admit().await.is_err(),
        "one probe at a time, across processes"
    );
    probe.record(Outcome::Success).await;
    assert_eq!(a.snapshot().await.state, State::Closed);
    assert!(a.admit().await.is_ok());
}

#[tokio::test]
async fn without_redis_everything_still_works_locally() {
    let url = format!("redis://127.0.0.1:{}/0", free_port());
    let conn = connect(&url).unwrap();
    let cfg = RateLimitConfig {
        rpm: Some(2),
        wait: false,
        ..RateLimitConfig::default()
    };
    let store: Arc<dyn Store> = Arc::new(RedisStore::new(conn.clone()));
    let limiter = Limiter::new(cfg, "down".into(), Some(store));
    let started = Instant::now();
    for _ in 0..2 {
        let (ticket, _) = limiter.acquire(1, None).await.unwrap();
        assert!(!ticket.shared);
    }
    assert!(
        limiter.acquire(1, None).await.is_err(),
        "the local limit holds"
    );
    let breaker = Breaker::new(
        "p/m".into(),
        breaker_cfg(1000),
        Some(SharedBreaker::new(conn, "k")),
    );
    breaker
        .admit()
        .await
        .unwrap()
        .record(Outcome::Success)
        .await;
    assert!(!breaker.snapshot().await.shared);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "an outage costs no waiting"
    );
}
