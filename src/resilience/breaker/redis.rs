//! One breaker's state kept in Redis ([`SharedBreaker`]), so every process sharing the server
//! sees one breaker: `breaker.lua` runs the transitions of [`Machine`] on the server.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use redis::Script;

use crate::resilience::redis::Conn;

use super::{Admission, BreakerConfig, Machine, Outcome, Snapshot, Transition, PROBE_LEASE_MS};

static BREAKER: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("breaker.lua")));

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
        let args = ["admit".to_string(), PROBE_LEASE_MS.to_string()];
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
            .saturating_add(PROBE_LEASE_MS);
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
