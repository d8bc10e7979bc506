//! `register_provider`: a caller's own OpenAI- or Anthropic-speaking service under a name of
//! their choosing, checked here (every bad argument is a configuration error naming it) and
//! stored in the providers' process-wide registry (`crate::providers::registered`).

use crate::error::{LlmError, Result};
use crate::providers::{self, registered::Registered};

/// The wires a registered provider may speak.
pub const WIRES: [&str; 2] = ["openai", "anthropic"];

/// What `register_provider` is given.
#[derive(Debug, Clone, Default)]
pub struct ProviderSpec {
    /// The prefix of "name/model".
    pub name: String,
    pub base_url: String,
    /// The environment variable holding the key; `None`: the service takes no key.
    pub api_key_env: Option<String>,
    /// "openai" or "anthropic".
    pub wire: String,
    /// Sent with every request; a client's `headers=` replace any of them.
    pub headers: Vec<(String, String)>,
}

/// Register `spec`, replacing an earlier registration of the same name for clients built from
/// now on. A built-in provider's name is refused.
pub fn register_provider(spec: &ProviderSpec) -> Result<()> {
    let name = spec.name.as_str();
    let word = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_'))
    };
    if !word(name) {
        return Err(LlmError::config(format!(
            "name must be lower-case letters, digits, '-' or '_' (the prefix of \"name/model\"), \
             got {name:?}"
        )));
    }
    if providers::is_builtin(name) {
        return Err(LlmError::config(format!(
            "name {name:?} is a built-in provider and cannot be replaced; register another name \
             (or pass base_url= to Client(\"{name}/...\"))"
        )));
    }
    // Its message names base_url.
    super::target::check_base_url(&spec.base_url)?;
    if let Some(var) = &spec.api_key_env {
        let valid = !var.is_empty()
            && !var.starts_with(|c: char| c.is_ascii_digit())
            && var.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !valid {
            return Err(LlmError::config(format!(
                "api_key_env must be an environment variable name such as \"TOGETHER_API_KEY\", \
                 got {var:?}"
            )));
        }
    }
    let wire = WIRES
        .contains(&spec.wire.as_str())
        .then(|| providers::lookup(&spec.wire))
        .flatten()
        .ok_or_else(|| {
            LlmError::config(format!(
                "wire must be \"openai\" or \"anthropic\", got {:?}",
                spec.wire
            ))
        })?;
    let headers = super::config::headers(&spec.headers)
        .map_err(|e| LlmError::config(format!("headers: {}", e.message)))?;
    providers::registered::insert(Registered::new(
        name,
        &spec.base_url,
        spec.api_key_env.as_deref(),
        headers,
        wire,
    ));
    Ok(())
}
