//! The resilience pipeline of a client: its targets (the primary model, then the fallbacks),
//! each guarded by a breaker and a rate limiter, and the loop that walks them.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::{ClientConfig, Inner};
use crate::error::{LlmError, Result};
use crate::model::{ChatRequest, ChatResponse, StreamEvent};
use crate::resilience::breaker::{Breaker, Snapshot};
use crate::resilience::ratelimit::{self, Limiter, Store};
use crate::resilience::redis::{self as shared, RedisStore, SharedBreaker};
use crate::resilience::retry::RetryPolicy;
use crate::resilience::{
    deadline_from, fallback, run_target, Attempt, CallOptions, CallReport, Guards,
};
use crate::transport;

pub(crate) struct Pipeline {
    targets: Vec<(Arc<Inner>, Guards)>,
    retry: RetryPolicy,
    deadline: Option<Duration>,
}

impl Pipeline {
    pub(crate) fn build(cfg: &ClientConfig, targets: Vec<Arc<Inner>>) -> Result<Self> {
        let retry = cfg.retry.clone().unwrap_or_default();
        retry.validate()?;
        positive("deadline", cfg.deadline)?;
        positive("connect_timeout", cfg.connect_timeout)?;
        let breaker_cfg = cfg.circuit_breaker.clone().unwrap_or_default();
        breaker_cfg.validate()?;
        if let Some(rl) = &cfg.rate_limit {
            rl.validate()?;
        }
        let redis = cfg.redis_url.as_deref().map(shared::connect).transpose()?;
        let store: Option<Arc<dyn Store>> = redis
            .clone()
            .map(|c| Arc::new(RedisStore::new(c)) as Arc<dyn Store>);
        // Targets naming the same bucket share one limiter (and so one local fallback log).
        let mut limiters: HashMap<String, Arc<Limiter>> = HashMap::new();
        let guards = targets
            .into_iter()
            .map(|inner| {
                let name = inner.name();
                let breaker = breaker_cfg.enabled.then(|| {
                    // The base URL is part of a shared breaker's identity: two servers that
                    // serve the same model name are not the same service.
                    let shared = redis.clone().map(|c| {
                        SharedBreaker::new(c, &format!("{name}@{}", inner.endpoint.base_url))
                    });
                    Breaker::new(name.clone(), breaker_cfg.clone(), shared)
                });
                let limiter = cfg.rate_limit.as_ref().map(|rl| {
                    let key = rl.key.clone().unwrap_or_else(|| name.clone());
                    limiters
                        .entry(key.clone())
                        .or_insert_with(|| Limiter::new(rl.clone(), key, store.clone()))
                        .clone()
                });
                (inner, Guards { breaker, limiter })
            })
            .collect();
        Ok(Self {
            targets: guards,
            retry,
            deadline: cfg.deadline,
        })
    }

    pub(crate) async fn chat(
        &self,
        req: ChatRequest,
        opts: CallOptions,
    ) -> Result<(ChatResponse, CallReport)> {
        let mut report = CallReport::default();
        let r = self
            .walk(req, &opts, &mut report, |inner, req, left| async move {
                inner.chat(&req, left).await
            })
            .await?;
        Ok((r, report))
    }

    /// Events go to `tx` as they come, except `Done`, which is returned with the report (so
    /// the caller can complete it); `None` if the consumer went away.
    pub(crate) async fn stream(
        &self,
        req: ChatRequest,
        opts: CallOptions,
        tx: &mpsc::Sender<Result<StreamEvent>>,
    ) -> Result<(Option<StreamEvent>, CallReport)> {
        let mut report = CallReport::default();
        let done = self
            .walk(req, &opts, &mut report, |inner, req, left| {
                let tx = tx.clone();
                async move { inner.pump(&req, &tx, left).await }
            })
            .await?;
        Ok((done, report))
    }

    pub(crate) async fn health(&self) -> Vec<Snapshot> {
        let mut out = Vec::new();
        for (_, guards) in &self.targets {
            if let Some(b) = &guards.breaker {
                out.push(b.snapshot().await);
            }
        }
        out
    }

    /// Try each target in turn, each with its retries, until one answers or a failure is final.
    async fn walk<T, F, Fut>(
        &self,
        req: ChatRequest,
        opts: &CallOptions,
        report: &mut CallReport,
        mut attempt: F,
    ) -> Result<T>
    where
        F: FnMut(Arc<Inner>, Arc<ChatRequest>, Option<Duration>) -> Fut,
        Fut: Future<Output = Attempt<T>>,
    {
        let policy = opts.retry.as_ref().unwrap_or(&self.retry);
        let deadline = deadline_from(self.deadline, opts.deadline);
        let primary = self.targets.first().map(|(inner, _)| inner.provider.name());
        let mut failures: Vec<(String, LlmError)> = Vec::new();
        let req = Arc::new(req);
        // Copied only for a fallback to another provider, and only once.
        let mut foreign: Option<Arc<ChatRequest>> = None;
        for (i, (inner, guards)) in self.targets.iter().enumerate() {
            let treq = if Some(inner.provider.name()) == primary || req.extra_body.is_empty() {
                req.clone()
            } else {
                foreign
                    .get_or_insert_with(|| Arc::new(fallback::request_for(&req, false)))
                    .clone()
            };
            let reserve = match guards.limiter {
                Some(_) => ratelimit::reservation_for(&treq),
                None => 0,
            };
            let out = run_target(guards, policy, deadline, reserve, report, |left| {
                attempt(inner.clone(), treq.clone(), left)
            })
            .await;
            let e = match out {
                Ok(v) => {
                    report.fallback = i.checked_sub(1);
                    return Ok(v);
                }
                Err(e) => e,
            };
            let out_of_time = deadline.is_some_and(|d| Instant::now() >= d);
            let last = i + 1 == self.targets.len();
            if last || report.delivered || !fallback::eligible(&e) || out_of_time {
                return Err(with_history(e, &failures));
            }
            tracing::warn!(from = %inner.name(), to = %self.targets[i + 1].0.name(), error = %e, "falling back");
            failures.push((inner.name(), e));
        }
        Err(LlmError::config("a client has at least one model"))
    }
}

/// The final error, naming the earlier targets' failures so nothing is hidden.
fn with_history(mut e: LlmError, failures: &[(String, LlmError)]) -> LlmError {
    if !failures.is_empty() {
        let earlier: Vec<String> = failures
            .iter()
            .map(|(name, f)| format!("{name}: {}: {}", f.kind.class_name(), f.message))
            .collect();
        e.message = format!("{} (after fallback from {})", e.message, earlier.join("; "));
    }
    e
}

pub(super) fn transport_settings(cfg: &ClientConfig) -> Result<transport::Settings> {
    let defaults = transport::Settings::default();
    let limit = |name: &str, value: Option<usize>, default: usize| match value {
        Some(0) => Err(LlmError::config(format!(
            "{name} must be a positive number of bytes, got 0"
        ))),
        v => Ok(v.unwrap_or(default)),
    };
    Ok(transport::Settings {
        connect_timeout: cfg.connect_timeout.unwrap_or(defaults.connect_timeout),
        max_response_bytes: limit(
            "max_response_bytes",
            cfg.max_response_bytes,
            defaults.max_response_bytes,
        )?,
        max_event_bytes: limit(
            "max_event_bytes",
            cfg.max_event_bytes,
            defaults.max_event_bytes,
        )?,
    })
}

fn positive(name: &str, d: Option<Duration>) -> Result<()> {
    if d.is_some_and(|d| d.is_zero()) {
        return Err(LlmError::config(format!(
            "{name} must be greater than zero"
        )));
    }
    Ok(())
}
