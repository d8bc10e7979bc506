//! Provider batch jobs over real HTTP to the mock server: Anthropic Message Batches and OpenAI's
//! files + batches, results in input order, per-item errors, retries in follow-up batches,
//! cancel, the concurrent mode, and a job kept in a store and resumed by another client.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use llmrail::batch::{BatchJob, BatchRequest, Mode, Status, SubmitOptions, WaitOptions};
use llmrail::error::ErrorKind;
use llmrail::mock::{MockServer, Reply};
use llmrail::model::{ChatRequest, Message};
use llmrail::{Client, ClientConfig};
use serde_json::json;

fn client(model: &str, base_url: String) -> Client {
    Client::new(ClientConfig {
        model: model.into(),
        api_key: Some("sk-test".into()),
        base_url: Some(base_url),
        ..ClientConfig::default()
    })
    .unwrap()
}

fn anthropic(srv: &MockServer) -> Client {
    client("anthropic/claude-sonnet-4-5", srv.url())
}

fn openai(srv: &MockServer) -> Client {
    client("openai/gpt-4.1-mini", format!("{}/v1", srv.url()))
}

fn requests(ids: &[&str]) -> Vec<BatchRequest> {
    ids.iter()
        .map(|id| BatchRequest {
            custom_id: Some((*id).to_string()),
            request: ChatRequest {
                messages: vec![Message::user(format!("question {id}"))],
                max_tokens: Some(50),
                ..ChatRequest::default()
            },
        })
        .collect()
}

fn fast() -> WaitOptions {
    WaitOptions {
        poll_interval: Duration::from_millis(20),
        timeout: Some(Duration::from_secs(20)),
    }
}

fn count(srv: &MockServer, method: &str, suffix: &str) -> usize {
    srv.requests()
        .iter()
        .filter(|r| r.method == method && r.path.ends_with(suffix))
        .count()
}

/// A store of its own for one test, in a folder named by `tag`: (folder, store, options).
fn kept_in(tag: &str) -> (std::path::PathBuf, std::path::PathBuf, SubmitOptions) {
    let dir = std::env::temp_dir().join(format!("llmrail-batch-{tag}-{}", std::process::id()));
    let path = dir.join("jobs.sqlite3");
    let opts = SubmitOptions {
        store: Some(path.clone()),
        ..SubmitOptions::default()
    };
    (dir, path, opts)
}

/// Each item's answer text, in input order.
fn answers(job: &BatchJob) -> Vec<String> {
    job.results()
        .unwrap()
        .into_iter()
        .map(|r| r.result.unwrap().text())
        .collect()
}

async fn run(client: &Client, ids: &[&str]) -> BatchJob {
    let job = BatchJob::submit(client, requests(ids), SubmitOptions::default())
        .await
        .unwrap();
    job.wait(fast(), |_| Ok(())).await.unwrap();
    job
}

#[tokio::test]
async fn an_anthropic_batch_answers_in_input_order_with_each_items_own_error() {
    let srv = MockServer::start().unwrap();
    srv.set_batch_json(json!({"processing": 0.2, "outcomes": {"c": ["invalid_request_error"]}}))
        .unwrap();
    let c = anthropic(&srv);
    let job = BatchJob::submit(
        &c,
        requests(&["a", "b", "c", "d"]),
        SubmitOptions::default(),
    )
    .await
    .unwrap();
    let info = job.info();
    assert_eq!(
        (info.mode, info.provider.as_str()),
        (Mode::Batch, "anthropic")
    );
    assert!(info.expires_at.unwrap() > info.created_at + 80_000.0);
    assert!(matches!(info.status, Status::Running | Status::Submitted));
    let mut seen = Vec::new();
    job.wait(fast(), |i| {
        seen.push(i.status);
        Ok(())
    })
    .await
    .unwrap();
    assert!(seen.contains(&Status::Running), "{seen:?}");
    assert_eq!(job.info().status, Status::Ended);
    let counts = job.info().counts;
    assert_eq!(
        (counts.succeeded, counts.errored, counts.pending),
        (3, 1, 0)
    );

    let results = job.results().unwrap();
    let ids: Vec<&str> = results.iter().map(|r| r.custom_id.as_str()).collect();
    assert_eq!(ids, ["a", "b", "c", "d"]);
    for (r, id) in results.iter().zip(["a", "b", "c", "d"]) {
        if id == "c" {
            let e = r.result.as_ref().unwrap_err();
            assert_eq!(e.kind, ErrorKind::BadRequest);
            assert!(e.message.contains("invalid_request_error"), "{e}");
        } else {
            let resp = r.result.as_ref().unwrap();
            assert_eq!(resp.text(), format!("mock reply to: question {id}"));
            assert!(resp.usage.output_tokens > 0);
        }
        assert_eq!(r.attempts, 1);
    }
    // One create, results once, and the items' bodies as the Messages API takes them.
    assert_eq!(count(&srv, "POST", "/v1/messages/batches"), 1);
    assert_eq!(count(&srv, "GET", "/results"), 1);
    let create = srv
        .requests()
        .into_iter()
        .find(|r| r.method == "POST")
        .unwrap();
    assert_eq!(create.header("x-api-key"), Some("sk-test"));
    let first = &create.body["requests"][0];
    assert_eq!(first["custom_id"], "a");
    assert_eq!(first["params"]["model"], "claude-sonnet-4-5");
    assert_eq!(first["params"]["max_tokens"], 50);
    assert_eq!(first["params"]["messages"][0]["content"], "question a");
}

#[tokio::test]
async fn retryable_failures_go_again_in_a_new_batch_up_to_three_attempts() {
    let srv = MockServer::start().unwrap();
    srv.set_batch_json(json!({"outcomes": {
        "b": ["overloaded_error"],
        "c": ["expired", "api_error"],
        "d": ["overloaded_error", "overloaded_error", "overloaded_error", "succeeded"],
        "e": ["invalid_request_error", "succeeded"],
    }}))
    .unwrap();
    let job = run(&anthropic(&srv), &["a", "b", "c", "d", "e"]).await;
    let results = job.results().unwrap();
    let attempts: Vec<u32> = results.iter().map(|r| r.attempts).collect();
    assert_eq!(attempts, [1, 2, 3, 3, 1]);
    assert!(results[0].result.is_ok() && results[1].result.is_ok() && results[2].result.is_ok());
    let d = results[3].result.as_ref().unwrap_err();
    assert_eq!((d.kind, d.attempts), (ErrorKind::Overloaded, 3));
    // A bad request is not sent again.
    assert_eq!(
        results[4].result.as_ref().unwrap_err().kind,
        ErrorKind::BadRequest
    );
    assert_eq!(count(&srv, "POST", "/v1/messages/batches"), 3);
    let second = srv
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .nth(1)
        .unwrap();
    let ids: Vec<&str> = second.body["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["custom_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["b", "c", "d"]);
}

#[tokio::test]
async fn an_openai_batch_uploads_a_file_and_reads_the_output_and_error_files() {
    let srv = MockServer::start().unwrap();
    srv.set_batch_json(json!({"processing": 0.1, "outcomes": {"y": ["invalid_request_error"]}}))
        .unwrap();
    let job = run(&openai(&srv), &["x", "y", "z"]).await;
    assert_eq!(job.info().status, Status::Ended);
    let results = job.results().unwrap();
    assert_eq!(
        results[0].result.as_ref().unwrap().text(),
        "mock reply to: question x"
    );
    assert!(results[0].result.as_ref().unwrap().request_id.is_some());
    assert_eq!(
        results[1].result.as_ref().unwrap_err().kind,
        ErrorKind::BadRequest
    );
    assert_eq!(
        results[2].result.as_ref().unwrap().text(),
        "mock reply to: question z"
    );
    assert_eq!(count(&srv, "POST", "/v1/files"), 1);
    assert_eq!(count(&srv, "POST", "/v1/batches"), 1);
    assert_eq!(count(&srv, "GET", "/content"), 2);
    let upload = srv
        .requests()
        .into_iter()
        .find(|r| r.method == "POST")
        .unwrap();
    let text = upload.body.as_str().unwrap();
    assert!(text.contains("name=\"purpose\"\r\n\r\nbatch"), "{text}");
    assert!(text.contains("\"url\":\"/v1/chat/completions\""), "{text}");
    assert_eq!(upload.header("authorization"), Some("Bearer sk-test"));
}

#[tokio::test]
async fn an_openai_batch_where_every_item_failed_completes_with_no_output_file() {
    let srv = MockServer::start().unwrap();
    srv.set_batch_json(json!({"outcomes": {
        "p": ["invalid_request_error"], "q": ["invalid_request_error"],
    }}))
    .unwrap();
    let job = run(&openai(&srv), &["p", "q"]).await;
    assert_eq!(job.info().status, Status::Ended);
    assert_eq!(job.info().counts.errored, 2);
    assert!(job.results().unwrap().iter().all(|r| r.result.is_err()));
    // Only the error file exists to be read.
    assert_eq!(count(&srv, "GET", "/content"), 1);
}

#[tokio::test]
async fn a_cancelled_batch_ends_cancelled_with_every_unfinished_item_cancelled() {
    for openai_wire in [false, true] {
        let srv = MockServer::start().unwrap();
        srv.set_batch_json(json!({"processing": 30.0})).unwrap();
        let c = if openai_wire {
            openai(&srv)
        } else {
            anthropic(&srv)
        };
        let job = BatchJob::submit(&c, requests(&["a", "b"]), SubmitOptions::default())
            .await
            .unwrap();
        job.cancel().await.unwrap();
        assert_eq!(job.info().status, Status::Cancelling);
        job.wait(fast(), |_| Ok(())).await.unwrap();
        assert_eq!(job.info().status, Status::Cancelled);
        assert_eq!(job.info().counts.cancelled, 2);
        for r in job.results().unwrap() {
            assert_eq!(r.result.unwrap_err().kind, ErrorKind::Cancelled);
        }
        assert_eq!(count(&srv, "POST", "/cancel"), 1);
    }
}

#[tokio::test]
async fn a_wait_that_times_out_says_the_job_goes_on() {
    let srv = MockServer::start().unwrap();
    srv.set_batch_json(json!({"processing": 30.0})).unwrap();
    let job = BatchJob::submit(&anthropic(&srv), requests(&["a"]), SubmitOptions::default())
        .await
        .unwrap();
    let opts = WaitOptions {
        poll_interval: Duration::from_millis(20),
        timeout: Some(Duration::from_millis(200)),
    };
    let e = job.wait(opts, |_| Ok(())).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Timeout);
    assert!(e.message.contains("still running"), "{e}");
    assert!(job
        .results()
        .unwrap_err()
        .message
        .contains("await job.wait()"));
}

#[tokio::test]
async fn duplicate_custom_ids_and_streaming_requests_are_refused_before_anything_is_sent() {
    let srv = MockServer::start().unwrap();
    let c = anthropic(&srv);
    let e = BatchJob::submit(&c, requests(&["a", "b", "a"]), SubmitOptions::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Configuration);
    assert!(e.message.contains("same custom_id \"a\""), "{e}");
    let mut streaming = requests(&["s"]);
    streaming[0]
        .request
        .extra_body
        .insert("stream".into(), json!(true));
    let e = BatchJob::submit(&c, streaming, SubmitOptions::default())
        .await
        .unwrap_err();
    assert!(e.message.contains("cannot stream"), "{e}");
    assert!(srv.requests().is_empty());
}

#[tokio::test]
async fn a_provider_without_a_batch_api_runs_the_job_as_concurrent_calls() {
    let srv = MockServer::start().unwrap();
    let c = client("openrouter/some-model", format!("{}/v1", srv.url()));
    let job = run(&c, &["a", "b", "c"]).await;
    assert_eq!(job.info().mode, Mode::Concurrent);
    assert_eq!(job.info().status, Status::Ended);
    let texts = answers(&job);
    assert_eq!(
        texts,
        [
            "mock reply to: question a",
            "mock reply to: question b",
            "mock reply to: question c"
        ]
    );
    assert_eq!(count(&srv, "POST", "/chat/completions"), 3);
}

#[tokio::test]
async fn a_job_kept_in_a_store_is_resumed_by_another_client_without_submitting_again() {
    let srv = MockServer::start().unwrap();
    srv.set_batch_json(json!({"processing": 0.3, "outcomes": {"b": ["overloaded_error"]}}))
        .unwrap();
    let (dir, path, opts) = kept_in("kept");
    let id = {
        let job = BatchJob::submit(&anthropic(&srv), requests(&["a", "b"]), opts)
            .await
            .unwrap();
        job.info().id
    };
    let job = BatchJob::resume_with(&anthropic(&srv), &id, &path).unwrap();
    assert_eq!(job.info().id, id);
    job.wait(fast(), |_| Ok(())).await.unwrap();
    let results = job.results().unwrap();
    assert_eq!(results[1].attempts, 2);
    assert_eq!(
        results[1].result.as_ref().unwrap().text(),
        "mock reply to: question b"
    );
    // The first batch once, then the retry of b once.
    assert_eq!(count(&srv, "POST", "/v1/messages/batches"), 2);

    // A finished job reads back finished, results and all.
    let again = BatchJob::resume_with(&anthropic(&srv), &id, &path).unwrap();
    assert!(again.is_finished());
    assert_eq!(
        again.results().unwrap()[0].result.as_ref().unwrap().text(),
        "mock reply to: question a"
    );

    let e = BatchJob::resume_with(&anthropic(&srv), "batchjob_nope", &path).unwrap_err();
    assert!(e.message.contains("no batch job \"batchjob_nope\""), "{e}");
    let e = BatchJob::resume_with(&openai(&srv), &id, &path).unwrap_err();
    assert!(
        e.message.contains("runs on anthropic/claude-sonnet-4-5"),
        "{e}"
    );
    let junk = dir.join("not-ours.sqlite3");
    std::fs::write(&junk, b"this is no database at all, just text".repeat(200)).unwrap();
    let e = BatchJob::resume_with(&anthropic(&srv), &id, &junk).unwrap_err();
    assert!(e.message.contains("is not an llmrail batch store"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_batch_costs_half_of_the_same_calls() {
    let srv = MockServer::start().unwrap();
    let job = run(&anthropic(&srv), &["a", "b"]).await;
    let (usage, cost) = job.usage_and_cost().unwrap();
    let real_time: f64 = job
        .results()
        .unwrap()
        .iter()
        .map(|r| r.result.as_ref().unwrap().cost_usd().unwrap())
        .sum();
    assert!(usage.output_tokens > 0);
    assert!((cost.unwrap() - real_time / 2.0).abs() < 1e-12);
}

#[tokio::test]
async fn a_batcher_sends_concurrent_callers_together_and_answers_each_its_own() {
    let srv = MockServer::start().unwrap();
    let opts = llmrail::batch::BatcherOptions {
        max_items: 2,
        max_wait: Duration::from_millis(200),
        submit: SubmitOptions::default(),
        wait: fast(),
    };
    let batcher = llmrail::batch::Batcher::new(&anthropic(&srv), opts).unwrap();
    let asks = requests(&["a", "b", "c", "d", "e"]);
    let calls = asks.into_iter().map(|r| {
        let b = batcher.clone();
        async move { b.chat(r.request).await }
    });
    let answers = futures_util::future::join_all(calls).await;
    // Two full batches at once, then the fifth when its wait ran out.
    assert_eq!(count(&srv, "POST", "/v1/messages/batches"), 3);
    for (answer, id) in answers.iter().zip(["a", "b", "c", "d", "e"]) {
        let (resp, attempts, batch_priced) = answer.as_ref().unwrap();
        assert_eq!(resp.text(), format!("mock reply to: question {id}"));
        assert_eq!((*attempts, *batch_priced), (1, true));
    }
    batcher.close().await.unwrap();
    let e = batcher
        .chat(requests(&["z"]).remove(0).request)
        .await
        .unwrap_err();
    assert!(e.message.contains("closed"), "{e}");
}

fn gemini(srv: &MockServer) -> Client {
    client("gemini/gemini-2.5-flash", srv.url())
}

#[tokio::test]
async fn a_gemini_batch_goes_inline_and_answers_in_input_order_with_each_items_own_error() {
    let srv = MockServer::start().unwrap();
    srv.set_batch_json(json!({"processing": 0.2, "outcomes": {"b": ["invalid_request_error"]}}))
        .unwrap();
    let c = gemini(&srv);
    let job = BatchJob::submit(&c, requests(&["a", "b", "c"]), SubmitOptions::default())
        .await
        .unwrap();
    let info = job.info();
    assert_eq!((info.mode, info.provider.as_str()), (Mode::Batch, "gemini"));
    assert_eq!(
        count(
            &srv,
            "POST",
            "/v1beta/models/gemini-2.5-flash:batchGenerateContent"
        ),
        1
    );
    let mut seen = Vec::new();
    job.wait(fast(), |i| {
        seen.push(i.status);
        Ok(())
    })
    .await
    .unwrap();
    assert!(seen.contains(&Status::Running), "{seen:?}");
    assert_eq!(job.info().status, Status::Ended);
    let counts = job.info().counts;
    assert_eq!(
        (counts.succeeded, counts.errored, counts.pending),
        (2, 1, 0)
    );
    let id = &job.provider_batch_ids()[0];
    assert!(count(&srv, "GET", &format!("/v1beta/batches/{id}")) >= 2);

    let results = job.results().unwrap();
    let ids: Vec<&str> = results.iter().map(|r| r.custom_id.as_str()).collect();
    assert_eq!(ids, ["a", "b", "c"]);
    assert_eq!(
        results[0].result.as_ref().unwrap().text(),
        "mock reply to: question a"
    );
    assert_eq!(
        results[2].result.as_ref().unwrap().text(),
        "mock reply to: question c"
    );
    let e = results[1].result.as_ref().unwrap_err();
    assert_eq!(e.kind, ErrorKind::BadRequest);
    assert!(e.message.contains("invalid_request_error"), "{e}");
    assert_eq!(e.attempts, 1);
}

#[tokio::test]
async fn a_gemini_item_that_was_overloaded_goes_again_in_a_new_batch() {
    let srv = MockServer::start().unwrap();
    srv.set_batch_json(json!({"outcomes": {"a": ["overloaded_error", "succeeded"]}}))
        .unwrap();
    let job = run(&gemini(&srv), &["a", "b"]).await;
    assert_eq!(job.provider_batch_ids().len(), 2);
    let results = job.results().unwrap();
    assert_eq!(
        results[0].result.as_ref().unwrap().text(),
        "mock reply to: question a"
    );
    assert_eq!((results[0].attempts, results[1].attempts), (2, 1));
    assert_eq!(count(&srv, "POST", ":batchGenerateContent"), 2);
}

#[tokio::test]
async fn a_cancelled_gemini_batch_ends_cancelled_with_every_item_cancelled() {
    let srv = MockServer::start().unwrap();
    srv.set_batch_json(json!({"processing": 30.0})).unwrap();
    let job = BatchJob::submit(
        &gemini(&srv),
        requests(&["a", "b"]),
        SubmitOptions::default(),
    )
    .await
    .unwrap();
    job.cancel().await.unwrap();
    job.wait(fast(), |_| Ok(())).await.unwrap();
    assert_eq!(job.info().status, Status::Cancelled);
    assert_eq!(job.info().counts.cancelled, 2);
    for r in job.results().unwrap() {
        assert_eq!(r.result.unwrap_err().kind, ErrorKind::Cancelled);
    }
    assert_eq!(count(&srv, "POST", ":cancel"), 1);
}

#[tokio::test]
async fn a_gemini_batch_costs_half_of_the_same_calls() {
    let srv = MockServer::start().unwrap();
    let job = run(&gemini(&srv), &["a", "b"]).await;
    let (usage, cost) = job.usage_and_cost().unwrap();
    let real_time: f64 = job
        .results()
        .unwrap()
        .iter()
        .map(|r| r.result.as_ref().unwrap().cost_usd().unwrap())
        .sum();
    assert!(usage.output_tokens > 0);
    assert!(real_time > 0.0);
    assert!((cost.unwrap() - real_time / 2.0).abs() < 1e-12);
}

#[tokio::test]
async fn extract_batch_validates_each_answer_and_re_asks_only_the_failures_in_a_follow_up_batch() {
    use llmrail::extract::{self, Schema, SchemaOnly, Spec};
    let srv = MockServer::start().unwrap();
    // First batch: a, b, c in order (b's answer breaks the schema); then b alone, fixed.
    for text in [
        r#"{"city": "Paris"}"#,
        r#"{"city": 5}"#,
        r#"{"city": "Rome"}"#,
        r#"{"city": "Lima"}"#,
    ] {
        srv.push(Reply::text(text));
    }
    let schema = json!({"type": "object", "required": ["city"],
        "properties": {"city": {"type": "string"}}});
    let spec = Spec {
        schema: Schema::compiled(&schema).unwrap(),
        name: "City".into(),
        mode: None,
        max_retries: 1,
        token_budget: None,
    };
    let reqs: Vec<ChatRequest> = requests(&["a", "b", "c"])
        .into_iter()
        .map(|r| r.request)
        .collect();
    let out = extract::batch::run(
        &gemini(&srv),
        reqs,
        &spec,
        &SchemaOnly,
        extract::batch::Rounds {
            wait: fast(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let values: Vec<serde_json::Value> = out
        .iter()
        .map(|r| r.as_ref().ok().unwrap().value.clone())
        .collect();
    assert_eq!(
        values,
        [
            json!({"city": "Paris"}),
            json!({"city": "Lima"}),
            json!({"city": "Rome"})
        ]
    );
    let attempts: Vec<usize> = out
        .iter()
        .map(|r| r.as_ref().ok().unwrap().attempts.len())
        .collect();
    assert_eq!(attempts, [1, 2, 1]);
    assert_eq!(count(&srv, "POST", ":batchGenerateContent"), 2);
    // The follow-up carried b's conversation: its question, its bad answer, the errors.
    let second = &srv
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with(":batchGenerateContent"))
        .nth(1)
        .unwrap()
        .body;
    let only = &second["batch"]["inputConfig"]["requests"]["requests"];
    assert_eq!(only.as_array().unwrap().len(), 1);
    let text = only[0]["request"]["contents"].to_string();
    assert!(
        text.contains("question b") && text.contains("not valid"),
        "{text}"
    );
    // Both attempts priced at the batch price: half of what the same answers cost as calls.
    let b = out[1].as_ref().ok().unwrap();
    let full = llmrail::model::cost_usd(&b.model, &b.usage).unwrap();
    assert!(full > 0.0);
    assert!((b.cost_usd.unwrap() - full / 2.0).abs() < 1e-12);
}

#[tokio::test]
async fn extract_batch_gives_up_after_max_retries_with_an_extraction_error_for_that_item() {
    use llmrail::extract::{self, Failure, Schema, SchemaOnly, Spec};
    let srv = MockServer::start().unwrap();
    for text in [r#"{"city": "Paris"}"#, "no JSON here", "still none"] {
        srv.push(Reply::text(text));
    }
    let spec = Spec {
        schema: Schema::compiled(&json!({"type": "object", "required": ["city"]})).unwrap(),
        name: "City".into(),
        mode: None,
        max_retries: 1,
        token_budget: None,
    };
    let reqs = requests(&["a", "b"])
        .into_iter()
        .map(|r| r.request)
        .collect();
    let out = extract::batch::run(
        &gemini(&srv),
        reqs,
        &spec,
        &SchemaOnly,
        extract::batch::Rounds {
            wait: fast(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(out[0].is_ok());
    let Err(Failure::Llm(e)) = &out[1] else {
        panic!("b should have failed")
    };
    assert_eq!((e.kind, e.attempts), (ErrorKind::Extraction, 2));
    assert_eq!(count(&srv, "POST", ":batchGenerateContent"), 2);
}

/// Rewrite the store at `path` as llmrail wrote stores before answers went to results files:
/// items in a table with a rowid, every item's place and attempts in its row (submitted ones
/// too), and each answer in its row's `result` (`in_items`) or a row of `results`.
fn make_old(path: &std::path::Path, in_items: bool) {
    let db = rusqlite::Connection::open(path).unwrap();
    let files = {
        let mut dir = path.as_os_str().to_owned();
        dir.push("-results");
        std::path::PathBuf::from(dir)
    };
    let jobs: Vec<(i64, String)> = db
        .prepare("SELECT rowid, meta FROM jobs")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    type Row = (String, i64, String, Vec<u8>, i64, String, Option<Vec<u8>>);
    let mut rows: Vec<Row> = db
        .prepare("SELECT job, idx, custom_id, body, attempts, place, result FROM items")
        .unwrap()
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    // Each item's end as its provider batch's record says, the later batch's over the earlier.
    let mut ends: std::collections::HashMap<(String, i64), serde_json::Value> = Default::default();
    let records: Vec<(String, i64, String)> = db
        .prepare("SELECT job, remote, outcomes FROM collected ORDER BY job, remote")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for (job, _, outcomes) in records {
        let outcomes: Vec<(i64, serde_json::Value)> = serde_json::from_str(&outcomes).unwrap();
        for (idx, place) in outcomes {
            ends.insert((job.clone(), idx), place);
        }
    }
    let mut old_results = Vec::new();
    for (job, idx, _, _, attempts, place, result) in &mut rows {
        if let Some(end) = ends.remove(&(job.clone(), *idx)) {
            *place = end.to_string();
        }
        let (number, meta) = jobs.iter().find(|(_, m)| m.contains(job.as_str())).unwrap();
        let meta: serde_json::Value = serde_json::from_str(meta).unwrap();
        let mut value: serde_json::Value = serde_json::from_str(place).unwrap();
        let mut sent = 0;
        for (n, remote) in meta["remotes"].as_array().unwrap().iter().enumerate() {
            if remote["items"].as_array().unwrap().contains(&json!(*idx)) {
                sent += 1;
                if remote["collected"] == json!(false) {
                    value = json!({"state": "submitted", "remote": n});
                }
            }
        }
        *attempts = (*attempts).max(sent);
        if let Some(at) = value.as_object_mut().unwrap().remove("at") {
            let number_at = |k: usize| usize::try_from(at[k].as_u64().unwrap()).unwrap();
            let (n, start, len) = (number_at(0), number_at(1), number_at(2));
            let file = std::fs::read(files.join(format!("job{number}-batch{n}"))).unwrap();
            let body = file[start..start + len].to_vec();
            if in_items {
                *result = Some(body);
            } else {
                old_results.push((job.clone(), *idx, body));
            }
        }
        *place = value.to_string();
    }
    db.execute_batch(
        "DROP TABLE collected;
         DROP TABLE items;
         CREATE TABLE items (
             job TEXT NOT NULL, idx INTEGER NOT NULL, custom_id TEXT NOT NULL,
             body BLOB NOT NULL, attempts INTEGER NOT NULL, place TEXT NOT NULL,
             result BLOB, PRIMARY KEY (job, idx));",
    )
    .unwrap();
    for (job, idx, custom_id, body, attempts, place, result) in rows {
        db.execute(
            "INSERT INTO items VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            rusqlite::params![job, idx, custom_id, body, attempts, place, result],
        )
        .unwrap();
    }
    for (job, idx, body) in old_results {
        db.execute(
            "INSERT OR REPLACE INTO results VALUES (?1, ?2, ?3)",
            rusqlite::params![job, idx, body],
        )
        .unwrap();
    }
    std::fs::remove_dir_all(&files).ok();
}

#[tokio::test]
async fn a_new_store_keeps_the_answers_in_one_results_file_and_none_in_its_tables() {
    let srv = MockServer::start().unwrap();
    let (dir, path, opts) = kept_in("files");
    let job = BatchJob::submit(&anthropic(&srv), requests(&["a", "b", "c"]), opts)
        .await
        .unwrap();
    job.wait(fast(), |_| Ok(())).await.unwrap();
    let id = job.info().id;
    drop(job);
    let files: Vec<_> = std::fs::read_dir(dir.join("jobs.sqlite3-results"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(files, ["job1-batch0"]);
    let db = rusqlite::Connection::open(&path).unwrap();
    let kept: i64 = db
        .query_row("SELECT count(*) FROM results", [], |r| r.get(0))
        .unwrap();
    assert_eq!(kept, 0);
    let again = BatchJob::resume_with(&anthropic(&srv), &id, &path).unwrap();
    let texts = answers(&again);
    assert_eq!(
        texts,
        [
            "mock reply to: question a",
            "mock reply to: question b",
            "mock reply to: question c"
        ]
    );
    // A results file that is gone is an error naming it, not answers made up.
    let aside = dir.join("aside");
    std::fs::rename(dir.join("jobs.sqlite3-results"), &aside).unwrap();
    let e = BatchJob::resume_with(&anthropic(&srv), &id, &path).unwrap_err();
    assert!(e.message.contains("cannot read its results file"), "{e}");
    std::fs::rename(&aside, dir.join("jobs.sqlite3-results")).unwrap();
    // The same job as stores written before kept it (answers in rows of `results`) reads the same.
    make_old(&path, false);
    let old = BatchJob::resume_with(&anthropic(&srv), &id, &path).unwrap();
    let old = answers(&old);
    assert_eq!(old, texts);
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn a_store_written_before_with_its_items_submitted_resumes_without_submitting_again() {
    let srv = MockServer::start().unwrap();
    srv.set_batch_json(json!({"processing": 0.3, "outcomes": {"b": ["overloaded_error"]}}))
        .unwrap();
    let (dir, path, opts) = kept_in("old-sent");
    let id = {
        let job = BatchJob::submit(&anthropic(&srv), requests(&["a", "b"]), opts)
            .await
            .unwrap();
        job.info().id
    };
    make_old(&path, false);
    let job = BatchJob::resume_with(&anthropic(&srv), &id, &path).unwrap();
    assert_eq!(job.info().counts.pending, 2);
    job.wait(fast(), |_| Ok(())).await.unwrap();
    let results = job.results().unwrap();
    assert_eq!((results[0].attempts, results[1].attempts), (1, 2));
    assert_eq!(
        results[1].result.as_ref().unwrap().text(),
        "mock reply to: question b"
    );
    assert_eq!(count(&srv, "POST", "/v1/messages/batches"), 2);
    // The old store goes on in its own layout, answers of the new kind beside the old.
    drop(job);
    let again = BatchJob::resume_with(&anthropic(&srv), &id, &path).unwrap();
    let texts = answers(&again);
    assert_eq!(
        texts,
        ["mock reply to: question a", "mock reply to: question b"]
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn a_store_that_kept_results_in_the_items_rows_still_resumes_with_its_answers() {
    // Stores written before results had a table of their own kept each answer in its item's
    // row (`items.result`); such a store is made here from a new one, and read back.
    let srv = MockServer::start().unwrap();
    let (dir, path, opts) = kept_in("old");
    let job = BatchJob::submit(&anthropic(&srv), requests(&["a", "b"]), opts)
        .await
        .unwrap();
    job.wait(fast(), |_| Ok(())).await.unwrap();
    let id = job.info().id;
    drop(job);
    make_old(&path, true);
    let again = BatchJob::resume_with(&anthropic(&srv), &id, &path).unwrap();
    assert!(again.is_finished());
    let texts = answers(&again);
    assert_eq!(
        texts,
        ["mock reply to: question a", "mock reply to: question b"]
    );
    std::fs::remove_dir_all(&dir).ok();
}
