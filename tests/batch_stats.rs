//! The batch jobs' numbers for metrics: jobs by status and items by state, of this process
//! (`process_stats`) and of a store (`Store::stats`, `Store::jobs`), against the mock server.
//! A test binary of its own: the process's numbers count every job of the process.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use llmrail::batch::{
    process_stats, BatchJob, BatchRequest, Counts, Stats, Status, Store, SubmitOptions, WaitOptions,
};
use llmrail::mock::MockServer;
use llmrail::model::{ChatRequest, Message};
use llmrail::{Client, ClientConfig};
use serde_json::json;

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

#[tokio::test]
async fn jobs_are_counted_by_status_and_items_by_state_in_the_process_and_in_the_store() {
    let srv = MockServer::start().unwrap();
    let dir = std::env::temp_dir().join(format!("llmrail-batch-stats-{}", std::process::id()));
    let path = dir.join("jobs.sqlite3");
    let client = Client::new(ClientConfig {
        model: "anthropic/claude-sonnet-4-5".into(),
        api_key: Some("sk-test".into()),
        base_url: Some(srv.url()),
        ..ClientConfig::default()
    })
    .unwrap();
    let opts = SubmitOptions {
        store: Some(path.clone()),
        concurrency: None,
    };
    assert_eq!(process_stats(), Stats::default());

    srv.set_batch_json(json!({"outcomes": {"c": ["invalid_request_error"]}}))
        .unwrap();
    let ended = BatchJob::submit(&client, requests(&["a", "b", "c"]), opts.clone())
        .await
        .unwrap();
    let fast = WaitOptions {
        poll_interval: Duration::from_millis(20),
        timeout: Some(Duration::from_secs(20)),
    };
    ended.wait(fast, |_| Ok(())).await.unwrap();
    srv.set_batch_json(json!({"processing": 30.0})).unwrap();
    let running = BatchJob::submit(&client, requests(&["d", "e"]), opts)
        .await
        .unwrap();

    let stats = process_stats();
    assert_eq!((stats.jobs.ended, stats.jobs.running), (1, 1));
    assert_eq!(stats.jobs.iter().map(|(_, n)| n).sum::<u64>(), 2);
    assert_eq!(stats.jobs.get(Status::Ended), 1);
    let items = Counts {
        pending: 2,
        succeeded: 2,
        errored: 1,
        ..Counts::default()
    };
    assert_eq!(stats.items, items);
    assert_eq!(stats.provider_batches, 2);

    // Another process reading the store sees the same numbers, and each job as its getters do.
    let store = Store::open(&path).unwrap();
    assert_eq!(store.stats().unwrap(), stats);
    let jobs = store.jobs().unwrap();
    assert_eq!(jobs.len(), 2);
    assert_eq!(jobs[0].info, ended.info());
    assert_eq!(jobs[1].info, running.info());
    assert_eq!(jobs[1].provider_batch_ids, running.provider_batch_ids());

    // A dropped job leaves the process's numbers; the store keeps it.
    drop(ended);
    let after = process_stats();
    assert_eq!((after.jobs.ended, after.jobs.running), (0, 1));
    assert_eq!(after.items.pending, 2);
    assert_eq!(store.stats().unwrap().jobs.ended, 1);
    drop((running, store));
    // Best effort: the suite's temporary files are not what this test is about.
    let _ = std::fs::remove_dir_all(&dir);
}
