//! The limiter's sliding log kept in Redis ([`RedisStore`]), so every process sharing the server
//! shares the limit: the same reserve, settle and tighten as [`LocalStore`](super::LocalStore),
//! each one Lua script (`window.lua` holds what `reserve.lua` and `tighten.lua` share).

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use futures_util::future::BoxFuture;
use redis::Script;

use crate::providers::quota::Quota;
use crate::resilience::clock::millis;
use crate::resilience::redis::Conn;

use super::{Decision, Limits, Store, Ticket, Unavailable};

static RESERVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        include_str!("window.lua"),
        include_str!("reserve.lua")
    ))
});
static SETTLE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("settle.lua")));
static TIGHTEN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        include_str!("window.lua"),
        include_str!("tighten.lua")
    ))
});

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
            let ms = |d: Option<Duration>| opt(d.map(millis));
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
