//! `llmrail.register_provider`: the caller's own OpenAI- or Anthropic-speaking service under a
//! name; arguments read so that a bad one is a `ConfigurationError` naming it, then handed to
//! `crate::client::register_provider`.

use pyo3::prelude::*;

use super::arg::{opt, Arg};
use super::errors::to_py;
use crate::client::{register_provider as register, ProviderSpec};

#[pyfunction]
#[pyo3(
    signature = (name, *, base_url, api_key_env=None, wire=Arg::new(String::from("openai")), headers=None),
    text_signature = "(name, *, base_url, api_key_env=None, wire='openai', headers=None)"
)]
pub fn register_provider(
    name: Arg<String>,
    base_url: Arg<String>,
    api_key_env: Option<Arg<String>>,
    wire: Arg<String>,
    headers: Option<Arg<Vec<(String, String)>>>,
) -> PyResult<()> {
    let wire = wire.get("wire")?;
    let spec = ProviderSpec {
        name: name.get("name")?,
        base_url: base_url.get("base_url")?,
        api_key_env: opt(api_key_env, "api_key_env")?,
        wire,
        headers: opt(headers, "headers")?.unwrap_or_default(),
    };
    register(&spec).map_err(to_py)
}
