//! The prompt-cache vocabulary every layer shares: how long an entry lives ([`CacheTtl`]), what
//! the caller asked for ([`PromptCache`]) and a caller's own marker as written in a request
//! ([`CacheControl`]). Requests carry these, so they live with the unified types; the planning
//! that reads them (where breakpoints go, per provider) is `crate::cache`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{LlmError, Result};

/// How long a cache entry lives after its last use (Anthropic's `ttl`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum CacheTtl {
    #[serde(rename = "5m")]
    FiveMinutes,
    #[serde(rename = "1h")]
    OneHour,
}

impl CacheTtl {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "5m" => Some(Self::FiveMinutes),
            "1h" => Some(Self::OneHour),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::FiveMinutes => "5m",
            Self::OneHour => "1h",
        }
    }

    pub fn duration(self) -> Duration {
        match self {
            Self::FiveMinutes => Duration::from_secs(300),
            Self::OneHour => Duration::from_secs(3600),
        }
    }
}

/// What the caller asked for: `prompt_cache="5m" | "1h" | "auto"`, or nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub enum PromptCache {
    #[default]
    Off,
    /// llmrail places every breakpoint itself, with this TTL.
    Ttl(CacheTtl),
    /// The API's own automatic caching for the conversation (Anthropic's top-level
    /// `cache_control`) where the model has it, plus llmrail's tools and system breakpoints.
    Auto,
}

impl PromptCache {
    /// `"5m"`, `"1h"`, `"auto"` or `"off"`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "off" => Ok(Self::Off),
            "auto" => Ok(Self::Auto),
            _ => CacheTtl::parse(s).map(Self::Ttl).ok_or_else(|| {
                LlmError::config(format!(
                    "prompt_cache must be \"5m\", \"1h\", \"auto\" or None, got {s:?}"
                ))
            }),
        }
    }

    pub fn is_on(self) -> bool {
        self != Self::Off
    }

    /// How long what this policy writes stays readable (auto writes 5-minute entries).
    pub fn ttl(self) -> CacheTtl {
        match self {
            Self::Ttl(t) => t,
            Self::Off | Self::Auto => CacheTtl::FiveMinutes,
        }
    }
}

/// A caller's marker as written in a request: `{"type": "ephemeral"}`, optionally with
/// `"ttl": "5m" | "1h"` (Anthropic's shape, which LiteLLM also uses on OpenAI-shaped parts).
#[derive(Debug, Deserialize)]
pub struct CacheControl {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    ttl: Option<String>,
}

impl CacheControl {
    pub fn ttl(&self) -> std::result::Result<CacheTtl, String> {
        if self.kind != "ephemeral" {
            return Err(format!(
                "cache_control type must be \"ephemeral\", got {:?}",
                self.kind
            ));
        }
        match self.ttl.as_deref() {
            None => Ok(CacheTtl::FiveMinutes),
            Some(t) => CacheTtl::parse(t)
                .ok_or_else(|| format!("cache_control ttl must be \"5m\" or \"1h\", got {t:?}")),
        }
    }
}
