//! What a call cost, in USD: its usage at the catalogue's prices (`crate::catalog`).
//!
//! Cache writes and reads have their own prices: Anthropic bills a 5-minute write at 1.25x the
//! input price, a 1-hour write at 2x and a read at 0.1x; OpenAI bills cached input at a
//! discount (a tenth to a half of the input price, by model) and, before GPT-5.6, writes at
//! the plain input price. Unknown models have no price (`None`), never a guess.
//!
//! The formula lives here, beside [`Usage`], and the prices in the catalogue: the catalogue
//! stays below the unified types, and nothing else computes a cost.

use super::Usage;
use crate::catalog;

/// The cost of one call: uncached input, cache writes (5-minute and 1-hour), cache reads and
/// output, each at its own price. `input_tokens` counts all input, cached tokens included.
pub fn cost_usd(model: &str, usage: &Usage) -> Option<f64> {
    let p = catalog::prices(model)?;
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

/// The cost of one request sent through `provider`'s batch API: [`cost_usd`] at the provider's
/// batch price (half, for Anthropic and OpenAI); `None` without a price or a batch API.
pub fn batch_cost_usd(provider: &str, model: &str, usage: &Usage) -> Option<f64> {
    Some(cost_usd(model, usage)? * catalog::batch_price(provider)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::prices;

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
    fn a_batch_request_costs_half_the_real_time_price() {
        let u = usage(1_000_000, 1_000_000, 0, 0, 0);
        let model = "claude-sonnet-4-5-20250929";
        assert!(close(
            batch_cost_usd("anthropic", model, &u),
            (3.0 + 15.0) / 2.0
        ));
        assert!(close(
            batch_cost_usd("openai", "gpt-4.1", &u),
            (2.0 + 8.0) / 2.0
        ));
        assert_eq!(batch_cost_usd("openrouter", model, &u), None);
    }

    #[test]
    fn unknown_models_have_no_price() {
        assert_eq!(cost_usd("gpt-5.6-sol", &Usage::default()), None);
        assert_eq!(cost_usd("llama3.2", &Usage::default()), None);
        assert!(prices("anthropic/claude-haiku-4.5").is_some());
    }
}
