//! The resilience pipeline of a client: its targets (the primary model, then the fallbacks),
//! each guarded by a breaker and a rate limiter on the target's process-wide state
//! (`registry.rs`), and the walk over them that runs every call, buffered or streamed.

use std::future::Future;
use std::time::{Duration, Instant};

use super::config::{positive, ClientConfig};
use super::registry::{self, Bucket};
use super::target::{Events, Target};
use crate::cache::CachePlan;
use crate::error::{LlmError, Result};
use crate::model::{ChatRequest, ChatResponse, StreamEvent};
use crate::resilience::breaker::{Breaker, SharedBreaker, Snapshot};
use crate::resilience::ratelimit::{self, Limiter, RedisStore, Store};
use crate::resilience::redis as shared;
use crate::resilience::retry::RetryPolicy;
use crate::resilience::{
    deadline_from, fallback, run_target, Attempt, CallOptions, CallReport, Guards,
};

pub(crate) struct Pipeline {
    /// Never empty: the primary first.
    targets: Vec<(Target, Guards)>,
    retry: RetryPolicy,
    deadline: Option<Duration>,
}

impl Pipeline {
    /// Guard each target with this client's breaker and limit settings on the target's shared
    /// state: the registry is asked here, once per client, never per call.
    pub(super) fn build(
        cfg: &ClientConfig,
        primary: Target,
        fallbacks: Vec<Target>,
    ) -> Result<Self> {
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
        let store: Option<std::sync::Arc<dyn Store>> = redis
            .clone()
            .map(|c| std::sync::Arc::new(RedisStore::new(c)) as std::sync::Arc<dyn Store>);
        let targets = std::iter::once(primary)
            .chain(fallbacks)
            .map(|target| {
                let name = target.name();
                let breaker = breaker_cfg.enabled.then(|| {
                    // The base URL is part of a shared breaker's identity: two servers that
                    // serve the same model name are not the same service.
                    let shared = redis.clone().map(|c| {
                        SharedBreaker::new(c, &format!("{name}@{}", target.endpoint.base_url))
                    });
                    let local = registry::BREAKERS.get(target.id.clone());
                    Breaker::sharing(name.clone(), breaker_cfg.clone(), local, shared)
                });
                let limiter = cfg.rate_limit.as_ref().map(|rl| {
                    // Redis names a bucket by its key (default "provider/model"); in process,
                    // an unnamed bucket is the target's own.
                    let (bucket, key) = match &rl.key {
                        Some(key) => (Bucket::Named(key.clone()), key.clone()),
                        None => (Bucket::Target(target.id.clone()), name),
                    };
                    let local = registry::BUCKETS.get(bucket);
                    Limiter::sharing(rl.clone(), key, local, store.clone())
                });
                (target, Guards { breaker, limiter })
            })
            .collect();
        Ok(Self {
            targets,
            retry,
            deadline: cfg.deadline,
        })
    }

    pub(super) fn primary(&self) -> &Target {
        // `build` always puts the primary first; `targets` is never empty.
        &self.targets[0].0
    }

    /// A buffered call; `plan` is the primary target's prompt-cache plan for `req`.
    pub(super) async fn chat(
        &self,
        req: ChatRequest,
        plan: CachePlan,
        opts: CallOptions,
    ) -> Result<(ChatResponse, CallReport)> {
        let mut report = CallReport::default();
        let r = self.walk(req, plan, &opts, &mut report, Buffered).await?;
        Ok((r, report))
    }

    /// A streamed call: events go to `tx` as they come, except `Done`, which is returned with
    /// the report (so the caller can send them together); `None` if the consumer went away.
    pub(super) async fn stream(
        &self,
        req: ChatRequest,
        plan: CachePlan,
        opts: CallOptions,
        tx: &Events,
    ) -> Result<(Option<StreamEvent>, CallReport)> {
        let mut report = CallReport::default();
        let done = self
            .walk(req, plan, &opts, &mut report, Streamed(tx))
            .await?;
        Ok((done, report))
    }

    pub(super) async fn health(&self) -> Vec<Snapshot> {
        let mut out = Vec::new();
        for (_, guards) in &self.targets {
            if let Some(b) = &guards.breaker {
                out.push(b.snapshot().await);
            }
        }
        out
    }

    /// Try each target in turn, each with its retries, until one answers or a failure is final.
    async fn walk<C: Call>(
        &self,
        req: ChatRequest,
        mut primary_plan: CachePlan,
        opts: &CallOptions,
        report: &mut CallReport,
        call: C,
    ) -> Result<C::Out> {
        let policy = opts.retry.as_ref().unwrap_or(&self.retry);
        let deadline = deadline_from(self.deadline, opts.deadline);
        let primary = self.primary().provider.name();
        let mut failures: Vec<(String, LlmError)> = Vec::new();
        // Copied only for a fallback to another provider, and only once.
        let mut foreign: Option<ChatRequest> = None;
        for (i, (target, guards)) in self.targets.iter().enumerate() {
            let treq = if target.provider.name() == primary || req.extra_body.is_empty() {
                &req
            } else {
                &*foreign.get_or_insert_with(|| fallback::request_for(&req, false))
            };
            let retargeted;
            let treq = match &opts.retarget {
                Some(f) if i > 0 => {
                    retargeted = (f.0)(&target.name(), treq)?;
                    &retargeted
                }
                _ => treq,
            };
            // The prompt-cache plan is made once per target: it depends only on the request
            // and the target (its provider's rules, its model's minimum), so a target plans
            // when the walk first reaches it and every retry on it renders that same plan. The
            // primary's plan comes with the call: the client's cache tracker made it to check
            // for cache breaks, so the primary never plans twice.
            let plan = if i == 0 {
                std::mem::take(&mut primary_plan)
            } else {
                target.plan(treq)
            };
            let reserve = match guards.limiter {
                Some(_) => ratelimit::reservation_for(treq),
                None => 0,
            };
            let (call, plan) = (&call, &plan);
            let out = run_target(guards, policy, deadline, reserve, report, |left| {
                call.attempt(target, treq, plan, left)
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
            tracing::warn!(from = %target.name(), to = %self.targets[i + 1].0.name(), error = %e, "falling back");
            failures.push((target.name(), e));
        }
        Err(LlmError::config("a client has at least one model"))
    }
}

/// One attempt against a target, what [`Pipeline::walk`] repeats: buffered or streamed.
trait Call {
    type Out;
    fn attempt<'a>(
        &'a self,
        target: &'a Target,
        req: &'a ChatRequest,
        plan: &'a CachePlan,
        left: Option<Duration>,
    ) -> impl Future<Output = Attempt<Self::Out>> + Send + 'a;
}

struct Buffered;

impl Call for Buffered {
    type Out = ChatResponse;
    fn attempt<'a>(
        &'a self,
        target: &'a Target,
        req: &'a ChatRequest,
        plan: &'a CachePlan,
        left: Option<Duration>,
    ) -> impl Future<Output = Attempt<ChatResponse>> + Send + 'a {
        target.chat(req, plan, left)
    }
}

/// Events go to the stream's channel as they come.
struct Streamed<'t>(&'t Events);

impl Call for Streamed<'_> {
    type Out = Option<StreamEvent>;
    fn attempt<'a>(
        &'a self,
        target: &'a Target,
        req: &'a ChatRequest,
        plan: &'a CachePlan,
        left: Option<Duration>,
    ) -> impl Future<Output = Attempt<Option<StreamEvent>>> + Send + 'a {
        target.stream(req, plan, self.0, left)
    }
}

/// The final error, naming the earlier targets' failures so nothing is hidden.
fn with_history(mut e: LlmError, failures: &[(String, LlmError)]) -> LlmError {
    if !failures.is_empty() {
        let earlier: Vec<String> = failures
            .iter()
            .map(|(name, f)| format!("{name}: {}: {}", f.kind.name(), f.message))
            .collect();
        e.message = format!("{} (after fallback from {})", e.message, earlier.join("; "));
    }
    e
}
