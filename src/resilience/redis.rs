//! Redis: the connection that rate limits and breakers share with every process and machine
//! using the same server.
//!
//! Each operation is one Lua script (atomic on the server, timed by the server's clock); the
//! scripts and their arguments live beside their users, the limiter's in `ratelimit/redis.rs`
//! and the breaker's in `breaker/redis.rs`. Both point down at this module, which knows neither.
//! The connection is redis-rs's `ConnectionManager`: one multiplexed connection per process and
//! URL that pipelines concurrent calls and reconnects by itself. Redis is an accelerator, never
//! a dependency of a call: an operation that fails or takes longer than [`OP_TIMEOUT`] makes the
//! caller use its in-process state, with one logged warning per outage, and Redis is tried again
//! after [`RECHECK`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::Script;

use crate::error::{LlmError, Result};

use super::clock::{millis, Clock};

const OP_TIMEOUT: Duration = Duration::from_millis(500);
const RECHECK: Duration = Duration::from_secs(2);

/// A Redis client's one connection in this process, opened lazily. A forked child (a
/// pre-forking server's worker) opens its own rather than sharing its parent's socket. The queue's
/// store (`crate::queue`) uses it too, with its own timeout.
pub struct ProcessConnection {
    client: redis::Client,
    /// The connection and the pid that opened it.
    slot: Mutex<Option<(u32, ConnectionManager)>>,
}

impl ProcessConnection {
    pub fn new(client: redis::Client) -> Self {
        Self {
            client,
            slot: Mutex::new(None),
        }
    }

    /// This process's connection; each operation on it times out after `timeout`.
    pub fn get(&self, timeout: Duration) -> redis::RedisResult<ConnectionManager> {
        let pid = crate::runtime::pid();
        let mut slot = self.slot.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((owner, con)) = slot.as_ref() {
            if *owner == pid {
                return Ok(con.clone());
            }
        }
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1);
        let con = ConnectionManager::new_lazy_with_config(self.client.clone(), config)?;
        *slot = Some((pid, con.clone()));
        Ok(con)
    }
}

/// One Redis server as this process sees it.
pub struct Conn {
    /// The URL without its password, for log lines.
    shown: String,
    connection: ProcessConnection,
    clock: Clock,
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
        shown: redact(url),
        connection: ProcessConnection::new(client),
        clock: Clock::start(),
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
        self.connection.get(OP_TIMEOUT)
    }

    /// Run one script; `None` when Redis is unavailable (and then for a little while).
    pub(crate) async fn eval<T: redis::FromRedisValue>(
        &self,
        script: &Script,
        keys: &[&str],
        args: &[String],
    ) -> Option<T> {
        if self.clock.now_ms() < self.down_until.load(Ordering::Relaxed) {
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
                let until = self.clock.now_ms().saturating_add(millis(RECHECK));
                self.down_until.store(until, Ordering::Relaxed);
                if !self.down.swap(true, Ordering::Relaxed) {
                    tracing::warn!(redis = %self.shown, error = %e, "Redis is unavailable; using in-process rate limits and breakers until it is back");
                }
                None
            }
        }
    }
}
