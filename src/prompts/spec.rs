//! The shape of a prompt file, as serde reads it. Unknown keys are refused at every level
//! (`deny_unknown_fields`), so a typo such as `max_token` is a load error, not a silent default.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// One `*.yaml` file: a prompt, its variables, and the parts variants and environments override.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PromptFile {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub version: Option<Value>,
    #[serde(default)]
    pub variables: Vec<VariableSpec>,
    #[serde(default)]
    pub system: Option<String>,
    #[serde(default)]
    pub messages: Option<Vec<MessageSpec>>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub max_tokens: Option<u32>,
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default)]
    pub prompt_cache: Option<Value>,
    #[serde(default)]
    pub response_schema: Option<Value>,
    /// In file order: the order is how equally specific patterns are ranked.
    #[serde(default, deserialize_with = "ordered")]
    pub variants: Vec<(String, Part)>,
    #[serde(default, deserialize_with = "ordered")]
    pub environments: Vec<(String, Part)>,
}

impl PromptFile {
    /// The base part: what a variant or an environment overrides.
    pub fn base(&self) -> Part {
        Part {
            system: self.system.clone(),
            messages: self.messages.clone(),
            model: self.model.clone(),
            max_tokens: self.max_tokens,
            temperature: self.temperature,
            prompt_cache: self.prompt_cache.clone(),
            response_schema: self.response_schema.clone(),
            system_at: usize::MAX,
        }
    }
}

/// Everything a variant or an environment may override; `None` keeps what is below.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Part {
    #[serde(default)]
    pub system: Option<String>,
    #[serde(default)]
    pub messages: Option<Vec<MessageSpec>>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub max_tokens: Option<u32>,
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default)]
    pub prompt_cache: Option<Value>,
    #[serde(default)]
    pub response_schema: Option<Value>,
    /// The number `system` is compiled under (see `compile`).
    #[serde(skip)]
    pub system_at: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MessageSpec {
    pub role: String,
    pub content: String,
    /// The number `content` is compiled under (see `compile`).
    #[serde(skip)]
    pub at: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct VariableSpec {
    pub name: String,
    #[serde(default, rename = "type")]
    pub kind: Kind,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub default: Option<Value>,
    #[serde(default)]
    pub description: Option<String>,
}

/// A variable's declared type, checked against the value given at render time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    #[default]
    String,
    Int,
    Float,
    Bool,
    List,
    Object,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::String => "string",
            Kind::Int => "int",
            Kind::Float => "float",
            Kind::Bool => "bool",
            Kind::List => "list",
            Kind::Object => "object",
        }
    }

    /// JSON has one number type: an int is an integer; a float any number (3 is a fine 3.0).
    pub fn accepts(self, v: &Value) -> bool {
        match self {
            Kind::String => v.is_string(),
            Kind::Int => v.is_i64() || v.is_u64(),
            Kind::Float => v.is_number(),
            Kind::Bool => v.is_boolean(),
            Kind::List => v.is_array(),
            Kind::Object => v.is_object(),
        }
    }

    /// The same check on a value already converted for the templates.
    pub fn admits(self, v: &minijinja::Value) -> bool {
        use minijinja::value::ValueKind as K;
        match self {
            Kind::String => v.kind() == K::String,
            Kind::Int => v.is_integer(),
            Kind::Float => v.is_number(),
            Kind::Bool => v.kind() == K::Bool,
            Kind::List => v.kind() == K::Seq,
            Kind::Object => v.kind() == K::Map,
        }
    }
}

/// The JSON type name of a template value, as [`json_type`] names it before conversion.
pub fn kind_of(v: &minijinja::Value) -> &'static str {
    use minijinja::value::ValueKind as K;
    match v.kind() {
        K::Undefined | K::None => "null",
        K::Bool => "bool",
        K::Number if v.is_integer() => "int",
        K::Number => "float",
        K::String => "string",
        K::Seq => "list",
        _ => "object",
    }
}

/// The JSON type name of a value, for "expected int, got string".
pub fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    }
}

/// A mapping read as a list of pairs, keeping the file's order.
fn ordered<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, Part)>, D::Error> {
    struct Pairs;
    impl<'de> serde::de::Visitor<'de> for Pairs {
        type Value = Vec<(String, Part)>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a mapping of names to overrides")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut m: A,
        ) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(pair) = m.next_entry::<String, Part>()? {
                out.push(pair);
            }
            Ok(out)
        }
    }
    d.deserialize_map(Pairs)
}
