//! Process-wide state per target, against the mock server over real HTTP: every client of the
//! process that calls the same provider, base URL, model and key shares one breaker, one
//! rate-limit bucket and one prompt-cache memory, so a service that builds a client per request
//! still sees its breaker open and its limit hold. Each client judges the shared state by its
//! own settings, as processes sharing a Redis do.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "common/redis_server.rs"]
mod redis_server;

use std::time::Duration;

use llmrail::mock::{MockServer, Reply};
use llmrail::model::{CacheTtl, ChatRequest, Message, PromptCache};
use llmrail::resilience::breaker::{BreakerConfig, State};
use llmrail::resilience::ratelimit::RateLimitConfig;
use llmrail::resilience::retry::RetryPolicy;
use llmrail::{Client, ClientConfig, ErrorKind};
use serde_json::json;

/// A client as a service would build one for each request: no retries, so each call is one
/// request and the breaker counts each failure once.
fn per_request(srv: &MockServer, key: &str, extra: ClientConfig) -> Client {
    Client::new(ClientConfig {
        model: "openai/gpt-4.1-mini".into(),
        api_key: Some(key.into()),
        base_url: Some(format!("{}/v1", srv.url())),
        retry: Some(RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }),
        ..extra
    })
    .unwrap()
}

fn breaker(threshold: u32) -> Option<BreakerConfig> {
    Some(BreakerConfig {
        failure_threshold: threshold,
        cooldown: Duration::from_secs(60),
        ..BreakerConfig::default()
    })
}

fn rpm(n: u64, key: Option<&str>) -> Option<RateLimitConfig> {
    Some(RateLimitConfig {
        rpm: Some(n),
        key: key.map(str::to_string),
        wait: false,
        ..RateLimitConfig::default()
    })
}

fn ask(text: &str) -> ChatRequest {
    ChatRequest {
        messages: vec![Message::user(text)],
        max_tokens: Some(10),
        ..ChatRequest::default()
    }
}

async fn call(c: Client) -> Result<String, ErrorKind> {
    c.chat(ask("hi"))
        .await
        .map(|r| r.text())
        .map_err(|e| e.kind)
}

#[tokio::test]
async fn a_client_built_per_request_still_sees_its_breaker_open() {
    let srv = MockServer::start().unwrap();
    srv.push_json(json!({"fault": {"status": 503}, "times": 2}))
        .unwrap();
    let cfg = || ClientConfig {
        circuit_breaker: breaker(2),
        ..ClientConfig::default()
    };
    for _ in 0..2 {
        assert_eq!(
            call(per_request(&srv, "sk-a", cfg())).await,
            Err(ErrorKind::Server)
        );
    }
    // Both clients are gone; the third one's call fails fast without reaching the server.
    assert_eq!(
        call(per_request(&srv, "sk-a", cfg())).await,
        Err(ErrorKind::CircuitOpen)
    );
    assert_eq!(srv.requests().len(), 2);
    let health = per_request(&srv, "sk-a", cfg()).health().await.unwrap();
    assert_eq!(health[0].state, State::Open);
}

#[tokio::test]
async fn a_client_built_per_request_still_sees_its_rate_limit_hold() {
    let srv = MockServer::start().unwrap();
    let cfg = || ClientConfig {
        rate_limit: rpm(2, None),
        ..ClientConfig::default()
    };
    for _ in 0..2 {
        assert!(call(per_request(&srv, "sk-a", cfg())).await.is_ok());
    }
    assert_eq!(
        call(per_request(&srv, "sk-a", cfg())).await,
        Err(ErrorKind::RateLimit)
    );
    assert_eq!(srv.requests().len(), 2);
}

#[tokio::test]
async fn another_api_key_is_another_target() {
    let srv = MockServer::start().unwrap();
    srv.push_json(json!({"fault": {"status": 503}})).unwrap();
    let cfg = || ClientConfig {
        circuit_breaker: breaker(1),
        rate_limit: rpm(1, None),
        ..ClientConfig::default()
    };
    assert_eq!(
        call(per_request(&srv, "sk-a", cfg())).await,
        Err(ErrorKind::Server)
    );
    assert_eq!(
        call(per_request(&srv, "sk-a", cfg())).await,
        Err(ErrorKind::CircuitOpen)
    );
    // Its own breaker (closed) and its own budget (untouched).
    assert!(call(per_request(&srv, "sk-b", cfg())).await.is_ok());
}

#[tokio::test]
async fn each_client_judges_the_shared_limit_by_its_own_settings() {
    let srv = MockServer::start().unwrap();
    let strict = || ClientConfig {
        rate_limit: rpm(1, None),
        ..ClientConfig::default()
    };
    let loose = || ClientConfig {
        rate_limit: rpm(3, None),
        ..ClientConfig::default()
    };
    assert!(call(per_request(&srv, "sk-a", strict())).await.is_ok());
    // One request in the window: over the strict client's limit, under the loose one's.
    assert_eq!(
        call(per_request(&srv, "sk-a", strict())).await,
        Err(ErrorKind::RateLimit)
    );
    assert!(call(per_request(&srv, "sk-a", loose())).await.is_ok());
    assert!(call(per_request(&srv, "sk-a", loose())).await.is_ok());
    // The loose client's requests count against the strict one's too, and the window is full.
    assert_eq!(
        call(per_request(&srv, "sk-a", loose())).await,
        Err(ErrorKind::RateLimit)
    );
    assert_eq!(srv.requests().len(), 3);
}

#[tokio::test]
async fn each_client_judges_the_shared_breaker_by_its_own_settings() {
    let srv = MockServer::start().unwrap();
    srv.push_json(json!({"fault": {"status": 503}, "times": 2}))
        .unwrap();
    let patient = || ClientConfig {
        circuit_breaker: breaker(5),
        ..ClientConfig::default()
    };
    let touchy = || ClientConfig {
        circuit_breaker: breaker(2),
        ..ClientConfig::default()
    };
    assert_eq!(
        call(per_request(&srv, "sk-a", patient())).await,
        Err(ErrorKind::Server)
    );
    // The second failure in a row: the touchy client's threshold opens the target's breaker...
    assert_eq!(
        call(per_request(&srv, "sk-a", touchy())).await,
        Err(ErrorKind::Server)
    );
    // ... and an open breaker is open for every client of the target.
    assert_eq!(
        call(per_request(&srv, "sk-a", patient())).await,
        Err(ErrorKind::CircuitOpen)
    );
    // A client without a breaker neither asks nor feeds it.
    let reckless = ClientConfig {
        circuit_breaker: Some(BreakerConfig::disabled()),
        ..ClientConfig::default()
    };
    assert!(call(per_request(&srv, "sk-a", reckless)).await.is_ok());
    assert_eq!(
        call(per_request(&srv, "sk-a", touchy())).await,
        Err(ErrorKind::CircuitOpen)
    );
}

#[tokio::test]
async fn a_named_bucket_is_one_budget_whatever_the_target() {
    let (one, two) = (MockServer::start().unwrap(), MockServer::start().unwrap());
    let bucket = format!("team-{}", one.addr().port());
    let cfg = || ClientConfig {
        rate_limit: rpm(1, Some(&bucket)),
        ..ClientConfig::default()
    };
    assert!(call(per_request(&one, "sk-a", cfg())).await.is_ok());
    assert_eq!(
        call(per_request(&two, "sk-b", cfg())).await,
        Err(ErrorKind::RateLimit)
    );
    assert!(two.requests().is_empty());
}

/// About 1,500 tokens: above Sonnet 4.5's 1,024-token minimum.
fn system(version: &str) -> String {
    format!(
        "{version}\n{}",
        "Follow the refund policy in section 4. ".repeat(150)
    )
}

fn cached_ask(system: String) -> ChatRequest {
    ChatRequest {
        system: Some(system),
        ..ask("What is the refund window?")
    }
}

#[tokio::test]
async fn a_new_client_compares_its_cached_prefix_with_the_previous_clients_call() {
    let srv = MockServer::start().unwrap();
    let cached = || {
        Client::new(ClientConfig {
            model: "anthropic/claude-sonnet-4-5".into(),
            api_key: Some("sk-ant".into()),
            base_url: Some(srv.url()),
            prompt_cache: PromptCache::Ttl(CacheTtl::FiveMinutes),
            ..ClientConfig::default()
        })
        .unwrap()
    };
    let first = cached();
    first.chat(cached_ask(system("v1"))).await.unwrap();
    let same = cached();
    let read = same.chat(cached_ask(system("v1"))).await.unwrap();
    assert!(read.usage.cache_read_tokens > 1000);
    let changed = cached();
    changed.chat(cached_ask(system("v2"))).await.unwrap();
    // The break is judged against the target's previous call, whoever made it...
    assert_eq!(same.cache_stats().cache_breaks, 0);
    assert_eq!(changed.cache_stats().cache_breaks, 1);
    // ... while the totals stay each client's own.
    for c in [&first, &same, &changed] {
        assert_eq!(c.cache_stats().requests, 1);
    }
}

#[tokio::test]
async fn clients_built_per_request_share_the_breaker_through_redis_too() {
    let Some(redis) = redis_server::RedisServer::start() else {
        return;
    };
    let srv = MockServer::start().unwrap();
    srv.push_json(json!({"fault": {"status": 503}, "times": 2}))
        .unwrap();
    srv.set_default(Some(Reply::text("fine")));
    let cfg = || ClientConfig {
        circuit_breaker: breaker(2),
        rate_limit: rpm(3, None),
        redis_url: Some(redis.url()),
        ..ClientConfig::default()
    };
    for _ in 0..2 {
        assert_eq!(
            call(per_request(&srv, "sk-a", cfg())).await,
            Err(ErrorKind::Server)
        );
    }
    assert_eq!(
        call(per_request(&srv, "sk-a", cfg())).await,
        Err(ErrorKind::CircuitOpen)
    );
    let health = per_request(&srv, "sk-a", cfg()).health().await.unwrap();
    assert!(health[0].shared, "the state lives in Redis");
    assert_eq!(health[0].state, State::Open);
    // A client without a breaker still counts against the budget in Redis.
    let budget = ClientConfig {
        circuit_breaker: Some(BreakerConfig::disabled()),
        ..cfg()
    };
    assert_eq!(
        call(per_request(&srv, "sk-a", budget.clone()))
            .await
            .as_deref(),
        Ok("fine")
    );
    assert_eq!(
        call(per_request(&srv, "sk-a", budget)).await,
        Err(ErrorKind::RateLimit)
    );
}
