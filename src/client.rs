//! The facade: a [`Client`] resolves "provider/model" (and each fallback) to a target once,
//! then runs each call through its pipeline on the shared runtime.
//!
//! - `config.rs`: what a user hands over ([`ClientConfig`]) and the checks of it;
//! - `target.rs`: one target: resolve, one buffered attempt, one streamed attempt;
//! - `pipeline.rs`: the walk over the targets (primary, then fallbacks) inside the resilience
//!   layers (retry, rate limit, circuit breaker, deadline);
//! - `capabilities.rs`: what a client's model can do, from the catalogue;
//! - `images.rs`: image generation through the same pipeline (a call may name its model);
//! - `chat_stream.rs`: the caller-facing [`ChatStream`] and the task that feeds it;
//! - `register.rs`: `register_provider`, a caller's own service under a name, checked;
//! - `registry.rs`: the process-wide state per target (breakers, rate-limit buckets, what the
//!   prompt cache holds) that every client of the process shares.

mod capabilities;
mod chat_stream;
mod config;
mod images;
mod pipeline;
mod register;
pub(crate) mod registry;
mod target;
#[cfg(test)]
mod tests;

pub use capabilities::Capabilities;
pub use chat_stream::ChatStream;
pub use config::{ClientConfig, DEFAULT_TIMEOUT};
pub use register::{register_provider, ProviderSpec};

use std::sync::Arc;

use http::HeaderMap;

use crate::cache::{CacheStats, Tracker};
use crate::error::Result;
use crate::model::{ChatRequest, ChatResponse};
use crate::resilience::breaker::Snapshot;
use crate::resilience::fallback::FallbackConfig;
use crate::resilience::{CallOptions, CallReport};
use crate::runtime;
use crate::telemetry::Stats;
use pipeline::Pipeline;
pub(crate) use target::Target;

#[derive(Clone)]
pub struct Client {
    pipe: Arc<Pipeline>,
    /// The pipelines of image calls that name a model of their own (`images.rs`).
    images: Arc<images::Pipelines>,
    /// The client's caching policy and cache totals, and its primary target's cache memory.
    cache: Arc<Tracker>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("provider", &self.provider())
            .field("model", &self.model())
            .field("base_url", &self.base_url())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Build a client, reading keys and base URLs from the environment where not given.
    pub fn new(cfg: ClientConfig) -> Result<Self> {
        Self::with_env(cfg, |name| {
            std::env::var(name).ok().filter(|v| !v.is_empty())
        })
    }

    /// As [`Client::new`], with the environment given as a lookup function (for tests).
    pub fn with_env(cfg: ClientConfig, env: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let cfg = cfg.model_from_env(&env)?;
        let (pipe, memory) = build_pipeline(&cfg, &env)?;
        let pipe = Arc::new(pipe);
        // Its breakers' states are shown at each scrape while the client lives.
        let source: std::sync::Weak<Pipeline> = Arc::downgrade(&pipe);
        crate::telemetry::add_source(source);
        Ok(Self {
            images: Arc::new(images::Pipelines::new(&cfg, pipe.clone())),
            pipe,
            cache: Arc::new(Tracker::sharing(cfg.prompt_cache, memory)),
        })
    }

    pub fn provider(&self) -> &'static str {
        self.pipe.primary().provider.name()
    }

    pub fn model(&self) -> &str {
        &self.pipe.primary().endpoint.model
    }

    /// The primary target's provider, model and server, as a trace names them.
    pub fn target_info(&self) -> &crate::resilience::TargetInfo {
        &self.pipe.primary().info
    }

    /// Where calls go, as it may be shown: userinfo and secret query values (`key=`, `sig=`)
    /// redacted.
    pub fn base_url(&self) -> String {
        crate::replay::scrub::url(&self.pipe.primary().endpoint.base_url).into_owned()
    }

    /// One chat call with the client's policy. Runs on the shared runtime; dropping the future
    /// cancels the request.
    pub async fn chat(&self, req: ChatRequest) -> Result<ChatResponse> {
        Ok(self.chat_with(req, CallOptions::default()).await?.0)
    }

    /// One chat call with per-call overrides; also says how it went (attempts, waits, which
    /// fallback answered).
    pub async fn chat_with(
        &self,
        req: ChatRequest,
        opts: CallOptions,
    ) -> Result<(ChatResponse, CallReport)> {
        let (out, report) = self.chat_reported(req, opts).await;
        Ok((out?, report))
    }

    /// As [`Client::chat_with`], the report coming back with a failure too (a trace shows
    /// a failed call's attempts); `opts.record` keeps one record per attempt in it.
    pub async fn chat_reported(
        &self,
        req: ChatRequest,
        opts: CallOptions,
    ) -> (Result<ChatResponse>, CallReport) {
        let (req, plan) = self.cache.plan(req, self.provider(), self.model());
        let pipe = self.pipe.clone();
        let ran = runtime::run(async move { Ok(pipe.chat_reported(req, plan, opts).await) });
        let (out, report) = match ran.await {
            Ok(out) => out,
            Err(e) => (Err(e), CallReport::default()),
        };
        if let Ok(r) = &out {
            self.cache.record(&r.usage);
        }
        (out, report)
    }

    /// Cache totals over this client's calls so far, and so its cache hit rate.
    pub fn cache_stats(&self) -> CacheStats {
        self.cache.stats()
    }

    /// This client's totals (calls, errors by kind, tokens, cost, latency quantiles) since it
    /// was built or last reset; with `reset`, counting starts again in the same moment.
    pub fn stats(&self, reset: bool) -> Stats {
        self.pipe.stats().read(reset)
    }

    /// Start a streamed call; events arrive through the returned [`ChatStream`].
    pub fn stream(&self, req: ChatRequest) -> Result<ChatStream> {
        self.stream_with(req, CallOptions::default())
    }

    /// As [`Client::stream`], with per-call overrides. A stream is retried (or falls back) only
    /// while it has delivered nothing.
    pub fn stream_with(&self, req: ChatRequest, opts: CallOptions) -> Result<ChatStream> {
        let (req, plan) = self.cache.plan(req, self.provider(), self.model());
        ChatStream::start(self.pipe.clone(), req, plan, opts, self.cache.clone())
    }

    /// The primary target, for the batch engine (`crate::batch`): its provider, endpoint and
    /// the one-shot sends of a batch's lifecycle.
    pub(crate) fn primary(&self) -> &Target {
        self.pipe.primary()
    }

    /// The body and headers of `req` as the primary target would send it, its prompt-cache
    /// breakpoints planned as for any call (a provider batch carries each request's body, and
    /// what its API needs of the headers).
    pub(crate) fn batch_body(&self, req: ChatRequest) -> Result<(bytes::Bytes, http::HeaderMap)> {
        let (req, plan) = self.cache.plan(req, self.provider(), self.model());
        self.pipe.primary().body(&req, &plan)
    }

    /// What the primary model can do, from the provider and the model catalogue.
    pub fn capabilities(&self) -> Capabilities {
        Capabilities::of_target(self.provider(), self.model())
    }

    /// Test the key and the connection with one cheap authenticated request (listing the
    /// models): its latency, or the typed error (an `Authentication` one for a refused key).
    pub async fn check(&self) -> Result<std::time::Duration> {
        let pipe = self.pipe.clone();
        runtime::run(async move { pipe.primary().check().await }).await
    }

    /// The state of each target's circuit breaker (primary first), as this client's settings
    /// judge it.
    pub async fn health(&self) -> Result<Vec<Snapshot>> {
        let pipe = self.pipe.clone();
        runtime::run(async move { Ok(pipe.health().await) }).await
    }
}

/// The targets of `cfg` (its model, then its fallbacks) resolved and guarded, and the primary
/// target's prompt-cache memory.
fn build_pipeline(
    cfg: &ClientConfig,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<(Pipeline, Arc<crate::cache::CacheMemory>)> {
    let timeout = cfg.attempt_timeout()?;
    let extra_headers = cfg.extra_headers()?;
    let settings = cfg.transport_settings()?;
    let primary = FallbackConfig {
        model: cfg.model.clone(),
        api_key: cfg.api_key.clone(),
        base_url: cfg.base_url.clone(),
    };
    cfg.check_api_version()?;
    let api_version = cfg.api_version.as_deref();
    let primary = Target::resolve(
        &primary,
        api_version,
        &extra_headers,
        timeout,
        settings,
        env,
    )?;
    let fallbacks = cfg
        .fallbacks
        .iter()
        // The caller's extra headers are for the primary's server; fallbacks get none. An
        // Azure fallback gets the client's API version: one is set per client, like a key.
        .map(|fb| Target::resolve(fb, api_version, &HeaderMap::new(), timeout, settings, env))
        .collect::<Result<Vec<_>>>()?;
    let memory = registry::CACHES.get(primary.id.clone());
    Ok((Pipeline::build(cfg, primary, fallbacks)?, memory))
}
