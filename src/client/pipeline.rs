//! The resilience pipeline of a client: its targets (the primary model, then the fallbacks),
//! each guarded by a breaker and a rate limiter on the target's process-wide state
//! (`registry.rs`), and the walk over them that runs every call, buffered or streamed.

use std::future::Future;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::config::{positive, ClientConfig};
use super::registry::{self, Bucket};
use super::target::{Events, Target};
use crate::cache::CachePlan;
use crate::error::{ErrorKind, LlmError, Result};
use crate::model::{ChatRequest, ChatResponse, StreamEvent, Usage};
use crate::resilience::breaker::{Breaker, SharedBreaker, Snapshot, State};
use crate::resilience::fallback::Retarget;
use crate::resilience::ratelimit::{self, Limiter, RedisStore, Store};
use crate::resilience::redis as shared;
use crate::resilience::retry::RetryPolicy;
use crate::resilience::{
    deadline_from, fallback, run_target, Attempt, CallOptions, CallReport, Guards,
};
use crate::telemetry::{self, CallEnd, Recorder};

pub(crate) struct Pipeline {
    /// Never empty: the primary first.
    pub(super) targets: Vec<(Target, Guards)>,
    pub(super) retry: RetryPolicy,
    pub(super) deadline: Option<Duration>,
    /// The counters of each target and this client's totals (`client.stats()`).
    pub(super) telemetry: Recorder,
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
            .collect::<Vec<(Target, Guards)>>();
        let telemetry = Recorder::new(
            targets
                .iter()
                .map(|(t, _)| (t.provider.name(), t.endpoint.model.as_str())),
        );
        Ok(Self {
            targets,
            retry,
            deadline: cfg.deadline,
            telemetry,
        })
    }

    pub(super) fn primary(&self) -> &Target {
        // `build` always puts the primary first; `targets` is never empty.
        &self.targets[0].0
    }

    /// A buffered call; `plan` is the primary target's prompt-cache plan for `req`. The report
    /// comes back even when the call fails (a trace shows a failed call's attempts too).
    pub(super) async fn chat_reported(
        &self,
        req: ChatRequest,
        plan: CachePlan,
        opts: CallOptions,
    ) -> (Result<ChatResponse>, CallReport) {
        self.run(req, plan, &opts, Buffered).await
    }

    /// A streamed call: events go to `tx` as they come, except `Done`, which is returned with
    /// the report (so the caller can send them together); `None` if the consumer went away.
    pub(super) async fn stream(
        &self,
        req: ChatRequest,
        plan: CachePlan,
        opts: CallOptions,
        tx: &Events,
    ) -> (Result<Option<StreamEvent>>, CallReport) {
        self.run(req, plan, &opts, Streamed(tx)).await
    }

    /// This client's totals since it was built or last reset.
    pub(super) fn stats(&self) -> &telemetry::ClientStats {
        self.telemetry.stats()
    }

    /// One call, start to end, recorded by the telemetry (counters, this client's totals).
    async fn run<C: Call>(
        &self,
        req: ChatRequest,
        plan: CachePlan,
        opts: &CallOptions,
        call: C,
    ) -> (Result<C::Out>, CallReport)
    where
        C::Out: Answered,
    {
        let walk = async {
            let mut report = CallReport::recording(opts.record);
            let out = self.walk(req, plan, opts, &mut report, call).await;
            let target = self.target_of(&out, &report);
            Finished(out, report, target)
        };
        let Finished(out, report, _) = self
            .telemetry
            .observe(std::pin::pin!(walk), Finished::end)
            .await;
        (out, report)
    }

    /// Which target answered (by the report) or failed last (by the error's provider and
    /// model; the primary when the error names none, as a breaker's refusal may not).
    pub(super) fn target_of<T>(&self, out: &Result<T>, report: &CallReport) -> usize {
        match out {
            Ok(_) => report.fallback.map_or(0, |f| f.saturating_add(1)),
            Err(e) => self
                .targets
                .iter()
                .rposition(|(t, _)| {
                    e.provider.as_deref() == Some(t.provider.name())
                        && e.model.as_deref() == Some(t.endpoint.model.as_str())
                })
                .unwrap_or(0),
        }
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
        primary_plan: CachePlan,
        opts: &CallOptions,
        report: &mut CallReport,
        call: C,
    ) -> Result<C::Out> {
        let chat = ChatTargets {
            req: &req,
            primary: self.primary().provider.name(),
            primary_plan,
            retarget: opts.retarget.as_ref(),
            foreign: OnceLock::new(),
            call,
        };
        self.over_targets(opts, report, chat).await
    }

    /// The walk of every call, chat or image: each target in turn, each inside its retries,
    /// rate limit, breaker and the call's deadline, until one answers or a failure is final (the
    /// last target, a failure no fallback helps, a stream that delivered, the deadline past).
    pub(super) async fn over_targets<A: PerTarget>(
        &self,
        opts: &CallOptions,
        report: &mut CallReport,
        mut per_target: A,
    ) -> Result<A::Out> {
        let policy = opts.retry.as_ref().unwrap_or(&self.retry);
        let deadline = deadline_from(self.deadline, opts.deadline);
        let mut failures: Vec<(String, LlmError)> = Vec::new();
        for (i, (target, guards)) in self.targets.iter().enumerate() {
            let (shared, reserve) = per_target.prepare(i, target, guards.limiter.is_some())?;
            let (each, shared) = (&per_target, &shared);
            let logged = report.logged();
            let out = run_target(guards, policy, deadline, reserve, report, |left| {
                each.attempt(target, shared, left)
            })
            .await;
            report.stamp(logged, i.checked_sub(1), &target.info);
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

/// What a walk over the targets does at each: make what the target's attempts share when the
/// walk reaches it, then attempt (once per retry).
pub(super) trait PerTarget {
    type Out;
    type Shared: Send + Sync;
    /// What target `i`'s attempts share, and the tokens its rate limiter reserves for each
    /// (`limited`: the target has a rate limiter).
    fn prepare(&mut self, i: usize, target: &Target, limited: bool) -> Result<(Self::Shared, u64)>;
    fn attempt<'a>(
        &'a self,
        target: &'a Target,
        shared: &'a Self::Shared,
        left: Option<Duration>,
    ) -> impl Future<Output = Attempt<Self::Out>> + Send + 'a;
}

/// A chat's walk: the primary's request, copied for a fallback to another provider (once), or
/// rendered again for a fallback by a prompt template.
struct ChatTargets<'r, C> {
    req: &'r ChatRequest,
    primary: &'static str,
    /// The primary's prompt-cache plan, made with the call (see `prepare`).
    primary_plan: CachePlan,
    retarget: Option<&'r Retarget>,
    foreign: OnceLock<ChatRequest>,
    call: C,
}

/// One target's request, when it is not the primary's, and its prompt-cache plan.
struct ChatShared {
    foreign: bool,
    retargeted: Option<ChatRequest>,
    plan: CachePlan,
}

impl<C> ChatTargets<'_, C> {
    fn request<'a>(&'a self, shared: &'a ChatShared) -> &'a ChatRequest {
        match (&shared.retargeted, self.foreign.get()) {
            (Some(r), _) => r,
            (None, Some(f)) if shared.foreign => f,
            (None, _) => self.req,
        }
    }
}

impl<C: Call> PerTarget for ChatTargets<'_, C> {
    type Out = C::Out;
    type Shared = ChatShared;

    fn prepare(&mut self, i: usize, target: &Target, limited: bool) -> Result<(ChatShared, u64)> {
        let foreign = target.provider.name() != self.primary && !self.req.extra_body.is_empty();
        // Copied only for a fallback to another provider, and only once.
        let base = match foreign {
            true => self
                .foreign
                .get_or_init(|| fallback::request_for(self.req, false)),
            false => self.req,
        };
        let retargeted = match self.retarget {
            Some(f) if i > 0 => Some((f.0)(&target.name(), base)?),
            _ => None,
        };
        let treq = retargeted.as_ref().unwrap_or(base);
        // The prompt-cache plan is made once per target: it depends only on the request and
        // the target (its provider's rules, its model's minimum), so a target plans when the
        // walk first reaches it and every retry on it renders that same plan. The primary's
        // plan comes with the call: the client's cache tracker made it to check for cache
        // breaks, so the primary never plans twice.
        let plan = if i == 0 {
            std::mem::take(&mut self.primary_plan)
        } else {
            target.plan(treq)
        };
        let reserve = if limited {
            ratelimit::reservation_for(treq)
        } else {
            0
        };
        let shared = ChatShared {
            foreign,
            retargeted,
            plan,
        };
        Ok((shared, reserve))
    }

    fn attempt<'a>(
        &'a self,
        target: &'a Target,
        shared: &'a ChatShared,
        left: Option<Duration>,
    ) -> impl Future<Output = Attempt<C::Out>> + Send + 'a {
        self.call
            .attempt(target, self.request(shared), &shared.plan, left)
    }
}

/// A call's result, its report and the index of the target that answered or failed last.
pub(super) struct Finished<T>(pub Result<T>, pub CallReport, pub usize);

impl<T: Answered> Finished<T> {
    pub(super) fn end(&self) -> CallEnd<'_> {
        let Finished(out, report, target) = self;
        let (outcome, usage, cost_usd) = match out {
            Ok(answer) => match answer.usage() {
                Some(usage) => (Ok(()), Some(usage), answer.cost_usd()),
                // The stream's consumer went away before its end.
                None => (Err(ErrorKind::Cancelled), None, None),
            },
            Err(e) => (Err(e.kind), None, None),
        };
        CallEnd {
            target: *target,
            outcome,
            http_status: out.as_ref().err().and_then(|e| e.status),
            usage,
            cost_usd,
            attempts: report.attempts,
            retry_wait: report.retry_wait,
            rate_limit_wait: report.rate_limit_wait,
        }
    }
}

/// What the telemetry reads of an answer.
pub(super) trait Answered {
    /// `None`: there was no answer (a stream whose consumer went away).
    fn usage(&self) -> Option<&Usage>;
    fn cost_usd(&self) -> Option<f64>;
}

impl Answered for ChatResponse {
    fn usage(&self) -> Option<&Usage> {
        Some(&self.usage)
    }
    fn cost_usd(&self) -> Option<f64> {
        ChatResponse::cost_usd(self)
    }
}

impl Answered for Option<StreamEvent> {
    fn usage(&self) -> Option<&Usage> {
        match self {
            Some(StreamEvent::Done { usage, .. }) => Some(usage),
            _ => None,
        }
    }
    fn cost_usd(&self) -> Option<f64> {
        self.as_ref().and_then(StreamEvent::cost_usd)
    }
}

/// The breakers' states for a scrape, as `llmrail_circuit_breaker_state{provider,model}`.
impl telemetry::Source for Pipeline {
    fn samples(&self) -> telemetry::Samples<'_> {
        Box::pin(async move {
            let mut out = Vec::new();
            for (target, guards) in &self.targets {
                if let Some(b) = &guards.breaker {
                    let value = match b.snapshot().await.state {
                        State::Closed => 0.0,
                        State::HalfOpen => 1.0,
                        State::Open => 2.0,
                    };
                    out.push(telemetry::Sample {
                        family: &BREAKER_STATE,
                        labels: vec![
                            ("provider", target.provider.name().to_string()),
                            ("model", target.endpoint.model.clone()),
                        ],
                        value,
                    });
                }
            }
            out
        })
    }
}

static BREAKER_STATE: telemetry::Family = telemetry::Family {
    name: "llmrail_circuit_breaker_state",
    help: "Circuit breaker state per provider and model: 0 closed, 1 half-open, 2 open.",
    kind: "gauge",
};

/// One attempt against a target, what [`Pipeline::walk`] repeats: buffered or streamed.
trait Call: Sync {
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
pub(super) fn with_history(mut e: LlmError, failures: &[(String, LlmError)]) -> LlmError {
    if !failures.is_empty() {
        let earlier: Vec<String> = failures
            .iter()
            .map(|(name, f)| format!("{name}: {}: {}", f.kind.name(), f.message))
            .collect();
        e.message = format!("{} (after fallback from {})", e.message, earlier.join("; "));
    }
    e
}
