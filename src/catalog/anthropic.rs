//! Claude models on the Claude API.
//!
//! Sources, by fact:
//! - prices: "Prompt caching", section "Pricing" (platform.claude.com/docs/en/build-with-claude/
//!   prompt-caching): a 5-minute write at 1.25x the input price, a 1-hour write at 2x, a read at
//!   0.1x, except where a row says otherwise;
//! - minimum cacheable prefix: the same page, section "Cache limitations", the Claude API list;
//! - automatic and explicit caching: the same page, "Prompt caching (both automatic and
//!   explicit) is supported on all active Claude models";
//! - vision: "Models overview" (platform.claude.com/docs/en/about-claude/models/overview), "All
//!   current Claude models support text and image input";
//! - context window, max output and the Batch API: each model's page
//!   (platform.claude.com/docs/en/models/<model>/overview: "Context window", "Max output", and
//!   "Batch API" under "Pricing"; Fable 5.1 and Haiku 4.5 from the comparison table those pages
//!   carry). Where we found no such page (Opus 4.7, Opus 4.1 and 4, Sonnet 4, Fable 5, the
//!   Mythos models, Haiku 3.5) those facts are `None`, not a family's guess; so is the Batch
//!   API wherever the page we read did not show it.
//!
//! Native structured output is left `None` for every Claude model: extraction asks Claude for a
//! forced tool call whatever the model (see `crate::extract`), so no decision reads it yet.

use super::{Model, Prices};

/// What a request in a Message Batch costs, as a fraction of the same call's price: "all usage
/// is charged at 50% of the standard API prices" (docs.claude.com/en/docs/build-with-claude/
/// batch-processing, "Pricing"), for every model, cache writes and reads included.
pub const BATCH_PRICE: f64 = 0.5;

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

/// A model whose cache reads are not the usual tenth of the input price.
const fn cached_read(p: Prices, read: f64) -> Prices {
    Prices {
        cache_read: read,
        ..p
    }
}

/// What holds for every active Claude model (the sources above).
const ACTIVE: Model = Model {
    automatic_caching: Some(true),
    prompt_caching: Some(true),
    vision: Some(true),
    ..Model::UNKNOWN
};

/// The pages write limits as 200K, 1M, 64K, 128K tokens.
const K: u32 = 1_000;
const M: u32 = 1_000_000;

pub const MODELS: &[Model] = &[
    Model {
        key: "claude-fable-5-1",
        prices: Some(cached_read(claude(10.0, 50.0), 0.25)),
        min_cacheable_tokens: Some(512),
        context_window: Some(M),
        max_output_tokens: Some(128 * K),
        ..ACTIVE
    },
    Model {
        key: "claude-mythos-5-1",
        prices: Some(cached_read(claude(10.0, 50.0), 0.25)),
        min_cacheable_tokens: Some(512),
        ..ACTIVE
    },
    Model {
        key: "claude-fable-5",
        prices: Some(cached_read(claude(10.0, 50.0), 1.0)),
        min_cacheable_tokens: Some(512),
        ..ACTIVE
    },
    Model {
        key: "claude-mythos-5",
        prices: Some(cached_read(claude(10.0, 50.0), 1.0)),
        min_cacheable_tokens: Some(512),
        ..ACTIVE
    },
    Model {
        key: "claude-mythos-preview",
        min_cacheable_tokens: Some(2_048),
        ..ACTIVE
    },
    Model {
        key: "claude-opus-5",
        prices: Some(claude(5.0, 25.0)),
        min_cacheable_tokens: Some(512),
        context_window: Some(M),
        max_output_tokens: Some(128 * K),
        batch_api: Some(true),
        ..ACTIVE
    },
    Model {
        key: "claude-opus-4-8",
        prices: Some(claude(5.0, 25.0)),
        min_cacheable_tokens: Some(1_024),
        context_window: Some(M),
        max_output_tokens: Some(128 * K),
        ..ACTIVE
    },
    Model {
        key: "claude-opus-4-7",
        prices: Some(claude(5.0, 25.0)),
        min_cacheable_tokens: Some(2_048),
        ..ACTIVE
    },
    Model {
        key: "claude-opus-4-6",
        prices: Some(claude(5.0, 25.0)),
        min_cacheable_tokens: Some(4_096),
        context_window: Some(M),
        max_output_tokens: Some(128 * K),
        ..ACTIVE
    },
    Model {
        key: "claude-opus-4-5",
        prices: Some(claude(5.0, 25.0)),
        min_cacheable_tokens: Some(4_096),
        context_window: Some(200 * K),
        max_output_tokens: Some(64 * K),
        batch_api: Some(true),
        ..ACTIVE
    },
    Model {
        key: "claude-opus-4-1",
        prices: Some(claude(15.0, 75.0)),
        min_cacheable_tokens: Some(1_024),
        ..ACTIVE
    },
    Model {
        key: "claude-opus-4-0",
        prices: Some(claude(15.0, 75.0)),
        min_cacheable_tokens: Some(1_024),
        ..ACTIVE
    },
    Model {
        key: "claude-opus-4",
        prices: Some(claude(15.0, 75.0)),
        min_cacheable_tokens: Some(1_024),
        ..ACTIVE
    },
    Model {
        key: "claude-sonnet-5",
        prices: Some(claude(2.0, 10.0)),
        min_cacheable_tokens: Some(1_024),
        context_window: Some(M),
        max_output_tokens: Some(128 * K),
        ..ACTIVE
    },
    Model {
        key: "claude-sonnet-4-6",
        prices: Some(claude(3.0, 15.0)),
        min_cacheable_tokens: Some(1_024),
        context_window: Some(M),
        max_output_tokens: Some(128 * K),
        ..ACTIVE
    },
    Model {
        key: "claude-sonnet-4-5",
        prices: Some(claude(3.0, 15.0)),
        min_cacheable_tokens: Some(1_024),
        context_window: Some(200 * K),
        max_output_tokens: Some(64 * K),
        ..ACTIVE
    },
    Model {
        key: "claude-sonnet-4-0",
        prices: Some(claude(3.0, 15.0)),
        min_cacheable_tokens: Some(1_024),
        ..ACTIVE
    },
    Model {
        key: "claude-sonnet-4",
        prices: Some(claude(3.0, 15.0)),
        min_cacheable_tokens: Some(1_024),
        ..ACTIVE
    },
    Model {
        key: "claude-haiku-4-5",
        prices: Some(claude(1.0, 5.0)),
        min_cacheable_tokens: Some(4_096),
        context_window: Some(200 * K),
        max_output_tokens: Some(64 * K),
        ..ACTIVE
    },
    // Retired on the Claude API: the caching page still lists its minimum, but only active
    // models have automatic caching, and the overview's vision claim covers current models only.
    Model {
        key: "claude-3-5-haiku",
        prices: Some(claude(0.8, 4.0)),
        min_cacheable_tokens: Some(2_048),
        automatic_caching: Some(false),
        prompt_caching: Some(true),
        ..Model::UNKNOWN
    },
];
