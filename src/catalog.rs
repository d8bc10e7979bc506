//! The model catalogue: what llmrail knows of each model, kept as data, one file of rows per
//! provider ([`anthropic`], [`openai`], [`gemini`], [`bedrock`]). Prices, the smallest cacheable
//! prefix, automatic caching, context window, output limit, and capabilities (native structured
//! output, batch API, vision, prompt caching). Cost (`crate::model::cost_usd`), cache planning
//! (`crate::cache`) and extraction's mode choice (`crate::extract`) read it; none of them keeps
//! a table or a name rule of its own. A new provider or model is new rows, not code. Image
//! models have rows of their own ([`ImageModel`], `image.rs`): the options each takes and its
//! price per image, which `crate::images` checks requests against.
//!
//! Ground floor: the catalogue knows model names and numbers, nothing of requests or usage, so
//! every layer can read it and it reads none of them.
//!
//! Every fact is optional: a row states what a source it cites says, and a fact nobody cited is
//! `None`, never a guess (an unknown model has no price). Each fact of a name comes from the most
//! specific row that matches the name *and* states that fact ([`name`] says how names match), so
//! a snapshot row states only what differs from its model, and a family row (`gpt-5*`) states
//! what holds for every model of the family.
//!
//! Lookups run per call (a cost per response, a cache plan per request): a scan of static rows
//! comparing bytes, no allocation, no parsing. Measured (release, this 2-core machine, best of
//! 15): `cost_usd` of a dated Claude name ~175 ns, `min_cacheable_tokens` ~120-170 ns, against
//! ~260 ns and ~185 ns for the per-table lookup it replaced (which built a `String` per call).

mod anthropic;
mod bedrock;
mod gemini;
mod image;
pub mod name;
mod openai;

#[cfg(test)]
mod tests;

pub use image::{ImageModel, ImagePrice};
use name::Name;

/// USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prices {
    pub input: f64,
    pub output: f64,
    pub cache_write_5m: f64,
    pub cache_write_1h: f64,
    pub cache_read: f64,
}

/// One row: a model (or a snapshot, or a family) and what sources say of it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Model {
    /// The name as the provider writes it, normalised (lower case, dashes for dots); a trailing
    /// `*` makes it a family key (see [`name`]).
    pub key: &'static str,
    pub prices: Option<Prices>,
    /// Input and output tokens one request may hold.
    pub context_window: Option<u32>,
    /// The most output tokens one request may ask for.
    pub max_output_tokens: Option<u32>,
    /// The smallest prefix the model caches, in tokens; shorter prefixes are processed without
    /// caching and without an error.
    pub min_cacheable_tokens: Option<u64>,
    /// Whether the API caches a conversation without a marker per block (Anthropic's
    /// top-level `cache_control`).
    pub automatic_caching: Option<bool>,
    /// Whether the API caches prompt prefixes at all.
    pub prompt_caching: Option<bool>,
    /// Whether the API constrains output to a JSON schema the caller gives (OpenAI's
    /// `response_format` json_schema).
    pub structured_output: Option<bool>,
    /// Whether the provider's batch API takes the model.
    pub batch_api: Option<bool>,
    /// Whether the model reads images.
    pub vision: Option<bool>,
}

impl Model {
    /// A row that states nothing: rows are written as `Model { key, facts.., ..Model::UNKNOWN }`.
    pub const UNKNOWN: Model = Model {
        key: "",
        prices: None,
        context_window: None,
        max_output_tokens: None,
        min_cacheable_tokens: None,
        automatic_caching: None,
        prompt_caching: None,
        structured_output: None,
        batch_api: None,
        vision: None,
    };
}

/// Every provider's rows. The order does not matter: the most specific key wins.
const TABLES: &[&[Model]] = &[
    anthropic::MODELS,
    openai::MODELS,
    gemini::MODELS,
    bedrock::MODELS,
];

/// Every row of the catalogue.
pub fn rows() -> impl Iterator<Item = &'static Model> {
    TABLES.iter().flat_map(|t| t.iter())
}

/// One fact of `model`: from the most specific row that matches the name and states it.
pub fn fact<T>(model: &str, get: impl Fn(&Model) -> Option<T>) -> Option<T> {
    let name = Name::new(model);
    let mut best: Option<(usize, T)> = None;
    for row in rows() {
        // The fact first: most rows state few facts, and reading one is cheaper than a match.
        let Some(value) = get(row) else { continue };
        let Some(rank) = name.rank(row.key) else {
            continue;
        };
        if best.as_ref().is_none_or(|(r, _)| rank > *r) {
            best = Some((rank, value));
        }
    }
    best.map(|(_, value)| value)
}

const IMAGE_TABLES: &[&[ImageModel]] = &[openai::IMAGE_MODELS, gemini::IMAGE_MODELS];

/// Every image row of the catalogue.
pub fn image_rows() -> impl Iterator<Item = &'static ImageModel> {
    IMAGE_TABLES.iter().flat_map(|t| t.iter())
}

/// The most specific image row that names `model`, if any.
pub fn image_model(model: &str) -> Option<&'static ImageModel> {
    let name = Name::new(model);
    image_rows()
        .filter_map(|row| name.rank(row.key).map(|rank| (rank, row)))
        .max_by_key(|(rank, _)| *rank)
        .map(|(_, row)| row)
}

/// The prices of a model, if a row gives them.
pub fn prices(model: &str) -> Option<Prices> {
    LAST_PRICES.with(|last| {
        let mut last = last.borrow_mut();
        if let Some((_, prices)) = last.as_ref().filter(|(name, _)| name == model) {
            return *prices;
        }
        let prices = fact(model, |m| m.prices);
        *last = Some((model.to_string(), prices));
        prices
    })
}

thread_local! {
    /// The last model priced on this thread: every answer is priced (its cost, the telemetry's
    /// counters), a client's answers name the same model, and the scan of the rows was ~2.7k
    /// of a chat's ~98k instructions at 256 in flight (callgrind); the rows never change.
    static LAST_PRICES: std::cell::RefCell<Option<(String, Option<Prices>)>> =
        const { std::cell::RefCell::new(None) };
}

pub fn context_window(model: &str) -> Option<u32> {
    fact(model, |m| m.context_window)
}

pub fn max_output_tokens(model: &str) -> Option<u32> {
    fact(model, |m| m.max_output_tokens)
}

pub fn min_cacheable_tokens(model: &str) -> Option<u64> {
    fact(model, |m| m.min_cacheable_tokens)
}

pub fn automatic_caching(model: &str) -> Option<bool> {
    fact(model, |m| m.automatic_caching)
}

pub fn prompt_caching(model: &str) -> Option<bool> {
    fact(model, |m| m.prompt_caching)
}

pub fn structured_output(model: &str) -> Option<bool> {
    fact(model, |m| m.structured_output)
}

pub fn batch_api(model: &str) -> Option<bool> {
    fact(model, |m| m.batch_api)
}

/// A provider's batch API (half price, answered within a day). Which providers have one is
/// kept here and nowhere else: batch jobs choose their translation by it (`crate::batch`), the
/// batch price is read by it, and `Client.capabilities` (and from there LangChain's
/// `optimize(batch=True)`) reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchApi {
    /// Message Batches.
    Anthropic,
    /// A JSONL file, then `/v1/batches`.
    OpenAi,
    /// `batchGenerateContent`.
    Gemini,
}

impl BatchApi {
    /// The batch API of a provider, by its name (`crate::providers::Provider::name`); `None`:
    /// it has none (OpenRouter, Ollama, Azure, Bedrock, a registered provider).
    pub fn of(provider: &str) -> Option<Self> {
        match provider {
            "anthropic" => Some(Self::Anthropic),
            "openai" => Some(Self::OpenAi),
            "gemini" => Some(Self::Gemini),
            _ => None,
        }
    }

    /// What a request sent through it costs, as a fraction of the real-time price. A
    /// provider-wide fact (each provider's page states it for every model), so it is kept per
    /// provider, beside that provider's rows.
    pub fn price(self) -> f64 {
        match self {
            Self::Anthropic => anthropic::BATCH_PRICE,
            Self::OpenAi => openai::BATCH_PRICE,
            Self::Gemini => gemini::BATCH_PRICE,
        }
    }
}

/// The batch API a batch job for `model` on `provider` goes through: the provider's, unless the
/// model's row says that API does not take it. `None`: the job runs as concurrent calls.
pub fn batch_api_for(provider: &str, model: &str) -> Option<BatchApi> {
    BatchApi::of(provider).filter(|_| batch_api(model) != Some(false))
}

/// What a request sent through `provider`'s batch API costs, as a fraction of the real-time
/// price; `None` for a provider without one.
pub fn batch_price(provider: &str) -> Option<f64> {
    BatchApi::of(provider).map(BatchApi::price)
}

pub fn vision(model: &str) -> Option<bool> {
    fact(model, |m| m.vision)
}
