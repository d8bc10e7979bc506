//! A prompt rendered again for each fallback target: when the primary fails and a fallback of
//! another provider or model answers, it gets its own variant (Claude's XML tags, GPT's markdown),
//! not the primary's. The pipeline calls the [`Retarget`] with the target's "provider/model".

use std::sync::Arc;

use super::{Library, Rendered, Vars};
use crate::error::{LlmError, Result};
use crate::model::{ChatRequest, Message, Role};
use crate::resilience::fallback::Retarget;

/// The options the caller passed to the call itself: those win over every target's rendering.
#[derive(Debug, Clone, Copy, Default)]
pub struct Kept {
    pub system: bool,
    pub max_tokens: bool,
    pub temperature: bool,
}

/// Re-renders prompt `name` with `vars` for each fallback target.
pub fn retarget(
    library: Arc<Library>,
    name: String,
    vars: impl Into<Vars>,
    kept: Kept,
) -> Retarget {
    let vars = vars.into();
    Retarget(Arc::new(move |target: &str, req: &ChatRequest| {
        let r = library.render_vars(&name, &vars, Some(target))?;
        apply(&r, req, kept)
    }))
}

/// `req` with the prompt's parts replaced by `r`'s; what the caller set stays.
pub fn apply(r: &Rendered, req: &ChatRequest, kept: Kept) -> Result<ChatRequest> {
    let mut out = req.clone();
    if !kept.system {
        out.system = r.system.clone();
    }
    if !kept.max_tokens {
        out.max_tokens = r.max_tokens;
    }
    if !kept.temperature {
        out.temperature = r.temperature;
    }
    out.messages = r
        .messages
        .iter()
        .map(|(role, content)| Ok(Message::text(role_of(role)?, content.clone())))
        .collect::<Result<_>>()?;
    Ok(out)
}

fn role_of(role: &str) -> Result<Role> {
    Ok(match role {
        "system" => Role::System,
        "developer" => Role::Developer,
        "user" => Role::User,
        "assistant" => Role::Assistant,
        other => {
            return Err(LlmError::config(format!(
                "prompt message role '{other}' is not system, developer, user or assistant"
            )))
        }
    })
}
