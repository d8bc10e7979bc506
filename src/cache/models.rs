//! What cache planning assumes of a model: the catalogue's facts (`crate::catalog`), with the
//! defaults for a model the catalogue does not know.

use crate::catalog;

/// An unknown Claude model: the most common minimum. Too high only skips a breakpoint on a
/// borderline prefix; too low only places one the API ignores.
pub const DEFAULT_MINIMUM: u64 = 1_024;

/// The smallest prefix the model caches, in tokens.
pub fn min_cacheable_tokens(model: &str) -> u64 {
    catalog::min_cacheable_tokens(model).unwrap_or(DEFAULT_MINIMUM)
}

/// Whether the model takes Anthropic's top-level (automatic) `cache_control`: only a model the
/// catalogue says has it; an unknown model gets llmrail's explicit breakpoints only.
pub fn has_automatic_caching(model: &str) -> bool {
    catalog::automatic_caching(model) == Some(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimums_follow_the_model_family() {
        assert_eq!(min_cacheable_tokens("claude-sonnet-4-5"), 1_024);
        assert_eq!(min_cacheable_tokens("claude-sonnet-4-5-20250929"), 1_024);
        assert_eq!(min_cacheable_tokens("anthropic/claude-haiku-4.5"), 4_096);
        assert_eq!(min_cacheable_tokens("claude-opus-4-20250514"), 1_024);
        assert_eq!(min_cacheable_tokens("claude-opus-4-7"), 2_048);
        assert_eq!(min_cacheable_tokens("claude-opus-5"), 512);
        assert_eq!(min_cacheable_tokens("claude-3-5-haiku-latest"), 2_048);
        assert_eq!(min_cacheable_tokens("some-proxy-model"), DEFAULT_MINIMUM);
    }

    #[test]
    fn automatic_caching_is_for_known_active_models() {
        assert!(has_automatic_caching("claude-sonnet-4-5"));
        assert!(!has_automatic_caching("claude-3-5-haiku-20241022"));
        assert!(!has_automatic_caching("my-finetune"));
    }
}
