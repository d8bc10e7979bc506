//! The facade: resolves "provider/model" to a provider and an endpoint once, then runs each call
//! through the pipeline on the shared runtime: the resilience layers (`pipeline.rs`) around each
//! attempt (translate -> transport -> decode, here in `Inner`; a streamed attempt and the
//! `ChatStream` it feeds in `stream.rs`).

mod pipeline;
mod stream;

pub use stream::ChatStream;

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::cache::{CacheStats, PromptCache, Tracker};
use crate::error::{LlmError, Result};
use crate::model::{ChatRequest, ChatResponse};
use crate::providers::{self, Endpoint, Provider, Secret};
use crate::resilience::breaker::{BreakerConfig, Snapshot};
use crate::resilience::fallback::FallbackConfig;
use crate::resilience::ratelimit::RateLimitConfig;
use crate::resilience::retry::RetryPolicy;
use crate::resilience::{Attempt, CallOptions, CallReport};
use crate::runtime;
use crate::transport;

/// The official SDKs wait up to 10 minutes for a reply; so do we unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// What a user hands over to build a client.
#[derive(Debug, Clone, Default)]
pub struct ClientConfig {
    /// "provider/model", e.g. "anthropic/claude-sonnet-4-5".
    pub model: String,
    pub api_key: Option<String>,
    pub base_url: Option<String>,
    /// Per attempt: the whole request when buffered, time to headers and between chunks when
    /// streaming.
    pub timeout: Option<Duration>,
    pub headers: Vec<(String, String)>,
    /// `None`: [`RetryPolicy::default`] (up to 3 retries).
    pub retry: Option<RetryPolicy>,
    /// One limit for each call as a whole, retries and waits included.
    pub deadline: Option<Duration>,
    pub connect_timeout: Option<Duration>,
    pub rate_limit: Option<RateLimitConfig>,
    /// `None`: [`BreakerConfig::default`]; [`BreakerConfig::disabled`] turns it off.
    pub circuit_breaker: Option<BreakerConfig>,
    pub fallbacks: Vec<FallbackConfig>,
    /// Share rate limits and breaker state through this Redis.
    pub redis_url: Option<String>,
    /// Prompt caching for every call that does not say otherwise (`Off` by default).
    pub prompt_cache: PromptCache,
    /// The most bytes a buffered answer may take once decompressed; `None`:
    /// [`transport::DEFAULT_MAX_RESPONSE_BYTES`].
    pub max_response_bytes: Option<usize>,
    /// The most bytes one streamed event may take; `None`:
    /// [`transport::DEFAULT_MAX_EVENT_BYTES`].
    pub max_event_bytes: Option<usize>,
}

#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
    pipe: Arc<pipeline::Pipeline>,
    /// The client's caching policy, cache totals and last cached prefixes.
    cache: Arc<Tracker>,
}

/// One target: a provider and where and as whom to call it.
pub(crate) struct Inner {
    provider: &'static dyn Provider,
    endpoint: Endpoint,
    /// Secrets in `base_url` (a `sig=`, a password): an HTTP error quotes the URL.
    url_secrets: Vec<String>,
    /// The client's connect timeout and size limits, set on every request sent.
    settings: transport::Settings,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("provider", &self.inner.provider.name())
            .field("model", &self.inner.endpoint.model)
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
        let timeout = cfg.timeout.unwrap_or(DEFAULT_TIMEOUT);
        if timeout.is_zero() {
            return Err(LlmError::config("timeout must be greater than zero"));
        }
        let extra_headers = headers(&cfg.headers)?;
        let primary = FallbackConfig {
            model: cfg.model.clone(),
            api_key: cfg.api_key.clone(),
            base_url: cfg.base_url.clone(),
        };
        let settings = pipeline::transport_settings(&cfg)?;
        let inner = Arc::new(Inner::resolve(
            &primary,
            &extra_headers,
            timeout,
            settings,
            &env,
        )?);
        let mut targets = vec![inner.clone()];
        for fb in &cfg.fallbacks {
            // The caller's extra headers are for the primary's server; fallbacks get none.
            targets.push(Arc::new(Inner::resolve(
                fb,
                &HeaderMap::new(),
                timeout,
                settings,
                &env,
            )?));
        }
        Ok(Self {
            inner,
            pipe: Arc::new(pipeline::Pipeline::build(&cfg, targets)?),
            cache: Arc::new(Tracker::new(cfg.prompt_cache)),
        })
    }

    pub fn provider(&self) -> &'static str {
        self.inner.provider.name()
    }

    pub fn model(&self) -> &str {
        &self.inner.endpoint.model
    }

    /// Where calls go, as it may be shown: userinfo and secret query values (`key=`, `sig=`)
    /// redacted.
    pub fn base_url(&self) -> String {
        crate::replay::scrub::url(&self.inner.endpoint.base_url).into_owned()
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
        let req = self.cache.prepare(req, self.provider(), self.model());
        let pipe = self.pipe.clone();
        let out = runtime::run(async move { pipe.chat(req, opts).await }).await?;
        self.cache.record(&out.0.usage);
        Ok(out)
    }

    /// Cache totals over this client's calls so far, and so its cache hit rate.
    pub fn cache_stats(&self) -> CacheStats {
        self.cache.stats()
    }

    /// Start a streamed call; events arrive through the returned [`ChatStream`].
    pub fn stream(&self, req: ChatRequest) -> Result<ChatStream> {
        self.stream_with(req, CallOptions::default())
    }

    /// As [`Client::stream`], with per-call overrides. A stream is retried (or falls back) only
    /// while it has delivered nothing.
    pub fn stream_with(&self, req: ChatRequest, opts: CallOptions) -> Result<ChatStream> {
        let req = self.cache.prepare(req, self.provider(), self.model());
        ChatStream::start(self.pipe.clone(), req, opts, self.cache.clone())
    }

    /// The state of each target's circuit breaker (primary first).
    pub async fn health(&self) -> Result<Vec<Snapshot>> {
        let pipe = self.pipe.clone();
        runtime::run(async move { Ok(pipe.health().await) }).await
    }
}

impl Inner {
    /// Resolve "provider/model", its key and base URL (from the environment where not given).
    fn resolve(
        target: &FallbackConfig,
        extra_headers: &HeaderMap,
        timeout: Duration,
        settings: transport::Settings,
        env: &impl Fn(&str) -> Option<String>,
    ) -> Result<Self> {
        let (prefix, model) = split_model(&target.model)?;
        let provider = providers::lookup(prefix).ok_or_else(|| {
            LlmError::config(format!(
                "unknown provider {prefix:?} in model {:?}; known providers: {}",
                target.model,
                providers::KNOWN.join(", ")
            ))
        })?;
        let from_env = |names: &[&str]| names.iter().find_map(|n| env(n));
        let explicit_base = target
            .base_url
            .clone()
            .or_else(|| from_env(provider.base_url_env()));
        let base_url = explicit_base
            .clone()
            .unwrap_or_else(|| provider.default_base_url().to_string());
        check_base_url(&base_url)?;
        let api_key = target
            .api_key
            .clone()
            .or_else(|| from_env(provider.api_key_env()));
        // A local server (vLLM, Ollama) needs no key; the provider's own service always does,
        // unless a cassette answers (replaying needs no key).
        if api_key.is_none()
            && explicit_base.is_none()
            && provider.key_required()
            && !crate::replay::is_active()
        {
            return Err(LlmError::config(format!(
                "no API key for {prefix}: pass api_key=... or set {}",
                provider.api_key_env().join(" or ")
            )));
        }
        Ok(Self {
            provider,
            url_secrets: crate::replay::scrub::url_secrets(&base_url),
            settings,
            endpoint: Endpoint {
                base_url,
                api_key: api_key.map(Secret::new),
                model: model.to_string(),
                headers: extra_headers.clone(),
                timeout,
            },
        })
    }

    /// "provider/model", as breakers and logs name a target.
    fn name(&self) -> String {
        format!("{}/{}", self.provider.name(), self.endpoint.model)
    }

    /// One attempt: `left` is the time before the call's deadline, which caps the timeout.
    async fn chat(&self, req: &ChatRequest, left: Option<Duration>) -> Attempt<ChatResponse> {
        let mut quota = None;
        let result = self.chat_once(req, left, &mut quota).await;
        let used_tokens = result.as_ref().ok().map(|r| r.usage.total());
        Attempt {
            result,
            quota,
            used_tokens,
            started: false,
        }
    }

    async fn chat_once(
        &self,
        req: &ChatRequest,
        left: Option<Duration>,
        quota: &mut Option<providers::quota::Quota>,
    ) -> Result<ChatResponse> {
        let ep = &self.endpoint;
        let mut http = self.provider.build_chat(ep, req, false)?;
        cap_timeout(&mut http.timeout, left);
        http.settings = self.settings;
        let started = Instant::now();
        let resp = transport::send(http).await.map_err(|e| self.annotate(e))?;
        *quota = providers::quota::quota(&resp.headers);
        let request_id = self.provider.request_id(&resp.headers);
        let status = resp.status;
        let headers = resp.headers.clone();
        let body = resp
            .bytes(self.settings.max_response_bytes)
            .await
            .map_err(|e| self.annotate(e))?;
        if status >= 400 {
            return Err(self.annotate(self.provider.parse_error(status, &headers, &body)));
        }
        let mut r = self.provider.parse_chat(&body).map_err(|e| {
            let mut e = self.annotate(e);
            if e.request_id.is_none() {
                e.request_id.clone_from(&request_id);
            }
            e
        })?;
        r.request_id = request_id;
        r.latency = started.elapsed();
        if r.model.is_empty() {
            r.model = ep.model.clone();
        }
        // An event, not a span: an entered span must not live across an `.await` (the task can
        // move threads), and every poll of an instrumented future would ask `log` again.
        tracing::debug!(
            gen_ai.system = self.provider.name(),
            gen_ai.request.model = %ep.model,
            status,
            latency_ms = r.latency.as_secs_f64() * 1e3,
            "chat finished"
        );
        Ok(r)
    }

    /// Say who was called and make sure the key (and secrets in the URL) are nowhere in the
    /// error.
    fn annotate(&self, e: LlmError) -> LlmError {
        let mut e = e.at(self.provider.name(), &self.endpoint.model);
        if let Some(key) = &self.endpoint.api_key {
            e = e.scrub(key.expose());
        }
        self.url_secrets.iter().fold(e, |e, s| e.scrub(s))
    }
}

/// Never wait past the call's deadline.
fn cap_timeout(timeout: &mut Duration, left: Option<Duration>) {
    if let Some(left) = left {
        *timeout = (*timeout).min(left.max(Duration::from_millis(1)));
    }
}

/// An http(s) URL with a host; the error shows it without its secrets.
fn check_base_url(base_url: &str) -> Result<()> {
    let shown = crate::replay::scrub::url(base_url);
    if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
        return Err(LlmError::config(format!(
            "base_url must start with http:// or https://, got {shown:?}"
        )));
    }
    match url::Url::parse(base_url) {
        Ok(u) if u.host().is_some() => Ok(()),
        Ok(_) => Err(LlmError::config(format!("base_url {shown:?} has no host"))),
        Err(e) => Err(LlmError::config(format!(
            "base_url {shown:?} is not a valid URL: {e}"
        ))),
    }
}

fn split_model(spec: &str) -> Result<(&str, &str)> {
    match spec.split_once('/') {
        Some((p, m)) if !p.is_empty() && !m.trim().is_empty() => Ok((p, m)),
        _ => Err(LlmError::config(format!(
            "model must be \"provider/model\", e.g. \"openai/gpt-4.1-mini\" or \"anthropic/claude-sonnet-4-5\"; got {spec:?}"
        ))),
    }
}

/// Headers that describe the connection or the body's framing rather than the request: the
/// transport sets them from what it actually sends, and a second, different value makes the
/// request malformed or lets it be read differently by a proxy than by the server (request
/// smuggling).
const TRANSPORT_HEADERS: [&str; 9] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
];

fn headers(pairs: &[(String, String)]) -> Result<HeaderMap> {
    let mut h = HeaderMap::with_capacity(pairs.len());
    for (k, v) in pairs {
        let name = HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| LlmError::config(format!("{k:?} is not a valid HTTP header name")))?;
        if TRANSPORT_HEADERS.contains(&name.as_str()) {
            return Err(LlmError::config(format!(
                "headers: {k:?} cannot be set; the HTTP transport sets it from the request it \
                 sends (to reach another server, set base_url)"
            )));
        }
        let value = HeaderValue::from_str(v).map_err(|_| {
            LlmError::config(format!("the value of header {k:?} is not valid in HTTP"))
        })?;
        h.insert(name, value);
    }
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn cfg(model: &str) -> ClientConfig {
        ClientConfig {
            model: model.into(),
            ..Default::default()
        }
    }

    #[test]
    fn model_strings_are_checked() {
        let env = |name: &str| name.ends_with("_API_KEY").then(|| "k".to_string());
        assert!(Client::with_env(cfg("gpt-4"), env)
            .is_err_and(|e| e.message.contains("provider/model")));
        assert!(Client::with_env(cfg("nope/x"), env)
            .is_err_and(|e| e.message.contains("known providers")));
        let c = Client::with_env(cfg("openrouter/anthropic/claude-3.5"), env);
        assert!(c.is_ok_and(|c| c.model() == "anthropic/claude-3.5"));
    }

    #[test]
    fn a_missing_key_is_a_clear_error_unless_the_server_is_local() {
        let none = |_: &str| None;
        let e = Client::with_env(cfg("openai/gpt-4.1"), none);
        assert!(e.is_err_and(
            |e| e.kind == ErrorKind::Configuration && e.message.contains("OPENAI_API_KEY")
        ));
        let local = ClientConfig {
            base_url: Some("http://127.0.0.1:11434/v1".into()),
            ..cfg("openai/llama3")
        };
        assert!(Client::with_env(local, none).is_ok());
    }

    #[test]
    fn headers_the_transport_owns_are_refused_by_name() {
        let env = |name: &str| name.ends_with("_API_KEY").then(|| "k".to_string());
        for name in ["Content-Length", "host", "Transfer-Encoding", "connection"] {
            let c = ClientConfig {
                headers: vec![(name.into(), "1".into())],
                ..cfg("openai/gpt-4.1")
            };
            assert!(Client::with_env(c, env)
                .is_err_and(|e| e.kind == ErrorKind::Configuration
                    && e.message.contains(&format!("{name:?}"))));
        }
        let fine = ClientConfig {
            headers: vec![("X-Title".into(), "app".into())],
            ..cfg("openai/gpt-4.1")
        };
        assert!(Client::with_env(fine, env).is_ok());
    }

    #[test]
    fn size_limits_must_be_positive() {
        let env = |name: &str| name.ends_with("_API_KEY").then(|| "k".to_string());
        let c = ClientConfig {
            max_event_bytes: Some(0),
            ..cfg("openai/gpt-4.1")
        };
        assert!(Client::with_env(c, env).is_err_and(
            |e| e.kind == ErrorKind::Configuration && e.message.contains("max_event_bytes")
        ));
    }

    #[test]
    fn env_supplies_key_and_base_url() {
        let env = |n: &str| match n {
            "ANTHROPIC_API_KEY" => Some("sk-ant-x".to_string()),
            "ANTHROPIC_BASE_URL" => Some("http://127.0.0.1:9".to_string()),
            _ => None,
        };
        let c = Client::with_env(cfg("anthropic/claude-x"), env);
        assert!(c.is_ok_and(
            |c| c.base_url() == "http://127.0.0.1:9" && !format!("{c:?}").contains("sk-ant")
        ));
    }

    #[test]
    fn base_url_and_debug_hide_userinfo_and_secret_query_values() {
        let cfg = ClientConfig {
            base_url: Some(
                "https://bob:PW-SECRET@r.example/openai/v1?api-version=2024-10-21&sig=SIG-SECRET"
                    .into(),
            ),
            api_key: Some("k".into()),
            ..cfg("openai/gpt-4.1")
        };
        let c = Client::with_env(cfg, |_| None).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(
            c.base_url(),
            "https://REDACTED@r.example/openai/v1?api-version=2024-10-21&sig=REDACTED"
        );
        assert!(!format!("{c:?}").contains("SECRET"));
    }

    #[test]
    fn a_bad_base_url_is_named_without_its_secrets() {
        for bad in [
            "ftp://u:PW-SECRET@h/",
            "http://u:PW-SECRET@/v1",
            "http://u:PW-SECRET@h:99999/",
        ] {
            let cfg = ClientConfig {
                base_url: Some(bad.into()),
                ..cfg("openai/gpt-4.1")
            };
            let e = Client::with_env(cfg, |_| None).err();
            assert!(e.is_some_and(|e| e.kind == ErrorKind::Configuration
                && e.message.contains("base_url")
                && !e.message.contains("SECRET")));
        }
    }
}
