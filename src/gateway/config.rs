//! The gateway's YAML file: virtual models (a target with its key, base URL, fallbacks, retry,
//! rate limit, breaker, timeouts and prompt-cache policy), gateway keys with their allow-lists,
//! rate limits and budgets, the jobs queue, `redis_url`, and the server's own limits. `${NAME}` reads an environment variable
//! (`$${` is a literal `${`). Everything is checked at load, and every error names the line:
//! serde_yaml_ng's own (typos, wrong types) carry it, and the checks made after parsing find
//! theirs by walking the text (`crate::prompts::line_of`, the walk prompt files use).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::budget::{BudgetConfig, Period};
use crate::client::ClientConfig;
use crate::error::{LlmError, Result};
use crate::model::PromptCache;
use crate::prompts::{line_of, Step};
use crate::providers::Secret;
use crate::queue::QueueConfig;
use crate::resilience::breaker::BreakerConfig;
use crate::resilience::fallback::FallbackConfig;
use crate::resilience::ratelimit::RateLimitConfig;
use crate::resilience::retry::RetryPolicy;

/// 4 MiB: a long conversation with a few inline images fits; a runaway upload does not.
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// A client that has not sent its request's headers in this long is cut off (slowloris).
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// The whole body must arrive within this.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// On shutdown, requests in flight get this long to finish.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

/// The file, parsed and checked, with every `${NAME}` read.
#[derive(Debug, Clone, Default)]
pub struct GatewayConfig {
    /// Virtual name -> what it calls. Empty: every "provider/model" routes directly.
    pub models: BTreeMap<String, ClientConfig>,
    pub keys: Vec<KeyConfig>,
    pub server: ServerConfig,
    /// Every provider key the file names: scrubbed from anything the gateway sends or logs.
    pub secrets: Vec<String>,
    /// The file's name, and the line of each virtual model, for errors found when its client
    /// is built.
    pub source: String,
    pub model_lines: BTreeMap<String, usize>,
    /// `queue: {url: ...}`: the durable queue the async jobs (`/v1/jobs`, `processing`) go
    /// through; `None`: no jobs are served.
    pub queue_url: Option<String>,
    /// The queue's settings (capacity, watermarks, TTL, lease, webhook secret).
    pub queue: QueueConfig,
    /// Workers this process runs on the queue (0: it only submits; others process).
    pub queue_workers: usize,
    /// `redis_url:`: limits, breakers and key limits shared by every gateway naming it.
    pub redis_url: Option<String>,
}

/// Items a gateway process works on at once by default.
pub const DEFAULT_QUEUE_WORKERS: usize = 16;

/// One gateway key. The key itself is hashed as soon as the server starts (`auth.rs`).
#[derive(Clone)]
pub struct KeyConfig {
    pub name: String,
    pub key: String,
    /// Virtual models this key may call; `None`: every one.
    pub models: Option<Vec<String>>,
    pub rate_limit: Option<RateLimitConfig>,
    /// What the key may spend (`budget.rs`).
    pub budget: Option<BudgetConfig>,
}

impl std::fmt::Debug for KeyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyConfig")
            .field("name", &self.name)
            .field("models", &self.models)
            .finish_non_exhaustive()
    }
}

/// The server's own limits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ServerConfig {
    pub max_body_bytes: usize,
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub shutdown_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    models: BTreeMap<String, ModelFile>,
    #[serde(default)]
    keys: Vec<KeyFile>,
    #[serde(default)]
    server: Option<ServerFile>,
    /// Shared limits and breakers for several gateway processes.
    #[serde(default)]
    redis_url: Option<String>,
    #[serde(default)]
    queue: Option<QueueFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QueueFile {
    url: String,
    #[serde(default)]
    capacity: Option<u64>,
    #[serde(default)]
    high_watermark: Option<f64>,
    #[serde(default)]
    low_watermark: Option<f64>,
    /// Seconds an item may wait for a worker.
    #[serde(default)]
    ttl: Option<f64>,
    #[serde(default)]
    max_attempts: Option<u32>,
    /// Seconds a worker holds an item without a heartbeat.
    #[serde(default)]
    lease: Option<f64>,
    /// Signs the webhooks of jobs sent with a `callback_url`.
    #[serde(default)]
    webhook_secret: Option<String>,
    #[serde(default)]
    workers: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelFile {
    model: String,
    #[serde(default)]
    base_url: Option<String>,
    #[serde(default)]
    api_key: Option<String>,
    #[serde(default)]
    fallbacks: Vec<FallbackFile>,
    #[serde(default)]
    retry: Option<RetryFile>,
    #[serde(default)]
    rate_limit: Option<RateFile>,
    #[serde(default)]
    circuit_breaker: Option<BreakerFile>,
    /// Seconds per attempt.
    #[serde(default)]
    timeout: Option<f64>,
    /// Seconds for a whole call, retries and fallbacks included.
    #[serde(default)]
    deadline: Option<f64>,
    #[serde(default)]
    prompt_cache: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum FallbackFile {
    Name(String),
    Full(FallbackFull),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FallbackFull {
    model: String,
    #[serde(default)]
    base_url: Option<String>,
    #[serde(default)]
    api_key: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RetryFile {
    #[serde(default)]
    max_attempts: Option<u32>,
    #[serde(default)]
    initial_delay: Option<f64>,
    #[serde(default)]
    max_delay: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RateFile {
    #[serde(default)]
    rpm: Option<u64>,
    #[serde(default)]
    tpm: Option<u64>,
    /// Wait for capacity (up to the call's deadline) instead of answering 429 at once.
    #[serde(default)]
    wait: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BreakerFile {
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default)]
    failure_threshold: Option<u32>,
    #[serde(default)]
    cooldown: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    name: String,
    key: String,
    #[serde(default)]
    models: Option<Vec<String>>,
    #[serde(default)]
    rate_limit: Option<RateFile>,
    #[serde(default)]
    budget: Option<BudgetFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BudgetFile {
    usd: f64,
    /// "day", "month" (the default) or "total".
    #[serde(default)]
    period: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerFile {
    #[serde(default)]
    max_body_bytes: Option<usize>,
    #[serde(default)]
    header_timeout: Option<f64>,
    #[serde(default)]
    body_timeout: Option<f64>,
    #[serde(default)]
    shutdown_timeout: Option<f64>,
}

/// Reads the file's text with its name for messages and an environment to read `${NAME}` from.
struct Loader<'a, E: Fn(&str) -> Option<String>> {
    source: &'a str,
    text: &'a str,
    env: E,
    secrets: Vec<String>,
}

impl<E: Fn(&str) -> Option<String>> Loader<'_, E> {
    /// An error at the node `path` names (or its nearest ancestor the text has).
    fn error(&self, path: &[Step<'_>], message: impl std::fmt::Display) -> LlmError {
        let line = line_of(self.text, path);
        let dotted: Vec<String> = path
            .iter()
            .map(|s| match s {
                Step::Key(k) => (*k).to_string(),
                Step::Item(i) => format!("[{i}]"),
            })
            .collect();
        LlmError::config(format!(
            "{}: line {line}: {}: {message}",
            self.source,
            dotted.join(".").replace(".[", "[")
        ))
    }

    /// `value` with each `${NAME}` replaced by the variable's value; an unset one is an error.
    fn expand(&self, path: &[Step<'_>], value: &str) -> Result<String> {
        let mut out = String::with_capacity(value.len());
        let mut rest = value;
        while let Some(at) = rest.find('$') {
            out.push_str(&rest[..at]);
            let after = &rest[at..];
            if let Some(escaped) = after.strip_prefix("$${") {
                out.push_str("${");
                rest = escaped;
            } else if let Some(open) = after.strip_prefix("${") {
                let Some(close) = open.find('}') else {
                    return Err(self.error(path, "a \"${\" without its closing \"}\""));
                };
                let name = &open[..close];
                if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(self.error(
                        path,
                        format!("{name:?} is not an environment variable name"),
                    ));
                }
                let Some(found) = (self.env)(name) else {
                    return Err(self.error(
                        path,
                        format!("the environment variable {name} is not set (or is empty)"),
                    ));
                };
                out.push_str(&found);
                rest = &open[close + 1..];
            } else {
                out.push('$');
                rest = &after[1..];
            }
        }
        out.push_str(rest);
        Ok(out)
    }

    /// As [`Loader::expand`], for a provider key: remembered so it can be scrubbed.
    fn secret(&mut self, path: &[Step<'_>], value: &str) -> Result<String> {
        let key = self.expand(path, value)?;
        if key.len() >= 4 {
            self.secrets.push(key.clone());
        }
        Ok(key)
    }

    fn seconds(&self, path: &[Step<'_>], secs: Option<f64>) -> Result<Option<Duration>> {
        secs.map(|s| {
            Duration::try_from_secs_f64(s)
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| {
                    self.error(
                        path,
                        format!("must be a positive number of seconds, got {s}"),
                    )
                })
        })
        .transpose()
    }

    fn rate(&self, path: &[Step<'_>], r: &RateFile, wait_default: bool) -> Result<RateLimitConfig> {
        let cfg = RateLimitConfig {
            rpm: r.rpm,
            tpm: r.tpm,
            wait: r.wait.unwrap_or(wait_default),
            ..RateLimitConfig::default()
        };
        cfg.validate().map_err(|e| self.error(path, &e.message))?;
        Ok(cfg)
    }

    /// The `queue:` section: its URL and settings, checked as `Queue(...)` checks them.
    fn queue(&mut self, q: &QueueFile) -> Result<(String, QueueConfig)> {
        let at = |k: &'static str| [Step::Key("queue"), Step::Key(k)];
        let url = self.expand(&at("url"), &q.url)?;
        let known = url.strip_prefix("sqlite://").is_some_and(|p| !p.is_empty())
            || ["redis://", "rediss://", "memory://"]
                .iter()
                .any(|s| url.starts_with(s));
        if !known {
            return Err(self.error(
                &at("url"),
                format!("{url:?} is not a queue URL: use sqlite:///path/to/jobs.db, redis://host:port/db or memory://"),
            ));
        }
        let d = QueueConfig::default();
        let cfg = QueueConfig {
            capacity: q.capacity.unwrap_or(d.capacity),
            high_watermark: q.high_watermark.unwrap_or(d.high_watermark),
            low_watermark: q.low_watermark.unwrap_or(d.low_watermark),
            ttl: self.seconds(&at("ttl"), q.ttl)?.unwrap_or(d.ttl),
            max_attempts: q.max_attempts.unwrap_or(d.max_attempts),
            lease: self.seconds(&at("lease"), q.lease)?.unwrap_or(d.lease),
            webhook_secret: q
                .webhook_secret
                .as_deref()
                .map(|s| self.secret(&at("webhook_secret"), s).map(Secret::new))
                .transpose()?,
            ..d
        };
        cfg.validate()
            .map_err(|e| self.error(&[Step::Key("queue")], &e.message))?;
        Ok((url, cfg))
    }

    fn model(&mut self, name: &str, m: &ModelFile) -> Result<ClientConfig> {
        let at = |k: &'static str| [Step::Key("models"), Step::Key(name), Step::Key(k)];
        let model = self.expand(&at("model"), &m.model)?;
        if !model.contains('/') {
            return Err(self.error(
                &at("model"),
                format!("{model:?} is not \"provider/model\" (e.g. \"openai/gpt-4o-mini\")"),
            ));
        }
        let mut cfg = ClientConfig {
            model,
            api_key: m
                .api_key
                .as_deref()
                .map(|k| self.secret(&at("api_key"), k))
                .transpose()?,
            base_url: m
                .base_url
                .as_deref()
                .map(|u| self.expand(&at("base_url"), u))
                .transpose()?,
            timeout: self.seconds(&at("timeout"), m.timeout)?,
            deadline: self.seconds(&at("deadline"), m.deadline)?,
            ..ClientConfig::default()
        };
        for (i, fb) in m.fallbacks.iter().enumerate() {
            let path = [
                Step::Key("models"),
                Step::Key(name),
                Step::Key("fallbacks"),
                Step::Item(i),
            ];
            let fb = match fb {
                FallbackFile::Name(model) => FallbackConfig::new(self.expand(&path, model)?),
                FallbackFile::Full(f) => FallbackConfig {
                    model: self.expand(&path, &f.model)?,
                    api_key: f
                        .api_key
                        .as_deref()
                        .map(|k| self.secret(&path, k))
                        .transpose()?,
                    base_url: f
                        .base_url
                        .as_deref()
                        .map(|u| self.expand(&path, u))
                        .transpose()?,
                },
            };
            cfg.fallbacks.push(fb);
        }
        if let Some(r) = &m.retry {
            let defaults = RetryPolicy::default();
            let policy = RetryPolicy {
                max_attempts: r.max_attempts.unwrap_or(defaults.max_attempts),
                initial_delay: self
                    .seconds(&at("retry"), r.initial_delay)?
                    .unwrap_or(defaults.initial_delay),
                max_delay: self
                    .seconds(&at("retry"), r.max_delay)?
                    .unwrap_or(defaults.max_delay),
                ..defaults
            };
            policy
                .validate()
                .map_err(|e| self.error(&at("retry"), &e.message))?;
            cfg.retry = Some(policy);
        }
        if let Some(r) = &m.rate_limit {
            // A provider's limit is waited for (the call's deadline bounds it), as in Client.
            cfg.rate_limit = Some(self.rate(&at("rate_limit"), r, true)?);
        }
        if let Some(b) = &m.circuit_breaker {
            let defaults = BreakerConfig::default();
            cfg.circuit_breaker = Some(BreakerConfig {
                enabled: b.enabled.unwrap_or(true),
                failure_threshold: b.failure_threshold.unwrap_or(defaults.failure_threshold),
                cooldown: self
                    .seconds(&at("circuit_breaker"), b.cooldown)?
                    .unwrap_or(defaults.cooldown),
                ..defaults
            });
        }
        if let Some(p) = &m.prompt_cache {
            cfg.prompt_cache =
                PromptCache::parse(p).map_err(|e| self.error(&at("prompt_cache"), &e.message))?;
        }
        for (k, v) in &m.headers {
            let path = [
                Step::Key("models"),
                Step::Key(name),
                Step::Key("headers"),
                Step::Key(k),
            ];
            let v = self.secret(&path, v)?;
            cfg.headers.push((k.clone(), v));
        }
        Ok(cfg)
    }
}

impl GatewayConfig {
    /// Parse and check a file's text; `source` names it in errors (its path).
    pub fn parse(source: &str, text: &str, env: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let file: File = if text.trim().is_empty() {
            File::default()
        } else {
            serde_yaml_ng::from_str(text).map_err(|e| yaml_error(source, &e))?
        };
        let mut loader = Loader {
            source,
            text,
            env,
            secrets: Vec::new(),
        };
        let redis_url = file
            .redis_url
            .as_deref()
            .map(|u| loader.expand(&[Step::Key("redis_url")], u))
            .transpose()?;
        let mut models = BTreeMap::new();
        for (name, m) in &file.models {
            if name.trim().is_empty() {
                return Err(loader.error(&[Step::Key("models")], "a model name is empty"));
            }
            let mut cfg = loader.model(name, m)?;
            cfg.redis_url = redis_url.clone();
            models.insert(name.clone(), cfg);
        }
        let mut keys: Vec<KeyConfig> = Vec::with_capacity(file.keys.len());
        for (i, k) in file.keys.iter().enumerate() {
            let at = |s: &'static str| [Step::Key("keys"), Step::Item(i), Step::Key(s)];
            let key = loader.expand(&at("key"), &k.key)?;
            // Short keys can be guessed online; this is the length of a 96-bit random token.
            if key.len() < 16 {
                return Err(loader.error(
                    &at("key"),
                    "a gateway key must be at least 16 characters (e.g. `openssl rand -hex 24`)",
                ));
            }
            if keys.iter().any(|other| other.name == k.name) {
                return Err(loader.error(&at("name"), format!("{:?} is named twice", k.name)));
            }
            if keys.iter().any(|other| other.key == key) {
                return Err(loader.error(&at("key"), "the same key is given to two names"));
            }
            if let Some(allowed) = &k.models {
                if let Some(unknown) = allowed
                    .iter()
                    .find(|m| !models.is_empty() && !models.contains_key(*m))
                {
                    return Err(loader.error(
                        &at("models"),
                        format!("{unknown:?} is not one of the models above"),
                    ));
                }
            }
            let rate_limit = k
                .rate_limit
                .as_ref()
                // A key over its limit is told so at once (429 with Retry-After).
                .map(|r| loader.rate(&at("rate_limit"), r, false))
                .transpose()?;
            let budget = match &k.budget {
                None => None,
                Some(b) => {
                    if !b.usd.is_finite() || b.usd <= 0.0 {
                        return Err(loader.error(
                            &at("budget"),
                            format!("usd must be a positive amount, got {}", b.usd),
                        ));
                    }
                    let period = Period::parse(b.period.as_deref().unwrap_or("month"))
                        .map_err(|e| loader.error(&at("budget"), &e.message))?;
                    Some(BudgetConfig { usd: b.usd, period })
                }
            };
            keys.push(KeyConfig {
                name: k.name.clone(),
                key,
                models: k.models.clone(),
                rate_limit,
                budget,
            });
        }
        let mut server = ServerConfig::default();
        if let Some(s) = &file.server {
            let at = |k: &'static str| [Step::Key("server"), Step::Key(k)];
            if let Some(n) = s.max_body_bytes {
                if n == 0 {
                    return Err(loader.error(&at("max_body_bytes"), "must be positive"));
                }
                server.max_body_bytes = n;
            }
            let secs = |l: &Loader<'_, _>, k: &'static str, v: Option<f64>, d: Duration| {
                l.seconds(&at(k), v).map(|s| s.unwrap_or(d))
            };
            server.header_timeout = secs(
                &loader,
                "header_timeout",
                s.header_timeout,
                server.header_timeout,
            )?;
            server.body_timeout =
                secs(&loader, "body_timeout", s.body_timeout, server.body_timeout)?;
            server.shutdown_timeout = secs(
                &loader,
                "shutdown_timeout",
                s.shutdown_timeout,
                server.shutdown_timeout,
            )?;
        }
        let (queue_url, queue, queue_workers) = match &file.queue {
            None => (None, QueueConfig::default(), DEFAULT_QUEUE_WORKERS),
            Some(q) => {
                let (url, cfg) = loader.queue(q)?;
                (Some(url), cfg, q.workers.unwrap_or(DEFAULT_QUEUE_WORKERS))
            }
        };
        let model_lines = models
            .keys()
            .map(|name| {
                let line = line_of(text, &[Step::Key("models"), Step::Key(name)]);
                (name.clone(), line)
            })
            .collect();
        Ok(Self {
            models,
            keys,
            server,
            secrets: loader.secrets,
            source: source.to_string(),
            model_lines,
            queue_url,
            queue,
            queue_workers,
            redis_url,
        })
    }

    /// Read and check the file at `path`.
    pub fn load(path: &str, env: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            LlmError::config(format!("{path}: cannot read the gateway config: {e}"))
        })?;
        Self::parse(path, &text, env)
    }

    /// An error found when virtual model `name`'s client was built, with its line.
    pub fn model_error(&self, name: &str, e: &LlmError) -> LlmError {
        let line = self.model_lines.get(name).copied().unwrap_or(1);
        LlmError::config(format!(
            "{}: line {line}: models.{name}: {}",
            self.source, e.message
        ))
    }
}

/// serde_yaml_ng's message with its line up front, as the other errors put it.
fn yaml_error(source: &str, e: &serde_yaml_ng::Error) -> LlmError {
    let message = e.to_string();
    match e.location() {
        Some(at) => {
            let suffix = format!(" at line {} column {}", at.line(), at.column());
            let message = message.strip_suffix(&suffix).unwrap_or(&message);
            LlmError::config(format!("{source}: line {}: {message}", at.line()))
        }
        None => LlmError::config(format!("{source}: {message}")),
    }
}
