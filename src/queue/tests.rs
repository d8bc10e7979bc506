//! The store's steps with time passed in, each test on both backends: a real sqlite file and a
//! real redis-server (started per test; skipped where redis-server is missing, except in CI).
//! The lifecycle, leases, TTL, attempts, watermarks and idempotency keys.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../tests/common/redis_server.rs"]
mod redis_server;

use futures_util::future::BoxFuture;
use serde_json::json;

use super::item::{DeliveryState, End, Ended, NewItem, Settle, Submitted, Watermarks};
use super::record::StoredError;
use super::redis::RedisStore;
use super::sqlite::SqliteStore;
use super::store::Store;
use super::*;

/// A fresh database file in the system's temp directory, removed when dropped.
struct TempDb(std::path::PathBuf);

impl TempDb {
    fn new() -> Self {
        let name = format!("llmrail-queue-{:016x}.db", rand::random::<u64>());
        Self(std::env::temp_dir().join(name))
    }
    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
    fn open(&self) -> SqliteStore {
        SqliteStore::open(self.path()).unwrap()
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        for ext in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{ext}", self.path()));
        }
    }
}

const MARKS: Watermarks = Watermarks { high: 8, low: 6 };
const T0: u64 = 1_000_000;

fn item(id: &str) -> NewItem {
    NewItem {
        id: id.into(),
        target: "openai/gpt-4o-mini".into(),
        request: json!({"messages": [{"role": "user", "content": "hi"}]}),
        metadata: Some(json!({"user": 7})),
        priority: 0,
        idempotency_key: None,
        max_attempts: 3,
        ttl_ms: 10_000,
        callback_url: None,
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn submit(s: &dyn Store, it: NewItem, now: u64) -> Submitted {
    s.submit(it, MARKS, now).await.unwrap()
}

async fn claim(s: &dyn Store, now: u64) -> Option<Claimed> {
    s.claim(Vec::new(), 1, 1000, now).await.unwrap().pop()
}

/// Run `test` on a fresh sqlite file, then on a fresh queue of a fresh redis-server.
fn on_each_store(test: impl for<'a> Fn(&'a dyn Store) -> BoxFuture<'a, ()>) {
    rt().block_on(async {
        let db = TempDb::new();
        test(&db.open()).await;
        if let Some(server) = redis_server::RedisServer::start() {
            let store = RedisStore::open(&format!("{}?queue=test", server.url())).unwrap();
            test(&store).await;
        }
    });
}

fn err(kind: ErrorKind, now: u64) -> StoredError {
    StoredError::of(
        &LlmError::new(kind, format!("{} at {now}", kind.name())),
        now,
    )
}

use super::item::Claimed;

#[test]
fn a_submitted_item_is_in_the_file_for_any_other_connection() {
    rt().block_on(async {
        let db = TempDb::new();
        let first = db.open();
        assert_eq!(
            submit(&first, item("a"), T0).await,
            Submitted::New("a".into())
        );
        let other = db.open();
        let it = other.get("a".into(), T0 + 1).await.unwrap().unwrap();
        assert_eq!((it.state, it.attempts), (State::Queued, 0));
        assert_eq!(it.metadata, Some(json!({"user": 7})));
        assert_eq!(it.expires_ms, T0 + 10_000);
    });
}

#[test]
fn the_same_idempotency_key_gives_the_first_id_and_stores_nothing() {
    on_each_store(|s| {
        Box::pin(async move {
            let keyed = |id: &str| NewItem {
                idempotency_key: Some("order-1".into()),
                ..item(id)
            };
            assert_eq!(submit(s, keyed("a"), T0).await, Submitted::New("a".into()));
            assert_eq!(
                submit(s, keyed("b"), T0).await,
                Submitted::Existing("a".into())
            );
            assert!(s.get("b".into(), T0).await.unwrap().is_none());
            assert_eq!(s.stats(T0).await.unwrap().count(State::Queued), 1);
        })
    });
}

#[test]
fn a_full_queue_refuses_until_it_drains_below_the_low_watermark() {
    on_each_store(|s| {
        Box::pin(async move {
            for i in 0..8 {
                assert!(matches!(
                    submit(s, item(&format!("i{i}")), T0).await,
                    Submitted::New(_)
                ));
            }
            assert!(matches!(
                submit(s, item("x1"), T0).await,
                Submitted::Full { depth: 8, .. }
            ));
            // Two finish: 6 left, not below the low watermark of 6, so still refused.
            for _ in 0..2 {
                let c = claim(s, T0).await.unwrap();
                assert!(s.complete(c.item.id, json!({}), T0).await.unwrap());
            }
            let refused = submit(s, item("x2"), T0).await;
            assert_eq!(
                refused,
                Submitted::Full {
                    depth: 6,
                    finished_last_minute: 2
                }
            );
            assert!(s.stats(T0).await.unwrap().refusing);
            let c = claim(s, T0).await.unwrap();
            s.complete(c.item.id, json!({}), T0).await.unwrap();
            // 5 < 6: taken again, and taken up to the high watermark (no refusal at 6 or 7).
            for id in ["y1", "y2", "y3"] {
                assert_eq!(submit(s, item(id), T0).await, Submitted::New(id.into()));
            }
            assert!(matches!(
                submit(s, item("y4"), T0).await,
                Submitted::Full { .. }
            ));
        })
    });
}

#[test]
fn a_group_of_submissions_is_stored_in_one_step_with_keys_and_watermarks_applied_in_order() {
    on_each_store(|s| {
        Box::pin(async move {
            let keyed = |id: &str| NewItem {
                idempotency_key: Some("order-1".into()),
                ..item(id)
            };
            let mut group = vec![item("a"), keyed("b"), keyed("c")];
            group.extend((0..8).map(|i| item(&format!("i{i}"))));
            let out = s.submit_many(group, MARKS, T0).await.unwrap();
            assert_eq!(out.len(), 11);
            assert_eq!(out[0], Submitted::New("a".into()));
            assert_eq!(out[1], Submitted::New("b".into()));
            // The key was taken by an earlier item of the same group.
            assert_eq!(out[2], Submitted::Existing("b".into()));
            // a, b and six more reach the high watermark of 8; the rest are refused.
            assert!(out[3..9].iter().all(|o| matches!(o, Submitted::New(_))));
            assert_eq!(
                out[9..],
                [
                    Submitted::Full {
                        depth: 8,
                        finished_last_minute: 0
                    },
                    Submitted::Full {
                        depth: 8,
                        finished_last_minute: 0
                    }
                ]
            );
            let stats = s.stats(T0).await.unwrap();
            assert_eq!((stats.count(State::Queued), stats.refusing), (8, true));
            assert!(s.get("c".into(), T0).await.unwrap().is_none());
            // Stored in the group's order: taken in that order.
            assert_eq!(claim(s, T0).await.unwrap().item.id, "a");
            assert_eq!(claim(s, T0).await.unwrap().item.id, "b");
        })
    });
}

#[test]
fn concurrent_submissions_share_store_steps_and_each_gets_its_own_stored_id() {
    let db = TempDb::new();
    let server = redis_server::RedisServer::start();
    let mut urls = vec![format!("sqlite://{}", db.path())];
    urls.extend(server.as_ref().map(|s| format!("{}?queue=group", s.url())));
    for url in urls {
        let cfg = QueueConfig {
            capacity: 10_000,
            ..QueueConfig::default()
        };
        let q = Queue::open(&url, cfg).unwrap();
        let req = ChatRequest {
            messages: vec![crate::model::Message::text(crate::model::Role::User, "hi")],
            ..ChatRequest::default()
        };
        let sub = || Submission {
            target: "openai/gpt-4o-mini".into(),
            ..Submission::default()
        };
        let ids = rt().block_on(futures_util::future::join_all(
            (0..300).map(|_| q.submit(&req, sub())),
        ));
        let ids: Vec<String> = ids.into_iter().map(Result::unwrap).collect();
        let unique: std::collections::HashSet<&String> = ids.iter().collect();
        assert_eq!(unique.len(), 300, "{url}");
        let steps = q
            .inner
            .group
            .steps
            .load(std::sync::atomic::Ordering::Relaxed);
        assert!(
            steps < 100,
            "{url}: {steps} store steps for 300 submissions"
        );
        let stats = rt().block_on(q.stats()).unwrap();
        assert_eq!(stats.count(State::Queued), 300, "{url}");
        for id in &ids {
            let it = rt().block_on(q.status(id)).unwrap();
            assert_eq!(it.state, State::Queued);
        }
    }
}

async fn woken(s: &mut futures_util::stream::BoxStream<'static, ()>) -> Option<()> {
    use futures_util::StreamExt;
    tokio::time::timeout(Duration::from_secs(5), s.next())
        .await
        .ok()
        .flatten()
}

#[test]
fn a_redis_submission_or_retry_from_another_connection_wakes_a_subscriber() {
    use futures_util::StreamExt;
    let Some(server) = redis_server::RedisServer::start() else {
        return;
    };
    rt().block_on(async {
        let url = format!("{}?queue=wake", server.url());
        let (mine, other) = (
            RedisStore::open(&url).unwrap(),
            RedisStore::open(&url).unwrap(),
        );
        let mut signals = mine.wake_ups().unwrap().await.unwrap();
        submit(&other, item("a"), T0).await;
        assert_eq!(woken(&mut signals).await, Some(()));
        // A refused submission queued nothing: no signal.
        let few = Watermarks { high: 1, low: 1 };
        let refused = other.submit(item("b"), few, T0).await.unwrap();
        assert!(matches!(refused, Submitted::Full { .. }));
        let c = claim(&other, T0).await.unwrap();
        other
            .fail(
                c.item.id,
                c.token,
                err(ErrorKind::BadRequest, T0),
                false,
                T0,
            )
            .await
            .unwrap();
        assert!(other.retry("a".into(), T0).await.unwrap());
        assert_eq!(woken(&mut signals).await, Some(()));
        let nothing = tokio::time::timeout(Duration::from_millis(100), signals.next()).await;
        assert!(nothing.is_err(), "one signal per step that queued items");
        // Its own submissions are not told back to it: its process woke its workers already.
        submit(&mine, item("c"), T0).await;
        let nothing = tokio::time::timeout(Duration::from_millis(100), signals.next()).await;
        assert!(
            nothing.is_err(),
            "a store's own submission is not a wake-up for it"
        );
        // sqlite has no one to tell.
        let db = TempDb::new();
        assert!(db.open().wake_ups().is_none());
    });
}

async fn told(
    s: &mut futures_util::stream::BoxStream<'static, Vec<String>>,
) -> Option<Vec<String>> {
    use futures_util::StreamExt;
    tokio::time::timeout(Duration::from_secs(5), s.next())
        .await
        .ok()
        .flatten()
}

#[test]
fn a_redis_step_that_finishes_items_tells_the_other_stores_which() {
    use futures_util::StreamExt;
    let Some(server) = redis_server::RedisServer::start() else {
        return;
    };
    rt().block_on(async {
        let url = format!("{}?queue=done", server.url());
        let (mine, other) = (
            RedisStore::open(&url).unwrap(),
            RedisStore::open(&url).unwrap(),
        );
        let mut finished = mine.finished().unwrap().await.unwrap();
        let mut own = other.finished().unwrap().await.unwrap();
        for id in ["a", "b", "c"] {
            submit(&other, item(id), T0).await;
        }
        // Submitting and taking finish nothing.
        let (a, b) = (
            claim(&other, T0).await.unwrap(),
            claim(&other, T0).await.unwrap(),
        );
        // One step finishing two items: one message with both.
        let ended = vec![
            Ended {
                id: a.item.id,
                token: a.token,
                end: End::Complete("{}".into()),
            },
            Ended {
                id: b.item.id,
                token: b.token,
                end: End::Fail {
                    error: err(ErrorKind::BadRequest, T0),
                    retry: false,
                },
            },
        ];
        other
            .settle_and_claim(ended, Vec::new(), 0, 1000, T0)
            .await
            .unwrap();
        assert_eq!(
            told(&mut finished).await,
            Some(vec!["a".into(), "b".into()])
        );
        // An expiry found by a read is told too.
        assert_eq!(
            other
                .get("c".into(), T0 + 10_000)
                .await
                .unwrap()
                .unwrap()
                .state,
            State::Expired
        );
        assert_eq!(told(&mut finished).await, Some(vec!["c".to_string()]));
        // The store that finished them is not told (it told its own process).
        let nothing = tokio::time::timeout(Duration::from_millis(100), own.next()).await;
        assert!(
            nothing.is_err(),
            "a store's own completions are not told back to it"
        );
        let db = TempDb::new();
        assert!(db.open().finished().is_none());
    });
}

#[test]
fn an_item_past_its_ttl_is_expired_for_status_without_a_worker_and_never_taken() {
    on_each_store(|s| {
        Box::pin(async move {
            submit(s, item("a"), T0).await;
            let before = s.get("a".into(), T0 + 9_999).await.unwrap().unwrap();
            assert_eq!(before.state, State::Queued);
            let after = s.get("a".into(), T0 + 10_000).await.unwrap().unwrap();
            assert_eq!(after.state, State::Expired);
            assert_eq!(after.finished_ms, Some(T0 + 10_000));
            assert!(claim(s, T0 + 10_001).await.is_none());
            assert_eq!(s.stats(T0 + 10_001).await.unwrap().count(State::Expired), 1);
        })
    });
}

#[test]
fn each_expiry_is_handed_over_once_whoever_finds_it_and_not_after_a_retry_or_purge() {
    on_each_store(|s| {
        Box::pin(async move {
            for id in ["a", "b", "c"] {
                submit(s, item(id), T0).await;
            }
            assert!(s.take_expired(10, T0 + 9_999).await.unwrap().is_empty());
            // A reader expires "a" first; the taker sees it (and expires the others itself).
            s.get("a".into(), T0 + 10_000).await.unwrap();
            let first = s.take_expired(2, T0 + 10_000).await.unwrap();
            assert_eq!(first.len(), 2);
            assert!(first.iter().all(|i| i.state == State::Expired));
            let rest = s.take_expired(10, T0 + 10_001).await.unwrap();
            let mut ids: Vec<String> = first.iter().chain(&rest).map(|i| i.id.clone()).collect();
            ids.sort();
            assert_eq!(ids, ["a", "b", "c"]);
            assert!(s.take_expired(10, T0 + 10_002).await.unwrap().is_empty());
            // Queued again, then expired again: a new expiry, reported anew...
            assert!(s.retry("a".into(), T0 + 20_000).await.unwrap());
            assert!(s.take_expired(10, T0 + 20_001).await.unwrap().is_empty());
            s.get("a".into(), T0 + 30_000).await.unwrap();
            let again = s.take_expired(10, T0 + 30_000).await.unwrap();
            assert_eq!(again.len(), 1);
            assert_eq!(again[0].id, "a");
            // ...unless it is purged before anyone reports it.
            submit(s, item("d"), T0 + 30_000).await;
            s.get("d".into(), T0 + 40_000).await.unwrap();
            s.purge(vec![State::Expired], T0 + 40_000).await.unwrap();
            assert!(s.take_expired(10, T0 + 40_001).await.unwrap().is_empty());
        })
    });
}

#[test]
fn two_connections_to_one_file_get_each_expiry_once_between_them() {
    rt().block_on(async {
        let db = TempDb::new();
        let (one, two) = (db.open(), db.open());
        // Eight: the high watermark.
        for i in 0..8 {
            submit(&one, item(&format!("i{i}")), T0).await;
        }
        let (a, b) = tokio::join!(
            one.take_expired(3, T0 + 10_000),
            two.take_expired(3, T0 + 10_000)
        );
        let mut seen: Vec<String> = a
            .unwrap()
            .into_iter()
            .chain(b.unwrap())
            .map(|i| i.id)
            .collect();
        seen.extend(
            one.take_expired(100, T0 + 10_001)
                .await
                .unwrap()
                .into_iter()
                .map(|i| i.id),
        );
        seen.sort();
        let all: Vec<String> = (0..8).map(|i| format!("i{i}")).collect();
        assert_eq!(seen, all);
    });
}

#[test]
fn an_item_whose_worker_died_is_taken_again_after_its_lease_and_completed_once() {
    on_each_store(|s| {
        Box::pin(async move {
            submit(s, item("a"), T0).await;
            let first = claim(s, T0).await.unwrap();
            assert_eq!(first.item.attempts, 1);
            assert!(claim(s, T0 + 999).await.is_none(), "the lease still holds");
            let second = claim(s, T0 + 1000).await.unwrap();
            assert_eq!((second.item.id.as_str(), second.item.attempts), ("a", 2));
            assert_eq!(second.item.errors.len(), 1);
            assert!(second.item.errors[0].message.contains("lease ran out"));
            assert!(!s
                .heartbeat("a".into(), first.token.clone(), T0 + 5000)
                .await
                .unwrap());
            // The slow first worker finishes first: its answer is kept, the second is ignored.
            assert!(s
                .complete("a".into(), json!({"n": 1}), T0 + 1001)
                .await
                .unwrap());
            assert!(!s
                .complete("a".into(), json!({"n": 2}), T0 + 1002)
                .await
                .unwrap());
            let it = s.get("a".into(), T0 + 1003).await.unwrap().unwrap();
            assert_eq!(
                (it.state, it.result),
                (State::Completed, Some(json!({"n": 1})))
            );
        })
    });
}

#[test]
fn a_heartbeat_keeps_the_item_from_other_workers() {
    on_each_store(|s| {
        Box::pin(async move {
            submit(s, item("a"), T0).await;
            let c = claim(s, T0).await.unwrap();
            assert!(s.heartbeat("a".into(), c.token, T0 + 1800).await.unwrap());
            assert!(claim(s, T0 + 1500).await.is_none());
            assert!(claim(s, T0 + 1800).await.is_some());
        })
    });
}

#[test]
fn after_max_attempts_an_item_fails_with_every_attempts_error_kept() {
    on_each_store(|s| {
        Box::pin(async move {
            submit(s, item("a"), T0).await;
            let mut states = Vec::new();
            for n in 0..3 {
                let c = claim(s, T0 + n).await.unwrap();
                let e = err(ErrorKind::Server, T0 + n);
                states.push(s.fail("a".into(), c.token, e, true, T0 + n).await.unwrap());
            }
            assert_eq!(
                states,
                [
                    Some(State::Queued),
                    Some(State::Queued),
                    Some(State::Failed)
                ]
            );
            let it = s.get("a".into(), T0 + 5).await.unwrap().unwrap();
            assert_eq!(
                (it.state, it.attempts, it.errors.len()),
                (State::Failed, 3, 3)
            );
            assert!(claim(s, T0 + 6).await.is_none());
        })
    });
}

#[test]
fn a_failure_a_retry_cannot_fix_fails_the_item_at_once() {
    on_each_store(|s| {
        Box::pin(async move {
            submit(s, item("a"), T0).await;
            let c = claim(s, T0).await.unwrap();
            let e = err(ErrorKind::BadRequest, T0);
            let state = s.fail("a".into(), c.token, e, false, T0).await.unwrap();
            assert_eq!(state, Some(State::Failed));
        })
    });
}

#[test]
fn a_lease_lost_on_the_last_attempt_fails_the_item() {
    on_each_store(|s| {
        Box::pin(async move {
            submit(
                s,
                NewItem {
                    max_attempts: 1,
                    ..item("a")
                },
                T0,
            )
            .await;
            claim(s, T0).await.unwrap();
            assert!(claim(s, T0 + 1000).await.is_none());
            let it = s.get("a".into(), T0 + 1001).await.unwrap().unwrap();
            assert_eq!((it.state, it.errors.len()), (State::Failed, 1));
        })
    });
}

#[test]
fn blocked_targets_are_skipped_and_higher_priorities_go_first() {
    on_each_store(|s| {
        Box::pin(async move {
            submit(s, item("low"), T0).await;
            let down = NewItem {
                target: "anthropic/claude".into(),
                priority: 9,
                ..item("down")
            };
            submit(s, down, T0).await;
            submit(
                s,
                NewItem {
                    priority: 5,
                    ..item("high")
                },
                T0,
            )
            .await;
            let blocked = vec!["anthropic/claude".to_string()];
            let order: Vec<String> = [
                s.claim(blocked.clone(), 1, 1000, T0).await.unwrap().pop(),
                s.claim(blocked.clone(), 1, 1000, T0).await.unwrap().pop(),
                s.claim(blocked, 1, 1000, T0).await.unwrap().pop(),
            ]
            .into_iter()
            .map(|c| c.map(|c| c.item.id).unwrap_or_default())
            .collect();
            assert_eq!(order, ["high", "low", ""]);
            assert_eq!(claim(s, T0).await.unwrap().item.id, "down");
        })
    });
}

#[test]
fn one_claim_takes_several_items_in_order_past_a_long_run_of_blocked_ones() {
    // 70 blocked items ahead of the rest: more than one page of the Redis script's scan.
    let marks = Watermarks {
        high: 200,
        low: 150,
    };
    on_each_store(|s| {
        Box::pin(async move {
            for n in 0..70 {
                let down = NewItem {
                    target: "anthropic/claude".into(),
                    priority: 9,
                    ..item(&format!("down{n}"))
                };
                s.submit(down, marks, T0).await.unwrap();
            }
            for (id, priority) in [("c", 1), ("a", 3), ("b", 2)] {
                let it = NewItem {
                    priority,
                    ..item(id)
                };
                s.submit(it, marks, T0).await.unwrap();
            }
            let blocked = vec!["anthropic/claude".to_string()];
            let taken = s.claim(blocked.clone(), 2, 1000, T0).await.unwrap();
            let ids: Vec<&str> = taken.iter().map(|c| c.item.id.as_str()).collect();
            assert_eq!(ids, ["a", "b"]);
            for c in &taken {
                assert_eq!((c.item.state, c.item.attempts), (State::Processing, 1));
                assert!(s
                    .heartbeat(c.item.id.clone(), c.token.clone(), T0 + 5)
                    .await
                    .unwrap());
            }
            let rest = s.claim(blocked.clone(), 10, 1000, T0).await.unwrap();
            assert_eq!(rest.len(), 1);
            assert_eq!(rest[0].item.id, "c");
            assert!(s.claim(blocked, 10, 1000, T0).await.unwrap().is_empty());
            assert_eq!(s.claim(Vec::new(), 100, 1000, T0).await.unwrap().len(), 70);
        })
    });
}

#[test]
fn stats_give_the_oldest_waiting_item_whatever_its_priority_and_the_rate() {
    on_each_store(|s| {
        Box::pin(async move {
            assert_eq!(s.stats(T0).await.unwrap().oldest_queued_ms, None);
            submit(s, item("old"), T0).await;
            let urgent = NewItem {
                priority: 9,
                ..item("urgent")
            };
            submit(s, urgent, T0 + 5).await;
            submit(s, item("new"), T0 + 7).await;
            assert_eq!(s.stats(T0 + 8).await.unwrap().oldest_queued_ms, Some(T0));
            // Taken in priority order: "urgent", then "old"; the oldest waiting is then "new".
            let a = claim(s, T0 + 8).await.unwrap();
            let b = claim(s, T0 + 8).await.unwrap();
            assert_eq!((a.item.id.as_str(), b.item.id.as_str()), ("urgent", "old"));
            let stats = s.stats(T0 + 9).await.unwrap();
            assert_eq!(stats.oldest_queued_ms, Some(T0 + 7));
            assert_eq!(stats.count(State::Processing), 2);
            assert!(s
                .complete("old".into(), json!({"ok": 1}), T0 + 10)
                .await
                .unwrap());
            let stats = s.stats(T0 + 11).await.unwrap();
            assert_eq!(
                (stats.count(State::Completed), stats.finished_last_minute),
                (1, 1)
            );
            assert_eq!(s.stats(T0 + 70_000).await.unwrap().finished_last_minute, 0);
        })
    });
}

#[test]
fn a_released_item_keeps_its_attempts() {
    on_each_store(|s| {
        Box::pin(async move {
            submit(s, item("a"), T0).await;
            let c = claim(s, T0).await.unwrap();
            assert!(s.release("a".into(), c.token, T0).await.unwrap());
            let it = s.get("a".into(), T0).await.unwrap().unwrap();
            assert_eq!((it.state, it.attempts), (State::Queued, 0));
        })
    });
}

#[test]
fn retry_queues_a_failed_item_again_and_purge_removes_finished_ones() {
    on_each_store(|s| {
        Box::pin(async move {
            submit(s, item("a"), T0).await;
            submit(s, item("b"), T0).await;
            let c = claim(s, T0).await.unwrap();
            s.fail(
                "a".into(),
                c.token,
                err(ErrorKind::BadRequest, T0),
                false,
                T0,
            )
            .await
            .unwrap();
            assert!(!s.retry("b".into(), T0).await.unwrap(), "b is not finished");
            assert!(s.retry("a".into(), T0 + 20_000).await.unwrap());
            let it = s.get("a".into(), T0 + 20_001).await.unwrap().unwrap();
            assert_eq!(
                (it.state, it.attempts, it.errors.len()),
                (State::Queued, 0, 1)
            );
            assert_eq!(it.expires_ms, T0 + 30_000);
            // b expired meanwhile; purging finished states removes it alone.
            let gone = s
                .purge(
                    vec![State::Completed, State::Failed, State::Expired],
                    T0 + 20_002,
                )
                .await
                .unwrap();
            assert_eq!(gone, 1);
            let left = s.list(None, 10, T0 + 20_002).await.unwrap();
            assert_eq!(left.len(), 1);
        })
    });
}

#[test]
fn watermarks_are_whole_items_of_the_capacity() {
    let cfg = QueueConfig {
        capacity: 10,
        ..QueueConfig::default()
    };
    assert_eq!(cfg.watermarks(), Watermarks { high: 8, low: 6 });
    let tiny = QueueConfig {
        capacity: 1,
        ..QueueConfig::default()
    };
    assert_eq!(tiny.watermarks(), Watermarks { high: 1, low: 1 });
    let bad = QueueConfig {
        low_watermark: 0.9,
        ..QueueConfig::default()
    };
    assert!(bad.validate().is_err());
}

#[test]
fn a_memory_queue_needs_no_file_and_an_unknown_url_is_refused() {
    assert!(Queue::open("memory://", QueueConfig::default()).is_ok());
    let e = Queue::open("postgres://u:secret@h/db", QueueConfig::default()).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Configuration);
    assert!(!e.message.contains("secret"));
}

#[test]
fn a_result_waiter_leaves_no_registration_behind_once_it_stops_waiting() {
    let q = Queue::open("memory://", QueueConfig::default()).unwrap();
    rt().block_on(async {
        let req = ChatRequest {
            messages: vec![crate::model::Message::text(crate::model::Role::User, "hi")],
            ..ChatRequest::default()
        };
        let sub = || Submission {
            target: "openai/gpt-4o-mini".into(),
            ..Submission::default()
        };
        let (a, b) = (
            q.submit(&req, sub()).await.unwrap(),
            q.submit(&req, sub()).await.unwrap(),
        );
        // A wait that runs out, and one dropped mid-way (a cancelled caller), unregister.
        let e = q
            .result(&a, Some(Duration::from_millis(20)))
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Timeout);
        let dropped = tokio::time::timeout(Duration::from_millis(20), q.result(&b, None)).await;
        assert!(dropped.is_err());
        assert!(q.waiters().is_empty());
        // Two waiters on one item share its registration until the last one goes.
        let (wa, wb) = (Waiting::new(&q, &a), Waiting::new(&q, &a));
        drop(wa);
        assert_eq!(q.waiters().len(), 1);
        drop(wb);
        assert!(q.waiters().is_empty());
    });
}

fn with_callback(id: &str) -> NewItem {
    NewItem {
        callback_url: Some("http://127.0.0.1:9/hook".into()),
        ..item(id)
    }
}

async fn deliveries(s: &dyn Store, max: usize, now: u64) -> (Vec<Claimed>, Option<u64>) {
    s.claim_deliveries(max, 30_000, now).await.unwrap()
}

#[test]
fn finishing_an_item_with_a_callback_records_its_webhook_in_the_same_step() {
    on_each_store(|s| {
        Box::pin(async move {
            submit(s, with_callback("a"), T0).await;
            submit(s, item("plain"), T0).await;
            assert_eq!(deliveries(s, 10, T0).await.1, None, "nothing has finished");
            let c = claim(s, T0).await.unwrap();
            assert!(s
                .complete(c.item.id, json!({"n": 1}), T0 + 5)
                .await
                .unwrap());
            let plain = claim(s, T0 + 6).await.unwrap();
            assert!(s.complete(plain.item.id, json!({}), T0 + 6).await.unwrap());
            let it = s.get("a".into(), T0 + 7).await.unwrap().unwrap();
            let w = it.webhook.unwrap();
            assert_eq!(w.id, format!("whd_a_{}", T0 + 5));
            assert_eq!(
                (w.state, w.attempts, w.due_ms),
                (DeliveryState::Pending, 0, Some(T0 + 5))
            );
            assert!(s
                .get("plain".into(), T0 + 7)
                .await
                .unwrap()
                .unwrap()
                .webhook
                .is_none());
            let stats = s.stats(T0 + 7).await.unwrap();
            assert_eq!((stats.webhooks_pending, stats.webhooks_failed), (1, 0));
        })
    });
}

#[test]
fn a_delivery_is_leased_to_one_sender_and_taken_again_with_its_id_when_the_sender_dies() {
    on_each_store(|s| {
        Box::pin(async move {
            submit(s, with_callback("a"), T0).await;
            let c = claim(s, T0).await.unwrap();
            assert!(s.complete(c.item.id, json!({"n": 1}), T0).await.unwrap());
            let (mut first, _) = deliveries(s, 10, T0 + 1).await;
            let first = first.pop().unwrap();
            let w = first.item.webhook.clone().unwrap();
            assert_eq!((w.attempts, first.item.state), (1, State::Completed));
            // Another process finds it leased until T0 + 1 + 30 s.
            let (none, next) = deliveries(s, 10, T0 + 2).await;
            assert!(none.is_empty());
            assert_eq!(next, Some(T0 + 30_001));
            // The sender died: after its lease, the same delivery (same id) goes to another.
            let (mut again, _) = deliveries(s, 10, T0 + 30_001).await;
            let again = again.pop().unwrap();
            let w2 = again.item.webhook.clone().unwrap();
            assert_eq!((w2.id, w2.attempts), (w.id, 2));
            // The dead sender's token records nothing; the live one's does.
            assert!(!s
                .settle_delivery("a".into(), first.token, Settle::Delivered, T0 + 30_002)
                .await
                .unwrap());
            assert!(s
                .settle_delivery("a".into(), again.token, Settle::Delivered, T0 + 30_002)
                .await
                .unwrap());
            let done = s
                .get("a".into(), T0 + 30_003)
                .await
                .unwrap()
                .unwrap()
                .webhook
                .unwrap();
            assert_eq!(
                (done.state, done.settled_ms, done.due_ms),
                (DeliveryState::Delivered, Some(T0 + 30_002), None)
            );
            let (none, next) = deliveries(s, 10, T0 + 90_000).await;
            assert!(none.is_empty() && next.is_none());
            assert_eq!(s.stats(T0 + 30_003).await.unwrap().webhooks_pending, 0);
        })
    });
}

#[test]
fn a_failed_delivery_waits_for_its_retry_time_and_one_given_up_is_counted() {
    on_each_store(|s| {
        Box::pin(async move {
            submit(s, with_callback("a"), T0).await;
            // Failed and expired items have their webhook too.
            let c = claim(s, T0).await.unwrap();
            s.fail(
                "a".into(),
                c.token,
                err(ErrorKind::BadRequest, T0),
                false,
                T0,
            )
            .await
            .unwrap();
            submit(s, with_callback("late"), T0).await;
            let (taken, _) = deliveries(s, 10, T0 + 20_000).await;
            let ids: Vec<_> = taken.iter().map(|c| c.item.id.as_str()).collect();
            assert_eq!(ids, ["a", "late"], "due first, first");
            assert_eq!(taken[1].item.state, State::Expired);
            let [a, late] = <[Claimed; 2]>::try_from(taken).unwrap();
            let retry = Settle::Retry {
                at: T0 + 21_000,
                error: "ConnectionError: refused".into(),
            };
            assert!(s
                .settle_delivery("a".into(), a.token, retry, T0 + 20_001)
                .await
                .unwrap());
            let give_up = Settle::GiveUp {
                error: "ServerError: 500".into(),
            };
            assert!(s
                .settle_delivery("late".into(), late.token, give_up, T0 + 20_001)
                .await
                .unwrap());
            let (none, next) = deliveries(s, 10, T0 + 20_999).await;
            assert!(none.is_empty());
            assert_eq!(next, Some(T0 + 21_000));
            let w = s
                .get("a".into(), T0 + 20_999)
                .await
                .unwrap()
                .unwrap()
                .webhook
                .unwrap();
            assert_eq!(w.last_error.as_deref(), Some("ConnectionError: refused"));
            let gave_up = s
                .get("late".into(), T0 + 20_999)
                .await
                .unwrap()
                .unwrap()
                .webhook
                .unwrap();
            assert_eq!(gave_up.state, DeliveryState::GaveUp);
            let stats = s.stats(T0 + 20_999).await.unwrap();
            assert_eq!((stats.webhooks_pending, stats.webhooks_failed), (1, 1));
            assert_eq!(deliveries(s, 10, T0 + 21_000).await.0.len(), 1);
            // Queued again, an item's old news is dropped; purged, so is the given-up count.
            assert!(s.retry("a".into(), T0 + 21_001).await.unwrap());
            assert!(s
                .get("a".into(), T0 + 21_001)
                .await
                .unwrap()
                .unwrap()
                .webhook
                .is_none());
            s.purge(vec![State::Expired], T0 + 21_002).await.unwrap();
            let stats = s.stats(T0 + 21_002).await.unwrap();
            assert_eq!((stats.webhooks_pending, stats.webhooks_failed), (0, 0));
        })
    });
}

#[test]
fn one_worker_step_stores_what_ended_and_takes_the_next_items() {
    on_each_store(|s| {
        Box::pin(async move {
            for id in ["a", "b", "c", "d"] {
                submit(s, item(id), T0).await;
            }
            let taken = s.claim(Vec::new(), 3, 1000, T0).await.unwrap();
            let token = taken[0].token.clone();
            let ids: Vec<&str> = taken.iter().map(|c| c.item.id.as_str()).collect();
            assert_eq!(ids, ["a", "b", "c"]);
            let ended = vec![
                Ended {
                    id: "a".into(),
                    token: token.clone(),
                    end: End::Complete("{\"ok\":1}".into()),
                },
                Ended {
                    id: "b".into(),
                    token: token.clone(),
                    end: End::Fail {
                        error: err(ErrorKind::BadRequest, T0 + 1),
                        retry: false,
                    },
                },
                Ended {
                    id: "c".into(),
                    token: token.clone(),
                    end: End::Release,
                },
                // Not this worker's lease: ignored.
                Ended {
                    id: "d".into(),
                    token: "someone else".into(),
                    end: End::Release,
                },
            ];
            let (after, next) = s
                .settle_and_claim(ended, Vec::new(), 2, 1000, T0 + 1)
                .await
                .unwrap();
            assert_eq!(
                after,
                [
                    Some(State::Completed),
                    Some(State::Failed),
                    Some(State::Queued),
                    None
                ]
            );
            // The released item keeps its place (and its attempt back), ahead of d.
            let ids: Vec<(&str, u32)> = next
                .iter()
                .map(|c| (c.item.id.as_str(), c.item.attempts))
                .collect();
            assert_eq!(ids, [("c", 1), ("d", 1)]);
            let a = s.get("a".into(), T0 + 1).await.unwrap().unwrap();
            assert_eq!(a.result, Some(json!({"ok": 1})));
            // A second completion of a finished item is ignored, in the same kind of step.
            let again = vec![Ended {
                id: "a".into(),
                token,
                end: End::Complete("{\"ok\":2}".into()),
            }];
            let (after, none) = s
                .settle_and_claim(again, Vec::new(), 5, 1000, T0 + 2)
                .await
                .unwrap();
            assert_eq!((after, none.len()), (vec![None], 0));
            let a = s.get("a".into(), T0 + 2).await.unwrap().unwrap();
            assert_eq!(a.result, Some(json!({"ok": 1})));
        })
    });
}

#[test]
fn answers_handed_to_readers_are_taken_once_bounded_and_forgotten_by_purge() {
    let mut kept = HandedAnswers::default();
    for n in 0..HANDED_KEPT + 10 {
        kept.put(&format!("q{n}"), Handed::Stored(json!(n)));
    }
    assert!(kept.by_id.len() <= HANDED_KEPT && kept.order.len() <= HANDED_KEPT);
    assert!(kept.take("q0").is_none(), "the oldest were pushed out");
    let last = format!("q{}", HANDED_KEPT + 9);
    assert!(matches!(kept.take(&last), Some(Handed::Stored(v)) if v == json!(HANDED_KEPT + 9)));
    assert!(
        kept.take(&last).is_none(),
        "taken once; the next reader reads the store"
    );
    kept.clear();
    assert!(kept.by_id.is_empty() && kept.order.is_empty());
}

#[tokio::test]
async fn a_traced_workers_item_reaches_the_sink_with_its_traceparent_call_and_outcome() {
    let srv = crate::mock::MockServer::start().unwrap();
    srv.push_json(json!({"text": "Paris."})).unwrap();
    let client = Client::new(crate::client::ClientConfig {
        model: "openai/gpt-4.1-mini".into(),
        base_url: Some(format!("{}/v1", srv.url())),
        api_key: Some("sk-test".into()),
        ..Default::default()
    })
    .unwrap();
    let q = Queue::open("memory://", QueueConfig::default()).unwrap();
    let seen: Arc<Mutex<Vec<ItemSpan>>> = Arc::default();
    let kept = seen.clone();
    q.trace_items(Arc::new(move |span| kept.lock().unwrap().push(span)));
    q.use_client("openai/gpt-4.1-mini", client);
    let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let req = ChatRequest {
        messages: vec![crate::model::Message::user("Capital of France?")],
        ..ChatRequest::default()
    };
    let sub = Submission {
        target: "openai/gpt-4.1-mini".into(),
        traceparent: Some(parent.into()),
        ..Submission::default()
    };
    let id = q.submit(&req, sub).await.unwrap();
    let _workers = q.spawn_workers(1).unwrap();
    q.result(&id, Some(Duration::from_secs(10))).await.unwrap();
    // The span is handed over once the outcome is stored, just after the answer is.
    for _ in 0..200 {
        if !seen.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let spans = seen.lock().unwrap().clone();
    let [span] = spans.as_slice() else {
        panic!("one item span, not {spans:?}")
    };
    assert_eq!(span.traceparent.as_deref(), Some(parent));
    assert_eq!((span.id.as_str(), span.attempt), (id.as_str(), 1));
    assert_eq!((span.outcome, span.error), ("completed", None));
    let call = span.call.as_ref().unwrap();
    assert_eq!((call.operation, call.attempts.len()), ("chat", 1));
    assert_eq!(call.attempts[0].status, Some(200));
}
