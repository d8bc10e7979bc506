//! What a user hands over to build a client ([`ClientConfig`]), and the checks of the settings
//! that are not any one target's: extra headers, the transport's connect timeout and size
//! limits.

use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::error::{LlmError, Result};
use crate::model::PromptCache;
use crate::resilience::breaker::BreakerConfig;
use crate::resilience::fallback::FallbackConfig;
use crate::resilience::ratelimit::RateLimitConfig;
use crate::resilience::retry::RetryPolicy;
use crate::transport;

/// The variable naming the model when a client is built without one.
pub const MODEL_ENV: &str = "LLMRAIL_MODEL";
/// The variable listing fallbacks when the model comes from [`MODEL_ENV`].
pub const FALLBACKS_ENV: &str = "LLMRAIL_FALLBACKS";

/// The official SDKs wait up to 10 minutes for a reply; so do we unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// What a user hands over to build a client.
#[derive(Debug, Clone, Default)]
pub struct ClientConfig {
    /// "provider/model", e.g. "anthropic/claude-sonnet-4-5"; empty: `LLMRAIL_MODEL` (see
    /// [`ClientConfig::model_from_env`]).
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
    /// Azure OpenAI's `api-version` (the official SDK's `api_version`); `None`: the
    /// `OPENAI_API_VERSION` environment variable.
    pub api_version: Option<String>,
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

impl ClientConfig {
    /// The per-attempt timeout, checked.
    pub(super) fn attempt_timeout(&self) -> Result<Duration> {
        let timeout = self.timeout.unwrap_or(DEFAULT_TIMEOUT);
        if timeout.is_zero() {
            return Err(LlmError::config("timeout must be greater than zero"));
        }
        Ok(timeout)
    }

    /// The connect timeout and size limits every request of the client carries.
    pub(super) fn transport_settings(&self) -> Result<transport::Settings> {
        let defaults = transport::Settings::default();
        let limit = |name: &str, value: Option<usize>, default: usize| match value {
            Some(0) => Err(LlmError::config(format!(
                "{name} must be a positive number of bytes, got 0"
            ))),
            v => Ok(v.unwrap_or(default)),
        };
        Ok(transport::Settings {
            connect_timeout: self.connect_timeout.unwrap_or(defaults.connect_timeout),
            max_response_bytes: limit(
                "max_response_bytes",
                self.max_response_bytes,
                defaults.max_response_bytes,
            )?,
            max_event_bytes: limit(
                "max_event_bytes",
                self.max_event_bytes,
                defaults.max_event_bytes,
            )?,
            ..defaults
        })
    }

    /// Without a model, the environment chooses: `LLMRAIL_MODEL`, and, unless fallbacks are
    /// given, `LLMRAIL_FALLBACKS` (comma-separated "provider/model"s), so a service's deployment
    /// can pick its provider without a code change. A model given in code reads neither.
    pub(super) fn model_from_env(mut self, env: &impl Fn(&str) -> Option<String>) -> Result<Self> {
        if !self.model.trim().is_empty() {
            return Ok(self);
        }
        self.model = env(MODEL_ENV)
            .map(|m| m.trim().to_string())
            .ok_or_else(|| {
                LlmError::config(format!(
                    "no model: pass one, e.g. Client(\"openai/gpt-4.1\"), or set {MODEL_ENV}"
                ))
            })?;
        if self.fallbacks.is_empty() {
            let listed = env(FALLBACKS_ENV).unwrap_or_default();
            self.fallbacks = listed
                .split(',')
                .map(str::trim)
                .filter(|m| !m.is_empty())
                .map(FallbackConfig::new)
                .collect();
        }
        Ok(self)
    }

    /// `api_version` is Azure's alone: given for a client with no Azure target, it would be
    /// silently unused.
    pub(super) fn check_api_version(&self) -> Result<()> {
        let azure = |model: &str| model.starts_with("azure/");
        if self.api_version.is_some()
            && !azure(&self.model)
            && !self.fallbacks.iter().any(|f| azure(&f.model))
        {
            return Err(LlmError::config(format!(
                "api_version applies to azure/<deployment> models only, not {:?}",
                self.model
            )));
        }
        Ok(())
    }

    /// The caller's extra headers, checked.
    pub(super) fn extra_headers(&self) -> Result<HeaderMap> {
        headers(&self.headers)
    }
}

pub(super) fn positive(name: &str, d: Option<Duration>) -> Result<()> {
    if d.is_some_and(|d| d.is_zero()) {
        return Err(LlmError::config(format!(
            "{name} must be greater than zero"
        )));
    }
    Ok(())
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

pub(super) fn headers(pairs: &[(String, String)]) -> Result<HeaderMap> {
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
