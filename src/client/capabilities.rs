//! What a client's model can do ([`Capabilities`]): what every provider llmrail speaks does
//! (streaming, tool calls), and the catalogue's facts of the model (`crate::catalog`), which are
//! `None` where no source the catalogue cites says (an unknown model, an Azure deployment's own
//! name). For a provider and model together, `batch_api` is known either way: whether a batch
//! job goes through the provider's batch API (`crate::catalog::batch_api_for`).

use crate::catalog;
use crate::error::{LlmError, Result};
use crate::providers;

/// What a model can do; `None`: the catalogue does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// Streamed answers: every provider llmrail speaks streams.
    pub streaming: bool,
    /// Tool calls, and tool results sent back: every provider llmrail speaks has them.
    pub tools: bool,
    /// Output constrained to a JSON schema by the API (what `extract`'s auto mode uses).
    pub structured_output: Option<bool>,
    /// Images in messages.
    pub vision: Option<bool>,
    /// Prompt-prefix caching.
    pub prompt_caching: Option<bool>,
    /// A batch API at half price: for a model alone the catalogue's fact; for a provider and
    /// model, whether batch jobs go through the provider's batch API (else concurrent calls).
    pub batch_api: Option<bool>,
}

impl Capabilities {
    /// The capabilities of `model` (without its provider prefix).
    pub fn of(model: &str) -> Self {
        Self {
            streaming: true,
            tools: true,
            structured_output: catalog::structured_output(model),
            vision: catalog::vision(model),
            prompt_caching: catalog::prompt_caching(model),
            batch_api: catalog::batch_api(model),
        }
    }

    /// The capabilities of `model` called through the provider named `provider`
    /// (`Provider::name`).
    pub fn of_target(provider: &str, model: &str) -> Self {
        Self {
            batch_api: Some(catalog::batch_api_for(provider, model).is_some()),
            ..Self::of(model)
        }
    }

    /// The capabilities of `"provider/model"`, without building a client (no key needed).
    pub fn of_spec(spec: &str) -> Result<Self> {
        let (prefix, model) = spec
            .split_once('/')
            .filter(|(p, m)| !p.is_empty() && !m.trim().is_empty())
            .ok_or_else(|| {
                LlmError::config(format!("model must be \"provider/model\", got {spec:?}"))
            })?;
        let provider = providers::lookup(prefix).ok_or_else(|| {
            LlmError::config(format!(
                "unknown provider {prefix:?} in model {spec:?}; known providers: {}",
                providers::KNOWN.join(", ")
            ))
        })?;
        Ok(Self::of_target(provider.name(), model))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_models_have_the_catalogues_facts_and_unknown_ones_none() {
        let claude = Capabilities::of("claude-sonnet-4-5");
        assert!(claude.streaming && claude.tools);
        assert_eq!(claude.vision, catalog::vision("claude-sonnet-4-5"));
        assert_eq!(claude.prompt_caching, Some(true));
        let gpt = Capabilities::of("gpt-4.1-mini");
        assert_eq!(gpt.structured_output, Some(true));
        // Bedrock ids: Claude's facts under its inference profile, Nova's own rows.
        let nova = Capabilities::of("us.amazon.nova-pro-v1:0");
        assert_eq!(
            (nova.structured_output, nova.vision, nova.prompt_caching),
            (Some(false), Some(true), Some(true))
        );
        assert_eq!(
            Capabilities::of("amazon.nova-micro-v1:0").vision,
            Some(false)
        );
        let bedrock_claude = Capabilities::of("us.anthropic.claude-sonnet-4-5-20250929-v1:0");
        assert_eq!(bedrock_claude, Capabilities::of("claude-sonnet-4-5"));
        let unknown = Capabilities::of("my-deployment");
        assert_eq!(
            (unknown.structured_output, unknown.vision, unknown.batch_api),
            (None, None, None)
        );
    }

    #[test]
    fn a_provider_and_model_say_whether_batch_jobs_use_the_batch_api() {
        let batch = |spec: &str| Capabilities::of_spec(spec).ok().map(|c| c.batch_api);
        assert_eq!(batch("anthropic/claude-sonnet-4-5"), Some(Some(true)));
        assert_eq!(batch("openai/gpt-4.1-mini"), Some(Some(true)));
        // Google's prefix reaches the Gemini provider, and with it Gemini's batch mode.
        assert_eq!(batch("google/gemini-2.5-flash"), Some(Some(true)));
        // A model the catalogue does not know still goes to its provider's batch API.
        assert_eq!(batch("openai/my-finetune"), Some(Some(true)));
        for none in [
            "openrouter/openai/gpt-4.1-mini",
            "ollama/llama3",
            "mock/echo",
        ] {
            assert_eq!(batch(none), Some(Some(false)), "{none}");
        }
        // What is not the batch answer stays the catalogue's.
        let caps = Capabilities::of_target("anthropic", "claude-sonnet-4-5");
        assert_eq!(caps.vision, Capabilities::of("claude-sonnet-4-5").vision);
        assert!(Capabilities::of_spec("nobody/model").is_err());
        assert!(Capabilities::of_spec("claude-sonnet-4-5").is_err());
    }
}
