//! The shared backend: `redis://host:port/db` (and `rediss://`), for every process and machine
//! using the server. Each step is one call of `queue.lua`, atomic on the server: items are
//! hashes, the waiting ones a sorted set by priority and order, the leased ones a sorted set by
//! lease end (a lease that runs out puts its item back: at-least-once). `?queue=NAME` picks one
//! of several queues on a server (default "default").
//!
//! Unlike the breakers' and limits' Redis (`resilience/redis.rs`), which falls back to
//! in-process state when the server is away, the queue's store IS the server: an operation that
//! cannot reach it fails with a `Connection` error, and a failed `submit` stored nothing (the
//! request is still the caller's). Times are the caller's clock (milliseconds since the epoch),
//! like the sqlite store's, so both are tested with the same steps.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::stream::{BoxStream, StreamExt};
use redis::aio::ConnectionManager;
use redis::Script;
use serde_json::Value;

use super::item::{
    Claimed, Delivery, DeliveryState, End, Ended, Item, NewItem, Settle, State, Stats, Submitted,
    Watermarks,
};

use super::store::{Settled, Store};
use crate::error::{ErrorKind, LlmError, Result};
use crate::resilience::redis::ProcessConnection;

static SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("queue.lua")));

/// A step that takes longer than this fails (the server is away or swamped).
const OP_TIMEOUT: Duration = Duration::from_secs(5);

pub struct RedisStore {
    connection: ProcessConnection,
    /// For the wake-ups' own connection (a subscribed connection takes no other commands).
    client: redis::Client,
    prefix: String,
    /// The URL without its password, for messages.
    shown: Arc<str>,
    /// This store's name in the messages its steps publish (`queue.lua`'s `sender`): its own
    /// wake-ups and completions are told to its process directly, so it skips them.
    name: Arc<str>,
}

impl RedisStore {
    pub fn open(url: &str) -> Result<Self> {
        let mut parsed = url::Url::parse(url).map_err(|e| {
            LlmError::config(format!("the queue URL is not a valid Redis URL: {e}"))
        })?;
        let name = parsed
            .query_pairs()
            .find(|(k, _)| k == "queue")
            .map_or_else(|| "default".to_string(), |(_, v)| v.into_owned());
        let rest: Vec<(String, String)> = parsed
            .query_pairs()
            .filter(|(k, _)| k != "queue")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        parsed.set_query(None);
        if !rest.is_empty() {
            parsed.query_pairs_mut().extend_pairs(rest);
        }
        let mut shown = parsed.clone();
        if shown.password().is_some() {
            let _ = shown.set_password(Some("***"));
        }
        let client = redis::Client::open(parsed.as_str()).map_err(|e| {
            LlmError::config(format!("the queue URL is not a valid Redis URL: {e}"))
        })?;
        Ok(Self {
            connection: ProcessConnection::new(client.clone()),
            client,
            prefix: format!("llmrail:{{queue:{name}}}"),
            shown: Arc::from(shown.as_str()),
            name: Arc::from(format!("{:016x}", rand::random::<u64>())),
        })
    }

    fn connection(&self) -> redis::RedisResult<ConnectionManager> {
        self.connection.get(OP_TIMEOUT)
    }

    /// One step of `queue.lua`: `args` are its name and the time, then its own; this store's
    /// name goes after the time (ARGV[3]).
    fn step<T: redis::FromRedisValue + Send + 'static>(
        &self,
        args: Vec<String>,
    ) -> BoxFuture<'static, Result<T>> {
        let con = self.connection();
        let (prefix, shown, name) = (self.prefix.clone(), self.shown.clone(), self.name.clone());
        Box::pin(async move {
            let unreachable = |e: &dyn std::fmt::Display| unreachable(&shown, e);
            let mut con = con.map_err(|e| unreachable(&e))?;
            let mut call = SCRIPT.prepare_invoke();
            call.key(prefix);
            for (i, a) in args.iter().enumerate() {
                call.arg(a.as_str());
                if i == 1 {
                    call.arg(&*name);
                }
            }
            match tokio::time::timeout(OP_TIMEOUT, call.invoke_async::<T>(&mut con)).await {
                Ok(Ok(v)) => Ok(v),
                Ok(Err(e)) => Err(unreachable(&e)),
                Err(_) => Err(unreachable(&"no answer within 5 s")),
            }
        })
    }
}

impl RedisStore {
    /// The messages on `<prefix>:<channel>` from other stores, each without its sender's name,
    /// on a connection of their own (a subscribed connection takes no other commands).
    fn others(
        &self,
        channel: &str,
    ) -> impl std::future::Future<Output = Result<BoxStream<'static, String>>> + Send + 'static
    {
        let (client, shown, name) = (self.client.clone(), self.shown.clone(), self.name.clone());
        let channel = format!("{}:{channel}", self.prefix);
        async move {
            let subscribed = async {
                let mut pubsub = client.get_async_pubsub().await?;
                pubsub.subscribe(&channel).await?;
                Ok::<_, redis::RedisError>(pubsub)
            };
            let pubsub = match tokio::time::timeout(OP_TIMEOUT, subscribed).await {
                Ok(Ok(p)) => p,
                Ok(Err(e)) => return Err(unreachable(&shown, &e)),
                Err(_) => return Err(unreachable(&shown, &"no answer within 5 s")),
            };
            let text = move |m: redis::Msg| {
                let text = String::from_utf8_lossy(m.get_payload_bytes());
                let (from, rest) = text.split_once(' ').unwrap_or(("", &text));
                std::future::ready((from != &*name).then(|| rest.to_owned()))
            };
            Ok(pubsub.into_on_message().filter_map(text).boxed())
        }
    }
}

fn unreachable(shown: &str, e: &dyn std::fmt::Display) -> LlmError {
    LlmError::new(
        ErrorKind::Connection,
        format!("the queue's Redis at {shown} is unreachable: {e}"),
    )
}

fn ms(s: &Option<String>) -> u64 {
    s.as_deref().and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// An item as `read` in `queue.lua` returns it: its fields in order (FIELDS), then its errors.
fn item(v: Vec<Option<String>>) -> Option<Item> {
    let field = |i: usize| v.get(i).cloned().flatten();
    let json = |i: usize| field(i).and_then(|t| serde_json::from_str::<Value>(&t).ok());
    let webhook = field(16).map(|id| Delivery {
        id,
        state: DeliveryState::parse(&field(17).unwrap_or_default()),
        attempts: field(18).and_then(|a| a.parse().ok()).unwrap_or(0),
        created_ms: ms(&field(19)),
        due_ms: field(20).and_then(|t| t.parse().ok()),
        settled_ms: field(21).and_then(|t| t.parse().ok()),
        last_error: field(22),
    });
    Some(Item {
        id: field(0)?,
        state: State::parse(&field(1)?).unwrap_or(State::Failed),
        target: field(2).unwrap_or_default(),
        request: json(3).unwrap_or(Value::Null),
        metadata: json(4),
        priority: field(5).and_then(|p| p.parse().ok()).unwrap_or(0),
        idempotency_key: field(6),
        attempts: field(7).and_then(|a| a.parse().ok()).unwrap_or(0),
        max_attempts: field(8).and_then(|a| a.parse().ok()).unwrap_or(1),
        created_ms: ms(&field(9)),
        updated_ms: ms(&field(10)),
        expires_ms: ms(&field(11)),
        finished_ms: field(12).and_then(|t| t.parse().ok()),
        lease_until_ms: field(13).and_then(|t| t.parse().ok()),
        result: json(14),
        callback_url: field(15),
        webhook,
        errors: field(23)
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default(),
    })
}

fn json_text(v: Option<&Value>) -> String {
    v.map(Value::to_string).unwrap_or_default()
}

impl Store for RedisStore {
    fn submit_many(
        &self,
        items: Vec<NewItem>,
        marks: Watermarks,
        now: u64,
    ) -> BoxFuture<'_, Result<Vec<Submitted>>> {
        let mut args = Vec::with_capacity(4 + items.len() * 9);
        args.extend([
            "submit".into(),
            now.to_string(),
            marks.high.to_string(),
            marks.low.to_string(),
        ]);
        for it in items {
            args.extend([
                it.id,
                it.target,
                it.request.to_string(),
                json_text(it.metadata.as_ref()),
                it.priority.to_string(),
                it.idempotency_key.unwrap_or_default(),
                it.max_attempts.to_string(),
                it.ttl_ms.to_string(),
                it.callback_url.unwrap_or_default(),
            ]);
        }
        let step = self.step::<Vec<Vec<String>>>(args);
        Box::pin(async move {
            let outcomes = step.await?.into_iter().map(|v| {
                let at = |i: usize| v.get(i).cloned().unwrap_or_default();
                match at(0).as_str() {
                    "new" => Submitted::New(at(1)),
                    "existing" => Submitted::Existing(at(1)),
                    _ => Submitted::Full {
                        depth: at(1).parse().unwrap_or(0),
                        finished_last_minute: at(2).parse().unwrap_or(0),
                    },
                }
            });
            Ok(outcomes.collect())
        })
    }

    fn settle_and_claim(
        &self,
        ended: Vec<Ended>,
        blocked: Vec<String>,
        max: usize,
        lease_ms: u64,
        now: u64,
    ) -> BoxFuture<'_, Result<Settled>> {
        let token = format!("{:016x}", rand::random::<u64>());
        let mut args = Vec::with_capacity(6 + ended.len() * 5 + blocked.len());
        args.extend([
            "settle_claim".into(),
            now.to_string(),
            lease_ms.to_string(),
            token.clone(),
            max.to_string(),
            ended.len().to_string(),
        ]);
        for e in ended {
            let (kind, payload, retry) = match e.end {
                End::Complete(result) => ("c", result, false),
                End::Fail { error, retry } => (
                    "f",
                    serde_json::to_string(&error).unwrap_or_default(),
                    retry,
                ),
                End::Release => ("r", String::new(), false),
            };
            args.extend([
                kind.into(),
                e.id,
                e.token,
                payload,
                if retry { "1" } else { "0" }.into(),
            ]);
        }
        args.extend(blocked);
        let step = self.step::<(Vec<String>, Vec<Vec<Option<String>>>)>(args);
        Box::pin(async move {
            let (after, taken) = step.await?;
            let after = after.iter().map(|s| State::parse(s).ok()).collect();
            let claimed = taken
                .into_iter()
                .filter_map(item)
                .map(|item| Claimed {
                    item,
                    token: token.clone(),
                })
                .collect();
            Ok((after, claimed))
        })
    }

    /// The queue's wake channel (`queue.lua` publishes on it when a submission or a retry
    /// queued items), on a connection of its own; this store's own steps are not told (its
    /// process woke its workers itself).
    fn wake_ups(&self) -> Option<BoxFuture<'static, Result<BoxStream<'static, ()>>>> {
        let told = self.others("wake");
        Some(Box::pin(async move { Ok(told.await?.map(|_| ()).boxed()) }))
    }

    /// The ids in each message on the queue's done channel (`queue.lua` publishes the items
    /// each step finished), but those this store's own steps finished.
    fn finished(&self) -> Option<BoxFuture<'static, Result<BoxStream<'static, Vec<String>>>>> {
        let told = self.others("done");
        Some(Box::pin(async move {
            let ids = |text: String| text.split(',').map(str::to_owned).collect::<Vec<_>>();
            Ok(told.await?.map(ids).boxed())
        }))
    }

    fn heartbeat(&self, id: String, token: String, until: u64) -> BoxFuture<'_, Result<bool>> {
        let step = self.step::<i64>(vec![
            "heartbeat".into(),
            "0".into(),
            id,
            token,
            until.to_string(),
        ]);
        Box::pin(async move { Ok(step.await? == 1) })
    }

    fn get(&self, id: String, now: u64) -> BoxFuture<'_, Result<Option<Item>>> {
        let step =
            self.step::<Option<Vec<Option<String>>>>(vec!["get".into(), now.to_string(), id]);
        Box::pin(async move { Ok(step.await?.and_then(item)) })
    }

    fn take_expired(&self, limit: u32, now: u64) -> BoxFuture<'_, Result<Vec<Item>>> {
        let step = self.step::<Vec<Vec<Option<String>>>>(vec![
            "take_expired".into(),
            now.to_string(),
            limit.to_string(),
        ]);
        Box::pin(async move { Ok(step.await?.into_iter().filter_map(item).collect()) })
    }

    fn list(&self, state: Option<State>, limit: u32, now: u64) -> BoxFuture<'_, Result<Vec<Item>>> {
        let step = self.step::<Vec<Vec<Option<String>>>>(vec![
            "list".into(),
            now.to_string(),
            state.map(|s| s.as_str().to_string()).unwrap_or_default(),
            limit.to_string(),
        ]);
        Box::pin(async move { Ok(step.await?.into_iter().filter_map(item).collect()) })
    }

    fn stats(&self, now: u64) -> BoxFuture<'_, Result<Stats>> {
        let step = self.step::<Vec<String>>(vec!["stats".into(), now.to_string()]);
        Box::pin(async move {
            let v = step.await?;
            let n = |i: usize| v.get(i).and_then(|s| s.parse::<u64>().ok());
            let mut stats = Stats::default();
            for (i, c) in stats.counts.iter_mut().enumerate() {
                *c = n(i).unwrap_or(0);
            }
            stats.oldest_queued_ms = n(5);
            stats.finished_last_minute = n(6).unwrap_or(0);
            stats.refusing = v.get(7).is_some_and(|s| s == "1");
            stats.webhooks_pending = n(8).unwrap_or(0);
            stats.webhooks_failed = n(9).unwrap_or(0);
            Ok(stats)
        })
    }

    fn retry(&self, id: String, now: u64) -> BoxFuture<'_, Result<bool>> {
        let step = self.step::<i64>(vec!["retry".into(), now.to_string(), id]);
        Box::pin(async move { Ok(step.await? == 1) })
    }

    fn claim_deliveries(
        &self,
        max: usize,
        lease_ms: u64,
        now: u64,
    ) -> BoxFuture<'_, Result<(Vec<Claimed>, Option<u64>)>> {
        let token = format!("{:016x}", rand::random::<u64>());
        let step = self.step::<(Vec<Vec<Option<String>>>, String)>(vec![
            "claim_deliveries".into(),
            now.to_string(),
            lease_ms.to_string(),
            token.clone(),
            max.to_string(),
        ]);
        Box::pin(async move {
            let (items, next) = step.await?;
            let claimed = items
                .into_iter()
                .filter_map(item)
                .map(|item| Claimed {
                    item,
                    token: token.clone(),
                })
                .collect();
            Ok((claimed, next.parse().ok()))
        })
    }

    fn settle_delivery(
        &self,
        id: String,
        token: String,
        outcome: Settle,
        now: u64,
    ) -> BoxFuture<'_, Result<bool>> {
        let (word, at, error) = match outcome {
            Settle::Delivered => ("DELIVERED", String::new(), String::new()),
            Settle::Retry { at, error } => ("retry", at.to_string(), error),
            Settle::GiveUp { error } => ("GAVE_UP", String::new(), error),
        };
        let step = self.step::<i64>(vec![
            "settle_delivery".into(),
            now.to_string(),
            id,
            token,
            word.into(),
            at,
            error,
        ]);
        Box::pin(async move { Ok(step.await? == 1) })
    }

    fn purge(&self, states: Vec<State>, now: u64) -> BoxFuture<'_, Result<u64>> {
        let mut args = vec!["purge".into(), now.to_string()];
        args.extend(states.iter().map(|s| s.as_str().to_string()));
        let step = self.step::<u64>(args);
        Box::pin(step)
    }
}
