//! Per-model cache facts, kept as data: the minimum cacheable prefix and whether the API offers
//! automatic caching. Also the model-name matching the price table shares.

/// Source: Anthropic, "Prompt caching", section "Cache limitations"
/// (platform.claude.com/docs/en/build-with-claude/prompt-caching), the Claude API list.
/// Prefixes shorter than this are processed without caching and without an error.
const MINIMUMS: &[(&str, u64)] = &[
    ("claude-fable-5-1", 512),
    ("claude-mythos-5-1", 512),
    ("claude-opus-5", 512),
    ("claude-fable-5", 512),
    ("claude-mythos-5", 512),
    ("claude-mythos-preview", 2_048),
    ("claude-opus-4-7", 2_048),
    ("claude-opus-4-6", 4_096),
    ("claude-opus-4-5", 4_096),
    ("claude-opus-4-8", 1_024),
    ("claude-sonnet-5", 1_024),
    ("claude-sonnet-4-6", 1_024),
    ("claude-sonnet-4-5", 1_024),
    ("claude-opus-4-1", 1_024),
    ("claude-opus-4-0", 1_024),
    ("claude-opus-4", 1_024),
    ("claude-sonnet-4-0", 1_024),
    ("claude-sonnet-4", 1_024),
    ("claude-haiku-4-5", 4_096),
    ("claude-3-5-haiku", 2_048),
];

/// Models that are retired on the Claude API; every active model has automatic caching
/// ("Prompt caching (both automatic and explicit) is supported on all active Claude models").
const NO_AUTOMATIC: &[&str] = &["claude-3-5-haiku"];

/// An unknown Claude model: the most common minimum. Too high only skips a breakpoint on a
/// borderline prefix; too low only places one the API ignores.
pub const DEFAULT_MINIMUM: u64 = 1_024;

/// The smallest prefix the model caches, in tokens.
pub fn min_cacheable_tokens(model: &str) -> u64 {
    lookup(MINIMUMS, model).copied().unwrap_or(DEFAULT_MINIMUM)
}

/// Whether the model takes Anthropic's top-level (automatic) `cache_control`.
pub fn has_automatic_caching(model: &str) -> bool {
    lookup(MINIMUMS, model).is_some() && lookup_key(NO_AUTOMATIC.iter().copied(), model).is_none()
}

/// The entry for `model` in a table keyed by model name.
///
/// Names are compared lower-case with dots as dashes (OpenRouter writes `claude-sonnet-4.5`),
/// without an `owner/` prefix. A key matches the whole name, or a prefix of it followed by a
/// dated or `-latest` snapshot suffix (`claude-sonnet-4-5-20250929`, `gpt-4o-2024-08-06`),
/// so `gpt-5` never prices `gpt-5.6-sol` and `claude-opus-4` never answers for
/// `claude-opus-4-7`.
pub fn lookup<'a, T>(table: &'a [(&str, T)], model: &str) -> Option<&'a T> {
    let key = lookup_key(table.iter().map(|(k, _)| *k), model)?;
    table.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
}

fn lookup_key<'k>(keys: impl Iterator<Item = &'k str>, model: &str) -> Option<&'k str> {
    let name = model.rsplit('/').next().unwrap_or(model);
    let name: String = name
        .chars()
        .map(|c| {
            if c == '.' {
                '-'
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect();
    keys.filter(|k| matches(&name, k)).max_by_key(|k| k.len())
}

fn matches(name: &str, key: &str) -> bool {
    match name.strip_prefix(key) {
        Some("") => true,
        Some(rest) => rest.strip_prefix('-').is_some_and(is_snapshot),
        None => false,
    }
}

/// `20250929`, `2024-08-06` or `latest`.
fn is_snapshot(s: &str) -> bool {
    if s == "latest" {
        return true;
    }
    let first = s.split('-').next().unwrap_or("");
    first.len() >= 4
        && s.chars().all(|c| c.is_ascii_digit() || c == '-')
        && first.chars().all(|c| c.is_ascii_digit())
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

    #[test]
    fn snapshots_match_but_other_versions_do_not() {
        let table = [
            ("gpt-5", 1),
            ("gpt-5-mini", 2),
            ("gpt-4o", 3),
            ("gpt-4-1", 4),
        ];
        assert_eq!(lookup(&table, "gpt-5"), Some(&1));
        assert_eq!(lookup(&table, "gpt-5-mini-2025-08-07"), Some(&2));
        assert_eq!(lookup(&table, "gpt-4o-2024-08-06"), Some(&3));
        assert_eq!(lookup(&table, "openai/gpt-4.1"), Some(&4));
        assert_eq!(lookup(&table, "gpt-5.6-sol"), None);
        assert_eq!(lookup(&table, "gpt-4o-mini"), None);
    }
}
