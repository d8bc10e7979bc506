//! Redis: rate limits and breakers shared by every process and machine using the same server.
//!
//! Each operation is one Lua script (atomic on the server, timed by the server's clock). The
//! connection is redis-rs's `ConnectionManager`: one multiplexed connection per process and URL
//! that pipelines concurrent calls and reconnects by itself. Redis is an accelerator, never a
//! dependency of a call: an operation that fails or takes longer than [`OP_TIMEOUT`] makes the
//! caller use its in-process state, with one logged warning per outage, and Redis is tried again
//! after [`RECHECK`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use redis::aio::ConnectionManager;
use redis::Script;

use crate::error::{LlmError, Result};
use crate::providers::quota::Quota;

use super::breaker::{self, Admission, BreakerConfig, Machine, Outcome, Snapshot, Transition};
use super::ratelimit::{Decision, Limits, Store, Ticket, Unavailable};

const OP_TIMEOUT: Duration = Duration::from_millis(500);
const RECHECK: Duration = Duration::from_secs(2);

static RESERVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        include_str!("lua/window.lua"),
        include_str!("lua/reserve.lua")
    ))
});
static SETTLE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/settle.lua")));
static TIGHTEN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        include_str!("lua/window.lua"),
        include_str!("lua/tighten.lua")
    ))
});
static BREAKER: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/breaker.lua")));

/// One Redis server as this process sees it.
pub struct Conn {
    client: redis::Client,
    /// The URL without its password, for log lines.
    shown: String,
    /// The connection and the pid that opened it: a forked child must not use its parent's.
    slot: Mutex<Option<(u32, ConnectionManager)>>,
    epoch: Instant,
    down_until: AtomicU64,
    down: AtomicBool,
}

static CONNS: LazyLock<Mutex<HashMap<String, Arc<Conn>>>> = LazyLock::new(Default::default);

/// The process's connection to `url` (opened lazily on first use).
pub fn connect(url: &str) -> Result<Arc<Conn>> {
    let mut conns = CONNS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(c) = conns.get(url) {
        return Ok(c.clone());
    }
    let client = redis::Client::open(url)
        .map_err(|e| LlmError::config(format!("redis_url is not a valid Redis URL: {e}")))?;
    let conn = Arc::new(Conn {
        client,
        shown: redact(url),
        slot: Mutex::new(None),
        epoch: Instant::now(),
        down_until: AtomicU64::new(0),
        down: AtomicBool::new(false),
    });
    conns.insert(url.to_string(), conn.clone());
    Ok(conn)
}

fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        Err(_) => "<redis>".to_string(),
    }
}

impl Conn {
    fn connection(&self) -> redis::RedisResult<ConnectionManager> {
        let pid = crate::runtime::pid();
        let mut slot = self.slot.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((owner, con)) = slot.as_ref() {
            if *owner == pid {
                return Ok(con.clone());
            }
        }
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(OP_TIMEOUT))
            .set_response_timeout(Some(OP_TIMEOUT))
            .set_number_of_retries(1);
        let con = ConnectionManager::new_lazy_with_config(self.client.clone(), config)?;
        *slot = Some((pid, con.clone()));
        Ok(con)
    }

    fn now_ms(&self) -> u64 {
        breaker::millis(self.epoch.elapsed())
    }

    /// Run one script; `None` when Redis is unavailable (and then for a little while).
    async fn eval<T: redis::FromRedisValue>(
        &self,
        script: &Script,
        keys: &[&str],
        args: &[String],
    ) -> Option<T> {
        if self.now_ms() < self.down_until.load(Ordering::Relaxed) {
            return None;
        }
        let result = match self.connection() {
            Ok(mut con) => {
                let mut call = script.prepare_invoke();
                for k in keys {
                    call.key(*k);
                }
                for a in args {
                    call.arg(a.as_str());
                }
                tokio::time::timeout(OP_TIMEOUT, call.invoke_async::<T>(&mut con))
                    .await
                    .unwrap_or_else(|_| {
                        Err(redis::RedisError::from((
                            redis::ErrorKind::Io,
                            "no answer in time",
                        )))
                    })
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(v) => {
                if self.down.swap(false, Ordering::Relaxed) {
                    tracing::warn!(redis = %self.shown, "Redis is reachable again; shared rate limits and breakers are back");
                }
                Some(v)
            }
            Err(e) => {
                let until = self.now_ms().saturating_add(breaker::millis(RECHECK));
                self.down_until.store(until, Ordering::Relaxed);
                if !self.down.swap(true, Ordering::Relaxed) {
                    tracing::warn!(redis = %self.shown, error = %e, "Redis is unavailable; using in-process rate limits and breakers until it is back");
                }
                None
            }
        }
    }
}

// ---- rate limits ----------------------------------------------------------------------------

/// The sliding log of `ratelimit.rs`, kept in Redis.
pub struct RedisStore {
    conn: Arc<Conn>,
}

impl RedisStore {
    pub fn new(conn: Arc<Conn>) -> Self {
        Self { conn }
    }

    fn keys(key: &str) -> [String; 2] {
        // One hash tag, so both keys land on the same Redis Cluster slot.
        [
            format!("llmrail:{{rl:{key}}}"),
            format!("llmrail:{{rl:{key}}}:n"),
        ]
    }
}

fn opt(v: Option<u64>) -> String {
    v.map_or_else(|| "-1".to_string(), |v| v.to_string())
}

impl Store for RedisStore {
    fn reserve<'a>(
        &'a self,
        key: &'a str,
        limits: Limits,
        tokens: u64,
        id: u64,
    ) -> BoxFuture<'a, Result<Decision, Unavailable>> {
        Box::pin(async move {
            let [log, totals] = Self::keys(key);
            let args = [
                limits.rpm.unwrap_or(0).to_string(),
                limits.tpm.unwrap_or(0).to_string(),
                limits.window_ms.to_string(),
                tokens.to_string(),
                id.to_string(),
            ];
            let (granted, value, reserved): (u8, u64, u64) = self
                .conn
                .eval(&RESERVE, &[&log, &totals], &args)
                .await
                .ok_or(Unavailable)?;
            Ok(if granted == 1 {
                Decision::Granted(Ticket {
                    id,
                    expiry: value,
                    tokens: reserved,
                    shared: true,
                })
            } else {
                Decision::Wait(Duration::from_millis(value))
            })
        })
    }

    fn settle<'a>(
        &'a self,
        key: &'a str,
        ticket: Ticket,
        tokens: u64,
    ) -> BoxFuture<'a, Result<(), Unavailable>> {
        Box::pin(async move {
            let [log, totals] = Self::keys(key);
            let args = [
                ticket.id.to_string(),
                ticket.tokens.to_string(),
                tokens.to_string(),
            ];
            let _: i64 = self
                .conn
                .eval(&SETTLE, &[&log, &totals], &args)
                .await
                .ok_or(Unavailable)?;
            Ok(())
        })
    }

    fn tighten<'a>(
        &'a self,
        key: &'a str,
        limits: Limits,
        quota: Quota,
    ) -> BoxFuture<'a, Result<(), Unavailable>> {
        Box::pin(async move {
            let [log, totals] = Self::keys(key);
            let ms = |d: Option<Duration>| opt(d.map(breaker::millis));
            let args = [
                limits.rpm.unwrap_or(0).to_string(),
                limits.tpm.unwrap_or(0).to_string(),
                limits.window_ms.to_string(),
                opt(quota.remaining_requests),
                ms(quota.reset_requests),
                opt(quota.remaining_tokens),
                ms(quota.reset_tokens),
                rand::random::<u64>().to_string(),
            ];
            let _: i64 = self
                .conn
                .eval(&TIGHTEN, &[&log, &totals], &args)
                .await
                .ok_or(Unavailable)?;
            Ok(())
        })
    }
}

// ---- circuit breakers -----------------------------------------------------------------------

/// One breaker's state in Redis.
pub struct SharedBreaker {
    conn: Arc<Conn>,
    key: String,
}

impl SharedBreaker {
    pub fn new(conn: Arc<Conn>, name: &str) -> Self {
        Self {
            conn,
            key: format!("llmrail:{{breaker:{name}}}"),
        }
    }

    pub async fn admit(&self, _cfg: &BreakerConfig) -> Option<Admission> {
        let args = ["admit".to_string(), breaker::PROBE_LEASE_MS.to_string()];
        let (code, ms): (u8, i64) = self.conn.eval(&BREAKER, &[&self.key], &args).await?;
        Some(match code {
            0 => Admission::Allowed,
            1 => Admission::Probe,
            _ => Admission::Rejected {
                retry_in: u64::try_from(ms).ok().map(Duration::from_millis),
            },
        })
    }

    /// What the outcome did, or `None` when Redis could not be reached.
    pub async fn record(
        &self,
        cfg: &BreakerConfig,
        outcome: Outcome,
        probe: bool,
    ) -> Option<Transition> {
        let code = match outcome {
            Outcome::Success => 0,
            Outcome::Failure => 1,
            Outcome::Ignored => 2,
        };
        let ttl = cfg
            .window_ms()
            .saturating_mul(2)
            .saturating_add(cfg.cooldown_ms())
            .saturating_add(breaker::PROBE_LEASE_MS);
        let args = [
            "record".to_string(),
            code.to_string(),
            u8::from(probe).to_string(),
            cfg.failure_threshold.to_string(),
            cfg.failure_rate.to_string(),
            cfg.min_calls.to_string(),
            cfg.window_ms().to_string(),
            cfg.cooldown_ms().to_string(),
            ttl.to_string(),
        ];
        let change: i64 = self.conn.eval(&BREAKER, &[&self.key], &args).await?;
        Some(match change {
            1 => Transition::Opened,
            2 => Transition::Closed,
            _ => Transition::Unchanged,
        })
    }

    pub async fn snapshot(&self, cfg: &BreakerConfig) -> Option<Snapshot> {
        let v: Vec<i64> = self
            .conn
            .eval(&BREAKER, &[&self.key], &["read".to_string()])
            .await?;
        let n = |i: usize| v.get(i).copied().unwrap_or(0).max(0);
        let as_u64 = |i: usize| u64::try_from(n(i)).unwrap_or(0);
        let m = Machine {
            open: n(1) == 1,
            consecutive: u32::try_from(n(2)).unwrap_or(u32::MAX),
            open_until: as_u64(3),
            probe_until: as_u64(4),
            bucket_start: as_u64(5),
            calls: n(6) as f64,
            failures: n(7) as f64,
            prev_calls: n(8) as f64,
            prev_failures: n(9) as f64,
        };
        let mut snap = m.snapshot(as_u64(0), cfg, "");
        snap.shared = true;
        Some(snap)
    }
}
