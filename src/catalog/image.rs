//! Image models: which parameters each accepts (and which values), how many images one request
//! may ask for, and the price of one image by quality and size. The rows are in the provider
//! files beside the chat rows (`openai.rs`, `gemini.rs`), found by [`super::image_model`];
//! `crate::images` checks a request against its model's row before anything is sent.
//!
//! An empty list of values means the model does not take the parameter at all (gpt-image models
//! refuse `response_format`; only dall-e-3 takes `style`). A model without a row is not checked:
//! its server judges what it is sent, and it has no price.

/// One image model (or family) and what its provider's documentation says of it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ImageModel {
    /// Normalised as chat rows' keys are (see [`super::name`]).
    pub key: &'static str,
    pub sizes: &'static [&'static str],
    /// The size an image has when none is asked for (the price of such a call).
    pub default_size: Option<&'static str>,
    pub qualities: &'static [&'static str],
    pub default_quality: Option<&'static str>,
    /// The most images one request may ask for.
    pub max_n: u32,
    pub styles: &'static [&'static str],
    pub backgrounds: &'static [&'static str],
    pub output_formats: &'static [&'static str],
    /// `url` or `b64_json` (dall-e); the gpt-image models always answer base64.
    pub response_formats: &'static [&'static str],
    pub moderations: &'static [&'static str],
    /// Gemini's `imageConfig.aspectRatio`.
    pub aspect_ratios: &'static [&'static str],
    /// Whether `output_compression` (0-100, for jpeg and webp) is taken.
    pub output_compression: bool,
    /// USD per image; the first entry matching an image's quality and size is its price.
    pub prices: &'static [ImagePrice],
}

/// The price of one image of a quality and size; an empty quality or size matches any.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ImagePrice {
    pub quality: &'static str,
    pub size: &'static str,
    pub usd: f64,
}

impl ImageModel {
    /// A row that accepts nothing and states no price: rows are written as
    /// `ImageModel { key, facts.., ..ImageModel::NONE }`.
    pub const NONE: ImageModel = ImageModel {
        key: "",
        sizes: &[],
        default_size: None,
        qualities: &[],
        default_quality: None,
        max_n: 1,
        styles: &[],
        backgrounds: &[],
        output_formats: &[],
        response_formats: &[],
        moderations: &[],
        aspect_ratios: &[],
        output_compression: false,
        prices: &[],
    };

    /// The price of one image of `quality` and `size` (either may be unknown: then only an
    /// entry that matches any value of it applies).
    pub fn price(&self, quality: Option<&str>, size: Option<&str>) -> Option<f64> {
        let fits = |want: &str, got: Option<&str>| want.is_empty() || got == Some(want);
        self.prices
            .iter()
            .find(|p| fits(p.quality, quality) && fits(p.size, size))
            .map(|p| p.usd)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{image_model, image_rows};

    #[test]
    fn image_rows_are_found_by_name_and_snapshot_but_not_by_a_longer_model() {
        let row = |m: &str| image_model(m).map(|r| r.key);
        assert_eq!(row("gpt-image-1"), Some("gpt-image-1"));
        assert_eq!(row("gpt-image-1-mini"), Some("gpt-image-1-mini"));
        assert_eq!(row("dall-e-3"), Some("dall-e-3"));
        assert_eq!(
            row("gemini-2.5-flash-image"),
            Some("gemini-2-5-flash-image*")
        );
        assert_eq!(
            row("gemini-2.5-flash-image-preview"),
            Some("gemini-2-5-flash-image*")
        );
        assert_eq!(row("gpt-4.1-mini"), None);
        assert_eq!(row("gemini-2.5-flash"), None);
    }

    #[test]
    fn an_image_is_priced_by_quality_and_size() {
        let dalle3 = image_model("dall-e-3");
        let price = |q, s| dalle3.and_then(|r| r.price(q, s));
        assert_eq!(price(Some("standard"), Some("1024x1024")), Some(0.04));
        assert_eq!(price(Some("hd"), Some("1792x1024")), Some(0.12));
        assert_eq!(price(Some("auto"), Some("1024x1024")), None);
        let flash = image_model("gemini-2.5-flash-image");
        assert_eq!(flash.and_then(|r| r.price(None, None)), Some(0.039));
    }

    #[test]
    fn image_rows_are_unique_normalised_and_their_prices_name_accepted_values() {
        let mut seen = std::collections::HashSet::new();
        for row in image_rows() {
            assert!(seen.insert(row.key), "{} twice", row.key);
            assert_eq!(row.key, row.key.to_ascii_lowercase().replace('.', "-"));
            assert!(row.max_n >= 1, "{}", row.key);
            for p in row.prices {
                assert!(p.usd.is_finite() && p.usd > 0.0, "{}", row.key);
                assert!(
                    p.size.is_empty() || row.sizes.contains(&p.size),
                    "{}",
                    row.key
                );
                assert!(
                    p.quality.is_empty() || row.qualities.contains(&p.quality),
                    "{}",
                    row.key
                );
            }
        }
    }
}
