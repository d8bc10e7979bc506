//! How many tokens a request will use, before it is sent: what the rate limiter reserves.

use crate::model::{ChatRequest, ContentPart};

/// Reserved for the answer when the caller sets no `max_tokens`.
pub const DEFAULT_OUTPUT_RESERVE: u64 = 1024;

/// A rough count of the tokens a request sends: about four characters a token, a little for
/// each message's framing, a flat amount per image.
pub fn estimate_input_tokens(req: &ChatRequest) -> u64 {
    const IMAGE_TOKENS: u64 = 800;
    // Sizes of values in memory cannot overflow a usize sum in practice; saturating keeps the
    // module free of unchecked arithmetic all the same (see `resilience.rs`).
    let mut chars = req.system.as_ref().map_or(0, String::len);
    let mut tokens: u64 = 0;
    for m in &req.messages {
        tokens = tokens.saturating_add(4);
        for part in &m.content {
            match part {
                ContentPart::Text(t) => chars = chars.saturating_add(t.len()),
                ContentPart::Image(_) => tokens = tokens.saturating_add(IMAGE_TOKENS),
                // Markers (cache breakpoints) send no tokens of their own.
                #[allow(unreachable_patterns)]
                _ => {}
            }
        }
        for call in &m.tool_calls {
            chars = chars
                .saturating_add(call.name.len())
                .saturating_add(call.raw_arguments.len());
        }
    }
    for tool in &req.tools {
        chars = chars
            .saturating_add(tool.name.len())
            .saturating_add(tool.description.as_ref().map_or(0, String::len))
            .saturating_add(tool.parameters.to_string().len());
    }
    let chars = u64::try_from(chars).unwrap_or(u64::MAX);
    tokens.saturating_add(chars.div_ceil(4))
}

/// What a request reserves: its input estimate plus the most it may answer.
pub fn reservation_for(req: &ChatRequest) -> u64 {
    estimate_input_tokens(req)
        .saturating_add(req.max_tokens.map_or(DEFAULT_OUTPUT_RESERVE, u64::from))
}
