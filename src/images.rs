//! Image generation in unified terms: what a caller asks for ([`ImageRequest`]), what comes
//! back ([`ImageResponse`], each [`Image`] with its bytes, URL and revised prompt), the check of
//! a request against its model's row of the catalogue before anything is sent (`rules.rs`), and
//! what the images cost.
//!
//! The wire formats are the providers' (`providers::openai::images`, `providers::gemini::images`);
//! the call runs through a client's pipeline like a chat (`client/images.rs`), so retries, rate
//! limits, breakers, fallbacks, cassettes and telemetry apply unchanged.

mod request;
mod rules;
#[cfg(test)]
mod tests;

pub use request::{Image, ImageRequest, ImageResponse};
pub use rules::check;
