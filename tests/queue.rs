//! The durable queue's processor against the mock provider over real HTTP: workers run items
//! through the client pipeline, skip a target whose breaker is open, and `auto` processing
//! queues a call that meets an outage.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use llmrail::mock::{Fault, MockServer, Reply};
use llmrail::model::{ChatRequest, Message};
use llmrail::queue::{Answer, Processing, Queue, QueueConfig, State, Submission};
use llmrail::resilience::breaker::BreakerConfig;
use llmrail::resilience::retry::RetryPolicy;
use llmrail::resilience::CallOptions;
use llmrail::{Client, ClientConfig, ErrorKind};

const TARGET: &str = "openai/gpt-4o-mini";

fn client(srv: &MockServer, breaker: BreakerConfig) -> Client {
    Client::new(ClientConfig {
        model: TARGET.into(),
        api_key: Some("sk-test".into()),
        base_url: Some(format!("{}/v1", srv.url())),
        retry: Some(RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }),
        circuit_breaker: Some(breaker),
        ..ClientConfig::default()
    })
    .unwrap()
}

fn ask(text: &str) -> ChatRequest {
    ChatRequest {
        messages: vec![Message::user(text)],
        max_tokens: Some(20),
        ..ChatRequest::default()
    }
}

fn to(target: &str) -> Submission {
    Submission {
        target: target.into(),
        ..Submission::default()
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn workers_answer_every_item_through_the_client_pipeline() {
    rt().block_on(async {
        let srv = MockServer::start().unwrap();
        let q = Queue::open("memory://", QueueConfig::default()).unwrap();
        q.use_client(TARGET, client(&srv, BreakerConfig::default()));
        let mut ids = Vec::new();
        for i in 0..20 {
            ids.push(
                q.submit(&ask(&format!("item {i}")), to(TARGET))
                    .await
                    .unwrap(),
            );
        }
        let _workers = q.spawn_workers(4).unwrap();
        for (i, id) in ids.iter().enumerate() {
            let r = q.result(id, Some(Duration::from_secs(10))).await.unwrap();
            assert_eq!(r.text(), format!("mock reply to: item {i}"));
            assert_eq!(q.status(id).await.unwrap().state, State::Completed);
        }
        assert_eq!(srv.requests().len(), 20);
    });
}

#[test]
fn a_failing_item_is_retried_then_failed_with_each_error_and_raised_as_the_last() {
    rt().block_on(async {
        let srv = MockServer::start().unwrap();
        srv.set_default(Some(Reply::fault(Fault::Status {
            status: 500,
            retry_after: None,
            body: None,
        })));
        let q = Queue::open("memory://", QueueConfig::default()).unwrap();
        let off = BreakerConfig {
            enabled: false,
            ..BreakerConfig::default()
        };
        q.use_client(TARGET, client(&srv, off));
        let id = q.submit(&ask("hi"), to(TARGET)).await.unwrap();
        let _workers = q.spawn_workers(1).unwrap();
        let e = q
            .result(&id, Some(Duration::from_secs(10)))
            .await
            .unwrap_err();
        assert_eq!(
            (e.kind, e.status, e.attempts),
            (ErrorKind::Server, Some(500), 3)
        );
        let item = q.status(&id).await.unwrap();
        assert_eq!((item.state, item.errors.len()), (State::Failed, 3));
        assert_eq!(srv.requests().len(), 3);
    });
}

#[test]
fn an_unknown_id_is_not_found_and_an_unfinished_one_times_out() {
    rt().block_on(async {
        let q = Queue::open("memory://", QueueConfig::default()).unwrap();
        let e = q.status("q_nope").await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::NotFound);
        let id = q.submit(&ask("hi"), to(TARGET)).await.unwrap();
        let e = q
            .result(&id, Some(Duration::from_millis(100)))
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Timeout);
        assert!(e.message.contains("QUEUED"), "{}", e.message);
    });
}

#[test]
fn auto_queues_during_an_outage_and_the_worker_waits_for_the_breaker_before_answering() {
    rt().block_on(async {
        let srv = MockServer::start().unwrap();
        let breaker = BreakerConfig {
            failure_threshold: 1,
            cooldown: Duration::from_millis(600),
            ..BreakerConfig::default()
        };
        let c = client(&srv, breaker);
        let q = Queue::open("memory://", QueueConfig::default()).unwrap();
        let _workers = q.spawn_workers(2).unwrap();

        srv.push(Reply::text("healthy"));
        let direct = q
            .chat(&c, ask("first"), CallOptions::default(), Processing::Auto)
            .await
            .unwrap();
        assert!(matches!(direct, Answer::Direct(r, _) if r.text() == "healthy"));

        // Overloaded: the call fails, opening the breaker; the request is queued.
        srv.push(Reply::fault(Fault::Status {
            status: 529,
            retry_after: None,
            body: None,
        }));
        let Answer::Queued(first) = q
            .chat(&c, ask("second"), CallOptions::default(), Processing::Auto)
            .await
            .unwrap()
        else {
            panic!("an overloaded provider's call is queued");
        };
        // The breaker is open now: the next call is not even sent, and is queued too.
        let Answer::Queued(second) = q
            .chat(&c, ask("third"), CallOptions::default(), Processing::Auto)
            .await
            .unwrap()
        else {
            panic!("a call meeting an open breaker is queued");
        };
        assert_eq!(srv.requests().len(), 2);
        tokio::time::sleep(Duration::from_millis(300)).await;
        // Still cooling down: the workers left both items alone, their attempts unspent.
        for id in [&first, &second] {
            let item = q.status(id).await.unwrap();
            assert_eq!((item.state, item.attempts), (State::Queued, 0));
        }
        assert_eq!(srv.requests().len(), 2);
        for id in [&first, &second] {
            let r = q.result(id, Some(Duration::from_secs(10))).await.unwrap();
            assert!(r.text().starts_with("mock reply to: "), "{}", r.text());
        }
        assert_eq!(srv.requests().len(), 4);
    });
}

#[test]
fn queue_processing_always_queues_and_direct_never_does() {
    rt().block_on(async {
        let srv = MockServer::start().unwrap();
        let c = client(&srv, BreakerConfig::default());
        let q = Queue::open("memory://", QueueConfig::default()).unwrap();
        let queued = q
            .chat(&c, ask("later"), CallOptions::default(), Processing::Queue)
            .await
            .unwrap();
        assert!(matches!(queued, Answer::Queued(_)));
        assert!(srv.requests().is_empty());
        srv.push(Reply::fault(Fault::Status {
            status: 503,
            retry_after: None,
            body: None,
        }));
        let e = q
            .chat(&c, ask("now"), CallOptions::default(), Processing::Direct)
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Server);
        assert_eq!(q.stats().await.unwrap().count(State::Queued), 1);
    });
}
