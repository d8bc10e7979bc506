//! Whether a request fits its model, decided before anything is sent: each parameter the model
//! does not take, or a value it does not accept, is an error naming the parameter, the model
//! and what it allows (the catalogue's image rows say which). A model without a row is sent
//! what the caller gave, for its server to judge.

use super::ImageRequest;
use crate::catalog::{self, ImageModel};
use crate::error::{LlmError, Result};

/// Check `req` against `provider/model`'s row of the catalogue.
pub fn check(provider: &str, model: &str, req: &ImageRequest) -> Result<()> {
    if req.prompt.trim().is_empty() {
        return Err(LlmError::config("images.generate() needs a prompt"));
    }
    if req.n == Some(0) {
        return Err(LlmError::config("n must be at least 1"));
    }
    let Some(row) = catalog::image_model(model) else {
        return Ok(());
    };
    let target = format!("{provider}/{model}");
    let choices: [(&str, Option<&String>, &[&str]); 8] = [
        ("size", req.size.as_ref(), row.sizes),
        ("quality", req.quality.as_ref(), row.qualities),
        ("style", req.style.as_ref(), row.styles),
        ("background", req.background.as_ref(), row.backgrounds),
        (
            "output_format",
            req.output_format.as_ref(),
            row.output_formats,
        ),
        (
            "response_format",
            req.response_format.as_ref(),
            row.response_formats,
        ),
        ("moderation", req.moderation.as_ref(), row.moderations),
        ("aspect_ratio", req.aspect_ratio.as_ref(), row.aspect_ratios),
    ];
    for (name, value, allowed) in choices {
        let Some(value) = value else { continue };
        if allowed.is_empty() {
            return Err(not_taken(name, &target, row));
        }
        if !allowed.contains(&value.as_str()) {
            return Err(LlmError::config(format!(
                "{name}={value:?} is not accepted by {target}; allowed values: {}",
                allowed.join(", ")
            )));
        }
    }
    if let Some(n) = req.n.filter(|n| *n > row.max_n) {
        let allowed = match row.max_n {
            1 => "only n=1 (one image per request)".to_string(),
            max => format!("n from 1 to {max}"),
        };
        return Err(LlmError::config(format!(
            "n={n} is not accepted by {target}: it takes {allowed}"
        )));
    }
    if let Some(c) = req.output_compression {
        if !row.output_compression {
            return Err(not_taken("output_compression", &target, row));
        }
        if c > 100 {
            return Err(LlmError::config(format!(
                "output_compression={c} is not accepted by {target}; allowed values: 0 to 100"
            )));
        }
        if !matches!(req.output_format.as_deref(), Some("jpeg" | "webp")) {
            return Err(LlmError::config(format!(
                "output_compression applies to output_format \"jpeg\" or \"webp\" on {target}; \
                 set one of them"
            )));
        }
    }
    if req.background.as_deref() == Some("transparent")
        && req.output_format.as_deref() == Some("jpeg")
    {
        return Err(LlmError::config(format!(
            "background=\"transparent\" on {target} needs output_format \"png\" or \"webp\" \
             (jpeg has no transparency)"
        )));
    }
    Ok(())
}

/// A parameter the model does not take, with the ones it does.
fn not_taken(name: &str, target: &str, row: &ImageModel) -> LlmError {
    let taken: Vec<&str> = [
        ("size", !row.sizes.is_empty()),
        ("quality", !row.qualities.is_empty()),
        ("style", !row.styles.is_empty()),
        ("background", !row.backgrounds.is_empty()),
        ("output_format", !row.output_formats.is_empty()),
        ("output_compression", row.output_compression),
        ("response_format", !row.response_formats.is_empty()),
        ("moderation", !row.moderations.is_empty()),
        ("aspect_ratio", !row.aspect_ratios.is_empty()),
    ]
    .into_iter()
    .filter_map(|(n, yes)| yes.then_some(n))
    .collect();
    let taken = match taken.as_slice() {
        [] => "none of the options".to_string(),
        some => some.join(", "),
    };
    LlmError::config(format!(
        "{target} does not take {name}; it takes prompt, n and {taken}"
    ))
}
