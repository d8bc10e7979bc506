//! Rendering one prompt for one target: the variables checked against their declarations
//! (defaults filled in), the variant for the target's provider or model picked, the environment's
//! overrides laid on top, and each template of the result rendered.

use std::sync::Arc;

use minijinja::value::{Enumerator, Object, ObjectRepr};

use serde_json::{Map, Value};

use super::spec::{kind_of, MessageSpec, Part};
use super::Prompt;
use crate::error::{LlmError, Result};

/// The variables of one render as (name, value) pairs, already minijinja values: the Python side
/// walks its dict straight into these, so a render converts each value once and the templates
/// share it. Names are distinct (a dict's keys) and stay in the caller's order. A list, not a
/// sorted map: building a map sorted the names and allocated each one on every render; matching
/// a list against the declarations (see `Prompt::context`) takes one comparison per name when
/// the caller gives them in the declarations' order, as a dict written from the file does.
#[derive(Debug, Clone, Default)]
pub struct Vars(pub Vec<(minijinja::Value, minijinja::Value)>);

impl Vars {
    /// The value given for `name`, looked for from `*at` on (wrapping round); `*at` moves past
    /// it, where the next declared name most likely is.
    fn find(&self, name: &str, at: &mut usize) -> Option<&minijinja::Value> {
        let is = |(k, _): &(minijinja::Value, minijinja::Value)| k.as_str() == Some(name);
        let start = (*at).min(self.0.len());
        let (before, from) = self.0.split_at(start);
        let i = from
            .iter()
            .position(is)
            .map(|i| start + i)
            .or_else(|| before.iter().position(is))?;
        *at = i + 1;
        self.0.get(i).map(|(_, v)| v)
    }
}

impl From<&Map<String, Value>> for Vars {
    fn from(vars: &Map<String, Value>) -> Self {
        Self(
            vars.iter()
                .map(|(k, v)| {
                    (
                        minijinja::Value::from(k.as_str()),
                        minijinja::Value::from_serialize(v),
                    )
                })
                .collect(),
        )
    }
}

impl From<Map<String, Value>> for Vars {
    fn from(vars: Map<String, Value>) -> Self {
        Self::from(&vars)
    }
}

/// A map as the templates see it, kept as its pairs. The maps a render makes are small
/// (its variables, the dicts of a list of records): a scan finds a key sooner than a hash, and
/// building one hashes nothing. Measured with `bench/prompts.py`: see `small_map`.
#[derive(Debug, Default)]
pub struct Pairs(Vec<(minijinja::Value, minijinja::Value)>);

impl Object for Pairs {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &minijinja::Value) -> Option<minijinja::Value> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    }

    fn get_value_by_str(self: &Arc<Self>, key: &str) -> Option<minijinja::Value> {
        self.0
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v.clone())
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        // In key order, as minijinja's own maps (B-trees) go; only a loop over the map or its
        // printing sorts, never a lookup.
        let mut keys: Vec<minijinja::Value> = self.0.iter().map(|(k, _)| k.clone()).collect();
        keys.sort();
        Enumerator::Iter(Box::new(keys.into_iter()))
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(self.0.len())
    }
}

/// Up to this many keys a map is [`Pairs`]; a larger one is minijinja's own (hashed) map, so a
/// lookup never scans far.
const SCANNED: usize = 12;

/// A map of the given pairs (keys distinct, as a dict's are), as a template value.
pub fn small_map(pairs: Vec<(minijinja::Value, minijinja::Value)>) -> minijinja::Value {
    if pairs.len() <= SCANNED {
        minijinja::Value::from_object(Pairs(pairs))
    } else {
        pairs.into_iter().collect()
    }
}

/// A rendered prompt: what `chat` takes, and the options the prompt sets for that target.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub system: Option<String>,
    /// (role, content) in order.
    pub messages: Vec<(String, String)>,
    pub model: Option<String>,
    pub max_tokens: Option<u32>,
    pub temperature: Option<f64>,
    pub prompt_cache: Option<Value>,
    pub response_schema: Option<Value>,
}

impl Prompt {
    /// Render for `target` ("provider/model", or none for the base), in environment `env`.
    pub fn render(&self, vars: &Vars, target: Option<&str>, env: Option<&str>) -> Result<Rendered> {
        let ctx = self.context(vars)?;
        let variant = target.and_then(|t| self.variant_for(t));
        let environment = env
            .and_then(|e| self.environments.iter().find(|(n, _)| n == e))
            .map(|(_, p)| p);
        let layers: Vec<&Part> = [Some(&self.base), variant, environment]
            .into_iter()
            .flatten()
            .collect();
        macro_rules! last {
            ($f:ident) => {
                layers.iter().rev().find_map(|p| p.$f.as_ref())
            };
        }
        let system = layers
            .iter()
            .rev()
            .find(|p| p.system.is_some())
            .map(|p| self.run(p.system_at, &ctx))
            .transpose()?;
        let messages = match last!(messages) {
            Some(ms) => ms
                .iter()
                .map(|MessageSpec { role, at, .. }| Ok((role.clone(), self.run(*at, &ctx)?)))
                .collect::<Result<Vec<_>>>()?,
            None => Vec::new(),
        };
        Ok(Rendered {
            system,
            messages,
            model: last!(model).cloned(),
            max_tokens: last!(max_tokens).copied(),
            temperature: last!(temperature).copied(),
            prompt_cache: last!(prompt_cache).cloned(),
            response_schema: last!(response_schema).cloned(),
        })
    }

    /// The given variables with defaults filled in, each checked against its declaration, as
    /// the templates' context; names and defaults were made minijinja values at compile time, so
    /// this only clones `Arc`s.
    fn context(&self, vars: &Vars) -> Result<minijinja::Value> {
        let name = &self.name;
        // A name not declared is the first error said; looked for only when the count of
        // given names found differs or another error is about to be said, so a good render
        // compares no names twice.
        let undeclared = || {
            vars.0
                .iter()
                .find(|(key, _)| {
                    !key.as_str()
                        .is_some_and(|k| self.variables.iter().any(|v| v.name == k))
                })
                .map(|(key, _)| {
                    let known: Vec<&str> = self.variables.iter().map(|v| v.name.as_str()).collect();
                    let key = key.as_str().map_or_else(|| key.to_string(), str::to_string);
                    LlmError::config(format!(
                        "prompt '{name}': variable '{key}' is not declared (declared: {})",
                        known.join(", ")
                    ))
                })
        };
        let mut found = 0;
        let mut at = 0;
        let mut out = Vec::with_capacity(self.variables.len());
        for (v, (key, default)) in self.variables.iter().zip(&self.declared) {
            let given = vars.find(&v.name, &mut at);
            found += usize::from(given.is_some());
            let value = match (given, default) {
                (Some(given), _) => given,
                (None, Some(d)) => d,
                (None, None) if v.required => {
                    return Err(undeclared().unwrap_or_else(|| {
                        LlmError::config(format!(
                            "prompt '{name}': variable '{}' ({}) is required",
                            v.name,
                            v.kind.name()
                        ))
                    }))
                }
                // Optional without a default: left out, so `{% if x is defined %}` can test it.
                (None, None) => continue,
            };
            if !v.kind.admits(value) {
                return Err(undeclared().unwrap_or_else(|| {
                    LlmError::config(format!(
                        "prompt '{name}': variable '{}' must be {}, got {}",
                        v.name,
                        v.kind.name(),
                        kind_of(value)
                    ))
                }));
            }
            out.push((key.clone(), value.clone()));
        }
        if found != vars.0.len() {
            if let Some(e) = undeclared() {
                return Err(e);
            }
        }
        Ok(small_map(out))
    }

    /// Template number `at` rendered in `ctx`.
    fn run(&self, at: usize, ctx: &minijinja::Value) -> Result<String> {
        let name = &self.name;
        let rendered = self.templates.render(at, ctx).ok_or_else(|| {
            LlmError::config(format!("prompt '{name}': template {at} was not compiled"))
        })?;
        rendered.map_err(|e| {
            let detail = e
                .detail()
                .map(str::to_string)
                .unwrap_or_else(|| e.to_string());
            LlmError::config(format!("prompt '{name}': rendering failed: {detail}"))
        })
    }

    /// The most specific variant matching "provider/model": the exact name, then a pattern
    /// (the longest wins), then the provider alone; equally specific ones by file order.
    pub(super) fn variant_for(&self, target: &str) -> Option<&Part> {
        let provider = target.split_once('/').map_or(target, |(p, _)| p);
        let rank = |key: &str| -> Option<usize> {
            if key == target {
                Some(usize::MAX)
            } else if key.contains('*') && glob(key, target) {
                Some(1 + key.len())
            } else if key == provider {
                Some(0)
            } else {
                None
            }
        };
        let mut best: Option<(usize, &Part)> = None;
        for (key, part) in &self.variants {
            if let Some(r) = rank(key) {
                if best.is_none_or(|(b, _)| r > b) {
                    best = Some((r, part));
                }
            }
        }
        best.map(|(_, p)| p)
    }
}

/// `*` matches any run of characters (slashes included); everything else matches itself.
pub(super) fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, rest) = match parts.split_first() {
        Some(x) => x,
        None => return text.is_empty(),
    };
    let Some(mut left) = text.strip_prefix(first) else {
        return false;
    };
    let Some((last, middle)) = rest.split_last() else {
        return left.is_empty();
    };
    for part in middle {
        match left.find(part) {
            Some(i) => left = &left[i + part.len()..],
            None => return false,
        }
    }
    left.len() >= last.len() && left.ends_with(last)
}
