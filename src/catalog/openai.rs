//! OpenAI models on api.openai.com.
//!
//! Sources:
//! - prices: OpenAI's pricing page (developers.openai.com/api/docs/pricing, "Text tokens",
//!   standard tier): no write surcharge (before GPT-5.6, writes bill at the input price) and
//!   cached input at its own price, a tenth to a half of the input price by model. A model the
//!   page gives a cached-input price for has prompt caching;
//! - native structured output (`response_format` json_schema): the Structured Outputs guide
//!   (platform.openai.com/docs/guides/structured-outputs) names `gpt-4o-mini` and
//!   `gpt-4o-2024-08-06` and later snapshots; the other families below are the ones extraction
//!   chose JSON schema for before this catalogue existed (moved here unchanged), and older models
//!   (GPT-3.5, GPT-4, GPT-4 Turbo, the first GPT-4o snapshot, o1-mini, o1-preview) have JSON mode
//!   at most.
//!
//! Context window, max output, vision and the Batch API are `None`: OpenAI's model pages were not
//! among the sources we could read, and third-party listings are not cited here.

use super::{Model, Prices};

/// What a request in a batch costs, as a fraction of the same call's price: the Batch API
/// "offers a 50% discount on both inputs and outputs" (platform.openai.com/docs/guides/batch,
/// "Overview"; the pricing page's "Batch" tier lists half of every standard price).
pub const BATCH_PRICE: f64 = 0.5;

/// No write surcharge; cached input at its own price.
const fn gpt(input: f64, cached: f64, output: f64) -> Prices {
    Prices {
        input,
        output,
        cache_write_5m: input,
        cache_write_1h: input,
        cache_read: cached,
    }
}

/// A model on the pricing page: its prices, and so prompt caching.
const fn priced(key: &'static str, prices: Prices) -> Model {
    Model {
        key,
        prices: Some(prices),
        prompt_caching: Some(true),
        ..Model::UNKNOWN
    }
}

/// A family's (or one snapshot's) native structured output.
const fn structured(key: &'static str, has: bool) -> Model {
    Model {
        key,
        structured_output: Some(has),
        ..Model::UNKNOWN
    }
}

pub const MODELS: &[Model] = &[
    priced("gpt-5-5", gpt(5.0, 0.5, 30.0)),
    priced("gpt-5-4", gpt(2.5, 0.25, 15.0)),
    priced("gpt-5-4-mini", gpt(0.75, 0.075, 4.5)),
    priced("gpt-5-4-nano", gpt(0.2, 0.02, 1.25)),
    priced("gpt-5-2", gpt(1.75, 0.175, 14.0)),
    priced("gpt-5", gpt(1.25, 0.125, 10.0)),
    priced("gpt-5-mini", gpt(0.25, 0.025, 2.0)),
    priced("gpt-5-nano", gpt(0.05, 0.005, 0.4)),
    priced("gpt-4-1", gpt(2.0, 0.5, 8.0)),
    priced("gpt-4-1-mini", gpt(0.4, 0.1, 1.6)),
    priced("gpt-4-1-nano", gpt(0.1, 0.025, 0.4)),
    priced("gpt-4o", gpt(2.5, 1.25, 10.0)),
    priced("gpt-4o-mini", gpt(0.15, 0.075, 0.6)),
    priced("o3", gpt(2.0, 0.5, 8.0)),
    priced("o4-mini", gpt(1.1, 0.275, 4.4)),
    structured("gpt-4o*", true),
    structured("gpt-4-1*", true),
    structured("gpt-4-5*", true),
    structured("gpt-5*", true),
    structured("o1*", true),
    structured("o3*", true),
    structured("o4*", true),
    structured("chatgpt*", true),
    structured("gpt-3-5*", false),
    structured("gpt-4*", false),
    structured("gpt-4o-2024-05-13", false),
    structured("o1-mini*", false),
    structured("o1-preview*", false),
];

// ---- image models ---------------------------------------------------------------------------
//
// Sources: the Images API reference (the `CreateImageRequest` schema of OpenAI's OpenAPI
// document, /work/shared/specs/openai/openapi.yaml, 2026-08-21): which parameters each model
// takes and their values, sizes, and n (1-10, dall-e-3 one at a time); prices per image from
// the pricing page's "Image generation" table (developers.openai.com/api/docs/pricing). The
// gpt-image-1.5 row states no prices: the page we read did not list a per-image price for it.

use super::image::{ImageModel, ImagePrice};

const GPT_IMAGE_SIZES: &[&str] = &["auto", "1024x1024", "1536x1024", "1024x1536"];
const GPT_IMAGE_QUALITIES: &[&str] = &["auto", "low", "medium", "high"];

/// One quality's prices for the square and the two oblong gpt-image sizes.
macro_rules! gpt_image_prices {
    ($($quality:literal => $square:literal, $oblong:literal;)*) => {
        &[$(
            ImagePrice { quality: $quality, size: "1024x1024", usd: $square },
            ImagePrice { quality: $quality, size: "1536x1024", usd: $oblong },
            ImagePrice { quality: $quality, size: "1024x1536", usd: $oblong },
        )*]
    };
}

/// A gpt-image model: base64 answers only (no `response_format`), backgrounds, output formats.
const fn gpt_image(key: &'static str, prices: &'static [ImagePrice]) -> ImageModel {
    ImageModel {
        key,
        sizes: GPT_IMAGE_SIZES,
        default_size: Some("auto"),
        qualities: GPT_IMAGE_QUALITIES,
        default_quality: Some("auto"),
        max_n: 10,
        backgrounds: &["transparent", "opaque", "auto"],
        output_formats: &["png", "jpeg", "webp"],
        moderations: &["low", "auto"],
        output_compression: true,
        prices,
        ..ImageModel::NONE
    }
}

pub const IMAGE_MODELS: &[ImageModel] = &[
    gpt_image(
        "gpt-image-1",
        gpt_image_prices! {
            "low" => 0.011, 0.016;
            "medium" => 0.042, 0.063;
            "high" => 0.167, 0.25;
        },
    ),
    gpt_image(
        "gpt-image-1-mini",
        gpt_image_prices! {
            "low" => 0.005, 0.006;
            "medium" => 0.011, 0.015;
            "high" => 0.036, 0.052;
        },
    ),
    gpt_image("gpt-image-1-5", &[]),
    ImageModel {
        key: "dall-e-3",
        sizes: &["1024x1024", "1792x1024", "1024x1792"],
        default_size: Some("1024x1024"),
        qualities: &["standard", "hd"],
        default_quality: Some("standard"),
        max_n: 1,
        styles: &["vivid", "natural"],
        response_formats: &["url", "b64_json"],
        prices: &[
            ImagePrice {
                quality: "standard",
                size: "1024x1024",
                usd: 0.04,
            },
            ImagePrice {
                quality: "standard",
                size: "1792x1024",
                usd: 0.08,
            },
            ImagePrice {
                quality: "standard",
                size: "1024x1792",
                usd: 0.08,
            },
            ImagePrice {
                quality: "hd",
                size: "1024x1024",
                usd: 0.08,
            },
            ImagePrice {
                quality: "hd",
                size: "1792x1024",
                usd: 0.12,
            },
            ImagePrice {
                quality: "hd",
                size: "1024x1792",
                usd: 0.12,
            },
        ],
        ..ImageModel::NONE
    },
    ImageModel {
        key: "dall-e-2",
        sizes: &["256x256", "512x512", "1024x1024"],
        default_size: Some("1024x1024"),
        qualities: &["standard"],
        default_quality: Some("standard"),
        max_n: 10,
        response_formats: &["url", "b64_json"],
        prices: &[
            ImagePrice {
                quality: "",
                size: "256x256",
                usd: 0.016,
            },
            ImagePrice {
                quality: "",
                size: "512x512",
                usd: 0.018,
            },
            ImagePrice {
                quality: "",
                size: "1024x1024",
                usd: 0.02,
            },
        ],
        ..ImageModel::NONE
    },
];
