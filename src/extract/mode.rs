//! How the schema is put to the model (the mode), and where its answer is read back from. The
//! `auto` mode reads which models have native structured output from `crate::catalog`.

use serde_json::{json, Map, Value};

use super::validate::Schema;
use crate::catalog;
use crate::error::{LlmError, Result};
use crate::model::{ChatRequest, ChatResponse, ContentBlock, ToolChoice, ToolSpec};

/// How a schema is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A forced call of one function whose parameters are the schema (both providers).
    Tool,
    /// Constrained decoding: OpenAI `response_format` json_schema, Anthropic `output_config`.
    JsonSchema,
    /// JSON mode (OpenAI `json_object`) plus the schema in the prompt.
    Json,
    /// The schema in the prompt only: works with any server.
    Prompt,
}

impl Mode {
    /// `"auto"` is `None`: chosen per provider and model by [`Mode::auto`].
    pub fn parse(name: &str) -> Result<Option<Self>> {
        Ok(Some(match name {
            "auto" => return Ok(None),
            "tool" => Self::Tool,
            "json_schema" => Self::JsonSchema,
            "json" => Self::Json,
            "prompt" => Self::Prompt,
            other => {
                return Err(LlmError::config(format!(
                    "mode must be \"auto\", \"tool\", \"json_schema\", \"json\" or \"prompt\"; got {other:?}"
                )))
            }
        }))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tool => "tool",
            Self::JsonSchema => "json_schema",
            Self::Json => "json",
            Self::Prompt => "prompt",
        }
    }

    /// The strongest mode the provider and model are known to support: Anthropic's forced tool
    /// (every Claude model has it), OpenAI's json_schema on models the catalogue says have
    /// native structured output (tools on the others, unknown ones included), json_schema on
    /// other OpenAI-compatible servers (Ollama, vLLM, llama.cpp, LM Studio accept it), tools on
    /// OpenRouter (more of its models have them); Gemini's `responseJsonSchema` and Bedrock's
    /// `outputConfig` on models the catalogue says have them, tools on the others.
    pub fn auto(provider: &str, model: &str, base_url: &str) -> Self {
        match provider {
            "anthropic" | "openrouter" => Self::Tool,
            // Ollama's `format` constrains decoding to the schema on every model it runs.
            "ollama" => Self::JsonSchema,
            "gemini" if catalog::structured_output(model) == Some(true) => Self::JsonSchema,
            "gemini" => Self::Tool,
            // Converse's `outputConfig.textFormat` on the models the catalogue says have it
            // (AWS lists some Claude and open-weight models, not Nova); tools elsewhere.
            "bedrock" if catalog::structured_output(model) == Some(true) => Self::JsonSchema,
            "bedrock" => Self::Tool,
            _ if !base_url.contains("api.openai.com") => Self::JsonSchema,
            _ if catalog::structured_output(model) == Some(true) => Self::JsonSchema,
            _ => Self::Tool,
        }
    }
}

/// The request of every attempt: the caller's request with the schema put to the model.
pub fn shape(req: &mut ChatRequest, mode: Mode, provider: &str, name: &str, compiled: &Schema) {
    let schema = &compiled.value;
    match mode {
        Mode::Tool => {
            let strict = compiled.strict.clone();
            req.tools.push(ToolSpec {
                name: name.to_string(),
                description: Some(
                    "Record the answer. Call this exactly once, with arguments that follow the schema."
                        .into(),
                ),
                // A provider that takes `strict` gets the stricter copy; Anthropic ignores it,
                // and Bedrock refuses it on the models without strict tool use (Nova).
                strict: (!matches!(provider, "anthropic" | "bedrock") && strict.is_some())
                    .then_some(true),
                parameters: match (provider, strict) {
                    ("anthropic" | "bedrock", _) | (_, None) => schema.clone(),
                    (_, Some(s)) => s,
                },
                cache_control: None,
            });
            req.tool_choice = Some(ToolChoice::Tool(name.to_string()));
        }
        Mode::JsonSchema if provider == "anthropic" => {
            let schema = compiled.strict.clone().unwrap_or_else(|| schema.clone());
            // Built by hand: `json!` would copy the schema once more through `to_value`.
            let format = object([("type", "json_schema".into()), ("schema", schema)]);
            req.extra_body
                .insert("output_config".into(), object([("format", format)]));
        }
        // Ollama's `format` takes the schema itself; it has no strict mode to ask for.
        Mode::JsonSchema if provider == "ollama" => {
            req.extra_body.insert("format".into(), schema.clone());
        }
        Mode::JsonSchema if provider == "gemini" => {
            // Gemini takes full JSON Schema here and has no strict flag.
            if let Some(config) = generation_config(req) {
                config.insert("responseMimeType".into(), "application/json".into());
                config.insert("responseJsonSchema".into(), schema.clone());
            }
        }
        Mode::JsonSchema if provider == "bedrock" => {
            // The schema goes as JSON text (the model's `JsonSchemaDefinition.schema` is a
            // string), with no strict flag: Bedrock always constrains to it.
            let format = object([
                ("type", "json_schema".into()),
                (
                    "structure",
                    object([(
                        "jsonSchema",
                        object([
                            ("schema", Value::String(schema.to_string())),
                            ("name", Value::String(name.to_string())),
                        ]),
                    )]),
                ),
            ]);
            req.extra_body
                .insert("outputConfig".into(), object([("textFormat", format)]));
        }
        Mode::JsonSchema => {
            let mut spec = Map::new();
            spec.insert("name".into(), Value::String(name.to_string()));
            match compiled.strict.clone() {
                Some(strict) => {
                    spec.insert("schema".into(), strict);
                    spec.insert("strict".into(), Value::Bool(true));
                }
                None => {
                    spec.insert("schema".into(), schema.clone());
                }
            }
            req.extra_body.insert(
                "response_format".into(),
                object([
                    ("type", "json_schema".into()),
                    ("json_schema", Value::Object(spec)),
                ]),
            );
        }
        Mode::Json | Mode::Prompt => {
            if mode == Mode::Json && provider == "ollama" {
                req.extra_body.insert("format".into(), json!("json"));
            } else if mode == Mode::Json && provider == "gemini" {
                if let Some(config) = generation_config(req) {
                    config.insert("responseMimeType".into(), "application/json".into());
                }
            } else if mode == Mode::Json && !matches!(provider, "anthropic" | "bedrock") {
                req.extra_body
                    .insert("response_format".into(), json!({"type": "json_object"}));
            }
            let instruction = format!(
                "Answer with one JSON object that follows this JSON Schema, and nothing else:\n{schema}"
            );
            req.system = Some(match req.system.take() {
                Some(s) if !s.is_empty() => format!("{s}\n\n{instruction}"),
                _ => instruction,
            });
        }
    }
}

/// Gemini's `generationConfig` in `extra_body`, made an object if the caller's was not one;
/// the provider merges it into the one it writes.
fn generation_config(req: &mut ChatRequest) -> Option<&mut Map<String, Value>> {
    let entry = req
        .extra_body
        .entry("generationConfig")
        .or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    entry.as_object_mut()
}

fn object<const N: usize>(fields: [(&str, Value); N]) -> Value {
    Value::Object(
        fields
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

/// Keywords strict structured outputs reject; a schema using one is sent without `strict` (its
/// constraints are still checked here, and violations re-asked).
const NOT_STRICT: &[&str] = &[
    "minLength",
    "maxLength",
    "patternProperties",
    "unevaluatedProperties",
    "propertyNames",
    "minProperties",
    "maxProperties",
    "unevaluatedItems",
    "contains",
    "minContains",
    "maxContains",
    "uniqueItems",
    "allOf",
    "not",
    "if",
    "oneOf",
];

/// The schema as strict mode wants it (`additionalProperties: false` on every object), or
/// `None` when strict mode would change its meaning: an optional property (strict requires
/// every one), extra properties allowed on purpose, or a keyword strict mode rejects.
pub fn strict_schema(schema: &Value) -> Option<Value> {
    let mut copy = schema.clone();
    strictify(&mut copy).then_some(copy)
}

fn strictify(v: &mut Value) -> bool {
    match v {
        Value::Array(items) => items.iter_mut().all(strictify),
        Value::Object(map) => {
            if NOT_STRICT.iter().any(|k| map.contains_key(*k)) {
                return false;
            }
            // A free-form object (a dict of anything) has no strict form.
            let is_object = map.get("type").and_then(Value::as_str) == Some("object");
            if is_object && !map.contains_key("properties") {
                return false;
            }
            if let Some(props) = map.get("properties").and_then(Value::as_object) {
                let required: Vec<&str> = map
                    .get("required")
                    .and_then(Value::as_array)
                    .map(|r| r.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                if props.keys().any(|k| !required.contains(&k.as_str())) {
                    return false;
                }
                match map.get("additionalProperties") {
                    None | Some(Value::Bool(false)) => {}
                    Some(_) => return false,
                }
                map.insert("additionalProperties".into(), Value::Bool(false));
            }
            // `properties` maps names to schemas: recurse into the schemas, not the names.
            map.values_mut().all(strictify)
        }
        _ => true,
    }
}

/// What the model answered for the schema: a tool call's arguments (`Value`, maybe a raw
/// string if they were not JSON) or the text.
pub fn answer(resp: &ChatResponse, name: &str) -> Answer {
    let calls = resp.tool_calls();
    if let Some(call) = calls.iter().find(|c| c.name == name).or(calls.first()) {
        return Answer::Tool {
            id: call.id.clone(),
            arguments: match &call.arguments {
                Some(m) => Value::Object(m.clone()),
                None => Value::String(call.raw_arguments.clone()),
            },
        };
    }
    let mut text = String::new();
    for block in &resp.content {
        if let ContentBlock::Text { text: t } = block {
            text.push_str(t);
        }
    }
    Answer::Text(text)
}

#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Tool { id: String, arguments: Value },
    Text(String),
}

impl Answer {
    /// The answer as the model wrote it, for the caller's records and the re-ask.
    pub fn raw(&self) -> String {
        match self {
            Self::Tool {
                arguments: Value::String(s),
                ..
            } => s.clone(),
            Self::Tool { arguments, .. } => arguments.to_string(),
            Self::Text(t) => t.clone(),
        }
    }
}

#[cfg(test)]
mod tests;
