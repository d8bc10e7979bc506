//! Image generation through a client: the same walk as a chat (primary, then fallbacks, each
//! inside its retries, rate limit, breaker and the call's deadline), recorded by the same
//! telemetry, through the same transport (so cassettes record and replay it). Only the
//! attempt differs: the provider's image request and answer.
//!
//! A call may name its own model (`images.generate(prompt, model="openai/dall-e-3")`): its
//! pipeline is built once per model from the client's settings (its key and base URL only for
//! a model of the client's own provider) and kept, so its breaker and limits live on.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::pipeline::{Answered, Finished, PerTarget, Pipeline};
use super::target::Target;
use super::{build_pipeline, Client, ClientConfig};
use crate::error::{LlmError, Result};
use crate::images::{self, ImageRequest, ImageResponse};
use crate::model::Usage;
use crate::providers::quota::Quota;
use crate::resilience::{Attempt, CallOptions, CallReport};
use crate::runtime;

/// The client's own pipeline, and those built for models image calls named.
pub(super) struct Pipelines {
    cfg: ClientConfig,
    own: Arc<Pipeline>,
    named: Mutex<HashMap<String, Arc<Pipeline>>>,
}

impl Pipelines {
    pub(super) fn new(cfg: &ClientConfig, own: Arc<Pipeline>) -> Self {
        Self {
            cfg: cfg.clone(),
            own,
            named: Mutex::default(),
        }
    }

    /// The pipeline for `model` (the client's own when `None` or the client's model).
    fn get(&self, model: Option<&str>) -> Result<Arc<Pipeline>> {
        let Some(model) = model.filter(|m| *m != self.cfg.model) else {
            return Ok(self.own.clone());
        };
        let mut named = self.named.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(pipe) = named.get(model) {
            return Ok(pipe.clone());
        }
        let mut cfg = self.cfg.clone();
        let same_provider = prefix(model) == prefix(&self.cfg.model);
        cfg.model = model.to_string();
        // The client's fallbacks are its own model's; a named model stands alone.
        cfg.fallbacks.clear();
        if !same_provider {
            // The client's key, server and headers are its provider's.
            cfg.api_key = None;
            cfg.base_url = None;
            cfg.headers.clear();
        }
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let (mut pipe, _) = build_pipeline(&cfg, &env)?;
        // Its calls are the client's: `client.stats()` counts them.
        pipe.telemetry = pipe.telemetry.sharing_stats(&self.own.telemetry);
        let pipe = Arc::new(pipe);
        named.insert(model.to_string(), pipe.clone());
        Ok(pipe)
    }
}

fn prefix(model: &str) -> &str {
    model.split('/').next().unwrap_or_default()
}

impl Client {
    /// Generate images with the client's model (or `model`, "provider/model"), through its
    /// resilience layers; the report comes back with a failure too. Each target's request is
    /// checked against its model's catalogue row before anything is sent.
    pub async fn images_reported(
        &self,
        req: ImageRequest,
        model: Option<&str>,
        opts: CallOptions,
    ) -> (Result<ImageResponse>, CallReport) {
        let pipe = match self.images.get(model) {
            Ok(pipe) => pipe,
            Err(e) => return (Err(e), CallReport::default()),
        };
        let ran = runtime::run(async move { Ok(pipe.images_reported(req, &opts).await) });
        match ran.await {
            Ok(out) => out,
            Err(e) => (Err(e), CallReport::default()),
        }
    }

    /// As [`Client::images_reported`], the images or the error.
    pub async fn images(&self, req: ImageRequest, model: Option<&str>) -> Result<ImageResponse> {
        self.images_reported(req, model, CallOptions::default())
            .await
            .0
    }
}

impl Pipeline {
    /// One image call, start to end, recorded by the telemetry.
    async fn images_reported(
        &self,
        req: ImageRequest,
        opts: &CallOptions,
    ) -> (Result<ImageResponse>, CallReport) {
        let walk = async {
            let mut report = CallReport::recording(opts.record);
            let out = self.images_walk(&req, opts, &mut report).await;
            let target = self.target_of(&out, &report);
            Finished(out, report, target)
        };
        let Finished(out, report, _) = self
            .telemetry
            .observe(std::pin::pin!(walk), Finished::end)
            .await;
        (out, report)
    }

    /// Each target in turn, as for a chat ([`Pipeline::over_targets`]). Every target's request
    /// is checked first: a fallback whose model refuses an option is named before anything is
    /// sent, not after the primary failed.
    async fn images_walk(
        &self,
        req: &ImageRequest,
        opts: &CallOptions,
        report: &mut CallReport,
    ) -> Result<ImageResponse> {
        for (target, _) in &self.targets {
            images::check(target.provider.name(), &target.endpoint.model, req)?;
        }
        self.over_targets(opts, report, ImageTargets(req)).await
    }
}

/// An image call's walk: every target gets the same request.
struct ImageTargets<'r>(&'r ImageRequest);

impl PerTarget for ImageTargets<'_> {
    type Out = ImageResponse;
    type Shared = ();

    fn prepare(&mut self, _: usize, _: &Target, _: bool) -> Result<((), u64)> {
        // The prompt's tokens, roughly; the answer's are settled when it comes.
        Ok((
            (),
            u64::try_from(self.0.prompt.len() / 4).unwrap_or(u64::MAX),
        ))
    }

    fn attempt<'a>(
        &'a self,
        target: &'a Target,
        _: &'a (),
        left: Option<Duration>,
    ) -> impl Future<Output = Attempt<ImageResponse>> + Send + 'a {
        target.images(self.0, left)
    }
}

impl Target {
    /// One image attempt: translate, send through the transport, decode, price.
    pub(super) async fn images(
        &self,
        req: &ImageRequest,
        left: Option<Duration>,
    ) -> Attempt<ImageResponse> {
        let (mut quota, mut status) = (None, None);
        let result = self.images_once(req, left, &mut quota, &mut status).await;
        let used_tokens = result.as_ref().ok().map(|r| r.usage.total());
        Attempt {
            result: result.map_err(|e| self.annotate(e)),
            quota,
            used_tokens,
            started: false,
            status,
        }
    }

    async fn images_once(
        &self,
        req: &ImageRequest,
        left: Option<Duration>,
        quota: &mut Option<Quota>,
        sent_status: &mut Option<u16>,
    ) -> Result<ImageResponse> {
        let http = self
            .provider
            .build_images(&self.endpoint, req)
            .ok_or_else(|| {
                LlmError::config(format!(
                    "{} has no image generation in llmrail (openai and gemini do)",
                    self.provider.name()
                ))
            })??;
        let http = self.ready(http, left)?;
        let (mut r, status) = self
            .exchange(http, quota, sent_status, |body| {
                self.provider.parse_images(body)
            })
            .await?;
        r.provider = self.provider.name().to_string();
        tracing::debug!(
            gen_ai.system = self.provider.name(),
            gen_ai.request.model = %self.endpoint.model,
            status,
            images = r.images.len(),
            latency_ms = r.latency.as_secs_f64() * 1e3,
            "images finished"
        );
        Ok(r.priced(&self.endpoint.model, req))
    }
}

impl Answered for ImageResponse {
    fn usage(&self) -> Option<&Usage> {
        Some(&self.usage)
    }
    fn cost_usd(&self) -> Option<f64> {
        self.cost_usd
    }
}
