//! What a client's model can do ([`Capabilities`]): what every provider llmrail speaks does
//! (streaming, tool calls), and the catalogue's facts of the model (`crate::catalog`), which are
//! `None` where no source the catalogue cites says (an unknown model, an Azure deployment's own
//! name).

use crate::catalog;

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
    /// A batch API at half price.
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
}
