//! What a call cost, in USD, from its usage and a price table kept as data.
//!
//! Cache writes and reads have their own prices: Anthropic bills a 5-minute write at 1.25x the
//! input price, a 1-hour write at 2x and a read at 0.1x; OpenAI bills cached input at a
//! discount (a tenth to a half of the input price, by model) and, before GPT-5.6, writes at
//! the plain input price. Unknown models have no price (`None`), never a guess.

use crate::cache::models::lookup;
use crate::model::Usage;

/// USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prices {
    pub input: f64,
    pub output: f64,
    pub cache_write_5m: f64,
    pub cache_write_1h: f64,
    pub cache_read: f64,
}

/// Anthropic's multipliers over the base input price.
const fn claude(input: f64, output: f64) -> Prices {
    Prices {
        input,
        output,
        cache_write_5m: input * 1.25,
        cache_write_1h: input * 2.0,
        cache_read: input * 0.1,
    }
}

/// OpenAI: no write surcharge; cached input at its own price.
const fn gpt(input: f64, cached: f64, output: f64) -> Prices {
    Prices {
        input,
        output,
        cache_write_5m: input,
        cache_write_1h: input,
        cache_read: cached,
    }
}

/// Sources: Anthropic, "Prompt caching", section "Pricing" (platform.claude.com/docs/en/
/// build-with-claude/prompt-caching); OpenAI's pricing page (developers.openai.com/api/docs/
/// pricing, "Text tokens", standard tier). Keys are matched as in `cache::models::lookup`.
pub const TABLE: &[(&str, Prices)] = &[
    ("claude-fable-5-1", cached_read(claude(10.0, 50.0), 0.25)),
    ("claude-mythos-5-1", cached_read(claude(10.0, 50.0), 0.25)),
    ("claude-fable-5", cached_read(claude(10.0, 50.0), 1.0)),
    ("claude-mythos-5", cached_read(claude(10.0, 50.0), 1.0)),
    ("claude-opus-5", claude(5.0, 25.0)),
    ("claude-opus-4-8", claude(5.0, 25.0)),
    ("claude-opus-4-7", claude(5.0, 25.0)),
    ("claude-opus-4-6", claude(5.0, 25.0)),
    ("claude-opus-4-5", claude(5.0, 25.0)),
    ("claude-opus-4-1", claude(15.0, 75.0)),
    ("claude-opus-4-0", claude(15.0, 75.0)),
    ("claude-opus-4", claude(15.0, 75.0)),
    ("claude-sonnet-5", claude(2.0, 10.0)),
    ("claude-sonnet-4-6", claude(3.0, 15.0)),
    ("claude-sonnet-4-5", claude(3.0, 15.0)),
    ("claude-sonnet-4-0", claude(3.0, 15.0)),
    ("claude-sonnet-4", claude(3.0, 15.0)),
    ("claude-haiku-4-5", claude(1.0, 5.0)),
    ("claude-3-5-haiku", claude(0.8, 4.0)),
    ("gpt-5-5", gpt(5.0, 0.5, 30.0)),
    ("gpt-5-4", gpt(2.5, 0.25, 15.0)),
    ("gpt-5-4-mini", gpt(0.75, 0.075, 4.5)),
    ("gpt-5-4-nano", gpt(0.2, 0.02, 1.25)),
    ("gpt-5-2", gpt(1.75, 0.175, 14.0)),
    ("gpt-5", gpt(1.25, 0.125, 10.0)),
    ("gpt-5-mini", gpt(0.25, 0.025, 2.0)),
    ("gpt-5-nano", gpt(0.05, 0.005, 0.4)),
    ("gpt-4-1", gpt(2.0, 0.5, 8.0)),
    ("gpt-4-1-mini", gpt(0.4, 0.1, 1.6)),
    ("gpt-4-1-nano", gpt(0.1, 0.025, 0.4)),
    ("gpt-4o", gpt(2.5, 1.25, 10.0)),
    ("gpt-4o-mini", gpt(0.15, 0.075, 0.6)),
    ("o3", gpt(2.0, 0.5, 8.0)),
    ("o4-mini", gpt(1.1, 0.275, 4.4)),
];

/// A model whose cache reads are not the usual tenth of the input price.
const fn cached_read(p: Prices, read: f64) -> Prices {
    Prices {
        cache_read: read,
        ..p
    }
}

/// The prices of a model, if the table knows it.
pub fn prices(model: &str) -> Option<Prices> {
    lookup(TABLE, model).copied()
}

/// The cost of one call: uncached input, cache writes (5-minute and 1-hour), cache reads and
/// output, each at its own price. `input_tokens` counts all input, cached tokens included.
pub fn cost_usd(model: &str, usage: &Usage) -> Option<f64> {
    let p = prices(model)?;
    let cached = usage
        .cache_read_tokens
        .saturating_add(usage.cache_write_tokens);
    let uncached = usage.input_tokens.saturating_sub(cached);
    let write_1h = usage.cache_write_1h_tokens.min(usage.cache_write_tokens);
    let write_5m = usage.cache_write_tokens.saturating_sub(write_1h);
    let micro = uncached as f64 * p.input
        + write_5m as f64 * p.cache_write_5m
        + write_1h as f64 * p.cache_write_1h
        + usage.cache_read_tokens as f64 * p.cache_read
        + usage.output_tokens as f64 * p.output;
    Some(micro / 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(input: u64, output: u64, read: u64, write: u64, write_1h: u64) -> Usage {
        Usage {
            input_tokens: input,
            output_tokens: output,
            cache_read_tokens: read,
            cache_write_tokens: write,
            cache_write_1h_tokens: write_1h,
        }
    }

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-12)
    }

    #[test]
    fn cache_tokens_have_their_own_prices() {
        // Sonnet 4.5: $3 in, $3.75 5m write, $6 1h write, $0.30 read, $15 out.
        let plain = cost_usd("claude-sonnet-4-5-20250929", &usage(1_000_000, 0, 0, 0, 0));
        assert!(close(plain, 3.0));
        let mixed = usage(
            1_000_000 + 3_000_000,
            1_000_000,
            1_000_000,
            2_000_000,
            1_000_000,
        );
        assert!(close(
            cost_usd("claude-sonnet-4-5", &mixed),
            3.0 + 3.75 + 6.0 + 0.30 + 15.0
        ));
        // gpt-4.1: cached input $0.50, no write surcharge.
        let openai = usage(2_000_000, 0, 1_000_000, 0, 0);
        assert!(close(cost_usd("gpt-4.1-2025-04-14", &openai), 2.0 + 0.5));
    }

    #[test]
    fn unknown_models_have_no_price() {
        assert_eq!(cost_usd("gpt-5.6-sol", &Usage::default()), None);
        assert_eq!(cost_usd("llama3.2", &Usage::default()), None);
        assert!(prices("anthropic/claude-haiku-4.5").is_some());
    }
}
