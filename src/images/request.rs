//! The unified image request and response, and what an answer costs.

use std::time::Duration;

use base64::Engine;

use crate::catalog;
use crate::error::{LlmError, Result};
use crate::model::Usage;

/// One image-generation call. Every option is `None` unless the caller set it: only what was
/// set is sent (models refuse parameters they do not take, see `rules.rs`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImageRequest {
    pub prompt: String,
    /// How many images; most models default to one.
    pub n: Option<u32>,
    /// `"1024x1024"` (OpenAI), `"1K"` (Gemini 3 Pro Image).
    pub size: Option<String>,
    pub quality: Option<String>,
    pub background: Option<String>,
    pub output_format: Option<String>,
    pub output_compression: Option<u32>,
    pub style: Option<String>,
    pub response_format: Option<String>,
    pub moderation: Option<String>,
    /// Gemini's `imageConfig.aspectRatio`, e.g. `"16:9"`.
    pub aspect_ratio: Option<String>,
    /// An end-user id OpenAI may use to detect abuse.
    pub user: Option<String>,
}

impl ImageRequest {
    /// Every text option that was set, by its keyword (which is also the OpenAI wire's name),
    /// in one order: the one list for the places that walk them (a request body, the hooks).
    pub fn texts(&self) -> impl Iterator<Item = (&'static str, &String)> {
        [
            ("size", &self.size),
            ("quality", &self.quality),
            ("background", &self.background),
            ("output_format", &self.output_format),
            ("style", &self.style),
            ("response_format", &self.response_format),
            ("moderation", &self.moderation),
            ("aspect_ratio", &self.aspect_ratio),
            ("user", &self.user),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.as_ref().map(|v| (name, v)))
    }
}

/// One generated image: base64 bytes, or a URL (dall-e with `response_format="url"`; such a URL
/// expires 60 minutes after the image was made).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Image {
    pub b64_json: Option<String>,
    pub url: Option<String>,
    /// The prompt the model really used (dall-e-3 rewrites prompts).
    pub revised_prompt: Option<String>,
    /// `image/png`, `image/jpeg`, `image/webp` when the answer says or the format was asked.
    pub mime_type: Option<String>,
}

impl Image {
    /// The image's bytes, decoded from `b64_json`; `None` for an image given only as a URL.
    pub fn data(&self) -> Option<Result<Vec<u8>>> {
        self.b64_json.as_ref().map(|b64| {
            base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|e| LlmError::invalid_response(format!("an image is not base64: {e}")))
        })
    }
}

/// What an image call brought back.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImageResponse {
    pub images: Vec<Image>,
    /// Tokens, where the provider reports them (gpt-image models, Gemini); zero otherwise.
    pub usage: Usage,
    pub provider: String,
    pub model: String,
    /// Unix seconds, as OpenAI stamps its answer.
    pub created: Option<u64>,
    /// The size and quality the images were made at, when the answer says (gpt-image models
    /// answer `auto` with what they chose).
    pub size: Option<String>,
    pub quality: Option<String>,
    /// Words the model wrote beside its images (Gemini).
    pub text: Option<String>,
    pub request_id: Option<String>,
    pub latency: Duration,
    /// The catalogue's price per image times the images; `None` for a model or a quality and
    /// size it has no price for.
    pub cost_usd: Option<f64>,
}

impl ImageResponse {
    /// Price the answer: each image at its model's price for the quality and size it was made
    /// at (as answered, else as asked, else the model's default).
    pub fn priced(mut self, model: &str, req: &ImageRequest) -> Self {
        self.cost_usd = catalog::image_model(model).and_then(|row| {
            let quality = (self.quality.as_deref())
                .or(req.quality.as_deref())
                .or(row.default_quality);
            let size = (self.size.as_deref())
                .or(req.size.as_deref())
                .or(row.default_size);
            let each = row.price(quality, size)?;
            let count = u32::try_from(self.images.len()).ok()?;
            Some(each * f64::from(count))
        });
        self
    }
}
