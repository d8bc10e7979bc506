//! Buffered responses: a whole body through each provider's `parse_chat` and `parse_error`.

use http::HeaderMap;
use llmrail::providers::{self, Provider};

use crate::harness::never_panics;
use crate::seeds;

fn provider(name: &str) -> &'static dyn Provider {
    providers::lookup(name).expect("a known provider")
}

/// A body read as an answer and as the error body of every status class a server can send.
fn decode(name: &str, body: &[u8]) {
    let p = provider(name);
    let _ = p.parse_chat(body);
    for status in [400, 401, 404, 429, 500, 529] {
        let _ = p.parse_error(status, &HeaderMap::new(), body);
    }
}

crate::properties! {
    /// Any bytes near a real OpenAI answer or error body decode or fail, never panic.
    fn openai_response_bodies_never_panic(256) =
        |r| never_panics(r, seeds::openai_bodies(), |b| decode("openai", b));
    /// The same, read by the OpenRouter flavour of the OpenAI wire format.
    fn openrouter_response_bodies_never_panic(128) =
        |r| never_panics(r, seeds::openai_bodies(), |b| decode("openrouter", b));
    /// Any bytes near a real Anthropic answer or error body decode or fail, never panic.
    fn anthropic_response_bodies_never_panic(256) =
        |r| never_panics(r, seeds::anthropic_bodies(), |b| decode("anthropic", b));
    /// Any bytes near a real Gemini answer or error body decode or fail, never panic.
    fn gemini_response_bodies_never_panic(256) =
        |r| never_panics(r, seeds::gemini_bodies(), |b| decode("gemini", b));
    /// Any bytes near a real Bedrock Converse answer or error body decode or fail, never panic.
    fn bedrock_response_bodies_never_panic(256) =
        |r| never_panics(r, seeds::bedrock_bodies(), |b| decode("bedrock", b));
}
