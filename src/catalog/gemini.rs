//! Google Gemini models on the Gemini API (generativelanguage.googleapis.com).
//!
//! Sources (Google's own pricing and model pages were not among the pages we could read; these
//! quote them, and agree with one another):
//! - prices, Standard paid tier, prompts up to 200k tokens: deploybase.ai/articles/gemini-api-pricing
//!   and /gemini-2.5-pricing ("Data from Google's official pricing page (March 2026)"): 2.5 Pro
//!   $1.25 input / $10 output, 2.5 Flash $0.30 / $2.50, and context caching "90% discount" on
//!   reused input, so a cached token reads at a tenth of the input price. Gemini's implicit
//!   caching has no write charge (cache storage by the hour is not a per-call cost and is not
//!   modelled): writes bill at the input price. Longer prompts cost more on 2.5 Pro ($2.50 /
//!   $15 above 200k); the catalogue has one price per model, the short-prompt one. Flash-Lite
//!   and the 2.0 models are unpriced: no source we read gave their output price;
//! - vision, batch: hivebook.wiki (gemini-2-5-google-s-multimodal-flagship-family): every 2.5
//!   tier takes "text + image + video + audio input", and Batch bills at 50% off;
//! - native structured output (`responseMimeType` + `responseJsonSchema`): the recorded
//!   pydantic-ai cassette `test_google_native_output.yaml` (gemini-2.0-flash answering a JSON
//!   schema request); the 2.x family is taken to have it as issue 15 states, later families are
//!   unknown until a source says.
//!
//! Context window and max output are `None`: the sources above round them ("1M tokens").

use super::{Model, Prices};

/// What a request in a batch costs, as a fraction of the same call's price: the Batch API
/// processes requests "at 50% of the standard cost" (ai.google.dev/gemini-api/docs/batch-api,
/// linking ai.google.dev/gemini-api/docs/pricing, whose "Batch" column halves every standard
/// price; ai.google.dev/gemini-api/docs/optimization: Batch "50% discount").
pub const BATCH_PRICE: f64 = 0.5;

/// No write surcharge; cached input at a tenth of the input price.
const fn gemini(input: f64, output: f64) -> Prices {
    Prices {
        input,
        output,
        cache_write_5m: input,
        cache_write_1h: input,
        cache_read: input / 10.0,
    }
}

pub const MODELS: &[Model] = &[
    Model {
        key: "gemini-2*",
        structured_output: Some(true),
        ..Model::UNKNOWN
    },
    Model {
        key: "gemini-2-5*",
        vision: Some(true),
        batch_api: Some(true),
        prompt_caching: Some(true),
        ..Model::UNKNOWN
    },
    Model {
        key: "gemini-2-5-pro",
        prices: Some(gemini(1.25, 10.0)),
        ..Model::UNKNOWN
    },
    Model {
        key: "gemini-2-5-flash",
        prices: Some(gemini(0.30, 2.50)),
        ..Model::UNKNOWN
    },
];

// ---- image models ---------------------------------------------------------------------------
//
// Sources: Gemini's image generation guide (ai.google.dev/gemini-api/docs/image-generation):
// images come as `inlineData` parts when `responseModalities` asks for IMAGE, one image a
// request, shaped by `imageConfig.aspectRatio` (and, for Gemini 3 Pro Image, `imageSize`);
// prices from ai.google.dev/gemini-api/docs/pricing: an image of gemini-2.5-flash-image is 1290
// output tokens at $30 per million ($0.039); Gemini 3 Pro Image's 1K and 2K images $0.134, 4K
// $0.24.

use super::image::{ImageModel, ImagePrice};

const ASPECT_RATIOS: &[&str] = &[
    "1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9",
];

pub const IMAGE_MODELS: &[ImageModel] = &[
    ImageModel {
        key: "gemini-2-5-flash-image*",
        aspect_ratios: ASPECT_RATIOS,
        prices: &[ImagePrice {
            quality: "",
            size: "",
            usd: 0.039,
        }],
        ..ImageModel::NONE
    },
    ImageModel {
        key: "gemini-3-pro-image*",
        sizes: &["1K", "2K", "4K"],
        default_size: Some("1K"),
        aspect_ratios: ASPECT_RATIOS,
        prices: &[
            ImagePrice {
                quality: "",
                size: "1K",
                usd: 0.134,
            },
            ImagePrice {
                quality: "",
                size: "2K",
                usd: 0.134,
            },
            ImagePrice {
                quality: "",
                size: "4K",
                usd: 0.24,
            },
        ],
        ..ImageModel::NONE
    },
];

#[cfg(test)]
mod tests {
    use super::super::*;

    #[test]
    fn gemini_rows_give_what_their_sources_say_and_no_more() {
        let flash = "gemini-2.5-flash";
        let p = prices(flash).map(|p| (p.input, p.output, p.cache_read));
        assert_eq!(p, Some((0.30, 2.50, 0.03)));
        assert_eq!(structured_output(flash), Some(true));
        assert_eq!(structured_output("gemini-2.0-flash"), Some(true));
        assert_eq!(vision("models/gemini-2.5-pro"), Some(true));
        assert_eq!(prices("gemini-2.5-flash-lite"), None);
        assert_eq!(context_window(flash), None);
        assert_eq!(structured_output("gemini-3.6-flash"), None);
    }
}
