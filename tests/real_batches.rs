//! Real recorded batch lifecycles (curator's cassettes, tests/data/real-batches/curator, see
//! SOURCE.md there) replayed through the batch engine: submit, wait (no waiting between
//! polls), results with each item's recorded text and usage; a resubmission of an item a
//! completed batch left out; and cancels.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use llmrail::batch::{BatchJob, BatchRequest, Status, SubmitOptions, WaitOptions};
use llmrail::model::{ChatRequest, ContentBlock, Message};
use llmrail::replay::matcher::{Field, Matcher};
use llmrail::replay::{self, Mode, Options, Session};
use llmrail::{Client, ClientConfig};
use serde_json::json;

const DIR: &str = "tests/data/real-batches/curator/tests/integrations/";

/// Replays are process-global: one test at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn session(name: &str, on: Vec<Field>) -> Arc<Session> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(DIR).join(name);
    let opts = Options {
        mode: Some(Mode::None),
        matcher: Matcher {
            on,
            ..Matcher::default()
        },
        ..Options::default()
    };
    Arc::new(Session::open(path, opts).unwrap())
}

fn client(model: &str) -> Client {
    Client::new(ClientConfig {
        model: model.into(),
        api_key: Some("sk-replay-only".into()),
        ..ClientConfig::default()
    })
    .unwrap()
}

/// Curator's three requests: "Spagetti", "Sushi", "Ramen", custom ids "0".."2".
fn foods(max_tokens: Option<u32>) -> Vec<BatchRequest> {
    ["Spagetti", "Sushi", "Ramen"]
        .iter()
        .enumerate()
        .map(|(i, food)| BatchRequest {
            custom_id: Some(i.to_string()),
            request: ChatRequest {
                messages: vec![Message::user(*food)],
                max_tokens,
                ..ChatRequest::default()
            },
        })
        .collect()
}

/// The recorded polls were minutes apart; replayed, the 30 s default interval is not waited.
fn waiting() -> WaitOptions {
    WaitOptions {
        poll_interval: Duration::from_secs(30),
        timeout: Some(Duration::from_secs(20)),
    }
}

async fn replay_job(
    cassette: Arc<Session>,
    client: &Client,
    requests: Vec<BatchRequest>,
) -> BatchJob {
    replay::activate(cassette.clone());
    let started = Instant::now();
    let job = BatchJob::submit(client, requests, SubmitOptions::default()).await;
    let job = match job {
        Ok(job) => job.wait(waiting(), |_| Ok(())).await.map(|()| job),
        Err(e) => Err(e),
    };
    replay::deactivate(&cassette);
    let job = job.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    job
}

#[tokio::test]
async fn an_anthropic_batch_replays_with_each_items_text_and_usage() {
    let _turn = ONE_AT_A_TIME.lock().await;
    // Matched on the create's body too: the batch request llmrail builds is curator's.
    let cassette = session(
        "anthropic/fixtures/basic_batch_completion.yaml",
        vec![Field::Method, Field::Uri, Field::Body],
    );
    let c = client("anthropic/claude-3-5-sonnet-20241022");
    let job = replay_job(cassette.clone(), &c, foods(Some(8192))).await;
    assert_eq!(job.info().status, Status::Ended);
    assert_eq!(
        job.provider_batch_ids(),
        ["msgbatch_01MxdL3LT4Dizo9t3j6FY9Ap"]
    );
    let results = job.results().unwrap();
    let got: Vec<(String, u64, u64)> = results
        .iter()
        .map(|r| {
            let resp = r.result.as_ref().unwrap();
            (
                resp.text(),
                resp.usage.input_tokens,
                resp.usage.output_tokens,
            )
        })
        .collect();
    assert!(
        got[0].0.starts_with("Here's a basic spaghetti recipe:"),
        "{}",
        got[0].0
    );
    assert!(got[1]
        .0
        .starts_with("Sushi is a Japanese dish featuring specially prepared vinega"));
    assert!(got[2]
        .0
        .starts_with("Ramen is a popular Japanese noodle dish that consists of Chi"));
    let usage: Vec<(u64, u64)> = got.iter().map(|g| (g.1, g.2)).collect();
    assert_eq!(usage, [(11, 273), (10, 259), (10, 313)]);
    assert_eq!(
        results[0].result.as_ref().unwrap().model,
        "claude-3-5-sonnet-20241022"
    );
    // Every recorded poll up to the one that showed it ended, then the results: all but the
    // one extra fetch of the ended batch curator made before reading its results.
    assert_eq!(cassette.played(), cassette.len() - 1);
}

#[tokio::test]
async fn an_anthropic_batch_with_thinking_replays_its_thinking_and_usage() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let cassette = session(
        "anthropic/fixtures/basic_batch_reasoning_completion.yaml",
        vec![Field::Method, Field::Uri],
    );
    let c = client("anthropic/claude-3-7-sonnet-20250219");
    let mut requests = foods(Some(16000));
    requests.truncate(2);
    for r in &mut requests {
        r.request.extra_body.insert(
            "thinking".into(),
            json!({"type": "enabled", "budget_tokens": 14000}),
        );
    }
    let job = replay_job(cassette, &c, requests).await;
    let results = job.results().unwrap();
    let usage: Vec<(u64, u64)> = results
        .iter()
        .map(|r| {
            let u = r.result.as_ref().unwrap().usage;
            (u.input_tokens, u.output_tokens)
        })
        .collect();
    assert_eq!(usage, [(179, 15820), (88, 10560)]);
    for r in &results {
        let content = &r.result.as_ref().unwrap().content;
        assert!(matches!(content[0], ContentBlock::Thinking { .. }));
        assert!(matches!(content[1], ContentBlock::Text { .. }));
    }
}

#[tokio::test]
async fn an_openai_batch_replays_through_its_file_batch_and_output_file() {
    let _turn = ONE_AT_A_TIME.lock().await;
    // The upload is multipart under a random boundary: matched on method and URI.
    let cassette = session(
        "openai/fixtures/basic_batch_completion.yaml",
        vec![Field::Method, Field::Uri],
    );
    let c = client("openai/gpt-3.5-turbo");
    let job = replay_job(cassette, &c, foods(None)).await;
    assert_eq!(job.info().status, Status::Ended);
    let results = job.results().unwrap();
    let first = results[0].result.as_ref().unwrap();
    assert!(first
        .text()
        .starts_with("Spaghetti is a type of pasta that is typically long and thin"));
    assert_eq!(
        (first.usage.input_tokens, first.usage.output_tokens),
        (10, 72)
    );
    assert_eq!(
        first.request_id.as_deref(),
        Some("ed3ad7feb8ad212a440ab12a1175798e")
    );
    assert!(results.iter().all(|r| r.result.is_ok() && r.attempts == 1));
}

#[tokio::test]
async fn an_item_a_completed_openai_batch_left_out_is_resubmitted_in_a_new_batch() {
    let _turn = ONE_AT_A_TIME.lock().await;
    // The first batch completed with 2 of 3 answers and no error file; curator sent "2" again.
    let cassette = session(
        "openai/fixtures/resubmission_batch_completion.yaml",
        vec![Field::Method, Field::Uri],
    );
    let c = client("openai/gpt-3.5-turbo");
    let job = replay_job(cassette, &c, foods(None)).await;
    let results = job.results().unwrap();
    let attempts: Vec<u32> = results.iter().map(|r| r.attempts).collect();
    assert_eq!(attempts, [1, 1, 2]);
    let ramen = results[2].result.as_ref().unwrap();
    assert!(ramen
        .text()
        .starts_with("Ramen is a Japanese noodle soup dish that features wheat noodles"));
    assert_eq!(
        (ramen.usage.input_tokens, ramen.usage.output_tokens),
        (9, 76)
    );
    assert_eq!(results[0].result.as_ref().unwrap().text(), "Spaghetti");
    assert_eq!(job.provider_batch_ids().len(), 2);
}

#[tokio::test]
async fn recorded_cancels_replay_as_cancelling() {
    let _turn = ONE_AT_A_TIME.lock().await;
    for (name, model) in [
        (
            "anthropic/fixtures/batch_cancel.yaml",
            "anthropic/claude-3-5-sonnet-20241022",
        ),
        ("openai/fixtures/batch_cancel.yaml", "openai/gpt-3.5-turbo"),
    ] {
        let cassette = session(name, vec![Field::Method, Field::Uri]);
        let c = client(model);
        let max = model.starts_with("anthropic").then_some(8192);
        replay::activate(cassette.clone());
        let outcome = async {
            let job = BatchJob::submit(&c, foods(max), SubmitOptions::default()).await?;
            job.step().await?;
            job.cancel().await?;
            Ok::<_, llmrail::LlmError>(job)
        }
        .await;
        replay::deactivate(&cassette);
        let job = outcome.unwrap();
        assert_eq!(job.info().status, Status::Cancelling, "{name}");
        assert!(
            job.results().is_err(),
            "{name}: no results before the batch has ended"
        );
    }
}
