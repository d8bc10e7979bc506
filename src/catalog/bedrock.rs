//! Amazon Nova models on AWS Bedrock (`amazon.nova-pro-v1:0`, `us.amazon.nova-micro-v1:0`, ...;
//! [`super::name`] strips the inference-profile and vendor prefixes and the version suffix, so
//! the keys are the bare model names). Claude on Bedrock is priced as on the Claude API and finds
//! the rows of `super::anthropic` the same way.
//!
//! Sources, by fact (AWS's own pricing pages, aws.amazon.com/bedrock/pricing and
//! aws.amazon.com/nova/pricing, were not among the pages we could read; these quote them, and
//! agree with one another):
//! - prices, on-demand, per million tokens: Micro $0.035 input / $0.14 output, Lite $0.06 /
//!   $0.24, Pro $0.80 / $3.20 (pristren.com, "Amazon Nova Micro"; Pro also swfte.com,
//!   "Amazon Nova Pro pricing", as of May 2026, "the prices ... on the AWS pricing page"),
//!   Premier $2.50 / $12.50 (OpenRouter's listing of amazon/nova-premier-v1, as quoted by
//!   aicoach.pw). Cached input reads at a 75% discount, a quarter of the input price (swfte.com:
//!   Pro's cached input $0.20); Nova has no write surcharge, so writes bill at the input price;
//! - context window: pristren.com (Micro 128k, Lite and Pro 300k) and the same OpenRouter
//!   listing (Premier 1M); max output is `None`, the sources disagree on it;
//! - prompt caching by `cachePoint` markers (no automatic breakpoint), at least 1K tokens a
//!   checkpoint, in system and messages but not tools: the Bedrock user guide's prompt-caching
//!   page, "Supported models, Regions and limits" (the tools rule is applied by
//!   `providers::bedrock`);
//! - vision: Micro is text only ("Nova Micro ... for simple text tasks that do not require image
//!   understanding", pristren.com), Lite, Pro and Premier take images (Premier: "Input Text
//!   Vision", the OpenRouter listing);
//! - native structured output: Bedrock's structured-output guide
//!   (docs.aws.amazon.com/bedrock/latest/userguide/structured-output.html) and the langchain-aws
//!   issue quoting it (#883) list Claude Haiku 4.5, Sonnet 4.5, Opus 4.5 and 4.6 and open-weight
//!   families, no Nova model: `false`, so `extract` asks Nova for a forced tool call.

use super::{Model, Prices};

/// Nova's cache pricing: reads at a quarter of the input price, writes at the input price.
const fn nova(input: f64, output: f64) -> Prices {
    Prices {
        input,
        output,
        cache_write_5m: input,
        cache_write_1h: input,
        cache_read: input / 4.0,
    }
}

const K: u32 = 1_000;

/// What every Nova model of this table has.
const NOVA: Model = Model {
    prompt_caching: Some(true),
    automatic_caching: Some(false),
    min_cacheable_tokens: Some(1_000),
    structured_output: Some(false),
    vision: Some(true),
    ..Model::UNKNOWN
};

pub const MODELS: &[Model] = &[
    Model {
        key: "nova-micro",
        prices: Some(nova(0.035, 0.14)),
        context_window: Some(128 * K),
        vision: Some(false),
        ..NOVA
    },
    Model {
        key: "nova-lite",
        prices: Some(nova(0.06, 0.24)),
        context_window: Some(300 * K),
        ..NOVA
    },
    Model {
        key: "nova-pro",
        prices: Some(nova(0.80, 3.20)),
        context_window: Some(300 * K),
        ..NOVA
    },
    Model {
        key: "nova-premier",
        prices: Some(nova(2.50, 12.50)),
        context_window: Some(1_000 * K),
        ..NOVA
    },
];
