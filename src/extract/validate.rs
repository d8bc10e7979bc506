//! JSON Schema validation with the `jsonschema` crate, compiled once per schema.
//!
//! Compiling a schema costs far more than validating one object, and services extract with the
//! same few schemas all day: compiled schemas are kept by the hash of the schema's JSON text,
//! with the strict-mode copy the request needs, so a repeated extraction neither converts,
//! compiles nor rewrites its schema again.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::Value;

use crate::error::{LlmError, Result};

/// Distinct schemas kept compiled; beyond that the cache starts over (schemas are few).
const CACHE_LIMIT: usize = 256;

/// A compiled schema, with the schema itself and its strict-mode copy.
pub struct Schema {
    pub value: Value,
    /// See [`super::strict_schema`]: `None` when strict mode would change the schema's meaning.
    pub strict: Option<Value>,
    validator: jsonschema::Validator,
}

impl std::fmt::Debug for Schema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Schema({})", self.value)
    }
}

impl Schema {
    /// Compile `schema`, or reuse the compiled copy of an identical one.
    pub fn compiled(schema: &Value) -> Result<Arc<Self>> {
        Self::cached(&schema.to_string(), || Ok(schema.clone()))
    }

    /// As [`Schema::compiled`], from the schema's JSON text (parsed only when not cached).
    pub fn from_json(text: &str) -> Result<Arc<Self>> {
        Self::cached(text, || {
            serde_json::from_str(text)
                .map_err(|e| LlmError::config(format!("the schema is not JSON: {e}")))
        })
    }

    fn cached(text: &str, value: impl FnOnce() -> Result<Value>) -> Result<Arc<Self>> {
        static CACHE: OnceLock<Mutex<HashMap<u64, Arc<Schema>>>> = OnceLock::new();
        let key = hash(text);
        let cache = CACHE.get_or_init(Default::default);
        if let Some(s) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return Ok(s.clone());
        }
        let compiled = Arc::new(Self::new(value()?)?);
        let mut map = cache.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= CACHE_LIMIT {
            map.clear();
        }
        map.insert(key, compiled.clone());
        Ok(compiled)
    }

    pub fn new(value: Value) -> Result<Self> {
        let validator = jsonschema::validator_for(&value)
            .map_err(|e| LlmError::config(format!("the JSON Schema is not valid: {e}")))?;
        Ok(Self {
            strict: super::strict_schema(&value),
            value,
            validator,
        })
    }

    /// Every problem with `value`, each as "field: problem" (the field dotted, `(root)` for the
    /// value itself), in the words the re-ask sends back to the model.
    pub fn errors(&self, value: &Value) -> Vec<String> {
        if self.validator.is_valid(value) {
            return Vec::new();
        }
        self.validator
            .iter_errors(value)
            .map(|e| format!("{}: {e}", dotted(e.instance_path.as_str())))
            .collect()
    }
}

/// `/items/0/name` -> `items.0.name` (the form pydantic's `loc` uses); `` -> `(root)`.
pub fn dotted(pointer: &str) -> String {
    if pointer.is_empty() {
        return "(root)".into();
    }
    pointer
        .trim_start_matches('/')
        .split('/')
        .map(|p| p.replace("~1", "/").replace("~0", "~"))
        .collect::<Vec<_>>()
        .join(".")
}

fn hash(text: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn errors_name_the_field_and_the_problem() {
        let schema = json!({
            "type": "object",
            "properties": {
                "winner": {"enum": ["Essay A", "Essay B"]},
                "confidence": {"type": "number", "minimum": 1.0, "maximum": 5.0},
                "items": {"type": "array", "items": {"type": "string"}}
            },
            "required": ["winner", "confidence"]
        });
        let s = Schema::compiled(&schema).unwrap();
        assert!(s
            .errors(&json!({"winner": "Essay A", "confidence": 2}))
            .is_empty());
        let errors = s.errors(&json!({"winner": "Essay C", "confidence": 7.5, "items": [1]}));
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors
            .iter()
            .any(|e| e.starts_with("winner: ") && e.contains("Essay C")));
        assert!(errors
            .iter()
            .any(|e| e.starts_with("confidence: ") && e.contains("maximum")));
        assert!(errors.iter().any(|e| e.starts_with("items.0: ")));
        let missing = s.errors(&json!({"winner": "Essay A"}));
        assert!(missing[0].starts_with("(root): ") && missing[0].contains("confidence"));
        assert!(Arc::ptr_eq(&s, &Schema::compiled(&schema).unwrap()));
    }

    #[test]
    fn a_broken_schema_is_a_configuration_error() {
        let e = Schema::new(json!({"type": 12})).err().unwrap();
        assert_eq!(e.kind, crate::error::ErrorKind::Configuration);
    }
}
