//! Image generation through a client: the same walk as a chat (primary, then fallbacks, each
//! inside its retries, rate limit, breaker and the call's deadline), recorded by the same
//! telemetry, through the same transport (so cassettes record and replay it). Only the
//! attempt differs: the provider's image request and answer.
//!
//! A call may name its own model (`images.generate(prompt, model="openai/dall-e-3")`): its
//! pipeline is built once per model from the client's settings (its key and base URL only for
//! a model of the client's own provider) and kept, so its breaker and limits live on.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::pipeline::{with_history, Answered, Finished, Pipeline};
use super::target::Target;
use super::{build_pipeline, Client, ClientConfig};
use crate::error::{LlmError, Result};
use crate::images::{self, ImageRequest, ImageResponse};
use crate::model::Usage;
use crate::providers::{self, quota::Quota};
use crate::resilience::{deadline_from, fallback, run_target, Attempt, CallOptions, CallReport};
use crate::runtime;
use crate::transport;

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
        let Finished(out, report, _) = self.telemetry.observe(walk, Finished::end).await;
        (out, report)
    }

    /// Each target in turn, as `Pipeline::walk` does for a chat. Every target's request is
    /// checked first: a fallback whose model refuses an option is named before anything is
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
        let policy = opts.retry.as_ref().unwrap_or(&self.retry);
        let deadline = deadline_from(self.deadline, opts.deadline);
        let mut failures: Vec<(String, LlmError)> = Vec::new();
        // The prompt's tokens, roughly; the answer's are settled when it comes.
        let reserve = u64::try_from(req.prompt.len() / 4).unwrap_or(u64::MAX);
        for (i, (target, guards)) in self.targets.iter().enumerate() {
            let logged = report.logged();
            let out = run_target(guards, policy, deadline, reserve, report, |left| {
                target.images(req, left)
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
            if last || !fallback::eligible(&e) || out_of_time {
                return Err(with_history(e, &failures));
            }
            tracing::warn!(from = %target.name(), to = %self.targets[i + 1].0.name(), error = %e, "falling back");
            failures.push((target.name(), e));
        }
        Err(LlmError::config("a client has at least one model"))
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
        let mut http = self
            .provider
            .build_images(&self.endpoint, req)
            .ok_or_else(|| {
                LlmError::config(format!(
                    "{} has no image generation in llmrail (openai and gemini do)",
                    self.provider.name()
                ))
            })??;
        // Never wait past the call's deadline.
        if let Some(left) = left {
            http.timeout = http.timeout.min(left.max(Duration::from_millis(1)));
        }
        http.settings = self.settings;
        self.sign(&mut http)?;
        let started = Instant::now();
        let resp = transport::send(http).await?;
        *quota = providers::quota::quota(&resp.headers);
        *sent_status = Some(resp.status);
        let request_id = self.provider.request_id(&resp.headers);
        let (status, headers) = (resp.status, resp.headers.clone());
        let body = resp.bytes(self.settings.max_response_bytes).await?;
        if status >= 400 {
            return Err(self.provider.parse_error(status, &headers, &body));
        }
        let mut r = self.provider.parse_images(&body).map_err(|mut e| {
            if e.request_id.is_none() {
                e.request_id.clone_from(&request_id);
            }
            e
        })?;
        r.request_id = request_id;
        r.latency = started.elapsed();
        if r.model.is_empty() {
            r.model.clone_from(&self.endpoint.model);
        }
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
