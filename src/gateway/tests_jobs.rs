//! Async jobs and key budgets over real HTTP: the gateway in front of the mock server, its
//! queue in memory (the SIGKILL and restart of a gateway on sqlite is `tests_py/test_gateway_jobs.py`).

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::tests::{gateway, http, post, HeaderMapLite};
use crate::mock::MockServer;

const KEY_A: &str = "gw-key-0123456789abcdef";
const KEY_B: &str = "gw-key-b-0123456789abcdef";

fn header<'h>(headers: &'h HeaderMapLite, name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

async fn get(server: &super::Server, path: &str, key: &str) -> (u16, Value) {
    let r = http()
        .get(format!("{}{path}", server.url()))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn chat(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hi"}]})
}

/// Poll the job's status until it is `state` (10 s at most).
async fn until(server: &super::Server, id: &str, state: &str) -> Value {
    let started = Instant::now();
    loop {
        let (_, v) = get(server, &format!("/v1/jobs/{id}"), KEY_A).await;
        if v["status"] == state || started.elapsed() > Duration::from_secs(10) {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_is_accepted_then_completed_and_its_result_read() {
    let mock = MockServer::start().unwrap();
    mock.push_json(json!({"text": "queued answer", "latency": 0.3}))
        .unwrap();
    let server = gateway(&mock, "queue:\n  url: memory://\n");
    let (status, headers, body) = post(&server, "/v1/jobs", KEY_A, chat("fast")).await;
    assert_eq!(status, 202, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    let id = v["queue_id"].as_str().unwrap().to_string();
    assert_eq!(
        header(&headers, "location"),
        Some(format!("/v1/jobs/{id}").as_str())
    );
    assert!(["queued", "processing"].contains(&v["status"].as_str().unwrap()));
    assert_eq!(v["model"], "fast");
    // Not done yet: the result is the status again, 202.
    let (status, _) = get(&server, &format!("/v1/jobs/{id}/result"), KEY_A).await;
    assert_eq!(status, 202);
    let done = until(&server, &id, "completed").await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["attempts"], 1);
    let (status, result) = get(&server, &format!("/v1/jobs/{id}/result"), KEY_A).await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["object"], "chat.completion");
    assert_eq!(result["model"], "fast");
    assert_eq!(result["queue_id"], id.as_str());
    assert_eq!(result["choices"][0]["message"]["content"], "queued answer");
    // The worker called the virtual model's own upstream, with its key.
    let sent = &mock.requests()[0];
    assert_eq!(
        sent.header("authorization"),
        Some("Bearer sk-upstream-secret")
    );
    // Another key is told there is no such job.
    let (status, _) = get(&server, &format!("/v1/jobs/{id}"), KEY_B).await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_done_within_its_wait_is_answered_at_once() {
    let mock = MockServer::start().unwrap();
    mock.push_json(json!({"text": "quick", "latency": 0.05}))
        .unwrap();
    let server = gateway(&mock, "queue:\n  url: memory://\n");
    let mut body = chat("fast");
    body["wait"] = json!(10);
    let (status, headers, text) = post(&server, "/v1/jobs", KEY_A, body).await;
    assert_eq!(status, 200, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "quick");
    assert_eq!(
        header(&headers, "x-llmrail-queue-id"),
        v["queue_id"].as_str()
    );
    // The job's own fields never reach the provider.
    let sent = &mock.requests()[0];
    let upstream = &sent.body;
    assert!(upstream.get("wait").is_none(), "{upstream}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_job_answers_with_its_error_in_its_own_status() {
    let mock = MockServer::start().unwrap();
    // Not an outage: the worker does not try again.
    mock.push_json(json!({"fault": {"status": 400}})).unwrap();
    let server = gateway(&mock, "queue:\n  url: memory://\n");
    let mut body = chat("fast");
    body["wait"] = json!(10);
    let (status, headers, text) = post(&server, "/v1/jobs", KEY_A, body).await;
    assert_eq!(status, 400, "{text}");
    let id = header(&headers, "x-llmrail-queue-id").unwrap();
    let v = until(&server, id, "failed").await;
    assert_eq!(v["error"]["status"], 400, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_refuses_with_503_and_retry_after() {
    let mock = MockServer::start().unwrap();
    // No workers here: items stay queued.
    let server = gateway(
        &mock,
        "queue:\n  url: memory://\n  capacity: 1\n  workers: 0\n",
    );
    let (status, _, _) = post(&server, "/v1/jobs", KEY_A, chat("fast")).await;
    assert_eq!(status, 202);
    let (status, headers, body) = post(&server, "/v1/jobs", KEY_A, chat("fast")).await;
    assert_eq!(status, 503, "{body}");
    assert!(header(&headers, "retry-after").is_some());
    let (status, ready) = get(&server, "/readyz", KEY_A).await;
    assert_eq!(status, 200);
    assert_eq!(ready["queue"]["reachable"], true);
    assert_eq!(ready["queue"]["queued"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processing_auto_queues_a_call_that_meets_an_outage_instead_of_failing() {
    let mock = MockServer::start().unwrap();
    mock.push_json(json!({"fault": {"status": 503}})).unwrap();
    mock.push_json(json!({"text": "after the outage"})).unwrap();
    let server = gateway(&mock, "queue:\n  url: memory://\n");
    let mut body = chat("fast");
    body["processing"] = json!("auto");
    let (status, headers, text) = post(&server, "/v1/chat/completions", KEY_A, body).await;
    assert_eq!(status, 202, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    let id = v["queue_id"].as_str().unwrap();
    assert!(header(&headers, "location").is_some());
    let done = until(&server, id, "completed").await;
    assert_eq!(done["status"], "completed", "{done}");
    let (_, result) = get(&server, &format!("/v1/jobs/{id}/result"), KEY_A).await;
    assert_eq!(
        result["choices"][0]["message"]["content"],
        "after the outage"
    );
    let first = mock.requests()[0].body.clone();
    assert!(first.get("processing").is_none(), "{first}");
    // A healthy call with processing auto is answered directly.
    mock.push_json(json!({"text": "direct"})).unwrap();
    let mut body = chat("fast");
    body["processing"] = json!("auto");
    let (status, _, text) = post(&server, "/v1/chat/completions", KEY_A, body).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("direct"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processing_auto_queues_while_the_breaker_is_open() {
    let mock = MockServer::start().unwrap();
    let server = budget_gateway(
        &mock,
        "queue:\n  url: memory://\n  workers: 0\n",
        "    circuit_breaker: {failure_threshold: 2, cooldown: 60}\n",
    );
    for _ in 0..2 {
        mock.push_json(json!({"fault": {"status": 500}})).unwrap();
        let (status, _, _) = post(&server, "/v1/chat/completions", KEY_B, chat("fast")).await;
        assert_eq!(status, 502);
    }
    let seen = mock.requests().len();
    let mut body = chat("fast");
    body["processing"] = json!("auto");
    let (status, _, text) = post(&server, "/v1/chat/completions", KEY_B, body).await;
    assert_eq!(status, 202, "{text}");
    // The open breaker kept the call from going out at all.
    assert_eq!(mock.requests().len(), seen);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_without_a_queue_and_bad_job_fields_are_refused_clearly() {
    let mock = MockServer::start().unwrap();
    let server = gateway(&mock, "");
    let (status, _, body) = post(&server, "/v1/jobs", KEY_A, chat("fast")).await;
    assert_eq!(status, 404);
    assert!(body.contains("queue"), "{body}");
    let mut auto = chat("fast");
    auto["processing"] = json!("auto");
    let (status, _, _) = post(&server, "/v1/chat/completions", KEY_A, auto).await;
    assert_eq!(status, 404);
    let server = gateway(&mock, "queue:\n  url: memory://\n");
    let mut bad = chat("fast");
    bad["processing"] = json!("later");
    let (status, _, _) = post(&server, "/v1/jobs", KEY_A, bad).await;
    assert_eq!(status, 400);
    let mut streamed = chat("fast");
    streamed["stream"] = json!(true);
    let (status, _, _) = post(&server, "/v1/jobs", KEY_A, streamed).await;
    assert_eq!(status, 400);
    // A callback needs the queue's webhook secret to sign with.
    let mut cb = chat("fast");
    cb["callback_url"] = json!("http://127.0.0.1:9/hook");
    let (status, _, body) = post(&server, "/v1/jobs", KEY_A, cb).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("webhook_secret"), "{body}");
    assert!(mock.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_over_its_budget_is_refused_and_its_spend_counts_every_path() {
    let mock = MockServer::start().unwrap();
    // gpt-4o-mini's input is $0.15 a million tokens: each call costs $0.15.
    let usage = json!({"input_tokens": 1_000_000, "output_tokens": 0});
    let server = budget_gateway(&mock, "queue:\n  url: memory://\n", "");
    mock.push_json(json!({"text": "one", "usage": usage}))
        .unwrap();
    let (status, _, body) = post(&server, "/v1/chat/completions", KEY_A, chat("fast")).await;
    assert_eq!(status, 200, "{body}");
    // The second is charged through a job (its worker's completion).
    mock.push_json(json!({"text": "two", "usage": usage}))
        .unwrap();
    let mut job = chat("fast");
    job["wait"] = json!(10);
    let (status, _, body) = post(&server, "/v1/jobs", KEY_A, job).await;
    assert_eq!(status, 200, "{body}");
    // $0.30 spent of $0.25: refused, in both endpoints' shapes, with the wait until midnight.
    let started = Instant::now();
    let (status, headers, body) = loop {
        let r = post(&server, "/v1/chat/completions", KEY_A, chat("fast")).await;
        if r.0 != 200 || started.elapsed() > Duration::from_secs(5) {
            break r;
        }
    };
    assert_eq!(status, 429, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error"]["code"], "insufficient_quota");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("day budget of $0.25"));
    let wait: u64 = header(&headers, "retry-after").unwrap().parse().unwrap();
    assert!((1..=86_400).contains(&wait));
    let (status, _, body) = post(
        &server,
        "/v1/messages",
        KEY_A,
        json!({"model": "fast", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(status, 429);
    assert!(body.contains("rate_limit_error"), "{body}");
    // Another key's budget is its own.
    let (status, _, _) = post(&server, "/v1/chat/completions", KEY_B, chat("fast")).await;
    assert_eq!(status, 200);
}

/// One model (`model_extra` added to it) and two keys with budgets: team-a $0.25 a day,
/// team-b $5 in total.
fn budget_gateway(mock: &MockServer, extra: &str, model_extra: &str) -> super::Server {
    let text = format!(
        "models:\n  fast:\n    model: openai/gpt-4o-mini\n    base_url: {url}/v1\n    api_key: sk-upstream-secret\n    retry: {{max_attempts: 1}}\n{model_extra}keys:\n  - name: team-a\n    key: {KEY_A}\n    budget: {{usd: 0.25, period: day}}\n  - name: team-b\n    key: {KEY_B}\n    budget: {{usd: 5, period: total}}\n{extra}",
        url = mock.url()
    );
    let cfg = super::GatewayConfig::parse("g.yaml", &text, super::tests::env(&[])).unwrap();
    super::Server::start(
        super::Gateway::with_env(cfg, super::tests::env(&[])).unwrap(),
        "127.0.0.1",
        0,
    )
    .unwrap()
}
