//! Per-key spending budgets: `budget: {usd: 10.0, period: day | month | total}` on a gateway
//! key. Before a call the key's spend in the current period is checked; after it the call's
//! `cost_usd` (the catalogue's prices applied to its usage) is added.
//!
//! - Periods are calendar periods in UTC: a `day` budget starts again at midnight UTC, a
//!   `month` budget on the 1st; `total` never does.
//! - Over a `day` or `month` budget a call is refused with `429` and a `Retry-After` until the
//!   period ends; over a `total` budget with `403` (waiting will not help). The OpenAI body's
//!   `type` and `code` are `insufficient_quota`, as OpenAI's own for a spent account.
//! - The check comes before the call and the charge after it, so calls already in flight when
//!   the budget is reached still finish, and the spend can pass the budget by their cost.
//! - A model the catalogue has no price for costs nothing here.
//! - Spend is counted in micro-dollars, in this process, or in Redis (`redis_url`) so every
//!   gateway naming the same Redis shares the key's spend; a Redis outage falls back to the
//!   in-process count (as the shared limits do), and a restart without Redis starts it anew.

use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::Script;

use crate::error::{ErrorKind, LlmError, Result};
use crate::resilience::redis::Conn;

/// When a budget starts again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Day,
    Month,
    Total,
}

impl Period {
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "day" => Ok(Self::Day),
            "month" => Ok(Self::Month),
            "total" => Ok(Self::Total),
            _ => Err(LlmError::config(format!(
                "period must be \"day\", \"month\" or \"total\", got {s:?}"
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Day => "day",
            Self::Month => "month",
            Self::Total => "total",
        }
    }
}

/// A key's budget as the config gives it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BudgetConfig {
    pub usd: f64,
    pub period: Period,
}

/// The period `secs` (since the Unix epoch) falls in: its name and how long until it ends.
fn period_at(period: Period, secs: u64) -> (String, Option<Duration>) {
    let days = secs / 86_400;
    let (y, m, d) = civil(days);
    match period {
        Period::Day => (
            format!("{y:04}-{m:02}-{d:02}"),
            Some(Duration::from_secs((days + 1) * 86_400 - secs)),
        ),
        Period::Month => {
            let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            let next = days_from_civil(ny, nm, 1) * 86_400;
            (
                format!("{y:04}-{m:02}"),
                Some(Duration::from_secs(next.saturating_sub(secs))),
            )
        }
        Period::Total => ("total".to_string(), None),
    }
}

/// Year, month, day of `days` since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

/// Days since 1970-01-01 of a date (`days_from_civil`); dates from 1970 on.
fn days_from_civil(y: u64, m: u64, d: u64) -> u64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe).saturating_sub(719_468)
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// Micro-dollars: integer sums, so many small charges add up exactly (and Redis's INCRBY
/// takes them).
fn micro(usd: f64) -> u64 {
    // Finite and non-negative: checked at load (the limit) and by the caller (a cost).
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let m = (usd * 1e6).round().max(0.0) as u64;
    m
}

/// Adds to a period's spend and gives the new total; the key lives a day past its period.
static CHARGE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "local v = redis.call('INCRBY', KEYS[1], ARGV[1]) \
         if tonumber(ARGV[2]) > 0 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end \
         return v",
    )
});
static SPENT: LazyLock<Script> =
    LazyLock::new(|| Script::new("return tonumber(redis.call('GET', KEYS[1]) or '0')"));

/// One key's budget and its spend.
pub struct Budget {
    cfg: BudgetConfig,
    name: String,
    /// The period counted in this process, and its spend in micro-dollars.
    local: Mutex<(String, u64)>,
    shared: Option<Arc<Conn>>,
}

impl std::fmt::Debug for Budget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Budget")
            .field("name", &self.name)
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl Budget {
    pub fn new(cfg: BudgetConfig, name: &str, shared: Option<Arc<Conn>>) -> Arc<Self> {
        Arc::new(Self {
            cfg,
            name: name.to_string(),
            local: Mutex::new((String::new(), 0)),
            shared,
        })
    }

    fn redis_key(&self, period: &str) -> String {
        format!("llmrail:{{budget:{}}}:{period}", self.name)
    }

    /// This process's count for `period` (a new period starts at 0).
    fn local(&self, period: &str, add: u64) -> u64 {
        let mut l = self.local.lock().unwrap_or_else(PoisonError::into_inner);
        if l.0 != period {
            *l = (period.to_string(), 0);
        }
        l.1 = l.1.saturating_add(add);
        l.1
    }

    /// The spend so far in the current period, in USD.
    pub async fn spent(&self) -> f64 {
        let (period, _) = period_at(self.cfg.period, now_secs());
        let m = match &self.shared {
            Some(c) => match c
                .eval::<u64>(&SPENT, &[&self.redis_key(&period)], &[])
                .await
            {
                Some(v) => v,
                None => self.local(&period, 0),
            },
            None => self.local(&period, 0),
        };
        m as f64 / 1e6
    }

    /// Refused once the period's spend has reached the budget.
    pub async fn check(&self) -> Result<()> {
        let spent = self.spent().await;
        if spent < self.cfg.usd {
            return Ok(());
        }
        let (period, left) = period_at(self.cfg.period, now_secs());
        let (kind, when) = match left {
            Some(_) => (
                ErrorKind::RateLimit,
                format!("; it starts again after {period} (UTC)"),
            ),
            None => (ErrorKind::PermissionDenied, String::new()),
        };
        let mut e = LlmError::new(
            kind,
            format!(
                "the key {:?} has spent its {} budget of ${:.2} (${spent:.4} spent){when}",
                self.name,
                self.cfg.period.as_str(),
                self.cfg.usd,
            ),
        );
        e.retry_after = left;
        Err(e)
    }

    /// Add a call's cost to the current period's spend.
    pub async fn charge(&self, usd: f64) {
        if !usd.is_finite() || usd <= 0.0 {
            return;
        }
        let add = micro(usd);
        let (period, left) = period_at(self.cfg.period, now_secs());
        if let Some(c) = &self.shared {
            // Kept a day past its period's end, for whoever looks; `total` for good.
            let ttl = left.map_or(0, |d| d.as_secs() + 86_400);
            let args = [add.to_string(), ttl.to_string()];
            let key = self.redis_key(&period);
            if c.eval::<u64>(&CHARGE, &[&key], &args).await.is_some() {
                return;
            }
        }
        self.local(&period, add);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn periods_are_utc_calendar_days_and_months() {
        // 2026-12-06T22:10:00Z
        let t = 1_796_595_000;
        let (day, left) = period_at(Period::Day, t);
        assert_eq!(day, "2026-12-06");
        assert_eq!(left, Some(Duration::from_secs(110 * 60)));
        let (month, left) = period_at(Period::Month, t);
        assert_eq!(month, "2026-12");
        // 110 minutes and 25 days (the 7th to the 31st) to 2027-01-01.
        assert_eq!(left, Some(Duration::from_secs(25 * 86_400 + 110 * 60)));
        assert_eq!(period_at(Period::Total, t), ("total".to_string(), None));
        assert_eq!(civil(days_from_civil(2024, 2, 29)), (2024, 2, 29));
        assert_eq!(civil(0), (1970, 1, 1));
    }

    #[tokio::test]
    async fn a_key_over_its_budget_is_refused_until_the_period_ends() {
        let b = Budget::new(
            BudgetConfig {
                usd: 0.01,
                period: Period::Day,
            },
            "team-a",
            None,
        );
        b.check().await.unwrap();
        b.charge(0.004).await;
        b.charge(0.004).await;
        b.check().await.unwrap();
        b.charge(0.004).await;
        let e = b.check().await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::RateLimit);
        assert!(e.retry_after.unwrap() <= Duration::from_secs(86_400));
        assert!(e.message.contains("team-a") && e.message.contains("day budget of $0.01"));
        assert!((b.spent().await - 0.012).abs() < 1e-9);
    }

    #[tokio::test]
    async fn a_spent_total_budget_is_a_permission_error_without_a_wait() {
        let b = Budget::new(
            BudgetConfig {
                usd: 1.0,
                period: Period::Total,
            },
            "once",
            None,
        );
        b.charge(1.0).await;
        let e = b.check().await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::PermissionDenied);
        assert_eq!(e.retry_after, None);
    }

    #[test]
    fn unknown_periods_are_refused() {
        assert!(Period::parse("week").is_err());
        assert_eq!(Period::parse("month").unwrap(), Period::Month);
    }
}
